// Scrubber: re-verifies every fragment the node holds, continuously, within a
// budget of bytes read per day, instead of all at once (docs/STORAGE.md,
// "Background scrub").
//
// A cycle visits, oldest-verified first, every fragment whose scrub time (its
// last verification, or when it was stored: Store hashed every byte as it
// wrote it) is before the moment the cycle began, and runs
// FsFragmentStore::Verify on it. A corrupt or missing fragment is therefore
// handled exactly as Verify handles it: quarantined, its row dropped (the
// holder's repair pass then mends it). Each cycle also walks the fragment
// directories (FsFragmentStore::ReconcileSome, what finds files without
// rows), one slice of ScrubOptions::batch entries with each batch, so that
// neither start-up nor the start of a cycle walks everything; a cycle ends
// when both its verification and its walk have reached the end. The
// positions (the last fragment reached, the last directory entry reached) and
// the counters are kept in the database (table scrub_state, migrations 005
// and 007), so a restarted node resumes where it stopped. A new cycle starts no sooner than
// `min_cycle_ms` after the previous one started, so a node holding less than a day's budget does
// not read it over and over.
//
// Pacing: the scrub verifies a batch (at most ScrubOptions::batch fragments
// and kScrubBatchBytes, or a day's budget if that is less) and then waits what the batch is
// charged, each fragment max(n, kScrubMinChargeBytes), over bytes_per_day, of a day; the batch's
// verifications are recorded in one transaction. A batch that only walks directories (the
// verification has reached the end, the walk not yet) is charged kScrubMinChargeBytes per
// entry. Memory: one batch of keys and one slice of names, whatever the store holds.
//
// Threading: Start() runs the scrub on its own thread (blocking disk work;
// never the network thread). Status() and Stop() may be called from any
// thread. RunFor() runs it on the caller's thread (tests, benchmarks).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "core/ports/clock.h"
#include "storage/database.h"
#include "storage/fragment_store.h"

namespace tesseras::storage {

// 32 GiB a day (~0.4 MiB/s on average): a node holding 1 TiB is scrubbed
// about once a month, one holding 100 GiB twice a week.
inline constexpr uint64_t kDefaultScrubBytesPerDay = 32ull << 30;
// The least a fragment is charged against the budget (opening a file and
// updating its row cost about as much as reading a few KiB).
inline constexpr uint64_t kScrubMinChargeBytes = 4096;
// The most one batch of the background scrub reads before it pauses.
inline constexpr uint64_t kScrubBatchBytes = 16ull << 20;

// How long the scrub waits after reading `bytes` (charged at least
// kScrubMinChargeBytes) to stay within `bytes_per_day`; at most a day.
int64_t ScrubPauseMs(uint64_t bytes, uint64_t bytes_per_day);

struct ScrubOptions {
  // Bytes read per day at most; 0 turns the background scrub off (RunFor
  // still works).
  uint64_t bytes_per_day = kDefaultScrubBytesPerDay;
  // A cycle starts no sooner than this after the previous one started.
  int64_t min_cycle_ms = 24 * 3600 * 1000;
  // Fragments fetched from the index per query.
  std::size_t batch = 64;
  // Timestamps of cycles; the system clock when null.
  std::shared_ptr<const core::Clock> clock;
  // One line per finding (a corrupt or missing fragment, what Reconcile did)
  // and per failure; dropped when null.
  std::function<void(const std::string&)> log;
};

// What the daemon shows (GET /v1/node, "scrub").
struct ScrubStatus {
  bool running = false;  // the background thread is started
  uint64_t bytes_per_day = 0;
  // The cycle in progress (cycle_started_ms 0: none; the next one is due at
  // next_cycle_ms). A fragment counts in `cycle_*` when this scrub verified it.
  int64_t cycle_started_ms = 0;
  int64_t next_cycle_ms = 0;
  // Scrub time of the last fragment reached: everything last verified before
  // it has been verified in this cycle.
  int64_t position_ms = 0;
  uint64_t cycle_fragments = 0;
  uint64_t cycle_bytes = 0;
  // What the store held when the cycle began.
  uint64_t cycle_fragments_total = 0;
  uint64_t cycle_bytes_total = 0;
  // The last complete cycle.
  std::optional<int64_t> last_cycle_started_ms;
  std::optional<int64_t> last_cycle_finished_ms;
  uint64_t last_cycle_fragments = 0;
  uint64_t last_cycle_bytes = 0;
  // Cycles completed since the scrubber was opened.
  uint64_t cycles_completed = 0;
  // The background scrub reads nothing before this (the budget's pause, or
  // the next cycle); 0 when it is not waiting.
  int64_t paused_until_ms = 0;
  // Found since the first cycle (and dropped from the index).
  uint64_t corrupt_found = 0;
  uint64_t missing_found = 0;
  std::string last_error;  // the last failure that said nothing about a fragment
};

class Scrubber {
 public:
  // Reads the saved position (or none). `store` must outlive the scrubber.
  static core::Result<std::unique_ptr<Scrubber>> Open(std::shared_ptr<Database> db,
                                                      FsFragmentStore& store,
                                                      ScrubOptions options = {});
  ~Scrubber();
  Scrubber(const Scrubber&) = delete;
  Scrubber& operator=(const Scrubber&) = delete;

  // Starts the background thread (not when bytes_per_day is 0). Idempotent.
  void Start();
  // Stops it, at the latest after the fragment being verified; saves the
  // position. Idempotent.
  void Stop();

  ScrubStatus Status() const;

  struct Progress {
    uint64_t fragments = 0;  // verified (a failed verification counts too)
    uint64_t bytes = 0;
    bool cycle_finished = false;  // a cycle ended during this call
  };
  // Verifies fragments on the calling thread, without pacing, until at least
  // `max_bytes` have been read or the cycle in progress ends (starting one
  // first if none is in progress, due or not). Waits for a step the thread is
  // running to finish.
  core::Result<Progress> RunFor(uint64_t max_bytes);

  // Waits until `done(Status())` holds (checked after every step) or
  // `timeout` passes; returns whether it held.
  bool WaitUntil(const std::function<bool(const ScrubStatus&)>& done,
                 std::chrono::milliseconds timeout);

 private:
  struct Due {
    core::ContentHash tessera;
    uint32_t index = 0;
    int64_t scrub_ms = 0;
    uint64_t size = 0;
  };
  enum class StepResult { kVerified, kCycleFinished, kNotDue };

  Scrubber(std::shared_ptr<Database> db, FsFragmentStore& store, ScrubOptions options);
  core::Result<void> Load();
  core::Result<void> Save();  // requires mu_
  // One batch: up to `batch` fragments, until they are charged `max_bytes`
  // (at least one); or the start or end of a cycle (`force_cycle` starts one
  // even before it is due). Adds what it verified to *progress. Requires
  // run_mu_.
  core::Result<StepResult> Step(uint64_t max_bytes, bool force_cycle, Progress* progress);
  core::Result<void> BeginCycle(int64_t now);
  core::Result<void> Refill();  // requires run_mu_
  // The next slice (ScrubOptions::batch entries) of this cycle's walk of the
  // fragment directories (FsFragmentStore::ReconcileSome), unless the walk
  // has reached the end; returns the entries reached. Requires run_mu_.
  core::Result<std::size_t> ReconcileSlice();
  void Log(const std::string& line) const;
  void Run();

  std::shared_ptr<Database> db_;
  FsFragmentStore& store_;
  ScrubOptions options_;

  std::mutex run_mu_;        // one Step at a time
  std::deque<Due> pending_;  // the next keys of the cycle (at most one batch)

  mutable std::mutex mu_;  // status_, the cursors, stop_
  std::condition_variable cv_;
  ScrubStatus status_;
  core::ContentHash cursor_tessera_;
  int64_t cursor_idx_ = -1;
  std::string reconcile_cursor_;  // "" with reconcile_done_ false: the walk's start
  bool reconcile_done_ = false;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace tesseras::storage
