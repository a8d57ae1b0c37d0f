#include "replication/proof_tree.h"

#include <algorithm>

namespace tesseras::replication {

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
