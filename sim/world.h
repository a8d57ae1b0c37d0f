// The simulated network of the policy-level simulator (internal to sim/).
//
// Time is whole seconds since the start of the run; the policy sees
// kBaseMs + 1000 t. Three views of every tessera are kept apart:
// - ground truth: which machines physically hold which fragments (`held`,
//   `alive_copies`), used for losses, margins and the invariants, never for a
//   decision;
// - the record: the copies maintainers know of (`record`), changed only by
//   landed pushes and by what an acting maintainer's assessment drops;
// - each participant's own view: its CopyHistory of every record copy, from
//   its own audits only.
// The oracle keeps a fourth, separate placement (`oracle`) that loses copies
// only when their machine leaves for good and re-creates them at once.
#pragma once

#include <cstdint>
#include <cstdio>
#include <limits>
#include <memory>
#include <queue>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/ids.h"
#include "replication/maintenance_policy.h"
#include "sim/report.h"
#include "sim/rng.h"
#include "sim/scenario.h"
#include "sim/wire_costs.h"

namespace tesseras::sim {

inline constexpr int64_t kBaseMs = 1'700'000'000'000;
inline constexpr int32_t kNever = std::numeric_limits<int32_t>::min();
inline constexpr uint32_t kNoNode = std::numeric_limits<uint32_t>::max();
inline constexpr int64_t kDaySecs = 86400;

inline int64_t MsAt(int64_t t) { return kBaseMs + t * 1000; }
// Absolute policy milliseconds to simulation seconds, rounded up (so an event
// at that second is at or after the instant).
inline int64_t SecsNotBefore(int64_t ms) {
  if (ms == std::numeric_limits<int64_t>::min()) return std::numeric_limits<int64_t>::min();
  if (ms == std::numeric_limits<int64_t>::max()) return std::numeric_limits<int64_t>::max();
  const int64_t rel = ms - kBaseMs;
  return rel >= 0 ? (rel + 999) / 1000 : -((-rel) / 1000);
}

enum Obs : uint8_t { kObsNone = 0, kObsProven = 1, kObsDenied = 2, kObsUnanswered = 3 };

// A CopyHistory in 16 bytes (times in seconds since the start).
struct Hist {
  int32_t last_proven = kNever;
  int32_t first_failure = kNever;
  uint16_t failures = 0;
  uint8_t denied = 0;
  uint8_t last_obs = kObsNone;  // what the last audit of this view saw
  uint16_t asked = 0, answered = 0;
  uint8_t tracked = 0;  // the view keeps this copy (else it only knows the claim, if any)
};
replication::CopyHistory ToCopy(const Hist& h, uint32_t index);
void StoreCopy(const replication::CopyHistory& c, Hist& h);

// A copy somebody knows of: claimed by its holder (a claim lives while the
// holder is in the network and keeps the bytes), or still tracked by some
// maintainer's view after its claim ended. Sorted by holder id, then index,
// as tesd lists holders.
struct Slot {
  uint32_t node = kNoNode;
  uint16_t index = 0;
  uint8_t claimed = 1;
  uint32_t part = kNoNode;   // the holder's participant entry, while claimed
  int32_t unclaimed_at = 0;  // when the claim ended (seconds), once it has
};

// A node's part in one tessera: the owner, or a holder the record lists.
struct Part {
  // Hot: what the pass and the audits of others read and write, in one cache line.
  uint32_t node = kNoNode;
  uint32_t tessera = 0;
  uint32_t gen = 0;  // bumped when the entry is reused (stale heap entries)
  // MaintenanceClock, in seconds.
  int32_t audited = kNever;                                 // last_audited_by_peer_ms
  int32_t checked = kNever;                                 // last_checked_ms
  int32_t need = kNever;                                    // need_since_ms
  int64_t heap_due = std::numeric_limits<int64_t>::max();   // due of its live heap entry
  int64_t probe_due = std::numeric_limits<int64_t>::max();  // its pending kProbe event, if any
  int32_t probe_asked = kNever;  // the check or probe that last audited its holders
  // MaintainerRank, cached while the record and the view's standings hold.
  uint32_t rank = 0;
  int64_t rank_valid_until_ms = 0;
  bool used = false;
  bool rank_known = false;
  bool is_maintainer = false;
  bool has_view = false;
  bool dirty = true;  // the record or the local copies changed since the last assessment
  uint32_t pos = 0;   // index in the holder's Node::parts
  // Cold.
  std::vector<Hist> view;
  replication::Assessment last;  // the last assessment
  int64_t last_valid_until_ms = std::numeric_limits<int64_t>::min();
  replication::MaintenanceClock Clock() const;
};

struct Tessera {
  core::ContentHash hash;
  core::NodeId key;
  uint32_t owner = kNoNode;
  uint8_t size_class = 0;
  std::vector<Slot> record;
  uint32_t record_version = 0;
  std::vector<uint32_t> parts;  // parts[0] is the owner's
  // Ground truth.
  std::vector<uint8_t> alive_copies;  // per index, copies on machines still in the network
  uint32_t durable = 0;               // distinct indices (coded) or copies (small) of those
  bool lost = false;
  bool below = false;
  int64_t below_since = 0;
  uint32_t in_flight = 0;
  // The oracle's own placement: one node per unit.
  std::vector<uint32_t> oracle;
  std::vector<uint32_t> bound;  // the lower bound's placement (World::OracleReplace)
  float predicted = -1;         // durability estimate at the calibration day
};

struct Node {
  core::NodeId id;
  uint64_t prefix = 0;  // first 8 bytes of id, big-endian
  std::string address;
  uint32_t subnet = 0;
  uint16_t node_class = 0;
  bool alive = true;
  bool self_up = true;
  bool up = true;
  bool owner = false;
  bool pass_pending = false;
  uint32_t epoch = 0;      // incremented at every down transition
  int64_t down_since = 0;  // seconds: the last down transition
  int64_t born = 0;
  int64_t dies = 0;
  int64_t next_disk_failure = std::numeric_limits<int64_t>::max();  // seconds (ground truth)
  double uplink_free = 0;  // seconds: when the upload link is idle again
  double diurnal_start_hour = 9;
  replication::RepairBudget budget;
  Rng churn, pass, disk;
  std::vector<uint32_t> owned;  // tesseras it published
  std::vector<uint32_t> parts;  // its holder Parts
  // When each holder Part may next want to check: a min-heap of
  // (due, part, gen); an entry is live while its due equals the Part's heap_due.
  struct Due {
    int64_t due;
    uint32_t pid, gen;
    bool operator>(const Due& o) const { return due > o.due; }
  };
  std::vector<Due> due_heap;
  // Probes that fell due while it was down, (part, gen): run when it is up
  // again, as tesd's loop runs an overdue probe when the machine wakes.
  std::vector<std::pair<uint32_t, uint32_t>> probes_pending;
  std::vector<std::pair<uint32_t, uint16_t>> held;         // ground truth: (tessera, index)
  std::vector<std::pair<uint32_t, uint16_t>> oracle_held;  // the oracle's copies here
  std::vector<std::pair<uint32_t, uint16_t>> bound_held;   // the lower bound's
  // What it observed as a maintainer (durability estimates).
  double holder_secs_watched = 0;
  uint32_t departures_seen = 0;
};

enum class EventType : uint8_t {
  kToggle,       // session model: up <-> down
  kSetUp,        // diurnal: b = 1 on, 0 off
  kDiurnalDay,   // plan the node's next day
  kDepart,       // leaves for good
  kPass,         // maintenance pass
  kOutage,       // a /24 goes dark (a = subnet, b = 1 start, 0 end)
  kNextOutage,   // draw the next outage
  kDiskFailure,  // a node loses every fragment
  kLanding,      // a push completes (a = landing id)
  kProbe,        // a participant probes its suspect holders (a = part, b = gen)
  kDayTick,
  kCalibrate,
};

struct Event {
  int64_t t = 0;
  uint64_t seq = 0;
  EventType type = EventType::kDayTick;
  uint32_t a = 0, b = 0;
  bool operator>(const Event& o) const { return t != o.t ? t > o.t : seq > o.seq; }
};

struct Landing {
  uint32_t tessera = 0, target = kNoNode, maintainer = kNoNode, part = 0;
  uint16_t index = 0;
  uint32_t target_epoch = 0, maintainer_epoch = 0;
  uint32_t part_gen = 0;  // the pushing participant entry's gen (it may be freed and reused)
  // Why this copy, should it land redundant (`Report::redundant_by_cause`):
  // the ground truth when the repair was decided, and who decided it.
  uint8_t cause = 0;     // a RedundantCause
  uint8_t maker = 0;     // a World::CheckKind
  uint8_t down_for = 0;  // kHolderDown: how long the longest-down holder had been down (a bucket)
};

// Told of every change of the churn, for a driver that maintains its own
// nodes on the same churn (the full-stack mode).
class ChurnObserver {
 public:
  virtual ~ChurnObserver() = default;
  virtual void OnArrive(uint32_t node, int64_t t) = 0;  // before its first up/down
  virtual void OnUp(uint32_t node, bool up, int64_t t) = 0;
  virtual void OnDepart(uint32_t node, int64_t t) = 0;  // after OnUp(false)
  virtual void OnDiskFailure(uint32_t node, int64_t t) = 0;
  virtual void OnPass(uint32_t node, int64_t t) = 0;  // the node's maintenance pass is due
  virtual void OnDay(int64_t t) = 0;
};

class World {
 public:
  World(const Scenario& s, const WireCosts& costs, replication::MaintenancePolicyConfig policy,
        bool verify_cache, bool daily_series);

  void set_observer(ChurnObserver* o) { observer_ = o; }
  // Every check, repair, landing and change of ground truth of these
  // tesseras (workload indices) is written to `out`, one line each
  // (tesseras-sim --trace-tessera). Indices beyond the workload are ignored.
  void set_trace(const std::vector<uint32_t>& tesseras, std::FILE* out);
  const Node& node(uint32_t n) const { return nodes_[n]; }
  const std::vector<uint32_t>& owners() const { return owners_; }
  const std::vector<uint32_t>& alive() const { return alive_; }
  int64_t end() const { return end_; }
  uint32_t tessera_count() const { return static_cast<uint32_t>(tesseras_.size()); }
  const Tessera& tessera(uint32_t t) const { return tesseras_[t]; }
  const SizeClass& size_class_of(uint32_t t) const { return ClassOf(tesseras_[t]); }

  void Setup();
  void Run();
  RunReport& report() { return report_; }
  void Finish();  // end-of-run accounting and invariant checks

 private:
  // ---- churn and ground truth (world_churn.cc)
  uint32_t AddNode(int64_t t, bool initial, Rng& chooser);
  void ScheduleChurn(uint32_t n, int64_t t, bool initial);
  void SetUp(uint32_t n, bool self_up, int64_t t);
  void RecomputeUp(uint32_t n, int64_t t);
  void PlanDiurnalDay(uint32_t n, int64_t day_start);
  void Depart(uint32_t n, int64_t t);
  void DiskFailure(uint32_t n, int64_t t);
  void StartOutage(int64_t t);
  void EndOutage(uint32_t subnet, int64_t t);
  void PhysicalAdd(uint32_t tessera, uint32_t node, uint16_t index, int64_t t);
  void PhysicalRemove(uint32_t tessera, uint16_t index, int64_t t);
  void UpdateDurable(uint32_t tessera, uint32_t before, int64_t t);
  void CheckLost(uint32_t tessera, int64_t t);
  void OracleReplace(uint32_t n, int64_t t);
  // The `count` nodes XOR-closest to `key` that are up (or, with
  // online_only false, merely in the network), `exclude` left out.
  std::vector<uint32_t> ClosestOnline(const core::NodeId& key, std::size_t count, uint32_t exclude,
                                      bool online_only = true);
  void Credit(uint32_t holder, uint32_t owner, uint64_t bytes, int sign);
  int64_t Balance(uint32_t of, uint32_t with) const;
  void DayTick(int64_t t);
  void Calibrate(int64_t t);

  // ---- maintenance (world_maintain.cc)
  void PublishAll();
  void Pass(uint32_t n, int64_t t);
  enum class CheckKind { kOwner, kQuiet, kWatch };
  void Check(uint32_t pid, int64_t t, CheckKind kind);
  // Probes (replication::NextProbeMs): the suspect holders `pid`'s view
  // tracks are audited again between checks, and the next probe scheduled.
  void Probe(uint32_t pid, int64_t t);
  void ScheduleProbe(uint32_t pid, int64_t t);
  std::optional<uint32_t> Rank(uint32_t pid, int64_t t);
  void RankFromView(uint32_t pid, int64_t t);
  void Evaluate(uint32_t pid, int64_t t);
  void SetDue(uint32_t pid, int64_t due);
  void Reschedule(uint32_t pid, int64_t t);
  void CollectSlot(uint32_t tessera, std::size_t i);
  std::size_t SlotOf(const Tessera& t, uint32_t node, uint16_t index) const;
  void Repair(uint32_t pid, int64_t t, CheckKind kind);
  // Fetches one fragment from each record slot in `sources` (their uplinks
  // busy for it), adds the bytes to `bytes` and the report; returns when the
  // last one has arrived.
  double FetchSources(const Tessera& T, const std::vector<std::size_t>& sources, int64_t t,
                      uint64_t& bytes);
  // Ground truth for a copy of `index` being scheduled at `t`
  // (Landing::cause and down_for).
  void NoteCause(const Tessera& T, uint16_t index, int64_t t, Landing& l) const;
  void Land(const Landing& l, int64_t t);
  void ApplyDrops(uint32_t pid, int64_t t);
  void RemoveSlot(uint32_t tessera, std::size_t i);
  void Unclaim(uint32_t tessera, uint32_t node, uint16_t index);
  uint32_t NewPart(uint32_t tessera, uint32_t node, int64_t t, bool holder);
  void FreePart(uint32_t pid);
  void MarkDirty(uint32_t tessera);
  bool RanksBefore(uint32_t a, uint32_t b, const Tessera& t) const;
  // Fills holders_ (and holder_nodes_) with the copies `pid`'s view tracks,
  // without its own (those go to local_) unless include_self.
  void BuildView(uint32_t pid, int64_t t, bool include_self);

  void Schedule(int64_t t, EventType type, uint32_t a = 0, uint32_t b = 0);
  const SizeClass& ClassOf(const Tessera& t) const { return costs_.classes[t.size_class]; }
  void Violation(std::string what);
  bool Traced(uint32_t tid) const { return trace_ && tid < traced_.size() && traced_[tid]; }
  // One trace line: "day D.DD tessera T: what", with the ground truth after it.
  void Trace(uint32_t tid, int64_t t, const std::string& what) const;

  const Scenario& s_;
  const WireCosts& costs_;
  ChurnObserver* observer_ = nullptr;
  std::FILE* trace_ = nullptr;
  std::vector<uint8_t> traced_;
  replication::MaintenancePolicyConfig cfg_;
  bool verify_cache_;
  bool daily_series_;
  int64_t end_ = 0;
  int64_t now_secs_ = 0;  // the time of the event being handled
  uint64_t seq_ = 0;
  std::priority_queue<Event, std::vector<Event>, std::greater<Event>> queue_;

  std::vector<Node> nodes_;
  // Hot per-node state for the audit loops, apart from the bulky Node.
  std::vector<uint8_t> up_;
  std::vector<core::NodeId> ids_;
  std::vector<std::string> addrs_;
  std::vector<Tessera> tesseras_;
  std::vector<Part> parts_;
  std::vector<uint32_t> free_parts_;
  std::vector<Landing> landings_;
  std::vector<uint32_t> free_landings_;
  std::vector<std::pair<uint64_t, uint32_t>> by_id_;  // alive nodes by id prefix
  std::vector<uint32_t> alive_;                       // alive nodes, any order
  std::vector<uint32_t> alive_pos_;                   // node -> index in alive_
  std::vector<std::vector<uint32_t>> subnet_nodes_;
  std::vector<uint16_t> subnet_hosts_;
  std::vector<uint8_t> subnet_dark_;
  std::vector<uint32_t> owners_;
  Rng arrivals_, outages_, oracle_rng_, workload_, bound_rng_;
  uint32_t nodes_up_ = 0;
  // Bilateral ledgers: key (a << 32 | b) -> what a recorded about b.
  struct LedgerEntry {
    uint64_t we_store_for_them = 0;
    uint64_t they_store_for_us = 0;
  };
  std::unordered_map<uint64_t, LedgerEntry> ledger_;
  // Fragments a rebuild fetched without reaching k, kept by its part (by
  // part index; `gen` tells a reused entry) for gather_keep_ms.
  struct Gather {
    uint32_t gen = 0;
    int32_t since = 0;  // seconds
    std::vector<uint16_t> indices;
  };
  std::unordered_map<uint32_t, Gather> gathers_;

  // Scratch reused by every check.
  replication::AssessScratch assess_scratch_;
  std::vector<replication::HolderView> holders_;
  std::size_t holders_n_ = 0;
  std::vector<uint32_t> holder_nodes_;
  std::vector<uint32_t> local_;
  std::vector<uint32_t> asked_;
  std::vector<uint32_t> mark_;
  std::vector<uint32_t> mark_pos_;
  uint32_t mark_gen_ = 0;
  std::vector<replication::QueueItem> queue_items_;
  std::vector<uint32_t> queue_parts_;
  std::vector<uint8_t> queue_kinds_;

  // Ground-truth margins: margin_count_[m + 1] tesseras have durable margin m.
  std::vector<uint64_t> margin_count_;
  uint64_t below_now_ = 0;
  std::vector<double> below_episodes_hours_;
  // Per-day counters.
  DaySample day_;
  int32_t day_min_margin_seen_ = std::numeric_limits<int32_t>::max();
  RunReport report_;
};

}  // namespace tesseras::sim
