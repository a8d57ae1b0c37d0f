#include "sim/policy_sim.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>

#include "replication/durability.h"
#include "sim/world.h"

namespace tesseras::sim {

std::vector<uint64_t> WorkloadSizes(const Workload& w) {
  std::vector<uint64_t> out = w.small_sizes;
  out.insert(out.end(), w.medium_sizes.begin(), w.medium_sizes.end());
  out.insert(out.end(), w.large_sizes.begin(), w.large_sizes.end());
  return out;
}

void World::Setup() {
  report_.scenario = s_.name;
  report_.seed = s_.seed;
  report_.years = s_.years;
  report_.nodes = s_.nodes;
  report_.tesseras = s_.tesseras;
  report_.knobs = KnobList(cfg_, s_.pass);
  report_.min_margin_seen = std::numeric_limits<int32_t>::max();
  report_.min_durable_margin = std::numeric_limits<int32_t>::max();
  const auto subnets = static_cast<std::size_t>(
      std::max(1.0, std::ceil(static_cast<double>(s_.nodes) / s_.nodes_per_subnet)));
  subnet_nodes_.assign(subnets, {});
  subnet_hosts_.assign(subnets, 0);
  subnet_dark_.assign(subnets, 0);
  Rng initial(s_.seed, 0xa000);
  for (uint32_t i = 0; i < s_.nodes; ++i) AddNode(0, /*initial=*/true, initial);
  // Publishers: the first owner_share of the initial nodes (their ids are random).
  const auto owners = static_cast<uint32_t>(
      std::max(1.0, std::round(s_.owner_share * static_cast<double>(s_.nodes))));
  for (uint32_t n = 0; n < owners; ++n) {
    Node& node = nodes_[n];
    node.owner = true;
    owners_.push_back(n);
    if (s_.owner_leave) {
      const int64_t leave = std::max<int64_t>(1, std::llround(s_.owner_leave->Sample(node.churn)));
      if (leave < node.dies) {
        node.dies = leave;
        if (leave < end_) Schedule(leave, EventType::kDepart, n);
      }
    }
  }
  PublishAll();
  // Make the first-placed copies count as present at the start.
  Schedule(0, EventType::kDayTick);
  if (s_.outages_per_subnet_year > 0) Schedule(1, EventType::kNextOutage);
  const auto cal = static_cast<int64_t>(std::llround(s_.calibration_day * kDaySecs));
  if (cal < end_) Schedule(cal, EventType::kCalibrate);
}

void World::Run() {
  while (!queue_.empty()) {
    const Event e = queue_.top();
    if (e.t > end_) break;
    queue_.pop();
    ++report_.events;
    now_secs_ = e.t;
    switch (e.type) {
      case EventType::kToggle: {
        Node& n = nodes_[e.a];
        if (!n.alive) break;
        const NodeClass& c = s_.classes[n.node_class];
        SetUp(e.a, !n.self_up, e.t);
        const double d = n.self_up ? c.session.Sample(n.churn) : c.downtime.Sample(n.churn);
        Schedule(e.t + std::max<int64_t>(1, std::llround(d)), EventType::kToggle, e.a);
        break;
      }
      case EventType::kSetUp:
        if (nodes_[e.a].alive) SetUp(e.a, e.b != 0, e.t);
        break;
      case EventType::kDiurnalDay:
        if (nodes_[e.a].alive) PlanDiurnalDay(e.a, e.t);
        break;
      case EventType::kDepart:
        Depart(e.a, e.t);
        break;
      case EventType::kPass: {
        Node& n = nodes_[e.a];
        if (!n.alive) break;
        if (!n.up) {
          n.pass_pending = true;
          break;
        }
        Pass(e.a, e.t);
        if (observer_) observer_->OnPass(e.a, e.t);
        const int64_t jitter =
            s_.pass.jitter_secs > 0
                ? static_cast<int64_t>(n.pass.Below(static_cast<uint64_t>(s_.pass.jitter_secs) + 1))
                : 0;
        Schedule(e.t + s_.pass.interval_secs + jitter, EventType::kPass, e.a);
        break;
      }
      case EventType::kOutage:
        EndOutage(e.a, e.t);
        break;
      case EventType::kNextOutage:
        StartOutage(e.t);
        break;
      case EventType::kDiskFailure:
        DiskFailure(e.a, e.t);
        break;
      case EventType::kLanding:
        Land(landings_[e.a], e.t);
        free_landings_.push_back(e.a);
        break;
      case EventType::kProbe:
        if (parts_[e.a].used && parts_[e.a].gen == e.b && parts_[e.a].probe_due == e.t) {
          Probe(e.a, e.t);
        }
        break;
      case EventType::kDayTick:
        DayTick(e.t);
        break;
      case EventType::kCalibrate:
        Calibrate(e.t);
        break;
    }
  }
}

// Each tessera's risk as its freshest maintainer would estimate it now, from
// its own audits and the departures it has seen (replication/durability.h).
void World::Calibrate(int64_t t) {
  const double horizon = s_.years - static_cast<double>(t) / (365.0 * kDaySecs);
  for (uint32_t tid = 0; tid < tesseras_.size(); ++tid) {
    Tessera& T = tesseras_[tid];
    if (T.lost) continue;
    uint32_t best = kNoNode;
    for (uint32_t pid : T.parts) {
      const Part& p = parts_[pid];
      if (!p.has_view || !nodes_[p.node].alive) continue;
      if (best == kNoNode || p.checked > parts_[best].checked) best = pid;
    }
    if (best == kNoNode) continue;
    const Part& p = parts_[best];
    const Node& m = nodes_[p.node];
    replication::DurabilityInput in;
    in.redundancy = ClassOf(T).redundancy;
    in.payload_at_hand = p.node == T.owner;
    in.pass_interval_hours = static_cast<double>(s_.pass.interval_secs) / 3600;
    in.horizon_years = horizon;
    in.departures_seen = m.departures_seen;
    in.holder_years_watched = m.holder_secs_watched / (365.0 * kDaySecs);
    for (std::size_t i = 0; i < T.record.size() && i < p.view.size(); ++i) {
      const Slot& s = T.record[i];
      if (s.node == p.node) {
        if (s.claimed) in.holders.push_back({1, 1});
        continue;
      }
      if (!p.view[i].tracked) continue;
      const auto st = replication::StandingOf(ToCopy(p.view[i], s.index), MsAt(t), cfg_);
      if (st == replication::CopyStanding::kProven || st == replication::CopyStanding::kSuspect) {
        in.holders.push_back({p.view[i].asked, p.view[i].answered});
      }
    }
    T.predicted = static_cast<float>(replication::EstimateDurability(in, cfg_).p_lost);
  }
}

void World::Finish() {
  for (Node& n : nodes_) {
    if (n.alive) report_.node_days += static_cast<double>(end_ - n.born) / kDaySecs;
  }
  for (const Tessera& T : tesseras_) {
    if (T.below) below_episodes_hours_.push_back(static_cast<double>(end_ - T.below_since) / 3600);
  }
  std::sort(below_episodes_hours_.begin(), below_episodes_hours_.end());
  report_.below_threshold_episodes = below_episodes_hours_.size();
  auto pct = [&](double q) {
    if (below_episodes_hours_.empty()) return 0.0;
    const auto i = static_cast<std::size_t>(
        std::min<double>(below_episodes_hours_.size() - 1,
                         std::floor(q * static_cast<double>(below_episodes_hours_.size()))));
    return below_episodes_hours_[i];
  };
  report_.below_threshold_p50_hours = pct(0.50);
  report_.below_threshold_p99_hours = pct(0.99);
  if (report_.min_margin_seen == std::numeric_limits<int32_t>::max()) report_.min_margin_seen = 0;
  if (report_.min_durable_margin == std::numeric_limits<int32_t>::max()) {
    report_.min_durable_margin = 0;
  }
  report_.traffic_vs_oracle = report_.oracle_repair_bytes == 0
                                  ? (report_.repair_bytes == 0 ? 1.0 : INFINITY)
                                  : static_cast<double>(report_.repair_bytes) /
                                        static_cast<double>(report_.oracle_repair_bytes);
  report_.traffic_vs_bound = report_.bound_repair_bytes == 0
                                 ? (report_.repair_bytes == 0 ? 1.0 : INFINITY)
                                 : static_cast<double>(report_.repair_bytes) /
                                       static_cast<double>(report_.bound_repair_bytes);

  // Invariants, recounted from scratch rather than from the running counters.
  int64_t ledger_sum = 0;
  for (const auto& [key, e] : ledger_) {
    ledger_sum +=
        static_cast<int64_t>(e.they_store_for_us) - static_cast<int64_t>(e.we_store_for_them);
  }
  if (ledger_sum != 0) {
    Violation("ledger balances sum to " + std::to_string(ledger_sum) + " across the network");
  }
  std::vector<std::vector<uint8_t>> present(tesseras_.size());
  for (std::size_t tid = 0; tid < tesseras_.size(); ++tid) {
    present[tid].assign(ClassOf(tesseras_[tid]).redundancy.fragments, 0);
  }
  std::vector<uint32_t> copies(tesseras_.size(), 0);
  for (const Node& n : nodes_) {
    if (!n.alive) continue;
    for (const auto& [tid, index] : n.held) {
      present[tid][index] = 1;
      ++copies[tid];
    }
  }
  std::vector<bool> lost(tesseras_.size(), false);
  for (const auto& l : report_.lost) lost[l.tessera] = true;
  for (std::size_t tid = 0; tid < tesseras_.size(); ++tid) {
    const Tessera& T = tesseras_[tid];
    const auto& r = ClassOf(T).redundancy;
    const uint32_t distinct =
        static_cast<uint32_t>(std::count(present[tid].begin(), present[tid].end(), 1));
    const bool recoverable = distinct >= r.data || nodes_[T.owner].alive;
    if (lost[tid] && recoverable) {
      Violation("tessera " + std::to_string(tid) + " counted lost while " +
                std::to_string(distinct) + " of k = " + std::to_string(r.data) +
                " fragments still exist");
    }
    if (!lost[tid] && !recoverable) {
      Violation("tessera " + std::to_string(tid) + " has " + std::to_string(distinct) +
                " fragments left but was not counted lost");
    }
    // A copy whose claim ended (its holder left or lost the bytes) is known
    // only to the views that still track it; each of them audits it within a
    // watch interval (plus a pass), calls it lost after the grace and forgets
    // it forget_lost_after later, at its next check: past that, the record
    // lists a copy nobody will ever forget.
    const int64_t stale_after =
        (cfg_.holder_grace_ms + cfg_.forget_lost_after_ms) / 1000 +
        2 * (cfg_.watch_interval_ms / 1000 + s_.pass.interval_secs + s_.pass.jitter_secs);
    for (const Slot& s : T.record) {
      ++report_.listed_copies;
      if (s.claimed) continue;
      if (end_ - s.unclaimed_at > stale_after) {
        Violation("tessera " + std::to_string(tid) + " still lists a copy of fragment " +
                  std::to_string(s.index) + " whose claim ended at day " +
                  std::to_string(s.unclaimed_at / kDaySecs));
      }
    }
    report_.existing_copies += copies[tid];
    for (std::size_t i = 0; i < T.record.size(); ++i) {
      for (std::size_t j = i + 1; j < T.record.size(); ++j) {
        if (T.record[i].node == T.record[j].node && T.record[i].index == T.record[j].index) {
          Violation("tessera " + std::to_string(tid) + " lists fragment " +
                    std::to_string(T.record[i].index) + " twice on one holder");
        }
      }
    }
    if (!lost[tid]) {
      std::vector<uint8_t> tracked(r.fragments, 0);
      for (const Slot& s : T.record) {
        if (s.claimed) tracked[s.index] = 1;
      }
      if (static_cast<uint32_t>(std::count(tracked.begin(), tracked.end(), 1)) < r.data &&
          !nodes_[T.owner].alive) {
        ++report_.untracked;
      }
    }
  }
  // A policy with a repair threshold below n may end the run owing copies
  // the oracle would not re-create yet, or has re-created already. What it
  // owes to bring each surviving tessera back to full redundancy (k - 1
  // fetches when its owner has left, a push per missing unit) is counted
  // before the two are compared; what the oracle itself still owes is not.
  for (std::size_t tid = 0; tid < tesseras_.size(); ++tid) {
    const Tessera& T = tesseras_[tid];
    if (lost[tid]) continue;
    const SizeClass& c = ClassOf(T);
    const uint32_t units = c.redundancy.units();
    const uint32_t missing = units - std::min(T.durable, units);
    if (missing == 0) continue;
    const bool payload_local = c.redundancy.copies > 1 || nodes_[T.owner].alive;
    const uint64_t fetches = payload_local ? 0 : c.redundancy.data - 1;
    report_.repair_debt_bytes += fetches * c.fetch_bytes + uint64_t{missing} * c.push_bytes;
  }
  // The lower bound, not the oracle: the oracle's new copies can be lost
  // again where the policy's are not, so in a small run it can pay more.
  if (report_.bound_repair_bytes > report_.repair_bytes + report_.repair_debt_bytes &&
      report_.repair_bytes > 0) {
    Violation(
        "the lower bound's repair traffic exceeds the policy's (with what it owes at the end)");
  }

  // Calibration: predicted risk at the calibration day against what followed.
  const std::vector<double> edges = {0, 1e-9, 1e-6, 1e-4, 1e-3, 1e-2, 0.1, 0.5, 1.0000001};
  std::vector<CalibrationRow> rows(edges.size() - 1);
  for (std::size_t b = 0; b + 1 < edges.size(); ++b) {
    rows[b].predicted_lo = edges[b];
    rows[b].predicted_hi = std::min(1.0, edges[b + 1]);
  }
  for (std::size_t tid = 0; tid < tesseras_.size(); ++tid) {
    const double p = tesseras_[tid].predicted;
    if (p < 0) continue;
    std::size_t b = 0;
    while (b + 2 < edges.size() && p >= edges[b + 1]) ++b;
    ++rows[b].tesseras;
    rows[b].mean_predicted += p;
    rows[b].lost += lost[tid];
  }
  for (auto& row : rows) {
    if (row.tesseras) row.mean_predicted /= static_cast<double>(row.tesseras);
    if (row.tesseras) report_.calibration.push_back(row);
  }
}

core::Result<RunReport> RunPolicySimulation(const Scenario& scenario, const WireCosts& costs,
                                            const RunOptions& options) {
  const auto sizes = WorkloadSizes(scenario.workload);
  if (costs.classes.size() != sizes.size()) {
    return core::MakeError(core::ErrorCode::kInvalidArgument,
                           "wire costs were measured for another workload");
  }
  const auto start = std::chrono::steady_clock::now();
  auto world = std::make_unique<World>(scenario, costs, options.policy, options.verify_cache,
                                       options.daily_series);
  world->Setup();
  if (!options.trace_tesseras.empty()) world->set_trace(options.trace_tesseras, stderr);
  world->Run();
  world->Finish();
  RunReport r = std::move(world->report());
  r.policy = options.policy_name;
  r.connection_handshake_bytes = costs.connection_bytes;
  world.reset();
  r.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  r.peak_rss_bytes = PeakRssBytes();
  return r;
}

}  // namespace tesseras::sim
