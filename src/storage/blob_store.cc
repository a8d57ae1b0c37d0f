#include "storage/blob_store.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>
#include <vector>

#include "crypto/blake3_hasher.h"
#include "storage/file_util.h"

namespace tesseras::storage {

using core::ContentHash;
using core::ErrorCode;
using core::MakeError;
using core::Result;

namespace {
constexpr std::size_t kChunk = 1024 * 1024;
}

Result<std::unique_ptr<FsBlobStore>> FsBlobStore::Open(const std::filesystem::path& data_dir,
                                                       FsBlobStoreOptions options) {
  std::unique_ptr<FsBlobStore> store(new FsBlobStore(data_dir / "blobs", options));
  TRY(EnsureDir(store->root_));
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(store->root_, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (it->is_regular_file(ec) && name.starts_with(".") && name.ends_with(".tmp")) {
      if (::unlink(it->path().c_str()) == 0) ++store->removed_temp_files_;
    }
  }
  if (ec)
    return MakeError(ErrorCode::kIo, "scanning " + store->root_.string() + ": " + ec.message());
  return store;
}

std::filesystem::path FsBlobStore::PathOf(const ContentHash& hash) const {
  std::string hex = hash.ToHex();
  return root_ / hex.substr(0, 2) / hex;
}

Result<void> FsBlobStore::Put(const ContentHash& hash, uint64_t size, core::ByteSource& bytes) {
  if (size > options_.max_blob_bytes) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "blob of " + std::to_string(size) + " bytes exceeds the limit of " +
                         std::to_string(options_.max_blob_bytes) + " bytes");
  }
  if (TRY(Contains(hash))) return core::Ok();
  uint64_t free_bytes = TRY(FreeBytes(root_));
  if (free_bytes < size || free_bytes - size < options_.min_free_bytes) {
    return MakeError(ErrorCode::kResourceExhausted,
                     "not enough disk space in " + root_.string() + ": storing " +
                         std::to_string(size) + " bytes would leave " +
                         std::to_string(free_bytes > size ? free_bytes - size : 0) +
                         " bytes free; the configured minimum is " +
                         std::to_string(options_.min_free_bytes) + " bytes");
  }
  std::filesystem::path final_path = PathOf(hash);
  TRY(EnsureDir(final_path.parent_path()));
  // Built with append: GCC 12 -O3 warns falsely (-Wrestrict) on "." + s + ".".
  std::string prefix(".");
  prefix.append(hash.ToHex()).append(".");
  ASSIGN_OR_RETURN(TempFile tmp, TempFile::Create(final_path.parent_path(), prefix));
  crypto::Blake3Hasher hasher;
  std::vector<uint8_t> buf(
      static_cast<std::size_t>(std::min<uint64_t>(kChunk, std::max<uint64_t>(size, 1))));
  uint64_t written = 0;
  while (written < size) {
    std::size_t want = static_cast<std::size_t>(std::min<uint64_t>(buf.size(), size - written));
    std::size_t n = TRY(bytes.Read(std::span(buf.data(), want)));
    if (n == 0) {
      return MakeError(ErrorCode::kCorrupt, "blob " + hash.ToHex() + ": stream ended after " +
                                                std::to_string(written) + " of " +
                                                std::to_string(size) + " bytes");
    }
    hasher.Update(std::span<const uint8_t>(buf.data(), n));
    TRY(WriteAll(tmp.fd(), std::span<const uint8_t>(buf.data(), n), tmp.path()));
    written += n;
  }
  uint8_t probe[1];
  if (TRY(bytes.Read(probe)) != 0) {
    return MakeError(ErrorCode::kCorrupt, "blob " + hash.ToHex() +
                                              ": stream is longer than the declared " +
                                              std::to_string(size) + " bytes");
  }
  ContentHash got = hasher.Finalize();
  if (got != hash) {
    return MakeError(ErrorCode::kCorrupt,
                     "blob bytes hash to " + got.ToHex() + ", expected " + hash.ToHex());
  }
  return tmp.Commit(final_path);
}

Result<std::unique_ptr<core::RandomAccessSource>> FsBlobStore::Open(const ContentHash& hash) {
  std::filesystem::path p = PathOf(hash);
  auto fd = OpenForRead(p);
  if (!fd.ok()) {
    if (fd.error().code == ErrorCode::kNotFound) {
      return MakeError(ErrorCode::kNotFound, "blob " + hash.ToHex() + " is not stored");
    }
    return std::move(fd).error();
  }
  struct stat st;
  if (::fstat(fd->get(), &st) != 0) return ErrnoError("fstat", p, errno);
  if (!S_ISREG(st.st_mode)) return MakeError(ErrorCode::kCorrupt, p.string() + " is not a file");
  return std::unique_ptr<core::RandomAccessSource>(
      new FileSource(std::move(fd).value(), static_cast<uint64_t>(st.st_size), p));
}

Result<bool> FsBlobStore::Contains(const ContentHash& hash) {
  struct stat st;
  std::filesystem::path p = PathOf(hash);
  if (::lstat(p.c_str(), &st) == 0) return S_ISREG(st.st_mode);
  if (errno == ENOENT) return false;
  return ErrnoError("stat", p, errno);
}

Result<void> FsBlobStore::Remove(const ContentHash& hash) {
  std::filesystem::path p = PathOf(hash);
  if (::unlink(p.c_str()) != 0) {
    if (errno == ENOENT) {
      return MakeError(ErrorCode::kNotFound, "blob " + hash.ToHex() + " is not stored");
    }
    return ErrnoError("unlink", p, errno);
  }
  return FsyncDir(p.parent_path());
}

Result<void> FsBlobStore::Verify(const ContentHash& hash) {
  ASSIGN_OR_RETURN(std::unique_ptr<core::RandomAccessSource> src, Open(hash));
  ASSIGN_OR_RETURN(ContentHash got, crypto::Blake3Range(*src));
  if (got != hash) {
    src.reset();
    TRY(Remove(hash));
    return MakeError(
        ErrorCode::kCorrupt,
        "blob " + hash.ToHex() + " is corrupt (its bytes hash to " + got.ToHex() + "); removed");
  }
  return core::Ok();
}

}  // namespace tesseras::storage
