#include "crypto/reed_solomon.h"

#include <isa-l/erasure_code.h>

#include <algorithm>
#include <string>

namespace tesseras::crypto {
namespace {

// ISA-L takes non-const pointers for its inputs; it does not write through them.
unsigned char** Mutable(const uint8_t* const* p) {
  return const_cast<unsigned char**>(reinterpret_cast<const unsigned char* const*>(p));
}

void RunStriped(int k, int rows, const std::vector<uint8_t>& tables,
                std::span<const uint8_t* const> in, std::span<uint8_t* const> out, std::size_t len,
                std::size_t stripe_bytes) {
  if (rows == 0 || len == 0) return;
  if (stripe_bytes == 0) stripe_bytes = len;
  std::vector<const uint8_t*> src(in.begin(), in.end());
  std::vector<uint8_t*> dst(out.begin(), out.end());
  unsigned char* tbl = const_cast<unsigned char*>(tables.data());
  for (std::size_t off = 0; off < len; off += stripe_bytes) {
    std::size_t n = std::min(stripe_bytes, len - off);
    for (int i = 0; i < k; ++i) src[i] = in[i] + off;
    for (int j = 0; j < rows; ++j) dst[j] = out[j] + off;
    ec_encode_data(static_cast<int>(n), k, rows, tbl, Mutable(src.data()), dst.data());
  }
}

}  // namespace

core::Result<ReedSolomon> ReedSolomon::Create(int data_shards, int parity_shards) {
  if (data_shards < 1 || parity_shards < 0 || data_shards + parity_shards > 255) {
    return core::MakeError(core::ErrorCode::kInvalidArgument,
                           "Reed-Solomon code " + std::to_string(data_shards) + "+" +
                               std::to_string(parity_shards) +
                               " is out of range (k >= 1, m >= 0, k + m <= 255)");
  }
  ReedSolomon rs;
  rs.k_ = data_shards;
  rs.m_ = parity_shards;
  int n = data_shards + parity_shards;
  rs.matrix_.resize(static_cast<std::size_t>(n) * data_shards);
  gf_gen_cauchy1_matrix(rs.matrix_.data(), n, data_shards);
  rs.encode_tables_.resize(32u * data_shards * std::max(parity_shards, 1));
  if (parity_shards > 0) {
    ec_init_tables(data_shards, parity_shards, &rs.matrix_[data_shards * data_shards],
                   rs.encode_tables_.data());
  }
  return rs;
}

void ReedSolomon::Encode(std::span<const uint8_t* const> data, std::span<uint8_t* const> parity,
                         std::size_t len, std::size_t stripe_bytes) const {
  RunStriped(k_, m_, encode_tables_, data, parity, len, stripe_bytes);
}

core::Result<ReedSolomon::Decoder> ReedSolomon::MakeDecoder(std::span<const bool> present,
                                                            std::span<const int> wanted) const {
  const int n = k_ + m_;
  if (static_cast<int>(present.size()) != n) {
    return core::MakeError(core::ErrorCode::kInvalidArgument,
                           "presence mask has " + std::to_string(present.size()) +
                               " entries; the code has " + std::to_string(n) + " shards");
  }
  Decoder dec;
  dec.k_ = k_;
  for (int i = 0; i < n && static_cast<int>(dec.sources_.size()) < k_; ++i) {
    if (present[i]) dec.sources_.push_back(i);
  }
  int have = static_cast<int>(std::count(present.begin(), present.end(), true));
  if (have < k_) {
    return core::MakeError(core::ErrorCode::kInsufficientShards,
                           "only " + std::to_string(have) + " of " + std::to_string(n) +
                               " shards are available; " + std::to_string(k_) +
                               " are needed to rebuild the data");
  }
  for (int w : wanted) {
    if (w < 0 || w >= n) {
      return core::MakeError(core::ErrorCode::kInvalidArgument,
                             "shard index " + std::to_string(w) + " out of range");
    }
  }
  dec.targets_.assign(wanted.begin(), wanted.end());
  if (dec.targets_.empty()) return dec;

  // B = the generator rows of the sources; D = B^-1 maps sources back to data.
  std::vector<uint8_t> b(static_cast<std::size_t>(k_) * k_), d(b.size());
  for (int r = 0; r < k_; ++r) {
    std::copy_n(&matrix_[static_cast<std::size_t>(dec.sources_[r]) * k_], k_, &b[r * k_]);
  }
  if (gf_invert_matrix(b.data(), d.data(), k_) != 0) {
    // Cannot happen for a Cauchy generator; it would be a bug in the construction.
    return core::MakeError(core::ErrorCode::kInternal, "decoding matrix is singular");
  }
  // A wanted row is (generator row of the target) x D.
  const int rows = static_cast<int>(dec.targets_.size());
  std::vector<uint8_t> c(static_cast<std::size_t>(rows) * k_);
  for (int t = 0; t < rows; ++t) {
    const uint8_t* g = &matrix_[static_cast<std::size_t>(dec.targets_[t]) * k_];
    for (int j = 0; j < k_; ++j) {
      uint8_t s = 0;
      for (int i = 0; i < k_; ++i) s ^= gf_mul(g[i], d[i * k_ + j]);
      c[t * k_ + j] = s;
    }
  }
  dec.tables_.resize(32u * k_ * rows);
  ec_init_tables(k_, rows, c.data(), dec.tables_.data());
  return dec;
}

void ReedSolomon::Decoder::Apply(std::span<const uint8_t* const> inputs,
                                 std::span<uint8_t* const> outputs, std::size_t len,
                                 std::size_t stripe_bytes) const {
  RunStriped(k_, static_cast<int>(targets_.size()), tables_, inputs, outputs, len, stripe_bytes);
}

core::Result<void> ReedSolomon::Reconstruct(std::span<uint8_t* const> shards,
                                            std::span<const bool> present, std::size_t len,
                                            std::size_t stripe_bytes) const {
  if (static_cast<int>(shards.size()) != k_ + m_) {
    return core::MakeError(core::ErrorCode::kInvalidArgument, "wrong number of shard buffers");
  }
  std::vector<int> wanted;
  for (int i = 0; i < k_ + m_; ++i)
    if (!present[i]) wanted.push_back(i);
  ASSIGN_OR_RETURN(Decoder dec, MakeDecoder(present, wanted));
  if (wanted.empty()) return core::Ok();
  std::vector<const uint8_t*> in;
  for (int s : dec.sources()) in.push_back(shards[s]);
  std::vector<uint8_t*> out;
  for (int t : wanted) out.push_back(shards[t]);
  dec.Apply(in, out, len, stripe_bytes);
  return core::Ok();
}

}  // namespace tesseras::crypto
