#include "daemon/config.h"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <fstream>
#include <limits>
#include <sstream>
#include <system_error>

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
      TESSERAS_CONFIG_KEY(replication, max_per_subnet, 1, 255,
                          "most holders of one tessera in one IPv4 /24 or IPv6 /48"),
      TESSERAS_CONFIG_KEY(replication, holder_grace_secs, 0, 10 * kYearSecs,
                          "a silent holder is suspect this long before its copies count as lost "
                          "(0: at once)"),
      TESSERAS_CONFIG_KEY(replication, repair_threshold_percent, 0, 100,
                          "batch repair when more than this share of the parity is not counted"),
      TESSERAS_CONFIG_KEY(replication, surplus_percent, 0, 1000,
                          "extra copies kept per fragment, in percent of the copies wanted"),
      TESSERAS_CONFIG_KEY(replication, takeover_delay_secs, 0, kYearSecs,
                          "a holder of maintainer rank r repairs after r times this"),
      TESSERAS_CONFIG_KEY(replication, watch_interval_secs, 1, 10 * kYearSecs,
                          "a holder checks a tessera others audit at least this often"),
      TESSERAS_CONFIG_KEY(replication, forget_lost_after_secs, 0, 10 * kYearSecs,
                          "stop tracking a copy lost this long ago"),
      TESSERAS_CONFIG_KEY(replication, repair_bytes_per_day, 1, kMaxInt,
                          "repair traffic (fetched + sent) allowed per rolling day"),
      TESSERAS_CONFIG_KEY(replication, refusal_memory_secs, 0, kYearSecs,
                          "a peer that refused a fragment is not chosen again for this long"),
      TESSERAS_CONFIG_KEY(dht, k, 1, 256, "bucket size and number of nodes storing a record"),
      TESSERAS_CONFIG_KEY(dht, alpha, 1, 32, "parallel requests of a lookup, at most k"),
      TESSERAS_CONFIG_KEY(dht, max_failures, 1, 100,
                          "failed requests in a row before a contact is dropped"),
      TESSERAS_CONFIG_KEY(dht, refresh_interval_secs, 1, kYearSecs,
                          "refresh a bucket not used for this many seconds"),
      TESSERAS_CONFIG_KEY(dht, record_ttl_secs, 1, kYearSecs, "lifetime of a stored record"),
      TESSERAS_CONFIG_KEY(dht, pow_bits, 0, 24,
                          "node id proof-of-work bits: minted for our key, required of peers"),
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

bool HasSection(std::string_view section) {
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
  return out;
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
  if (config.dht.alpha > config.dht.k) {
    return core::MakeError(core::ErrorCode::kInvalidArgument,
                           fmt::format("{}: dht.alpha ({}) must not exceed dht.k ({})", source,
                                       config.dht.alpha, config.dht.k));
  }
  return core::Ok();
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
  return out;
}

}  // namespace tesseras::daemon
