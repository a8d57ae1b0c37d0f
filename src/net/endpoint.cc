#include "net/endpoint.h"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <charconv>

#include "net/fd_limit.h"
#include "net/tls.h"

namespace tesseras::net {
namespace {

using core::ErrorCode;
using core::MakeError;
using core::Result;
constexpr auto kAwait = asio::as_tuple(asio::use_awaitable);

void LogFailure(std::string_view what, std::exception_ptr e) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    spdlog::error("{} failed: {}", what, ex.what());
  }
}

}  // namespace

Result<tcp::endpoint> ParseEndpoint(std::string_view text) {
  std::string_view host;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return MakeError(ErrorCode::kInvalidArgument, "bad address " + std::string(text));
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      return MakeError(ErrorCode::kInvalidArgument, "address without port: " + std::string(text));
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  unsigned value = 0;
  auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (ec != std::errc() || p != port.data() + port.size() || port.empty() || value > 65535) {
    return MakeError(ErrorCode::kInvalidArgument, "bad port in " + std::string(text));
  }
  boost::system::error_code aec;
  auto addr = asio::ip::make_address(std::string(host), aec);
  if (aec) return MakeError(ErrorCode::kInvalidArgument, "bad IP in " + std::string(text));
  return tcp::endpoint(addr, static_cast<uint16_t>(value));
}

std::string FormatEndpoint(const tcp::endpoint& ep) {
  if (ep.address().is_v6()) {
    return "[" + ep.address().to_string() + "]:" + std::to_string(ep.port());
  }
  return ep.address().to_string() + ":" + std::to_string(ep.port());
}

struct Endpoint::PendingDial {
  explicit PendingDial(asio::any_io_executor ex) : signal(ex) {}
  asio::steady_timer signal;
  std::optional<Result<std::shared_ptr<Connection>>> result;
};

namespace {

AdmissionLimits AdmissionOf(const Limits& l) {
  AdmissionLimits a;
  a.max_connections_per_ip = l.max_connections_per_ip;
  a.max_connections_per_subnet = l.max_connections_per_subnet;
  a.max_handshakes = l.max_handshakes;
  a.max_handshakes_per_ip = l.max_handshakes_per_ip;
  a.max_handshakes_per_subnet = l.max_handshakes_per_subnet;
  return a;
}

}  // namespace

Endpoint::Endpoint(asio::any_io_executor ex, const crypto::Identity& identity, Limits limits,
                   uint64_t capabilities)
    : ex_(std::move(ex)),
      identity_(identity),
      limits_(limits),
      capabilities_(capabilities),
      admission_(AdmissionOf(limits)),
      budget_(std::make_shared<MemoryBudget>(ex_, limits.max_buffer_bytes)),
      max_connections_(limits.max_connections) {
  auto tls = MakeTlsContext(identity_);
  if (tls.ok()) {
    tls_ = std::move(tls).value();
  } else {
    spdlog::error("TLS context: {}", tls.error().ToString());
  }
}

Endpoint::~Endpoint() { Stop(); }

Result<void> Endpoint::Listen(const tcp::endpoint& local) {
  if (!tls_) return MakeError(ErrorCode::kInternal, "no TLS context");
  boost::system::error_code ec;
  acceptor_.emplace(ex_);
  acceptor_->open(local.protocol(), ec);
  if (!ec) acceptor_->set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor_->bind(local, ec);
  if (!ec) acceptor_->listen(asio::socket_base::max_listen_connections, ec);
  if (!ec) local_ = acceptor_->local_endpoint(ec);
  if (ec) {
    acceptor_.reset();
    return MakeError(ErrorCode::kUnavailable,
                     "cannot listen on " + FormatEndpoint(local) + ": " + ec.message());
  }
  // Connections and handshakes must fit in the descriptors we may open.
  if (auto fds = FileLimit(); fds.ok()) {
    uint64_t usable = *fds > limits_.reserved_descriptors ? *fds - limits_.reserved_descriptors : 0;
    descriptor_budget_ = static_cast<std::size_t>(std::max<uint64_t>(usable, 16));
    std::size_t wanted = limits_.max_connections + limits_.max_handshakes;
    if (wanted > descriptor_budget_) {
      max_connections_ = descriptor_budget_ > limits_.max_handshakes + 8
                             ? descriptor_budget_ - limits_.max_handshakes
                             : 8;
      spdlog::warn(
          "file descriptors: limit {} leaves {} for peers; max_connections lowered from {} to {}",
          *fds, descriptor_budget_, limits_.max_connections, max_connections_);
    }
  }
  handshake_slot_.emplace(ex_);
  asio::co_spawn(ex_, AcceptLoop(), [](std::exception_ptr e) { LogFailure("accept loop", e); });
  return core::Ok();
}

asio::awaitable<void> Endpoint::AcceptLoop() {
  auto self = shared_from_this();
  constexpr Millis kFirstBackoff{5};
  constexpr Millis kMaxBackoff{1000};
  Millis backoff = kFirstBackoff;
  asio::steady_timer pause(ex_);
  auto last_warning = std::chrono::steady_clock::now() - std::chrono::seconds(2);
  while (!stopped_ && acceptor_) {
    // Handshakes in flight have their own budget: when it is spent, stop
    // accepting until one ends (the kernel's backlog holds the rest).
    while (!admission_.HandshakeSlotFree() && !stopped_) {
      handshake_slot_->expires_at(std::chrono::steady_clock::time_point::max());
      (void)co_await handshake_slot_->async_wait(kAwait);
    }
    if (stopped_ || !acceptor_) break;
    auto [ec, socket] = co_await acceptor_->async_accept(kAwait);
    if (stopped_ || !acceptor_ || ec == asio::error::operation_aborted) break;
    if (ec) {
      // E.g. EMFILE: retrying at once would spin. Back off, warn at most once a second.
      ++accept_errors_;
      auto now = std::chrono::steady_clock::now();
      if (now - last_warning >= std::chrono::seconds(1)) {
        spdlog::warn("accept: {} (retrying in {} ms)", ec.message(), backoff.count());
        last_warning = now;
      }
      pause.expires_after(backoff);
      (void)co_await pause.async_wait(kAwait);
      backoff = std::min(kMaxBackoff, backoff * 2);
      continue;
    }
    backoff = kFirstBackoff;
    boost::system::error_code rec;
    auto remote = socket.remote_endpoint(rec);
    if (rec) continue;  // already gone
    AdmissionRefusal why = admission_.CheckHandshake(remote.address());
    if (why == AdmissionRefusal::kNone && descriptor_budget_ != 0 &&
        connections_.size() + handshaking_ >= descriptor_budget_ && !MakeRoom()) {
      why = AdmissionRefusal::kFileDescriptors;
    }
    if (why == AdmissionRefusal::kNone && connections_.size() >= max_connections_ && !MakeRoom()) {
      why = AdmissionRefusal::kConnections;
    }
    if (why != AdmissionRefusal::kNone) {
      Refused(why, remote.address());
      boost::system::error_code ignored;
      socket.close(ignored);
      continue;
    }
    // Counted here, before the next accept, and released by HandleInbound.
    ++handshaking_;
    admission_.BeginHandshake(remote.address());
    asio::co_spawn(ex_, HandleInbound(std::move(socket), remote.address()),
                   [](std::exception_ptr e) { LogFailure("inbound handshake", e); });
  }
}

void Endpoint::Refused(AdmissionRefusal why, const asio::ip::address& ip) {
  ++admissions_refused_;
  if (on_refusal_) {
    on_refusal_(why, ip);
  } else {
    spdlog::debug("connection from {} refused: {}", ip.to_string(), AdmissionRefusalName(why));
  }
}

asio::awaitable<void> Endpoint::HandleInbound(tcp::socket socket, asio::ip::address remote) {
  auto self = shared_from_this();
  boost::system::error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);
  auto stream = std::make_shared<TlsSocket>(std::move(socket), *tls_);
  auto peer = co_await Handshake(stream, /*dialer=*/false, std::nullopt);
  --handshaking_;
  admission_.EndHandshake(remote);
  if (handshake_slot_) handshake_slot_->cancel();
  if (!peer.ok()) {
    ++handshakes_refused_;
    spdlog::debug("inbound handshake refused: {}", peer.error().ToString());
    stream->Close();
    co_return;
  }
  if (stopped_) {
    stream->Close();
    co_return;
  }
  // The budgets may have filled while this handshake ran.
  AdmissionRefusal why = admission_.CheckInbound(remote);
  if (why == AdmissionRefusal::kNone && connections_.size() >= max_connections_ && !MakeRoom()) {
    why = AdmissionRefusal::kConnections;
  }
  if (why == AdmissionRefusal::kNone && !MakeRoomForNode(peer->id)) {
    why = AdmissionRefusal::kConnectionsPerNode;
  }
  if (why != AdmissionRefusal::kNone) {
    Refused(why, remote);
    co_await RefuseAfterHandshake(
        stream, std::string("connection refused: ") + AdmissionRefusalName(why) + " budget spent");
    co_return;
  }
  Register(stream, std::move(peer).value(), /*dialer=*/false);
}

asio::awaitable<void> Endpoint::RefuseAfterHandshake(std::shared_ptr<TlsSocket> stream,
                                                     std::string why) {
  auto self = shared_from_this();
  auto err = EncodeFrame(MakeErrorEnvelope(0, ErrorCode::kResourceExhausted, why));
  if (err.ok()) {
    asio::steady_timer deadline(ex_);
    deadline.expires_after(limits_.handshake_timeout);
    deadline.async_wait([stream](boost::system::error_code ec) {
      if (!ec) stream->Close();
    });
    (void)co_await stream->Write(asio::buffer(*err));
    deadline.cancel();
  }
  stream->Close();
}

asio::awaitable<Result<PeerIdentity>> Endpoint::Handshake(std::shared_ptr<TlsSocket> stream,
                                                          bool dialer,
                                                          std::optional<core::NodeId> expected) {
  auto self = shared_from_this();
  auto timed_out = std::make_shared<bool>(false);
  asio::steady_timer deadline(ex_);
  deadline.expires_after(limits_.handshake_timeout);
  deadline.async_wait([stream, timed_out](boost::system::error_code ec) {
    if (ec) return;
    *timed_out = true;
    stream->Close();
  });
  auto fail = [&](ErrorCode code, std::string what) -> core::Error {
    deadline.cancel();
    stream->Close();
    if (*timed_out) return MakeError(ErrorCode::kTimeout, "handshake timed out");
    return MakeError(code, std::move(what));
  };

  auto tls =
      co_await stream->Handshake(dialer ? TlsSocket::Role::kClient : TlsSocket::Role::kServer);
  if (!tls.ok()) co_return fail(tls.error().code, tls.error().message);
  auto pk = PeerPublicKey(stream->native_handle());
  if (!pk.ok()) co_return fail(pk.error().code, pk.error().message);

  wire::Envelope hello;
  hello.set_version(kProtocolVersion);
  hello.set_request_id(0);
  auto* h = hello.mutable_hello();
  h->set_node_id(std::string(identity_.node_id().bytes.begin(), identity_.node_id().bytes.end()));
  h->set_pow_nonce(identity_.pow_nonce());
  h->set_listen_port(acceptor_ ? local_.port() : 0);
  h->set_capabilities(capabilities_);
  auto frame = EncodeFrame(hello);
  if (!frame.ok()) co_return fail(frame.error().code, frame.error().message);
  auto sent = co_await stream->Write(asio::buffer(*frame));
  if (!sent.ok()) co_return fail(sent.error().code, "sending Hello: " + sent.error().message);

  std::vector<uint8_t> buf;
  auto read = co_await ReadFrame(*stream, buf);
  if (!read.ok()) co_return fail(read.error().code, "reading Hello: " + read.error().message);
  auto env = DecodePayload(buf);
  if (!env.ok()) co_return fail(env.error().code, "bad Hello: " + env.error().message);
  if (env->has_error()) {
    auto err = ErrorFromWire(env->error());
    co_return fail(err.code, err.message);
  }
  if (!env->has_hello()) co_return fail(ErrorCode::kProtocol, "first frame is not a Hello");

  PeerIdentity peer;
  peer.id =
      core::NodeId::FromSpan(
          std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(env->hello().node_id().data()),
                                   env->hello().node_id().size()))
          .value();
  peer.public_key = *pk;
  peer.pow_nonce = env->hello().pow_nonce();
  peer.listen_port = static_cast<uint16_t>(env->hello().listen_port());
  peer.capabilities = env->hello().capabilities();
  boost::system::error_code rec;
  peer.address = stream->socket().remote_endpoint(rec).address();
  if (rec) co_return fail(ErrorCode::kUnavailable, "peer went away");

  core::Result<void> verdict =
      crypto::VerifyNodeIdentity(peer.id, peer.public_key, peer.pow_nonce, limits_.min_pow_bits);
  if (verdict.ok() && expected && *expected != peer.id) {
    verdict = MakeError(ErrorCode::kPermissionDenied, "expected node " + expected->Short() +
                                                          "…, reached " + peer.id.Short() + "…");
  }
  if (verdict.ok() && peer.id == identity_.node_id()) {
    verdict = MakeError(ErrorCode::kInvalidArgument, "connected to ourselves");
  }
  if (!verdict.ok()) {
    // Tell the peer why, then close.
    auto err = EncodeFrame(MakeErrorEnvelope(0, verdict.error().code, verdict.error().message));
    if (err.ok()) (void)co_await stream->Write(asio::buffer(*err));
    co_return fail(verdict.error().code, verdict.error().message);
  }
  deadline.cancel();
  co_return peer;
}

std::shared_ptr<Connection> Endpoint::Register(std::shared_ptr<TlsSocket> stream, PeerIdentity peer,
                                               bool dialer) {
  auto conn =
      std::make_shared<Connection>(std::move(stream), std::move(peer), dialer, limits_, budget_);
  if (stopped_) {
    conn->Close(MakeError(ErrorCode::kCancelled, "endpoint stopped"));
    return conn;
  }
  connections_.insert(conn);
  if (!dialer) admission_.AddInbound(conn->peer().address);
  by_id_[conn->peer().id] = conn;
  if (auto addr = conn->peer().ListenAddress(); !addr.empty()) by_address_[addr] = conn;
  conn->Start(on_request_, [this](Connection* c) {
    for (auto it = connections_.begin(); it != connections_.end(); ++it) {
      if (it->get() == c) {
        connections_.erase(it);
        if (!c->dialer()) admission_.RemoveInbound(c->peer().address);
        break;
      }
    }
    if (auto it = by_id_.find(c->peer().id); it != by_id_.end()) {
      auto locked = it->second.lock();
      if (!locked || locked.get() == c) by_id_.erase(it);
    }
    if (auto it = by_address_.find(c->peer().ListenAddress()); it != by_address_.end()) {
      auto locked = it->second.lock();
      if (!locked || locked.get() == c) by_address_.erase(it);
    }
  });
  if (on_peer_) on_peer_(conn->peer());
  return conn;
}

std::size_t Endpoint::queued_frames() const {
  std::size_t n = 0;
  for (const auto& c : connections_) n += c->queued_frames();
  return n;
}

uint64_t Endpoint::frames_dropped() const {
  uint64_t n = 0;
  for (const auto& c : connections_) n += c->frames_dropped();
  return n;
}

bool Endpoint::MakeRoomForNode(const core::NodeId& id) {
  std::size_t count = 0;
  std::shared_ptr<Connection> oldest_idle;
  for (const auto& c : connections_) {
    if (c->peer().id != id || !c->is_open()) continue;
    ++count;
    if (c->open_exchanges() == 0 &&
        (!oldest_idle || c->last_activity() < oldest_idle->last_activity())) {
      oldest_idle = c;
    }
  }
  if (count < limits_.max_connections_per_node) return true;
  if (!oldest_idle) return false;
  oldest_idle->Close(
      MakeError(ErrorCode::kResourceExhausted, "replaced by a newer connection of the same node"));
  return true;
}

std::shared_ptr<Connection> Endpoint::Reusable(const tcp::endpoint& remote,
                                               const std::optional<core::NodeId>& expected) {
  if (expected) {
    if (auto it = by_id_.find(*expected); it != by_id_.end()) {
      if (auto c = it->second.lock(); c && c->is_open()) return c;
    }
  }
  if (auto it = by_address_.find(FormatEndpoint(remote)); it != by_address_.end()) {
    if (auto c = it->second.lock(); c && c->is_open() && (!expected || c->peer().id == *expected)) {
      return c;
    }
  }
  return nullptr;
}

bool Endpoint::MakeRoom() {
  std::shared_ptr<Connection> victim;
  for (const auto& c : connections_) {
    if (c->open_exchanges() != 0) continue;
    if (!victim || c->last_activity() < victim->last_activity()) victim = c;
  }
  if (!victim) return false;
  victim->Close(MakeError(ErrorCode::kResourceExhausted, "closed to make room"));
  return true;
}

asio::awaitable<Result<std::shared_ptr<Connection>>> Endpoint::Connect(
    tcp::endpoint remote, std::optional<core::NodeId> expected) {
  auto self = shared_from_this();
  if (stopped_) co_return MakeError(ErrorCode::kCancelled, "endpoint stopped");
  if (auto c = Reusable(remote, expected)) co_return c;
  std::string key = FormatEndpoint(remote);
  if (auto it = dialing_.find(key); it != dialing_.end()) {
    auto pending = it->second;
    while (!pending->result) {
      pending->signal.expires_at(std::chrono::steady_clock::time_point::max());
      co_await pending->signal.async_wait(kAwait);
    }
    if (!pending->result->ok()) co_return pending->result->error();
    auto conn = pending->result->value();
    if (expected && conn->peer().id != *expected) {
      co_return MakeError(ErrorCode::kPermissionDenied,
                          "expected node " + expected->Short() + "… at " + key);
    }
    co_return conn;
  }
  auto pending = std::make_shared<PendingDial>(ex_);
  dialing_[key] = pending;
  auto r = co_await Dial(remote, expected);
  dialing_.erase(key);
  pending->result = r;
  pending->signal.cancel();
  co_return r;
}

asio::awaitable<Result<std::shared_ptr<Connection>>> Endpoint::Dial(
    tcp::endpoint remote, std::optional<core::NodeId> expected) {
  auto self = shared_from_this();
  if (!tls_) co_return MakeError(ErrorCode::kInternal, "no TLS context");
  if (connections_.size() >= max_connections_ && !MakeRoom()) {
    co_return MakeError(ErrorCode::kResourceExhausted, "connection limit reached");
  }
  if (descriptor_budget_ != 0 && connections_.size() + handshaking_ >= descriptor_budget_ &&
      !MakeRoom()) {
    co_return MakeError(ErrorCode::kResourceExhausted, "file descriptor budget spent");
  }
  auto stream = std::make_shared<TlsSocket>(tcp::socket(ex_), *tls_);
  auto& socket = stream->socket();
  boost::system::error_code ec;
  socket.open(remote.protocol(), ec);
  if (!ec && acceptor_ && !local_.address().is_unspecified() &&
      local_.address().is_v4() == remote.address().is_v4()) {
    socket.bind(tcp::endpoint(local_.address(), 0), ec);
  }
  if (ec) co_return MakeError(ErrorCode::kUnavailable, "socket: " + ec.message());

  auto timed_out = std::make_shared<bool>(false);
  {
    asio::steady_timer deadline(ex_);
    deadline.expires_after(limits_.connect_timeout);
    deadline.async_wait([stream, timed_out](boost::system::error_code tec) {
      if (tec) return;
      *timed_out = true;
      stream->Close();
    });
    auto [cec] = co_await socket.async_connect(remote, kAwait);
    deadline.cancel();
    if (*timed_out) {
      co_return MakeError(ErrorCode::kTimeout, "connecting to " + FormatEndpoint(remote));
    }
    if (cec) {
      co_return MakeError(ErrorCode::kUnavailable,
                          "connecting to " + FormatEndpoint(remote) + ": " + cec.message());
    }
  }
  socket.set_option(tcp::no_delay(true), ec);
  ++handshaking_;
  auto peer = co_await Handshake(stream, /*dialer=*/true, expected);
  --handshaking_;
  if (!peer.ok()) {
    ++handshakes_refused_;
    co_return std::move(peer).error();
  }
  if (stopped_) co_return MakeError(ErrorCode::kCancelled, "endpoint stopped");
  if (!MakeRoomForNode(peer->id)) {
    // Already connected to it as often as allowed: use one of those.
    stream->Close();
    for (const auto& c : connections_) {
      if (c->peer().id == peer->id && c->is_open()) co_return c;
    }
    co_return MakeError(ErrorCode::kResourceExhausted,
                        "too many connections to " + peer->id.Short());
  }
  co_return Register(stream, std::move(peer).value(), /*dialer=*/true);
}

void Endpoint::Stop() {
  if (stopped_) return;
  stopped_ = true;
  if (handshake_slot_) handshake_slot_->cancel();
  if (acceptor_) {
    boost::system::error_code ignored;
    acceptor_->close(ignored);
  }
  auto all = connections_;
  for (const auto& c : all) c->Close(MakeError(ErrorCode::kCancelled, "endpoint stopped"));
  connections_.clear();
  by_id_.clear();
  by_address_.clear();
}

}  // namespace tesseras::net
