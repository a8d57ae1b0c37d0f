#include "replication/file_io.h"

#include <gtest/gtest.h>
#include <unistd.h>

namespace tesseras::replication {
namespace {

namespace fs = std::filesystem;

class FileIoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("tesseras-fio-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::size_t FileCount() {
    return static_cast<std::size_t>(std::distance(fs::directory_iterator(dir_), {}));
  }
  fs::path dir_;
};

TEST_F(FileIoTest, SinkIsInvisibleUntilFinished) {
  auto path = dir_ / "x";
  {
    auto sink = *FileSink::Create(path);
    std::vector<uint8_t> d(100, 7);
    ASSERT_TRUE(sink->Write(d).ok());
    EXPECT_FALSE(fs::exists(path));
  }  // destroyed unfinished
  EXPECT_FALSE(fs::exists(path));
  EXPECT_EQ(FileCount(), 0u);
  auto sink = *FileSink::Create(path);
  std::vector<uint8_t> d(100, 7);
  ASSERT_TRUE(sink->Write(d).ok());
  ASSERT_TRUE(sink->Finish().ok());
  EXPECT_EQ(fs::file_size(path), 100u);
  EXPECT_EQ(FileCount(), 1u);
}

TEST_F(FileIoTest, RandomAccessWritesAndTruncation) {
  auto path = dir_ / "y";
  auto sink = *FileSink::Create(path);
  std::vector<uint8_t> a = {1, 2, 3}, b = {9, 9};
  ASSERT_TRUE(sink->WriteAt(5, a).ok());
  ASSERT_TRUE(sink->WriteAt(0, b).ok());
  ASSERT_TRUE(sink->Finish(7).ok());
  auto src = *FileSource::Open(path);
  ASSERT_EQ(src->Size(), 7u);
  std::vector<uint8_t> got(7);
  ASSERT_TRUE(src->ReadAt(0, got).ok());
  EXPECT_EQ(got, (std::vector<uint8_t>{9, 9, 0, 0, 0, 1, 2}));
  std::vector<uint8_t> over(2);
  EXPECT_FALSE(src->ReadAt(6, over).ok());
}

TEST_F(FileIoTest, OpenErrorsAreClear) {
  auto r = FileSource::Open(dir_ / "missing");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, core::ErrorCode::kNotFound);
  auto d = FileSource::Open(dir_);
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.error().message.find("not a regular file"), std::string::npos);
  EXPECT_EQ(ShardFileName(7), "007.shard");
  EXPECT_EQ(ShardFileName(71), "071.shard");
}

}  // namespace
}  // namespace tesseras::replication
