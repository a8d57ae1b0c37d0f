// Little-endian fixed-layout writer/reader for the canonical encodings. The
// reader never reads past its input and reports what was malformed.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "core/ids.h"
#include "core/result.h"

namespace tesseras::replication {

class ByteWriter {
 public:
  void U8(uint8_t v) { out_.push_back(v); }
  void U16(uint16_t v) { Int(v, 2); }
  void U32(uint32_t v) { Int(v, 4); }
  void U64(uint64_t v) { Int(v, 8); }
  void Bytes(std::span<const uint8_t> b) { out_.insert(out_.end(), b.begin(), b.end()); }
  void Id(const core::ContentHash& h) { Bytes(h.bytes); }
  void Id(const core::NodeId& h) { Bytes(h.bytes); }
  std::vector<uint8_t>& out() { return out_; }

 private:
  void Int(uint64_t v, int n) {
    for (int i = 0; i < n; ++i) out_.push_back(static_cast<uint8_t>(v >> (8 * i)));
  }
  std::vector<uint8_t> out_;
};

class ByteReader {
 public:
  ByteReader(std::span<const uint8_t> in, std::string what) : in_(in), what_(std::move(what)) {}
  core::Result<uint64_t> Int(int n) {
    if (in_.size() - pos_ < static_cast<std::size_t>(n)) return Truncated();
    uint64_t v = 0;
    for (int i = 0; i < n; ++i) v |= uint64_t{in_[pos_ + i]} << (8 * i);
    pos_ += n;
    return v;
  }
  core::Result<uint8_t> U8() { return static_cast<uint8_t>(TRY(Int(1))); }
  core::Result<uint16_t> U16() { return static_cast<uint16_t>(TRY(Int(2))); }
  core::Result<uint32_t> U32() { return static_cast<uint32_t>(TRY(Int(4))); }
  core::Result<uint64_t> U64() { return TRY(Int(8)); }
  core::Result<std::span<const uint8_t>> Bytes(std::size_t n) {
    if (in_.size() - pos_ < n) return Truncated();
    auto s = in_.subspan(pos_, n);
    pos_ += n;
    return s;
  }
  template <typename T>
  core::Result<T> Id() {
    auto b = TRY(Bytes(32));
    return T::FromSpan(b);
  }
  template <std::size_t N>
  core::Result<std::array<uint8_t, N>> Array() {
    auto b = TRY(Bytes(N));
    std::array<uint8_t, N> a;
    std::memcpy(a.data(), b.data(), N);
    return a;
  }
  std::size_t pos() const { return pos_; }
  bool done() const { return pos_ == in_.size(); }
  core::Error Malformed(const std::string& why) const {
    return core::MakeError(core::ErrorCode::kInvalidArgument,
                           what_ + " is malformed at byte " + std::to_string(pos_) + ": " + why);
  }

 private:
  core::Error Truncated() const { return Malformed("truncated"); }
  std::span<const uint8_t> in_;
  std::size_t pos_ = 0;
  std::string what_;
};

}  // namespace tesseras::replication
