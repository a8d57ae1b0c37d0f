// The dispatch of inbound requests of dht::Node, with the serving budgets
// applied before a request reaches the ReplicationHandler (serve_gate.h).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>

#include "dht/async.h"
#include "dht/convert.h"
#include "dht/node.h"
#include "dht/node_internal.h"
#include "dht/read_meter.h"

namespace tesseras::dht {

using core::ErrorCode;
using core::MakeError;
using core::Result;
using internal::AsBytes;
using internal::ErrorReply;
using internal::GaugeHold;
using internal::SteadyClock;

namespace {

constexpr std::size_t kMaxValueReplyBytes = 768 * 1024;
// What a fragment read costs when the kernel does not say how much a request
// made us read: the largest fragment a valid plan has (1 GiB / 48 data shards).
constexpr uint64_t kUnmeasuredFragmentCost = (1ull << 30) / 48 + 1;

RequestContext ContextOf(const net::PeerIdentity& p) {
  return RequestContext{p.id, p.public_key, p.address.to_string()};
}

Requester RequesterOf(const net::PeerIdentity& p) { return Requester{p.id, p.address}; }

// Runs `f` on the calling (pool) thread and records in `*bytes` what it read
// through read(2)-family calls, or UINT64_MAX if the kernel does not say.
template <typename F>
auto Metered(F f, std::shared_ptr<std::atomic<uint64_t>> bytes) {
  return [f = std::move(f), bytes]() mutable {
    auto before = ThreadBytesRead();
    auto r = f();
    auto after = ThreadBytesRead();
    bytes->store(before && after && *after >= *before ? *after - *before : UINT64_MAX);
    return r;
  };
}

double Seconds(SteadyClock::duration d) { return std::chrono::duration<double>(d).count(); }

// Refusals are logged once per remote IP and reason: ids are free, so a flood
// from many ids on one host is still one line per interval.
std::string LogKey(const net::PeerIdentity& p) { return p.address.to_string(); }

std::string WithId(const net::PeerIdentity& p, const std::string& detail) {
  return detail + " (node " + p.id.Short() + "…)";
}

}  // namespace

void Node::Refuse(net::Connection& conn, net::Exchange& ex, std::string_view reason, ErrorCode code,
                  const std::string& detail) {
  refusals_->Note(reason, LogKey(conn.peer()), WithId(conn.peer(), detail));
  (void)conn.Reply(ex, ErrorReply(MakeError(code, detail)));
}

bool Node::CloseTo(const core::NodeId& key) const {
  const std::size_t window = config_.routing.k + config_.store_slack;
  auto closer = routing_.Closest(key, window);
  if (closer.size() < window) return true;
  return core::XorDistance(key, identity_.node_id()) < core::XorDistance(key, closer.back().id);
}

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
      if (!rec.ok()) {
        ++stats_.records_refused;
        Refuse(*conn, *ex, "record_signature", rec.error().code, rec.error().message);
        co_return;
      }
      if (!CloseTo(rec->key)) {
        Refuse(*conn, *ex, "record_not_close", ErrorCode::kPermissionDenied,
               "this node is not among the " +
                   std::to_string(config_.routing.k + config_.store_slack) +
                   " closest it knows to key " + rec->key.Short() + "…");
        co_return;
      }
      std::string_view reason;
      auto stored = records_.Put(*rec, net::SubnetOf(conn->peer().address), NowUnixMs(), &reason);
      if (!stored.ok()) {
        Refuse(*conn, *ex, reason, stored.error().code, stored.error().message);
        co_return;
      }
      resp.mutable_stored();
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
  const Requester who = RequesterOf(conn->peer());
  if (auto wait = read_budget_.Admit(who, SteadyClock::now())) {
    Refuse(*conn, *ex, "read_budget", ErrorCode::kResourceExhausted,
           "read budget spent; retry in " + std::to_string(wait->count()) + " ms");
    co_return;
  }
  auto keys =
      SlotKeys(who, config_.serve.max_disk_requests_per_peer, config_.serve.max_disk_requests);
  if (!co_await disk_requests_.Take(keys, SteadyClock::now() + config_.serve.slot_wait)) {
    Refuse(*conn, *ex, "disk_requests", ErrorCode::kResourceExhausted,
           "too many requests reading fragments; retry later");
    co_return;
  }
  SlotLease slot(&disk_requests_, std::move(keys));
  RequestContext ctx = ContextOf(conn->peer());
  auto tessera = IdFrom<core::ContentHash>(req.attest_request().tessera());
  std::array<uint8_t, 32> challenge{};
  std::copy_n(reinterpret_cast<const uint8_t*>(req.attest_request().challenge().data()), 32,
              challenge.begin());
  std::vector<uint32_t> indices(req.attest_request().indices().begin(),
                                req.attest_request().indices().end());
  // Checked by wire::Validate: empty or 32 bytes.
  std::optional<core::NodeId> owner;
  if (!req.attest_request().owner().empty()) {
    owner = IdFrom<core::NodeId>(req.attest_request().owner());
  }
  auto read = std::make_shared<std::atomic<uint64_t>>(0);
  auto job = Metered([handler, ctx, tessera, challenge, indices,
                      owner]() { return handler->Attest(ctx, tessera, challenge, indices, owner); },
                     read);
  auto r = co_await RunOnPool(pool_, std::move(job));
  uint64_t cost = read->load();
  if (cost == UINT64_MAX) cost = r.ok() ? r->proofs.size() * kUnmeasuredFragmentCost : 0;
  read_budget_.Charge(who, cost, SteadyClock::now());
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
  // A slot before the handler hears of it: per node id, per IP and in all.
  auto keys = SlotKeys(RequesterOf(conn->peer()), config_.serve.max_inbound_transfers_per_peer,
                       config_.serve.max_inbound_transfers);
  if (!co_await inbound_transfers_.Take(keys, SteadyClock::now() + config_.serve.slot_wait)) {
    Refuse(*conn, *ex, "inbound_transfers", ErrorCode::kResourceExhausted,
           "too many fragments being received; retry later");
    co_return;
  }
  SlotLease slot(&inbound_transfers_, std::move(keys));
  GaugeHold inflight(*transfers_inflight_);
  const auto started = SteadyClock::now();
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
    if (got.error().code == ErrorCode::kTimeout ||
        got.error().code == ErrorCode::kResourceExhausted) {
      refusals_->Note(
          got.error().code == ErrorCode::kTimeout ? "transfer_too_slow" : "buffer_budget",
          LogKey(conn->peer()), WithId(conn->peer(), got.error().message));
    }
  }
  // Discard (or release) the receiver on the pool: it may remove files.
  io_fn = nullptr;
  auto release = [incoming = std::move(incoming)]() mutable -> Result<void> {
    incoming.reset();
    return core::Ok();
  };
  (void)co_await RunOnPool(pool_, std::move(release));
  if (ack.ok()) transfer_in_seconds_->Observe(Seconds(SteadyClock::now() - started));
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
  const Requester who = RequesterOf(conn->peer());
  if (auto wait = read_budget_.Admit(who, SteadyClock::now())) {
    Refuse(*conn, *ex, "read_budget", ErrorCode::kResourceExhausted,
           "read budget spent; retry in " + std::to_string(wait->count()) + " ms");
    co_return;
  }
  auto transfer_keys = SlotKeys(who, config_.serve.max_outbound_transfers_per_peer,
                                config_.serve.max_outbound_transfers);
  if (!co_await outbound_transfers_.Take(transfer_keys,
                                         SteadyClock::now() + config_.serve.slot_wait)) {
    Refuse(*conn, *ex, "outbound_transfers", ErrorCode::kResourceExhausted,
           "too many fragments being sent; retry later");
    co_return;
  }
  SlotLease transfer(&outbound_transfers_, std::move(transfer_keys));
  RequestContext ctx = ContextOf(conn->peer());
  auto tessera = IdFrom<core::ContentHash>(req.fetch_fragment().tessera());
  uint32_t index = req.fetch_fragment().index();
  // Checked by wire::Validate: empty or 32 bytes.
  std::optional<core::NodeId> owner;
  if (!req.fetch_fragment().owner().empty()) {
    owner = IdFrom<core::NodeId>(req.fetch_fragment().owner());
  }
  Result<std::unique_ptr<core::RandomAccessSource>> opened =
      MakeError(ErrorCode::kInternal, "not opened");
  auto read = std::make_shared<std::atomic<uint64_t>>(0);
  {
    auto keys =
        SlotKeys(who, config_.serve.max_disk_requests_per_peer, config_.serve.max_disk_requests);
    if (!co_await disk_requests_.Take(keys, SteadyClock::now() + config_.serve.slot_wait)) {
      Refuse(*conn, *ex, "disk_requests", ErrorCode::kResourceExhausted,
             "too many requests reading fragments; retry later");
      co_return;
    }
    SlotLease disk(&disk_requests_, std::move(keys));
    auto open = Metered([handler, ctx, tessera, index,
                         owner]() { return handler->OpenFragment(ctx, tessera, index, owner); },
                        read);
    opened = co_await RunOnPool(pool_, std::move(open));
  }
  if (!opened.ok()) {
    uint64_t cost = read->load();
    read_budget_.Charge(who, cost == UINT64_MAX ? 0 : cost, SteadyClock::now());
    (void)conn->Reply(*ex, ErrorReply(opened.error()));
    co_return;
  }
  std::shared_ptr<core::RandomAccessSource> source(std::move(opened).value());
  uint64_t size = source->Size();
  // What opening read (e.g. a verification), and the fragment we now send.
  uint64_t open_cost = read->load();
  read_budget_.Charge(who, (open_cost == UINT64_MAX ? size : open_cost) + size, SteadyClock::now());
  if (size == 0 || size > net::kMaxTransferBytes) {
    (void)conn->Reply(*ex,
                      ErrorReply(MakeError(ErrorCode::kInternal, "fragment size out of range")));
  } else {
    GaugeHold inflight(*transfers_inflight_);
    const auto started = SteadyClock::now();
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
    if (sent.ok()) {
      transfer_out_seconds_->Observe(Seconds(SteadyClock::now() - started));
    } else {
      if (sent.error().code == ErrorCode::kTimeout) {
        refusals_->Note("transfer_too_slow", LogKey(conn->peer()),
                        WithId(conn->peer(), sent.error().message));
      }
      if (conn->is_open() && sent.error().code != ErrorCode::kProtocol) {
        (void)conn->Send(*ex, ErrorReply(sent.error()));
      }
    }
  }
  auto release = [source = std::move(source)]() mutable -> Result<void> {
    source.reset();
    return core::Ok();
  };
  (void)co_await RunOnPool(pool_, std::move(release));
}

}  // namespace tesseras::dht
