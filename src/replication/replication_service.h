// ReplicationService: owner-push replication, receiving, attestation, health,
// repair and restore (docs/REPLICATION.md). It talks to the world only through
// core ports, so the same code runs over the real network and in tests.
//
// Threading: every method is blocking and thread-safe; call them from worker
// threads, never from the network thread (they wait on DhtPort calls).
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/fragment.h"
#include "core/metrics.h"
#include "core/ports/blob_store.h"
#include "core/ports/clock.h"
#include "core/ports/dht_port.h"
#include "core/ports/fragment_store.h"
#include "core/ports/plan_store.h"
#include "core/ports/reciprocity_ledger.h"
#include "crypto/identity.h"
#include "replication/attestation.h"
#include "replication/config.h"
#include "replication/records.h"

namespace tesseras::replication {

struct ReplicationDeps {
  const crypto::Identity* self = nullptr;
  core::DhtPort* dht = nullptr;
  core::FragmentStore* fragments = nullptr;
  core::ReciprocityLedger* ledger = nullptr;
  core::BlobStore* blobs = nullptr;  // the owner's payloads, keyed by tessera hash
  core::PlanStore* plans = nullptr;
  core::Clock* clock = nullptr;
  core::MetricsRegistry* metrics = nullptr;
  // How a holder record is framed for the DHT and read back. The real DHT wraps
  // values in its own signed record (dht::Record); left empty, the holder
  // record's bytes are stored as they are (the in-process simulator).
  std::function<core::Result<std::vector<uint8_t>>(const core::NodeId& key,
                                                   const std::vector<uint8_t>& value)>
      seal_record;
  std::function<core::Result<std::vector<uint8_t>>(const std::vector<uint8_t>& record)> open_record;
};

struct PeerFailure {
  core::PeerInfo peer;
  std::vector<uint32_t> indices;
  std::string error;
};

struct ReplicationReport {
  core::ContentHash tessera;
  core::FragmentPlan plan;
  std::vector<core::PlacementEntry> holders;  // what was acknowledged
  std::vector<PeerFailure> failures;          // per peer, including ones retried elsewhere
  std::size_t holder_records_stored = 0;      // DHT nodes that accepted the holder record
  uint32_t fragments_placed() const;
};

enum class HealthState { kLocal, kHealthy, kDegraded, kLost };
std::string_view HealthStateName(HealthState s);

enum class HealthOutcome { kHealthy, kNeedsReplication, kCorruptLocal };

struct HolderHealth {
  core::PlacementEntry entry;
  bool answered = false;         // gave a valid attestation (for at least one batch)
  bool reachable = false;        // answered, or at least answered a ping ("data lost" vs "down")
  std::vector<uint32_t> proven;  // sorted; only indices it was asked for
  std::string error;             // the first problem met, if any
};

struct HealthReport {
  core::ContentHash tessera;
  core::FragmentPlan plan;
  HealthOutcome outcome = HealthOutcome::kHealthy;
  uint32_t deficit = 0;                 // fragments (or small-tier copies) to re-create
  std::vector<uint32_t> corrupt_local;  // indices assigned to us whose bytes are bad or gone
  HealthState state = HealthState::kLocal;
  uint32_t fragments_verified = 0;  // distinct fragments proven held (small: holders)
  std::vector<HolderHealth> holders;
  bool own = false;  // we are the owner
};

struct RepairReport {
  core::ContentHash tessera;
  HealthReport before;
  std::vector<uint32_t> regenerated;              // fragments re-created and placed
  std::vector<core::PlacementEntry> new_holders;  // where they went
  std::vector<uint32_t> mended_local;             // local fragments replaced
  std::vector<std::string> problems;              // what could not be done, and why
};

struct FetchReport {
  core::ContentHash tessera;
  core::FragmentPlan plan;
  core::NodeId owner;
  std::vector<uint32_t> used;
  std::vector<PeerFailure> failures;
};

class ReplicationService {
 public:
  ReplicationService(ReplicationDeps deps, ReplicationConfig config);

  // Encodes the payload stored in the blob store under `tessera`, signs the
  // plan, places fragments on distinct, subnet-diverse peers, collects acks,
  // credits the ledger and publishes the holder record. kUnavailable when no
  // peer at all could be found or none acknowledged.
  core::Result<ReplicationReport> ReplicateTessera(const core::ContentHash& tessera);

  // A peer pushes a fragment to us. Everything is checked before a byte is
  // written (see docs/REPLICATION.md); the answer lists the indices we hold.
  core::Result<core::ReplicateAck> ReceiveFragment(const core::PeerInfo& sender,
                                                   const core::FragmentEnvelope& envelope,
                                                   core::ByteSource& bytes);

  // The checks of ReceiveFragment that need no bytes, for transports that want
  // to refuse before a transfer starts. Returns the verified plan; sets
  // *already_held when we hold this fragment with these bytes (the transfer can
  // be skipped and AckFor answered).
  core::Result<SignedPlan> AdmitFragment(const core::PeerInfo& sender,
                                         const core::FragmentEnvelope& envelope,
                                         bool* already_held);
  // The acknowledgement for a tessera: every index of it we hold.
  core::Result<core::ReplicateAck> AckFor(const core::ContentHash& tessera);
  // A fragment we hold, verified against its checksum first (never serve rot).
  core::Result<std::unique_ptr<core::RandomAccessSource>> OpenVerifiedFragment(
      const core::ContentHash& tessera, uint32_t index);

  // Proves possession of the fragments of `tessera` named in `indices` that we
  // hold (every one we hold if `indices` is empty), in index order, at most
  // AttestBatchSize(audit_samples) of them: the answer always fits in one
  // message, and a requester that asked for more asks again for the rest.
  core::Result<core::Attestation> HandleAttestationRequest(const core::PeerInfo& requester,
                                                           const core::ContentHash& tessera,
                                                           const Challenge& challenge,
                                                           const std::vector<uint32_t>& indices);

  // Streams a fragment we hold to a peer (restore, repair). Verifies it first:
  // a corrupt fragment is never served.
  core::Result<void> ServeFragment(const core::PeerInfo& requester,
                                   const core::ContentHash& tessera, uint32_t index,
                                   core::ByteSink& out);

  // Returns the signed plan and holder record we would give a restorer.
  core::Result<SignedPlan> GetPlan(const core::ContentHash& tessera);

  core::Result<HealthReport> CheckTesseraHealth(const core::ContentHash& tessera);
  core::Result<RepairReport> RepairTessera(const core::ContentHash& tessera);
  // Every known tessera: own first, then those held for others (peers in deficit last).
  core::Result<std::vector<RepairReport>> RunRepairPass();

  // Restores a payload by hash from the network into `out` (any node can).
  core::Result<FetchReport> FetchTessera(const core::ContentHash& tessera,
                                         core::RandomAccessSink& out);

  const ReplicationConfig& config() const { return config_; }

 private:
  struct Staged;  // fragments encoded or fetched into the scratch dir
  core::Result<SignedPlan> LoadPlan(const core::ContentHash& tessera);
  core::Result<std::unique_ptr<Staged>> StageFromPayload(const core::ContentHash& tessera,
                                                         std::optional<SignedPlan> plan);
  core::Result<std::unique_ptr<Staged>> StageFromNetwork(
      const SignedPlan& plan, const std::vector<core::PlacementEntry>& holders,
      std::vector<PeerFailure>* failures);
  core::Result<std::vector<core::PeerInfo>> Candidates(const core::ContentHash& tessera,
                                                       std::size_t want,
                                                       const std::vector<core::PeerInfo>& exclude,
                                                       const std::vector<core::PeerInfo>& existing);
  // Pushes fragment lists to holders with bounded concurrency; failed fragments
  // are retried on `spares`. Returns the acknowledged placement.
  std::vector<core::PlacementEntry> Push(
      const SignedPlan& plan, Staged& staged,
      std::vector<std::pair<core::PeerInfo, std::vector<uint32_t>>> work,
      std::vector<core::PeerInfo> spares, std::vector<PeerFailure>* failures);
  core::Result<std::size_t> PublishHolderRecord(const SignedPlan& plan,
                                                const std::vector<core::PlacementEntry>& holders);
  core::Result<HolderRecord> LookupHolderRecord(const core::ContentHash& tessera);
  core::Result<void> MendLocal(const SignedPlan& plan, uint32_t index,
                               const std::vector<core::PlacementEntry>& holders,
                               std::string* problem);

  ReplicationDeps d_;
  ReplicationConfig config_;
};

// Runs RunRepairPass every interval + uniform jitter, or at once when
// triggered; stops promptly. A failing pass is logged and the loop carries on.
class RepairLoop {
 public:
  RepairLoop(ReplicationService& service, std::function<void(const std::string&)> log);
  ~RepairLoop();
  void Start();
  // Runs a pass as soon as possible; returns after it finished.
  core::Result<std::vector<RepairReport>> RunNow();
  void Stop();
  uint64_t passes() const { return passes_.load(); }

 private:
  void Run();
  ReplicationService& service_;
  std::function<void(const std::string&)> log_;
  std::mutex mu_;       // guards stop_ and the wait
  std::mutex pass_mu_;  // one pass at a time
  std::condition_variable cv_;
  bool stop_ = false;
  bool started_ = false;
  std::atomic<uint64_t> passes_{0};
  std::thread thread_;
};

}  // namespace tesseras::replication
