// Per-fragment proof trees: a binary Merkle tree over fixed-size leaves of a
// fragment, so that a holder can prove it has randomly chosen parts of the
// bytes and anyone holding the signed plan (which carries each root) can check
// the proof without having the fragment. Definition (docs/FORMAT.md):
//
//   leaves:  the fragment cut into kProofLeafBytes pieces (the last may be
//            shorter; a 0-byte fragment has one empty leaf)
//   leaf hash  = BLAKE3(0x00 || leaf bytes)
//   node hash  = BLAKE3(0x01 || left || right)
//   a level with an odd count carries its last hash up unchanged
//   root = the single hash left
//
// Node j of level l covers leaves j·2^l … ; the sibling of a node is j ^ 1 when
// that exists on its level. The storage layer keeps every level below the root
// (ProofTreeLevels, the "stored tree") beside a fragment, so that a proof can be
// assembled from a few hashes instead of the whole fragment (docs/STORAGE.md).
//
// Pure functions and a streaming builder; no I/O. Any thread.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/fragment.h"
#include "crypto/blake3_hasher.h"

namespace tesseras::crypto {

uint64_t ProofLeafCount(uint64_t fragment_size);

// Accumulates leaf hashes while a fragment streams past (any chunking).
class ProofTreeBuilder {
 public:
  void Update(std::span<const uint8_t> data);
  // All leaf hashes (finishes the last partial leaf).
  std::vector<core::ContentHash> FinishLeaves();

 private:
  Blake3Hasher leaf_ = StartLeaf();
  uint64_t in_leaf_ = 0;
  std::vector<core::ContentHash> leaves_;
  static Blake3Hasher StartLeaf();
};

core::ContentHash LeafHash(std::span<const uint8_t> leaf);
core::ContentHash NodeHash(const core::ContentHash& left, const core::ContentHash& right);
core::ContentHash MerkleRoot(std::vector<core::ContentHash> leaves);

// Sibling hashes from leaf `index` up to the root (bottom first); a level where
// the node has no sibling contributes nothing.
std::vector<core::ContentHash> MerklePath(const std::vector<core::ContentHash>& leaves,
                                          uint64_t index);

// Recomputes the root from one leaf's bytes and its path.
bool VerifyMerklePath(const core::ContentHash& root, uint64_t leaf_count, uint64_t index,
                      std::span<const uint8_t> leaf, std::span<const core::ContentHash> path);

// ---- The stored tree ---------------------------------------------------------
//
// Every level below the root, level 0 (the leaf hashes) first, each level's
// hashes in order, 32 bytes each. A fragment of one leaf stores nothing (its
// path is empty and its root is in the plan).

// Bytes of the stored tree of a fragment of `fragment_size` bytes: 32 per node
// below the root (about 2 per leaf: 0.4 % of the fragment).
uint64_t StoredProofTreeBytes(uint64_t fragment_size);

// The stored tree built from the leaf hashes, and the root it leads to.
std::vector<uint8_t> StoredProofTree(const std::vector<core::ContentHash>& leaves,
                                     core::ContentHash* root);

// Offsets, within the stored tree, of the hashes that make up the path of leaf
// `index` (bottom first, as MerklePath orders them). Empty for a one-leaf
// fragment; requires index < leaf_count.
std::vector<uint64_t> StoredProofPathOffsets(uint64_t leaf_count, uint64_t index);

}  // namespace tesseras::crypto
