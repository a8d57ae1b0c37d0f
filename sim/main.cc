// tesseras-sim: years of churn against the real maintenance policy, in
// minutes (docs/SIMULATION.md).
//
// Exit status: 0 after a run whose invariants held, 1 when an invariant
// failed or the run could not be made, 2 for a bad command line or scenario.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "sim/full_stack.h"
#include "sim/policy_sim.h"
#include "sim/scenario.h"
#include "sim/wire_costs.h"

namespace {

constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;

std::string Human(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  int u = 0;
  while (bytes >= 1024 && u < 5) {
    bytes /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f %s", bytes, units[u]);
  return buf;
}

void PrintSummary(const tesseras::sim::RunReport& r) {
  const double nd = r.node_days > 0 ? r.node_days : 1;
  std::printf("%-10s %s: %u nodes, %u tesseras, %.2f years (%s)\n", r.policy.c_str(),
              r.scenario.c_str(), r.nodes, r.tesseras, r.years, r.mode.c_str());
  std::printf("  tesseras lost          %zu\n", r.lost.size());
  std::printf("  repair traffic         %s (%s per node-day), %.3fx the oracle's %s\n",
              Human(static_cast<double>(r.repair_bytes)).c_str(),
              Human(static_cast<double>(r.repair_bytes) / nd).c_str(), r.traffic_vs_oracle,
              Human(static_cast<double>(r.oracle_repair_bytes)).c_str());
  std::printf("                         %.3fx the lower bound's %s\n", r.traffic_vs_bound,
              Human(static_cast<double>(r.bound_repair_bytes)).c_str());
  std::printf("  audit traffic          %s (%s per node-day)\n",
              Human(static_cast<double>(r.audit_bytes)).c_str(),
              Human(static_cast<double>(r.audit_bytes) / nd).c_str());
  std::printf("  min margin seen        %d (durable: %d)\n", r.min_margin_seen,
              r.min_durable_margin);
  std::printf("  below threshold        %llu episodes, p50 %.1f h, p99 %.1f h\n",
              static_cast<unsigned long long>(r.below_threshold_episodes),
              r.below_threshold_p50_hours, r.below_threshold_p99_hours);
  std::printf("  run                    %.1f s, peak RSS %s\n", r.wall_seconds,
              Human(static_cast<double>(r.peak_rss_bytes)).c_str());
  for (const auto& v : r.violations) std::printf("  INVARIANT FAILED: %s\n", v.c_str());
}

int Main(int argc, char** argv) {
  using namespace tesseras;
  CLI::App app{
      "tesseras-sim: churn over years against the real maintenance policy "
      "(docs/SIMULATION.md)",
      "tesseras-sim"};
  std::string scenario_path, csv_dir;
  bool json = false, both = false, eager_only = false, full_stack = false, verify = false;
  std::vector<std::string> sets;
  std::vector<uint32_t> trace;
  int threads = 2;
  app.add_option("--scenario", scenario_path, "scenario TOML file (sim/scenarios/*.toml)")
      ->required();
  app.add_flag("--json", json, "print one JSON document instead of the summary");
  app.add_option("--csv", csv_dir, "write per-day series to DIR/<policy>-days.csv");
  app.add_flag("--policy", both, "run the eager policy and the configured one side by side");
  app.add_flag("--eager", eager_only, "run only the eager policy");
  app.add_flag("--full-stack", full_stack,
               "run the real ReplicationService of every node beside the policy-level run");
  app.add_option("--set", sets, "override a key, e.g. --set policy.holder_grace_hours=168");
  app.add_flag("--verify-cache", verify,
               "re-assess at every check and fail if a reused assessment differs");
  app.add_option("--trace-tessera", trace,
                 "write every check, repair and loss of this tessera (a workload index, as "
                 "the JSON's lost list gives) to stderr; repeatable");
  app.add_option("--threads", threads, "runs at once with --policy (1 or 2)")
      ->check(CLI::Range(1, 2))
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : kExitUsage;
  }
  auto scenario = sim::LoadScenario(scenario_path, sets);
  if (!scenario.ok()) {
    std::fprintf(stderr, "tesseras-sim: %s\n", scenario.error().message.c_str());
    return kExitUsage;
  }
  std::vector<sim::RunOptions> runs;
  if (both || eager_only) {
    sim::RunOptions o;
    o.policy_name = "eager";
    o.policy = sim::EagerOf(scenario->policy);
    runs.push_back(o);
  }
  if (!eager_only) {
    sim::RunOptions o;
    o.policy_name = "configured";
    o.policy = scenario->policy;
    runs.push_back(o);
  }
  for (auto& o : runs) {
    o.verify_cache = verify;
    o.daily_series = !csv_dir.empty();
    o.trace_tesseras = trace;
  }
  std::vector<core::Result<sim::RunReport>> results(
      runs.size(), core::MakeError(core::ErrorCode::kInternal, "not run"));
  std::vector<sim::RunReport> reports;
  if (full_stack) {
    // Each run is the policy-level simulation and the real services on the
    // same churn; one after the other (the services use both cores).
    for (const auto& o : runs) {
      auto pair = sim::RunFullStack(*scenario, o);
      if (!pair.ok()) {
        std::fprintf(stderr, "tesseras-sim: %s\n", pair.error().ToString().c_str());
        return kExitFailed;
      }
      for (auto& r : *pair) reports.push_back(std::move(r));
    }
    results.clear();
  } else {
    auto costs =
        sim::MeasureWireCosts(sim::WorkloadSizes(scenario->workload), scenario->pass.audit_samples);
    if (!costs.ok()) {
      std::fprintf(stderr, "tesseras-sim: measuring wire costs: %s\n",
                   costs.error().message.c_str());
      return kExitFailed;
    }
    auto run = [&](std::size_t i) {
      results[i] = sim::RunPolicySimulation(*scenario, *costs, runs[i]);
    };
    if (threads > 1 && runs.size() > 1) {
      std::vector<std::thread> workers;
      for (std::size_t i = 0; i < runs.size(); ++i) workers.emplace_back(run, i);
      for (auto& w : workers) w.join();
    } else {
      for (std::size_t i = 0; i < runs.size(); ++i) run(i);
    }
  }
  for (auto& r : results) {
    if (!r.ok()) {
      std::fprintf(stderr, "tesseras-sim: %s\n", r.error().ToString().c_str());
      return kExitFailed;
    }
    reports.push_back(std::move(*r));
  }
  if (!csv_dir.empty()) {
    if (auto w = sim::WriteDailyCsv(reports, csv_dir); !w.ok()) {
      std::fprintf(stderr, "tesseras-sim: %s\n", w.error().message.c_str());
      return kExitFailed;
    }
  }
  if (json) {
    std::cout << (reports.size() == 1 ? sim::ToJson(reports[0]) : sim::ToJson(reports)) << "\n";
  } else {
    for (const auto& r : reports) PrintSummary(r);
  }
  for (const auto& r : reports) {
    if (!r.violations.empty()) return kExitFailed;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return Main(argc, argv); }
