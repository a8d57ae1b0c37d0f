#include "sim/full_stack.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <unordered_map>

#include "crypto/blake3_hasher.h"
#include "replication/records.h"
#include "replication/testing/random_bytes.h"
#include "replication/testing/sim_network.h"
#include "sim/world.h"

namespace tesseras::sim {
namespace {

using replication::testing::SimNetwork;
using replication::testing::SimNode;

// What the services sent, counted from the real message sizes (wire_costs.h).
struct Traffic {
  std::atomic<uint64_t> publish{0}, fetch{0}, push{0}, audit{0}, record{0}, restore{0};
  std::atomic<uint64_t> lookups{0}, transfers_failed{0}, pushes{0}, pushes_held{0};
};

enum class Phase { kPublish, kRun, kRestore };

class CountingSink final : public core::ByteSink {
 public:
  explicit CountingSink(core::ByteSink& inner) : inner_(inner) {}
  core::Result<void> Write(std::span<const uint8_t> data) override {
    bytes += data.size();
    return inner_.Write(data);
  }
  core::Result<void> Finish() override { return inner_.Finish(); }
  uint64_t bytes = 0;

 private:
  core::ByteSink& inner_;
};

// The in-process network's DhtPort with every exchange's bytes counted. What
// is counted is what the real transport would send for the same call.
class CountingDht final : public core::DhtPort {
 public:
  CountingDht(std::unique_ptr<core::DhtPort> inner, SimNetwork& net, Traffic& t, const Phase& phase)
      : inner_(std::move(inner)), net_(net), t_(t), phase_(phase) {}

  core::Result<std::vector<core::PeerInfo>> FindPeers(const core::NodeId& target,
                                                      std::size_t count) override {
    ++t_.lookups;
    return inner_->FindPeers(target, count);
  }
  core::Result<core::ReplicateAck> ReplicateFragment(const core::PeerInfo& peer,
                                                     const core::FragmentEnvelope& env,
                                                     core::RandomAccessSource& bytes) override {
    // Whether the receiver already holds it decides what crosses the wire
    // (the Replicate and its ack only); read from the receiver's store
    // before the call, for the count alone.
    bool held = false;
    if (SimNode* to = net_.Find(peer.id)) {
      held = to->fragments.Get(env.id.tessera, env.id.index).ok();
    }
    auto ack = inner_->ReplicateFragment(peer, env, bytes);
    if (!ack.ok()) {
      ++t_.transfers_failed;
      return ack;
    }
    auto wire = PushWireBytes(env, *ack, held);
    if (wire.ok()) {
      (phase_ == Phase::kPublish ? t_.publish : t_.push) += *wire;
    }
    ++(held ? t_.pushes_held : t_.pushes);
    return ack;
  }
  core::Result<core::Attestation> RequestAttestation(
      const core::PeerInfo& peer, const core::ContentHash& tessera,
      const std::array<uint8_t, 32>& challenge, const std::vector<uint32_t>& indices,
      const std::optional<core::NodeId>& owner) override {
    if (auto req = AttestRequestFrameBytes(tessera, challenge, indices); req.ok()) {
      t_.audit += WithTlsRecords(*req);
    }
    auto answer = inner_->RequestAttestation(peer, tessera, challenge, indices, owner);
    if (answer.ok()) {
      if (auto resp = AttestResponseFrameBytes(*answer); resp.ok()) {
        t_.audit += WithTlsRecords(*resp);
      }
    }
    return answer;
  }
  core::Result<void> Ping(const core::PeerInfo& peer) override { return inner_->Ping(peer); }
  core::Result<void> FetchFragment(const core::PeerInfo& peer, const core::ContentHash& tessera,
                                   uint32_t index, core::ByteSink& out,
                                   const std::optional<core::NodeId>& owner) override {
    CountingSink counted(out);
    auto r = inner_->FetchFragment(peer, tessera, index, counted, owner);
    if (!r.ok()) {
      ++t_.transfers_failed;
      return r;
    }
    if (auto wire = FetchWireBytes(tessera, index, counted.bytes); wire.ok()) {
      (phase_ == Phase::kRestore ? t_.restore : t_.fetch) += *wire;
    }
    return r;
  }
  core::Result<std::size_t> PutRecord(const core::NodeId& key,
                                      const std::vector<uint8_t>& record) override {
    auto stored = inner_->PutRecord(key, record);
    if (stored.ok()) {
      if (auto wire = RecordStoreWireBytes(record); wire.ok()) {
        t_.record += *wire * static_cast<uint64_t>(*stored);
      }
    }
    return stored;
  }
  core::Result<std::vector<std::vector<uint8_t>>> GetRecords(const core::NodeId& key) override {
    ++t_.lookups;
    return inner_->GetRecords(key);
  }

 private:
  std::unique_ptr<core::DhtPort> inner_;
  SimNetwork& net_;
  Traffic& t_;
  const Phase& phase_;
};

// Who published a DHT record, and which of its records supersede which: an
// owner's holder record (by version) or a holder's claim for one tessera (by
// its claim time). A record that does not decode has no publisher.
struct RecordMeta {
  bool ok = false;
  bool claim = false;
  core::NodeId publisher;
  uint64_t version = 0;
};

RecordMeta MetaOf(const std::vector<uint8_t>& record) {
  RecordMeta m;
  if (replication::LooksLikeHolderClaim(record)) {
    auto claim = replication::HolderClaim::Decode(record);
    if (!claim.ok()) return m;
    m = {true, true, claim->holder(), claim->claimed_at_ms};
    return m;
  }
  auto rec = replication::HolderRecord::Decode(record);
  if (!rec.ok()) return m;
  m = {true, false, rec->plan.owner_id(), rec->version};
  return m;
}

struct Published {
  core::ContentHash hash;
  uint32_t owner = kNoNode;
  uint32_t k = 1;  // distinct fragments needed (whole copies: one)
  bool coded = false;
  bool lost = false;
  double lost_day = 0;
  std::string tier;
};

// Mirrors the policy-level world's churn onto real services.
class Driver final : public ChurnObserver {
 public:
  Driver(const World& world, const Scenario& s, const RunOptions& o, std::filesystem::path scratch)
      : world_(world), s_(s), scratch_(std::move(scratch)) {
    config_.policy = o.policy;
    config_.repair_interval_secs = static_cast<uint64_t>(s.pass.interval_secs);
    config_.repair_jitter_secs = static_cast<uint64_t>(s.pass.jitter_secs);
    config_.max_per_subnet = s.pass.max_per_subnet;
    config_.audit_samples = s.pass.audit_samples;
    config_.scratch_dir = scratch_;
  }

  void OnArrive(uint32_t n, int64_t t) override {
    AdvanceTo(t);
    const uint32_t subnet = world_.node(n).subnet;
    const uint32_t host = 1 + hosts_[subnet]++ % 254;
    // Loopback addresses, one /24 per simulated subnet: the subnet rules see
    // what they would see on the network; nothing is ever dialled.
    const std::string address = "127." + std::to_string((subnet >> 8) & 255) + "." +
                                std::to_string(subnet & 255) + "." + std::to_string(host) + ":7700";
    // Each node gathers into its own directory, as each tesd has its data dir.
    replication::ReplicationConfig config = config_;
    config.gather_dir = GatherDirOf(n);
    SimNode& node = net_.AddNode(address, config, UINT64_MAX, [&](SimNode& fresh) {
      fresh.dht = std::make_unique<CountingDht>(std::move(fresh.dht), net_, traffic_, phase_);
    });
    if (nodes_.size() <= n) nodes_.resize(n + 1, nullptr);
    nodes_[n] = &node;
  }
  void OnUp(uint32_t n, bool up, int64_t t) override {
    AdvanceTo(t);
    nodes_[n]->online = up;
    RunDueProbes();
  }
  void OnDepart(uint32_t n, int64_t t) override {
    AdvanceTo(t);
    SimNode& node = *nodes_[n];
    node.online = false;
    DropFragments(node);
    std::error_code ec;
    std::filesystem::remove_all(GatherDirOf(n), ec);  // the machine is gone
    for (const Published& p : published_) {
      if (p.owner == n) (void)node.blobs.Remove(p.hash);
    }
    // Its records are no longer republished by it: they expire.
    const core::NodeId gone = node.identity.node_id();
    net_.ForgetRecords([&](const std::vector<uint8_t>& r) {
      const RecordMeta& m = Meta(r);
      return m.ok && m.publisher == gone;
    });
  }
  void OnDiskFailure(uint32_t n, int64_t t) override {
    AdvanceTo(t);
    DropFragments(*nodes_[n]);
    std::error_code ec;
    std::filesystem::remove_all(GatherDirOf(n), ec);  // on the disk that failed
  }
  void OnPass(uint32_t n, int64_t t) override {
    AdvanceTo(t);
    auto reports = nodes_[n]->service->RunRepairPass(/*forced=*/false);
    ++passes_;
    if (!reports.ok()) {
      ++pass_errors_;
      if (first_pass_error_.empty()) first_pass_error_ = reports.error().ToString();
      return;
    }
    NoteProbeDue(n);
    for (const auto& r : *reports) {
      // The margin this maintainer assessed, where it assessed one.
      if (r.action == "none" || r.action == "repaired" || r.action == "deferred") {
        min_margin_seen_ = std::min(min_margin_seen_, r.before.margin);
      }
      if (r.action == "repaired") ++repairs_;
      copies_created_ += r.regenerated.size();
    }
  }
  void OnDay(int64_t t) override {
    AdvanceTo(t);
    RunDueProbes();
    net_.Republish();
    KeepNewestRecords();
    Census(t, /*daily=*/true);
  }

  core::Result<void> Publish() {
    phase_ = Phase::kPublish;
    published_.resize(world_.tessera_count());
    for (uint32_t owner : world_.owners()) {
      SimNode& node = *nodes_[owner];
      for (uint32_t tid : world_.node(owner).owned) {
        const SizeClass& c = world_.size_class_of(tid);
        auto payload = replication::testing::RandomBytes(
            c.payload_bytes, static_cast<uint32_t>(s_.seed * 1'000'003 + tid));
        const auto hash = crypto::Blake3(payload);
        core::MemorySource src(payload);
        TRY(node.blobs.Put(hash, payload.size(), src));
        auto report = node.service->ReplicateTessera(hash);
        if (!report.ok()) {
          return core::MakeError(report.error().code, "publishing tessera " + std::to_string(tid) +
                                                          ": " + report.error().message);
        }
        if (!report->complete()) ++publish_incomplete_;
        Published& p = published_[tid];
        p.hash = hash;
        p.owner = owner;
        p.coded = c.plan.parity_shards > 0;
        p.k = p.coded ? c.plan.data_shards : 1;
        p.tier = c.plan.tier == core::Tier::kSmall    ? "small"
                 : c.plan.tier == core::Tier::kMedium ? "medium"
                                                      : "large";
      }
    }
    phase_ = Phase::kRun;
    return core::Ok();
  }

  // Ground truth from the stores of every node still in the network.
  void Census(int64_t t, bool daily) {
    std::map<core::ContentHash, uint32_t> tid_of;
    for (uint32_t tid = 0; tid < published_.size(); ++tid) {
      if (published_[tid].owner != kNoNode) tid_of[published_[tid].hash] = tid;
    }
    // Per tessera: the distinct indices (coded) or copies (whole) held, and
    // the holders per /24.
    std::vector<std::map<uint32_t, uint32_t>> indices(published_.size());
    std::vector<std::map<std::string, std::set<core::NodeId>>> per_subnet(published_.size());
    uint32_t alive = 0, up = 0;
    for (uint32_t n = 0; n < nodes_.size(); ++n) {
      if (!nodes_[n] || !world_.node(n).alive) continue;
      ++alive;
      if (nodes_[n]->online) ++up;
      auto held = nodes_[n]->fragments.List(std::nullopt);
      if (!held.ok()) continue;
      const std::string& addr = nodes_[n]->address;
      const std::string subnet = addr.substr(0, addr.rfind('.'));
      for (const auto& f : *held) {
        auto it = tid_of.find(f.id.tessera);
        if (it == tid_of.end()) continue;
        ++indices[it->second][f.id.index];
        per_subnet[it->second][subnet].insert(nodes_[n]->identity.node_id());
      }
    }
    int32_t min_margin = std::numeric_limits<int32_t>::max();
    uint32_t lost_total = 0;
    for (uint32_t tid = 0; tid < published_.size(); ++tid) {
      Published& p = published_[tid];
      if (p.owner == kNoNode) continue;
      uint32_t units = 0;
      for (const auto& [index, copies] : indices[tid]) units += p.coded ? 1 : copies;
      if (!p.lost && units < p.k) {
        p.lost = true;
        p.lost_day = static_cast<double>(t) / kDaySecs;
      }
      if (p.lost) {
        ++lost_total;
        continue;
      }
      min_margin = std::min(min_margin, static_cast<int32_t>(units) - static_cast<int32_t>(p.k));
      for (const auto& [subnet, holders] : per_subnet[tid]) {
        const auto count = static_cast<uint32_t>(holders.size());
        max_in_one_subnet_ = std::max(max_in_one_subnet_, count);
        if (count > s_.pass.max_per_subnet) above_cap_.insert(tid);
      }
    }
    if (min_margin != std::numeric_limits<int32_t>::max()) {
      min_durable_margin_ = std::min(min_durable_margin_, min_margin);
    }
    if (!daily) return;
    DaySample d;
    d.day = static_cast<uint32_t>(t / kDaySecs);
    d.nodes_alive = alive;
    d.nodes_up = up;
    const uint64_t repair = traffic_.fetch + traffic_.push, audit = traffic_.audit;
    d.repair_bytes = repair - last_repair_;
    d.audit_bytes = audit - last_audit_;
    last_repair_ = repair;
    last_audit_ = audit;
    d.min_durable_margin = min_margin == std::numeric_limits<int32_t>::max() ? 0 : min_margin;
    d.lost = lost_total;
    d.repairs = repairs_ - last_repairs_;
    last_repairs_ = repairs_;
    days_.push_back(d);
  }

  // Every tessera not lost is fetched by a node that joins at the end, with
  // every node still in the network awake: what the real restore path can
  // still recover from what maintenance kept.
  void RestoreAll(RunReport& r) {
    phase_ = Phase::kRestore;
    for (uint32_t n = 0; n < nodes_.size(); ++n) {
      if (nodes_[n] && world_.node(n).alive) nodes_[n]->online = true;
    }
    SimNode& fresh = net_.AddNode("127.255.255.1:7700", config_, UINT64_MAX, [&](SimNode& node) {
      node.dht = std::make_unique<CountingDht>(std::move(node.dht), net_, traffic_, phase_);
    });
    for (uint32_t tid = 0; tid < published_.size(); ++tid) {
      const Published& p = published_[tid];
      if (p.owner == kNoNode || p.lost) continue;
      core::MemorySink out;
      auto fetched = fresh.service->FetchTessera(p.hash, static_cast<core::RandomAccessSink&>(out));
      if (fetched.ok() && crypto::Blake3(out.bytes()) == p.hash) {
        ++restored_;
      } else {
        ++r.untracked;
        if (restore_failures_.size() < 10) {
          restore_failures_.push_back(
              "tessera " + std::to_string(tid) + ": " +
              (fetched.ok() ? std::string("bytes do not hash right") : fetched.error().ToString()));
        }
      }
    }
  }

  void Fill(RunReport& r) const {
    for (uint32_t tid = 0; tid < published_.size(); ++tid) {
      const Published& p = published_[tid];
      if (!p.lost) continue;
      r.lost.push_back({tid, p.hash.ToHex(), p.tier, p.lost_day});
    }
    r.min_durable_margin =
        min_durable_margin_ == std::numeric_limits<int32_t>::max() ? 0 : min_durable_margin_;
    r.min_margin_seen =
        min_margin_seen_ == std::numeric_limits<int32_t>::max() ? 0 : min_margin_seen_;
    r.publish_bytes = traffic_.publish;
    r.repair_bytes = traffic_.fetch + traffic_.push;
    r.audit_bytes = traffic_.audit;
    r.record_bytes = traffic_.record;
    r.lookups = traffic_.lookups;
    r.transfers_failed = traffic_.transfers_failed;
    r.copies_created = copies_created_;
    r.copies_already_held = traffic_.pushes_held;
    r.repairs = repairs_;
    r.days = days_;
    r.subnet_cap_exceeded = above_cap_.size();
    r.max_holders_in_one_subnet = max_in_one_subnet_;
    if (pass_errors_ > 0) {
      r.violations.push_back(std::to_string(pass_errors_) +
                             " maintenance passes or probe rounds failed (passes run: " +
                             std::to_string(passes_) + "); first: " + first_pass_error_);
    }
  }

  uint64_t passes() const { return passes_; }
  uint64_t probes() const { return probes_; }
  uint64_t probes_answered() const { return probes_answered_; }
  uint64_t restored() const { return restored_; }
  uint64_t restore_bytes() const { return traffic_.restore; }
  uint32_t publish_incomplete() const { return publish_incomplete_; }
  const std::vector<std::string>& restore_failures() const { return restore_failures_; }

 private:
  void AdvanceTo(int64_t t) {
    const int64_t target = MsAt(t);
    if (target > clock_.NowUnixMs()) clock_.Advance(target - clock_.NowUnixMs());
  }
  // The services' probes of suspect holders (ReplicationService::
  // ProbeSuspects), run at the first churn event (an up/down change, or the
  // day's end) at or after each node's earliest one while the node is up: a
  // node down then probes when it is up again, as tesd's loop does on waking.
  // With ~200 nodes changing state every ~20 h there is such an event every
  // few simulated minutes.
  void NoteProbeDue(uint32_t n) {
    if (probe_due_.size() <= n) probe_due_.resize(n + 1, kNoProbe);
    probe_due_[n] = nodes_[n]->service->NextProbeDueMs().value_or(kNoProbe);
  }
  void RunDueProbes() {
    const int64_t now = clock_.NowUnixMs();
    for (uint32_t n = 0; n < probe_due_.size(); ++n) {
      if (probe_due_[n] > now || !nodes_[n]->online) continue;
      auto r = nodes_[n]->service->ProbeSuspects();
      // A probe that fails, or cannot record what it saw, counts as a failed
      // pass would: a violation of the run.
      if (!r.ok() || !r->problems.empty()) {
        ++pass_errors_;
        if (first_pass_error_.empty()) {
          first_pass_error_ = "probe: " + (r.ok() ? r->problems[0] : r.error().ToString());
        }
      }
      if (r.ok()) {
        probes_ += r->holders;
        probes_answered_ += r->answered;
      }
      NoteProbeDue(n);
    }
  }
  static constexpr int64_t kNoProbe = std::numeric_limits<int64_t>::max();
  const RecordMeta& Meta(const std::vector<uint8_t>& record) {
    std::string key(record.begin(), record.end());
    auto it = meta_.find(key);
    if (it == meta_.end()) it = meta_.emplace(std::move(key), MetaOf(record)).first;
    return it->second;
  }
  // What the DHT's store does on a Store from the same publisher: a newer
  // record replaces the older one (docs/PROTOCOL.md, section 8). The
  // in-process network appends instead, so once a day every node keeps, per
  // key, only each publisher's newest holder record and newest claim.
  void KeepNewestRecords() {
    for (auto& node : net_.nodes()) {
      std::lock_guard lock(node->records_mu);
      for (auto& [key, list] : node->records) {
        std::map<std::pair<core::NodeId, bool>, uint64_t> newest;
        for (const auto& r : list) {
          const RecordMeta& m = Meta(r);
          if (!m.ok) continue;
          auto& v = newest[{m.publisher, m.claim}];
          v = std::max(v, m.version);
        }
        std::erase_if(list, [&](const std::vector<uint8_t>& r) {
          const RecordMeta& m = Meta(r);
          return m.ok && m.version < newest[{m.publisher, m.claim}];
        });
      }
    }
    // Forget what no node holds any more.
    std::unordered_map<std::string, RecordMeta> seen;
    for (auto& node : net_.nodes()) {
      std::lock_guard lock(node->records_mu);
      for (const auto& [key, list] : node->records) {
        for (const auto& r : list) {
          std::string k(r.begin(), r.end());
          auto it = meta_.find(k);
          if (it != meta_.end()) seen.emplace(std::move(k), it->second);
        }
      }
    }
    meta_.swap(seen);
  }
  std::filesystem::path GatherDirOf(uint32_t n) const {
    return scratch_ / "gather" / std::to_string(n);
  }
  static void DropFragments(SimNode& node) {
    auto held = node.fragments.List(std::nullopt);
    if (!held.ok()) return;
    for (const auto& f : *held) (void)node.fragments.Delete(f.id.tessera, f.id.index);
  }

  const World& world_;
  const Scenario& s_;
  std::filesystem::path scratch_;
  replication::ReplicationConfig config_;
  core::ManualClock clock_{kBaseMs};
  SimNetwork net_{clock_};
  Traffic traffic_;
  Phase phase_ = Phase::kPublish;
  std::vector<SimNode*> nodes_;
  std::vector<int64_t> probe_due_;  // per node: its service's earliest probe
  uint64_t probes_ = 0, probes_answered_ = 0;
  std::map<uint32_t, uint32_t> hosts_;
  std::unordered_map<std::string, RecordMeta> meta_;
  std::vector<Published> published_;
  std::vector<DaySample> days_;
  std::set<uint32_t> above_cap_;
  uint32_t max_in_one_subnet_ = 0;
  std::vector<std::string> restore_failures_;
  int32_t min_durable_margin_ = std::numeric_limits<int32_t>::max();
  int32_t min_margin_seen_ = std::numeric_limits<int32_t>::max();
  uint64_t last_repair_ = 0, last_audit_ = 0, last_repairs_ = 0;
  uint64_t passes_ = 0, pass_errors_ = 0, repairs_ = 0, copies_created_ = 0, restored_ = 0;
  uint32_t publish_incomplete_ = 0;
  std::string first_pass_error_;
};

}  // namespace

Scenario FullStackScenario(const Scenario& scenario) {
  Scenario s = scenario;
  const FullStackConfig& f = scenario.full_stack;
  s.nodes = f.nodes;
  s.tesseras = f.tesseras;
  s.years = f.years;
  s.workload.small_share = f.small_share;
  s.workload.medium_share = f.medium_share;
  s.workload.large_share = f.large_share;
  s.workload.small_sizes = f.small_sizes;
  s.workload.medium_sizes = f.medium_sizes;
  s.workload.large_sizes = f.large_sizes;
  return s;
}

core::Result<std::vector<RunReport>> RunFullStack(const Scenario& scenario,
                                                  const RunOptions& options) {
  const Scenario s = FullStackScenario(scenario);
  ASSIGN_OR_RETURN(auto costs, MeasureWireCosts(WorkloadSizes(s.workload), s.pass.audit_samples));
  const auto start = std::chrono::steady_clock::now();
  const auto scratch = std::filesystem::temp_directory_path() /
                       ("tesseras-sim-full-stack-" + std::to_string(::getpid()));
  std::filesystem::create_directories(scratch);
  struct Cleanup {
    std::filesystem::path p;
    ~Cleanup() {
      std::error_code ec;
      std::filesystem::remove_all(p, ec);
    }
  } cleanup{scratch};

  auto world = std::make_unique<World>(s, costs, options.policy, options.verify_cache,
                                       /*daily_series=*/true);
  auto driver = std::make_unique<Driver>(*world, s, options, scratch);
  world->set_observer(driver.get());
  world->Setup();
  TRY(driver->Publish());
  driver->Census(0, /*daily=*/false);
  world->Run();
  world->Finish();
  driver->Census(world->end(), /*daily=*/false);

  RunReport policy = world->report();
  policy.policy = options.policy_name;
  policy.connection_handshake_bytes = costs.connection_bytes;
  if (!options.daily_series) policy.days.clear();

  RunReport full;
  full.scenario = policy.scenario;
  full.mode = "full-stack";
  full.policy = options.policy_name + "-full-stack";
  full.seed = policy.seed;
  full.years = policy.years;
  full.nodes = policy.nodes;
  full.tesseras = policy.tesseras;
  full.knobs = policy.knobs;
  full.node_days = policy.node_days;
  full.departures = policy.departures;
  full.disk_failures = policy.disk_failures;
  full.outages = policy.outages;
  full.owner_departures = policy.owner_departures;
  full.connection_handshake_bytes = costs.connection_bytes;
  // The oracle re-creates only what left for good; the churn is the same for
  // both runs, so the policy-level world's oracle is this run's too.
  full.oracle_repair_bytes = policy.oracle_repair_bytes;
  full.oracle_copies = policy.oracle_copies;
  full.bound_repair_bytes = policy.bound_repair_bytes;
  full.bound_copies = policy.bound_copies;
  driver->Fill(full);
  driver->RestoreAll(full);
  full.restored_at_end = driver->restored();
  full.restore_bytes = driver->restore_bytes();
  full.passes_run = driver->passes();
  full.probes = driver->probes();
  full.probes_answered = driver->probes_answered();
  full.publish_incomplete = driver->publish_incomplete();
  for (const auto& f : driver->restore_failures()) full.violations.push_back("restore: " + f);
  full.traffic_vs_oracle =
      full.oracle_repair_bytes == 0
          ? (full.repair_bytes == 0 ? 1.0 : INFINITY)
          : static_cast<double>(full.repair_bytes) / static_cast<double>(full.oracle_repair_bytes);
  full.traffic_vs_bound =
      full.bound_repair_bytes == 0
          ? (full.repair_bytes == 0 ? 1.0 : INFINITY)
          : static_cast<double>(full.repair_bytes) / static_cast<double>(full.bound_repair_bytes);
  if (!options.daily_series) full.days.clear();
  driver.reset();
  world.reset();
  full.wall_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  full.peak_rss_bytes = PeakRssBytes();
  policy.wall_seconds = full.wall_seconds;
  policy.peak_rss_bytes = full.peak_rss_bytes;
  return std::vector<RunReport>{std::move(policy), std::move(full)};
}

}  // namespace tesseras::sim
