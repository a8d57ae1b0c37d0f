#include "storage/fragment_store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <functional>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <system_error>
#include <thread>
#include <utility>

#include "crypto/blake3_hasher.h"
#include "crypto/proof_tree.h"
#include "storage/fragment_store_internal.h"

namespace tesseras::storage {

using core::ContentHash;
using core::ErrorCode;
using core::FragmentId;
using core::MakeError;
using core::Result;
using core::StoredFragment;
using fragment_store_internal::Describe;
using fragment_store_internal::Index3;
using fragment_store_internal::kIncomingDir;
using fragment_store_internal::kLockFile;
using fragment_store_internal::kQuarantineDir;

namespace fragment_store_internal {

std::string Index3(uint32_t index) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%03u", index);
  return buf;
}

std::string Describe(const ContentHash& tessera, uint32_t index) {
  return "fragment " + std::to_string(index) + " of tessera " + tessera.ToHex();
}

namespace {

std::optional<uint32_t> ParseIndex3(std::string_view digits) {
  if (digits.size() != 3) return std::nullopt;
  uint32_t v = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<uint32_t>(c - '0');
  }
  if (v >= 255) return std::nullopt;
  return v;
}

}  // namespace

std::optional<uint32_t> ParseFragmentFileName(std::string_view name, bool* tree) {
  if (name.size() == 9 && name.substr(3) == ".shard") {
    *tree = false;
    return ParseIndex3(name.substr(0, 3));
  }
  if (name.size() == 8 && name.substr(3) == ".tree") {
    *tree = true;
    return ParseIndex3(name.substr(0, 3));
  }
  return std::nullopt;
}

std::optional<IncomingName> ParseIncomingName(std::string_view name) {
  // 64 hex digits, '.', 3 digits, '.', 64 hex digits, '.', random, ".tmp"
  constexpr std::size_t kHex = 2 * core::kIdBytes;
  constexpr std::size_t kFixed = kHex + 1 + 3 + 1 + kHex + 1;
  if (name.size() <= kFixed + 4 || !name.ends_with(".tmp")) return std::nullopt;
  if (name[kHex] != '.' || name[kHex + 4] != '.' || name[kFixed - 1] != '.') return std::nullopt;
  auto tessera = ContentHash::FromHex(name.substr(0, kHex));
  auto index = ParseIndex3(name.substr(kHex + 1, 3));
  auto checksum = ContentHash::FromHex(name.substr(kHex + 5, kHex));
  if (!tessera.ok() || !index || !checksum.ok()) return std::nullopt;
  return IncomingName{*tessera, *index, *checksum, name.substr(kFixed).starts_with("tree.")};
}

}  // namespace fragment_store_internal

namespace {

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

constexpr std::string_view kSelectRow =
    "SELECT shard_count, checksum, size, stored_at_ms, last_verified_ms, origin, tessera, idx "
    "FROM fragments";

// Runs a thread beside the caller, or the work inline when no thread can be
// started; joined when this goes away.
class Beside {
 public:
  explicit Beside(std::function<void()> work) {
    try {
      thread_ = std::thread(work);
    } catch (const std::system_error&) {
      work();
    }
  }
  ~Beside() { Join(); }
  void Join() {
    if (thread_.joinable()) thread_.join();
  }
  Beside(const Beside&) = delete;
  Beside& operator=(const Beside&) = delete;

 private:
  std::thread thread_;
};

}  // namespace

FsFragmentStore::KeyLock::KeyLock(FsFragmentStore& store, Key key)
    : store_(store), key_(std::move(key)) {
  std::unique_lock<std::mutex> lock(store_.keys_mu_);
  store_.keys_cv_.wait(lock, [&] { return !store_.busy_.contains(key_); });
  store_.busy_.insert(key_);
}

FsFragmentStore::KeyLock::~KeyLock() {
  {
    std::lock_guard<std::mutex> lock(store_.keys_mu_);
    store_.busy_.erase(key_);
  }
  store_.keys_cv_.notify_all();
}

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

FsFragmentStore::FsFragmentStore(std::shared_ptr<Database> db, std::filesystem::path root,
                                 FsFragmentStoreOptions options)
    : db_(std::move(db)),
      root_(std::move(root)),
      incoming_(root_ / kIncomingDir),
      options_(std::move(options)) {
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
  TRY(EnsureDir(store->incoming_));
  TRY(store->MoveFlatLayout());
  TRY(store->Recover());
  return store;
}

std::filesystem::path FsFragmentStore::TesseraDir(const ContentHash& tessera) const {
  const std::string hex = tessera.ToHex();
  return root_ / hex.substr(0, 2) / hex;
}

std::filesystem::path FsFragmentStore::ShardPath(const ContentHash& tessera, uint32_t index) const {
  return TesseraDir(tessera) / (Index3(index) + ".shard");
}

std::filesystem::path FsFragmentStore::TreePath(const ContentHash& tessera, uint32_t index) const {
  return TesseraDir(tessera) / (Index3(index) + ".tree");
}

std::string FsFragmentStore::IncomingPrefix(const FragmentId& id) const {
  return id.tessera.ToHex() + "." + Index3(id.index) + "." + id.checksum.ToHex() + ".";
}

Result<std::optional<StoredFragment>> FsFragmentStore::FindRow(const ContentHash& tessera,
                                                               uint32_t index) {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(CachedStatement s,
                   db_->Cached(std::string(kSelectRow) + " WHERE tessera = ? AND idx = ?"));
  s->Bind(1, tessera).Bind(2, int64_t{index});
  if (!TRY(s->Step())) return std::optional<StoredFragment>();
  return std::optional<StoredFragment>(RowToFragment(*s, tessera, index));
}

Result<void> FsFragmentStore::DropRow(const ContentHash& tessera, uint32_t index) {
  {
    auto lock = db_->Lock();
    ASSIGN_OR_RETURN(CachedStatement s,
                     db_->Cached("DELETE FROM fragments WHERE tessera = ? AND idx = ?"));
    s->Bind(1, tessera).Bind(2, int64_t{index});
    TRY(s->Run());
  }
  // Its tree goes with it (a tree is only ever read beside its row).
  const std::filesystem::path tree = TreePath(tessera, index);
  if (::unlink(tree.c_str()) != 0 && errno != ENOENT) return ErrnoError("unlink", tree, errno);
  return core::Ok();
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
  if (existing && !replace) {
    return MakeError(ErrorCode::kAlreadyExists,
                     Describe(id.tessera, id.index) + " is already stored with checksum " +
                         existing->id.checksum.ToHex() + "; refusing to overwrite it");
  }

  const uint64_t tree_bytes = crypto::StoredProofTreeBytes(size);
  ASSIGN_OR_RETURN(auto reservation, SpaceReservation::Take(*this, size + tree_bytes));
  ASSIGN_OR_RETURN(TempFile tmp, TempFile::Create(incoming_, IncomingPrefix(id)));
  // The temp file's name must be on disk before the row that makes it the
  // fragment commits (after a power cut recovery finds it there): .incoming is
  // fsynced while the bytes stream.
  Result<void> incoming_synced = core::Ok();
  Beside incoming_sync([&] { incoming_synced = FsyncDir(incoming_); });

  const std::size_t chunk_bytes = static_cast<std::size_t>(
      std::min<uint64_t>(options_.io_chunk_bytes, std::max<uint64_t>(size, 1)));
  PooledBuffer buf(*this, chunk_bytes);
  crypto::Blake3Hasher hasher;
  crypto::ProofTreeBuilder tree;
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
    tree.Update(chunk);
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
  // The proof tree goes beside the bytes, in a file of its own (a fragment of
  // one leaf has none). It is a cache that every reader checks against the
  // plan's proof root, so it is not fsynced: lost or torn by a power cut, it
  // only makes audits of that fragment read it whole.
  std::optional<TempFile> tree_tmp;
  if (tree_bytes > 0) {
    ASSIGN_OR_RETURN(TempFile t, TempFile::Create(incoming_, IncomingPrefix(id) + "tree."));
    TRY(WriteAll(t.fd(), crypto::StoredProofTree(tree.FinishLeaves(), nullptr), t.path()));
    tree_tmp.emplace(std::move(t));
  }
  incoming_sync.Join();
  TRY(incoming_synced);
  CrashPoint("store-synced");

  // From here the directory must stay until the file is in it (Reconcile
  // removes empty ones).
  std::shared_lock<std::shared_mutex> dirs(dirs_mu_);
  const std::filesystem::path final_path = ShardPath(id.tessera, id.index);
  TRY(EnsureDir(final_path.parent_path()));
  auto lock = db_->Lock();
  {
    // FULL for this commit: the caller acknowledges the fragment to its sender
    // when Store returns, so the row must survive a power cut too. Once it is
    // committed the fragment is stored: were the process to die before the
    // rename below, recovery finds the temp file in .incoming under the
    // committed checksum and renames it.
    ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(*db_, Durability::kSynced));
    if (existing) {
      ASSIGN_OR_RETURN(CachedStatement del,
                       db_->Cached("DELETE FROM fragments WHERE tessera = ? AND idx = ?"));
      del->Bind(1, id.tessera).Bind(2, int64_t{id.index});
      TRY(del->Run());
    }
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
    TRY(tx.Commit());
  }
  CrashPoint("store-committed");
  // Still under the database lock, so that whoever finds the row finds the
  // file. The renames need no fsync of their own: until they reach the disk
  // the temp files are still in .incoming, where recovery finds them. The
  // tree first: a reader that finds the new bytes finds their tree.
  const std::filesystem::path tree_path = TreePath(id.tessera, id.index);
  if (tree_tmp) {
    if (!tree_tmp->RenameInto(tree_path, /*sync_dir=*/false).ok())
      (void)::unlink(tree_path.c_str());
  } else {
    (void)::unlink(tree_path.c_str());  // the tree of bytes this one replaces
  }
  auto renamed = tmp.RenameInto(final_path, /*sync_dir=*/false);
  if (!renamed.ok()) {
    // Not in place: take the row back rather than acknowledge it.
    ASSIGN_OR_RETURN(CachedStatement del,
                     db_->Cached("DELETE FROM fragments WHERE tessera = ? AND idx = ?"));
    del->Bind(1, id.tessera).Bind(2, int64_t{id.index});
    (void)del->Run();
    return renamed;
  }
  return core::Ok();
}

Result<UniqueFd> FsFragmentStore::OpenFile(const StoredFragment& row) {
  const ContentHash& tessera = row.id.tessera;
  const uint32_t index = row.id.index;
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
  if (!S_ISREG(st.st_mode) || static_cast<uint64_t>(st.st_size) != row.size) {
    return MakeError(ErrorCode::kCorrupt, Describe(tessera, index) + ": file has " +
                                              std::to_string(st.st_size) + " bytes, expected " +
                                              std::to_string(row.size));
  }
  return fd;
}

Result<std::unique_ptr<core::RandomAccessSource>> FsFragmentStore::Open(const ContentHash& tessera,
                                                                        uint32_t index) {
  ASSIGN_OR_RETURN(std::optional<StoredFragment> row, FindRow(tessera, index));
  if (!row) return MakeError(ErrorCode::kNotFound, Describe(tessera, index) + " is not stored");
  ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(*row));
  return std::unique_ptr<core::RandomAccessSource>(
      new FileSource(std::move(fd), row->size, ShardPath(tessera, index)));
}

Result<std::vector<std::vector<ContentHash>>> FsFragmentStore::ReadProofPaths(
    const ContentHash& tessera, uint32_t index, std::span<const uint64_t> leaves) {
  ASSIGN_OR_RETURN(std::optional<StoredFragment> row, FindRow(tessera, index));
  if (!row) return MakeError(ErrorCode::kNotFound, Describe(tessera, index) + " is not stored");
  const uint64_t tree_bytes = crypto::StoredProofTreeBytes(row->size);
  const std::filesystem::path p = TreePath(tessera, index);
  UniqueFd fd;
  if (tree_bytes > 0) {  // one leaf: every path is empty, and there is no file
    auto opened = OpenForRead(p);
    struct stat st;
    if (opened.ok() && (::fstat(opened->get(), &st) != 0 || !S_ISREG(st.st_mode) ||
                        static_cast<uint64_t>(st.st_size) != tree_bytes)) {
      opened = MakeError(ErrorCode::kCorrupt, "wrong size");
    }
    if (!opened.ok()) {
      return MakeError(ErrorCode::kNotFound, "no proof tree is kept for " +
                                                 Describe(tessera, index) + " (" +
                                                 opened.error().message + ")");
    }
    fd = std::move(opened).value();
  }
  const uint64_t leaf_count = crypto::ProofLeafCount(row->size);
  std::vector<std::vector<ContentHash>> out;
  out.reserve(leaves.size());
  for (uint64_t leaf : leaves) {
    if (leaf >= leaf_count) {
      return MakeError(ErrorCode::kInvalidArgument, "leaf " + std::to_string(leaf) + " of " +
                                                        Describe(tessera, index) + ", which has " +
                                                        std::to_string(leaf_count));
    }
    std::vector<ContentHash>& path = out.emplace_back();
    for (uint64_t off : crypto::StoredProofPathOffsets(leaf_count, leaf)) {
      ContentHash h;
      TRY(PreadAll(fd.get(), off, h.bytes, p));
      path.push_back(h);
    }
  }
  return out;
}

Result<StoredFragment> FsFragmentStore::Get(const ContentHash& tessera, uint32_t index) {
  ASSIGN_OR_RETURN(std::optional<StoredFragment> row, FindRow(tessera, index));
  if (!row) return MakeError(ErrorCode::kNotFound, Describe(tessera, index) + " is not stored");
  return std::move(*row);
}

Result<void> FsFragmentStore::Delete(const ContentHash& tessera, uint32_t index) {
  KeyLock key_lock(*this, {tessera, index});
  ASSIGN_OR_RETURN(std::optional<StoredFragment> row, FindRow(tessera, index));
  if (!row) return MakeError(ErrorCode::kNotFound, Describe(tessera, index) + " is not stored");
  // The file leaves its directory first, for .incoming, under the name of the
  // bytes it holds. Were the process to die before the row is dropped,
  // recovery puts it back (the delete did not happen); after, recovery
  // removes it (it did).
  const std::filesystem::path p = ShardPath(tessera, index);
  const std::filesystem::path tree = TreePath(tessera, index);
  const std::string prefix = IncomingPrefix(row->id);
  const std::filesystem::path out = incoming_ / (prefix + RandomHex(8) + ".tmp");
  const std::filesystem::path tree_out = incoming_ / (prefix + "tree." + RandomHex(8) + ".tmp");
  bool moved = true, tree_moved = true;
  if (::rename(p.c_str(), out.c_str()) != 0) {
    if (errno != ENOENT) return ErrnoError("rename", p, errno);
    moved = false;  // already gone behind our back: only the row is left
  }
  if (::rename(tree.c_str(), tree_out.c_str()) != 0) tree_moved = false;
  if (moved) CrashPoint("delete-moved");
  auto dropped = DropRow(tessera, index);
  if (!dropped.ok()) {
    if (moved) (void)::rename(out.c_str(), p.c_str());
    if (tree_moved) (void)::rename(tree_out.c_str(), tree.c_str());
    return dropped;
  }
  if (moved) CrashPoint("delete-dropped");
  if (tree_moved) (void)::unlink(tree_out.c_str());
  if (moved && ::unlink(out.c_str()) != 0 && errno != ENOENT) {
    return ErrnoError("unlink", out, errno);
  }
  return core::Ok();
}

Result<std::vector<StoredFragment>> FsFragmentStore::List(std::optional<ContentHash> tessera) {
  auto lock = db_->Lock();
  std::string sql(kSelectRow);
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

Result<std::vector<StoredFragment>> FsFragmentStore::ListAfter(
    std::optional<core::FragmentKey> after, std::size_t limit) {
  auto lock = db_->Lock();
  // Both forms search the primary key from a lower bound (the first page from
  // the lowest key there can be).
  ASSIGN_OR_RETURN(CachedStatement s, db_->Cached(std::string(kSelectRow) +
                                                  (after ? " WHERE (tessera, idx) > (?, ?)"
                                                         : " WHERE (tessera, idx) >= (?, ?)") +
                                                  " ORDER BY tessera, idx LIMIT ?"));
  s->Bind(1, after ? after->tessera : ContentHash{})
      .Bind(2, int64_t{after ? after->index : 0})
      .Bind(3, static_cast<int64_t>(std::min<std::size_t>(limit, INT64_MAX)));
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

Result<void> FsFragmentStore::CheckHeldLocked(const StoredFragment& row, int64_t trust_verified_ms,
                                              bool record) {
  const ContentHash& tessera = row.id.tessera;
  const uint32_t index = row.id.index;
  auto opened = OpenFile(row);  // the file is there with the indexed size
  if (!opened.ok()) {
    const auto code = opened.error().code;
    if (code == ErrorCode::kNotFound || code == ErrorCode::kCorrupt) {
      return ForgetMissing(row, opened.error());
    }
    return std::move(opened).error();  // an I/O error says nothing about the fragment
  }
  if (trust_verified_ms > 0 && row.last_verified_ms &&
      Now() - *row.last_verified_ms < trust_verified_ms) {
    return core::Ok();
  }
  FileSource src(std::move(opened).value(), row.size, ShardPath(tessera, index));
  crypto::Blake3Hasher hasher;
  const std::size_t chunk_bytes = static_cast<std::size_t>(
      std::min<uint64_t>(options_.io_chunk_bytes, std::max<uint64_t>(row.size, 1)));
  PooledBuffer buf(*this, chunk_bytes);
  for (uint64_t off = 0; off < row.size;) {
    std::size_t n = static_cast<std::size_t>(std::min<uint64_t>(chunk_bytes, row.size - off));
    TRY(src.ReadAt(off, std::span(buf.data(), n)));
    hasher.Update(std::span<const uint8_t>(buf.data(), n));
    off += n;
  }
  ContentHash got = hasher.Finalize();
  if (got != row.id.checksum) {
    std::filesystem::path p = ShardPath(tessera, index);
    TRY(DropRow(tessera, index));
    ASSIGN_OR_RETURN(std::filesystem::path q, Quarantine(p, tessera, index));
    return MakeError(ErrorCode::kCorrupt,
                     Describe(tessera, index) + " is corrupt: its bytes hash to " + got.ToHex() +
                         ", expected " + row.id.checksum.ToHex() + "; moved to " + q.string());
  }
  if (!record) return core::Ok();
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(CachedStatement s,
                   db_->Cached("UPDATE fragments SET last_verified_ms = ? WHERE tessera = ? AND "
                               "idx = ?"));
  s->Bind(1, Now()).Bind(2, tessera).Bind(3, int64_t{index});
  return s->Run();
}

Result<std::vector<Result<bool>>> FsFragmentStore::VerifyMany(
    std::span<const core::FragmentKey> keys, int64_t unless_verified_since) {
  std::vector<Result<bool>> out;
  out.reserve(keys.size());
  std::vector<core::FragmentId> verified;
  for (const auto& key : keys) {
    KeyLock key_lock(*this, {key.tessera, key.index});
    auto row = FindRow(key.tessera, key.index);
    if (!row.ok()) {
      out.push_back(std::move(row).error());
      continue;
    }
    if (!*row || (unless_verified_since > 0 && (*row)->last_verified_ms &&
                  *(*row)->last_verified_ms >= unless_verified_since)) {
      out.push_back(false);
      continue;
    }
    auto checked = CheckHeldLocked(**row, /*trust_verified_ms=*/0, /*record=*/false);
    if (!checked.ok()) {
      out.push_back(std::move(checked).error());
      continue;
    }
    out.push_back(true);
    verified.push_back((*row)->id);
  }
  if (verified.empty()) return out;
  // The same bytes only: a fragment replaced since it was hashed keeps its row.
  const int64_t now = Now();
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(*db_));
  ASSIGN_OR_RETURN(CachedStatement s,
                   db_->Cached("UPDATE fragments SET last_verified_ms = ? WHERE tessera = ? AND "
                               "idx = ? AND checksum = ?"));
  for (const auto& id : verified) {
    s->Bind(1, now).Bind(2, id.tessera).Bind(3, int64_t{id.index}).Bind(4, id.checksum);
    TRY(s->Run());
    s->Reset();
  }
  TRY(tx.Commit());
  return out;
}

Result<uint64_t> FsFragmentStore::TotalBytes() {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(CachedStatement s,
                   db_->Cached("SELECT bytes FROM fragment_totals WHERE id = 0"));
  if (!TRY(s->Step())) return uint64_t{0};
  return static_cast<uint64_t>(s->ColumnInt64(0));
}

Result<uint64_t> FsFragmentStore::FragmentCount() {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(CachedStatement s,
                   db_->Cached("SELECT fragments FROM fragment_totals WHERE id = 0"));
  if (!TRY(s->Step())) return uint64_t{0};
  return static_cast<uint64_t>(s->ColumnInt64(0));
}

}  // namespace tesseras::storage
