// Connects the DHT's request dispatch to the ReplicationService: Replicate,
// AttestRequest and FetchFragment arriving from the network end up here, on the
// DHT's worker pool.
//
// An incoming fragment is admitted once (AdmitFragment: plan, ownership,
// limits) before its first byte is accepted, then written straight into the
// fragment store's temporary file as it arrives (ReplicationService::
// CommitFragment on the transfer's own thread: the store hashes the bytes
// once and checks the checksum, the proof root is checked on the way), and
// committed durably before the acknowledgement. A transfer that fails or is
// abandoned leaves nothing behind.
//
// Incoming bytes are bounded before a byte arrives: each transfer reserves its
// fragment's declared size, and one is refused (kResourceExhausted, counted
// as refusal "spool_full" or "disk_full") when the reservations would pass
// SpoolLimits::max_bytes, or would leave less than min_free_bytes free on the
// scratch directory's filesystem (the data dir's) counting every reservation
// as written. Admissions run one at a time, and each counts the charges of
// the transfers admitted before it (per owner and in all), so concurrent
// transfers cannot pass the allowances or max_bytes_for_others between them.
// The reservation ends with the transfer (finished, failed or abandoned).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>

#include "dht/replication_handler.h"
#include "replication/replication_service.h"

namespace tesseras::replication {

struct SpoolBudget;  // what the transfers in flight reserved (network_handler.cc)

struct SpoolLimits {
  // Declared bytes of incoming fragments received at once ([replication]
  // max_spool_bytes):
  // 16 transfers at once (dht.max_inbound_transfers) of a Large tessera's
  // 21.3 MiB fragments fit.
  uint64_t max_bytes = 512ull << 20;
  // Free space the spool must leave on its filesystem (the fragment store's
  // min_free_space_bytes).
  uint64_t min_free_bytes = 1ull << 30;
  // Free bytes on the filesystem holding a path; null: not checked.
  std::function<core::Result<uint64_t>(const std::filesystem::path&)> free_bytes;
};

// Told of every incoming fragment this node refused (at admission, for the
// spool, or when its bytes did not match), with the peer that sent it; called
// on the DHT's worker pool.
using RefusalSink = std::function<void(const core::PeerInfo& from, const core::ContentHash& tessera,
                                       const core::Error& why)>;

class NetworkHandler final : public dht::ReplicationHandler {
 public:
  NetworkHandler(ReplicationService& service, std::filesystem::path scratch_dir,
                 SpoolLimits limits = {}, RefusalSink on_refusal = nullptr);
  ~NetworkHandler() override;

  // Bytes reserved by the transfers in flight.
  uint64_t spool_reserved() const;

  core::Result<std::unique_ptr<dht::IncomingFragment>> BeginReplicate(
      const dht::RequestContext& from, const core::FragmentEnvelope& envelope) override;
  core::Result<core::Attestation> Attest(const dht::RequestContext& from,
                                         const core::ContentHash& tessera,
                                         const std::array<uint8_t, 32>& challenge,
                                         const std::vector<uint32_t>& indices,
                                         const std::optional<core::NodeId>& owner) override;
  core::Result<std::unique_ptr<core::RandomAccessSource>> OpenFragment(
      const dht::RequestContext& from, const core::ContentHash& tessera, uint32_t index,
      const std::optional<core::NodeId>& owner) override;

 private:
  ReplicationService& service_;
  std::filesystem::path scratch_;
  core::Result<std::unique_ptr<dht::IncomingFragment>> Begin(
      const dht::RequestContext& from, const core::FragmentEnvelope& envelope);

  SpoolLimits limits_;
  RefusalSink on_refusal_;
  std::mutex admit_mu_;                  // one admission at a time
  std::shared_ptr<SpoolBudget> budget_;  // shared with the transfers' reservations
};

}  // namespace tesseras::replication
