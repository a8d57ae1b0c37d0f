// Crash test: a child process (storage_crash_child) writes and deletes
// fragments and is SIGKILLed at a random step, many times over the same data
// dir. After each kill the store is reopened (recovery) and must hold: every
// indexed fragment verifies, every acknowledged fragment is there, and no
// temporary or unindexed file is visible. The parent follows the child through
// the progress lines on a pipe; nothing waits on a timer.
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
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) std::abort();
    std::string exe = ChildPath();
    std::string seed_arg = std::to_string(seed);
    pid_ = ::fork();
    if (pid_ < 0) std::abort();
    if (pid_ == 0) {
      ::dup2(fds[1], STDOUT_FILENO);
      char* args[] = {exe.data(), const_cast<char*>(data_dir.c_str()), seed_arg.data(), nullptr};
      ::execv(exe.c_str(), args);
      ::_exit(127);
    }
    ::close(fds[1]);
    fd_ = fds[0];
  }
  ~Child() {
    if (pid_ > 0) Kill();
    if (fd_ >= 0) ::close(fd_);
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
  std::string buf_;
};

struct Key {
  uint64_t seed, k;
  auto operator<=>(const Key&) const = default;
};

TEST(FragmentStoreCrashTest, SigkillAtRandomMomentsLeavesAConsistentStore) {
  ASSERT_EQ(::access(ChildPath().c_str(), X_OK), 0) << "missing helper " << ChildPath();
  constexpr int kKills = 60;
  TempDir dir;
  std::mt19937_64 rng(20261125);
  std::set<Key> must_exist;  // acknowledged and not being deleted
  std::set<Key> may_exist;   // ever begun
  std::size_t temp_files_seen = 0, stored_total = 0, recovered_actions = 0;
  std::map<std::string, int> killed_after;
  std::map<Key, core::FragmentId> ids;  // computed once per fragment
  auto id_of = [&](const Key& key) -> const core::FragmentId& {
    auto it = ids.find(key);
    if (it == ids.end()) it = ids.emplace(key, MakeCrashFragment(key.seed, key.k).id).first;
    return it->second;
  };

  for (int run = 0; run < kKills; ++run) {
    const uint64_t seed = static_cast<uint64_t>(run) + 1;
    const int kill_at = 1 + static_cast<int>(rng() % 24);  // the n-th progress line
    {
      Child child(dir.path().string(), seed);
      std::string line = child.NextLine();
      ASSERT_TRUE(line.starts_with("open ")) << "child said '" << line << "'";
      for (int events = 0; events < kill_at;) {
        line = child.NextLine();
        ASSERT_FALSE(line.empty()) << "child exited early in run " << run;
        ++events;
        std::istringstream in(line);
        std::string what;
        uint64_t k = 0;
        in >> what >> k;
        if (what == "begin") may_exist.insert({seed, k});
        if (what == "stored") {
          must_exist.insert({seed, k});
          ++stored_total;
        }
        if (what == "delete") must_exist.erase({seed, k});
        if (events == kill_at) killed_after[what]++;
      }
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
    EXPECT_TRUE(rep.dropped_rows.empty()) << rep.ToString();  // a row always has its file
    EXPECT_TRUE(rep.unexpected_entries.empty()) << rep.ToString();
    recovered_actions += rep.removed_temp_files.size() + rep.removed_orphan_files.size();

    // Every indexed fragment verifies and is one the child wrote.
    auto listed = (*store)->List();
    ASSERT_TRUE(listed.ok()) << listed.error().ToString();
    std::set<std::pair<core::ContentHash, uint32_t>> indexed;
    for (const auto& f : *listed) {
      EXPECT_OK((*store)->Verify(f.id.tessera, f.id.index));
      indexed.insert({f.id.tessera, f.id.index});
    }
    // Every acknowledged fragment is there with the right bytes.
    for (const Key& key : must_exist) {
      const core::FragmentId& id = id_of(key);
      auto got = (*store)->Get(id.tessera, id.index);
      ASSERT_TRUE(got.ok()) << "acknowledged fragment " << key.k << " of run " << key.seed
                            << " lost: " << got.error().ToString();
      EXPECT_EQ(got->id, id);
    }
    // Whatever is indexed was begun by some child.
    std::set<std::pair<core::ContentHash, uint32_t>> begun;
    for (const Key& key : may_exist) begun.insert({id_of(key).tessera, id_of(key).index});
    for (const auto& i : indexed) EXPECT_TRUE(begun.contains(i));
    // No partial or unindexed file is visible.
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
  // The kills really landed inside writes, and something was acknowledged.
  EXPECT_GT(temp_files_seen, 0u);
  EXPECT_GT(recovered_actions, 0u);
  EXPECT_GT(stored_total, 0u);
  EXPECT_FALSE(must_exist.empty());
  std::string summary;
  for (const auto& [what, n] : killed_after) summary += what + "=" + std::to_string(n) + " ";
  std::cout << "kills after: " << summary << "; temp files found " << temp_files_seen
            << ", acknowledged " << stored_total << "\n";
}

}  // namespace
}  // namespace tesseras::storage
