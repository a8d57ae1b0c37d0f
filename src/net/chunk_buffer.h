// Byte buffers for bulk-transfer chunks, recycled through a process-wide pool.
//
// A fragment moves as a stream of chunks of up to kMaxChunkBytes (256 KiB).
// Allocating a fresh 256 KiB block per chunk costs more than moving it: the
// allocator hands large blocks back to the kernel and every reuse page-faults
// them in again (measured in docs/PERFORMANCE.md, Network). A ChunkBuffer is
// taken from a small free list instead and returns there when destroyed, from
// any thread. Contents are never zero-filled: whoever takes a buffer writes it.
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

class ChunkBuffer {
 public:
  ChunkBuffer() = default;
  // A buffer holding `size` (≤ kChunkBufferCapacity) uninitialised bytes.
  explicit ChunkBuffer(std::size_t size);
  ChunkBuffer(ChunkBuffer&& other) noexcept
      : bytes_(std::move(other.bytes_)), size_(std::exchange(other.size_, 0)) {}
  ChunkBuffer& operator=(ChunkBuffer&& other) noexcept;
  ChunkBuffer(const ChunkBuffer&) = delete;
  ChunkBuffer& operator=(const ChunkBuffer&) = delete;
  ~ChunkBuffer() { Release(); }

  uint8_t* data() { return bytes_.get(); }
  const uint8_t* data() const { return bytes_.get(); }
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  std::span<uint8_t> span() { return {bytes_.get(), size_}; }
  std::span<const uint8_t> span() const { return {bytes_.get(), size_}; }

  // Buffers currently kept for reuse (for tests).
  static std::size_t PooledForTesting();

 private:
  void Release();

  std::unique_ptr<uint8_t[]> bytes_;
  std::size_t size_ = 0;
};

}  // namespace tesseras::net
