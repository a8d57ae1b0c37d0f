// An exclusive lock on a data dir, so that one daemon at a time uses it.
//
// The lock is flock(LOCK_EX | LOCK_NB) on {data_dir}/tesd.lock, held for the
// life of the object (the kernel drops it when the process dies, even by
// SIGKILL, so there is never a stale lock). The holder writes its pid into the
// file so that a refused daemon can say who holds it.
#pragma once

#include <filesystem>
#include <optional>

#include "core/result.h"

namespace tesseras::daemon {

class DataDirLock {
 public:
  // Takes the lock at `lock_path`, creating the file (mode 0600) if needed.
  // kUnavailable naming the file and the holder's pid if another process
  // holds it; kIo if the file cannot be opened.
  static core::Result<DataDirLock> Acquire(const std::filesystem::path& lock_path);

  // The pid written in the lock file at `lock_path`, if any (for messages).
  static std::optional<long> ReadHolderPid(const std::filesystem::path& lock_path);

  DataDirLock(DataDirLock&& other) noexcept;
  DataDirLock& operator=(DataDirLock&& other) noexcept;
  DataDirLock(const DataDirLock&) = delete;
  DataDirLock& operator=(const DataDirLock&) = delete;
  ~DataDirLock();

  const std::filesystem::path& path() const { return path_; }

 private:
  DataDirLock(std::filesystem::path path, int fd) : path_(std::move(path)), fd_(fd) {}
  void Release();

  std::filesystem::path path_;
  int fd_ = -1;
};

}  // namespace tesseras::daemon
