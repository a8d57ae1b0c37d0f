#include "dht/node.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "dht/async.h"
#include "dht/convert.h"

namespace tesseras::dht {
namespace {

using core::ErrorCode;
using core::MakeError;
using core::Result;
using SteadyClock = std::chrono::steady_clock;
constexpr auto kAwait = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kMaxValueReplyBytes = 768 * 1024;

wire::Envelope ErrorReply(const core::Error& e) {
  return net::MakeErrorEnvelope(0, e.code, e.message);
}

std::span<const uint8_t> AsBytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

RequestContext ContextOf(const net::PeerIdentity& p) {
  return RequestContext{p.id, p.public_key, p.address.to_string()};
}

// Identity of a published record for republishing: key, type, publisher, value.
// (Strings rather than byte vectors as keys: GCC 12 -O3 warns falsely on
// vector<uint8_t> comparisons.)
// One published record per (key, type, publisher): a newer value (a new
// holder record version, an updated claim) replaces the older one, which is
// then no longer republished.
std::string PublishKey(const Record& r) {
  std::string k = Bytes(r.key.bytes);
  for (int i = 0; i < 4; ++i) k.push_back(static_cast<char>(r.type >> (8 * i)));
  k += Bytes(r.publisher);
  return k;
}

std::string EncodedKey(const Record& r) {
  auto e = r.Encode();
  return Bytes(e);
}

// Counts parallel children and wakes the parent when they are all done.
struct Fanout {
  explicit Fanout(asio::any_io_executor ex) : signal(ex) {}
  std::size_t pending = 0;
  std::size_t succeeded = 0;
  asio::steady_timer signal;
  void Done(bool ok) {
    --pending;
    if (ok) ++succeeded;
    signal.cancel();
  }
  asio::awaitable<void> Wait() {
    while (pending > 0) {
      signal.expires_at(SteadyClock::time_point::max());
      co_await signal.async_wait(kAwait);
    }
  }
};

}  // namespace

struct Node::LookupState {
  explicit LookupState(asio::any_io_executor ex) : signal(ex) {}
  enum class Phase { kNew, kInFlight, kAnswered, kFailed };
  struct Candidate {
    Contact contact;
    Phase phase = Phase::kNew;
  };
  core::NodeId target;
  bool find_value = false;
  std::map<core::NodeId, Candidate> candidates;  // by distance to target
  std::size_t inflight = 0;
  asio::steady_timer signal;
  std::vector<Record> records;
  std::set<std::string> seen_records;
};

std::shared_ptr<Node> Node::Create(asio::any_io_executor io, asio::thread_pool& pool,
                                   const crypto::Identity& identity, NodeConfig config) {
  return std::shared_ptr<Node>(new Node(std::move(io), pool, identity, std::move(config)));
}

Node::Node(asio::any_io_executor io, asio::thread_pool& pool, const crypto::Identity& identity,
           NodeConfig config)
    : io_(std::move(io)),
      pool_(pool),
      identity_(identity),
      config_(std::move(config)),
      routing_(identity.node_id(), config_.routing),
      records_(config_.records),
      rng_(std::random_device{}()) {
  if (config_.routing.k == 0) config_.routing.k = 20;
  if (config_.alpha == 0) config_.alpha = 3;
}

Node::~Node() {
  if (endpoint_) endpoint_->Stop();
}

void Node::SetReplicationHandler(std::shared_ptr<ReplicationHandler> handler) {
  std::lock_guard lock(handler_mu_);
  handler_ = std::move(handler);
}

std::shared_ptr<ReplicationHandler> Node::handler() const {
  std::lock_guard lock(handler_mu_);
  return handler_;
}

Contact Node::self_contact() const {
  Contact c;
  c.id = identity_.node_id();
  c.public_key = identity_.public_key();
  c.pow_nonce = identity_.pow_nonce();
  if (endpoint_) c.endpoint = endpoint_->local_endpoint();
  return c;
}

Result<void> Node::Start() {
  if (started_) return MakeError(ErrorCode::kInvalidArgument, "node already started");
  started_ = true;
  ASSIGN_OR_RETURN(auto local, net::ParseEndpoint(config_.listen_address));
  uint64_t caps = wire::CAPABILITY_DHT | wire::CAPABILITY_REPLICATION;
  endpoint_ = std::make_shared<net::Endpoint>(io_, identity_, config_.limits, caps);
  std::weak_ptr<Node> weak = weak_from_this();
  endpoint_->SetRequestHandler(
      [weak](std::shared_ptr<net::Connection> conn, std::shared_ptr<net::Exchange> ex,
             wire::Envelope req) { return HandleEntry(weak, conn, ex, std::move(req)); });
  endpoint_->SetPeerObserver([weak](const net::PeerIdentity& peer) {
    auto self = weak.lock();
    if (!self) return;
    if (auto c = ContactOf(peer)) self->Observe(*c);
  });
  TRY(endpoint_->Listen(local));
  auto self = shared_from_this();
  asio::co_spawn(
      io_, [self]() { return self->Maintain(); }, LogIfFailed{"dht maintenance"});
  if (!config_.seeds.empty()) {
    asio::co_spawn(
        io_,
        [self]() -> asio::awaitable<void> {
          auto r = co_await self->Bootstrap(self->config_.seeds);
          if (!r.ok()) spdlog::warn("bootstrap: {}", r.error().ToString());
        },
        LogIfFailed{"bootstrap"});
  }
  return core::Ok();
}

void Node::Stop() {
  if (stopped_) return;
  stopped_ = true;
  if (maintenance_timer_) maintenance_timer_->cancel();
  if (endpoint_) endpoint_->Stop();
}

bool Node::Failure(const core::Error& e) const {
  switch (e.code) {
    case ErrorCode::kTimeout:
    case ErrorCode::kUnavailable:
    case ErrorCode::kPermissionDenied:
    case ErrorCode::kProtocol:
      return true;
    default:
      return false;
  }
}

void Node::Observe(const Contact& c) {
  if (c.id == identity_.node_id() || stopped_) return;
  auto r = routing_.Update(c, SteadyClock::now());
  if (r.outcome != RoutingTable::Outcome::kBucketFull || !r.least_recent) return;
  if (!evicting_.insert(r.least_recent->id).second) return;
  auto self = shared_from_this();
  asio::co_spawn(
      io_, [self, old = *r.least_recent, c]() { return self->EvictionCheck(old, c); },
      LogIfFailed{"eviction check"});
}

asio::awaitable<void> Node::EvictionCheck(Contact old_contact, Contact newcomer) {
  auto self = shared_from_this();
  wire::Envelope ping;
  ping.mutable_ping();
  auto r = co_await Rpc(old_contact, std::move(ping));
  evicting_.erase(old_contact.id);
  if (!r.ok() && !stopped_) routing_.Replace(old_contact.id, newcomer, SteadyClock::now());
}

asio::awaitable<void> Node::PingContact(Contact c) {
  auto self = shared_from_this();
  wire::Envelope ping;
  ping.mutable_ping();
  (void)co_await Rpc(c, std::move(ping));
}

asio::awaitable<Result<wire::Envelope>> Node::Rpc(Contact contact, wire::Envelope request) {
  auto self = shared_from_this();
  if (stopped_) co_return MakeError(ErrorCode::kCancelled, "node stopped");
  auto conn = co_await endpoint_->Connect(contact.endpoint, contact.id);
  if (!conn.ok()) {
    if (Failure(conn.error())) routing_.Failed(contact.id);
    co_return std::move(conn).error();
  }
  auto r = co_await (*conn)->Call(std::move(request), config_.limits.request_timeout);
  if (!r.ok()) {
    if (Failure(r.error())) routing_.Failed(contact.id);
    co_return std::move(r).error();
  }
  Observe(contact);
  co_return r;
}

asio::awaitable<Result<std::shared_ptr<net::Connection>>> Node::ConnectPeer(
    const core::PeerInfo& peer) {
  auto self = shared_from_this();
  if (stopped_) co_return MakeError(ErrorCode::kCancelled, "node stopped");
  CO_ASSIGN_OR_RETURN(auto ep, net::ParseEndpoint(peer.address));
  auto conn = co_await endpoint_->Connect(ep, peer.id);
  if (!conn.ok() && Failure(conn.error())) routing_.Failed(peer.id);
  co_return conn;
}

// ---- lookups -----------------------------------------------------------------

asio::awaitable<Result<std::shared_ptr<Node::LookupState>>> Node::Iterate(core::NodeId target,
                                                                          bool find_value,
                                                                          std::size_t n) {
  auto self = shared_from_this();
  if (n == 0) n = config_.routing.k;
  auto st = std::make_shared<LookupState>(io_);
  st->target = target;
  st->find_value = find_value;
  for (const auto& c : routing_.Closest(target, n)) {
    st->candidates.emplace(core::XorDistance(target, c.id), LookupState::Candidate{c});
  }
  if (st->candidates.empty()) {
    co_return MakeError(ErrorCode::kUnavailable, "no contacts to start a lookup from");
  }
  ++stats_.lookups;
  using Phase = LookupState::Phase;
  while (true) {
    if (stopped_) co_return MakeError(ErrorCode::kCancelled, "node stopped");
    std::size_t considered = 0;
    bool pending = false;
    std::vector<LookupState::Candidate*> launch;
    for (auto& [distance, cand] : st->candidates) {
      if (cand.phase == Phase::kFailed) continue;
      if (considered++ >= n) break;
      if (cand.phase == Phase::kInFlight) {
        pending = true;
      } else if (cand.phase == Phase::kNew) {
        pending = true;
        if (st->inflight + launch.size() < config_.alpha) launch.push_back(&cand);
      }
    }
    if (!pending) break;
    for (auto* cand : launch) {
      cand->phase = Phase::kInFlight;
      ++st->inflight;
      ++stats_.lookup_rpcs;
      asio::co_spawn(
          io_, [self, st, c = cand->contact]() { return self->Query(st, c); },
          LogIfFailed{"lookup query"});
    }
    st->signal.expires_at(SteadyClock::time_point::max());
    co_await st->signal.async_wait(kAwait);
  }
  co_return st;
}

asio::awaitable<void> Node::Query(std::shared_ptr<LookupState> st, Contact c) {
  auto self = shared_from_this();
  using Phase = LookupState::Phase;
  wire::Envelope req;
  if (st->find_value) {
    req.mutable_find_value()->set_key(Bytes(st->target.bytes));
  } else {
    req.mutable_find_node()->set_target(Bytes(st->target.bytes));
  }
  auto r = co_await Rpc(c, std::move(req));
  auto& cand = st->candidates[core::XorDistance(st->target, c.id)];
  bool shaped = r.ok() && (st->find_value ? r->has_value() : r->has_nodes());
  if (!shaped) {
    cand.phase = Phase::kFailed;
  } else {
    cand.phase = Phase::kAnswered;
    const auto& contacts = st->find_value ? r->value().closer() : r->nodes().nodes();
    for (const auto& wc : contacts) {
      auto contact = FromWire(wc, config_.limits.min_pow_bits);
      if (!contact.ok()) {
        ++stats_.contacts_refused;
        spdlog::debug("refused contact from {}: {}", c.id.Short(), contact.error().ToString());
        continue;
      }
      if (contact->id == identity_.node_id()) continue;
      st->candidates.try_emplace(core::XorDistance(st->target, contact->id),
                                 LookupState::Candidate{*contact});
    }
    if (st->find_value) {
      int64_t now = NowUnixMs();
      for (const auto& bytes : r->value().records()) {
        auto rec = Record::ParseVerified(AsBytes(bytes));
        if (!rec.ok()) {
          ++stats_.records_refused;
          continue;
        }
        if (rec->key != st->target || rec->expires_unix_ms <= now) continue;
        if (st->seen_records.insert(EncodedKey(*rec)).second) st->records.push_back(*rec);
      }
    }
  }
  --st->inflight;
  st->signal.cancel();
}

asio::awaitable<Result<std::vector<Contact>>> Node::Lookup(core::NodeId target, std::size_t n) {
  auto self = shared_from_this();
  if (n == 0) n = config_.routing.k;
  CO_ASSIGN_OR_RETURN(auto st, co_await Iterate(target, false, n));
  std::vector<Contact> out;
  for (const auto& [distance, cand] : st->candidates) {
    if (cand.phase != LookupState::Phase::kAnswered) continue;
    out.push_back(cand.contact);
    if (out.size() >= n) break;
  }
  co_return out;
}

asio::awaitable<Result<void>> Node::Bootstrap(std::vector<std::string> seeds) {
  auto self = shared_from_this();
  bootstrapping_ = true;
  ++bootstrap_attempts_;
  std::size_t reached = 0;
  asio::steady_timer pause(io_);
  for (const auto& seed : seeds) {
    auto ep = net::ParseEndpoint(seed);
    if (!ep.ok()) {
      spdlog::warn("seed {}: {}", seed, ep.error().ToString());
      continue;
    }
    if (*ep == endpoint_->local_endpoint()) continue;
    for (int attempt = 0; attempt < 3 && !stopped_; ++attempt) {
      auto conn = co_await endpoint_->Connect(*ep, std::nullopt);
      if (conn.ok()) {
        wire::Envelope ping;
        ping.mutable_ping();
        auto pong = co_await (*conn)->Call(std::move(ping), config_.limits.request_timeout);
        if (pong.ok()) {
          if (auto c = ContactOf((*conn)->peer())) {
            c->endpoint = *ep;
            Observe(*c);
          }
          ++reached;
          break;
        }
      }
      pause.expires_after(config_.bootstrap_retry / 4);
      co_await pause.async_wait(kAwait);
    }
  }
  if (reached == 0) {
    bootstrapping_ = false;
    co_return MakeError(ErrorCode::kUnavailable, "no seed answered");
  }
  (void)co_await Lookup(identity_.node_id());
  // Refresh every bucket closer than our closest neighbour's.
  auto nearest = routing_.Closest(identity_.node_id(), 1);
  if (!nearest.empty()) {
    int nb = routing_.BucketOf(nearest.front().id);
    for (int b = 0; b < nb && b < 256 && !stopped_; ++b) {
      routing_.MarkRefreshed(b, SteadyClock::now());
      (void)co_await Lookup(routing_.RandomIdIn(b, rng_));
    }
  }
  bootstrapping_ = false;
  co_return core::Ok();
}

// ---- records -----------------------------------------------------------------

asio::awaitable<Result<std::size_t>> Node::Put(Record record) {
  auto self = shared_from_this();
  CO_TRY(record.Verify());
  int64_t now = NowUnixMs();
  if (record.expires_unix_ms <= now) {
    co_return MakeError(ErrorCode::kInvalidArgument, "record already expired");
  }
  published_[PublishKey(record)] = record;
  std::vector<Contact> closest;
  auto found = co_await Lookup(record.key);
  if (found.ok()) closest = std::move(found).value();
  std::size_t accepted = 0;
  // Keep a copy ourselves when we are among the k closest.
  bool self_close =
      closest.size() < config_.routing.k || core::XorDistance(record.key, identity_.node_id()) <
                                                core::XorDistance(record.key, closest.back().id);
  if (self_close && records_.Put(record, now).ok()) ++accepted;
  auto fan = std::make_shared<Fanout>(io_);
  std::string encoded;
  {
    auto bytes = record.Encode();
    encoded.assign(bytes.begin(), bytes.end());
  }
  for (const auto& c : closest) {
    ++fan->pending;
    wire::Envelope req;
    req.mutable_store()->set_record(encoded);
    asio::co_spawn(
        io_,
        [self, fan, c, req = std::move(req)]() mutable -> asio::awaitable<void> {
          auto r = co_await self->Rpc(c, std::move(req));
          fan->Done(r.ok() && r->has_stored());
        },
        LogIfFailed{"store"});
  }
  co_await fan->Wait();
  accepted += fan->succeeded;
  if (accepted == 0) co_return MakeError(ErrorCode::kUnavailable, "no node accepted the record");
  co_return accepted;
}

asio::awaitable<Result<std::vector<Record>>> Node::Get(core::NodeId key) {
  auto self = shared_from_this();
  std::vector<Record> out = records_.Get(key, NowUnixMs());
  std::set<std::string> seen;
  for (const auto& r : out) seen.insert(EncodedKey(r));
  auto st = co_await Iterate(key, true, config_.routing.k);
  if (st.ok()) {
    for (auto& r : (*st)->records) {
      if (seen.insert(EncodedKey(r)).second) out.push_back(std::move(r));
    }
  }
  if (out.empty()) co_return MakeError(ErrorCode::kNotFound, "no record for " + key.Short());
  co_return out;
}

asio::awaitable<Result<void>> Node::StoreAt(core::PeerInfo peer, std::vector<uint8_t> encoded) {
  auto self = shared_from_this();
  CO_ASSIGN_OR_RETURN(auto conn, co_await ConnectPeer(peer));
  wire::Envelope req;
  req.mutable_store()->set_record(std::string(encoded.begin(), encoded.end()));
  CO_ASSIGN_OR_RETURN(auto resp,
                      co_await conn->Call(std::move(req), config_.limits.request_timeout));
  if (!resp.has_stored()) co_return MakeError(ErrorCode::kProtocol, "Store not answered by Stored");
  co_return core::Ok();
}

// ---- direct requests -----------------------------------------------------------

asio::awaitable<Result<void>> Node::Ping(core::PeerInfo peer) {
  auto self = shared_from_this();
  CO_ASSIGN_OR_RETURN(auto conn, co_await ConnectPeer(peer));
  wire::Envelope ping;
  ping.mutable_ping();
  auto r = co_await conn->Call(std::move(ping), config_.limits.request_timeout);
  if (!r.ok()) {
    if (Failure(r.error())) routing_.Failed(peer.id);
    co_return std::move(r).error();
  }
  if (!r->has_pong()) co_return MakeError(ErrorCode::kProtocol, "Ping not answered by Pong");
  if (auto c = ContactOf(conn->peer())) Observe(*c);
  co_return core::Ok();
}

asio::awaitable<Result<core::ReplicateAck>> Node::Replicate(core::PeerInfo peer,
                                                            core::FragmentEnvelope envelope,
                                                            core::RandomAccessSource& bytes) {
  auto self = shared_from_this();
  uint64_t size = envelope.table.plan.shard_size;
  if (bytes.Size() != size || size == 0 || size > net::kMaxTransferBytes) {
    co_return MakeError(ErrorCode::kInvalidArgument,
                        "fragment source has " + std::to_string(bytes.Size()) +
                            " bytes; the plan says " + std::to_string(size));
  }
  CO_ASSIGN_OR_RETURN(auto conn, co_await ConnectPeer(peer));
  wire::Envelope req;
  ToWire(envelope, req.mutable_replicate()->mutable_envelope());
  CO_TRY(net::ValidateEnvelope([&] {
    wire::Envelope probe = req;
    probe.set_version(net::kProtocolVersion);
    probe.set_request_id(1);
    return probe;
  }()));
  CO_ASSIGN_OR_RETURN(auto ex, conn->Open(std::move(req)));
  const net::Connection::ChunkReader io_fn =
      [this, &bytes](uint64_t offset, std::span<uint8_t> out) -> asio::awaitable<Result<void>> {
    auto job = [&bytes, offset, out]() { return bytes.ReadAt(offset, out); };
    auto pooled = co_await RunOnPool(pool_, std::move(job));
    co_return pooled;
  };
  auto sent = co_await conn->SendStream(*ex, size, io_fn);
  if (!sent.ok()) {
    if (conn->is_open() && sent.error().code != ErrorCode::kProtocol) {
      (void)conn->Send(*ex, net::MakeErrorEnvelope(0, ErrorCode::kCancelled, "sender aborted"));
    }
    conn->Finish(ex);
    co_return std::move(sent).error();
  }
  auto resp = co_await conn->Next(*ex, config_.limits.request_timeout);
  conn->Finish(ex);
  if (!resp.ok()) co_return std::move(resp).error();
  if (resp->has_error()) co_return net::ErrorFromWire(resp->error());
  if (!resp->has_replicate_ack()) {
    co_return MakeError(ErrorCode::kProtocol, "Replicate not answered by ReplicateAck");
  }
  CO_ASSIGN_OR_RETURN(auto ack, FromWire(resp->replicate_ack()));
  if (ack.holder != peer.id || ack.tessera != envelope.id.tessera) {
    co_return MakeError(ErrorCode::kProtocol, "ReplicateAck names another holder or tessera");
  }
  co_return ack;
}

asio::awaitable<Result<core::Attestation>> Node::Attest(core::PeerInfo peer,
                                                        core::ContentHash tessera,
                                                        std::array<uint8_t, 32> challenge,
                                                        std::vector<uint32_t> indices) {
  auto self = shared_from_this();
  if (indices.size() > net::kMaxShards) {
    co_return MakeError(ErrorCode::kInvalidArgument, "more than 255 fragment indices");
  }
  std::vector<bool> seen(net::kMaxShards, false);
  for (uint32_t i : indices) {
    if (i >= net::kMaxShards || seen[i]) {
      co_return MakeError(ErrorCode::kInvalidArgument, "bad or repeated fragment index");
    }
    seen[i] = true;
  }
  CO_ASSIGN_OR_RETURN(auto conn, co_await ConnectPeer(peer));
  wire::Envelope req;
  req.mutable_attest_request()->set_tessera(Bytes(tessera.bytes));
  req.mutable_attest_request()->set_challenge(Bytes(challenge));
  for (uint32_t i : indices) req.mutable_attest_request()->add_indices(i);
  CO_ASSIGN_OR_RETURN(auto resp,
                      co_await conn->Call(std::move(req), config_.limits.request_timeout));
  if (!resp.has_attest_response()) {
    co_return MakeError(ErrorCode::kProtocol, "AttestRequest not answered by AttestResponse");
  }
  CO_ASSIGN_OR_RETURN(auto att, FromWire(resp.attest_response()));
  if (att.holder != peer.id || att.tessera != tessera || att.challenge != challenge) {
    co_return MakeError(ErrorCode::kProtocol, "attestation does not answer our challenge");
  }
  // What we asked for, which the holder's signature must cover (not echoed on the wire).
  att.requested = std::move(indices);
  co_return att;
}

asio::awaitable<Result<void>> Node::Fetch(core::PeerInfo peer, core::ContentHash tessera,
                                          uint32_t index, core::ByteSink& out) {
  auto self = shared_from_this();
  if (index >= net::kMaxShards) co_return MakeError(ErrorCode::kInvalidArgument, "bad index");
  CO_ASSIGN_OR_RETURN(auto conn, co_await ConnectPeer(peer));
  wire::Envelope req;
  req.mutable_fetch_fragment()->set_tessera(Bytes(tessera.bytes));
  req.mutable_fetch_fragment()->set_index(index);
  CO_ASSIGN_OR_RETURN(auto ex, conn->Open(std::move(req)));
  auto head = co_await conn->Next(*ex, config_.limits.request_timeout);
  if (!head.ok()) {
    conn->Finish(ex);
    co_return std::move(head).error();
  }
  if (head->has_error() || !head->has_fragment_header()) {
    conn->Finish(ex);
    if (head->has_error()) co_return net::ErrorFromWire(head->error());
    co_return MakeError(ErrorCode::kProtocol, "FetchFragment not answered by FragmentHeader");
  }
  uint64_t size = head->fragment_header().size();
  const net::Connection::ChunkWriter io_fn =
      [this, &out](std::span<const uint8_t> data) -> asio::awaitable<Result<void>> {
    auto job = [&out, data]() { return out.Write(data); };
    auto pooled = co_await RunOnPool(pool_, std::move(job));
    co_return pooled;
  };
  auto got = co_await conn->ReceiveStream(*ex, size, io_fn);
  conn->Finish(ex);
  if (!got.ok()) co_return std::move(got).error();
  auto finish = [&out]() { return out.Finish(); };
  auto pooled = co_await RunOnPool(pool_, std::move(finish));
  co_return pooled;
}

// ---- serving -------------------------------------------------------------------

asio::awaitable<void> Node::HandleEntry(std::weak_ptr<Node> weak,
                                        std::shared_ptr<net::Connection> conn,
                                        std::shared_ptr<net::Exchange> ex, wire::Envelope req) {
  auto self = weak.lock();
  if (!self || self->stopped_) {
    (void)conn->Reply(*ex, net::MakeErrorEnvelope(0, ErrorCode::kCancelled, "node stopping"));
    co_return;
  }
  co_await self->Handle(std::move(conn), std::move(ex), std::move(req));
}

asio::awaitable<void> Node::Handle(std::shared_ptr<net::Connection> conn,
                                   std::shared_ptr<net::Exchange> ex, wire::Envelope req) {
  auto self = shared_from_this();
  ++stats_.requests_served;
  if (auto c = ContactOf(conn->peer())) Observe(*c);
  wire::Envelope resp;
  using B = wire::Envelope::BodyCase;
  switch (req.body_case()) {
    case B::kPing:
      resp.mutable_pong()->set_capabilities(wire::CAPABILITY_DHT |
                                            (handler() ? wire::CAPABILITY_REPLICATION : 0));
      break;
    case B::kFindNode: {
      auto target = IdFrom<core::NodeId>(req.find_node().target());
      auto* nodes = resp.mutable_nodes();
      for (const auto& c : routing_.Closest(target, config_.routing.k + 1)) {
        if (c.id == conn->peer().id) continue;
        if (static_cast<std::size_t>(nodes->nodes_size()) >= net::kMaxContactsPerReply) break;
        ToWire(c, nodes->add_nodes());
      }
      break;
    }
    case B::kFindValue: {
      auto key = IdFrom<core::NodeId>(req.find_value().key());
      auto* value = resp.mutable_value();
      std::size_t bytes = 0;
      for (const auto& r : records_.Get(key, NowUnixMs())) {
        auto enc = r.Encode();
        if (static_cast<std::size_t>(value->records_size()) >= net::kMaxRecordsPerReply ||
            bytes + enc.size() > kMaxValueReplyBytes) {
          break;
        }
        bytes += enc.size();
        value->add_records(std::string(enc.begin(), enc.end()));
      }
      for (const auto& c : routing_.Closest(key, config_.routing.k + 1)) {
        if (c.id == conn->peer().id) continue;
        if (static_cast<std::size_t>(value->closer_size()) >= net::kMaxContactsPerReply) break;
        ToWire(c, value->add_closer());
      }
      break;
    }
    case B::kStore: {
      auto rec = Record::ParseVerified(AsBytes(req.store().record()));
      Result<void> stored = rec.ok() ? records_.Put(*rec, NowUnixMs()) : Result<void>(rec.error());
      if (!rec.ok()) ++stats_.records_refused;
      if (stored.ok()) {
        resp.mutable_stored();
      } else {
        resp = ErrorReply(stored.error());
      }
      break;
    }
    case B::kReplicate:
    case B::kAttestRequest:
    case B::kFetchFragment: {
      auto h = handler();
      if (!h) {
        resp = ErrorReply(MakeError(ErrorCode::kUnimplemented, "this node stores no fragments"));
        break;
      }
      if (req.has_replicate()) {
        co_await HandleReplicate(conn, ex, std::move(req), h);
      } else if (req.has_fetch_fragment()) {
        co_await HandleFetch(conn, ex, std::move(req), h);
      } else {
        co_await HandleAttest(conn, ex, std::move(req), h);
      }
      co_return;
    }
    default:
      resp = ErrorReply(
          MakeError(ErrorCode::kUnimplemented, "unexpected " + std::string(net::BodyName(req))));
      break;
  }
  (void)conn->Reply(*ex, std::move(resp));
}

asio::awaitable<void> Node::HandleAttest(std::shared_ptr<net::Connection> conn,
                                         std::shared_ptr<net::Exchange> ex, wire::Envelope req,
                                         std::shared_ptr<ReplicationHandler> h) {
  auto self = shared_from_this();
  auto handler = std::move(h);  // a body local (see RunOnPool)
  RequestContext ctx = ContextOf(conn->peer());
  auto tessera = IdFrom<core::ContentHash>(req.attest_request().tessera());
  std::array<uint8_t, 32> challenge{};
  std::copy_n(reinterpret_cast<const uint8_t*>(req.attest_request().challenge().data()), 32,
              challenge.begin());
  std::vector<uint32_t> indices(req.attest_request().indices().begin(),
                                req.attest_request().indices().end());
  auto job = [handler, ctx, tessera, challenge, indices]() {
    return handler->Attest(ctx, tessera, challenge, indices);
  };
  auto r = co_await RunOnPool(pool_, std::move(job));
  wire::Envelope resp;
  if (r.ok()) {
    ToWire(*r, resp.mutable_attest_response());
    wire::Envelope probe = resp;
    probe.set_version(net::kProtocolVersion);
    probe.set_request_id(ex->id());
    if (auto valid = net::ValidateEnvelope(probe); !valid.ok()) {
      resp = ErrorReply(MakeError(ErrorCode::kInternal, "attestation: " + valid.error().message));
    } else if (probe.ByteSizeLong() > net::kMaxFrameBytes) {
      // Never a silent drop (the requester would only see a timeout).
      resp = ErrorReply(MakeError(ErrorCode::kResourceExhausted,
                                  "attestation of " + std::to_string(r->proofs.size()) +
                                      " fragments does not fit in one frame; ask for fewer"));
    }
  } else {
    resp = ErrorReply(r.error());
  }
  (void)conn->Reply(*ex, std::move(resp));
}

asio::awaitable<void> Node::HandleReplicate(std::shared_ptr<net::Connection> conn,
                                            std::shared_ptr<net::Exchange> ex, wire::Envelope req,
                                            std::shared_ptr<ReplicationHandler> h) {
  auto self = shared_from_this();
  auto handler = std::move(h);  // a body local (see RunOnPool)
  auto envelope = FromWire(req.replicate().envelope());
  if (!envelope.ok()) {
    (void)conn->Reply(*ex, ErrorReply(envelope.error()));
    co_return;
  }
  RequestContext ctx = ContextOf(conn->peer());
  auto begin = [handler, ctx, env = *envelope]() { return handler->BeginReplicate(ctx, env); };
  auto begun = co_await RunOnPool(pool_, std::move(begin));
  if (!begun.ok()) {
    (void)conn->Reply(*ex, ErrorReply(begun.error()));
    co_return;
  }
  std::shared_ptr<IncomingFragment> incoming(std::move(begun).value());
  net::Connection::ChunkWriter io_fn =
      [this, incoming](std::span<const uint8_t> data) -> asio::awaitable<Result<void>> {
    auto job = [incoming, data]() { return incoming->Write(data); };
    auto pooled = co_await RunOnPool(pool_, std::move(job));
    co_return pooled;
  };
  auto got = co_await conn->ReceiveStream(*ex, envelope->table.plan.shard_size, io_fn);
  Result<core::ReplicateAck> ack = MakeError(ErrorCode::kInternal, "not finished");
  if (got.ok()) {
    auto finish = [incoming]() { return incoming->Finish(); };
    auto finished = co_await RunOnPool(pool_, std::move(finish));
    ack = std::move(finished);
  } else {
    ack = got.error();
  }
  // Discard (or release) the receiver on the pool: it may remove files.
  io_fn = nullptr;
  auto release = [incoming = std::move(incoming)]() mutable -> Result<void> {
    incoming.reset();
    return core::Ok();
  };
  (void)co_await RunOnPool(pool_, std::move(release));
  if (!conn->is_open()) co_return;
  wire::Envelope resp;
  if (ack.ok()) {
    ToWire(*ack, resp.mutable_replicate_ack());
  } else {
    resp = ErrorReply(ack.error());
  }
  (void)conn->Reply(*ex, std::move(resp));
}

asio::awaitable<void> Node::HandleFetch(std::shared_ptr<net::Connection> conn,
                                        std::shared_ptr<net::Exchange> ex, wire::Envelope req,
                                        std::shared_ptr<ReplicationHandler> h) {
  auto self = shared_from_this();
  auto handler = std::move(h);  // a body local (see RunOnPool)
  RequestContext ctx = ContextOf(conn->peer());
  auto tessera = IdFrom<core::ContentHash>(req.fetch_fragment().tessera());
  uint32_t index = req.fetch_fragment().index();
  auto open = [handler, ctx, tessera, index]() {
    return handler->OpenFragment(ctx, tessera, index);
  };
  auto opened = co_await RunOnPool(pool_, std::move(open));
  if (!opened.ok()) {
    (void)conn->Reply(*ex, ErrorReply(opened.error()));
    co_return;
  }
  std::shared_ptr<core::RandomAccessSource> source(std::move(opened).value());
  uint64_t size = source->Size();
  if (size == 0 || size > net::kMaxTransferBytes) {
    (void)conn->Reply(*ex,
                      ErrorReply(MakeError(ErrorCode::kInternal, "fragment size out of range")));
  } else {
    wire::Envelope head;
    head.mutable_fragment_header()->set_size(size);
    (void)conn->Reply(*ex, std::move(head));
    const net::Connection::ChunkReader io_fn =
        [this, source](uint64_t offset, std::span<uint8_t> out) -> asio::awaitable<Result<void>> {
      auto job = [source, offset, out]() { return source->ReadAt(offset, out); };
      auto pooled = co_await RunOnPool(pool_, std::move(job));
      co_return pooled;
    };
    auto sent = co_await conn->SendStream(*ex, size, io_fn);
    if (!sent.ok() && conn->is_open() && sent.error().code != ErrorCode::kProtocol) {
      (void)conn->Send(*ex, ErrorReply(sent.error()));
    }
  }
  auto release = [source = std::move(source)]() mutable -> Result<void> {
    source.reset();
    return core::Ok();
  };
  (void)co_await RunOnPool(pool_, std::move(release));
}

// ---- maintenance ---------------------------------------------------------------

asio::awaitable<void> Node::Maintain() {
  auto self = shared_from_this();
  maintenance_timer_.emplace(io_);
  auto now = SteadyClock::now();
  auto next_ping = now + config_.ping_interval;
  auto next_refresh = now + config_.refresh_interval;
  auto next_republish = now + config_.republish_interval;
  auto next_bootstrap = now + config_.bootstrap_retry;
  while (!stopped_) {
    maintenance_timer_->expires_after(config_.maintenance_tick);
    co_await maintenance_timer_->async_wait(kAwait);
    if (stopped_) break;
    now = SteadyClock::now();
    records_.Expire(NowUnixMs());

    if (routing_.size() == 0 && !config_.seeds.empty() && !bootstrapping_ &&
        now >= next_bootstrap && bootstrap_attempts_ < config_.bootstrap_attempts) {
      next_bootstrap = now + config_.bootstrap_retry;
      asio::co_spawn(
          io_,
          [self]() -> asio::awaitable<void> {
            auto r = co_await self->Bootstrap(self->config_.seeds);
            if (!r.ok()) spdlog::info("bootstrap retry: {}", r.error().ToString());
          },
          LogIfFailed{"bootstrap retry"});
    }
    if (now >= next_ping) {
      next_ping = now + config_.ping_interval;
      for (const auto& c : routing_.Stale(now, config_.ping_interval)) {
        asio::co_spawn(
            io_, [self, c]() { return self->PingContact(c); }, LogIfFailed{"liveness ping"});
      }
    }
    if (now >= next_refresh) {
      next_refresh = now + config_.refresh_interval;
      int launched = 0;
      for (int b : routing_.BucketsToRefresh(now, config_.refresh_interval)) {
        if (++launched > 16) break;
        routing_.MarkRefreshed(b, now);
        auto target = routing_.RandomIdIn(b, rng_);
        asio::co_spawn(
            io_, [self, target]() -> asio::awaitable<void> { (void)co_await self->Lookup(target); },
            LogIfFailed{"bucket refresh"});
      }
    }
    if (now >= next_republish) {
      next_republish = now + config_.republish_interval;
      int64_t unix_now = NowUnixMs();
      for (auto it = published_.begin(); it != published_.end();) {
        Record r = it->second;
        if (r.publisher == identity_.public_key()) {
          auto fresh = Record::Sign(identity_, r.type, r.key, r.value,
                                    unix_now + config_.record_ttl.count());
          if (fresh.ok()) r = std::move(fresh).value();
        }
        if (r.expires_unix_ms <= unix_now) {
          it = published_.erase(it);
          continue;
        }
        it->second = r;
        ++it;
        asio::co_spawn(
            io_, [self, r]() -> asio::awaitable<void> { (void)co_await self->Put(r); },
            LogIfFailed{"republish"});
      }
    }
  }
}

}  // namespace tesseras::dht
