// Small POSIX file helpers shared by the stores: RAII descriptors, full
// reads/writes, directory fsync, free space, and a pread-backed source.
// Blocking; any thread.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>

#include "core/bytes.h"
#include "core/result.h"

namespace tesseras::storage {

core::Error ErrnoError(std::string_view what, const std::filesystem::path& path, int err);

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { Reset(); }
  UniqueFd(UniqueFd&& o) noexcept : fd_(o.Release()) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) {
      Reset();
      fd_ = o.Release();
    }
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int Release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void Reset();

 private:
  int fd_ = -1;
};

// Writes all of `data` (retrying short writes and EINTR).
core::Result<void> WriteAll(int fd, std::span<const uint8_t> data, const std::filesystem::path& p);
// Fills all of `out` from `offset`; kCorrupt if the file is shorter.
core::Result<void> PreadAll(int fd, uint64_t offset, std::span<uint8_t> out,
                            const std::filesystem::path& p);
core::Result<void> FsyncFd(int fd, const std::filesystem::path& p);
// fsync of a directory, so that entries created, renamed or removed in it persist.
core::Result<void> FsyncDir(const std::filesystem::path& dir);
// mkdir -p; every directory it creates is made durable (its parent is fsynced).
core::Result<void> EnsureDir(const std::filesystem::path& dir);
// Bytes available to unprivileged users on the file system holding `path`.
core::Result<uint64_t> FreeBytes(const std::filesystem::path& path);
// Random lower-case hex (for temporary names).
std::string RandomHex(std::size_t bytes);
// Opens a regular file read-only without following a final symlink.
core::Result<UniqueFd> OpenForRead(const std::filesystem::path& p);
// Creates a new file (O_EXCL, mode 0600) for writing.
core::Result<UniqueFd> CreateExclusive(const std::filesystem::path& p);

// A file being written under a temporary name; removed on destruction unless
// Commit() renamed it into place.
class TempFile {
 public:
  // Creates `{dir}/{prefix}{random}.tmp`.
  static core::Result<TempFile> Create(const std::filesystem::path& dir, std::string_view prefix);
  TempFile(TempFile&& o) noexcept
      : path_(std::move(o.path_)), fd_(std::move(o.fd_)), committed_(o.committed_) {
    o.committed_ = true;  // the moved-from object must not unlink anything
  }
  TempFile& operator=(TempFile&&) = delete;
  ~TempFile();

  int fd() const { return fd_.get(); }
  const std::filesystem::path& path() const { return path_; }
  // fdatasync (data and the metadata needed to read it back, e.g. the size) and close.
  core::Result<void> Sync();
  // Renames over `final_path` and, if `sync_dir`, fsyncs its directory (a
  // caller passing false must fsync the directory itself before relying on the
  // rename). Requires Sync().
  core::Result<void> RenameInto(const std::filesystem::path& final_path, bool sync_dir = true);
  // Sync() then RenameInto().
  core::Result<void> Commit(const std::filesystem::path& final_path) {
    TRY(Sync());
    return RenameInto(final_path);
  }

 private:
  TempFile(std::filesystem::path p, UniqueFd fd) : path_(std::move(p)), fd_(std::move(fd)) {}
  std::filesystem::path path_;
  UniqueFd fd_;
  bool committed_ = false;
};

// Reads a file with pread into the caller's buffer (no mmap: on this class of
// VM a fresh mapping hashed at a third of the speed of pread).
class FileSource final : public core::RandomAccessSource {
 public:
  FileSource(UniqueFd fd, uint64_t size, std::filesystem::path path)
      : fd_(std::move(fd)), size_(size), path_(std::move(path)) {}
  uint64_t Size() const override { return size_; }
  core::Result<void> ReadAt(uint64_t offset, std::span<uint8_t> out) override;

 private:
  UniqueFd fd_;
  uint64_t size_;
  std::filesystem::path path_;
};

}  // namespace tesseras::storage
