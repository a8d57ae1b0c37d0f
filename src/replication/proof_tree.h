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
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/bytes.h"
#include "core/fragment.h"
#include "crypto/blake3_hasher.h"

namespace tesseras::replication {

uint64_t ProofLeafCount(uint64_t fragment_size);

// Accumulates leaf hashes while a fragment streams past (any chunking).
class ProofTreeBuilder {
 public:
  void Update(std::span<const uint8_t> data);
  // All leaf hashes (finishes the last partial leaf).
  std::vector<core::ContentHash> FinishLeaves();

 private:
  crypto::Blake3Hasher leaf_ = StartLeaf();
  uint64_t in_leaf_ = 0;
  std::vector<core::ContentHash> leaves_;
  static crypto::Blake3Hasher StartLeaf();
};

core::ContentHash LeafHash(std::span<const uint8_t> leaf);
core::ContentHash MerkleRoot(std::vector<core::ContentHash> leaves);

// Sibling hashes from leaf `index` up to the root (bottom first); a level where
// the node has no sibling contributes nothing.
std::vector<core::ContentHash> MerklePath(const std::vector<core::ContentHash>& leaves,
                                          uint64_t index);

// Recomputes the root from one leaf's bytes and its path.
bool VerifyMerklePath(const core::ContentHash& root, uint64_t leaf_count, uint64_t index,
                      std::span<const uint8_t> leaf, std::span<const core::ContentHash> path);

// Root of a stored fragment (reads it in chunks).
core::Result<core::ContentHash> ProofRootOf(core::RandomAccessSource& fragment);

}  // namespace tesseras::replication
