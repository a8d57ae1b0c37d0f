#include "sim/report.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

namespace tesseras::sim {
namespace {

using nlohmann::json;

json Bytes(uint64_t total, double node_days) {
  return json{{"total", total},
              {"per_node_day", node_days > 0 ? static_cast<double>(total) / node_days : 0.0}};
}

double Finite(double x) { return std::isfinite(x) ? x : -1; }

json RunJson(const RunReport& r, bool run_stats) {
  json j;
  j["scenario"] = r.scenario;
  j["mode"] = r.mode;
  j["policy"] = r.policy;
  j["seed"] = r.seed;
  j["years"] = r.years;
  j["nodes"] = r.nodes;
  j["tesseras"] = r.tesseras;
  json knobs = json::object();
  for (const auto& [k, v] : r.knobs) knobs[k] = v;
  j["knobs"] = knobs;
  json which = json::array();
  for (const auto& l : r.lost) {
    which.push_back({{"tessera", l.tessera}, {"hash", l.hash}, {"tier", l.tier}, {"day", l.day}});
  }
  j["tesseras_lost"] = {{"count", r.lost.size()}, {"which", which}};
  j["untracked"] = r.untracked;
  if (r.mode == "full-stack") {
    j["full_stack"] = {{"restored_at_end", r.restored_at_end},
                       {"restore_bytes", r.restore_bytes},
                       {"maintenance_passes", r.passes_run},
                       {"publish_incomplete", r.publish_incomplete},
                       {"subnet_cap_exceeded", r.subnet_cap_exceeded},
                       {"max_holders_in_one_subnet", r.max_holders_in_one_subnet}};
  }
  j["traffic_vs_oracle"] = Finite(r.traffic_vs_oracle);
  j["traffic_vs_lower_bound"] = Finite(r.traffic_vs_bound);
  j["min_margin_seen"] = r.min_margin_seen;
  j["min_durable_margin"] = r.min_durable_margin;
  j["below_threshold"] = {{"episodes", r.below_threshold_episodes},
                          {"p50_hours", r.below_threshold_p50_hours},
                          {"p99_hours", r.below_threshold_p99_hours},
                          {"tessera_days", r.below_threshold_tessera_days}};
  j["node_days"] = r.node_days;
  j["repair_bytes"] = Bytes(r.repair_bytes, r.node_days);
  j["audit_bytes"] = Bytes(r.audit_bytes, r.node_days);
  j["record_bytes"] = Bytes(r.record_bytes, r.node_days);
  j["repair_debt_bytes"] = r.repair_debt_bytes;
  j["publish_bytes"] = r.publish_bytes;
  j["connection_handshake_bytes"] = r.connection_handshake_bytes;
  j["oracle"] = {{"repair_bytes", Bytes(r.oracle_repair_bytes, r.node_days)},
                 {"audit_bytes", Bytes(0, r.node_days)},
                 {"copies_created", r.oracle_copies}};
  j["lower_bound"] = {{"repair_bytes", Bytes(r.bound_repair_bytes, r.node_days)},
                      {"copies_created", r.bound_copies}};
  json tiers = json::object();
  const char* names[] = {"small", "medium", "large"};
  for (int t = 0; t < 3; ++t) {
    tiers[names[t]] = {{"fetch_bytes", r.fetch_bytes_by_tier[t]},
                       {"push_bytes", r.push_bytes_by_tier[t]},
                       {"copies_created", r.copies_by_tier[t]},
                       {"oracle_bytes", r.oracle_bytes_by_tier[t]},
                       {"oracle_share_bytes", r.oracle_share_bytes_by_tier[t]},
                       {"oracle_copies", r.oracle_copies_by_tier[t]}};
  }
  j["by_tier"] = tiers;
  j["counts"] = {{"checks_owner", r.checks_owner},
                 {"checks_quiet", r.checks_quiet},
                 {"checks_watch", r.checks_watch},
                 {"assessments", r.assessments},
                 {"assessments_reused", r.assessments_reused},
                 {"repairs", r.repairs},
                 {"repairs_by_owner", r.repairs_by_owner},
                 {"repairs_by_quiet", r.repairs_by_quiet},
                 {"repairs_by_watch", r.repairs_by_watch},
                 {"repairs_lost_copies", r.repairs_lost_copies},
                 {"repairs_below_threshold", r.repairs_below_threshold},
                 {"copies_created", r.copies_created},
                 {"copies_created_redundant", r.copies_created_redundant},
                 {"redundant_by_cause",
                  {{"filled_meanwhile", r.redundant_by_cause[0]},
                   {"holder_down", r.redundant_by_cause[1]},
                   {"holders_up", r.redundant_by_cause[2]}}},
                 {"redundant_by_maker",
                  {{"owner", r.redundant_by_maker[0]},
                   {"quiet", r.redundant_by_maker[1]},
                   {"watch", r.redundant_by_maker[2]}}},
                 {"redundant_holder_down_for",
                  {{"under_1d", r.redundant_holder_down_for[0]},
                   {"1d_to_3d", r.redundant_holder_down_for[1]},
                   {"3d_to_7d", r.redundant_holder_down_for[2]},
                   {"7d_or_more", r.redundant_holder_down_for[3]}}},
                 {"copies_already_held", r.copies_already_held},
                 {"transfers_failed", r.transfers_failed},
                 {"budget_deferred", r.budget_deferred},
                 {"repairs_without_sources", r.repairs_without_sources},
                 {"gathers", r.gathers},
                 {"lookups", r.lookups},
                 {"connections", r.connections},
                 {"probes", r.probes},
                 {"probes_answered", r.probes_answered},
                 {"probe_bytes", r.probe_bytes},
                 {"surplus_dropped", r.surplus_dropped},
                 {"forgotten", r.forgotten},
                 {"listed_copies", r.listed_copies},
                 {"existing_copies", r.existing_copies},
                 {"departures", r.departures},
                 {"owner_departures", r.owner_departures},
                 {"disk_failures", r.disk_failures},
                 {"outages", r.outages}};
  json cal = json::array();
  for (const auto& c : r.calibration) {
    cal.push_back(
        {{"predicted_lo", c.predicted_lo},
         {"predicted_hi", c.predicted_hi},
         {"tesseras", c.tesseras},
         {"mean_predicted", c.mean_predicted},
         {"lost", c.lost},
         {"observed",
          c.tesseras ? static_cast<double>(c.lost) / static_cast<double>(c.tesseras) : 0.0}});
  }
  j["calibration"] = cal;
  j["invariants"] = {{"held", r.violations.empty()}, {"violations", r.violations}};
  if (run_stats) {
    j["run"] = {{"wall_seconds", r.wall_seconds},
                {"peak_rss_bytes", r.peak_rss_bytes},
                {"events", r.events},
                {"evaluations", r.evaluations},
                {"rank_computations", r.rank_computations}};
  }
  return j;
}

}  // namespace

std::string ToJson(const RunReport& r, bool run_stats) { return RunJson(r, run_stats).dump(2); }

std::string ToJson(const std::vector<RunReport>& runs, bool run_stats) {
  json j;
  json by = json::object();
  for (const auto& r : runs) by[r.policy] = RunJson(r, run_stats);
  j["runs"] = by;
  if (!runs.empty()) j["scenario"] = runs.front().scenario;
  // The headline figures of every run, one row each.
  json table = json::array();
  for (const auto& r : runs) {
    table.push_back({{"policy", r.policy},
                     {"tesseras_lost", r.lost.size()},
                     {"traffic_vs_oracle", Finite(r.traffic_vs_oracle)},
                     {"repair_bytes_per_node_day",
                      r.node_days > 0 ? static_cast<double>(r.repair_bytes) / r.node_days : 0.0},
                     {"audit_bytes_per_node_day",
                      r.node_days > 0 ? static_cast<double>(r.audit_bytes) / r.node_days : 0.0},
                     {"min_margin_seen", r.min_margin_seen}});
  }
  j["side_by_side"] = table;
  return j.dump(2);
}

core::Result<void> WriteDailyCsv(const std::vector<RunReport>& runs, const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return core::MakeError(core::ErrorCode::kIo, "cannot create " + dir + ": " + ec.message());
  }
  for (const auto& r : runs) {
    const std::string path = dir + "/" + r.policy + "-days.csv";
    std::ofstream out(path);
    if (!out) return core::MakeError(core::ErrorCode::kIo, "cannot write " + path);
    out << "day,nodes_alive,nodes_up,repair_bytes,audit_bytes,oracle_bytes,min_margin_seen,"
           "min_durable_margin,below_threshold,lost,repairs\n";
    for (const auto& d : r.days) {
      out << d.day << ',' << d.nodes_alive << ',' << d.nodes_up << ',' << d.repair_bytes << ','
          << d.audit_bytes << ',' << d.oracle_bytes << ',' << d.min_margin_seen << ','
          << d.min_durable_margin << ',' << d.below_threshold << ',' << d.lost << ',' << d.repairs
          << '\n';
    }
    if (!out) return core::MakeError(core::ErrorCode::kIo, "writing " + path + " failed");
  }
  return core::Ok();
}

uint64_t PeakRssBytes() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  }
  return 0;
}

}  // namespace tesseras::sim
