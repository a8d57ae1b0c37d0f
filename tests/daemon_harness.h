// What the end-to-end tests of tesd and tes share: a child process with its
// output on pipes, and a fixture that starts real daemons on temporary data
// dirs and runs the real tes against them. Synchronisation is on events: the
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

extern char** environ;

namespace tesseras_e2e {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using Json = nlohmann::json;

constexpr auto kStartTimeout = std::chrono::seconds(10);
constexpr auto kCommandTimeout = std::chrono::seconds(10);

class Child {
 public:
  Child(const std::string& binary, const std::vector<std::string>& args) {
    int out_pipe[2], err_pipe[2];
    if (::pipe2(out_pipe, O_CLOEXEC) != 0 || ::pipe2(err_pipe, O_CLOEXEC) != 0) {
      ADD_FAILURE() << "pipe: " << std::strerror(errno);
      return;
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out_pipe[1], STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, err_pipe[1], STDERR_FILENO);
    std::vector<std::string> argv_storage = {binary};
    argv_storage.insert(argv_storage.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_storage) argv.push_back(a.data());
    argv.push_back(nullptr);
    int rc = posix_spawn(&pid_, binary.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(out_pipe[1]);
    ::close(err_pipe[1]);
    out_fd_ = out_pipe[0];
    err_fd_ = err_pipe[0];
    if (rc != 0) {
      ADD_FAILURE() << "posix_spawn " << binary << ": " << std::strerror(rc);
      pid_ = -1;
    }
  }

  ~Child() {
    if (pid_ > 0 && !reaped_) {
      ::kill(pid_, SIGKILL);
      int status;
      ::waitpid(pid_, &status, 0);
    }
    if (out_fd_ >= 0) ::close(out_fd_);
    if (err_fd_ >= 0) ::close(err_fd_);
  }

  pid_t pid() const { return pid_; }
  const std::string& out() const { return out_; }
  const std::string& err() const { return err_; }

  // Reads from both pipes until `done()` holds or both reach end-of-file or the
  // deadline passes. Returns done() (or true at EOF when done is null).
  template <typename Pred>
  bool ReadUntil(Pred done, Clock::time_point deadline) {
    while (!done()) {
      std::vector<pollfd> fds;
      if (out_fd_ >= 0) fds.push_back({out_fd_, POLLIN, 0});
      if (err_fd_ >= 0) fds.push_back({err_fd_, POLLIN, 0});
      if (fds.empty()) return done();
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) return false;
      int n = ::poll(fds.data(), fds.size(), static_cast<int>(left.count()));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      for (const pollfd& p : fds) {
        if (p.revents == 0) continue;
        char buf[4096];
        ssize_t got = ::read(p.fd, buf, sizeof(buf));
        std::string& sink = p.fd == out_fd_ ? out_ : err_;
        if (got > 0) {
          sink.append(buf, static_cast<std::size_t>(got));
        } else if (got == 0 || errno != EINTR) {
          int& fd = p.fd == out_fd_ ? out_fd_ : err_fd_;
          ::close(fd);
          fd = -1;
        }
      }
    }
    return true;
  }

  // Waits (bounded) for both pipes to close and reaps the process. Returns
  // the exit status, or -signal if killed by one, or nullopt on timeout.
  std::optional<int> Wait(Clock::time_point deadline) {
    if (!ReadUntil([this] { return out_fd_ < 0 && err_fd_ < 0; }, deadline)) return std::nullopt;
    int status = 0;
    if (::waitpid(pid_, &status, 0) != pid_) return std::nullopt;
    reaped_ = true;
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return -WTERMSIG(status);
    return std::nullopt;
  }

 private:
  pid_t pid_ = -1;
  int out_fd_ = -1;
  int err_fd_ = -1;
  bool reaped_ = false;
  std::string out_;
  std::string err_;
};

struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

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
