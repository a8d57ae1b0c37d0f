#include "core/bytes.h"

#include <algorithm>
#include <cstring>
#include <string>

namespace tesseras::core {

Result<std::size_t> MemorySource::Read(std::span<uint8_t> out) {
  std::size_t n = std::min(out.size(), data_.size() - pos_);
  if (n) std::memcpy(out.data(), data_.data() + pos_, n);
  pos_ += n;
  return n;
}

Result<void> MemorySource::ReadAt(uint64_t offset, std::span<uint8_t> out) {
  if (offset > data_.size() || out.size() > data_.size() - offset) {
    return MakeError(ErrorCode::kInvalidArgument, "read of " + std::to_string(out.size()) +
                                                      " bytes at " + std::to_string(offset) +
                                                      " is past the end (" +
                                                      std::to_string(data_.size()) + " bytes)");
  }
  if (!out.empty()) std::memcpy(out.data(), data_.data() + offset, out.size());
  return Ok();
}

Result<void> MemorySink::Write(std::span<const uint8_t> data) {
  if (finished_) return MakeError(ErrorCode::kInternal, "write after Finish()");
  bytes_.insert(bytes_.end(), data.begin(), data.end());
  return Ok();
}

Result<void> MemorySink::Finish() {
  finished_ = true;
  return Ok();
}

Result<void> MemorySink::WriteAt(uint64_t offset, std::span<const uint8_t> data) {
  if (finished_) return MakeError(ErrorCode::kInternal, "write after Finish()");
  if (offset + data.size() > bytes_.size()) bytes_.resize(offset + data.size());
  if (!data.empty()) std::memcpy(bytes_.data() + offset, data.data(), data.size());
  return Ok();
}

Result<void> MemorySink::Finish(uint64_t size) {
  bytes_.resize(size);
  finished_ = true;
  return Ok();
}

Result<std::size_t> SequentialReader::Read(std::span<uint8_t> out) {
  uint64_t left = src_.Size() - pos_;
  std::size_t n = static_cast<std::size_t>(std::min<uint64_t>(out.size(), left));
  if (n == 0) return std::size_t{0};
  TRY(src_.ReadAt(pos_, out.first(n)));
  pos_ += n;
  return n;
}

}  // namespace tesseras::core
