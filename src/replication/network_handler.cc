#include "replication/network_handler.h"

#include <unistd.h>

#include <atomic>

#include "crypto/blake3_hasher.h"
#include "replication/file_io.h"

namespace tesseras::replication {
namespace {

using core::ErrorCode;
using core::MakeError;
using core::Result;

core::PeerInfo PeerOf(const dht::RequestContext& from) { return {from.peer, from.peer_address}; }

// Bytes of a fragment we already hold: accepted and dropped.
class AlreadyHeld final : public dht::IncomingFragment {
 public:
  AlreadyHeld(ReplicationService& s, core::PeerInfo from, core::FragmentEnvelope env)
      : s_(s), from_(std::move(from)), env_(std::move(env)) {}
  Result<void> Write(std::span<const uint8_t>) override { return core::Ok(); }
  Result<core::ReplicateAck> Finish() override {
    // ReceiveFragment sees the fragment held and only records it (idempotently).
    core::MemorySource none({});
    return s_.ReceiveFragment(from_, env_, none);
  }

 private:
  ReplicationService& s_;
  core::PeerInfo from_;
  core::FragmentEnvelope env_;
};

class Spooled final : public dht::IncomingFragment {
 public:
  Spooled(ReplicationService& s, core::PeerInfo from, core::FragmentEnvelope env,
          std::unique_ptr<FileSink> sink)
      : s_(s), from_(std::move(from)), env_(std::move(env)), sink_(std::move(sink)) {}
  ~Spooled() override {
    std::error_code ec;
    if (finished_) std::filesystem::remove(sink_->path(), ec);
  }
  Result<void> Write(std::span<const uint8_t> data) override {
    written_ += data.size();
    if (written_ > env_.table.plan.shard_size) {
      return MakeError(ErrorCode::kProtocol, "more bytes than the fragment has");
    }
    hash_.Update(data);
    return sink_->Write(data);
  }
  Result<core::ReplicateAck> Finish() override {
    if (written_ != env_.table.plan.shard_size || hash_.Finalize() != env_.id.checksum) {
      return MakeError(ErrorCode::kCorrupt, "fragment bytes do not match the signed plan");
    }
    TRY(sink_->Finish());
    finished_ = true;  // the spool file now exists under its final name: remove it later
    ASSIGN_OR_RETURN(auto src, FileSource::Open(sink_->path()));
    return s_.ReceiveFragment(from_, env_, *src);
  }

 private:
  ReplicationService& s_;
  core::PeerInfo from_;
  core::FragmentEnvelope env_;
  std::unique_ptr<FileSink> sink_;
  crypto::Blake3Hasher hash_;
  uint64_t written_ = 0;
  bool finished_ = false;
};

}  // namespace

NetworkHandler::NetworkHandler(ReplicationService& service, std::filesystem::path scratch_dir)
    : service_(service), scratch_(std::move(scratch_dir)) {}

Result<std::unique_ptr<dht::IncomingFragment>> NetworkHandler::BeginReplicate(
    const dht::RequestContext& from, const core::FragmentEnvelope& envelope) {
  bool held = false;
  TRY(service_.AdmitFragment(PeerOf(from), envelope, &held));
  if (held) {
    return std::unique_ptr<dht::IncomingFragment>(
        new AlreadyHeld(service_, PeerOf(from), envelope));
  }
  static std::atomic<uint64_t> counter{0};
  std::error_code ec;
  std::filesystem::create_directories(scratch_, ec);
  auto path = scratch_ / ("incoming-" + std::to_string(::getpid()) + "-" +
                          std::to_string(counter++) + ".part");
  ASSIGN_OR_RETURN(auto sink, FileSink::Create(path, /*durable=*/false));
  return std::unique_ptr<dht::IncomingFragment>(
      new Spooled(service_, PeerOf(from), envelope, std::move(sink)));
}

Result<core::Attestation> NetworkHandler::Attest(const dht::RequestContext& from,
                                                 const core::ContentHash& tessera,
                                                 const std::array<uint8_t, 32>& challenge,
                                                 const std::vector<uint32_t>& indices) {
  return service_.HandleAttestationRequest(PeerOf(from), tessera, challenge, indices);
}

Result<std::unique_ptr<core::RandomAccessSource>> NetworkHandler::OpenFragment(
    const dht::RequestContext&, const core::ContentHash& tessera, uint32_t index) {
  return service_.OpenVerifiedFragment(tessera, index);
}

}  // namespace tesseras::replication
