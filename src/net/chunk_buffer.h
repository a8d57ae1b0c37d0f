// Byte buffers for bulk-transfer chunks, recycled through a process-wide pool.
//
// A fragment moves as a stream of chunks of up to kMaxChunkBytes (256 KiB).
// Allocating a fresh 256 KiB block per chunk costs more than moving it: the
// allocator hands large blocks back to the kernel and every reuse page-faults
// them in again (measured in docs/PERFORMANCE.md, Network). A ChunkBuffer of
// at least kPooledChunkBytes is taken from a small free list instead and
// returns there when destroyed, from any thread. A smaller one is allocated at
// its own size, so a peer that sends 1-byte chunks makes us hold 1 byte per
// chunk, not 256 KiB (capacity() is what a buffer really holds, and what
// memory budgets charge). Contents are never zero-filled: whoever takes a
// buffer writes it.
//
// Thread-safe (the free list is locked); a single ChunkBuffer is not shared.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <utility>

namespace tesseras::net {

inline constexpr std::size_t kChunkBufferCapacity = 256 * 1024;
// Buffers of at least this size come from the pool (with kChunkBufferCapacity).
inline constexpr std::size_t kPooledChunkBytes = 64 * 1024;

// The bytes a ChunkBuffer of `size` bytes holds.
constexpr std::size_t ChunkCapacityFor(std::size_t size) {
  return size == 0 ? 0 : (size >= kPooledChunkBytes ? kChunkBufferCapacity : size);
}

class ChunkBuffer {
 public:
  ChunkBuffer() = default;
  // A buffer holding `size` (≤ kChunkBufferCapacity) uninitialised bytes.
  explicit ChunkBuffer(std::size_t size);
  ChunkBuffer(ChunkBuffer&& other) noexcept
      : bytes_(std::move(other.bytes_)),
        size_(std::exchange(other.size_, 0)),
        capacity_(std::exchange(other.capacity_, 0)) {}
  ChunkBuffer& operator=(ChunkBuffer&& other) noexcept;
  ChunkBuffer(const ChunkBuffer&) = delete;
  ChunkBuffer& operator=(const ChunkBuffer&) = delete;
  ~ChunkBuffer() { Release(); }

  uint8_t* data() { return bytes_.get(); }
  const uint8_t* data() const { return bytes_.get(); }
  std::size_t size() const { return size_; }
  std::size_t capacity() const { return capacity_; }
  bool empty() const { return size_ == 0; }
  std::span<uint8_t> span() { return {bytes_.get(), size_}; }
  std::span<const uint8_t> span() const { return {bytes_.get(), size_}; }

  // Buffers currently kept for reuse (for tests).
  static std::size_t PooledForTesting();

 private:
  void Release();

  std::unique_ptr<uint8_t[]> bytes_;
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;
};

}  // namespace tesseras::net
