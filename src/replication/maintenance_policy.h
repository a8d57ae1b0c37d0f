// The maintenance policy: every decision about keeping a tessera alive, as pure
// functions of what a node has observed (docs/REPLICATION.md, "Maintenance").
//
// - A copy of a fragment on a holder has a history (last proven, first failure,
//   consecutive failures). A holder that stops answering is *suspect* for
//   `holder_grace_ms`, then its copies count as lost; one that answers without
//   proving a copy (gone, wrong bytes) loses that copy at once. A copy proven
//   again after it was called lost counts again (reintegration).
// - Repair is lazy. When the fragments still counted (proven, or on a suspect
//   holder within grace) fall below a threshold between k and n, everything
//   not proven is rebuilt in one batch, so the k fragments fetched are paid
//   once for many. Copies known lost (denied, or past grace) are re-created
//   at once; with coded_repair_at_threshold (off by default) a maintainer that
//   must fetch k fragments leaves them for the batch instead. A maintainer
//   that keeps the payload (the owner; any holder of a small copy) has
//   nothing to batch: it re-creates lost copies at once and, below the
//   threshold too, leaves suspects to their grace.
// - Any node can carry on: the owner maintains (rank 0) and so do the holders,
//   ranked by XOR distance of their id to the tessera key; a holder of rank r
//   steps in when the need has lasted r takeover delays, or when nobody ranked
//   before it has audited it for that long.
//
// No I/O, no clock reads, no randomness: `tesd` (replication/health.cc,
// repair.cc) and the simulator (sim/) call the same functions with the same
// inputs and get the same answers. Everything here is thread-compatible.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/fragment.h"
#include "core/ids.h"
#include "core/maintenance.h"
#include "core/tier.h"

namespace tesseras::replication {

struct MaintenancePolicyConfig {
  // How long a holder that stops answering stays suspect before its copies
  // count as lost. 0 = eager: the first failed audit loses them. Default 72 h:
  // home machines are off for nights and weekends, and a copy re-created for a
  // machine that comes back is traffic spent for nothing (Carbonite, NSDI
  // 2006); Ceph waits 600 s inside one data centre, Storj suspends only after
  // sustained failure.
  int64_t holder_grace_ms = 72ll * 3600 * 1000;
  // A holder with a run of unanswered audits is asked again this often until
  // it answers or its grace ends (a probe: the same attestation as a check,
  // for that holder alone). A desktop off for a few hours at each of three
  // daily checks answers a probe in between, and its failure run ends there,
  // instead of its copies being called lost and re-created. 0 = no probes:
  // only the checks audit. Default 6 h.
  int64_t suspect_probe_interval_ms = 6ll * 3600 * 1000;
  // Batch repair begins when fewer than k + ceil(threshold × (n − k)) distinct
  // fragments are counted: 21 of 24, 63 of 72, 5 of the 7 small copies.
  // Default 0.62: with coded_repair_at_threshold and before rebuilds
  // gathered (gather_keep_ms), the lowest threshold tried at which the
  // simulator's `home` and `blackout` lost nothing in a year (at 0.5 they
  // did; with gathering 0.5 lost nothing in ten years at 1,000 nodes:
  // docs/SIMULATION.md, "Gathered rebuilds").
  double repair_threshold = 0.62;
  // Coded tiers (Medium, Large) repair only below the threshold: fragments
  // known lost above it are not re-created at once but wait for the batch, so
  // that a maintainer without the payload fetches k fragments once for many
  // new ones, and a holder that returns in the meantime counts again
  // (Carbonite, NSDI 2006). false: lost copies are re-created at once, k
  // fragments fetched for each repair. Small copies are re-created at once
  // either way (any holder has the payload: a push per copy).
  // A maintainer that keeps the payload (the owner, or any holder of a small
  // tessera) fetches nothing to rebuild, so it has nothing to batch: it
  // re-creates lost copies at once whatever this says (Assess, `Payload`).
  // Default false: batched at 0.62 without gathering, `home` at full scale
  // (10,000 nodes, 100,000 tesseras) lost 4 tesseras in ten simulated years
  // ("Payload-aware batches"); with gathering, batched runs reached a
  // ground-truth margin of 0 in ten years at 1,000 nodes (docs/SIMULATION.md,
  // "Gathered rebuilds").
  bool coded_repair_at_threshold = false;
  // What a batch (a repair below the threshold) rebuilds besides the copies
  // known lost: true, the suspect ones too, to full redundancy in proven
  // copies; false, only what is not counted, so a suspect holder that comes
  // back within its grace costs nothing. A suspect that does not come back is
  // lost at the end of its grace and waits for the next batch.
  bool batch_rebuilds_suspects = true;
  // Counted copies kept per fragment beyond the copies wanted, as a fraction of
  // them (rounded up): coded fragments keep up to 2 copies, a small tessera up
  // to 11. Returning holders count up to this cap; nothing is placed beyond it.
  double surplus_fraction = 0.5;
  // A holder of maintainer rank r ≥ 1 acts on a repair need it has seen for
  // r × this, and audits a tessera nobody ranked before it audited for r × this.
  // Default 26 h: the owner's daily pass plus its jitter.
  int64_t takeover_delay_ms = 26ll * 3600 * 1000;
  // Holders also check a tessera at least this often even when someone audits
  // it, so a maintainer that audits but never repairs cannot hold the others back.
  int64_t watch_interval_ms = 30ll * 24 * 3600 * 1000;
  // A copy lost this long ago and not seen since is no longer tracked.
  int64_t forget_lost_after_ms = 30ll * 24 * 3600 * 1000;
  // A rebuild that reaches fewer than k holders keeps the fragments it did
  // fetch this long, and the next attempt fetches only the rest: k fragments
  // are then gathered over several attempts instead of needed from k holders
  // up at one moment, which near the threshold under home churn may not
  // happen for weeks (docs/SIMULATION.md, "Gathered rebuilds"). 0 = nothing
  // kept: every attempt fetches k fragments at once or none. Default 14 days.
  int64_t gather_keep_ms = 14ll * 24 * 3600 * 1000;
  // Repair traffic (bytes fetched plus bytes pushed) allowed per rolling day.
  uint64_t repair_bytes_per_day = 16ull << 30;
};

// What the policy needs of a tessera's coding.
struct Redundancy {
  uint32_t data = 1;       // k: distinct fragments needed to restore (1 for small)
  uint32_t fragments = 1;  // n: distinct fragment indices (1 for small)
  uint32_t copies = 1;     // copies wanted of each index (7 for small, 1 coded)
  uint64_t fragment_bytes = 0;

  uint32_t units() const { return fragments * copies; }  // full redundancy: 7, 24 or 72
  // Counted copies kept of one index at most (config surplus_fraction).
  uint32_t MaxCopies(const MaintenancePolicyConfig& c) const;
  // Below this many counted units a batch repair begins.
  uint32_t RepairThreshold(const MaintenancePolicyConfig& c) const;
};
Redundancy RedundancyOf(const core::FragmentPlan& plan);

// The history types are plain data in core (core/maintenance.h), kept by the
// PlanStore port.
using core::CopyHistory;
using core::HolderView;
using core::MaintenanceClock;

enum class CopyObservation {
  kProven,      // a valid proof of this copy came back
  kDenied,      // the holder answered this request but did not prove the copy
  kUnanswered,  // no valid answer (timeout, unreachable, bad signature)
};

// The history after one audit of the copy at `now_ms`. A proof clears the
// failure run and the denial (reintegration); a denial sticks until a proof.
CopyHistory AfterAudit(CopyHistory h, CopyObservation o, int64_t now_ms);
// The history after a probe (NextProbeMs): as after an audit, but the probe
// is not counted in `audits` and `answered`. Probes are aimed at holders seen
// down, so counting them would understate the availability the durability
// estimate reads from those counts.
CopyHistory AfterProbe(CopyHistory h, CopyObservation o, int64_t now_ms);
// An acknowledged push counts as a proof at `now_ms`.
CopyHistory AfterPush(uint32_t index, int64_t now_ms);

enum class CopyStanding {
  kProven,      // proven by the last audit
  kSuspect,     // unanswered, within grace: still counted
  kLost,        // denied, or unanswered past grace: not counted, re-created
  kUnverified,  // never proven by us (learnt from a claim or record), and not
                // unanswered for the grace: not counted yet
};
CopyStanding StandingOf(const CopyHistory& h, int64_t now_ms, const MaintenancePolicyConfig& c);
std::string_view CopyStandingName(CopyStanding s);

// When the holder became suspect (the earliest failure run among its counted
// copies), if it is suspect now.
std::optional<int64_t> SuspectSince(const HolderView& h, int64_t now_ms,
                                    const MaintenancePolicyConfig& c);

// When a copy should next be probed, given when its holder was last asked
// (`last_asked_ms`: the check or probe that last audited it): an interval
// after that, and no earlier than first failure + consecutive failures ×
// interval; nullopt when probes are off, the copy has no failure run, is
// denied, or the probe would fall at or after the end of its grace (the check
// after it decides). Copies never proven (learnt from a claim) are probed
// too: a holder that was off at a new maintainer's first check is then
// counted once it answers, instead of being rebuilt for. A schedule that fell behind (after a
// restart, or a long pass) resumes an interval after the last ask, not at
// once.
std::optional<int64_t> NextProbeMs(const CopyHistory& h, int64_t last_asked_ms,
                                   const MaintenancePolicyConfig& c);
// The earliest of NextProbeMs over the holder's copies.
std::optional<int64_t> NextProbeMs(const HolderView& h, int64_t last_asked_ms,
                                   const MaintenancePolicyConfig& c);

enum class Recoverability { kHealthy, kDegraded, kLost };
std::string_view RecoverabilityName(Recoverability r);

enum class RepairTrigger {
  kNone,
  kLostCopies,      // some copies are known lost: re-create those
  kBelowThreshold,  // too few counted: rebuild everything not proven
};
std::string_view RepairTriggerName(RepairTrigger t);

struct Assessment {
  uint32_t proven_fragments = 0;   // distinct indices with a proven copy
  uint32_t counted_fragments = 0;  // distinct indices with a proven or suspect copy
  uint32_t proven_units = 0;       // Σ min(proven copies, copies wanted)
  uint32_t counted_units = 0;      // Σ min(counted copies, copies wanted)
  // Losses still survivable: counted_fragments − k for coded tiers, counted
  // copies − 1 for small; negative when not recoverable from what is counted.
  int32_t margin = 0;
  Recoverability state = Recoverability::kLost;
  RepairTrigger trigger = RepairTrigger::kNone;
  // What a repair must place: one entry per new copy (an index appears
  // several times for the small tier's copies), ascending.
  std::vector<uint32_t> rebuild;
  // Copies over the cap of their index, not counted and no longer tracked
  // (suspect ones go first, then those listed last): (holder, index).
  std::vector<std::pair<core::NodeId, uint32_t>> surplus;
  // Copies to stop tracking: denied ones at once (the holder said it has
  // them no more), others once lost for forget_lost_after_ms: (holder, index).
  std::vector<std::pair<core::NodeId, uint32_t>> forget;
  // The earliest time a suspect copy, or an unverified one whose holder has
  // not answered, becomes lost (the assessment and the ranks may change then
  // without any new audit); nullopt if there is none.
  std::optional<int64_t> next_change_ms;
  // The earliest time a copy that is lost now (and not denied) will be listed
  // in `forget`; nullopt if there is none. With next_change_ms it bounds how
  // long this assessment stays what Assess would answer without new audits.
  std::optional<int64_t> next_forget_ms;

  bool needs_repair() const { return trigger != RepairTrigger::kNone; }
  std::size_t bytes_to_place(const Redundancy& r) const {
    return rebuild.size() * r.fragment_bytes;
  }
};

// `local` are the copies this node keeps itself, verified now (they count as
// proven); `holders` must not list this node.
// Where the maintainer would rebuild from: the payload it keeps (re-encoded,
// nothing fetched), or k fragments fetched from the holders.
enum class Payload { kFetched, kLocal };

Assessment Assess(const Redundancy& r, std::span<const HolderView> holders,
                  std::span<const uint32_t> local, int64_t now_ms, const MaintenancePolicyConfig& c,
                  Payload payload = Payload::kFetched);

// Working space of Assess; what it holds between calls means nothing.
struct AssessScratch {
  std::vector<uint32_t> proven, counted_n, start, fill;
  std::vector<std::pair<bool, uint32_t>> counted;  // (suspect, holder), grouped by index
  std::vector<std::pair<bool, uint32_t>> keep;
  std::vector<uint8_t> standing;
};
// The same assessment, written into `out` (whose vectors are reused) with
// `scratch` as working space: a caller that assesses many tesseras in a row
// (the simulator) allocates nothing once both are warm. Assess above is this
// with fresh ones.
void Assess(const Redundancy& r, std::span<const HolderView> holders,
            std::span<const uint32_t> local, int64_t now_ms, const MaintenancePolicyConfig& c,
            AssessScratch& scratch, Assessment& out, Payload payload = Payload::kFetched);

// ---- placement --------------------------------------------------------------

struct PlacementCandidate {
  core::PeerInfo peer;
  int64_t balance = 0;    // reciprocity as the maintainer sees it; 0 for non-owners
  core::NodeId distance;  // XOR distance to the tessera key
};

struct PlacementChoice {
  // New copies per target, in the order they should be pushed.
  std::vector<std::pair<core::PeerInfo, std::vector<uint32_t>>> work;
  // Further eligible peers, best first, for fragments a target refuses.
  std::vector<core::PeerInfo> spares;
  uint32_t distinct_new_holders = 0;
};

// Chooses where the copies in `rebuild` go. Candidates are ranked by balance
// (higher first) then distance (closer first), with at most `max_per_subnet`
// holders per /24 or /48 counting the current (counted) holders; peers in
// `excluded` (ourselves, known full, ...) are never chosen. Each new copy goes
// to a distinct new holder while there are enough; only then do the current
// holders with the fewest copies take the rest, never two copies of one index
// on one holder. Deterministic: two maintainers with the same inputs choose
// the same targets, which is what keeps concurrent repairs from duplicating.
PlacementChoice ChoosePlacement(const Redundancy& r, std::span<const uint32_t> rebuild,
                                std::vector<PlacementCandidate> candidates,
                                std::span<const HolderView> current,
                                std::span<const core::NodeId> excluded, std::size_t max_per_subnet,
                                int64_t now_ms, const MaintenancePolicyConfig& c);

// ---- who maintains ----------------------------------------------------------

// 0 for the owner; 1, 2, ... for the holders in `holders` that keep a copy
// not known lost (unverified ones included, so that every node ranks the same
// claims the same way), ordered by XOR distance of their id to `key`; nullopt
// for a node that is neither. `holders` must list this node if it holds copies.
std::optional<uint32_t> MaintainerRank(const core::NodeId& self, const core::NodeId& owner,
                                       const core::NodeId& key, std::span<const HolderView> holders,
                                       int64_t now_ms, const MaintenancePolicyConfig& c);

// Whether a maintainer of `rank` should check (audit) the tessera now. The
// owner always does; a holder when the maintainers before it have been quiet
// for rank × takeover delay, or when its own last check is older than the
// watch interval. `forced` (tes repair) checks regardless.
bool ShouldCheck(uint32_t rank, const MaintenanceClock& m, int64_t now_ms, bool forced,
                 const MaintenancePolicyConfig& c);
// The earliest time at which ShouldCheck(rank, m, t, /*forced=*/false, c) is
// true while `m` stays as it is (it is then true at every later time); the
// smallest int64_t when it is true at any time. A caller that only knows a
// lower bound of its rank gets a time no later than the true one.
int64_t NextCheckDueMs(uint32_t rank, const MaintenanceClock& m, const MaintenancePolicyConfig& c);
// Whether a maintainer of `rank` should repair a need (`trigger`) it has
// seen since m.need_since_ms: the owner at once, a holder after rank ×
// takeover delay, or, below the threshold, at once when the maintainers
// ranked before it were last heard (m.last_audited_by_peer_ms) at least that
// long ago.
bool ShouldAct(uint32_t rank, const MaintenanceClock& m, int64_t now_ms,
               const MaintenancePolicyConfig& c,
               RepairTrigger trigger = RepairTrigger::kLostCopies);

// ---- the pass -----------------------------------------------------------------

struct QueueItem {
  core::ContentHash tessera;
  int32_t margin = 0;
  bool owner_in_deficit = false;  // the owner stores less for us than we for it
  bool own = false;
};
// Repair order: least margin first; tesseras of owners in deficit with us last;
// ties: own first, then by hash (deterministic).
void OrderRepairQueue(std::vector<QueueItem>& queue);

// The repair traffic budget over a rolling day, as a token bucket refilled at
// repair_bytes_per_day / 86400 s and holding at most a day's worth.
class RepairBudget {
 public:
  RepairBudget() = default;
  RepairBudget(const MaintenancePolicyConfig& c, int64_t now_ms);
  // Whether `bytes` may be spent now; spends them if so. A cost larger than a
  // whole day's budget is allowed once the bucket is full (it would never fit).
  bool TrySpend(uint64_t bytes, int64_t now_ms);
  // Records traffic that was spent anyway (retries, a repair that cost more
  // than estimated); may take the bucket below zero.
  void Charge(uint64_t bytes, int64_t now_ms);
  uint64_t available(int64_t now_ms);
  uint64_t capacity() const { return capacity_; }

 private:
  void Refill(int64_t now_ms);
  uint64_t capacity_ = 0;
  double tokens_ = 0;
  int64_t last_ms_ = 0;
};

// Bytes a repair costs on the wire, for the budget: the k fragments fetched
// to rebuild (none when the payload is local) plus one fragment per new copy.
uint64_t RepairCost(const Redundancy& r, std::size_t new_copies, bool payload_local);

}  // namespace tesseras::replication
