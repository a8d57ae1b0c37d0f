// SqlitePublishedRecordStore: core::PublishedRecordStore in the node's
// database (tables published_records and published_count of migration 009).
// Blocking and thread-safe; call it from a worker thread.
#pragma once

#include <memory>

#include "core/ports/published_record_store.h"
#include "storage/database.h"

namespace tesseras::storage {

class SqlitePublishedRecordStore final : public core::PublishedRecordStore {
 public:
  explicit SqlitePublishedRecordStore(std::shared_ptr<Database> db) : db_(std::move(db)) {}

  core::Result<void> Put(const std::string& key, std::span<const uint8_t> record,
                         int64_t expires_unix_ms) override;
  core::Result<bool> Replace(const std::string& key, std::span<const uint8_t> expected,
                             std::span<const uint8_t> record, int64_t expires_unix_ms) override;
  core::Result<bool> Erase(const std::string& key, std::span<const uint8_t> expected) override;
  core::Result<uint64_t> Count() override;
  core::Result<std::vector<core::PublishedRecord>> ListAfter(const std::string& after,
                                                             std::size_t limit) override;

 private:
  std::shared_ptr<Database> db_;
};

}  // namespace tesseras::storage
