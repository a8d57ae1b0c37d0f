// POSIX file implementations of the core byte-stream interfaces, used by the
// coding pipeline. Reads use pread into the caller's buffer (on this VM a fresh
// mmap hashed at a third of pread's speed). Writes go to a temporary file in the
// target directory and become visible only on Finish(): write, fsync, rename,
// fsync the directory. A sink destroyed unfinished removes its temporary file.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "core/bytes.h"

namespace tesseras::replication {

class FileSource final : public core::ByteSource, public core::RandomAccessSource {
 public:
  static core::Result<std::unique_ptr<FileSource>> Open(const std::filesystem::path& path);
  ~FileSource() override;
  FileSource(const FileSource&) = delete;
  FileSource& operator=(const FileSource&) = delete;

  uint64_t Size() const override { return size_; }
  core::Result<void> ReadAt(uint64_t offset, std::span<uint8_t> out) override;
  core::Result<std::size_t> Read(std::span<uint8_t> out) override;

 private:
  FileSource(int fd, uint64_t size, std::filesystem::path path)
      : fd_(fd), size_(size), path_(std::move(path)) {}
  int fd_;
  uint64_t size_;
  uint64_t pos_ = 0;
  std::filesystem::path path_;
};

class FileSink final : public core::ByteSink, public core::RandomAccessSink {
 public:
  // `durable`: fsync the file and its directory on Finish (default). Scratch
  // files that are deleted afterwards can skip it.
  static core::Result<std::unique_ptr<FileSink>> Create(const std::filesystem::path& path,
                                                        bool durable = true);
  ~FileSink() override;
  FileSink(const FileSink&) = delete;
  FileSink& operator=(const FileSink&) = delete;

  core::Result<void> Write(std::span<const uint8_t> data) override;
  core::Result<void> Finish() override;
  core::Result<void> WriteAt(uint64_t offset, std::span<const uint8_t> data) override;
  core::Result<void> Finish(uint64_t size) override;

  const std::filesystem::path& path() const { return path_; }

 private:
  FileSink(int fd, std::filesystem::path path, std::filesystem::path tmp, bool durable)
      : fd_(fd), path_(std::move(path)), tmp_(std::move(tmp)), durable_(durable) {}
  core::Result<void> Commit();
  int fd_;
  std::filesystem::path path_;
  std::filesystem::path tmp_;
  bool durable_;
  uint64_t pos_ = 0;
  bool done_ = false;
};

// fsync of a directory, so that a rename inside it is durable.
core::Result<void> SyncDirectory(const std::filesystem::path& dir);

// "{index:03}.shard": the name of fragment `index` inside a fragment directory.
std::string ShardFileName(uint32_t index);

}  // namespace tesseras::replication
