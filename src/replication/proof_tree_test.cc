#include "replication/proof_tree.h"

#include <gtest/gtest.h>

#include <random>

namespace tesseras::replication {
namespace {

std::vector<uint8_t> Bytes(std::size_t n, uint32_t seed) {
  std::vector<uint8_t> v(n);
  std::mt19937 rng(seed);
  for (auto& b : v) b = static_cast<uint8_t>(rng());
  return v;
}

std::vector<core::ContentHash> LeavesOf(const std::vector<uint8_t>& data) {
  ProofTreeBuilder b;
  // Feed in odd-sized pieces: the leaves must not depend on chunking.
  std::size_t off = 0, step = 777;
  while (off < data.size()) {
    std::size_t n = std::min(step, data.size() - off);
    b.Update(std::span(data.data() + off, n));
    off += n;
    step = step * 2 + 1;
  }
  return b.FinishLeaves();
}

TEST(ProofTreeTest, LeafCounts) {
  EXPECT_EQ(ProofLeafCount(0), 1u);
  EXPECT_EQ(ProofLeafCount(1), 1u);
  EXPECT_EQ(ProofLeafCount(core::kProofLeafBytes), 1u);
  EXPECT_EQ(ProofLeafCount(core::kProofLeafBytes + 1), 2u);
  EXPECT_EQ(LeavesOf({}).size(), 1u);
  EXPECT_EQ(LeavesOf(Bytes(core::kProofLeafBytes * 3, 1)).size(), 3u);
  EXPECT_EQ(LeavesOf(Bytes(core::kProofLeafBytes * 3 + 5, 1)).size(), 4u);
}

TEST(ProofTreeTest, RootMatchesDefinition) {
  auto data = Bytes(core::kProofLeafBytes * 2 + 100, 2);
  auto leaves = LeavesOf(data);
  ASSERT_EQ(leaves.size(), 3u);
  // Leaf = BLAKE3(0x00 || bytes); node = BLAKE3(0x01 || l || r); odd carried up.
  std::vector<uint8_t> l0 = {0};
  l0.insert(l0.end(), data.begin(), data.begin() + core::kProofLeafBytes);
  EXPECT_EQ(leaves[0], crypto::Blake3(l0));
  auto node = [](const core::ContentHash& a, const core::ContentHash& b) {
    std::vector<uint8_t> v = {1};
    v.insert(v.end(), a.bytes.begin(), a.bytes.end());
    v.insert(v.end(), b.bytes.begin(), b.bytes.end());
    return crypto::Blake3(v);
  };
  EXPECT_EQ(MerkleRoot(leaves), node(node(leaves[0], leaves[1]), leaves[2]));
  core::MemorySource src(data);
  EXPECT_EQ(*ProofRootOf(src), MerkleRoot(leaves));
}

TEST(ProofTreeTest, EveryPathVerifiesAndTamperingFails) {
  for (std::size_t leaves_n : {1u, 2u, 5u, 8u, 13u}) {
    auto data = Bytes(core::kProofLeafBytes * leaves_n - 3, static_cast<uint32_t>(leaves_n));
    auto leaves = LeavesOf(data);
    auto root = MerkleRoot(leaves);
    for (uint64_t i = 0; i < leaves.size(); ++i) {
      auto path = MerklePath(leaves, i);
      uint64_t start = i * core::kProofLeafBytes;
      std::size_t len = std::min<std::size_t>(core::kProofLeafBytes, data.size() - start);
      std::vector<uint8_t> leaf(data.begin() + start, data.begin() + start + len);
      EXPECT_TRUE(VerifyMerklePath(root, leaves.size(), i, leaf, path)) << leaves_n << "/" << i;
      leaf[0] ^= 1;
      EXPECT_FALSE(VerifyMerklePath(root, leaves.size(), i, leaf, path));
      leaf[0] ^= 1;
      if (leaves.size() > 1) {
        EXPECT_FALSE(VerifyMerklePath(root, leaves.size(), (i + 1) % leaves.size(), leaf, path));
      }
      EXPECT_FALSE(VerifyMerklePath(root, leaves.size(), leaves.size(), leaf, path));
    }
  }
}

// The stored tree (every level below the root) gives every leaf's path by
// offset, the same path MerklePath computes, and leads to the same root.
TEST(ProofTreeTest, StoredTreeGivesThePathsByOffset) {
  for (uint64_t leaves_n : {1u, 2u, 3u, 7u, 8u, 9u, 33u}) {
    const uint64_t size = core::kProofLeafBytes * leaves_n - 1;
    auto leaves = LeavesOf(Bytes(size, static_cast<uint32_t>(leaves_n)));
    core::ContentHash root;
    auto stored = crypto::StoredProofTree(leaves, &root);
    EXPECT_EQ(root, MerkleRoot(leaves));
    EXPECT_EQ(stored.size(), crypto::StoredProofTreeBytes(size)) << leaves_n;
    for (uint64_t i = 0; i < leaves.size(); ++i) {
      std::vector<core::ContentHash> path;
      for (uint64_t off : crypto::StoredProofPathOffsets(leaves.size(), i)) {
        ASSERT_LE(off + 32, stored.size());
        core::ContentHash h;
        std::copy_n(stored.begin() + static_cast<std::ptrdiff_t>(off), 32, h.bytes.begin());
        path.push_back(h);
      }
      EXPECT_EQ(path, MerklePath(leaves, i)) << leaves_n << "/" << i;
    }
  }
  // A one-leaf fragment keeps nothing; 4,096 leaves keep 8,191 - 1 hashes.
  EXPECT_EQ(crypto::StoredProofTreeBytes(0), 0u);
  EXPECT_EQ(crypto::StoredProofTreeBytes(core::kProofLeafBytes), 0u);
  EXPECT_EQ(crypto::StoredProofTreeBytes(64ull << 20), 8190u * 32);
}

}  // namespace
}  // namespace tesseras::replication
