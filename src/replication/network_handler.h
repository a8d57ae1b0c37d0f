// Connects the DHT's request dispatch to the ReplicationService: Replicate,
// AttestRequest and FetchFragment arriving from the network end up here, on the
// DHT's worker pool.
//
// An incoming fragment is checked (AdmitFragment) before its first byte is
// accepted, streamed to a temporary file in the scratch directory while being
// hashed, and handed to ReceiveFragment on Finish; a transfer that fails or is
// abandoned leaves nothing behind.
#pragma once

#include <filesystem>
#include <memory>

#include "dht/replication_handler.h"
#include "replication/replication_service.h"

namespace tesseras::replication {

class NetworkHandler final : public dht::ReplicationHandler {
 public:
  NetworkHandler(ReplicationService& service, std::filesystem::path scratch_dir);

  core::Result<std::unique_ptr<dht::IncomingFragment>> BeginReplicate(
      const dht::RequestContext& from, const core::FragmentEnvelope& envelope) override;
  core::Result<core::Attestation> Attest(const dht::RequestContext& from,
                                         const core::ContentHash& tessera,
                                         const std::array<uint8_t, 32>& challenge,
                                         const std::vector<uint32_t>& indices) override;
  core::Result<std::unique_ptr<core::RandomAccessSource>> OpenFragment(
      const dht::RequestContext& from, const core::ContentHash& tessera, uint32_t index) override;

 private:
  ReplicationService& service_;
  std::filesystem::path scratch_;
};

}  // namespace tesseras::replication
