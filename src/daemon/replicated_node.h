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
#include "daemon/node_activity.h"
#include "daemon/node_operations.h"
#include "dht/dht_port_adapter.h"
#include "replication/replication_service.h"
#include "storage/blob_store.h"
#include "storage/fragment_store.h"
#include "storage/plan_store.h"
#include "storage/reciprocity_ledger.h"
#include "storage/scrub.h"
#include "storage/tessera_repository.h"

namespace tesseras::daemon {

struct ReplicatedNodeDeps {
  const crypto::Identity* identity = nullptr;
  std::string listen;  // the address peers reach us at
  std::filesystem::path data_dir;
  std::filesystem::path scratch_dir;
  int64_t started_at_ms = 0;  // when the daemon started (Unix ms)
  uint64_t repair_interval_secs = 0;
  uint64_t repair_jitter_secs = 0;
  storage::FsFragmentStore* fragments = nullptr;
  storage::SqliteReciprocityLedger* ledger = nullptr;
  storage::FsBlobStore* blobs = nullptr;
  storage::SqlitePlanStore* plans = nullptr;
  storage::TesseraRepository* tesseras = nullptr;
  NodeActivity* activity = nullptr;
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
  core::Result<Json> Events() override;
  core::Result<Json> Maintenance() override;

  // The HTTP listener's bound address, reported by GetNode ("" when it is
  // off). Set before the API starts serving.
  void SetHttpAddress(std::string address) { http_address_ = std::move(address); }

  // Routing table size (runs on the DHT's network thread; blocks).
  core::Result<std::size_t> PeerCount();

 private:
  core::Result<std::vector<core::PeerInfo>> Peers();
  void RecordRepair(const replication::RepairReport& r);
  ReplicatedNodeDeps d_;
  std::string http_address_;
};

// The names of storage::TesseraState in the API ("local", "replicating",
// "healthy", "degraded", "lost", "restored").
std::string TesseraStateApiName(storage::TesseraState s);

// "127.0.101.0/24", "2001:db8:1::/48": the subnet an address counts in for
// placement diversity (replication::SubnetKey), as people write it.
std::string SubnetLabel(const std::string& address);

// JSON of one repair report (shared by `tes repair` and the repair log).
Json RepairReportJson(const replication::RepairReport& r);

// What the dashboard lists of a health check (daemon/dashboard_ops.cc):
// {"state", "fragments_verified", "fragments_total", "data_shards",
//  "replication_factor", "holders_proven", "margin", "checked_at"}. `margin`
// is how many more fragments (Small: copies) can be lost before the tessera
// is: fragments_verified - data_shards, or holders_proven - 1 for Small.
Json HealthSummaryJson(const replication::HealthReport& h, int64_t checked_at_ms);

// [{"subnet", "holders", "fragments"}]: how the holders spread over subnets,
// the most crowded first.
Json SubnetSpreadJson(const replication::HealthReport& h);

// {"horizon_years", "p_lost", "availability", "departures_per_year",
//  "repair_delay_hours", "units_counted", "method"}: the durability estimate
// in GET /v1/tesseras/{hash}/status.
Json DurabilityJson(const replication::DurabilityEstimate& e, int horizon_years);

// The background scrub's position and last full cycle (GET /v1/node "scrub").
Json ScrubStatusJson(const storage::ScrubStatus& s);

}  // namespace tesseras::daemon
