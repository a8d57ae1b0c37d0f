// SqlitePublishedRecordStore on a real database file: the records a node
// republishes survive reopening, are read a bounded page at a time in key
// order, are counted without being loaded, and a process killed in the middle
// of a change leaves the change made or not made, with the count right.
#include "storage/published_record_store.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "storage/test_util.h"

namespace tesseras::storage {
namespace {

std::string Key(int i) {
  // Binary keys with a high byte first: bytewise order must be unsigned.
  std::string k(3, '\0');
  k[0] = static_cast<char>(i % 2 == 0 ? 0x01 : 0xF0);
  k[1] = static_cast<char>(i / 256);
  k[2] = static_cast<char>(i % 256);
  return k;
}

std::vector<uint8_t> Value(int i, uint8_t version = 0) {
  return {static_cast<uint8_t>(i), static_cast<uint8_t>(i >> 8), version};
}

std::shared_ptr<Database> Open(const TempDir& dir) {
  auto db = Database::OpenInDataDir(dir.path());
  EXPECT_TRUE(db.ok()) << db.error().ToString();
  return std::shared_ptr<Database>(std::move(db).value());
}

TEST(PublishedRecordStoreTest, SetSurvivesReopeningAndIsWalkedInBoundedPages) {
  TempDir dir;
  constexpr int kRecords = 500;
  {
    SqlitePublishedRecordStore store(Open(dir));
    for (int i = 0; i < kRecords; ++i) ASSERT_OK(store.Put(Key(i), Value(i), 1000 + i));
    ASSERT_OK_AND_ASSIGN(uint64_t n, store.Count());
    EXPECT_EQ(n, static_cast<uint64_t>(kRecords));
  }
  // A new connection on the same file (as after a restart).
  SqlitePublishedRecordStore store(Open(dir));
  ASSERT_OK_AND_ASSIGN(uint64_t n, store.Count());
  EXPECT_EQ(n, static_cast<uint64_t>(kRecords));
  std::string cursor;
  std::vector<std::string> walked;
  std::size_t pages = 0;
  for (;;) {
    ASSERT_OK_AND_ASSIGN(auto page, store.ListAfter(cursor, 32));
    ASSERT_LE(page.size(), 32u);
    ++pages;
    for (const auto& r : page) {
      if (!walked.empty()) {
        EXPECT_LT(walked.back(), r.key) << "key order";
      }
      walked.push_back(r.key);
      cursor = r.key;
    }
    if (page.size() < 32) break;
  }
  EXPECT_EQ(walked.size(), static_cast<std::size_t>(kRecords));
  EXPECT_EQ(pages, static_cast<std::size_t>(kRecords / 32 + 1));
  // The first page holds the smallest keys, with their bytes and expiry.
  ASSERT_OK_AND_ASSIGN(auto first, store.ListAfter("", 1));
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].key, Key(0));
  EXPECT_EQ(first[0].record, Value(0));
  EXPECT_EQ(first[0].expires_unix_ms, 1000);
  // Keys starting 0xF0 sort after those starting 0x01 (unsigned bytes).
  ASSERT_OK_AND_ASSIGN(auto tail, store.ListAfter(Key(kRecords - 2), 1));
  ASSERT_EQ(tail.size(), 1u);
  EXPECT_EQ(static_cast<uint8_t>(tail[0].key[0]), 0xF0);
}

TEST(PublishedRecordStoreTest, PutReplacesAndReplaceAndEraseCompareFirst) {
  TempDir dir;
  SqlitePublishedRecordStore store(Open(dir));
  ASSERT_OK(store.Put(Key(1), Value(1, 0), 10));
  ASSERT_OK(store.Put(Key(1), Value(1, 1), 20));  // same key: replaced, not added
  ASSERT_OK_AND_ASSIGN(uint64_t n, store.Count());
  EXPECT_EQ(n, 1u);
  // A writer holding the old version changes nothing.
  ASSERT_OK_AND_ASSIGN(bool replaced, store.Replace(Key(1), Value(1, 0), Value(1, 2), 30));
  EXPECT_FALSE(replaced);
  ASSERT_OK_AND_ASSIGN(bool erased, store.Erase(Key(1), Value(1, 0)));
  EXPECT_FALSE(erased);
  ASSERT_OK_AND_ASSIGN(auto page, store.ListAfter("", 10));
  ASSERT_EQ(page.size(), 1u);
  EXPECT_EQ(page[0].record, Value(1, 1));
  EXPECT_EQ(page[0].expires_unix_ms, 20);
  // With the current version they apply.
  ASSERT_OK_AND_ASSIGN(replaced, store.Replace(Key(1), Value(1, 1), Value(1, 2), 30));
  EXPECT_TRUE(replaced);
  ASSERT_OK_AND_ASSIGN(page, store.ListAfter("", 10));
  ASSERT_EQ(page.size(), 1u);
  EXPECT_EQ(page[0].record, Value(1, 2));
  EXPECT_EQ(page[0].expires_unix_ms, 30);
  ASSERT_OK_AND_ASSIGN(erased, store.Erase(Key(1), Value(1, 2)));
  EXPECT_TRUE(erased);
  ASSERT_OK_AND_ASSIGN(n, store.Count());
  EXPECT_EQ(n, 0u);
  ASSERT_OK_AND_ASSIGN(page, store.ListAfter("", 10));
  EXPECT_TRUE(page.empty());
  // Absent keys: nothing to replace or erase.
  ASSERT_OK_AND_ASSIGN(replaced, store.Replace(Key(2), Value(2), Value(2, 1), 1));
  EXPECT_FALSE(replaced);
  ASSERT_OK_AND_ASSIGN(n, store.Count());
  EXPECT_EQ(n, 0u);
}

TEST(PublishedRecordStoreTest, EmptyKeyIsRefused) {
  TempDir dir;
  SqlitePublishedRecordStore store(Open(dir));
  auto r = store.Put("", Value(1), 1);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, core::ErrorCode::kInvalidArgument);
  ASSERT_OK_AND_ASSIGN(uint64_t n, store.Count());
  EXPECT_EQ(n, 0u);
}

// Every record in the store, by key: (record, expiry).
std::map<std::string, std::pair<std::vector<uint8_t>, int64_t>> ReadAll(
    SqlitePublishedRecordStore& store) {
  std::map<std::string, std::pair<std::vector<uint8_t>, int64_t>> out;
  std::string cursor;
  for (;;) {
    auto page = store.ListAfter(cursor, 16);
    EXPECT_TRUE(page.ok()) << page.error().ToString();
    if (!page.ok()) return out;
    for (auto& r : *page) {
      cursor = r.key;
      out[r.key] = {r.record, r.expires_unix_ms};
    }
    if (page->size() < 16) return out;
  }
}

// The child: on the data dir, forever, one change at a time (Put, Replace,
// Erase of one of 24 keys), each announced on `out` as "<op> <key> <version>"
// and made only after the parent's go-ahead byte on `in`. It never returns.
[[noreturn]] void ChangeForever(const std::filesystem::path& dir, uint64_t seed, int out, int in) {
  auto db = Database::OpenInDataDir(dir);
  if (!db.ok()) ::_exit(3);
  SqlitePublishedRecordStore store(std::shared_ptr<Database>(std::move(db).value()));
  auto now = ReadAll(store);
  std::mt19937_64 rng(seed);
  for (uint8_t version = 1;; ++version) {
    const int k = static_cast<int>(rng() % 24);
    const auto it = now.find(Key(k));
    const int roll = static_cast<int>(rng() % 3);
    const char* op = it == now.end() || roll == 0 ? "put" : roll == 1 ? "replace" : "erase";
    const std::string line =
        std::string(op) + " " + std::to_string(k) + " " + std::to_string(version) + "\n";
    char go = 0;
    if (::write(out, line.data(), line.size()) != static_cast<ssize_t>(line.size()) ||
        ::read(in, &go, 1) != 1) {
      ::_exit(4);
    }
    const auto value = Value(k, version);
    bool ok = false;
    if (op[0] == 'p') {
      ok = store.Put(Key(k), value, version).ok();
      now[Key(k)] = {value, version};
    } else if (op[0] == 'r') {
      auto r = store.Replace(Key(k), it->second.first, value, version);
      ok = r.ok() && *r;
      now[Key(k)] = {value, version};
    } else {
      auto r = store.Erase(Key(k), it->second.first);
      ok = r.ok() && *r;
      now.erase(Key(k));
    }
    if (!ok) ::_exit(5);
  }
}

// A node killed (SIGKILL) at a random moment of a change, many times over one
// database file: after each kill the file opens, every record but the one
// being changed is what the last finished changes made it, the one being
// changed is as before or as after, and Count (kept by triggers) equals the
// rows. The parent lets the child start a change and kills it after a random
// delay of 0 to 3 ms, in the statement or its commit or just after; nothing
// waits on a timer for the child.
TEST(PublishedRecordStoreTest, SigkillDuringChangesLeavesEachChangeWholeAndTheCountRight) {
  TempDir dir;
  std::mt19937_64 rng(20261202);
  std::map<std::string, std::pair<std::vector<uint8_t>, int64_t>> expect;
  int as_before = 0, as_after = 0;
  constexpr int kKills = 40;
  for (int run = 0; run < kKills; ++run) {
    int to_parent[2], to_child[2];
    ASSERT_EQ(::pipe2(to_parent, O_CLOEXEC), 0);
    ASSERT_EQ(::pipe2(to_child, O_CLOEXEC), 0);
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0)
      ChangeForever(dir.path(), 1000 + static_cast<uint64_t>(run), to_parent[1], to_child[0]);
    ::close(to_parent[1]);
    ::close(to_child[0]);
    // Let it finish a random number of changes, then kill it inside the next.
    const int finished = static_cast<int>(rng() % 12);
    std::string buf, pending;
    for (int i = 0; i <= finished; ++i) {
      std::size_t nl;
      while ((nl = buf.find('\n')) == std::string::npos) {
        char tmp[256];
        const ssize_t n = ::read(to_parent[0], tmp, sizeof tmp);
        ASSERT_GT(n, 0) << "the child stopped in run " << run;
        buf.append(tmp, static_cast<std::size_t>(n));
      }
      const std::string line = buf.substr(0, nl);
      buf.erase(0, nl + 1);
      // The line before this one is finished: the child asked for a go-ahead again.
      if (!pending.empty()) {
        std::istringstream in(pending);
        std::string op;
        int k = 0, v = 0;
        in >> op >> k >> v;
        if (op == "erase") {
          expect.erase(Key(k));
        } else {
          expect[Key(k)] = {Value(k, static_cast<uint8_t>(v)), v};
        }
      }
      pending = line;
      const char go = 'g';
      ASSERT_EQ(::write(to_child[1], &go, 1), 1);
    }
    const auto spin_until =
        std::chrono::steady_clock::now() + std::chrono::microseconds(rng() % 3000);
    while (std::chrono::steady_clock::now() < spin_until) {
    }
    ::kill(pid, SIGKILL);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "status " << status;
    ::close(to_parent[0]);
    ::close(to_child[1]);

    // Restart.
    SqlitePublishedRecordStore store(Open(dir));
    auto got = ReadAll(store);
    ASSERT_OK_AND_ASSIGN(uint64_t counted, store.Count());
    EXPECT_EQ(counted, got.size()) << "run " << run;
    std::istringstream in(pending);
    std::string op;
    int k = 0, v = 0;
    in >> op >> k >> v;
    auto after = expect;
    if (op == "erase") {
      after.erase(Key(k));
    } else {
      after[Key(k)] = {Value(k, static_cast<uint8_t>(v)), v};
    }
    if (got == expect) {
      ++as_before;
    } else {
      ASSERT_EQ(got, after) << "run " << run << ": neither before nor after '" << pending << "'";
      ++as_after;
      expect = std::move(after);
    }
  }
  std::printf("%d kills: the change being made was not there after %d, whole after %d\n", kKills,
              as_before, as_after);
  EXPECT_EQ(as_before + as_after, kKills);
}

}  // namespace
}  // namespace tesseras::storage
