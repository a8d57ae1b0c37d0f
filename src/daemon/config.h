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

namespace tesseras::daemon {

struct DhtConfig {
  uint32_t k = 20;                        // bucket size and replication width of records
  uint32_t alpha = 3;                     // parallel requests of an iterative lookup
  uint32_t max_failures = 3;              // failed requests before a contact is evicted
  uint64_t refresh_interval_secs = 3600;  // refresh of buckets not used for this long
  uint64_t record_ttl_secs = 86400;       // lifetime of a stored record
  uint32_t pow_bits = 8;                  // node id proof-of-work (ours and required of peers)

  bool operator==(const DhtConfig&) const = default;
};

struct NetworkConfig {
  uint64_t connect_timeout_ms = 5000;
  uint64_t handshake_timeout_ms = 5000;  // TLS handshake and hello exchange
  uint64_t request_timeout_ms = 10000;   // one request until its response
  uint64_t idle_timeout_ms = 60000;      // an unused connection is closed after this
  uint32_t max_connections = 256;
  uint32_t max_inflight_per_peer = 32;  // a peer's requests served at once

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

// The effective configuration as a TOML document that ParseConfig accepts,
// every key present, each preceded by a comment with its meaning and range.
std::string ConfigToToml(const DaemonConfig& config);

// kInvalidArgument, the message starting with `what` ("/etc/tesd.toml:
// api.http_listen", "--http-listen"), unless `http_listen` is empty or
// IP:PORT, and loopback (127.0.0.0/8, ::1) or `allow_remote`.
core::Result<void> ValidateHttpListen(std::string_view http_listen, bool allow_remote,
                                      std::string_view what);

}  // namespace tesseras::daemon
