// NodeOperations: what the local API can ask of a node, one method per endpoint.
// The API server (daemon/api_server.h) only maps HTTP and JSON to these calls and
// their results back; every decision about tesseras lives behind this interface.
//
// Contract
// - Each method returns the JSON document of a successful reply (shapes in
//   docs/DAEMON.md, "Local API") or an Error whose code picks the HTTP status
//   (daemon/api_contract.h: kInvalidArgument → 400, kNotFound → 404,
//   kUnimplemented → 501, …). An operation that is not built answers
//   kUnimplemented; none reports success without doing the work.
// - Arguments are already checked for shape: hashes are parsed, paths are
//   absolute. Whether they exist is the implementation's business.
// - Blocking is allowed: the server calls these on a worker thread of its own
//   pool, never on the I/O thread, so a long publish or fetch does not stall the
//   API. Several calls may run at once: implementations are thread-safe.
// - Exceptions must not escape; the server turns one that does into a 500.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <vector>

#include "core/ids.h"
#include "core/result.h"

namespace tesseras::daemon {

using Json = nlohmann::json;

class NodeOperations {
 public:
  virtual ~NodeOperations() = default;

  // GET /v1/node → {"node_id", "listen", "http", "peers", "bytes_stored",
  //   "bytes_stored_for_others", "bytes_stored_by_others", "version",
  //   "started_at", "uptime_secs", "disk", "maintenance", "scrub"}
  virtual core::Result<Json> GetNode() = 0;

  // GET /v1/tesseras → [{"hash", "tier", "size", "state", "files", "created_at"}]
  virtual core::Result<Json> ListTesseras() = 0;

  // POST /v1/tesseras {"paths": [...]} → {"hash", "size", "files"}
  virtual core::Result<Json> CreateTessera(const std::vector<std::filesystem::path>& paths) = 0;

  // GET /v1/tesseras/{hash} → the manifest (docs/DAEMON.md)
  virtual core::Result<Json> ShowTessera(const core::ContentHash& hash) = 0;

  // POST /v1/tesseras/{hash}/publish → {"hash", "tier", "fragments", "holders"}
  virtual core::Result<Json> PublishTessera(const core::ContentHash& hash) = 0;

  // GET /v1/tesseras/{hash}/status → health (docs/DAEMON.md)
  virtual core::Result<Json> TesseraStatus(const core::ContentHash& hash) = 0;

  // POST /v1/tesseras/{hash}/fetch {"out": DIR} → {"hash", "files", "bytes"}
  virtual core::Result<Json> FetchTessera(const core::ContentHash& hash,
                                          const std::filesystem::path& out_dir) = 0;

  // POST /v1/repair [{"hash"}] → {"tesseras": [per-tessera report]}
  virtual core::Result<Json> Repair(const std::optional<core::ContentHash>& hash) = 0;

  // POST /v1/verify [{"hash"}] → {"checked", "failed": [...]}
  virtual core::Result<Json> Verify(const std::optional<core::ContentHash>& hash) = 0;

  // GET /v1/peers → [{"node_id", "addr"}]
  virtual core::Result<Json> ListPeers() = 0;

  // GET /v1/ledger → [{"peer", "bytes_stored_for_them", "bytes_they_store_for_us", "balance"}]
  virtual core::Result<Json> Ledger() = 0;

  // GET /v1/events → [{"at", "first_at", "count", "kind", "tessera", "peer", "addr",
  //   "message"}], newest first: problems this daemon saw since it started
  virtual core::Result<Json> Events() = 0;

  // GET /v1/maintenance → {"repair_interval_secs", "repair_jitter_secs",
  //   "passes_completed", "running", "last_passes", "queue"}
  virtual core::Result<Json> Maintenance() = 0;
};

}  // namespace tesseras::daemon
