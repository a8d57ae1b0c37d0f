// A churn scenario: who the nodes are, how they come and go, what is stored,
// and the policy knobs (docs/SIMULATION.md, "Scenario files"). Parsed from a
// TOML file (sim/scenarios/*.toml); every key is checked, an unknown key or a
// value out of range is an error naming the file, the line and the key.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "replication/maintenance_policy.h"
#include "sim/rng.h"

namespace tesseras::sim {

// A duration distribution. Means are in seconds.
struct Distribution {
  enum class Kind { kFixed, kExponential, kWeibull };
  Kind kind = Kind::kFixed;
  double mean_secs = 0;
  double shape = 1;  // Weibull k; the scale is mean / Γ(1 + 1/k)

  double Sample(Rng& rng) const;
  bool operator==(const Distribution&) const = default;
};

// Machines that are on a part of every day (laptops): on at start_hour (± a
// normal spread) for a uniform [on_hours_min, on_hours_max] hours, and off on
// a fraction days_off of the days.
struct Diurnal {
  double on_hours_min = 8;
  double on_hours_max = 16;
  double start_hour = 9;
  double start_spread_hours = 2;
  double days_off = 0;
  bool operator==(const Diurnal&) const = default;
};

struct NodeClass {
  std::string name;
  double share = 1;
  Distribution lifetime;  // time until the node leaves for good
  // Alternating sessions (up) and downtimes, unless diurnal is set.
  Distribution session;
  Distribution downtime;
  std::optional<Diurnal> diurnal;
  double upload_bytes_per_sec = 1.25e6;  // 10 Mbit/s
  bool operator==(const NodeClass&) const = default;
};

struct Workload {
  double small_share = 0.9, medium_share = 0.09, large_share = 0.01;
  // Payload sizes per tier, equally likely; each must fall inside its tier.
  std::vector<uint64_t> small_sizes{256 << 10, 1 << 20, 3 << 20};
  std::vector<uint64_t> medium_sizes{8ull << 20, 32ull << 20, 128ull << 20};
  std::vector<uint64_t> large_sizes{384ull << 20, 1ull << 30};
  bool operator==(const Workload&) const = default;
};

// The simulator's own knobs beside MaintenancePolicyConfig: how often a node
// runs its maintenance pass, and the placement rule's subnet cap.
struct PassConfig {
  int64_t interval_secs = 86400;  // ReplicationConfig::repair_interval_secs
  int64_t jitter_secs = 7200;     // ReplicationConfig::repair_jitter_secs
  uint32_t max_per_subnet = 2;
  int audit_samples = 2;
  bool operator==(const PassConfig&) const = default;
};

struct FullStackConfig {
  uint32_t nodes = 200;
  uint32_t tesseras = 500;
  double years = 1;
  std::vector<uint64_t> small_sizes{16 << 10, 64 << 10};
  std::vector<uint64_t> medium_sizes{4ull << 20};
  std::vector<uint64_t> large_sizes{256ull << 20};
  double small_share = 0.9, medium_share = 0.095, large_share = 0.005;
  bool operator==(const FullStackConfig&) const = default;
};

struct Scenario {
  std::string name;
  std::string description;
  uint64_t seed = 1;
  double years = 10;
  uint32_t nodes = 10000;
  uint32_t tesseras = 100000;
  double nodes_per_subnet = 1.5;  // mean occupancy of a /24
  double latency_secs = 0.04;     // one request-response round trip
  double calibration_day = 90;    // when the durability estimates are made
  std::vector<NodeClass> classes;
  Workload workload;
  double owner_share = 0.2;                 // initial nodes that publish the tesseras
  std::optional<Distribution> owner_leave;  // owners stop running their node
  double outages_per_subnet_year = 0;       // a whole /24 goes dark
  Distribution outage_duration{Distribution::Kind::kFixed, 86400, 1};
  double disk_failures_per_node_year = 0;  // all fragments gone, node stays
  replication::MaintenancePolicyConfig policy;
  PassConfig pass;
  FullStackConfig full_stack;
};

// Parses TOML text; `source` names it in errors ("home.toml:12: ..."). Each
// override is "section.key=value" in TOML syntax (the --set flag, e.g.
// "policy.holder_grace_hours=168"): it replaces or adds that key of a plain
// section before the file is checked, so it gets the same checks.
core::Result<Scenario> ParseScenario(std::string_view toml_text, std::string_view source,
                                     const std::vector<std::string>& overrides = {});
core::Result<Scenario> LoadScenario(const std::string& path,
                                    const std::vector<std::string>& overrides = {});

// The eager policy of today, from the same knobs: no grace, every copy not
// proven re-created at once.
replication::MaintenancePolicyConfig EagerOf(replication::MaintenancePolicyConfig c);

// The policy knobs as one line of JSON-friendly pairs, for reports.
std::vector<std::pair<std::string, double>> KnobList(const replication::MaintenancePolicyConfig& c,
                                                     const PassConfig& p);

}  // namespace tesseras::sim
