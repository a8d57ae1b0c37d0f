// Hostile peers against the replication layer of real nodes over real TLS
// (docs/SECURITY.md, section 6): each node runs the DHT on its own loopback
// address 127.0.N.1 with a ReplicationService and its NetworkHandler behind
// the request dispatch (in-memory storage: every byte still crosses a real
// socket). The attacker speaks the protocol with the independent client of
// tests/hostile/attacker.h from its own addresses (127.0.2xx.y). What it sends
// is what an attacker can make: plans it signs itself with the project's
// encoder (FORMAT.md's signed plan and holder record; replication/records.h),
// framed and pushed by the attacker client. Each test prints its figures.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "core/metrics.h"
#include "core/tier.h"
#include "crypto/blake3_hasher.h"
#include "dht/convert.h"
#include "dht/dht_port_adapter.h"
#include "replication/dht_records.h"
#include "replication/fragment_codec.h"
#include "replication/memory_plan_store.h"
#include "replication/network_handler.h"
#include "replication/records.h"
#include "replication/replication_service.h"
#include "replication/testing/hand_encoded.h"
#include "replication/testing/memory_ports.h"
#include "replication/testing/random_bytes.h"
#include "storage/database.h"
#include "storage/fragment_store.h"
#include "storage/plan_store.h"
#include "storage/reciprocity_ledger.h"
#include "tests/hostile/attacker.h"

namespace tesseras {
namespace {

using core::ErrorCode;
using core::Result;
using hostile::Conn;
using replication::testing::MemoryBlobStore;
using replication::testing::MemoryFragmentStore;
using replication::testing::MemoryLedger;
using replication::testing::RandomBytes;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

constexpr int kPowBits = 4;

double SecondsSince(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

int64_t NowMs() {
  return std::chrono::duration_cast<milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

crypto::Identity Mint() { return *crypto::Identity::Generate(kPowBits); }

// ---- what the attacker makes -------------------------------------------------------

// A tessera encoded by the attacker: `payload`'s fragments labelled `label`.
using Encoded = replication::testing::HandEncoded;
constexpr auto EncodeAs = replication::testing::EncodeByHand;

// Replicate{envelope} for fragment i of `table` signed by `plan`.
wire::Envelope ReplicateOf(uint64_t request_id, const core::FragmentTable& table,
                           const replication::SignedPlan& plan, uint32_t i) {
  const core::FragmentEnvelope env = replication::testing::EnvelopeOf(table, plan, i);
  wire::Envelope out;
  out.set_request_id(request_id);
  dht::ToWire(env, out.mutable_replicate()->mutable_envelope());
  return out;
}

// A push as docs/PROTOCOL.md section 6 has it: Replicate, wait for Credit,
// stream the bytes in chunks of at most 256 KiB within the credit, then the
// ReplicateAck (or an Error at any step, returned with its code and reason).
Result<wire::ReplicateAck> Push(Conn& c, const core::FragmentTable& table,
                                const replication::SignedPlan& plan, uint32_t i,
                                const std::vector<uint8_t>& bytes) {
  const uint64_t id = c.NextRequestId();
  TRY(c.Send(ReplicateOf(id, table, plan, i)));
  uint64_t credit = 0, offset = 0;
  auto next = [&]() -> Result<Conn::Frame> {
    for (;;) {
      ASSIGN_OR_RETURN(auto f, c.Read(milliseconds(15000)));
      if (f.env.request_id() != id) continue;
      if (f.env.has_error()) {
        return core::MakeError(static_cast<ErrorCode>(f.env.error().code()),
                               f.env.error().reason());
      }
      return f;
    }
  };
  while (offset < bytes.size()) {
    while (credit == 0) {
      ASSIGN_OR_RETURN(auto f, next());
      if (f.env.has_credit()) credit += f.env.credit().chunks();
    }
    const std::size_t n = std::min<std::size_t>(256 * 1024, bytes.size() - offset);
    TRY(c.SendChunk(id, offset, std::span<const uint8_t>(bytes.data() + offset, n),
                    offset + n == bytes.size()));
    offset += n;
    --credit;
  }
  for (;;) {
    ASSIGN_OR_RETURN(auto f, next());
    if (f.env.has_replicate_ack()) return f.env.replicate_ack();
  }
}

// ---- the network -------------------------------------------------------------------

struct NetNode {
  crypto::Identity identity = Mint();
  MemoryFragmentStore fragments;
  MemoryLedger ledger;
  MemoryBlobStore blobs;
  replication::MemoryPlanStore plans;
  // With real storage (HostileReplicationTest::real_storage_): a SQLite
  // database and the fragment store in the node's own data dir, used instead
  // of the in-memory stores above.
  std::shared_ptr<storage::Database> db;
  std::unique_ptr<storage::FsFragmentStore> fs_fragments;
  std::unique_ptr<storage::SqlitePlanStore> sql_plans;
  std::unique_ptr<storage::SqliteReciprocityLedger> sql_ledger;
  core::FragmentStore* fragment_port = &fragments;
  core::PlanStore* plan_port = &plans;
  core::ReciprocityLedger* ledger_port = &ledger;
  core::SystemClock clock;
  core::MetricsRegistry metrics;
  std::unique_ptr<dht::DhtRuntime> runtime;
  std::unique_ptr<dht::DhtPortAdapter> port;
  std::unique_ptr<replication::ReplicationService> service;
  std::shared_ptr<replication::NetworkHandler> handler;
  std::mutex mu;
  std::vector<std::string> refused;  // what the refusal sink heard, as "event" lines

  std::string address() const { return runtime->self_info().address; }
  core::PeerInfo info() const { return runtime->self_info(); }
  uint64_t Refusals(const std::string& reason) {
    return metrics
        .GetCounter("tesseras_refusals_total", "Requests and fragments refused, by reason",
                    {{"reason", reason}})
        .value();
  }
};

class HostileReplicationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    scratch_ = std::filesystem::temp_directory_path() /
               ("tesseras-hrep-" + std::to_string(::getpid()) + "-" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(scratch_);
  }
  void TearDown() override {
    for (auto& n : nodes_)
      if (n->runtime) n->runtime->Stop();
    nodes_.clear();
    std::filesystem::remove_all(scratch_);
  }

  dht::NodeConfig NodeConfig(const std::string& listen, std::vector<std::string> seeds) {
    dht::NodeConfig c;
    c.listen_address = listen;
    c.seeds = std::move(seeds);
    c.limits.connect_timeout = dht::Millis(1000);
    c.limits.handshake_timeout = dht::Millis(2000);
    c.limits.request_timeout = dht::Millis(10000);
    c.limits.chunk_timeout = chunk_timeout_;
    c.limits.min_pow_bits = kPowBits;
    c.maintenance_tick = dht::Millis(50);
    c.bootstrap_retry = dht::Millis(200);
    return c;
  }

  // Node number `n` on 127.0.(n+1).1, joining through `seed` if not empty.
  NetNode* AddNode(int n, const std::string& seed) {
    auto node = std::make_unique<NetNode>();
    std::vector<std::string> seeds;
    if (!seed.empty()) seeds.push_back(seed);
    auto rt = dht::DhtRuntime::Start(
        node->identity, NodeConfig("127.0." + std::to_string(n + 1) + ".1:0", seeds), 2);
    EXPECT_TRUE(rt.ok()) << rt.error().ToString();
    if (!rt.ok()) return nullptr;
    node->runtime = std::move(*rt);
    node->port = std::make_unique<dht::DhtPortAdapter>(*node->runtime);
    replication::ReplicationConfig cfg = config_;
    cfg.scratch_dir = scratch_ / std::to_string(n);
    if (real_storage_) {
      const auto dir = scratch_ / ("data" + std::to_string(n));
      auto db = storage::Database::OpenInDataDir(dir);
      EXPECT_TRUE(db.ok()) << db.error().ToString();
      if (!db.ok()) return nullptr;
      node->db = std::shared_ptr<storage::Database>(std::move(*db));
      storage::FsFragmentStoreOptions fo;
      fo.min_free_bytes = 64 * core::kMiB;
      auto fs = storage::FsFragmentStore::Open(node->db, dir, fo);
      EXPECT_TRUE(fs.ok()) << fs.error().ToString();
      if (!fs.ok()) return nullptr;
      node->fs_fragments = std::move(*fs);
      node->sql_plans = std::make_unique<storage::SqlitePlanStore>(node->db);
      node->sql_ledger = std::make_unique<storage::SqliteReciprocityLedger>(node->db);
      node->fragment_port = node->fs_fragments.get();
      node->plan_port = node->sql_plans.get();
      node->ledger_port = node->sql_ledger.get();
    }
    replication::ReplicationDeps deps;
    deps.self = &node->identity;
    deps.dht = node->port.get();
    deps.fragments = node->fragment_port;
    deps.ledger = node->ledger_port;
    deps.blobs = &node->blobs;
    deps.plans = node->plan_port;
    deps.clock = &node->clock;
    deps.metrics = &node->metrics;
    deps.self_address = node->runtime->self_info().address;
    replication::UseDhtRecords(deps, node->identity, node->clock, 24 * 3600 * 1000);
    node->service = std::make_unique<replication::ReplicationService>(deps, cfg);
    NetNode* raw = node.get();
    auto sink = [raw](const core::PeerInfo& from, const core::ContentHash& tessera,
                      const core::Error& why) {
      std::lock_guard lock(raw->mu);
      raw->refused.push_back("refused " + tessera.Short() + " from " + from.id.Short() + ": " +
                             why.message);
    };
    node->handler = std::make_shared<replication::NetworkHandler>(*node->service, cfg.scratch_dir,
                                                                  spool_, sink);
    node->runtime->SetReplicationHandler(node->handler);
    nodes_.push_back(std::move(node));
    return raw;
  }

  // `count` nodes; returns once node 0 (and every node) sees all the others.
  void Start(int count) {
    std::string seed;
    for (int i = 0; i < count; ++i) {
      ASSERT_NE(AddNode(i, seed), nullptr);
      if (seed.empty()) seed = nodes_[0]->address();
    }
    for (auto& n : nodes_) WaitToSee(*n, static_cast<std::size_t>(count - 1));
  }

  void WaitToSee(NetNode& n, std::size_t peers) {
    auto deadline = Clock::now() + std::chrono::seconds(30);
    for (;;) {
      auto found = n.port->FindPeers(n.identity.node_id(), 200);
      if (found.ok() && found->size() >= peers) return;
      ASSERT_LT(Clock::now(), deadline) << "network did not converge";
      std::this_thread::sleep_for(milliseconds(100));  // polling a condition
    }
  }

  template <typename F>
  bool WaitUntil(F f, milliseconds limit) {
    auto deadline = Clock::now() + limit;
    while (!f()) {
      if (Clock::now() > deadline) return false;
      std::this_thread::sleep_for(milliseconds(20));  // polling a condition
    }
    return true;
  }

  core::ContentHash Publish(NetNode& owner, const std::vector<uint8_t>& payload) {
    auto hash = crypto::Blake3(payload);
    core::MemorySource src(payload);
    EXPECT_TRUE(owner.blobs.Put(hash, payload.size(), src).ok());
    return hash;
  }

  NetNode* ById(const core::NodeId& id) {
    for (auto& n : nodes_)
      if (n->identity.node_id() == id) return n.get();
    return nullptr;
  }

  // The attacker's connection from `ip`, greeted as `id`.
  std::unique_ptr<Conn> Connect(const std::string& ip, NetNode& to, const crypto::Identity& id) {
    auto c = Conn::Dial(ip, to.address());
    EXPECT_TRUE(c.ok()) << c.error().ToString();
    if (!c.ok()) return nullptr;
    auto hello = (*c)->Greet(id);
    EXPECT_TRUE(hello.ok()) << hello.error().ToString();
    if (!hello.ok()) return nullptr;
    return std::move(c).value();
  }

  std::filesystem::path scratch_;
  replication::ReplicationConfig config_;
  replication::SpoolLimits spool_;
  bool real_storage_ = false;  // SQLite and FsFragmentStore per node, in scratch_
  dht::Millis chunk_timeout_{10000};
  std::vector<std::unique_ptr<NetNode>> nodes_;
};

// (a) A fresh identity stores, at every node, a holder record for a real
// tessera's hash with version 2^64 - 1: its own plan (junk labelled with the
// hash), naming the real holders and more, so that it is tried first. The
// owner goes away; a fresh node restores the tessera bit-exactly, and the
// forged plan costs it exactly one rejected attempt.
TEST_F(HostileReplicationTest, ForgedHolderRecordCostsOneAttemptAndRestoresBitExact) {
  config_.max_per_subnet = 2;
  Start(13);
  NetNode& owner = *nodes_[0];
  auto payload = RandomBytes(5 * core::kMiB, 71);
  auto hash = Publish(owner, payload);
  auto report = owner.service->ReplicateTessera(hash);
  ASSERT_TRUE(report.ok()) << report.error().ToString();
  ASSERT_EQ(report->fragments_placed(), 24u);

  // The forgery: a plan of other bytes for the same hash, signed by a fresh
  // identity, and a record naming the 12 real holders plus 8 made-up ones
  // (more claimants than the owner's plan has).
  auto attacker = Mint();
  Encoded junk = EncodeAs(RandomBytes(5 * core::kMiB, 72), hash);
  auto plan = replication::SignedPlan::Sign(junk.table, attacker);
  std::vector<replication::HolderEntry> listed;
  uint32_t next = 0;
  for (std::size_t n = 1; n < nodes_.size(); ++n) {
    listed.push_back({nodes_[n]->identity.node_id(), nodes_[n]->address(), {next, next + 1}});
    next = (next + 2) % 24;
  }
  for (int i = 0; i < 8; ++i) {
    listed.push_back({Mint().node_id(), "127.0.210." + std::to_string(i + 1) + ":9", {next}});
    next = (next + 1) % 24;
  }
  auto record =
      replication::HolderRecord::Sign(plan, UINT64_MAX, std::move(listed), attacker).Encode();
  auto sealed = hostile::SignRecord(attacker, replication::kHolderRecordType, core::KeyFor(hash),
                                    record, NowMs() + 3'600'000);
  std::size_t stored = 0;
  for (auto& n : nodes_) {
    auto c = Connect("127.0.211.1", *n, attacker);
    ASSERT_NE(c, nullptr);
    ASSERT_TRUE(c->Send(hostile::Store(c->NextRequestId(), sealed)).ok());
    auto f = c->Read();
    ASSERT_TRUE(f.ok()) << f.error().ToString();
    stored += f->env.has_stored();
  }
  ASSERT_GE(stored, 1u) << "no node kept the forged record: the test would show nothing";

  owner.runtime->Stop();
  NetNode* fresh = AddNode(13, nodes_[1]->address());
  ASSERT_NE(fresh, nullptr);
  WaitToSee(*fresh, 12);
  auto t0 = Clock::now();
  core::MemorySink out;
  auto r = fresh->service->FetchTessera(hash, static_cast<core::RandomAccessSink&>(out));
  const double took = SecondsSince(t0);
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_TRUE(out.bytes() == payload) << "restored bytes differ";
  EXPECT_EQ(r->owner, owner.identity.node_id());
  ASSERT_EQ(r->rejected_plans.size(), 1u);  // the forgery, tried first, failed once
  EXPECT_NE(r->rejected_plans[0].find(attacker.node_id().Short()), std::string::npos)
      << r->rejected_plans[0];
  std::printf(
      "forged holder record (version 2^64-1, 20 claimants): stored at %zu of %zu nodes; a fresh "
      "node restored %zu bytes bit-exactly in %.2f s after %zu rejected plan (%s)\n",
      stored, nodes_.size() - 1, payload.size(), took, r->rejected_plans.size(),
      r->rejected_plans[0].c_str());
}

// (b) Squatting: before the owner publishes, the attacker pushes fragment 0
// of its own smallest Medium plan for the owner's hash to the 6 nodes closest
// to the hash and to the owner's own node. Every node runs on real storage
// (SQLite, FsFragmentStore). The squatted nodes keep the owner's fragments
// beside the squatter's plan (under the owner's plan slot): the owner places
// all 24 on the closest nodes, squatted or not, its audit proves every one,
// and a fresh node restores bit-exactly.
TEST_F(HostileReplicationTest, SquattingLeavesTheOwnerFullRedundancy) {
  config_.max_per_subnet = 2;
  real_storage_ = true;
  Start(20);
  NetNode& owner = *nodes_[0];
  auto payload = RandomBytes(5 * core::kMiB, 81);
  const auto hash = crypto::Blake3(payload);
  auto attacker = Mint();
  Encoded junk = EncodeAs(std::vector<uint8_t>(4 * core::kMiB + 1, 0x5a), hash);
  auto plan = replication::SignedPlan::Sign(junk.table, attacker);
  // The nodes closest to the hash (the attacker learns them by lookups; the
  // test knows them).
  std::vector<NetNode*> by_distance;
  for (auto& n : nodes_)
    if (n.get() != &owner) by_distance.push_back(n.get());
  const core::NodeId key = core::KeyFor(hash);
  std::sort(by_distance.begin(), by_distance.end(), [&](NetNode* a, NetNode* b) {
    return core::XorDistance(a->identity.node_id(), key) <
           core::XorDistance(b->identity.node_id(), key);
  });
  std::vector<NetNode*> targets(by_distance.begin(), by_distance.begin() + 6);
  targets.push_back(&owner);
  std::set<core::NodeId> squatted;
  for (NetNode* t : targets) {
    auto c = Connect("127.0.212.1", *t, attacker);
    ASSERT_NE(c, nullptr);
    auto ack = Push(*c, junk.table, plan, 0, junk.fragments[0].bytes());
    if (ack.ok()) squatted.insert(t->identity.node_id());
  }
  ASSERT_EQ(squatted.size(), 7u);
  ASSERT_TRUE(owner.fragment_port->Get(hash, 0).ok());  // the squatter's fragment, at the owner
  squatted.erase(owner.identity.node_id());

  Publish(owner, payload);
  auto t0 = Clock::now();
  auto report = owner.service->ReplicateTessera(hash);
  const double took = SecondsSince(t0);
  ASSERT_TRUE(report.ok()) << report.error().ToString();
  EXPECT_TRUE(report->complete());
  EXPECT_EQ(report->fragments_placed(), 24u);
  // The squatted nodes hold the owner's fragments under its plan slot, and
  // still the squatter's under the hash: neither claim excluded the other.
  std::size_t on_squatted = 0, owner_fragments_on_squatted = 0;
  for (const auto& h : report->holders) {
    if (!squatted.count(h.holder)) continue;
    ++on_squatted;
    NetNode* t = nullptr;
    for (auto& n : nodes_)
      if (n->identity.node_id() == h.holder) t = n.get();
    ASSERT_NE(t, nullptr);
    const core::ContentHash slot =
        replication::PlanSlot(t->identity, hash, owner.identity.node_id());
    for (uint32_t i : h.indices) {
      EXPECT_TRUE(t->fragment_port->Get(slot, i).ok()) << i;
      owner_fragments_on_squatted += t->fragment_port->Get(slot, i).ok();
    }
    EXPECT_TRUE(t->fragment_port->Get(hash, 0).ok());
    EXPECT_EQ(*t->plan_port->CountPlansOf(hash), 2u);
  }
  EXPECT_EQ(on_squatted, squatted.size());  // the closest nodes hold, squatted or not
  uint64_t plans_refused = 0;
  for (NetNode* t : targets) plans_refused += t->Refusals("plans_per_tessera");
  EXPECT_EQ(plans_refused, 0u);
  auto health = owner.service->CheckTesseraHealth(hash);
  ASSERT_TRUE(health.ok()) << health.error().ToString();
  EXPECT_EQ(health->state, replication::HealthState::kHealthy);
  EXPECT_EQ(health->fragments_verified, 24u);

  owner.runtime->Stop();
  NetNode* fresh = AddNode(20, nodes_[1]->address());
  ASSERT_NE(fresh, nullptr);
  WaitToSee(*fresh, 19);
  core::MemorySink out;
  auto r = fresh->service->FetchTessera(hash, static_cast<core::RandomAccessSink&>(out));
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_TRUE(out.bytes() == payload) << "restored bytes differ";
  EXPECT_LE(r->rejected_plans.size(), 1u);
  std::printf(
      "squatting (SQLite + FsFragmentStore): 7 nodes squatted (the 6 closest and the owner's) with "
      "a %zu-byte plan; the owner placed %zu of 24 on %zu holders in %.2f s, %zu of them on %zu "
      "squatted nodes beside the squatter's plan; audit %zu/24 verified; fresh node restored "
      "bit-exactly after %zu rejected plans\n",
      junk.fragments[0].bytes().size(), static_cast<std::size_t>(report->fragments_placed()),
      report->holders.size(), took, owner_fragments_on_squatted, on_squatted,
      static_cast<std::size_t>(health->fragments_verified), r->rejected_plans.size());
}

// (b2) Many claimants of one hash: ids each push a fragment of their own plan
// for the same hash to one node on real storage. It keeps
// max_plans_per_tessera (3 here) distinct plans side by side, refuses the rest
// with resource_exhausted, counted as `plans_per_tessera`, and a plan it
// already keeps still takes more fragments.
TEST_F(HostileReplicationTest, PlansPerHashAreCappedAtAHolder) {
  config_.max_plans_per_tessera = 3;
  real_storage_ = true;
  Start(2);
  NetNode& victim = *nodes_[1];
  const auto hash = crypto::Blake3(RandomBytes(64, 82));
  Encoded junk = EncodeAs(std::vector<uint8_t>(4 * core::kMiB + 1, 0x3c), hash);
  std::size_t kept = 0, refused = 0;
  std::string why;
  std::vector<crypto::Identity> ids;
  for (int i = 0; i < 6; ++i) ids.push_back(Mint());
  for (std::size_t i = 0; i < ids.size(); ++i) {
    auto plan = replication::SignedPlan::Sign(junk.table, ids[i]);
    auto c = Connect("127.0.213." + std::to_string(i + 1), victim, ids[i]);
    ASSERT_NE(c, nullptr);
    auto ack = Push(*c, junk.table, plan, 0, junk.fragments[0].bytes());
    if (ack.ok()) {
      ++kept;
    } else {
      ++refused;
      EXPECT_EQ(ack.error().code, ErrorCode::kResourceExhausted) << ack.error().ToString();
      why = ack.error().message;
    }
  }
  EXPECT_EQ(kept, 3u);
  EXPECT_EQ(refused, 3u);
  EXPECT_NE(why.find("max_plans_per_tessera"), std::string::npos) << why;
  EXPECT_EQ(victim.Refusals("plans_per_tessera"), 3u);
  EXPECT_EQ(*victim.plan_port->CountPlansOf(hash), 3u);
  // The first id's plan is the one under the hash; the second keeps growing.
  EXPECT_TRUE(victim.fragment_port->Get(hash, 0).ok());
  {
    auto plan = replication::SignedPlan::Sign(junk.table, ids[1]);
    auto c = Connect("127.0.213.2", victim, ids[1]);
    ASSERT_NE(c, nullptr);
    auto ack = Push(*c, junk.table, plan, 1, junk.fragments[1].bytes());
    ASSERT_TRUE(ack.ok()) << ack.error().ToString();
    EXPECT_EQ(ack->held_indices_size(), 2);
  }
  EXPECT_EQ(*victim.plan_port->CountPlansOf(hash), 3u);
  std::printf(
      "plans per hash: 6 ids claimed one hash at one node: %zu plans kept side by side, "
      "%zu refused (plans_per_tessera = %llu, cap 3): %s\n",
      kept, refused, static_cast<unsigned long long>(victim.Refusals("plans_per_tessera")),
      why.c_str());
}

// (c) Spool flood: 12 identities on 3 IPs each declare 2 fragments of 1.25 MiB
// (their own Medium plans) and never send a byte. Reservations stay within
// max_spool_bytes (4 MiB here), the refusals say why and are counted; an
// honest push that fits lands during the flood, and once the chunk timeout
// has ended the stalled transfers an honest Medium publish lands in full.
TEST_F(HostileReplicationTest, SpoolFloodStaysUnderTheCapAndHonestPushesLand) {
  spool_.max_bytes = 4ull << 20;
  chunk_timeout_ = dht::Millis(2000);
  config_.max_per_subnet = 2;
  Start(13);
  NetNode& owner = *nodes_[0];
  NetNode& victim = *nodes_[1];

  struct Declared {
    std::unique_ptr<Conn> conn;
    crypto::Identity id;
    Encoded junk;
    replication::SignedPlan plan;
  };
  std::vector<Declared> flood;
  for (int ip = 0; ip < 3; ++ip) {
    for (int i = 0; i < 4; ++i) {
      Declared d{nullptr, Mint(), {}, {}};
      core::ContentHash label;
      label.bytes.fill(static_cast<uint8_t>(40 + ip * 4 + i));
      d.junk = EncodeAs(RandomBytes(20 * core::kMiB, static_cast<uint64_t>(ip * 4 + i)), label);
      d.plan = replication::SignedPlan::Sign(d.junk.table, d.id);
      d.conn = Connect("127.0." + std::to_string(213 + ip) + ".1", victim, d.id);
      ASSERT_NE(d.conn, nullptr);
      flood.push_back(std::move(d));
    }
  }
  const uint64_t shard = flood[0].junk.table.plan.shard_size;
  std::size_t sent = 0;
  for (auto& d : flood) {
    for (uint32_t f = 0; f < 2; ++f) {
      ASSERT_TRUE(d.conn->Send(ReplicateOf(d.conn->NextRequestId(), d.junk.table, d.plan, f)).ok());
      ++sent;
    }
  }
  std::size_t credited = 0, spool_refused = 0, slot_refused = 0;
  uint64_t peak = 0;
  for (auto& d : flood) {
    for (int k = 0; k < 2; ++k) {
      auto f = d.conn->Read(milliseconds(8000));
      ASSERT_TRUE(f.ok()) << f.error().ToString();
      peak = std::max(peak, victim.handler->spool_reserved());
      if (f->env.has_credit()) ++credited;
      if (f->env.has_error()) {
        EXPECT_EQ(f->env.error().code(), static_cast<uint32_t>(ErrorCode::kResourceExhausted));
        if (f->env.error().reason().find("max_spool_bytes") != std::string::npos) {
          ++spool_refused;
        } else {
          ++slot_refused;
        }
      }
    }
  }
  EXPECT_LE(peak, spool_.max_bytes);
  EXPECT_EQ(credited, static_cast<std::size_t>(spool_.max_bytes / shard));
  EXPECT_GE(spool_refused, 1u);
  EXPECT_EQ(credited + spool_refused + slot_refused, sent);
  EXPECT_EQ(victim.Refusals("spool_full"), spool_refused);
  std::size_t events_with_reason = 0;
  {
    std::lock_guard lock(victim.mu);
    for (const auto& e : victim.refused) events_with_reason += e.find("max_spool_bytes") != e.npos;
  }
  EXPECT_EQ(events_with_reason, spool_refused);

  // During the flood: the honest owner pushes a small tessera (100 kB) to the
  // victim itself; it fits what is left.
  auto small = RandomBytes(100'000, 91);
  const auto small_hash = crypto::Blake3(small);
  Encoded honest = EncodeAs(small, small_hash);
  auto honest_plan = replication::SignedPlan::Sign(honest.table, owner.identity);
  core::FragmentEnvelope honest_env;
  honest_env.id = honest.table.IdOf(0);
  honest_env.table = honest.table;
  honest_env.owner_public_key = honest_plan.owner;
  honest_env.plan_signature.assign(honest_plan.signature.begin(), honest_plan.signature.end());
  core::MemorySource honest_bytes(honest.fragments[0].bytes());
  auto during = owner.port->ReplicateFragment(victim.info(), honest_env, honest_bytes);
  ASSERT_TRUE(during.ok()) << "the honest push was refused: " << during.error().ToString();
  EXPECT_TRUE(victim.fragments.Get(small_hash, 0).ok());
  // The stalled transfers end at the chunk timeout; their reservations go.
  auto t0 = Clock::now();
  ASSERT_TRUE(WaitUntil([&] { return victim.handler->spool_reserved() == 0; }, milliseconds(15000)))
      << victim.handler->spool_reserved() << " bytes still reserved";
  const double released = SecondsSince(t0);
  auto medium = RandomBytes(5 * core::kMiB, 92);
  auto medium_hash = Publish(owner, medium);
  auto after = owner.service->ReplicateTessera(medium_hash);
  ASSERT_TRUE(after.ok()) << after.error().ToString();
  EXPECT_EQ(after->fragments_placed(), 24u);
  EXPECT_FALSE(victim.fragments.List(medium_hash)->empty());
  std::printf(
      "spool flood: %zu declared fragments of %llu bytes from 12 ids on 3 IPs, never sent: %zu "
      "admitted, peak reservation %llu of %llu bytes, %zu refused spool_full (counted %llu, %zu "
      "events with the reason), %zu refused for transfer slots; honest 100 kB push landed "
      "during the flood; reservations released %.2f s later; honest Medium placed %zu/24\n",
      sent, static_cast<unsigned long long>(shard), credited, static_cast<unsigned long long>(peak),
      static_cast<unsigned long long>(spool_.max_bytes), spool_refused,
      static_cast<unsigned long long>(victim.Refusals("spool_full")), events_with_reason,
      slot_refused, released, static_cast<std::size_t>(after->fragments_placed()));
}

// (d) Tiny-plan flood: 32 cheap identities on 4 IPs push 8 plans of 4 bytes
// each. Each fragment is charged min_fragment_charge_bytes (64 KiB) and a
// stranger's allowance is 4 of them here, so exactly 4 per identity are kept
// and the rest refused (new_owner_allowance); the victim's repair pass over
// what it keeps finishes in bounded time, and an honest owner's audit of the
// victim passes.
TEST_F(HostileReplicationTest, TinyPlanFloodIsBoundedByTheChargeAndTheAllowance) {
  config_.min_fragment_charge_bytes = 64 << 10;
  config_.new_owner_allowance_bytes = 4 * (64 << 10);
  config_.max_per_subnet = 2;
  Start(8);
  NetNode& owner = *nodes_[0];
  NetNode& victim = *nodes_[1];
  auto payload = RandomBytes(200'000, 101);
  auto hash = Publish(owner, payload);
  auto placed = owner.service->ReplicateTessera(hash);
  ASSERT_TRUE(placed.ok()) << placed.error().ToString();
  ASSERT_TRUE(victim.fragments.Get(hash, 0).ok());

  constexpr int kIds = 32, kPlans = 8;
  const uint64_t per_id =
      config_.new_owner_allowance_bytes / config_.min_fragment_charge_bytes;  // 4
  std::atomic<std::size_t> kept{0}, refused_allowance{0}, refused_other{0};
  std::vector<crypto::Identity> ids;
  for (int i = 0; i < kIds; ++i) ids.push_back(Mint());
  auto t0 = Clock::now();
  std::vector<std::thread> threads;
  for (int ip = 0; ip < 4; ++ip) {
    threads.emplace_back([&, ip] {
      for (int i = ip * 8; i < ip * 8 + 8; ++i) {
        auto c = Conn::Dial("127.0." + std::to_string(216 + ip) + ".1", victim.address());
        if (!c.ok() || !(*c)->Greet(ids[static_cast<std::size_t>(i)]).ok()) {
          ++refused_other;
          continue;
        }
        for (int p = 0; p < kPlans; ++p) {
          std::vector<uint8_t> tiny = {static_cast<uint8_t>(i), static_cast<uint8_t>(p), 0x7e,
                                       0x11};
          Encoded e = EncodeAs(tiny, crypto::Blake3(tiny));
          auto plan = replication::SignedPlan::Sign(e.table, ids[static_cast<std::size_t>(i)]);
          auto ack = Push(**c, e.table, plan, 0, e.fragments[0].bytes());
          if (ack.ok()) {
            ++kept;
          } else if (ack.error().message.find("allowance") != std::string::npos) {
            ++refused_allowance;
          } else {
            ++refused_other;
          }
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  const double flood_s = SecondsSince(t0);
  EXPECT_EQ(kept.load(), kIds * per_id);
  EXPECT_EQ(refused_allowance.load(), kIds * kPlans - kIds * per_id);
  EXPECT_EQ(refused_other.load(), 0u);
  EXPECT_EQ(victim.Refusals("new_owner_allowance"), refused_allowance.load());
  uint64_t charged_max = 0;
  for (const auto& id : ids) {
    charged_max = std::max(charged_max, victim.ledger.Balance(id.node_id())->bytes_stored_for_them);
  }
  EXPECT_EQ(charged_max, config_.new_owner_allowance_bytes);

  // The victim's pass over everything it keeps (forced: every tessera).
  auto p0 = Clock::now();
  auto pass = victim.service->RunRepairPass(/*forced=*/true);
  const double pass_s = SecondsSince(p0);
  ASSERT_TRUE(pass.ok()) << pass.error().ToString();
  auto history = victim.service->pass_history();
  ASSERT_FALSE(history.empty());
  const auto& last = history.back();
  EXPECT_LE(pass->size(), replication::ReplicationService::kMaxPassReports);
  EXPECT_LE(last.checked, kIds * per_id + 1);  // what it keeps, no more
  EXPECT_LT(pass_s, 120.0);
  // The honest owner's audit of the victim still passes.
  auto health = owner.service->CheckTesseraHealth(hash);
  ASSERT_TRUE(health.ok()) << health.error().ToString();
  bool victim_proved = false;
  for (const auto& h : health->holders) {
    if (h.entry.holder == victim.identity.node_id()) {
      victim_proved = h.proven == std::vector<uint32_t>{0};
    }
  }
  EXPECT_TRUE(victim_proved);
  EXPECT_EQ(health->state, replication::HealthState::kHealthy);
  std::printf(
      "tiny-plan flood: %d ids on 4 IPs pushed %d plans of 4 bytes in %.2f s: %zu kept (bound "
      "%llu = ids x allowance / 64 KiB charge), %zu refused new_owner_allowance, most charged "
      "to one id %llu bytes; the victim's forced pass checked %zu tesseras in %.2f s (%zu "
      "reports); the owner's audit: %s\n",
      kIds, kIds * kPlans, flood_s, kept.load(), static_cast<unsigned long long>(kIds * per_id),
      refused_allowance.load(), static_cast<unsigned long long>(charged_max), last.checked, pass_s,
      pass->size(), victim_proved ? "victim proved its copy" : "FAILED");
}

// The global cap: three cheap identities, each well within its own
// allowance (8 charges of 64 KiB), push tiny plans to a node that stores at
// most 10 charges for all others together (max_bytes_for_others). The first
// 10 fragments are kept, every later one refused with the reason
// (others_full, counted, and a "refused" event), whoever sends it.
TEST_F(HostileReplicationTest, BytesStoredForAllOthersAreCapped) {
  config_.min_fragment_charge_bytes = 64 << 10;
  config_.new_owner_allowance_bytes = 8 * (64 << 10);
  config_.max_bytes_for_others = 10 * (64 << 10);
  Start(2);
  NetNode& victim = *nodes_[1];
  std::size_t kept = 0, refused_cap = 0, refused_other = 0;
  for (int i = 0; i < 3; ++i) {
    auto id = Mint();
    auto c = Connect("127.0." + std::to_string(220 + i) + ".1", victim, id);
    ASSERT_NE(c, nullptr);
    for (int p = 0; p < 6; ++p) {
      std::vector<uint8_t> tiny = {static_cast<uint8_t>(i), static_cast<uint8_t>(p), 0x3c};
      Encoded e = EncodeAs(tiny, crypto::Blake3(tiny));
      auto plan = replication::SignedPlan::Sign(e.table, id);
      auto ack = Push(*c, e.table, plan, 0, e.fragments[0].bytes());
      if (ack.ok()) {
        ++kept;
      } else if (ack.error().code == ErrorCode::kResourceExhausted &&
                 ack.error().message.find("max_bytes_for_others") != std::string::npos) {
        ++refused_cap;
      } else {
        ++refused_other;
        ADD_FAILURE() << ack.error().ToString();
      }
    }
  }
  uint64_t for_others = 0;
  auto everyone = victim.ledger.All();  // named: the loop must not outlive it
  ASSERT_TRUE(everyone.ok());
  for (const auto& e : *everyone) for_others += e.bytes_stored_for_them;
  EXPECT_EQ(kept, 10u);
  EXPECT_EQ(refused_cap, 8u);
  EXPECT_EQ(refused_other, 0u);
  EXPECT_EQ(for_others, config_.max_bytes_for_others);
  EXPECT_EQ(victim.Refusals("others_full"), refused_cap);
  std::size_t events = 0;
  {
    std::lock_guard lock(victim.mu);
    for (const auto& e : victim.refused) events += e.find("max_bytes_for_others") != e.npos;
  }
  EXPECT_EQ(events, refused_cap);
  std::printf(
      "global cap: 3 ids x 6 tiny plans, each id within its allowance: %zu kept, %zu refused "
      "others_full (%zu events), %llu bytes charged for others (cap %llu)\n",
      kept, refused_cap, events, static_cast<unsigned long long>(for_others),
      static_cast<unsigned long long>(config_.max_bytes_for_others));
}

}  // namespace
}  // namespace tesseras
