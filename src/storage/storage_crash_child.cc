// Helper for the crash test (fragment_store_crash_test.cc): opens a fragment
// store and writes, replaces and deletes fragments forever, reporting every
// step on stdout so that the parent can SIGKILL it at a chosen moment:
//
//   open <fragments in the store after recovery> <entries recovery acted on>
//   begin <k> <tessera hex> <index> <size>     about to Store fragment k
//   chunk <k> <n>                              Store pulled chunk n of k's bytes
//   step <name> <k>                            Store or Delete reached a crash
//                                              point (FsFragmentStoreOptions::
//                                              crash_point); the child then
//                                              waits for one byte on stdin
//   stored <k>                                 Store returned Ok (acknowledged)
//   replace <k>                                about to Store k's variant over it
//   replaced <k>                               that Store returned Ok
//   delete <k>                                 about to Delete fragment k
//   deleted <k>                                Delete returned Ok
//
// At a `step` line the child is paused inside the store, exactly between two
// steps, so a kill there lands in a window no timing could hit. Fragment k's
// bytes and id are a pure function of (seed, k, variant), so the parent can
// recompute them. Usage: storage_crash_child <data_dir> <seed>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "crypto/blake3_hasher.h"
#include "storage/crash_workload.h"
#include "storage/fragment_store.h"

namespace {

using tesseras::storage::CrashFragment;

void Say(const std::string& line) {
  std::string s = line + "\n";
  // A parent that went away closes the pipe: SIGPIPE ends us, as it should.
  if (::write(STDOUT_FILENO, s.data(), s.size()) != static_cast<ssize_t>(s.size())) std::_Exit(3);
}

// Waits for the parent's go-ahead (one byte); the parent kills instead when
// it wants the crash here.
void AwaitGo() {
  char c;
  for (;;) {
    ssize_t n = ::read(STDIN_FILENO, &c, 1);
    if (n == 1) return;
    if (n < 0 && errno == EINTR) continue;
    std::_Exit(4);  // the parent is gone
  }
}

// Hands out the fragment in small chunks and reports each one.
class ReportingSource final : public tesseras::core::ByteSource {
 public:
  ReportingSource(uint64_t k, const std::vector<uint8_t>& bytes) : k_(k), bytes_(bytes) {}
  tesseras::core::Result<std::size_t> Read(std::span<uint8_t> out) override {
    std::size_t n = std::min({out.size(), bytes_.size() - pos_, std::size_t{32 * 1024}});
    if (n == 0) return std::size_t{0};
    std::copy(bytes_.begin() + static_cast<std::ptrdiff_t>(pos_),
              bytes_.begin() + static_cast<std::ptrdiff_t>(pos_ + n), out.begin());
    pos_ += n;
    Say("chunk " + std::to_string(k_) + " " + std::to_string(chunk_++));
    return n;
  }

 private:
  uint64_t k_;
  const std::vector<uint8_t>& bytes_;
  std::size_t pos_ = 0;
  int chunk_ = 0;
};

int Fail(const std::string& what) {
  std::fprintf(stderr, "storage_crash_child: %s\n", what.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) return Fail("usage: storage_crash_child <data_dir> <seed>");
  const std::string data_dir = argv[1];
  const uint64_t seed = std::strtoull(argv[2], nullptr, 10);
  auto db = tesseras::storage::Database::OpenInDataDir(data_dir);
  if (!db.ok()) return Fail(db.error().ToString());
  uint64_t current = 0;  // the fragment being worked on, for the step lines
  tesseras::storage::FsFragmentStoreOptions opts;
  opts.min_free_bytes = 0;
  opts.io_chunk_bytes = 64 * 1024;
  opts.crash_point = [&current](std::string_view step) {
    Say("step " + std::string(step) + " " + std::to_string(current));
    AwaitGo();
  };
  auto store = tesseras::storage::FsFragmentStore::Open(
      std::shared_ptr<tesseras::storage::Database>(std::move(db).value()), data_dir, opts);
  if (!store.ok()) return Fail(store.error().ToString());
  auto count = (*store)->FragmentCount();
  if (!count.ok()) return Fail(count.error().ToString());
  const auto& rep = (*store)->recovery_report();
  Say("open " + std::to_string(*count) + " " +
      std::to_string(rep.completed_files.size() + rep.removed_temp_files.size()));

  tesseras::core::NodeId origin;
  origin.bytes.fill(0x42);
  for (uint64_t k = 0; k < 100'000; ++k) {
    current = k;
    CrashFragment f = tesseras::storage::MakeCrashFragment(seed, k);
    Say("begin " + std::to_string(k) + " " + f.id.tessera.ToHex() + " " +
        std::to_string(f.id.index) + " " + std::to_string(f.bytes.size()));
    ReportingSource src(k, f.bytes);
    auto r = (*store)->Store(f.id, f.bytes.size(), src, origin);
    if (!r.ok()) return Fail(r.error().ToString());
    Say("stored " + std::to_string(k));
    if (tesseras::storage::CrashWorkloadReplaces(k)) {
      CrashFragment v = tesseras::storage::MakeCrashFragment(seed, k, 1);
      Say("replace " + std::to_string(k));
      ReportingSource vsrc(k, v.bytes);
      auto rr = (*store)->Store(v.id, v.bytes.size(), vsrc, origin, /*replace=*/true);
      if (!rr.ok()) return Fail(rr.error().ToString());
      Say("replaced " + std::to_string(k));
    }
    if (tesseras::storage::CrashWorkloadDeletesPrevious(k)) {
      current = k - 1;
      CrashFragment prev = tesseras::storage::MakeCrashFragment(seed, k - 1);
      Say("delete " + std::to_string(k - 1));
      auto d = (*store)->Delete(prev.id.tessera, prev.id.index);
      if (!d.ok()) return Fail(d.error().ToString());
      Say("deleted " + std::to_string(k - 1));
    }
  }
  return 0;
}
