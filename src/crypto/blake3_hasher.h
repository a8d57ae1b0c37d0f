// BLAKE3 (official C implementation, SIMD back ends chosen at run time).
#pragma once

#include <blake3.h>

#include <array>
#include <cstdint>
#include <span>
#include <string_view>

#include "core/bytes.h"
#include "core/ids.h"

namespace tesseras::crypto {

// A streaming hasher. Copyable (copies the state), cheap to construct.
class Blake3Hasher {
 public:
  Blake3Hasher();
  // Keyed mode (a 32-byte key): a MAC / PRF.
  explicit Blake3Hasher(const std::array<uint8_t, 32>& key);
  // Key-derivation mode with a context string; used for domain separation.
  static Blake3Hasher ForContext(std::string_view context);

  void Update(std::span<const uint8_t> data);
  void Update(std::string_view data) {
    Update(std::span(reinterpret_cast<const uint8_t*>(data.data()), data.size()));
  }
  core::ContentHash Finalize() const;
  // Extended output of any length (XOF).
  void FinalizeXof(std::span<uint8_t> out) const;
  void Reset();

 private:
  blake3_hasher state_;
};

core::ContentHash Blake3(std::span<const uint8_t> data);
// Hashes a whole stream (reading in 64 KiB chunks); also returns the byte count.
core::Result<core::ContentHash> Blake3Stream(core::ByteSource& src, uint64_t* bytes_read = nullptr);
core::Result<core::ContentHash> Blake3Range(core::RandomAccessSource& src);

}  // namespace tesseras::crypto
