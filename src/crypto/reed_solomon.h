// Systematic Reed-Solomon erasure code over GF(2^8) with Intel ISA-L.
//
// The (k+m) x k generator is ISA-L's gf_gen_cauchy1_matrix: the identity on top
// (so data shards are stored as they are) and below it the Cauchy rows
// a[i][j] = 1 / (i XOR j) for i in k..k+m-1, j in 0..k-1, in GF(2^8) with the
// polynomial x^8 + x^4 + x^3 + x^2 + 1 (0x11D). Every k x k sub-matrix of a
// Cauchy-extended identity is invertible, so any k of the k+m shards rebuild
// the data (see docs/FORMAT.md).
//
// Work is done in cache-sized stripes (`stripe_bytes` of every shard at a time)
// so that large shards are coded at cache speed rather than memory speed.
//
// Thread safety: a ReedSolomon / Decoder is immutable after construction and
// may be shared between threads.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/result.h"

namespace tesseras::crypto {

inline constexpr std::size_t kDefaultStripeBytes = 16 * 1024;

class ReedSolomon {
 public:
  // 1 <= k, 0 <= m, k + m <= 255.
  static core::Result<ReedSolomon> Create(int data_shards, int parity_shards);

  int data_shards() const { return k_; }
  int parity_shards() const { return m_; }
  int total_shards() const { return k_ + m_; }
  // The (k+m) x k generator matrix, row-major.
  const std::vector<uint8_t>& generator() const { return matrix_; }

  // Computes m parity shards of `len` bytes from k data shards of `len` bytes.
  void Encode(std::span<const uint8_t* const> data, std::span<uint8_t* const> parity,
              std::size_t len, std::size_t stripe_bytes = kDefaultStripeBytes) const;

  // Decoding tables for one loss pattern: built once, applied to every stripe.
  class Decoder {
   public:
    // Indices (into the k+m shards) this decoder reads, in order: k of them.
    const std::vector<int>& sources() const { return sources_; }
    // Indices it produces, in order.
    const std::vector<int>& targets() const { return targets_; }
    // inputs[i] is shard sources()[i]; outputs[j] receives shard targets()[j].
    void Apply(std::span<const uint8_t* const> inputs, std::span<uint8_t* const> outputs,
               std::size_t len, std::size_t stripe_bytes = kDefaultStripeBytes) const;

   private:
    friend class ReedSolomon;
    int k_ = 0;
    std::vector<int> sources_;
    std::vector<int> targets_;
    std::vector<uint8_t> tables_;
  };

  // A decoder that rebuilds `wanted` shard indices from the shards marked
  // present (present.size() == k+m). Uses the first k present shards.
  // kInsufficientShards if fewer than k are present.
  core::Result<Decoder> MakeDecoder(std::span<const bool> present,
                                    std::span<const int> wanted) const;

  // Convenience: shards[i] points at every shard (len bytes each); rebuilds in
  // place every shard whose present[i] is false.
  core::Result<void> Reconstruct(std::span<uint8_t* const> shards, std::span<const bool> present,
                                 std::size_t len,
                                 std::size_t stripe_bytes = kDefaultStripeBytes) const;

 private:
  int k_ = 0;
  int m_ = 0;
  std::vector<uint8_t> matrix_;         // (k+m) x k
  std::vector<uint8_t> encode_tables_;  // 32 * k * m
};

}  // namespace tesseras::crypto
