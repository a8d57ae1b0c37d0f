// ReciprocityLedger port: a bilateral, local account of storage exchanged with
// each peer. balance = bytes they store for us - bytes we store for them; a peer
// with a high balance has been generous and is preferred; one far below zero is
// refused.
//
// Contract
// - Blocking; call from a worker thread. Thread-safe.
// - Idempotent per (peer, tessera, fragment index, direction): recording the same
//   fragment twice counts it once; Forget un-counts it.
#pragma once

#include <string>
#include <vector>

#include "core/fragment.h"

namespace tesseras::core {

enum class LedgerDirection : uint8_t {
  kWeStoreForThem = 0,  // we hold a fragment the peer owns
  kTheyStoreForUs = 1,  // the peer holds a fragment we own
};

// Default cap on the bytes we store for any one peer.
inline constexpr uint64_t kDefaultPerPeerStorageLimit = 1024ull * 1024 * 1024;  // 1 GiB

struct LedgerEntry {
  NodeId peer;
  uint64_t bytes_stored_for_them = 0;
  uint64_t bytes_they_store_for_us = 0;
  int64_t balance = 0;
};

class ReciprocityLedger {
 public:
  virtual ~ReciprocityLedger() = default;

  // Counts `bytes` for this fragment unless already counted. Returns true if it
  // changed the totals, false if it was already recorded.
  virtual Result<bool> Record(const NodeId& peer, LedgerDirection direction,
                              const ContentHash& tessera, uint32_t index, uint64_t bytes) = 0;

  // Un-counts a fragment (deleted or lost). Returns false if it was not counted.
  virtual Result<bool> Forget(const NodeId& peer, LedgerDirection direction,
                              const ContentHash& tessera, uint32_t index) = 0;

  // Totals for one peer; a peer never seen has all zeros.
  virtual Result<LedgerEntry> Balance(const NodeId& peer) = 0;

  // The n peers with the highest balance, best first (ties by peer id).
  virtual Result<std::vector<LedgerEntry>> BestPeers(std::size_t n) = 0;

  // Every peer, ordered by peer id.
  virtual Result<std::vector<LedgerEntry>> All() = 0;

  // Ok if storing `extra_bytes` more for `peer` keeps what we store for it within
  // `limit`; kResourceExhausted naming both numbers otherwise. Same threading as
  // Balance().
  Result<void> CheckPeerLimit(const NodeId& peer, uint64_t extra_bytes,
                              uint64_t limit = kDefaultPerPeerStorageLimit) {
    auto entry = Balance(peer);
    if (!entry.ok()) return std::move(entry).error();
    uint64_t stored = entry->bytes_stored_for_them;
    if (stored > limit || extra_bytes > limit - stored) {
      return MakeError(ErrorCode::kResourceExhausted,
                       "peer " + peer.Short() + " already has " + std::to_string(stored) +
                           " bytes stored here; " + std::to_string(extra_bytes) +
                           " more would exceed the per-peer limit of " + std::to_string(limit) +
                           " bytes");
    }
    return Ok();
  }
};

}  // namespace tesseras::core
