// Conversions between core domain types and their wire messages. The From*
// functions expect envelopes that passed net::ValidateEnvelope and add the
// semantic checks (e.g. core::ValidatePlan).
#pragma once

#include "core/fragment.h"
#include "core/result.h"
#include "tesseras.pb.h"

namespace tesseras::dht {

void ToWire(const core::FragmentEnvelope& in, wire::FragmentEnvelope* out);
core::Result<core::FragmentEnvelope> FromWire(const wire::FragmentEnvelope& in);

void ToWire(const core::ReplicateAck& in, wire::ReplicateAck* out);
core::Result<core::ReplicateAck> FromWire(const wire::ReplicateAck& in);

void ToWire(const core::Attestation& in, wire::AttestResponse* out);
core::Result<core::Attestation> FromWire(const wire::AttestResponse& in);

}  // namespace tesseras::dht
