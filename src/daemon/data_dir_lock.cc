#include "daemon/data_dir_lock.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

namespace tesseras::daemon {

core::Result<DataDirLock> DataDirLock::Acquire(const std::filesystem::path& lock_path) {
  int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    return core::MakeError(
        core::ErrorCode::kIo,
        fmt::format("cannot open lock file {}: {}", lock_path.string(), std::strerror(errno)));
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    ::close(fd);
    if (err == EWOULDBLOCK) {
      std::optional<long> pid = ReadHolderPid(lock_path);
      std::string holder = pid ? fmt::format("another tesd (pid {})", *pid)
                               : std::string("another tesd (pid not yet recorded)");
      return core::MakeError(
          core::ErrorCode::kUnavailable,
          fmt::format("data dir {} is in use by {}: it holds the lock {}; stop it first or use "
                      "another --data-dir",
                      lock_path.parent_path().string(), holder, lock_path.string()));
    }
    return core::MakeError(
        core::ErrorCode::kIo,
        fmt::format("cannot lock {}: {}", lock_path.string(), std::strerror(err)));
  }
  std::string pid = fmt::format("{}\n", static_cast<long>(::getpid()));
  if (::ftruncate(fd, 0) != 0 ||
      ::pwrite(fd, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
    int err = errno;
    ::close(fd);
    return core::MakeError(
        core::ErrorCode::kIo,
        fmt::format("cannot write pid to {}: {}", lock_path.string(), std::strerror(err)));
  }
  return DataDirLock(lock_path, fd);
}

std::optional<long> DataDirLock::ReadHolderPid(const std::filesystem::path& lock_path) {
  int fd = ::open(lock_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  char buf[32] = {};
  ssize_t n = ::read(fd, buf, sizeof(buf) - 1);
  ::close(fd);
  if (n <= 0) return std::nullopt;
  char* end = nullptr;
  long pid = std::strtol(buf, &end, 10);
  if (end == buf || pid <= 0) return std::nullopt;
  return pid;
}

DataDirLock::DataDirLock(DataDirLock&& other) noexcept
    : path_(std::move(other.path_)), fd_(other.fd_) {
  other.fd_ = -1;
}

DataDirLock& DataDirLock::operator=(DataDirLock&& other) noexcept {
  if (this != &other) {
    Release();
    path_ = std::move(other.path_);
    fd_ = other.fd_;
    other.fd_ = -1;
  }
  return *this;
}

DataDirLock::~DataDirLock() { Release(); }

void DataDirLock::Release() {
  if (fd_ < 0) return;
  // Forget our pid before unlocking so nobody reads a stale one; the file stays.
  if (::ftruncate(fd_, 0) != 0) {
    // Nothing to do: the lock itself is released below either way.
  }
  ::flock(fd_, LOCK_UN);
  ::close(fd_);
  fd_ = -1;
}

}  // namespace tesseras::daemon
