// ReplicationService: owner-push replication, receiving, attestation, health,
// repair and restore (docs/REPLICATION.md). It talks to the world only through
// core ports, so the same code runs over the real network and in tests.
//
// Threading: every method is blocking and thread-safe; call them from worker
// threads, never from the network thread (they wait on DhtPort calls).
#pragma once

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
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
#include "replication/durability.h"
#include "replication/maintenance_policy.h"
#include "replication/record_cache.h"
#include "replication/records.h"

namespace tesseras::replication {

// Where `holder` keeps a plan of `tessera` by `owner` that is not the first
// plan it stored for that hash: keyed BLAKE3 of the 32-byte hash then the
// owner's 32-byte NodeId, under a key only the holder knows (BLAKE3 in
// key-derivation mode, context "tesseras 2026 plan slot key v1", of its
// identity's seed), so that no peer can take an owner's slot first with a
// plan of its own. Its plan, fragments, holders and maintenance clock are kept
// under this key instead of the hash (docs/STORAGE.md, "Plans of one hash
// from several owners"), so different owners' plans for one hash coexist.
core::ContentHash PlanSlot(const crypto::Identity& holder, const core::ContentHash& tessera,
                           const core::NodeId& owner);

// A record read back from the DHT: its value, and when the DHT's copy expires
// (INT64_MAX when the framing carries no expiry).
struct OpenedRecord {
  std::vector<uint8_t> value;
  int64_t expires_unix_ms = INT64_MAX;
};

struct ReplicationDeps {
  const crypto::Identity* self = nullptr;
  std::string self_address;  // where peers reach us ("ip:port"), named in our holder claims
  core::DhtPort* dht = nullptr;
  core::FragmentStore* fragments = nullptr;
  core::ReciprocityLedger* ledger = nullptr;
  core::BlobStore* blobs = nullptr;  // the owner's payloads, keyed by tessera hash
  core::PlanStore* plans = nullptr;
  core::Clock* clock = nullptr;
  core::MetricsRegistry* metrics = nullptr;  // null: a registry of the service's own
  // How a holder record or claim is framed for the DHT and read back. The real
  // DHT wraps values in its own signed record (dht::Record) of the given type
  // (kHolderRecordType, kHolderClaimType); left empty, the bytes are stored as
  // they are (the in-process test network).
  std::function<core::Result<std::vector<uint8_t>>(const core::NodeId& key, uint32_t type,
                                                   const std::vector<uint8_t>& value)>
      seal_record;
  std::function<core::Result<OpenedRecord>(const std::vector<uint8_t>& record)> open_record;
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
  // Copies wanted (7 for small, one per fragment coded) and placed; the
  // fragments (or, small tier, copies) that found no holder.
  uint32_t units_wanted = 0;
  uint32_t units_placed = 0;
  std::vector<uint32_t> missing;
  uint32_t fragments_placed() const;
  // Every copy placed: full redundancy.
  bool complete() const { return units_placed >= units_wanted; }
};

enum class HealthState { kLocal, kHealthy, kDegraded, kLost };
std::string_view HealthStateName(HealthState s);

enum class HealthOutcome { kHealthy, kNeedsReplication, kCorruptLocal };

struct HolderHealth {
  // indices: the copies tracked for it; last_attested_ms: when one was last proven.
  core::PlacementEntry entry;
  bool answered = false;         // gave a valid attestation (for at least one batch)
  bool reachable = false;        // answered, or at least answered a ping ("data lost" vs "down")
  std::vector<uint32_t> proven;  // sorted; proven by this check
  std::vector<uint32_t> lost;    // copies counted lost: denied, or silent past the grace
  std::optional<int64_t> suspect_since;  // silent, still within the grace, since then
  std::string error;                     // the first problem met, if any
};

struct HealthReport {
  core::ContentHash tessera;
  core::FragmentPlan plan;
  HealthOutcome outcome = HealthOutcome::kHealthy;
  uint32_t deficit = 0;                 // copies a repair would place now
  std::vector<uint32_t> corrupt_local;  // indices assigned to us whose bytes are bad or gone
  HealthState state = HealthState::kLocal;
  uint32_t fragments_verified = 0;  // distinct fragments proven held
  uint32_t fragments_counted = 0;   // ... proven, or on a holder suspect within its grace
  uint32_t copies_verified = 0;     // copies proven, up to the copies wanted (7 small, else n)
  uint32_t copies_counted = 0;      // copies proven or suspect, up to the copies wanted
  int32_t margin = 0;               // losses still survivable (maintenance_policy.h)
  RepairTrigger trigger = RepairTrigger::kNone;
  std::vector<uint32_t> rebuild;  // what a repair would place (maintenance_policy.h)
  std::vector<HolderHealth> holders;
  bool own = false;                         // we are the owner
  std::optional<uint32_t> maintainer_rank;  // 0 owner, 1.. holders; none: not ours to repair
  std::optional<int64_t> need_since_ms;     // repair needed, as we saw it, since then
  bool own_claim_found = false;             // the DHT returned our own holder claim
  bool records_cached = false;  // the DHT's answer came from the record cache, unconfirmed
};

struct RepairReport {
  core::ContentHash tessera;
  HealthReport before;
  // What this node did about it: "none" (nothing needed), "repaired",
  // "waiting" (a maintainer ranked before us has the turn), "deferred" (the
  // repair budget is spent for now), "not_maintainer", "not_due" (not checked
  // in this pass), "failed".
  std::string action = "none";
  std::vector<uint32_t> regenerated;              // fragments re-created and placed
  std::vector<core::PlacementEntry> new_holders;  // where they went
  std::vector<uint32_t> mended_local;             // local fragments replaced
  uint64_t bytes_fetched = 0;                     // repair traffic in (mending included)
  uint64_t bytes_sent = 0;                        // repair traffic out
  std::vector<std::string> problems;              // what could not be done, and why
};

// What the maintenance pass is doing, for `tes node` and the dashboard.
struct PassStatus {
  bool running = false;
  int64_t started_ms = 0;
  std::size_t total = 0;  // tesseras in this pass
  std::size_t done = 0;
  std::string phase;  // "checking" or "repairing"
  std::optional<core::ContentHash> current;
};

struct PassSummary {
  int64_t started_ms = 0;
  int64_t finished_ms = 0;
  bool forced = false;           // every tessera (tes repair), not only those due
  std::size_t regenerated = 0;   // fragments (small: copies) re-created and placed
  std::size_t mended_local = 0;  // our own copies replaced
  std::size_t problems = 0;      // tesseras with a problem reported
  std::size_t checked = 0;
  std::size_t repaired = 0;
  std::size_t waiting = 0;
  std::size_t deferred = 0;
  std::size_t failed = 0;
  uint64_t bytes_fetched = 0;
  uint64_t bytes_sent = 0;
};

struct FetchReport {
  core::ContentHash tessera;
  core::FragmentPlan plan;
  core::NodeId owner;
  std::vector<uint32_t> used;
  std::vector<PeerFailure> failures;
  // Plans tried before the one that restored (a claim whose bytes did not
  // decode to the tessera hash costs one attempt), and why each failed.
  std::vector<std::string> rejected_plans;
};

// A plan for a tessera found in the DHT (or kept here), with who is said to
// hold its fragments: the owner's record and the holders' claims for it.
struct PlanCandidate {
  SignedPlan plan;
  std::vector<core::PlacementEntry> holders;
  std::size_t claimants = 0;  // distinct holders naming it
  bool local = false;         // the plan we keep
};

class ReplicationService {
 public:
  ReplicationService(ReplicationDeps deps, ReplicationConfig config);
  ~ReplicationService();

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
  // be skipped and AckFor answered). `pending_for_owner` and `pending_for_all`
  // are charges of transfers the transport admitted and has not yet finished
  // (for the plan's owner, and for every owner): the limits count them.
  core::Result<SignedPlan> AdmitFragment(const core::PeerInfo& sender,
                                         const core::FragmentEnvelope& envelope, bool* already_held,
                                         uint64_t pending_for_owner = 0,
                                         uint64_t pending_for_all = 0);
  // The rest of ReceiveFragment, for a fragment AdmitFragment admitted with
  // `plan`: streams `bytes` into the fragment store (which hashes them and
  // checks the checksum; the proof root is checked on the way) unless
  // `already_held`, then keeps the plan, charges the owner and publishes our
  // claim. Nothing is kept if the bytes fail.
  core::Result<core::ReplicateAck> CommitFragment(const core::PeerInfo& sender,
                                                  const SignedPlan& plan,
                                                  const core::FragmentEnvelope& envelope,
                                                  core::ByteSource& bytes, bool already_held);
  // The acknowledgement for a tessera: every index of it we hold under `key`
  // (the hash, or the plan's slot).
  core::Result<core::ReplicateAck> AckFor(const core::ContentHash& tessera,
                                          const core::ContentHash& key);
  // A fragment we hold, verified against its checksum first (never serve rot):
  // of `owner`'s plan when named, else of the first plan stored for the hash.
  core::Result<std::unique_ptr<core::RandomAccessSource>> OpenVerifiedFragment(
      const core::ContentHash& tessera, uint32_t index,
      const std::optional<core::NodeId>& owner = std::nullopt);
  // Where `owner`'s plan of `tessera` is kept here: the hash itself when it is
  // the first plan stored for it, its PlanSlot otherwise; nullopt when we keep
  // no plan of that owner for it. Without an owner: the hash.
  core::Result<std::optional<core::ContentHash>> FindPlanKey(
      const core::ContentHash& tessera, const std::optional<core::NodeId>& owner);
  // HandleAttestationRequest's answer from the plan kept under `key`.
  core::Result<core::Attestation> Attest(const core::PeerInfo& requester,
                                         const core::ContentHash& key, const Challenge& challenge,
                                         const std::vector<uint32_t>& indices);
  // Counts a refusal of something a peer sent (tesseras_refusals_total{reason}).
  void CountRefusal(std::string_view reason);

  // Proves possession of the fragments of `tessera` named in `indices` that we
  // hold (every one we hold if `indices` is empty), in index order, at most
  // AttestBatchSize(audit_samples) of them: the answer always fits in one
  // message, and a requester that asked for more asks again for the rest.
  // Of `owner`'s plan when named; otherwise of the requester's own plan when
  // it owns one for the hash here (an owner's audit), else of the first plan
  // stored for the hash.
  core::Result<core::Attestation> HandleAttestationRequest(
      const core::PeerInfo& requester, const core::ContentHash& tessera, const Challenge& challenge,
      const std::vector<uint32_t>& indices,
      const std::optional<core::NodeId>& owner = std::nullopt);

  // Streams a fragment we hold to a peer (restore, repair). Verifies it first:
  // a corrupt fragment is never served.
  core::Result<void> ServeFragment(const core::PeerInfo& requester,
                                   const core::ContentHash& tessera, uint32_t index,
                                   core::ByteSink& out,
                                   const std::optional<core::NodeId>& owner = std::nullopt);

  // Returns the signed plan and holder record we would give a restorer.
  core::Result<SignedPlan> GetPlan(const core::ContentHash& tessera);

  // Audits the holders we track or find for a tessera (own or held), records
  // what each copy showed (its history) and assesses it with the maintenance
  // policy. Any node that knows the plan can ask. Our own copies are
  // re-hashed, unless verified less than `trust_verified_ms` ago (then only
  // their presence and size are checked; a due maintenance check passes
  // ReplicationConfig::trust_verified_secs, a forced one 0). The DHT's records
  // are looked up afresh, unless `cached_records` lets a still-valid answer of
  // the record cache (record_cache.h) stand in for the lookup (a due check).
  core::Result<HealthReport> CheckTesseraHealth(const core::ContentHash& tessera,
                                                int64_t trust_verified_ms = 0,
                                                bool cached_records = false);
  // This node's share of the maintenance of one tessera, now: check it, mend
  // local copies, and repair if the policy says we are the maintainer to act.
  core::Result<RepairReport> RepairTessera(const core::ContentHash& tessera);
  // Every known tessera that is due (all of them when `forced`), checked, then
  // repaired in the policy's order (least margin first, owners in deficit
  // last) within the repair budget.
  // Returns every tessera's report while there are at most kMaxPassReports,
  // else only those where something happened, at most kMaxPassReports;
  // pass_history() has the totals. At most kMaxPassRepairs repairs per pass.
  core::Result<std::vector<RepairReport>> RunRepairPass(bool forced = true);
  static constexpr std::size_t kMaxPassReports = 1000;
  static constexpr std::size_t kMaxPassRepairs = 10000;
  // Plans read from the plan store per query during a pass (a page at a time,
  // never all of them).
  static constexpr std::size_t kPassPlanPage = 512;

  // Probes (MaintenancePolicyConfig::suspect_probe_interval_ms): between
  // checks, the holders a check left suspect are asked again, each alone,
  // until they answer or their grace ends, so that a machine off for a night
  // at each daily check does not have its copies called lost. Each check
  // notes its tessera's next probe here, in memory: at most
  // config().max_probe_entries tesseras (over the cap a check of one of our
  // own tesseras displaces another owner's entry, others note nothing), none
  // after a restart until their next check. A probe records what it saw in
  // the copies' histories (AfterProbe) and nothing else; the next check
  // assesses and repairs.
  struct ProbeSummary {
    std::size_t tesseras = 0;           // tesseras whose probes were due
    std::size_t holders = 0;            // holders asked
    std::size_t answered = 0;           // of those, answered (proved or denied)
    std::vector<std::string> problems;  // what could not be recorded, per tessera
  };
  // Probes what is due; stops early (the rest waits for the next call) at
  // `deadline_ms` (unix ms) if given. A holder that stays silent is asked
  // once per call: its copies in the other tesseras due are recorded as
  // unanswered without asking it again.
  core::Result<ProbeSummary> ProbeSuspects(std::optional<int64_t> deadline_ms = std::nullopt);
  // When the earliest noted probe is due (unix ms), if any.
  std::optional<int64_t> NextProbeDueMs() const;
  int64_t clock_now_ms() const { return d_.clock->NowUnixMs(); }

  PassStatus pass_status() const;
  RecordCacheStats record_cache_stats() const { return record_cache_.stats(); }
  // The last passes, newest last (at most kPassHistory).
  std::vector<PassSummary> pass_history() const;
  static constexpr std::size_t kPassHistory = 16;

  // The chance that `tessera` is lost within `horizon_years`, from what this
  // node remembers of its holders (their answers to our audits, departures)
  // and the policy in force (replication/durability.h; the method is in
  // docs/SIMULATION.md, "Durability estimate"). kNotFound without a plan here.
  core::Result<DurabilityEstimate> EstimateDurabilityOf(const core::ContentHash& tessera,
                                                        double horizon_years = 10);

  // Restores a payload by hash from the network into `out` (any node can).
  // Plans are tried in FindPlans' order, at most kMaxRestorePlans of them; a
  // plan counts only if its bytes decode to the tessera hash, and `out` is
  // finished only then.
  core::Result<FetchReport> FetchTessera(const core::ContentHash& tessera,
                                         core::RandomAccessSink& out);
  static constexpr std::size_t kMaxRestorePlans = 8;

  // Every plan the DHT offers for a tessera (and ours), in the order a restore
  // tries them: ours first, then by the number of distinct holders naming
  // them. Claims of different owners never exclude each other: verification
  // decides (docs/SECURITY.md). kNotFound if none.
  core::Result<std::vector<PlanCandidate>> FindPlans(const core::ContentHash& tessera);
  core::Result<SignedPlan> FindPlan(const core::ContentHash& tessera);

  const ReplicationConfig& config() const { return config_; }
  // What storing a fragment of `bytes` is charged to its owner.
  uint64_t ChargeFor(uint64_t bytes) const {
    return std::max(bytes, config_.min_fragment_charge_bytes);
  }

 private:
  struct Staged;   // fragments encoded or fetched into the scratch dir
  struct View;     // the holders of a tessera as this node knows them
  struct Audit;    // what one check saw
  struct Metrics;  // counters in the metrics registry
  struct Placed;   // copies placed by PlaceCopies
  // Re-creates the fragments in `wanted` that `staged` lacks from the ones it
  // has (any k), into the staging directory.
  static core::Result<void> RebuildMissing(Staged& staged, const std::vector<uint32_t>& wanted);
  core::Result<SignedPlan> LoadPlan(const core::ContentHash& tessera);
  core::Result<std::unique_ptr<Staged>> StageFromPayload(const core::ContentHash& tessera,
                                                         std::optional<SignedPlan> plan);
  // Fetches k fragments of `plan` from `holders` (local copies count). With
  // `gather` (a repair) and policy.gather_keep_ms > 0, fragments fetched by an
  // earlier attempt that reached fewer than k are used first, and an attempt
  // that reaches fewer keeps what it fetched in config.gather_dir for the
  // next one (within gather_max_bytes). `fetched_bytes`, if given, is set to
  // the bytes this attempt fetched, whether it succeeds or not. Fewer than k:
  // kInsufficientShards, with the peers' failures in `failures`; a fragment
  // that cannot be written here stops the fetches and fails with that local
  // error (kResourceExhausted, kPermissionDenied, else kIo), blaming no peer.
  core::Result<std::unique_ptr<Staged>> StageFromNetwork(
      const SignedPlan& plan, const std::vector<core::PlacementEntry>& holders,
      std::vector<PeerFailure>* failures, bool gather = false, uint64_t* fetched_bytes = nullptr);
  // Removes gathers older than policy.gather_keep_ms (and any that cannot be read).
  void SweepGathers();
  std::filesystem::path GatherRoot() const;
  // Places `rebuild` copies over rounds: targets from the policy, refusals and
  // failures retried on other peers, refusing peers remembered.
  Placed PlaceCopies(const SignedPlan& plan, Staged& staged, const std::vector<uint32_t>& rebuild,
                     const std::vector<core::HolderView>& current,
                     std::vector<PeerFailure>* failures);
  core::Result<std::size_t> PublishHolderRecord(const SignedPlan& plan,
                                                const std::vector<core::PlacementEntry>& holders);
  // Publishes (or withdraws, when we hold nothing) our claim for a tessera if
  // what we hold differs from what we last claimed, or `force`d (the DHT no
  // longer returned it: the nodes that stored it are gone).
  core::Result<void> RefreshClaim(const SignedPlan& plan, bool force = false);
  core::Result<HolderRecord> LookupHolderRecord(const core::ContentHash& tessera);
  // Owner records and claims found in the DHT: all of them, or for one plan.
  struct Records;
  struct Found;
  // `cached`: a valid answer of record_cache_ may stand in for the lookup.
  // Every lookup that succeeds refills the cache.
  Records ReadRecords(const core::ContentHash& tessera, bool cached = false);
  Found FindHolders(const SignedPlan& plan, bool cached = false);
  // Looks the tessera's records up and tells whether the DHT answers what
  // record_cache_ holds for it (the same records, in any order). A failed
  // lookup, or no entry, answers false; a different answer drops the entry.
  bool CachedRecordsCurrent(const core::ContentHash& tessera);
  // Fetches or rebuilds our own copy of fragment `index`; `fetched_bytes`
  // says what came over the wire, whether or not it succeeded.
  core::Result<void> MendLocal(const SignedPlan& plan, uint32_t index,
                               const std::vector<core::PlacementEntry>& holders,
                               uint64_t* fetched_bytes);

  // Health, step by step (health.cc).
  core::Result<View> GatherHolders(const SignedPlan& plan, int64_t trust_verified_ms,
                                   bool cached_records);
  // `ping`: a holder that gave no valid answer is pinged, to tell a machine
  // that went away from one that answers but does not prove (the report's
  // `reachable`); probes skip it.
  Audit AuditHolders(const SignedPlan& plan, const View& view, bool ping = true);
  void RecordAudit(const SignedPlan& plan, View& view, const Audit& audit, HealthReport& r);
  // Notes (or clears) the tessera's next probe from the holders tracked now,
  // last asked at `asked_ms`. Over the cap, our own tesseras displace others'.
  void NoteProbes(const core::ContentHash& tessera, const std::vector<core::HolderView>& holders,
                  int64_t asked_ms, bool own);
  struct ProbeEntry {
    int64_t due_ms = 0;
    int64_t asked_ms = 0;  // the check or probe that last audited its holders
    bool own = false;
  };
  // Repair, step by step (repair.cc).
  core::Result<RepairReport> MaintainTessera(const core::ContentHash& tessera, bool forced,
                                             bool act);
  void RepairMissing(const SignedPlan& plan, const HealthReport& health, RepairReport& rep);

  // Peers that refused a fragment for lack of space (or any refusal), and
  // until when they are not chosen again; an acknowledgement clears it.
  void NoteRefusal(const core::NodeId& peer, const core::Error& why);
  void NoteAccepted(const core::NodeId& peer);
  std::vector<core::NodeId> RefusingPeers();
  // An attestation request from `requester`: remember it if it comes from a
  // maintainer ranked before us.
  void NoteAudit(const core::PeerInfo& requester, const SignedPlan& plan);
  // Where a fragment of `plan` is kept here (receive.cc): the key of the
  // owner's plan if we keep it, else the hash if no other owner's plan has it
  // (nor is being committed there), else the plan's slot. A plan new here is
  // refused (`plans_per_tessera`) when max_plans_per_tessera plans of the hash
  // are kept or being committed. With `reserve`, a new plan's key is held for
  // this owner until the returned SlotHold is destroyed (its commit ended).
  struct SlotHold;
  struct SlotChoice;
  core::Result<SlotChoice> ChooseSlot(const SignedPlan& plan, bool reserve);
  void ReleaseSlot(const core::ContentHash& tessera, const core::NodeId& owner);

  ReplicationDeps d_;
  ReplicationConfig config_;
  std::unique_ptr<core::MetricsRegistry> own_metrics_;  // when the deps bring none
  std::unique_ptr<Metrics> metrics_;
  RepairBudget budget_;
  RecordCache record_cache_;  // the DHT's recent answers (config_.record_cache)

  std::mutex slot_mu_;     // guards committing_ (ChooseSlot)
  mutable std::mutex mu_;  // guards the members below (not budget_: one pass at a time)
  std::map<core::NodeId, int64_t> refusing_until_;
  // Plans new here whose first fragment is being committed: per hash, each
  // owner's chosen key and how many of its commits run (ChooseSlot).
  std::map<core::ContentHash, std::map<core::NodeId, std::pair<core::ContentHash, int>>>
      committing_;
  PassStatus pass_;
  std::deque<PassSummary> history_;
  std::map<core::ContentHash, ProbeEntry> probes_;  // tesseras with a probe pending
};

// Runs RunRepairPass (the tesseras that are due) every interval + uniform
// jitter, or a forced pass (all of them) at once when triggered; between
// passes, ProbeSuspects when the earliest noted probe is due (and at least
// once per probe interval), never past the next pass's time; stops promptly.
// A failing pass or probe is logged and the loop carries on.
class RepairLoop {
 public:
  RepairLoop(ReplicationService& service, std::function<void(const std::string&)> log);
  ~RepairLoop();
  void Start();
  // Runs a pass as soon as possible (every tessera, not only those due);
  // returns after it finished.
  core::Result<std::vector<RepairReport>> RunNow();
  void Stop();
  uint64_t passes() const { return passes_.load(); }

 private:
  void Run();
  core::Result<std::vector<RepairReport>> RunPass(bool forced);
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
