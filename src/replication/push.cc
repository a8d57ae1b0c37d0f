#include <algorithm>
#include <map>
#include <mutex>

#include "replication/placement.h"
#include "replication/replication_service.h"
#include "replication/service_internal.h"

namespace tesseras::replication {

namespace fs = std::filesystem;
using core::ErrorCode;
using core::MakeError;
using core::Result;

Result<std::vector<core::PeerInfo>> ReplicationService::Candidates(
    const core::ContentHash& tessera, std::size_t want, const std::vector<core::PeerInfo>& exclude,
    const std::vector<core::PeerInfo>& existing) {
  // Ask for more than needed: subnet caps and exclusions thin the list.
  ASSIGN_OR_RETURN(auto found, d_.dht->FindPeers(core::KeyFor(tessera),
                                                 std::max<std::size_t>(want * 2 + 8, 20)));
  std::vector<Candidate> cands;
  for (const auto& p : found) {
    if (p.id == d_.self->node_id()) continue;
    bool skip = false;
    for (const auto& e : exclude) skip = skip || e.id == p.id;
    if (skip) continue;
    auto bal = d_.ledger->Balance(p.id);
    cands.push_back(
        {p, bal.ok() ? bal->balance : 0, core::XorDistance(p.id, core::KeyFor(tessera))});
  }
  return SelectHolders(std::move(cands), want, config_.max_per_subnet, existing);
}

std::vector<core::PlacementEntry> ReplicationService::Push(
    const SignedPlan& plan, Staged& staged,
    std::vector<std::pair<core::PeerInfo, std::vector<uint32_t>>> work,
    std::vector<core::PeerInfo> spares, std::vector<PeerFailure>* failures) {
  const auto& table = plan.table;
  std::mutex mu;
  std::map<core::NodeId, core::PlacementEntry> acked;
  std::vector<uint32_t> retry;
  auto push_one = [&](const core::PeerInfo& peer, const std::vector<uint32_t>& indices) {
    std::vector<uint32_t> failed;
    std::string last_error;
    for (std::size_t j = 0; j < indices.size(); ++j) {
      const uint32_t i = indices[j];
      core::FragmentEnvelope env;
      env.id = table.IdOf(i);
      env.table = table;
      env.owner_public_key = plan.owner;
      env.plan_signature.assign(plan.signature.begin(), plan.signature.end());
      auto src = staged.Open(i);
      Result<core::ReplicateAck> ack = src.ok() ? d_.dht->ReplicateFragment(peer, env, **src)
                                                : Result<core::ReplicateAck>(src.error());
      if (ack.ok() && ack->holder != peer.id) {
        ack = MakeError(ErrorCode::kProtocol, "acknowledgement from another node");
      }
      if (ack.ok() && std::find(ack->held_indices.begin(), ack->held_indices.end(), i) ==
                          ack->held_indices.end()) {
        ack = MakeError(ErrorCode::kProtocol, "peer acknowledged without holding the fragment");
      }
      if (!ack.ok()) {
        failed.push_back(i);
        last_error = ack.error().ToString();
        if (ack.error().code == ErrorCode::kUnavailable ||
            ack.error().code == ErrorCode::kTimeout) {
          // The peer is gone: do not wait for the rest, hand them on.
          failed.insert(failed.end(), indices.begin() + static_cast<long>(j) + 1, indices.end());
          break;
        }
        continue;
      }
      // The fragment is placed either way; a ledger that cannot record the
      // credit is reported with the peer rather than dropped.
      auto credited = d_.ledger->Record(peer.id, core::LedgerDirection::kTheyStoreForUs,
                                        table.tessera, i, table.plan.shard_size);
      std::lock_guard lock(mu);
      if (!credited.ok() && failures) {
        failures->push_back({peer, {}, "placed, but not credited: " + credited.error().ToString()});
      }
      auto& e = acked[peer.id];
      e.holder = peer.id;
      e.address = peer.address;
      e.indices.push_back(i);
      e.last_attested_ms = std::nullopt;
    }
    if (!failed.empty()) {
      std::lock_guard lock(mu);
      if (failures) failures->push_back({peer, failed, last_error});
      retry.insert(retry.end(), failed.begin(), failed.end());
    }
  };
  ParallelFor(work.size(), config_.max_concurrent_transfers,
              [&](std::size_t w) { push_one(work[w].first, work[w].second); });

  // Retry what failed on spare peers, one fragment list per spare.
  if (!retry.empty() && !spares.empty()) {
    std::sort(retry.begin(), retry.end());
    retry.erase(std::unique(retry.begin(), retry.end()), retry.end());
    std::vector<std::pair<core::PeerInfo, std::vector<uint32_t>>> second;
    if (table.plan.tier == core::Tier::kSmall) {
      // Every copy of fragment 0 that failed goes to one more spare holder.
      const std::size_t lost = work.size() - std::min(work.size(), acked.size());
      for (std::size_t s = 0; s < spares.size() && second.size() < lost; ++s) {
        second.push_back({spares[s], {0}});
      }
    } else {
      for (std::size_t r = 0; r < retry.size(); ++r) {
        auto& slot = r < spares.size() ? second.emplace_back(spares[r], std::vector<uint32_t>{})
                                       : second[r % spares.size()];
        slot.second.push_back(retry[r]);
      }
    }
    ParallelFor(second.size(), config_.max_concurrent_transfers,
                [&](std::size_t w) { push_one(second[w].first, second[w].second); });
  }
  std::vector<core::PlacementEntry> out;
  for (auto& [_, e] : acked) {
    std::sort(e.indices.begin(), e.indices.end());
    out.push_back(std::move(e));
  }
  return out;
}

Result<std::size_t> ReplicationService::PublishHolderRecord(
    const SignedPlan& plan, const std::vector<core::PlacementEntry>& holders) {
  auto rec = HolderRecord::Sign(plan, static_cast<uint64_t>(d_.clock->NowUnixMs()),
                                ToHolderEntries(holders), *d_.self);
  const core::NodeId key = core::KeyFor(plan.table.tessera);
  std::vector<uint8_t> bytes = rec.Encode();
  if (d_.seal_record) {
    ASSIGN_OR_RETURN(bytes, d_.seal_record(key, bytes));
  }
  return d_.dht->PutRecord(key, bytes);
}

Result<ReplicationReport> ReplicationService::ReplicateTessera(const core::ContentHash& tessera) {
  ASSIGN_OR_RETURN(auto staged, StageFromPayload(tessera, std::nullopt));
  SignedPlan plan = SignedPlan::Sign(staged->table, *d_.self);
  auto encoded = plan.Encode();
  TRY(d_.plans->PutPlan(tessera, d_.self->node_id(), encoded));

  ReplicationReport report;
  report.tessera = tessera;
  report.plan = plan.table.plan;
  const std::size_t want = WantedHolders(plan.table.plan);
  // Primary holders plus as many spares again for retries.
  ASSIGN_OR_RETURN(auto chosen, Candidates(tessera, want * 2, {}, {}));
  if (chosen.empty()) {
    return MakeError(ErrorCode::kUnavailable,
                     "no peer to replicate to: the node knows no other node (is it bootstrapped?)");
  }
  std::vector<core::PeerInfo> primary(
      chosen.begin(), chosen.begin() + static_cast<long>(std::min(want, chosen.size())));
  std::vector<core::PeerInfo> spares(chosen.begin() + static_cast<long>(primary.size()),
                                     chosen.end());
  auto assignment = AssignFragments(plan.table.plan, primary.size());
  std::vector<std::pair<core::PeerInfo, std::vector<uint32_t>>> work;
  for (std::size_t h = 0; h < primary.size(); ++h) work.push_back({primary[h], assignment[h]});
  report.holders = Push(plan, *staged, std::move(work), std::move(spares), &report.failures);
  if (report.holders.empty()) {
    return MakeError(
        ErrorCode::kUnavailable,
        "no peer acknowledged any fragment of " + tessera.Short() + "… (" +
            std::to_string(report.failures.size()) + " failed" +
            (report.failures.empty() ? std::string() : ", first: " + report.failures[0].error) +
            ")");
  }
  TRY(d_.plans->SetPlacement(tessera, report.holders));
  auto stored = PublishHolderRecord(plan, report.holders);
  report.holder_records_stored = stored.ok() ? *stored : 0;
  return report;
}

}  // namespace tesseras::replication
