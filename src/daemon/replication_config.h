// The [replication] section of the daemon's config file (docs/DAEMON.md lists
// every key with its range). Plain integers, as the file has them; the
// composition root (daemon/node.cc) maps them onto replication::ReplicationConfig
// and its maintenance policy.
#pragma once

#include <cstdint>

namespace tesseras::daemon {

struct ReplicationConfig {
  // Seconds between two background repair passes, and the random extra delay
  // added to each so that nodes started together do not repair in lock-step.
  uint64_t repair_interval_secs = 86400;
  uint64_t repair_jitter_secs = 7200;
  // Fragment transfers (in and out) running at once.
  uint32_t max_concurrent_transfers = 4;
  // Refuse to store fragments when the data dir's free space would fall below.
  uint64_t min_free_space_bytes = 1073741824;  // 1 GiB
  // How far below zero a peer's reciprocity balance may go before we refuse it.
  uint64_t deficit_allowance_bytes = 268435456;  // 256 MiB
  // Owners that have never stored anything for us get this allowance instead.
  uint64_t new_owner_allowance_bytes = 67108864;  // 64 MiB
  // Each fragment stored for others is charged at least this much.
  uint64_t min_fragment_charge_bytes = 65536;  // 64 KiB
  // Cap on the bytes we store for any one peer.
  uint64_t per_peer_limit_bytes = 1073741824;  // 1 GiB
  // Cap on the bytes we store for all others together (0: none).
  uint64_t max_bytes_for_others = 68719476736;  // 64 GiB
  // Bytes of incoming fragments being received (spooled) at once.
  uint64_t max_spool_bytes = 536870912;  // 512 MiB
  // At most this many holders of one tessera in one IPv4 /24 or IPv6 /48.
  uint32_t max_per_subnet = 2;
  // Distinct owners' plans kept here for one tessera hash.
  uint32_t max_plans_per_tessera = 4;
  // The maintenance policy (docs/REPLICATION.md, "Maintenance"): how long a
  // silent holder stays suspect before its copies count as lost (0 = eager);
  // the share of the parity that may be gone before a batch repair; the
  // surplus copies kept per fragment, in percent of the copies wanted; how
  // long a holder waits per rank before taking over; how often a holder
  // checks a tessera others audit; when a lost copy is no longer tracked; the
  // repair traffic allowed per day; how long a refusing peer is not chosen.
  uint64_t holder_grace_secs = 72 * 3600;
  // A suspect holder is asked again this often until it answers or its grace
  // ends (0: only the checks audit).
  uint64_t suspect_probe_secs = 6 * 3600;
  uint32_t repair_threshold_percent = 62;
  // Coded tiers repair only below the threshold (one batch per k fragments
  // fetched) instead of re-creating each fragment known lost at once.
  bool coded_repair_at_threshold = false;
  // A batch also rebuilds the suspects' fragments (to full redundancy in
  // proven copies); 0: only what is not counted.
  bool batch_rebuilds_suspects = true;
  uint32_t surplus_percent = 50;
  uint64_t takeover_delay_secs = 26 * 3600;
  uint64_t watch_interval_secs = 30 * 86400;
  uint64_t forget_lost_after_secs = 30 * 86400;
  // A rebuild that reached fewer than k holders keeps what it fetched this
  // long for the next attempt (0: nothing kept), in {data_dir}/gather, at most
  // gather_max_bytes for all tesseras together.
  uint64_t gather_keep_secs = 14 * 86400;
  uint64_t gather_max_bytes = 4ull << 30;
  uint64_t repair_bytes_per_day = 16ull << 30;
  uint64_t refusal_memory_secs = 6 * 3600;
  // A due maintenance check trusts a verification of our own copies this
  // recent (replication/config.h); 0 always re-hashes them.
  uint64_t trust_verified_secs = 7 * 86400;
  // The DHT's answers a due check may reuse (replication/record_cache.h):
  // their most age (0 turns the cache off), entries and bytes.
  uint64_t record_cache_secs = 3600;
  uint64_t record_cache_entries = 4096;
  uint64_t record_cache_bytes = 16ull << 20;
  // Bytes the background scrub re-reads per day to re-verify what is held
  // (storage::kDefaultScrubBytesPerDay); 0 turns it off.
  uint64_t scrub_bytes_per_day = 34359738368;  // 32 GiB

  bool operator==(const ReplicationConfig&) const = default;
};

}  // namespace tesseras::daemon
