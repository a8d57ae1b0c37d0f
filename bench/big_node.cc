// big_node: a node's data dir filled with synthetic but valid content, and
// what holding it costs, measured in process. bench/big_node.py drives it
// (with tesd for start-up, SIGKILL and `tes repair`); the method and the
// figures are in docs/PERFORMANCE.md, "Big nodes (bench/big_node)".
//
//   big_node fill  --data-dir D --tesseras N --peers P [--threads T]
//       N tesseras, each with a plan signed by its owner (one of P throwaway
//       keys, or the node's own key for one in --own-every): of a foreign
//       tessera the node holds one fragment (Small tier, 1-8 KiB, or one in
//       --medium-every a Medium fragment of 256-320 KiB), stored through
//       FsFragmentStore::Store and credited in the ledger; of its own it holds
//       7 tracked holders (addresses where nobody listens), debited in the
//       ledger. P ledger peers.
//   big_node check --data-dir D
//       Reconcile finds nothing to do, sampled fragments verify, sampled plans
//       decode and verify.
//   big_node scrub --data-dir D
//       one whole scrub cycle, unpaced, against plain read(2) of the files.
//   big_node probe --data-dir D [--audits A] [--queries Q] [--dht-peers K] [--net N]
//       index and ledger query latency, audit answers per second and bytes
//       read per audit, scrub throughput against plain read(2) of the same
//       files, and one maintenance pass (ReplicationService::RunRepairPass)
//       over a real DHT of the node and K peers on 127.0.N.1 … 127.0.N+K.1:
//       its time, DHT messages, bytes read and peak RSS.
//
// Each prints one JSON object on stdout; progress goes to stderr. The data dir
// must not be in use by tesd (the fragment store locks it).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "crypto/blake3_hasher.h"
#include "crypto/identity.h"
#include "dht/dht_port_adapter.h"
#include "replication/attestation.h"
#include "replication/dht_records.h"
#include "replication/proof_tree.h"
#include "replication/records.h"
#include "replication/replication_service.h"
#include "storage/blob_store.h"
#include "storage/database.h"
#include "storage/fragment_store.h"
#include "storage/plan_store.h"
#include "storage/published_record_store.h"
#include "storage/reciprocity_ledger.h"
#include "storage/scrub.h"
#include "storage/testing/counting_fragment_store.h"

namespace tesseras {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr int kPowBits = 8;  // tesd's default (dht.pow_bits): the node key it will load
constexpr uint32_t kOwnHolders = 7;

[[noreturn]] void Die(const std::string& what) {
  std::cerr << "big_node: " << what << "\n";
  std::exit(1);
}
template <typename T>
T Must(core::Result<T> r, const char* what) {
  if (!r.ok()) Die(std::string(what) + ": " + r.error().ToString());
  return std::move(r).value();
}
void Must(core::Result<void> r, const char* what) {
  if (!r.ok()) Die(std::string(what) + ": " + r.error().ToString());
}

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

// Peak resident set (VmHWM) and current (VmRSS) of this process, KiB.
uint64_t ProcStatusKib(const char* field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with(field))
      return std::strtoull(line.c_str() + std::strlen(field), nullptr, 10);
  }
  return 0;
}
// Resets VmHWM to the current RSS (Linux clear_refs "5").
void ResetPeakRss() { std::ofstream("/proc/self/clear_refs") << "5"; }

struct Args {
  std::map<std::string, std::string> kv;
  std::string Get(const std::string& k, const std::string& def = "") const {
    auto it = kv.find(k);
    return it == kv.end() ? def : it->second;
  }
  uint64_t Num(const std::string& k, uint64_t def) const {
    auto it = kv.find(k);
    return it == kv.end() ? def : std::strtoull(it->second.c_str(), nullptr, 10);
  }
};

// The stores of a data dir, as tesd opens them.
struct Stores {
  std::shared_ptr<storage::Database> db;
  std::unique_ptr<storage::FsFragmentStore> fragments;
  std::unique_ptr<storage::SqliteReciprocityLedger> ledger;
  std::unique_ptr<storage::SqlitePlanStore> plans;
  std::unique_ptr<storage::FsBlobStore> blobs;

  explicit Stores(const fs::path& dir) {
    db = std::shared_ptr<storage::Database>(
        Must(storage::Database::OpenInDataDir(dir), "open database").release());
    storage::FsFragmentStoreOptions fo;
    fo.min_free_bytes = 0;
    fragments = Must(storage::FsFragmentStore::Open(db, dir, fo), "open fragment store");
    ledger = std::make_unique<storage::SqliteReciprocityLedger>(db);
    plans = std::make_unique<storage::SqlitePlanStore>(db);
    storage::FsBlobStoreOptions bo;
    bo.min_free_bytes = 0;
    blobs = Must(storage::FsBlobStore::Open(dir, bo), "open blob store");
  }
};

std::vector<uint8_t> RandomBytes(std::mt19937_64& rng, std::size_t n) {
  std::vector<uint8_t> v(n);
  for (std::size_t i = 0; i < n; i += 8) {
    uint64_t r = rng();
    for (std::size_t j = i; j < std::min(i + 8, n); ++j, r >>= 8) v[j] = static_cast<uint8_t>(r);
  }
  return v;
}

// ---- fill --------------------------------------------------------------------

int Fill(const Args& a) {
  const fs::path dir = a.Get("--data-dir");
  const uint64_t n = a.Num("--tesseras", 1000);
  const uint64_t peers = std::max<uint64_t>(kOwnHolders, a.Num("--peers", 1000));
  const uint64_t threads = std::max<uint64_t>(1, a.Num("--threads", 4));
  const uint64_t medium_every = a.Num("--medium-every", 100);
  const uint64_t own_every = a.Num("--own-every", 100);
  if (dir.empty()) Die("fill needs --data-dir");
  const auto start = Clock::now();
  fs::create_directories(dir);
  fs::permissions(dir, fs::perms::owner_all);
  const auto self = Must(crypto::Identity::LoadOrCreate(dir / "node.key", kPowBits), "node key");
  Stores s(dir);
  std::vector<crypto::Identity> owners;
  owners.reserve(peers);
  for (uint64_t i = 0; i < peers; ++i) owners.push_back(Must(crypto::Identity::Generate(0), "key"));

  std::atomic<uint64_t> fragments{0}, fragment_bytes{0}, own{0}, done{0};
  auto work = [&](uint64_t t) {
    std::vector<storage::LedgerRecord> credits;
    for (uint64_t i = t; i < n; i += threads) {
      std::mt19937_64 rng(i * 0x9e3779b97f4a7c15ull + 1);
      const bool mine = own_every > 0 && i % own_every == own_every - 1;
      const bool medium = !mine && medium_every > 0 && i % medium_every == 0;
      const crypto::Identity& owner = mine ? self : owners[i % peers];
      core::FragmentTable table;
      const uint64_t size = medium ? (4ull << 20) + rng() % (1ull << 20) : 1024 + rng() % 7168;
      table.plan = Must(core::PlanForSize(size), "plan");
      const uint32_t held = medium ? static_cast<uint32_t>(i % table.plan.total_shards()) : 0;
      const auto bytes = RandomBytes(rng, table.plan.shard_size);
      crypto::Blake3Hasher name;
      name.Update("big node tessera " + std::to_string(i));
      table.tessera = name.Finalize();
      // Our fragment's checksum and proof root; the others' are those of
      // fragments nobody holds (synthetic), but the plan is a real signed plan.
      for (uint32_t f = 0; f < table.plan.total_shards(); ++f) {
        crypto::Blake3Hasher other;
        other.Update("fragment " + std::to_string(f) + " of " + std::to_string(i));
        table.checksums.push_back(other.Finalize());
        table.proof_roots.push_back(table.checksums.back());
      }
      table.checksums[held] = crypto::Blake3(bytes);
      replication::ProofTreeBuilder tree;
      tree.Update(bytes);
      table.proof_roots[held] = replication::MerkleRoot(tree.FinishLeaves());
      const auto plan = replication::SignedPlan::Sign(table, owner);
      Must(s.plans->PutPlan(table.tessera, plan.owner_id(), plan.Encode()), "put plan");
      if (mine) {
        // Ours: placed on 7 peers (addresses where nobody listens), debited.
        std::vector<core::HolderView> holders;
        for (uint32_t h = 0; h < kOwnHolders; ++h) {
          const auto& peer = owners[(i + h * 7919) % peers];
          core::HolderView view{peer.node_id(), "127.0.250." + std::to_string(h + 1) + ":9", {}};
          view.copies.push_back(
              core::CopyHistory{0, std::nullopt, std::nullopt, 0, false, 0, 0, std::nullopt});
          holders.push_back(std::move(view));
          credits.push_back({peer.node_id(), core::LedgerDirection::kTheyStoreForUs, table.tessera,
                             0, table.plan.shard_size});
        }
        std::sort(holders.begin(), holders.end(),
                  [](const auto& x, const auto& y) { return x.holder < y.holder; });
        Must(s.plans->SetHolders(table.tessera, holders), "holders");
        ++own;
      } else {
        core::MemorySource src(bytes);
        Must(s.fragments->Store(table.IdOf(held), bytes.size(), src, plan.owner_id()), "store");
        credits.push_back({plan.owner_id(), core::LedgerDirection::kWeStoreForThem, table.tessera,
                           held, bytes.size()});
        ++fragments;
        fragment_bytes += bytes.size();
      }
      if (credits.size() >= 1000) {
        Must(s.ledger->RecordBatch(credits), "ledger");
        credits.clear();
      }
      if (++done % 10000 == 0) std::cerr << "filled " << done << " of " << n << "\n";
    }
    if (!credits.empty()) Must(s.ledger->RecordBatch(credits), "ledger");
  };
  std::vector<std::thread> pool;
  for (uint64_t t = 0; t < threads; ++t) pool.emplace_back(work, t);
  for (auto& th : pool) th.join();
  std::cout << Json{{"tesseras", n},
                    {"fragments", fragments.load()},
                    {"fragment_bytes", fragment_bytes.load()},
                    {"own", own.load()},
                    {"ledger_peers", peers},
                    {"seconds", Seconds(start)}}
                   .dump()
            << "\n";
  return 0;
}

// ---- check -------------------------------------------------------------------

int Check(const Args& a) {
  const fs::path dir = a.Get("--data-dir");
  Stores s(dir);
  auto walk = Must(s.fragments->Reconcile(), "reconcile");
  uint64_t verified = 0, failed = 0, plans_ok = 0, seen = 0;
  std::optional<core::FragmentKey> after;
  for (;;) {
    auto page = Must(s.fragments->ListAfter(after, 500), "list");
    for (const auto& f : page) {
      if (seen++ % 37 != 0) continue;  // a sample
      if (s.fragments->Verify(f.id.tessera, f.id.index).ok()) {
        ++verified;
      } else {
        ++failed;
      }
      auto bytes = Must(s.plans->GetPlan(f.id.tessera), "plan");
      if (bytes) {
        auto plan = replication::SignedPlan::Decode(*bytes);
        if (plan.ok() && plan->Verify().ok() && plan->table.IdOf(f.id.index) == f.id) ++plans_ok;
      }
    }
    if (page.size() < 500) break;
    after = core::FragmentKey{page.back().id.tessera, page.back().id.index};
  }
  const uint64_t peers = Must(s.ledger->All(), "ledger").size();
  std::cout << Json{{"reconcile_clean", walk.clean()},
                    {"reconcile", walk.ToString()},
                    {"fragments", seen},
                    {"sample_verified", verified},
                    {"sample_failed", failed},
                    {"sample_plans_valid", plans_ok},
                    {"ledger_peers", peers}}
                   .dump()
            << "\n";
  return walk.clean() && failed == 0 && plans_ok == verified ? 0 : 1;
}

// ---- scrub -------------------------------------------------------------------

// A whole scrub cycle (its Reconcile timed on its own as well) against plain
// read(2) of the same files, page cache warm for both (a first read warms it),
// the read run before and after the scrub.
Json ScrubVsRead(Stores& s) {
  auto plain_read = [&]() {
    std::vector<uint8_t> buf(1 << 20);
    uint64_t bytes = 0;
    const auto t = Clock::now();
    std::optional<core::FragmentKey> after;
    for (;;) {
      auto page = Must(s.fragments->ListAfter(after, 1000), "list");
      for (const auto& f : page) {
        int fd = ::open(s.fragments->ShardPath(f.id.tessera, f.id.index).c_str(), O_RDONLY);
        if (fd < 0) continue;
        for (ssize_t r; (r = ::read(fd, buf.data(), buf.size())) > 0;) {
          bytes += static_cast<uint64_t>(r);
        }
        ::close(fd);
      }
      if (page.size() < 1000) break;
      after = core::FragmentKey{page.back().id.tessera, page.back().id.index};
    }
    return std::pair<uint64_t, double>{bytes, Seconds(t)};
  };
  (void)plain_read();  // warm
  auto before = plain_read();
  const auto tr = Clock::now();
  auto walk = Must(s.fragments->Reconcile(), "reconcile");
  const double reconcile_s = Seconds(tr);
  storage::ScrubOptions so;
  so.bytes_per_day = 0;  // no thread: RunFor, unpaced
  auto scrub = Must(storage::Scrubber::Open(s.db, *s.fragments, so), "scrub");
  // A cycle tesd began is finished first; the one timed is whole.
  if (scrub->Status().cycle_started_ms != 0) Must(scrub->RunFor(UINT64_MAX), "scrub");
  const auto ts = Clock::now();
  auto progress = Must(scrub->RunFor(UINT64_MAX), "scrub");
  const double scrub_s = Seconds(ts);
  // The bytes verified (RunFor counts what the budget would be charged).
  const uint64_t scrubbed = scrub->Status().last_cycle_bytes;
  auto after = plain_read();
  const double read_s = (before.second + after.second) / 2;
  return Json{{"bytes", scrubbed},
              {"fragments", progress.fragments},
              {"cycle_finished", progress.cycle_finished},
              {"seconds", scrub_s},
              {"mb_per_s", static_cast<double>(scrubbed) / scrub_s / 1e6},
              {"reconcile_seconds", reconcile_s},
              {"reconcile_clean", walk.clean()},
              {"plain_read_bytes", before.first},
              {"plain_read_seconds", read_s},
              {"plain_read_mb_per_s", static_cast<double>(before.first) / read_s / 1e6},
              {"scrub_over_read", (static_cast<double>(scrubbed) / scrub_s) /
                                      (static_cast<double>(before.first) / read_s)}};
}

int Scrub(const Args& a) {
  Stores s(a.Get("--data-dir"));
  std::cout << ScrubVsRead(s).dump() << "\n";
  return 0;
}

// ---- probe -------------------------------------------------------------------

// Median and 99th percentile of per-call latencies, microseconds.
Json Latency(std::vector<double> us) {
  if (us.empty()) return Json();
  std::sort(us.begin(), us.end());
  return Json{{"median_us", us[us.size() / 2]},
              {"p99_us", us[std::min(us.size() - 1, us.size() * 99 / 100)]},
              {"calls", us.size()}};
}

template <typename F>
Json Time(std::size_t calls, F&& f) {
  std::vector<double> us;
  for (std::size_t i = 0; i < calls; ++i) {
    const auto t = Clock::now();
    f(i);
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t).count());
  }
  return Latency(std::move(us));
}

// Counts the requests the maintenance pass makes of the network.
class CountingDht final : public core::DhtPort {
 public:
  explicit CountingDht(core::DhtPort& inner) : inner_(inner) {}
  core::Result<std::vector<core::PeerInfo>> FindPeers(const core::NodeId& t,
                                                      std::size_t count) override {
    ++lookups;
    return inner_.FindPeers(t, count);
  }
  core::Result<core::ReplicateAck> ReplicateFragment(const core::PeerInfo& p,
                                                     const core::FragmentEnvelope& e,
                                                     core::RandomAccessSource& b) override {
    ++direct;
    return inner_.ReplicateFragment(p, e, b);
  }
  core::Result<core::Attestation> RequestAttestation(
      const core::PeerInfo& p, const core::ContentHash& t, const std::array<uint8_t, 32>& c,
      const std::vector<uint32_t>& i, const std::optional<core::NodeId>& o) override {
    ++direct;
    return inner_.RequestAttestation(p, t, c, i, o);
  }
  core::Result<void> Ping(const core::PeerInfo& p) override {
    ++direct;
    return inner_.Ping(p);
  }
  core::Result<void> FetchFragment(const core::PeerInfo& p, const core::ContentHash& t, uint32_t i,
                                   core::ByteSink& out,
                                   const std::optional<core::NodeId>& owner) override {
    ++direct;
    return inner_.FetchFragment(p, t, i, out, owner);
  }
  core::Result<std::size_t> PutRecord(const core::NodeId& k,
                                      const std::vector<uint8_t>& r) override {
    ++lookups;
    auto stored = inner_.PutRecord(k, r);
    if (stored.ok()) direct += *stored;
    return stored;
  }
  core::Result<std::vector<std::vector<uint8_t>>> GetRecords(const core::NodeId& k) override {
    ++lookups;
    return inner_.GetRecords(k);
  }
  std::atomic<uint64_t> lookups{0};  // iterative lookups (their messages: lookup_rpcs)
  std::atomic<uint64_t> direct{0};   // one request each (and records stored)

 private:
  core::DhtPort& inner_;
};

uint64_t LookupRpcs(dht::DhtRuntime& rt) {
  return Must(
      rt.Run<uint64_t>([](dht::Node& node) -> boost::asio::awaitable<core::Result<uint64_t>> {
        co_return node.stats().lookup_rpcs;
      }),
      "stats");
}

int Probe(const Args& a) {
  const fs::path dir = a.Get("--data-dir");
  const uint64_t audits = a.Num("--audits", 2000);
  const uint64_t queries = a.Num("--queries", 2000);
  const uint64_t dht_peers = a.Num("--dht-peers", 3);
  const uint64_t net = a.Num("--net", 60);
  const auto self = Must(crypto::Identity::LoadOrCreate(dir / "node.key", kPowBits), "node key");
  Stores s(dir);
  Json out;

  // A sample of what is held (reservoir over one walk of the index: memory
  // for the sample only), and of the peers.
  std::mt19937_64 rng(7);
  std::vector<core::StoredFragment> sample;
  uint64_t held = 0;
  {
    std::optional<core::FragmentKey> after;
    for (;;) {
      auto page = Must(s.fragments->ListAfter(after, 1000), "list");
      for (auto& f : page) {
        ++held;
        if (sample.size() < 1000) {
          sample.push_back(f);
        } else if (rng() % held < 1000) {
          sample[rng() % 1000] = f;
        }
      }
      if (page.size() < 1000) break;
      after = core::FragmentKey{page.back().id.tessera, page.back().id.index};
    }
  }
  if (sample.empty()) Die("the data dir holds no fragment");
  const uint64_t bytes_held = Must(s.fragments->TotalBytes(), "total");
  auto best = Must(s.ledger->BestPeers(1000), "peers");
  std::vector<core::ContentHash> own;
  {
    std::optional<core::ContentHash> after;
    for (;;) {
      auto page = Must(s.plans->ListPlansAfter(after, 1000), "plans");
      for (const auto& p : page) {
        if (p.owner == self.node_id() && own.size() < 1000) own.push_back(p.tessera);
      }
      if (page.size() < 1000) break;
      after = page.back().tessera;
    }
  }
  out["fragments"] = held;
  out["bytes_held"] = bytes_held;

  // Queries.
  auto pick = [&](std::size_t i) -> const core::StoredFragment& {
    return sample[(i * 7919) % sample.size()];
  };
  Json q;
  q["fragment_get"] = Time(queries, [&](std::size_t i) {
    Must(s.fragments->Get(pick(i).id.tessera, pick(i).id.index), "get");
  });
  q["fragments_of_tessera"] =
      Time(queries, [&](std::size_t i) { Must(s.fragments->List(pick(i).id.tessera), "list"); });
  q["fragments_page_100"] = Time(queries / 10, [&](std::size_t i) {
    Must(s.fragments->ListAfter(core::FragmentKey{pick(i).id.tessera, pick(i).id.index}, 100),
         "page");
  });
  q["total_bytes"] = Time(queries, [&](std::size_t) { Must(s.fragments->TotalBytes(), "total"); });
  q["plan_get"] =
      Time(queries, [&](std::size_t i) { Must(s.plans->GetPlan(pick(i).id.tessera), "plan"); });
  if (!own.empty()) {
    q["holders_get"] = Time(
        queries, [&](std::size_t i) { Must(s.plans->GetHolders(own[i % own.size()]), "holders"); });
  }
  q["ledger_balance"] = Time(queries, [&](std::size_t i) {
    Must(s.ledger->Balance(best[i % best.size()].peer), "balance");
  });
  q["ledger_best_peers_20"] =
      Time(queries / 10, [&](std::size_t) { Must(s.ledger->BestPeers(20), "best"); });
  out["queries"] = q;

  // Audits: what a holder does to answer one (sign included), through a store
  // that counts what is read.
  storage::testing::CountingFragmentStore counting(*s.fragments);
  core::SystemClock clock;
  replication::ReplicationDeps deps;
  deps.self = &self;
  deps.fragments = &counting;
  deps.ledger = s.ledger.get();
  deps.plans = s.plans.get();
  deps.blobs = s.blobs.get();
  deps.clock = &clock;
  {
    replication::ReplicationService service(deps, replication::ReplicationConfig{});
    const core::PeerInfo requester{core::NodeId{}, "127.0.0.2:1"};
    uint64_t valid = 0;
    const auto t = Clock::now();
    for (uint64_t i = 0; i < audits; ++i) {
      const auto& f = pick(i);
      const auto challenge = replication::FreshChallenge();
      auto att =
          Must(service.HandleAttestationRequest(requester, f.id.tessera, challenge, {f.id.index}),
               "attest");
      if (i < 20) {  // the answers are real: a requester accepts them
        auto plan = Must(service.GetPlan(f.id.tessera), "plan");
        auto check = replication::VerifyAttestation(att, self.node_id(), plan, challenge,
                                                    {f.id.index}, clock.NowUnixMs());
        if (check.ok() && check->proven.size() == 1) ++valid;
      }
    }
    const double secs = Seconds(t);
    out["audits"] = Json{{"answers", audits},
                         {"answers_per_second", static_cast<double>(audits) / secs},
                         {"bytes_read_per_answer",
                          static_cast<double>(counting.bytes_read()) / static_cast<double>(audits)},
                         {"whole_fragment_reads", counting.whole_checks()},
                         {"verified_valid", valid}};
  }

  out["scrub"] = ScrubVsRead(s);

  // One maintenance pass over a real DHT: the node and `dht_peers` peers.
  {
    dht::NodeConfig nc;
    nc.limits.min_pow_bits = 0;
    std::vector<crypto::Identity> peer_ids;
    std::vector<std::unique_ptr<dht::DhtRuntime>> peer_rts;
    std::vector<std::string> seeds;
    for (uint64_t p = 0; p < dht_peers; ++p) {
      peer_ids.push_back(Must(crypto::Identity::Generate(0), "peer key"));
    }
    for (uint64_t p = 0; p < dht_peers; ++p) {
      dht::NodeConfig pc = nc;
      pc.listen_address = "127.0." + std::to_string(net + 1 + p) + ".1:0";
      peer_rts.push_back(Must(dht::DhtRuntime::Start(peer_ids[p], pc, 2), "peer"));
      seeds.push_back(peer_rts.back()->self_info().address);
    }
    dht::NodeConfig mc = nc;
    mc.listen_address = "127.0." + std::to_string(net) + ".1:0";
    // As tesd: the records the node republishes live in its database.
    mc.published = std::make_shared<storage::SqlitePublishedRecordStore>(s.db);
    auto rt = Must(dht::DhtRuntime::Start(self, mc, 4), "node");
    for (uint64_t p = 0; p < peer_rts.size(); ++p) {
      std::vector<std::string> others;
      for (uint64_t o = 0; o < seeds.size(); ++o) {
        if (o != p) others.push_back(seeds[o]);
      }
      if (others.empty()) continue;
      Must(peer_rts[p]->Run<void>([others](dht::Node& node) { return node.Bootstrap(others); }),
           "bootstrap");
    }
    if (!seeds.empty()) {
      Must(rt->Run<void>([seeds](dht::Node& node) { return node.Bootstrap(seeds); }), "bootstrap");
    }
    dht::DhtPortAdapter port(*rt);
    CountingDht dht(port);
    deps.dht = &dht;
    // Records sealed and opened as tesd does (a claim left unsealed would be
    // refused by every peer and published again by every pass).
    replication::UseDhtRecords(deps, self, clock, 24ll * 3600 * 1000);
    replication::ReplicationConfig rc;
    rc.scratch_dir = dir / "tmp-probe";
    fs::create_directories(rc.scratch_dir);
    replication::ReplicationService service(deps, rc);
    // A forced pass (every tessera checked: `tes repair`), then the pass the
    // background loop runs right after it (only what is due).
    for (const bool forced : {true, false}) {
      counting.Reset();
      dht.lookups = 0;
      dht.direct = 0;
      const uint64_t rpcs_before = LookupRpcs(*rt);
      ResetPeakRss();
      const uint64_t rss_before = ProcStatusKib("VmRSS:");
      const auto t = Clock::now();
      auto reports = Must(service.RunRepairPass(forced), "repair pass");
      const double secs = Seconds(t);
      const uint64_t peak = ProcStatusKib("VmHWM:");
      const uint64_t lookup_rpcs = LookupRpcs(*rt) - rpcs_before;
      const auto history = service.pass_history();
      const replication::PassSummary summary =
          history.empty() ? replication::PassSummary{} : history.back();
      std::map<std::string, uint64_t> kinds;  // actions and first problems, digits cut
      for (const auto& r : reports) {
        std::string k = r.action + (r.problems.empty() ? "" : ": " + r.problems[0].substr(0, 60));
        for (auto& c : k) {
          if (std::isdigit(static_cast<unsigned char>(c))) c = '#';
        }
        ++kinds[k];
      }
      out[forced ? "pass" : "pass_due"] = Json{{"dht_peers", dht_peers},
                                               {"forced", forced},
                                               {"checked", summary.checked},
                                               {"repaired", summary.repaired},
                                               {"failed", summary.failed},
                                               {"reports_returned", reports.size()},
                                               {"seconds", secs},
                                               {"lookups", dht.lookups.load()},
                                               {"lookup_rpcs", lookup_rpcs},
                                               {"direct_requests", dht.direct.load()},
                                               {"dht_messages", lookup_rpcs + dht.direct.load()},
                                               {"bytes_read", counting.bytes_read()},
                                               {"whole_fragment_reads", counting.whole_checks()},
                                               {"trusted_checks", counting.trusted_checks()},
                                               {"rss_before_kib", rss_before},
                                               {"peak_rss_kib", peak},
                                               {"reports", kinds}};
    }
    rt->Stop();
    for (auto& p : peer_rts) p->Stop();
    fs::remove_all(rc.scratch_dir);
  }
  std::cout << out.dump() << "\n";
  return 0;
}

int Main(int argc, char** argv) {
  if (argc < 2) Die("usage: big_node fill|check|probe --data-dir D [options]");
  const std::string cmd = argv[1];
  Args a;
  for (int i = 2; i + 1 < argc; i += 2) a.kv[argv[i]] = argv[i + 1];
  if (a.Get("--data-dir").empty()) Die(cmd + " needs --data-dir");
  if (cmd == "fill") return Fill(a);
  if (cmd == "check") return Check(a);
  if (cmd == "probe") return Probe(a);
  if (cmd == "scrub") return Scrub(a);
  Die("unknown command " + cmd);
}

}  // namespace
}  // namespace tesseras

int main(int argc, char** argv) { return tesseras::Main(argc, argv); }
