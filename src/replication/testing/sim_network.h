// An in-process network of replication nodes for tests. Every DhtPort call is
// delivered to the target node's ReplicationService exactly as the real
// transport would deliver it; nodes can be taken offline. Lookups return the
// true closest online nodes (what a converged Kademlia returns), and records
// live at the 20 closest online nodes, so an offline node takes its records
// with it.
#pragma once

#include <algorithm>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>

#include "core/ports/dht_port.h"
#include "replication/memory_plan_store.h"
#include "replication/replication_service.h"
#include "replication/testing/memory_ports.h"

namespace tesseras::replication::testing {

class SimNetwork;

struct SimNode {
  crypto::Identity identity;
  std::string address;
  MemoryFragmentStore fragments;
  MemoryLedger ledger;
  MemoryBlobStore blobs;
  MemoryPlanStore plans;
  // The ports the service uses: the in-memory ones above unless a test plugs
  // in real stores (see SimNetwork::AddNode's `customize`).
  core::FragmentStore* fragment_port = &fragments;
  core::ReciprocityLedger* ledger_port = &ledger;
  core::BlobStore* blob_port = &blobs;
  core::PlanStore* plan_port = &plans;
  std::unique_ptr<core::DhtPort> dht;
  std::unique_ptr<ReplicationService> service;
  // Set by `customize` to change the service's deps (record framing, ...)
  // before the service is made.
  std::function<void(ReplicationDeps&)> customize_deps;
  bool online = true;
  // Test hook: called with the requested indices before this node answers an
  // attestation request; an error is returned to the requester instead.
  std::function<core::Result<void>(const std::vector<uint32_t>&)> before_attest;
  // Test hook: called with the index before this node serves a fragment.
  std::function<void(uint32_t)> before_fetch;
  ReplicationDeps deps;  // what the service was made with (Restart makes it again)
  std::mutex records_mu;
  std::map<core::NodeId, std::vector<std::vector<uint8_t>>> records;

  SimNode(crypto::Identity id, std::string addr, uint64_t capacity)
      : identity(std::move(id)), address(std::move(addr)), fragments(capacity) {}
  core::PeerInfo peer() const { return {identity.node_id(), address}; }
};

class SimDht final : public core::DhtPort {
 public:
  SimDht(SimNetwork& net, SimNode& self) : net_(net), self_(self) {}
  core::Result<std::vector<core::PeerInfo>> FindPeers(const core::NodeId& target,
                                                      std::size_t count) override;
  core::Result<core::ReplicateAck> ReplicateFragment(const core::PeerInfo& peer,
                                                     const core::FragmentEnvelope& env,
                                                     core::RandomAccessSource& bytes) override;
  core::Result<core::Attestation> RequestAttestation(
      const core::PeerInfo& peer, const core::ContentHash& tessera,
      const std::array<uint8_t, 32>& c, const std::vector<uint32_t>& indices,
      const std::optional<core::NodeId>& owner) override;
  core::Result<void> Ping(const core::PeerInfo& peer) override;
  core::Result<void> FetchFragment(const core::PeerInfo& peer, const core::ContentHash& tessera,
                                   uint32_t index, core::ByteSink& out,
                                   const std::optional<core::NodeId>& owner) override;
  core::Result<std::size_t> PutRecord(const core::NodeId& key,
                                      const std::vector<uint8_t>& record) override;
  core::Result<std::vector<std::vector<uint8_t>>> GetRecords(const core::NodeId& key) override;

 private:
  core::Result<SimNode*> Reach(const core::PeerInfo& peer);
  SimNetwork& net_;
  SimNode& self_;
};

class SimNetwork {
 public:
  explicit SimNetwork(core::Clock& clock) : clock_(clock) {}

  // Adds a node at `address` ("127.0.N.1:7700" style; the /24 matters).
  SimNode& AddNode(const std::string& address, ReplicationConfig config = {},
                   uint64_t capacity = UINT64_MAX,
                   const std::function<void(SimNode&)>& customize = {}) {
    auto node = std::make_unique<SimNode>(*crypto::Identity::Generate(0), address, capacity);
    node->dht = std::make_unique<SimDht>(*this, *node);
    if (customize) customize(*node);
    ReplicationDeps deps;
    deps.self = &node->identity;
    deps.self_address = node->address;
    deps.dht = node->dht.get();
    deps.fragments = node->fragment_port;
    deps.ledger = node->ledger_port;
    deps.blobs = node->blob_port;
    deps.plans = node->plan_port;
    deps.clock = &clock_;
    if (node->customize_deps) node->customize_deps(deps);
    node->deps = deps;
    node->service = std::make_unique<ReplicationService>(deps, config);
    std::lock_guard lock(mu_);
    nodes_.push_back(std::move(node));
    return *nodes_.back();
  }

  // A restart of the node's process, as tesd's: its stores stay; the service
  // and what it held in memory (the DHT records it stored for others among
  // them) are lost, and its scratch directory is wiped. `config.gather_dir`,
  // if set apart from it, stays.
  void Restart(SimNode& node, const ReplicationConfig& config) {
    node.service.reset();
    {
      std::lock_guard lock(node.records_mu);
      node.records.clear();
    }
    if (!config.scratch_dir.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(config.scratch_dir, ec);
      std::filesystem::create_directories(config.scratch_dir, ec);
    }
    node.service = std::make_unique<ReplicationService>(node.deps, config);
  }

  std::vector<SimNode*> Online(const core::NodeId& exclude) {
    std::lock_guard lock(mu_);
    std::vector<SimNode*> out;
    for (auto& n : nodes_)
      if (n->online && n->identity.node_id() != exclude) out.push_back(n.get());
    return out;
  }
  SimNode* Find(const core::NodeId& id) {
    std::lock_guard lock(mu_);
    for (auto& n : nodes_)
      if (n->identity.node_id() == id) return n.get();
    return nullptr;
  }
  std::vector<SimNode*> Closest(const core::NodeId& key, std::size_t count,
                                const core::NodeId& exclude) {
    auto all = Online(exclude);
    std::sort(all.begin(), all.end(), [&](SimNode* a, SimNode* b) {
      return core::XorDistance(a->identity.node_id(), key) <
             core::XorDistance(b->identity.node_id(), key);
    });
    if (all.size() > count) all.resize(count);
    return all;
  }
  std::vector<std::unique_ptr<SimNode>>& nodes() { return nodes_; }
  std::atomic<uint64_t> messages{0};
  std::atomic<uint64_t> record_lookups{0};  // GetRecords calls, by any node

  // What a DHT's periodic republish does: every record held by an online
  // node moves to (is copied to) the 20 online nodes now closest to its key,
  // so records outlive the nodes that first stored them.
  void Republish() {
    std::map<core::NodeId, std::vector<std::vector<uint8_t>>> all;
    for (SimNode* n : Online(core::NodeId{})) {
      std::lock_guard lock(n->records_mu);
      for (const auto& [key, list] : n->records) {
        auto& mine = all[key];
        for (const auto& r : list) {
          if (std::find(mine.begin(), mine.end(), r) == mine.end()) mine.push_back(r);
        }
      }
    }
    for (const auto& [key, list] : all) {
      for (SimNode* n : Closest(key, 20, core::NodeId{})) {
        std::lock_guard lock(n->records_mu);
        auto& mine = n->records[key];
        for (const auto& r : list) {
          if (std::find(mine.begin(), mine.end(), r) == mine.end()) mine.push_back(r);
        }
      }
    }
  }
  // Drops, everywhere, the records `doomed` says (e.g. one publisher's, as if
  // they expired after it left for good).
  void ForgetRecords(const std::function<bool(const std::vector<uint8_t>&)>& doomed) {
    std::lock_guard lock(mu_);
    for (auto& n : nodes_) {
      std::lock_guard rlock(n->records_mu);
      for (auto& [key, list] : n->records) {
        list.erase(std::remove_if(list.begin(), list.end(), doomed), list.end());
      }
    }
  }

 private:
  core::Clock& clock_;
  std::mutex mu_;
  std::vector<std::unique_ptr<SimNode>> nodes_;
};

inline core::Result<SimNode*> SimDht::Reach(const core::PeerInfo& peer) {
  ++net_.messages;
  SimNode* n = net_.Find(peer.id);
  if (!n || !n->online) {
    return core::MakeError(core::ErrorCode::kUnavailable, "peer " + peer.id.Short() + "… is down");
  }
  return n;
}

inline core::Result<std::vector<core::PeerInfo>> SimDht::FindPeers(const core::NodeId& target,
                                                                   std::size_t count) {
  std::vector<core::PeerInfo> out;
  for (SimNode* n : net_.Closest(target, count, self_.identity.node_id())) out.push_back(n->peer());
  return out;
}

inline core::Result<core::ReplicateAck> SimDht::ReplicateFragment(const core::PeerInfo& peer,
                                                                  const core::FragmentEnvelope& env,
                                                                  core::RandomAccessSource& bytes) {
  ASSIGN_OR_RETURN(SimNode * n, Reach(peer));
  core::SequentialReader reader(bytes);
  return n->service->ReceiveFragment(self_.peer(), env, reader);
}

inline core::Result<core::Attestation> SimDht::RequestAttestation(
    const core::PeerInfo& peer, const core::ContentHash& tessera, const std::array<uint8_t, 32>& c,
    const std::vector<uint32_t>& indices, const std::optional<core::NodeId>& owner) {
  // What the wire would refuse to carry (docs/PROTOCOL.md, AttestRequest).
  std::set<uint32_t> distinct(indices.begin(), indices.end());
  if (indices.size() > 255 || distinct.size() != indices.size() ||
      (!distinct.empty() && *distinct.rbegin() >= 255)) {
    return core::MakeError(core::ErrorCode::kInvalidArgument, "bad fragment indices");
  }
  ASSIGN_OR_RETURN(SimNode * n, Reach(peer));
  if (n->before_attest) TRY(n->before_attest(indices));
  ASSIGN_OR_RETURN(auto att,
                   n->service->HandleAttestationRequest(self_.peer(), tessera, c, indices, owner));
  // Like the real transport: an answer must fit in one frame.
  if (AttestationWireBound(att) > core::kMaxMessageBytes) {
    return core::MakeError(core::ErrorCode::kResourceExhausted,
                           "attestation does not fit in one frame");
  }
  att.requested = indices;  // the transport does not echo it; the requester knows it
  return att;
}

inline core::Result<void> SimDht::Ping(const core::PeerInfo& peer) {
  ASSIGN_OR_RETURN(SimNode * n, Reach(peer));
  (void)n;
  return core::Ok();
}

inline core::Result<void> SimDht::FetchFragment(const core::PeerInfo& peer,
                                                const core::ContentHash& tessera, uint32_t index,
                                                core::ByteSink& out,
                                                const std::optional<core::NodeId>& owner) {
  ASSIGN_OR_RETURN(SimNode * n, Reach(peer));
  if (n->before_fetch) n->before_fetch(index);
  // Like the real transport: stream every byte, then finish the caller's sink.
  return n->service->ServeFragment(self_.peer(), tessera, index, out, owner);
}

inline core::Result<std::size_t> SimDht::PutRecord(const core::NodeId& key,
                                                   const std::vector<uint8_t>& record) {
  auto targets = net_.Closest(key, 20, core::NodeId{});
  std::size_t stored = 0;
  for (SimNode* n : targets) {
    ++net_.messages;
    std::lock_guard lock(n->records_mu);
    auto& list = n->records[key];
    if (std::find(list.begin(), list.end(), record) == list.end()) list.push_back(record);
    ++stored;
  }
  if (stored == 0) return core::MakeError(core::ErrorCode::kUnavailable, "no node took the record");
  return stored;
}

inline core::Result<std::vector<std::vector<uint8_t>>> SimDht::GetRecords(const core::NodeId& key) {
  ++net_.record_lookups;
  std::vector<std::vector<uint8_t>> out;
  for (SimNode* n : net_.Closest(key, 20, core::NodeId{})) {
    ++net_.messages;
    std::lock_guard lock(n->records_mu);
    auto it = n->records.find(key);
    if (it == n->records.end()) continue;
    for (const auto& r : it->second) {  // like a lookup: each distinct record once
      if (std::find(out.begin(), out.end(), r) == out.end()) out.push_back(r);
    }
  }
  if (out.empty()) return core::MakeError(core::ErrorCode::kNotFound, "no record for the key");
  return out;
}

}  // namespace tesseras::replication::testing
