// BlobStore port: content-addressed storage of the owner's own bytes (bundle
// payloads and files), keyed by their BLAKE3 hash.
//
// Contract
// - Blocking; call from a worker thread. Thread-safe.
// - Put() verifies that the bytes hash to `hash` (kCorrupt otherwise) and is
//   atomic: a blob is either fully present or absent.
#pragma once

#include <memory>

#include "core/bytes.h"
#include "core/ids.h"

namespace tesseras::core {

class BlobStore {
 public:
  virtual ~BlobStore() = default;
  virtual Result<void> Put(const ContentHash& hash, uint64_t size, ByteSource& bytes) = 0;
  virtual Result<std::unique_ptr<RandomAccessSource>> Open(const ContentHash& hash) = 0;
  virtual Result<bool> Contains(const ContentHash& hash) = 0;
  virtual Result<void> Remove(const ContentHash& hash) = 0;
};

}  // namespace tesseras::core
