#include "replication/replication_service.h"
#include "replication/service_internal.h"

namespace tesseras::replication {

namespace fs = std::filesystem;
using core::ErrorCode;
using core::MakeError;
using core::Result;

// A re-pushed fragment that a verification proved intact this recently is
// only checked for presence and size before it counts as already held; an
// older one is hashed again (docs/REPLICATION.md, "Receiving").
constexpr int64_t kTrustVerifiedMs = 10 * 60 * 1000;

Result<SignedPlan> ReplicationService::AdmitFragment(const core::PeerInfo& sender,
                                                     const core::FragmentEnvelope& env,
                                                     bool* already_held) {
  // 1. The plan: signed by its owner, consistent with its size (which also caps it at 1 GiB).
  if (env.plan_signature.size() != 64) {
    CountRefusal("bad_plan");
    return MakeError(ErrorCode::kInvalidArgument, "plan signature must be 64 bytes");
  }
  SignedPlan plan;
  plan.table = env.table;
  plan.owner = env.owner_public_key;
  std::copy(env.plan_signature.begin(), env.plan_signature.end(), plan.signature.begin());
  if (auto valid = plan.Verify(); !valid.ok()) {
    CountRefusal("bad_plan");
    return valid.error();
  }
  const auto& table = plan.table;
  if (!CanBeTheTessera(plan, table.tessera)) {
    CountRefusal("bad_plan");
    return MakeError(ErrorCode::kInvalidArgument,
                     "a small tessera's one fragment is its payload and must hash to " +
                         table.tessera.Short() + "…");
  }
  // 2. The fragment is one the plan lists.
  const uint32_t n = table.plan.total_shards();
  if (env.id.tessera != table.tessera || env.id.index >= n || env.id.shard_count != n) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "fragment " + std::to_string(env.id.index) + " is not in the plan of " +
                         table.tessera.Short() + "… (" + std::to_string(n) + " fragments)");
  }
  if (env.id.checksum != table.checksums[env.id.index]) {
    return MakeError(ErrorCode::kCorrupt, "fragment checksum differs from the signed plan");
  }
  const uint64_t size = table.plan.shard_size;
  // 3. Nobody overwrites another owner's tessera.
  ASSIGN_OR_RETURN(auto existing_plan, d_.plans->GetPlan(table.tessera));
  if (existing_plan) {
    auto prev = SignedPlan::Decode(*existing_plan);
    if (prev.ok() && prev->owner_id() != plan.owner_id()) {
      CountRefusal("other_owner");
      return MakeError(ErrorCode::kPermissionDenied,
                       "tessera " + table.tessera.Short() + "… belongs to another owner");
    }
  }
  // Already held with these bytes — on disk, not merely indexed: acknowledged
  // without being counted again. A fragment whose file is gone or damaged is
  // dropped from the index by CheckHeld and received again.
  auto held = d_.fragments->Get(table.tessera, env.id.index);
  *already_held = held.ok() && held->id.checksum == env.id.checksum &&
                  d_.fragments->CheckHeld(table.tessera, env.id.index, kTrustVerifiedMs).ok();
  if (*already_held) return plan;
  // 4. Reciprocity and the per-peer limit, with the tessera's owner: whoever
  // pushes (the owner, or a maintainer repairing while it is away), what we
  // store is stored for the owner and charged to it.
  const core::NodeId owner = plan.owner_id();
  ASSIGN_OR_RETURN(core::LedgerEntry bal, d_.ledger->Balance(owner));
  const int64_t deficit_after = static_cast<int64_t>(bal.bytes_stored_for_them + size) -
                                static_cast<int64_t>(bal.bytes_they_store_for_us);
  if (deficit_after > static_cast<int64_t>(config_.deficit_allowance_bytes)) {
    CountRefusal("deficit");
    return MakeError(ErrorCode::kResourceExhausted,
                     "refused: owner " + owner.Short() + "… would be " +
                         std::to_string(deficit_after) +
                         " bytes in deficit with us; the allowance is " +
                         std::to_string(config_.deficit_allowance_bytes));
  }
  if (bal.bytes_stored_for_them + size > config_.per_peer_limit_bytes) {
    CountRefusal("peer_limit");
    return MakeError(ErrorCode::kResourceExhausted,
                     "refused: we already store " + std::to_string(bal.bytes_stored_for_them) +
                         " bytes for owner " + owner.Short() + "…; the limit is " +
                         std::to_string(config_.per_peer_limit_bytes));
  }
  (void)sender;
  return plan;
}

Result<core::ReplicateAck> ReplicationService::ReceiveFragment(const core::PeerInfo& sender,
                                                               const core::FragmentEnvelope& env,
                                                               core::ByteSource& bytes) {
  bool already_held = false;
  ASSIGN_OR_RETURN(SignedPlan plan, AdmitFragment(sender, env, &already_held));
  const auto& table = plan.table;
  TRY(d_.plans->PutPlan(table.tessera, plan.owner_id(), plan.Encode()));
  if (!already_held) {
    // 5. Store: the store checks free space, size and checksum before anything is visible.
    const bool replace = d_.fragments->Get(table.tessera, env.id.index).ok();
    auto stored = d_.fragments->Store(env.id, table.plan.shard_size, bytes, sender.id, replace);
    if (!stored.ok()) {
      if (stored.error().code == ErrorCode::kResourceExhausted) CountRefusal("disk_full");
      return stored.error();
    }
  }
  TRY(d_.ledger->Record(plan.owner_id(), core::LedgerDirection::kWeStoreForThem, table.tessera,
                        env.id.index, table.plan.shard_size));
  // 6. Findable without the owner: our claim names what we now hold. It is
  // published before we acknowledge (a failure is retried by the next pass).
  (void)RefreshClaim(plan);
  // Someone looking after the tessera is active: we need not step in yet.
  auto m = d_.plans->GetMaintenance(table.tessera);
  if (m.ok()) {
    core::MaintenanceClock clock = m->value_or(core::MaintenanceClock{});
    const int64_t now = d_.clock->NowUnixMs();
    clock.last_audited_by_peer_ms = now;
    if (!clock.last_checked_ms) clock.last_checked_ms = now;
    (void)d_.plans->SetMaintenance(table.tessera, clock);
  }
  return AckFor(table.tessera);
}

Result<core::ReplicateAck> ReplicationService::AckFor(const core::ContentHash& tessera) {
  core::ReplicateAck ack;
  ack.tessera = tessera;
  ack.holder = d_.self->node_id();
  ASSIGN_OR_RETURN(auto mine, d_.fragments->List(tessera));
  for (const auto& f : mine) ack.held_indices.push_back(f.id.index);
  return ack;
}

Result<std::unique_ptr<core::RandomAccessSource>> ReplicationService::OpenVerifiedFragment(
    const core::ContentHash& tessera, uint32_t index) {
  TRY(d_.fragments->Verify(tessera, index));
  return d_.fragments->Open(tessera, index);
}

}  // namespace tesseras::replication
