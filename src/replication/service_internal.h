// Pieces shared by the replication service's operations (push.cc, receive.cc,
// health.cc, repair.cc, restore.cc, staging.cc). Not part of the layer's API.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "core/bytes.h"
#include "core/fragment.h"
#include "core/ports/plan_store.h"
#include "crypto/blake3_hasher.h"
#include "replication/file_io.h"
#include "replication/records.h"
#include "replication/replication_service.h"

namespace tesseras::replication {

// A sink that hashes and counts what passes through, and only finishes the
// underlying file when the bytes match what the plan says.
class CheckedSink final : public core::ByteSink {
 public:
  CheckedSink(core::ByteSink& inner, const core::ContentHash& expect, uint64_t size)
      : inner_(inner), expect_(expect), size_(size) {}
  core::Result<void> Write(std::span<const uint8_t> data) override;
  // Idempotent: the transport finishes the sink on success (DhtPort contract),
  // and the caller may call it again to learn the verdict.
  core::Result<void> Finish() override;

 private:
  core::ByteSink& inner_;
  core::ContentHash expect_;
  uint64_t size_;
  uint64_t written_ = 0;
  crypto::Blake3Hasher hash_;
  std::optional<core::Result<void>> verdict_;
};

// Runs fn(i) for i in [0, n) on up to `threads` threads.
void ParallelFor(std::size_t n, std::size_t threads, const std::function<void(std::size_t)>& fn);

inline core::PeerInfo PeerOf(const core::PlacementEntry& e) { return {e.holder, e.address}; }
std::vector<HolderEntry> ToHolderEntries(const std::vector<core::PlacementEntry>& placement);
std::vector<core::PlacementEntry> ToPlacement(const std::vector<HolderEntry>& holders);

// A fresh directory under `base` (the system temp dir when empty) for one
// operation's fragments; `what` names the operation in the directory name.
core::Result<std::filesystem::path> MakeScratch(const std::filesystem::path& base,
                                                const core::ContentHash& tessera, const char* what);

// Fragments encoded or fetched into a scratch directory, removed with it.
struct ReplicationService::Staged {
  std::filesystem::path dir;
  core::FragmentTable table;
  std::vector<bool> present;

  ~Staged();
  std::filesystem::path PathOf(uint32_t i) const { return dir / ShardFileName(i); }
  core::Result<std::unique_ptr<FileSource>> Open(uint32_t i) const {
    return FileSource::Open(PathOf(i));
  }
};

}  // namespace tesseras::replication
