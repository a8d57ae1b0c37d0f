// A thin RAII wrapper over one SQLite connection, and the schema migrations.
//
// One database per node at {data_dir}/db/tesseras.db, opened with
//   journal_mode=WAL, foreign_keys=ON, busy_timeout, synchronous=NORMAL.
// In WAL mode NORMAL never corrupts the database; a power cut (not a process
// crash) can lose the last commits. Where an acknowledgement sent to a peer
// depends on a commit, the caller asks for Durability::kSynced, which runs that
// one transaction with synchronous=FULL (the WAL is fsynced at COMMIT); see
// FsFragmentStore::Store.
//
// Threading: blocking; never call from the network thread. A Database is one
// connection shared by the storage classes; every use holds Lock() for the
// whole statement or transaction, so they are thread-safe.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/ids.h"
#include "core/result.h"
#include "storage/migrations.h"

struct sqlite3;
struct sqlite3_stmt;

namespace tesseras::storage {

class Database;

// A prepared statement. Bind indices start at 1 (SQLite's convention).
class Statement {
 public:
  Statement() = default;
  ~Statement();
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&& other) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& Bind(int index, int64_t value);
  Statement& Bind(int index, std::span<const uint8_t> blob);
  Statement& Bind(int index, std::string_view text);
  Statement& BindNull(int index);
  template <typename Tag>
  Statement& Bind(int index, const core::Id32<Tag>& id) {
    return Bind(index, std::span<const uint8_t>(id.bytes));
  }

  // Runs one step: true if a row is available, false when done. A bind error
  // recorded above is reported here.
  core::Result<bool> Step();
  // Steps to completion, ignoring rows.
  core::Result<void> Run();
  void Reset();

  int64_t ColumnInt64(int col) const;
  bool ColumnIsNull(int col) const;
  std::span<const uint8_t> ColumnBlob(int col) const;
  std::string ColumnText(int col) const;
  // A 32-byte id column; kCorrupt if it is not 32 bytes.
  template <typename Tag>
  core::Result<core::Id32<Tag>> ColumnId(int col) const {
    auto r = core::Id32<Tag>::FromSpan(ColumnBlob(col));
    if (!r.ok())
      return core::MakeError(core::ErrorCode::kCorrupt, "database: " + r.error().message);
    return r;
  }

 private:
  friend class Database;
  Statement(Database* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  void NoteBindError(int rc);

  Database* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
  int bind_error_ = 0;
};

// A statement from the connection's cache; reset and unbound when this handle
// goes away. Only valid while the Database lock is held.
class CachedStatement {
 public:
  explicit CachedStatement(Statement* s) : s_(s) {}
  ~CachedStatement();
  CachedStatement(CachedStatement&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
  CachedStatement& operator=(CachedStatement&&) = delete;
  CachedStatement(const CachedStatement&) = delete;
  CachedStatement& operator=(const CachedStatement&) = delete;
  Statement* operator->() { return s_; }
  Statement& operator*() { return *s_; }

 private:
  Statement* s_;
};

enum class Durability {
  kNormal,  // synchronous=NORMAL: survives a process crash, may lose the last
            // commits on power loss
  kSynced,  // synchronous=FULL for this transaction: durable when Commit returns
};

struct DatabaseOptions {
  int busy_timeout_ms = 5000;
  // Page cache of the connection (PRAGMA cache_size, in KiB). SQLite's default
  // of 2 MiB makes every ledger update re-read pages once the tables grow.
  int cache_kib = 32 * 1024;
  // Migrations to apply on open; EmbeddedMigrations() when empty. Tests pass a
  // prefix to build an old schema.
  std::span<const Migration> migrations;
};

class Database {
 public:
  // Opens (creating if needed) the database file at `path`, sets the pragmas and
  // applies every pending migration. kVersionMismatch if the file was written by
  // a newer build (its schema version is above the last migration we know).
  static core::Result<std::unique_ptr<Database>> Open(const std::filesystem::path& path,
                                                      const DatabaseOptions& options = {});
  // Opens {data_dir}/db/tesseras.db, creating the db/ directory.
  static core::Result<std::unique_ptr<Database>> OpenInDataDir(
      const std::filesystem::path& data_dir, const DatabaseOptions& options = {});

  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  // Serialises all use of the connection.
  std::unique_lock<std::mutex> Lock() { return std::unique_lock<std::mutex>(mu_); }

  // The methods below require Lock() to be held by the caller.
  core::Result<void> Exec(std::string_view sql);
  core::Result<Statement> Prepare(std::string_view sql);
  core::Result<CachedStatement> Cached(std::string_view sql);
  int64_t Changes() const;
  // EXPLAIN QUERY PLAN of `sql`: one line per step of the plan, e.g.
  // "SEARCH fragments USING PRIMARY KEY (tessera=? AND idx=?)".
  core::Result<std::vector<std::string>> QueryPlan(std::string_view sql);
  // Every statement prepared or taken from the cache from now on is shown to
  // `observer` (its SQL); null stops. For the test that checks the plans of the queries the stores
  // really run (storage/query_plan_test.cc).
  void ObservePrepares(std::function<void(std::string_view sql)> observer) {
    observer_ = std::move(observer);
  }
  // The highest applied migration (0 for an empty database).
  core::Result<int> SchemaVersion();

  // Applies `migrations` (versions 1..n without gaps) that are not yet applied,
  // each once, in its own transaction. Called by Open; public for tests.
  core::Result<void> Migrate(std::span<const Migration> migrations);

  const std::filesystem::path& path() const { return path_; }
  core::Error LastError(std::string_view what) const;

 private:
  // kVersionMismatch if the file was written by a newer schema than `latest`.
  core::Result<void> RefuseNewerSchema(int current, int latest) const;
  Database() = default;
  core::Result<void> Configure(const DatabaseOptions& options);

  sqlite3* db_ = nullptr;
  std::filesystem::path path_;
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<Statement>, std::less<>> cache_;
  std::function<void(std::string_view)> observer_;
};

// BEGIN IMMEDIATE ... COMMIT, rolled back unless committed. Requires the
// Database lock for its whole life.
class Transaction {
 public:
  static core::Result<Transaction> Begin(Database& db, Durability durability = Durability::kNormal);
  Transaction(Transaction&& other) noexcept;
  Transaction& operator=(Transaction&&) = delete;
  ~Transaction();
  core::Result<void> Commit();

 private:
  Transaction(Database* db, Durability d) : db_(db), durability_(d) {}
  void Finish();
  Database* db_;
  Durability durability_;
  bool open_ = true;
};

}  // namespace tesseras::storage
