// dht::Node: the Kademlia engine of one node and the dispatcher of every
// inbound request.
//
// - k = 20, alpha = 3 by default; iterative lookups stop when the k closest
//   contacts seen so far have all answered or failed.
// - Contacts in lookup results carry public key + proof of work and are
//   dropped unless crypto::VerifyNodeIdentity holds; only contacts that
//   answered us directly enter the routing table.
// - Records (dht/record.h) are stored at the k closest nodes to their key;
//   only records whose signature verifies are stored, returned or accepted.
//   Records we publish are republished every republish_interval (re-signed
//   with a fresh expiry when we are their publisher).
// - Requests that touch disk go to the ReplicationHandler port on the worker
//   pool; without a handler they get Error{unimplemented}.
//
// Threading: one network thread (the executor given to Create) owns all state.
// Every method except SetReplicationHandler must be called on that thread; the
// awaitables run there. Disk work runs on the thread pool and results are
// posted back. No lock is held across co_await.
#pragma once

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "core/bytes.h"
#include "core/fragment.h"
#include "core/metrics.h"
#include "core/ports/clock.h"
#include "crypto/identity.h"
#include "dht/contact.h"
#include "dht/record.h"
#include "dht/record_store.h"
#include "dht/replication_handler.h"
#include "dht/routing_table.h"
#include "net/endpoint.h"

namespace tesseras::dht {

namespace asio = boost::asio;
using Millis = std::chrono::milliseconds;

struct NodeConfig {
  std::string listen_address = "127.0.0.1:0";  // "ip:port"; port 0 = ephemeral
  std::vector<std::string> seeds;              // "ip:port" of bootstrap nodes
  RoutingConfig routing;                       // k, subnet cap, max failures
  std::size_t alpha = 3;
  net::Limits limits;
  RecordStoreLimits records;
  Millis maintenance_tick{1000};
  Millis bootstrap_retry{2000};
  int bootstrap_attempts = 10;
  Millis refresh_interval{15 * 60 * 1000};
  Millis ping_interval{5 * 60 * 1000};  // liveness ping for contacts silent this long
  Millis republish_interval{60 * 60 * 1000};
  Millis record_ttl{24 * 3600 * 1000};
  core::MetricsRegistry* metrics = nullptr;
};

struct NodeStats {
  uint64_t lookups = 0;
  uint64_t lookup_rpcs = 0;  // FindNode / FindValue sent by lookups
  uint64_t requests_served = 0;
  uint64_t contacts_refused = 0;  // lookup results that did not verify
  uint64_t records_refused = 0;   // records with bad signatures
};

class Node : public std::enable_shared_from_this<Node> {
 public:
  static std::shared_ptr<Node> Create(asio::any_io_executor io, asio::thread_pool& pool,
                                      const crypto::Identity& identity, NodeConfig config);
  ~Node();

  // Listens and starts maintenance (and bootstrap if seeds are configured).
  core::Result<void> Start();
  void Stop();
  // Any thread. Requests arriving later use the new handler.
  void SetReplicationHandler(std::shared_ptr<ReplicationHandler> handler);

  // Pings each seed (with retries) and looks up our own id and the buckets
  // below our closest neighbour. kUnavailable if no seed answered.
  asio::awaitable<core::Result<void>> Bootstrap(std::vector<std::string> seeds);
  // The `n` (default k) closest live nodes to `target`, closest first, without us.
  asio::awaitable<core::Result<std::vector<Contact>>> Lookup(core::NodeId target,
                                                             std::size_t n = 0);
  // Stores `record` (signature checked first) at the k closest nodes and
  // remembers it for republishing. Returns how many nodes accepted it.
  asio::awaitable<core::Result<std::size_t>> Put(Record record);
  // Every valid, unexpired record for `key` found at the closest nodes
  // (and locally). kNotFound if none.
  asio::awaitable<core::Result<std::vector<Record>>> Get(core::NodeId key);

  asio::awaitable<core::Result<void>> Ping(core::PeerInfo peer);
  asio::awaitable<core::Result<core::ReplicateAck>> Replicate(core::PeerInfo peer,
                                                              core::FragmentEnvelope envelope,
                                                              core::RandomAccessSource& bytes);
  // Asks `peer` to prove the fragments of `tessera` named in `indices` (all it
  // holds if empty; at most 255 distinct, each < 255); the result's `requested`
  // is `indices`.
  asio::awaitable<core::Result<core::Attestation>> Attest(core::PeerInfo peer,
                                                          core::ContentHash tessera,
                                                          std::array<uint8_t, 32> challenge,
                                                          std::vector<uint32_t> indices);
  asio::awaitable<core::Result<void>> Fetch(core::PeerInfo peer, core::ContentHash tessera,
                                            uint32_t index, core::ByteSink& out);
  // Sends one Store of `encoded` (as is, unverified) to `peer`: for tests of
  // how peers treat bad records.
  asio::awaitable<core::Result<void>> StoreAt(core::PeerInfo peer, std::vector<uint8_t> encoded);

  // Inspection (network thread).
  const core::NodeId& id() const { return identity_.node_id(); }
  const crypto::Identity& identity() const { return identity_; }
  Contact self_contact() const;
  const RoutingTable& routing() const { return routing_; }
  const RecordStore& records() const { return records_; }
  const NodeStats& stats() const { return stats_; }
  net::Endpoint& endpoint() { return *endpoint_; }
  const NodeConfig& config() const { return config_; }

 private:
  struct LookupState;
  Node(asio::any_io_executor io, asio::thread_pool& pool, const crypto::Identity& identity,
       NodeConfig config);

  static asio::awaitable<void> HandleEntry(std::weak_ptr<Node> weak,
                                           std::shared_ptr<net::Connection> conn,
                                           std::shared_ptr<net::Exchange> ex, wire::Envelope req);
  asio::awaitable<void> Handle(std::shared_ptr<net::Connection> conn,
                               std::shared_ptr<net::Exchange> ex, wire::Envelope req);
  asio::awaitable<void> HandleReplicate(std::shared_ptr<net::Connection> conn,
                                        std::shared_ptr<net::Exchange> ex, wire::Envelope req,
                                        std::shared_ptr<ReplicationHandler> handler);
  asio::awaitable<void> HandleFetch(std::shared_ptr<net::Connection> conn,
                                    std::shared_ptr<net::Exchange> ex, wire::Envelope req,
                                    std::shared_ptr<ReplicationHandler> handler);
  asio::awaitable<void> HandleAttest(std::shared_ptr<net::Connection> conn,
                                     std::shared_ptr<net::Exchange> ex, wire::Envelope req,
                                     std::shared_ptr<ReplicationHandler> handler);

  // A request to a known contact; updates the routing table either way.
  asio::awaitable<core::Result<wire::Envelope>> Rpc(Contact contact, wire::Envelope request);
  asio::awaitable<core::Result<std::shared_ptr<net::Connection>>> ConnectPeer(
      const core::PeerInfo& peer);
  asio::awaitable<core::Result<std::shared_ptr<LookupState>>> Iterate(core::NodeId target,
                                                                      bool find_value,
                                                                      std::size_t n);
  asio::awaitable<void> Query(std::shared_ptr<LookupState> st, Contact c);
  asio::awaitable<void> Maintain();
  asio::awaitable<void> EvictionCheck(Contact old_contact, Contact newcomer);
  asio::awaitable<void> PingContact(Contact c);
  void Observe(const Contact& c);
  std::shared_ptr<ReplicationHandler> handler() const;
  int64_t NowUnixMs() const { return clock_.NowUnixMs(); }
  bool Failure(const core::Error& e) const;

  asio::any_io_executor io_;
  asio::thread_pool& pool_;
  crypto::Identity identity_;
  NodeConfig config_;
  std::shared_ptr<net::Endpoint> endpoint_;
  RoutingTable routing_;
  RecordStore records_;
  core::SystemClock clock_;
  std::map<std::string, Record> published_;  // PublishKey -> record
  std::set<core::NodeId> evicting_;
  std::optional<asio::steady_timer> maintenance_timer_;
  std::mt19937_64 rng_;
  NodeStats stats_;
  bool started_ = false;
  bool stopped_ = false;
  bool bootstrapping_ = false;
  int bootstrap_attempts_ = 0;
  mutable std::mutex handler_mu_;  // guards handler_ only (set from any thread)
  std::shared_ptr<ReplicationHandler> handler_;
};

}  // namespace tesseras::dht
