#include "storage/reciprocity_ledger.h"

#include <string>

#include "core/tier.h"

namespace tesseras::storage {

using core::ErrorCode;
using core::LedgerDirection;
using core::LedgerEntry;
using core::MakeError;
using core::Result;

namespace {

Result<void> CheckRecord(const LedgerRecord& r) {
  if (r.direction != LedgerDirection::kWeStoreForThem &&
      r.direction != LedgerDirection::kTheyStoreForUs) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "unknown ledger direction " + std::to_string(static_cast<int>(r.direction)));
  }
  // A fragment is never larger than a whole tessera; this also keeps every
  // total far from int64 overflow.
  if (r.bytes > core::kMaxTesseraSize) {
    return MakeError(ErrorCode::kInvalidArgument, "ledger record of " + std::to_string(r.bytes) +
                                                      " bytes for one fragment exceeds " +
                                                      std::to_string(core::kMaxTesseraSize));
  }
  if (r.index > 254) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "fragment index " + std::to_string(r.index) + " out of range");
  }
  return core::Ok();
}

Result<LedgerEntry> RowToEntry(Statement& s, int first_col) {
  LedgerEntry e;
  ASSIGN_OR_RETURN(e.peer, s.ColumnId<core::NodeIdTag>(first_col));
  e.bytes_stored_for_them = static_cast<uint64_t>(s.ColumnInt64(first_col + 1));
  e.bytes_they_store_for_us = static_cast<uint64_t>(s.ColumnInt64(first_col + 2));
  e.balance = s.ColumnInt64(first_col + 3);
  return e;
}

constexpr std::string_view kSelectEntry =
    "SELECT peer, bytes_stored_for_them, bytes_they_store_for_us, balance FROM reciprocity";

}  // namespace

SqliteReciprocityLedger::SqliteReciprocityLedger(std::shared_ptr<Database> db,
                                                 std::shared_ptr<const core::Clock> clock)
    : db_(std::move(db)), clock_(std::move(clock)) {
  if (!clock_) clock_ = std::make_shared<core::SystemClock>();
}

Result<bool> SqliteReciprocityLedger::RecordLocked(const LedgerRecord& r, int64_t now) {
  {
    ASSIGN_OR_RETURN(CachedStatement s,
                     db_->Cached("INSERT INTO reciprocity_entries (peer, direction, tessera, idx, "
                                 "bytes, recorded_at_ms) VALUES (?, ?, ?, ?, ?, ?) "
                                 "ON CONFLICT DO NOTHING"));
    s->Bind(1, r.peer)
        .Bind(2, int64_t{static_cast<int>(r.direction)})
        .Bind(3, r.tessera)
        .Bind(4, int64_t{r.index})
        .Bind(5, static_cast<int64_t>(r.bytes))
        .Bind(6, now);
    TRY(s->Run());
  }
  if (db_->Changes() == 0) return false;  // already counted
  const bool for_them = r.direction == LedgerDirection::kWeStoreForThem;
  ASSIGN_OR_RETURN(CachedStatement s,
                   db_->Cached("INSERT INTO reciprocity (peer, bytes_stored_for_them, "
                               "bytes_they_store_for_us, updated_at_ms) VALUES (?, ?, ?, ?) "
                               "ON CONFLICT (peer) DO UPDATE SET "
                               "bytes_stored_for_them = bytes_stored_for_them + "
                               "excluded.bytes_stored_for_them, "
                               "bytes_they_store_for_us = bytes_they_store_for_us + "
                               "excluded.bytes_they_store_for_us, "
                               "updated_at_ms = excluded.updated_at_ms"));
  s->Bind(1, r.peer)
      .Bind(2, static_cast<int64_t>(for_them ? r.bytes : 0))
      .Bind(3, static_cast<int64_t>(for_them ? 0 : r.bytes))
      .Bind(4, now);
  TRY(s->Run());
  return true;
}

Result<bool> SqliteReciprocityLedger::Record(const core::NodeId& peer, LedgerDirection direction,
                                             const core::ContentHash& tessera, uint32_t index,
                                             uint64_t bytes) {
  LedgerRecord r{peer, direction, tessera, index, bytes};
  TRY(CheckRecord(r));
  int64_t now = clock_->NowUnixMs();
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(*db_));
  bool changed = TRY(RecordLocked(r, now));
  TRY(tx.Commit());
  return changed;
}

Result<std::size_t> SqliteReciprocityLedger::RecordBatch(std::span<const LedgerRecord> records) {
  for (const auto& r : records) TRY(CheckRecord(r));
  int64_t now = clock_->NowUnixMs();
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(*db_));
  std::size_t changed = 0;
  for (const auto& r : records) changed += TRY(RecordLocked(r, now)) ? 1 : 0;
  TRY(tx.Commit());
  return changed;
}

Result<bool> SqliteReciprocityLedger::Forget(const core::NodeId& peer, LedgerDirection direction,
                                             const core::ContentHash& tessera, uint32_t index) {
  TRY(CheckRecord(LedgerRecord{peer, direction, tessera, index, 0}));
  int64_t now = clock_->NowUnixMs();
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(*db_));
  int64_t bytes = 0;
  {
    ASSIGN_OR_RETURN(CachedStatement s,
                     db_->Cached("DELETE FROM reciprocity_entries WHERE peer = ? AND direction = ? "
                                 "AND tessera = ? AND idx = ? RETURNING bytes"));
    s->Bind(1, peer)
        .Bind(2, int64_t{static_cast<int>(direction)})
        .Bind(3, tessera)
        .Bind(4, int64_t{index});
    if (!TRY(s->Step())) return false;  // never counted; the transaction rolls back
    bytes = s->ColumnInt64(0);
    TRY(s->Run());
  }
  const bool for_them = direction == LedgerDirection::kWeStoreForThem;
  ASSIGN_OR_RETURN(CachedStatement s,
                   db_->Cached("UPDATE reciprocity SET "
                               "bytes_stored_for_them = bytes_stored_for_them - ?, "
                               "bytes_they_store_for_us = bytes_they_store_for_us - ?, "
                               "updated_at_ms = ? WHERE peer = ?"));
  s->Bind(1, for_them ? bytes : 0).Bind(2, for_them ? 0 : bytes).Bind(3, now).Bind(4, peer);
  TRY(s->Run());
  if (db_->Changes() != 1) {
    return MakeError(ErrorCode::kInternal,
                     "ledger: fragment counted for peer " + peer.Short() + " without a total row");
  }
  TRY(tx.Commit());
  return true;
}

Result<LedgerEntry> SqliteReciprocityLedger::Balance(const core::NodeId& peer) {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(CachedStatement s, db_->Cached(std::string(kSelectEntry) + " WHERE peer = ?"));
  s->Bind(1, peer);
  if (!TRY(s->Step())) return LedgerEntry{peer, 0, 0, 0};
  return RowToEntry(*s, 0);
}

Result<std::vector<LedgerEntry>> SqliteReciprocityLedger::BestPeers(std::size_t n) {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(CachedStatement s,
                   db_->Cached(std::string(kSelectEntry) + " ORDER BY balance DESC, peer LIMIT ?"));
  s->Bind(1, static_cast<int64_t>(std::min<std::size_t>(n, INT64_MAX)));
  std::vector<LedgerEntry> out;
  while (TRY(s->Step())) out.push_back(TRY(RowToEntry(*s, 0)));
  return out;
}

Result<std::vector<LedgerEntry>> SqliteReciprocityLedger::All() {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(CachedStatement s, db_->Cached(std::string(kSelectEntry) + " ORDER BY peer"));
  std::vector<LedgerEntry> out;
  while (TRY(s->Step())) out.push_back(TRY(RowToEntry(*s, 0)));
  return out;
}

}  // namespace tesseras::storage
