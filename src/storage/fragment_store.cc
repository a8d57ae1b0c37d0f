#include "storage/fragment_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <map>
#include <string>
#include <system_error>
#include <thread>
#include <utility>

#include "crypto/blake3_hasher.h"

namespace tesseras::storage {

using core::ContentHash;
using core::ErrorCode;
using core::FragmentId;
using core::MakeError;
using core::Result;
using core::StoredFragment;

namespace {

constexpr std::string_view kQuarantineDir = ".quarantine";
constexpr std::string_view kLockFile = ".lock";

std::string Index3(uint32_t index) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%03u", index);
  return buf;
}

std::string Describe(const ContentHash& tessera, uint32_t index) {
  return "fragment " + std::to_string(index) + " of tessera " + tessera.ToHex();
}

// "NNN.shard" with NNN < 255 (three decimal digits).
std::optional<uint32_t> ParseShardName(std::string_view name) {
  if (name.size() != 9 || name.substr(3) != ".shard") return std::nullopt;
  uint32_t v = 0;
  for (int i = 0; i < 3; ++i) {
    if (name[i] < '0' || name[i] > '9') return std::nullopt;
    v = v * 10 + static_cast<uint32_t>(name[i] - '0');
  }
  if (v >= 255) return std::nullopt;
  return v;
}

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// Directory entries (names only, without "." and "..").
Result<std::vector<std::pair<std::string, bool>>> ListDir(const std::filesystem::path& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return ErrnoError("opendir", dir, errno);
  std::vector<std::pair<std::string, bool>> out;
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    struct stat st;
    bool is_dir = ::lstat((dir / name).c_str(), &st) == 0 && S_ISDIR(st.st_mode);
    out.emplace_back(std::move(name), is_dir);
  }
  ::closedir(d);
  return out;
}

StoredFragment RowToFragment(Statement& s, const ContentHash& tessera, uint32_t index) {
  StoredFragment f;
  f.id.tessera = tessera;
  f.id.index = index;
  f.id.shard_count = static_cast<uint32_t>(s.ColumnInt64(0));
  auto checksum = s.ColumnBlob(1);
  if (checksum.size() == core::kIdBytes)
    std::copy(checksum.begin(), checksum.end(), f.id.checksum.bytes.begin());
  f.size = static_cast<uint64_t>(s.ColumnInt64(2));
  f.stored_at_ms = s.ColumnInt64(3);
  if (!s.ColumnIsNull(4)) f.last_verified_ms = s.ColumnInt64(4);
  auto origin = s.ColumnBlob(5);
  if (origin.size() == core::kIdBytes)
    std::copy(origin.begin(), origin.end(), f.origin.bytes.begin());
  return f;
}

}  // namespace

// Serialises operations on one (tessera, index).
class FsFragmentStore::KeyLock {
 public:
  KeyLock(FsFragmentStore& store, Key key) : store_(store), key_(std::move(key)) {
    std::unique_lock<std::mutex> lock(store_.keys_mu_);
    store_.keys_cv_.wait(lock, [&] { return !store_.busy_.contains(key_); });
    store_.busy_.insert(key_);
  }
  ~KeyLock() {
    {
      std::lock_guard<std::mutex> lock(store_.keys_mu_);
      store_.busy_.erase(key_);
    }
    store_.keys_cv_.notify_all();
  }
  KeyLock(const KeyLock&) = delete;
  KeyLock& operator=(const KeyLock&) = delete;

 private:
  FsFragmentStore& store_;
  Key key_;
};

// Space promised to writes in flight, so that concurrent Stores cannot all pass
// the free-space check against the same free bytes.
class FsFragmentStore::SpaceReservation {
 public:
  static Result<std::unique_ptr<SpaceReservation>> Take(FsFragmentStore& store, uint64_t bytes) {
    std::lock_guard<std::mutex> lock(store.space_mu_);
    uint64_t free_bytes = TRY(FreeBytes(store.root_));
    uint64_t available =
        free_bytes > store.reserved_bytes_ ? free_bytes - store.reserved_bytes_ : 0;
    uint64_t min_free = store.options_.min_free_bytes;
    if (available < bytes || available - bytes < min_free) {
      return MakeError(ErrorCode::kResourceExhausted,
                       "not enough disk space in " + store.root_.string() + ": storing " +
                           std::to_string(bytes) + " bytes would leave " +
                           std::to_string(available > bytes ? available - bytes : 0) +
                           " bytes free (" + std::to_string(free_bytes) +
                           " free now); the configured minimum is " + std::to_string(min_free) +
                           " bytes");
    }
    store.reserved_bytes_ += bytes;
    return std::unique_ptr<SpaceReservation>(new SpaceReservation(store, bytes));
  }
  ~SpaceReservation() {
    std::lock_guard<std::mutex> lock(store_.space_mu_);
    store_.reserved_bytes_ -= bytes_;
  }

 private:
  SpaceReservation(FsFragmentStore& store, uint64_t bytes) : store_(store), bytes_(bytes) {}
  FsFragmentStore& store_;
  uint64_t bytes_;
};

// A buffer of at least `size` bytes borrowed from the store's pool.
class FsFragmentStore::PooledBuffer {
 public:
  static constexpr std::size_t kMaxPooled = 8;
  PooledBuffer(FsFragmentStore& store, std::size_t size) : store_(store) {
    {
      std::lock_guard<std::mutex> lock(store_.pool_mu_);
      if (!store_.pool_.empty()) {
        buf_ = std::move(store_.pool_.back());
        store_.pool_.pop_back();
      }
    }
    if (buf_.size() < size) buf_.resize(size);
  }
  ~PooledBuffer() {
    std::lock_guard<std::mutex> lock(store_.pool_mu_);
    if (store_.pool_.size() < kMaxPooled) store_.pool_.push_back(std::move(buf_));
  }
  PooledBuffer(const PooledBuffer&) = delete;
  PooledBuffer& operator=(const PooledBuffer&) = delete;
  uint8_t* data() { return buf_.data(); }

 private:
  FsFragmentStore& store_;
  std::vector<uint8_t> buf_;
};

std::string RecoveryReport::ToString() const {
  std::string out;
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
  return out;
}

FsFragmentStore::FsFragmentStore(std::shared_ptr<Database> db, std::filesystem::path root,
                                 FsFragmentStoreOptions options)
    : db_(std::move(db)), root_(std::move(root)), options_(std::move(options)) {
  if (!options_.clock) options_.clock = std::make_shared<core::SystemClock>();
  if (options_.io_chunk_bytes == 0) options_.io_chunk_bytes = 1024 * 1024;
}

Result<std::unique_ptr<FsFragmentStore>> FsFragmentStore::Open(
    std::shared_ptr<Database> db, const std::filesystem::path& data_dir,
    FsFragmentStoreOptions options) {
  if (!db) return MakeError(ErrorCode::kInvalidArgument, "fragment store needs a database");
  std::unique_ptr<FsFragmentStore> store(
      new FsFragmentStore(std::move(db), data_dir / "fragments", std::move(options)));
  TRY(EnsureDir(store->root_));
  std::filesystem::path lock_path = store->root_ / kLockFile;
  int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoError("open", lock_path, errno);
  store->lock_fd_ = UniqueFd(fd);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      return MakeError(ErrorCode::kUnavailable,
                       "fragment store " + store->root_.string() + " is in use by another process");
    }
    return ErrnoError("flock", lock_path, errno);
  }
  TRY(store->Recover());
  return store;
}

std::filesystem::path FsFragmentStore::ShardPath(const ContentHash& tessera, uint32_t index) const {
  return root_ / tessera.ToHex() / (Index3(index) + ".shard");
}

Result<void> FsFragmentStore::Recover() {
  report_ = RecoveryReport{};
  // 1. Walk the tree: remove temp files, collect shard files.
  std::map<Key, uint64_t> files;  // -> size
  std::vector<std::filesystem::path> dirs_touched;
  ASSIGN_OR_RETURN(auto top, ListDir(root_));
  for (const auto& [name, is_dir] : top) {
    if (name == kQuarantineDir || name == kLockFile) continue;
    std::filesystem::path dir = root_ / name;
    auto tessera = ContentHash::FromHex(name);
    if (!is_dir || !tessera.ok() || name != tessera->ToHex()) {
      report_.unexpected_entries.push_back(dir);
      continue;
    }
    ASSIGN_OR_RETURN(auto entries, ListDir(dir));
    bool touched = false;
    std::size_t kept = 0;
    for (const auto& [fname, fis_dir] : entries) {
      std::filesystem::path p = dir / fname;
      if (!fis_dir && fname.starts_with(".") && EndsWith(fname, ".tmp")) {
        if (::unlink(p.c_str()) != 0 && errno != ENOENT) return ErrnoError("unlink", p, errno);
        report_.removed_temp_files.push_back(p);
        touched = true;
        continue;
      }
      auto index = ParseShardName(fname);
      struct stat st;
      if (fis_dir || !index || ::lstat(p.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
        report_.unexpected_entries.push_back(p);
        ++kept;
        continue;
      }
      files[{*tessera, *index}] = static_cast<uint64_t>(st.st_size);
      ++kept;
    }
    if (touched) dirs_touched.push_back(dir);
    if (kept == 0) {
      // Empty: left by Delete or by a write that never finished.
      if (::rmdir(dir.c_str()) == 0) dirs_touched.push_back(root_);
    }
  }

  // 2. Compare with the index.
  std::vector<std::pair<Key, std::string>> bad_rows;
  {
    auto lock = db_->Lock();
    ASSIGN_OR_RETURN(Statement s, db_->Prepare("SELECT tessera, idx, size FROM fragments"));
    while (TRY(s.Step())) {
      ASSIGN_OR_RETURN(ContentHash tessera, s.ColumnId<core::ContentHashTag>(0));
      Key key{tessera, static_cast<uint32_t>(s.ColumnInt64(1))};
      uint64_t size = static_cast<uint64_t>(s.ColumnInt64(2));
      auto it = files.find(key);
      if (it == files.end()) {
        bad_rows.emplace_back(key, "its file is missing");
        continue;
      }
      if (it->second != size) {
        bad_rows.emplace_back(key, "its file has " + std::to_string(it->second) +
                                       " bytes, the index says " + std::to_string(size));
      }
      files.erase(it);  // matched (or handled as a bad row below)
    }
  }
  for (auto& [key, reason] : bad_rows) {
    std::filesystem::path p = ShardPath(key.first, key.second);
    if (::access(p.c_str(), F_OK) == 0) {
      ASSIGN_OR_RETURN(auto q, Quarantine(p, key.first, key.second));
      report_.quarantined_files.push_back(q);
    }
    TRY(DropRow(key.first, key.second));
    report_.dropped_rows.push_back({key.first, key.second, std::move(reason)});
  }
  // 3. Files nobody indexed: the process died between rename and the index
  // commit, so the fragment was never acknowledged. Remove them.
  for (const auto& [key, size] : files) {
    std::filesystem::path p = ShardPath(key.first, key.second);
    if (::unlink(p.c_str()) != 0 && errno != ENOENT) return ErrnoError("unlink", p, errno);
    report_.removed_orphan_files.push_back(p);
    dirs_touched.push_back(p.parent_path());
  }
  for (const auto& d : dirs_touched) {
    if (::access(d.c_str(), F_OK) == 0) TRY(FsyncDir(d));
  }
  return core::Ok();
}

Result<std::optional<StoredFragment>> FsFragmentStore::FindRow(const ContentHash& tessera,
                                                               uint32_t index) {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(CachedStatement s,
                   db_->Cached("SELECT shard_count, checksum, size, stored_at_ms, "
                               "last_verified_ms, origin FROM fragments WHERE tessera = ? AND "
                               "idx = ?"));
  s->Bind(1, tessera).Bind(2, int64_t{index});
  if (!TRY(s->Step())) return std::optional<StoredFragment>();
  return std::optional<StoredFragment>(RowToFragment(*s, tessera, index));
}

Result<void> FsFragmentStore::DropRow(const ContentHash& tessera, uint32_t index) {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(CachedStatement s,
                   db_->Cached("DELETE FROM fragments WHERE tessera = ? AND idx = ?"));
  s->Bind(1, tessera).Bind(2, int64_t{index});
  return s->Run();
}

Result<std::filesystem::path> FsFragmentStore::Quarantine(const std::filesystem::path& file,
                                                          const ContentHash& tessera,
                                                          uint32_t index) {
  std::filesystem::path qdir = root_ / kQuarantineDir;
  TRY(EnsureDir(qdir));
  std::filesystem::path dest = qdir / (tessera.ToHex() + "." + Index3(index) + "." +
                                       std::to_string(Now()) + "." + RandomHex(4) + ".shard");
  if (::rename(file.c_str(), dest.c_str()) != 0) return ErrnoError("quarantine", file, errno);
  TRY(FsyncDir(qdir));
  TRY(FsyncDir(file.parent_path()));
  return dest;
}

Result<void> FsFragmentStore::Store(const FragmentId& id, uint64_t size, core::ByteSource& bytes,
                                    const core::NodeId& origin, bool replace) {
  if (id.shard_count < 1 || id.shard_count > 255 || id.index >= id.shard_count) {
    return MakeError(ErrorCode::kInvalidArgument, "invalid fragment index " +
                                                      std::to_string(id.index) + " of " +
                                                      std::to_string(id.shard_count) + " shards");
  }
  if (size > kMaxFragmentBytes) {
    return MakeError(ErrorCode::kInvalidArgument, "fragment of " + std::to_string(size) +
                                                      " bytes exceeds the limit of " +
                                                      std::to_string(kMaxFragmentBytes) + " bytes");
  }
  KeyLock key_lock(*this, {id.tessera, id.index});

  ASSIGN_OR_RETURN(std::optional<StoredFragment> existing, FindRow(id.tessera, id.index));
  if (existing && existing->id == id && existing->size == size) {
    // Already stored, if its file still holds these bytes; otherwise the row
    // has just been dropped and the fragment is written again.
    auto held = CheckHeldLocked(*existing, /*trust_verified_ms=*/0);
    if (held.ok()) return core::Ok();
    if (held.error().code != ErrorCode::kNotFound && held.error().code != ErrorCode::kCorrupt) {
      return held;
    }
    existing.reset();
  }
  if (existing) {
    if (!replace) {
      return MakeError(ErrorCode::kAlreadyExists,
                       Describe(id.tessera, id.index) + " is already stored with checksum " +
                           existing->id.checksum.ToHex() + "; refusing to overwrite it");
    }
  }

  ASSIGN_OR_RETURN(auto reservation, SpaceReservation::Take(*this, size));
  std::filesystem::path dir = root_ / id.tessera.ToHex();
  TRY(EnsureDir(dir));
  ASSIGN_OR_RETURN(TempFile tmp, TempFile::Create(dir, "." + Index3(id.index) + ".shard."));

  const std::size_t chunk_bytes = static_cast<std::size_t>(
      std::min<uint64_t>(options_.io_chunk_bytes, std::max<uint64_t>(size, 1)));
  PooledBuffer buf(*this, chunk_bytes);
  crypto::Blake3Hasher hasher;
  uint64_t written = 0;
  while (written < size) {
    std::size_t want = static_cast<std::size_t>(std::min<uint64_t>(chunk_bytes, size - written));
    std::size_t n = TRY(bytes.Read(std::span(buf.data(), want)));
    if (n == 0) {
      return MakeError(ErrorCode::kCorrupt, Describe(id.tessera, id.index) +
                                                ": stream ended after " + std::to_string(written) +
                                                " of " + std::to_string(size) + " bytes");
    }
    std::span<const uint8_t> chunk(buf.data(), n);
    hasher.Update(chunk);
    TRY(WriteAll(tmp.fd(), chunk, tmp.path()));
    written += n;
  }
  uint8_t probe[1];
  if (TRY(bytes.Read(probe)) != 0) {
    return MakeError(ErrorCode::kCorrupt, Describe(id.tessera, id.index) +
                                              ": stream is longer than the declared " +
                                              std::to_string(size) + " bytes");
  }
  ContentHash got = hasher.Finalize();
  if (got != id.checksum) {
    return MakeError(ErrorCode::kCorrupt, Describe(id.tessera, id.index) + ": bytes hash to " +
                                              got.ToHex() + ", expected " + id.checksum.ToHex());
  }
  TRY(tmp.Sync());
  // Replacing: the old row goes first, so that a crash in between leaves a file
  // without a row (removed by recovery), never a row naming the wrong bytes.
  if (existing) TRY(DropRow(id.tessera, id.index));
  std::filesystem::path final_path = ShardPath(id.tessera, id.index);
  TRY(tmp.RenameInto(final_path, /*sync_dir=*/false));

  // Two fsyncs remain: the directory (makes the rename durable) and the WAL
  // (makes the index row durable). They are independent, so they run in
  // parallel. Their order does not matter for what we promise: nothing is
  // acknowledged before both finished, and a power cut in between leaves either
  // a file without a row or a row without a file, both repaired on open. A
  // process crash never loses the page cache, and in program order the rename
  // precedes the row, so a row always names a complete file.
  Result<void> dir_synced = core::Ok();
  std::thread dir_sync;
  try {
    dir_sync = std::thread([&] { dir_synced = FsyncDir(final_path.parent_path()); });
  } catch (const std::system_error&) {  // no thread available: do it here
    dir_synced = FsyncDir(final_path.parent_path());
  }
  auto indexed = [&]() -> Result<void> {
    auto lock = db_->Lock();
    // FULL for this commit: the caller acknowledges the fragment to its sender
    // when Store returns, so the row must survive a power cut too.
    ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(*db_, Durability::kSynced));
    ASSIGN_OR_RETURN(CachedStatement s,
                     db_->Cached("INSERT INTO fragments (tessera, idx, shard_count, checksum, "
                                 "size, stored_at_ms, last_verified_ms, origin) "
                                 "VALUES (?, ?, ?, ?, ?, ?, NULL, ?)"));
    s->Bind(1, id.tessera)
        .Bind(2, int64_t{id.index})
        .Bind(3, int64_t{id.shard_count})
        .Bind(4, id.checksum)
        .Bind(5, static_cast<int64_t>(size))
        .Bind(6, Now())
        .Bind(7, origin);
    TRY(s->Run());
    return tx.Commit();
  }();
  if (dir_sync.joinable()) dir_sync.join();
  if (!indexed.ok()) {
    ::unlink(final_path.c_str());  // never leave a file the index does not name
    return indexed;
  }
  if (!dir_synced.ok()) {
    // Not durable: take it back rather than acknowledge it.
    (void)DropRow(id.tessera, id.index);
    ::unlink(final_path.c_str());
    return dir_synced;
  }
  return core::Ok();
}

Result<std::unique_ptr<core::RandomAccessSource>> FsFragmentStore::Open(const ContentHash& tessera,
                                                                        uint32_t index) {
  ASSIGN_OR_RETURN(std::optional<StoredFragment> row, FindRow(tessera, index));
  if (!row) return MakeError(ErrorCode::kNotFound, Describe(tessera, index) + " is not stored");
  std::filesystem::path p = ShardPath(tessera, index);
  auto fd = OpenForRead(p);
  if (!fd.ok()) {
    if (fd.error().code == ErrorCode::kNotFound) {
      return MakeError(ErrorCode::kNotFound,
                       Describe(tessera, index) + " is indexed but its file is missing");
    }
    return std::move(fd).error();
  }
  struct stat st;
  if (::fstat(fd->get(), &st) != 0) return ErrnoError("fstat", p, errno);
  if (!S_ISREG(st.st_mode) || static_cast<uint64_t>(st.st_size) != row->size) {
    return MakeError(ErrorCode::kCorrupt, Describe(tessera, index) + ": file has " +
                                              std::to_string(st.st_size) + " bytes, expected " +
                                              std::to_string(row->size));
  }
  return std::unique_ptr<core::RandomAccessSource>(
      new FileSource(std::move(fd).value(), row->size, p));
}

Result<StoredFragment> FsFragmentStore::Get(const ContentHash& tessera, uint32_t index) {
  ASSIGN_OR_RETURN(std::optional<StoredFragment> row, FindRow(tessera, index));
  if (!row) return MakeError(ErrorCode::kNotFound, Describe(tessera, index) + " is not stored");
  return std::move(*row);
}

Result<void> FsFragmentStore::Delete(const ContentHash& tessera, uint32_t index) {
  KeyLock key_lock(*this, {tessera, index});
  {
    auto lock = db_->Lock();
    ASSIGN_OR_RETURN(CachedStatement s,
                     db_->Cached("DELETE FROM fragments WHERE tessera = ? AND idx = ?"));
    s->Bind(1, tessera).Bind(2, int64_t{index});
    TRY(s->Run());
    if (db_->Changes() == 0) {
      return MakeError(ErrorCode::kNotFound, Describe(tessera, index) + " is not stored");
    }
  }
  // The row is gone first: a crash now leaves a file without a row, which
  // recovery removes. The empty directory is removed by recovery as well.
  std::filesystem::path p = ShardPath(tessera, index);
  if (::unlink(p.c_str()) != 0 && errno != ENOENT) return ErrnoError("unlink", p, errno);
  return FsyncDir(p.parent_path());
}

Result<std::vector<StoredFragment>> FsFragmentStore::List(std::optional<ContentHash> tessera) {
  auto lock = db_->Lock();
  std::string sql =
      "SELECT shard_count, checksum, size, stored_at_ms, last_verified_ms, origin, tessera, idx "
      "FROM fragments";
  if (tessera) sql += " WHERE tessera = ?";
  sql += " ORDER BY tessera, idx";
  ASSIGN_OR_RETURN(CachedStatement s, db_->Cached(sql));
  if (tessera) s->Bind(1, *tessera);
  std::vector<StoredFragment> out;
  while (TRY(s->Step())) {
    ASSIGN_OR_RETURN(ContentHash t, s->ColumnId<core::ContentHashTag>(6));
    out.push_back(RowToFragment(*s, t, static_cast<uint32_t>(s->ColumnInt64(7))));
  }
  return out;
}

Result<void> FsFragmentStore::Verify(const ContentHash& tessera, uint32_t index) {
  return CheckHeld(tessera, index, /*trust_verified_ms=*/0);
}

Result<void> FsFragmentStore::CheckHeld(const ContentHash& tessera, uint32_t index,
                                        int64_t trust_verified_ms) {
  KeyLock key_lock(*this, {tessera, index});
  ASSIGN_OR_RETURN(std::optional<StoredFragment> row, FindRow(tessera, index));
  if (!row) return MakeError(ErrorCode::kNotFound, Describe(tessera, index) + " is not stored");
  return CheckHeldLocked(*row, trust_verified_ms);
}

core::Error FsFragmentStore::ForgetMissing(const StoredFragment& row, const core::Error& why) {
  const ContentHash& tessera = row.id.tessera;
  const uint32_t index = row.id.index;
  std::string moved;
  std::filesystem::path p = ShardPath(tessera, index);
  if (::access(p.c_str(), F_OK) == 0) {
    auto q = Quarantine(p, tessera, index);
    if (!q.ok()) return q.error();
    moved = "; the file was moved to " + q->string();
  }
  auto dropped = DropRow(tessera, index);
  if (!dropped.ok()) return dropped.error();
  return MakeError(why.code, why.message + moved + "; its index row was dropped");
}

Result<void> FsFragmentStore::CheckHeldLocked(const StoredFragment& row,
                                              int64_t trust_verified_ms) {
  const ContentHash& tessera = row.id.tessera;
  const uint32_t index = row.id.index;
  auto opened = Open(tessera, index);  // checks that the file is there with the indexed size
  if (!opened.ok()) {
    const auto code = opened.error().code;
    if (code == ErrorCode::kNotFound || code == ErrorCode::kCorrupt) {
      return ForgetMissing(row, opened.error());
    }
    return std::move(opened).error();  // an I/O error says nothing about the fragment
  }
  std::unique_ptr<core::RandomAccessSource> src = std::move(opened).value();
  if (trust_verified_ms > 0 && row.last_verified_ms &&
      Now() - *row.last_verified_ms < trust_verified_ms) {
    return core::Ok();
  }
  crypto::Blake3Hasher hasher;
  const std::size_t chunk_bytes = static_cast<std::size_t>(
      std::min<uint64_t>(options_.io_chunk_bytes, std::max<uint64_t>(row.size, 1)));
  PooledBuffer buf(*this, chunk_bytes);
  for (uint64_t off = 0; off < row.size;) {
    std::size_t n = static_cast<std::size_t>(std::min<uint64_t>(chunk_bytes, row.size - off));
    TRY(src->ReadAt(off, std::span(buf.data(), n)));
    hasher.Update(std::span<const uint8_t>(buf.data(), n));
    off += n;
  }
  src.reset();
  ContentHash got = hasher.Finalize();
  if (got != row.id.checksum) {
    std::filesystem::path p = ShardPath(tessera, index);
    TRY(DropRow(tessera, index));
    ASSIGN_OR_RETURN(std::filesystem::path q, Quarantine(p, tessera, index));
    return MakeError(ErrorCode::kCorrupt,
                     Describe(tessera, index) + " is corrupt: its bytes hash to " + got.ToHex() +
                         ", expected " + row.id.checksum.ToHex() + "; moved to " + q.string());
  }
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(CachedStatement s,
                   db_->Cached("UPDATE fragments SET last_verified_ms = ? WHERE tessera = ? AND "
                               "idx = ?"));
  s->Bind(1, Now()).Bind(2, tessera).Bind(3, int64_t{index});
  return s->Run();
}

Result<uint64_t> FsFragmentStore::TotalBytes() {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(CachedStatement s, db_->Cached("SELECT COALESCE(SUM(size), 0) FROM fragments"));
  if (!TRY(s->Step())) return uint64_t{0};
  return static_cast<uint64_t>(s->ColumnInt64(0));
}

}  // namespace tesseras::storage
