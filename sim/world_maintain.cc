// Maintenance in the simulated network: every node's pass, what it audits,
// and what it repairs, each decision made by replication/maintenance_policy.h
// on that node's own observations (docs/SIMULATION.md, "Maintenance").
#include <algorithm>
#include <cmath>
#include <unordered_map>

#include "replication/placement.h"
#include "sim/world.h"

namespace tesseras::sim {

using replication::Assessment;
using replication::CopyObservation;
using replication::HolderView;

namespace {

constexpr int64_t kNoDue = std::numeric_limits<int64_t>::max();

bool SameAssessment(const Assessment& a, const Assessment& b) {
  return a.proven_fragments == b.proven_fragments && a.counted_fragments == b.counted_fragments &&
         a.proven_units == b.proven_units && a.counted_units == b.counted_units &&
         a.margin == b.margin && a.state == b.state && a.trigger == b.trigger &&
         a.rebuild == b.rebuild && a.surplus == b.surplus && a.forget == b.forget &&
         a.next_change_ms == b.next_change_ms && a.next_forget_ms == b.next_forget_ms;
}

}  // namespace

// ---- participants and the record ---------------------------------------------

uint32_t World::NewPart(uint32_t tid, uint32_t node, int64_t t, bool holder) {
  uint32_t pid;
  if (!free_parts_.empty()) {
    pid = free_parts_.back();
    free_parts_.pop_back();
    const uint32_t gen = parts_[pid].gen + 1;
    parts_[pid] = Part{};
    parts_[pid].gen = gen;
  } else {
    pid = static_cast<uint32_t>(parts_.size());
    parts_.emplace_back();
  }
  Part& p = parts_[pid];
  p.used = true;
  p.node = node;
  p.tessera = tid;
  if (holder) {
    // A push from a maintainer counts as an audit, and a new holder starts
    // its own checks from then on (as tesd's receive path does).
    p.audited = static_cast<int32_t>(t);
    p.checked = static_cast<int32_t>(t);
    p.pos = static_cast<uint32_t>(nodes_[node].parts.size());
    nodes_[node].parts.push_back(pid);
  }
  tesseras_[tid].parts.push_back(pid);
  if (holder) Reschedule(pid, t);
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
  gathers_.erase(pid);
  const uint32_t gen = p.gen;
  p = Part{};
  p.gen = gen;
  free_parts_.push_back(pid);
}

void World::MarkDirty(uint32_t tid) {
  for (uint32_t pid : tesseras_[tid].parts) parts_[pid].dirty = true;
}

std::size_t World::SlotOf(const Tessera& T, uint32_t node, uint16_t index) const {
  for (std::size_t i = 0; i < T.record.size(); ++i) {
    if (T.record[i].node == node && T.record[i].index == index) return i;
  }
  return T.record.size();
}

// The claim of (node, index) ends: the holder left or lost the bytes.
void World::Unclaim(uint32_t tid, uint32_t node, uint16_t index) {
  Tessera& T = tesseras_[tid];
  const std::size_t i = SlotOf(T, node, index);
  if (i == T.record.size() || !T.record[i].claimed) return;
  if (T.record[i].part != kNoNode) parts_[T.record[i].part].rank_known = false;
  T.record[i].claimed = 0;
  T.record[i].part = kNoNode;
  T.record[i].unclaimed_at = static_cast<int32_t>(now_secs_);
  ++T.record_version;
  CollectSlot(tid, i);
}

// A copy nobody claims and no view tracks is known to nobody: it leaves.
void World::CollectSlot(uint32_t tid, std::size_t i) {
  Tessera& T = tesseras_[tid];
  if (T.record[i].claimed) return;
  for (uint32_t pid : T.parts) {
    const auto& v = parts_[pid].view;
    if (i < v.size() && v[i].tracked) return;
  }
  RemoveSlot(tid, i);
}

void World::RemoveSlot(uint32_t tid, std::size_t i) {
  Tessera& T = tesseras_[tid];
  T.record.erase(T.record.begin() + static_cast<std::ptrdiff_t>(i));
  for (uint32_t pid : T.parts) {
    auto& v = parts_[pid].view;
    if (v.size() > i) v.erase(v.begin() + static_cast<std::ptrdiff_t>(i));
  }
  ++T.record_version;
}

// ---- when holders look --------------------------------------------------------

void World::SetDue(uint32_t pid, int64_t due) {
  Part& p = parts_[pid];
  if (due >= p.heap_due) return;  // a live entry comes earlier: it will re-evaluate
  p.heap_due = due;
  auto& heap = nodes_[p.node].due_heap;
  heap.push_back({due, pid, p.gen});
  std::push_heap(heap.begin(), heap.end(), std::greater<>());
}

// The earliest time this holder's ShouldCheck can hold, from its cached rank
// when that is still good (it only falls when its view or the record changes,
// or a suspect copy turns lost, which bound the cache), else from rank 1, the
// lowest a holder has. Renewals of its audit clock only make the true time
// later, so an early entry is re-evaluated, never a late one.
void World::Reschedule(uint32_t pid, int64_t t) {
  Part& p = parts_[pid];
  const bool cached = p.rank_known && MsAt(t) < p.rank_valid_until_ms && !verify_cache_;
  int64_t due_ms;
  if (cached && !p.is_maintainer) {
    due_ms = MsAt(t) + cfg_.watch_interval_ms;  // looks again when the record changes, or then
  } else {
    due_ms = replication::NextCheckDueMs(cached ? p.rank : 1, p.Clock(), cfg_);
  }
  if (cached) due_ms = std::min(due_ms, p.rank_valid_until_ms);
  SetDue(pid, std::max(t + 1, SecsNotBefore(due_ms)));
}

bool World::RanksBefore(uint32_t a, uint32_t b, const Tessera& T) const {
  if (a == T.owner) return true;
  if (b == T.owner) return false;
  const auto& x = ids_[a].bytes;
  const auto& y = ids_[b].bytes;
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
  holders_n_ = 0;
  local_.clear();
  holder_nodes_.clear();
  uint32_t last = kNoNode;
  HolderView* h = nullptr;
  auto open = [&](uint32_t node) {
    if (holders_.size() <= holders_n_) holders_.emplace_back();
    h = &holders_[holders_n_++];
    h->holder = ids_[node];
    h->address = addrs_[node];
    h->copies.clear();
    holder_nodes_.push_back(node);
    last = node;
  };
  // The record is sorted by holder, so each holder's copies are consecutive
  // and in index order.
  for (std::size_t i = 0; i < T.record.size(); ++i) {
    const Slot& s = T.record[i];
    if (s.node == p.node) {
      if (!s.claimed) continue;
      local_.push_back(s.index);
      if (include_self) {
        if (last != s.node) open(s.node);
        h->copies.push_back(replication::AfterPush(s.index, MsAt(t)));
      }
      continue;
    }
    if (!p.view[i].tracked) continue;
    if (last != s.node) open(s.node);
    h->copies.push_back(ToCopy(p.view[i], s.index));
  }
}

// A holder's rank comes from the copies its view tracks and its own (as
// tesd ranks from what it tracks): it changes when its own check changes the
// view, when it gains or loses copies itself, or when a suspect copy in the
// view turns lost; the cache is dropped on the first two and bounded by the
// third.
std::optional<uint32_t> World::Rank(uint32_t pid, int64_t t) {
  Part& p = parts_[pid];
  const Tessera& T = tesseras_[p.tessera];
  if (p.node == T.owner) return 0;
  if (!p.rank_known || MsAt(t) >= p.rank_valid_until_ms || verify_cache_) {
    BuildView(pid, t, /*include_self=*/false);
    RankFromView(pid, t);
  }
  if (!p.is_maintainer) return std::nullopt;
  return p.rank;
}

// The rank from holders_, which must hold `pid`'s view without itself.
void World::RankFromView(uint32_t pid, int64_t t) {
  Part& p = parts_[pid];
  const Tessera& T = tesseras_[p.tessera];
  const int64_t now = MsAt(t);
  ++report_.rank_computations;
  // The rank counts the holders closer to the key that keep a copy not
  // lost; without new audits of this view it changes only when the last
  // such copy of one of them turns lost (suspect or unanswered past the
  // grace). Holders farther from the key than this one do not matter.
  p.rank_valid_until_ms = std::numeric_limits<int64_t>::max();
  const core::NodeId mine = core::XorDistance(ids_[p.node], T.key);
  for (std::size_t i = 0; i < holders_n_; ++i) {
    const HolderView& h = holders_[i];
    if (h.holder == ids_[T.owner] || !(core::XorDistance(h.holder, T.key) < mine)) continue;
    int64_t last_lost = std::numeric_limits<int64_t>::min();
    bool keeps = false;
    for (const auto& c : h.copies) {
      if (replication::StandingOf(c, now, cfg_) == replication::CopyStanding::kLost) continue;
      if (!c.first_failure_ms) {
        keeps = true;  // proven, or never audited: stays until a new audit
        break;
      }
      last_lost = std::max(last_lost, *c.first_failure_ms + cfg_.holder_grace_ms);
    }
    if (!keeps && last_lost != std::numeric_limits<int64_t>::min()) {
      p.rank_valid_until_ms = std::min(p.rank_valid_until_ms, last_lost);
    }
  }
  // Itself, with the copies it keeps, beside the others.
  std::size_t n = holders_n_;
  if (!local_.empty()) {
    if (holders_.size() <= n) holders_.emplace_back();
    HolderView& me = holders_[n++];
    me.holder = ids_[p.node];
    me.address = addrs_[p.node];
    me.copies.clear();
    for (uint32_t i : local_) me.copies.push_back(replication::AfterPush(i, now));
  }
  auto rank = replication::MaintainerRank(ids_[p.node], ids_[T.owner], T.key,
                                          std::span(holders_.data(), n), now, cfg_);
  p.rank_known = true;
  p.is_maintainer = rank.has_value();
  p.rank = rank.value_or(0);
}

// ---- the pass -----------------------------------------------------------------

void World::Pass(uint32_t n, int64_t t) {
  queue_items_.clear();
  queue_parts_.clear();
  queue_kinds_.clear();
  for (uint32_t tid : nodes_[n].owned) Check(tesseras_[tid].parts[0], t, CheckKind::kOwner);
  auto& heap = nodes_[n].due_heap;
  while (!heap.empty() && heap.front().due <= t) {
    std::pop_heap(heap.begin(), heap.end(), std::greater<>());
    const Node::Due e = heap.back();
    heap.pop_back();
    Part& p = parts_[e.pid];
    if (!p.used || p.gen != e.gen || p.heap_due != e.due) continue;  // superseded
    p.heap_due = kNoDue;
    Evaluate(e.pid, t);
  }
  if (verify_cache_) {
    // The schedule must never skip a holder that should check now.
    for (uint32_t pid : nodes_[n].parts) {
      Part& p = parts_[pid];
      if (p.heap_due <= t || p.checked == t) continue;  // due, or checked in this pass
      const Tessera& T = tesseras_[p.tessera];
      BuildView(pid, t, /*include_self=*/true);
      const auto rank =
          replication::MaintainerRank(ids_[p.node], ids_[T.owner], T.key,
                                      std::span(holders_.data(), holders_n_), MsAt(t), cfg_);
      if (rank && replication::ShouldCheck(*rank, p.Clock(), MsAt(t), false, cfg_)) {
        Violation("holder " + std::to_string(p.node) + " of tessera " + std::to_string(p.tessera) +
                  " should check at day " + std::to_string(t / kDaySecs) + " but was not due (t " +
                  std::to_string(t) + ", due " + std::to_string(p.heap_due) + ", rank " +
                  std::to_string(*rank) + ", audited " + std::to_string(p.audited) + ", checked " +
                  std::to_string(p.checked) + ")");
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
  const int64_t now = MsAt(t);
  {
    // Cheap first: not due even at the lowest rank it could have.
    Part& p = parts_[pid];
    const bool cached =
        p.rank_known && now < p.rank_valid_until_ms && p.is_maintainer && !verify_cache_;
    if (replication::NextCheckDueMs(cached ? p.rank : 1, p.Clock(), cfg_) > now) {
      Reschedule(pid, t);
      return;
    }
  }
  const auto rank = Rank(pid, t);
  if (!rank) {
    // Not a maintainer by its own view (it keeps no copy): looks again when
    // the record changes or a watch interval has passed.
    Reschedule(pid, t);
    return;
  }
  const auto clock = parts_[pid].Clock();
  if (replication::ShouldCheck(*rank, clock, now, /*forced=*/false, cfg_)) {
    const bool watch =
        !clock.last_checked_ms || now - *clock.last_checked_ms >= cfg_.watch_interval_ms;
    Check(pid, t, watch ? CheckKind::kWatch : CheckKind::kQuiet);
  }
  if (parts_[pid].used) Reschedule(pid, t);
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
  // Audit every holder it tracks or that claims a copy (a claim it does not
  // track yet starts unverified): one attestation exchange per holder that
  // answers, in batches; nothing on the wire for one that is down.
  uint32_t answered_holders = 0;
  std::vector<uint32_t>& asked = asked_;  // per answering holder: indices asked
  asked.clear();
  uint32_t last = kNoNode;
  const int64_t since = p.checked == kNever ? t : p.checked;
  Node& me = nodes_[self];
  for (std::size_t i = 0; i < T.record.size(); ++i) {
    const Slot& s = T.record[i];
    if (s.node == self) continue;
    Hist& h = p.view[i];
    if (!h.tracked) {
      if (!s.claimed) continue;
      h = Hist{};
      h.tracked = 1;
      changed = true;
    }
    const uint8_t obs = !up_[s.node] ? kObsUnanswered : s.claimed ? kObsProven : kObsDenied;
    const CopyObservation co = obs == kObsProven   ? CopyObservation::kProven
                               : obs == kObsDenied ? CopyObservation::kDenied
                                                   : CopyObservation::kUnanswered;
    StoreCopy(replication::AfterAudit(ToCopy(h, s.index), co, now), h);
    if (obs != kObsProven || h.last_obs != kObsProven) changed = true;
    h.last_obs = obs;
    if (h.asked < 65535) ++h.asked;
    if (obs == kObsProven && h.answered < 65535) ++h.answered;
    me.holder_secs_watched += static_cast<double>(t - since);
    if (obs == kObsUnanswered) continue;
    if (s.node != last) {
      last = s.node;
      ++answered_holders;
      asked.push_back(0);
      // A holder answered a maintainer ranked before it: it has been audited.
      if (s.part != kNoNode && RanksBefore(self, s.node, T)) {
        parts_[s.part].audited = static_cast<int32_t>(t);
      }
    }
    ++asked.back();
  }
  uint64_t audit = 0;
  for (uint32_t m : asked) audit += cls.AuditBytes(m) + costs_.connection_bytes;
  report_.audit_bytes += audit;
  report_.connections += answered_holders;
  day_.audit_bytes += audit;
  p.has_view = true;
  ScheduleProbe(pid, t);
  if (changed) p.rank_known = false;  // its ranking depends on what it just saw

  const bool reuse = !changed && !verify_cache_ && now < p.last_valid_until_ms &&
                     p.last.surplus.empty() && p.last.forget.empty();
  if (reuse) {
    ++report_.assessments_reused;
  } else {
    BuildView(pid, t, /*include_self=*/false);
    // The owner keeps the payload (as Repair assumes); a holder fetches.
    const auto payload =
        self == T.owner ? replication::Payload::kLocal : replication::Payload::kFetched;
    const bool could_reuse =
        !changed && now < p.last_valid_until_ms && p.last.surplus.empty() && p.last.forget.empty();
    if (verify_cache_ && could_reuse) {
      const Assessment before = p.last;
      replication::Assess(cls.redundancy, std::span(holders_.data(), holders_n_), local_, now, cfg_,
                          assess_scratch_, p.last, payload);
      if (!SameAssessment(before, p.last)) {
        Violation("cached assessment of tessera " + std::to_string(tid) + " by node " +
                  std::to_string(self) + " differs from a fresh one at day " +
                  std::to_string(t / kDaySecs));
      }
    } else {
      replication::Assess(cls.redundancy, std::span(holders_.data(), holders_n_), local_, now, cfg_,
                          assess_scratch_, p.last, payload);
    }
    ++report_.assessments;
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
  // What the assessment no longer counts or tracks leaves this view (a copy
  // whose claim lives comes back, unverified, at the next check).
  if (!a.surplus.empty() || !a.forget.empty()) {
    ApplyDrops(pid, t);
    BuildView(pid, t, /*include_self=*/false);
  } else if (reuse && !parts_[pid].rank_known) {
    BuildView(pid, t, /*include_self=*/false);
  }
  if (self != T.owner && !parts_[pid].rank_known) RankFromView(pid, t);
  const auto rank = Rank(pid, t);
  const Assessment& now_a = parts_[pid].last;
  const bool acting =
      rank && replication::ShouldAct(*rank, parts_[pid].Clock(), now, cfg_, now_a.trigger);
  if (Traced(tid)) {
    static constexpr const char* kKinds[] = {"owner", "quiet", "watch"};
    Trace(tid, t,
          "check by node " + std::to_string(self) + " (" + kKinds[static_cast<int>(kind)] +
              ", rank " + (rank ? std::to_string(*rank) : std::string("none")) +
              (acting ? ", acting" : ", not acting") + "): proven " +
              std::to_string(now_a.proven_fragments) + ", counted " +
              std::to_string(now_a.counted_fragments) + ", margin " + std::to_string(now_a.margin) +
              ", " + std::string(replication::RepairTriggerName(now_a.trigger)) + ", rebuild " +
              std::to_string(now_a.rebuild.size()) +
              (T.in_flight ? ", " + std::to_string(T.in_flight) + " in flight" : ""));
  }
  if (!acting) return;
  report_.min_margin_seen = std::min(report_.min_margin_seen, now_a.margin);
  day_min_margin_seen_ = std::min(day_min_margin_seen_, now_a.margin);
  if (now_a.needs_repair() && T.in_flight == 0) {
    replication::QueueItem q;
    q.tessera = T.hash;
    q.margin = now_a.margin;
    q.own = self == T.owner;
    q.owner_in_deficit = !q.own && Balance(self, T.owner) < 0;
    queue_items_.push_back(q);
    queue_parts_.push_back(pid);
    queue_kinds_.push_back(static_cast<uint8_t>(kind));
  }
}

// ---- probes ---------------------------------------------------------------------

void World::ScheduleProbe(uint32_t pid, int64_t t) {
  Part& p = parts_[pid];
  p.probe_asked = static_cast<int32_t>(t);
  const Tessera& T = tesseras_[p.tessera];
  std::optional<int64_t> next;
  for (std::size_t i = 0; i < T.record.size() && i < p.view.size(); ++i) {
    const Hist& h = p.view[i];
    if (!h.tracked || h.first_failure == kNever || T.record[i].node == p.node) continue;
    const auto at = replication::NextProbeMs(ToCopy(h, T.record[i].index), MsAt(t), cfg_);
    if (at && (!next || *at < *next)) next = at;
  }
  if (!next) return;
  const int64_t due = std::max(t + 1, SecsNotBefore(*next));
  if (due >= p.probe_due && p.probe_due > t) return;  // a pending probe comes first
  p.probe_due = due;
  Schedule(due, EventType::kProbe, pid, p.gen);
}

// As tesd's probe (ReplicationService::ProbeSuspects): every holder with a
// copy whose probe is due is asked for all the copies this view tracks on it;
// an answer ends the failure run (or denies), silence extends it. Nothing is
// assessed or repaired here: the next check does that with what was learnt.
void World::Probe(uint32_t pid, int64_t t) {
  Part& p = parts_[pid];
  p.probe_due = kNoDue;
  if (!up_[p.node]) {
    nodes_[p.node].probes_pending.emplace_back(pid, p.gen);  // run when it is up again
    return;
  }
  Tessera& T = tesseras_[p.tessera];
  const SizeClass& cls = ClassOf(T);
  const int64_t now = MsAt(t);
  if (mark_.size() < nodes_.size()) mark_.resize(nodes_.size(), 0);
  if (++mark_gen_ == 0) {
    std::fill(mark_.begin(), mark_.end(), 0);
    mark_gen_ = 1;
  }
  for (std::size_t i = 0; i < T.record.size() && i < p.view.size(); ++i) {
    const Hist& h = p.view[i];
    const Slot& s = T.record[i];
    if (!h.tracked || h.first_failure == kNever || s.node == p.node) continue;
    const auto at = replication::NextProbeMs(ToCopy(h, s.index), MsAt(p.probe_asked), cfg_);
    if (at && *at <= now) mark_[s.node] = mark_gen_;
  }
  uint32_t last = kNoNode;
  uint32_t asked = 0;
  bool changed = false;
  auto account = [&] {
    if (asked == 0) return;
    const uint64_t bytes = cls.AuditBytes(asked) + costs_.connection_bytes;
    report_.audit_bytes += bytes;
    report_.probe_bytes += bytes;
    day_.audit_bytes += bytes;
    ++report_.connections;
    ++report_.probes_answered;
    asked = 0;
  };
  for (std::size_t i = 0; i < T.record.size() && i < p.view.size(); ++i) {
    const Slot& s = T.record[i];
    Hist& h = p.view[i];
    if (!h.tracked || s.node == p.node || mark_[s.node] != mark_gen_) continue;
    if (s.node != last) {
      account();
      last = s.node;
      ++report_.probes;
      if (up_[s.node] && s.part != kNoNode && RanksBefore(p.node, s.node, T)) {
        parts_[s.part].audited = static_cast<int32_t>(t);
      }
    }
    const uint8_t obs = !up_[s.node] ? kObsUnanswered : s.claimed ? kObsProven : kObsDenied;
    const CopyObservation co = obs == kObsProven   ? CopyObservation::kProven
                               : obs == kObsDenied ? CopyObservation::kDenied
                                                   : CopyObservation::kUnanswered;
    StoreCopy(replication::AfterProbe(ToCopy(h, s.index), co, now), h);
    if (obs != kObsUnanswered) {
      changed = true;
      ++asked;
    }
    h.last_obs = obs;
  }
  account();
  if (changed) {
    // What the last assessment and rank were made of has changed.
    p.dirty = true;
    p.rank_known = false;
  }
  ScheduleProbe(pid, t);
}

// The copies an assessment lists as surplus or to forget are no longer
// tracked by this view; one nobody else tracks or claims leaves the record.
void World::ApplyDrops(uint32_t pid, int64_t t) {
  Part& p = parts_[pid];
  const uint32_t tid = p.tessera;
  Tessera& T = tesseras_[tid];
  std::vector<std::pair<uint32_t, uint16_t>> drop;  // (node, index)
  auto node_of = [&](const core::NodeId& id) {
    for (std::size_t h = 0; h < holders_n_; ++h) {
      if (holders_[h].holder == id) return holder_nodes_[h];
    }
    return kNoNode;
  };
  BuildView(pid, t, /*include_self=*/false);
  for (const auto& [id, index] : p.last.surplus) {
    drop.push_back({node_of(id), static_cast<uint16_t>(index)});
    ++report_.surplus_dropped;
  }
  for (const auto& [id, index] : p.last.forget) {
    const uint32_t n = node_of(id);
    drop.push_back({n, static_cast<uint16_t>(index)});
    ++report_.forgotten;
    const std::size_t i = SlotOf(T, n, static_cast<uint16_t>(index));
    if (i < T.record.size() && !T.record[i].claimed) ++nodes_[p.node].departures_seen;
  }
  p.last.surplus.clear();
  p.last.forget.clear();
  p.rank_known = false;
  for (const auto& [n, index] : drop) {
    const std::size_t i = SlotOf(T, n, index);
    if (i == T.record.size()) continue;
    p.view[i] = Hist{};
    CollectSlot(tid, i);
  }
}

// ---- repair -----------------------------------------------------------------

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
    if (s.node == self && s.claimed) mine.push_back(s.index);
  }
  const bool payload_local = self == T.owner || (r.copies > 1 && !mine.empty());
  std::vector<std::size_t> sources;  // record slots to fetch from
  uint32_t at_hand = 0;              // distinct fragments it has without fetching
  if (!payload_local) {
    std::vector<bool> have(r.fragments, false);
    for (uint16_t i : mine) have[i] = true;
    // What earlier attempts gathered, while it is kept.
    auto g = gathers_.find(pid);
    if (g != gathers_.end() &&
        (g->second.gen != p.gen || now - MsAt(g->second.since) >= cfg_.gather_keep_ms)) {
      gathers_.erase(g);
      g = gathers_.end();
    }
    if (g != gathers_.end()) {
      for (uint16_t i : g->second.indices) have[i] = true;
    }
    uint32_t distinct = static_cast<uint32_t>(std::count(have.begin(), have.end(), true));
    at_hand = distinct;
    // Copies it just saw proven, lowest index first (data shards first).
    std::vector<std::size_t> order;
    for (std::size_t i = 0; i < T.record.size() && i < p.view.size(); ++i) {
      const Hist& h = p.view[i];
      if (T.record[i].node != self && h.tracked && h.last_obs == kObsProven && h.last_proven == t) {
        order.push_back(i);
      }
    }
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
      return T.record[a].index < T.record[b].index;
    });
    for (std::size_t i : order) {
      if (distinct >= r.data) break;
      if (have[T.record[i].index]) continue;
      have[T.record[i].index] = true;
      ++distinct;
      sources.push_back(i);
    }
  }
  if (!me.budget.TrySpend(replication::RepairCost(r, rebuild.size(), payload_local), now)) {
    ++report_.budget_deferred;
    if (Traced(tid)) Trace(tid, t, "repair by node " + std::to_string(self) + ": over budget");
    return;
  }
  if (!payload_local && at_hand + sources.size() < r.data) {
    // Too few: as tesd, it fetches what it reaches and cannot rebuild; it
    // keeps those fragments for the next attempt while gather_keep_ms allows.
    ++report_.repairs_without_sources;
    uint64_t bytes = 0;
    FetchSources(T, sources, t, bytes);
    report_.repair_bytes += bytes;
    day_.repair_bytes += bytes;
    const bool keep = cfg_.gather_keep_ms > 0 && !sources.empty();
    if (keep) {
      ++report_.gathers;
      Gather& kept = gathers_[pid];
      if (kept.indices.empty()) {
        kept.gen = p.gen;
        kept.since = static_cast<int32_t>(t);
      }
      for (std::size_t i : sources) kept.indices.push_back(T.record[i].index);
    }
    if (Traced(tid)) {
      Trace(tid, t,
            "repair by node " + std::to_string(self) + " has " + std::to_string(at_hand) +
                " fragments at hand and fetched " + std::to_string(sources.size()) +
                (keep ? ": kept them" : ": too few, dropped"));
    }
    return;
  }
  BuildView(pid, t, /*include_self=*/false);
  // Candidates: the closest online peers, as tesd asks for them (twice the
  // copies wanted, the holders it knows and itself, plus 8; at least 20).
  const std::size_t ask = std::max<std::size_t>((rebuild.size() + holders_n_ + 1) * 2 + 8, 20);
  const std::vector<uint32_t> near = ClosestOnline(T.key, ask, self);
  ++report_.lookups;
  std::vector<replication::PlacementCandidate> cands;
  cands.reserve(near.size());
  for (uint32_t c : near) {
    replication::PlacementCandidate pc;
    pc.peer = {ids_[c], addrs_[c]};
    pc.balance = self == T.owner ? Balance(self, c) : 0;
    pc.distance = core::XorDistance(ids_[c], T.key);
    cands.push_back(std::move(pc));
  }
  const std::vector<core::NodeId> excluded = {ids_[self]};
  const auto choice = replication::ChoosePlacement(r, rebuild, std::move(cands),
                                                   std::span(holders_.data(), holders_n_), excluded,
                                                   s_.pass.max_per_subnet, now, cfg_);
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
      if (ids_[c] == id) return c;
    }
    for (std::size_t h = 0; h < holders_n_; ++h) {
      if (holders_[h].holder == id) return holder_nodes_[h];
    }
    return kNoNode;
  };
  const auto tier = static_cast<std::size_t>(cls.plan.tier);
  uint64_t bytes = 0;
  const double fetch_done = FetchSources(T, sources, t, bytes);
  gathers_.erase(pid);  // what was gathered is used now
  uint32_t scheduled = 0;
  for (const auto& [peer, indices] : choice.work) {
    const core::NodeId& peer_id = peer.id;  // clang 14 lambdas cannot capture a binding
    const uint32_t target = node_of(peer_id);
    if (target == kNoNode) {
      Violation("placement chose a peer that was not offered");
      continue;
    }
    const bool fresh = std::none_of(counted.begin(), counted.end(),
                                    [&](const auto& c) { return c.first == peer_id; });
    if (fresh && ++per_subnet[replication::SubnetKey(peer.address)] > s_.pass.max_per_subnet) {
      Violation("placement put more than max_per_subnet holders of tessera " + std::to_string(tid) +
                " in one /24");
    }
    for (const uint32_t idx : indices) {
      if (std::count(indices.begin(), indices.end(), idx) > 1 ||
          std::any_of(counted.begin(), counted.end(),
                      [&](const auto& c) { return c.first == peer_id && c.second == idx; })) {
        Violation("placement put a second copy of fragment " + std::to_string(idx) +
                  " of tessera " + std::to_string(tid) + " on one holder");
      }
      const bool held =
          std::any_of(nodes_[target].held.begin(), nodes_[target].held.end(),
                      [&](const auto& h) { return h.first == tid && h.second == idx; });
      const uint64_t b = held ? cls.push_held_bytes : cls.push_bytes;
      const double begin = std::max(fetch_done, me.uplink_free);
      const double dur = static_cast<double>(b) / s_.classes[me.node_class].upload_bytes_per_sec;
      me.uplink_free = begin + dur;
      const double land = begin + dur + s_.latency_secs;
      bytes += b;
      report_.push_bytes_by_tier[tier] += b;
      uint32_t lid;
      if (!free_landings_.empty()) {
        lid = free_landings_.back();
        free_landings_.pop_back();
      } else {
        lid = static_cast<uint32_t>(landings_.size());
        landings_.emplace_back();
      }
      Landing& l = landings_[lid];
      l = Landing{};
      l.tessera = tid;
      l.target = target;
      l.maintainer = self;
      l.part = pid;
      l.index = static_cast<uint16_t>(idx);
      l.target_epoch = nodes_[target].epoch;
      l.maintainer_epoch = me.epoch;
      l.part_gen = p.gen;
      l.maker = static_cast<uint8_t>(kind);
      NoteCause(T, l.index, t, l);
      Schedule(std::max<int64_t>(t + 1, static_cast<int64_t>(std::ceil(land))), EventType::kLanding,
               lid);
      ++scheduled;
    }
    bytes += costs_.connection_bytes;
    ++report_.connections;
  }
  if (Traced(tid)) {
    Trace(tid, t,
          "repair by node " + std::to_string(self) + ": " + std::to_string(scheduled) +
              " copies pushed, " + std::to_string(sources.size()) + " sources fetched");
  }
  if (scheduled == 0) {
    report_.repair_bytes += bytes;  // what it fetched for nothing
    day_.repair_bytes += bytes;
    return;
  }
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
  // The new holders publish their claims (and the owner its record) at the
  // DHT nodes closest to the key.
  report_.record_bytes += uint64_t{costs_.record_replicas} * cls.record_store_bytes;
}

double World::FetchSources(const Tessera& T, const std::vector<std::size_t>& sources, int64_t t,
                           uint64_t& bytes) {
  const SizeClass& cls = ClassOf(T);
  const auto tier = static_cast<std::size_t>(cls.plan.tier);
  double done = static_cast<double>(t);
  for (std::size_t i : sources) {
    Node& src = nodes_[T.record[i].node];
    const double begin = std::max(static_cast<double>(t), src.uplink_free);
    const double dur =
        static_cast<double>(cls.fetch_bytes) / s_.classes[src.node_class].upload_bytes_per_sec;
    src.uplink_free = begin + dur;
    done = std::max(done, begin + dur + s_.latency_secs);
    bytes += cls.fetch_bytes + costs_.connection_bytes;
    report_.fetch_bytes_by_tier[tier] += cls.fetch_bytes + costs_.connection_bytes;
    ++report_.connections;
  }
  return done;
}

void World::NoteCause(const Tessera& T, uint16_t index, int64_t t, Landing& l) const {
  if (T.alive_copies[index] < ClassOf(T).redundancy.copies) {
    l.cause = static_cast<uint8_t>(RedundantCause::kFilledMeanwhile);
    return;
  }
  // The claimed slots of `index` are its copies (a claim lives while its
  // holder is in the network and keeps the bytes).
  int64_t longest = -1;
  for (const Slot& s : T.record) {
    if (s.claimed && s.index == index && !nodes_[s.node].up) {
      longest = std::max(longest, t - nodes_[s.node].down_since);
    }
  }
  if (longest < 0) {
    l.cause = static_cast<uint8_t>(RedundantCause::kHoldersUp);
    return;
  }
  l.cause = static_cast<uint8_t>(RedundantCause::kHolderDown);
  const int64_t day = 86400;
  l.down_for = longest < day ? 0 : longest < 3 * day ? 1 : longest < 7 * day ? 2 : 3;
}

void World::Land(const Landing& l, int64_t t) {
  Tessera& T = tesseras_[l.tessera];
  --T.in_flight;
  const Node& target = nodes_[l.target];
  const Node& m = nodes_[l.maintainer];
  if (!target.up || target.epoch != l.target_epoch || !m.alive || m.epoch != l.maintainer_epoch) {
    ++report_.transfers_failed;
    if (Traced(l.tessera)) Trace(l.tessera, t, "copy of " + std::to_string(l.index) + " failed");
    return;
  }
  const bool held = std::any_of(target.held.begin(), target.held.end(), [&](const auto& h) {
    return h.first == l.tessera && h.second == l.index;
  });
  if (held) {
    ++report_.copies_already_held;
  } else {
    ++report_.copies_created;
    // Ground truth: the wanted copies of this fragment all still exist.
    if (T.alive_copies[l.index] >= ClassOf(T).redundancy.copies) {
      ++report_.copies_created_redundant;
      ++report_.redundant_by_cause[l.cause];
      ++report_.redundant_by_maker[l.maker];
      if (l.cause == static_cast<uint8_t>(RedundantCause::kHolderDown)) {
        ++report_.redundant_holder_down_for[l.down_for];
      }
    }
    ++report_.copies_by_tier[static_cast<std::size_t>(ClassOf(T).plan.tier)];
    PhysicalAdd(l.tessera, l.target, l.index, t);
    Credit(l.target, T.owner, ClassOf(T).redundancy.fragment_bytes, +1);
  }
  // The holder's participant entry: the owner keeps its one (rank 0).
  uint32_t part = l.target == T.owner ? T.parts[0] : kNoNode;
  for (uint32_t pid : T.parts) {
    if (part == kNoNode && parts_[pid].node == l.target) part = pid;
  }
  if (part == kNoNode) part = NewPart(l.tessera, l.target, t, /*holder=*/true);
  std::size_t slot = SlotOf(T, l.target, l.index);
  if (slot == T.record.size()) {
    // Keep the record sorted by holder id, then index.
    auto less = [&](const Slot& s) {
      return ids_[s.node] < ids_[l.target] || (s.node == l.target && s.index < l.index);
    };
    slot = 0;
    while (slot < T.record.size() && less(T.record[slot])) ++slot;
    T.record.insert(T.record.begin() + static_cast<std::ptrdiff_t>(slot),
                    Slot{l.target, l.index, 1, part, 0});
    for (uint32_t pid : T.parts) {
      auto& v = parts_[pid].view;
      if (v.size() >= slot) v.insert(v.begin() + static_cast<std::ptrdiff_t>(slot), Hist{});
    }
  } else {
    T.record[slot].claimed = 1;
    T.record[slot].part = part;
  }
  ++T.record_version;
  MarkDirty(l.tessera);
  if (part != T.parts[0]) {
    parts_[part].audited = static_cast<int32_t>(t);
    parts_[part].rank_known = false;  // it keeps a copy now
    Reschedule(part, t);
  }
  // The pushing maintainer tracks the acknowledged copy as proven.
  if (parts_[l.part].used && parts_[l.part].gen == l.part_gen &&
      parts_[l.part].tessera == l.tessera) {
    Part& p = parts_[l.part];
    if (p.view.size() < T.record.size()) p.view.resize(T.record.size());
    Hist& h = p.view[slot];
    h = Hist{};
    StoreCopy(replication::AfterPush(l.index, MsAt(t)), h);
    h.last_obs = kObsProven;
    h.tracked = 1;
    p.rank_known = false;  // one more copy it tracks
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
    const auto& tier = u < w.small_share                    ? small
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
    // Placed on the closest machines that are up, as tesd's first push does;
    // where too few are up to place every unit (at time 0, midnight, diurnal
    // machines are off) the tesseras count as published during the day: every
    // machine in the network is a candidate.
    const std::size_t ask = std::max<std::size_t>(2 * all.size() + 8, 20);
    std::vector<uint32_t> near = ClosestOnline(T.key, ask, T.owner);
    if (near.size() < all.size()) near = ClosestOnline(T.key, ask, T.owner, /*online_only=*/false);
    std::vector<replication::PlacementCandidate> cands;
    for (uint32_t c : near)
      cands.push_back({{ids_[c], addrs_[c]}, 0, core::XorDistance(ids_[c], T.key)});
    const auto choice = replication::ChoosePlacement(r, all, std::move(cands), {},
                                                     std::vector<core::NodeId>{ids_[T.owner]},
                                                     s_.pass.max_per_subnet, MsAt(0), cfg_);
    std::vector<std::pair<uint32_t, std::vector<uint32_t>>> placed;
    for (const auto& [peer, indices] : choice.work) {
      uint32_t target = kNoNode;
      for (uint32_t c : near) {
        if (ids_[c] == peer.id) target = c;
      }
      placed.push_back({target, indices});
    }
    std::sort(placed.begin(), placed.end(),
              [&](const auto& a, const auto& b) { return ids_[a.first] < ids_[b.first]; });
    const uint32_t owner_pid = T.parts[0];
    for (auto& [target, indices] : placed) {
      const uint32_t part = NewPart(tid, target, 0, /*holder=*/true);
      // A network in its steady state: holders last checked at some point
      // within the last watch interval.
      parts_[part].checked = -static_cast<int32_t>(
          workload_.Below(static_cast<uint64_t>(cfg_.watch_interval_ms / 1000)));
      parts_[part].heap_due = kNoDue;
      Reschedule(part, 0);
      std::sort(indices.begin(), indices.end());
      for (uint32_t idx : indices) {
        T.record.push_back(Slot{target, static_cast<uint16_t>(idx), 1, part, 0});
        PhysicalAdd(tid, target, static_cast<uint16_t>(idx), 0);
        Credit(target, T.owner, r.fragment_bytes, +1);
        Hist h;
        StoreCopy(replication::AfterPush(idx, MsAt(0)), h);
        h.last_obs = kObsProven;
        h.tracked = 1;
        parts_[owner_pid].view.push_back(h);
        T.oracle.push_back(target);
        nodes_[target].oracle_held.push_back({tid, static_cast<uint16_t>(T.oracle.size() - 1)});
        T.bound.push_back(target);
        nodes_[target].bound_held.push_back({tid, static_cast<uint16_t>(T.bound.size() - 1)});
        report_.publish_bytes += cls.push_bytes;
      }
    }
    parts_[owner_pid].has_view = true;
    // Units the network was too small to place stay unplaced for the oracle too.
    while (T.oracle.size() < r.units()) T.oracle.push_back(kNoNode);
    T.bound.resize(T.oracle.size(), kNoNode);
  }
  below_episodes_hours_.clear();
}

}  // namespace tesseras::sim
