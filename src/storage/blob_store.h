// FsBlobStore: core::BlobStore as content-addressed files.
//
//   {data_dir}/blobs/{hex[0..2]}/{hex}                 a blob, named by its BLAKE3
//   {data_dir}/blobs/{hex[0..2]}/.{hex}.{random}.tmp   being written (never served)
//
// Put streams into a temp file in the blob's directory while hashing, checks
// size and hash, fsyncs, renames, and fsyncs the directory: a blob is either
// complete or absent. Putting a blob that is already present succeeds without
// reading the source. Open() leftovers are removed when the store is opened.
//
// Threading: blocking and thread-safe (every operation is a single atomic file
// system step); run it on a worker thread, never on the network thread.
#pragma once

#include <filesystem>
#include <memory>

#include "core/ports/blob_store.h"
#include "core/tier.h"

namespace tesseras::storage {

struct FsBlobStoreOptions {
  // Put() refuses a blob that would leave less free space than this.
  uint64_t min_free_bytes = core::kGiB;
  // The largest blob accepted (a whole tessera payload).
  uint64_t max_blob_bytes = core::kMaxTesseraSize;
};

class FsBlobStore final : public core::BlobStore {
 public:
  static core::Result<std::unique_ptr<FsBlobStore>> Open(const std::filesystem::path& data_dir,
                                                         FsBlobStoreOptions options = {});

  core::Result<void> Put(const core::ContentHash& hash, uint64_t size,
                         core::ByteSource& bytes) override;
  core::Result<std::unique_ptr<core::RandomAccessSource>> Open(
      const core::ContentHash& hash) override;
  core::Result<bool> Contains(const core::ContentHash& hash) override;
  // kNotFound if absent.
  core::Result<void> Remove(const core::ContentHash& hash) override;

  // Re-hashes a stored blob: Ok, kCorrupt (the blob is removed so it is never
  // served again), or kNotFound.
  core::Result<void> Verify(const core::ContentHash& hash);

  std::filesystem::path PathOf(const core::ContentHash& hash) const;
  // Temp files removed when the store was opened.
  std::size_t removed_temp_files() const { return removed_temp_files_; }

 private:
  FsBlobStore(std::filesystem::path root, FsBlobStoreOptions options)
      : root_(std::move(root)), options_(options) {}
  std::filesystem::path root_;
  FsBlobStoreOptions options_;
  std::size_t removed_temp_files_ = 0;
};

}  // namespace tesseras::storage
