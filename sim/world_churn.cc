// Nodes coming and going, correlated outages, disk failures, the ground truth
// of where fragments are, and the oracle (docs/SIMULATION.md, "Churn").
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>

#include "sim/world.h"

namespace tesseras::sim {

using replication::CopyHistory;

replication::CopyHistory ToCopy(const Hist& h, uint32_t index) {
  CopyHistory c;
  c.index = index;
  if (h.last_proven != kNever) c.last_proven_ms = MsAt(h.last_proven);
  if (h.first_failure != kNever) c.first_failure_ms = MsAt(h.first_failure);
  c.consecutive_failures = h.failures;
  c.denied = h.denied != 0;
  return c;
}

void StoreCopy(const replication::CopyHistory& c, Hist& h) {
  h.last_proven =
      c.last_proven_ms ? static_cast<int32_t>((*c.last_proven_ms - kBaseMs) / 1000) : kNever;
  h.first_failure =
      c.first_failure_ms ? static_cast<int32_t>((*c.first_failure_ms - kBaseMs) / 1000) : kNever;
  h.failures = static_cast<uint16_t>(std::min<uint32_t>(c.consecutive_failures, 65535));
  h.denied = c.denied;
}

replication::MaintenanceClock Part::Clock() const {
  replication::MaintenanceClock m;
  if (checked != kNever) m.last_checked_ms = MsAt(checked);
  if (audited != kNever) m.last_audited_by_peer_ms = MsAt(audited);
  if (need != kNever) m.need_since_ms = MsAt(need);
  return m;
}

World::World(const Scenario& s, const WireCosts& costs, replication::MaintenancePolicyConfig policy,
             bool verify_cache, bool daily_series)
    : s_(s),
      costs_(costs),
      cfg_(policy),
      verify_cache_(verify_cache),
      daily_series_(daily_series),
      arrivals_(s.seed, 0xa001),
      outages_(s.seed, 0xa002),
      oracle_rng_(s.seed, 0xa003),
      workload_(s.seed, 0xa004),
      bound_rng_(s.seed, 0xa005) {
  end_ = static_cast<int64_t>(std::llround(s.years * 365 * kDaySecs));
  margin_count_.assign(80, 0);
}

void World::Schedule(int64_t t, EventType type, uint32_t a, uint32_t b) {
  queue_.push(Event{t, seq_++, type, a, b});
}

void World::Violation(std::string what) {
  if (report_.violations.size() < 100) report_.violations.push_back(std::move(what));
}

void World::set_trace(const std::vector<uint32_t>& tesseras, std::FILE* out) {
  trace_ = out;
  traced_.assign(tesseras_.size(), 0);
  for (uint32_t t : tesseras) {
    if (t < traced_.size()) traced_[t] = 1;
  }
}

void World::Trace(uint32_t tid, int64_t t, const std::string& what) const {
  const Tessera& T = tesseras_[tid];
  const auto& r = ClassOf(T).redundancy;
  // Distinct indices (coded) or copies (small) claimed by holders up now.
  std::vector<uint8_t> up_index(r.fragments, 0);
  uint32_t up_copies = 0;
  for (const Slot& s : T.record) {
    if (!s.claimed || !up_[s.node] || s.index >= r.fragments) continue;
    up_index[s.index] = 1;
    ++up_copies;
  }
  const uint32_t up = r.copies > 1
                          ? up_copies
                          : static_cast<uint32_t>(std::count(up_index.begin(), up_index.end(), 1));
  std::fprintf(trace_,
               "day %.3f tessera %u: %s [truth: durable %u, claimed up %u, k %u, owner %s]\n",
               static_cast<double>(t) / kDaySecs, tid, what.c_str(), T.durable, up, r.data,
               nodes_[T.owner].alive ? "in" : "gone");
}

uint32_t World::AddNode(int64_t t, bool initial, Rng& chooser) {
  const uint32_t n = static_cast<uint32_t>(nodes_.size());
  nodes_.emplace_back();
  Node& node = nodes_.back();
  for (auto& b : node.id.bytes) b = static_cast<uint8_t>(chooser.Next());
  for (int i = 0; i < 8; ++i) node.prefix = (node.prefix << 8) | node.id.bytes[i];
  node.subnet = static_cast<uint32_t>(chooser.Below(subnet_nodes_.size()));
  double pick = chooser.Uniform(), acc = 0;
  node.node_class = static_cast<uint16_t>(s_.classes.size() - 1);
  for (std::size_t c = 0; c < s_.classes.size(); ++c) {
    acc += s_.classes[c].share;
    if (pick < acc) {
      node.node_class = static_cast<uint16_t>(c);
      break;
    }
  }
  const uint16_t host = static_cast<uint16_t>(1 + subnet_hosts_[node.subnet]++ % 254);
  node.address = "10." + std::to_string(node.subnet >> 8) + "." +
                 std::to_string(node.subnet & 255) + "." + std::to_string(host);
  node.churn = Rng(s_.seed, 4ull * n + 0x100);
  node.pass = Rng(s_.seed, 4ull * n + 0x101);
  node.disk = Rng(s_.seed, 4ull * n + 0x102);
  node.born = t;
  node.budget = replication::RepairBudget(cfg_, MsAt(t));
  const NodeClass& cls = s_.classes[node.node_class];
  node.dies = t + std::max<int64_t>(1, std::llround(cls.lifetime.Sample(node.churn)));
  subnet_nodes_[node.subnet].push_back(n);
  up_.push_back(0);
  ids_.push_back(node.id);
  addrs_.push_back(node.address);
  if (observer_) observer_->OnArrive(n, t);
  by_id_.insert(std::lower_bound(by_id_.begin(), by_id_.end(), std::make_pair(node.prefix, n)),
                {node.prefix, n});
  alive_pos_.push_back(static_cast<uint32_t>(alive_.size()));
  alive_.push_back(n);
  mark_.push_back(0);
  mark_pos_.push_back(0);
  node.self_up = false;
  node.up = false;
  ScheduleChurn(n, t, initial);
  if (node.dies < end_) Schedule(node.dies, EventType::kDepart, n);
  // The first pass comes at a uniform time within one interval.
  Schedule(t + 1 + static_cast<int64_t>(node.pass.Below(s_.pass.interval_secs)), EventType::kPass,
           n);
  if (s_.disk_failures_per_node_year > 0) {
    const double mean = 365 * kDaySecs / s_.disk_failures_per_node_year;
    node.next_disk_failure = t + 1 + std::llround(node.disk.Exponential(mean));
    Schedule(node.next_disk_failure, EventType::kDiskFailure, n);
  }
  return n;
}

void World::ScheduleChurn(uint32_t n, int64_t t, bool initial) {
  Node& node = nodes_[n];
  const NodeClass& cls = s_.classes[node.node_class];
  if (cls.diurnal) {
    node.diurnal_start_hour = std::clamp(
        cls.diurnal->start_hour + cls.diurnal->start_spread_hours * node.churn.Normal(), 0.0, 23.5);
    // Plan from the current day on; an arrival mid-day starts up.
    const int64_t day = t / kDaySecs * kDaySecs;
    if (!initial) SetUp(n, true, t);
    Schedule(std::max(day, t), EventType::kDiurnalDay, n);
    return;
  }
  const double session = cls.session.mean_secs, downtime = cls.downtime.mean_secs;
  // Initial nodes start in the steady state: up with the class's availability.
  const bool up = initial ? node.churn.Chance(session / (session + downtime)) : true;
  SetUp(n, up, t);
  const double d = up ? cls.session.Sample(node.churn) : cls.downtime.Sample(node.churn);
  Schedule(t + std::max<int64_t>(1, std::llround(d)), EventType::kToggle, n);
}

void World::PlanDiurnalDay(uint32_t n, int64_t day_start) {
  Node& node = nodes_[n];
  const Diurnal& d = *s_.classes[node.node_class].diurnal;
  Schedule(day_start + kDaySecs, EventType::kDiurnalDay, n);
  if (node.churn.Chance(d.days_off)) return;
  const double start = std::clamp(node.diurnal_start_hour + 0.5 * node.churn.Normal(), 0.0, 23.9);
  const double hours = d.on_hours_min + (d.on_hours_max - d.on_hours_min) * node.churn.Uniform();
  const int64_t on = day_start + std::llround(start * 3600);
  const int64_t off = on + std::max<int64_t>(60, std::llround(hours * 3600));
  Schedule(on, EventType::kSetUp, n, 1);
  Schedule(off, EventType::kSetUp, n, 0);
}

void World::SetUp(uint32_t n, bool self_up, int64_t t) {
  nodes_[n].self_up = self_up;
  RecomputeUp(n, t);
}

void World::RecomputeUp(uint32_t n, int64_t t) {
  Node& node = nodes_[n];
  const bool up = node.alive && node.self_up && subnet_dark_[node.subnet] == 0;
  if (up == node.up) return;
  node.up = up;
  up_[n] = up;
  if (observer_) observer_->OnUp(n, up, t);
  if (up) {
    ++nodes_up_;
    if (node.pass_pending) {
      node.pass_pending = false;
      Schedule(t + 60, EventType::kPass, n);  // the repair loop runs soon after start-up
    }
    for (const auto& [pid, gen] : node.probes_pending) {
      Part& p = parts_[pid];
      if (!p.used || p.gen != gen || p.node != n || p.probe_due <= t + 60) continue;
      p.probe_due = t + 60;
      Schedule(t + 60, EventType::kProbe, pid, gen);
    }
    node.probes_pending.clear();
  } else {
    --nodes_up_;
    ++node.epoch;
    node.down_since = t;
  }
}

void World::Depart(uint32_t n, int64_t t) {
  Node& node = nodes_[n];
  if (!node.alive) return;
  ++report_.departures;
  if (node.up) {
    node.up = false;
    up_[n] = 0;
    --nodes_up_;
    if (observer_) observer_->OnUp(n, false, t);
  }
  ++node.epoch;
  node.alive = false;
  report_.node_days += static_cast<double>(t - node.born) / kDaySecs;
  auto it = std::lower_bound(by_id_.begin(), by_id_.end(), std::make_pair(node.prefix, n));
  if (it != by_id_.end() && it->second == n) by_id_.erase(it);
  const uint32_t pos = alive_pos_[n];
  alive_[pos] = alive_.back();
  alive_pos_[alive_[pos]] = pos;
  alive_.pop_back();
  if (observer_) observer_->OnDepart(n, t);
  // Its fragments leave with it, and its claims expire.
  auto held = std::move(nodes_[n].held);
  nodes_[n].held.clear();
  for (const auto& [tid, index] : held) {
    Unclaim(tid, n, index);
    PhysicalRemove(tid, index, t);
  }
  // It looks after nothing any more; copies only it still tracked are
  // known to nobody.
  std::vector<uint32_t> touched;
  while (!nodes_[n].parts.empty()) {
    const uint32_t pid = nodes_[n].parts.back();
    touched.push_back(parts_[pid].tessera);
    FreePart(pid);
  }
  // An owner's view of what it published leaves with it too (its Part stays
  // as parts[0], empty, so that the layout of every tessera is the same).
  if (node.owner) {
    for (uint32_t tid : node.owned) {
      Part& op = parts_[tesseras_[tid].parts[0]];
      op.view.clear();
      op.has_view = false;
      op.rank_known = false;
      touched.push_back(tid);
    }
  }
  for (uint32_t tid : touched) {
    auto& rec = tesseras_[tid].record;
    for (std::size_t i = rec.size(); i-- > 0;) {
      if (!rec[i].claimed) CollectSlot(tid, i);
    }
  }
  OracleReplace(n, t);
  if (node.owner) {
    ++report_.owner_departures;
    for (uint32_t tid : node.owned) CheckLost(tid, t);
  }
  // The population stays steady: someone new joins.
  AddNode(t, /*initial=*/false, arrivals_);
}

void World::DiskFailure(uint32_t n, int64_t t) {
  Node& node = nodes_[n];
  if (!node.alive) return;
  ++report_.disk_failures;
  if (observer_) observer_->OnDiskFailure(n, t);
  auto held = std::move(node.held);
  node.held.clear();
  for (const auto& [tid, index] : held) {
    Unclaim(tid, n, index);
    PhysicalRemove(tid, index, t);
    MarkDirty(tid);
  }
  // What it knew of the tesseras it held (its views, in its plan store) was
  // on the same disk: it keeps no copy and maintains none of them any more,
  // and a copy only it still tracked is known to nobody. (A holder that
  // keeps no copy never checks, so a view it kept would never forget.)
  std::vector<uint32_t> touched;
  while (!node.parts.empty()) {
    const uint32_t pid = node.parts.back();
    touched.push_back(parts_[pid].tessera);
    FreePart(pid);
  }
  for (uint32_t tid : touched) {
    MarkDirty(tid);
    auto& rec = tesseras_[tid].record;
    for (std::size_t i = rec.size(); i-- > 0;) {
      if (!rec[i].claimed) CollectSlot(tid, i);
    }
  }
  OracleReplace(n, t);
  const double mean = 365 * kDaySecs / s_.disk_failures_per_node_year;
  node.next_disk_failure = t + 1 + std::llround(node.disk.Exponential(mean));
  Schedule(node.next_disk_failure, EventType::kDiskFailure, n);
}

void World::StartOutage(int64_t t) {
  const uint32_t subnet = static_cast<uint32_t>(outages_.Below(subnet_nodes_.size()));
  ++report_.outages;
  if (subnet_dark_[subnet]++ == 0) {
    for (uint32_t n : subnet_nodes_[subnet]) RecomputeUp(n, t);
  }
  const int64_t len = std::max<int64_t>(60, std::llround(s_.outage_duration.Sample(outages_)));
  Schedule(t + len, EventType::kOutage, subnet, 0);
  const double total_rate = s_.outages_per_subnet_year * static_cast<double>(subnet_nodes_.size());
  Schedule(t + 1 + std::llround(outages_.Exponential(365 * kDaySecs / total_rate)),
           EventType::kNextOutage);
}

void World::EndOutage(uint32_t subnet, int64_t t) {
  if (--subnet_dark_[subnet] == 0) {
    for (uint32_t n : subnet_nodes_[subnet]) RecomputeUp(n, t);
  }
}

void World::PhysicalAdd(uint32_t tid, uint32_t node, uint16_t index, int64_t t) {
  Tessera& T = tesseras_[tid];
  nodes_[node].held.push_back({tid, index});
  const uint32_t before = T.durable;
  if (T.alive_copies[index]++ == 0 || ClassOf(T).redundancy.copies > 1) ++T.durable;
  UpdateDurable(tid, before, t);
}

void World::PhysicalRemove(uint32_t tid, uint16_t index, int64_t t) {
  Tessera& T = tesseras_[tid];
  const uint32_t before = T.durable;
  if (--T.alive_copies[index] == 0 || ClassOf(T).redundancy.copies > 1) --T.durable;
  UpdateDurable(tid, before, t);
  CheckLost(tid, t);
}

// The durable count of a tessera changed from `before`: margins, threshold episodes.
void World::UpdateDurable(uint32_t tid, uint32_t before, int64_t t) {
  Tessera& T = tesseras_[tid];
  const auto& r = ClassOf(T).redundancy;
  auto margin = [&](uint32_t d) {
    const uint32_t capped = std::min(d, r.copies > 1 ? r.copies : r.fragments);
    return static_cast<int32_t>(capped) - static_cast<int32_t>(r.data);
  };
  auto slot = [&](int32_t m) { return static_cast<std::size_t>(std::max(m, -1) + 1); };
  if (Traced(tid)) Trace(tid, t, "durable " + std::to_string(before) + " -> now");
  if (slot(margin(before)) != slot(margin(T.durable))) {
    --margin_count_[slot(margin(before))];
    ++margin_count_[slot(margin(T.durable))];
  }
  const uint32_t measure = std::min(T.durable, r.copies > 1 ? r.copies : r.fragments);
  const bool below = measure < r.RepairThreshold(cfg_);
  if (below && !T.below) {
    T.below = true;
    T.below_since = t;
    ++below_now_;
  } else if (!below && T.below) {
    T.below = false;
    --below_now_;
    below_episodes_hours_.push_back(static_cast<double>(t - T.below_since) / 3600);
  }
}

void World::CheckLost(uint32_t tid, int64_t t) {
  Tessera& T = tesseras_[tid];
  if (T.lost || nodes_[T.owner].alive) return;  // a live owner re-encodes from its payload
  const auto& r = ClassOf(T).redundancy;
  const bool gone = r.copies > 1 ? T.durable == 0 : T.durable < r.data;
  if (!gone) return;
  T.lost = true;
  if (Traced(tid)) Trace(tid, t, "lost");
  LostTessera l;
  l.tessera = tid;
  l.hash = T.hash.ToHex();
  l.tier = std::string(core::TierName(ClassOf(T).plan.tier));
  l.day = static_cast<double>(t) / kDaySecs;
  report_.lost.push_back(std::move(l));
}

// The oracles know at once that `n`'s copies are gone for good, and pay for
// each the least that any policy keeping the tessera must pay per lost unit
// in the long run: its push, plus, for a coded fragment of an owner that has
// left, a share of one rebuild's k - 1 fetches among the n - k fragments a
// rebuild can re-create. They re-create them at once while the payload is at
// hand (a small copy, a coded fragment whose owner is in the network); for an
// owner that has left, when the loss leaves exactly k fragments, all missing
// ones together. The oracle puts them on random machines still in the
// network (Carbonite's: repairs only permanent failures, and its new copies
// may be lost again); the lower bound on machines that, by the ground truth,
// keep them to the end of the run (no departure, no disk failure before it:
// the best of a random sample, else of every machine), so it pays once per
// lost unit of the first placement, which every policy must re-create too
// or has already paid a surplus copy for (docs/SIMULATION.md, "The oracle").
void World::OracleReplace(uint32_t n, int64_t t) {
  for (const bool bound : {false, true}) {
    auto held = std::move(bound ? nodes_[n].bound_held : nodes_[n].oracle_held);
    (bound ? nodes_[n].bound_held : nodes_[n].oracle_held).clear();
    std::sort(held.begin(), held.end());
    for (std::size_t i = 0; i < held.size();) {
      const uint32_t tid = held[i].first;
      Tessera& T = tesseras_[tid];
      std::vector<uint32_t>& units = bound ? T.bound : T.oracle;
      std::size_t j = i;
      for (; j < held.size() && held[j].first == tid; ++j) units[held[j].second] = kNoNode;
      const uint64_t lost = j - i;
      i = j;
      const SizeClass& c = ClassOf(T);
      const auto& r = c.redundancy;
      const bool payload_local = r.copies > 1 || nodes_[T.owner].alive;
      const uint64_t fetch_share =
          payload_local ? 0 : uint64_t{r.data - 1} * c.fetch_bytes / (r.fragments - r.data);
      const uint64_t bytes = lost * (c.push_bytes + fetch_share);
      if (bound) {
        report_.bound_repair_bytes += bytes;
        report_.bound_copies += lost;
      } else {
        report_.oracle_repair_bytes += bytes;
        report_.oracle_copies += lost;
        const auto tier = static_cast<std::size_t>(c.plan.tier);
        report_.oracle_bytes_by_tier[tier] += bytes;
        report_.oracle_share_bytes_by_tier[tier] += lost * fetch_share;
        report_.oracle_copies_by_tier[tier] += lost;
        day_.oracle_bytes += bytes;
      }
      const auto placed = static_cast<uint32_t>(
          units.size() - static_cast<std::size_t>(std::count(units.begin(), units.end(), kNoNode)));
      if (!payload_local && placed > r.data) continue;  // more than k left: the rebuild waits
      auto eligible = [&](uint32_t cand) {
        return cand != n && std::find(units.begin(), units.end(), cand) == units.end();
      };
      auto keeps_until = [&](uint32_t cand) {
        return std::min(nodes_[cand].dies, nodes_[cand].next_disk_failure);
      };
      for (std::size_t unit = 0; unit < units.size(); ++unit) {
        if (units[unit] != kNoNode) continue;
        uint32_t pick = kNoNode;
        if (!bound) {
          for (int tries = 0; tries < 1000 && pick == kNoNode; ++tries) {
            const uint32_t cand = alive_[oracle_rng_.Below(alive_.size())];
            if (eligible(cand)) pick = cand;
          }
        } else {
          int64_t best = std::numeric_limits<int64_t>::min();
          for (int tries = 0; tries < 64 && best < end_; ++tries) {
            const uint32_t cand = alive_[bound_rng_.Below(alive_.size())];
            if (eligible(cand) && keeps_until(cand) > best) {
              pick = cand;
              best = keeps_until(cand);
            }
          }
          if (best < end_) {
            for (uint32_t cand : alive_) {
              if (eligible(cand) && keeps_until(cand) > best) {
                pick = cand;
                best = keeps_until(cand);
              }
            }
          }
        }
        if (pick == kNoNode) continue;
        units[unit] = pick;
        (bound ? nodes_[pick].bound_held : nodes_[pick].oracle_held)
            .push_back({tid, static_cast<uint16_t>(unit)});
      }
    }
  }
  (void)t;
}

std::vector<uint32_t> World::ClosestOnline(const core::NodeId& key, std::size_t count,
                                           uint32_t exclude, bool online_only) {
  uint64_t kp = 0;
  for (int i = 0; i < 8; ++i) kp = (kp << 8) | key.bytes[i];
  // The XOR-closest nodes share the longest prefix with the key: widen an
  // aligned block around it until it holds enough online nodes.
  int depth = 0;
  const double up =
      online_only
          ? std::max(0.05, static_cast<double>(nodes_up_) / std::max<size_t>(1, by_id_.size()))
          : 1.0;
  const double want = 2.0 * static_cast<double>(count + 1) / up;
  while (depth < 60 && static_cast<double>(by_id_.size()) / std::ldexp(1.0, depth + 1) >= want) {
    ++depth;
  }
  std::vector<uint32_t> out;
  for (;; --depth) {
    const uint64_t mask = depth == 0 ? 0 : ~uint64_t{0} << (64 - depth);
    const uint64_t lo = kp & mask, hi = kp | ~mask;
    auto b = std::lower_bound(by_id_.begin(), by_id_.end(), std::make_pair(lo, uint32_t{0}));
    auto e = std::upper_bound(by_id_.begin(), by_id_.end(), std::make_pair(hi, kNoNode));
    out.clear();
    for (auto it = b; it != e; ++it) {
      if (it->second != exclude && (up_[it->second] || !online_only)) out.push_back(it->second);
    }
    if (out.size() >= count || depth == 0) break;
  }
  // XOR order: by the first 8 bytes of the distance, then all 32.
  std::vector<std::pair<uint64_t, uint32_t>> by_distance;
  by_distance.reserve(out.size());
  for (uint32_t n : out) by_distance.push_back({nodes_[n].prefix ^ kp, n});
  std::sort(by_distance.begin(), by_distance.end(), [&](const auto& a, const auto& b) {
    if (a.first != b.first) return a.first < b.first;
    return core::XorDistance(ids_[a.second], key) < core::XorDistance(ids_[b.second], key);
  });
  out.clear();
  for (std::size_t i = 0; i < by_distance.size() && i < count; ++i) {
    out.push_back(by_distance[i].second);
  }
  return out;
}

void World::Credit(uint32_t holder, uint32_t owner, uint64_t bytes, int sign) {
  auto& h = ledger_[(uint64_t{holder} << 32) | owner];
  auto& o = ledger_[(uint64_t{owner} << 32) | holder];
  if (sign > 0) {
    h.we_store_for_them += bytes;
    o.they_store_for_us += bytes;
  } else {
    h.we_store_for_them -= bytes;
    o.they_store_for_us -= bytes;
  }
}

int64_t World::Balance(uint32_t of, uint32_t with) const {
  auto it = ledger_.find((uint64_t{of} << 32) | with);
  if (it == ledger_.end()) return 0;
  return static_cast<int64_t>(it->second.they_store_for_us) -
         static_cast<int64_t>(it->second.we_store_for_them);
}

void World::DayTick(int64_t t) {
  day_.day = static_cast<uint32_t>(t / kDaySecs);
  day_.nodes_alive = static_cast<uint32_t>(alive_.size());
  day_.nodes_up = nodes_up_;
  day_.min_margin_seen =
      day_min_margin_seen_ == std::numeric_limits<int32_t>::max() ? 0 : day_min_margin_seen_;
  day_.min_durable_margin = 0;
  for (std::size_t i = 0; i < margin_count_.size(); ++i) {
    if (margin_count_[i]) {
      day_.min_durable_margin = static_cast<int32_t>(i) - 1;
      break;
    }
  }
  report_.min_durable_margin = std::min(report_.min_durable_margin, day_.min_durable_margin);
  day_.below_threshold = static_cast<uint32_t>(below_now_);
  report_.below_threshold_tessera_days += static_cast<double>(below_now_);
  day_.lost = static_cast<uint32_t>(report_.lost.size());
  if (observer_) observer_->OnDay(t);
  if (daily_series_ && t > 0) report_.days.push_back(day_);
  if (std::getenv("TESSERAS_SIM_TRACE")) {
    std::size_t slots = 0, parts = 0, claimed = 0, physical = 0;
    // Unclaimed slots by the standing their first tracking view gives them.
    std::size_t ghost[4] = {0, 0, 0, 0};
    for (const auto& T : tesseras_) {
      slots += T.record.size();
      parts += T.parts.size();
      for (uint8_t c : T.alive_copies) physical += c;
      for (std::size_t i = 0; i < T.record.size(); ++i) {
        if (T.record[i].claimed) {
          ++claimed;
          continue;
        }
        for (uint32_t pid : T.parts) {
          const auto& v = parts_[pid].view;
          if (i < v.size() && v[i].tracked) {
            ++ghost[static_cast<int>(
                replication::StandingOf(ToCopy(v[i], T.record[i].index), MsAt(t), cfg_))];
            break;
          }
        }
      }
    }
    std::fprintf(stderr,
                 "day %u: events %llu checks %llu/%llu/%llu assess %llu repairs %llu "
                 "slots %zu claimed %zu physical %zu unclaimed p/s/l/u %zu/%zu/%zu/%zu "
                 "parts %zu up %u\n",
                 day_.day, (unsigned long long)report_.events,
                 (unsigned long long)report_.checks_owner, (unsigned long long)report_.checks_quiet,
                 (unsigned long long)report_.checks_watch, (unsigned long long)report_.assessments,
                 (unsigned long long)report_.repairs, slots, claimed, physical, ghost[0], ghost[1],
                 ghost[2], ghost[3], parts, nodes_up_);
  }
  day_ = DaySample{};
  day_min_margin_seen_ = std::numeric_limits<int32_t>::max();
  if (t + kDaySecs <= end_) Schedule(t + kDaySecs, EventType::kDayTick);
}

}  // namespace tesseras::sim
