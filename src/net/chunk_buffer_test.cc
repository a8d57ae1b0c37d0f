#include "net/chunk_buffer.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace tesseras::net {
namespace {

TEST(ChunkBufferTest, ReleasedBufferIsReused) {
  const uint8_t* first = nullptr;
  {
    ChunkBuffer a(kPooledChunkBytes);
    ASSERT_EQ(a.size(), kPooledChunkBytes);
    ASSERT_EQ(a.capacity(), kChunkBufferCapacity);
    first = a.data();
  }
  ChunkBuffer b(kChunkBufferCapacity);
  EXPECT_EQ(b.data(), first);
  EXPECT_EQ(b.span().size(), kChunkBufferCapacity);
}

TEST(ChunkBufferTest, MovedFromBufferIsEmptyAndReleasesNothing) {
  ChunkBuffer a(10);
  const uint8_t* p = a.data();
  ChunkBuffer b(std::move(a));
  EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move): the state is specified
  EXPECT_EQ(a.data(), nullptr);
  EXPECT_EQ(b.data(), p);
  ChunkBuffer c;
  c = std::move(b);
  EXPECT_EQ(c.data(), p);
  EXPECT_EQ(c.size(), 10u);
}

// A 1-byte chunk holds 1 byte, not a pooled 256 KiB block.
TEST(ChunkBufferTest, SmallChunksHoldTheirOwnSize) {
  ChunkBuffer one(1);
  EXPECT_EQ(one.capacity(), 1u);
  ChunkBuffer below(kPooledChunkBytes - 1);
  EXPECT_EQ(below.capacity(), kPooledChunkBytes - 1);
  ChunkBuffer moved(std::move(below));
  EXPECT_EQ(moved.capacity(), kPooledChunkBytes - 1);
  EXPECT_EQ(ChunkCapacityFor(0), 0u);
  EXPECT_EQ(ChunkCapacityFor(kPooledChunkBytes), kChunkBufferCapacity);
}

TEST(ChunkBufferTest, PoolIsBoundedAndSharedAcrossThreads) {
  std::vector<ChunkBuffer> held;
  for (int i = 0; i < 100; ++i) held.emplace_back(kChunkBufferCapacity);
  std::thread releaser([&] { held.clear(); });  // released on another thread
  releaser.join();
  EXPECT_LE(ChunkBuffer::PooledForTesting(), 32u);
  EXPECT_GE(ChunkBuffer::PooledForTesting(), 1u);
}

}  // namespace
}  // namespace tesseras::net
