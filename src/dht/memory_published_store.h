// MemoryPublishedRecordStore: core::PublishedRecordStore in a map, for tests,
// the simulator and a dht::Node built without a store (NodeConfig::published).
// It holds every record in memory, so a daemon injects the SQLite store
// (storage::SqlitePublishedRecordStore) instead. Thread-safe.
#pragma once

#include <algorithm>
#include <map>
#include <mutex>

#include "core/ports/published_record_store.h"

namespace tesseras::dht {

class MemoryPublishedRecordStore final : public core::PublishedRecordStore {
 public:
  core::Result<void> Put(const std::string& key, std::span<const uint8_t> record,
                         int64_t expires_unix_ms) override {
    if (key.empty()) return core::MakeError(core::ErrorCode::kInvalidArgument, "empty publish key");
    std::lock_guard lock(mu_);
    records_[key] = {key, std::vector<uint8_t>(record.begin(), record.end()), expires_unix_ms};
    return core::Ok();
  }
  core::Result<bool> Replace(const std::string& key, std::span<const uint8_t> expected,
                             std::span<const uint8_t> record, int64_t expires_unix_ms) override {
    std::lock_guard lock(mu_);
    auto it = records_.find(key);
    if (it == records_.end() || !Same(it->second.record, expected)) return false;
    it->second.record.assign(record.begin(), record.end());
    it->second.expires_unix_ms = expires_unix_ms;
    return true;
  }
  core::Result<bool> Erase(const std::string& key, std::span<const uint8_t> expected) override {
    std::lock_guard lock(mu_);
    auto it = records_.find(key);
    if (it == records_.end() || !Same(it->second.record, expected)) return false;
    records_.erase(it);
    return true;
  }
  core::Result<uint64_t> Count() override {
    std::lock_guard lock(mu_);
    return static_cast<uint64_t>(records_.size());
  }
  core::Result<std::vector<core::PublishedRecord>> ListAfter(const std::string& after,
                                                             std::size_t limit) override {
    std::lock_guard lock(mu_);
    std::vector<core::PublishedRecord> out;
    for (auto it = records_.upper_bound(after); it != records_.end() && out.size() < limit; ++it) {
      out.push_back(it->second);
    }
    return out;
  }

 private:
  static bool Same(const std::vector<uint8_t>& a, std::span<const uint8_t> b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end());
  }
  std::mutex mu_;
  std::map<std::string, core::PublishedRecord> records_;
};

}  // namespace tesseras::dht
