// FsFragmentStore's recovery on open (what was in flight: .incoming) and
// Reconcile (the walk of everything, in slices), and the move from the flat
// layout. See fragment_store.h.
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <iterator>
#include <mutex>
#include <set>
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

// Iterates a directory's names one at a time (a prefix directory holds about
// 1/256 of the tessera directories: no list of them is kept).
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
  if (moved_dirs > 0) {
    out += "moved " + std::to_string(moved_dirs) +
           " tessera director(ies) of the flat layout under their prefix directory\n";
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

Result<void> FsFragmentStore::MoveFlatLayout() {
  // In the current layout `fragments/` holds at most 256 prefix directories
  // and the store's own entries, so this reads a few hundred names. Moving
  // entries while reading the directory may hide others from this reading
  // (POSIX leaves it open), so it reads again until a reading moves nothing.
  std::set<std::string> touched;
  for (bool again = true; again;) {
    again = false;
    ASSIGN_OR_RETURN(DirReader root, DirReader::Open(root_));
    while (auto name = root.Next()) {
      auto tessera = ContentHash::FromHex(*name);
      if (!tessera.ok() || tessera->ToHex() != *name) continue;
      const std::filesystem::path from = root_ / *name;
      struct stat st;
      if (::lstat(from.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) continue;
      const std::filesystem::path to = TesseraDir(*tessera);
      TRY(EnsureDir(to.parent_path()));
      if (::rename(from.c_str(), to.c_str()) != 0) {
        if (errno != EEXIST && errno != ENOTEMPTY) return ErrnoError("rename into", to, errno);
        // Both layouts hold this tessera (only a copy by hand does that): each
        // file the new place lacks is moved; the rest stays, reported by
        // Reconcile as unexpected.
        ASSIGN_OR_RETURN(std::vector<std::string> files, Names(from));
        for (const auto& f : files) {
          const std::filesystem::path dest = to / f;
          if (::access(dest.c_str(), F_OK) == 0) continue;
          if (::rename((from / f).c_str(), dest.c_str()) != 0) {
            return ErrnoError("rename into", dest, errno);
          }
        }
        TRY(FsyncDir(to));
        if (::rmdir(from.c_str()) != 0 && errno != ENOTEMPTY && errno != EEXIST) {
          return ErrnoError("rmdir", from, errno);
        }
      }
      touched.insert(to.parent_path().filename().string());
      ++report_.moved_dirs;
      CrashPoint("layout-moved");
      again = true;
    }
  }
  if (touched.empty()) return core::Ok();
  for (const auto& prefix : touched) TRY(FsyncDir(root_ / prefix));
  return FsyncDir(root_);
}

namespace {

bool IsPrefixName(std::string_view name) {
  auto hex = [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); };
  return name.size() == 2 && hex(name[0]) && hex(name[1]);
}

std::string PrefixName(int p) {
  static constexpr char kDigits[] = "0123456789abcdef";
  return {kDigits[p >> 4], kDigits[p & 15]};
}

int PrefixValue(std::string_view name) {
  auto v = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
  return v(name[0]) * 16 + v(name[1]);
}

}  // namespace

Result<RecoveryReport> FsFragmentStore::Reconcile() {
  RecoveryReport report;
  std::string cursor;
  // A slice of 4096 names at a time: each is sorted, so the index is read in
  // key order within it (far fewer pages than random lookups).
  do {
    TRY(ReconcileSome(&cursor, 4096, report));
  } while (!cursor.empty());
  return report;
}

Result<std::size_t> FsFragmentStore::ReconcileSome(std::string* cursor, std::size_t max_entries,
                                                   RecoveryReport& report) {
  max_entries = std::max<std::size_t>(max_entries, 1);
  std::string after_prefix, after_name;
  const auto slash = cursor->find('/');
  if (slash == 2 && IsPrefixName(cursor->substr(0, 2))) {
    after_prefix = cursor->substr(0, 2);
    after_name = cursor->substr(3);
  } else if (!cursor->empty()) {
    cursor->clear();  // not a position this walk gives: from the start
  }
  if (cursor->empty()) {
    // The start of a walk: what `fragments/` holds besides the prefix
    // directories (at most 256 of them) and the store's own entries.
    ASSIGN_OR_RETURN(std::vector<std::string> names, Names(root_));
    std::sort(names.begin(), names.end());
    for (const auto& name : names) {
      if (name == kLockFile || name == kQuarantineDir || name == kIncomingDir) continue;
      const std::filesystem::path p = root_ / name;
      struct stat st;
      if (::lstat(p.c_str(), &st) != 0) continue;
      if (IsPrefixName(name) && S_ISDIR(st.st_mode)) continue;
      report.unexpected_entries.push_back(p);
    }
  }
  std::size_t done = 0;
  for (int p = after_prefix.empty() ? 0 : PrefixValue(after_prefix); p < 256; ++p) {
    const std::string prefix = PrefixName(p);
    const bool resume = prefix == after_prefix;
    const std::filesystem::path dir = root_ / prefix;
    auto reader = DirReader::Open(dir);
    if (!reader.ok()) {
      if (reader.error().code == ErrorCode::kNotFound) continue;
      return std::move(reader).error();
    }
    // The smallest names after the cursor, no more than the slice has left:
    // the directory is read whole, but only those are kept.
    const std::size_t want = max_entries - done;
    std::set<std::string> next;
    while (auto name = reader->Next()) {
      if (resume && *name <= after_name) continue;
      if (next.size() < want) {
        next.insert(std::move(*name));
      } else if (*name < *next.rbegin()) {
        next.erase(std::prev(next.end()));
        next.insert(std::move(*name));
      }
    }
    for (const auto& name : next) {
      const std::filesystem::path entry = dir / name;
      struct stat st;
      *cursor = prefix + "/" + name;
      ++done;
      if (::lstat(entry.c_str(), &st) != 0) continue;  // gone meanwhile
      auto tessera = ContentHash::FromHex(name);
      if (!S_ISDIR(st.st_mode) || !tessera.ok() || tessera->ToHex() != name ||
          !name.starts_with(prefix)) {
        report.unexpected_entries.push_back(entry);
        continue;
      }
      TRY(ReconcileDir(*tessera, entry, report));
    }
    if (done >= max_entries) return done;
  }
  cursor->clear();
  return done;
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
    // The prefix directory stays (there are at most 256).
    std::unique_lock<std::shared_mutex> dirs(dirs_mu_);
    if (::rmdir(dir.c_str()) == 0) TRY(FsyncDir(dir.parent_path()));
  }
  return core::Ok();
}

}  // namespace tesseras::storage
