// ReplicatedNodeOperations: the local API's operations over the real layers:
// storage (database, fragment store, ledger, blob store, plan store, tessera
// repository), the DHT runtime and the replication service.
//
// Blocking and thread-safe, as NodeOperations requires. Owns nothing: the
// composition root (daemon/node.h) keeps the layers alive for its lifetime.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "crypto/identity.h"
#include "daemon/node_operations.h"
#include "dht/dht_port_adapter.h"
#include "replication/replication_service.h"
#include "storage/blob_store.h"
#include "storage/fragment_store.h"
#include "storage/reciprocity_ledger.h"
#include "storage/scrub.h"
#include "storage/tessera_repository.h"

namespace tesseras::daemon {

struct ReplicatedNodeDeps {
  const crypto::Identity* identity = nullptr;
  std::string listen;  // the address peers reach us at
  std::filesystem::path scratch_dir;
  storage::FsFragmentStore* fragments = nullptr;
  storage::SqliteReciprocityLedger* ledger = nullptr;
  storage::FsBlobStore* blobs = nullptr;
  storage::TesseraRepository* tesseras = nullptr;
  dht::DhtRuntime* dht = nullptr;
  replication::ReplicationService* replication = nullptr;
  replication::RepairLoop* repair = nullptr;
  storage::Scrubber* scrub = nullptr;  // null: GET /v1/node has no "scrub"
  core::Clock* clock = nullptr;
};

class ReplicatedNodeOperations final : public NodeOperations {
 public:
  explicit ReplicatedNodeOperations(ReplicatedNodeDeps deps) : d_(std::move(deps)) {}

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

 private:
  core::Result<std::vector<core::PeerInfo>> Peers();
  ReplicatedNodeDeps d_;
};

// JSON of one repair report (shared by `tes repair` and the repair log).
Json RepairReportJson(const replication::RepairReport& r);

// The background scrub's position and last full cycle (GET /v1/node "scrub").
Json ScrubStatusJson(const storage::ScrubStatus& s);

}  // namespace tesseras::daemon
