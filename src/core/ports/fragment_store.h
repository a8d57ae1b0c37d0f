// FragmentStore port: the fragments this node keeps, its own and other owners'.
//
// Contract
// - Blocking. Call from a worker thread, never from the network thread.
// - Thread-safe: concurrent calls on different or equal fragments are allowed.
// - Store() is atomic and durable: when it returns Ok the bytes are on disk and
//   indexed; when it fails or the process dies, nothing partial is visible.
// - Store() hashes the bytes while writing and fails with kCorrupt, storing
//   nothing, if they do not hash to id.checksum or are not `size` bytes.
// - A stored fragment is only served (Open/Read) while its file and index row agree.
// - "Held" means on disk with the right bytes, never merely indexed: a store
//   whose files vanish behind its back (an operator's rm, a failing disk) drops
//   the index rows as soon as Verify, CheckHeld or Store meets the gap.
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "core/bytes.h"
#include "core/fragment.h"

namespace tesseras::core {

// Where a walk over every stored fragment stopped: (tessera, index) order.
struct FragmentKey {
  ContentHash tessera;
  uint32_t index = 0;
  auto operator<=>(const FragmentKey&) const = default;
};

struct StoredFragment {
  FragmentId id;
  uint64_t size = 0;
  int64_t stored_at_ms = 0;
  std::optional<int64_t> last_verified_ms;
  NodeId origin;  // the peer that sent it (our own id for local fragments)
};

class FragmentStore {
 public:
  virtual ~FragmentStore() = default;

  // Streams `size` bytes from `bytes` into the store. kAlreadyExists if the same
  // (tessera, index) is stored with another checksum and `replace` is false;
  // kResourceExhausted if free space would fall below the configured minimum.
  virtual Result<void> Store(const FragmentId& id, uint64_t size, ByteSource& bytes,
                             const NodeId& origin, bool replace = false) = 0;

  // Opens a stored fragment for reading in chunks. kNotFound if absent.
  virtual Result<std::unique_ptr<RandomAccessSource>> Open(const ContentHash& tessera,
                                                           uint32_t index) = 0;

  virtual Result<StoredFragment> Get(const ContentHash& tessera, uint32_t index) = 0;

  // Removes the file and the index row. kNotFound if absent.
  virtual Result<void> Delete(const ContentHash& tessera, uint32_t index) = 0;

  // Every fragment, or those of one tessera, ordered by (tessera, index).
  // Without a tessera the answer grows with everything held: callers that walk
  // the whole store use ListAfter instead.
  virtual Result<std::vector<StoredFragment>> List(
      std::optional<ContentHash> tessera = std::nullopt) = 0;

  // At most `limit` fragments following `after` (exclusive; from the first
  // when nullopt) in (tessera, index) order: a walk over everything held that
  // keeps one page in memory. A page shorter than `limit` is the last one.
  virtual Result<std::vector<StoredFragment>> ListAfter(std::optional<FragmentKey> after,
                                                        std::size_t limit) = 0;

  // Recomputes BLAKE3 of the stored bytes. Ok and records last_verified if it
  // matches; kCorrupt (naming the fragment) if not; kNotFound if it is not
  // stored or its file is gone. After a failure the fragment is no longer
  // listed: the index agrees with what is on disk.
  virtual Result<void> Verify(const ContentHash& tessera, uint32_t index) = 0;

  // Whether we really hold this fragment: indexed, and its bytes on disk hash to
  // its checksum. A fragment verified less than `trust_verified_ms` ago is only
  // checked for presence and size (what verification proved recently stands);
  // 0 always hashes. Fails like Verify, with the same reconciliation.
  virtual Result<void> CheckHeld(const ContentHash& tessera, uint32_t index,
                                 int64_t trust_verified_ms) = 0;

  // The Merkle path of each leaf in `leaves` of a stored fragment's proof tree
  // (crypto/proof_tree.h): sibling hashes bottom first, one path per leaf, read
  // from the tree Store kept beside the bytes, without reading the fragment
  // itself. The hashes are what was kept, not re-derived: a caller checks each
  // path against the plan's proof root, and reads the whole fragment when one
  // does not lead there. A one-leaf fragment has empty paths. kNotFound if the
  // fragment is not stored or no tree is kept for it; kInvalidArgument for a
  // leaf past the last one.
  virtual Result<std::vector<std::vector<ContentHash>>> ReadProofPaths(
      const ContentHash& tessera, uint32_t index, std::span<const uint64_t> leaves) = 0;
};

}  // namespace tesseras::core
