// A ReplicationHandler over real files, for network-level hostile tests that
// need a node which really receives, proves and serves fragments without the
// whole replication layer (the replication-level attacks use that layer).
//
// - Fragments are files `<dir>/<tessera hex>.<index>`. Put() places one.
// - BeginReplicate accepts any envelope the DHT let through, writes the bytes
//   to `<file>.part` and renames it at Finish, after checking the BLAKE3 of
//   the bytes against the envelope's checksum (kCorrupt otherwise).
// - Attest reads every named fragment it holds in full from disk and proves it
//   with BLAKE3(challenge || bytes) (Proof() computes the same from the bytes).
// - OpenFragment opens the file (reads happen as the stream asks).
// - bytes_read() counts what all of it read from disk.
// Thread-safe (the DHT calls it from its worker pool).
#pragma once

#include <atomic>
#include <chrono>
#include <filesystem>
#include <future>
#include <vector>

#include "dht/replication_handler.h"

namespace tesseras::hostile {

class DiskHandler final : public dht::ReplicationHandler {
 public:
  explicit DiskHandler(std::filesystem::path dir);

  void Put(const core::ContentHash& tessera, uint32_t index, std::span<const uint8_t> bytes);
  std::filesystem::path PathOf(const core::ContentHash& tessera, uint32_t index) const;
  static std::vector<uint8_t> Proof(const std::array<uint8_t, 32>& challenge,
                                    std::span<const uint8_t> bytes);
  uint64_t bytes_read() const { return bytes_read_.load(); }
  // Fragments being received now, and the most at once so far.
  int receiving() const { return receiving_.load(); }
  int peak_receiving() const { return peak_receiving_.load(); }
  uint64_t attestations() const { return attestations_.load(); }

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

  core::NodeId self;  // the holder id put into attestations
  // A slow disk: when set, BeginReplicate waits (on its pool thread) until
  // the test makes this future ready, at most 60 s.
  std::shared_future<void> begin_gate;

 private:
  std::filesystem::path dir_;
  std::atomic<uint64_t> bytes_read_{0};
  std::atomic<uint64_t> attestations_{0};
  std::atomic<int> receiving_{0};
  std::atomic<int> peak_receiving_{0};
  friend class DiskIncoming;
};

}  // namespace tesseras::hostile
