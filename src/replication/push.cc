// Placing copies on holders: the owner's first push (ReplicateTessera) and
// every repair (PlaceCopies), the holder record and the holder claims that
// make them findable (docs/REPLICATION.md, "Publishing", "Maintenance").
#include <algorithm>
#include <map>
#include <mutex>
#include <set>

#include "replication/placement.h"
#include "replication/replication_service.h"
#include "replication/service_internal.h"

namespace tesseras::replication {

namespace fs = std::filesystem;
using core::ErrorCode;
using core::MakeError;
using core::Result;

namespace {

// Placement rounds: a round's failures are placed again on other peers.
constexpr int kPlacementRounds = 3;

bool IsTransportFailure(ErrorCode code) {
  return code == ErrorCode::kTimeout || code == ErrorCode::kUnavailable ||
         code == ErrorCode::kCancelled;
}

// Every unit of a plan: fragment 0 once per small-tier copy, else each index.
std::vector<uint32_t> AllUnits(const Redundancy& r) {
  std::vector<uint32_t> out;
  for (uint32_t i = 0; i < r.fragments; ++i) {
    for (uint32_t c = 0; c < r.copies; ++c) out.push_back(i);
  }
  return out;
}

}  // namespace

// ---- refusals ---------------------------------------------------------------------

void ReplicationService::NoteRefusal(const core::NodeId& peer, const core::Error& why) {
  (void)why;
  std::lock_guard lock(mu_);
  refusing_until_[peer] =
      d_.clock->NowUnixMs() + static_cast<int64_t>(config_.refusal_memory_secs) * 1000;
}

void ReplicationService::NoteAccepted(const core::NodeId& peer) {
  std::lock_guard lock(mu_);
  refusing_until_.erase(peer);
}

std::vector<core::NodeId> ReplicationService::RefusingPeers() {
  std::lock_guard lock(mu_);
  const int64_t now = d_.clock->NowUnixMs();
  std::vector<core::NodeId> out;
  for (auto it = refusing_until_.begin(); it != refusing_until_.end();) {
    if (it->second <= now) {
      it = refusing_until_.erase(it);
    } else {
      out.push_back(it->first);
      ++it;
    }
  }
  return out;
}

// ---- placing copies ------------------------------------------------------------------

ReplicationService::Placed ReplicationService::PlaceCopies(
    const SignedPlan& plan, Staged& staged, const std::vector<uint32_t>& rebuild,
    const std::vector<core::HolderView>& current, std::vector<PeerFailure>* failures) {
  const auto& table = plan.table;
  const core::NodeId key = core::KeyFor(table.tessera);
  const bool own = plan.owner_id() == d_.self->node_id();
  const Redundancy red = RedundancyOf(table.plan);
  Placed placed;
  std::vector<core::HolderView> view = current;
  std::vector<uint32_t> remaining = rebuild;
  std::vector<core::NodeId> excluded = RefusingPeers();
  excluded.push_back(d_.self->node_id());
  std::mutex mu;
  for (int round = 0; round < kPlacementRounds && !remaining.empty(); ++round) {
    const int64_t now = d_.clock->NowUnixMs();
    // Ask for more peers than copies: subnet caps, current holders and
    // exclusions thin the list.
    const std::size_t ask = (remaining.size() + view.size() + excluded.size()) * 2 + 8;
    auto found = d_.dht->FindPeers(key, std::max<std::size_t>(ask, 20));
    if (!found.ok()) {
      if (failures) {
        PeerFailure f;  // no one peer: the lookup itself failed
        f.indices = remaining;
        f.error = "finding peers: " + found.error().ToString();
        failures->push_back(std::move(f));
      }
      break;
    }
    std::vector<PlacementCandidate> cands;
    for (const auto& p : *found) {
      int64_t balance = 0;
      if (own) {  // only the owner's ledger speaks of its own exchanges
        auto bal = d_.ledger->Balance(p.id);
        balance = bal.ok() ? bal->balance : 0;
      }
      cands.push_back({p, balance, core::XorDistance(p.id, key)});
    }
    PlacementChoice choice = ChoosePlacement(red, remaining, std::move(cands), view, excluded,
                                             config_.max_per_subnet, now, config_.policy);
    if (choice.work.empty()) break;
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
          const ErrorCode code = ack.error().code;
          if (code == ErrorCode::kResourceExhausted) {
            // Out of space, or of patience with the owner's deficit: not
            // chosen again for a while, for any tessera. Other refusals (this
            // tessera is bound to another plan there, ...) keep the peer out
            // of this placement only.
            NoteRefusal(peer.id, ack.error());
          }
          if (IsTransportFailure(code) || code == ErrorCode::kResourceExhausted) {
            // Gone, or full: do not try the rest there, hand them on.
            failed.insert(failed.end(), indices.begin() + static_cast<long>(j) + 1, indices.end());
            break;
          }
          continue;
        }
        NoteAccepted(peer.id);
        // The copy is placed either way; a ledger that cannot record the
        // credit is reported with the peer rather than dropped.
        Result<bool> credited = true;
        if (own) {
          credited = d_.ledger->Record(peer.id, core::LedgerDirection::kTheyStoreForUs,
                                       table.tessera, i, table.plan.shard_size);
        }
        std::lock_guard lock(mu);
        if (!credited.ok() && failures) {
          failures->push_back(
              {peer, {}, "placed, but not credited: " + credited.error().ToString()});
        }
        auto it = std::find_if(placed.acked.begin(), placed.acked.end(),
                               [&](const auto& e) { return e.holder == peer.id; });
        if (it == placed.acked.end()) {
          placed.acked.push_back({peer.id, peer.address, {}, std::nullopt});
          it = placed.acked.end() - 1;
        }
        it->indices.push_back(i);
        AddCopies(view, {peer.id, peer.address, {i}, std::nullopt}, d_.clock->NowUnixMs());
        placed.bytes_sent += table.plan.shard_size;
      }
      if (!failed.empty()) {
        std::lock_guard lock(mu);
        if (failures) failures->push_back({peer, failed, last_error});
        retry.insert(retry.end(), failed.begin(), failed.end());
        // A peer that refused or failed takes no more of this placement.
        excluded.push_back(peer.id);
      }
    };
    ParallelFor(choice.work.size(), config_.max_concurrent_transfers,
                [&](std::size_t w) { push_one(choice.work[w].first, choice.work[w].second); });
    // Copies the choice could not place at all (no holder without that index).
    std::multiset<uint32_t> assigned;
    for (const auto& [peer, idx] : choice.work) assigned.insert(idx.begin(), idx.end());
    std::multiset<uint32_t> wanted(remaining.begin(), remaining.end());
    for (uint32_t i : assigned) {
      auto it = wanted.find(i);
      if (it != wanted.end()) wanted.erase(it);
    }
    remaining.assign(wanted.begin(), wanted.end());
    remaining.insert(remaining.end(), retry.begin(), retry.end());
    std::sort(remaining.begin(), remaining.end());
    if (retry.empty()) break;  // what is left found no place this round; another would not either
  }
  for (auto& e : placed.acked) std::sort(e.indices.begin(), e.indices.end());
  std::sort(placed.acked.begin(), placed.acked.end(),
            [](const auto& a, const auto& b) { return a.holder < b.holder; });
  return placed;
}

// ---- records and claims ------------------------------------------------------------

Result<std::size_t> ReplicationService::PublishHolderRecord(
    const SignedPlan& plan, const std::vector<core::PlacementEntry>& holders) {
  auto rec = HolderRecord::Sign(plan, static_cast<uint64_t>(d_.clock->NowUnixMs()),
                                ToHolderEntries(holders), *d_.self);
  const core::NodeId key = core::KeyFor(plan.table.tessera);
  std::vector<uint8_t> bytes = rec.Encode();
  if (d_.seal_record) {
    ASSIGN_OR_RETURN(bytes, d_.seal_record(key, kHolderRecordType, bytes));
  }
  auto put = d_.dht->PutRecord(key, bytes);
  record_cache_.Erase(key);  // the next read sees the record just published
  return put;
}

Result<void> ReplicationService::RefreshClaim(const SignedPlan& plan, bool force) {
  const core::ContentHash& tessera = plan.table.tessera;
  ASSIGN_OR_RETURN(auto mine, d_.fragments->List(tessera));
  std::vector<uint32_t> held;
  for (const auto& f : mine) {
    if (f.id.index < plan.table.checksums.size() &&
        f.id.checksum == plan.table.checksums[f.id.index]) {
      held.push_back(f.id.index);
    }
  }
  ASSIGN_OR_RETURN(core::MaintenanceClock m, d_.plans->GetMaintenance(tessera));
  if (!force && m.claim_published && m.claimed == held) return core::Ok();
  if (held.empty() && !m.claim_published && m.claimed.empty()) return core::Ok();
  auto claim = HolderClaim::Sign(plan, d_.self_address, held,
                                 static_cast<uint64_t>(d_.clock->NowUnixMs()), *d_.self);
  const core::NodeId key = core::KeyFor(tessera);
  std::vector<uint8_t> bytes = claim.Encode();
  Result<std::size_t> put = [&]() -> Result<std::size_t> {
    if (d_.seal_record) {
      ASSIGN_OR_RETURN(bytes, d_.seal_record(key, kHolderClaimType, bytes));
    }
    return d_.dht->PutRecord(key, bytes);
  }();
  record_cache_.Erase(key);  // the next read sees the claim just published
  m.claimed = held;
  m.claim_published = put.ok();
  TRY(d_.plans->SetMaintenance(tessera, m));
  if (!put.ok()) {
    return MakeError(put.error().code, "holder claim for " + tessera.Short() +
                                           "… not published: " + put.error().message);
  }
  return core::Ok();
}

// ---- owner push -------------------------------------------------------------------

Result<ReplicationReport> ReplicationService::ReplicateTessera(const core::ContentHash& tessera) {
  ASSIGN_OR_RETURN(auto staged, StageFromPayload(tessera, std::nullopt));
  SignedPlan plan = SignedPlan::Sign(staged->table, *d_.self);
  auto encoded = plan.Encode();
  auto put = d_.plans->PutPlan(tessera, d_.self->node_id(), encoded);
  if (!put.ok() && put.error().code == ErrorCode::kPermissionDenied) {
    // Another owner's plan for our hash was stored here before we published:
    // our payload hashes to the tessera, so that plan is a squat. Its
    // fragments go with it, then ours is kept.
    CountRefusal("squat");
    std::optional<core::NodeId> squatter;
    if (auto stored = d_.plans->GetPlan(tessera); stored.ok() && *stored) {
      if (auto other = SignedPlan::Decode(**stored); other.ok()) squatter = other->owner_id();
    }
    ASSIGN_OR_RETURN(auto squatted, d_.fragments->List(tessera));
    for (const auto& f : squatted) {
      TRY(d_.fragments->Delete(tessera, f.id.index));
      if (squatter) {
        (void)d_.ledger->Forget(*squatter, core::LedgerDirection::kWeStoreForThem, tessera,
                                f.id.index);
      }
    }
    TRY(d_.plans->DeletePlan(tessera));
    put = d_.plans->PutPlan(tessera, d_.self->node_id(), encoded);
  }
  TRY(put);

  ReplicationReport report;
  report.tessera = tessera;
  report.plan = plan.table.plan;
  const Redundancy red = RedundancyOf(plan.table.plan);
  const std::vector<uint32_t> units = AllUnits(red);
  report.units_wanted = red.units();
  // A re-publish keeps the holders we already track.
  ASSIGN_OR_RETURN(std::vector<core::HolderView> current, d_.plans->GetHolders(tessera));
  // Publishing re-encodes the payload: nothing is fetched, nothing batched.
  const Assessment before =
      Assess(red, current, {}, d_.clock->NowUnixMs(), config_.policy, Payload::kLocal);
  const std::vector<uint32_t> rebuild = current.empty() ? units : before.rebuild;
  Placed placed = PlaceCopies(plan, *staged, rebuild, current, &report.failures);
  if (placed.acked.empty() && current.empty()) {
    const bool alone = report.failures.empty();
    return MakeError(ErrorCode::kUnavailable,
                     alone ? "no peer to replicate to: the node knows no other node (is it "
                             "bootstrapped?)"
                           : "no peer acknowledged any fragment of " + tessera.Short() + "… (" +
                                 std::to_string(report.failures.size()) +
                                 " failed, first: " + report.failures[0].error + ")");
  }
  const int64_t now = d_.clock->NowUnixMs();
  std::vector<core::HolderView> view = current;
  for (const auto& e : placed.acked) AddCopies(view, e, now);
  TRY(d_.plans->SetHolders(tessera, view));
  core::MaintenanceClock m;
  m.last_checked_ms = now;
  TRY(d_.plans->SetMaintenance(tessera, m));
  report.holders = CountedPlacement(view, now, config_.policy);
  const Assessment after = Assess(red, view, {}, now, config_.policy, Payload::kLocal);
  report.units_placed = after.counted_units;
  report.missing = after.rebuild;
  auto stored = PublishHolderRecord(plan, report.holders);
  report.holder_records_stored = stored.ok() ? *stored : 0;
  return report;
}

}  // namespace tesseras::replication
