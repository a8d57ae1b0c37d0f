#include <algorithm>

#include "replication/replication_service.h"
#include "replication/service_internal.h"

namespace tesseras::replication {

namespace fs = std::filesystem;
using core::ErrorCode;
using core::MakeError;
using core::Result;

Result<core::Attestation> ReplicationService::HandleAttestationRequest(
    const core::PeerInfo& requester, const core::ContentHash& tessera, const Challenge& challenge,
    const std::vector<uint32_t>& indices, const std::optional<core::NodeId>& owner) {
  // Which plan: the one named; else the requester's own (an owner auditing
  // its holders need not say so); else the first stored for the hash.
  std::optional<core::ContentHash> key;
  if (owner) {
    ASSIGN_OR_RETURN(key, FindPlanKey(tessera, owner));
    if (!key) {
      return MakeError(ErrorCode::kNotFound, "no plan of owner " + owner->Short() +
                                                 "… for tessera " + tessera.Short() +
                                                 "… is kept here");
    }
  } else {
    ASSIGN_OR_RETURN(key, FindPlanKey(tessera, requester.id));
    if (!key) key = tessera;
  }
  auto answer = Attest(requester, *key, challenge, indices);
  if (!answer.ok()) return HideSlot(answer.error(), *key, tessera);
  return answer;
}

Result<core::Attestation> ReplicationService::Attest(const core::PeerInfo& requester,
                                                     const core::ContentHash& key,
                                                     const Challenge& challenge,
                                                     const std::vector<uint32_t>& indices) {
  ASSIGN_OR_RETURN(SignedPlan plan, LoadPlan(key));
  if (key == plan.table.tessera) NoteAudit(requester, plan);
  ASSIGN_OR_RETURN(auto mine, d_.fragments->List(key));
  std::sort(mine.begin(), mine.end(),
            [](const auto& x, const auto& y) { return x.id.index < y.id.index; });
  // In index order: when more are asked than one answer carries, MakeAttestation
  // proves the lowest ones and the requester asks again for the rest.
  std::vector<std::unique_ptr<core::RandomAccessSource>> open;
  std::vector<HeldFragment> held;
  for (const auto& f : mine) {
    if (!indices.empty() &&
        std::find(indices.begin(), indices.end(), f.id.index) == indices.end()) {
      continue;
    }
    auto src = d_.fragments->Open(key, f.id.index);
    if (!src.ok()) continue;  // gone: nothing to prove
    // The sampled leaves' paths come from the tree the store kept, so an
    // answer reads a few leaves and hashes, whatever the fragment's size.
    core::FragmentStore* store = d_.fragments;
    const uint32_t index = f.id.index;
    const core::ContentHash at = key;
    held.push_back({index, src->get(), [store, at, index](std::span<const uint64_t> leaves) {
                      return store->ReadProofPaths(at, index, leaves);
                    }});
    open.push_back(std::move(*src));
  }
  return MakeAttestation(*d_.self, plan, challenge, indices, d_.clock->NowUnixMs(), held,
                         config_.audit_samples);
}

void ReplicationService::NoteAudit(const core::PeerInfo& requester, const SignedPlan& plan) {
  // Audits from the owner, or from a holder ranked before us, mean someone
  // before us looks after the tessera (MaintenanceClock::last_audited_by_peer_ms).
  const core::ContentHash& tessera = plan.table.tessera;
  bool before_us = requester.id == plan.owner_id();
  const int64_t now = d_.clock->NowUnixMs();
  if (!before_us) {
    auto tracked = d_.plans->GetHolders(tessera);
    if (!tracked.ok()) return;
    std::vector<core::HolderView> holders = *tracked;
    auto mine = d_.fragments->List(tessera);
    if (mine.ok() && !mine->empty()) {
      core::HolderView me{d_.self->node_id(), "", {}};
      for (const auto& f : *mine) me.copies.push_back(AfterPush(f.id.index, now));
      holders.push_back(std::move(me));
    }
    const core::NodeId key = core::KeyFor(tessera);
    auto theirs = MaintainerRank(requester.id, plan.owner_id(), key, holders, now, config_.policy);
    auto ours =
        MaintainerRank(d_.self->node_id(), plan.owner_id(), key, holders, now, config_.policy);
    before_us = theirs && (!ours || *theirs < *ours);
  }
  if (!before_us) return;
  auto m = d_.plans->GetMaintenance(tessera);
  if (!m.ok()) return;
  core::MaintenanceClock clock = std::move(*m);
  clock.last_audited_by_peer_ms = now;
  (void)d_.plans->SetMaintenance(tessera, clock);
}

Result<void> ReplicationService::ServeFragment(const core::PeerInfo&,
                                               const core::ContentHash& tessera, uint32_t index,
                                               core::ByteSink& out,
                                               const std::optional<core::NodeId>& owner) {
  ASSIGN_OR_RETURN(auto src, OpenVerifiedFragment(tessera, index, owner));
  std::vector<uint8_t> buf(1 << 20);
  for (uint64_t off = 0; off < src->Size(); off += buf.size()) {
    std::size_t n = static_cast<std::size_t>(std::min<uint64_t>(buf.size(), src->Size() - off));
    TRY(src->ReadAt(off, std::span(buf.data(), n)));
    TRY(out.Write(std::span(buf.data(), n)));
  }
  return out.Finish();
}

}  // namespace tesseras::replication
