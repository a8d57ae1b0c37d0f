// Maintenance in the simulated network: every node's pass, what it audits,
// and what it repairs, each decision made by replication/maintenance_policy.h
// on that node's own observations (docs/SIMULATION.md, "Maintenance").
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <unordered_map>

#include "replication/placement.h"
#include "sim/world.h"

namespace tesseras::sim {

using replication::Assessment;
using replication::CopyObservation;
using replication::HolderView;

namespace {

bool SameAssessment(const Assessment& a, const Assessment& b) {
  return a.proven_fragments == b.proven_fragments && a.counted_fragments == b.counted_fragments &&
         a.proven_units == b.proven_units && a.counted_units == b.counted_units &&
         a.margin == b.margin && a.state == b.state && a.trigger == b.trigger &&
         a.rebuild == b.rebuild && a.surplus == b.surplus && a.forget == b.forget &&
         a.next_change_ms == b.next_change_ms && a.next_forget_ms == b.next_forget_ms;
}

}  // namespace

uint32_t World::NewPart(uint32_t tid, uint32_t node, int64_t t, bool holder) {
  uint32_t pid;
  if (!free_parts_.empty()) {
    pid = free_parts_.back();
    free_parts_.pop_back();
    parts_[pid] = Part{};
  } else {
    pid = static_cast<uint32_t>(parts_.size());
    parts_.emplace_back();
  }
  Part& p = parts_[pid];
  p.used = true;
  p.node = node;
  p.tessera = tid;
  if (holder) {
    // It was just pushed a copy by a maintainer: that counts as being audited.
    p.audited = static_cast<int32_t>(t);
    p.pos = static_cast<uint32_t>(nodes_[node].parts.size());
    nodes_[node].parts.push_back(pid);
    UpdateDue(p);
  }
  tesseras_[tid].parts.push_back(pid);
  return pid;
}

void World::FreePart(uint32_t pid) {
  Part& p = parts_[pid];
  Node& n = nodes_[p.node];
  const uint32_t moved = n.parts.back();
  n.parts[p.pos] = moved;
  parts_[moved].pos = p.pos;
  n.parts.pop_back();
  auto& tp = tesseras_[p.tessera].parts;
  tp.erase(std::find(tp.begin(), tp.end(), pid));
  p = Part{};
  free_parts_.push_back(pid);
}

void World::MarkDirty(uint32_t tid) {
  for (uint32_t pid : tesseras_[tid].parts) parts_[pid].dirty = true;
}

void World::UpdateDue(Part& p) {
  // Rank 1 is the lowest a holder can have: no holder checks earlier.
  p.due = SecsNotBefore(replication::NextCheckDueMs(1, p.Clock(), cfg_));
}

bool World::RanksBefore(uint32_t a, uint32_t b, const Tessera& T) const {
  if (a == T.owner) return true;
  if (b == T.owner) return false;
  const auto& x = nodes_[a].id.bytes;
  const auto& y = nodes_[b].id.bytes;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const uint8_t dx = x[i] ^ T.key.bytes[i], dy = y[i] ^ T.key.bytes[i];
    if (dx != dy) return dx < dy;
  }
  return false;
}

void World::BuildView(uint32_t pid, int64_t t, bool include_self) {
  Part& p = parts_[pid];
  const Tessera& T = tesseras_[p.tessera];
  if (p.view.size() < T.record.size()) p.view.resize(T.record.size());
  ++mark_gen_;
  holders_n_ = 0;
  local_.clear();
  holder_nodes_.clear();
  auto holder_for = [&](uint32_t node) -> HolderView& {
    if (mark_[node] != mark_gen_) {
      mark_[node] = mark_gen_;
      mark_pos_[node] = static_cast<uint32_t>(holders_n_);
      if (holders_.size() <= holders_n_) holders_.emplace_back();
      HolderView& h = holders_[holders_n_++];
      h.holder = nodes_[node].id;
      h.address = nodes_[node].address;
      h.copies.clear();
      holder_nodes_.push_back(node);
    }
    return holders_[mark_pos_[node]];
  };
  for (std::size_t i = 0; i < T.record.size(); ++i) {
    const Slot& s = T.record[i];
    if (s.node == p.node) {
      if (!s.stored) continue;
      local_.push_back(s.index);
      if (include_self) holder_for(s.node).copies.push_back(replication::AfterPush(s.index, MsAt(t)));
      continue;
    }
    holder_for(s.node).copies.push_back(ToCopy(p.view[i], s.index));
  }
  for (std::size_t h = 0; h < holders_n_; ++h) {
    auto& c = holders_[h].copies;
    if (c.size() > 1) {
      std::sort(c.begin(), c.end(), [](const auto& a, const auto& b) { return a.index < b.index; });
    }
  }
}

std::optional<uint32_t> World::Rank(uint32_t pid, int64_t t) {
  Part& p = parts_[pid];
  const Tessera& T = tesseras_[p.tessera];
  if (p.node == T.owner) return 0;
  const int64_t now = MsAt(t);
  if (!p.rank_known || p.rank_version != T.record_version || now >= p.rank_valid_until_ms) {
    // The ranking holds until the record changes or a copy in this view
    // turns from suspect to lost, which an assessment of the view says when.
    ++report_.rank_computations;
    // The last assessment of this view says when its next copy turns lost
    // (a record change since only adds unverified copies or drops some, so
    // that time is never too late); once that has passed, ask again.
    p.rank_valid_until_ms = std::numeric_limits<int64_t>::max();
    if (p.has_view && p.last.next_change_ms) {
      if (*p.last.next_change_ms > now) {
        p.rank_valid_until_ms = *p.last.next_change_ms;
      } else {
        BuildView(pid, t, /*include_self=*/false);
        const auto a = replication::Assess(
            ClassOf(T).redundancy, std::span(holders_.data(), holders_n_), local_, now, cfg_);
        if (a.next_change_ms) p.rank_valid_until_ms = *a.next_change_ms;
      }
    }
    BuildView(pid, t, /*include_self=*/true);
    auto rank = replication::MaintainerRank(nodes_[p.node].id, nodes_[T.owner].id, T.key,
                                            std::span(holders_.data(), holders_n_), now, cfg_);
    p.rank_known = true;
    p.is_maintainer = rank.has_value();
    p.rank = rank.value_or(0);
    p.rank_version = T.record_version;
  }
  if (!p.is_maintainer) return std::nullopt;
  return p.rank;
}

void World::Pass(uint32_t n, int64_t t) {
  queue_items_.clear();
  queue_parts_.clear();
  queue_kinds_.clear();
  Node& node = nodes_[n];
  for (uint32_t tid : node.owned) Check(tesseras_[tid].parts[0], t, CheckKind::kOwner);
  for (std::size_t i = 0; i < nodes_[n].parts.size(); ++i) {
    const uint32_t pid = nodes_[n].parts[i];
    if (t >= parts_[pid].due) {
      Evaluate(pid, t);
    } else if (verify_cache_) {
      // The schedule must never skip a holder that should check now.
      Part& p = parts_[pid];
      const uint32_t cached = p.rank;
      const bool known = p.rank_known;
      const int64_t until = p.rank_valid_until_ms;
      BuildView(pid, t, /*include_self=*/true);
      const auto rank = replication::MaintainerRank(
          nodes_[p.node].id, nodes_[tesseras_[p.tessera].owner].id, tesseras_[p.tessera].key,
          std::span(holders_.data(), holders_n_), MsAt(t), cfg_);
      if (rank && replication::ShouldCheck(*rank, p.Clock(), MsAt(t), false, cfg_)) {
        Violation("holder " + std::to_string(p.node) + " of tessera " +
                  std::to_string(p.tessera) + " should check at day " +
                  std::to_string(t / kDaySecs) + " but was not due" + " t=" + std::to_string(t) +
                  " due=" + std::to_string(p.due) + " rank=" + std::to_string(*rank) +
                  " cached=" + std::to_string(cached) + " known=" + std::to_string(known) +
                  " until=" + std::to_string(SecsNotBefore(until)) +
                  " audited=" + std::to_string(p.audited) + " checked=" + std::to_string(p.checked) +
                  " version=" + std::to_string(p.rank_version) + "/" +
                  std::to_string(tesseras_[p.tessera].record_version));
      }
    }
  }
  if (queue_items_.empty()) return;
  std::unordered_map<core::ContentHash, std::size_t, core::IdHash> by_hash;
  for (std::size_t i = 0; i < queue_items_.size(); ++i) by_hash[queue_items_[i].tessera] = i;
  replication::OrderRepairQueue(queue_items_);
  std::vector<std::size_t> order;
  for (const auto& q : queue_items_) order.push_back(by_hash[q.tessera]);
  for (std::size_t i : order) Repair(queue_parts_[i], t, static_cast<CheckKind>(queue_kinds_[i]));
}

void World::Evaluate(uint32_t pid, int64_t t) {
  ++report_.evaluations;
  Part& p = parts_[pid];
  const auto rank = Rank(pid, t);
  if (!rank) {
    // Not a maintainer by its own view (it keeps no copy): look again when
    // the record changes or a watch interval has passed.
    p.due = t + cfg_.watch_interval_ms / 1000;
    return;
  }
  const auto clock = p.Clock();
  const int64_t now = MsAt(t);
  if (replication::ShouldCheck(*rank, clock, now, /*forced=*/false, cfg_)) {
    const bool watch = !clock.last_checked_ms || now - *clock.last_checked_ms >= cfg_.watch_interval_ms;
    Check(pid, t, watch ? CheckKind::kWatch : CheckKind::kQuiet);
    return;
  }
  const int64_t due_ms =
      std::min(replication::NextCheckDueMs(*rank, clock, cfg_), parts_[pid].rank_valid_until_ms);
  p.due = std::max(t + 1, SecsNotBefore(due_ms));
}

void World::Check(uint32_t pid, int64_t t, CheckKind kind) {
  Part& p = parts_[pid];
  const uint32_t tid = p.tessera;
  Tessera& T = tesseras_[tid];
  const SizeClass& cls = ClassOf(T);
  const uint32_t self = p.node;
  const int64_t now = MsAt(t);
  switch (kind) {
    case CheckKind::kOwner:
      ++report_.checks_owner;
      break;
    case CheckKind::kQuiet:
      ++report_.checks_quiet;
      break;
    case CheckKind::kWatch:
      ++report_.checks_watch;
      break;
  }
  if (p.view.size() < T.record.size()) p.view.resize(T.record.size());
  bool changed = p.dirty || !p.has_view;
  p.dirty = false;
  // Audit every other holder the record lists: one attestation exchange per
  // holder that answers (in batches), nothing on the wire for one that is down.
  ++mark_gen_;
  uint32_t answered_holders = 0;
  holder_nodes_.clear();
  std::vector<uint32_t>& asked = asked_;  // per answering holder: indices asked
  asked.clear();
  const int64_t since = p.checked == kNever ? t : p.checked;
  Node& me = nodes_[self];
  for (std::size_t i = 0; i < T.record.size(); ++i) {
    const Slot& s = T.record[i];
    if (s.node == self) continue;
    Hist& h = p.view[i];
    const Node& holder = nodes_[s.node];
    const uint8_t obs = !holder.up ? kObsUnanswered : s.stored ? kObsProven : kObsDenied;
    const CopyObservation co = obs == kObsProven  ? CopyObservation::kProven
                               : obs == kObsDenied ? CopyObservation::kDenied
                                                   : CopyObservation::kUnanswered;
    StoreCopy(replication::AfterAudit(ToCopy(h, s.index), co, now), h);
    if (obs != kObsProven || h.last_obs != kObsProven) changed = true;
    h.last_obs = obs;
    if (h.asked < 65535) ++h.asked;
    if (obs == kObsProven && h.answered < 65535) ++h.answered;
    me.holder_secs_watched += static_cast<double>(t - since);
    if (obs == kObsUnanswered) continue;
    if (mark_[s.node] != mark_gen_) {
      mark_[s.node] = mark_gen_;
      mark_pos_[s.node] = answered_holders++;
      holder_nodes_.push_back(s.node);
      asked.push_back(0);
      // A holder answered a maintainer ranked before it: it has been audited.
      Part& q = parts_[s.part];
      if (RanksBefore(self, s.node, T)) {
        q.audited = static_cast<int32_t>(t);
        UpdateDue(q);
      }
    }
    ++asked[mark_pos_[s.node]];
  }
  uint64_t audit = 0;
  for (uint32_t m : asked) audit += cls.AuditBytes(m) + costs_.connection_bytes;
  report_.audit_bytes += audit;
  report_.connections += answered_holders;
  day_.audit_bytes += audit;
  p.has_view = true;
  if (changed) p.rank_known = false;  // its ranking depends on what it just saw

  const bool reuse = !changed && !verify_cache_ && now < p.last_valid_until_ms &&
                     p.last.surplus.empty() && p.last.forget.empty();
  if (reuse) {
    ++report_.assessments_reused;
  } else {
    BuildView(pid, t, /*include_self=*/false);
    Assessment a = replication::Assess(cls.redundancy, std::span(holders_.data(), holders_n_),
                                       local_, now, cfg_);
    ++report_.assessments;
    if (verify_cache_ && !changed && now < p.last_valid_until_ms && p.last.surplus.empty() &&
        p.last.forget.empty() && !SameAssessment(a, p.last)) {
      Violation("cached assessment of tessera " + std::to_string(tid) + " by node " +
                std::to_string(self) + " differs from a fresh one at day " +
                std::to_string(t / kDaySecs));
    }
    p.last = std::move(a);
    p.last_valid_until_ms = std::min(p.last.next_change_ms.value_or(INT64_MAX),
                                     p.last.next_forget_ms.value_or(INT64_MAX));
  }
  const Assessment& a = p.last;
  p.checked = static_cast<int32_t>(t);
  if (a.needs_repair()) {
    if (p.need == kNever) p.need = static_cast<int32_t>(t);
  } else {
    p.need = kNever;
  }
  const auto rank = Rank(pid, t);
  const bool acting = rank && replication::ShouldAct(*rank, p.Clock(), now, cfg_);
  if (self != T.owner) UpdateDue(p);
  if (!acting) return;
  report_.min_margin_seen = std::min(report_.min_margin_seen, a.margin);
  day_min_margin_seen_ = std::min(day_min_margin_seen_, a.margin);
  // The standing maintainer (the owner, or a holder checking because every
  // maintainer ranked before it went quiet) publishes the record, so what it
  // stops tracking leaves the record; a holder's watch check adds copies
  // when it repairs but drops none.
  if ((kind != CheckKind::kWatch) && (!a.surplus.empty() || !a.forget.empty())) {
    if (reuse) BuildView(pid, t, false);
    ApplyDrops(pid, t);
  }
  if (parts_[pid].last.needs_repair() && T.in_flight == 0) {
    replication::QueueItem q;
    q.tessera = T.hash;
    q.margin = a.margin;
    q.own = self == T.owner;
    q.owner_in_deficit = !q.own && Balance(self, T.owner) < 0;
    queue_items_.push_back(q);
    queue_parts_.push_back(pid);
    queue_kinds_.push_back(static_cast<uint8_t>(kind));
  }
}

// An acting maintainer stops tracking what its assessment drops: surplus
// copies and forgotten ones leave the record, with their ledger credit.
void World::ApplyDrops(uint32_t pid, int64_t t) {
  Part& p = parts_[pid];
  const uint32_t tid = p.tessera;
  std::vector<std::pair<uint32_t, uint16_t>> drop;  // (node, index)
  auto node_of = [&](const core::NodeId& id) {
    for (std::size_t h = 0; h < holders_n_; ++h) {
      if (holders_[h].holder == id) return holder_nodes_[h];
    }
    return kNoNode;
  };
  for (const auto& [id, index] : p.last.surplus) {
    drop.push_back({node_of(id), static_cast<uint16_t>(index)});
    ++report_.surplus_dropped;
  }
  for (const auto& [id, index] : p.last.forget) {
    const uint32_t n = node_of(id);
    drop.push_back({n, static_cast<uint16_t>(index)});
    ++report_.forgotten;
    if (n != kNoNode) ++nodes_[p.node].departures_seen;
  }
  p.last.surplus.clear();
  p.last.forget.clear();
  Tessera& T = tesseras_[tid];
  for (const auto& [n, index] : drop) {
    for (std::size_t i = 0; i < T.record.size(); ++i) {
      if (T.record[i].node == n && T.record[i].index == index) {
        RemoveSlot(tid, i);
        break;
      }
    }
  }
  (void)t;
}

void World::RemoveSlot(uint32_t tid, std::size_t i) {
  Tessera& T = tesseras_[tid];
  const Slot s = T.record[i];
  Credit(s.node, T.owner, ClassOf(T).redundancy.fragment_bytes, -1);
  T.record.erase(T.record.begin() + static_cast<std::ptrdiff_t>(i));
  for (uint32_t pid : T.parts) {
    auto& v = parts_[pid].view;
    if (v.size() > i) v.erase(v.begin() + static_cast<std::ptrdiff_t>(i));
    parts_[pid].dirty = true;
  }
  ++T.record_version;
  const bool still_holds = std::any_of(T.record.begin(), T.record.end(),
                                       [&](const Slot& x) { return x.node == s.node; });
  if (!still_holds && s.node != T.owner) {
    FreePart(s.part);
  }
  // A shorter record can lower a holder's rank: let every holder look again.
  for (uint32_t pid : T.parts) {
    if (parts_[pid].node != T.owner) parts_[pid].due = std::numeric_limits<int64_t>::min();
  }
}

void World::Repair(uint32_t pid, int64_t t, CheckKind kind) {
  Part& p = parts_[pid];
  const uint32_t tid = p.tessera;
  Tessera& T = tesseras_[tid];
  const SizeClass& cls = ClassOf(T);
  const auto& r = cls.redundancy;
  const uint32_t self = p.node;
  Node& me = nodes_[self];
  const int64_t now = MsAt(t);
  const std::vector<uint32_t> rebuild = p.last.rebuild;
  if (rebuild.empty()) return;
  // What it has itself, and what it must fetch to rebuild.
  std::vector<uint16_t> mine;
  for (const Slot& s : T.record) {
    if (s.node == self && s.stored) mine.push_back(s.index);
  }
  const bool payload_local = self == T.owner || (r.copies > 1 && !mine.empty());
  std::vector<std::size_t> sources;  // record slots to fetch from
  if (!payload_local) {
    std::vector<bool> have(r.fragments, false);
    for (uint16_t i : mine) have[i] = true;
    uint32_t distinct = static_cast<uint32_t>(std::count(have.begin(), have.end(), true));
    // Fragments it just saw proven, lowest index first (data shards first).
    std::vector<std::size_t> order;
    for (std::size_t i = 0; i < T.record.size(); ++i) {
      if (T.record[i].node != self && p.view[i].last_obs == kObsProven && p.view[i].last_proven == t) {
        order.push_back(i);
      }
    }
    std::sort(order.begin(), order.end(),
              [&](std::size_t a, std::size_t b) { return T.record[a].index < T.record[b].index; });
    for (std::size_t i : order) {
      if (distinct >= r.data) break;
      if (have[T.record[i].index]) continue;
      have[T.record[i].index] = true;
      ++distinct;
      sources.push_back(i);
    }
    if (distinct < r.data) {
      ++report_.repairs_without_sources;
      return;
    }
  }
  if (!me.budget.TrySpend(replication::RepairCost(r, rebuild.size(), payload_local), now)) {
    ++report_.budget_deferred;
    return;
  }
  // Candidates: the closest online peers. The current holders are among the
  // closest and are excluded, so the lookup asks for twice the copies wanted
  // plus the holders, plus 8 (docs/SIMULATION.md, "Placement").
  std::size_t holder_count = 0;
  ++mark_gen_;
  for (const Slot& s : T.record) {
    if (mark_[s.node] != mark_gen_) {
      mark_[s.node] = mark_gen_;
      ++holder_count;
    }
  }
  const std::vector<uint32_t> near =
      ClosestOnline(T.key, 2 * (rebuild.size() + holder_count) + 8, self);
  ++report_.lookups;
  std::vector<replication::PlacementCandidate> cands;
  cands.reserve(near.size());
  for (uint32_t c : near) {
    replication::PlacementCandidate pc;
    pc.peer = {nodes_[c].id, nodes_[c].address};
    pc.balance = self == T.owner ? Balance(self, c) : 0;
    pc.distance = core::XorDistance(nodes_[c].id, T.key);
    cands.push_back(std::move(pc));
  }
  BuildView(pid, t, /*include_self=*/false);
  const std::vector<core::NodeId> excluded = {me.id};
  const auto choice =
      replication::ChoosePlacement(r, rebuild, std::move(cands), std::span(holders_.data(), holders_n_),
                                   excluded, s_.pass.max_per_subnet, now, cfg_);
  // Invariants of what was chosen: no copy of an index twice on one holder,
  // no subnet above the cap among the counted holders and the new ones.
  std::unordered_map<std::string, uint32_t> per_subnet;
  std::vector<std::pair<core::NodeId, uint32_t>> counted;
  for (std::size_t h = 0; h < holders_n_; ++h) {
    bool any = false;
    for (const auto& c : holders_[h].copies) {
      const auto st = replication::StandingOf(c, now, cfg_);
      if (st == replication::CopyStanding::kProven || st == replication::CopyStanding::kSuspect) {
        counted.push_back({holders_[h].holder, c.index});
        any = true;
      }
    }
    if (any) ++per_subnet[replication::SubnetKey(holders_[h].address)];
  }
  auto node_of = [&](const core::NodeId& id) -> uint32_t {
    for (uint32_t c : near) {
      if (nodes_[c].id == id) return c;
    }
    for (std::size_t h = 0; h < holders_n_; ++h) {
      if (holders_[h].holder == id) return holder_nodes_[h];
    }
    return kNoNode;
  };
  double fetch_done = static_cast<double>(t);
  uint64_t bytes = 0;
  for (std::size_t i : sources) {
    Node& src = nodes_[T.record[i].node];
    const double begin = std::max(static_cast<double>(t), src.uplink_free);
    const double dur =
        static_cast<double>(cls.fetch_bytes) / s_.classes[src.node_class].upload_bytes_per_sec;
    src.uplink_free = begin + dur;
    fetch_done = std::max(fetch_done, begin + dur + s_.latency_secs);
    bytes += cls.fetch_bytes + costs_.connection_bytes;
    report_.fetch_bytes_by_tier[static_cast<std::size_t>(cls.plan.tier)] +=
        cls.fetch_bytes + costs_.connection_bytes;
    ++report_.connections;
  }
  uint32_t scheduled = 0;
  for (const auto& [peer, indices] : choice.work) {
    const uint32_t target = node_of(peer.id);
    if (target == kNoNode) {
      Violation("placement chose a peer that was not offered");
      continue;
    }
    const bool fresh = std::none_of(counted.begin(), counted.end(),
                                    [&](const auto& c) { return c.first == peer.id; });
    if (fresh && ++per_subnet[replication::SubnetKey(peer.address)] > s_.pass.max_per_subnet) {
      Violation("placement put more than max_per_subnet holders of tessera " +
                std::to_string(tid) + " in one /24");
    }
    for (std::size_t a = 0; a < indices.size(); ++a) {
      const uint32_t idx = indices[a];
      if (std::count(indices.begin(), indices.end(), idx) > 1 ||
          std::any_of(counted.begin(), counted.end(),
                      [&](const auto& c) { return c.first == peer.id && c.second == idx; })) {
        Violation("placement put a second copy of fragment " + std::to_string(idx) +
                  " of tessera " + std::to_string(tid) + " on one holder");
      }
      const bool held = std::any_of(nodes_[target].held.begin(), nodes_[target].held.end(),
                                    [&](const auto& h) { return h.first == tid && h.second == idx; });
      const uint64_t b = held ? cls.push_held_bytes : cls.push_bytes;
      const double begin = std::max(fetch_done, me.uplink_free);
      const double dur = static_cast<double>(b) / s_.classes[me.node_class].upload_bytes_per_sec;
      me.uplink_free = begin + dur;
      const double land = begin + dur + s_.latency_secs;
      bytes += b;
      report_.push_bytes_by_tier[static_cast<std::size_t>(cls.plan.tier)] += b;
      uint32_t lid;
      if (!free_landings_.empty()) {
        lid = free_landings_.back();
        free_landings_.pop_back();
      } else {
        lid = static_cast<uint32_t>(landings_.size());
        landings_.emplace_back();
      }
      landings_[lid] = Landing{tid,        target, self, pid, static_cast<uint16_t>(idx),
                               nodes_[target].epoch, me.epoch};
      Schedule(std::max<int64_t>(t + 1, static_cast<int64_t>(std::ceil(land))), EventType::kLanding,
               lid);
      ++scheduled;
    }
    bytes += costs_.connection_bytes;
    ++report_.connections;
  }
  if (scheduled == 0) return;
  T.in_flight += scheduled;
  ++report_.repairs;
  ++(kind == CheckKind::kOwner   ? report_.repairs_by_owner
     : kind == CheckKind::kQuiet ? report_.repairs_by_quiet
                                 : report_.repairs_by_watch);
  ++(p.last.trigger == replication::RepairTrigger::kBelowThreshold ? report_.repairs_below_threshold
                                                                  : report_.repairs_lost_copies);
  ++day_.repairs;
  report_.repair_bytes += bytes;
  day_.repair_bytes += bytes;
  const uint64_t record = uint64_t{costs_.record_replicas} * cls.record_store_bytes;
  report_.record_bytes += record;
}

void World::Land(const Landing& l, int64_t t) {
  Tessera& T = tesseras_[l.tessera];
  --T.in_flight;
  const Node& target = nodes_[l.target];
  const Node& m = nodes_[l.maintainer];
  if (!target.up || target.epoch != l.target_epoch || !m.alive || m.epoch != l.maintainer_epoch) {
    ++report_.transfers_failed;
    if (std::getenv("TESSERAS_SIM_TRACE_FAIL")) {
      std::fprintf(stderr, "fail t=%lld tessera=%u class=%u target_up=%d tepoch=%u/%u m_alive=%d mepoch=%u/%u\n",
                   (long long)t, l.tessera, ClassOf(T).plan.data_shards, target.up, target.epoch,
                   l.target_epoch, m.alive, m.epoch, l.maintainer_epoch);
    }
    return;
  }
  const bool held = std::any_of(target.held.begin(), target.held.end(), [&](const auto& h) {
    return h.first == l.tessera && h.second == l.index;
  });
  if (held) {
    ++report_.copies_already_held;
  } else {
    ++report_.copies_created;
    ++report_.copies_by_tier[static_cast<std::size_t>(ClassOf(T).plan.tier)];
    PhysicalAdd(l.tessera, l.target, l.index, t);
  }
  std::size_t slot = T.record.size();
  for (std::size_t i = 0; i < T.record.size(); ++i) {
    if (T.record[i].node == l.target && T.record[i].index == l.index) slot = i;
  }
  if (slot == T.record.size()) {
    // The owner keeps its one Part (rank 0) even when it holds a copy.
    uint32_t part = l.target == T.owner ? T.parts[0] : kNoNode;
    for (uint32_t pid : T.parts) {
      if (part == kNoNode && parts_[pid].node == l.target) part = pid;
    }
    if (part == kNoNode) part = NewPart(l.tessera, l.target, t, /*holder=*/true);
    // It keeps a copy again: let it look at the tessera at its next pass.
    if (part != T.parts[0]) parts_[part].due = std::min<int64_t>(parts_[part].due, t);
    T.record.push_back(Slot{l.target, l.index, 1, part});
    Credit(l.target, T.owner, ClassOf(T).redundancy.fragment_bytes, +1);
  } else {
    T.record[slot].stored = 1;
  }
  ++T.record_version;
  MarkDirty(l.tessera);
  // The pushing maintainer counts the acknowledged copy as proven.
  if (parts_[l.part].used && parts_[l.part].tessera == l.tessera) {
    Part& p = parts_[l.part];
    if (p.view.size() < T.record.size()) p.view.resize(T.record.size());
    Hist& h = p.view[slot];
    StoreCopy(replication::AfterPush(l.index, MsAt(t)), h);
    h.last_obs = kObsProven;
  }
}

// Time 0: every owner places its tesseras as tesd's first push does, through
// the same placement rule, and every push lands.
void World::PublishAll() {
  const auto& w = s_.workload;
  std::vector<uint32_t> small, medium, large;  // size classes of each tier
  for (std::size_t c = 0; c < costs_.classes.size(); ++c) {
    const auto tier = costs_.classes[c].plan.tier;
    (tier == core::Tier::kSmall    ? small
     : tier == core::Tier::kMedium ? medium
                                   : large)
        .push_back(static_cast<uint32_t>(c));
  }
  tesseras_.resize(s_.tesseras);
  for (uint32_t tid = 0; tid < s_.tesseras; ++tid) {
    Tessera& T = tesseras_[tid];
    for (auto& b : T.hash.bytes) b = static_cast<uint8_t>(workload_.Next());
    T.key = core::KeyFor(T.hash);
    const double u = workload_.Uniform();
    const auto& tier = u < w.small_share                     ? small
                       : u < w.small_share + w.medium_share ? medium
                                                            : large;
    T.size_class = static_cast<uint8_t>(tier[workload_.Below(tier.size())]);
    T.owner = owners_[workload_.Below(owners_.size())];
    nodes_[T.owner].owned.push_back(tid);
    const SizeClass& cls = ClassOf(T);
    const auto& r = cls.redundancy;
    T.alive_copies.assign(r.fragments, 0);
    ++margin_count_[0];
    NewPart(tid, T.owner, 0, /*holder=*/false);
    std::vector<uint32_t> all;
    for (uint32_t i = 0; i < r.fragments; ++i) {
      for (uint32_t k = 0; k < r.copies; ++k) all.push_back(i);
    }
    // Published while every node is considered: the first push retries
    // refused fragments until all are placed.
    const std::vector<uint32_t> near = ClosestOnline(T.key, 2 * all.size() + 8, T.owner);
    std::vector<replication::PlacementCandidate> cands;
    for (uint32_t c : near) {
      cands.push_back({{nodes_[c].id, nodes_[c].address}, 0, core::XorDistance(nodes_[c].id, T.key)});
    }
    const auto choice = replication::ChoosePlacement(r, all, std::move(cands), {},
                                                     std::vector<core::NodeId>{nodes_[T.owner].id},
                                                     s_.pass.max_per_subnet, MsAt(0), cfg_);
    const uint32_t owner_pid = T.parts[0];
    for (const auto& [peer, indices] : choice.work) {
      uint32_t target = kNoNode;
      for (uint32_t c : near) {
        if (nodes_[c].id == peer.id) target = c;
      }
      const uint32_t part = NewPart(tid, target, 0, /*holder=*/true);
      // A network in its steady state: holders last checked at some point
      // within the last watch interval.
      parts_[part].checked =
          -static_cast<int32_t>(workload_.Below(static_cast<uint64_t>(cfg_.watch_interval_ms / 1000)));
      UpdateDue(parts_[part]);
      for (uint32_t idx : indices) {
        T.record.push_back(Slot{target, static_cast<uint16_t>(idx), 1, part});
        PhysicalAdd(tid, target, static_cast<uint16_t>(idx), 0);
        Credit(target, T.owner, r.fragment_bytes, +1);
        Hist h;
        StoreCopy(replication::AfterPush(idx, MsAt(0)), h);
        h.last_obs = kObsProven;
        parts_[owner_pid].view.push_back(h);
        T.oracle.push_back(target);
        nodes_[target].oracle_held.push_back({tid, static_cast<uint16_t>(T.oracle.size() - 1)});
        report_.publish_bytes += cls.push_bytes;
      }
    }
    parts_[owner_pid].has_view = true;
    // Units the network was too small to place stay unplaced for the oracle too.
    while (T.oracle.size() < r.units()) T.oracle.push_back(kNoNode);
  }
  below_episodes_hours_.clear();
}

}  // namespace tesseras::sim
