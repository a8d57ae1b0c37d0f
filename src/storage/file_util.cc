#include "storage/file_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>
#include <string>

#include "core/ids.h"

namespace tesseras::storage {

using core::ErrorCode;
using core::MakeError;
using core::Result;

core::Error ErrnoError(std::string_view what, const std::filesystem::path& path, int err) {
  ErrorCode code = (err == ENOSPC || err == EDQUOT) ? ErrorCode::kResourceExhausted
                   : err == ENOENT                  ? ErrorCode::kNotFound
                   : err == EEXIST                  ? ErrorCode::kAlreadyExists
                                                    : ErrorCode::kIo;
  return MakeError(code, std::string(what) + " " + path.string() + ": " + std::strerror(err));
}

void UniqueFd::Reset() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

Result<void> WriteAll(int fd, std::span<const uint8_t> data, const std::filesystem::path& p) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("write", p, errno);
    }
    data = data.subspan(static_cast<std::size_t>(n));
  }
  return core::Ok();
}

Result<void> PreadAll(int fd, uint64_t offset, std::span<uint8_t> out,
                      const std::filesystem::path& p) {
  while (!out.empty()) {
    ssize_t n = ::pread(fd, out.data(), out.size(), static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("read", p, errno);
    }
    if (n == 0) {
      return MakeError(ErrorCode::kCorrupt, "file " + p.string() + " is shorter than expected");
    }
    out = out.subspan(static_cast<std::size_t>(n));
    offset += static_cast<uint64_t>(n);
  }
  return core::Ok();
}

Result<void> FsyncFd(int fd, const std::filesystem::path& p) {
  if (::fsync(fd) != 0) return ErrnoError("fsync", p, errno);
  return core::Ok();
}

Result<void> FsyncDir(const std::filesystem::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoError("open directory", dir, errno);
  UniqueFd guard(fd);
  return FsyncFd(fd, dir);
}

Result<void> EnsureDir(const std::filesystem::path& dir) {
  struct stat st;
  if (::stat(dir.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) {
      return MakeError(ErrorCode::kIo, dir.string() + " exists and is not a directory");
    }
    return core::Ok();
  }
  std::filesystem::path parent = dir.parent_path();
  if (!parent.empty() && parent != dir) TRY(EnsureDir(parent));
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return ErrnoError("mkdir", dir, errno);
  }
  if (!parent.empty()) TRY(FsyncDir(parent));
  return core::Ok();
}

Result<uint64_t> FreeBytes(const std::filesystem::path& path) {
  struct statvfs vfs;
  if (::statvfs(path.c_str(), &vfs) != 0) return ErrnoError("statvfs", path, errno);
  return static_cast<uint64_t>(vfs.f_bavail) * static_cast<uint64_t>(vfs.f_frsize);
}

std::string RandomHex(std::size_t bytes) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::string out;
  out.reserve(bytes * 2);
  static constexpr char kDigits[] = "0123456789abcdef";
  for (std::size_t i = 0; i < bytes; ++i) {
    auto b = static_cast<uint8_t>(rng());
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 15]);
  }
  return out;
}

Result<UniqueFd> OpenForRead(const std::filesystem::path& p) {
  int fd = ::open(p.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return ErrnoError("open", p, errno);
  return UniqueFd(fd);
}

Result<UniqueFd> CreateExclusive(const std::filesystem::path& p) {
  int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoError("create", p, errno);
  return UniqueFd(fd);
}

Result<TempFile> TempFile::Create(const std::filesystem::path& dir, std::string_view prefix) {
  for (int attempt = 0;; ++attempt) {
    std::filesystem::path p = dir / (std::string(prefix) + RandomHex(8) + ".tmp");
    auto fd = CreateExclusive(p);
    if (fd.ok()) return TempFile(std::move(p), std::move(fd).value());
    if (fd.error().code != ErrorCode::kAlreadyExists || attempt > 8) return std::move(fd).error();
  }
}

TempFile::~TempFile() {
  if (!committed_ && !path_.empty()) {
    fd_.Reset();
    ::unlink(path_.c_str());
  }
}

Result<void> TempFile::Sync() {
  if (::fdatasync(fd_.get()) != 0) return ErrnoError("fdatasync", path_, errno);
  if (::close(fd_.Release()) != 0) return ErrnoError("close", path_, errno);
  return core::Ok();
}

Result<void> TempFile::RenameInto(const std::filesystem::path& final_path, bool sync_dir) {
  if (::rename(path_.c_str(), final_path.c_str()) != 0) {
    return ErrnoError("rename into", final_path, errno);
  }
  committed_ = true;
  return sync_dir ? FsyncDir(final_path.parent_path()) : core::Ok();
}

Result<void> FileSource::ReadAt(uint64_t offset, std::span<uint8_t> out) {
  if (offset > size_ || out.size() > size_ - offset) {
    return MakeError(ErrorCode::kInvalidArgument, "read of " + std::to_string(out.size()) +
                                                      " bytes at " + std::to_string(offset) +
                                                      " is past the end of " + path_.string() +
                                                      " (" + std::to_string(size_) + " bytes)");
  }
  return PreadAll(fd_.get(), offset, out, path_);
}

}  // namespace tesseras::storage
