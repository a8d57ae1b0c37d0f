#include "replication/proof_tree.h"

#include <algorithm>

namespace tesseras::replication {
namespace {

core::ContentHash NodeHash(const core::ContentHash& l, const core::ContentHash& r) {
  crypto::Blake3Hasher h;
  const uint8_t tag = 0x01;
  h.Update(std::span(&tag, 1));
  h.Update(l.bytes);
  h.Update(r.bytes);
  return h.Finalize();
}

}  // namespace

uint64_t ProofLeafCount(uint64_t size) {
  return std::max<uint64_t>(1, (size + core::kProofLeafBytes - 1) / core::kProofLeafBytes);
}

crypto::Blake3Hasher ProofTreeBuilder::StartLeaf() {
  crypto::Blake3Hasher h;
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
  while (level.size() > 1) {
    std::vector<core::ContentHash> up;
    for (std::size_t i = 0; i + 1 < level.size(); i += 2)
      up.push_back(NodeHash(level[i], level[i + 1]));
    if (level.size() % 2) up.push_back(level.back());
    level = std::move(up);
  }
  return level[0];
}

std::vector<core::ContentHash> MerklePath(const std::vector<core::ContentHash>& leaves,
                                          uint64_t index) {
  std::vector<core::ContentHash> path;
  std::vector<core::ContentHash> level = leaves;
  while (level.size() > 1) {
    uint64_t sib = index ^ 1;
    if (sib < level.size()) path.push_back(level[sib]);
    std::vector<core::ContentHash> up;
    for (std::size_t i = 0; i + 1 < level.size(); i += 2)
      up.push_back(NodeHash(level[i], level[i + 1]));
    if (level.size() % 2) up.push_back(level.back());
    level = std::move(up);
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

core::Result<core::ContentHash> ProofRootOf(core::RandomAccessSource& fragment) {
  ProofTreeBuilder b;
  std::vector<uint8_t> buf(1 << 20);
  for (uint64_t off = 0; off < fragment.Size(); off += buf.size()) {
    std::size_t n = static_cast<std::size_t>(std::min<uint64_t>(buf.size(), fragment.Size() - off));
    TRY(fragment.ReadAt(off, std::span(buf.data(), n)));
    b.Update(std::span(buf.data(), n));
  }
  return MerkleRoot(b.FinishLeaves());
}

}  // namespace tesseras::replication
