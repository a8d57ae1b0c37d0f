// What the end-to-end tests of tesd and tes share: a fixture that starts real
// daemons on temporary data dirs (harness/process.h runs them) and runs the
// real tes against them. Synchronisation is on events: the
// "ready" log line read from the daemon's stderr pipe, and end-of-file on that
// pipe when it exits; every wait is bounded.
#pragma once

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "harness/process.h"

namespace tesseras_e2e {

namespace fs = std::filesystem;
using Clock = tesseras::testing::Clock;
using Json = nlohmann::json;

constexpr auto kStartTimeout = std::chrono::seconds(10);
constexpr auto kCommandTimeout = std::chrono::seconds(10);

using tesseras::testing::Child;
using tesseras::testing::CommandResult;

class DaemonHarness : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "tesd_e2e_XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
    data_dir_ = root_ / "node";
  }
  void TearDown() override {
    daemons_.clear();  // kills what is still running
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  // Starts tesd on `data_dir` and waits for its "ready" line. The dashboard
  // listens on a free loopback port: tests run in parallel.
  // `extra` may give its own --listen or --http-listen instead.
  Child& StartDaemon(const fs::path& data_dir, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"--data-dir", data_dir.string()};
    for (const char* flag : {"--listen", "--http-listen"}) {
      if (std::find(extra.begin(), extra.end(), flag) == extra.end()) {
        args.insert(args.end(), {flag, "127.0.0.1:0"});
      }
    }
    args.insert(args.end(), extra.begin(), extra.end());
    daemons_.push_back(std::make_unique<Child>(TESSERAS_TESD_BIN, args));
    Child& d = *daemons_.back();
    bool ready = d.ReadUntil([&d] { return d.err().find(" ready ") != std::string::npos; },
                             Clock::now() + kStartTimeout);
    EXPECT_TRUE(ready) << "tesd did not log ready:\n" << d.err();
    return d;
  }

  // Starts tesd expecting it to fail; returns its exit status and stderr.
  CommandResult RunDaemon(std::vector<std::string> args) {
    Child c(TESSERAS_TESD_BIN, args);
    auto status = c.Wait(Clock::now() + kCommandTimeout);
    EXPECT_TRUE(status.has_value()) << "tesd did not exit: " << c.err();
    return {status.value_or(-1), c.out(), c.err()};
  }

  CommandResult Tes(std::vector<std::string> args, const fs::path* data_dir = nullptr) {
    std::vector<std::string> full = {"--data-dir", (data_dir ? *data_dir : data_dir_).string()};
    full.insert(full.end(), args.begin(), args.end());
    Child c(TESSERAS_TES_BIN, full);
    auto status = c.Wait(Clock::now() + kCommandTimeout);
    EXPECT_TRUE(status.has_value()) << "tes did not exit: " << c.err();
    return {status.value_or(-1), c.out(), c.err()};
  }

  // "node_id=... listen=..." from the ready line.
  static std::string ReadyField(const std::string& log, const std::string& field) {
    std::smatch m;
    std::regex re(" ready .*" + field + "=(\\S+)");
    if (!std::regex_search(log, m, re)) return "";
    return m[1];
  }

  static int Lines(const std::string& text) {
    return static_cast<int>(std::count(text.begin(), text.end(), '\n'));
  }

  fs::path root_;
  fs::path data_dir_;
  std::vector<std::unique_ptr<Child>> daemons_;
};

}  // namespace tesseras_e2e
