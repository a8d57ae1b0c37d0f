#include "daemon/config.h"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <fstream>
#include <limits>
#include <sstream>
#include <system_error>

#include "daemon/address.h"
#include "dht/node.h"

namespace tesseras::daemon {
namespace {

constexpr int64_t kMaxInt = std::numeric_limits<int64_t>::max();
constexpr int64_t kYearSecs = 365 * 86400;
constexpr int64_t kHourMs = 3600 * 1000;
constexpr int64_t kDayMs = 24 * kHourMs;

// Declares one key: its section member, name, range and help line.
#define TESSERAS_CONFIG_KEY(sec, key, lo, hi, help_text)                                \
  ConfigKey {                                                                           \
#sec, #key, lo, hi, help_text,                                                        \
        [](const DaemonConfig& c) -> int64_t { return static_cast<int64_t>(c.sec.key); }, \
        [](DaemonConfig& c, int64_t v) { c.sec.key = static_cast<decltype(c.sec.key)>(v); } \
  }

std::vector<ConfigKey> BuildKeys() {
  return {
      TESSERAS_CONFIG_KEY(replication, repair_interval_secs, 1, kYearSecs,
                          "seconds between background repair passes"),
      TESSERAS_CONFIG_KEY(replication, repair_jitter_secs, 0, kYearSecs,
                          "random extra delay before each pass, at most repair_interval_secs"),
      TESSERAS_CONFIG_KEY(replication, max_concurrent_transfers, 1, 256,
                          "fragment transfers running at once"),
      TESSERAS_CONFIG_KEY(replication, min_free_space_bytes, 0, kMaxInt,
                          "refuse fragments when free space in the data dir would fall below"),
      TESSERAS_CONFIG_KEY(replication, deficit_allowance_bytes, 0, kMaxInt,
                          "how far below zero a peer's reciprocity balance may go"),
      TESSERAS_CONFIG_KEY(replication, per_peer_limit_bytes, 0, kMaxInt,
                          "most bytes stored here for any one peer"),
      TESSERAS_CONFIG_KEY(replication, max_bytes_for_others, 0, kMaxInt,
                          "most bytes stored here for all others together (0: no cap)"),
      TESSERAS_CONFIG_KEY(replication, max_spool_bytes, 1, kMaxInt,
                          "bytes of incoming fragments received (spooled) at once"),
      TESSERAS_CONFIG_KEY(replication, new_owner_allowance_bytes, 0, kMaxInt,
                          "the deficit allowance of owners that never stored anything for us"),
      TESSERAS_CONFIG_KEY(replication, min_fragment_charge_bytes, 0, 1 << 30,
                          "each fragment stored for others is charged at least this much"),
      TESSERAS_CONFIG_KEY(replication, max_per_subnet, 1, 255,
                          "most holders of one tessera in one IPv4 /24 or IPv6 /48"),
      TESSERAS_CONFIG_KEY(replication, max_plans_per_tessera, 1, 255,
                          "distinct owners' plans kept here for one tessera hash"),
      TESSERAS_CONFIG_KEY(replication, holder_grace_secs, 0, 10 * kYearSecs,
                          "a silent holder is suspect this long before its copies count as lost "
                          "(0: at once)"),
      TESSERAS_CONFIG_KEY(replication, suspect_probe_secs, 0, 10 * kYearSecs,
                          "a suspect holder is asked again this often until it answers or its "
                          "grace ends (0: no probes)"),
      TESSERAS_CONFIG_KEY(replication, repair_threshold_percent, 0, 100,
                          "batch repair when more than this share of the parity is not counted"),
      TESSERAS_CONFIG_KEY(
          replication, coded_repair_at_threshold, 0, 1,
          "1: without the payload, coded tiers are repaired only in the threshold's batch"),
      TESSERAS_CONFIG_KEY(replication, batch_rebuilds_suspects, 0, 1,
                          "1: a batch also rebuilds the fragments of suspect holders"),
      TESSERAS_CONFIG_KEY(replication, surplus_percent, 0, 1000,
                          "extra copies kept per fragment, in percent of the copies wanted"),
      TESSERAS_CONFIG_KEY(replication, takeover_delay_secs, 0, kYearSecs,
                          "a holder of maintainer rank r repairs after r times this"),
      TESSERAS_CONFIG_KEY(replication, watch_interval_secs, 1, 10 * kYearSecs,
                          "a holder checks a tessera others audit at least this often"),
      TESSERAS_CONFIG_KEY(replication, forget_lost_after_secs, 0, 10 * kYearSecs,
                          "stop tracking a copy lost this long ago"),
      TESSERAS_CONFIG_KEY(replication, gather_keep_secs, 0, 10 * kYearSecs,
                          "a rebuild short of k fragments keeps what it fetched this long "
                          "(0: nothing kept)"),
      TESSERAS_CONFIG_KEY(replication, gather_max_bytes, 0, kMaxInt,
                          "most bytes kept by rebuilds short of k fragments, all together"),
      TESSERAS_CONFIG_KEY(replication, repair_bytes_per_day, 1, kMaxInt,
                          "repair traffic (fetched + sent) allowed per rolling day"),
      TESSERAS_CONFIG_KEY(replication, refusal_memory_secs, 0, kYearSecs,
                          "a peer that refused a fragment is not chosen again for this long"),
      TESSERAS_CONFIG_KEY(replication, trust_verified_secs, 0, kYearSecs,
                          "a due check re-hashes our own copies verified longer ago than this"),
      TESSERAS_CONFIG_KEY(replication, record_cache_secs, 0, 86400,
                          "a due check reuses a DHT answer this recent (0: never)"),
      TESSERAS_CONFIG_KEY(replication, record_cache_entries, 0, 1 << 20,
                          "DHT answers kept for due checks at most"),
      TESSERAS_CONFIG_KEY(replication, record_cache_bytes, 0, 1 << 30,
                          "bytes of DHT answers kept for due checks at most"),
      TESSERAS_CONFIG_KEY(replication, scrub_bytes_per_day, 0, kMaxInt,
                          "bytes re-read per day to re-verify what is held; 0 turns it off"),
      TESSERAS_CONFIG_KEY(dht, k, 1, 256, "bucket size and number of nodes storing a record"),
      TESSERAS_CONFIG_KEY(dht, alpha, 1, 32, "parallel requests of a lookup, at most k"),
      TESSERAS_CONFIG_KEY(dht, max_failures, 1, 100,
                          "failed requests in a row before a contact is dropped"),
      TESSERAS_CONFIG_KEY(dht, refresh_interval_secs, 1, kYearSecs,
                          "refresh a bucket not used for this many seconds"),
      TESSERAS_CONFIG_KEY(dht, record_ttl_secs, 1, kYearSecs, "lifetime of a stored record"),
      TESSERAS_CONFIG_KEY(dht, pow_bits, 0, 24,
                          "node id proof-of-work bits: minted for our key, required of peers"),
      TESSERAS_CONFIG_KEY(dht, lookup_timeout_ms, 1, kHourMs,
                          "a whole lookup stops and returns what answered after this long"),
      TESSERAS_CONFIG_KEY(dht, lookup_max_per_subnet, 1, 256,
                          "candidates of one /24 (/48) a lookup considers and returns"),
      TESSERAS_CONFIG_KEY(dht, lookup_max_unverified_per_source, 1, 256,
                          "unanswered lookup candidates one responder /24 (/48) may add"),
      TESSERAS_CONFIG_KEY(dht, store_slack, 0, 4096,
                          "store records for keys we are among the k + slack closest to"),
      TESSERAS_CONFIG_KEY(dht, max_records, 1, 100'000'000, "records stored for others at most"),
      TESSERAS_CONFIG_KEY(dht, max_record_bytes, 1, kMaxInt,
                          "bytes of records stored for others at most"),
      TESSERAS_CONFIG_KEY(dht, max_holder_records_per_key, 1, 4096,
                          "owner-signed holder records kept per key"),
      TESSERAS_CONFIG_KEY(dht, max_claims_per_key, 1, 4096, "holder claims kept per key"),
      TESSERAS_CONFIG_KEY(dht, max_records_per_key_per_subnet, 1, 4096,
                          "records of one key stored from one /24 (/48)"),
      TESSERAS_CONFIG_KEY(dht, max_records_per_subnet, 1, 100'000'000,
                          "records stored from one /24 (/48) in all"),
      TESSERAS_CONFIG_KEY(dht, max_inbound_transfers, 1, 65536, "fragments received at once"),
      TESSERAS_CONFIG_KEY(dht, max_inbound_transfers_per_peer, 1, 65536,
                          "fragments received at once from one node id or IP"),
      TESSERAS_CONFIG_KEY(dht, max_outbound_transfers, 1, 65536, "fragments sent to peers at once"),
      TESSERAS_CONFIG_KEY(dht, max_outbound_transfers_per_peer, 1, 65536,
                          "fragments sent at once to one node id or IP"),
      TESSERAS_CONFIG_KEY(dht, max_disk_requests, 1, 4096,
                          "attestations and fetch opens reading disk at once"),
      TESSERAS_CONFIG_KEY(dht, max_disk_requests_per_peer, 1, 4096,
                          "of those, for one node id or IP"),
      TESSERAS_CONFIG_KEY(dht, serve_slot_wait_ms, 0, kHourMs,
                          "a transfer or disk request waits this long for a slot, then is refused"),
      TESSERAS_CONFIG_KEY(dht, read_rate_per_peer_bytes, 1, kMaxInt,
                          "bytes per second read from disk for one node or IP (burst: 16 s)"),
      TESSERAS_CONFIG_KEY(dht, read_rate_per_subnet_bytes, 1, kMaxInt,
                          "bytes per second read from disk for one /24 (/48) (burst: 16 s)"),
      TESSERAS_CONFIG_KEY(dht, read_rate_bytes, 1, kMaxInt,
                          "bytes per second read from disk for all peers (burst: 16 s)"),
      TESSERAS_CONFIG_KEY(dht, refusal_log_interval_secs, 1, kYearSecs,
                          "a refusal is logged once per peer and reason per interval"),
      TESSERAS_CONFIG_KEY(network, connect_timeout_ms, 1, kHourMs, "TCP connect timeout"),
      TESSERAS_CONFIG_KEY(network, handshake_timeout_ms, 1, kHourMs,
                          "TLS handshake and hello exchange timeout"),
      TESSERAS_CONFIG_KEY(network, request_timeout_ms, 1, kHourMs,
                          "one request until its response"),
      TESSERAS_CONFIG_KEY(network, idle_timeout_ms, 1, kDayMs,
                          "close a connection unused for this long"),
      TESSERAS_CONFIG_KEY(network, max_connections, 1, 65536, "open peer connections at most"),
      TESSERAS_CONFIG_KEY(network, max_inflight_per_peer, 1, 4096,
                          "requests of one peer served at once"),
      TESSERAS_CONFIG_KEY(network, max_connections_per_ip, 1, 65536,
                          "inbound connections from one IP at most"),
      TESSERAS_CONFIG_KEY(network, max_connections_per_subnet, 1, 65536,
                          "inbound connections from one /24 (/48) at most"),
      TESSERAS_CONFIG_KEY(network, max_connections_per_node, 1, 64,
                          "connections with one node id at most"),
      TESSERAS_CONFIG_KEY(network, max_handshakes, 1, 65536,
                          "inbound handshakes in flight at most (apart from connections)"),
      TESSERAS_CONFIG_KEY(network, max_handshakes_per_ip, 1, 65536,
                          "inbound handshakes in flight from one IP at most"),
      TESSERAS_CONFIG_KEY(network, max_handshakes_per_subnet, 1, 65536,
                          "inbound handshakes in flight from one /24 (/48) at most"),
      TESSERAS_CONFIG_KEY(network, min_transfer_rate_bytes, 0, kMaxInt,
                          "bytes per second a fragment transfer must keep after the grace; 0 off"),
      TESSERAS_CONFIG_KEY(network, transfer_grace_ms, 0, kHourMs,
                          "waiting on a peer a transfer may take before the minimum rate applies"),
      TESSERAS_CONFIG_KEY(network, max_buffer_bytes, 1 << 20, kMaxInt,
                          "transfer windows, chunks and queued frames of all connections at most"),
      TESSERAS_CONFIG_KEY(network, contact_scope, 0, 3,
                          "addresses we dial: 0 auto, 1 public, 2 private+public, 3 any"),
  };
}

#undef TESSERAS_CONFIG_KEY

core::Error ConfigError(std::string_view source, const toml::source_region& where,
                        std::string_view what) {
  std::string message(source);
  if (where.begin.line > 0) message += fmt::format(":{}", where.begin.line);
  message += ": ";
  message += what;
  return core::MakeError(core::ErrorCode::kInvalidArgument, std::move(message));
}

std::string_view TypeName(toml::node_type type) {
  switch (type) {
    case toml::node_type::none:
      return "nothing";
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
  }
  return "an unknown type";
}

const ConfigKey* FindKey(std::string_view section, std::string_view name) {
  for (const ConfigKey& key : ConfigKeys()) {
    if (key.section == section && key.name == name) return &key;
  }
  return nullptr;
}

constexpr std::string_view kApiSection = "api";

bool HasSection(std::string_view section) {
  if (section == kApiSection) return true;
  for (const ConfigKey& key : ConfigKeys()) {
    if (key.section == section) return true;
  }
  return false;
}

std::string KnownSections() {
  std::string out;
  std::string_view last;
  for (const ConfigKey& key : ConfigKeys()) {
    if (key.section == last) continue;
    if (!out.empty()) out += ", ";
    out += fmt::format("[{}]", key.section);
    last = key.section;
  }
  return out + fmt::format(", [{}]", kApiSection);
}

// [api]: http_listen (a string) and allow_remote (a boolean).
core::Result<void> ApplyApiTable(const toml::table& table, std::string_view source,
                                 DaemonConfig& config) {
  for (const auto& [name_key, value_node] : table) {
    std::string_view name = name_key.str();
    if (name == "http_listen") {
      const toml::value<std::string>* value = value_node.as_string();
      if (value == nullptr) {
        return ConfigError(source, value_node.source(),
                           fmt::format("api.http_listen must be a string (\"IP:PORT\", or \"\" "
                                       "to disable), got {}",
                                       TypeName(value_node.type())));
      }
      config.api.http_listen = value->get();
    } else if (name == "allow_remote") {
      const toml::value<bool>* value = value_node.as_boolean();
      if (value == nullptr) {
        return ConfigError(
            source, value_node.source(),
            fmt::format("api.allow_remote must be a boolean, got {} (write true or false)",
                        TypeName(value_node.type())));
      }
      config.api.allow_remote = value->get();
    } else {
      return ConfigError(
          source, name_key.source(),
          fmt::format("unknown key 'api.{}' (known: http_listen, allow_remote)", name));
    }
  }
  return core::Ok();
}

core::Result<void> ApplyTable(const toml::table& root, std::string_view source,
                              DaemonConfig& config) {
  for (const auto& [section_key, section_node] : root) {
    std::string_view section = section_key.str();
    if (!HasSection(section)) {
      return ConfigError(source, section_key.source(),
                         fmt::format("unknown section or key '{}' (known sections: {})", section,
                                     KnownSections()));
    }
    const toml::table* table = section_node.as_table();
    if (table == nullptr) {
      return ConfigError(source, section_node.source(),
                         fmt::format("'{}' must be a table ([{}]), got {}", section, section,
                                     TypeName(section_node.type())));
    }
    if (section == kApiSection) {
      TRY(ApplyApiTable(*table, source, config));
      continue;
    }
    for (const auto& [name_key, value_node] : *table) {
      std::string_view name = name_key.str();
      const ConfigKey* key = FindKey(section, name);
      if (key == nullptr) {
        return ConfigError(source, name_key.source(),
                           fmt::format("unknown key '{}.{}'", section, name));
      }
      const toml::value<int64_t>* value = value_node.as_integer();
      if (value == nullptr) {
        return ConfigError(source, value_node.source(),
                           fmt::format("{}.{} must be an integer, got {}", section, name,
                                       TypeName(value_node.type())));
      }
      int64_t v = value->get();
      if (v < key->min || v > key->max) {
        return ConfigError(source, value_node.source(),
                           fmt::format("{}.{} = {} is out of range [{}, {}]", section, name, v,
                                       key->min, key->max));
      }
      key->set(config, v);
    }
  }
  return core::Ok();
}

}  // namespace

const std::vector<ConfigKey>& ConfigKeys() {
  static const std::vector<ConfigKey> keys = BuildKeys();
  return keys;
}

core::Result<void> ValidateConfig(const DaemonConfig& config, std::string_view source) {
  for (const ConfigKey& key : ConfigKeys()) {
    int64_t v = key.get(config);
    if (v < key.min || v > key.max) {
      return core::MakeError(core::ErrorCode::kInvalidArgument,
                             fmt::format("{}: {}.{} = {} is out of range [{}, {}]", source,
                                         key.section, key.name, v, key.min, key.max));
    }
  }
  if (config.replication.repair_jitter_secs > config.replication.repair_interval_secs) {
    return core::MakeError(core::ErrorCode::kInvalidArgument,
                           fmt::format("{}: replication.repair_jitter_secs ({}) must not exceed "
                                       "replication.repair_interval_secs ({})",
                                       source, config.replication.repair_jitter_secs,
                                       config.replication.repair_interval_secs));
  }
  if (config.replication.suspect_probe_secs > 0 && config.replication.suspect_probe_secs < 60) {
    // Each probe of a silent holder waits out a connection timeout: more
    // than one a minute would only add load.
    return core::MakeError(core::ErrorCode::kInvalidArgument,
                           fmt::format("{}: replication.suspect_probe_secs ({}) must be 0 (no "
                                       "probes) or at least 60",
                                       source, config.replication.suspect_probe_secs));
  }
  if (config.dht.alpha > config.dht.k) {
    return core::MakeError(core::ErrorCode::kInvalidArgument,
                           fmt::format("{}: dht.alpha ({}) must not exceed dht.k ({})", source,
                                       config.dht.alpha, config.dht.k));
  }
  // A per-peer share may not exceed the whole it is part of.
  struct Part {
    const char* part;
    uint64_t part_value;
    const char* whole;
    uint64_t whole_value;
  };
  const auto& n = config.network;
  const auto& d = config.dht;
  for (const Part& p : {
           Part{"network.max_connections_per_ip", n.max_connections_per_ip,
                "network.max_connections_per_subnet", n.max_connections_per_subnet},
           Part{"network.max_handshakes_per_ip", n.max_handshakes_per_ip,
                "network.max_handshakes_per_subnet", n.max_handshakes_per_subnet},
           Part{"network.max_handshakes_per_subnet", n.max_handshakes_per_subnet,
                "network.max_handshakes", n.max_handshakes},
           Part{"dht.max_inbound_transfers_per_peer", d.max_inbound_transfers_per_peer,
                "dht.max_inbound_transfers", d.max_inbound_transfers},
           Part{"dht.max_outbound_transfers_per_peer", d.max_outbound_transfers_per_peer,
                "dht.max_outbound_transfers", d.max_outbound_transfers},
           Part{"dht.max_disk_requests_per_peer", d.max_disk_requests_per_peer,
                "dht.max_disk_requests", d.max_disk_requests},
           Part{"dht.read_rate_per_peer_bytes", d.read_rate_per_peer_bytes,
                "dht.read_rate_per_subnet_bytes", d.read_rate_per_subnet_bytes},
           Part{"dht.read_rate_per_subnet_bytes", d.read_rate_per_subnet_bytes,
                "dht.read_rate_bytes", d.read_rate_bytes},
       }) {
    if (p.part_value > p.whole_value) {
      return core::MakeError(core::ErrorCode::kInvalidArgument,
                             fmt::format("{}: {} ({}) must not exceed {} ({})", source, p.part,
                                         p.part_value, p.whole, p.whole_value));
    }
  }
  return ValidateHttpListen(config.api.http_listen, config.api.allow_remote,
                            fmt::format("{}: api.http_listen", source));
}

core::Result<void> ValidateHttpListen(std::string_view http_listen, bool allow_remote,
                                      std::string_view what) {
  if (http_listen.empty()) return core::Ok();
  auto endpoint = ParseEndpoint(http_listen, /*min_port=*/0);
  if (!endpoint.ok()) {
    return core::MakeError(core::ErrorCode::kInvalidArgument,
                           fmt::format("{}: {}", what, endpoint.error().message));
  }
  if (!endpoint->address().is_loopback() && !allow_remote) {
    return core::MakeError(
        core::ErrorCode::kInvalidArgument,
        fmt::format("{} = \"{}\" is not a loopback address: the dashboard and its API would be "
                    "reachable from other machines; set api.allow_remote = true to mean it",
                    what, http_listen));
  }
  return core::Ok();
}

void ApplyNetworkConfig(const DaemonConfig& config, dht::NodeConfig* out) {
  using Ms = std::chrono::milliseconds;
  const auto& d = config.dht;
  const auto& n = config.network;
  out->routing.k = d.k;
  out->routing.max_failures = static_cast<int>(d.max_failures);
  out->alpha = d.alpha;
  out->refresh_interval = Ms(d.refresh_interval_secs * 1000);
  out->record_ttl = Ms(d.record_ttl_secs * 1000);
  out->lookup_timeout = Ms(d.lookup_timeout_ms);
  out->lookup.max_per_subnet = d.lookup_max_per_subnet;
  out->lookup.max_unverified_per_source = d.lookup_max_unverified_per_source;
  out->store_slack = d.store_slack;
  out->records.max_records = d.max_records;
  out->records.max_bytes = d.max_record_bytes;
  out->records.max_holder_records_per_key = d.max_holder_records_per_key;
  out->records.max_claims_per_key = d.max_claims_per_key;
  out->records.max_per_key_per_subnet = d.max_records_per_key_per_subnet;
  out->records.max_per_subnet = d.max_records_per_subnet;
  out->serve.max_inbound_transfers = d.max_inbound_transfers;
  out->serve.max_inbound_transfers_per_peer = d.max_inbound_transfers_per_peer;
  out->serve.max_outbound_transfers = d.max_outbound_transfers;
  out->serve.max_outbound_transfers_per_peer = d.max_outbound_transfers_per_peer;
  out->serve.max_disk_requests = d.max_disk_requests;
  out->serve.max_disk_requests_per_peer = d.max_disk_requests_per_peer;
  out->serve.slot_wait = Ms(d.serve_slot_wait_ms);
  constexpr uint64_t kBurstSecs = 16;
  out->serve.read_rate_per_peer = d.read_rate_per_peer_bytes;
  out->serve.read_burst_per_peer = d.read_rate_per_peer_bytes * kBurstSecs;
  out->serve.read_rate_per_subnet = d.read_rate_per_subnet_bytes;
  out->serve.read_burst_per_subnet = d.read_rate_per_subnet_bytes * kBurstSecs;
  out->serve.read_rate = d.read_rate_bytes;
  out->serve.read_burst = d.read_rate_bytes * kBurstSecs;
  out->refusal_log_interval = Ms(d.refusal_log_interval_secs * 1000);
  auto& l = out->limits;
  l.connect_timeout = Ms(n.connect_timeout_ms);
  l.handshake_timeout = Ms(n.handshake_timeout_ms);
  l.request_timeout = Ms(n.request_timeout_ms);
  l.idle_timeout = Ms(n.idle_timeout_ms);
  l.max_connections = n.max_connections;
  l.max_inbound_inflight = n.max_inflight_per_peer;
  l.max_connections_per_ip = n.max_connections_per_ip;
  l.max_connections_per_subnet = n.max_connections_per_subnet;
  l.max_connections_per_node = n.max_connections_per_node;
  l.max_handshakes = n.max_handshakes;
  l.max_handshakes_per_ip = n.max_handshakes_per_ip;
  l.max_handshakes_per_subnet = n.max_handshakes_per_subnet;
  l.min_transfer_rate = n.min_transfer_rate_bytes;
  l.transfer_grace = Ms(n.transfer_grace_ms);
  l.max_buffer_bytes = n.max_buffer_bytes;
  l.min_pow_bits = static_cast<int>(d.pow_bits);
  out->contact_scope = static_cast<net::ContactScope>(n.contact_scope);
}

core::Result<DaemonConfig> ParseConfig(std::string_view toml_text, std::string_view source) {
  DaemonConfig config;
  try {
    toml::table root = toml::parse(toml_text, source);
    TRY(ApplyTable(root, source, config));
  } catch (const toml::parse_error& e) {
    return ConfigError(source, e.source(), fmt::format("invalid TOML: {}", e.description()));
  } catch (const std::exception& e) {
    return core::MakeError(core::ErrorCode::kInvalidArgument,
                           fmt::format("{}: cannot read config: {}", source, e.what()));
  }
  TRY(ValidateConfig(config, source));
  return config;
}

core::Result<DaemonConfig> LoadConfigFile(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    return core::MakeError(core::ErrorCode::kNotFound,
                           fmt::format("config file {} does not exist", path.string()));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return core::MakeError(core::ErrorCode::kIo,
                           fmt::format("cannot open config file {}", path.string()));
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    return core::MakeError(core::ErrorCode::kIo,
                           fmt::format("cannot read config file {}", path.string()));
  }
  return ParseConfig(text.str(), path.string());
}

std::string ConfigToToml(const DaemonConfig& config) {
  std::string out;
  std::string_view section;
  for (const ConfigKey& key : ConfigKeys()) {
    if (key.section != section) {
      if (!section.empty()) out += "\n";
      out += fmt::format("[{}]\n", key.section);
      section = key.section;
    }
    out += fmt::format("# {} ({}..{})\n", key.help, key.min, key.max);
    out += fmt::format("{} = {}\n", key.name, key.get(config));
  }
  out += fmt::format("\n[{}]\n", kApiSection);
  out += "# the dashboard's HTTP listener, IP:PORT (port 0 picks one); \"\" disables it\n";
  out += fmt::format("http_listen = \"{}\"\n", config.api.http_listen);
  out += "# allow a non-loopback http_listen (the API token is then the only protection)\n";
  out += fmt::format("allow_remote = {}\n", config.api.allow_remote ? "true" : "false");
  return out;
}

}  // namespace tesseras::daemon
