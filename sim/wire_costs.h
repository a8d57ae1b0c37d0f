// What audits and repairs cost on the wire, from the project's own encoders
// (docs/SIMULATION.md, "Bytes on the wire").
//
// For every payload size of the workload, one real fragment is built and
// proven once: a real signed plan, a real attestation from MakeAttestation,
// the real protocol envelopes (dht::ToWire, net::EncodeFrame) of every message
// of an audit, a push and a fetch, and a real holder record sealed as the DHT
// stores it. The TLS 1.3 handshake of a connection is run once between two
// nodes' real TLS contexts over memory buffers and its bytes counted. The
// simulator then reuses these sizes: an audit, push or fetch costs the same
// bytes every time for a given size, so measuring once is exact.
//
// Counted: every frame (4-byte length + envelope), the bulk bytes after Chunk
// frames, the receiver's Credit frames (a window of 8 chunks, then batches of
// 4, docs/PROTOCOL.md section 6), and TLS 1.3 record framing (5-byte header,
// 1-byte content type and 16-byte AEAD tag per record of at most 16 KiB).
// Not counted: TCP/IP headers and DHT lookups (reported as counts instead).
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "core/fragment.h"
#include "core/result.h"
#include "core/tier.h"
#include "replication/maintenance_policy.h"
#include "sim/scenario.h"

namespace tesseras::sim {

// Bytes on the wire for one payload size.
struct SizeClass {
  uint64_t payload_bytes = 0;
  core::FragmentPlan plan;
  replication::Redundancy redundancy;
  // One attestation exchange with `m` proofs (m ≤ batch): request and answer.
  uint64_t attest_request_bytes = 0;  // one index asked
  uint64_t attest_request_per_index = 0;
  uint64_t attest_response_bytes = 0;  // one proof
  uint64_t attest_response_per_proof = 0;
  uint32_t attest_batch = 31;
  // One fragment pushed (Replicate, Credit, Chunks + data, ReplicateAck), both
  // directions; and the same exchange when the holder already has it (the
  // Replicate and its ack only).
  uint64_t push_bytes = 0;
  uint64_t push_held_bytes = 0;
  // One fragment fetched (FetchFragment, FragmentHeader, Credit, Chunks + data).
  uint64_t fetch_bytes = 0;
  // One holder record (every unit on its own holder) stored at one DHT node:
  // Store and Stored.
  uint64_t record_store_bytes = 0;

  // Bytes of one audit of one holder asked to prove `indices` fragments.
  uint64_t AuditBytes(uint32_t indices) const;
};

struct WireCosts {
  uint64_t connection_bytes = 0;  // TLS 1.3 handshake + the two Hello frames
  uint64_t tls_handshake_bytes = 0;
  std::vector<SizeClass> classes;
  uint32_t record_replicas = 20;  // DHT nodes a record is stored at
};

// Measures every size of the workload (small, medium, large in that order).
core::Result<WireCosts> MeasureWireCosts(const std::vector<uint64_t>& sizes, int audit_samples);

// TLS 1.3 framing around `bytes` of application data sent in one direction.
uint64_t WithTlsRecords(uint64_t bytes);

// The frames of single messages and exchanges, from the real encoders (the
// full-stack mode counts what the services really send with these).
core::Result<uint64_t> AttestRequestFrameBytes(const core::ContentHash& tessera,
                                               const std::array<uint8_t, 32>& challenge,
                                               const std::vector<uint32_t>& indices);
core::Result<uint64_t> AttestResponseFrameBytes(const core::Attestation& answer);
// A push of one fragment, both directions, TLS records included; only the
// Replicate and its acknowledgement when the receiver already holds it.
core::Result<uint64_t> PushWireBytes(const core::FragmentEnvelope& envelope,
                                     const core::ReplicateAck& ack, bool already_held);
// A fetch of one fragment of `size` bytes, both directions, TLS records included.
core::Result<uint64_t> FetchWireBytes(const core::ContentHash& tessera, uint32_t index,
                                      uint64_t size);
// A DHT Store of one sealed record and its Stored answer.
core::Result<uint64_t> RecordStoreWireBytes(std::span<const uint8_t> sealed_record);

}  // namespace tesseras::sim
