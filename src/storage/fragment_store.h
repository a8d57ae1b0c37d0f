// FsFragmentStore: core::FragmentStore on the local file system, indexed in
// SQLite (table `fragments`, migration 002).
//
// Layout (docs/STORAGE.md):
//   {data_dir}/fragments/{tessera_hash_hex}/{index:03}.shard   fragment bytes
//   {data_dir}/fragments/{tessera_hash_hex}/.{index:03}.shard.{random}.tmp
//                                                     being written (never served)
//   {data_dir}/fragments/.quarantine/                 files that failed Verify
//   {data_dir}/fragments/.lock                        flock: one store per data dir
//
// Store: temp file in the fragment's directory, BLAKE3 while streaming, size
// and checksum check, fdatasync, rename; then, in parallel, fsync of the
// directory and the index row committed with synchronous=FULL (a holder
// acknowledges the fragment to its sender as soon as Store returns). A row
// therefore always names a complete file; a file without a row was never
// acknowledged. A fragment already stored with the same checksum and size, and
// whose file still hashes to it, is a success without reading the stream; one
// whose file is gone or damaged is written again.
//
// Recovery when opened: temp files are removed; a file without an index row is
// removed; a row whose file is missing or has the wrong size is dropped (the
// file, if any, goes to quarantine). Everything done is listed in
// recovery_report(). Nothing is served unless its row and its file agree.
//
// Threading: blocking and thread-safe. Callers run it on a worker pool, never
// on the network thread. Operations on the same (tessera, index) are
// serialised; different fragments proceed in parallel (file I/O happens
// outside the database lock).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <set>
#include <string>
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
};

struct RecoveryReport {
  struct DroppedRow {
    core::ContentHash tessera;
    uint32_t index = 0;
    std::string reason;
  };
  std::vector<std::filesystem::path> removed_temp_files;
  std::vector<std::filesystem::path> removed_orphan_files;  // file without index row
  std::vector<DroppedRow> dropped_rows;                     // row without a good file
  std::vector<std::filesystem::path> quarantined_files;
  std::vector<std::filesystem::path> unexpected_entries;  // left alone, never served

  bool clean() const {
    return removed_temp_files.empty() && removed_orphan_files.empty() && dropped_rows.empty() &&
           quarantined_files.empty() && unexpected_entries.empty();
  }
  // One line per action, for the log.
  std::string ToString() const;
};

class FsFragmentStore final : public core::FragmentStore {
 public:
  // Opens the store under `data_dir`, creating directories as needed, and runs
  // recovery. `db` must have the schema of migration 002 or later.
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
  // On a mismatch the file is moved to quarantine and its row dropped, so it is
  // never served again; a correct copy can then be stored without `replace`.
  core::Result<void> Verify(const core::ContentHash& tessera, uint32_t index) override;
  core::Result<void> CheckHeld(const core::ContentHash& tessera, uint32_t index,
                               int64_t trust_verified_ms) override;

  // Sum of the sizes of all stored fragments.
  core::Result<uint64_t> TotalBytes();

  const RecoveryReport& recovery_report() const { return report_; }
  const std::filesystem::path& root() const { return root_; }
  std::filesystem::path ShardPath(const core::ContentHash& tessera, uint32_t index) const;

 private:
  using Key = std::pair<core::ContentHash, uint32_t>;
  class KeyLock;
  class SpaceReservation;

  FsFragmentStore(std::shared_ptr<Database> db, std::filesystem::path root,
                  FsFragmentStoreOptions options);
  core::Result<void> Recover();
  core::Result<std::optional<core::StoredFragment>> FindRow(const core::ContentHash& tessera,
                                                            uint32_t index);
  core::Result<void> DropRow(const core::ContentHash& tessera, uint32_t index);
  // CheckHeld with the key lock held; `row` is the fragment's index row.
  core::Result<void> CheckHeldLocked(const core::StoredFragment& row, int64_t trust_verified_ms);
  // The row names a file that is missing or of the wrong size: drop the row
  // (quarantining a wrong file) and say so.
  core::Error ForgetMissing(const core::StoredFragment& row, const core::Error& why);
  core::Result<std::filesystem::path> Quarantine(const std::filesystem::path& file,
                                                 const core::ContentHash& tessera, uint32_t index);
  int64_t Now() const { return options_.clock->NowUnixMs(); }

  std::shared_ptr<Database> db_;
  std::filesystem::path root_;
  FsFragmentStoreOptions options_;
  UniqueFd lock_fd_;
  RecoveryReport report_;

  std::mutex keys_mu_;
  std::condition_variable keys_cv_;
  std::set<Key> busy_;

  std::mutex space_mu_;
  uint64_t reserved_bytes_ = 0;  // being written right now

  // Reused I/O buffers: a fresh multi-MiB allocation per Store costs a page
  // fault per 4 KiB on first touch (expensive on paravirtualised VMs).
  class PooledBuffer;
  std::mutex pool_mu_;
  std::vector<std::vector<uint8_t>> pool_;
};

}  // namespace tesseras::storage
