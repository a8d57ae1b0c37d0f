// Crash test: a child process (storage_crash_child) writes, replaces and
// deletes fragments and is SIGKILLed at a random step, many times over the
// same data dir. After each kill the store is reopened (recovery) and must
// hold exactly what the child's last reported step says: a fragment whose row
// was committed is there (even if its rename was not done), one whose delete
// did not drop its row is still there, nothing else is; every indexed fragment
// verifies, and no temporary or unindexed file is left. The parent follows the
// child through the progress lines on a pipe, and at a crash point the child
// waits for the parent's go-ahead, so a kill lands exactly between two steps;
// nothing waits on a timer.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <vector>

#include "crypto/blake3_hasher.h"
#include "crypto/proof_tree.h"
#include "storage/crash_workload.h"
#include "storage/fragment_store.h"
#include "storage/test_util.h"

namespace tesseras::storage {
namespace {

std::string ChildPath() {
#ifdef TESSERAS_STORAGE_CRASH_CHILD
  return TESSERAS_STORAGE_CRASH_CHILD;
#else
  const char* bin = std::getenv("TESSERAS_BIN_DIR");
  return std::string(bin ? bin : ".") + "/src/storage/storage_crash_child";
#endif
}

class Child {
 public:
  Child(const std::string& data_dir, uint64_t seed) {
    int fds[2], in[2];
    if (::pipe2(fds, O_CLOEXEC) != 0 || ::pipe2(in, O_CLOEXEC) != 0) std::abort();
    std::string exe = ChildPath();
    std::string seed_arg = std::to_string(seed);
    pid_ = ::fork();
    if (pid_ < 0) std::abort();
    if (pid_ == 0) {
      ::dup2(fds[1], STDOUT_FILENO);
      ::dup2(in[0], STDIN_FILENO);
      char* args[] = {exe.data(), const_cast<char*>(data_dir.c_str()), seed_arg.data(), nullptr};
      ::execv(exe.c_str(), args);
      ::_exit(127);
    }
    ::close(fds[1]);
    ::close(in[0]);
    fd_ = fds[0];
    go_fd_ = in[1];
  }
  ~Child() {
    if (pid_ > 0) Kill();
    if (fd_ >= 0) ::close(fd_);
    if (go_fd_ >= 0) ::close(go_fd_);
  }
  // Lets a child paused at a crash point go on.
  void Go() {
    const char c = 'g';
    if (::write(go_fd_, &c, 1) != 1) std::abort();
  }
  // The next progress line; empty at end of stream (the child exited).
  std::string NextLine() {
    for (;;) {
      auto nl = buf_.find('\n');
      if (nl != std::string::npos) {
        std::string line = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        return line;
      }
      char tmp[4096];
      ssize_t n = ::read(fd_, tmp, sizeof tmp);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return {};
      buf_.append(tmp, static_cast<std::size_t>(n));
    }
  }
  // SIGKILL and reap; returns the wait status.
  int Kill() {
    ::kill(pid_, SIGKILL);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
    return status;
  }

 private:
  pid_t pid_ = -1;
  int fd_ = -1;
  int go_fd_ = -1;
  std::string buf_;
};

struct Key {
  uint64_t seed, k;
  auto operator<=>(const Key&) const = default;
};

constexpr const char* kSteps[] = {"store-synced", "store-committed", "delete-moved",
                                  "delete-dropped"};

// Where to kill: at the n-th progress line, or at the n-th crash point of one
// name (odd runs, so that every crash point is hit).
struct KillAt {
  std::string step;  // empty: count every line
  int n = 1;
};

TEST(FragmentStoreCrashTest, SigkillAtRandomMomentsLeavesAConsistentStore) {
  ASSERT_EQ(::access(ChildPath().c_str(), X_OK), 0) << "missing helper " << ChildPath();
  constexpr int kKills = 60;
  TempDir dir;
  std::mt19937_64 rng(20261125);
  // What each fragment must be after a restart: its variant, or -1 (absent).
  // Every state change in the store happens behind a crash point, so the last
  // line read from the child decides it.
  std::map<Key, int> expect;
  std::size_t temp_files_seen = 0, stored_total = 0, completed_total = 0, removed_total = 0;
  std::map<std::string, int> killed_after;
  std::map<std::pair<Key, int>, core::FragmentId> ids;  // computed once per fragment
  auto id_of = [&](const Key& key, int variant) -> const core::FragmentId& {
    auto it = ids.find({key, variant});
    if (it == ids.end()) {
      it = ids.emplace(std::pair{key, variant}, MakeCrashFragment(key.seed, key.k, variant).id)
               .first;
    }
    return it->second;
  };

  for (int run = 0; run < kKills; ++run) {
    const uint64_t seed = static_cast<uint64_t>(run) + 1;
    KillAt kill;
    if (run % 2 == 1) {
      kill.step = kSteps[(run / 2) % 4];
      kill.n = 1 + static_cast<int>(rng() % 3);
    } else {
      kill.n = 1 + static_cast<int>(rng() % 40);
    }
    std::string killed_at;  // the last line read before the kill
    {
      Child child(dir.path().string(), seed);
      std::string line = child.NextLine();
      ASSERT_TRUE(line.starts_with("open ")) << "child said '" << line << "'";
      std::string op;  // begin / replace / delete: what the child is doing
      for (int lines = 0, steps = 0;;) {
        line = child.NextLine();
        ASSERT_FALSE(line.empty()) << "child exited early in run " << run;
        ++lines;
        std::istringstream in(line);
        std::string what;
        in >> what;
        std::string step;
        if (what == "step") in >> step;
        uint64_t k = 0;
        in >> k;
        const Key key{seed, k};
        if (what == "begin" || what == "replace" || what == "delete") op = what;
        if (what == "stored") {
          expect[key] = 0;
          ++stored_total;
        }
        if (what == "replaced") expect[key] = 1;
        if (what == "deleted") expect[key] = -1;
        if (step == "store-committed") expect[key] = op == "replace" ? 1 : 0;
        if (step == "delete-dropped") expect[key] = -1;
        if (step == kill.step) ++steps;
        const bool now = kill.step.empty() ? lines == kill.n : steps == kill.n;
        if (now) {
          killed_at = what == "step" ? step : what;
          break;
        }
        if (what == "step") child.Go();
      }
      killed_after[killed_at]++;
      int status = child.Kill();
      ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "status " << status;
    }
    for (const auto& e : std::filesystem::recursive_directory_iterator(dir.path() / "fragments")) {
      if (e.path().extension() == ".tmp") ++temp_files_seen;
    }

    // Restart: recovery runs on open.
    auto db = Database::OpenInDataDir(dir.path());
    ASSERT_TRUE(db.ok()) << db.error().ToString();
    FsFragmentStoreOptions opts;
    opts.min_free_bytes = 0;
    auto store =
        FsFragmentStore::Open(std::shared_ptr<Database>(std::move(db).value()), dir.path(), opts);
    ASSERT_TRUE(store.ok()) << store.error().ToString();
    const RecoveryReport& rep = (*store)->recovery_report();
    EXPECT_TRUE(rep.dropped_rows.empty()) << rep.ToString();  // a row always has its bytes
    EXPECT_TRUE(rep.unexpected_entries.empty()) << rep.ToString();
    EXPECT_TRUE(rep.removed_orphan_files.empty()) << rep.ToString();
    // A commit without its rename, or a delete that moved the file out and
    // did not drop the row, is finished by renaming; nothing else is.
    const bool finish = killed_at == "store-committed" || killed_at == "delete-moved";
    // The child waits only at crash points: killed after any other line
    // (stored, replaced, deleted, ...), it may already have run on to the next
    // operation's first crash point (a delete's is delete-moved) and waited
    // there, so one finished file is then right too.
    const bool waited = killed_at == "store-committed" || killed_at == "delete-moved" ||
                        killed_at == "delete-dropped" || killed_at == "store-synced";
    if (waited) {
      EXPECT_EQ(rep.completed_files.size(), finish ? 1u : 0u)
          << "killed after " << killed_at << ": " << rep.ToString();
    } else {
      EXPECT_LE(rep.completed_files.size(), 1u)
          << "killed after " << killed_at << ": " << rep.ToString();
    }
    EXPECT_LE(rep.removed_temp_files.size(), 1u) << rep.ToString();
    completed_total += rep.completed_files.size();
    removed_total += rep.removed_temp_files.size();

    // Exactly the expected fragments are indexed, with the expected bytes.
    std::size_t present = 0;
    for (const auto& [key, variant] : expect) {
      const core::FragmentId& id = id_of(key, variant < 0 ? 0 : variant);
      auto got = (*store)->Get(id.tessera, id.index);
      if (variant < 0) {
        EXPECT_FALSE(got.ok()) << "fragment " << key.k << " of run " << key.seed
                               << " should be gone (killed after " << killed_at << ")";
        continue;
      }
      ++present;
      if (got.ok() && key.seed == seed) {
        // Its proof tree is there (a process crash loses no page cache) and
        // belongs to these bytes (checked for this run's fragments).
        const CrashFragment f = MakeCrashFragment(key.seed, key.k, variant);
        crypto::ProofTreeBuilder tree;
        tree.Update(f.bytes);
        const auto leaves = tree.FinishLeaves();
        const uint64_t last[] = {leaves.size() - 1};
        auto paths = (*store)->ReadProofPaths(id.tessera, id.index, last);
        ASSERT_TRUE(paths.ok()) << paths.error().ToString() << " (killed after " << killed_at
                                << ")";
        EXPECT_EQ(paths->at(0), crypto::MerklePath(leaves, leaves.size() - 1))
            << "fragment " << key.k << " of run " << key.seed << " (killed after " << killed_at
            << ")";
      }
      ASSERT_TRUE(got.ok()) << "fragment " << key.k << " of run " << key.seed
                            << " lost (killed after " << killed_at
                            << "): " << got.error().ToString();
      EXPECT_EQ(got->id, id) << "fragment " << key.k << " of run " << key.seed
                             << " has the wrong bytes (killed after " << killed_at << ")";
    }
    ASSERT_OK_AND_ASSIGN(uint64_t count, (*store)->FragmentCount());
    EXPECT_EQ(count, present) << "killed after " << killed_at;
    // Every indexed fragment verifies.
    auto listed = (*store)->List();
    ASSERT_TRUE(listed.ok()) << listed.error().ToString();
    EXPECT_EQ(listed->size(), present);
    std::set<std::pair<core::ContentHash, uint32_t>> indexed;
    for (const auto& f : *listed) {
      EXPECT_OK((*store)->Verify(f.id.tessera, f.id.index));
      indexed.insert({f.id.tessera, f.id.index});
    }
    // No partial or unindexed file is visible, and nothing is left in flight.
    EXPECT_TRUE(std::filesystem::is_empty(dir.path() / "fragments" / ".incoming"));
    ASSERT_OK_AND_ASSIGN(RecoveryReport walk, (*store)->Reconcile());
    EXPECT_TRUE(walk.removed_orphan_files.empty() && walk.dropped_rows.empty() &&
                walk.removed_temp_files.empty())
        << walk.ToString();
    for (const auto& e : std::filesystem::recursive_directory_iterator(dir.path() / "fragments")) {
      if (!e.is_regular_file()) continue;
      std::string name = e.path().filename().string();
      if (name == ".lock") continue;
      EXPECT_NE(e.path().extension(), ".tmp") << e.path();
      auto t = core::ContentHash::FromHex(e.path().parent_path().filename().string());
      ASSERT_TRUE(t.ok()) << e.path();
      uint32_t index = static_cast<uint32_t>(std::stoul(name.substr(0, 3)));
      EXPECT_TRUE(indexed.contains({*t, index})) << "unindexed file " << e.path();
    }
  }
  // The kills really landed inside writes and deletes, at every crash point,
  // and something was acknowledged.
  for (const char* step : kSteps) EXPECT_GT(killed_after[step], 0) << step;
  EXPECT_GT(temp_files_seen, 0u);
  EXPECT_GT(completed_total, 0u);
  EXPECT_GT(removed_total, 0u);
  EXPECT_GT(stored_total, 0u);
  std::string summary;
  for (const auto& [what, n] : killed_after) summary += what + "=" + std::to_string(n) + " ";
  std::cout << "kills after: " << summary << "; temp files found " << temp_files_seen
            << ", completed on open " << completed_total << ", removed on open " << removed_total
            << ", acknowledged " << stored_total << "\n";
}

// Moves every tessera directory of `root` (the prefix layout) back to the flat
// layout of earlier versions, {root}/{tessera_hex}; returns how many.
int Flatten(const std::filesystem::path& root) {
  int moved = 0;
  std::vector<std::filesystem::path> prefixes;
  for (const auto& e : std::filesystem::directory_iterator(root)) {
    if (e.is_directory() && e.path().filename().string().size() == 2) prefixes.push_back(e.path());
  }
  for (const auto& prefix : prefixes) {
    std::vector<std::filesystem::path> dirs;
    for (const auto& e : std::filesystem::directory_iterator(prefix)) dirs.push_back(e.path());
    for (const auto& d : dirs) {
      std::filesystem::rename(d, root / d.filename());
      ++moved;
    }
    std::filesystem::remove(prefix);
  }
  return moved;
}

// A data dir of the flat layout, its move at open killed right after each
// tessera directory it moves (the child opens, moves one, is killed; the next
// child moves the next): every fragment is still there and verifies, and the
// flat layout is gone.
TEST(FragmentStoreCrashTest, SigkillDuringTheMoveFromTheFlatLayoutLosesNothing) {
  ASSERT_EQ(::access(ChildPath().c_str(), X_OK), 0) << "missing helper " << ChildPath();
  constexpr int kTesseras = 12;
  TempDir dir;
  std::vector<core::FragmentId> ids;
  {
    ASSERT_OK_AND_ASSIGN(auto db, Database::OpenInDataDir(dir.path()));
    FsFragmentStoreOptions opts;
    opts.min_free_bytes = 0;
    ASSERT_OK_AND_ASSIGN(auto store, FsFragmentStore::Open(std::shared_ptr<Database>(std::move(db)),
                                                           dir.path(), opts));
    core::NodeId origin;
    for (int t = 0; t < kTesseras; ++t) {
      for (uint32_t index = 0; index < 2; ++index) {
        // Two leaves: a proof tree file beside the bytes.
        const auto bytes = RandomBytes(20'000 + 100 * t, 1000 + t * 2 + index);
        core::FragmentId id{crypto::Blake3(RandomBytes(16, 500 + t)), index, 4,
                            crypto::Blake3(bytes)};
        core::MemorySource src(bytes);
        ASSERT_OK(store->Store(id, bytes.size(), src, origin));
        ids.push_back(id);
      }
    }
  }
  ASSERT_EQ(Flatten(dir.path() / "fragments"), kTesseras);

  int runs = 0;
  for (bool opened = false; !opened; ++runs) {
    ASSERT_LE(runs, kTesseras) << "the move does not progress";
    Child child(dir.path().string(), /*seed=*/runs + 1);
    const std::string line = child.NextLine();
    if (line.starts_with("open ")) {
      opened = true;  // nothing left to move: this child did not move anything
    } else {
      ASSERT_TRUE(line.starts_with("step layout-moved")) << "child said '" << line << "'";
    }
    const int status = child.Kill();
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "status " << status;
  }
  // One kill per directory, then an open with nothing to move.
  EXPECT_EQ(runs, kTesseras + 1);

  ASSERT_OK_AND_ASSIGN(auto db, Database::OpenInDataDir(dir.path()));
  FsFragmentStoreOptions opts;
  opts.min_free_bytes = 0;
  ASSERT_OK_AND_ASSIGN(auto store, FsFragmentStore::Open(std::shared_ptr<Database>(std::move(db)),
                                                         dir.path(), opts));
  EXPECT_EQ(store->recovery_report().moved_dirs, 0u);
  for (const auto& id : ids) {
    ASSERT_OK_AND_ASSIGN(auto got, store->Get(id.tessera, id.index));
    EXPECT_EQ(got.id, id);
    EXPECT_OK(store->Verify(id.tessera, id.index));
    EXPECT_TRUE(std::filesystem::exists(store->TreePath(id.tessera, id.index)));
    const uint64_t first[] = {0};
    EXPECT_OK(store->ReadProofPaths(id.tessera, id.index, first));
  }
  for (const auto& e : std::filesystem::directory_iterator(dir.path() / "fragments")) {
    const std::string name = e.path().filename().string();
    EXPECT_TRUE(name.size() == 2 || name.starts_with(".")) << "left in the flat layout: " << name;
  }
  ASSERT_OK_AND_ASSIGN(RecoveryReport walk, store->Reconcile());
  EXPECT_TRUE(walk.removed_orphan_files.empty() && walk.dropped_rows.empty() &&
              walk.unexpected_entries.empty())
      << walk.ToString();
}

}  // namespace
}  // namespace tesseras::storage
