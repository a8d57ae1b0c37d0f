#include "daemon/data_dir_lock.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

namespace tesseras::daemon {
namespace {

using ::testing::HasSubstr;

class DataDirLockTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "tesd_lock_test_XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

TEST_F(DataDirLockTest, SecondAcquireIsRefusedNamingPidAndFile) {
  auto path = dir_ / "tesd.lock";
  auto first = DataDirLock::Acquire(path);
  ASSERT_TRUE(first.ok()) << first.error().ToString();
  EXPECT_EQ(DataDirLock::ReadHolderPid(path), static_cast<long>(::getpid()));

  // flock locks belong to the open file description, so a second open in the
  // same process conflicts just like another process would.
  auto second = DataDirLock::Acquire(path);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().code, core::ErrorCode::kUnavailable);
  EXPECT_THAT(second.error().message, HasSubstr(path.string()));
  EXPECT_THAT(second.error().message, HasSubstr("pid " + std::to_string(::getpid())));
}

TEST_F(DataDirLockTest, ReleasedOnDestructionAndMove) {
  auto path = dir_ / "tesd.lock";
  {
    auto first = DataDirLock::Acquire(path);
    ASSERT_TRUE(first.ok());
    DataDirLock moved = std::move(*first);
    EXPECT_FALSE(DataDirLock::Acquire(path).ok());
  }
  EXPECT_FALSE(DataDirLock::ReadHolderPid(path).has_value());
  auto again = DataDirLock::Acquire(path);
  EXPECT_TRUE(again.ok());
}

TEST_F(DataDirLockTest, UnopenableFileIsAnIoError) {
  auto r = DataDirLock::Acquire(dir_ / "missing" / "tesd.lock");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, core::ErrorCode::kIo);
}

}  // namespace
}  // namespace tesseras::daemon
