// Endpoint: a node's listener and its pool of authenticated connections.
//
// Handshake (docs/PROTOCOL.md, Handshake): TCP connect, TLS 1.3 with a
// self-signed Ed25519 certificate on each side, then each side sends a Hello
// (node id, proof-of-work nonce, listen port, capabilities) as its first frame.
// The peer's Hello is accepted only if crypto::VerifyNodeIdentity holds for the
// certificate's key, and, when dialling a known node, if the id is the expected
// one. Anything else closes the connection.
//
// Connections are reused: Connect() returns an open connection to the same node
// (or the same listen address) when there is one. At most
// Limits::max_connections are open; beyond that the least recently used idle
// connection is closed to make room for an outbound one, and inbound ones are
// refused.
//
// Threading: create with std::make_shared (its coroutines keep it alive), use
// and Stop() on the network thread (the executor passed in).
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>

#include "core/ids.h"
#include "core/result.h"
#include "crypto/identity.h"
#include "net/connection.h"

namespace tesseras::net {

// Parses "ip:port" or "[ipv6]:port" (port 0 allowed: "any port" when listening).
core::Result<tcp::endpoint> ParseEndpoint(std::string_view text);
std::string FormatEndpoint(const tcp::endpoint& ep);

class Endpoint : public std::enable_shared_from_this<Endpoint> {
 public:
  using PeerObserver = std::function<void(const PeerIdentity&)>;

  Endpoint(asio::any_io_executor ex, const crypto::Identity& identity, Limits limits,
           uint64_t capabilities);
  ~Endpoint();
  Endpoint(const Endpoint&) = delete;
  Endpoint& operator=(const Endpoint&) = delete;

  // Binds and starts accepting. Outbound connections are bound to the same IP
  // (unless it is unspecified), so that peers see the address we listen on.
  core::Result<void> Listen(const tcp::endpoint& local);
  tcp::endpoint local_endpoint() const { return local_; }

  void SetRequestHandler(Connection::RequestHandler handler) { on_request_ = std::move(handler); }
  // Called for every successful handshake (inbound and outbound).
  void SetPeerObserver(PeerObserver observer) { on_peer_ = std::move(observer); }

  // An authenticated connection to the node listening at `remote`. If
  // `expected` is set, the peer must prove that id (kPermissionDenied otherwise).
  asio::awaitable<core::Result<std::shared_ptr<Connection>>> Connect(
      tcp::endpoint remote, std::optional<core::NodeId> expected);

  // Closes the listener and every connection.
  void Stop();

  std::size_t connection_count() const { return connections_.size(); }
  const Limits& limits() const { return limits_; }
  const crypto::Identity& identity() const { return identity_; }
  asio::any_io_executor executor() const { return ex_; }
  std::shared_ptr<asio::ssl::context> tls_context() const { return tls_; }
  uint64_t handshakes_refused() const { return handshakes_refused_; }

 private:
  struct PendingDial;
  asio::awaitable<void> AcceptLoop();
  asio::awaitable<void> HandleInbound(tcp::socket socket);
  asio::awaitable<core::Result<std::shared_ptr<Connection>>> Dial(
      tcp::endpoint remote, std::optional<core::NodeId> expected);
  // TLS handshake + Hello exchange with deadlines; returns the verified peer.
  asio::awaitable<core::Result<PeerIdentity>> Handshake(std::shared_ptr<TlsSocket> stream,
                                                        bool dialer,
                                                        std::optional<core::NodeId> expected);
  std::shared_ptr<Connection> Register(std::shared_ptr<TlsSocket> stream, PeerIdentity peer,
                                       bool dialer);
  std::shared_ptr<Connection> Reusable(const tcp::endpoint& remote,
                                       const std::optional<core::NodeId>& expected);
  bool MakeRoom();

  asio::any_io_executor ex_;
  crypto::Identity identity_;
  Limits limits_;
  uint64_t capabilities_;
  std::shared_ptr<asio::ssl::context> tls_;
  std::optional<tcp::acceptor> acceptor_;
  tcp::endpoint local_;
  bool stopped_ = false;
  Connection::RequestHandler on_request_;
  PeerObserver on_peer_;
  std::set<std::shared_ptr<Connection>> connections_;
  std::unordered_map<core::NodeId, std::weak_ptr<Connection>, core::IdHash> by_id_;
  std::map<std::string, std::weak_ptr<Connection>> by_address_;
  std::map<std::string, std::shared_ptr<PendingDial>> dialing_;
  std::size_t handshaking_ = 0;
  uint64_t handshakes_refused_ = 0;
};

}  // namespace tesseras::net
