#include "dht/convert.h"

#include "dht/contact.h"

namespace tesseras::dht {
namespace {

core::Error Bad(std::string why) { return core::MakeError(core::ErrorCode::kProtocol, why); }

}  // namespace

void ToWire(const core::FragmentEnvelope& in, wire::FragmentEnvelope* out) {
  out->set_tessera(Bytes(in.id.tessera.bytes));
  out->set_index(in.id.index);
  out->set_shard_count(in.id.shard_count);
  out->set_checksum(Bytes(in.id.checksum.bytes));
  auto* p = out->mutable_plan();
  const auto& plan = in.table.plan;
  p->set_tier(static_cast<uint32_t>(plan.tier));
  p->set_original_size(plan.original_size);
  p->set_data_shards(plan.data_shards);
  p->set_parity_shards(plan.parity_shards);
  p->set_shard_size(plan.shard_size);
  p->set_replication_factor(plan.replication_factor);
  for (const auto& c : in.table.checksums) out->add_checksums(Bytes(c.bytes));
  for (const auto& r : in.table.proof_roots) out->add_proof_roots(Bytes(r.bytes));
  out->set_owner_public_key(Bytes(in.owner_public_key));
  out->set_plan_signature(std::string(in.plan_signature.begin(), in.plan_signature.end()));
}

core::Result<core::FragmentEnvelope> FromWire(const wire::FragmentEnvelope& in) {
  if (in.tessera().size() != 32 || in.checksum().size() != 32 ||
      in.owner_public_key().size() != 32 || !in.has_plan()) {
    return Bad("malformed fragment envelope");
  }
  core::FragmentEnvelope e;
  const auto& p = in.plan();
  if (p.tier() > 2) return Bad("plan tier out of range");
  e.table.plan.tier = static_cast<core::Tier>(p.tier());
  e.table.plan.original_size = p.original_size();
  e.table.plan.data_shards = p.data_shards();
  e.table.plan.parity_shards = p.parity_shards();
  e.table.plan.shard_size = p.shard_size();
  e.table.plan.replication_factor = p.replication_factor();
  auto valid = core::ValidatePlan(e.table.plan);
  if (!valid.ok()) return Bad("invalid plan: " + valid.error().message);
  uint32_t total = e.table.plan.total_shards();
  if (in.shard_count() != total || in.index() >= total ||
      static_cast<uint32_t>(in.checksums_size()) != total) {
    return Bad("envelope counts do not match the plan");
  }
  e.table.tessera = IdFrom<core::ContentHash>(in.tessera());
  for (const auto& c : in.checksums()) {
    if (c.size() != 32) return Bad("checksum must be 32 bytes");
    e.table.checksums.push_back(IdFrom<core::ContentHash>(c));
  }
  if (in.proof_roots_size() != 0 && static_cast<uint32_t>(in.proof_roots_size()) != total) {
    return Bad("envelope proof roots do not match the plan");
  }
  for (const auto& r : in.proof_roots()) {
    if (r.size() != 32) return Bad("proof root must be 32 bytes");
    e.table.proof_roots.push_back(IdFrom<core::ContentHash>(r));
  }
  e.id = e.table.IdOf(in.index());
  if (e.id.checksum != IdFrom<core::ContentHash>(in.checksum())) {
    return Bad("envelope checksum differs from the table");
  }
  std::copy_n(reinterpret_cast<const uint8_t*>(in.owner_public_key().data()), 32,
              e.owner_public_key.begin());
  if (!in.plan_signature().empty() && in.plan_signature().size() != 64) {
    return Bad("plan signature must be 64 bytes");
  }
  e.plan_signature.assign(in.plan_signature().begin(), in.plan_signature().end());
  return e;
}

void ToWire(const core::ReplicateAck& in, wire::ReplicateAck* out) {
  out->set_tessera(Bytes(in.tessera.bytes));
  out->set_holder(Bytes(in.holder.bytes));
  for (uint32_t i : in.held_indices) out->add_held_indices(i);
}

core::Result<core::ReplicateAck> FromWire(const wire::ReplicateAck& in) {
  if (in.tessera().size() != 32 || in.holder().size() != 32) return Bad("malformed ack");
  core::ReplicateAck a;
  a.tessera = IdFrom<core::ContentHash>(in.tessera());
  a.holder = IdFrom<core::NodeId>(in.holder());
  a.held_indices.assign(in.held_indices().begin(), in.held_indices().end());
  return a;
}

void ToWire(const core::Attestation& in, wire::AttestResponse* out) {
  out->set_tessera(Bytes(in.tessera.bytes));
  out->set_holder(Bytes(in.holder.bytes));
  out->set_challenge(Bytes(in.challenge));
  out->set_timestamp_ms(in.timestamp_ms);
  for (const auto& p : in.proofs) {
    auto* w = out->add_proofs();
    w->set_index(p.index);
    w->set_checksum(Bytes(p.checksum.bytes));
    w->set_response(std::string(p.response.begin(), p.response.end()));
  }
  out->set_signature(std::string(in.signature.begin(), in.signature.end()));
  out->set_holder_key(Bytes(in.holder_key));
}

core::Result<core::Attestation> FromWire(const wire::AttestResponse& in) {
  if (in.tessera().size() != 32 || in.holder().size() != 32 || in.challenge().size() != 32) {
    return Bad("malformed attestation");
  }
  core::Attestation a;
  a.tessera = IdFrom<core::ContentHash>(in.tessera());
  a.holder = IdFrom<core::NodeId>(in.holder());
  std::copy_n(reinterpret_cast<const uint8_t*>(in.challenge().data()), 32, a.challenge.begin());
  a.timestamp_ms = in.timestamp_ms();
  for (const auto& p : in.proofs()) {
    if (p.checksum().size() != 32) return Bad("malformed proof");
    core::FragmentProof f;
    f.index = p.index();
    f.checksum = IdFrom<core::ContentHash>(p.checksum());
    f.response.assign(p.response().begin(), p.response().end());
    a.proofs.push_back(std::move(f));
  }
  a.signature.assign(in.signature().begin(), in.signature().end());
  if (!in.holder_key().empty()) {
    if (in.holder_key().size() != 32) return Bad("holder key must be 32 bytes");
    std::copy_n(reinterpret_cast<const uint8_t*>(in.holder_key().data()), 32, a.holder_key.begin());
  }
  return a;
}

}  // namespace tesseras::dht
