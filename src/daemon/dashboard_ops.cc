// The operations and JSON that exist for the dashboard: recent events,
// maintenance, health summaries and the subnet spread of a tessera's holders.
#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "daemon/replicated_node.h"
#include "replication/placement.h"

namespace tesseras::daemon {
namespace {

Json OrNull(const std::string& s) { return s.empty() ? Json() : Json(s); }

Json PassJson(const NodeActivity::Pass& p) {
  Json j{{"started_at", p.started_at_ms},
         {"finished_at", p.finished_at_ms ? Json(*p.finished_at_ms) : Json()},
         {"trigger", p.trigger},
         {"scope", p.scope}};
  if (p.finished_at_ms) {
    j["tesseras"] = p.tesseras;
    j["regenerated"] = p.regenerated;
    j["mended_local"] = p.mended_local;
    j["problems"] = p.problems;
    j["error"] = OrNull(p.error);
  }
  return j;
}

}  // namespace

std::string SubnetLabel(const std::string& address) {
  const std::string key = replication::SubnetKey(address);
  if (key.rfind("v4:", 0) == 0) return key.substr(3) + ".0/24";
  if (key.rfind("v6:", 0) == 0 && key.size() == 3 + 12) {
    const std::string hex = key.substr(3);
    auto group = [&](int i) {
      std::string g = hex.substr(static_cast<std::size_t>(i) * 4, 4);
      g.erase(0, std::min(g.find_first_not_of('0'), g.size() - 1));
      return g;
    };
    return fmt::format("{}:{}:{}::/48", group(0), group(1), group(2));
  }
  return address;
}

Json HealthSummaryJson(const replication::HealthReport& h, int64_t checked_at_ms) {
  uint32_t holders_proven = 0;
  for (const auto& hh : h.holders) holders_proven += hh.proven.empty() ? 0 : 1;
  // The margin is the maintenance policy's (counted fragments − k; small:
  // counted copies − 1), the one repairs are ordered by.
  const int64_t margin = h.margin;
  return Json{{"state", std::string(replication::HealthStateName(h.state))},
              {"fragments_verified", h.fragments_verified},
              {"fragments_total", h.plan.total_shards()},
              {"data_shards", h.plan.data_shards},
              {"replication_factor", h.plan.replication_factor},
              {"holders_proven", holders_proven},
              {"margin", margin},
              {"checked_at", checked_at_ms}};
}

Json SubnetSpreadJson(const replication::HealthReport& h) {
  struct Spread {
    uint32_t holders = 0;
    uint32_t fragments = 0;
  };
  std::map<std::string, Spread> by_subnet;
  for (const auto& hh : h.holders) {
    Spread& s = by_subnet[SubnetLabel(hh.entry.address)];
    ++s.holders;
    s.fragments += static_cast<uint32_t>(hh.entry.indices.size());
  }
  std::vector<std::pair<std::string, Spread>> sorted(by_subnet.begin(), by_subnet.end());
  std::stable_sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) {
    return a.second.holders > b.second.holders;
  });
  Json out = Json::array();
  for (const auto& [subnet, s] : sorted) {
    out.push_back({{"subnet", subnet}, {"holders", s.holders}, {"fragments", s.fragments}});
  }
  return out;
}

core::Result<Json> ReplicatedNodeOperations::Events() {
  Json out = Json::array();
  for (const auto& e : d_.activity->Events()) {
    out.push_back({{"at", e.at_ms},
                   {"first_at", e.first_at_ms},
                   {"count", e.count},
                   {"kind", e.kind},
                   {"tessera", OrNull(e.tessera)},
                   {"peer", OrNull(e.peer)},
                   {"addr", OrNull(e.addr)},
                   {"message", e.message}});
  }
  return out;
}

core::Result<Json> ReplicatedNodeOperations::Maintenance() {
  // Passes: the service's own record of every pass (background or asked for),
  // and the single-tessera repairs asked through the API.
  Json running;
  std::vector<Json> last;
  for (const auto& p : d_.activity->Passes()) {
    if (p.scope == "all") continue;  // the service's history has those
    if (!p.finished_at_ms && running.is_null()) {
      running = PassJson(p);
    } else if (p.finished_at_ms) {
      last.push_back(PassJson(p));
    }
  }
  const replication::PassStatus now_running = d_.replication->pass_status();
  if (now_running.running) {
    const int64_t elapsed_ms = std::max<int64_t>(0, d_.clock->NowUnixMs() - now_running.started_ms);
    running = Json{{"started_at", now_running.started_ms},
                   {"finished_at", Json()},
                   {"trigger", "pass"},
                   {"scope", "all"},
                   {"phase", now_running.phase},
                   {"done", now_running.done},
                   {"total", now_running.total}};
    // The time per tessera so far, for what is left of this phase.
    if (now_running.done > 0) {
      running["eta_secs"] = elapsed_ms / 1000.0 / static_cast<double>(now_running.done) *
                            static_cast<double>(now_running.total - now_running.done);
    }
  }
  for (const auto& p : d_.replication->pass_history()) {
    last.push_back(Json{{"started_at", p.started_ms},
                        {"finished_at", p.finished_ms},
                        {"trigger", p.forced ? "api" : "schedule"},
                        {"scope", "all"},
                        {"tesseras", p.checked},
                        {"regenerated", p.regenerated},
                        {"mended_local", p.mended_local},
                        {"problems", p.problems},
                        {"repaired", p.repaired},
                        {"waiting", p.waiting},
                        {"deferred", p.deferred},
                        {"bytes_fetched", p.bytes_fetched},
                        {"bytes_sent", p.bytes_sent},
                        {"error", Json()}});
  }
  std::stable_sort(last.begin(), last.end(), [](const Json& a, const Json& b) {
    return a.at("started_at").get<int64_t>() > b.at("started_at").get<int64_t>();
  });
  if (last.size() > 20) last.resize(20);
  // The queue: own published tesseras by their margin at the last check,
  // those never checked since the daemon started last.
  ASSIGN_OR_RETURN(auto own, d_.tesseras->List());
  const auto health = d_.activity->AllHealth();
  struct Item {
    Json json;
    std::optional<int64_t> margin;
  };
  std::vector<Item> queue;
  for (const auto& t : own) {
    if (t.state == storage::TesseraState::kLocal) continue;
    Json j{{"hash", t.hash.ToHex()}, {"state", TesseraStateApiName(t.state)}};
    std::optional<int64_t> margin;
    if (auto it = health.find(t.hash); it != health.end()) {
      margin = it->second.at("margin").get<int64_t>();
      j["state"] = it->second.at("state");
      j["margin"] = *margin;
      j["fragments_verified"] = it->second.at("fragments_verified");
      j["fragments_total"] = it->second.at("fragments_total");
      j["checked_at"] = it->second.at("checked_at");
    } else {
      j["margin"] = Json();
      j["checked_at"] = Json();
    }
    queue.push_back({std::move(j), margin});
  }
  std::stable_sort(queue.begin(), queue.end(), [](const Item& a, const Item& b) {
    if (a.margin.has_value() != b.margin.has_value()) return a.margin.has_value();
    return a.margin.value_or(0) < b.margin.value_or(0);
  });
  Json queue_json = Json::array();
  for (auto& item : queue) queue_json.push_back(std::move(item.json));
  return Json{{"repair_interval_secs", d_.repair_interval_secs},
              {"repair_jitter_secs", d_.repair_jitter_secs},
              {"passes_completed", d_.repair->passes()},
              {"running", running},
              {"last_passes", Json(last)},
              {"queue", queue_json}};
}

}  // namespace tesseras::daemon
