// FsFragmentStore's recovery on open (what was in flight: .incoming) and
// Reconcile (the full walk, on demand). See fragment_store.h.
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <vector>

#include "crypto/proof_tree.h"
#include "storage/fragment_store.h"
#include "storage/fragment_store_internal.h"

namespace tesseras::storage {

using core::ContentHash;
using core::ErrorCode;
using core::MakeError;
using core::Result;
using core::StoredFragment;
using fragment_store_internal::Describe;
using fragment_store_internal::kIncomingDir;
using fragment_store_internal::kLockFile;
using fragment_store_internal::kQuarantineDir;
using fragment_store_internal::ParseFragmentFileName;
using fragment_store_internal::ParseIncomingName;

namespace {

// The names in a directory (without "." and ".."), read with one open handle.
Result<std::vector<std::string>> Names(const std::filesystem::path& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return ErrnoError("opendir", dir, errno);
  std::vector<std::string> out;
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name != "." && name != "..") out.push_back(std::move(name));
  }
  ::closedir(d);
  return out;
}

// Iterates a directory's names one at a time (for the root, which can hold a
// hundred thousand tessera directories: no list of them is kept).
class DirReader {
 public:
  static Result<DirReader> Open(const std::filesystem::path& dir) {
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) return ErrnoError("opendir", dir, errno);
    return DirReader(d);
  }
  DirReader(DirReader&& o) noexcept : d_(std::exchange(o.d_, nullptr)) {}
  DirReader& operator=(DirReader&&) = delete;
  ~DirReader() {
    if (d_) ::closedir(d_);
  }
  // The next name, or nullopt at the end.
  std::optional<std::string> Next() {
    while (dirent* e = ::readdir(d_)) {
      std::string name = e->d_name;
      if (name != "." && name != "..") return name;
    }
    return std::nullopt;
  }

 private:
  explicit DirReader(DIR* d) : d_(d) {}
  DIR* d_;
};

bool IsTempName(std::string_view name) { return name.ends_with(".tmp"); }

}  // namespace

std::string RecoveryReport::ToString() const {
  std::string out;
  for (const auto& p : completed_files) {
    out += "completed a write or undid a delete that was interrupted: " + p.string() + "\n";
  }
  for (const auto& p : removed_temp_files) out += "removed temporary file " + p.string() + "\n";
  for (const auto& p : removed_orphan_files) {
    out += "removed file without index row (never acknowledged) " + p.string() + "\n";
  }
  for (const auto& r : dropped_rows) {
    out += "dropped index row of " + Describe(r.tessera, r.index) + ": " + r.reason + "\n";
  }
  for (const auto& p : quarantined_files) out += "quarantined " + p.string() + "\n";
  for (const auto& p : unexpected_entries) {
    out += "unexpected entry left alone (never served) " + p.string() + "\n";
  }
  if (proof_trees > 0) {
    out += "put in place or removed " + std::to_string(proof_trees) + " proof tree file(s)\n";
  }
  return out;
}

Result<void> FsFragmentStore::Recover() {
  // Only what was in flight: one entry per write or delete that was running.
  ASSIGN_OR_RETURN(std::vector<std::string> names, Names(incoming_));
  for (const auto& name : names) TRY(RecoverIncoming(name));
  if (!names.empty()) TRY(FsyncDir(incoming_));
  return core::Ok();
}

Result<void> FsFragmentStore::RecoverIncoming(const std::string& name) {
  const std::filesystem::path p = incoming_ / name;
  struct stat st;
  if (::lstat(p.c_str(), &st) != 0) {
    if (errno == ENOENT) return core::Ok();
    return ErrnoError("lstat", p, errno);
  }
  auto parsed = ParseIncomingName(name);
  if (!S_ISREG(st.st_mode) || !parsed) {
    if (S_ISREG(st.st_mode) && IsTempName(name)) {
      if (::unlink(p.c_str()) != 0 && errno != ENOENT) return ErrnoError("unlink", p, errno);
      report_.removed_temp_files.push_back(p);
    } else {
      report_.unexpected_entries.push_back(p);
    }
    return core::Ok();
  }
  ASSIGN_OR_RETURN(std::optional<StoredFragment> row, FindRow(parsed->tessera, parsed->index));
  const bool named = row && row->id.checksum == parsed->checksum;
  if (parsed->tree) {
    // A proof tree (a cache): put in place beside the bytes it belongs to,
    // when whole; otherwise gone.
    const std::filesystem::path tree_path = TreePath(parsed->tessera, parsed->index);
    if (named && static_cast<uint64_t>(st.st_size) == crypto::StoredProofTreeBytes(row->size)) {
      TRY(EnsureDir(tree_path.parent_path()));
      if (::rename(p.c_str(), tree_path.c_str()) != 0) {
        return ErrnoError("rename into", tree_path, errno);
      }
    } else if (::unlink(p.c_str()) != 0 && errno != ENOENT) {
      return ErrnoError("unlink", p, errno);
    }
    ++report_.proof_trees;
    return core::Ok();
  }
  if (!named) {
    // A write that never committed, or a delete that dropped its row.
    if (::unlink(p.c_str()) != 0 && errno != ENOENT) return ErrnoError("unlink", p, errno);
    report_.removed_temp_files.push_back(p);
    return core::Ok();
  }
  // The index names exactly these bytes: a write committed and did not get to
  // its rename, or a delete moved the file out and did not get to drop the row.
  const std::filesystem::path final_path = ShardPath(parsed->tessera, parsed->index);
  if (static_cast<uint64_t>(st.st_size) != row->size) {
    // Cannot happen short of disk damage (a write commits only a whole,
    // fsynced file): the row cannot stand.
    ASSIGN_OR_RETURN(auto q, Quarantine(p, parsed->tessera, parsed->index));
    report_.quarantined_files.push_back(q);
    TRY(DropRow(parsed->tessera, parsed->index));
    report_.dropped_rows.push_back({parsed->tessera, parsed->index,
                                    "its file in " + std::string(kIncomingDir) + " has " +
                                        std::to_string(st.st_size) + " bytes, expected " +
                                        std::to_string(row->size)});
    return core::Ok();
  }
  TRY(EnsureDir(final_path.parent_path()));
  if (::rename(p.c_str(), final_path.c_str()) != 0) {
    return ErrnoError("rename into", final_path, errno);
  }
  TRY(FsyncDir(final_path.parent_path()));
  report_.completed_files.push_back(final_path);
  return core::Ok();
}

Result<RecoveryReport> FsFragmentStore::Reconcile() {
  RecoveryReport report;
  ASSIGN_OR_RETURN(DirReader root, DirReader::Open(root_));
  // The directory gives names in no useful order; taken a batch at a time and
  // sorted, the index is read in key order within each batch (far fewer pages
  // than random lookups), with one batch of names in memory.
  constexpr std::size_t kBatch = 4096;
  std::vector<std::string> names;
  for (bool more = true; more;) {
    names.clear();
    while (names.size() < kBatch) {
      auto name = root.Next();
      if (!name) {
        more = false;
        break;
      }
      if (*name != kLockFile && *name != kQuarantineDir && *name != kIncomingDir) {
        names.push_back(std::move(*name));
      }
    }
    std::sort(names.begin(), names.end());
    for (const auto& name : names) {
      const std::filesystem::path p = root_ / name;
      struct stat st;
      if (::lstat(p.c_str(), &st) != 0) continue;  // gone meanwhile
      auto tessera = ContentHash::FromHex(name);
      if (!S_ISDIR(st.st_mode) || !tessera.ok()) {
        report.unexpected_entries.push_back(p);
        continue;
      }
      TRY(ReconcileDir(*tessera, p, report));
    }
  }
  return report;
}

Result<void> FsFragmentStore::ReconcileDir(const ContentHash& tessera,
                                           const std::filesystem::path& dir,
                                           RecoveryReport& report) {
  ASSIGN_OR_RETURN(std::vector<std::string> names, Names(dir));  // at most 255 shards
  bool touched = false;
  std::size_t kept = 0;
  for (const auto& name : names) {
    const std::filesystem::path p = dir / name;
    struct stat st;
    if (::lstat(p.c_str(), &st) != 0) continue;
    if (S_ISREG(st.st_mode) && name.starts_with(".") && IsTempName(name)) {
      // A temp file of the layout before .incoming: nothing writes here now.
      if (::unlink(p.c_str()) != 0 && errno != ENOENT) return ErrnoError("unlink", p, errno);
      report.removed_temp_files.push_back(p);
      touched = true;
      continue;
    }
    bool tree = false;
    auto index = ParseFragmentFileName(name, &tree);
    if (!S_ISREG(st.st_mode) || !index) {
      report.unexpected_entries.push_back(p);
      ++kept;
      continue;
    }
    // Decided under the fragment's lock, against its row as it is now.
    KeyLock key_lock(*this, {tessera, *index});
    ASSIGN_OR_RETURN(std::optional<StoredFragment> row, FindRow(tessera, *index));
    if (::lstat(p.c_str(), &st) != 0) continue;  // deleted meanwhile
    const auto size = static_cast<uint64_t>(st.st_size);
    if (!row || (tree && size != crypto::StoredProofTreeBytes(row->size))) {
      // Never acknowledged (or acknowledged and deleted, the delete's rename
      // lost to a power cut): nothing names it. A tree of the wrong size
      // belongs to no bytes here.
      if (::unlink(p.c_str()) != 0 && errno != ENOENT) return ErrnoError("unlink", p, errno);
      report.removed_orphan_files.push_back(p);
      touched = true;
      continue;
    }
    if (!tree && size != row->size) {
      ASSIGN_OR_RETURN(auto q, Quarantine(p, tessera, *index));
      report.quarantined_files.push_back(q);
      TRY(DropRow(tessera, *index));
      report.dropped_rows.push_back({tessera, *index,
                                     "its file has " + std::to_string(size) +
                                         " bytes, the index says " + std::to_string(row->size)});
      continue;
    }
    ++kept;
  }
  if (touched) TRY(FsyncDir(dir));
  if (kept == 0) {
    // Empty (left by deletes): removed unless a Store is about to rename a
    // file into it (it holds dirs_mu_ from creating the directory until then)
    // or already did (ENOTEMPTY).
    std::unique_lock<std::shared_mutex> dirs(dirs_mu_);
    if (::rmdir(dir.c_str()) == 0) TRY(FsyncDir(root_));
  }
  return core::Ok();
}

}  // namespace tesseras::storage
