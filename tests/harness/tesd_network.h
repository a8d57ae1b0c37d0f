// A network of real tesd daemons on loopback, driven with the real tes, for
// multi-node scenarios. Node n listens on 127.0.(first_subnet + n - 1).1 on a
// port the kernel picks (read back from its "ready" line), one /24 per node, so
// scenarios can run in parallel without fixed ports and subnet rules apply.
// Every wait is bounded and waits on an event (a log line, a process exit, a
// condition polled through tes), never on time alone.
#pragma once

#include <signal.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "harness/process.h"

namespace tesseras::testing {

class TesdNetwork {
 public:
  using Json = nlohmann::json;
  struct Options {
    int first_subnet = 140;  // node n on 127.0.(first_subnet + n - 1).1
    std::string config;      // TOML given to every daemon
    std::chrono::seconds start_timeout{20};
    std::chrono::seconds command_timeout{120};
  };

  TesdNetwork(std::filesystem::path root, Options options)
      : root_(std::move(root)), options_(std::move(options)) {
    std::filesystem::create_directories(root_);
    std::ofstream(config_path().string()) << options_.config;
  }
  ~TesdNetwork() { daemons_.clear(); }  // kills what is still running

  // Starts nodes first..last (1-based); node 1 seeds the others. Waits until
  // every started node's routing table knows every other live node.
  void Start(int count) {
    for (int n = 1; n <= count; ++n) StartNode(n);
    WaitConverged();
  }

  // Starts (or restarts) node n and waits for its ready line.
  void StartNode(int n) {
    // Port 0 for both listeners: parallel test daemons must not race for 7780.
    std::vector<std::string> args = {"--data-dir", Dir(n).string(),       "--listen",
                                     Ip(n) + ":0", "--http-listen",       Ip(n) + ":0",
                                     "--config",   config_path().string()};
    // Bootstrap from the first live node (node 1 unless it is gone).
    for (int live : Live()) {
      if (live == n) continue;
      args.insert(args.end(), {"--bootstrap", addresses_.at(live)});
      break;
    }
    auto child = std::make_unique<Child>(TESSERAS_TESD_BIN, args);
    Child& d = *child;
    const bool ready = d.ReadUntil([&d] { return d.err().find(" ready ") != std::string::npos; },
                                   Clock::now() + options_.start_timeout);
    ASSERT_TRUE(ready) << "node " << n << " did not log ready:\n" << d.err();
    std::smatch m;
    const std::string log = d.err();
    ASSERT_TRUE(std::regex_search(log, m, std::regex(" ready node_id=(\\S+) listen=(\\S+)")));
    ids_[n] = m[1];
    addresses_[n] = m[2];
    daemons_[n] = std::move(child);
  }

  // Bounded wait until each live node's routing table holds every other live
  // node, or at least k = 20 of them in a larger network (a Kademlia routing
  // table does not hold everyone).
  void WaitConverged() {
    const auto deadline = Clock::now() + std::chrono::seconds(60);
    for (;;) {
      bool all = true;
      const std::size_t want = std::min<std::size_t>(Live().size() - 1, 20);
      for (int n : Live()) {
        auto peers = Tes(n, {"--json", "peers"});
        if (peers.exit_code != 0 || Json::parse(peers.out).size() < want) all = false;
      }
      if (all) return;
      ASSERT_LT(Clock::now(), deadline) << "network did not converge";
      std::this_thread::sleep_for(std::chrono::milliseconds(100));  // polling a condition
    }
  }

  CommandResult Tes(int n, std::vector<std::string> args) {
    std::vector<std::string> full = {"--data-dir", Dir(n).string()};
    full.insert(full.end(), args.begin(), args.end());
    Child c(TESSERAS_TES_BIN, full);
    auto status = c.Wait(Clock::now() + options_.command_timeout);
    EXPECT_TRUE(status.has_value()) << "tes on node " << n << " did not exit: " << c.err();
    return {status.value_or(-1), c.out(), c.err()};
  }
  // tes --json ...; the command must succeed.
  Json TesJson(int n, std::vector<std::string> args) {
    args.insert(args.begin(), "--json");
    CommandResult r = Tes(n, args);
    EXPECT_EQ(r.exit_code, 0) << "node " << n << " tes " << args[1] << ": " << r.err << r.out;
    return Json::parse(r.out, nullptr, false);
  }
  // Starts tes without waiting (to run commands at the same time).
  std::unique_ptr<Child> TesAsync(int n, std::vector<std::string> args) {
    std::vector<std::string> full = {"--data-dir", Dir(n).string()};
    full.insert(full.end(), args.begin(), args.end());
    return std::make_unique<Child>(TESSERAS_TES_BIN, full);
  }
  CommandResult Finish(Child& c) {
    auto status = c.Wait(Clock::now() + options_.command_timeout);
    EXPECT_TRUE(status.has_value()) << "tes did not exit: " << c.err();
    return {status.value_or(-1), c.out(), c.err()};
  }

  // SIGKILL and reap.
  void Kill(int n) {
    auto it = daemons_.find(n);
    if (it == daemons_.end()) return;
    ::kill(it->second->pid(), SIGCONT);  // a stopped process cannot be reaped until it runs
    ::kill(it->second->pid(), SIGKILL);
    it->second->Wait(Clock::now() + std::chrono::seconds(10));
    daemons_.erase(it);
  }
  void Stop(int n) { ::kill(daemons_.at(n)->pid(), SIGSTOP); }
  void Cont(int n) { ::kill(daemons_.at(n)->pid(), SIGCONT); }
  bool Alive(int n) const { return daemons_.count(n) > 0; }
  std::vector<int> Live() const {
    std::vector<int> out;
    for (const auto& [n, _] : daemons_) out.push_back(n);
    return out;
  }

  std::filesystem::path Dir(int n) const {
    return root_ / std::string("n").append(std::to_string(n));
  }
  std::string Ip(int n) const {
    return std::string("127.0.").append(std::to_string(options_.first_subnet + n - 1)).append(".1");
  }
  const std::string& NodeId(int n) { return ids_.at(n); }
  int NodeOf(const std::string& node_id) const {
    for (const auto& [n, id] : ids_)
      if (id == node_id) return n;
    return 0;
  }
  // The directory of `hash`'s fragments on node n's disk (docs/STORAGE.md:
  // fragments/{first two hex digits}/{hash}).
  std::filesystem::path TesseraDir(int n, const std::string& hash) const {
    return Dir(n) / "fragments" / hash.substr(0, 2) / hash;
  }
  // Shard files of `hash` on node n's disk: index -> path.
  std::map<uint32_t, std::filesystem::path> ShardFiles(int n, const std::string& hash) const {
    std::map<uint32_t, std::filesystem::path> out;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(TesseraDir(n, hash), ec)) {
      const std::string name = e.path().filename().string();
      if (name.size() == 9 && name.substr(3) == ".shard") {
        out[static_cast<uint32_t>(std::stoul(name.substr(0, 3)))] = e.path();
      }
    }
    return out;
  }

 private:
  std::filesystem::path config_path() const { return root_ / "tesd.toml"; }

  std::filesystem::path root_;
  Options options_;
  std::map<int, std::unique_ptr<Child>> daemons_;
  std::map<int, std::string> ids_;
  std::map<int, std::string> addresses_;
};

}  // namespace tesseras::testing
