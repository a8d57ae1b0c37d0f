// A tessera encoded by hand, as an owner (or an attacker labelling other
// bytes with someone's hash) sends it: the fragments' bytes and the table,
// and the envelope of one fragment under a signed plan. For tests.
#pragma once

#include <cstdint>
#include <vector>

#include "core/bytes.h"
#include "core/fragment.h"
#include "core/tier.h"
#include "replication/fragment_codec.h"
#include "replication/records.h"

namespace tesseras::replication::testing {

struct HandEncoded {
  std::vector<core::MemorySink> fragments;
  core::FragmentTable table;
};

// `payload`'s fragments (with their proof roots) under the tessera hash `label`.
inline HandEncoded EncodeByHand(const std::vector<uint8_t>& payload,
                                const core::ContentHash& label) {
  HandEncoded out;
  auto plan = *core::PlanForSize(payload.size());
  out.fragments.resize(plan.total_shards());
  std::vector<core::ByteSink*> ptrs;
  for (auto& sk : out.fragments) ptrs.push_back(&sk);
  core::MemorySource src(payload);
  CodecOptions opt;
  opt.compute_proof_roots = true;
  out.table = *EncodeTessera(label, plan, src, ptrs, opt);
  return out;
}

// The envelope of fragment i of `table` under `signed_plan`.
inline core::FragmentEnvelope EnvelopeOf(const core::FragmentTable& table,
                                         const SignedPlan& signed_plan, uint32_t i) {
  core::FragmentEnvelope env;
  env.id = table.IdOf(i);
  env.table = table;
  env.owner_public_key = signed_plan.owner;
  env.plan_signature.assign(signed_plan.signature.begin(), signed_plan.signature.end());
  return env;
}

}  // namespace tesseras::replication::testing
