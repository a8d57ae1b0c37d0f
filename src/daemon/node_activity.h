// NodeActivity: what this daemon has seen since it started, for the dashboard
// (GET /v1/events, GET /v1/maintenance, the health columns of GET
// /v1/tesseras): recent problems, the last health check of each tessera, and
// the repair passes it ran. Nothing here is persisted; after a restart it
// starts empty and fills as checks and passes run.
//
// Bounded: at most kMaxEvents events and kMaxPasses passes are kept (the
// oldest go first); one health summary per tessera this node checked.
// Thread-safe: every method may be called from any thread.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/ids.h"

namespace tesseras::daemon {

class NodeActivity {
 public:
  static constexpr std::size_t kMaxEvents = 200;
  static constexpr std::size_t kMaxPasses = 20;

  // The same problem seen again (same kind, tessera, peer and message) is
  // counted on its event, which moves to the front, rather than added anew:
  // a dead holder checked every few seconds is one event, not hundreds.
  struct Event {
    int64_t at_ms = 0;        // last seen
    int64_t first_at_ms = 0;  // first seen
    uint32_t count = 1;
    // "audit_failed": a holder did not prove its fragments in a health check;
    // "peer_refused": a peer refused or failed a fragment we sent (publish,
    // repair); "refused": we refused a fragment a peer sent us (its plan, our
    // limits with its owner, the spool, or bytes that did not match);
    // "fetch_failed": a holder could not give a fragment back;
    // "repair_problem": a repair could not do something; "repair_loop": the
    // background repair loop reported a failure.
    std::string kind;
    std::string tessera;  // 64 hex, or empty
    std::string peer;     // node id, 64 hex, or empty
    std::string addr;     // the peer's address, or empty
    std::string message;
  };

  // A repair pass this daemon ran (through the API or at start of a request).
  struct Pass {
    int64_t started_at_ms = 0;
    std::optional<int64_t> finished_at_ms;  // nullopt while it runs
    std::string trigger;                    // "api"
    std::string scope;                      // a tessera hash, or "all"
    uint32_t tesseras = 0;                  // reports in the pass
    uint32_t regenerated = 0;               // fragments re-created and placed
    uint32_t mended_local = 0;              // local fragments replaced
    uint32_t problems = 0;
    std::string error;  // the pass failed as a whole
  };

  void Record(Event event);
  // Newest first.
  std::vector<Event> Events() const;

  // The last health summary of a tessera (the status JSON without holders,
  // plus "checked_at"), replacing the previous one.
  void RecordHealth(const core::ContentHash& tessera, nlohmann::json summary);
  std::optional<nlohmann::json> Health(const core::ContentHash& tessera) const;
  std::map<core::ContentHash, nlohmann::json> AllHealth() const;

  // Returns an id for PassFinished.
  uint64_t PassStarted(int64_t at_ms, std::string trigger, std::string scope);
  void PassFinished(uint64_t id, const Pass& result);
  // Newest first; a running pass has no finished_at_ms.
  std::vector<Pass> Passes() const;

 private:
  mutable std::mutex mu_;
  std::deque<Event> events_;
  std::map<core::ContentHash, nlohmann::json> health_;
  std::deque<std::pair<uint64_t, Pass>> passes_;
  uint64_t next_pass_ = 1;
};

}  // namespace tesseras::daemon
