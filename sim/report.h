// What one simulated run found, and how it is written out (JSON, CSV).
// docs/SIMULATION.md, "Output", defines every field.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/result.h"

namespace tesseras::sim {

// The ground truth, when a repair was decided, for a copy of fragment i that
// then landed while as many copies of i as wanted existed.
enum class RedundantCause : uint8_t {
  kFilledMeanwhile = 0,  // i lacked copies then; another repair filled it before this one landed
  kHolderDown = 1,       // all copies of i existed, at least one on a machine down then
  kHoldersUp = 2,        // all copies of i existed on machines up then
};

struct LostTessera {
  uint32_t tessera = 0;  // index in the workload
  std::string hash;      // hex of its (simulated) content hash
  std::string tier;
  double day = 0;  // when fewer than k fragments were left on machines still in the network
};

// Durability estimates made at the calibration day against what happened after.
struct CalibrationRow {
  double predicted_lo = 0, predicted_hi = 0;  // bucket of predicted P(lost)
  uint64_t tesseras = 0;
  double mean_predicted = 0;
  uint64_t lost = 0;  // of those, lost after the calibration day
};

struct DaySample {
  uint32_t day = 0;
  uint32_t nodes_alive = 0;
  uint32_t nodes_up = 0;
  uint64_t repair_bytes = 0;  // during this day
  uint64_t audit_bytes = 0;
  uint64_t oracle_bytes = 0;
  int32_t min_margin_seen = 0;     // lowest margin an acting maintainer assessed today
  int32_t min_durable_margin = 0;  // lowest ground-truth margin at the end of the day
  uint32_t below_threshold = 0;    // tesseras whose durable count is below the threshold
  uint32_t lost = 0;               // cumulative
  uint64_t repairs = 0;            // repairs started today
};

struct RunReport {
  std::string scenario;
  std::string mode = "policy";  // "policy" or "full-stack"
  std::string policy;           // "eager" or "configured"
  uint64_t seed = 0;
  double years = 0;
  uint32_t nodes = 0;
  uint32_t tesseras = 0;
  std::vector<std::pair<std::string, double>> knobs;

  std::vector<LostTessera> lost;
  // Tesseras whose fragments still exist but which no maintainer tracks
  // k of at the end (nobody could restore them from the holder records).
  uint64_t untracked = 0;
  int32_t min_margin_seen = 0;
  int32_t min_durable_margin = 0;
  uint64_t below_threshold_episodes = 0;
  double below_threshold_p50_hours = 0;
  double below_threshold_p99_hours = 0;
  double below_threshold_tessera_days = 0;

  uint64_t repair_bytes = 0;                // fetched + pushed fragments, with their frames
  uint64_t audit_bytes = 0;                 // attestation exchanges
  uint64_t record_bytes = 0;                // holder records stored at DHT nodes after repairs
  uint64_t connection_handshake_bytes = 0;  // one TLS handshake + Hellos (per connection)
  uint64_t oracle_repair_bytes = 0;
  // What the policy would still send at the end to bring every surviving
  // tessera back to full redundancy, by the oracle's cost rule.
  uint64_t repair_debt_bytes = 0;
  // Per tier (small, medium, large): fetched and pushed repair bytes, and the oracle's.
  std::array<uint64_t, 3> fetch_bytes_by_tier{}, push_bytes_by_tier{}, oracle_bytes_by_tier{};
  // Of the oracle's bytes, its shares of rebuilds' fetches (owner gone).
  std::array<uint64_t, 3> oracle_share_bytes_by_tier{};
  std::array<uint64_t, 3> copies_by_tier{}, oracle_copies_by_tier{};
  uint64_t publish_bytes = 0;  // the first placement at time 0, not counted as repair
  double node_days = 0;        // Σ days each node was in the network
  double traffic_vs_oracle = 0;

  uint64_t checks_owner = 0, checks_quiet = 0, checks_watch = 0;
  uint64_t assessments = 0, assessments_reused = 0;
  uint64_t repairs = 0, copies_created = 0, copies_already_held = 0, transfers_failed = 0;
  // Copies created while as many copies of that fragment as wanted still
  // existed on machines in the network (ground truth, never seen by the policy).
  uint64_t copies_created_redundant = 0;
  // Those copies by what the ground truth was when the repair was decided
  // (RedundantCause) and by the kind of check that decided it (owner, quiet
  // takeover, watch). Each array sums to copies_created_redundant.
  std::array<uint64_t, 3> redundant_by_cause{}, redundant_by_maker{};
  // kHolderDown ones by how long the longest-down holder of that fragment had
  // been down when the repair was decided: < 1 day, 1-3, 3-7, >= 7 days.
  std::array<uint64_t, 4> redundant_holder_down_for{};
  uint64_t budget_deferred = 0, repairs_without_sources = 0, lookups = 0, connections = 0;
  // Repairs that reached fewer than k holders and kept what they fetched
  // (MaintenancePolicyConfig::gather_keep_ms); counted in repairs_without_sources too.
  uint64_t gathers = 0;
  // Probes of suspect holders between checks: holders asked, those that
  // answered (ending their failure run), and their bytes (in audit_bytes too).
  uint64_t probes = 0, probes_answered = 0, probe_bytes = 0;
  uint64_t oracle_copies = 0;
  // The lower bound (World::OracleReplace): the oracle with placements that
  // are never lost again; what the invariant compares the policy with.
  uint64_t bound_repair_bytes = 0, bound_copies = 0;
  double traffic_vs_bound = 0;
  // Repairs started, by the kind of check that found the need (owner, quiet
  // takeover, watch) and by trigger (copies known lost, below the threshold).
  uint64_t repairs_by_owner = 0, repairs_by_quiet = 0, repairs_by_watch = 0;
  uint64_t repairs_lost_copies = 0, repairs_below_threshold = 0;
  uint64_t departures = 0, disk_failures = 0, outages = 0, owner_departures = 0;
  uint64_t surplus_dropped = 0, forgotten = 0;
  // At the end: copies the records list, and copies on machines in the network.
  uint64_t listed_copies = 0, existing_copies = 0;

  // The full-stack mode only: tesseras a node joining at the end restored
  // bit-exact through the real restore path, the bytes that cost, the
  // maintenance passes the real services ran, and first placements that fell
  // short of full redundancy.
  uint64_t restored_at_end = 0, restore_bytes = 0, passes_run = 0, publish_incomplete = 0;
  // Physical holders per /24 at the daily census: the most seen for one
  // tessera, and the tesseras that ever had more than max_per_subnet (each
  // maintainer keeps the cap among the holders it counts; see
  // docs/SIMULATION.md, "Full-stack mode").
  uint64_t subnet_cap_exceeded = 0, max_holders_in_one_subnet = 0;

  std::vector<CalibrationRow> calibration;
  std::vector<DaySample> days;
  std::vector<std::string> violations;  // invariants that failed (empty when all held)

  double wall_seconds = 0;
  uint64_t peak_rss_bytes = 0;
  uint64_t events = 0;
  uint64_t evaluations = 0, rank_computations = 0;
};

// The JSON document of one run (sorted keys, deterministic apart from the
// "run" object with wall time and memory).
std::string ToJson(const RunReport& r, bool include_run_stats = true);
// Several runs side by side: {"runs": {...}, "comparison": {...}}.
std::string ToJson(const std::vector<RunReport>& runs, bool include_run_stats = true);
// Writes DIR/<policy>-days.csv for every run.
core::Result<void> WriteDailyCsv(const std::vector<RunReport>& runs, const std::string& dir);

// The process's peak resident set so far (VmHWM), in bytes.
uint64_t PeakRssBytes();

}  // namespace tesseras::sim
