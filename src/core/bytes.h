// Byte streams used by the coding pipeline and the ports. Nothing here does I/O;
// files, sockets and databases implement these interfaces in outer layers, and
// memory-backed versions live here for tests and small payloads.
//
// Thread safety: an instance is used by one thread at a time.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "core/result.h"

namespace tesseras::core {

// A sequential reader. Read fills up to out.size() bytes and returns how many it
// wrote; 0 means end of stream.
class ByteSource {
 public:
  virtual ~ByteSource() = default;
  virtual Result<std::size_t> Read(std::span<uint8_t> out) = 0;
};

// A reader at arbitrary offsets of a fixed-size object (a file, a fragment).
// ReadAt fills all of `out` or fails: reading past Size() is kInvalidArgument.
class RandomAccessSource {
 public:
  virtual ~RandomAccessSource() = default;
  virtual uint64_t Size() const = 0;
  virtual Result<void> ReadAt(uint64_t offset, std::span<uint8_t> out) = 0;
  // The whole object as one span if it already lives in memory (lets coders skip
  // a copy); empty otherwise.
  virtual std::optional<std::span<const uint8_t>> Contiguous() const { return std::nullopt; }
};

// A sequential writer. Nothing written is final until Finish() succeeds; a sink
// destroyed without Finish() discards what it received where it can (files are
// removed, not left half-written).
class ByteSink {
 public:
  virtual ~ByteSink() = default;
  virtual Result<void> Write(std::span<const uint8_t> data) = 0;
  virtual Result<void> Finish() = 0;
};

// A writer at arbitrary offsets (a file being assembled out of order). Same
// Finish() rule as ByteSink: nothing is final before it.
class RandomAccessSink {
 public:
  virtual ~RandomAccessSink() = default;
  virtual Result<void> WriteAt(uint64_t offset, std::span<const uint8_t> data) = 0;
  // `size` is the final length (the object is truncated or extended to it).
  virtual Result<void> Finish(uint64_t size) = 0;
};

// Counts and discards what it receives (benchmarks; dry runs).
class NullSink final : public ByteSink {
 public:
  Result<void> Write(std::span<const uint8_t> data) override {
    bytes_ += data.size();
    return Ok();
  }
  Result<void> Finish() override { return Ok(); }
  uint64_t bytes() const { return bytes_; }

 private:
  uint64_t bytes_ = 0;
};

// ---- memory-backed implementations -------------------------------------------

class MemorySource final : public ByteSource, public RandomAccessSource {
 public:
  explicit MemorySource(std::span<const uint8_t> data) : data_(data) {}
  Result<std::size_t> Read(std::span<uint8_t> out) override;
  uint64_t Size() const override { return data_.size(); }
  Result<void> ReadAt(uint64_t offset, std::span<uint8_t> out) override;
  std::optional<std::span<const uint8_t>> Contiguous() const override { return data_; }

 private:
  std::span<const uint8_t> data_;
  std::size_t pos_ = 0;
};

class MemorySink final : public ByteSink, public RandomAccessSink {
 public:
  Result<void> WriteAt(uint64_t offset, std::span<const uint8_t> data) override;
  Result<void> Finish(uint64_t size) override;
  Result<void> Write(std::span<const uint8_t> data) override;
  Result<void> Finish() override;
  bool finished() const { return finished_; }
  const std::vector<uint8_t>& bytes() const { return bytes_; }
  std::vector<uint8_t>& bytes() { return bytes_; }

 private:
  std::vector<uint8_t> bytes_;
  bool finished_ = false;
};

// Reads a whole RandomAccessSource sequentially (adapter).
class SequentialReader final : public ByteSource {
 public:
  explicit SequentialReader(RandomAccessSource& src) : src_(src) {}
  Result<std::size_t> Read(std::span<uint8_t> out) override;

 private:
  RandomAccessSource& src_;
  uint64_t pos_ = 0;
};

}  // namespace tesseras::core
