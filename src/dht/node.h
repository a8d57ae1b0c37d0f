// dht::Node: the Kademlia engine of one node and the dispatcher of every
// inbound request.
//
// - k = 20, alpha = 3 by default. Iterative lookups (lookup.cc) keep subnet
//   and per-source caps on their frontier (LookupFrontier), stop when the
//   frontier has answered or at lookup_timeout, and find more than k nodes by
//   walking the XOR subtrees around the target (docs/PROTOCOL.md section 7).
// - Contacts in lookup results carry public key + proof of work and are
//   dropped unless crypto::VerifyNodeIdentity holds, or if their address is
//   outside our contact scope (net::ContactAllowed); only contacts that
//   answered us directly enter the routing table. We never dial an address
//   outside the scope, whoever names it.
// - Records (dht/record.h) are stored at the k closest nodes to their key; we
//   accept a Store only for keys we are among the k + store_slack closest to
//   (of the nodes we know), and the RecordStore bounds what each key, subnet
//   and publisher may hold. Records we publish are republished once every
//   republish_interval (re-signed with a fresh expiry when we are their
//   publisher), spread over the interval: each maintenance tick republishes
//   its share (records × tick / interval), in key order from where the last
//   tick stopped, with at most max_republish_in_flight Puts running at once,
//   so a node that publishes a claim for each of 100,000 tesseras sends a
//   steady trickle, not 100,000 lookups at the top of the hour. The records
//   we republish are kept in a core::PublishedRecordStore (NodeConfig::
//   published; tesd's is the SQLite table of migration 009, so they survive a
//   restart and republishing resumes), never all in memory: a tick reads its
//   share a page at a time, writes our re-signed records back and drops
//   others' records that expired. The store is used on a thread of the
//   node's own (published_io_), never the shared worker pool: replication
//   work on the pool waits for DHT operations (DhtPortAdapter), so a Put
//   that needed a pool thread to remember its record would wait for ever
//   once every pool thread waits for a Put.
// - Requests that touch disk go to the ReplicationHandler port on the worker
//   pool (serve.cc), after the serving budgets (serve_gate.h: transfer and
//   disk slots, read budget); without a handler they get Error{unimplemented}.
//   Refusals are answered with Error{resource_exhausted} (or the code of the
//   rule), counted and logged once per peer per interval (Refusals).
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
#include "core/ports/published_record_store.h"
#include "crypto/identity.h"
#include "dht/contact.h"
#include "dht/lookup_policy.h"
#include "dht/record.h"
#include "dht/record_store.h"
#include "dht/refusals.h"
#include "dht/replication_handler.h"
#include "dht/routing_table.h"
#include "dht/serve_gate.h"
#include "net/addresses.h"
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
  std::size_t max_republish_in_flight = 32;
  Millis record_ttl{24 * 3600 * 1000};
  // The process's metrics (core/metrics.h); a private registry if null.
  core::MetricsRegistry* metrics = nullptr;
  // Lookups: frontier caps, and a deadline for a whole Lookup or Get
  // (including the sub-lookups of one for more than k nodes).
  LookupLimits lookup;
  Millis lookup_timeout{30000};
  // Which contact addresses we add and dial (kAuto: from the listen address).
  net::ContactScope contact_scope = net::ContactScope::kAuto;
  // A Store is accepted only for keys we are among the k + store_slack
  // closest to, of the nodes we know.
  std::size_t store_slack = 10;
  ServeLimits serve;
  Millis refusal_log_interval{60000};
  // Where the records we republish are kept (core/ports/published_record_store.h).
  // Null: a MemoryPublishedRecordStore of this node's own (tests, simulator).
  // Shared by every node whose config is a copy of this one.
  std::shared_ptr<core::PublishedRecordStore> published;
};

struct NodeStats {
  uint64_t lookups = 0;
  uint64_t lookup_rpcs = 0;  // FindNode / FindValue sent by lookups
  uint64_t requests_served = 0;
  uint64_t contacts_refused = 0;       // lookup results that did not verify
  uint64_t contacts_out_of_scope = 0;  // lookup results and peers outside our contact scope
  uint64_t records_refused = 0;        // records with bad signatures
  uint64_t lookups_timed_out = 0;      // lookups that reached lookup_timeout
  uint64_t records_republished = 0;    // republish Puts started
  uint64_t republish_peak_in_flight = 0;
  uint64_t republish_peak_per_tick = 0;
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
  // The `n` (default k) closest live nodes to `target`, closest first,
  // without us, at most LookupLimits::max_per_subnet per /24 (/48). For n > k
  // the XOR subtrees around the target are walked (docs/PROTOCOL.md section
  // 7), so that it returns min(n, live reachable nodes) in a connected
  // network. At lookup_timeout it returns what has answered so far.
  asio::awaitable<core::Result<std::vector<Contact>>> Lookup(core::NodeId target,
                                                             std::size_t n = 0);
  // Stores `record` (signature checked first) at the k closest nodes and
  // remembers it for republishing (in NodeConfig::published, replacing the
  // record of the same key, type and publisher; a failure to remember it is
  // logged, not returned). Returns how many nodes accepted it.
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
                                                          std::vector<uint32_t> indices,
                                                          std::optional<core::NodeId> owner = {});
  // `owner`: whose plan of the hash (FetchFragment.owner); nullopt: the
  // holder's first plan for it.
  asio::awaitable<core::Result<void>> Fetch(core::PeerInfo peer, core::ContentHash tessera,
                                            uint32_t index, core::ByteSink& out,
                                            std::optional<core::NodeId> owner = std::nullopt);
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
  core::MetricsRegistry& metrics() { return *metrics_; }
  Refusals& refusals() { return *refusals_; }
  // The contact scope in force (resolved from the listen address at Start).
  net::ContactScope contact_scope() const { return scope_; }
  // Whether we are among the k + store_slack closest nodes to `key` we know.
  bool CloseTo(const core::NodeId& key) const;

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
  asio::awaitable<core::Result<std::shared_ptr<LookupState>>> Iterate(
      core::NodeId target, bool find_value, std::size_t n,
      std::chrono::steady_clock::time_point deadline);
  asio::awaitable<void> Query(std::shared_ptr<LookupState> st, Contact c);
  // Adds to `found` (keyed by distance to `target`) the nodes of the subtree
  // of ids sharing the first `bits` bits with `root`, closest to `root`
  // first, until `need` of them are known or the subtree is exhausted.
  asio::awaitable<core::Result<void>> Explore(core::NodeId target, core::NodeId root, int bits,
                                              std::size_t need,
                                              std::chrono::steady_clock::time_point deadline,
                                              std::map<core::NodeId, Contact>& found);
  // Answers a peer's request with Error and notes the refusal.
  void Refuse(net::Connection& conn, net::Exchange& ex, std::string_view reason,
              core::ErrorCode code, const std::string& detail);
  asio::awaitable<void> Maintain();
  asio::awaitable<void> EvictionCheck(Contact old_contact, Contact newcomer);
  asio::awaitable<void> PingContact(Contact c);
  // A contact that talked to us (or a seed, `trusted`): into the routing table.
  void Observe(const Contact& c, bool trusted = false);
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
  std::shared_ptr<core::PublishedRecordStore> published_;  // PublishKey -> record
  // The thread every use of published_ runs on (see the header comment); its
  // jobs hold neither the node nor the pool, and ~Node waits for them.
  std::unique_ptr<asio::thread_pool> published_io_;
  std::shared_ptr<const crypto::Identity> signer_;  // identity_, for those jobs
  // Stores `record` at the k closest nodes (Put without remembering it).
  asio::awaitable<core::Result<std::size_t>> Spread(Record record);
  // Paced republishing (see the header comment).
  asio::awaitable<void> RepublishShare(Millis tick);
  std::string republish_cursor_;  // the PublishKey republished last (random at start)
  double republish_credit_ = 0;   // records due and not yet started
  std::size_t republish_in_flight_ = 0;
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
  std::unique_ptr<core::MetricsRegistry> own_metrics_;
  core::MetricsRegistry* metrics_;
  std::unique_ptr<Refusals> refusals_;
  net::ContactScope scope_ = net::ContactScope::kAny;
  Slots inbound_transfers_;
  Slots outbound_transfers_;
  Slots disk_requests_;
  ReadBudget read_budget_;
  core::Gauge* transfers_inflight_;
  core::Histogram* transfer_in_seconds_;
  core::Histogram* transfer_out_seconds_;
};

}  // namespace tesseras::dht
