// Per-fragment proof trees (definition: crypto/proof_tree.h, docs/FORMAT.md).
// The tree itself lives in the crypto layer so that the storage layer can keep
// each fragment's tree beside its bytes; these are the same functions under the
// replication layer's names, plus the root of a stored fragment.
#pragma once

#include "core/bytes.h"
#include "crypto/proof_tree.h"

namespace tesseras::replication {

using crypto::LeafHash;
using crypto::MerklePath;
using crypto::MerkleRoot;
using crypto::ProofLeafCount;
using crypto::ProofTreeBuilder;
using crypto::VerifyMerklePath;

// Root of a stored fragment (reads it in chunks).
core::Result<core::ContentHash> ProofRootOf(core::RandomAccessSource& fragment);

}  // namespace tesseras::replication
