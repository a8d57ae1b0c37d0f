// Replication settings; every value can be set from the daemon's config file
// ([replication] section, docs/DAEMON.md). Intervals go down to seconds for tests.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>

#include "replication/maintenance_policy.h"
#include "replication/record_cache.h"

namespace tesseras::replication {

struct ReplicationConfig {
  uint64_t repair_interval_secs = 86400;  // 24 h between repair passes
  uint64_t repair_jitter_secs = 7200;     // plus uniform random jitter up to 2 h
  uint32_t max_concurrent_transfers = 4;
  uint64_t min_free_space_bytes = 1ull << 30;       // enforced by the fragment store
  uint64_t deficit_allowance_bytes = 256ull << 20;  // refuse owners deeper in deficit
  // ... and owners that have never stored anything for us get this much.
  uint64_t new_owner_allowance_bytes = 64ull << 20;
  // Each fragment stored for others is charged at least this much (files,
  // rows and fsyncs cost the same for one byte as for 64 KiB).
  uint64_t min_fragment_charge_bytes = 64ull << 10;
  uint64_t per_peer_limit_bytes = 1ull << 30;  // most we store for one peer
  // Most we store for all others together (charged bytes, as the ledger
  // counts them); 0: no cap beyond min_free_space_bytes.
  uint64_t max_bytes_for_others = 64ull << 30;
  uint32_t max_per_subnet = 2;  // holders per /24 or /48
  // Distinct owners' plans kept here for one tessera hash (docs/SECURITY.md,
  // "Claims never exclude each other"); a fragment of one more is refused
  // (`plans_per_tessera`).
  uint32_t max_plans_per_tessera = 4;
  // Leaves per fragment per attestation. Requester and holder must agree
  // (AttestRequest does not carry it), so tesd keeps the protocol's 2; tests
  // change it on every node at once.
  int audit_samples = 2;
  // Grace, thresholds, takeover, the repair budget (maintenance_policy.h).
  MaintenancePolicyConfig policy;
  // A peer that refused a fragment (no space, deficit, ...) is not chosen as a
  // target again for this long, unless it accepts one in the meantime.
  uint64_t refusal_memory_secs = 6 * 3600;
  // A due (not forced) maintenance check takes our own copy of a fragment as
  // held, checking only that its file is there with its size, when it was
  // verified (by the scrub, `tes verify`, a forced check) less than this ago;
  // otherwise, and in a forced check, it re-hashes it. 0: always re-hash.
  uint64_t trust_verified_secs = 7 * 86400;
  // The DHT's answers kept for due checks (record_cache.h): at most an hour,
  // and never past the first expiry among an answer's records.
  RecordCacheLimits record_cache;
  // Tesseras with a probe of a suspect holder pending, kept in memory
  // (ReplicationService::ProbeSuspects); a check beyond the cap notes none,
  // and its suspects wait for the next check. ~100 bytes each.
  std::size_t max_probe_entries = 65536;
  // Where fragments are staged while encoding, fetching and rebuilding.
  std::filesystem::path scratch_dir;
  // Where a rebuild that reached fewer than k holders keeps the fragments it
  // fetched for the next attempt (policy.gather_keep_ms says how long; it
  // outlives a restart, unlike scratch_dir); empty: scratch_dir / "gather".
  std::filesystem::path gather_dir;
  // Most bytes kept there for all tesseras together, measured after an
  // attempt: one that would leave more keeps none of what it fetched (what
  // earlier attempts kept stays).
  uint64_t gather_max_bytes = 4ull << 30;
};

}  // namespace tesseras::replication
