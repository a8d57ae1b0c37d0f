#include "crypto/proof_tree.h"

#include <algorithm>
#include <cstring>

namespace tesseras::crypto {
namespace {

constexpr uint64_t kHashBytes = 32;

// The next level up: pairs hashed, an odd last hash carried unchanged.
std::vector<core::ContentHash> LevelAbove(const std::vector<core::ContentHash>& level) {
  std::vector<core::ContentHash> up;
  up.reserve((level.size() + 1) / 2);
  for (std::size_t i = 0; i + 1 < level.size(); i += 2)
    up.push_back(NodeHash(level[i], level[i + 1]));
  if (level.size() % 2) up.push_back(level.back());
  return up;
}

}  // namespace

uint64_t ProofLeafCount(uint64_t size) {
  return std::max<uint64_t>(1, (size + core::kProofLeafBytes - 1) / core::kProofLeafBytes);
}

core::ContentHash NodeHash(const core::ContentHash& l, const core::ContentHash& r) {
  Blake3Hasher h;
  const uint8_t tag = 0x01;
  h.Update(std::span(&tag, 1));
  h.Update(l.bytes);
  h.Update(r.bytes);
  return h.Finalize();
}

Blake3Hasher ProofTreeBuilder::StartLeaf() {
  Blake3Hasher h;
  const uint8_t tag = 0x00;
  h.Update(std::span(&tag, 1));
  return h;
}

void ProofTreeBuilder::Update(std::span<const uint8_t> data) {
  while (!data.empty()) {
    std::size_t take =
        static_cast<std::size_t>(std::min<uint64_t>(data.size(), core::kProofLeafBytes - in_leaf_));
    leaf_.Update(data.first(take));
    in_leaf_ += take;
    data = data.subspan(take);
    if (in_leaf_ == core::kProofLeafBytes) {
      leaves_.push_back(leaf_.Finalize());
      leaf_ = StartLeaf();
      in_leaf_ = 0;
    }
  }
}

std::vector<core::ContentHash> ProofTreeBuilder::FinishLeaves() {
  // A partial last leaf counts; an empty fragment has one empty leaf.
  if (in_leaf_ > 0 || leaves_.empty()) leaves_.push_back(leaf_.Finalize());
  leaf_ = StartLeaf();
  in_leaf_ = 0;
  return std::move(leaves_);
}

core::ContentHash LeafHash(std::span<const uint8_t> leaf) {
  ProofTreeBuilder b;
  b.Update(leaf);
  return b.FinishLeaves().at(0);
}

core::ContentHash MerkleRoot(std::vector<core::ContentHash> level) {
  if (level.empty()) return LeafHash({});
  while (level.size() > 1) level = LevelAbove(level);
  return level[0];
}

std::vector<core::ContentHash> MerklePath(const std::vector<core::ContentHash>& leaves,
                                          uint64_t index) {
  std::vector<core::ContentHash> path;
  std::vector<core::ContentHash> level = leaves;
  while (level.size() > 1) {
    uint64_t sib = index ^ 1;
    if (sib < level.size()) path.push_back(level[sib]);
    level = LevelAbove(level);
    index /= 2;
  }
  return path;
}

bool VerifyMerklePath(const core::ContentHash& root, uint64_t leaf_count, uint64_t index,
                      std::span<const uint8_t> leaf, std::span<const core::ContentHash> path) {
  if (index >= leaf_count || leaf.size() > core::kProofLeafBytes) return false;
  core::ContentHash h = LeafHash(leaf);
  std::size_t used = 0;
  uint64_t count = leaf_count;
  while (count > 1) {
    uint64_t sib = index ^ 1;
    if (sib < count) {
      if (used >= path.size()) return false;
      h = (index % 2 == 0) ? NodeHash(h, path[used]) : NodeHash(path[used], h);
      ++used;
    }
    index /= 2;
    count = (count + 1) / 2;
  }
  return used == path.size() && h == root;
}

uint64_t StoredProofTreeBytes(uint64_t fragment_size) {
  uint64_t nodes = 0;
  for (uint64_t count = ProofLeafCount(fragment_size); count > 1; count = (count + 1) / 2) {
    nodes += count;
  }
  return nodes * kHashBytes;
}

std::vector<uint8_t> StoredProofTree(const std::vector<core::ContentHash>& leaves,
                                     core::ContentHash* root) {
  std::vector<uint8_t> out;
  std::vector<core::ContentHash> level = leaves.empty() ? std::vector{LeafHash({})} : leaves;
  while (level.size() > 1) {
    const std::size_t at = out.size();
    out.resize(at + level.size() * kHashBytes);
    for (std::size_t i = 0; i < level.size(); ++i) {
      std::memcpy(out.data() + at + i * kHashBytes, level[i].bytes.data(), kHashBytes);
    }
    level = LevelAbove(level);
  }
  if (root) *root = level[0];
  return out;
}

std::vector<uint64_t> StoredProofPathOffsets(uint64_t leaf_count, uint64_t index) {
  std::vector<uint64_t> out;
  uint64_t level_start = 0;  // in hashes
  for (uint64_t count = leaf_count; count > 1; count = (count + 1) / 2) {
    const uint64_t sib = index ^ 1;
    if (sib < count) out.push_back((level_start + sib) * kHashBytes);
    level_start += count;
    index /= 2;
  }
  return out;
}

}  // namespace tesseras::crypto
