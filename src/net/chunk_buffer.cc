#include "net/chunk_buffer.h"

#include <cassert>
#include <mutex>
#include <vector>

namespace tesseras::net {
namespace {

// Enough for the send and receive windows of a few concurrent transfers
// (8 MiB); beyond that, released buffers go back to the allocator.
constexpr std::size_t kMaxPooled = 32;

struct Pool {
  std::mutex mu;
  std::vector<std::unique_ptr<uint8_t[]>> free;
};

Pool& ThePool() {
  static auto* pool = new Pool();  // never destroyed: buffers may die after main
  return *pool;
}

}  // namespace

ChunkBuffer::ChunkBuffer(std::size_t size) : size_(size) {
  assert(size <= kChunkBufferCapacity);
  if (size == 0) return;
  Pool& pool = ThePool();
  {
    std::lock_guard lock(pool.mu);
    if (!pool.free.empty()) {
      bytes_ = std::move(pool.free.back());
      pool.free.pop_back();
    }
  }
  if (!bytes_) bytes_.reset(new uint8_t[kChunkBufferCapacity]);
}

ChunkBuffer& ChunkBuffer::operator=(ChunkBuffer&& other) noexcept {
  if (this != &other) {
    Release();
    bytes_ = std::move(other.bytes_);
    size_ = other.size_;
    other.size_ = 0;
  }
  return *this;
}

void ChunkBuffer::Release() {
  size_ = 0;
  if (!bytes_) return;
  Pool& pool = ThePool();
  {
    std::lock_guard lock(pool.mu);
    if (pool.free.size() < kMaxPooled) {
      pool.free.push_back(std::move(bytes_));
      return;
    }
  }
  bytes_.reset();
}

std::size_t ChunkBuffer::PooledForTesting() {
  Pool& pool = ThePool();
  std::lock_guard lock(pool.mu);
  return pool.free.size();
}

}  // namespace tesseras::net
