#include "net/chunk_buffer.h"

#include <cassert>
#include <mutex>
#include <utility>
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

ChunkBuffer::ChunkBuffer(std::size_t size) : size_(size), capacity_(ChunkCapacityFor(size)) {
  assert(size <= kChunkBufferCapacity);
  if (size == 0) return;
  if (capacity_ < kChunkBufferCapacity) {
    bytes_.reset(new uint8_t[capacity_]);
    return;
  }
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
    size_ = std::exchange(other.size_, 0);
    capacity_ = std::exchange(other.capacity_, 0);
  }
  return *this;
}

void ChunkBuffer::Release() {
  size_ = 0;
  std::size_t capacity = std::exchange(capacity_, 0);
  if (!bytes_) return;
  if (capacity < kChunkBufferCapacity) {
    bytes_.reset();
    return;
  }
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
