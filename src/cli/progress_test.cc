#include "cli/progress.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <string>

namespace tesseras::cli {
namespace {

using ::testing::HasSubstr;

TEST(ProgressBarTest, FormatFitsWidth) {
  std::string half = ProgressBar::Format("fetch", 512, 1024, 60);
  EXPECT_LE(half.size(), 60u);
  EXPECT_THAT(half, HasSubstr("fetch ["));
  EXPECT_THAT(half, HasSubstr(" 50%"));
  EXPECT_THAT(half, HasSubstr("512 B / 1.0 KiB"));
  std::string done = ProgressBar::Format("fetch", 2048, 1024, 60);
  EXPECT_THAT(done, HasSubstr("100%"));
  std::string bar = done.substr(done.find('['), done.find(']') - done.find('['));
  EXPECT_EQ(bar.find('.'), std::string::npos) << done;  // every cell filled
  EXPECT_THAT(ProgressBar::Format("x", 0, 0, 10), HasSubstr("100%"));
}

TEST(ProgressBarTest, DisabledWritesNothing) {
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  {
    ProgressBar bar("fetch", 100, f, /*enabled=*/false);
    bar.Update(50);
    bar.Finish();
    Spinner spinner("publishing", f, /*enabled=*/false);
  }
  EXPECT_EQ(std::ftell(f), 0);
  std::fclose(f);
}

TEST(ProgressBarTest, EnabledDrawsAndEndsWithNewline) {
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  {
    ProgressBar bar("fetch", 100, f, /*enabled=*/true);
    bar.Update(100);
    bar.Finish();
  }
  std::rewind(f);
  char buf[512] = {};
  std::size_t n = std::fread(buf, 1, sizeof(buf) - 1, f);
  std::string text(buf, n);
  EXPECT_THAT(text, HasSubstr("100%"));
  EXPECT_EQ(text.back(), '\n');
  std::fclose(f);
}

TEST(SpinnerTest, QuickOperationsLeaveNoTrace) {
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  auto start = std::chrono::steady_clock::now();
  { Spinner spinner("publishing", f, /*enabled=*/true); }
  // The destructor wakes the thread instead of waiting out its redraw interval.
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
  // Nothing is drawn before the first interval, so nothing needs erasing.
  EXPECT_EQ(std::ftell(f), 0);
  std::fclose(f);
}

}  // namespace
}  // namespace tesseras::cli
