#include "storage/fragment_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <thread>

#include "crypto/blake3_hasher.h"
#include "crypto/proof_tree.h"
#include "storage/test_util.h"

namespace tesseras::storage {
namespace {

using core::ContentHash;
using core::ErrorCode;
using core::FragmentId;
using core::MemorySource;
using core::NodeId;
using ::testing::HasSubstr;

ContentHash HashOf(uint8_t seed) {
  ContentHash h;
  h.bytes.fill(seed);
  return h;
}

NodeId Peer(uint8_t seed) {
  NodeId n;
  n.bytes.fill(seed);
  return n;
}

// Every file under `root` that is not a plain NNN.shard or NNN.tree in a
// tessera dir, or the lock.
std::vector<std::string> StrayFiles(const std::filesystem::path& root) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::recursive_directory_iterator(root)) {
    if (!e.is_regular_file()) continue;
    auto rel = std::filesystem::relative(e.path(), root).string();
    if (rel == ".lock" || rel.starts_with(".quarantine/")) continue;
    auto name = e.path().filename().string();
    const bool shard = name.size() == 9 && name.ends_with(".shard");
    const bool tree = name.size() == 8 && name.ends_with(".tree");
    if ((!shard && !tree) || name.starts_with(".")) out.push_back(rel);
  }
  return out;
}

class FragmentStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }

  void Reopen(FsFragmentStoreOptions opts = {}) {
    store_.reset();
    db_.reset();
    auto db = Database::OpenInDataDir(dir_.path());
    ASSERT_TRUE(db.ok()) << db.error().ToString();
    db_ = std::shared_ptr<Database>(std::move(db).value());
    opts.clock = clock_;
    opts.min_free_bytes = opts.min_free_bytes == core::kGiB ? 0 : opts.min_free_bytes;
    auto store = FsFragmentStore::Open(db_, dir_.path(), opts);
    ASSERT_TRUE(store.ok()) << store.error().ToString();
    store_ = std::move(store).value();
  }

  // Stores `bytes` as fragment `index` of `tessera`; returns its id.
  FragmentId Put(const ContentHash& tessera, uint32_t index, const std::vector<uint8_t>& bytes,
                 uint32_t shard_count = 24) {
    FragmentId id{tessera, index, shard_count, crypto::Blake3(bytes)};
    MemorySource src(bytes);
    auto r = store_->Store(id, bytes.size(), src, Peer(7));
    EXPECT_TRUE(r.ok()) << r.error().ToString();
    return id;
  }

  std::vector<uint8_t> ReadAll(const ContentHash& tessera, uint32_t index, std::size_t chunk) {
    auto src = store_->Open(tessera, index);
    EXPECT_TRUE(src.ok()) << src.error().ToString();
    if (!src.ok()) return {};
    std::vector<uint8_t> out((*src)->Size());
    for (std::size_t off = 0; off < out.size(); off += chunk) {
      std::size_t n = std::min(chunk, out.size() - off);
      auto r = (*src)->ReadAt(off, std::span(out.data() + off, n));
      EXPECT_TRUE(r.ok()) << r.error().ToString();
    }
    return out;
  }

  TempDir dir_;
  std::shared_ptr<core::ManualClock> clock_ = std::make_shared<core::ManualClock>();
  std::shared_ptr<Database> db_;
  std::unique_ptr<FsFragmentStore> store_;
};

TEST_F(FragmentStoreTest, StoreReadListDeleteVerify) {
  auto a = RandomBytes(300'000, 1), b = RandomBytes(1, 2), c = RandomBytes(0, 3);
  FragmentId ida = Put(HashOf(2), 5, a);
  clock_->Advance(1000);
  FragmentId idb = Put(HashOf(2), 0, b);
  FragmentId idc = Put(HashOf(1), 0, c, 1);

  EXPECT_TRUE(std::filesystem::exists(store_->TesseraDir(HashOf(2)) / "005.shard"));
  EXPECT_EQ(ReadAll(HashOf(2), 5, 4096), a);
  EXPECT_EQ(ReadAll(HashOf(2), 0, 7), b);
  EXPECT_TRUE(ReadAll(HashOf(1), 0, 7).empty());

  ASSERT_OK_AND_ASSIGN(auto got, store_->Get(HashOf(2), 5));
  EXPECT_EQ(got.id, ida);
  EXPECT_EQ(got.size, a.size());
  EXPECT_EQ(got.origin, Peer(7));
  EXPECT_EQ(got.stored_at_ms, 1'700'000'000'000);
  EXPECT_FALSE(got.last_verified_ms.has_value());

  ASSERT_OK_AND_ASSIGN(auto all, store_->List());
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].id, idc);  // ordered by (tessera, index)
  EXPECT_EQ(all[1].id, idb);
  EXPECT_EQ(all[2].id, ida);
  ASSERT_OK_AND_ASSIGN(auto two, store_->List(HashOf(2)));
  EXPECT_EQ(two.size(), 2u);
  ASSERT_OK_AND_ASSIGN(uint64_t total, store_->TotalBytes());
  EXPECT_EQ(total, a.size() + b.size());

  clock_->Advance(5000);
  ASSERT_OK(store_->Verify(HashOf(2), 5));
  ASSERT_OK_AND_ASSIGN(got, store_->Get(HashOf(2), 5));
  EXPECT_EQ(got.last_verified_ms, 1'700'000'006'000);

  ASSERT_OK(store_->Delete(HashOf(2), 5));
  EXPECT_EQ(store_->Get(HashOf(2), 5).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(store_->Open(HashOf(2), 5).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(store_->Verify(HashOf(2), 5).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(store_->Delete(HashOf(2), 5).error().code, ErrorCode::kNotFound);
  EXPECT_FALSE(std::filesystem::exists(store_->ShardPath(HashOf(2), 5)));
  ASSERT_OK_AND_ASSIGN(all, store_->List());
  EXPECT_EQ(all.size(), 2u);

  // Everything survives a reopen, and recovery finds nothing to do.
  Reopen();
  EXPECT_TRUE(store_->recovery_report().clean()) << store_->recovery_report().ToString();
  EXPECT_EQ(ReadAll(HashOf(2), 0, 1), b);
}

// A source that hands out at most `max` bytes per Read, like a network stream.
class DribbleSource final : public core::ByteSource {
 public:
  DribbleSource(const std::vector<uint8_t>& bytes, std::size_t max) : bytes_(bytes), max_(max) {}
  core::Result<std::size_t> Read(std::span<uint8_t> out) override {
    std::size_t n = std::min({out.size(), bytes_.size() - pos_, max_});
    std::copy_n(bytes_.begin() + static_cast<std::ptrdiff_t>(pos_), n, out.begin());
    pos_ += n;
    return n;
  }

 private:
  const std::vector<uint8_t>& bytes_;
  std::size_t max_;
  std::size_t pos_ = 0;
};

TEST_F(FragmentStoreTest, ShortReadsFromTheSourceAreFine) {
  FsFragmentStoreOptions opts;
  opts.io_chunk_bytes = 4096;
  Reopen(opts);
  // Smaller than one chunk, and several chunks (the pipelined hashing path).
  for (std::size_t size : {std::size_t{3000}, std::size_t{50'000}}) {
    auto bytes = RandomBytes(size, size);
    FragmentId id{HashOf(12), static_cast<uint32_t>(size % 7), 24, crypto::Blake3(bytes)};
    DribbleSource src(bytes, 1000);
    ASSERT_OK(store_->Store(id, bytes.size(), src, Peer(1)));
    EXPECT_EQ(ReadAll(HashOf(12), id.index, 999), bytes);
    EXPECT_OK(store_->Verify(HashOf(12), id.index));
  }
}

TEST_F(FragmentStoreTest, ReadPastEndIsRefused) {
  Put(HashOf(3), 1, RandomBytes(100, 4));
  ASSERT_OK_AND_ASSIGN(auto src, store_->Open(HashOf(3), 1));
  std::vector<uint8_t> buf(10);
  EXPECT_OK(src->ReadAt(90, buf));
  EXPECT_EQ(src->ReadAt(91, buf).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(src->ReadAt(UINT64_MAX, buf).error().code, ErrorCode::kInvalidArgument);
}

TEST_F(FragmentStoreTest, FlippedByteIsCaughtByVerifyAndNeverServedAgain) {
  auto bytes = RandomBytes(70'000, 5);
  FragmentId id = Put(HashOf(4), 2, bytes);
  ASSERT_OK(store_->Verify(HashOf(4), 2));
  {
    std::fstream f(store_->ShardPath(HashOf(4), 2),
                   std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(12345);
    char c = static_cast<char>(bytes[12345] ^ 0x01);
    f.write(&c, 1);
  }
  auto r = store_->Verify(HashOf(4), 2);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kCorrupt);
  EXPECT_NE(r.error().message.find("fragment 2 of tessera " + HashOf(4).ToHex()), std::string::npos)
      << r.error().message;
  EXPECT_EQ(store_->Open(HashOf(4), 2).error().code, ErrorCode::kNotFound);
  EXPECT_FALSE(std::filesystem::exists(store_->ShardPath(HashOf(4), 2)));
  EXPECT_FALSE(std::filesystem::is_empty(dir_.path() / "fragments" / ".quarantine"));
  // A correct copy is accepted again without `replace`.
  MemorySource src(bytes);
  ASSERT_OK(store_->Store(id, bytes.size(), src, Peer(8)));
  EXPECT_OK(store_->Verify(HashOf(4), 2));
}

// Files removed behind the store's back (an operator's rm -r of a tessera's
// directory): the index must not keep calling them held.
TEST_F(FragmentStoreTest, FilesGoneBehindTheStoresBackAreNotHeld) {
  auto a = RandomBytes(50'000, 21), b = RandomBytes(60'000, 22);
  FragmentId ida = Put(HashOf(14), 0, a);
  FragmentId idb = Put(HashOf(14), 1, b);
  ASSERT_OK(store_->Verify(HashOf(14), 0));
  std::filesystem::remove_all(store_->TesseraDir(HashOf(14)));

  // Even a fragment verified a moment ago is not held once its file is gone.
  auto held = store_->CheckHeld(HashOf(14), 0, /*trust_verified_ms=*/3'600'000);
  ASSERT_FALSE(held.ok());
  EXPECT_EQ(held.error().code, ErrorCode::kNotFound);
  EXPECT_THAT(held.error().message, HasSubstr("index row was dropped"));
  EXPECT_EQ(store_->Get(HashOf(14), 0).error().code, ErrorCode::kNotFound);

  // Verify reconciles the same way (what `tes verify` runs).
  auto verified = store_->Verify(HashOf(14), 1);
  ASSERT_FALSE(verified.ok());
  EXPECT_EQ(verified.error().code, ErrorCode::kNotFound);
  ASSERT_OK_AND_ASSIGN(auto left, store_->List(HashOf(14)));
  EXPECT_TRUE(left.empty());

  // Both can be stored again, and are then really on disk.
  MemorySource sa(a), sb(b);
  ASSERT_OK(store_->Store(ida, a.size(), sa, Peer(8)));
  ASSERT_OK(store_->Store(idb, b.size(), sb, Peer(8)));
  EXPECT_EQ(ReadAll(HashOf(14), 0, 4096), a);
  EXPECT_EQ(ReadAll(HashOf(14), 1, 4096), b);
}

// Store's "already stored" answer is only given for bytes that are really there.
TEST_F(FragmentStoreTest, StoringAgainOverAVanishedFileWritesIt) {
  auto a = RandomBytes(40'000, 23);
  FragmentId id = Put(HashOf(15), 3, a);
  ASSERT_TRUE(std::filesystem::remove(store_->ShardPath(HashOf(15), 3)));
  MemorySource src(a);
  ASSERT_OK(store_->Store(id, a.size(), src, Peer(8)));
  EXPECT_EQ(ReadAll(HashOf(15), 3, 4096), a);
  EXPECT_OK(store_->Verify(HashOf(15), 3));
}

// Trusting a recent verification skips the hash, never the presence check;
// trust 0 always hashes.
TEST_F(FragmentStoreTest, CheckHeldTrustsARecentVerificationOnlyForTheHash) {
  auto a = RandomBytes(30'000, 24);
  Put(HashOf(16), 0, a);
  ASSERT_OK(store_->Verify(HashOf(16), 0));
  {
    std::fstream f(store_->ShardPath(HashOf(16), 0),
                   std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(100);
    char c = static_cast<char>(a[100] ^ 0x01);
    f.write(&c, 1);
  }
  clock_->Advance(1000);
  EXPECT_OK(store_->CheckHeld(HashOf(16), 0, /*trust_verified_ms=*/60'000));
  clock_->Advance(60'000);
  auto stale = store_->CheckHeld(HashOf(16), 0, /*trust_verified_ms=*/60'000);
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.error().code, ErrorCode::kCorrupt);
  EXPECT_EQ(store_->Get(HashOf(16), 0).error().code, ErrorCode::kNotFound);
}

TEST_F(FragmentStoreTest, BadStreamsStoreNothing) {
  auto bytes = RandomBytes(10'000, 6);
  FragmentId id{HashOf(5), 0, 24, crypto::Blake3(bytes)};
  {  // wrong checksum
    FragmentId wrong = id;
    wrong.checksum = HashOf(9);
    MemorySource src(bytes);
    auto r = store_->Store(wrong, bytes.size(), src, Peer(1));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::kCorrupt);
  }
  {  // shorter than declared
    MemorySource src(bytes);
    auto r = store_->Store(id, bytes.size() + 1, src, Peer(1));
    EXPECT_EQ(r.error().code, ErrorCode::kCorrupt);
  }
  {  // longer than declared
    MemorySource src(bytes);
    auto r = store_->Store(id, bytes.size() - 1, src, Peer(1));
    EXPECT_EQ(r.error().code, ErrorCode::kCorrupt);
  }
  {  // index out of range, too many shards, too big
    MemorySource src(bytes);
    EXPECT_EQ(
        store_->Store({HashOf(5), 24, 24, id.checksum}, bytes.size(), src, Peer(1)).error().code,
        ErrorCode::kInvalidArgument);
    EXPECT_EQ(
        store_->Store({HashOf(5), 0, 256, id.checksum}, bytes.size(), src, Peer(1)).error().code,
        ErrorCode::kInvalidArgument);
    EXPECT_EQ(store_->Store(id, kMaxFragmentBytes + 1, src, Peer(1)).error().code,
              ErrorCode::kInvalidArgument);
  }
  ASSERT_OK_AND_ASSIGN(auto all, store_->List());
  EXPECT_TRUE(all.empty());
  EXPECT_TRUE(StrayFiles(store_->root()).empty());
  EXPECT_FALSE(std::filesystem::exists(store_->ShardPath(HashOf(5), 0)));
}

TEST_F(FragmentStoreTest, OverwriteNeedsReplace) {
  auto one = RandomBytes(1000, 7), two = RandomBytes(2000, 8);
  FragmentId id1 = Put(HashOf(6), 3, one);
  // Same bytes again: a no-op success.
  MemorySource again(one);
  ASSERT_OK(store_->Store(id1, one.size(), again, Peer(2)));
  FragmentId id2{HashOf(6), 3, 24, crypto::Blake3(two)};
  MemorySource src(two);
  auto r = store_->Store(id2, two.size(), src, Peer(2));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kAlreadyExists);
  EXPECT_EQ(ReadAll(HashOf(6), 3, 100), one);
  MemorySource src2(two);
  ASSERT_OK(store_->Store(id2, two.size(), src2, Peer(2), /*replace=*/true));
  EXPECT_EQ(ReadAll(HashOf(6), 3, 100), two);
  ASSERT_OK_AND_ASSIGN(auto got, store_->Get(HashOf(6), 3));
  EXPECT_EQ(got.id.checksum, id2.checksum);
  EXPECT_EQ(got.origin, Peer(2));
  EXPECT_OK(store_->Verify(HashOf(6), 3));
}

// Start-up looks only at what was in flight (.incoming), never at what is
// held: damage in the tessera directories is left for Reconcile and for
// verification.
TEST_F(FragmentStoreTest, RecoveryOnOpenLooksOnlyAtWhatWasInFlight) {
  auto good = RandomBytes(5000, 9);
  FragmentId id0 = Put(HashOf(7), 0, good);
  Put(HashOf(7), 1, good);
  FragmentId id2 = Put(HashOf(7), 2, good);
  auto other = RandomBytes(6000, 10);
  FragmentId id3{HashOf(7), 3, 24, crypto::Blake3(other)};
  const auto tdir = store_->TesseraDir(HashOf(7));
  const auto incoming = dir_.path() / "fragments" / ".incoming";
  store_.reset();
  auto in_flight = [&](const FragmentId& id, const std::string& random) {
    return incoming /
           (id.tessera.ToHex() + "." + std::string(id.index < 10 ? "00" : "0") +
            std::to_string(id.index) + "." + id.checksum.ToHex() + "." + random + ".tmp");
  };
  // Fragment 2: committed, the process died before the rename (its file is
  // still in .incoming). Fragment 3: a write that never committed. Fragment
  // 0: a delete that moved the file out and did not get to drop the row. Also
  // a temp file with some other name, and a stray file.
  std::filesystem::rename(tdir / "002.shard", in_flight(id2, "00aa"));
  { std::ofstream(in_flight(id3, "00bb")) << "partial"; }
  std::filesystem::rename(tdir / "000.shard", in_flight(id0, "00cc"));
  { std::ofstream(incoming / "whatever.tmp") << "x"; }
  { std::ofstream(incoming / "notes.txt") << "hello"; }
  // Damage that only a walk would see: start-up does not look.
  std::filesystem::remove(tdir / "001.shard");
  { std::ofstream(tdir / "notes.txt") << "hello"; }

  Reopen();
  const RecoveryReport& rep = store_->recovery_report();
  EXPECT_EQ(rep.completed_files.size(), 2u) << rep.ToString();
  EXPECT_EQ(rep.removed_temp_files.size(), 2u) << rep.ToString();
  EXPECT_EQ(rep.unexpected_entries.size(), 1u) << rep.ToString();  // notes.txt in .incoming
  EXPECT_TRUE(rep.dropped_rows.empty() && rep.removed_orphan_files.empty()) << rep.ToString();
  EXPECT_NE(rep.ToString().find("completed a write or undid a delete"), std::string::npos);
  EXPECT_EQ(ReadAll(HashOf(7), 0, 4096), good);
  EXPECT_EQ(ReadAll(HashOf(7), 2, 4096), good);
  EXPECT_OK(store_->Verify(HashOf(7), 2));
  EXPECT_EQ(store_->Get(HashOf(7), 3).error().code, ErrorCode::kNotFound);
  EXPECT_FALSE(std::filesystem::exists(in_flight(id3, "00bb")));
  // The row of the missing file is still listed: verification drops it.
  EXPECT_TRUE(store_->Get(HashOf(7), 1).ok());
  EXPECT_EQ(store_->Verify(HashOf(7), 1).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(store_->Get(HashOf(7), 1).error().code, ErrorCode::kNotFound);
  // A second open has nothing more to do.
  Reopen();
  EXPECT_TRUE(store_->recovery_report().completed_files.empty());
  EXPECT_TRUE(store_->recovery_report().removed_temp_files.empty());
}

// The full walk, on demand: what start-up no longer does.
TEST_F(FragmentStoreTest, ReconcileRepairsAndReports) {
  auto good = RandomBytes(40'000, 9);  // three leaves: a stored tree follows the bytes
  Put(HashOf(7), 0, good);
  Put(HashOf(7), 1, good);
  Put(HashOf(7), 2, good);
  Put(HashOf(8), 0, good);
  const auto tdir = store_->TesseraDir(HashOf(7));
  // An old-layout temp file, an orphan file (renamed, never indexed), a row
  // whose file vanished, a file of the wrong size, a stray file, an empty
  // tessera directory, and a stray file at the top.
  { std::ofstream(tdir / ".004.shard.0123456789abcdef.tmp") << "partial"; }
  std::filesystem::copy_file(tdir / "000.shard", tdir / "009.shard");
  std::filesystem::copy_file(tdir / "000.tree", tdir / "010.tree");
  std::filesystem::remove(tdir / "001.shard");
  std::filesystem::resize_file(tdir / "002.shard", 10);
  { std::ofstream(tdir / "notes.txt") << "hello"; }
  ASSERT_OK(store_->Delete(HashOf(8), 0));
  { std::ofstream(dir_.path() / "fragments" / "README") << "hi"; }

  ASSERT_OK_AND_ASSIGN(RecoveryReport rep, store_->Reconcile());
  EXPECT_FALSE(rep.clean());
  ASSERT_EQ(rep.removed_temp_files.size(), 1u) << rep.ToString();
  ASSERT_EQ(rep.removed_orphan_files.size(), 2u) << rep.ToString();
  std::set<std::string> orphans;
  for (const auto& p : rep.removed_orphan_files) orphans.insert(p.filename().string());
  EXPECT_EQ(orphans, (std::set<std::string>{"009.shard", "010.tree"}));
  ASSERT_EQ(rep.dropped_rows.size(), 1u) << rep.ToString();
  EXPECT_EQ(rep.dropped_rows[0].index, 2u);
  EXPECT_EQ(rep.quarantined_files.size(), 1u);
  EXPECT_EQ(rep.unexpected_entries.size(), 2u) << rep.ToString();
  EXPECT_NE(rep.ToString().find("dropped index row of fragment 2"), std::string::npos)
      << rep.ToString();
  EXPECT_FALSE(std::filesystem::exists(tdir / ".004.shard.0123456789abcdef.tmp"));
  EXPECT_FALSE(std::filesystem::exists(tdir / "009.shard"));
  EXPECT_FALSE(std::filesystem::exists(tdir / "002.tree"));  // its row went, and its tree
  EXPECT_TRUE(std::filesystem::exists(tdir / "000.tree"));
  EXPECT_FALSE(std::filesystem::exists(store_->TesseraDir(HashOf(8))));
  EXPECT_EQ(store_->Open(HashOf(7), 2).error().code, ErrorCode::kNotFound);
  EXPECT_OK(store_->Verify(HashOf(7), 0));
  // The missing file's row is left to verification.
  EXPECT_EQ(store_->Verify(HashOf(7), 1).error().code, ErrorCode::kNotFound);
  ASSERT_OK_AND_ASSIGN(auto all, store_->List());
  ASSERT_EQ(all.size(), 1u);
  // A second walk finds only the stray files.
  ASSERT_OK_AND_ASSIGN(RecoveryReport again, store_->Reconcile());
  EXPECT_TRUE(again.removed_temp_files.empty() && again.dropped_rows.empty() &&
              again.removed_orphan_files.empty())
      << again.ToString();
  EXPECT_EQ(again.unexpected_entries.size(), 2u);
}

// The tessera directories sit under a directory named by the first two hex
// digits of the tessera, so that no directory holds every tessera.
TEST_F(FragmentStoreTest, TesseraDirectoriesAreShardedByPrefix) {
  ContentHash t = HashOf(0xab);
  t.bytes[1] = 0xcd;
  Put(t, 3, RandomBytes(100, 1));
  const std::string hex = t.ToHex();
  EXPECT_EQ(hex.substr(0, 4), "abcd");
  EXPECT_EQ(store_->ShardPath(t, 3), dir_.path() / "fragments" / "ab" / hex / "003.shard");
  EXPECT_TRUE(std::filesystem::exists(store_->ShardPath(t, 3)));
  EXPECT_FALSE(std::filesystem::exists(dir_.path() / "fragments" / hex));
}

// A data dir of the flat layout ({fragments}/{tessera_hex}/...) is moved
// under the prefix directories when opened; nothing is lost, a tessera found
// in both layouts keeps both copies' files where they do not clash, and what
// is not a tessera directory is left alone.
TEST_F(FragmentStoreTest, TheFlatLayoutIsMovedWhenOpened) {
  const auto bytes = RandomBytes(20'000, 3);  // two leaves: a tree file too
  for (uint8_t t = 1; t <= 5; ++t) Put(HashOf(t), 0, bytes);
  Put(HashOf(5), 1, bytes);
  const auto root = dir_.path() / "fragments";
  store_.reset();
  // Tesseras 1-4 back in the flat layout; 5 in both (fragment 1 flat, 0 not).
  for (uint8_t t = 1; t <= 4; ++t) {
    const std::string hex = HashOf(t).ToHex();
    std::filesystem::rename(root / hex.substr(0, 2) / hex, root / hex);
    std::filesystem::remove(root / hex.substr(0, 2));
  }
  const std::string hex5 = HashOf(5).ToHex();
  std::filesystem::create_directory(root / hex5);
  std::filesystem::rename(root / hex5.substr(0, 2) / hex5 / "001.shard", root / hex5 / "001.shard");
  // Not tessera directories: upper-case hex, a file with a hex name.
  const std::string upper = "AB" + HashOf(0xab).ToHex().substr(2);
  std::filesystem::create_directory(root / upper);
  { std::ofstream(root / HashOf(9).ToHex()) << "x"; }

  Reopen();
  EXPECT_EQ(store_->recovery_report().moved_dirs, 5u) << store_->recovery_report().ToString();
  EXPECT_NE(store_->recovery_report().ToString().find("flat layout"), std::string::npos);
  for (uint8_t t = 1; t <= 5; ++t) {
    EXPECT_EQ(ReadAll(HashOf(t), 0, 4096), bytes);
    EXPECT_OK(store_->Verify(HashOf(t), 0));
    EXPECT_FALSE(std::filesystem::exists(root / HashOf(t).ToHex()));
    EXPECT_TRUE(std::filesystem::exists(store_->TreePath(HashOf(t), 0)));
  }
  EXPECT_OK(store_->Verify(HashOf(5), 1));
  EXPECT_TRUE(std::filesystem::exists(root / upper));
  // A second open moves nothing; the walk reports the two strays.
  Reopen();
  EXPECT_EQ(store_->recovery_report().moved_dirs, 0u);
  ASSERT_OK_AND_ASSIGN(RecoveryReport walk, store_->Reconcile());
  EXPECT_EQ(walk.unexpected_entries.size(), 2u) << walk.ToString();
  EXPECT_TRUE(walk.removed_orphan_files.empty() && walk.dropped_rows.empty()) << walk.ToString();
}

// The walk goes a slice at a time from a cursor, in name order, and finds in
// a later slice what lies beyond the first.
TEST_F(FragmentStoreTest, ReconcileSomeWalksInSlices) {
  const auto bytes = RandomBytes(100, 4);
  std::vector<ContentHash> tesseras;
  for (int i = 0; i < 40; ++i) {
    ContentHash t = crypto::Blake3(RandomBytes(8, 100 + i));
    Put(t, 0, bytes);
    tesseras.push_back(t);
  }
  std::sort(tesseras.begin(), tesseras.end(),
            [](const ContentHash& a, const ContentHash& b) { return a.ToHex() < b.ToHex(); });
  // An orphan in the last tessera directory in walk order.
  const auto last_dir = store_->TesseraDir(tesseras.back());
  std::filesystem::copy_file(last_dir / "000.shard", last_dir / "007.shard");

  std::string cursor;
  RecoveryReport rep;
  ASSERT_OK_AND_ASSIGN(std::size_t n, store_->ReconcileSome(&cursor, 7, rep));
  EXPECT_EQ(n, 7u);
  const std::string seventh = tesseras[6].ToHex();
  EXPECT_EQ(cursor, seventh.substr(0, 2) + "/" + seventh);
  EXPECT_TRUE(rep.clean()) << rep.ToString();
  std::size_t slices = 1, reached = n;
  while (!cursor.empty()) {
    ASSERT_OK_AND_ASSIGN(n, store_->ReconcileSome(&cursor, 7, rep));
    EXPECT_LE(n, 7u);
    reached += n;
    ++slices;
  }
  EXPECT_EQ(reached, 40u);
  EXPECT_EQ(slices, 6u);  // 7 * 5 = 35, then the last 5
  ASSERT_EQ(rep.removed_orphan_files.size(), 1u) << rep.ToString();
  EXPECT_EQ(rep.removed_orphan_files[0], last_dir / "007.shard");
  // A cursor the walk never gives starts it again.
  cursor = "garbage";
  RecoveryReport again;
  ASSERT_OK_AND_ASSIGN(n, store_->ReconcileSome(&cursor, 100, again));
  EXPECT_EQ(n, 40u);
  EXPECT_TRUE(cursor.empty());
  EXPECT_TRUE(again.clean()) << again.ToString();
}

// Each fragment's proof tree is kept beside its bytes: the paths come from it
// without reading the fragment, and are the paths of the tree of the bytes.
TEST_F(FragmentStoreTest, TheProofTreeIsKeptAndGivesThePaths) {
  for (std::size_t size :
       {std::size_t{1}, std::size_t{16384}, std::size_t{16385}, std::size_t{300'000}}) {
    auto bytes = RandomBytes(size, size);
    FragmentId id = Put(HashOf(20), static_cast<uint32_t>(size % 24), bytes);
    // The fragment's file is exactly its bytes; the tree has a file of its own.
    EXPECT_EQ(std::filesystem::file_size(store_->ShardPath(id.tessera, id.index)), size);
    const uint64_t tree_bytes = crypto::StoredProofTreeBytes(size);
    EXPECT_EQ(std::filesystem::exists(store_->TreePath(id.tessera, id.index)), tree_bytes > 0);
    if (tree_bytes > 0) {
      EXPECT_EQ(std::filesystem::file_size(store_->TreePath(id.tessera, id.index)), tree_bytes);
    }
    crypto::ProofTreeBuilder tree;
    tree.Update(bytes);
    auto leaves = tree.FinishLeaves();
    std::vector<uint64_t> all;
    for (uint64_t i = 0; i < leaves.size(); ++i) all.push_back(i);
    ASSERT_OK_AND_ASSIGN(auto paths, store_->ReadProofPaths(id.tessera, id.index, all));
    ASSERT_EQ(paths.size(), leaves.size());
    for (uint64_t i = 0; i < leaves.size(); ++i) {
      EXPECT_EQ(paths[i], crypto::MerklePath(leaves, i)) << size << "/" << i;
    }
    const uint64_t past[] = {leaves.size()};
    EXPECT_EQ(store_->ReadProofPaths(id.tessera, id.index, past).error().code,
              ErrorCode::kInvalidArgument);
    EXPECT_EQ(ReadAll(id.tessera, id.index, 7777), bytes);
    EXPECT_OK(store_->Verify(id.tessera, id.index));
  }
  EXPECT_EQ(store_->ReadProofPaths(HashOf(21), 0, {}).error().code, ErrorCode::kNotFound);
  // A tree that is missing or cut short has no paths to give; the fragment is
  // still served and verified.
  auto bytes = RandomBytes(40'000, 3);
  const uint64_t first[] = {0};
  FragmentId id = Put(HashOf(22), 0, bytes);
  std::filesystem::resize_file(store_->TreePath(id.tessera, id.index), 32);
  EXPECT_EQ(store_->ReadProofPaths(id.tessera, id.index, first).error().code, ErrorCode::kNotFound);
  std::filesystem::remove(store_->TreePath(id.tessera, id.index));
  EXPECT_EQ(store_->ReadProofPaths(id.tessera, id.index, first).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(ReadAll(id.tessera, id.index, 4096), bytes);
  EXPECT_OK(store_->Verify(id.tessera, id.index));
  // Replacing the bytes replaces the tree; deleting removes it.
  auto other = RandomBytes(50'000, 4);
  FragmentId id2{HashOf(22), 0, 24, crypto::Blake3(other)};
  MemorySource src(other);
  ASSERT_OK(store_->Store(id2, other.size(), src, Peer(1), /*replace=*/true));
  EXPECT_EQ(std::filesystem::file_size(store_->TreePath(id.tessera, id.index)),
            crypto::StoredProofTreeBytes(other.size()));
  ASSERT_OK(store_->Delete(id.tessera, id.index));
  EXPECT_FALSE(std::filesystem::exists(store_->TreePath(id.tessera, id.index)));
}

// A walk over everything held, one page at a time; totals kept by the index.
TEST_F(FragmentStoreTest, ListAfterPagesAndTotalsFollowEveryChange) {
  std::vector<FragmentId> ids;
  uint64_t bytes = 0;
  for (uint8_t t = 1; t <= 4; ++t) {
    for (uint32_t i = 0; i < 5; ++i) {
      auto b = RandomBytes(100 + t * 10 + i, t * 100 + i);
      bytes += b.size();
      ids.push_back(Put(HashOf(t), i, b));
    }
  }
  std::vector<FragmentId> walked;
  std::optional<core::FragmentKey> after;
  for (int pages = 0;; ++pages) {
    ASSERT_LT(pages, 10);
    ASSERT_OK_AND_ASSIGN(auto page, store_->ListAfter(after, 3));
    for (const auto& f : page) walked.push_back(f.id);
    if (page.size() < 3) break;
    after = core::FragmentKey{page.back().id.tessera, page.back().id.index};
  }
  EXPECT_EQ(walked, ids);  // (tessera, index) order, each once
  ASSERT_OK_AND_ASSIGN(uint64_t total, store_->TotalBytes());
  ASSERT_OK_AND_ASSIGN(uint64_t count, store_->FragmentCount());
  EXPECT_EQ(total, bytes);
  EXPECT_EQ(count, 20u);
  // Replacing, deleting and a failed verification all keep them right.
  auto two = RandomBytes(5000, 77);
  MemorySource src(two);
  ASSERT_OK(store_->Store({HashOf(1), 0, 24, crypto::Blake3(two)}, two.size(), src, Peer(1), true));
  ASSERT_OK(store_->Delete(HashOf(2), 0));
  std::filesystem::remove(store_->ShardPath(HashOf(3), 0));
  EXPECT_FALSE(store_->Verify(HashOf(3), 0).ok());
  ASSERT_OK_AND_ASSIGN(total, store_->TotalBytes());
  ASSERT_OK_AND_ASSIGN(count, store_->FragmentCount());
  EXPECT_EQ(count, 18u);
  EXPECT_EQ(total, bytes - 110 + two.size() - 120 - 130);
}

TEST_F(FragmentStoreTest, FreeSpaceMinimumGivesClearErrorAndStaysConsistent) {
  auto before = RandomBytes(4000, 10);
  Put(HashOf(8), 0, before);
  ASSERT_OK_AND_ASSIGN(uint64_t free_bytes, FreeBytes(dir_.path()));
  FsFragmentStoreOptions opts;
  opts.min_free_bytes = free_bytes + 1024 * core::kGiB;  // certainly above what is free
  Reopen(opts);
  auto bytes = RandomBytes(4000, 11);
  FragmentId id{HashOf(8), 1, 24, crypto::Blake3(bytes)};
  MemorySource src(bytes);
  auto r = store_->Store(id, bytes.size(), src, Peer(1));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kResourceExhausted);
  EXPECT_NE(r.error().message.find(std::to_string(opts.min_free_bytes)), std::string::npos)
      << r.error().message;
  EXPECT_NE(r.error().message.find("bytes free"), std::string::npos) << r.error().message;
  // Consistent: the earlier fragment is intact, nothing new is indexed or on disk.
  ASSERT_OK_AND_ASSIGN(auto all, store_->List());
  ASSERT_EQ(all.size(), 1u);
  EXPECT_OK(store_->Verify(HashOf(8), 0));
  EXPECT_FALSE(std::filesystem::exists(store_->ShardPath(HashOf(8), 1)));
  EXPECT_TRUE(StrayFiles(store_->root()).empty());
  // With the default-sized minimum lifted, the same write goes through.
  Reopen();
  MemorySource again(bytes);
  EXPECT_OK(store_->Store(id, bytes.size(), again, Peer(1)));
}

TEST_F(FragmentStoreTest, OneStorePerDataDir) {
  auto second = FsFragmentStore::Open(db_, dir_.path());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().code, ErrorCode::kUnavailable);
}

TEST_F(FragmentStoreTest, ConcurrentStoresReadsAndVerifies) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 12;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        // Threads overlap on the same tessera and, for i % 3 == 0, the same fragment.
        uint32_t index = (i % 3 == 0) ? 100 : static_cast<uint32_t>(t * kPerThread + i);
        auto bytes = RandomBytes(20'000 + (index == 100 ? 0 : i), index);
        FragmentId id{HashOf(9), index, 255, crypto::Blake3(bytes)};
        MemorySource src(bytes);
        if (!store_->Store(id, bytes.size(), src, Peer(3)).ok()) ++failures;
        if (!store_->Verify(HashOf(9), index).ok()) ++failures;
        auto opened = store_->Open(HashOf(9), index);
        if (!opened.ok()) {
          ++failures;
          continue;
        }
        std::vector<uint8_t> back(bytes.size());
        if (!(*opened)->ReadAt(0, back).ok() || back != bytes) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  ASSERT_OK_AND_ASSIGN(auto all, store_->List(HashOf(9)));
  EXPECT_EQ(all.size(), static_cast<std::size_t>(kThreads * kPerThread - kThreads * 4 + 1));
  for (const auto& f : all) EXPECT_OK(store_->Verify(f.id.tessera, f.id.index));
}

}  // namespace
}  // namespace tesseras::storage
