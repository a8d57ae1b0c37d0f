// Settings of the replication layer, read from the [replication] section of the
// daemon's config file (docs/DAEMON.md lists every key with its range).
//
// It lives in the daemon until the replication layer (issue 5) owns it; it has
// no dependency beyond the standard library so it can move to
// replication/config.h unchanged.
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
  // Cap on the bytes we store for any one peer.
  uint64_t per_peer_limit_bytes = 1073741824;  // 1 GiB
  // At most this many holders of one tessera in one IPv4 /24 or IPv6 /48.
  uint32_t max_per_subnet = 2;
  // Bytes the background scrub re-reads per day to re-verify what is held
  // (storage::kDefaultScrubBytesPerDay); 0 turns it off.
  uint64_t scrub_bytes_per_day = 34359738368;  // 32 GiB

  bool operator==(const ReplicationConfig&) const = default;
};

}  // namespace tesseras::daemon
