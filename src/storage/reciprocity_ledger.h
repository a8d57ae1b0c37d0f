// SqliteReciprocityLedger: core::ReciprocityLedger in the node database
// (tables `reciprocity` and `reciprocity_entries`, migration 002).
//
// `reciprocity` has one row per peer with both byte totals and `balance` as a
// generated column (they-store-for-us minus we-store-for-them). Every change is
// one UPSERT (an atomic increment) in the same transaction as the per-fragment
// row in `reciprocity_entries`, whose primary key (peer, direction, tessera,
// index) makes recording idempotent and lets Forget un-count exactly what was
// counted.
//
// Durability: synchronous=NORMAL. A power cut may lose the last few records;
// the ledger is local bookkeeping and nothing is acknowledged to a peer on the
// strength of it, so that is acceptable.
//
// Threading: blocking and thread-safe (the Database lock); run it on a worker
// thread, never on the network thread.
#pragma once

#include <memory>
#include <span>

#include "core/ports/clock.h"
#include "core/ports/reciprocity_ledger.h"
#include "storage/database.h"

namespace tesseras::storage {

struct LedgerRecord {
  core::NodeId peer;
  core::LedgerDirection direction = core::LedgerDirection::kWeStoreForThem;
  core::ContentHash tessera;
  uint32_t index = 0;
  uint64_t bytes = 0;
};

class SqliteReciprocityLedger final : public core::ReciprocityLedger {
 public:
  // `db` must have the schema of migration 002 or later. System clock if null.
  explicit SqliteReciprocityLedger(std::shared_ptr<Database> db,
                                   std::shared_ptr<const core::Clock> clock = nullptr);

  core::Result<bool> Record(const core::NodeId& peer, core::LedgerDirection direction,
                            const core::ContentHash& tessera, uint32_t index,
                            uint64_t bytes) override;
  core::Result<bool> Forget(const core::NodeId& peer, core::LedgerDirection direction,
                            const core::ContentHash& tessera, uint32_t index) override;
  core::Result<core::LedgerEntry> Balance(const core::NodeId& peer) override;
  core::Result<std::vector<core::LedgerEntry>> BestPeers(std::size_t n) override;
  core::Result<std::vector<core::LedgerEntry>> All() override;

  // Records many fragments in one transaction (all or nothing). Returns how many
  // of them changed the totals (the others were already recorded).
  core::Result<std::size_t> RecordBatch(std::span<const LedgerRecord> records);

 private:
  // Requires the database lock and an open transaction.
  core::Result<bool> RecordLocked(const LedgerRecord& r, int64_t now);

  std::shared_ptr<Database> db_;
  std::shared_ptr<const core::Clock> clock_;
};

}  // namespace tesseras::storage
