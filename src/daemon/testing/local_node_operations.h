// A NodeOperations for the API server's and router's own tests: GetNode
// answers from the node's key and listen address, every other operation
// answers kUnimplemented (HTTP 501) naming what it would need. It lets those
// tests exercise routing, JSON and the error mapping without storage, the DHT
// or replication. tesd serves ReplicatedNodeOperations (daemon/replicated_node.h).
#pragma once

#include <string>

#include "core/ids.h"
#include "daemon/node_operations.h"

namespace tesseras::daemon {

class LocalNodeOperations final : public NodeOperations {
 public:
  // `listen` is the peer address as bound ("127.0.0.1:7700").
  LocalNodeOperations(core::NodeId node_id, std::string listen);

  core::Result<Json> GetNode() override;
  core::Result<Json> ListTesseras() override;
  core::Result<Json> CreateTessera(const std::vector<std::filesystem::path>& paths) override;
  core::Result<Json> ShowTessera(const core::ContentHash& hash) override;
  core::Result<Json> PublishTessera(const core::ContentHash& hash) override;
  core::Result<Json> TesseraStatus(const core::ContentHash& hash) override;
  core::Result<Json> FetchTessera(const core::ContentHash& hash,
                                  const std::filesystem::path& out_dir) override;
  core::Result<Json> Repair(const std::optional<core::ContentHash>& hash) override;
  core::Result<Json> Verify(const std::optional<core::ContentHash>& hash) override;
  core::Result<Json> ListPeers() override;
  core::Result<Json> Ledger() override;
  core::Result<Json> Events() override;
  core::Result<Json> Maintenance() override;

 private:
  const core::NodeId node_id_;
  const std::string listen_;
};

}  // namespace tesseras::daemon
