#include "replication/network_handler.h"

#include <condition_variable>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

namespace tesseras::replication {
namespace {

using core::ErrorCode;
using core::MakeError;
using core::Result;

core::PeerInfo PeerOf(const dht::RequestContext& from) { return {from.peer, from.peer_address}; }

// Bytes of a fragment we already hold: accepted and dropped.
class AlreadyHeld final : public dht::IncomingFragment {
 public:
  AlreadyHeld(ReplicationService& s, core::PeerInfo from, core::FragmentEnvelope env,
              SignedPlan plan)
      : s_(s), from_(std::move(from)), env_(std::move(env)), plan_(std::move(plan)) {}
  Result<void> Write(std::span<const uint8_t>) override { return core::Ok(); }
  Result<core::ReplicateAck> Finish() override {
    // Held: only the plan, the charge and our claim are recorded (idempotently).
    core::MemorySource none({});
    return s_.CommitFragment(from_, plan_, env_, none, /*already_held=*/true);
  }

 private:
  ReplicationService& s_;
  core::PeerInfo from_;
  core::FragmentEnvelope env_;
  SignedPlan plan_;
};

}  // namespace

struct SpoolBudget {
  std::mutex mu;
  uint64_t reserved = 0;        // declared bytes of the transfers in flight
  uint64_t pending_charge = 0;  // what they will be charged, all owners
  std::map<core::NodeId, uint64_t> pending_by_owner;
};

namespace {

// A transfer's share of the budget (its declared bytes, and the charge its
// owner will pay), given back when it ends.
class Reservation {
 public:
  Reservation(std::shared_ptr<SpoolBudget> budget, uint64_t bytes, core::NodeId owner,
              uint64_t charge)
      : budget_(std::move(budget)), bytes_(bytes), owner_(owner), charge_(charge) {}
  Reservation(Reservation&& o) noexcept
      : budget_(std::move(o.budget_)), bytes_(o.bytes_), owner_(o.owner_), charge_(o.charge_) {}
  Reservation(const Reservation&) = delete;
  Reservation& operator=(const Reservation&) = delete;
  Reservation& operator=(Reservation&&) = delete;
  ~Reservation() {
    if (!budget_) return;
    std::lock_guard lock(budget_->mu);
    budget_->reserved -= bytes_;
    budget_->pending_charge -= charge_;
    auto it = budget_->pending_by_owner.find(owner_);
    if (it != budget_->pending_by_owner.end() && (it->second -= charge_) == 0) {
      budget_->pending_by_owner.erase(it);
    }
  }

 private:
  std::shared_ptr<SpoolBudget> budget_;
  uint64_t bytes_;
  core::NodeId owner_;
  uint64_t charge_;
};

// The network's bytes handed to the fragment store as they arrive: Give()
// (the DHT's pool, one Write() at a time) offers a span and waits until the
// store's Read() (the transfer's own thread) has taken all of it. The bytes
// are copied once, into the store's temporary file, and hashed there.
class HandOff final : public core::ByteSource {
 public:
  // False if the store stopped reading before it took all of `data`.
  bool Give(std::span<const uint8_t> data) {
    std::unique_lock lock(mu_);
    pending_ = data;
    cv_.notify_all();
    cv_.wait(lock, [&] { return pending_.empty() || reader_done_; });
    const bool taken = pending_.empty();
    pending_ = {};
    return taken;
  }
  // The last byte was given: the store's next Read() sees the end.
  void Close() {
    std::lock_guard lock(mu_);
    closed_ = true;
    cv_.notify_all();
  }
  // The transfer ended early: the store's next Read() fails, so it keeps nothing.
  void Abandon() {
    std::lock_guard lock(mu_);
    abandoned_ = true;
    cv_.notify_all();
  }
  void ReaderDone() {
    std::lock_guard lock(mu_);
    reader_done_ = true;
    cv_.notify_all();
  }

  Result<std::size_t> Read(std::span<uint8_t> out) override {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return !pending_.empty() || closed_ || abandoned_; });
    if (abandoned_)
      return MakeError(ErrorCode::kCancelled, "the transfer ended before its last byte");
    if (pending_.empty()) return std::size_t{0};
    const std::size_t n = std::min(out.size(), pending_.size());
    std::memcpy(out.data(), pending_.data(), n);
    pending_ = pending_.subspan(n);
    if (pending_.empty()) cv_.notify_all();
    return n;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::span<const uint8_t> pending_;
  bool closed_ = false;
  bool abandoned_ = false;
  bool reader_done_ = false;
};

// A fragment streamed straight into the store: its thread runs
// ReplicationService::CommitFragment (the store's write, its hash and the
// proof-root check, then the plan, ledger and claim) while Write() hands it
// the bytes.
class Direct final : public dht::IncomingFragment {
 public:
  Direct(ReplicationService& s, core::PeerInfo from, core::FragmentEnvelope env, SignedPlan plan,
         Reservation reservation, RefusalSink on_refusal)
      : from_(std::move(from)),
        env_(std::move(env)),
        reservation_(std::move(reservation)),
        on_refusal_(std::move(on_refusal)) {
    thread_ = std::thread([this, &s, plan = std::move(plan)] {
      result_ = s.CommitFragment(from_, plan, env_, bytes_, /*already_held=*/false);
      bytes_.ReaderDone();
    });
  }
  ~Direct() override {
    bytes_.Abandon();
    if (thread_.joinable()) thread_.join();
  }
  Result<void> Write(std::span<const uint8_t> data) override {
    written_ += data.size();
    if (written_ > env_.table.plan.shard_size) {
      bytes_.Abandon();
      return MakeError(ErrorCode::kProtocol, "more bytes than the fragment has");
    }
    if (!bytes_.Give(data)) {
      thread_.join();
      return result_.ok() ? MakeError(ErrorCode::kProtocol, "more bytes than the fragment has")
                          : Report(result_.error());
    }
    return core::Ok();
  }
  Result<core::ReplicateAck> Finish() override {
    if (written_ != env_.table.plan.shard_size) {
      bytes_.Abandon();
      thread_.join();
      return Report(MakeError(ErrorCode::kCorrupt, "fragment bytes do not match the signed plan: " +
                                                       std::to_string(written_) + " of " +
                                                       std::to_string(env_.table.plan.shard_size)));
    }
    bytes_.Close();
    if (thread_.joinable()) thread_.join();
    if (result_.ok()) return std::move(result_);
    core::Error why = result_.error();
    if (why.code == ErrorCode::kCorrupt && why.message.find("proof root") == std::string::npos) {
      why.message = "fragment bytes do not match the signed plan (" + why.message + ")";
    }
    return Report(std::move(why));
  }

 private:
  core::Error Report(core::Error why) {
    if (!reported_ && on_refusal_) on_refusal_(from_, env_.id.tessera, why);
    reported_ = true;
    return why;
  }

  core::PeerInfo from_;
  core::FragmentEnvelope env_;
  Reservation reservation_;
  RefusalSink on_refusal_;
  HandOff bytes_;
  uint64_t written_ = 0;
  bool reported_ = false;
  Result<core::ReplicateAck> result_ = MakeError(ErrorCode::kInternal, "not finished");
  std::thread thread_;  // last: started when everything it uses exists
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
  // One admission at a time: each sees the charges of the transfers admitted
  // before it, so concurrent transfers cannot pass an owner's allowance or the
  // cap for all others together between them.
  std::lock_guard admitting(admit_mu_);
  const core::NodeId owner = crypto::NodeIdFromPublicKey(envelope.owner_public_key);
  uint64_t pending_owner = 0, pending_all = 0;
  {
    std::lock_guard lock(budget_->mu);
    auto it = budget_->pending_by_owner.find(owner);
    if (it != budget_->pending_by_owner.end()) pending_owner = it->second;
    pending_all = budget_->pending_charge;
  }
  bool held = false;
  ASSIGN_OR_RETURN(SignedPlan plan, service_.AdmitFragment(PeerOf(from), envelope, &held,
                                                           pending_owner, pending_all));
  if (held) {
    return std::unique_ptr<dht::IncomingFragment>(
        new AlreadyHeld(service_, PeerOf(from), envelope, std::move(plan)));
  }
  const uint64_t size = envelope.table.plan.shard_size;
  const uint64_t charge = service_.ChargeFor(size);
  std::optional<uint64_t> free;
  if (limits_.free_bytes) {
    std::error_code ec;
    std::filesystem::create_directories(scratch_, ec);
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
    budget_->pending_charge += charge;
    budget_->pending_by_owner[owner] += charge;
  }
  Reservation reservation(budget_, size, owner, charge);
  return std::unique_ptr<dht::IncomingFragment>(new Direct(
      service_, PeerOf(from), envelope, std::move(plan), std::move(reservation), on_refusal_));
}

Result<core::Attestation> NetworkHandler::Attest(const dht::RequestContext& from,
                                                 const core::ContentHash& tessera,
                                                 const std::array<uint8_t, 32>& challenge,
                                                 const std::vector<uint32_t>& indices,
                                                 const std::optional<core::NodeId>& owner) {
  return service_.HandleAttestationRequest(PeerOf(from), tessera, challenge, indices, owner);
}

Result<std::unique_ptr<core::RandomAccessSource>> NetworkHandler::OpenFragment(
    const dht::RequestContext&, const core::ContentHash& tessera, uint32_t index,
    const std::optional<core::NodeId>& owner) {
  return service_.OpenVerifiedFragment(tessera, index, owner);
}

}  // namespace tesseras::replication
