#include "crypto/blake3_hasher.h"

#include <string>
#include <vector>

namespace tesseras::crypto {

Blake3Hasher::Blake3Hasher() { blake3_hasher_init(&state_); }

Blake3Hasher::Blake3Hasher(const std::array<uint8_t, 32>& key) {
  blake3_hasher_init_keyed(&state_, key.data());
}

Blake3Hasher Blake3Hasher::ForContext(std::string_view context) {
  Blake3Hasher h;
  std::string ctx(context);  // the C API wants a NUL-terminated string
  blake3_hasher_init_derive_key(&h.state_, ctx.c_str());
  return h;
}

void Blake3Hasher::Update(std::span<const uint8_t> data) {
  blake3_hasher_update(&state_, data.data(), data.size());
}

core::ContentHash Blake3Hasher::Finalize() const {
  core::ContentHash h;
  blake3_hasher_finalize(&state_, h.bytes.data(), h.bytes.size());
  return h;
}

void Blake3Hasher::FinalizeXof(std::span<uint8_t> out) const {
  blake3_hasher_finalize(&state_, out.data(), out.size());
}

void Blake3Hasher::Reset() { blake3_hasher_reset(&state_); }

core::ContentHash Blake3(std::span<const uint8_t> data) {
  Blake3Hasher h;
  h.Update(data);
  return h.Finalize();
}

core::Result<core::ContentHash> Blake3Stream(core::ByteSource& src, uint64_t* bytes_read) {
  Blake3Hasher h;
  std::vector<uint8_t> buf(64 * 1024);
  uint64_t total = 0;
  for (;;) {
    std::size_t n = TRY(src.Read(buf));
    if (n == 0) break;
    h.Update(std::span(buf.data(), n));
    total += n;
  }
  if (bytes_read) *bytes_read = total;
  return h.Finalize();
}

core::Result<core::ContentHash> Blake3Range(core::RandomAccessSource& src) {
  core::SequentialReader reader(src);
  return Blake3Stream(reader);
}

}  // namespace tesseras::crypto
