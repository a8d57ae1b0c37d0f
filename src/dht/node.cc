#include "dht/node.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "dht/async.h"
#include "dht/convert.h"
#include "dht/memory_published_store.h"
#include "dht/node_internal.h"

namespace tesseras::dht {

using core::ErrorCode;
using core::MakeError;
using core::Result;
using internal::EncodedKey;
using internal::GaugeHold;
using internal::kAwait;
using internal::SteadyClock;

namespace {

// Identity of a published record for republishing: key, type, publisher (a
// store keeps one record per such triple, the newest; so do we).
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

double Seconds(SteadyClock::duration d) { return std::chrono::duration<double>(d).count(); }

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
      published_(config_.published ? config_.published
                                   : std::make_shared<MemoryPublishedRecordStore>()),
      published_io_(std::make_unique<asio::thread_pool>(1)),
      signer_(std::make_shared<const crypto::Identity>(identity)),
      rng_(std::random_device{}()),
      own_metrics_(config_.metrics ? nullptr : std::make_unique<core::MetricsRegistry>()),
      metrics_(config_.metrics ? config_.metrics : own_metrics_.get()),
      refusals_(std::make_unique<Refusals>(*metrics_, config_.refusal_log_interval)),
      inbound_transfers_(io_, config_.serve.max_inbound_transfers),
      outbound_transfers_(io_, config_.serve.max_outbound_transfers),
      disk_requests_(io_, config_.serve.max_disk_requests),
      read_budget_(config_.serve),
      transfers_inflight_(&metrics_->GetGauge("tesseras_transfers_inflight",
                                              "Fragment transfers in progress, both directions")),
      transfer_in_seconds_(
          &metrics_->GetHistogram("tesseras_transfer_duration_seconds",
                                  "Time of completed fragment transfers (in: received, out: sent)",
                                  core::DurationBuckets(), {{"direction", "in"}})),
      transfer_out_seconds_(
          &metrics_->GetHistogram("tesseras_transfer_duration_seconds",
                                  "Time of completed fragment transfers (in: received, out: sent)",
                                  core::DurationBuckets(), {{"direction", "out"}})) {
  if (config_.routing.k == 0) config_.routing.k = 20;
  if (config_.alpha == 0) config_.alpha = 3;
  // The round begins at a random key (publish keys begin with the record's
  // key, a hash): a node restarted more often than republish_interval still
  // republishes every record, not only those early in key order.
  republish_cursor_.resize(sizeof(core::NodeId::bytes));
  for (char& c : republish_cursor_) c = static_cast<char>(rng_() & 0xff);
}

Node::~Node() {
  if (endpoint_) endpoint_->Stop();
  published_io_->join();  // records being remembered are written before the store goes
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
  endpoint_->SetRefusalObserver(
      [weak](net::AdmissionRefusal why, const net::asio::ip::address& ip) {
        auto self = weak.lock();
        if (!self) return;
        self->refusals_->Note(net::AdmissionRefusalName(why), ip.to_string(),
                              "connection closed: budget spent");
      });
  TRY(endpoint_->Listen(local));
  scope_ = net::ResolveContactScope(config_.contact_scope, endpoint_->local_endpoint().address());
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

void Node::Observe(const Contact& c, bool trusted) {
  if (c.id == identity_.node_id() || stopped_) return;
  if (!trusted && !net::ContactAllowed(scope_, c.endpoint.address())) {
    ++stats_.contacts_out_of_scope;
    return;
  }
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
  if (!net::ContactAllowed(scope_, ep.address())) {
    ++stats_.contacts_out_of_scope;
    co_return MakeError(ErrorCode::kPermissionDenied,
                        "will not dial " + peer.address + ": a " +
                            net::ScopeName(net::ScopeOf(ep.address())) +
                            " address is outside this node's contact scope");
  }
  auto conn = co_await endpoint_->Connect(ep, peer.id);
  if (!conn.ok() && Failure(conn.error())) routing_.Failed(peer.id);
  co_return conn;
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
            Observe(*c, /*trusted=*/true);  // the operator named it
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
  {
    auto store = published_;
    auto remember = [store, key = PublishKey(record), bytes = record.Encode(),
                     expires = record.expires_unix_ms]() {
      return store->Put(key, bytes, expires);
    };
    auto remembered = co_await RunOnPool(*published_io_, std::move(remember));
    if (!remembered.ok()) LogIfFailed{"remembering a record to republish"}(remembered.error());
  }
  auto spread = co_await Spread(std::move(record));
  co_return spread;
}

asio::awaitable<Result<std::size_t>> Node::Spread(Record record) {
  auto self = shared_from_this();
  const int64_t now = NowUnixMs();
  std::vector<Contact> closest;
  auto found = co_await Lookup(record.key);
  if (found.ok()) closest = std::move(found).value();
  std::size_t accepted = 0;
  // Keep a copy ourselves when we are among the k closest.
  bool self_close =
      closest.size() < config_.routing.k || core::XorDistance(record.key, identity_.node_id()) <
                                                core::XorDistance(record.key, closest.back().id);
  if (self_close &&
      records_.Put(record, net::SubnetOf(endpoint_->local_endpoint().address()), now).ok()) {
    ++accepted;
  }
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
  auto st =
      co_await Iterate(key, true, config_.routing.k, SteadyClock::now() + config_.lookup_timeout);
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
  GaugeHold inflight(*transfers_inflight_);
  const auto started = SteadyClock::now();
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
  transfer_out_seconds_->Observe(Seconds(SteadyClock::now() - started));
  co_return ack;
}

asio::awaitable<Result<core::Attestation>> Node::Attest(core::PeerInfo peer,
                                                        core::ContentHash tessera,
                                                        std::array<uint8_t, 32> challenge,
                                                        std::vector<uint32_t> indices,
                                                        std::optional<core::NodeId> owner) {
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
  if (owner) req.mutable_attest_request()->set_owner(Bytes(owner->bytes));
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
                                          uint32_t index, core::ByteSink& out,
                                          std::optional<core::NodeId> owner) {
  auto self = shared_from_this();
  if (index >= net::kMaxShards) co_return MakeError(ErrorCode::kInvalidArgument, "bad index");
  CO_ASSIGN_OR_RETURN(auto conn, co_await ConnectPeer(peer));
  wire::Envelope req;
  req.mutable_fetch_fragment()->set_tessera(Bytes(tessera.bytes));
  req.mutable_fetch_fragment()->set_index(index);
  if (owner) req.mutable_fetch_fragment()->set_owner(Bytes(owner->bytes));
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
  GaugeHold inflight(*transfers_inflight_);
  const auto started = SteadyClock::now();
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
  if (pooled.ok()) transfer_in_seconds_->Observe(Seconds(SteadyClock::now() - started));
  co_return pooled;
}

// ---- maintenance ---------------------------------------------------------------

asio::awaitable<void> Node::Maintain() {
  auto self = shared_from_this();
  maintenance_timer_.emplace(io_);
  auto now = SteadyClock::now();
  auto next_ping = now + config_.ping_interval;
  auto next_refresh = now + config_.refresh_interval;
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
    co_await RepublishShare(config_.maintenance_tick);
  }
}

namespace {

// What one tick takes from the store: the records to send (ours re-signed
// and written back), and the publish key examined last.
struct RepublishPage {
  std::vector<Record> send;
  std::string cursor;
};

// Walks the store from `cursor` (after it, wrapping round to the first key)
// until `due` records are ready to send or all `count` were examined, reading
// at most `due` records at a time. Our own records are re-signed with a fresh
// expiry and written back (unless a Put replaced them meanwhile: that Put
// spreads the new one); others' records that expired, and rows that no longer
// parse and verify, are removed. Runs on published_io_.
Result<RepublishPage> TakeRepublishShare(core::PublishedRecordStore& store,
                                         const crypto::Identity& identity, std::string cursor,
                                         std::size_t due, uint64_t count, int64_t now,
                                         int64_t ttl_ms) {
  RepublishPage out;
  out.cursor = std::move(cursor);
  uint64_t seen = 0;
  while (out.send.size() < due && seen < count) {
    const auto want =
        static_cast<std::size_t>(std::min<uint64_t>(due - out.send.size(), count - seen));
    ASSIGN_OR_RETURN(auto page, store.ListAfter(out.cursor, want));
    if (page.empty()) {
      if (out.cursor.empty()) break;  // the store is empty (the count was stale)
      out.cursor.clear();             // past the last key: round to the first
      continue;
    }
    for (auto& entry : page) {
      ++seen;
      out.cursor = entry.key;
      auto parsed = Record::ParseVerified(entry.record);
      if (!parsed.ok()) {
        spdlog::warn("republish: dropping a stored record that does not verify: {}",
                     parsed.error().ToString());
        TRY(store.Erase(entry.key, entry.record));
        continue;
      }
      Record r = std::move(parsed).value();
      if (r.publisher == identity.public_key()) {
        auto fresh = Record::Sign(identity, r.type, r.key, r.value, now + ttl_ms);
        if (fresh.ok()) {
          const auto encoded = fresh->Encode();
          if (!TRY(store.Replace(entry.key, entry.record, encoded, fresh->expires_unix_ms))) {
            continue;
          }
          r = std::move(fresh).value();
        }
      }
      if (r.expires_unix_ms <= now) {  // someone else's record, run out
        TRY(store.Erase(entry.key, entry.record));
        continue;
      }
      out.send.push_back(std::move(r));
    }
  }
  return out;
}

}  // namespace

asio::awaitable<void> Node::RepublishShare(Millis tick) {
  auto self = shared_from_this();
  auto store = published_;
  auto count_job = [store]() { return store->Count(); };
  auto count = co_await RunOnPool(*published_io_, std::move(count_job));
  if (!count.ok()) {
    LogIfFailed{"republish (counting records)"}(count.error());
    co_return;
  }
  const uint64_t records = *count;
  if (records == 0) {
    republish_credit_ = 0;
    co_return;
  }
  const double interval =
      static_cast<double>(std::max<int64_t>(1, config_.republish_interval.count()));
  republish_credit_ += static_cast<double>(records) * static_cast<double>(tick.count()) / interval;
  // A backlog (Puts slower than the pace) never grows past one whole round.
  republish_credit_ = std::min(republish_credit_, static_cast<double>(records));
  const std::size_t room = config_.max_republish_in_flight > republish_in_flight_
                               ? config_.max_republish_in_flight - republish_in_flight_
                               : 0;
  const std::size_t due = std::min(room, static_cast<std::size_t>(republish_credit_));
  if (due == 0) co_return;
  auto page_job = [store, signer = signer_, cursor = republish_cursor_, due, records,
                   now = NowUnixMs(), ttl = config_.record_ttl.count()]() {
    return TakeRepublishShare(*store, *signer, cursor, due, records, now, ttl);
  };
  auto page = co_await RunOnPool(*published_io_, std::move(page_job));
  if (!page.ok()) {
    LogIfFailed{"republish (reading records)"}(page.error());
    co_return;
  }
  if (stopped_) co_return;
  republish_cursor_ = std::move(page->cursor);
  const std::size_t started = page->send.size();
  for (auto& r : page->send) {
    ++republish_in_flight_;
    asio::co_spawn(
        io_,
        [self, r = std::move(r)]() -> asio::awaitable<void> {
          struct Done {
            Node& n;
            ~Done() { --n.republish_in_flight_; }
          } done{*self};
          (void)co_await self->Spread(r);
        },
        LogIfFailed{"republish"});
  }
  republish_credit_ -= static_cast<double>(started);
  stats_.records_republished += started;
  stats_.republish_peak_per_tick = std::max<uint64_t>(stats_.republish_peak_per_tick, started);
  stats_.republish_peak_in_flight =
      std::max<uint64_t>(stats_.republish_peak_in_flight, republish_in_flight_);
}

}  // namespace tesseras::dht
