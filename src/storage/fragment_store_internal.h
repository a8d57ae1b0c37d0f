// Pieces of FsFragmentStore shared by its two source files (fragment_store.cc:
// the operations; fragment_store_recovery.cc: recovery on open and Reconcile).
// Not part of the storage layer's interface.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/fragment.h"
#include "storage/fragment_store.h"

namespace tesseras::storage::fragment_store_internal {

inline constexpr std::string_view kQuarantineDir = ".quarantine";
inline constexpr std::string_view kIncomingDir = ".incoming";
inline constexpr std::string_view kLockFile = ".lock";

std::string Index3(uint32_t index);
std::string Describe(const core::ContentHash& tessera, uint32_t index);

// "NNN.shard" (fragment bytes) or "NNN.tree" (its stored proof tree), with
// NNN < 255 (three decimal digits); *tree says which.
std::optional<uint32_t> ParseFragmentFileName(std::string_view name, bool* tree);

// What the name of a file in .incoming says:
// {tessera_hex}.{index:03}.{checksum_hex}.{random}.tmp       fragment bytes
// {tessera_hex}.{index:03}.{checksum_hex}.tree.{random}.tmp  its proof tree
struct IncomingName {
  core::ContentHash tessera;
  uint32_t index = 0;
  core::ContentHash checksum;
  bool tree = false;
};
std::optional<IncomingName> ParseIncomingName(std::string_view name);

}  // namespace tesseras::storage::fragment_store_internal

namespace tesseras::storage {

// Serialises operations on one (tessera, index).
class FsFragmentStore::KeyLock {
 public:
  KeyLock(FsFragmentStore& store, Key key);
  ~KeyLock();
  KeyLock(const KeyLock&) = delete;
  KeyLock& operator=(const KeyLock&) = delete;

 private:
  FsFragmentStore& store_;
  Key key_;
};

}  // namespace tesseras::storage
