#include <optional>

#include "crypto/proof_tree.h"
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

namespace {

// Passes a fragment's bytes through to the store and, when the last of its
// `size` bytes goes by, checks that they lead to the proof root the signed
// plan gives (an owner could otherwise hand us bytes whose audits could never
// pass, and take our credit with them). A mismatch fails that last Read, so
// the store discards what it wrote and nothing becomes visible.
class ProofRootCheck final : public core::ByteSource {
 public:
  ProofRootCheck(core::ByteSource& inner, uint64_t size, const core::ContentHash& root,
                 uint32_t index)
      : inner_(inner), size_(size), root_(root), index_(index) {}

  Result<std::size_t> Read(std::span<uint8_t> out) override {
    ASSIGN_OR_RETURN(std::size_t n, inner_.Read(out));
    if (seen_ >= size_) return n;  // past the end: the store reports the excess
    const std::size_t counted = static_cast<std::size_t>(std::min<uint64_t>(n, size_ - seen_));
    tree_.Update(std::span<const uint8_t>(out.data(), counted));
    seen_ += counted;
    if (seen_ == size_ && crypto::MerkleRoot(tree_.FinishLeaves()) != root_) {
      mismatch_ = true;
      // Checked at the last byte, before the store compares the checksum:
      // bytes damaged on the way fail here as well as an owner's lie.
      return MakeError(ErrorCode::kCorrupt,
                       "fragment " + std::to_string(index_) +
                           "'s bytes do not match the signed plan: they do not lead to its proof "
                           "root, so no audit of them could pass");
    }
    return n;
  }

  bool mismatch() const { return mismatch_; }

 private:
  core::ByteSource& inner_;
  uint64_t size_;
  core::ContentHash root_;
  uint32_t index_;
  uint64_t seen_ = 0;
  bool mismatch_ = false;
  crypto::ProofTreeBuilder tree_;
};

}  // namespace

// A new plan's key held for its owner while its first fragments commit.
struct ReplicationService::SlotHold {
  ReplicationService* service;
  core::ContentHash tessera;
  core::NodeId owner;
  ~SlotHold() { service->ReleaseSlot(tessera, owner); }
};

struct ReplicationService::SlotChoice {
  core::ContentHash key;               // the hash, or PlanSlot(self, hash, owner)
  std::optional<SignedPlan> existing;  // the plan kept under `key`, if any
  std::unique_ptr<SlotHold> hold;      // with `reserve`, for a plan new here
};

core::ContentHash PlanSlot(const crypto::Identity& holder, const core::ContentHash& tessera,
                           const core::NodeId& owner) {
  crypto::Blake3Hasher derive = crypto::Blake3Hasher::ForContext("tesseras 2026 plan slot key v1");
  derive.Update(std::span<const uint8_t>(holder.seed()));
  crypto::Blake3Hasher h(derive.Finalize().bytes);
  h.Update(std::span<const uint8_t>(tessera.bytes));
  h.Update(std::span<const uint8_t>(owner.bytes));
  return h.Finalize();
}

namespace {

// The plan kept under `key` and its owner; nullopt when none (or unreadable).
Result<std::optional<SignedPlan>> PlanAt(core::PlanStore& plans, const core::ContentHash& key) {
  ASSIGN_OR_RETURN(auto bytes, plans.GetPlan(key));
  if (!bytes) return std::optional<SignedPlan>();
  auto plan = SignedPlan::Decode(*bytes);
  if (!plan.ok()) return std::optional<SignedPlan>();
  return std::optional<SignedPlan>(std::move(*plan));
}

}  // namespace

Result<std::optional<core::ContentHash>> ReplicationService::FindPlanKey(
    const core::ContentHash& tessera, const std::optional<core::NodeId>& owner) {
  if (!owner) return std::optional<core::ContentHash>(tessera);
  ASSIGN_OR_RETURN(auto first, PlanAt(*d_.plans, tessera));
  if (first && first->owner_id() == *owner) return std::optional<core::ContentHash>(tessera);
  const core::ContentHash slot = PlanSlot(*d_.self, tessera, *owner);
  ASSIGN_OR_RETURN(auto other, PlanAt(*d_.plans, slot));
  if (other && other->owner_id() == *owner && other->table.tessera == tessera) {
    return std::optional<core::ContentHash>(slot);
  }
  return std::optional<core::ContentHash>();
}

Result<ReplicationService::SlotChoice> ReplicationService::ChooseSlot(const SignedPlan& plan,
                                                                      bool reserve) {
  const core::ContentHash& tessera = plan.table.tessera;
  const core::NodeId owner = plan.owner_id();
  const core::ContentHash slot = PlanSlot(*d_.self, tessera, owner);
  std::lock_guard lock(slot_mu_);
  SlotChoice c;
  // 1. A plan of this owner already kept: its key.
  ASSIGN_OR_RETURN(auto first, PlanAt(*d_.plans, tessera));
  if (first && first->owner_id() == owner) {
    c.key = tessera;
    c.existing = std::move(first);
    return c;
  }
  ASSIGN_OR_RETURN(auto other, PlanAt(*d_.plans, slot));
  // The slot is keyed by a secret of ours, so nobody else can aim a plan of
  // its own at it; should one still be there (a plan for a "tessera" equal
  // to the slot), only this owner's plan of this hash may live there.
  const bool slot_ours = other && other->owner_id() == owner && other->table.tessera == tessera;
  if (slot_ours) {
    c.key = slot;
    c.existing = std::move(other);
    return c;
  }
  // 2. New here. Its key: the one chosen by a commit of the same owner that is
  // still running, else the hash while nobody else has it, else the slot.
  auto& running = committing_[tessera];
  auto mine = running.find(owner);
  if (mine != running.end()) {
    c.key = mine->second.first;
  } else {
    bool hash_taken = first.has_value();
    for (const auto& [o, k] : running) hash_taken |= k.first == tessera;
    c.key = hash_taken ? slot : tessera;
    if (c.key == slot && other) {
      if (running.empty()) committing_.erase(tessera);
      CountRefusal("slot_taken");
      return MakeError(ErrorCode::kPermissionDenied,
                       "refused: the key of owner " + owner.Short() + "…'s plan of tessera " +
                           tessera.Short() + "… holds a plan of tessera " +
                           other->table.tessera.Short() + "… of owner " +
                           other->owner_id().Short() + "…");
    }
    // 3. The cap on distinct plans of one hash, those being committed included.
    auto kept = d_.plans->CountPlansOf(tessera);
    // `running` is a reference into committing_: nothing reads it once its
    // entry may have been erased.
    const std::size_t busy = running.size();
    if (!kept.ok() || *kept + busy >= config_.max_plans_per_tessera) {
      if (busy == 0) committing_.erase(tessera);
      if (!kept.ok()) return kept.error();
      CountRefusal("plans_per_tessera");
      return MakeError(
          ErrorCode::kResourceExhausted,
          "refused: " + std::to_string(*kept + busy) + " plans of tessera " + tessera.Short() +
              "… (each another owner's) are kept or being received here; max_plans_per_tessera "
              "is " +
              std::to_string(config_.max_plans_per_tessera));
    }
  }
  if (reserve) {
    auto& entry = running[owner];
    entry.first = c.key;
    ++entry.second;
    c.hold.reset(new SlotHold{this, tessera, owner});
  } else if (running.empty()) {
    committing_.erase(tessera);
  }
  return c;
}

void ReplicationService::ReleaseSlot(const core::ContentHash& tessera, const core::NodeId& owner) {
  std::lock_guard lock(slot_mu_);
  auto it = committing_.find(tessera);
  if (it == committing_.end()) return;
  auto mine = it->second.find(owner);
  if (mine != it->second.end() && --mine->second.second <= 0) it->second.erase(mine);
  if (it->second.empty()) committing_.erase(it);
}

// A fragment served to a peer: a verification within the last day stands.
constexpr int64_t kTrustServedMs = 24 * 3600 * 1000;

Result<SignedPlan> ReplicationService::AdmitFragment(const core::PeerInfo& sender,
                                                     const core::FragmentEnvelope& env,
                                                     bool* already_held, uint64_t pending_for_owner,
                                                     uint64_t pending_for_all) {
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
  if (!table.proof_roots.empty() && table.proof_roots.size() != n) {
    CountRefusal("bad_plan");
    return MakeError(ErrorCode::kInvalidArgument,
                     "the plan lists " + std::to_string(table.proof_roots.size()) +
                         " proof roots for " + std::to_string(n) + " fragments");
  }
  if (env.id.checksum != table.checksums[env.id.index]) {
    return MakeError(ErrorCode::kCorrupt, "fragment checksum differs from the signed plan");
  }
  // What the fragment costs us: its bytes, but at least the per-fragment
  // minimum (a directory entry, a file, its proof tree, index and ledger rows
  // cost as much for one byte as for 64 KiB).
  const uint64_t size = ChargeFor(table.plan.shard_size);
  // 3. Each owner's plan has its own key here: another owner's plan for the
  // same hash is kept beside it, never replaced, and never refuses it (claims
  // never exclude each other; verification decides). Only their number is
  // bounded (max_plans_per_tessera).
  ASSIGN_OR_RETURN(SlotChoice slot, ChooseSlot(plan, /*reserve=*/false));
  if (slot.existing) {
    const SignedPlan* prev = &*slot.existing;
    // Encoding is deterministic: the owner's plan for a tessera never changes
    // its fragments. One that does would turn what we hold into failed audits.
    if (prev->table.checksums != table.checksums ||
        (!prev->table.proof_roots.empty() && prev->table.proof_roots != table.proof_roots)) {
      CountRefusal("bad_plan");
      return MakeError(ErrorCode::kInvalidArgument,
                       "the plan of " + table.tessera.Short() +
                           "… differs from the one already held here in its fragments' checksums "
                           "or proof roots");
    }
  }
  // Already held with these bytes — on disk, not merely indexed: acknowledged
  // without being counted again. A fragment whose file is gone or damaged is
  // dropped from the index by CheckHeld and received again.
  auto held = d_.fragments->Get(slot.key, env.id.index);
  *already_held = slot.existing && held.ok() && held->id.checksum == env.id.checksum &&
                  d_.fragments->CheckHeld(slot.key, env.id.index, kTrustVerifiedMs).ok();
  if (*already_held) return plan;
  // 4. Reciprocity and the per-peer limit, with the tessera's owner: whoever
  // pushes (the owner, or a maintainer repairing while it is away), what we
  // store is stored for the owner and charged to it.
  const core::NodeId owner = plan.owner_id();
  ASSIGN_OR_RETURN(core::LedgerEntry bal, d_.ledger->Balance(owner));
  // Transfers of this owner admitted but not yet stored count as stored.
  bal.bytes_stored_for_them += pending_for_owner;
  const int64_t deficit_after = static_cast<int64_t>(bal.bytes_stored_for_them + size) -
                                static_cast<int64_t>(bal.bytes_they_store_for_us);
  // An owner that has never stored anything for us (a new node, or an identity
  // minted a moment ago) gets the smaller allowance of strangers.
  const bool stranger = bal.bytes_they_store_for_us == 0;
  const uint64_t allowance =
      stranger ? std::min(config_.new_owner_allowance_bytes, config_.deficit_allowance_bytes)
               : config_.deficit_allowance_bytes;
  if (deficit_after > static_cast<int64_t>(allowance)) {
    CountRefusal(stranger ? "new_owner_allowance" : "deficit");
    return MakeError(
        ErrorCode::kResourceExhausted,
        "refused: owner " + owner.Short() + "… would be " + std::to_string(deficit_after) +
            " bytes in deficit with us; the " +
            (stranger ? "allowance for owners that store nothing for us" : "allowance") + " is " +
            std::to_string(allowance));
  }
  if (bal.bytes_stored_for_them + size > config_.per_peer_limit_bytes) {
    CountRefusal("peer_limit");
    return MakeError(ErrorCode::kResourceExhausted,
                     "refused: we already store " + std::to_string(bal.bytes_stored_for_them) +
                         " bytes for owner " + owner.Short() + "…; the limit is " +
                         std::to_string(config_.per_peer_limit_bytes));
  }
  // 5. All others together: many cheap identities, each within its own
  // allowance, must not take the whole disk between them.
  if (config_.max_bytes_for_others != 0) {
    ASSIGN_OR_RETURN(auto everyone, d_.ledger->All());
    uint64_t for_others = pending_for_all;
    for (const auto& e : everyone) for_others += e.bytes_stored_for_them;
    if (for_others + size > config_.max_bytes_for_others) {
      CountRefusal("others_full");
      return MakeError(ErrorCode::kResourceExhausted,
                       "refused: we already store " + std::to_string(for_others) +
                           " bytes for others; " + std::to_string(size) +
                           " more would pass max_bytes_for_others (" +
                           std::to_string(config_.max_bytes_for_others) + ")");
    }
  }
  (void)sender;
  return plan;
}

Result<core::ReplicateAck> ReplicationService::ReceiveFragment(const core::PeerInfo& sender,
                                                               const core::FragmentEnvelope& env,
                                                               core::ByteSource& bytes) {
  bool already_held = false;
  ASSIGN_OR_RETURN(SignedPlan plan, AdmitFragment(sender, env, &already_held));
  return CommitFragment(sender, plan, env, bytes, already_held);
}

Result<core::ReplicateAck> ReplicationService::CommitFragment(const core::PeerInfo& sender,
                                                              const SignedPlan& plan,
                                                              const core::FragmentEnvelope& env,
                                                              core::ByteSource& bytes,
                                                              bool already_held) {
  const auto& table = plan.table;
  // The key of this owner's plan here, held while this commit runs so that a
  // concurrent commit of another owner's plan for the hash takes another.
  ASSIGN_OR_RETURN(SlotChoice slot, ChooseSlot(plan, /*reserve=*/true));
  const core::ContentHash& key = slot.key;
  bool stored_new = false;
  if (!already_held) {
    // 6. Store: the store checks free space, size and checksum before anything is visible.
    const bool replace = d_.fragments->Get(key, env.id.index).ok();
    stored_new = !replace;
    // A plan without proof roots (never made by this encoder) is stored as it
    // comes; its fragments' audits fail and are dealt with as failures.
    std::optional<ProofRootCheck> checked;
    if (!table.proof_roots.empty()) {
      checked.emplace(bytes, table.plan.shard_size, table.proof_roots[env.id.index], env.id.index);
    }
    core::FragmentId id = env.id;
    id.tessera = key;
    auto stored = d_.fragments->Store(id, table.plan.shard_size, checked ? *checked : bytes,
                                      sender.id, replace);
    if (!stored.ok()) {
      if (stored.error().code == ErrorCode::kResourceExhausted) CountRefusal("disk_full");
      if (checked && checked->mismatch()) CountRefusal("bad_proof_root");
      return HideSlot(stored.error(), key, table.tessera);
    }
  }
  // The plan is kept once its fragment is: a refused fragment leaves no plan,
  // and a fragment whose plan cannot be kept (uncharged) does not stay.
  auto kept = key == table.tessera
                  ? d_.plans->PutPlan(key, plan.owner_id(), plan.Encode())
                  : d_.plans->PutPlanOf(key, table.tessera, plan.owner_id(), plan.Encode());
  if (!kept.ok()) {
    if (!stored_new) return HideSlot(kept.error(), key, table.tessera);
    // The fragment just stored must not outlive its refused plan; a failure
    // to delete it is said with the plan's error, so that it reaches the
    // sender and the log rather than being dropped.
    auto gone = d_.fragments->Delete(key, env.id.index);
    if (gone.ok()) return HideSlot(kept.error(), key, table.tessera);
    return HideSlot(MakeError(kept.error().code, kept.error().message +
                                                     "; and the fragment stored for it could not "
                                                     "be deleted: " +
                                                     gone.error().message),
                    key, table.tessera);
  }
  // Kept: CountPlansOf counts it now, the running commit need not.
  slot.hold.reset();
  // The ledger's entries are per owner already: (tessera, index, owner).
  TRY(d_.ledger->Record(plan.owner_id(), core::LedgerDirection::kWeStoreForThem, table.tessera,
                        env.id.index, ChargeFor(table.plan.shard_size)));
  // 7. Findable without the owner: our claim names what we now hold. It is
  // published before we acknowledge (a failure is retried by the next pass).
  // One claim per holder and hash fits in the DHT, so it is the first plan's.
  if (key == table.tessera) (void)RefreshClaim(plan);
  // Someone looking after the tessera is active: we need not step in yet.
  auto m = d_.plans->GetMaintenance(key);
  if (m.ok()) {
    core::MaintenanceClock clock = std::move(*m);
    const int64_t now = d_.clock->NowUnixMs();
    clock.last_audited_by_peer_ms = now;
    if (!clock.last_checked_ms) clock.last_checked_ms = now;
    (void)d_.plans->SetMaintenance(key, clock);
  }
  return AckFor(table.tessera, key);
}

Result<core::ReplicateAck> ReplicationService::AckFor(const core::ContentHash& tessera,
                                                      const core::ContentHash& key) {
  core::ReplicateAck ack;
  ack.tessera = tessera;
  ack.holder = d_.self->node_id();
  ASSIGN_OR_RETURN(auto mine, d_.fragments->List(key));
  for (const auto& f : mine) ack.held_indices.push_back(f.id.index);
  return ack;
}

Result<std::unique_ptr<core::RandomAccessSource>> ReplicationService::OpenVerifiedFragment(
    const core::ContentHash& tessera, uint32_t index, const std::optional<core::NodeId>& owner) {
  ASSIGN_OR_RETURN(auto key, FindPlanKey(tessera, owner));
  if (!key) {
    return MakeError(ErrorCode::kNotFound, "no plan of owner " + owner->Short() + "… for tessera " +
                                               tessera.Short() + "… is kept here");
  }
  // What a verification proved within the day stands (the scrub re-verifies
  // everything held within its budget): a small request must not buy a full
  // read and hash of a large fragment every time. The requester checks every
  // byte against the plan anyway.
  auto held = d_.fragments->CheckHeld(*key, index, kTrustServedMs);
  if (!held.ok()) return HideSlot(held.error(), *key, tessera);
  auto open = d_.fragments->Open(*key, index);
  if (!open.ok()) return HideSlot(open.error(), *key, tessera);
  return open;
}

}  // namespace tesseras::replication
