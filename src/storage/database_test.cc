#include "storage/database.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "storage/test_util.h"

namespace tesseras::storage {
namespace {

using core::ErrorCode;

std::span<const Migration> FirstN(std::size_t n) { return EmbeddedMigrations().first(n); }

TEST(MigrationsTest, EmbeddedListIsNumberedWithoutGaps) {
  auto all = EmbeddedMigrations();
  ASSERT_GE(all.size(), 2u);
  for (std::size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(all[i].version, static_cast<int>(i) + 1);
    EXPECT_FALSE(all[i].sql.empty());
  }
  EXPECT_EQ(all[0].name, "initial");
  EXPECT_EQ(all[1].name, "replication");
}

TEST(DatabaseTest, OpenSetsPragmas) {
  TempDir dir;
  ASSERT_OK_AND_ASSIGN(auto db, Database::OpenInDataDir(dir.path()));
  EXPECT_TRUE(std::filesystem::exists(dir.path() / "db" / "tesseras.db"));
  auto lock = db->Lock();
  auto pragma = [&](const char* sql) {
    auto s = db->Prepare(sql);
    EXPECT_TRUE(s.ok());
    EXPECT_TRUE(*s->Step());
    return s->ColumnText(0);
  };
  EXPECT_EQ(pragma("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(pragma("PRAGMA foreign_keys"), "1");
  EXPECT_EQ(pragma("PRAGMA synchronous"), "1");  // NORMAL
  EXPECT_NE(pragma("PRAGMA busy_timeout"), "0");
  ASSERT_OK_AND_ASSIGN(int v, db->SchemaVersion());
  EXPECT_EQ(v, static_cast<int>(EmbeddedMigrations().size()));
}

TEST(DatabaseTest, SyncedTransactionRestoresNormal) {
  TempDir dir;
  ASSERT_OK_AND_ASSIGN(auto db, Database::OpenInDataDir(dir.path()));
  auto lock = db->Lock();
  {
    ASSERT_OK_AND_ASSIGN(Transaction tx, Transaction::Begin(*db, Durability::kSynced));
    auto s = db->Prepare("PRAGMA synchronous");
    ASSERT_TRUE(s.ok());
    ASSERT_TRUE(*s->Step());
    EXPECT_EQ(s->ColumnInt64(0), 2);  // FULL inside
    ASSERT_OK(tx.Commit());
  }
  auto s = db->Prepare("PRAGMA synchronous");
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE(*s->Step());
  EXPECT_EQ(s->ColumnInt64(0), 1);
}

TEST(DatabaseTest, TransactionRollsBackUnlessCommitted) {
  TempDir dir;
  ASSERT_OK_AND_ASSIGN(auto db, Database::OpenInDataDir(dir.path()));
  auto lock = db->Lock();
  ASSERT_OK(db->Exec("CREATE TABLE t (x INTEGER)"));
  {
    ASSERT_OK_AND_ASSIGN(Transaction tx, Transaction::Begin(*db));
    ASSERT_OK(db->Exec("INSERT INTO t VALUES (1)"));
  }
  auto s = db->Prepare("SELECT COUNT(*) FROM t");
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE(*s->Step());
  EXPECT_EQ(s->ColumnInt64(0), 0);
}

// Migration 001: tesseras and their files.
TEST(MigrationTest, Migration001CreatesTesseraTables) {
  TempDir dir;
  DatabaseOptions opts;
  opts.migrations = FirstN(1);
  ASSERT_OK_AND_ASSIGN(auto db, Database::OpenInDataDir(dir.path(), opts));
  auto lock = db->Lock();
  ASSERT_OK_AND_ASSIGN(int v, db->SchemaVersion());
  EXPECT_EQ(v, 1);
  ASSERT_OK(
      db->Exec("INSERT INTO tesseras VALUES (zeroblob(32), zeroblob(32), 10, 1, 'local', 1, 1)"));
  ASSERT_OK(
      db->Exec("INSERT INTO tessera_files VALUES (zeroblob(32), 'a/b.txt', 10, zeroblob(32), "
               "'text/plain')"));
  // Constraints hold: bad hash length, unknown state, dangling foreign key.
  EXPECT_FALSE(
      db->Exec("INSERT INTO tesseras VALUES (x'01', zeroblob(32), 1, 1, 'local', 1, 1)").ok());
  EXPECT_FALSE(
      db->Exec("INSERT INTO tesseras VALUES (randomblob(32), zeroblob(32), 1, 1, 'bogus', 1, 1)")
          .ok());
  EXPECT_FALSE(db->Exec("INSERT INTO tessera_files VALUES (randomblob(32), 'x', 1, zeroblob(32), "
                        "'text/plain')")
                   .ok());
  // Files cascade with their tessera.
  ASSERT_OK(db->Exec("DELETE FROM tesseras"));
  auto s = db->Prepare("SELECT COUNT(*) FROM tessera_files");
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE(*s->Step());
  EXPECT_EQ(s->ColumnInt64(0), 0);
  // 002's tables are not there yet.
  EXPECT_FALSE(db->Exec("SELECT * FROM fragments").ok());
}

// Migration 002: fragments, plans, holders, reciprocity.
TEST(MigrationTest, Migration002UpgradesAndKeepsData) {
  TempDir dir;
  {
    DatabaseOptions opts;
    opts.migrations = FirstN(1);
    ASSERT_OK_AND_ASSIGN(auto db, Database::OpenInDataDir(dir.path(), opts));
    auto lock = db->Lock();
    ASSERT_OK(
        db->Exec("INSERT INTO tesseras VALUES (zeroblob(32), zeroblob(32), 10, 1, 'local', 1, 1)"));
  }
  DatabaseOptions upto2;
  upto2.migrations = FirstN(2);  // later migrations have their own tests
  ASSERT_OK_AND_ASSIGN(auto db, Database::OpenInDataDir(dir.path(), upto2));
  auto lock = db->Lock();
  ASSERT_OK_AND_ASSIGN(int v, db->SchemaVersion());
  EXPECT_EQ(v, 2);
  auto count = [&](const char* sql) {
    auto s = db->Prepare(sql);
    EXPECT_TRUE(s.ok());
    EXPECT_TRUE(*s->Step());
    return s->ColumnInt64(0);
  };
  EXPECT_EQ(count("SELECT COUNT(*) FROM tesseras"), 1);
  EXPECT_EQ(count("SELECT COUNT(*) FROM schema_version"), 2);
  // The generated balance column.
  ASSERT_OK(
      db->Exec("INSERT INTO reciprocity (peer, bytes_stored_for_them, "
               "bytes_they_store_for_us, updated_at_ms) VALUES (zeroblob(32), 100, 30, 1)"));
  EXPECT_EQ(count("SELECT balance FROM reciprocity"), -70);
  EXPECT_FALSE(db->Exec("UPDATE reciprocity SET balance = 5").ok());
  // Fragment index constraints: index below shard count, 32-byte checksum.
  ASSERT_OK(
      db->Exec("INSERT INTO fragments VALUES (zeroblob(32), 3, 24, zeroblob(32), 5, 1, "
               "NULL, zeroblob(32))"));
  EXPECT_FALSE(db->Exec("INSERT INTO fragments VALUES (randomblob(32), 24, 24, zeroblob(32), 5, "
                        "1, NULL, zeroblob(32))")
                   .ok());
  // Holder mappings cascade from plans and holders.
  ASSERT_OK(
      db->Exec("INSERT INTO fragment_plans VALUES (zeroblob(32), 1, 100, 16, 8, 7, "
               "zeroblob(32), NULL, 1)"));
  ASSERT_OK(db->Exec("INSERT INTO holders VALUES (zeroblob(32), '10.0.0.1:4000', 1, 1)"));
  ASSERT_OK(
      db->Exec("INSERT INTO holder_fragments VALUES (zeroblob(32), 0, zeroblob(32), 1, NULL)"));
  EXPECT_FALSE(
      db->Exec("INSERT INTO holder_fragments VALUES (zeroblob(32), 1, randomblob(32), 1, NULL)")
          .ok());
  ASSERT_OK(db->Exec("DELETE FROM holders"));
  EXPECT_EQ(count("SELECT COUNT(*) FROM holder_fragments"), 0);
}

// Migration 003: plans kept as signed bytes, placements; 002's plan tables go.
TEST(MigrationTest, Migration003ReplacesPlanTablesAndKeepsFragments) {
  TempDir dir;
  {
    DatabaseOptions upto2;
    upto2.migrations = FirstN(2);
    ASSERT_OK_AND_ASSIGN(auto db, Database::OpenInDataDir(dir.path(), upto2));
    auto lock = db->Lock();
    ASSERT_OK(
        db->Exec("INSERT INTO fragments VALUES (zeroblob(32), 3, 24, zeroblob(32), 5, 1, "
                 "NULL, zeroblob(32))"));
  }
  DatabaseOptions upto3;
  upto3.migrations = FirstN(3);
  ASSERT_OK_AND_ASSIGN(auto db, Database::OpenInDataDir(dir.path(), upto3));
  auto lock = db->Lock();
  ASSERT_OK_AND_ASSIGN(int v, db->SchemaVersion());
  EXPECT_EQ(v, 3);
  auto count = [&](const char* sql) {
    auto st = db->Prepare(sql);
    EXPECT_TRUE(st.ok());
    EXPECT_TRUE(*st->Step());
    return st->ColumnInt64(0);
  };
  EXPECT_EQ(count("SELECT COUNT(*) FROM fragments"), 1);
  EXPECT_FALSE(db->Exec("SELECT * FROM fragment_plans").ok());
  EXPECT_FALSE(db->Exec("SELECT * FROM holder_fragments").ok());
  ASSERT_OK(db->Exec("INSERT INTO signed_plans VALUES (zeroblob(32), zeroblob(32), x'01', 1)"));
  ASSERT_OK(db->Exec("INSERT INTO placements VALUES (zeroblob(32), zeroblob(32), 'a:1', 0, NULL)"));
  // Placements need their plan, and go with it.
  EXPECT_FALSE(
      db->Exec("INSERT INTO placements VALUES (randomblob(32), zeroblob(32), 'a:1', 0, NULL)")
          .ok());
  EXPECT_FALSE(
      db->Exec("INSERT INTO placements VALUES (zeroblob(32), zeroblob(32), 'a:1', 255, NULL)")
          .ok());
  ASSERT_OK(db->Exec("DELETE FROM signed_plans"));
  EXPECT_EQ(count("SELECT COUNT(*) FROM placements"), 0);
}

// Migration 004: placements keep each copy's history; the maintenance clock.
TEST(MigrationTest, Migration004KeepsPlacementsAndAddsTheirHistory) {
  TempDir dir;
  {
    DatabaseOptions upto3;
    upto3.migrations = FirstN(3);
    ASSERT_OK_AND_ASSIGN(auto db, Database::OpenInDataDir(dir.path(), upto3));
    auto lock = db->Lock();
    ASSERT_OK(db->Exec("INSERT INTO signed_plans VALUES (zeroblob(32), zeroblob(32), x'01', 1)"));
    ASSERT_OK(db->Exec("INSERT INTO placements VALUES (zeroblob(32), zeroblob(32), 'a:1', 4, 77)"));
  }
  DatabaseOptions upto4;
  upto4.migrations = FirstN(4);
  ASSERT_OK_AND_ASSIGN(auto db, Database::OpenInDataDir(dir.path(), upto4));
  auto lock = db->Lock();
  auto s = db->Prepare(
      "SELECT idx, last_proven_ms, first_failure_ms, consecutive_failures, denied FROM placements");
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE(*s->Step());
  EXPECT_EQ(s->ColumnInt64(0), 4);
  EXPECT_EQ(s->ColumnInt64(1), 77);  // last_attested_ms became last_proven_ms
  EXPECT_TRUE(s->ColumnIsNull(2));
  EXPECT_EQ(s->ColumnInt64(3), 0);
  EXPECT_EQ(s->ColumnInt64(4), 0);
  s->Reset();
  EXPECT_FALSE(db->Exec("UPDATE placements SET denied = 2").ok());
  ASSERT_OK(
      db->Exec("INSERT INTO maintenance (tessera, last_checked_ms) VALUES (zeroblob(32), 1)"));
  EXPECT_FALSE(
      db->Exec("INSERT INTO maintenance (tessera) VALUES (randomblob(32))").ok());  // needs a plan
  ASSERT_OK(db->Exec("DELETE FROM signed_plans"));
  auto c = db->Prepare("SELECT COUNT(*) FROM maintenance");
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(*c->Step());
  EXPECT_EQ(c->ColumnInt64(0), 0);
}

// Migration 008: plans of one hash from several owners. A database of 007
// keeps its plans (keyed by their hash, plan_of NULL); rows of other owners'
// plans name the hash they are a plan of, and only 32 bytes.
TEST(MigrationTest, Migration008KeepsPlansAndLetsOwnersPlansCoexist) {
  TempDir dir;
  {
    DatabaseOptions upto7;
    upto7.migrations = FirstN(7);
    ASSERT_OK_AND_ASSIGN(auto db, Database::OpenInDataDir(dir.path(), upto7));
    auto lock = db->Lock();
    ASSERT_OK(db->Exec("INSERT INTO signed_plans VALUES (zeroblob(32), zeroblob(32), x'01', 1)"));
    ASSERT_OK(
        db->Exec("INSERT INTO placements (tessera, holder, address, idx) VALUES "
                 "(zeroblob(32), zeroblob(32), 'a:1', 4)"));
  }
  DatabaseOptions upto8;
  upto8.migrations = FirstN(8);
  ASSERT_OK_AND_ASSIGN(auto db, Database::OpenInDataDir(dir.path(), upto8));
  ASSERT_OK_AND_ASSIGN(int v, db->SchemaVersion());
  EXPECT_EQ(v, 8);
  auto lock = db->Lock();
  auto count = [&](const char* sql) {
    auto s = db->Prepare(sql);
    EXPECT_TRUE(s.ok());
    EXPECT_TRUE(*s->Step());
    return s->ColumnInt64(0);
  };
  EXPECT_EQ(count("SELECT COUNT(*) FROM signed_plans WHERE plan_of IS NULL"), 1);
  EXPECT_EQ(count("SELECT COUNT(*) FROM placements"), 1);
  // A second owner's plan of the same hash, under its own key.
  ASSERT_OK(
      db->Exec("INSERT INTO signed_plans VALUES (randomblob(32), randomblob(32), x'02', 2, "
               "zeroblob(32))"));
  EXPECT_EQ(count("SELECT COUNT(*) FROM signed_plans WHERE plan_of = zeroblob(32)"), 1);
  EXPECT_FALSE(db->Exec("INSERT INTO signed_plans VALUES (randomblob(32), randomblob(32), x'03', "
                        "3, x'00')")
                   .ok());
}

TEST(MigrationTest, EachMigrationRunsOnce) {
  TempDir dir;
  for (int i = 0; i < 3; ++i) {
    ASSERT_OK_AND_ASSIGN(auto db, Database::OpenInDataDir(dir.path()));
    auto lock = db->Lock();
    auto s = db->Prepare("SELECT COUNT(*), MAX(version) FROM schema_version");
    ASSERT_TRUE(s.ok());
    ASSERT_TRUE(*s->Step());
    EXPECT_EQ(s->ColumnInt64(0), static_cast<int64_t>(EmbeddedMigrations().size()));
  }
}

TEST(MigrationTest, NewerDatabaseIsRefused) {
  TempDir dir;
  {
    ASSERT_OK_AND_ASSIGN(auto db, Database::OpenInDataDir(dir.path()));
    auto lock = db->Lock();
    ASSERT_OK(db->Exec("INSERT INTO schema_version VALUES (99, 'from_the_future', 1)"));
  }
  auto db = Database::OpenInDataDir(dir.path());
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.error().code, ErrorCode::kVersionMismatch);
  EXPECT_NE(db.error().message.find("99"), std::string::npos) << db.error().message;
  // Older code (knowing only 001) also refuses a 002 database.
  std::filesystem::remove_all(dir.path() / "db");
  { ASSERT_OK_AND_ASSIGN(auto fresh, Database::OpenInDataDir(dir.path())); }
  DatabaseOptions old;
  old.migrations = FirstN(1);
  auto older = Database::OpenInDataDir(dir.path(), old);
  ASSERT_FALSE(older.ok());
  EXPECT_EQ(older.error().code, ErrorCode::kVersionMismatch);
}

TEST(MigrationTest, FailingMigrationLeavesNothingApplied) {
  TempDir dir;
  static constexpr Migration kBroken[] = {
      {1, "ok", "CREATE TABLE a (x INTEGER);"},
      {2, "broken", "CREATE TABLE b (x INTEGER); THIS IS NOT SQL;"},
  };
  DatabaseOptions opts;
  opts.migrations = kBroken;
  auto db = Database::OpenInDataDir(dir.path(), opts);
  ASSERT_FALSE(db.ok());
  EXPECT_NE(db.error().message.find("migration 2 (broken)"), std::string::npos)
      << db.error().message;
  DatabaseOptions first;
  first.migrations = std::span<const Migration>(kBroken).first(1);
  ASSERT_OK_AND_ASSIGN(auto ok, Database::OpenInDataDir(dir.path(), first));
  auto lock = ok->Lock();
  ASSERT_OK_AND_ASSIGN(int v, ok->SchemaVersion());
  EXPECT_EQ(v, 1);
  EXPECT_FALSE(ok->Exec("SELECT * FROM b").ok());  // rolled back with its migration
}

TEST(MigrationTest, GapsAreRejected) {
  TempDir dir;
  static constexpr Migration kGap[] = {{1, "a", "SELECT 1;"}, {3, "c", "SELECT 1;"}};
  DatabaseOptions opts;
  opts.migrations = kGap;
  auto db = Database::OpenInDataDir(dir.path(), opts);
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.error().code, ErrorCode::kInternal);
}

}  // namespace
}  // namespace tesseras::storage
