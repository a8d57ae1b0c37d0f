// Node: the composition root of tesd. It owns the data dir lock, the node key,
// the I/O context, every layer the daemon wires together and the local API, and
// runs them from start-up to a clean shutdown.
//
// Start-up, in order (Run calls each step; each returns an Error that stops the
// daemon with a one-line reason):
//   PrepareDataDir      create {data_dir} (0700)
//   AcquireLock         exclusive flock on {data_dir}/tesd.lock
//   LoadIdentity        {data_dir}/node.key, created on first start
//   LoadApiToken        {data_dir}/api.token, created on first start
//   OpenStorage         database + migrations, fragment store (recovery of what
//                       was in flight), ledger, blob store; starts the scrub
//   StartNetwork        bind --listen, start the DHT, bootstrap
//   StartReplication    replication service and repair loop
//   BuildOperations     the NodeOperations behind the local API, the daemon's gauges
//   ServeLocalApi       {data_dir}/tesd.sock (0600), and the HTTP listener
//                       ([api] http_listen) unless it is off
//   then logs "ready" with the node id, listen address, socket and HTTP address.
//
// The metrics registry (core/metrics.h) is created with the Node and handed to
// every layer, so it outlives them all; /metrics renders it.
//
// BuildOperations serves ReplicatedNodeOperations (daemon/replicated_node.h)
// over the layers the steps above built.
//
// Shutdown (SIGINT, SIGTERM or RequestStop): stop accepting API connections,
// let requests in progress finish, stop the repair loop and the DHT, and return
// from Run with Ok. If draining takes longer than kShutdownGrace the DHT is
// stopped first (running transfers end with `cancelled`) and then the I/O loop,
// so the process exits within 5 s.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/metrics.h"
#include "core/result.h"
#include "crypto/identity.h"
#include "daemon/api_server.h"
#include "daemon/config.h"
#include "daemon/data_dir_lock.h"
#include "daemon/node_activity.h"
#include "daemon/node_operations.h"
#include "daemon/replicated_node.h"
#include "dht/dht_port_adapter.h"
#include "replication/network_handler.h"
#include "replication/replication_service.h"
#include "storage/blob_store.h"
#include "storage/database.h"
#include "storage/fragment_store.h"
#include "storage/plan_store.h"
#include "storage/reciprocity_ledger.h"
#include "storage/scrub.h"
#include "storage/tessera_repository.h"

namespace tesseras::daemon {

inline constexpr std::chrono::milliseconds kShutdownGrace{3000};

// What the command line says (the config file has the rest).
struct DaemonOptions {
  std::filesystem::path data_dir;
  std::string listen = "0.0.0.0:7700";
  std::vector<std::string> bootstrap;  // IP:PORT each; empty starts a new network
};

class Node {
 public:
  Node(DaemonOptions options, DaemonConfig config);
  ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  // Runs every start-up step, serves until a signal or RequestStop, then shuts
  // down. Ok after a clean shutdown; the first failing step's error otherwise.
  core::Result<void> Run();

  // Asks a running node to shut down as on SIGTERM. Thread-safe.
  void RequestStop();

  // Start-up steps (Run calls them in this order).
  core::Result<void> PrepareDataDir();
  core::Result<void> AcquireLock();
  core::Result<void> LoadIdentity();
  core::Result<void> LoadApiToken();
  core::Result<void> OpenStorage();
  core::Result<void> StartNetwork();
  core::Result<void> StartReplication();
  core::Result<void> BuildOperations();
  core::Result<void> ServeLocalApi();

  // Valid after the step that sets them.
  const crypto::Identity& identity() const { return *identity_; }
  const std::string& listen_address() const { return listen_address_; }
  std::filesystem::path socket_path() const;
  // The HTTP listener's bound address; empty when it is off.
  const std::string& http_address() const { return http_address_; }
  core::MetricsRegistry& metrics() { return metrics_; }

 private:
  void BeginShutdown(std::string_view reason);
  void FinishShutdown();
  // Stops the repair loop, the scrub and the DHT (idempotent).
  void StopLayers();
  void RegisterNodeMetrics();

  // First, so that it outlives every layer holding its counters.
  core::MetricsRegistry metrics_;
  NodeActivity activity_;
  DaemonOptions options_;
  DaemonConfig config_;
  boost::asio::io_context io_;
  boost::asio::signal_set signals_;
  boost::asio::steady_timer shutdown_deadline_;
  std::optional<DataDirLock> lock_;
  std::optional<crypto::Identity> identity_;
  std::vector<boost::asio::ip::tcp::endpoint> bootstrap_;
  std::string listen_address_;
  std::string api_token_;
  std::string http_address_;
  int64_t started_at_ms_ = 0;
  // The layers, in the order they are built (and torn down in reverse).
  std::shared_ptr<core::SystemClock> clock_ = std::make_shared<core::SystemClock>();
  std::shared_ptr<storage::Database> db_;
  std::unique_ptr<storage::FsFragmentStore> fragments_;
  std::unique_ptr<storage::Scrubber> scrub_;
  std::unique_ptr<storage::SqliteReciprocityLedger> ledger_;
  std::unique_ptr<storage::FsBlobStore> blobs_;
  std::unique_ptr<storage::SqlitePlanStore> plans_;
  std::unique_ptr<storage::TesseraRepository> tesseras_;
  std::unique_ptr<dht::DhtRuntime> dht_;
  std::unique_ptr<dht::DhtPortAdapter> dht_port_;
  std::unique_ptr<replication::ReplicationService> replication_;
  std::shared_ptr<replication::NetworkHandler> handler_;
  std::unique_ptr<replication::RepairLoop> repair_;
  std::unique_ptr<ReplicatedNodeOperations> operations_;
  std::unique_ptr<ApiServer> api_;
  bool socket_bound_ = false;
  bool shutting_down_ = false;
};

}  // namespace tesseras::daemon
