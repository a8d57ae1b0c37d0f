// Republishing from a core::PublishedRecordStore: paced the same against the
// in-memory store and the SQLite one (a real database file), read one page at
// a time, resumed after a restart, and carried on through disk errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <set>

#include "dht/memory_published_store.h"
#include "dht/node.h"
#include "dht/test_network.h"
#include "storage/published_record_store.h"
#include "storage/test_util.h"

namespace tesseras::dht {
namespace {

using core::ErrorCode;
using core::Result;
using storage::TempDir;
using testing::TestConfig;
using testing::TestNetwork;

// Wraps a store and records how it is used: the largest page asked for and
// returned, so that a test can assert that the node only ever loads a page.
class CountingStore final : public core::PublishedRecordStore {
 public:
  explicit CountingStore(std::shared_ptr<core::PublishedRecordStore> inner)
      : inner_(std::move(inner)) {}
  Result<void> Put(const std::string& key, std::span<const uint8_t> record,
                   int64_t expires) override {
    ++puts;
    return inner_->Put(key, record, expires);
  }
  Result<bool> Replace(const std::string& key, std::span<const uint8_t> expected,
                       std::span<const uint8_t> record, int64_t expires) override {
    auto r = inner_->Replace(key, expected, record, expires);
    if (r.ok() && *r) ++replaced;
    return r;
  }
  Result<bool> Erase(const std::string& key, std::span<const uint8_t> expected) override {
    auto r = inner_->Erase(key, expected);
    if (r.ok() && *r) ++erased;
    return r;
  }
  Result<uint64_t> Count() override { return inner_->Count(); }
  Result<std::vector<core::PublishedRecord>> ListAfter(const std::string& after,
                                                       std::size_t limit) override {
    auto r = inner_->ListAfter(after, limit);
    std::lock_guard lock(mu_);
    largest_limit = std::max(largest_limit, limit);
    if (r.ok()) largest_page = std::max(largest_page, r->size());
    if (r.ok() && !r->empty() && first_listed.empty()) first_listed = r->front().key;
    ++pages;
    return r;
  }
  // The key of the first record the node read: where its round began.
  std::string FirstListed() {
    std::lock_guard lock(mu_);
    return first_listed;
  }
  std::size_t LargestPage() {
    std::lock_guard lock(mu_);
    return largest_page;
  }
  std::size_t LargestLimit() {
    std::lock_guard lock(mu_);
    return largest_limit;
  }
  std::atomic<uint64_t> puts{0}, replaced{0}, erased{0}, pages{0};

 private:
  std::shared_ptr<core::PublishedRecordStore> inner_;
  std::mutex mu_;
  std::size_t largest_page = 0;
  std::size_t largest_limit = 0;
  std::string first_listed;
};

// A disk that refuses everything.
class FailingStore final : public core::PublishedRecordStore {
 public:
  Result<void> Put(const std::string&, std::span<const uint8_t>, int64_t) override {
    return Fail();
  }
  Result<bool> Replace(const std::string&, std::span<const uint8_t>, std::span<const uint8_t>,
                       int64_t) override {
    return Fail();
  }
  Result<bool> Erase(const std::string&, std::span<const uint8_t>) override { return Fail(); }
  Result<uint64_t> Count() override { return Fail(); }
  Result<std::vector<core::PublishedRecord>> ListAfter(const std::string&, std::size_t) override {
    return Fail();
  }
  std::atomic<uint64_t> calls{0};

 private:
  core::Error Fail() {
    ++calls;
    return core::Error{ErrorCode::kIo, "disk I/O error (injected)"};
  }
};

std::shared_ptr<storage::Database> OpenDb(const TempDir& dir) {
  auto db = storage::Database::OpenInDataDir(dir.path());
  EXPECT_TRUE(db.ok()) << db.error().ToString();
  return std::shared_ptr<storage::Database>(std::move(db).value());
}

// Four plain nodes and `publisher` (with `config`), all bootstrapped.
std::shared_ptr<Node> Network(TestNetwork& net, const crypto::Identity& identity,
                              NodeConfig config) {
  for (int i = 0; i < 4; ++i) {
    if (!net.Add()) return nullptr;
  }
  auto publisher = net.Add(identity, "127.0.5.1", std::move(config));
  if (!publisher) return nullptr;
  auto seed = net.AddressOf(net.nodes()[0]);
  for (const auto& n : net.nodes()) {
    if (n == net.nodes()[0]) continue;
    auto r = net.Await<Result<void>>([n, seed]() { return n->Bootstrap({seed}); });
    if (!r.ok()) return nullptr;
  }
  return publisher;
}

Record Claim(const crypto::Identity& id, int i, int64_t expires, uint8_t version = 0) {
  core::NodeId key;
  key.bytes.fill(static_cast<uint8_t>(i));
  key.bytes[1] = 0x77;
  return Record::Sign(id, kHolderClaim, key, std::vector<uint8_t>{static_cast<uint8_t>(i), version},
                      expires)
      .value();
}

// Puts `count` claims (of keys step * i) through a node whose database is
// in `dir`; the node, its network and the connection are gone on return.
void PublishThroughANode(const TempDir& dir, const crypto::Identity& identity, int count, int step,
                         int64_t expires) {
  NodeConfig config = TestConfig();
  config.published = std::make_shared<storage::SqlitePublishedRecordStore>(OpenDb(dir));
  TestNetwork net;
  auto publisher = Network(net, identity, config);
  ASSERT_TRUE(publisher);
  for (int i = 0; i < count; ++i) {
    auto rec = Claim(identity, step * i, expires);
    ASSERT_OK(net.Await<Result<std::size_t>>([publisher, rec]() { return publisher->Put(rec); }));
  }
}

std::shared_ptr<CountingStore> CountingStoreOn(const TempDir& dir) {
  return std::make_shared<CountingStore>(
      std::make_shared<storage::SqlitePublishedRecordStore>(OpenDb(dir)));
}

// The publisher started again on `store`, republishing every second.
std::shared_ptr<Node> RestartedPublisher(TestNetwork& net, const crypto::Identity& identity,
                                         std::shared_ptr<CountingStore> store) {
  NodeConfig config = TestConfig();
  config.republish_interval = Millis(1000);
  config.published = std::move(store);
  return Network(net, identity, config);
}

enum class StoreKind { kMemory, kSqlite };

class RepublishTest : public ::testing::TestWithParam<StoreKind> {};

// Republishing is paced: each tick starts its share of the records
// (records × tick / interval) and never more Puts at once than the cap, and
// every record is republished within about one interval. The node reads the
// store a page at a time: never more records than the cap on Puts in flight.
TEST_P(RepublishTest, RecordsAreRepublishedAtAPaceWithABoundedNumberInFlight) {
  TempDir dir;
  std::shared_ptr<core::PublishedRecordStore> inner;
  if (GetParam() == StoreKind::kSqlite) {
    inner = std::make_shared<storage::SqlitePublishedRecordStore>(OpenDb(dir));
  } else {
    inner = std::make_shared<MemoryPublishedRecordStore>();
  }
  auto counting = std::make_shared<CountingStore>(inner);
  TestNetwork net;
  NodeConfig paced = TestConfig();
  paced.republish_interval = Millis(3000);
  paced.max_republish_in_flight = 4;
  paced.published = counting;
  const auto identity = crypto::Identity::Generate(testing::kTestPowBits).value();
  auto publisher = Network(net, identity, paced);
  ASSERT_TRUE(publisher);
  constexpr int kRecords = 120;
  const auto now = core::SystemClock().NowUnixMs();
  for (int i = 0; i < kRecords; ++i) {
    auto rec = Claim(identity, i, now + 600'000);
    auto put = net.Await<Result<std::size_t>>([publisher, rec]() { return publisher->Put(rec); });
    ASSERT_OK(put);
  }
  ASSERT_OK_AND_ASSIGN(uint64_t stored, counting->Count());
  EXPECT_EQ(stored, static_cast<uint64_t>(kRecords));
  const uint64_t before = net.Sync([&] { return publisher->stats().records_republished; });
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(net.WaitUntil(
      [&] { return publisher->stats().records_republished >= before + kRecords; }, Millis(30000)))
      << "republished " << net.Sync([&] { return publisher->stats().records_republished; }) - before
      << " of " << kRecords;
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const NodeStats stats = net.Sync([&] { return publisher->stats(); });
  std::printf("republished %d records in %.2f s; at most %llu in one tick, %llu at once\n",
              kRecords, secs, static_cast<unsigned long long>(stats.republish_peak_per_tick),
              static_cast<unsigned long long>(stats.republish_peak_in_flight));
  EXPECT_LE(stats.republish_peak_in_flight, 4u);
  EXPECT_LE(stats.republish_peak_per_tick, 4u);
  EXPECT_GE(stats.republish_peak_per_tick, 1u);
  // Only a page in memory at a time: never more than the Puts a tick may start.
  EXPECT_GT(counting->pages.load(), 0u);
  EXPECT_LE(counting->LargestLimit(), 4u);
  EXPECT_LE(counting->LargestPage(), 4u);
  // Our own records were re-signed with a fresh expiry and written back.
  EXPECT_GE(counting->replaced.load(), static_cast<uint64_t>(kRecords));
  ASSERT_OK_AND_ASSIGN(auto first, counting->ListAfter("", 1));
  ASSERT_EQ(first.size(), 1u);
  EXPECT_GT(first[0].expires_unix_ms, now + 600'000);
}

INSTANTIATE_TEST_SUITE_P(Stores, RepublishTest,
                         ::testing::Values(StoreKind::kMemory, StoreKind::kSqlite),
                         [](const ::testing::TestParamInfo<StoreKind>& info) {
                           return info.param == StoreKind::kSqlite ? "Sqlite" : "Memory";
                         });

// A Put of a record with the same key, type and publisher replaces the
// stored one; records of others that expired are dropped on their turn, ours
// are re-signed; a row that no longer verifies is dropped.
TEST(RepublishStoreTest, ReplacedExpiredAndCorruptRecordsAreHandledOnTheirTurn) {
  TempDir dir;
  auto store = std::make_shared<storage::SqlitePublishedRecordStore>(OpenDb(dir));
  TestNetwork net;
  NodeConfig paced = TestConfig();
  paced.republish_interval = Millis(1000);
  paced.published = store;
  const auto identity = crypto::Identity::Generate(testing::kTestPowBits).value();
  auto publisher = Network(net, identity, paced);
  ASSERT_TRUE(publisher);
  const auto now = core::SystemClock().NowUnixMs();
  // Two versions of the same claim: one row, the newer value.
  for (uint8_t v : {uint8_t{1}, uint8_t{2}}) {
    auto rec = Claim(identity, 1, now + 600'000 + v, v);  // newer: later expiry
    ASSERT_OK(net.Await<Result<std::size_t>>([publisher, rec]() { return publisher->Put(rec); }));
  }
  ASSERT_OK_AND_ASSIGN(uint64_t n, store->Count());
  EXPECT_EQ(n, 1u);
  // Someone else's record, about to run out, and an unreadable row.
  const auto other = crypto::Identity::Generate(testing::kTestPowBits).value();
  auto theirs = Claim(other, 2, now + 300);
  ASSERT_OK(store->Put("theirs", theirs.Encode(), theirs.expires_unix_ms));
  const std::vector<uint8_t> junk{1, 2, 3};
  ASSERT_OK(store->Put("junk", junk, now + 600'000));
  ASSERT_TRUE(net.WaitUntil(
      [&] {
        auto c = store->Count();
        return c.ok() && *c == 1 && publisher->stats().records_republished >= 3;
      },
      Millis(20000)))
      << "records left: " << store->Count().value();
  ASSERT_OK_AND_ASSIGN(auto page, store->ListAfter("", 10));
  ASSERT_EQ(page.size(), 1u);
  ASSERT_OK_AND_ASSIGN(auto kept, Record::ParseVerified(page[0].record));
  EXPECT_EQ(kept.value, (std::vector<uint8_t>{1, 2}));
  EXPECT_EQ(kept.publisher, identity.public_key());
}

// The table survives the node: a node started on the same database file
// republishes what the previous one published, without being told again.
TEST(RepublishStoreTest, RepublishingResumesAfterRestartFromTheDatabase) {
  TempDir dir;
  const auto identity = crypto::Identity::Generate(testing::kTestPowBits).value();
  constexpr int kRecords = 10;
  const auto now = core::SystemClock().NowUnixMs();
  ASSERT_NO_FATAL_FAILURE(PublishThroughANode(dir, identity, kRecords, 1, now + 600'000));
  auto store = CountingStoreOn(dir);
  TestNetwork net;
  auto publisher = RestartedPublisher(net, identity, store);
  ASSERT_TRUE(publisher);
  ASSERT_TRUE(net.WaitUntil(
      [&] { return publisher->stats().records_republished >= static_cast<uint64_t>(kRecords); },
      Millis(20000)));
  EXPECT_EQ(store->puts.load(), 0u) << "nothing was Put again";
  // The other nodes hold the republished claims.
  auto got = net.Await<Result<std::vector<Record>>>(
      [n = net.nodes()[0], key = Claim(identity, 3, now).key]() { return n->Get(key); });
  ASSERT_OK(got);
  EXPECT_FALSE(got->empty());
}

// Each start begins the round at a random key, not the first: a node
// restarted more often than republish_interval still reaches every record.
// With 64 records spread over the key space, six starts beginning at the same
// record by chance has a probability of 64^-5.
TEST(RepublishStoreTest, EachStartBeginsTheRoundAtARandomKey) {
  TempDir dir;
  const auto identity = crypto::Identity::Generate(testing::kTestPowBits).value();
  const auto now = core::SystemClock().NowUnixMs();
  ASSERT_NO_FATAL_FAILURE(PublishThroughANode(dir, identity, 64, 4, now + 600'000));
  std::set<std::string> began;
  for (int start = 0; start < 6; ++start) {
    auto store = CountingStoreOn(dir);
    TestNetwork net;
    auto publisher = RestartedPublisher(net, identity, store);
    ASSERT_TRUE(publisher);
    ASSERT_TRUE(net.WaitUntil([&] { return !store->FirstListed().empty(); }, Millis(20000)));
    began.insert(store->FirstListed());
  }
  EXPECT_GE(began.size(), 2u) << "six starts all began their round at the same record";
}

// A failing disk is logged, not fatal: Put still stores the record at the
// closest nodes, and maintenance carries on.
TEST(RepublishStoreTest, DiskErrorsAreLoggedAndNotFatal) {
  auto failing = std::make_shared<FailingStore>();
  TestNetwork net;
  NodeConfig config = TestConfig();
  config.published = failing;
  const auto identity = crypto::Identity::Generate(testing::kTestPowBits).value();
  auto publisher = Network(net, identity, config);
  ASSERT_TRUE(publisher);
  auto rec = Claim(identity, 1, core::SystemClock().NowUnixMs() + 600'000);
  auto put = net.Await<Result<std::size_t>>([publisher, rec]() { return publisher->Put(rec); });
  ASSERT_OK(put);
  EXPECT_GE(*put, 1u);
  // Several maintenance ticks meet the error (each counts the store).
  const uint64_t seen = failing->calls.load();
  ASSERT_TRUE(net.WaitUntil([&] { return failing->calls.load() >= seen + 5; }, Millis(10000)));
  EXPECT_EQ(net.Sync([&] { return publisher->stats().records_republished; }), 0u);
  auto ping = net.Await<Result<void>>(
      [publisher, peer = net.InfoOf(net.nodes()[0])]() { return publisher->Ping(peer); });
  EXPECT_OK(ping);
}

}  // namespace
}  // namespace tesseras::dht
