#include "replication/network_handler.h"

#include <unistd.h>

#include <atomic>
#include <mutex>
#include <optional>

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

}  // namespace

struct SpoolBudget {
  std::mutex mu;
  uint64_t reserved = 0;
};

namespace {

// A transfer's share of the spool, given back when it ends.
class Reservation {
 public:
  Reservation(std::shared_ptr<SpoolBudget> budget, uint64_t bytes)
      : budget_(std::move(budget)), bytes_(bytes) {}
  Reservation(Reservation&& o) noexcept : budget_(std::move(o.budget_)), bytes_(o.bytes_) {}
  Reservation(const Reservation&) = delete;
  Reservation& operator=(const Reservation&) = delete;
  Reservation& operator=(Reservation&&) = delete;
  ~Reservation() {
    if (!budget_) return;
    std::lock_guard lock(budget_->mu);
    budget_->reserved -= bytes_;
  }

 private:
  std::shared_ptr<SpoolBudget> budget_;
  uint64_t bytes_;
};

class Spooled final : public dht::IncomingFragment {
 public:
  Spooled(ReplicationService& s, core::PeerInfo from, core::FragmentEnvelope env,
          std::unique_ptr<FileSink> sink, Reservation reservation, RefusalSink on_refusal)
      : s_(s),
        from_(std::move(from)),
        env_(std::move(env)),
        sink_(std::move(sink)),
        reservation_(std::move(reservation)),
        on_refusal_(std::move(on_refusal)) {}
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
    auto ack = Receive();
    if (!ack.ok() && on_refusal_) on_refusal_(from_, env_.id.tessera, ack.error());
    return ack;
  }

 private:
  ReplicationService& s_;
  core::PeerInfo from_;
  core::FragmentEnvelope env_;
  Result<core::ReplicateAck> Receive() {
    if (written_ != env_.table.plan.shard_size || hash_.Finalize() != env_.id.checksum) {
      return MakeError(ErrorCode::kCorrupt, "fragment bytes do not match the signed plan");
    }
    TRY(sink_->Finish());
    finished_ = true;  // the spool file now exists under its final name: remove it later
    ASSIGN_OR_RETURN(auto src, FileSource::Open(sink_->path()));
    return s_.ReceiveFragment(from_, env_, *src);
  }

  std::unique_ptr<FileSink> sink_;
  Reservation reservation_;
  RefusalSink on_refusal_;
  crypto::Blake3Hasher hash_;
  uint64_t written_ = 0;
  bool finished_ = false;
};

}  // namespace

NetworkHandler::NetworkHandler(ReplicationService& service, std::filesystem::path scratch_dir,
                               SpoolLimits limits, RefusalSink on_refusal)
    : service_(service),
      scratch_(std::move(scratch_dir)),
      limits_(std::move(limits)),
      on_refusal_(std::move(on_refusal)),
      budget_(std::make_shared<SpoolBudget>()) {}

NetworkHandler::~NetworkHandler() = default;

uint64_t NetworkHandler::spool_reserved() const {
  std::lock_guard lock(budget_->mu);
  return budget_->reserved;
}

Result<std::unique_ptr<dht::IncomingFragment>> NetworkHandler::BeginReplicate(
    const dht::RequestContext& from, const core::FragmentEnvelope& envelope) {
  auto begun = Begin(from, envelope);
  if (!begun.ok() && on_refusal_) on_refusal_(PeerOf(from), envelope.id.tessera, begun.error());
  return begun;
}

Result<std::unique_ptr<dht::IncomingFragment>> NetworkHandler::Begin(
    const dht::RequestContext& from, const core::FragmentEnvelope& envelope) {
  bool held = false;
  TRY(service_.AdmitFragment(PeerOf(from), envelope, &held));
  if (held) {
    return std::unique_ptr<dht::IncomingFragment>(
        new AlreadyHeld(service_, PeerOf(from), envelope));
  }
  const uint64_t size = envelope.table.plan.shard_size;
  std::error_code ec;
  std::filesystem::create_directories(scratch_, ec);
  std::optional<uint64_t> free;
  if (limits_.free_bytes) {
    ASSIGN_OR_RETURN(free, limits_.free_bytes(scratch_));
  }
  {
    std::lock_guard lock(budget_->mu);
    if (budget_->reserved + size > limits_.max_bytes) {
      service_.CountRefusal("spool_full");
      return MakeError(ErrorCode::kResourceExhausted,
                       "refused: " + std::to_string(budget_->reserved) +
                           " bytes of incoming fragments are being received; " +
                           std::to_string(size) + " more would pass max_spool_bytes (" +
                           std::to_string(limits_.max_bytes) + ")");
    }
    if (free && *free < budget_->reserved + size + limits_.min_free_bytes) {
      service_.CountRefusal("disk_full");
      return MakeError(ErrorCode::kResourceExhausted,
                       "not enough disk space: " + std::to_string(*free) + " bytes free, " +
                           std::to_string(budget_->reserved) + " reserved by transfers, " +
                           std::to_string(size) + " for this one and " +
                           std::to_string(limits_.min_free_bytes) + " to keep free");
    }
    budget_->reserved += size;
  }
  Reservation reservation(budget_, size);
  static std::atomic<uint64_t> counter{0};
  auto path = scratch_ / ("incoming-" + std::to_string(::getpid()) + "-" +
                          std::to_string(counter++) + ".part");
  ASSIGN_OR_RETURN(auto sink, FileSink::Create(path, /*durable=*/false));
  return std::unique_ptr<dht::IncomingFragment>(new Spooled(
      service_, PeerOf(from), envelope, std::move(sink), std::move(reservation), on_refusal_));
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
