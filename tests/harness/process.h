// Real processes for multi-process tests: a child with its stdout and stderr
// on pipes, read with bounded waits (poll), never with sleeps. Used by the
// daemon end-to-end tests and the multi-node scenarios in tests/.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

extern char** environ;

namespace tesseras::testing {

using Clock = std::chrono::steady_clock;

// A child process with its stdout and stderr on pipes.
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

}  // namespace tesseras::testing
