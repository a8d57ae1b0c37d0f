// Pieces shared by the replication service's operations (push.cc, receive.cc,
// health.cc, repair.cc, restore.cc, staging.cc). Not part of the layer's API.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/bytes.h"
#include "core/fragment.h"
#include "core/ports/plan_store.h"
#include "crypto/blake3_hasher.h"
#include "replication/file_io.h"
#include "replication/maintenance_policy.h"
#include "replication/records.h"
#include "replication/replication_service.h"

namespace tesseras::replication {

// A sink that hashes and counts what passes through, and only finishes the
// underlying file when the bytes match what the plan says.
class CheckedSink final : public core::ByteSink {
 public:
  CheckedSink(core::ByteSink& inner, const core::ContentHash& expect, uint64_t size)
      : inner_(inner), expect_(expect), size_(size) {}
  core::Result<void> Write(std::span<const uint8_t> data) override;
  // Idempotent: the transport finishes the sink on success (DhtPort contract),
  // and the caller may call it again to learn the verdict.
  core::Result<void> Finish() override;

 private:
  core::ByteSink& inner_;
  core::ContentHash expect_;
  uint64_t size_;
  uint64_t written_ = 0;
  crypto::Blake3Hasher hash_;
  std::optional<core::Result<void>> verdict_;
};

// Runs fn(i) for i in [0, n) on up to `threads` threads.
void ParallelFor(std::size_t n, std::size_t threads, const std::function<void(std::size_t)>& fn);

inline core::PeerInfo PeerOf(const core::PlacementEntry& e) { return {e.holder, e.address}; }
std::vector<HolderEntry> ToHolderEntries(const std::vector<core::PlacementEntry>& placement);
std::vector<core::PlacementEntry> ToPlacement(const std::vector<HolderEntry>& holders);

// A fresh directory under `base` (the system temp dir when empty) for one
// operation's fragments; `what` names the operation in the directory name.
core::Result<std::filesystem::path> MakeScratch(const std::filesystem::path& base,
                                                const core::ContentHash& tessera, const char* what);

// Fragments encoded or fetched into a scratch directory, removed with it.
struct ReplicationService::Staged {
  std::filesystem::path dir;
  core::FragmentTable table;
  std::vector<bool> present;
  uint64_t fetched_bytes = 0;  // bytes that came over the network to stage them
  std::string note;            // what the report should say (a gather not used, and why)
  // Run at destruction (a gather marks its plan's gather as no longer in use).
  std::function<void()> release;
  bool gather = false;  // `dir` is a gather (kept when a local failure stops a rebuild)

  ~Staged();
  std::filesystem::path PathOf(uint32_t i) const { return dir / ShardFileName(i); }
  core::Result<std::unique_ptr<FileSource>> Open(uint32_t i) const {
    return FileSource::Open(PathOf(i));
  }
};

// The holders of a tessera as this node knows them: those it tracks (with
// each copy's history), merged with what the DHT says (the owner's record and
// holders' claims), and the copies this node keeps itself.
struct ReplicationService::View {
  std::vector<core::HolderView> holders;  // never this node; ordered by holder id
  std::vector<uint32_t> local;            // indices we keep whose bytes verified now
  std::vector<uint32_t> corrupt_local;    // ours by placement or claim, but bad or gone
  bool payload_local = false;             // the payload is in our blob store (we can re-encode)
  bool published = false;                 // placed at some time (holders known or local copies)
  bool stored = false;                    // the plan is in our plan store (we look after it)
  bool own_claim_found = false;           // the DHT returned our own claim
  bool records_cached = false;            // the DHT's answer came from the record cache
};

// What one check saw of each holder, in the order of View::holders.
struct ReplicationService::Audit {
  struct Holder {
    std::map<uint32_t, CopyObservation> seen;  // copies asked for; absent = not asked
    std::vector<uint32_t> proven;
    bool answered = false;
    bool reachable = false;
    std::string error;
  };
  std::vector<Holder> holders;
};

// What the DHT holds for a tessera, valid records only: per plan (by digest)
// the owner's newest holder record, and per plan and holder the newest claim.
// Plans that cannot be the tessera's (a small tier whose fragment does not
// hash to the tessera) are left out.
struct ReplicationService::Records {
  std::map<core::ContentHash, HolderRecord> owner_records;
  std::map<std::pair<core::ContentHash, core::NodeId>, HolderClaim> claims;
  std::string problem;      // why the last unusable record was unusable
  bool reached = false;     // the DHT answered
  bool from_cache = false;  // ... or the record cache did, for it
};

// The owner's newest valid holder record for one plan and the newest valid
// claim of each holder for the same plan.
struct ReplicationService::Found {
  std::optional<HolderRecord> owner_record;
  std::vector<HolderClaim> claims;
  std::string problem;
  bool from_cache = false;  // Records::from_cache
};

// A small tessera's one fragment is the payload itself, so its checksum must
// be the tessera hash: a plan that says otherwise cannot be the tessera's.
bool CanBeTheTessera(const SignedPlan& plan, const core::ContentHash& tessera);

// An error about a plan kept under `key`, fit to send to a peer: a slot
// (PlanSlot) is a secret of this node, so where `key` is not the hash its hex
// (whole or short) is replaced by the hash's.
core::Error HideSlot(core::Error e, const core::ContentHash& key, const core::ContentHash& tessera);

struct ReplicationService::Placed {
  std::vector<core::PlacementEntry> acked;  // per holder, the indices it acknowledged
  uint64_t bytes_sent = 0;
};

struct ReplicationService::Metrics {
  explicit Metrics(core::MetricsRegistry& r);
  core::MetricsRegistry& registry;
  core::Counter& attest_ok;
  core::Counter& attest_failed;
  core::Counter& attest_unanswered;
  core::Counter& passes;
  core::Counter& repair_sent;
  core::Counter& repair_received;
  core::Counter& record_reads_cache;    // tessera record reads the cache answered
  core::Counter& record_reads_network;  // and those that asked the DHT
  core::Counter& probes_answered;       // suspect holders probed that answered
  core::Counter& probes_unanswered;     // ... and those that stayed silent
};

// Converts between placements (who holds what) and tracked holder views: the
// copies that count (proven or suspect), or only the proven ones.
std::vector<core::PlacementEntry> CountedPlacement(const std::vector<core::HolderView>& holders,
                                                   int64_t now_ms, const MaintenancePolicyConfig& c,
                                                   bool proven_only = false);
void AddCopies(std::vector<core::HolderView>& holders, const core::PlacementEntry& acked,
               int64_t now_ms);

}  // namespace tesseras::replication
