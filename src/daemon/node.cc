#include "daemon/node.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <csignal>
#include <system_error>

#include "daemon/address.h"
#include "daemon/api_contract.h"
#include "daemon/local_node_operations.h"

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
      config_(config),
      signals_(io_, SIGINT, SIGTERM),
      shutdown_deadline_(io_),
      peer_acceptor_(io_) {}

Node::~Node() {
  // A start-up step failed after the socket was bound, or run() was left early:
  // do not leave a socket file nobody answers on.
  api_.reset();
  if (socket_bound_ && !shutting_down_) {
    std::error_code ec;
    fs::remove(socket_path(), ec);
  }
}

fs::path Node::socket_path() const { return SocketPath(options_.data_dir); }

core::Result<void> Node::Run() {
  TRY(PrepareDataDir());
  TRY(AcquireLock());
  TRY(LoadIdentity());
  TRY(OpenStorage());
  TRY(StartNetwork());
  TRY(StartReplication());
  TRY(BuildOperations());
  TRY(ServeLocalApi());

  signals_.async_wait([this](const boost::system::error_code& ec, int signal) {
    if (!ec) BeginShutdown(signal == SIGINT ? "SIGINT" : "SIGTERM");
  });
  spdlog::info("ready node_id={} listen={} api={}", identity_->node_id().ToHex(), listen_address_,
               socket_path().string());
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

core::Result<void> Node::OpenStorage() {
  // The storage layer (database, fragment store, ledger, blob store) is not part
  // of the daemon yet; nothing is opened and storage operations answer 501.
  spdlog::info(
      "storage: not built into this daemon yet; tessera, verify and ledger requests "
      "answer 501");
  return core::Ok();
}

core::Result<void> Node::StartNetwork() {
  ASSIGN_OR_RETURN(auto endpoint, ParseEndpoint(options_.listen, /*min_port=*/0));
  for (const std::string& entry : options_.bootstrap) {
    ASSIGN_OR_RETURN(auto list, ParseEndpointList(entry));
    bootstrap_.insert(bootstrap_.end(), list.begin(), list.end());
  }
  // The listening socket is real even before the peer protocol: it reserves the
  // address, fails start-up when it is taken, and resolves port 0.
  boost::system::error_code ec;
  peer_acceptor_.open(endpoint.protocol(), ec);
  if (!ec) peer_acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) peer_acceptor_.bind(endpoint, ec);
  if (!ec) peer_acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (!ec) {
    auto local = peer_acceptor_.local_endpoint(ec);
    if (!ec) listen_address_ = FormatEndpoint(local);
  }
  if (ec) {
    return core::MakeError(core::ErrorCode::kUnavailable,
                           fmt::format("cannot listen on {}: {}", options_.listen, ec.message()));
  }
  AcceptPeers();
  if (bootstrap_.empty()) {
    spdlog::info("network: listening on {}; no --bootstrap, this node starts a new network",
                 listen_address_);
  } else {
    std::string peers;
    for (const auto& b : bootstrap_) peers += (peers.empty() ? "" : ",") + FormatEndpoint(b);
    spdlog::info("network: listening on {}; bootstrap peers {}", listen_address_, peers);
  }
  spdlog::info(
      "network: the peer protocol and DHT are not built into this daemon yet; inbound "
      "peer connections are closed and bootstrap peers are not contacted");
  return core::Ok();
}

void Node::AcceptPeers() {
  peer_acceptor_.async_accept(
      [this](const boost::system::error_code& ec, asio::ip::tcp::socket socket) {
        if (ec == asio::error::operation_aborted || !peer_acceptor_.is_open()) return;
        if (!ec) {
          boost::system::error_code ignored;
          auto remote = socket.remote_endpoint(ignored);
          spdlog::debug("network: closed connection from {}: peer protocol not built yet",
                        ignored ? std::string("?") : FormatEndpoint(remote));
          socket.close(ignored);
        } else {
          spdlog::warn("network: accept failed: {}", ec.message());
        }
        AcceptPeers();
      });
}

core::Result<void> Node::StartReplication() {
  // The replication service and its repair loop are not part of the daemon yet.
  spdlog::info(
      "replication: not built into this daemon yet; repair every {}s (+ up to {}s) "
      "will start with it",
      config_.replication.repair_interval_secs, config_.replication.repair_jitter_secs);
  return core::Ok();
}

core::Result<void> Node::BuildOperations() {
  operations_ = std::make_unique<LocalNodeOperations>(identity_->node_id(), listen_address_);
  return core::Ok();
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
  api_ = std::make_unique<ApiServer>(io_.get_executor(), *operations_, kApiWorkerThreads);
  TRY(api_->Listen(path));
  socket_bound_ = true;
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
  boost::system::error_code ec;
  peer_acceptor_.close(ec);
  // A second signal stops at once.
  signals_.async_wait([this](const boost::system::error_code& wait_ec, int signal) {
    if (!wait_ec) BeginShutdown(signal == SIGINT ? "SIGINT" : "SIGTERM");
  });
  shutdown_deadline_.expires_after(kShutdownGrace);
  shutdown_deadline_.async_wait([this](const boost::system::error_code& wait_ec) {
    if (wait_ec) return;
    spdlog::warn("shutdown: requests still running after {} ms; stopping anyway",
                 kShutdownGrace.count());
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
}

}  // namespace tesseras::daemon
