// Maintenance: this node's share of looking after a tessera (docs/REPLICATION.md,
// "Maintenance"). For one tessera, MaintainTessera:
//   check      CheckTesseraHealth (audit, record, assess) when due or forced
//   mend       fetch or rebuild our own copies that are bad or gone
//   claim      republish our holder claim if what we hold changed
//   decide     our maintainer rank and the policy's ShouldAct
//   repair     RepairMissing: within the budget, stage from the payload or k
//              fragments, rebuild, place the copies, remember them, publish
// and RunRepairPass does that for every tessera, repairing in policy order.
#include <algorithm>
#include <set>

#include "replication/fragment_codec.h"
#include "replication/replication_service.h"
#include "replication/service_internal.h"

namespace tesseras::replication {

namespace fs = std::filesystem;
using core::ErrorCode;
using core::MakeError;
using core::Result;

Result<void> ReplicationService::MendLocal(const SignedPlan& plan, uint32_t index,
                                           const std::vector<core::PlacementEntry>& holders,
                                           uint64_t* fetched_bytes) {
  const auto& table = plan.table;
  *fetched_bytes = 0;
  // First choice: the same fragment from another holder.
  for (const auto& h : holders) {
    if (h.holder == d_.self->node_id()) continue;
    if (std::find(h.indices.begin(), h.indices.end(), index) == h.indices.end()) continue;
    core::MemorySink buf;  // one fragment (tens of MiB at most) — bounded by the plan
    CheckedSink checked(buf, table.checksums[index], table.plan.shard_size);
    auto r = d_.dht->FetchFragment(PeerOf(h), table.tessera, index, checked, plan.owner_id());
    if (r.ok()) r = checked.Finish();
    if (!r.ok()) continue;
    *fetched_bytes += table.plan.shard_size;
    core::MemorySource src(buf.bytes());
    auto prev = d_.fragments->Get(table.tessera, index);
    core::NodeId origin = prev.ok() ? prev->origin : plan.owner_id();
    return d_.fragments->Store(table.IdOf(index), table.plan.shard_size, src, origin, true);
  }
  // Otherwise rebuild it from any k fragments.
  std::vector<PeerFailure> failures;
  uint64_t staged_bytes = 0;
  auto staged = StageFromNetwork(plan, holders, &failures, /*gather=*/true, &staged_bytes);
  *fetched_bytes += staged_bytes;  // paid for, whether or not k came
  if (!staged.ok()) return staged.error();
  std::vector<std::unique_ptr<FileSource>> files;
  std::vector<FragmentInput> inputs;
  for (uint32_t i = 0; i < table.plan.total_shards(); ++i) {
    if (!(*staged)->present[i] || i == index) continue;
    auto f = (*staged)->Open(i);
    if (!f.ok()) continue;
    inputs.push_back({i, f->get()});
    files.push_back(std::move(*f));
  }
  auto out_path = (*staged)->dir / ("rebuilt-" + ShardFileName(index));
  ASSIGN_OR_RETURN(auto sink, FileSink::Create(out_path, false));
  core::ByteSink* sp = sink.get();
  std::vector<uint32_t> wanted = {index};
  TRY(RebuildFragments(table, inputs, wanted, std::span(&sp, 1)));
  ASSIGN_OR_RETURN(auto src, FileSource::Open(out_path));
  auto prev = d_.fragments->Get(table.tessera, index);
  core::NodeId origin = prev.ok() ? prev->origin : plan.owner_id();
  return d_.fragments->Store(table.IdOf(index), table.plan.shard_size, *src, origin, true);
}

namespace {

// The next state of a pass summary from one tessera's report.
void Tally(PassSummary& s, const RepairReport& r) {
  if (r.action != "not_due" && r.action != "not_maintainer") ++s.checked;
  if (r.action == "repaired") ++s.repaired;
  if (r.action == "waiting") ++s.waiting;
  if (r.action == "deferred") ++s.deferred;
  if (r.action == "failed") ++s.failed;
  s.bytes_fetched += r.bytes_fetched;
  s.bytes_sent += r.bytes_sent;
  s.regenerated += r.regenerated.size();
  s.mended_local += r.mended_local.size();
  s.problems += r.problems.empty() ? 0 : 1;
}

}  // namespace

void ReplicationService::RepairMissing(const SignedPlan& plan, const HealthReport& health,
                                       RepairReport& rep) {
  const core::ContentHash& tessera = plan.table.tessera;
  const Redundancy red = RedundancyOf(plan.table.plan);
  const bool payload_here = d_.blobs->Open(tessera).ok();
  // 1. The budget: repair traffic per rolling day (maintenance_policy.h).
  const uint64_t cost = RepairCost(red, health.rebuild.size(), payload_here);
  // What the repair spent beyond the estimate it was let through with.
  auto charge_beyond = [&](uint64_t spent) {
    std::lock_guard lock(mu_);
    if (spent > cost) budget_.Charge(spent - cost, d_.clock->NowUnixMs());
  };
  {
    std::lock_guard lock(mu_);
    if (!budget_.TrySpend(cost, d_.clock->NowUnixMs())) {
      rep.action = "deferred";
      rep.problems.push_back(
          "repair budget spent for now: " + std::to_string(cost) + " bytes needed, " +
          std::to_string(budget_.available(d_.clock->NowUnixMs())) +
          " available (repair_bytes_per_day " + std::to_string(budget_.capacity()) + ")");
      return;
    }
  }
  // 2. Stage: re-encode the payload, or fetch any k proven copies and rebuild.
  auto got_tracked = d_.plans->GetHolders(tessera);
  if (!got_tracked.ok()) {
    rep.action = "failed";
    rep.problems.push_back(got_tracked.error().ToString());
    return;
  }
  std::vector<core::HolderView> tracked = std::move(*got_tracked);
  const int64_t now = d_.clock->NowUnixMs();
  std::vector<PeerFailure> failures;
  std::unique_ptr<Staged> staged;
  if (payload_here) {
    auto from_payload = StageFromPayload(tessera, plan);
    if (from_payload.ok()) {
      staged = std::move(*from_payload);
    } else {
      // The check assessed this tessera as one we rebuild without fetching
      // (health.cc); we fetch after all, and say why.
      rep.problems.push_back("payload not usable, fetching fragments instead: " +
                             from_payload.error().ToString());
    }
  }
  if (!staged) {
    uint64_t fetched_bytes = 0;
    auto fetched = StageFromNetwork(plan, CountedPlacement(tracked, now, config_.policy, true),
                                    &failures, /*gather=*/true, &fetched_bytes);
    if (!fetched.ok()) {
      // What it fetched was paid for even though it cannot rebuild yet.
      rep.bytes_fetched += fetched_bytes;
      metrics_->repair_received.Inc(fetched_bytes);
      charge_beyond(fetched_bytes);
      rep.action = "failed";
      rep.problems.push_back("cannot regenerate: " + fetched.error().message);
      return;
    }
    staged = std::move(*fetched);
    if (!staged->note.empty()) rep.problems.push_back(staged->note);
    // Fetched, and paid for, whatever happens next.
    rep.bytes_fetched += staged->fetched_bytes;
    metrics_->repair_received.Inc(staged->fetched_bytes);
    auto rebuilt = RebuildMissing(*staged, health.rebuild);
    if (!rebuilt.ok()) {
      charge_beyond(staged->fetched_bytes);
      // The k fragments at hand stay gathered for the next attempt (each is
      // checked again before use).
      if (staged->gather) staged->dir.clear();
      rep.action = "failed";
      rep.problems.push_back("cannot regenerate: " + rebuilt.error().message);
      return;
    }
  }
  // 3. Place: targets from the policy, refusals and failures sent elsewhere.
  Placed placed = PlaceCopies(plan, *staged, health.rebuild, tracked, &failures);
  rep.bytes_sent = placed.bytes_sent;
  metrics_->repair_sent.Inc(rep.bytes_sent);
  charge_beyond(staged->fetched_bytes + rep.bytes_sent);
  for (const auto& f : failures) {
    rep.problems.push_back((f.peer.id == core::NodeId{} ? std::string("placement")
                                                        : "peer " + f.peer.id.Short() + "…") +
                           " failed: " + f.error);
  }
  // 4. Remember where they went; the owner republishes its holder record, the
  // new holders publish their own claims.
  const int64_t after = d_.clock->NowUnixMs();
  for (const auto& e : placed.acked) {
    AddCopies(tracked, e, after);
    rep.new_holders.push_back(e);
    rep.regenerated.insert(rep.regenerated.end(), e.indices.begin(), e.indices.end());
  }
  std::sort(rep.regenerated.begin(), rep.regenerated.end());
  rep.regenerated.erase(std::unique(rep.regenerated.begin(), rep.regenerated.end()),
                        rep.regenerated.end());
  auto kept = d_.plans->SetHolders(tessera, tracked);
  if (!kept.ok()) rep.problems.push_back("placement not recorded: " + kept.error().message);
  if (plan.owner_id() == d_.self->node_id()) {
    auto stored = PublishHolderRecord(plan, CountedPlacement(tracked, after, config_.policy));
    if (!stored.ok()) {
      rep.problems.push_back("holder record not published: " + stored.error().message);
    }
  }
  const std::size_t wanted = health.rebuild.size();
  std::size_t got = 0;
  for (const auto& e : placed.acked) got += e.indices.size();
  rep.action = got > 0 ? "repaired" : "failed";
  if (got < wanted) {
    rep.problems.push_back("placed " + std::to_string(got) + " of " + std::to_string(wanted) +
                           (red.copies > 1 ? " copies" : " fragments") +
                           " (no further eligible holder)");
  }
}

Result<RepairReport> ReplicationService::MaintainTessera(const core::ContentHash& tessera,
                                                         bool forced, bool act) {
  ASSIGN_OR_RETURN(SignedPlan plan, LoadPlan(tessera));
  RepairReport rep;
  rep.tessera = tessera;
  if (plan.table.tessera != tessera) {
    // A plan kept under its slot (not the first plan of its hash here): its
    // owner audits and repairs it; this node maintains only the first plan it
    // stored for a hash (docs/SECURITY.md, known limits).
    rep.tessera = plan.table.tessera;
    rep.action = "not_maintainer";
    return rep;
  }
  const int64_t now = d_.clock->NowUnixMs();
  // Due? Our rank from what we track; the check below refines it.
  ASSIGN_OR_RETURN(auto tracked, d_.plans->GetHolders(tessera));
  ASSIGN_OR_RETURN(auto mine, d_.fragments->List(tessera));
  ASSIGN_OR_RETURN(const core::MaintenanceClock clock, d_.plans->GetMaintenance(tessera));
  std::vector<core::HolderView> ranked = tracked;
  if (!mine.empty() || !clock.claimed.empty()) {
    core::HolderView me{d_.self->node_id(), "", {}};
    for (const auto& f : mine) me.copies.push_back(AfterPush(f.id.index, now));
    for (uint32_t i : clock.claimed) me.copies.push_back(AfterPush(i, now));
    ranked.push_back(std::move(me));
  }
  const auto rank = MaintainerRank(d_.self->node_id(), plan.owner_id(), core::KeyFor(tessera),
                                   ranked, now, config_.policy);
  if (!rank) {
    rep.action = "not_maintainer";
    return rep;
  }
  if (!ShouldCheck(*rank, clock, now, forced, config_.policy)) {
    rep.action = "not_due";
    (void)RefreshClaim(plan);
    return rep;
  }
  // Check. A due check trusts a recent verification of our own copies (the
  // scrub's) and a still-valid answer of the record cache; a forced one
  // re-hashes them and looks the records up. No repair is decided on a cached
  // view (a holder placed since would be missing from it): a due check that
  // finds one to make looks the records up again first.
  const int64_t trust_ms = forced ? 0
                                  : static_cast<int64_t>(std::min<uint64_t>(
                                        config_.trust_verified_secs, INT64_MAX / 1000)) *
                                        1000;
  ASSIGN_OR_RETURN(rep.before, CheckTesseraHealth(tessera, trust_ms, /*cached_records=*/!forced));
  if (rep.before.records_cached && rep.before.trigger != RepairTrigger::kNone) {
    // The DHT answering what the cache held, the check stands as made; else
    // it is made again on the fresh records (holders audited twice then).
    if (CachedRecordsCurrent(tessera)) {
      rep.before.records_cached = false;
    } else {
      ASSIGN_OR_RETURN(rep.before, CheckTesseraHealth(tessera, trust_ms, /*cached_records=*/false));
    }
  }
  const HealthReport& health = rep.before;
  // Mend our own copies: every holder does, whatever its rank.
  const auto sources = [&] {
    auto t = d_.plans->GetHolders(tessera);
    return CountedPlacement(t.ok() ? *t : tracked, d_.clock->NowUnixMs(), config_.policy, true);
  }();
  for (uint32_t idx : health.corrupt_local) {
    uint64_t fetched = 0;
    auto r = MendLocal(plan, idx, sources, &fetched);
    rep.bytes_fetched += fetched;
    metrics_->repair_received.Inc(fetched);
    if (r.ok()) {
      rep.mended_local.push_back(idx);
    } else {
      rep.problems.push_back("could not mend local fragment " + std::to_string(idx) + ": " +
                             r.error().message);
    }
  }
  // Our claim must stay findable: published again when the DHT lost it.
  const bool holding = !mine.empty() || !health.corrupt_local.empty();
  if (auto claimed = RefreshClaim(plan, holding && !health.own_claim_found); !claimed.ok()) {
    rep.problems.push_back(claimed.error().message);
  }
  if (!health.maintainer_rank) {
    rep.action = "not_maintainer";
    return rep;
  }
  if (health.trigger == RepairTrigger::kNone || health.state == HealthState::kLocal) return rep;
  // Decide.
  core::MaintenanceClock seen = clock;
  seen.need_since_ms = health.need_since_ms.value_or(now);
  if (!ShouldAct(*health.maintainer_rank, seen, d_.clock->NowUnixMs(), config_.policy,
                 health.trigger)) {
    rep.action = "waiting";
    rep.problems.push_back(
        "maintainer rank " + std::to_string(*health.maintainer_rank) +
        ": the ones before us have the turn until the need has lasted " +
        std::to_string(*health.maintainer_rank * config_.policy.takeover_delay_ms / 1000) + " s");
    return rep;
  }
  if (!act) {
    rep.action = "queued";
    return rep;
  }
  RepairMissing(plan, health, rep);
  return rep;
}

Result<RepairReport> ReplicationService::RepairTessera(const core::ContentHash& tessera) {
  return MaintainTessera(tessera, /*forced=*/true, /*act=*/true);
}

Result<std::vector<RepairReport>> ReplicationService::RunRepairPass(bool forced) {
  // The plans are walked a page at a time (kPassPlanPage), never held all at
  // once; a first walk only counts them, for the progress shown.
  std::size_t total = 0;
  for (std::optional<core::ContentHash> after;;) {
    ASSIGN_OR_RETURN(auto page, d_.plans->ListPlansAfter(after, kPassPlanPage));
    total += page.size();
    if (page.size() < kPassPlanPage) break;
    after = page.back().tessera;
  }
  PassSummary summary;
  summary.started_ms = d_.clock->NowUnixMs();
  summary.forced = forced;
  auto progress = [&](std::string phase, std::size_t done, std::size_t of,
                      std::optional<core::ContentHash> current) {
    std::lock_guard lock(mu_);
    pass_.running = true;
    pass_.started_ms = summary.started_ms;
    pass_.phase = std::move(phase);
    pass_.done = done;
    pass_.total = of;
    pass_.current = current;
  };
  // What the pass returns stays bounded: every report while there are few,
  // then only those where something happened (or went wrong).
  std::vector<RepairReport> out;
  auto keep = [&](RepairReport r) {
    Tally(summary, r);
    const bool quiet =
        (r.action == "none" || r.action == "not_due" || r.action == "not_maintainer") &&
        r.problems.empty() && r.mended_local.empty();
    if (out.size() < kMaxPassReports && (!quiet || total <= kMaxPassReports)) {
      out.push_back(std::move(r));
    }
  };
  // 0. Gathers past their time are dropped (a tessera no longer repaired
  // leaves none behind).
  SweepGathers();
  // 1. Check what is due (everything when forced) and mend our own copies;
  // remember what needs repair (at most kMaxPassRepairs: the rest waits for
  // the next pass, its need remembered).
  std::vector<RepairReport> queued;
  std::size_t i = 0;
  std::vector<core::PlanInfo> page;
  for (std::optional<core::ContentHash> after;; after = page.back().tessera) {
    ASSIGN_OR_RETURN(page, d_.plans->ListPlansAfter(after, kPassPlanPage));
    for (const auto& info : page) {
      const core::ContentHash& t = info.tessera;
      progress("checking", i, std::max(total, i + 1), t);  // plans added meanwhile
      ++i;
      auto r = MaintainTessera(t, forced, /*act=*/false);
      if (!r.ok()) {
        RepairReport failed;
        failed.tessera = t;
        failed.action = "failed";
        failed.problems.push_back(r.error().ToString());
        keep(std::move(failed));
      } else if (r->action == "queued" && queued.size() < kMaxPassRepairs) {
        queued.push_back(std::move(*r));
      } else {
        if (r->action == "queued") {
          r->action = "deferred";
          r->problems.push_back("more repairs than one pass takes; the next pass continues");
        }
        keep(std::move(*r));
      }
    }
    if (page.size() < kPassPlanPage) break;
  }
  // 2. Repair in the policy's order: least margin first, owners in deficit last.
  std::vector<QueueItem> queue;
  for (std::size_t q = 0; q < queued.size(); ++q) {
    const RepairReport& r = queued[q];
    bool deficit = false;
    if (!r.before.own) {
      auto plan = LoadPlan(r.tessera);
      auto bal = plan.ok() ? d_.ledger->Balance(plan->owner_id())
                           : Result<core::LedgerEntry>(plan.error());
      deficit = bal.ok() && bal->balance < 0;
    }
    queue.push_back({r.tessera, r.before.margin, deficit, r.before.own});
  }
  OrderRepairQueue(queue);
  for (std::size_t q = 0; q < queue.size(); ++q) {
    progress("repairing", q, queue.size(), queue[q].tessera);
    auto it = std::find_if(queued.begin(), queued.end(),
                           [&](const RepairReport& r) { return r.tessera == queue[q].tessera; });
    auto plan = LoadPlan(it->tessera);
    if (!plan.ok()) {
      it->action = "failed";
      it->problems.push_back(plan.error().ToString());
    } else {
      RepairMissing(*plan, it->before, *it);
    }
    keep(std::move(*it));
  }
  summary.finished_ms = d_.clock->NowUnixMs();
  metrics_->passes.Inc();
  {
    std::lock_guard lock(mu_);
    pass_ = PassStatus{};
    history_.push_back(summary);
    while (history_.size() > kPassHistory) history_.pop_front();
  }
  return out;
}

}  // namespace tesseras::replication
