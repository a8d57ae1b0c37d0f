// FsFragmentStore: core::FragmentStore on the local file system, indexed in
// SQLite (table `fragments`, migration 002; totals and scrub order, 005).
//
// Layout (docs/STORAGE.md), {pp} being the first two hex digits of {tessera_hex}
// (at most 256 prefix directories, so that no directory holds every tessera):
//   {data_dir}/fragments/{pp}/{tessera_hex}/{index:03}.shard   the fragment, exactly its bytes
//   {data_dir}/fragments/{pp}/{tessera_hex}/{index:03}.tree    its proof tree below the root
//                                      (crypto/proof_tree.h; none for a one-leaf fragment)
//   {data_dir}/fragments/.incoming/{tessera_hex}.{index:03}.{checksum_hex}[.tree].{random}.tmp
//                                      a write or delete in flight (never served)
//   {data_dir}/fragments/.quarantine/  files that failed verification
//   {data_dir}/fragments/.lock         flock: one store per data dir
//
// Store: temp file in .incoming (its name says which fragment and which bytes),
// BLAKE3 and the proof tree while streaming, size and checksum check,
// fdatasync (and fsync of .incoming), the tree in a temp file of its own; then,
// under the database lock, the index row committed with synchronous=FULL and
// the temp files renamed into place. A holder acknowledges the fragment to its
// sender as soon as Store returns. Delete renames the files into .incoming,
// drops the row, then unlinks them. The tree is a cache: readers check it
// against the plan's proof root, so it is never fsynced.
//
// A data dir of the flat layout before the prefix directories
// ({data_dir}/fragments/{tessera_hex}/...) is moved to this one when opened,
// one rename of a tessera directory each (atomic, so a move cut short by a
// crash is finished by the next open); after that, opening lists only the
// prefix directories.
//
// Recovery when opened looks only at .incoming, so start-up costs what was in
// flight, never what is held: a temp file whose fragment is indexed with the
// checksum in its name is renamed into place (the commit happened, the rename
// did not, or a delete did not get to drop its row); any other is removed. What
// recovery cannot see (a file without a row after a power cut, a file removed
// behind the store's back) is found by Reconcile() and by verification (the
// background scrub, storage/scrub.h), never at start-up.
//
// Threading: blocking and thread-safe. Callers run it on a worker pool, never
// on the network thread. Operations on the same (tessera, index) are
// serialised; different fragments proceed in parallel (file I/O happens
// outside the database lock).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/ports/clock.h"
#include "core/ports/fragment_store.h"
#include "core/tier.h"
#include "storage/database.h"
#include "storage/file_util.h"

namespace tesseras::storage {

// The largest fragment accepted (a small-tier payload is < 4 MiB and a shard of
// a 1 GiB tessera about 21 MiB; anything larger than a whole tessera is refused).
inline constexpr uint64_t kMaxFragmentBytes = core::kMaxTesseraSize;

struct FsFragmentStoreOptions {
  // Store() refuses a fragment that would leave less free space than this.
  uint64_t min_free_bytes = core::kGiB;
  // Timestamps (stored_at, last_verified); the system clock when null.
  std::shared_ptr<const core::Clock> clock;
  // Chunk size for streaming writes, reads during Verify, and hashing.
  std::size_t io_chunk_bytes = 1024 * 1024;
  // For crash tests: called between the steps of Store and Delete that a
  // crash can separate, with the step's name ("store-synced": the temp file is
  // on disk, no row yet; "store-committed": the row is, the rename is not;
  // "delete-moved": the file is in .incoming, the row still there;
  // "delete-dropped": the row is gone, the file not yet; "layout-moved": Open
  // moved one tessera directory of the flat layout under its prefix
  // directory). Null in production.
  std::function<void(std::string_view step)> crash_point;
};

// What recovery (on open) or Reconcile() did.
struct RecoveryReport {
  struct DroppedRow {
    core::ContentHash tessera;
    uint32_t index = 0;
    std::string reason;
  };
  std::vector<std::filesystem::path> completed_files;  // renamed into place from .incoming
  std::vector<std::filesystem::path> removed_temp_files;
  std::vector<std::filesystem::path> removed_orphan_files;  // file without index row
  std::vector<DroppedRow> dropped_rows;                     // row without a good file
  std::vector<std::filesystem::path> quarantined_files;
  std::vector<std::filesystem::path> unexpected_entries;  // left alone, never served
  // Tessera directories of the flat layout moved under their prefix directory
  // (counted, not listed).
  std::size_t moved_dirs = 0;
  // Proof-tree temp files of interrupted writes and deletes put in place or
  // removed (a cache: counted, not listed).
  std::size_t proof_trees = 0;

  bool clean() const {
    return completed_files.empty() && removed_temp_files.empty() && removed_orphan_files.empty() &&
           dropped_rows.empty() && quarantined_files.empty() && unexpected_entries.empty();
  }
  // One line per action, for the log.
  std::string ToString() const;
};

class FsFragmentStore final : public core::FragmentStore {
 public:
  // Opens the store under `data_dir`, creating directories as needed, and runs
  // recovery (of .incoming only). `db` must have the schema of migration 005
  // or later.
  static core::Result<std::unique_ptr<FsFragmentStore>> Open(std::shared_ptr<Database> db,
                                                             const std::filesystem::path& data_dir,
                                                             FsFragmentStoreOptions options = {});
  ~FsFragmentStore() override = default;

  core::Result<void> Store(const core::FragmentId& id, uint64_t size, core::ByteSource& bytes,
                           const core::NodeId& origin, bool replace = false) override;
  core::Result<std::unique_ptr<core::RandomAccessSource>> Open(const core::ContentHash& tessera,
                                                               uint32_t index) override;
  core::Result<core::StoredFragment> Get(const core::ContentHash& tessera, uint32_t index) override;
  core::Result<void> Delete(const core::ContentHash& tessera, uint32_t index) override;
  core::Result<std::vector<core::StoredFragment>> List(
      std::optional<core::ContentHash> tessera = std::nullopt) override;
  core::Result<std::vector<core::StoredFragment>> ListAfter(std::optional<core::FragmentKey> after,
                                                            std::size_t limit) override;
  // On a mismatch the file is moved to quarantine and its row dropped, so it is
  // never served again; a correct copy can then be stored without `replace`.
  core::Result<void> Verify(const core::ContentHash& tessera, uint32_t index) override;
  core::Result<void> CheckHeld(const core::ContentHash& tessera, uint32_t index,
                               int64_t trust_verified_ms) override;
  core::Result<std::vector<std::vector<core::ContentHash>>> ReadProofPaths(
      const core::ContentHash& tessera, uint32_t index, std::span<const uint64_t> leaves) override;

  // Verify of each fragment in `keys`, each exactly as Verify does it (what
  // fails is quarantined and dropped), with the verifications recorded in one
  // transaction at the end instead of one per fragment: a walk over many small
  // fragments (the scrub) is not bound by commits. A fragment last verified at
  // or after `unless_verified_since` (0: never) is left alone. Per key, in
  // order: true if it verified, false if there was nothing to do (not stored,
  // or verified since), or the error Verify gives. Fails as a whole only if
  // the recording fails.
  core::Result<std::vector<core::Result<bool>>> VerifyMany(std::span<const core::FragmentKey> keys,
                                                           int64_t unless_verified_since = 0);

  // Sum of the sizes of all stored fragments, and their number (one row read:
  // migration 005 keeps them).
  core::Result<uint64_t> TotalBytes();
  core::Result<uint64_t> FragmentCount();

  // The full walk that start-up no longer does: every tessera directory, one
  // at a time, against the index rows of that tessera (ReconcileSome from the
  // start until it reaches the end). Removes files without a
  // row (a rename that reached the disk after a power cut lost its commit, or
  // a copy dropped in by hand) and proof trees of the wrong size, quarantines
  // fragment files of the wrong size and drops their rows, removes left-over temp files of the old
  // layout and empty directories, reports anything else. Rows whose file is missing are left to
  // verification (the scrub), which drops them. Memory: one directory. Safe
  // while the store is in use (each fragment under its lock). Returns what it did.
  core::Result<RecoveryReport> Reconcile();

  // One slice of that walk: the next `max_entries` entries (tessera
  // directories, or anything else found in a prefix directory) after
  // `*cursor`, in name order ("{pp}/{name}"; empty: the start), with what it
  // did added to `report`. Advances `*cursor` and returns how many entries it
  // reached; the walk has reached the end when `*cursor` is empty again. Entries of `fragments/`
  // itself that are neither a prefix directory nor the store's own are
  // reported by the slice that starts a walk. Memory: `max_entries` names and
  // one directory, whatever the store holds.
  core::Result<std::size_t> ReconcileSome(std::string* cursor, std::size_t max_entries,
                                          RecoveryReport& report);

  const RecoveryReport& recovery_report() const { return report_; }
  const std::filesystem::path& root() const { return root_; }
  std::filesystem::path ShardPath(const core::ContentHash& tessera, uint32_t index) const;
  std::filesystem::path TreePath(const core::ContentHash& tessera, uint32_t index) const;
  // {root}/{pp}/{tessera_hex}: the directory of a tessera's fragments.
  std::filesystem::path TesseraDir(const core::ContentHash& tessera) const;

 private:
  using Key = std::pair<core::ContentHash, uint32_t>;
  class KeyLock;
  class SpaceReservation;

  FsFragmentStore(std::shared_ptr<Database> db, std::filesystem::path root,
                  FsFragmentStoreOptions options);
  core::Result<void> Recover();
  // Moves tessera directories of the flat layout under their prefix directory.
  core::Result<void> MoveFlatLayout();
  // Recovery of one .incoming entry.
  core::Result<void> RecoverIncoming(const std::string& name);
  // Reconcile() for one tessera directory.
  core::Result<void> ReconcileDir(const core::ContentHash& tessera,
                                  const std::filesystem::path& dir, RecoveryReport& report);
  // Opens a fragment's file for its row and checks that it has the row's size.
  core::Result<UniqueFd> OpenFile(const core::StoredFragment& row);
  // A temp file name in .incoming for these bytes.
  std::string IncomingPrefix(const core::FragmentId& id) const;
  core::Result<std::optional<core::StoredFragment>> FindRow(const core::ContentHash& tessera,
                                                            uint32_t index);
  core::Result<void> DropRow(const core::ContentHash& tessera, uint32_t index);
  // CheckHeld with the key lock held; `row` is the fragment's index row. A
  // verification is recorded in the row unless `record` is false.
  core::Result<void> CheckHeldLocked(const core::StoredFragment& row, int64_t trust_verified_ms,
                                     bool record = true);
  // The row names a file that is missing or of the wrong size: drop the row
  // (quarantining a wrong file) and say so.
  core::Error ForgetMissing(const core::StoredFragment& row, const core::Error& why);
  core::Result<std::filesystem::path> Quarantine(const std::filesystem::path& file,
                                                 const core::ContentHash& tessera, uint32_t index);
  int64_t Now() const { return options_.clock->NowUnixMs(); }
  void CrashPoint(std::string_view step) const {
    if (options_.crash_point) options_.crash_point(step);
  }

  std::shared_ptr<Database> db_;
  std::filesystem::path root_;
  std::filesystem::path incoming_;
  FsFragmentStoreOptions options_;
  UniqueFd lock_fd_;
  RecoveryReport report_;

  std::mutex keys_mu_;
  std::condition_variable keys_cv_;
  std::set<Key> busy_;

  // Held shared by Store from creating a tessera directory until its file is
  // renamed into it; Reconcile takes it to remove an empty directory.
  std::shared_mutex dirs_mu_;

  std::mutex space_mu_;
  uint64_t reserved_bytes_ = 0;  // being written right now

  // Reused I/O buffers: a fresh multi-MiB allocation per Store costs a page
  // fault per 4 KiB on first touch (expensive on paravirtualised VMs).
  class PooledBuffer;
  std::mutex pool_mu_;
  std::vector<std::vector<uint8_t>> pool_;
};

}  // namespace tesseras::storage
