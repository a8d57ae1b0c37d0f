#include "crypto/reed_solomon.h"

#include <gtest/gtest.h>
#include <isa-l/erasure_code.h>

#include <functional>
#include <numeric>
#include <random>

#include "crypto/testing/subsets.h"

namespace tesseras::crypto {
namespace {

struct Shards {
  std::vector<std::vector<uint8_t>> bufs;
  std::vector<uint8_t*> ptrs;
};

Shards MakeEncoded(const ReedSolomon& rs, std::size_t len, uint32_t seed) {
  Shards s;
  std::mt19937 rng(seed);
  int n = rs.total_shards();
  s.bufs.resize(n, std::vector<uint8_t>(len));
  for (int i = 0; i < rs.data_shards(); ++i)
    for (auto& b : s.bufs[i]) b = static_cast<uint8_t>(rng());
  for (auto& b : s.bufs) s.ptrs.push_back(b.data());
  std::vector<const uint8_t*> data(s.ptrs.begin(), s.ptrs.begin() + rs.data_shards());
  std::vector<uint8_t*> parity(s.ptrs.begin() + rs.data_shards(), s.ptrs.end());
  rs.Encode(data, parity, len, 64);  // tiny stripes exercise the striping loop
  return s;
}

// Erases the shards in `lost`, reconstructs and compares with the original.
void CheckRecovers(const ReedSolomon& rs, const Shards& original, const std::vector<int>& lost) {
  Shards work = original;
  work.ptrs.clear();
  for (auto& b : work.bufs) work.ptrs.push_back(b.data());
  std::vector<bool> present_v(rs.total_shards(), true);
  for (int i : lost) {
    present_v[i] = false;
    std::fill(work.bufs[i].begin(), work.bufs[i].end(), 0xAA);
  }
  std::unique_ptr<bool[]> present(new bool[present_v.size()]);
  for (std::size_t i = 0; i < present_v.size(); ++i) present[i] = present_v[i];
  auto r = rs.Reconstruct(work.ptrs, std::span(present.get(), present_v.size()),
                          original.bufs[0].size(), 100);
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  for (int i = 0; i < rs.total_shards(); ++i) ASSERT_EQ(work.bufs[i], original.bufs[i]) << i;
}

using crypto::testing::ForEachSubset;

TEST(ReedSolomonTest, GeneratorIsDocumentedCauchyMatrix) {
  auto rs = *ReedSolomon::Create(16, 8);
  const auto& a = rs.generator();
  for (int i = 0; i < 24; ++i)
    for (int j = 0; j < 16; ++j) {
      uint8_t expect = i < 16 ? (i == j ? 1 : 0) : gf_inv(static_cast<uint8_t>(i ^ j));
      ASSERT_EQ(a[i * 16 + j], expect) << i << "," << j;
    }
  // Independent check of the field: in GF(2^8)/0x11D, 2 * 0x8E = 0x11C ^ 0x11D = 1.
  EXPECT_EQ(gf_inv(2), 0x8E);
  EXPECT_EQ(gf_mul(0x80, 2), 0x1D);
}

TEST(ReedSolomonTest, EveryLossPatternSmallCodes) {
  for (auto [k, m] : {std::pair{4, 2}, std::pair{6, 3}}) {
    auto rs = *ReedSolomon::Create(k, m);
    for (std::size_t len : {1u, 63u, 64u, 1000u}) {
      Shards s = MakeEncoded(rs, len, static_cast<uint32_t>(k * 100 + len));
      int patterns = 0;
      ForEachSubset(k + m, m, [&](const std::vector<int>& lost) {
        CheckRecovers(rs, s, lost);
        ++patterns;
      });
      // sum_{i=0..m} C(k+m, i): 1+6+15 = 22 for 4+2; 1+9+36+84 = 130 for 6+3.
      EXPECT_EQ(patterns, k == 4 ? 22 : 130);
    }
  }
}

TEST(ReedSolomonTest, RandomLossPatternsTierCodes) {
  std::mt19937 rng(7);
  for (auto [k, m] : {std::pair{16, 8}, std::pair{48, 24}}) {
    auto rs = *ReedSolomon::Create(k, m);
    Shards s = MakeEncoded(rs, 4099, k);
    for (int trial = 0; trial < 60; ++trial) {
      std::vector<int> idx(k + m);
      std::iota(idx.begin(), idx.end(), 0);
      std::shuffle(idx.begin(), idx.end(), rng);
      int lose = static_cast<int>(rng() % (m + 1));
      if (trial < 10) lose = m;  // always include worst cases
      idx.resize(lose);
      CheckRecovers(rs, s, idx);
    }
    // All data shards lost, rebuilt only from parity (possible when m >= k is false:
    // here lose the first m data shards).
    std::vector<int> first_data(m);
    std::iota(first_data.begin(), first_data.end(), 0);
    CheckRecovers(rs, s, first_data);
  }
}

TEST(ReedSolomonTest, FailsWithMoreThanParityLost) {
  auto rs = *ReedSolomon::Create(6, 3);
  bool present[9] = {true, false, true, false, true, false, true, false, true};
  auto dec = rs.MakeDecoder(present, std::vector<int>{1});
  ASSERT_FALSE(dec.ok());
  EXPECT_EQ(dec.error().code, core::ErrorCode::kInsufficientShards);
  EXPECT_NE(dec.error().message.find("only 5 of 9"), std::string::npos) << dec.error().message;
}

TEST(ReedSolomonTest, RejectsBadCodes) {
  EXPECT_FALSE(ReedSolomon::Create(0, 2).ok());
  EXPECT_FALSE(ReedSolomon::Create(200, 56).ok());
  EXPECT_FALSE(ReedSolomon::Create(4, -1).ok());
  EXPECT_TRUE(ReedSolomon::Create(1, 0).ok());
}

TEST(ReedSolomonTest, StripeSizeDoesNotChangeOutput) {
  auto rs = *ReedSolomon::Create(16, 8);
  std::size_t len = 100000;
  Shards a = MakeEncoded(rs, len, 3);
  std::vector<std::vector<uint8_t>> parity(8, std::vector<uint8_t>(len));
  std::vector<const uint8_t*> data;
  for (int i = 0; i < 16; ++i) data.push_back(a.bufs[i].data());
  std::vector<uint8_t*> out;
  for (auto& p : parity) out.push_back(p.data());
  rs.Encode(data, out, len, len);  // one whole-shard pass
  for (int j = 0; j < 8; ++j) EXPECT_EQ(parity[j], a.bufs[16 + j]);
}

}  // namespace
}  // namespace tesseras::crypto
