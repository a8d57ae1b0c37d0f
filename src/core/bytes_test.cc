#include "core/bytes.h"

#include <gtest/gtest.h>

namespace tesseras::core {
namespace {

TEST(BytesTest, MemorySourceReadsSequentiallyAndAtOffsets) {
  std::vector<uint8_t> data = {1, 2, 3, 4, 5};
  MemorySource src(data);
  uint8_t buf[3];
  EXPECT_EQ(*src.Read(buf), 3u);
  EXPECT_EQ(buf[2], 3);
  EXPECT_EQ(*src.Read(buf), 2u);
  EXPECT_EQ(*src.Read(buf), 0u);
  EXPECT_TRUE(src.ReadAt(2, std::span(buf, 3)).ok());
  EXPECT_EQ(buf[0], 3);
  EXPECT_FALSE(src.ReadAt(3, std::span(buf, 3)).ok());
  EXPECT_FALSE(src.ReadAt(uint64_t{1} << 62, std::span(buf, 1)).ok());
}

TEST(BytesTest, MemorySinkRefusesWriteAfterFinish) {
  MemorySink sink;
  std::vector<uint8_t> d = {9};
  EXPECT_TRUE(sink.Write(d).ok());
  EXPECT_TRUE(sink.Finish().ok());
  EXPECT_FALSE(sink.Write(d).ok());
  EXPECT_EQ(sink.bytes().size(), 1u);
}

TEST(BytesTest, SequentialReaderCoversWholeSource) {
  std::vector<uint8_t> data(1000);
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i);
  MemorySource src(data);
  SequentialReader reader(src);
  std::vector<uint8_t> out;
  uint8_t buf[64];
  for (;;) {
    std::size_t n = *reader.Read(buf);
    if (!n) break;
    out.insert(out.end(), buf, buf + n);
  }
  EXPECT_EQ(out, data);
}

}  // namespace
}  // namespace tesseras::core
