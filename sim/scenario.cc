#include "sim/scenario.h"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

#include "core/tier.h"

namespace tesseras::sim {
namespace {

using core::ErrorCode;
using core::MakeError;
using core::Result;

constexpr double kHour = 3600;
constexpr double kDay = 86400;

core::Error At(std::string_view source, const toml::source_region& where, std::string_view what) {
  std::string m(source);
  if (where.begin.line > 0) m += fmt::format(":{}", where.begin.line);
  return MakeError(ErrorCode::kInvalidArgument, m + ": " + std::string(what));
}

// Reads the keys of one table, each at most once, and refuses keys nobody read.
class Reader {
 public:
  Reader(const toml::table& t, std::string path, std::string_view source)
      : t_(t), path_(std::move(path)), source_(source) {}

  std::string Name(std::string_view key) const {
    return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
  }
  const toml::node* Get(std::string_view key) {
    seen_.insert(std::string(key));
    return t_.get(key);
  }
  core::Error Bad(const toml::node& n, std::string_view key, std::string_view what) const {
    return At(source_, n.source(), Name(key) + " " + std::string(what));
  }

  Result<double> Number(std::string_view key, double lo, double hi, double def) {
    const toml::node* n = Get(key);
    if (!n) return def;
    std::optional<double> v;
    if (auto i = n->value_exact<int64_t>()) v = static_cast<double>(*i);
    if (auto d = n->value_exact<double>()) v = *d;
    if (!v || !std::isfinite(*v)) return Bad(*n, key, "must be a number");
    if (*v < lo || *v > hi) {
      return Bad(*n, key, fmt::format("must be between {} and {}, got {}", lo, hi, *v));
    }
    return *v;
  }
  Result<int64_t> Integer(std::string_view key, int64_t lo, int64_t hi, int64_t def) {
    const toml::node* n = Get(key);
    if (!n) return def;
    auto v = n->value_exact<int64_t>();
    if (!v) return Bad(*n, key, "must be an integer");
    if (*v < lo || *v > hi) {
      return Bad(*n, key, fmt::format("must be between {} and {}, got {}", lo, hi, *v));
    }
    return *v;
  }
  Result<std::string> String(std::string_view key, std::string def) {
    const toml::node* n = Get(key);
    if (!n) return def;
    auto v = n->value_exact<std::string>();
    if (!v) return Bad(*n, key, "must be a string");
    return *v;
  }
  // Payload sizes of one tier: a non-empty array of integers inside [lo, hi].
  Result<std::vector<uint64_t>> Sizes(std::string_view key, uint64_t lo, uint64_t hi,
                                      std::vector<uint64_t> def) {
    const toml::node* n = Get(key);
    if (!n) return def;
    const toml::array* a = n->as_array();
    if (!a || a->empty()) return Bad(*n, key, "must be a non-empty array of sizes in bytes");
    std::vector<uint64_t> out;
    for (const auto& e : *a) {
      auto v = e.value_exact<int64_t>();
      if (!v || *v < static_cast<int64_t>(lo) || static_cast<uint64_t>(*v) > hi) {
        return Bad(e, key, fmt::format("entries must be integers in [{}, {}] bytes", lo, hi));
      }
      out.push_back(static_cast<uint64_t>(*v));
    }
    return out;
  }
  Result<std::optional<Distribution>> Dist(std::string_view key) {
    const toml::node* n = Get(key);
    if (!n) return std::optional<Distribution>();
    const toml::table* t = n->as_table();
    if (!t) return Bad(*n, key, "must be a table like { dist = \"exponential\", mean_days = 730 }");
    Reader r(*t, Name(key), source_);
    Distribution d;
    ASSIGN_OR_RETURN(std::string kind, r.String("dist", "exponential"));
    if (kind == "fixed") {
      d.kind = Distribution::Kind::kFixed;
    } else if (kind == "exponential") {
      d.kind = Distribution::Kind::kExponential;
    } else if (kind == "weibull") {
      d.kind = Distribution::Kind::kWeibull;
    } else {
      return Bad(*n, key,
                 "dist must be \"fixed\", \"exponential\" or \"weibull\", got \"" + kind + "\"");
    }
    ASSIGN_OR_RETURN(double days, r.Number("mean_days", 0, 1e6, -1));
    ASSIGN_OR_RETURN(double hours, r.Number("mean_hours", 0, 1e7, -1));
    if ((days < 0) == (hours < 0))
      return Bad(*n, key, "needs exactly one of mean_days, mean_hours");
    d.mean_secs = days >= 0 ? days * kDay : hours * kHour;
    if (d.mean_secs < 1) return Bad(*n, key, "mean must be at least one second");
    ASSIGN_OR_RETURN(d.shape, r.Number("shape", 0.1, 20, 1));
    if (d.kind != Distribution::Kind::kWeibull && r.t_.get("shape")) {
      return Bad(*n, key, "shape applies to dist = \"weibull\" only");
    }
    TRY(r.Finish());
    return std::optional<Distribution>(d);
  }
  Result<void> Finish() const {
    for (const auto& [k, v] : t_) {
      if (!seen_.count(std::string(k.str()))) {
        return At(source_, k.source(), "unknown key " + Name(k.str()));
      }
    }
    return core::Ok();
  }
  const toml::table& table() const { return t_; }

 private:
  const toml::table& t_;
  std::string path_;
  std::string_view source_;
  std::set<std::string> seen_;
};

Result<const toml::table*> Section(const toml::table& root, std::string_view name,
                                   std::string_view source) {
  const toml::node* n = root.get(name);
  if (!n) return static_cast<const toml::table*>(nullptr);
  const toml::table* t = n->as_table();
  if (!t) return At(source, n->source(), fmt::format("[{}] must be a table", name));
  return t;
}

Result<NodeClass> ParseClass(const toml::table& t, std::string path, std::string_view source) {
  Reader r(t, std::move(path), source);
  NodeClass c;
  ASSIGN_OR_RETURN(c.name, r.String("name", "node"));
  ASSIGN_OR_RETURN(c.share, r.Number("share", 0, 1, 1));
  ASSIGN_OR_RETURN(auto lifetime, r.Dist("lifetime"));
  if (!lifetime) return At(source, t.source(), r.Name("lifetime") + " is required");
  c.lifetime = *lifetime;
  ASSIGN_OR_RETURN(auto session, r.Dist("session"));
  ASSIGN_OR_RETURN(auto downtime, r.Dist("downtime"));
  const toml::node* dn = r.Get("diurnal");
  if (dn) {
    const toml::table* dt = dn->as_table();
    if (!dt) return r.Bad(*dn, "diurnal", "must be a table");
    Reader d(*dt, r.Name("diurnal"), source);
    Diurnal di;
    ASSIGN_OR_RETURN(di.on_hours_min, d.Number("on_hours_min", 0.5, 24, di.on_hours_min));
    ASSIGN_OR_RETURN(di.on_hours_max, d.Number("on_hours_max", 0.5, 24, di.on_hours_max));
    ASSIGN_OR_RETURN(di.start_hour, d.Number("start_hour", 0, 24, di.start_hour));
    ASSIGN_OR_RETURN(di.start_spread_hours, d.Number("start_spread_hours", 0, 12, 2));
    ASSIGN_OR_RETURN(di.days_off, d.Number("days_off", 0, 0.95, 0));
    if (di.on_hours_max < di.on_hours_min) {
      return r.Bad(*dn, "diurnal", "needs on_hours_min <= on_hours_max");
    }
    TRY(d.Finish());
    c.diurnal = di;
    if (session || downtime) {
      return r.Bad(*dn, "diurnal", "excludes session and downtime: a class is one or the other");
    }
  } else {
    if (!session || !downtime) {
      return At(source, t.source(), r.Name("") + " needs session and downtime, or diurnal");
    }
    c.session = *session;
    c.downtime = *downtime;
  }
  ASSIGN_OR_RETURN(double mbit, r.Number("upload_mbit", 0.01, 100000, 10));
  c.upload_bytes_per_sec = mbit * 1e6 / 8;
  TRY(r.Finish());
  return c;
}

// Puts "section.key=value" into the table (plain sections only).
Result<void> Override(toml::table& root, const std::string& assignment) {
  const auto eq = assignment.find('=');
  const auto dot = assignment.find('.');
  if (eq == std::string::npos || dot == std::string::npos || dot > eq) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "--set wants section.key=value, got \"" + assignment + "\"");
  }
  auto trim = [](std::string s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.erase(0, 1);
    return s;
  };
  const std::string section = trim(assignment.substr(0, dot));
  const std::string key = trim(assignment.substr(dot + 1, eq - dot - 1));
  const std::string value = trim(assignment.substr(eq + 1));
  if (section == "nodes") {
    return MakeError(ErrorCode::kInvalidArgument, "--set cannot change [[nodes]] classes");
  }
  toml::table parsed;
  try {
    parsed = toml::parse(std::string_view("v = " + value), std::string_view("--set"));
  } catch (const toml::parse_error& e) {
    return MakeError(ErrorCode::kInvalidArgument,
                     fmt::format("--set {}: value is not TOML: {}", assignment, e.description()));
  }
  toml::node* sec = root.get(section);
  if (!sec) {
    root.insert(section, toml::table{});
    sec = root.get(section);
  }
  toml::table* t = sec->as_table();
  if (!t) return MakeError(ErrorCode::kInvalidArgument, "--set: [" + section + "] is not a table");
  t->insert_or_assign(key, *parsed.get("v"));
  return core::Ok();
}

}  // namespace

double Distribution::Sample(Rng& rng) const {
  switch (kind) {
    case Kind::kFixed:
      return mean_secs;
    case Kind::kExponential:
      return rng.Exponential(mean_secs);
    case Kind::kWeibull:
      return rng.Weibull(shape, mean_secs / std::tgamma(1.0 + 1.0 / shape));
  }
  return mean_secs;
}

Result<Scenario> ParseScenario(std::string_view text, std::string_view source,
                               const std::vector<std::string>& overrides) {
  toml::table root;
  try {
    root = toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    return At(source, e.source(), std::string(e.description()));
  }
  for (const auto& o : overrides) TRY(Override(root, o));
  static const std::set<std::string> kSections = {"scenario", "tesseras", "owners", "nodes",
                                                  "outages",  "disk",     "policy", "fullstack"};
  for (const auto& [k, v] : root) {
    if (!kSections.count(std::string(k.str()))) {
      return At(source, k.source(),
                fmt::format("unknown section [{}] (known: scenario, tesseras, owners, nodes, "
                            "outages, disk, policy, fullstack)",
                            k.str()));
    }
  }
  Scenario s;
  const toml::table empty;
  {
    ASSIGN_OR_RETURN(const toml::table* t, Section(root, "scenario", source));
    Reader r(t ? *t : empty, "scenario", source);
    ASSIGN_OR_RETURN(s.name, r.String("name", std::string(source)));
    ASSIGN_OR_RETURN(s.description, r.String("description", ""));
    ASSIGN_OR_RETURN(int64_t seed, r.Integer("seed", 0, INT64_MAX, 1));
    s.seed = static_cast<uint64_t>(seed);
    ASSIGN_OR_RETURN(s.years, r.Number("years", 1.0 / 365, 100, 10));
    ASSIGN_OR_RETURN(int64_t nodes, r.Integer("nodes", 8, 1'000'000, 10000));
    s.nodes = static_cast<uint32_t>(nodes);
    ASSIGN_OR_RETURN(int64_t tesseras, r.Integer("tesseras", 1, 10'000'000, 100000));
    s.tesseras = static_cast<uint32_t>(tesseras);
    ASSIGN_OR_RETURN(s.nodes_per_subnet, r.Number("nodes_per_subnet", 1, 254, 1.5));
    ASSIGN_OR_RETURN(double latency_ms, r.Number("latency_ms", 0, 10000, 40));
    s.latency_secs = latency_ms / 1000;
    ASSIGN_OR_RETURN(s.calibration_day, r.Number("calibration_day", 1, 36500, 90));
    TRY(r.Finish());
  }
  {
    ASSIGN_OR_RETURN(const toml::table* t, Section(root, "tesseras", source));
    Reader r(t ? *t : empty, "tesseras", source);
    Workload& w = s.workload;
    ASSIGN_OR_RETURN(w.small_share, r.Number("small_share", 0, 1, w.small_share));
    ASSIGN_OR_RETURN(w.medium_share, r.Number("medium_share", 0, 1, w.medium_share));
    ASSIGN_OR_RETURN(w.large_share, r.Number("large_share", 0, 1, w.large_share));
    if (std::abs(w.small_share + w.medium_share + w.large_share - 1) > 1e-6) {
      return At(source, t ? t->source() : toml::source_region{},
                "tesseras: small_share + medium_share + large_share must be 1");
    }
    ASSIGN_OR_RETURN(w.small_sizes,
                     r.Sizes("small_sizes", 1, core::kSmallTierLimit - 1, w.small_sizes));
    ASSIGN_OR_RETURN(w.medium_sizes, r.Sizes("medium_sizes", core::kSmallTierLimit,
                                             core::kMediumTierLimit - 1, w.medium_sizes));
    ASSIGN_OR_RETURN(w.large_sizes, r.Sizes("large_sizes", core::kMediumTierLimit,
                                            core::kMaxTesseraSize, w.large_sizes));
    TRY(r.Finish());
  }
  {
    ASSIGN_OR_RETURN(const toml::table* t, Section(root, "owners", source));
    Reader r(t ? *t : empty, "owners", source);
    ASSIGN_OR_RETURN(s.owner_share, r.Number("share", 0.0001, 1, s.owner_share));
    ASSIGN_OR_RETURN(s.owner_leave, r.Dist("leave"));
    TRY(r.Finish());
  }
  {
    const toml::node* n = root.get("nodes");
    if (!n) return MakeError(ErrorCode::kInvalidArgument, std::string(source) + ": no [[nodes]]");
    const toml::array* a = n->as_array();
    if (!a || a->empty()) {
      return At(source, n->source(), "[[nodes]] must be an array of tables");
    }
    double total = 0;
    for (std::size_t i = 0; i < a->size(); ++i) {
      const toml::table* t = (*a)[i].as_table();
      if (!t) return At(source, (*a)[i].source(), "[[nodes]] entries must be tables");
      ASSIGN_OR_RETURN(NodeClass c, ParseClass(*t, fmt::format("nodes[{}]", i), source));
      total += c.share;
      s.classes.push_back(std::move(c));
    }
    if (std::abs(total - 1) > 1e-6) {
      return At(source, n->source(), fmt::format("[[nodes]] shares sum to {}, not 1", total));
    }
  }
  {
    ASSIGN_OR_RETURN(const toml::table* t, Section(root, "outages", source));
    Reader r(t ? *t : empty, "outages", source);
    ASSIGN_OR_RETURN(s.outages_per_subnet_year, r.Number("per_subnet_per_year", 0, 365, 0));
    ASSIGN_OR_RETURN(auto d, r.Dist("duration"));
    if (d) s.outage_duration = *d;
    TRY(r.Finish());
  }
  {
    ASSIGN_OR_RETURN(const toml::table* t, Section(root, "disk", source));
    Reader r(t ? *t : empty, "disk", source);
    ASSIGN_OR_RETURN(s.disk_failures_per_node_year, r.Number("failures_per_node_year", 0, 12, 0));
    TRY(r.Finish());
  }
  {
    ASSIGN_OR_RETURN(const toml::table* t, Section(root, "policy", source));
    Reader r(t ? *t : empty, "policy", source);
    auto& p = s.policy;
    constexpr double kMs = 1000;
    ASSIGN_OR_RETURN(double grace, r.Number("holder_grace_hours", 0, 24 * 3650,
                                            static_cast<double>(p.holder_grace_ms) / kMs / kHour));
    p.holder_grace_ms = std::llround(grace * kHour * kMs);
    ASSIGN_OR_RETURN(double probe,
                     r.Number("suspect_probe_hours", 0, 24 * 3650,
                              static_cast<double>(p.suspect_probe_interval_ms) / kMs / kHour));
    p.suspect_probe_interval_ms = std::llround(probe * kHour * kMs);
    ASSIGN_OR_RETURN(p.repair_threshold, r.Number("repair_threshold", 0, 1, p.repair_threshold));
    ASSIGN_OR_RETURN(p.surplus_fraction, r.Number("surplus_fraction", 0, 10, p.surplus_fraction));
    ASSIGN_OR_RETURN(int64_t at_threshold, r.Integer("coded_repair_at_threshold", 0, 1,
                                                     p.coded_repair_at_threshold ? 1 : 0));
    p.coded_repair_at_threshold = at_threshold != 0;
    ASSIGN_OR_RETURN(int64_t batch_suspects,
                     r.Integer("batch_rebuilds_suspects", 0, 1, p.batch_rebuilds_suspects ? 1 : 0));
    p.batch_rebuilds_suspects = batch_suspects != 0;
    ASSIGN_OR_RETURN(double takeover,
                     r.Number("takeover_delay_hours", 0, 24 * 3650,
                              static_cast<double>(p.takeover_delay_ms) / kMs / kHour));
    p.takeover_delay_ms = std::llround(takeover * kHour * kMs);
    ASSIGN_OR_RETURN(double watch, r.Number("watch_interval_days", 0.01, 3650,
                                            static_cast<double>(p.watch_interval_ms) / kMs / kDay));
    p.watch_interval_ms = std::llround(watch * kDay * kMs);
    ASSIGN_OR_RETURN(double forget,
                     r.Number("forget_lost_after_days", 0, 3650,
                              static_cast<double>(p.forget_lost_after_ms) / kMs / kDay));
    p.forget_lost_after_ms = std::llround(forget * kDay * kMs);
    ASSIGN_OR_RETURN(double gather, r.Number("gather_keep_days", 0, 3650,
                                             static_cast<double>(p.gather_keep_ms) / kMs / kDay));
    p.gather_keep_ms = std::llround(gather * kDay * kMs);
    ASSIGN_OR_RETURN(double budget_gib,
                     r.Number("repair_gib_per_day", 0.001, 1e6,
                              static_cast<double>(p.repair_bytes_per_day) / (1ull << 30)));
    p.repair_bytes_per_day = static_cast<uint64_t>(std::llround(budget_gib * (1ull << 30)));
    ASSIGN_OR_RETURN(int64_t cap, r.Integer("max_per_subnet", 1, 255, s.pass.max_per_subnet));
    s.pass.max_per_subnet = static_cast<uint32_t>(cap);
    ASSIGN_OR_RETURN(double interval, r.Number("repair_interval_hours", 0.01, 24 * 365, 24));
    s.pass.interval_secs = std::llround(interval * kHour);
    ASSIGN_OR_RETURN(double jitter, r.Number("repair_jitter_hours", 0, 24 * 365, 2));
    s.pass.jitter_secs = std::llround(jitter * kHour);
    ASSIGN_OR_RETURN(int64_t samples, r.Integer("audit_samples", 1, 16, 2));
    s.pass.audit_samples = static_cast<int>(samples);
    TRY(r.Finish());
  }
  {
    ASSIGN_OR_RETURN(const toml::table* t, Section(root, "fullstack", source));
    Reader r(t ? *t : empty, "fullstack", source);
    auto& f = s.full_stack;
    ASSIGN_OR_RETURN(int64_t nodes, r.Integer("nodes", 8, 5000, f.nodes));
    f.nodes = static_cast<uint32_t>(nodes);
    ASSIGN_OR_RETURN(int64_t tesseras, r.Integer("tesseras", 1, 100000, f.tesseras));
    f.tesseras = static_cast<uint32_t>(tesseras);
    ASSIGN_OR_RETURN(f.years, r.Number("years", 1.0 / 365, 10, f.years));
    ASSIGN_OR_RETURN(f.small_share, r.Number("small_share", 0, 1, f.small_share));
    ASSIGN_OR_RETURN(f.medium_share, r.Number("medium_share", 0, 1, f.medium_share));
    ASSIGN_OR_RETURN(f.large_share, r.Number("large_share", 0, 1, f.large_share));
    if (std::abs(f.small_share + f.medium_share + f.large_share - 1) > 1e-6) {
      return At(source, t ? t->source() : toml::source_region{},
                "fullstack: small_share + medium_share + large_share must be 1");
    }
    ASSIGN_OR_RETURN(f.small_sizes,
                     r.Sizes("small_sizes", 1, core::kSmallTierLimit - 1, f.small_sizes));
    ASSIGN_OR_RETURN(f.medium_sizes, r.Sizes("medium_sizes", core::kSmallTierLimit,
                                             core::kMediumTierLimit - 1, f.medium_sizes));
    ASSIGN_OR_RETURN(f.large_sizes, r.Sizes("large_sizes", core::kMediumTierLimit,
                                            core::kMaxTesseraSize, f.large_sizes));
    TRY(r.Finish());
  }
  return s;
}

Result<Scenario> LoadScenario(const std::string& path, const std::vector<std::string>& overrides) {
  std::ifstream in(path);
  if (!in) return MakeError(ErrorCode::kNotFound, "cannot read scenario file " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ParseScenario(ss.str(), path, overrides);
}

replication::MaintenancePolicyConfig EagerOf(replication::MaintenancePolicyConfig c) {
  c.holder_grace_ms = 0;
  c.suspect_probe_interval_ms = 0;
  c.repair_threshold = 1.0;
  return c;
}

std::vector<std::pair<std::string, double>> KnobList(const replication::MaintenancePolicyConfig& c,
                                                     const PassConfig& p) {
  constexpr double kMsPerHour = 3.6e6;
  return {
      {"holder_grace_hours", static_cast<double>(c.holder_grace_ms) / kMsPerHour},
      {"suspect_probe_hours", static_cast<double>(c.suspect_probe_interval_ms) / kMsPerHour},
      {"repair_threshold", c.repair_threshold},
      {"surplus_fraction", c.surplus_fraction},
      {"coded_repair_at_threshold", c.coded_repair_at_threshold ? 1.0 : 0.0},
      {"batch_rebuilds_suspects", c.batch_rebuilds_suspects ? 1.0 : 0.0},
      {"takeover_delay_hours", static_cast<double>(c.takeover_delay_ms) / kMsPerHour},
      {"watch_interval_days", static_cast<double>(c.watch_interval_ms) / kMsPerHour / 24},
      {"forget_lost_after_days", static_cast<double>(c.forget_lost_after_ms) / kMsPerHour / 24},
      {"gather_keep_days", static_cast<double>(c.gather_keep_ms) / kMsPerHour / 24},
      {"repair_gib_per_day", static_cast<double>(c.repair_bytes_per_day) / (1ull << 30)},
      {"max_per_subnet", static_cast<double>(p.max_per_subnet)},
      {"repair_interval_hours", static_cast<double>(p.interval_secs) / 3600},
      {"repair_jitter_hours", static_cast<double>(p.jitter_secs) / 3600},
      {"audit_samples", static_cast<double>(p.audit_samples)},
  };
}

}  // namespace tesseras::sim
