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
// (or the same listen address) when there is one.
//
// Admission (docs/SECURITY.md, "Network"; limits in net::Limits):
// - At most max_connections are established. Beyond that the least recently
//   used idle connection (no open exchange) is closed to make room, for an
//   outbound or an inbound one; with none idle, new ones are refused.
// - Inbound handshakes in flight have their own budget (max_handshakes), so
//   half-open connections never take the slots of established ones: when it is
//   spent the accept loop stops accepting (the kernel's backlog holds the
//   rest) until one finishes or reaches handshake_timeout. Per remote IP and
//   per /24 (/48) there are caps on handshakes in flight and on established
//   inbound connections; beyond them a new connection is closed at once,
//   before TLS.
// - One node id holds at most max_connections_per_node established
//   connections: a new one replaces the oldest idle one, or is refused with
//   Error{resource_exhausted}.
// - Established connections plus handshakes stay within the descriptor budget
//   (RLIMIT_NOFILE minus reserved_descriptors); Listen() lowers the effective
//   max_connections to fit it and says so.
// - accept() errors (e.g. EMFILE) back off exponentially, 5 ms to 1 s.
// Every refusal is reported to the RefusalObserver (and counted).
//
// Threading: create with std::make_shared (its coroutines keep it alive), use
// and Stop() on the network thread (the executor passed in).
#pragma once

#include <atomic>
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
#include "net/budget.h"
#include "net/connection.h"

namespace tesseras::net {

// Parses "ip:port" or "[ipv6]:port" (port 0 allowed: "any port" when listening).
core::Result<tcp::endpoint> ParseEndpoint(std::string_view text);
std::string FormatEndpoint(const tcp::endpoint& ep);

class Endpoint : public std::enable_shared_from_this<Endpoint> {
 public:
  using PeerObserver = std::function<void(const PeerIdentity&)>;
  // A connection refused by an admission budget: the reason and the remote IP.
  using RefusalObserver = std::function<void(AdmissionRefusal, const asio::ip::address&)>;

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
  void SetRefusalObserver(RefusalObserver observer) { on_refusal_ = std::move(observer); }

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
  // Inbound connections refused by an admission budget, all reasons.
  uint64_t admissions_refused() const { return admissions_refused_; }
  std::size_t handshakes_in_flight() const { return handshaking_; }
  // accept() calls that failed (each followed by a back-off). Any thread.
  uint64_t accept_errors() const { return accept_errors_.load(std::memory_order_relaxed); }
  std::size_t max_connections() const { return max_connections_; }
  // Frames waiting in the exchange queues of all connections, and frames
  // dropped as late or after an exchange's Error.
  std::size_t queued_frames() const;
  uint64_t frames_dropped() const;
  // Buffers held by all connections (MemoryBudget), now and at most so far.
  const MemoryBudget& buffer_budget() const { return *budget_; }

 private:
  struct PendingDial;
  asio::awaitable<void> AcceptLoop();
  asio::awaitable<void> HandleInbound(tcp::socket socket, asio::ip::address remote);
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
  // Makes room for one more connection of node `id` (closing its oldest idle
  // one if it is at its cap); false if it cannot.
  bool MakeRoomForNode(const core::NodeId& id);
  void Refused(AdmissionRefusal why, const asio::ip::address& ip);
  // Sends Error{resource_exhausted} (best effort) and closes.
  asio::awaitable<void> RefuseAfterHandshake(std::shared_ptr<TlsSocket> stream, std::string why);

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
  RefusalObserver on_refusal_;
  ConnectionBudget admission_;
  std::shared_ptr<MemoryBudget> budget_;
  std::size_t max_connections_;        // limits_.max_connections, within the descriptor budget
  std::size_t descriptor_budget_ = 0;  // connections + handshakes at most (0: unchecked)
  std::optional<asio::steady_timer> handshake_slot_;  // wakes the accept loop
  uint64_t admissions_refused_ = 0;
  std::atomic<uint64_t> accept_errors_{0};
  std::set<std::shared_ptr<Connection>> connections_;
  std::unordered_map<core::NodeId, std::weak_ptr<Connection>, core::IdHash> by_id_;
  std::map<std::string, std::weak_ptr<Connection>> by_address_;
  std::map<std::string, std::shared_ptr<PendingDial>> dialing_;
  std::size_t handshaking_ = 0;
  uint64_t handshakes_refused_ = 0;
};

}  // namespace tesseras::net
