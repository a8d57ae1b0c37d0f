#include "storage/scrub.h"

#include <algorithm>
#include <limits>

namespace tesseras::storage {

using core::ContentHash;
using core::ErrorCode;
using core::Result;

namespace {

constexpr int64_t kDayMs = 24 * 3600 * 1000;
// After a failure that is not about one fragment (the database, the disk),
// the background scrub waits this long before trying again.
constexpr std::chrono::milliseconds kRetryAfterFailure{60'000};
// The longest single wait, so that a clock stepped forward is noticed.
constexpr int64_t kMaxWaitMs = 3600 * 1000;

}  // namespace

int64_t ScrubPauseMs(uint64_t bytes, uint64_t bytes_per_day) {
  if (bytes_per_day == 0) return kDayMs;
  const unsigned __int128 charged = std::max<uint64_t>(bytes, kScrubMinChargeBytes);
  const unsigned __int128 ms = (charged * kDayMs + bytes_per_day - 1) / bytes_per_day;
  return ms > static_cast<unsigned __int128>(kDayMs) ? kDayMs : static_cast<int64_t>(ms);
}

Scrubber::Scrubber(std::shared_ptr<Database> db, FsFragmentStore& store, ScrubOptions options)
    : db_(std::move(db)), store_(store), options_(std::move(options)) {
  if (!options_.clock) options_.clock = std::make_shared<core::SystemClock>();
  if (options_.batch == 0) options_.batch = 64;
  status_.bytes_per_day = options_.bytes_per_day;
}

Result<std::unique_ptr<Scrubber>> Scrubber::Open(std::shared_ptr<Database> db,
                                                 FsFragmentStore& store, ScrubOptions options) {
  if (!db) return core::MakeError(ErrorCode::kInvalidArgument, "scrub needs a database");
  std::unique_ptr<Scrubber> s(new Scrubber(std::move(db), store, std::move(options)));
  TRY(s->Load());
  return s;
}

Scrubber::~Scrubber() { Stop(); }

Result<void> Scrubber::Load() {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(Statement s,
                   db_->Prepare("SELECT cycle_started_ms, cursor_ms, cursor_tessera, cursor_idx, "
                                "cycle_fragments, cycle_bytes, cycle_fragments_total, "
                                "cycle_bytes_total, last_cycle_started_ms, last_cycle_finished_ms, "
                                "last_cycle_fragments, last_cycle_bytes, corrupt_found, "
                                "missing_found, reconcile_cursor, reconcile_done "
                                "FROM scrub_state WHERE id = 0"));
  std::lock_guard<std::mutex> state(mu_);
  if (!TRY(s.Step())) return core::Ok();  // never scrubbed: a cycle is due now
  status_.cycle_started_ms = s.ColumnInt64(0);
  status_.position_ms = s.ColumnInt64(1);
  ASSIGN_OR_RETURN(cursor_tessera_, s.ColumnId<core::ContentHashTag>(2));
  cursor_idx_ = s.ColumnInt64(3);
  status_.cycle_fragments = static_cast<uint64_t>(s.ColumnInt64(4));
  status_.cycle_bytes = static_cast<uint64_t>(s.ColumnInt64(5));
  status_.cycle_fragments_total = static_cast<uint64_t>(s.ColumnInt64(6));
  status_.cycle_bytes_total = static_cast<uint64_t>(s.ColumnInt64(7));
  if (!s.ColumnIsNull(8)) status_.last_cycle_started_ms = s.ColumnInt64(8);
  if (!s.ColumnIsNull(9)) status_.last_cycle_finished_ms = s.ColumnInt64(9);
  status_.last_cycle_fragments = static_cast<uint64_t>(s.ColumnInt64(10));
  status_.last_cycle_bytes = static_cast<uint64_t>(s.ColumnInt64(11));
  status_.corrupt_found = static_cast<uint64_t>(s.ColumnInt64(12));
  status_.missing_found = static_cast<uint64_t>(s.ColumnInt64(13));
  reconcile_cursor_ = s.ColumnText(14);
  reconcile_done_ = s.ColumnInt64(15) != 0;
  if (status_.cycle_started_ms == 0 && status_.last_cycle_started_ms) {
    status_.next_cycle_ms = *status_.last_cycle_started_ms + options_.min_cycle_ms;
  }
  return core::Ok();
}

Result<void> Scrubber::Save() {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(
      CachedStatement s,
      db_->Cached(
          "INSERT INTO scrub_state (id, cycle_started_ms, cursor_ms, cursor_tessera, "
          "cursor_idx, cycle_fragments, cycle_bytes, cycle_fragments_total, "
          "cycle_bytes_total, last_cycle_started_ms, last_cycle_finished_ms, "
          "last_cycle_fragments, last_cycle_bytes, corrupt_found, missing_found, "
          "reconcile_cursor, reconcile_done) "
          "VALUES (0, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE "
          "SET cycle_started_ms = excluded.cycle_started_ms, "
          "cursor_ms = excluded.cursor_ms, cursor_tessera = excluded.cursor_tessera, "
          "cursor_idx = excluded.cursor_idx, cycle_fragments = excluded.cycle_fragments, "
          "cycle_bytes = excluded.cycle_bytes, "
          "cycle_fragments_total = excluded.cycle_fragments_total, "
          "cycle_bytes_total = excluded.cycle_bytes_total, "
          "last_cycle_started_ms = excluded.last_cycle_started_ms, "
          "last_cycle_finished_ms = excluded.last_cycle_finished_ms, "
          "last_cycle_fragments = excluded.last_cycle_fragments, "
          "last_cycle_bytes = excluded.last_cycle_bytes, "
          "corrupt_found = excluded.corrupt_found, missing_found = excluded.missing_found, "
          "reconcile_cursor = excluded.reconcile_cursor, "
          "reconcile_done = excluded.reconcile_done"));
  const ScrubStatus& st = status_;
  s->Bind(1, st.cycle_started_ms)
      .Bind(2, st.position_ms)
      .Bind(3, cursor_tessera_)
      .Bind(4, cursor_idx_)
      .Bind(5, static_cast<int64_t>(st.cycle_fragments))
      .Bind(6, static_cast<int64_t>(st.cycle_bytes))
      .Bind(7, static_cast<int64_t>(st.cycle_fragments_total))
      .Bind(8, static_cast<int64_t>(st.cycle_bytes_total));
  if (st.last_cycle_started_ms) {
    s->Bind(9, *st.last_cycle_started_ms);
  } else {
    s->BindNull(9);
  }
  if (st.last_cycle_finished_ms) {
    s->Bind(10, *st.last_cycle_finished_ms);
  } else {
    s->BindNull(10);
  }
  s->Bind(11, static_cast<int64_t>(st.last_cycle_fragments))
      .Bind(12, static_cast<int64_t>(st.last_cycle_bytes))
      .Bind(13, static_cast<int64_t>(st.corrupt_found))
      .Bind(14, static_cast<int64_t>(st.missing_found))
      .Bind(15, reconcile_cursor_)
      .Bind(16, int64_t{reconcile_done_ ? 1 : 0});
  return s->Run();
}

void Scrubber::Log(const std::string& line) const {
  if (options_.log) options_.log("scrub: " + line);
}

Result<void> Scrubber::BeginCycle(int64_t now) {
  ASSIGN_OR_RETURN(uint64_t fragments, store_.FragmentCount());
  ASSIGN_OR_RETURN(uint64_t bytes, store_.TotalBytes());
  std::lock_guard<std::mutex> state(mu_);
  status_.cycle_started_ms = now;
  status_.next_cycle_ms = 0;
  status_.position_ms = std::numeric_limits<int64_t>::min();
  cursor_tessera_ = ContentHash{};
  cursor_idx_ = -1;
  status_.cycle_fragments = 0;
  status_.cycle_bytes = 0;
  status_.cycle_fragments_total = fragments;
  status_.cycle_bytes_total = bytes;
  pending_.clear();
  reconcile_cursor_.clear();
  reconcile_done_ = false;
  return Save();
}

Result<std::size_t> Scrubber::ReconcileSlice() {
  std::string cursor;
  {
    std::lock_guard<std::mutex> state(mu_);
    if (reconcile_done_) return std::size_t{0};
    cursor = reconcile_cursor_;
  }
  RecoveryReport found;
  ASSIGN_OR_RETURN(std::size_t reached, store_.ReconcileSome(&cursor, options_.batch, found));
  if (!found.clean()) Log("reconcile: " + found.ToString());
  std::lock_guard<std::mutex> state(mu_);
  reconcile_cursor_ = cursor;
  reconcile_done_ = cursor.empty();
  return reached;
}

Result<void> Scrubber::Refill() {
  int64_t cycle = 0, after_ms = 0, after_idx = 0;
  ContentHash after_tessera;
  {
    std::lock_guard<std::mutex> state(mu_);
    cycle = status_.cycle_started_ms;
    after_ms = status_.position_ms;
    after_tessera = cursor_tessera_;
    after_idx = cursor_idx_;
  }
  auto lock = db_->Lock();
  // Oldest-verified first, strictly after the cursor, among what was last
  // verified before the cycle began (index fragments_by_scrub, migration 005).
  ASSIGN_OR_RETURN(
      CachedStatement s,
      db_->Cached(
          "SELECT tessera, idx, COALESCE(last_verified_ms, stored_at_ms), size "
          "FROM fragments WHERE COALESCE(last_verified_ms, stored_at_ms) >= ?1 "
          "AND COALESCE(last_verified_ms, stored_at_ms) < ?2 "
          "AND (COALESCE(last_verified_ms, stored_at_ms) > ?1 OR (tessera, idx) > (?3, ?4)) "
          "ORDER BY COALESCE(last_verified_ms, stored_at_ms), tessera, idx LIMIT ?5"));
  s->Bind(1, after_ms)
      .Bind(2, cycle)
      .Bind(3, after_tessera)
      .Bind(4, after_idx)
      .Bind(5, static_cast<int64_t>(options_.batch));
  while (TRY(s->Step())) {
    Due d;
    ASSIGN_OR_RETURN(d.tessera, s->ColumnId<core::ContentHashTag>(0));
    d.index = static_cast<uint32_t>(s->ColumnInt64(1));
    d.scrub_ms = s->ColumnInt64(2);
    d.size = static_cast<uint64_t>(s->ColumnInt64(3));
    pending_.push_back(d);
  }
  return core::Ok();
}

Result<Scrubber::StepResult> Scrubber::Step(uint64_t max_bytes, bool force_cycle,
                                            Progress* progress) {
  const int64_t now = options_.clock->NowUnixMs();
  bool begin = false;
  {
    std::lock_guard<std::mutex> state(mu_);
    if (status_.cycle_started_ms == 0) {
      if (!force_cycle && now < status_.next_cycle_ms) return StepResult::kNotDue;
      begin = true;
    }
  }
  if (begin) TRY(BeginCycle(now));
  // A slice of the walk of the fragment directories with each batch, so that
  // the walk is spread over the cycle like the verification.
  ASSIGN_OR_RETURN(std::size_t walked, ReconcileSlice());
  if (pending_.empty()) TRY(Refill());
  if (pending_.empty() && walked > 0) {
    // Every fragment is verified but the walk has not reached the end: the
    // cycle ends when it does. Each entry is charged as a small fragment.
    progress->bytes += walked * kScrubMinChargeBytes;
    std::lock_guard<std::mutex> state(mu_);
    cv_.notify_all();
    TRY(Save());
    return StepResult::kVerified;
  }
  if (pending_.empty()) {
    std::lock_guard<std::mutex> state(mu_);
    status_.last_cycle_started_ms = status_.cycle_started_ms;
    status_.last_cycle_finished_ms = now;
    status_.last_cycle_fragments = status_.cycle_fragments;
    status_.last_cycle_bytes = status_.cycle_bytes;
    status_.next_cycle_ms = status_.cycle_started_ms + options_.min_cycle_ms;
    status_.cycle_started_ms = 0;
    status_.cycle_fragments = status_.cycle_bytes = 0;
    status_.cycle_fragments_total = status_.cycle_bytes_total = 0;
    ++status_.cycles_completed;
    cv_.notify_all();
    TRY(Save());
    return StepResult::kCycleFinished;
  }
  std::vector<Due> batch;
  std::vector<core::FragmentKey> keys;
  uint64_t charge = 0;
  while (!pending_.empty() && batch.size() < options_.batch &&
         (batch.empty() || charge < max_bytes)) {
    batch.push_back(pending_.front());
    pending_.pop_front();
    keys.push_back({batch.back().tessera, batch.back().index});
    charge += std::max<uint64_t>(batch.back().size, kScrubMinChargeBytes);
  }
  int64_t cycle = 0;
  {
    std::lock_guard<std::mutex> state(mu_);
    cycle = status_.cycle_started_ms;
  }
  // What was verified since the cycle began (by `tes verify`, a health check)
  // is not verified again in it.
  ASSIGN_OR_RETURN(auto results, store_.VerifyMany(keys, cycle));
  std::lock_guard<std::mutex> state(mu_);
  for (std::size_t i = 0; i < batch.size(); ++i) {
    const Due& d = batch[i];
    const Result<bool>& r = results[i];
    status_.position_ms = d.scrub_ms;
    cursor_tessera_ = d.tessera;
    cursor_idx_ = d.index;
    if (r.ok() && !*r) continue;  // nothing to do
    ++progress->fragments;
    progress->bytes += std::max<uint64_t>(d.size, kScrubMinChargeBytes);
    if (r.ok()) {
      ++status_.cycle_fragments;
      status_.cycle_bytes += d.size;
    } else if (r.error().code == ErrorCode::kCorrupt) {
      ++status_.corrupt_found;
      Log(r.error().message);
    } else if (r.error().code == ErrorCode::kNotFound) {
      ++status_.missing_found;
      Log(r.error().message);
    } else {
      status_.last_error = r.error().ToString();
      Log(status_.last_error);
    }
  }
  cv_.notify_all();
  if (pending_.empty()) TRY(Save());  // once per batch of keys
  return StepResult::kVerified;
}

Result<Scrubber::Progress> Scrubber::RunFor(uint64_t max_bytes) {
  std::lock_guard<std::mutex> run(run_mu_);
  Progress p;
  for (bool first = true; first || p.bytes < max_bytes; first = false) {
    ASSIGN_OR_RETURN(StepResult r, Step(max_bytes - std::min(max_bytes, p.bytes),
                                        /*force_cycle=*/first, &p));
    if (r == StepResult::kCycleFinished) {
      p.cycle_finished = true;
      break;
    }
    if (r == StepResult::kNotDue) break;
  }
  return p;
}

void Scrubber::Start() {
  std::lock_guard<std::mutex> state(mu_);
  if (thread_.joinable() || options_.bytes_per_day == 0) return;
  stop_ = false;
  status_.running = true;
  thread_ = std::thread([this] { Run(); });
}

void Scrubber::Stop() {
  std::thread t;
  {
    std::lock_guard<std::mutex> state(mu_);
    stop_ = true;
    t = std::move(thread_);
  }
  cv_.notify_all();
  if (t.joinable()) t.join();
  std::lock_guard<std::mutex> state(mu_);
  status_.running = false;
  (void)Save();  // where it stopped (after a crash, at most one batch of counts is lost)
}

ScrubStatus Scrubber::Status() const {
  std::lock_guard<std::mutex> state(mu_);
  return status_;
}

bool Scrubber::WaitUntil(const std::function<bool(const ScrubStatus&)>& done,
                         std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> state(mu_);
  return cv_.wait_for(state, timeout, [&] { return done(status_); });
}

void Scrubber::Run() {
  for (;;) {
    Progress step;
    Result<StepResult> r = StepResult::kNotDue;
    {
      std::lock_guard<std::mutex> run(run_mu_);
      // Never more in one go than a day's budget.
      r = Step(std::min(kScrubBatchBytes, options_.bytes_per_day), /*force_cycle=*/false, &step);
    }
    const uint64_t bytes = step.bytes;
    std::chrono::milliseconds wait{0};
    if (!r.ok()) {
      {
        std::lock_guard<std::mutex> state(mu_);
        status_.last_error = r.error().ToString();
      }
      Log("failed: " + r.error().ToString());
      wait = kRetryAfterFailure;
    } else if (*r == StepResult::kVerified && bytes > 0) {
      wait = std::chrono::milliseconds(ScrubPauseMs(bytes, options_.bytes_per_day));
    } else if (*r == StepResult::kNotDue) {
      int64_t next = 0;
      {
        std::lock_guard<std::mutex> state(mu_);
        next = status_.next_cycle_ms;
      }
      const int64_t left = next - options_.clock->NowUnixMs();
      wait = std::chrono::milliseconds(std::clamp<int64_t>(left, 1, kMaxWaitMs));
    }
    std::unique_lock<std::mutex> state(mu_);
    status_.paused_until_ms = options_.clock->NowUnixMs() + wait.count();
    cv_.notify_all();
    // A rate limit, not synchronisation: Stop() wakes it at once.
    const bool stopping = cv_.wait_for(state, wait, [this] { return stop_; });
    status_.paused_until_ms = 0;
    if (stopping) return;
  }
}

}  // namespace tesseras::storage
