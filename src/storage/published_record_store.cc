#include "storage/published_record_store.h"

#include <algorithm>
#include <cstdint>

namespace tesseras::storage {

using core::ErrorCode;
using core::MakeError;
using core::Result;

namespace {

std::span<const uint8_t> KeyBytes(const std::string& key) {
  return {reinterpret_cast<const uint8_t*>(key.data()), key.size()};
}

}  // namespace

Result<void> SqlitePublishedRecordStore::Put(const std::string& key,
                                             std::span<const uint8_t> record,
                                             int64_t expires_unix_ms) {
  if (key.empty()) return MakeError(ErrorCode::kInvalidArgument, "empty publish key");
  auto lock = db_->Lock();
  // An upsert, not INSERT OR REPLACE: a replacement fires no delete trigger,
  // so published_count stays the number of rows.
  ASSIGN_OR_RETURN(auto s, db_->Cached("INSERT INTO published_records (publish_key, record, "
                                       "expires_unix_ms) VALUES (?, ?, ?) ON CONFLICT "
                                       "(publish_key) DO UPDATE SET record = excluded.record, "
                                       "expires_unix_ms = excluded.expires_unix_ms"));
  s->Bind(1, KeyBytes(key)).Bind(2, record).Bind(3, expires_unix_ms);
  return s->Run();
}

Result<bool> SqlitePublishedRecordStore::Replace(const std::string& key,
                                                 std::span<const uint8_t> expected,
                                                 std::span<const uint8_t> record,
                                                 int64_t expires_unix_ms) {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(auto s, db_->Cached("UPDATE published_records SET record = ?, "
                                       "expires_unix_ms = ? WHERE publish_key = ? AND record = ?"));
  s->Bind(1, record).Bind(2, expires_unix_ms).Bind(3, KeyBytes(key)).Bind(4, expected);
  TRY(s->Run());
  return db_->Changes() > 0;
}

Result<bool> SqlitePublishedRecordStore::Erase(const std::string& key,
                                               std::span<const uint8_t> expected) {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(auto s, db_->Cached("DELETE FROM published_records WHERE publish_key = ? AND "
                                       "record = ?"));
  s->Bind(1, KeyBytes(key)).Bind(2, expected);
  TRY(s->Run());
  return db_->Changes() > 0;
}

Result<uint64_t> SqlitePublishedRecordStore::Count() {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(auto s, db_->Cached("SELECT n FROM published_count WHERE id = 1"));
  if (!TRY(s->Step())) return MakeError(ErrorCode::kCorrupt, "database: published_count is empty");
  const int64_t n = s->ColumnInt64(0);
  if (n < 0) return MakeError(ErrorCode::kCorrupt, "database: published_count is negative");
  return static_cast<uint64_t>(n);
}

Result<std::vector<core::PublishedRecord>> SqlitePublishedRecordStore::ListAfter(
    const std::string& after, std::size_t limit) {
  auto lock = db_->Lock();
  // A search of the primary key from a lower bound; the empty blob is below
  // every key (keys are never empty).
  ASSIGN_OR_RETURN(auto s, db_->Cached("SELECT publish_key, record, expires_unix_ms FROM "
                                       "published_records WHERE publish_key > ? ORDER BY "
                                       "publish_key LIMIT ?"));
  s->Bind(1, KeyBytes(after))
      .Bind(2, static_cast<int64_t>(std::min<std::size_t>(limit, INT64_MAX)));
  std::vector<core::PublishedRecord> out;
  while (TRY(s->Step())) {
    core::PublishedRecord r;
    auto key = s->ColumnBlob(0);
    r.key.assign(key.begin(), key.end());
    auto rec = s->ColumnBlob(1);
    r.record.assign(rec.begin(), rec.end());
    r.expires_unix_ms = s->ColumnInt64(2);
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace tesseras::storage
