#include "daemon/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "dht/node.h"

namespace tesseras::daemon {
namespace {

using ::testing::HasSubstr;

core::Error ParseError(std::string_view text) {
  auto r = ParseConfig(text, "/etc/tesd.toml");
  EXPECT_FALSE(r.ok()) << "parsed: " << text;
  if (r.ok()) return {};
  EXPECT_EQ(r.error().code, core::ErrorCode::kInvalidArgument);
  return r.error();
}

TEST(ConfigTest, DefaultsMatchTheDocumentedValues) {
  DaemonConfig c;
  EXPECT_EQ(c.replication.repair_interval_secs, 86400u);
  EXPECT_EQ(c.replication.repair_jitter_secs, 7200u);
  EXPECT_EQ(c.replication.max_concurrent_transfers, 4u);
  EXPECT_EQ(c.replication.min_free_space_bytes, 1073741824u);
  EXPECT_EQ(c.replication.deficit_allowance_bytes, 268435456u);
  EXPECT_EQ(c.replication.per_peer_limit_bytes, 1073741824u);
  EXPECT_EQ(c.replication.max_per_subnet, 2u);
  EXPECT_EQ(c.replication.scrub_bytes_per_day, 34359738368u);
  EXPECT_EQ(c.replication.trust_verified_secs, 604800u);  // 7 days
  EXPECT_EQ(c.replication.record_cache_secs, 3600u);
  EXPECT_EQ(c.replication.record_cache_entries, 4096u);
  EXPECT_EQ(c.replication.record_cache_bytes, 16777216u);  // 16 MiB
  EXPECT_EQ(c.replication.suspect_probe_secs, 21600u);     // 6 h
  EXPECT_FALSE(c.replication.coded_repair_at_threshold);
  EXPECT_TRUE(c.replication.batch_rebuilds_suspects);
  EXPECT_EQ(c.replication.repair_threshold_percent, 62u);
  EXPECT_EQ(c.replication.gather_keep_secs, 1209600u);     // 14 days
  EXPECT_EQ(c.replication.gather_max_bytes, 4294967296u);  // 4 GiB
  EXPECT_EQ(c.dht.k, 20u);
  EXPECT_EQ(c.dht.alpha, 3u);
  EXPECT_EQ(c.dht.max_failures, 3u);
  EXPECT_EQ(c.dht.refresh_interval_secs, 900u);  // docs/PROTOCOL.md section 7: 15 min
  EXPECT_EQ(c.dht.record_ttl_secs, 86400u);
  EXPECT_EQ(c.dht.pow_bits, 8u);
  EXPECT_EQ(c.network.connect_timeout_ms, 5000u);
  EXPECT_EQ(c.network.handshake_timeout_ms, 5000u);
  EXPECT_EQ(c.network.request_timeout_ms, 10000u);
  EXPECT_EQ(c.network.idle_timeout_ms, 60000u);
  EXPECT_EQ(c.network.max_connections, 256u);
  EXPECT_EQ(c.network.max_inflight_per_peer, 32u);
  EXPECT_TRUE(ValidateConfig(c, "defaults").ok());
}

TEST(ConfigTest, EmptyFileGivesDefaults) {
  auto r = ParseConfig("", "empty.toml");
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(*r, DaemonConfig{});
  auto only_comments = ParseConfig("# nothing\n[replication]\n[dht]\n", "c.toml");
  ASSERT_TRUE(only_comments.ok()) << only_comments.error().ToString();
  EXPECT_EQ(*only_comments, DaemonConfig{});
}

TEST(ConfigTest, IssueExampleParses) {
  auto r = ParseConfig(R"(
[replication]
repair_interval_secs = 86400
repair_jitter_secs = 7200
max_concurrent_transfers = 4
min_free_space_bytes = 1073741824
deficit_allowance_bytes = 268435456
per_peer_limit_bytes = 1073741824
max_per_subnet = 2
)",
                       "example.toml");
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(*r, DaemonConfig{});
}

TEST(ConfigTest, EveryKeyIsReadIntoItsField) {
  // Give each key a distinct in-range value and check it lands in its own field.
  std::string text;
  std::string_view section;
  std::vector<int64_t> expected;
  for (const ConfigKey& key : ConfigKeys()) {
    if (key.section != section) {
      // append, not "[" + std::string: g++ 12 at -O3 reports a false -Werror=restrict.
      text.append("[").append(key.section).append("]\n");
      section = key.section;
    }
    int64_t v = key.min + 1 <= key.max ? key.min + 1 : key.min;
    if (key.name == "suspect_probe_secs") v = 60;  // 0 or at least 60 (a cross-key rule's kin)
    expected.push_back(v);
    text += std::string(key.name) + " = " + std::to_string(v) + "\n";
  }
  // Keep the cross-key rules satisfied: jitter <= interval, alpha <= k.
  auto r = ParseConfig(text, "all.toml");
  ASSERT_TRUE(r.ok()) << r.error().ToString() << "\n" << text;
  std::size_t i = 0;
  for (const ConfigKey& key : ConfigKeys()) {
    EXPECT_EQ(key.get(*r), expected[i++]) << key.section << "." << key.name;
  }
  EXPECT_NE(*r, DaemonConfig{});
}

TEST(ConfigTest, KeysAreUniqueAndDefaultsInRange) {
  std::set<std::string> seen;
  DaemonConfig defaults;
  for (const ConfigKey& key : ConfigKeys()) {
    EXPECT_TRUE(seen.insert(std::string(key.section) + "." + std::string(key.name)).second);
    EXPECT_LE(key.min, key.get(defaults));
    EXPECT_GE(key.max, key.get(defaults));
    EXPECT_FALSE(key.help.empty());
  }
  EXPECT_FALSE(seen.empty());
}

// docs/DAEMON.md is the reference: every key has a row in its section's table
// naming the key and its default.
TEST(ConfigTest, EveryKeyIsDocumentedWithItsDefault) {
  std::ifstream f(std::string(TESSERAS_SOURCE_DIR) + "/docs/DAEMON.md");
  ASSERT_TRUE(f) << "cannot read docs/DAEMON.md";
  std::stringstream text;
  text << f.rdbuf();
  const std::string doc = text.str();
  DaemonConfig defaults;
  for (const ConfigKey& key : ConfigKeys()) {
    const std::string section = "### `[" + std::string(key.section) + "]`";
    const auto at = doc.find(section);
    ASSERT_NE(at, std::string::npos) << section;
    const auto next = doc.find("\n### ", at + section.size());
    const std::string body =
        doc.substr(at, next == std::string::npos ? std::string::npos : next - at);
    const std::string row =
        "| `" + std::string(key.name) + "` | " + std::to_string(key.get(defaults));
    EXPECT_NE(body.find(row), std::string::npos)
        << "docs/DAEMON.md lacks the row of " << key.section << "." << key.name << " (" << row
        << ")";
  }
}

// [dht] and [network] defaults are the network layers' own defaults
// (docs/SECURITY.md lists them): applying a default file changes nothing.
TEST(ConfigTest, NetworkDefaultsAreTheLayersDefaults) {
  dht::NodeConfig layer;
  dht::NodeConfig applied;
  ApplyNetworkConfig(DaemonConfig{}, &applied);
  EXPECT_EQ(applied.refresh_interval, layer.refresh_interval);
  EXPECT_EQ(applied.lookup_timeout, layer.lookup_timeout);
  EXPECT_EQ(applied.lookup.max_per_subnet, layer.lookup.max_per_subnet);
  EXPECT_EQ(applied.lookup.max_unverified_per_source, layer.lookup.max_unverified_per_source);
  EXPECT_EQ(applied.store_slack, layer.store_slack);
  EXPECT_EQ(applied.records.max_records, layer.records.max_records);
  EXPECT_EQ(applied.records.max_bytes, layer.records.max_bytes);
  EXPECT_EQ(applied.records.max_holder_records_per_key, layer.records.max_holder_records_per_key);
  EXPECT_EQ(applied.records.max_claims_per_key, layer.records.max_claims_per_key);
  EXPECT_EQ(applied.records.max_per_key_per_subnet, layer.records.max_per_key_per_subnet);
  EXPECT_EQ(applied.records.max_per_subnet, layer.records.max_per_subnet);
  EXPECT_EQ(applied.serve.max_inbound_transfers, layer.serve.max_inbound_transfers);
  EXPECT_EQ(applied.serve.max_inbound_transfers_per_peer,
            layer.serve.max_inbound_transfers_per_peer);
  EXPECT_EQ(applied.serve.max_outbound_transfers, layer.serve.max_outbound_transfers);
  EXPECT_EQ(applied.serve.max_disk_requests, layer.serve.max_disk_requests);
  EXPECT_EQ(applied.serve.max_disk_requests_per_peer, layer.serve.max_disk_requests_per_peer);
  EXPECT_EQ(applied.serve.slot_wait, layer.serve.slot_wait);
  EXPECT_EQ(applied.serve.read_rate_per_peer, layer.serve.read_rate_per_peer);
  EXPECT_EQ(applied.serve.read_burst_per_peer, layer.serve.read_burst_per_peer);
  EXPECT_EQ(applied.serve.read_rate, layer.serve.read_rate);
  EXPECT_EQ(applied.serve.read_burst, layer.serve.read_burst);
  EXPECT_EQ(applied.refusal_log_interval, layer.refusal_log_interval);
  EXPECT_EQ(applied.limits.max_connections, layer.limits.max_connections);
  EXPECT_EQ(applied.limits.max_connections_per_ip, layer.limits.max_connections_per_ip);
  EXPECT_EQ(applied.limits.max_connections_per_subnet, layer.limits.max_connections_per_subnet);
  EXPECT_EQ(applied.limits.max_connections_per_node, layer.limits.max_connections_per_node);
  EXPECT_EQ(applied.limits.max_handshakes, layer.limits.max_handshakes);
  EXPECT_EQ(applied.limits.max_handshakes_per_ip, layer.limits.max_handshakes_per_ip);
  EXPECT_EQ(applied.limits.max_handshakes_per_subnet, layer.limits.max_handshakes_per_subnet);
  EXPECT_EQ(applied.limits.min_transfer_rate, layer.limits.min_transfer_rate);
  EXPECT_EQ(applied.limits.transfer_grace, layer.limits.transfer_grace);
  EXPECT_EQ(applied.limits.max_buffer_bytes, layer.limits.max_buffer_bytes);
  EXPECT_EQ(applied.contact_scope, layer.contact_scope);
  // A per-peer share above its whole is refused.
  core::Error e = ParseError("[network]\nmax_handshakes_per_ip = 20\n");
  EXPECT_THAT(e.message, HasSubstr("network.max_handshakes_per_ip (20) must not exceed"));
  e = ParseError("[dht]\nmax_disk_requests_per_peer = 9\n");
  EXPECT_THAT(e.message, HasSubstr("dht.max_disk_requests"));
}

TEST(ConfigTest, SetAndGetRoundTripForEveryKey) {
  for (const ConfigKey& key : ConfigKeys()) {
    DaemonConfig c;
    key.set(c, key.max);
    EXPECT_EQ(key.get(c), key.max) << key.name;
  }
}

TEST(ConfigTest, ShortIntervalsForTestsAreAllowed) {
  auto r = ParseConfig(
      "[replication]\nrepair_interval_secs = 1\nrepair_jitter_secs = 0\n"
      "[dht]\nrefresh_interval_secs = 1\nrecord_ttl_secs = 1\npow_bits = 0\n",
      "fast.toml");
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(r->replication.repair_interval_secs, 1u);
  EXPECT_EQ(r->dht.pow_bits, 0u);
}

TEST(ConfigTest, UnknownKeyIsAnErrorNamingKeyAndFile) {
  core::Error e = ParseError("[replication]\nrepair_intervall_secs = 5\n");
  EXPECT_THAT(e.message, HasSubstr("/etc/tesd.toml"));
  EXPECT_THAT(e.message, HasSubstr("replication.repair_intervall_secs"));
  EXPECT_THAT(e.message, HasSubstr(":2"));  // the line
}

TEST(ConfigTest, UnknownSectionIsAnError) {
  core::Error e = ParseError("[replicaton]\nmax_per_subnet = 2\n");
  EXPECT_THAT(e.message, HasSubstr("replicaton"));
  EXPECT_THAT(e.message, HasSubstr("[replication]"));
}

TEST(ConfigTest, TopLevelKeyIsAnError) {
  core::Error e = ParseError("k = 20\n");
  EXPECT_THAT(e.message, HasSubstr("'k'"));
}

TEST(ConfigTest, SectionThatIsNotATableIsAnError) {
  core::Error e = ParseError("dht = 3\n");
  EXPECT_THAT(e.message, HasSubstr("'dht' must be a table"));
}

TEST(ConfigTest, WrongTypesAreErrorsNamingKeyAndType) {
  struct Case {
    std::string text;
    std::string key;
    std::string type;
  } cases[] = {
      {"[replication]\nmax_concurrent_transfers = \"4\"\n", "replication.max_concurrent_transfers",
       "a string"},
      {"[dht]\nk = 20.0\n", "dht.k", "a float"},
      {"[dht]\nalpha = true\n", "dht.alpha", "a boolean"},
      {"[network]\nmax_connections = [1]\n", "network.max_connections", "an array"},
      {"[network]\nidle_timeout_ms = { a = 1 }\n", "network.idle_timeout_ms", "a table"},
  };
  for (const Case& c : cases) {
    core::Error e = ParseError(c.text);
    EXPECT_THAT(e.message, HasSubstr(c.key)) << c.text;
    EXPECT_THAT(e.message, HasSubstr("must be an integer, got " + c.type)) << c.text;
    EXPECT_THAT(e.message, HasSubstr("/etc/tesd.toml")) << c.text;
  }
}

TEST(ConfigTest, OutOfRangeValuesAreErrors) {
  struct Case {
    std::string text;
    std::string expect;
  } cases[] = {
      {"[replication]\nmax_concurrent_transfers = 0\n",
       "replication.max_concurrent_transfers = 0 is out of range [1, 256]"},
      {"[replication]\nrepair_interval_secs = 0\n", "replication.repair_interval_secs = 0"},
      {"[replication]\nmin_free_space_bytes = -1\n", "replication.min_free_space_bytes = -1"},
      {"[replication]\nmax_per_subnet = 0\n", "replication.max_per_subnet = 0"},
      {"[replication]\ntrust_verified_secs = 31536001\n",
       "replication.trust_verified_secs = 31536001 is out of range [0, 31536000]"},
      {"[replication]\nrecord_cache_secs = 86401\n",
       "replication.record_cache_secs = 86401 is out of range [0, 86400]"},
      {"[replication]\nrecord_cache_entries = 1048577\n",
       "replication.record_cache_entries = 1048577 is out of range [0, 1048576]"},
      {"[replication]\nrecord_cache_bytes = 1073741825\n",
       "replication.record_cache_bytes = 1073741825 is out of range [0, 1073741824]"},
      {"[replication]\nsuspect_probe_secs = 315360001\n",
       "replication.suspect_probe_secs = 315360001 is out of range [0, 315360000]"},
      {"[replication]\ncoded_repair_at_threshold = 2\n",
       "replication.coded_repair_at_threshold = 2 is out of range [0, 1]"},
      {"[replication]\nbatch_rebuilds_suspects = 2\n",
       "replication.batch_rebuilds_suspects = 2 is out of range [0, 1]"},
      {"[dht]\nk = 0\n", "dht.k = 0"},
      {"[dht]\npow_bits = 25\n", "dht.pow_bits = 25 is out of range [0, 24]"},
      {"[network]\nmax_connections = 70000\n", "network.max_connections = 70000"},
      {"[network]\nconnect_timeout_ms = 0\n", "network.connect_timeout_ms = 0"},
  };
  for (const Case& c : cases) {
    EXPECT_THAT(ParseError(c.text).message, HasSubstr(c.expect)) << c.text;
  }
}

TEST(ConfigTest, CrossKeyRules) {
  EXPECT_THAT(
      ParseError("[replication]\nrepair_interval_secs = 10\nrepair_jitter_secs = 11\n").message,
      HasSubstr("repair_jitter_secs (11) must not exceed"));
  EXPECT_THAT(ParseError("[dht]\nk = 2\nalpha = 3\n").message,
              HasSubstr("dht.alpha (3) must not exceed dht.k (2)"));
  EXPECT_THAT(ParseError("[replication]\nsuspect_probe_secs = 59\n").message,
              HasSubstr("suspect_probe_secs (59) must be 0 (no probes) or at least 60"));
}

TEST(ConfigTest, SyntaxErrorNamesFileAndLine) {
  core::Error e = ParseError("[replication]\nmax_per_subnet = = 2\n");
  EXPECT_THAT(e.message, HasSubstr("/etc/tesd.toml:2"));
  EXPECT_THAT(e.message, HasSubstr("invalid TOML"));
}

TEST(ConfigTest, DuplicateKeyIsAnError) {
  core::Error e = ParseError("[dht]\nk = 20\nk = 21\n");
  EXPECT_THAT(e.message, HasSubstr("/etc/tesd.toml"));
}

TEST(ConfigTest, PrintedConfigParsesBackToTheSameValues) {
  DaemonConfig c;
  c.replication.max_concurrent_transfers = 9;
  c.dht.k = 33;
  c.network.idle_timeout_ms = 1234;
  std::string text = ConfigToToml(c);
  EXPECT_THAT(text, HasSubstr("[replication]\n"));
  EXPECT_THAT(text, HasSubstr("max_concurrent_transfers = 9\n"));
  EXPECT_THAT(text, HasSubstr("[dht]\n"));
  EXPECT_THAT(text, HasSubstr("[network]\n"));
  auto back = ParseConfig(text, "printed");
  ASSERT_TRUE(back.ok()) << back.error().ToString();
  EXPECT_EQ(*back, c);
}

TEST(ConfigTest, LoadConfigFileReportsMissingFile) {
  auto r = LoadConfigFile("/nonexistent/tesd.toml");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, core::ErrorCode::kNotFound);
  EXPECT_THAT(r.error().message, HasSubstr("/nonexistent/tesd.toml"));
}

TEST(ConfigTest, LoadConfigFileReadsAFile) {
  std::string tmpl = (std::filesystem::temp_directory_path() / "tesd_config_test_XXXXXX").string();
  ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
  std::filesystem::path dir(tmpl);
  auto path = dir / "tesd.toml";
  {
    std::ofstream out(path);
    out << "[network]\nmax_connections = 7\n";
  }
  auto r = LoadConfigFile(path);
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(r->network.max_connections, 7u);
  {
    std::ofstream out(path);
    out << "[network]\nmax_conections = 7\n";
  }
  auto bad = LoadConfigFile(path);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.error().message, HasSubstr(path.string()));
  EXPECT_THAT(bad.error().message, HasSubstr("network.max_conections"));
  std::filesystem::remove_all(dir);
}

TEST(ConfigTest, ApiSectionDefaultsAndValues) {
  DaemonConfig defaults;
  EXPECT_EQ(defaults.api.http_listen, "127.0.0.1:7780");
  EXPECT_FALSE(defaults.api.allow_remote);

  auto off = ParseConfig("[api]\nhttp_listen = \"\"\n", "off.toml");
  ASSERT_TRUE(off.ok()) << off.error().ToString();
  EXPECT_EQ(off->api.http_listen, "");

  auto v6 = ParseConfig("[api]\nhttp_listen = \"[::1]:0\"\n", "v6.toml");
  ASSERT_TRUE(v6.ok()) << v6.error().ToString();
  EXPECT_EQ(v6->api.http_listen, "[::1]:0");

  auto remote =
      ParseConfig("[api]\nhttp_listen = \"0.0.0.0:7780\"\nallow_remote = true\n", "r.toml");
  ASSERT_TRUE(remote.ok()) << remote.error().ToString();
  EXPECT_TRUE(remote->api.allow_remote);
}

TEST(ConfigTest, ApiSectionErrors) {
  EXPECT_THAT(ParseError("[api]\nhttp_listen = \"0.0.0.0:7780\"\n").message,
              HasSubstr("api.allow_remote = true"));
  EXPECT_THAT(
      ParseError("[api]\nhttp_listen = \"192.168.1.5:7780\"\nallow_remote = false\n").message,
      HasSubstr("not a loopback address"));
  EXPECT_THAT(ParseError("[api]\nhttp_listen = \"localhost:7780\"\n").message,
              HasSubstr("api.http_listen: invalid address 'localhost:7780'"));
  EXPECT_THAT(ParseError("[api]\nhttp_listen = 7780\n").message,
              HasSubstr("api.http_listen must be a string"));
  EXPECT_THAT(ParseError("[api]\nallow_remote = 1\n").message,
              HasSubstr("api.allow_remote must be a boolean, got an integer"));
  core::Error unknown = ParseError("[api]\nhttp_listn = \"\"\n");
  EXPECT_THAT(unknown.message, HasSubstr("unknown key 'api.http_listn'"));
  EXPECT_THAT(unknown.message, HasSubstr(":2"));
  EXPECT_THAT(ParseError("[apu]\n").message, HasSubstr("[api]"));
}

TEST(ConfigTest, PrintedApiSectionParsesBack) {
  DaemonConfig c;
  c.api.http_listen = "0.0.0.0:9999";
  c.api.allow_remote = true;
  std::string text = ConfigToToml(c);
  EXPECT_THAT(text, HasSubstr("[api]\n"));
  EXPECT_THAT(text, HasSubstr("http_listen = \"0.0.0.0:9999\"\n"));
  EXPECT_THAT(text, HasSubstr("allow_remote = true\n"));
  auto back = ParseConfig(text, "printed");
  ASSERT_TRUE(back.ok()) << back.error().ToString();
  EXPECT_EQ(*back, c);
}

}  // namespace
}  // namespace tesseras::daemon
