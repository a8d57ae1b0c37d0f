#include "daemon/node.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <csignal>
#include <limits>
#include <system_error>

#include "daemon/address.h"
#include "daemon/api_contract.h"
#include "daemon/api_token.h"
#include "daemon/replicated_node.h"
#include "replication/dht_records.h"
#include "storage/file_util.h"
#include "storage/published_record_store.h"

namespace tesseras::daemon {

namespace asio = boost::asio;
namespace fs = std::filesystem;

namespace {

// API requests served at once; each may block on disk or network work.
constexpr std::size_t kApiWorkerThreads = 4;

core::Error IoError(std::string what, const std::error_code& ec) {
  return core::MakeError(core::ErrorCode::kIo, fmt::format("{}: {}", what, ec.message()));
}

}  // namespace

Node::Node(DaemonOptions options, DaemonConfig config)
    : options_(std::move(options)),
      config_(std::move(config)),
      signals_(io_, SIGINT, SIGTERM),
      shutdown_deadline_(io_) {}

Node::~Node() {
  // A start-up step failed after the socket was bound, or run() was left early:
  // do not leave a socket file nobody answers on.
  // Stop the network first: DHT calls still running on API workers (a publish,
  // a fetch) then fail with `cancelled` at once, so the workers can be joined.
  StopLayers();
  api_.reset();
  if (socket_bound_ && !shutting_down_) {
    std::error_code ec;
    fs::remove(socket_path(), ec);
  }
}

fs::path Node::socket_path() const { return SocketPath(options_.data_dir); }

core::Result<void> Node::Run() {
  started_at_ms_ = clock_->NowUnixMs();
  TRY(PrepareDataDir());
  TRY(AcquireLock());
  TRY(LoadIdentity());
  TRY(LoadApiToken());
  TRY(OpenStorage());
  TRY(StartNetwork());
  TRY(StartReplication());
  TRY(BuildOperations());
  TRY(ServeLocalApi());

  signals_.async_wait([this](const boost::system::error_code& ec, int signal) {
    if (!ec) BeginShutdown(signal == SIGINT ? "SIGINT" : "SIGTERM");
  });
  spdlog::info("ready node_id={} listen={} api={} http={}", identity_->node_id().ToHex(),
               listen_address_, socket_path().string(),
               http_address_.empty() ? "off" : http_address_);
  io_.run();
  spdlog::info("stopped");
  return core::Ok();
}

void Node::RequestStop() {
  asio::post(io_, [this] { BeginShutdown("stop requested"); });
}

core::Result<void> Node::PrepareDataDir() {
  const fs::path& dir = options_.data_dir;
  std::error_code ec;
  bool existed = fs::exists(dir, ec);
  if (!existed) {
    fs::create_directories(dir, ec);
    if (ec) return IoError(fmt::format("cannot create data dir {}", dir.string()), ec);
    fs::permissions(dir, fs::perms::owner_all, ec);
    if (ec) return IoError(fmt::format("cannot set mode 0700 on {}", dir.string()), ec);
    spdlog::info("data dir {} created", dir.string());
  } else if (!fs::is_directory(dir, ec)) {
    return core::MakeError(core::ErrorCode::kInvalidArgument,
                           fmt::format("data dir {} exists and is not a directory", dir.string()));
  } else {
    auto perms = fs::status(dir, ec).permissions();
    if (!ec && (perms & (fs::perms::group_all | fs::perms::others_all)) != fs::perms::none) {
      spdlog::warn("data dir {} is accessible to other users; chmod 700 it", dir.string());
    }
  }
  return core::Ok();
}

core::Result<void> Node::AcquireLock() {
  ASSIGN_OR_RETURN(DataDirLock lock, DataDirLock::Acquire(LockPath(options_.data_dir)));
  lock_.emplace(std::move(lock));
  return core::Ok();
}

core::Result<void> Node::LoadIdentity() {
  fs::path key_path = options_.data_dir / kNodeKeyFileName;
  std::error_code ec;
  bool existed = fs::exists(key_path, ec);
  ASSIGN_OR_RETURN(
      crypto::Identity identity,
      crypto::Identity::LoadOrCreate(key_path, static_cast<int>(config_.dht.pow_bits)));
  identity_.emplace(std::move(identity));
  spdlog::info("node key {} {}: node id {}", key_path.string(), existed ? "loaded" : "created",
               identity_->node_id().ToHex());
  return core::Ok();
}

core::Result<void> Node::LoadApiToken() {
  const fs::path path = ApiTokenPath(options_.data_dir);
  bool created = false;
  auto token = LoadOrCreateApiToken(path, &created);
  if (!token.ok()) {
    return core::MakeError(token.error().code, fmt::format("API token: {}", token.error().message));
  }
  api_token_ = std::move(*token);
  std::error_code ec;
  auto perms = fs::status(path, ec).permissions();
  if (!ec && (perms & (fs::perms::group_all | fs::perms::others_all)) != fs::perms::none) {
    spdlog::warn("{} is readable by other users, who can then use the dashboard; chmod 600 it",
                 path.string());
  }
  if (created) spdlog::info("api: token {} created", path.string());
  return core::Ok();
}

core::Result<void> Node::OpenStorage() {
  const fs::path& dir = options_.data_dir;
  ASSIGN_OR_RETURN(auto db, storage::Database::OpenInDataDir(dir));
  db_ = std::shared_ptr<storage::Database>(std::move(db));
  storage::FsFragmentStoreOptions fo;
  fo.min_free_bytes = config_.replication.min_free_space_bytes;
  fo.clock = clock_;
  ASSIGN_OR_RETURN(fragments_, storage::FsFragmentStore::Open(db_, dir, fo));
  const auto& rec = fragments_->recovery_report();
  if (!rec.clean()) {
    spdlog::warn("storage: recovery on open: {}", rec.ToString());
  } else if (rec.moved_dirs > 0) {
    spdlog::info("storage: {}", rec.ToString());
  }
  ledger_ = std::make_unique<storage::SqliteReciprocityLedger>(db_, clock_);
  storage::FsBlobStoreOptions bo;
  bo.min_free_bytes = config_.replication.min_free_space_bytes;
  ASSIGN_OR_RETURN(blobs_, storage::FsBlobStore::Open(dir, bo));
  plans_ = std::make_unique<storage::SqlitePlanStore>(db_, clock_);
  tesseras_ = std::make_unique<storage::TesseraRepository>(db_, clock_);
  storage::ScrubOptions so;
  so.bytes_per_day = config_.replication.scrub_bytes_per_day;
  so.clock = clock_;
  so.log = [](const std::string& line) { spdlog::warn("storage: {}", line); };
  ASSIGN_OR_RETURN(scrub_, storage::Scrubber::Open(db_, *fragments_, so));
  scrub_->Start();
  spdlog::info("storage: database {} opened; scrub {} bytes a day",
               (dir / "db" / "tesseras.db").string(), so.bytes_per_day);
  return core::Ok();
}

core::Result<void> Node::StartNetwork() {
  ASSIGN_OR_RETURN(auto endpoint, ParseEndpoint(options_.listen, /*min_port=*/0));
  std::vector<std::string> seeds;
  for (const std::string& entry : options_.bootstrap) {
    ASSIGN_OR_RETURN(auto list, ParseEndpointList(entry));
    bootstrap_.insert(bootstrap_.end(), list.begin(), list.end());
  }
  for (const auto& b : bootstrap_) seeds.push_back(FormatEndpoint(b));
  dht::NodeConfig nc;
  nc.listen_address = FormatEndpoint(endpoint);
  nc.seeds = seeds;
  nc.routing.k = config_.dht.k;
  nc.routing.max_failures = static_cast<int>(config_.dht.max_failures);
  nc.alpha = config_.dht.alpha;
  nc.refresh_interval = dht::Millis(config_.dht.refresh_interval_secs * 1000);
  nc.record_ttl = dht::Millis(config_.dht.record_ttl_secs * 1000);
  nc.limits.connect_timeout = dht::Millis(config_.network.connect_timeout_ms);
  nc.limits.handshake_timeout = dht::Millis(config_.network.handshake_timeout_ms);
  nc.limits.request_timeout = dht::Millis(config_.network.request_timeout_ms);
  nc.limits.idle_timeout = dht::Millis(config_.network.idle_timeout_ms);
  nc.limits.max_connections = config_.network.max_connections;
  nc.limits.max_inbound_inflight = config_.network.max_inflight_per_peer;
  nc.limits.min_pow_bits = static_cast<int>(config_.dht.pow_bits);
  nc.metrics = &metrics_;
  // The records this node republishes live in its database (migration 009),
  // not in memory; after a restart republishing resumes from the table.
  nc.published = std::make_shared<storage::SqlitePublishedRecordStore>(db_);
  ApplyNetworkConfig(config_, &nc);  // every [dht]/[network] key (docs/SECURITY.md)
  auto runtime =
      dht::DhtRuntime::Start(*identity_, nc, config_.replication.max_concurrent_transfers);
  if (!runtime.ok()) {
    return core::MakeError(runtime.error().code,
                           fmt::format("cannot start the network on {}: {}", options_.listen,
                                       runtime.error().message));
  }
  dht_ = std::move(*runtime);
  dht_port_ = std::make_unique<dht::DhtPortAdapter>(*dht_);
  listen_address_ = dht_->self_info().address;
  if (seeds.empty()) {
    spdlog::info("network: listening on {}; no --bootstrap, this node starts a new network",
                 listen_address_);
  } else {
    std::string peers;
    for (const auto& p : seeds) peers += (peers.empty() ? "" : ",") + p;
    spdlog::info("network: listening on {}; bootstrapping from {}", listen_address_, peers);
  }
  return core::Ok();
}

core::Result<void> Node::StartReplication() {
  const auto& rc = config_.replication;
  replication::ReplicationConfig cfg;
  cfg.repair_interval_secs = rc.repair_interval_secs;
  cfg.repair_jitter_secs = rc.repair_jitter_secs;
  cfg.max_concurrent_transfers = rc.max_concurrent_transfers;
  cfg.min_free_space_bytes = rc.min_free_space_bytes;
  cfg.deficit_allowance_bytes = rc.deficit_allowance_bytes;
  cfg.per_peer_limit_bytes = rc.per_peer_limit_bytes;
  cfg.max_bytes_for_others = rc.max_bytes_for_others;
  cfg.new_owner_allowance_bytes = rc.new_owner_allowance_bytes;
  cfg.min_fragment_charge_bytes = rc.min_fragment_charge_bytes;
  cfg.max_per_subnet = rc.max_per_subnet;
  cfg.max_plans_per_tessera = rc.max_plans_per_tessera;
  cfg.refusal_memory_secs = rc.refusal_memory_secs;
  cfg.trust_verified_secs = rc.trust_verified_secs;
  cfg.record_cache.max_age_ms = static_cast<int64_t>(rc.record_cache_secs) * 1000;
  cfg.record_cache.max_entries = rc.record_cache_entries;
  cfg.record_cache.max_bytes = rc.record_cache_bytes;
  auto& policy = cfg.policy;
  policy.holder_grace_ms = static_cast<int64_t>(rc.holder_grace_secs) * 1000;
  policy.suspect_probe_interval_ms = static_cast<int64_t>(rc.suspect_probe_secs) * 1000;
  policy.repair_threshold = rc.repair_threshold_percent / 100.0;
  policy.coded_repair_at_threshold = rc.coded_repair_at_threshold;
  policy.batch_rebuilds_suspects = rc.batch_rebuilds_suspects;
  policy.surplus_fraction = rc.surplus_percent / 100.0;
  policy.takeover_delay_ms = static_cast<int64_t>(rc.takeover_delay_secs) * 1000;
  policy.watch_interval_ms = static_cast<int64_t>(rc.watch_interval_secs) * 1000;
  policy.forget_lost_after_ms = static_cast<int64_t>(rc.forget_lost_after_secs) * 1000;
  policy.repair_bytes_per_day = rc.repair_bytes_per_day;
  policy.gather_keep_ms = static_cast<int64_t>(rc.gather_keep_secs) * 1000;
  cfg.gather_max_bytes = rc.gather_max_bytes;
  cfg.scratch_dir = options_.data_dir / "tmp";
  std::error_code ec;
  fs::remove_all(cfg.scratch_dir, ec);  // leftovers of a killed process
  fs::create_directories(cfg.scratch_dir, ec);
  if (ec) return IoError(fmt::format("cannot create {}", cfg.scratch_dir.string()), ec);
  // Gathers outlive a restart (each file is checked again before use).
  cfg.gather_dir = options_.data_dir / "gather";
  fs::create_directories(cfg.gather_dir, ec);
  if (ec) return IoError(fmt::format("cannot create {}", cfg.gather_dir.string()), ec);

  replication::ReplicationDeps deps;
  deps.self = &*identity_;
  deps.dht = dht_port_.get();
  deps.fragments = fragments_.get();
  deps.ledger = ledger_.get();
  deps.blobs = blobs_.get();
  deps.plans = plans_.get();
  deps.clock = clock_.get();
  deps.metrics = &metrics_;
  deps.self_address = listen_address_;
  replication::UseDhtRecords(deps, *identity_, *clock_,
                             static_cast<int64_t>(config_.dht.record_ttl_secs) * 1000);
  replication_ = std::make_unique<replication::ReplicationService>(deps, cfg);
  replication::SpoolLimits spool;
  spool.max_bytes = rc.max_spool_bytes;
  spool.min_free_bytes = rc.min_free_space_bytes;
  spool.free_bytes = [](const fs::path& p) { return storage::FreeBytes(p); };
  // Fragments we refused, with who sent them: "refused" events (GET /v1/events).
  auto on_refusal = [this](const core::PeerInfo& from, const core::ContentHash& tessera,
                           const core::Error& why) {
    activity_.Record({clock_->NowUnixMs(), 0, 1, "refused", tessera.ToHex(), from.id.ToHex(),
                      from.address, why.message});
  };
  handler_ = std::make_shared<replication::NetworkHandler>(*replication_, cfg.scratch_dir,
                                                           std::move(spool), on_refusal);
  dht_->SetReplicationHandler(handler_);
  repair_ =
      std::make_unique<replication::RepairLoop>(*replication_, [this](const std::string& line) {
        spdlog::warn("{}", line);
        activity_.Record({clock_->NowUnixMs(), 0, 1, "repair_loop", "", "", "", line});
      });
  repair_->Start();
  spdlog::info("replication: repair every {}s (+ up to {}s)", rc.repair_interval_secs,
               rc.repair_jitter_secs);
  return core::Ok();
}

core::Result<void> Node::BuildOperations() {
  ReplicatedNodeDeps deps;
  deps.identity = &*identity_;
  deps.listen = listen_address_;
  deps.data_dir = options_.data_dir;
  deps.scratch_dir = options_.data_dir / "tmp";
  deps.started_at_ms = started_at_ms_;
  deps.repair_interval_secs = config_.replication.repair_interval_secs;
  deps.repair_jitter_secs = config_.replication.repair_jitter_secs;
  deps.fragments = fragments_.get();
  deps.ledger = ledger_.get();
  deps.blobs = blobs_.get();
  deps.plans = plans_.get();
  deps.tesseras = tesseras_.get();
  deps.activity = &activity_;
  deps.dht = dht_.get();
  deps.replication = replication_.get();
  deps.repair = repair_.get();
  deps.scrub = scrub_.get();
  deps.clock = clock_.get();
  operations_ = std::make_unique<ReplicatedNodeOperations>(deps);
  RegisterNodeMetrics();
  return core::Ok();
}

void Node::RegisterNodeMetrics() {
  // Read when scraped, on an API worker thread; a failed read shows as NaN.
  constexpr double kUnknown = std::numeric_limits<double>::quiet_NaN();
  ReplicatedNodeOperations* ops = operations_.get();
  storage::FsFragmentStore* fragments = fragments_.get();
  storage::TesseraRepository* tesseras = tesseras_.get();
  metrics_.SetCallbackGauge("tesseras_peers", "Peers in the routing table.", {}, [ops] {
    auto n = ops->PeerCount();
    return n.ok() ? static_cast<double>(*n) : kUnknown;
  });
  metrics_.SetCallbackGauge("tesseras_fragments_held",
                            "Fragments stored on this node (its own and other owners').", {},
                            [fragments] {
                              auto all = fragments->List();
                              return all.ok() ? static_cast<double>(all->size()) : kUnknown;
                            });
  metrics_.SetCallbackGauge("tesseras_bytes_held", "Bytes of the fragments stored on this node.",
                            {}, [fragments] {
                              auto bytes = fragments->TotalBytes();
                              return bytes.ok() ? static_cast<double>(*bytes) : kUnknown;
                            });
  for (storage::TesseraState state :
       {storage::TesseraState::kLocal, storage::TesseraState::kReplicating,
        storage::TesseraState::kReplicated, storage::TesseraState::kDegraded,
        storage::TesseraState::kLost, storage::TesseraState::kRestored}) {
    metrics_.SetCallbackGauge(
        "tesseras_tesseras", "This node's own tesseras by state (as last checked).",
        {{"state", TesseraStateApiName(state)}}, [tesseras, state] {
          auto all = tesseras->List();
          if (!all.ok()) return kUnknown;
          return static_cast<double>(std::count_if(
              all->begin(), all->end(), [&](const auto& t) { return t.state == state; }));
        });
  }
  metrics_
      .GetGauge("tesseras_build_info", "Always 1; the version is the label.",
                {{"version", std::string(kVersion)}})
      .Set(1);
}

void Node::StopLayers() {
  if (repair_) repair_->Stop();
  if (scrub_) scrub_->Stop();
  if (dht_) dht_->Stop();
}

core::Result<void> Node::ServeLocalApi() {
  fs::path path = socket_path();
  std::error_code ec;
  auto status = fs::symlink_status(path, ec);
  if (!ec && fs::exists(status)) {
    if (!fs::is_socket(status)) {
      return core::MakeError(
          core::ErrorCode::kAlreadyExists,
          fmt::format("{} exists and is not a socket; move it away to start tesd", path.string()));
    }
    // We hold the data dir lock, so no live daemon serves it: it is stale.
    fs::remove(path, ec);
    if (ec) return IoError(fmt::format("cannot remove stale socket {}", path.string()), ec);
    spdlog::info("api: removed stale socket {}", path.string());
  }
  api_ = std::make_unique<ApiServer>(io_.get_executor(), *operations_, kApiWorkerThreads,
                                     [this] { return metrics_.Render(); });
  TRY(api_->Listen(path));
  socket_bound_ = true;
  if (!config_.api.http_listen.empty()) {
    ASSIGN_OR_RETURN(auto endpoint, ParseEndpoint(config_.api.http_listen, /*min_port=*/0));
    auto bound = api_->ListenHttp(endpoint, api_token_);
    if (!bound.ok()) {
      return core::MakeError(
          bound.error().code,
          fmt::format("{}; set [api] http_listen (or --http-listen) to another address, or to "
                      "\"\" to turn the dashboard off",
                      bound.error().message));
    }
    http_address_ = FormatEndpoint(*bound);
    operations_->SetHttpAddress(http_address_);
    spdlog::info("api: dashboard at http://{}/ ({}; tes ui prints the link with the token)",
                 http_address_,
                 endpoint.address().is_loopback() ? "loopback only" : "REACHABLE FROM OTHER HOSTS");
  }
  api_->Start();
  return core::Ok();
}

void Node::BeginShutdown(std::string_view reason) {
  if (shutting_down_) {
    spdlog::warn("{} during shutdown: stopping now", reason);
    io_.stop();
    return;
  }
  shutting_down_ = true;
  spdlog::info("shutting down ({}): no new requests; finishing {} open API connection(s)", reason,
               api_ ? api_->open_connections() : 0);
  // A second signal stops at once.
  signals_.async_wait([this](const boost::system::error_code& wait_ec, int signal) {
    if (!wait_ec) BeginShutdown(signal == SIGINT ? "SIGINT" : "SIGTERM");
  });
  shutdown_deadline_.expires_after(kShutdownGrace);
  shutdown_deadline_.async_wait([this](const boost::system::error_code& wait_ec) {
    if (wait_ec) return;
    spdlog::warn("shutdown: requests still running after {} ms; cancelling them",
                 kShutdownGrace.count());
    StopLayers();  // running transfers end with `cancelled`
    io_.stop();
  });
  if (api_) {
    api_->Stop([this] { FinishShutdown(); });
  } else {
    FinishShutdown();
  }
}

void Node::FinishShutdown() {
  shutdown_deadline_.cancel();
  signals_.cancel();
  StopLayers();
}

}  // namespace tesseras::daemon
