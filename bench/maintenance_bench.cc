// Repair traffic of the maintenance policy, measured on the real
// ReplicationService (attestation, coding, placement) over the in-process
// network (replication/testing/sim_network.h) on a manual clock. Bytes are
// counted by the service itself (RepairReport::bytes_fetched / bytes_sent),
// so every figure is what the code moved, not a model of it.
//
//   maintenance_bench [--json]
//
// 1. Bytes per repaired fragment, with the owner's payload at hand (the owner
//    repairs) and without (a holder repairs while the owner is gone), for
//    batches of 1, 4 and 8 lost fragments of a Medium tessera (16 + 8), against
//    the MDS floor: any k fragments must be read once per batch, and each
//    re-created fragment written once, so (k + b) / b fragments per fragment.
// 2. Repair traffic over 30 days with sleepers (a third of the holders off 12 h
//    a day) and a few permanent departures, the eager policy (grace 0,
//    threshold 100 %) against the default one, on the same seed and schedule.
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <string>

#include "crypto/blake3_hasher.h"
#include "replication/replication_service.h"
#include "replication/testing/random_bytes.h"
#include "replication/testing/sim_network.h"

namespace tesseras::replication {
namespace {

using Json = nlohmann::json;
using testing::SimNetwork;
using testing::SimNode;

constexpr int64_t kHour = 3600 * 1000;

using testing::RandomBytes;

struct Net {
  explicit Net(ReplicationConfig cfg, int nodes, const std::filesystem::path& scratch)
      : config(std::move(cfg)) {
    config.scratch_dir = scratch;
    for (int i = 0; i < nodes; ++i) {
      all.push_back(&net.AddNode("127.0." + std::to_string(i + 1) + ".1:7700", config));
    }
  }
  ReplicationConfig config;
  core::ManualClock clock;
  SimNetwork net{clock};
  std::vector<SimNode*> all;
};

core::ContentHash Put(SimNode& owner, const std::vector<uint8_t>& payload) {
  auto hash = crypto::Blake3(payload);
  core::MemorySource src(payload);
  (void)owner.blobs.Put(hash, payload.size(), src);
  return hash;
}

// Loses `b` holders (one fragment each) and lets one maintainer repair.
Json RepairCost(uint32_t b, bool owner_repairs, const std::filesystem::path& scratch) {
  ReplicationConfig cfg;
  cfg.policy.holder_grace_ms = 0;
  cfg.policy.takeover_delay_ms = 0;
  Net n(cfg, 40, scratch);
  auto payload = RandomBytes(64 * core::kMiB, 7 + b);
  auto hash = Put(*n.all[0], payload);
  auto report = *n.all[0]->service->ReplicateTessera(hash);
  const uint64_t frag = report.plan.shard_size;
  const uint32_t k = report.plan.data_shards;
  std::vector<SimNode*> holders;
  for (const auto& h : report.holders) holders.push_back(n.net.Find(h.holder));
  for (uint32_t i = 0; i < b; ++i) holders[i]->online = false;
  SimNode* maintainer = n.all[0];
  if (!owner_repairs) {
    n.all[0]->online = false;
    maintainer = holders[b + 3];
  }
  auto r = *maintainer->service->RepairTessera(hash);
  const double per = static_cast<double>(r.bytes_fetched + r.bytes_sent) /
                     (static_cast<double>(frag) * std::max<std::size_t>(r.regenerated.size(), 1));
  const double floor = owner_repairs ? 1.0 : static_cast<double>(k + b) / b;
  return Json{{"lost", b},
              {"repairer", owner_repairs ? "owner (payload at hand)" : "holder (owner gone)"},
              {"regenerated", r.regenerated.size()},
              {"fragment_bytes", frag},
              {"bytes_fetched", r.bytes_fetched},
              {"bytes_sent", r.bytes_sent},
              {"fragments_moved_per_repaired", per},
              {"floor_per_repaired", floor},
              {"ratio_to_floor", per / floor}};
}

// 30 days: each day a third of the holders sleeps 12 h (pass at a random
// hour), and on days 10 and 20 one holder leaves for good.
Json Sleepers(bool eager, const std::filesystem::path& scratch) {
  ReplicationConfig cfg;
  if (eager) {
    cfg.policy.holder_grace_ms = 0;
    cfg.policy.repair_threshold = 1.0;
  }
  Net n(cfg, 60, scratch);
  auto hash = Put(*n.all[0], RandomBytes(16 * core::kMiB, 99));
  auto report = *n.all[0]->service->ReplicateTessera(hash);
  std::mt19937 rng(2026);
  uint64_t fetched = 0, sent = 0, regenerated = 0, departed_fragments = 0;
  std::set<SimNode*> gone;
  for (int day = 0; day < 30; ++day) {
    // Who holds now (repairs move fragments around).
    std::vector<SimNode*> holders;
    for (SimNode* node : n.all) {
      if (node == n.all[0] || gone.count(node)) continue;
      auto held = node->fragments.List(hash);
      if (held.ok() && !held->empty()) holders.push_back(node);
    }
    if (day == 10 || day == 20) {
      gone.insert(holders.front());
      holders.front()->online = false;
      departed_fragments += holders.front()->fragments.List(hash)->size();
      holders.erase(holders.begin());
    }
    std::shuffle(holders.begin(), holders.end(), rng);
    for (std::size_t i = 0; i < holders.size() / 3; ++i) holders[i]->online = false;
    n.clock.Advance(24 * kHour);
    auto pass = *n.all[0]->service->RunRepairPass(/*forced=*/false);
    for (const auto& r : pass) {
      fetched += r.bytes_fetched;
      sent += r.bytes_sent;
      regenerated += r.regenerated.size();
    }
    for (SimNode* h : holders) {
      if (!gone.count(h)) h->online = true;
    }
  }
  auto health = *n.all[0]->service->CheckTesseraHealth(hash);
  return Json{{"policy", eager ? "eager (grace 0, threshold 100 %)" : "default (grace 72 h)"},
              {"days", 30},
              {"fragment_bytes", report.plan.shard_size},
              {"fragments_regenerated", regenerated},
              {"repair_bytes", fetched + sent},
              // An oracle re-creates only what left for good: the owner has
              // the payload, so one fragment sent per fragment departed.
              {"oracle_repair_bytes", departed_fragments * report.plan.shard_size},
              {"state_after", std::string(HealthStateName(health.state))},
              {"fragments_verified_after", health.fragments_verified}};
}

}  // namespace
}  // namespace tesseras::replication

int main(int argc, char** argv) {
  using namespace tesseras::replication;
  const bool json = argc > 1 && std::strcmp(argv[1], "--json") == 0;
  auto scratch = std::filesystem::temp_directory_path() /
                 ("tesseras-maintenance-bench-" + std::to_string(::getpid()));
  std::filesystem::create_directories(scratch);
  Json out;
  for (bool owner : {true, false}) {
    for (uint32_t b : {1u, 4u, 8u}) out["repair_cost"].push_back(RepairCost(b, owner, scratch));
  }
  Json eager = Sleepers(true, scratch), lazy = Sleepers(false, scratch);
  out["sleepers"] = {eager, lazy};
  out["sleepers_traffic_vs_eager"] =
      eager["repair_bytes"].get<double>() > 0
          ? lazy["repair_bytes"].get<double>() / eager["repair_bytes"].get<double>()
          : 0.0;
  std::filesystem::remove_all(scratch);
  if (json) {
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  }
  std::printf("%-28s %5s %10s %10s %14s %8s %8s\n", "repairer", "lost", "fetched", "sent",
              "frags/repaired", "floor", "ratio");
  for (const auto& r : out["repair_cost"]) {
    std::printf("%-28s %5d %10llu %10llu %14.2f %8.2f %8.2f\n",
                r["repairer"].get<std::string>().c_str(), r["lost"].get<int>(),
                static_cast<unsigned long long>(r["bytes_fetched"].get<uint64_t>()),
                static_cast<unsigned long long>(r["bytes_sent"].get<uint64_t>()),
                r["fragments_moved_per_repaired"].get<double>(),
                r["floor_per_repaired"].get<double>(), r["ratio_to_floor"].get<double>());
  }
  for (const auto& s : out["sleepers"]) {
    std::printf(
        "%-34s %4d days: %3llu fragments re-created, %12llu repair bytes (oracle %llu), then %s\n",
        s["policy"].get<std::string>().c_str(), s["days"].get<int>(),
        static_cast<unsigned long long>(s["fragments_regenerated"].get<uint64_t>()),
        static_cast<unsigned long long>(s["repair_bytes"].get<uint64_t>()),
        static_cast<unsigned long long>(s["oracle_repair_bytes"].get<uint64_t>()),
        s["state_after"].get<std::string>().c_str());
  }
  std::printf("sleepers: default policy traffic / eager = %.3f\n",
              out["sleepers_traffic_vs_eager"].get<double>());
  return 0;
}
