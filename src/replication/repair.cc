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
                                           std::string* problem) {
  const auto& table = plan.table;
  // First choice: the same fragment from another holder.
  for (const auto& h : holders) {
    if (h.holder == d_.self->node_id()) continue;
    if (std::find(h.indices.begin(), h.indices.end(), index) == h.indices.end()) continue;
    core::MemorySink buf;  // one fragment (tens of MiB at most) — bounded by the plan
    CheckedSink checked(buf, table.checksums[index], table.plan.shard_size);
    auto r = d_.dht->FetchFragment(PeerOf(h), table.tessera, index, checked);
    if (r.ok()) r = checked.Finish();
    if (!r.ok()) continue;
    core::MemorySource src(buf.bytes());
    auto prev = d_.fragments->Get(table.tessera, index);
    core::NodeId origin = prev.ok() ? prev->origin : plan.owner_id();
    return d_.fragments->Store(table.IdOf(index), table.plan.shard_size, src, origin, true);
  }
  // Otherwise rebuild it from any k fragments.
  std::vector<PeerFailure> failures;
  auto staged = StageFromNetwork(plan, holders, &failures);
  if (!staged.ok()) {
    *problem = staged.error().message;
    return staged.error();
  }
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

Result<RepairReport> ReplicationService::RepairTessera(const core::ContentHash& tessera) {
  ASSIGN_OR_RETURN(SignedPlan plan, LoadPlan(tessera));
  RepairReport rep;
  rep.tessera = tessera;
  ASSIGN_OR_RETURN(rep.before, CheckTesseraHealth(tessera));
  const auto& health = rep.before;
  std::vector<core::PlacementEntry> placement;
  for (const auto& h : health.holders) placement.push_back(h.entry);

  // Corrupt local fragments: fetch or rebuild a correct copy.
  for (uint32_t idx : health.corrupt_local) {
    std::string problem;
    auto r = MendLocal(plan, idx, placement, &problem);
    if (r.ok()) {
      rep.mended_local.push_back(idx);
    } else {
      rep.problems.push_back("could not mend local fragment " + std::to_string(idx) + ": " +
                             r.error().message);
    }
  }
  if (health.deficit == 0 || health.state == HealthState::kLocal) return rep;
  if (!health.own) {
    rep.problems.push_back("only the owner places new holders (deficit " +
                           std::to_string(health.deficit) + ")");
    return rep;
  }

  // Live holders keep what they proved; the rest is re-created and placed anew.
  const auto& table = plan.table;
  const uint32_t n = table.plan.total_shards();
  std::vector<core::PlacementEntry> live;
  std::vector<core::PeerInfo> live_peers;
  std::set<uint32_t> proven;
  for (const auto& h : health.holders) {
    if (h.proven.empty()) {
      // Un-count what it no longer holds for us.
      for (uint32_t i : h.entry.indices) {
        (void)d_.ledger->Forget(h.entry.holder, core::LedgerDirection::kTheyStoreForUs, tessera, i);
      }
      continue;
    }
    core::PlacementEntry e = h.entry;
    e.indices = h.proven;
    live.push_back(e);
    live_peers.push_back(PeerOf(e));
    proven.insert(h.proven.begin(), h.proven.end());
  }
  std::vector<uint32_t> missing;
  std::size_t want = 0;
  if (table.plan.tier == core::Tier::kSmall) {
    want = health.deficit;
  } else {
    for (uint32_t i = 0; i < n; ++i)
      if (!proven.count(i)) missing.push_back(i);
    want = missing.size();
  }
  std::vector<PeerFailure> failures;
  std::unique_ptr<Staged> staged;
  auto from_payload = StageFromPayload(tessera, plan);
  if (from_payload.ok()) {
    staged = std::move(*from_payload);
  } else {
    auto fetched = StageFromNetwork(plan, live, &failures);
    if (!fetched.ok()) {
      rep.problems.push_back("cannot regenerate: " + fetched.error().message);
      return rep;
    }
    staged = std::move(*fetched);
    // Rebuild what is missing from the k fragments we have.
    std::vector<std::unique_ptr<FileSource>> files;
    std::vector<FragmentInput> inputs;
    std::vector<uint32_t> wanted;
    for (uint32_t i = 0; i < n; ++i) {
      if (staged->present[i]) {
        auto f = staged->Open(i);
        if (!f.ok()) continue;
        inputs.push_back({i, f->get()});
        files.push_back(std::move(*f));
      } else {
        wanted.push_back(i);
      }
    }
    std::vector<std::unique_ptr<FileSink>> owned;
    std::vector<core::ByteSink*> sinks;
    for (uint32_t i : wanted) {
      ASSIGN_OR_RETURN(auto s, FileSink::Create(staged->PathOf(i), false));
      sinks.push_back(s.get());
      owned.push_back(std::move(s));
    }
    auto rebuilt = RebuildFragments(table, inputs, wanted, sinks);
    if (!rebuilt.ok()) {
      rep.problems.push_back("cannot regenerate: " + rebuilt.error().message);
      return rep;
    }
    for (uint32_t i : wanted) staged->present[i] = true;
  }
  auto fresh = Candidates(tessera, want * 2, live_peers, live_peers);
  if (fresh.ok() && fresh->size() < want && table.plan.tier != core::Tier::kSmall) {
    // A small network: no new node is eligible for some fragments, so live
    // holders take them (fewest fragments first). Redundancy comes back; holder
    // diversity is what the network allows (see docs/REPLICATION.md).
    std::vector<core::PlacementEntry> by_load = live;
    std::stable_sort(by_load.begin(), by_load.end(), [](const auto& a, const auto& b) {
      return a.indices.size() < b.indices.size();
    });
    for (const auto& e : by_load) {
      if (fresh->size() >= want) break;
      fresh->push_back(PeerOf(e));
    }
  }
  if (!fresh.ok() || fresh->empty()) {
    rep.problems.push_back("no eligible new holder for " + std::to_string(want) +
                           (table.plan.tier == core::Tier::kSmall ? " copies" : " fragments"));
    return rep;
  }
  std::vector<core::PeerInfo> primary(
      fresh->begin(), fresh->begin() + static_cast<long>(std::min(want, fresh->size())));
  std::vector<core::PeerInfo> spares(fresh->begin() + static_cast<long>(primary.size()),
                                     fresh->end());
  std::vector<std::pair<core::PeerInfo, std::vector<uint32_t>>> work;
  if (table.plan.tier == core::Tier::kSmall) {
    for (const auto& p : primary) work.push_back({p, {0}});
  } else {
    for (std::size_t m = 0; m < missing.size(); ++m) {
      if (m < primary.size()) work.push_back({primary[m], {}});
      work[m % primary.size()].second.push_back(missing[m]);
    }
  }
  auto placed = Push(plan, *staged, std::move(work), std::move(spares), &failures);
  for (const auto& f : failures) {
    rep.problems.push_back("peer " + f.peer.id.Short() + "… failed: " + f.error);
  }
  for (const auto& e : placed) {
    rep.new_holders.push_back(e);
    rep.regenerated.insert(rep.regenerated.end(), e.indices.begin(), e.indices.end());
    auto same =
        std::find_if(live.begin(), live.end(), [&](const auto& l) { return l.holder == e.holder; });
    if (same == live.end()) {
      live.push_back(e);
    } else {
      same->indices.insert(same->indices.end(), e.indices.begin(), e.indices.end());
      std::sort(same->indices.begin(), same->indices.end());
    }
  }
  std::sort(rep.regenerated.begin(), rep.regenerated.end());
  rep.regenerated.erase(std::unique(rep.regenerated.begin(), rep.regenerated.end()),
                        rep.regenerated.end());
  TRY(d_.plans->SetPlacement(tessera, live));
  auto stored = PublishHolderRecord(plan, live);
  if (!stored.ok())
    rep.problems.push_back("holder record not published: " + stored.error().message);
  return rep;
}

Result<std::vector<RepairReport>> ReplicationService::RunRepairPass() {
  ASSIGN_OR_RETURN(auto plans, d_.plans->ListPlans());
  // Own tesseras first; then others' by the owner's balance with us (deficit last).
  std::vector<std::pair<int64_t, core::ContentHash>> order;
  for (const auto& p : plans) {
    int64_t key = INT64_MAX;
    if (p.owner != d_.self->node_id()) {
      auto bal = d_.ledger->Balance(p.owner);
      key = bal.ok() ? bal->balance : 0;
    }
    order.push_back({key, p.tessera});
  }
  std::stable_sort(order.begin(), order.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<RepairReport> out;
  for (const auto& [_, t] : order) {
    auto r = RepairTessera(t);
    if (r.ok()) {
      out.push_back(std::move(*r));
    } else {
      RepairReport failed;
      failed.tessera = t;
      failed.problems.push_back(r.error().ToString());
      out.push_back(std::move(failed));
    }
  }
  return out;
}

}  // namespace tesseras::replication
