// Maintenance under churn with real tesd processes on loopback (at least 14
// nodes, one /24 each), driven with tes (docs/REPLICATION.md, "Maintenance"):
//   the dropper   a holder's shard files vanish; one repair pass later the
//                 tessera is healthy and every fragment is really on a disk;
//   sleepers      a third of the holders is stopped (SIGSTOP) across a pass:
//                 nothing is re-created or re-sent, the ledger does not move,
//                 and they prove again once continued;
//   owner gone    the owner's machine and data dir are gone; three times a
//                 different third of the holders dies; the live nodes repair
//                 each time, and a fresh node restores bit-exactly with no
//                 original holder left;
//   two at once   two maintainers repair concurrently without duplicating
//                 copies beyond the cap;
//   at threshold  with coded_repair_at_threshold, lost fragments wait until
//                 fewer than 20 of 24 are left, then one pass re-creates all.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "crypto/blake3_hasher.h"
#include "harness/tesd_network.h"

namespace tesseras {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;
using testing::CommandResult;
using testing::TesdNetwork;

// Quick daemons: short timeouts (stopped and killed peers fail fast), no
// background pass (the tests run passes with tes repair), small free-space floor.
std::string Config(const std::string& replication_extra) {
  return "[replication]\n"
         "repair_interval_secs = 86400\n"
         "repair_jitter_secs = 0\n"
         "min_free_space_bytes = 67108864\n" +
         replication_extra +
         "[network]\n"
         "connect_timeout_ms = 1000\n"
         "handshake_timeout_ms = 1000\n"
         "request_timeout_ms = 2000\n";
}

class MaintenanceE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "tesd_maint_XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
  }
  void TearDown() override {
    net_.reset();
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  TesdNetwork& Network(int first_subnet, const std::string& config) {
    TesdNetwork::Options o;
    o.first_subnet = first_subnet;
    o.config = config;
    net_ = std::make_unique<TesdNetwork>(root_ / "net", o);
    return *net_;
  }

  // A file of `size` pseudo-random bytes in its own directory; its tessera hash.
  std::string Create(int node, std::size_t size, uint64_t seed) {
    fs::path dir = root_ / ("in-" + std::to_string(seed));
    fs::create_directories(dir);
    {
      std::ofstream f((dir / "memory.bin").string(), std::ios::binary);
      std::vector<uint64_t> block(1 << 17);
      uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
      for (std::size_t done = 0; done < size;) {
        for (auto& w : block) {
          x ^= x << 13;
          x ^= x >> 7;
          x ^= x << 17;
          w = x;
        }
        const std::size_t n = std::min(size - done, block.size() * sizeof(uint64_t));
        f.write(reinterpret_cast<const char*>(block.data()), static_cast<std::streamsize>(n));
        done += n;
      }
    }
    Json c = net_->TesJson(node, {"create", dir.string()});
    return c.value("hash", "");
  }

  Json Status(int node, const std::string& hash) { return net_->TesJson(node, {"status", hash}); }

  // Index -> live nodes with that shard file on disk, where `tes verify`
  // (which hashes every indexed fragment) finds nothing wrong.
  std::map<uint32_t, std::vector<int>> OnDisk(const std::string& hash) {
    std::map<uint32_t, std::vector<int>> out;
    for (int n : net_->Live()) {
      auto files = net_->ShardFiles(n, hash);
      if (files.empty()) continue;
      Json v = net_->TesJson(n, {"verify", hash});
      EXPECT_TRUE(v.value("failed", Json::array()).empty()) << "node " << n << ": " << v.dump();
      for (const auto& [index, path] : files) out[index].push_back(n);
    }
    return out;
  }

  // Node numbers of the holders in a status reply.
  std::vector<int> Holders(const Json& status) {
    std::vector<int> out;
    for (const auto& h : status.at("holders")) out.push_back(net_->NodeOf(h.at("node_id")));
    return out;
  }

  fs::path root_;
  std::unique_ptr<TesdNetwork> net_;
};

TEST_F(MaintenanceE2eTest, TheDropperIsHealthyAgainAfterOneRepairPass) {
  TesdNetwork& net = Network(140, Config(""));
  net.Start(14);
  const std::string hash = Create(1, 5 << 20, 1);
  Json published = net.TesJson(1, {"publish", hash});
  ASSERT_EQ(published.at("complete"), true) << published.dump();
  // A holder keeping two fragments loses its fragment directory; its index
  // still lists them.
  Json before = Status(1, hash);
  int dropper = 0;
  for (const auto& h : before.at("holders")) {
    if (h.at("fragments").size() == 2) dropper = net.NodeOf(h.at("node_id"));
  }
  ASSERT_NE(dropper, 0) << before.dump();
  fs::remove_all(net.TesseraDir(dropper, hash));

  Json repaired = net.TesJson(1, {"repair"});
  ASSERT_EQ(repaired.at("tesseras").size(), 1u);
  EXPECT_EQ(repaired.at("tesseras")[0].at("action"), "repaired") << repaired.dump();
  EXPECT_EQ(repaired.at("tesseras")[0].at("regenerated").size(), 2u) << repaired.dump();

  Json after = Status(1, hash);
  EXPECT_EQ(after.at("state"), "healthy") << after.dump();
  EXPECT_EQ(after.at("fragments_verified"), 24);
  auto disk = OnDisk(hash);
  for (uint32_t i = 0; i < 24; ++i) EXPECT_FALSE(disk[i].empty()) << "fragment " << i;
  std::printf("dropper: %d fragments re-created and placed in one pass\n",
              static_cast<int>(repaired.at("tesseras")[0].at("regenerated").size()));
}

TEST_F(MaintenanceE2eTest, SleepersAcrossAPassCostNothingAndProveAgain) {
  TesdNetwork& net = Network(160, Config("holder_grace_secs = 259200\n"));
  net.Start(14);
  const std::string hash = Create(1, 5 << 20, 2);
  ASSERT_EQ(net.TesJson(1, {"publish", hash}).at("complete"), true);
  Json before = Status(1, hash);
  ASSERT_EQ(before.at("state"), "healthy");
  const Json ledger_before = net.TesJson(1, {"ledger"});
  std::map<int, std::size_t> shards_before;
  for (int n : net.Live()) shards_before[n] = net.ShardFiles(n, hash).size();

  std::vector<int> holders = Holders(before);
  std::vector<int> sleepers(holders.begin(), holders.begin() + holders.size() / 3);
  for (int n : sleepers) net.Stop(n);
  Json pass = net.TesJson(1, {"repair"});
  for (int n : sleepers) net.Cont(n);

  const Json& t = pass.at("tesseras").at(0);
  EXPECT_EQ(t.at("action"), "none") << t.dump();
  EXPECT_TRUE(t.at("regenerated").empty()) << t.dump();
  EXPECT_EQ(t.at("bytes_sent"), 0);
  EXPECT_EQ(t.at("bytes_fetched"), 0);
  EXPECT_EQ(t.at("state_before"), "degraded");
  EXPECT_EQ(net.TesJson(1, {"ledger"}), ledger_before);
  for (int n : net.Live()) EXPECT_EQ(net.ShardFiles(n, hash).size(), shards_before[n]) << n;

  Json again = net.TesJson(1, {"repair"});
  EXPECT_TRUE(again.at("tesseras").at(0).at("regenerated").empty());
  Json after = Status(1, hash);
  EXPECT_EQ(after.at("state"), "healthy") << after.dump();
  EXPECT_EQ(after.at("fragments_verified"), 24);
  for (const auto& h : after.at("holders")) EXPECT_TRUE(h.at("suspect_since").is_null());
  EXPECT_EQ(net.TesJson(1, {"ledger"}), ledger_before);
  std::printf("sleepers: %zu holders stopped across a pass, 0 bytes re-sent, ledger unchanged\n",
              sleepers.size());
}

TEST_F(MaintenanceE2eTest, AtThresholdLostFragmentsWaitForOneBatch) {
  // coded_repair_at_threshold = 1 at the default repair_threshold_percent
  // (62): a maintainer that must fetch k fragments to rebuild does not
  // re-create fragments known lost while 21 of 24 are counted; once fewer
  // are, one pass re-creates every missing one from one fetch of k. The
  // owner is made such a maintainer by losing its payload; with the payload
  // it would re-create each lost fragment at once (nothing to fetch, nothing
  // to batch: MaintenanceTest covers that).
  constexpr std::size_t kThreshold = 21;  // 16 + ceil(0.62 x 8)
  TesdNetwork& net = Network(200, Config("coded_repair_at_threshold = 1\n"));
  net.Start(14);
  const std::string hash = Create(1, 5 << 20, 3);
  ASSERT_EQ(net.TesJson(1, {"publish", hash}).at("complete"), true);
  Json before = Status(1, hash);
  ASSERT_EQ(before.at("state"), "healthy") << before.dump();
  const fs::path payload = net.Dir(1) / "blobs" / hash.substr(0, 2) / hash;
  ASSERT_TRUE(fs::remove(payload)) << payload;
  std::vector<int> holders = Holders(before);
  ASSERT_GE(holders.size(), 10u);
  // Holders lose their fragment directories, one at a time, while at least
  // 21 distinct fragments stay on disk.
  auto on_disk = [&] { return OnDisk(hash).size(); };
  std::size_t dropped = 0;
  for (int h : holders) {
    if (on_disk() - net.ShardFiles(h, hash).size() < kThreshold) continue;
    fs::remove_all(net.TesseraDir(h, hash));
    ++dropped;
  }
  const std::size_t left = on_disk();
  ASSERT_GE(dropped, 1u);
  ASSERT_GE(left, kThreshold);
  ASSERT_LT(left, 24u);
  Json wait = net.TesJson(1, {"repair"});
  const Json& w = wait.at("tesseras").at(0);
  EXPECT_TRUE(w.at("regenerated").empty()) << w.dump();
  EXPECT_EQ(w.at("bytes_sent"), 0) << w.dump();
  EXPECT_EQ(on_disk(), left);

  // One more holder's loss takes the count below 21: one batch.
  int next = 0;
  for (int h : holders) {
    if (!net.ShardFiles(h, hash).empty()) next = h;
  }
  ASSERT_NE(next, 0);
  fs::remove_all(net.TesseraDir(next, hash));
  const std::size_t below = on_disk();
  ASSERT_LT(below, kThreshold);
  Json batch = net.TesJson(1, {"repair"});
  const Json& b = batch.at("tesseras").at(0);
  EXPECT_EQ(b.at("action"), "repaired") << b.dump();
  EXPECT_EQ(b.at("regenerated").size(), 24 - below) << b.dump();
  EXPECT_GT(b.at("bytes_fetched").get<uint64_t>(), 0u) << b.dump();  // k fragments, not the payload
  Json after = Status(1, hash);
  EXPECT_EQ(after.at("state"), "healthy") << after.dump();
  EXPECT_EQ(on_disk(), 24u);
  std::printf("at threshold: %zu of 24 left, nothing re-created; %zu left, %zu in one pass\n", left,
              below, 24 - below);
}

// The live nodes run `tes repair` until a live holder sees both tesseras
// healthy (a grace of 1 s: the first passes see the dead as suspect).
void RepairUntilHealthy(TesdNetwork& net, const std::vector<std::string>& hashes,
                        const std::function<Json(int, const std::string&)>& status) {
  const auto deadline = testing::Clock::now() + std::chrono::seconds(240);
  for (;;) {
    for (int n : net.Live()) {
      bool holds = false;
      for (const auto& h : hashes) holds = holds || !net.ShardFiles(n, h).empty();
      if (!holds) continue;
      (void)net.TesJson(n, {"repair"});
      bool healthy = true;
      for (const auto& h : hashes)
        healthy = healthy && status(n, h).value("state", "") == "healthy";
      if (healthy) return;
    }
    ASSERT_LT(testing::Clock::now(), deadline) << "not healthy again";
  }
}

TEST_F(MaintenanceE2eTest, TheOwnerIsGoneAndTheHoldersCarryOn) {
#ifdef TESSERAS_SKIP_LARGE
  const bool large = false;
#else
  const bool large = true;
#endif
  // 24 original peers: the Medium tessera puts one of its 24 fragments on each,
  // the Large one 3 of its 72. A third of them (8) is then exactly the parity
  // of both. 24 more nodes join after the publish and take what is repaired.
  constexpr int kOriginals = 24, kLate = 24;
  TesdNetwork& net = Network(150, Config("holder_grace_secs = 1\ntakeover_delay_secs = 0\n"));
  net.Start(1 + kOriginals);
  std::vector<std::string> hashes = {Create(1, 5 << 20, 3)};
  if (large) hashes.push_back(Create(1, (256 << 20) + 4096, 4));
  for (const auto& h : hashes) {
    Json p = net.TesJson(1, {"publish", h});
    ASSERT_EQ(p.at("complete"), true) << p.dump();
  }
  for (int n = 2 + kOriginals; n <= 1 + kOriginals + kLate; ++n) net.StartNode(n);
  net.WaitConverged();
  std::vector<int> originals;
  for (int n = 2; n <= 1 + kOriginals; ++n) originals.push_back(n);

  // The owner's machine is gone, and its data dir with it.
  net.Kill(1);
  fs::remove_all(net.Dir(1));

  const uint32_t fragments_of[] = {24, 72};
  const int parity_of[] = {8, 24};
  for (int round = 0; round < 3; ++round) {
    std::vector<std::map<uint32_t, std::vector<int>>> disk;
    for (const auto& h : hashes) disk.push_back(OnDisk(h));
    // A different third of the original holders each time.
    std::set<int> doomed(originals.begin() + 8 * round, originals.begin() + 8 * (round + 1));
    for (std::size_t t = 0; t < hashes.size(); ++t) {
      int lost = 0;
      for (const auto& [index, nodes] : disk[t]) {
        lost += std::all_of(nodes.begin(), nodes.end(), [&](int x) { return doomed.count(x); });
      }
      ASSERT_LE(lost, parity_of[t]) << "round " << round << " would lose more than the parity";
    }
    for (int n : doomed) net.Kill(n);
    std::printf("owner gone, round %d: killed %zu original holders\n", round + 1, doomed.size());
    RepairUntilHealthy(net, hashes, [&](int n, const std::string& h) { return Status(n, h); });
    for (std::size_t t = 0; t < hashes.size(); ++t) {
      EXPECT_EQ(OnDisk(hashes[t]).size(), fragments_of[t]) << "round " << round;
    }
  }
  for (int n : originals) EXPECT_FALSE(net.Alive(n)) << "original holder " << n << " still runs";
  // Every live node runs its pass once: holders whose claims went with the
  // dead nodes that stored them publish them again.
  for (int n : net.Live()) (void)net.TesJson(n, {"repair"});
  // A fresh node restores both, bit-exactly.
  const int fresh = 2 + kOriginals + kLate;
  net.StartNode(fresh);
  net.WaitConverged();
  for (std::size_t t = 0; t < hashes.size(); ++t) {
    fs::path out = root_ / ("restored-" + std::to_string(t));
    Json got = net.TesJson(fresh, {"fetch", hashes[t], "--out", out.string()});
    ASSERT_TRUE(got.contains("files")) << got.dump();
    fs::path original = root_ / ("in-" + std::to_string(3 + t)) / "memory.bin";
    fs::path restored = out / ("in-" + std::to_string(3 + t)) / "memory.bin";
    ASSERT_TRUE(fs::exists(restored)) << restored;
    EXPECT_EQ(fs::file_size(restored), fs::file_size(original));
    auto hash_of = [](const fs::path& p) {
      crypto::Blake3Hasher hasher;
      std::ifstream f(p.string(), std::ios::binary);
      std::vector<char> buf(1 << 20);
      while (f) {
        f.read(buf.data(), static_cast<std::streamsize>(buf.size()));
        hasher.Update(std::span(reinterpret_cast<const uint8_t*>(buf.data()),
                                static_cast<std::size_t>(f.gcount())));
      }
      return hasher.Finalize();
    };
    EXPECT_EQ(hash_of(restored), hash_of(original)) << "tessera " << t;
  }
}

TEST_F(MaintenanceE2eTest, TwoMaintainersAtOnceDoNotDuplicateBeyondTheCap) {
  TesdNetwork& net = Network(220, Config("holder_grace_secs = 0\ntakeover_delay_secs = 0\n"));
  net.Start(24);
  const std::string hash = Create(1, 5 << 20, 5);
  ASSERT_EQ(net.TesJson(1, {"publish", hash}).at("complete"), true);
  std::vector<int> holders = Holders(Status(1, hash));
  net.Kill(1);
  for (int i = 0; i < 4; ++i) net.Kill(holders[i]);
  const int a = holders[10], b = holders[11];
  auto ta = net.TesAsync(a, {"--json", "repair", hash});
  auto tb = net.TesAsync(b, {"--json", "repair", hash});
  CommandResult ra = net.Finish(*ta), rb = net.Finish(*tb);
  ASSERT_EQ(ra.exit_code, 0) << ra.err;
  ASSERT_EQ(rb.exit_code, 0) << rb.err;
  auto disk = OnDisk(hash);
  ASSERT_EQ(disk.size(), 24u);
  std::size_t copies = 0;
  for (const auto& [index, nodes] : disk) {
    EXPECT_GE(nodes.size(), 1u) << "fragment " << index;
    EXPECT_LE(nodes.size(), 2u) << "fragment " << index;  // the cap: 2 copies of a fragment
    copies += nodes.size();
  }
  std::printf("two maintainers at once: %zu copies of 24 fragments on disk (cap 48)\n", copies);
}

}  // namespace
}  // namespace tesseras
