#include "storage/tessera_repository.h"

#include <algorithm>
#include <string>

namespace tesseras::storage {

using core::ContentHash;
using core::ErrorCode;
using core::MakeError;
using core::Result;

namespace {

constexpr std::string_view kStateNames[] = {"local",    "replicating", "replicated",
                                            "degraded", "lost",        "restored"};

constexpr std::string_view kSelect =
    "SELECT hash, owner, size, file_count, state, created_at_ms, updated_at_ms FROM tesseras";

Result<TesseraRecord> RowToRecord(Statement& s) {
  TesseraRecord r;
  ASSIGN_OR_RETURN(r.hash, s.ColumnId<core::ContentHashTag>(0));
  ASSIGN_OR_RETURN(ContentHash owner, s.ColumnId<core::ContentHashTag>(1));
  r.owner = owner.bytes;
  r.size = static_cast<uint64_t>(s.ColumnInt64(2));
  r.file_count = static_cast<uint32_t>(s.ColumnInt64(3));
  auto state = TesseraStateFromName(s.ColumnText(4));
  if (!state.ok()) return MakeError(ErrorCode::kCorrupt, "database: " + state.error().message);
  r.state = *state;
  r.created_at_ms = s.ColumnInt64(5);
  r.updated_at_ms = s.ColumnInt64(6);
  return r;
}

}  // namespace

std::string_view TesseraStateName(TesseraState state) {
  auto i = static_cast<std::size_t>(state);
  return i < std::size(kStateNames) ? kStateNames[i] : "unknown";
}

Result<TesseraState> TesseraStateFromName(std::string_view name) {
  for (std::size_t i = 0; i < std::size(kStateNames); ++i) {
    if (kStateNames[i] == name) return static_cast<TesseraState>(i);
  }
  return MakeError(ErrorCode::kInvalidArgument,
                   "unknown tessera state '" + std::string(name) + "'");
}

TesseraRepository::TesseraRepository(std::shared_ptr<Database> db,
                                     std::shared_ptr<const core::Clock> clock)
    : db_(std::move(db)), clock_(std::move(clock)) {
  if (!clock_) clock_ = std::make_shared<core::SystemClock>();
}

Result<void> TesseraRepository::Insert(const TesseraRecord& record,
                                       std::span<const TesseraFileRecord> files) {
  if (record.file_count != files.size()) {
    return MakeError(ErrorCode::kInvalidArgument, "tessera " + record.hash.Short() + " claims " +
                                                      std::to_string(record.file_count) +
                                                      " files but lists " +
                                                      std::to_string(files.size()));
  }
  if (TesseraStateName(record.state) == "unknown") {
    return MakeError(ErrorCode::kInvalidArgument, "invalid tessera state");
  }
  int64_t now = clock_->NowUnixMs();
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(*db_));
  {
    ASSIGN_OR_RETURN(CachedStatement s,
                     db_->Cached("INSERT INTO tesseras (hash, owner, size, file_count, state, "
                                 "created_at_ms, updated_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?)"));
    s->Bind(1, record.hash)
        .Bind(2, std::span<const uint8_t>(record.owner))
        .Bind(3, static_cast<int64_t>(record.size))
        .Bind(4, int64_t{record.file_count})
        .Bind(5, TesseraStateName(record.state))
        .Bind(6, record.created_at_ms)
        .Bind(7, now);
    auto r = s->Run();
    if (!r.ok()) {
      if (r.error().code == ErrorCode::kAlreadyExists) {
        return MakeError(ErrorCode::kAlreadyExists,
                         "tessera " + record.hash.ToHex() + " is already recorded");
      }
      return r;
    }
  }
  ASSIGN_OR_RETURN(CachedStatement f,
                   db_->Cached("INSERT INTO tessera_files (tessera, path, size, hash, media_type) "
                               "VALUES (?, ?, ?, ?, ?)"));
  for (const auto& file : files) {
    f->Bind(1, record.hash)
        .Bind(2, file.path)
        .Bind(3, static_cast<int64_t>(file.size))
        .Bind(4, file.hash)
        .Bind(5, file.media_type);
    TRY(f->Run());
    f->Reset();
  }
  return tx.Commit();
}

Result<TesseraRecord> TesseraRepository::Get(const ContentHash& hash) {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(CachedStatement s, db_->Cached(std::string(kSelect) + " WHERE hash = ?"));
  s->Bind(1, hash);
  if (!TRY(s->Step())) {
    return MakeError(ErrorCode::kNotFound, "tessera " + hash.ToHex() + " is not recorded");
  }
  return RowToRecord(*s);
}

Result<std::vector<TesseraFileRecord>> TesseraRepository::Files(const ContentHash& hash) {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(CachedStatement s,
                   db_->Cached("SELECT path, size, hash, media_type FROM tessera_files "
                               "WHERE tessera = ? ORDER BY path"));
  s->Bind(1, hash);
  std::vector<TesseraFileRecord> out;
  while (TRY(s->Step())) {
    TesseraFileRecord f;
    f.path = s->ColumnText(0);
    f.size = static_cast<uint64_t>(s->ColumnInt64(1));
    ASSIGN_OR_RETURN(f.hash, s->ColumnId<core::ContentHashTag>(2));
    f.media_type = s->ColumnText(3);
    out.push_back(std::move(f));
  }
  return out;
}

Result<std::vector<TesseraRecord>> TesseraRepository::List() {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(CachedStatement s,
                   db_->Cached(std::string(kSelect) + " ORDER BY created_at_ms, hash"));
  std::vector<TesseraRecord> out;
  while (TRY(s->Step())) out.push_back(TRY(RowToRecord(*s)));
  return out;
}

Result<void> TesseraRepository::SetState(const ContentHash& hash, TesseraState state) {
  if (TesseraStateName(state) == "unknown") {
    return MakeError(ErrorCode::kInvalidArgument, "invalid tessera state");
  }
  int64_t now = clock_->NowUnixMs();
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(CachedStatement s,
                   db_->Cached("UPDATE tesseras SET state = ?, updated_at_ms = ? WHERE hash = ?"));
  s->Bind(1, TesseraStateName(state)).Bind(2, now).Bind(3, hash);
  TRY(s->Run());
  if (db_->Changes() == 0) {
    return MakeError(ErrorCode::kNotFound, "tessera " + hash.ToHex() + " is not recorded");
  }
  return core::Ok();
}

Result<void> TesseraRepository::Remove(const ContentHash& hash) {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(CachedStatement s, db_->Cached("DELETE FROM tesseras WHERE hash = ?"));
  s->Bind(1, hash);
  TRY(s->Run());
  if (db_->Changes() == 0) {
    return MakeError(ErrorCode::kNotFound, "tessera " + hash.ToHex() + " is not recorded");
  }
  return core::Ok();
}

}  // namespace tesseras::storage
