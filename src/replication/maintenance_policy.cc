#include "replication/maintenance_policy.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <tuple>
#include <unordered_set>

#include "replication/placement.h"

namespace tesseras::replication {
namespace {

constexpr int64_t kDayMs = 24ll * 3600 * 1000;

uint32_t CeilFraction(double fraction, uint32_t of) {
  if (fraction <= 0) return 0;
  return static_cast<uint32_t>(std::ceil(fraction * static_cast<double>(of) - 1e-9));
}

bool IsCounted(CopyStanding s) { return s == CopyStanding::kProven || s == CopyStanding::kSuspect; }

}  // namespace

uint32_t Redundancy::MaxCopies(const MaintenancePolicyConfig& c) const {
  return copies + CeilFraction(c.surplus_fraction, copies);
}

uint32_t Redundancy::RepairThreshold(const MaintenancePolicyConfig& c) const {
  const double t = std::clamp(c.repair_threshold, 0.0, 1.0);
  if (copies > 1) return 1 + CeilFraction(t, copies - 1);  // small: copies of one payload
  return data + CeilFraction(t, fragments - data);
}

Redundancy RedundancyOf(const core::FragmentPlan& plan) {
  Redundancy r;
  r.fragment_bytes = plan.shard_size;
  if (plan.tier == core::Tier::kSmall) {
    r.data = 1;
    r.fragments = 1;
    r.copies = plan.replication_factor;
  } else {
    r.data = plan.data_shards;
    r.fragments = plan.total_shards();
    r.copies = 1;
  }
  return r;
}

CopyHistory AfterAudit(CopyHistory h, CopyObservation o, int64_t now_ms) {
  if (!h.first_seen_ms) h.first_seen_ms = now_ms;
  ++h.audits;
  if (o != CopyObservation::kUnanswered) ++h.answered;
  switch (o) {
    case CopyObservation::kProven:
      h.last_proven_ms = now_ms;
      h.first_failure_ms.reset();
      h.consecutive_failures = 0;
      h.denied = false;
      break;
    case CopyObservation::kDenied:
      h.denied = true;
      h.first_failure_ms.reset();
      h.consecutive_failures = 0;
      break;
    case CopyObservation::kUnanswered:
      if (!h.first_failure_ms) h.first_failure_ms = now_ms;
      ++h.consecutive_failures;
      break;
  }
  return h;
}

CopyHistory AfterProbe(CopyHistory h, CopyObservation o, int64_t now_ms) {
  const uint32_t audits = h.audits, answered = h.answered;
  const auto first_seen = h.first_seen_ms;
  h = AfterAudit(std::move(h), o, now_ms);
  h.audits = audits;
  h.answered = answered;
  h.first_seen_ms = first_seen;
  return h;
}

CopyHistory AfterPush(uint32_t index, int64_t now_ms) {
  CopyHistory h;
  h.index = index;
  h.last_proven_ms = now_ms;
  h.first_seen_ms = now_ms;
  return h;
}

CopyStanding StandingOf(const CopyHistory& h, int64_t now_ms, const MaintenancePolicyConfig& c) {
  if (h.denied) return CopyStanding::kLost;
  if (!h.first_failure_ms) {
    return h.last_proven_ms ? CopyStanding::kProven : CopyStanding::kUnverified;
  }
  const bool within_grace = now_ms - *h.first_failure_ms < c.holder_grace_ms;
  // Never proven: not counted while it waits for a first answer, and lost once
  // its holder has not answered for the grace (a claim of a machine that left
  // must not stay tracked, and ranked as a holder, for ever).
  if (!h.last_proven_ms) return within_grace ? CopyStanding::kUnverified : CopyStanding::kLost;
  return within_grace ? CopyStanding::kSuspect : CopyStanding::kLost;
}

std::string_view CopyStandingName(CopyStanding s) {
  switch (s) {
    case CopyStanding::kProven:
      return "proven";
    case CopyStanding::kSuspect:
      return "suspect";
    case CopyStanding::kLost:
      return "lost";
    case CopyStanding::kUnverified:
      return "unverified";
  }
  return "unknown";
}

std::optional<int64_t> SuspectSince(const HolderView& h, int64_t now_ms,
                                    const MaintenancePolicyConfig& c) {
  std::optional<int64_t> since;
  for (const auto& copy : h.copies) {
    if (StandingOf(copy, now_ms, c) != CopyStanding::kSuspect) continue;
    if (!since || *copy.first_failure_ms < *since) since = copy.first_failure_ms;
  }
  return since;
}

std::optional<int64_t> NextProbeMs(const CopyHistory& h, int64_t last_asked_ms,
                                   const MaintenancePolicyConfig& c) {
  const int64_t every = c.suspect_probe_interval_ms;
  if (every <= 0 || h.denied || !h.first_failure_ms) return std::nullopt;
  const int64_t first = *h.first_failure_ms;
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  // Saturating: a probe beyond any grace is no probe.
  const int64_t runs = std::max<int64_t>(1, h.consecutive_failures);
  const int64_t by_count =
      runs > (kMax - std::max<int64_t>(first, 0)) / every ? kMax : first + runs * every;
  const int64_t by_ask = last_asked_ms > kMax - every ? kMax : last_asked_ms + every;
  const int64_t at = std::max(by_count, by_ask);
  if (at == kMax || at - first >= c.holder_grace_ms) return std::nullopt;
  return at;
}

std::optional<int64_t> NextProbeMs(const HolderView& h, int64_t last_asked_ms,
                                   const MaintenancePolicyConfig& c) {
  std::optional<int64_t> next;
  for (const auto& copy : h.copies) {
    const auto at = NextProbeMs(copy, last_asked_ms, c);
    if (at && (!next || *at < *next)) next = at;
  }
  return next;
}

std::string_view RecoverabilityName(Recoverability r) {
  switch (r) {
    case Recoverability::kHealthy:
      return "healthy";
    case Recoverability::kDegraded:
      return "degraded";
    case Recoverability::kLost:
      return "lost";
  }
  return "unknown";
}

std::string_view RepairTriggerName(RepairTrigger t) {
  switch (t) {
    case RepairTrigger::kNone:
      return "none";
    case RepairTrigger::kLostCopies:
      return "lost_copies";
    case RepairTrigger::kBelowThreshold:
      return "below_threshold";
  }
  return "unknown";
}

Assessment Assess(const Redundancy& r, std::span<const HolderView> holders,
                  std::span<const uint32_t> local, int64_t now_ms, const MaintenancePolicyConfig& c,
                  Payload payload) {
  AssessScratch scratch;
  Assessment a;
  Assess(r, holders, local, now_ms, c, scratch, a, payload);
  return a;
}

void Assess(const Redundancy& r, std::span<const HolderView> holders,
            std::span<const uint32_t> local, int64_t now_ms, const MaintenancePolicyConfig& c,
            AssessScratch& s, Assessment& a, Payload payload) {
  a.proven_fragments = a.counted_fragments = a.proven_units = a.counted_units = 0;
  a.margin = 0;
  a.state = Recoverability::kLost;
  a.trigger = RepairTrigger::kNone;
  a.rebuild.clear();
  a.surplus.clear();
  a.forget.clear();
  a.next_change_ms.reset();
  a.next_forget_ms.reset();
  const uint32_t n = r.fragments;
  const uint32_t max_copies = r.MaxCopies(c);
  s.proven.assign(n, 0);
  bool keeps_one = false;  // a copy of our own, within the plan
  for (uint32_t i : local) {
    if (i < n) {
      ++s.proven[i];
      keeps_one = true;
    }
  }
  // Pass 1: each copy's standing; lost ones to forget; how many are counted
  // per index.
  s.standing.clear();
  s.start.assign(n + 1, 0);
  for (std::size_t h = 0; h < holders.size(); ++h) {
    for (const auto& copy : holders[h].copies) {
      if (copy.index >= n) continue;
      const CopyStanding st = StandingOf(copy, now_ms, c);
      s.standing.push_back(static_cast<uint8_t>(st));
      if (st == CopyStanding::kLost) {
        const int64_t since = copy.first_failure_ms.value_or(copy.last_proven_ms.value_or(0));
        if (copy.denied || now_ms - since >= c.forget_lost_after_ms) {
          a.forget.push_back({holders[h].holder, copy.index});
        } else {
          const int64_t forget_at = since + c.forget_lost_after_ms;
          if (!a.next_forget_ms || forget_at < *a.next_forget_ms) a.next_forget_ms = forget_at;
        }
        continue;
      }
      if (copy.first_failure_ms && !copy.denied) {
        // Suspect, or unverified and unanswered: lost at the end of the grace.
        const int64_t lost_at = *copy.first_failure_ms + c.holder_grace_ms;
        if (!a.next_change_ms || lost_at < *a.next_change_ms) a.next_change_ms = lost_at;
      }
      if (!IsCounted(st)) continue;
      ++s.start[copy.index + 1];
    }
  }
  // Pass 2: the counted copies grouped by index, each group in holder order.
  for (uint32_t i = 0; i < n; ++i) s.start[i + 1] += s.start[i];
  s.fill.assign(s.start.begin(), s.start.end() - 1);
  s.counted.resize(s.start[n]);
  std::size_t k = 0;
  for (std::size_t h = 0; h < holders.size(); ++h) {
    for (const auto& copy : holders[h].copies) {
      if (copy.index >= n) continue;
      const auto st = static_cast<CopyStanding>(s.standing[k++]);
      if (!IsCounted(st)) continue;
      s.counted[s.fill[copy.index]++] = {st == CopyStanding::kSuspect, static_cast<uint32_t>(h)};
    }
  }
  // Over the cap: proven copies are kept before suspect ones, and among equals
  // the holders listed first (the earlier placements).
  s.counted_n.assign(n, 0);
  for (uint32_t i = 0; i < n; ++i) {
    const uint32_t begin = s.start[i], size = s.start[i + 1] - s.start[i];
    const uint32_t room = max_copies > s.proven[i] ? max_copies - s.proven[i] : 0;
    s.keep.assign(s.counted.begin() + begin, s.counted.begin() + begin + size);
    if (size > room) {
      // A stable partition: proven ones first, each part in holder order.
      std::size_t w = begin;
      for (const auto& e : s.keep) {
        if (!e.first) s.counted[w++] = e;
      }
      for (const auto& e : s.keep) {
        if (e.first) s.counted[w++] = e;
      }
      s.keep.assign(s.counted.begin() + begin, s.counted.begin() + begin + size);
      for (std::size_t j = room; j < size; ++j) {
        a.surplus.push_back({holders[s.keep[j].second].holder, i});
      }
      s.keep.resize(room);
    }
    uint32_t suspects = 0;
    for (const auto& e : s.keep) {
      if (e.first) {
        ++suspects;
      } else {
        ++s.proven[i];
      }
    }
    s.counted_n[i] = s.proven[i] + suspects;
  }
  const auto& proven = s.proven;
  const auto& counted_n = s.counted_n;
  for (uint32_t i = 0; i < n; ++i) {
    a.proven_fragments += proven[i] > 0;
    a.counted_fragments += counted_n[i] > 0;
    a.proven_units += std::min(proven[i], r.copies);
    a.counted_units += std::min(counted_n[i], r.copies);
  }
  const bool small = r.copies > 1;
  a.margin = small ? static_cast<int32_t>(counted_n.empty() ? 0 : counted_n[0]) - 1
                   : static_cast<int32_t>(a.counted_fragments) - static_cast<int32_t>(r.data);
  a.state = a.margin < 0                  ? Recoverability::kLost
            : a.proven_units == r.units() ? Recoverability::kHealthy
                                          : Recoverability::kDegraded;
  const uint32_t threshold = r.RepairThreshold(c);
  const uint32_t measure = small ? a.counted_units : a.counted_fragments;
  // Batching saves the k fragments fetched per repair; with the payload at
  // hand there is nothing to save, and a suspect rebuilt is a copy wasted if
  // it comes back.
  // A small tessera's copy is its payload.
  const bool fetched = payload == Payload::kFetched && !(small && keeps_one);
  if (measure < threshold) {
    a.trigger = RepairTrigger::kBelowThreshold;
    const auto& kept = fetched && c.batch_rebuilds_suspects ? proven : counted_n;
    for (uint32_t i = 0; i < n; ++i) {
      for (uint32_t j = std::min(kept[i], r.copies); j < r.copies; ++j) a.rebuild.push_back(i);
    }
  } else if (small || !c.coded_repair_at_threshold || !fetched) {
    for (uint32_t i = 0; i < n; ++i) {
      for (uint32_t j = std::min(counted_n[i], r.copies); j < r.copies; ++j) a.rebuild.push_back(i);
    }
    if (!a.rebuild.empty()) a.trigger = RepairTrigger::kLostCopies;
  }
  std::sort(a.surplus.begin(), a.surplus.end());
  std::sort(a.forget.begin(), a.forget.end());
}

// ---- placement ----------------------------------------------------------------

PlacementChoice ChoosePlacement(const Redundancy& r, std::span<const uint32_t> rebuild,
                                std::vector<PlacementCandidate> candidates,
                                std::span<const HolderView> current,
                                std::span<const core::NodeId> excluded, std::size_t max_per_subnet,
                                int64_t now_ms, const MaintenancePolicyConfig& c) {
  PlacementChoice out;
  if (rebuild.empty()) return out;
  // Current holders that still count, and what they keep.
  struct Load {
    core::PeerInfo peer;
    std::vector<uint32_t> indices;  // counted copies now, then assigned ones
  };
  std::vector<Load> loads;
  std::vector<core::PeerInfo> counted_peers;
  std::map<core::NodeId, std::size_t> load_of;
  for (const auto& h : current) {
    Load l{{h.holder, h.address}, {}};
    for (const auto& copy : h.copies) {
      if (IsCounted(StandingOf(copy, now_ms, c))) l.indices.push_back(copy.index);
    }
    if (l.indices.empty()) continue;
    counted_peers.push_back(l.peer);
    load_of[h.holder] = loads.size();
    loads.push_back(std::move(l));
  }
  auto is_excluded = [&](const core::NodeId& id) {
    return std::find(excluded.begin(), excluded.end(), id) != excluded.end() || load_of.count(id);
  };
  std::vector<Candidate> fresh;
  std::unordered_set<core::NodeId, core::IdHash> offered;  // the first offer of a peer counts
  for (auto& cand : candidates) {
    if (is_excluded(cand.peer.id)) continue;
    if (!offered.insert(cand.peer.id).second) continue;
    fresh.push_back({cand.peer, cand.balance, cand.distance});
  }
  const std::size_t want = rebuild.size();
  std::vector<core::PeerInfo> ranked =
      SelectHolders(fresh, fresh.size(), max_per_subnet, counted_peers);
  std::vector<core::PeerInfo> chosen(
      ranked.begin(), ranked.begin() + static_cast<long>(std::min(want, ranked.size())));
  // Spares: the rest of the eligible ranking (a refusal frees the subnet slot
  // of the refusing target, so the subnet rule is applied again at retry).
  out.spares.assign(ranked.begin() + static_cast<long>(chosen.size()), ranked.end());
  out.distinct_new_holders = static_cast<uint32_t>(chosen.size());
  for (const auto& p : chosen) {
    load_of[p.id] = loads.size();
    loads.push_back({p, {}});
  }
  std::map<core::NodeId, std::vector<uint32_t>> assigned;
  std::vector<core::NodeId> order;  // targets in the order they first got work
  // First, one new copy per new holder, in rebuild order.
  std::size_t next = 0;
  for (; next < rebuild.size() && next < chosen.size(); ++next) {
    assigned[chosen[next].id].push_back(rebuild[next]);
    loads[load_of[chosen[next].id]].indices.push_back(rebuild[next]);
    order.push_back(chosen[next].id);
  }
  // The rest: the holder (new or current) with the fewest copies that does not
  // keep this index yet; ties by position (new holders in rank order first,
  // then current holders as listed).
  std::vector<std::size_t> pool;
  for (std::size_t i = 0; i < loads.size(); ++i) pool.push_back(i);
  std::stable_sort(pool.begin(), pool.end(), [&](std::size_t x, std::size_t y) {
    const bool xn = x >= loads.size() - chosen.size(), yn = y >= loads.size() - chosen.size();
    return xn > yn;
  });
  for (; next < rebuild.size(); ++next) {
    const uint32_t index = rebuild[next];
    std::optional<std::size_t> best;
    for (std::size_t i : pool) {
      const auto& l = loads[i];
      if (std::find(l.indices.begin(), l.indices.end(), index) != l.indices.end()) continue;
      if (!best || l.indices.size() < loads[*best].indices.size()) best = i;
    }
    if (!best) continue;  // every holder keeps this index already: nowhere to put it
    auto& l = loads[*best];
    if (!assigned.count(l.peer.id)) order.push_back(l.peer.id);
    assigned[l.peer.id].push_back(index);
    l.indices.push_back(index);
  }
  for (const auto& id : order) {
    out.work.push_back({loads[load_of[id]].peer, assigned[id]});
  }
  (void)r;
  return out;
}

// ---- who maintains ----------------------------------------------------------------

std::optional<uint32_t> MaintainerRank(const core::NodeId& self, const core::NodeId& owner,
                                       const core::NodeId& key, std::span<const HolderView> holders,
                                       int64_t now_ms, const MaintenancePolicyConfig& c) {
  if (self == owner) return 0;
  // Our rank is one more than the number of distinct holders that keep a
  // copy and are closer to the key than we are (distinct ids have distinct
  // distances): one pass, no sort of the whole list.
  const core::NodeId mine = core::XorDistance(self, key);
  std::vector<core::NodeId> closer;
  bool listed = false;
  for (const auto& h : holders) {
    if (h.holder == owner) continue;
    const bool keeps = std::any_of(h.copies.begin(), h.copies.end(), [&](const CopyHistory& x) {
      return StandingOf(x, now_ms, c) != CopyStanding::kLost;
    });
    if (!keeps) continue;
    if (h.holder == self) {
      listed = true;
      continue;
    }
    core::NodeId d = core::XorDistance(h.holder, key);
    if (d < mine) closer.push_back(d);
  }
  if (!listed) return std::nullopt;
  std::sort(closer.begin(), closer.end());
  closer.erase(std::unique(closer.begin(), closer.end()), closer.end());
  return static_cast<uint32_t>(closer.size()) + 1;
}

bool ShouldCheck(uint32_t rank, const MaintenanceClock& m, int64_t now_ms, bool forced,
                 const MaintenancePolicyConfig& c) {
  if (rank == 0 || forced) return true;
  const int64_t quiet_for = static_cast<int64_t>(rank) * c.takeover_delay_ms;
  const bool quiet = !m.last_audited_by_peer_ms || now_ms - *m.last_audited_by_peer_ms >= quiet_for;
  const bool watch = !m.last_checked_ms || now_ms - *m.last_checked_ms >= c.watch_interval_ms;
  return quiet || watch;
}

int64_t NextCheckDueMs(uint32_t rank, const MaintenanceClock& m, const MaintenancePolicyConfig& c) {
  constexpr int64_t kAlways = std::numeric_limits<int64_t>::min();
  if (rank == 0 || !m.last_audited_by_peer_ms || !m.last_checked_ms) return kAlways;
  const int64_t quiet_at =
      *m.last_audited_by_peer_ms + static_cast<int64_t>(rank) * c.takeover_delay_ms;
  const int64_t watch_at = *m.last_checked_ms + c.watch_interval_ms;
  return std::min(quiet_at, watch_at);
}

bool ShouldAct(uint32_t rank, const MaintenanceClock& m, int64_t now_ms,
               const MaintenancePolicyConfig& c, RepairTrigger trigger) {
  if (rank == 0) return true;
  const int64_t wait = static_cast<int64_t>(rank) * c.takeover_delay_ms;
  // Below the threshold, audited by a maintainer ranked before us but not
  // for as long as we would wait: nobody before us is looking after it, and
  // waiting would only let the margin fall (a holder never audited by one
  // waits). Copies known lost above the threshold wait: a holder that comes
  // back in the meantime costs nothing.
  if (trigger == RepairTrigger::kBelowThreshold && m.last_audited_by_peer_ms &&
      now_ms - *m.last_audited_by_peer_ms >= wait) {
    return true;
  }
  if (!m.need_since_ms) return false;
  return now_ms - *m.need_since_ms >= wait;
}

// ---- the pass -----------------------------------------------------------------------

void OrderRepairQueue(std::vector<QueueItem>& queue) {
  std::stable_sort(queue.begin(), queue.end(), [](const QueueItem& a, const QueueItem& b) {
    return std::make_tuple(a.owner_in_deficit, a.margin, !a.own, a.tessera) <
           std::make_tuple(b.owner_in_deficit, b.margin, !b.own, b.tessera);
  });
}

RepairBudget::RepairBudget(const MaintenancePolicyConfig& c, int64_t now_ms)
    : capacity_(c.repair_bytes_per_day),
      tokens_(static_cast<double>(c.repair_bytes_per_day)),
      last_ms_(now_ms) {}

void RepairBudget::Refill(int64_t now_ms) {
  if (now_ms > last_ms_) {
    tokens_ += static_cast<double>(capacity_) * static_cast<double>(now_ms - last_ms_) / kDayMs;
    tokens_ = std::min(tokens_, static_cast<double>(capacity_));
    last_ms_ = now_ms;
  }
}

bool RepairBudget::TrySpend(uint64_t bytes, int64_t now_ms) {
  Refill(now_ms);
  const double b = static_cast<double>(bytes);
  const bool fits =
      tokens_ >= b || (bytes > capacity_ && tokens_ >= static_cast<double>(capacity_));
  if (fits) tokens_ -= b;
  return fits;
}

void RepairBudget::Charge(uint64_t bytes, int64_t now_ms) {
  Refill(now_ms);
  tokens_ -= static_cast<double>(bytes);
}

uint64_t RepairBudget::available(int64_t now_ms) {
  Refill(now_ms);
  return tokens_ > 0 ? static_cast<uint64_t>(tokens_) : 0;
}

uint64_t RepairCost(const Redundancy& r, std::size_t new_copies, bool payload_local) {
  const uint64_t fetched = payload_local ? 0 : uint64_t{r.data} * r.fragment_bytes;
  return fetched + uint64_t{new_copies} * r.fragment_bytes;
}

}  // namespace tesseras::replication
