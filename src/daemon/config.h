// The daemon's configuration file (TOML). Every key is optional; a missing key
// keeps its default. Unknown sections or keys, values of the wrong type and
// values out of range are errors that name the key and the file.
//
//   [replication]   ReplicationConfig (daemon/replication_config.h)
//   [dht]           DhtConfig
//   [network]       NetworkConfig
//   [api]           ApiConfig (the dashboard's HTTP listener)
//
// docs/DAEMON.md is the reference; ConfigKeys() is the single list of the
// integer keys that the parser, the printer and the tests use. The [api]
// section holds a string and a boolean and is read by its own code below.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "daemon/replication_config.h"

namespace tesseras::dht {
struct NodeConfig;
}

namespace tesseras::daemon {

// [dht]. The defaults are dht::NodeConfig's; docs/SECURITY.md says why.
struct DhtConfig {
  uint32_t k = 20;                       // bucket size and replication width of records
  uint32_t alpha = 3;                    // parallel requests of an iterative lookup
  uint32_t max_failures = 3;             // failed requests before a contact is evicted
  uint64_t refresh_interval_secs = 900;  // refresh of buckets not used for this long
  uint64_t record_ttl_secs = 86400;      // lifetime of a stored record
  uint32_t pow_bits = 8;                 // node id proof-of-work (ours and required of peers)
  // Lookups.
  uint64_t lookup_timeout_ms = 30000;             // a whole lookup, sub-lookups included
  uint32_t lookup_max_per_subnet = 2;             // candidates of one /24 (/48) in a lookup
  uint32_t lookup_max_unverified_per_source = 8;  // unanswered candidates one responder /24 adds
  // The record store.
  uint32_t store_slack = 10;  // store for keys we are among the k + slack closest to
  uint64_t max_records = 100000;
  uint64_t max_record_bytes = 128ull << 20;
  uint32_t max_holder_records_per_key = 16;
  uint32_t max_claims_per_key = 160;
  uint32_t max_records_per_key_per_subnet = 8;
  uint64_t max_records_per_subnet = 20000;
  // Serving peers' transfers and disk reads.
  uint32_t max_inbound_transfers = 16;
  uint32_t max_inbound_transfers_per_peer = 4;
  uint32_t max_outbound_transfers = 16;
  uint32_t max_outbound_transfers_per_peer = 4;
  uint32_t max_disk_requests = 4;
  uint32_t max_disk_requests_per_peer = 2;
  uint64_t serve_slot_wait_ms = 5000;  // a request waits this long for a slot, then is refused
  uint64_t read_rate_per_peer_bytes = 64ull << 20;  // bursts: 16 s of each rate
  uint64_t read_rate_per_subnet_bytes = 128ull << 20;
  uint64_t read_rate_bytes = 256ull << 20;
  uint64_t refusal_log_interval_secs = 60;

  bool operator==(const DhtConfig&) const = default;
};

// [network]. The defaults are net::Limits'; docs/SECURITY.md says why.
struct NetworkConfig {
  uint64_t connect_timeout_ms = 5000;
  uint64_t handshake_timeout_ms = 5000;  // TLS handshake and hello exchange
  uint64_t request_timeout_ms = 10000;   // one request until its response
  uint64_t idle_timeout_ms = 60000;      // an unused connection is closed after this
  uint32_t max_connections = 256;
  uint32_t max_inflight_per_peer = 32;  // a peer's requests served at once
  uint32_t max_connections_per_ip = 8;
  uint32_t max_connections_per_subnet = 32;
  uint32_t max_connections_per_node = 2;
  uint32_t max_handshakes = 64;
  uint32_t max_handshakes_per_ip = 4;
  uint32_t max_handshakes_per_subnet = 16;
  uint64_t min_transfer_rate_bytes = 16 * 1024;  // 0: no minimum
  uint64_t transfer_grace_ms = 10000;
  uint64_t max_buffer_bytes = 256ull << 20;
  uint32_t contact_scope = 0;  // 0 auto, 1 public, 2 private and public, 3 any (net::ContactScope)

  bool operator==(const NetworkConfig&) const = default;
};

// [api]: the local HTTP listener (dashboard, /v1 with a token, /metrics).
inline constexpr std::string_view kDefaultHttpListen = "127.0.0.1:7780";
struct ApiConfig {
  // IP:PORT, port 0 picks a free one; empty disables the listener.
  std::string http_listen = std::string(kDefaultHttpListen);
  // A non-loopback http_listen is refused unless this is true.
  bool allow_remote = false;

  bool operator==(const ApiConfig&) const = default;
};

struct DaemonConfig {
  ReplicationConfig replication;
  DhtConfig dht;
  NetworkConfig network;
  ApiConfig api;

  bool operator==(const DaemonConfig&) const = default;
};

// One integer key of the file. All keys are integers today.
struct ConfigKey {
  std::string_view section;  // "replication", "dht", "network"
  std::string_view name;     // "repair_interval_secs"
  int64_t min;
  int64_t max;
  std::string_view help;  // one line, for --print-config and the docs
  int64_t (*get)(const DaemonConfig&);
  void (*set)(DaemonConfig&, int64_t);
};

// Every key, in file order.
const std::vector<ConfigKey>& ConfigKeys();

// Parses TOML text. `source` names the file in errors ("/etc/tesd.toml").
// kInvalidArgument for syntax errors, unknown sections/keys, wrong types and
// out-of-range values, each naming the key, the source and the line.
core::Result<DaemonConfig> ParseConfig(std::string_view toml_text, std::string_view source);

// Reads and parses a file. kNotFound if it does not exist, kIo if unreadable.
core::Result<DaemonConfig> LoadConfigFile(const std::filesystem::path& path);

// Checks ranges and the relations between keys (repair_jitter_secs <=
// repair_interval_secs, alpha <= k, a non-loopback api.http_listen only with
// api.allow_remote). ParseConfig calls it.
core::Result<void> ValidateConfig(const DaemonConfig& config, std::string_view source);

// Sets every field of `out` that the [dht] and [network] sections configure
// (timeouts, budgets, caps, scope); addresses, seeds and metrics are the
// caller's.
void ApplyNetworkConfig(const DaemonConfig& config, dht::NodeConfig* out);

// The effective configuration as a TOML document that ParseConfig accepts,
// every key present, each preceded by a comment with its meaning and range.
std::string ConfigToToml(const DaemonConfig& config);

// kInvalidArgument, the message starting with `what` ("/etc/tesd.toml:
// api.http_listen", "--http-listen"), unless `http_listen` is empty or
// IP:PORT, and loopback (127.0.0.0/8, ::1) or `allow_remote`.
core::Result<void> ValidateHttpListen(std::string_view http_listen, bool allow_remote,
                                      std::string_view what);

}  // namespace tesseras::daemon
