#include "replication/file_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace tesseras::replication {
namespace {

core::Error Errno(const std::string& what, const std::filesystem::path& p, int err) {
  core::ErrorCode code = (err == ENOSPC || err == EDQUOT) ? core::ErrorCode::kResourceExhausted
                         : err == ENOENT                  ? core::ErrorCode::kNotFound
                         : err == EACCES                  ? core::ErrorCode::kPermissionDenied
                                                          : core::ErrorCode::kIo;
  return core::MakeError(code, what + " " + p.string() + ": " + std::strerror(err));
}

core::Result<void> WriteFully(int fd, std::span<const uint8_t> data, uint64_t offset,
                              const std::filesystem::path& p) {
  std::size_t done = 0;
  while (done < data.size()) {
    ssize_t n =
        ::pwrite(fd, data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno("cannot write", p, errno);
    }
    done += static_cast<std::size_t>(n);
  }
  return core::Ok();
}

}  // namespace

std::string ShardFileName(uint32_t index) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%03u.shard", index);
  return buf;
}

core::Result<void> SyncDirectory(const std::filesystem::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Errno("cannot open directory", dir, errno);
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return Errno("cannot fsync directory", dir, err);
  return core::Ok();
}

// ---- FileSource ----------------------------------------------------------------

core::Result<std::unique_ptr<FileSource>> FileSource::Open(const std::filesystem::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Errno("cannot open", path, errno);
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return Errno("cannot stat", path, err);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return core::MakeError(core::ErrorCode::kInvalidArgument,
                           path.string() + " is not a regular file");
  }
  return std::unique_ptr<FileSource>(new FileSource(fd, static_cast<uint64_t>(st.st_size), path));
}

FileSource::~FileSource() { ::close(fd_); }

core::Result<void> FileSource::ReadAt(uint64_t offset, std::span<uint8_t> out) {
  if (offset > size_ || out.size() > size_ - offset) {
    return core::MakeError(core::ErrorCode::kInvalidArgument,
                           "read past the end of " + path_.string());
  }
  std::size_t done = 0;
  while (done < out.size()) {
    ssize_t n =
        ::pread(fd_, out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno("cannot read", path_, errno);
    }
    if (n == 0) {
      return core::MakeError(core::ErrorCode::kIo, path_.string() + " shrank while being read");
    }
    done += static_cast<std::size_t>(n);
  }
  return core::Ok();
}

core::Result<std::size_t> FileSource::Read(std::span<uint8_t> out) {
  std::size_t n = static_cast<std::size_t>(std::min<uint64_t>(out.size(), size_ - pos_));
  if (n == 0) return std::size_t{0};
  TRY(ReadAt(pos_, out.first(n)));
  pos_ += n;
  return n;
}

// ---- FileSink ------------------------------------------------------------------

core::Result<std::unique_ptr<FileSink>> FileSink::Create(const std::filesystem::path& path,
                                                         bool durable) {
  static std::atomic<uint64_t> counter{0};
  std::filesystem::path tmp = path;
  tmp += ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return Errno("cannot create", tmp, errno);
  return std::unique_ptr<FileSink>(new FileSink(fd, path, tmp, durable));
}

FileSink::~FileSink() {
  if (fd_ >= 0) ::close(fd_);
  if (!done_) ::unlink(tmp_.c_str());
}

core::Result<void> FileSink::Write(std::span<const uint8_t> data) {
  if (done_) return core::MakeError(core::ErrorCode::kInternal, "write after Finish()");
  TRY(WriteFully(fd_, data, pos_, tmp_));
  pos_ += data.size();
  return core::Ok();
}

core::Result<void> FileSink::WriteAt(uint64_t offset, std::span<const uint8_t> data) {
  if (done_) return core::MakeError(core::ErrorCode::kInternal, "write after Finish()");
  TRY(WriteFully(fd_, data, offset, tmp_));
  pos_ = std::max(pos_, offset + data.size());
  return core::Ok();
}

core::Result<void> FileSink::Finish() { return Commit(); }

core::Result<void> FileSink::Finish(uint64_t size) {
  if (::ftruncate(fd_, static_cast<off_t>(size)) != 0) return Errno("cannot truncate", tmp_, errno);
  return Commit();
}

core::Result<void> FileSink::Commit() {
  if (done_) return core::MakeError(core::ErrorCode::kInternal, "Finish() called twice");
  if (durable_ && ::fsync(fd_) != 0) return Errno("cannot fsync", tmp_, errno);
  ::close(fd_);
  fd_ = -1;
  if (::rename(tmp_.c_str(), path_.c_str()) != 0) return Errno("cannot rename to", path_, errno);
  done_ = true;
  if (durable_) TRY(SyncDirectory(path_.parent_path().empty() ? "." : path_.parent_path()));
  return core::Ok();
}

}  // namespace tesseras::replication
