#include "dht/dht_port_adapter.h"

#include <spdlog/spdlog.h>

namespace tesseras::dht {

using core::ErrorCode;
using core::MakeError;
using core::Result;

DhtRuntime::DhtRuntime(std::size_t workers) : pool_(workers == 0 ? 1 : workers) {}

Result<std::unique_ptr<DhtRuntime>> DhtRuntime::Start(const crypto::Identity& identity,
                                                      NodeConfig config, std::size_t workers) {
  std::unique_ptr<DhtRuntime> rt(new DhtRuntime(workers));
  rt->node_ = Node::Create(rt->io_.get_executor(), rt->pool_, identity, std::move(config));
  // Start on this thread before the network thread runs: nothing else touches
  // the node yet.
  TRY(rt->node_->Start());
  rt->local_ = rt->node_->endpoint().local_endpoint();
  rt->thread_ = std::thread([io = &rt->io_]() {
    auto guard = asio::make_work_guard(*io);
    try {
      io->run();
    } catch (const std::exception& e) {
      spdlog::critical("DHT network thread: {}", e.what());
    }
  });
  return rt;
}

DhtRuntime::~DhtRuntime() { Stop(); }

void DhtRuntime::Stop() {
  std::call_once(stop_once_, [this] {
    if (thread_.joinable()) {
      std::promise<void> stopped;
      auto done = stopped.get_future();
      asio::post(io_, [this, &stopped] {
        node_->Stop();
        stopped.set_value();
      });
      done.wait_for(std::chrono::seconds(5));
      io_.stop();
      thread_.join();
    } else {
      node_->Stop();
    }
    pool_.join();
    stopped_ = true;
  });
}

void DhtRuntime::SetReplicationHandler(std::shared_ptr<ReplicationHandler> handler) {
  node_->SetReplicationHandler(std::move(handler));
}

core::PeerInfo DhtRuntime::self_info() const {
  return core::PeerInfo{node_->id(), net::FormatEndpoint(local_)};
}

Result<std::vector<core::PeerInfo>> DhtPortAdapter::FindPeers(const core::NodeId& target,
                                                              std::size_t count) {
  if (count == 0) return std::vector<core::PeerInfo>{};
  return rt_.Run<std::vector<core::PeerInfo>>(
      [target, count](Node& node) -> asio::awaitable<Result<std::vector<core::PeerInfo>>> {
        CO_ASSIGN_OR_RETURN(auto contacts,
                            co_await node.Lookup(target, std::max(count, node.config().routing.k)));
        std::vector<core::PeerInfo> out;
        for (const auto& c : contacts) {
          if (out.size() >= count) break;
          out.push_back(c.ToPeerInfo());
        }
        co_return out;
      });
}

Result<core::ReplicateAck> DhtPortAdapter::ReplicateFragment(const core::PeerInfo& peer,
                                                             const core::FragmentEnvelope& envelope,
                                                             core::RandomAccessSource& bytes) {
  return rt_.Run<core::ReplicateAck>(
      [peer, envelope, &bytes](Node& node) { return node.Replicate(peer, envelope, bytes); });
}

Result<core::Attestation> DhtPortAdapter::RequestAttestation(
    const core::PeerInfo& peer, const core::ContentHash& tessera,
    const std::array<uint8_t, 32>& challenge, const std::vector<uint32_t>& indices,
    const std::optional<core::NodeId>& owner) {
  return rt_.Run<core::Attestation>([peer, tessera, challenge, indices, owner](Node& node) {
    return node.Attest(peer, tessera, challenge, indices, owner);
  });
}

Result<void> DhtPortAdapter::Ping(const core::PeerInfo& peer) {
  return rt_.Run<void>([peer](Node& node) { return node.Ping(peer); });
}

Result<void> DhtPortAdapter::FetchFragment(const core::PeerInfo& peer,
                                           const core::ContentHash& tessera, uint32_t index,
                                           core::ByteSink& out,
                                           const std::optional<core::NodeId>& owner) {
  return rt_.Run<void>([peer, tessera, index, &out, owner](Node& node) {
    return node.Fetch(peer, tessera, index, out, owner);
  });
}

Result<std::size_t> DhtPortAdapter::PutRecord(const core::NodeId& key,
                                              const std::vector<uint8_t>& record) {
  ASSIGN_OR_RETURN(Record parsed, Record::ParseVerified(record));
  if (parsed.key != key) {
    return MakeError(ErrorCode::kInvalidArgument, "record key differs from the key given");
  }
  return rt_.Run<std::size_t>([parsed](Node& node) { return node.Put(parsed); });
}

Result<std::vector<std::vector<uint8_t>>> DhtPortAdapter::GetRecords(const core::NodeId& key) {
  return rt_.Run<std::vector<std::vector<uint8_t>>>(
      [key](Node& node) -> asio::awaitable<Result<std::vector<std::vector<uint8_t>>>> {
        CO_ASSIGN_OR_RETURN(auto records, co_await node.Get(key));
        std::vector<std::vector<uint8_t>> out;
        for (const auto& r : records) out.push_back(r.Encode());
        co_return out;
      });
}

}  // namespace tesseras::dht
