// DhtRuntime runs a dht::Node on its own network thread with a worker pool for
// disk work; DhtPortAdapter implements core::DhtPort over it.
//
// The adapter's calls block the calling (worker) thread: each posts a coroutine
// to the network thread and waits for its result. Every network step inside has
// its own timeout (net::Limits), so calls end; if the runtime stops first they
// return kCancelled. Calling from the network thread itself is refused with
// kInternal (it would deadlock). Exceptions never escape the adapter.
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <future>
#include <memory>
#include <thread>

#include "core/ports/dht_port.h"
#include "dht/async.h"
#include "dht/node.h"

namespace tesseras::dht {

class DhtRuntime {
 public:
  // Creates the node, starts listening and (with seeds) bootstrapping.
  static core::Result<std::unique_ptr<DhtRuntime>> Start(const crypto::Identity& identity,
                                                         NodeConfig config,
                                                         std::size_t workers = 4);
  ~DhtRuntime();
  DhtRuntime(const DhtRuntime&) = delete;
  DhtRuntime& operator=(const DhtRuntime&) = delete;

  // Stops the node, the network thread and the pool (waits for running disk
  // work). Idempotent; any thread except the network thread.
  void Stop();

  // Any thread. See ReplicationHandler.
  void SetReplicationHandler(std::shared_ptr<ReplicationHandler> handler);

  // Runs `make(node)` on the network thread and blocks for its result.
  template <typename T>
  core::Result<T> Run(std::function<asio::awaitable<core::Result<T>>(Node&)> make) {
    if (io_.get_executor().running_in_this_thread()) {
      return core::MakeError(core::ErrorCode::kInternal,
                             "blocking DHT call from the network thread");
    }
    if (stopped_) return core::MakeError(core::ErrorCode::kCancelled, "DHT stopped");
    auto node = node_;
    std::future<core::Result<T>> fut;
    try {
      fut = SpawnFuture<core::Result<T>>(io_.get_executor(),
                                         [node, make = std::move(make)]() { return make(*node); });
      while (fut.wait_for(std::chrono::milliseconds(50)) != std::future_status::ready) {
        if (stopped_) return core::MakeError(core::ErrorCode::kCancelled, "DHT stopped");
      }
      return fut.get();
    } catch (const std::exception& e) {
      return core::MakeError(core::ErrorCode::kInternal, e.what());
    }
  }

  const core::NodeId& id() const { return node_->id(); }
  net::tcp::endpoint local_endpoint() const { return local_; }
  core::PeerInfo self_info() const;
  asio::any_io_executor executor() { return io_.get_executor(); }
  // The node; touch it only on the network thread (e.g. inside Run()).
  Node& node() { return *node_; }

 private:
  DhtRuntime(std::size_t workers);

  asio::io_context io_;
  asio::thread_pool pool_;
  std::shared_ptr<Node> node_;
  std::thread thread_;
  net::tcp::endpoint local_;
  std::atomic<bool> stopped_{false};
  std::once_flag stop_once_;
};

class DhtPortAdapter final : public core::DhtPort {
 public:
  // `runtime` must outlive the adapter.
  explicit DhtPortAdapter(DhtRuntime& runtime) : rt_(runtime) {}

  core::Result<std::vector<core::PeerInfo>> FindPeers(const core::NodeId& target,
                                                      std::size_t count) override;
  core::Result<core::ReplicateAck> ReplicateFragment(const core::PeerInfo& peer,
                                                     const core::FragmentEnvelope& envelope,
                                                     core::RandomAccessSource& bytes) override;
  core::Result<core::Attestation> RequestAttestation(
      const core::PeerInfo& peer, const core::ContentHash& tessera,
      const std::array<uint8_t, 32>& challenge, const std::vector<uint32_t>& indices,
      const std::optional<core::NodeId>& owner) override;
  core::Result<void> Ping(const core::PeerInfo& peer) override;
  core::Result<void> FetchFragment(const core::PeerInfo& peer, const core::ContentHash& tessera,
                                   uint32_t index, core::ByteSink& out,
                                   const std::optional<core::NodeId>& owner) override;
  core::Result<std::size_t> PutRecord(const core::NodeId& key,
                                      const std::vector<uint8_t>& record) override;
  core::Result<std::vector<std::vector<uint8_t>>> GetRecords(const core::NodeId& key) override;

 private:
  DhtRuntime& rt_;
};

}  // namespace tesseras::dht
