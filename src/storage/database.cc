#include "storage/database.h"

#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <system_error>
#include <utility>

namespace tesseras::storage {

using core::ErrorCode;
using core::MakeError;
using core::Result;

namespace {

ErrorCode CodeFor(int extended_rc) {
  switch (extended_rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return ErrorCode::kUnavailable;
    case SQLITE_FULL:
      return ErrorCode::kResourceExhausted;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return ErrorCode::kCorrupt;
    case SQLITE_CONSTRAINT:
      return (extended_rc == SQLITE_CONSTRAINT_PRIMARYKEY ||
              extended_rc == SQLITE_CONSTRAINT_UNIQUE)
                 ? ErrorCode::kAlreadyExists
                 : ErrorCode::kInvalidArgument;
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PERM:
      return ErrorCode::kIo;
    default:
      return ErrorCode::kInternal;
  }
}

int64_t NowUnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

// ---- Statement ---------------------------------------------------------------

Statement::~Statement() {
  if (stmt_) sqlite3_finalize(stmt_);
}

Statement::Statement(Statement&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)),
      stmt_(std::exchange(other.stmt_, nullptr)),
      bind_error_(std::exchange(other.bind_error_, 0)) {}

Statement& Statement::operator=(Statement&& other) noexcept {
  if (this != &other) {
    if (stmt_) sqlite3_finalize(stmt_);
    db_ = std::exchange(other.db_, nullptr);
    stmt_ = std::exchange(other.stmt_, nullptr);
    bind_error_ = std::exchange(other.bind_error_, 0);
  }
  return *this;
}

void Statement::NoteBindError(int rc) {
  if (rc != SQLITE_OK && bind_error_ == 0) bind_error_ = rc;
}

Statement& Statement::Bind(int index, int64_t value) {
  NoteBindError(sqlite3_bind_int64(stmt_, index, value));
  return *this;
}

Statement& Statement::Bind(int index, std::span<const uint8_t> blob) {
  // SQLITE_TRANSIENT: SQLite copies the bytes, so the caller's buffer may go away.
  // An empty span may have a null data(), which SQLite would bind as NULL: an
  // empty blob stays an empty blob.
  static constexpr uint8_t kNone = 0;
  const uint8_t* data = blob.data() != nullptr ? blob.data() : &kNone;
  NoteBindError(sqlite3_bind_blob64(stmt_, index, data, blob.size(), SQLITE_TRANSIENT));
  return *this;
}

Statement& Statement::Bind(int index, std::string_view text) {
  NoteBindError(
      sqlite3_bind_text64(stmt_, index, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8));
  return *this;
}

Statement& Statement::BindNull(int index) {
  NoteBindError(sqlite3_bind_null(stmt_, index));
  return *this;
}

Result<bool> Statement::Step() {
  if (bind_error_ != 0) {
    int rc = std::exchange(bind_error_, 0);
    return MakeError(ErrorCode::kInternal,
                     std::string("sqlite bind failed: ") + sqlite3_errstr(rc));
  }
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  core::Error err = db_->LastError("sqlite step");
  sqlite3_reset(stmt_);
  return err;
}

Result<void> Statement::Run() {
  for (;;) {
    bool row = TRY(Step());
    if (!row) return core::Ok();
  }
}

void Statement::Reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  bind_error_ = 0;
}

int64_t Statement::ColumnInt64(int col) const { return sqlite3_column_int64(stmt_, col); }

bool Statement::ColumnIsNull(int col) const {
  return sqlite3_column_type(stmt_, col) == SQLITE_NULL;
}

std::span<const uint8_t> Statement::ColumnBlob(int col) const {
  const void* p = sqlite3_column_blob(stmt_, col);
  int n = sqlite3_column_bytes(stmt_, col);
  if (p == nullptr || n <= 0) return {};
  return {static_cast<const uint8_t*>(p), static_cast<std::size_t>(n)};
}

std::string Statement::ColumnText(int col) const {
  const unsigned char* p = sqlite3_column_text(stmt_, col);
  int n = sqlite3_column_bytes(stmt_, col);
  if (p == nullptr) return {};
  return std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(n));
}

CachedStatement::~CachedStatement() {
  if (s_) s_->Reset();
}

// ---- Database ----------------------------------------------------------------

Database::~Database() {
  cache_.clear();  // statements must be finalised before the connection closes
  if (db_) sqlite3_close_v2(db_);
}

core::Error Database::LastError(std::string_view what) const {
  int rc = sqlite3_extended_errcode(db_);
  return MakeError(CodeFor(rc),
                   std::string(what) + " (" + path_.string() + "): " + sqlite3_errmsg(db_));
}

Result<std::unique_ptr<Database>> Database::OpenInDataDir(const std::filesystem::path& data_dir,
                                                          const DatabaseOptions& options) {
  std::error_code ec;
  std::filesystem::create_directories(data_dir / "db", ec);
  if (ec) {
    return MakeError(ErrorCode::kIo,
                     "cannot create " + (data_dir / "db").string() + ": " + ec.message());
  }
  return Open(data_dir / "db" / "tesseras.db", options);
}

Result<std::unique_ptr<Database>> Database::Open(const std::filesystem::path& path,
                                                 const DatabaseOptions& options) {
  std::unique_ptr<Database> db(new Database());
  db->path_ = path;
  int rc =
      sqlite3_open_v2(path.c_str(), &db->db_,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db->db_ ? sqlite3_errmsg(db->db_) : sqlite3_errstr(rc);
    return MakeError(CodeFor(rc), "cannot open database " + path.string() + ": " + msg);
  }
  sqlite3_extended_result_codes(db->db_, 1);
  auto lock = db->Lock();
  TRY(db->Configure(options));
  TRY(db->Migrate(options.migrations.empty() ? EmbeddedMigrations() : options.migrations));
  return db;
}

Result<void> Database::Configure(const DatabaseOptions& options) {
  if (sqlite3_busy_timeout(db_, options.busy_timeout_ms) != SQLITE_OK) {
    return LastError("setting busy_timeout");
  }
  // journal_mode answers with the mode actually in force; make sure it is WAL.
  ASSIGN_OR_RETURN(Statement wal, Prepare("PRAGMA journal_mode=WAL"));
  bool row = TRY(wal.Step());
  if (!row || wal.ColumnText(0) != "wal") {
    return MakeError(ErrorCode::kIo, "database " + path_.string() + " refused WAL mode");
  }
  TRY(Exec("PRAGMA foreign_keys=ON"));
  // NORMAL: in WAL mode a crash of this process never loses a commit and a
  // power cut never corrupts the file; it may lose the last commits. The
  // commits that back an acknowledgement use Durability::kSynced (FULL).
  TRY(Exec("PRAGMA synchronous=NORMAL"));
  TRY(Exec("PRAGMA cache_size=-" + std::to_string(std::max(options.cache_kib, 64))));
  return core::Ok();
}

Result<void> Database::Exec(std::string_view sql) {
  std::string s(sql);
  char* err = nullptr;
  int rc = sqlite3_exec(db_, s.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    return MakeError(CodeFor(sqlite3_extended_errcode(db_)),
                     "sqlite (" + path_.string() + "): " + msg);
  }
  return core::Ok();
}

Result<Statement> Database::Prepare(std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr);
  if (rc != SQLITE_OK) return LastError("preparing '" + std::string(sql) + "'");
  return Statement(this, stmt);
}

Result<CachedStatement> Database::Cached(std::string_view sql) {
  auto it = cache_.find(sql);
  if (it == cache_.end()) {
    ASSIGN_OR_RETURN(Statement s, Prepare(sql));
    it = cache_.emplace(std::string(sql), std::make_unique<Statement>(std::move(s))).first;
  }
  return CachedStatement(it->second.get());
}

int64_t Database::Changes() const { return sqlite3_changes64(db_); }

Result<int> Database::SchemaVersion() {
  ASSIGN_OR_RETURN(Statement exists, Prepare("SELECT 1 FROM sqlite_master WHERE type='table' AND "
                                             "name='schema_version'"));
  if (!TRY(exists.Step())) return 0;
  ASSIGN_OR_RETURN(Statement s, Prepare("SELECT COALESCE(MAX(version), 0) FROM schema_version"));
  if (!TRY(s.Step())) return 0;
  return static_cast<int>(s.ColumnInt64(0));
}

Result<void> Database::Migrate(std::span<const Migration> migrations) {
  for (std::size_t i = 0; i < migrations.size(); ++i) {
    if (migrations[i].version != static_cast<int>(i) + 1) {
      return MakeError(ErrorCode::kInternal,
                       "migrations must be numbered 1, 2, ... without gaps; found " +
                           std::to_string(migrations[i].version) + " at position " +
                           std::to_string(i + 1));
    }
  }
  const int latest = static_cast<int>(migrations.size());
  TRY(
      Exec("CREATE TABLE IF NOT EXISTS schema_version ("
           " version INTEGER NOT NULL PRIMARY KEY,"
           " name TEXT NOT NULL,"
           " applied_at_ms INTEGER NOT NULL)"));
  for (const Migration& m : migrations) {
    // The version is re-read inside each write transaction, so two processes
    // opening the same file never apply a migration twice.
    ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(*this));
    int current = TRY(SchemaVersion());
    TRY(RefuseNewerSchema(current, latest));
    if (m.version <= current) continue;  // already applied; tx rolls back (no change)
    auto applied = Exec(m.sql);
    if (!applied.ok()) {
      core::Error e = std::move(applied).error();
      e.message = "migration " + std::to_string(m.version) + " (" + std::string(m.name) +
                  ") failed: " + e.message;
      return e;
    }
    ASSIGN_OR_RETURN(Statement ins, Prepare("INSERT INTO schema_version(version, name, "
                                            "applied_at_ms) VALUES (?, ?, ?)"));
    ins.Bind(1, int64_t{m.version}).Bind(2, m.name).Bind(3, NowUnixMs());
    TRY(ins.Run());
    TRY(tx.Commit());
  }
  // A newer process may have migrated the file while we were looking.
  return RefuseNewerSchema(TRY(SchemaVersion()), latest);
}

Result<void> Database::RefuseNewerSchema(int current, int latest) const {
  if (current <= latest) return core::Ok();
  return MakeError(ErrorCode::kVersionMismatch,
                   "database " + path_.string() + " has schema version " + std::to_string(current) +
                       " but this build knows only up to " + std::to_string(latest) +
                       "; it was written by a newer tesseras");
}

// ---- Transaction -------------------------------------------------------------

Result<Transaction> Transaction::Begin(Database& db, Durability durability) {
  // synchronous cannot change inside a transaction, so it is set around it.
  if (durability == Durability::kSynced) TRY(db.Exec("PRAGMA synchronous=FULL"));
  auto begun = db.Exec("BEGIN IMMEDIATE");
  if (!begun.ok()) {
    if (durability == Durability::kSynced) (void)db.Exec("PRAGMA synchronous=NORMAL");
    return std::move(begun).error();
  }
  return Transaction(&db, durability);
}

Transaction::Transaction(Transaction&& other) noexcept
    : db_(other.db_), durability_(other.durability_), open_(std::exchange(other.open_, false)) {}

Transaction::~Transaction() {
  if (open_) {
    (void)db_->Exec("ROLLBACK");
    Finish();
  }
}

Result<void> Transaction::Commit() {
  TRY(db_->Exec("COMMIT"));
  Finish();
  return core::Ok();
}

void Transaction::Finish() {
  open_ = false;
  if (durability_ == Durability::kSynced) (void)db_->Exec("PRAGMA synchronous=NORMAL");
}

}  // namespace tesseras::storage
