// PublishedRecordStore port: the DHT records this node republishes (its own
// claims, and records it stored on others' behalf with Put), kept outside the
// node's memory so that their number costs disk, not RAM.
//
// Records are opaque here (the DHT layer encodes, signs and parses them). Each
// is filed under its publish key, an opaque non-empty byte string chosen by the
// DHT (key, type, publisher of the record): one record per publish key, a Put
// with the same key replaces the record.
//
// Contract
// - Blocking; call from a worker thread, never from the network thread.
// - Thread-safe: concurrent calls are allowed; each call is atomic.
// - Success: the change is made (and, for a store on disk, committed; it
//   survives a process kill). Failure: an error value (kInternal, kCorrupt,
//   kIo ... from the backing store) and nothing changed; never an exception.
// - Keys are ordered bytewise (unsigned bytes, shorter prefix first), the
//   order of std::string's operator< and of SQLite BLOB comparison.
// - Count() is answered without loading the records.
// - ListAfter() returns at most `limit` records: a walk over every record
//   keeps one page in memory. The caller owns what is returned.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/result.h"

namespace tesseras::core {

struct PublishedRecord {
  std::string key;              // publish key (opaque bytes)
  std::vector<uint8_t> record;  // the encoded record
  int64_t expires_unix_ms = 0;  // the record's expiry, for the operator's eye and cleanup
  bool operator==(const PublishedRecord&) const = default;
};

class PublishedRecordStore {
 public:
  virtual ~PublishedRecordStore() = default;

  // Inserts, or replaces the record filed under `key`. kInvalidArgument for
  // an empty key.
  virtual Result<void> Put(const std::string& key, std::span<const uint8_t> record,
                           int64_t expires_unix_ms) = 0;

  // Replaces the record under `key` only if it is still `expected` (compare
  // and set): true if replaced; false, changing nothing, if the key is gone
  // or holds another record (a Put replaced it meanwhile).
  virtual Result<bool> Replace(const std::string& key, std::span<const uint8_t> expected,
                               std::span<const uint8_t> record, int64_t expires_unix_ms) = 0;

  // Removes the record under `key` only if it is still `expected`: true if
  // removed, false if the key is gone or holds another record.
  virtual Result<bool> Erase(const std::string& key, std::span<const uint8_t> expected) = 0;

  // How many records are filed, without loading them.
  virtual Result<uint64_t> Count() = 0;

  // At most `limit` records whose key follows `after` (exclusive; the empty
  // string means from the first), in key order. A page shorter than `limit`
  // is the last one.
  virtual Result<std::vector<PublishedRecord>> ListAfter(const std::string& after,
                                                         std::size_t limit) = 0;
};

}  // namespace tesseras::core
