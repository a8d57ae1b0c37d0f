// The HTTP listener of a real tesd (dashboard, /v1 with the token, /metrics),
// spoken to over loopback TCP with raw requests, and `tes ui`.
#include <arpa/inet.h>
#include <netinet/in.h>

#include <map>
#include <set>

#include "daemon_harness.h"

namespace {

using namespace tesseras_e2e;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

struct HttpReply {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
};

// "127.0.0.1:43121" → address and port.
std::pair<std::string, int> SplitAddress(const std::string& address) {
  auto colon = address.rfind(':');
  return {address.substr(0, colon), std::stoi(address.substr(colon + 1))};
}

// Sends one request (Connection: close) and reads the whole reply.
HttpReply Exchange(const std::string& address, const std::string& request) {
  auto [ip, port] = SplitAddress(address);
  HttpReply reply;
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, ip.c_str(), &sa.sin_addr);
  std::string raw;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0) {
    for (std::size_t sent = 0; sent < request.size();) {
      ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) break;
      sent += static_cast<std::size_t>(n);
    }
    auto deadline = Clock::now() + kCommandTimeout;
    while (Clock::now() < deadline) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 1000) <= 0) continue;
      char buf[8192];
      ssize_t n = ::read(fd, buf, sizeof(buf));
      if (n <= 0) break;
      raw.append(buf, static_cast<std::size_t>(n));
    }
  }
  ::close(fd);
  auto head_end = raw.find("\r\n\r\n");
  if (head_end == std::string::npos) return reply;
  std::istringstream head(raw.substr(0, head_end));
  std::string line;
  std::getline(head, line);
  if (line.size() > 12) reply.status = std::stoi(line.substr(9, 3));
  while (std::getline(head, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string name = line.substr(0, colon);
    std::transform(name.begin(), name.end(), name.begin(), ::tolower);
    reply.headers[name] = line.substr(line.find_first_not_of(' ', colon + 1));
  }
  reply.body = raw.substr(head_end + 4);
  return reply;
}

struct Req {
  std::string method = "GET";
  std::string target;
  std::string body;
  std::vector<std::string> headers;  // "Name: value"
};

std::string Build(const Req& r, const std::string& host) {
  std::string out = r.method + " " + r.target + " HTTP/1.1\r\n";
  if (!host.empty()) out += "Host: " + host + "\r\n";
  for (const auto& h : r.headers) out += h + "\r\n";
  out += "Connection: close\r\nContent-Length: " + std::to_string(r.body.size()) + "\r\n\r\n";
  return out + r.body;
}

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The value of a metric line "name{labels} value" (or "name value"); -1 if absent.
double Metric(const std::string& text, const std::string& series) {
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  }
  return -1;
}

class HttpE2eTest : public DaemonHarness {
 protected:
  // Starts a daemon and reads its HTTP address and token.
  void Start(std::vector<std::string> extra = {}) {
    Child& d = StartDaemon(data_dir_, std::move(extra));
    http_ = ReadyField(d.err(), "http");
    ASSERT_THAT(http_, StartsWith("127.0.0.1:")) << d.err();
    token_ = ReadFile(data_dir_ / "api.token");
    ASSERT_EQ(token_.size(), 65u);
    token_.pop_back();
  }
  HttpReply Send(const Req& r, const std::string& host) { return Exchange(http_, Build(r, host)); }
  HttpReply Send(const Req& r) { return Send(r, http_); }
  std::string Bearer() const { return "Authorization: Bearer " + token_; }

  std::string http_;
  std::string token_;
};

// Every /v1 endpoint, reads and writes, with bodies the router would accept.
std::vector<Req> EveryApiRequest(const fs::path& root) {
  const std::string hash(64, 'a');
  const std::string path = (root / "in").string();
  return {
      {"GET", "/v1/node", "", {}},
      {"GET", "/v1/tesseras", "", {}},
      {"POST", "/v1/tesseras", "{\"paths\":[\"" + path + "\"]}", {}},
      {"GET", "/v1/tesseras/" + hash, "", {}},
      {"POST", "/v1/tesseras/" + hash + "/publish", "", {}},
      {"GET", "/v1/tesseras/" + hash + "/status", "", {}},
      {"POST",
       "/v1/tesseras/" + hash + "/fetch",
       "{\"out\":\"" + (root / "out").string() + "\"}",
       {}},
      {"POST", "/v1/repair", "", {}},
      {"POST", "/v1/verify", "", {}},
      {"GET", "/v1/peers", "", {}},
      {"GET", "/v1/ledger", "", {}},
      {"GET", "/v1/events", "", {}},
      {"GET", "/v1/maintenance", "", {}},
      {"GET", "/v1/no-such-endpoint", "", {}},
  };
}

TEST_F(HttpE2eTest, WithoutTheTokenOrWithAForeignHostOrOriginEveryRequestIsRefused) {
  Start();
  fs::create_directories(root_ / "in");
  std::ofstream((root_ / "in" / "a.txt").string()) << "something to keep";
  const std::string wrong =
      "Authorization: Bearer " + std::string(64, token_[0] == 'f' ? 'e' : 'f');
  for (const Req& base : EveryApiRequest(root_)) {
    const std::string what = base.method + " " + base.target;
    HttpReply none = Send(base);
    EXPECT_EQ(none.status, 401) << what;
    EXPECT_EQ(none.headers["www-authenticate"], "Bearer") << what;
    EXPECT_EQ(Json::parse(none.body).at("error").at("code"), "permission_denied") << what;

    Req r = base;
    r.headers = {wrong};
    EXPECT_EQ(Send(r).status, 401) << what;
    r.headers = {"Cookie: token=" + token_};  // a cookie is never a credential
    EXPECT_EQ(Send(r).status, 401) << what;
    r.headers = {};
    r.target = base.target + "?token=" + token_;
    EXPECT_EQ(Send(r).status, 401) << what;

    r = base;
    r.headers = {Bearer()};
    const std::string port = std::to_string(SplitAddress(http_).second);
    for (const std::string& host : std::vector<std::string>{
             "evil.example", std::string("evil.example:").append(port), "127.0.0.1.nip.io", ""}) {
      HttpReply foreign = Send(r, host);
      EXPECT_EQ(foreign.status, 403) << what << " Host: " << host;
    }
    r.headers = {Bearer(), "Origin: http://evil.example"};
    HttpReply cross = Send(r);
    EXPECT_EQ(cross.status, 403) << what;
    EXPECT_THAT(cross.body, HasSubstr("cross-origin"));
    EXPECT_EQ(cross.headers.count("access-control-allow-origin"), 0u);
  }
  // Nothing refused had an effect: no tessera was created, no pass ran.
  Req list{"GET", "/v1/tesseras", "", {Bearer()}};
  HttpReply listed = Send(list);
  ASSERT_EQ(listed.status, 200);
  EXPECT_TRUE(Json::parse(listed.body).empty()) << listed.body;
  Req maintenance{"GET", "/v1/maintenance", "", {Bearer()}};
  EXPECT_TRUE(Json::parse(Send(maintenance).body).at("last_passes").empty());

  // A CORS preflight gets no permission.
  HttpReply preflight =
      Send({"OPTIONS",
            "/v1/repair",
            "",
            {"Origin: http://evil.example", "Access-Control-Request-Method: POST"}});
  EXPECT_GE(preflight.status, 400);
  EXPECT_EQ(preflight.headers.count("access-control-allow-origin"), 0u);

  // The page itself: no token needed, but the Host rule holds.
  EXPECT_EQ(Send({"GET", "/", "", {}}, "evil.example").status, 403);
  EXPECT_EQ(Send({"GET", "/metrics", "", {}}, "evil.example").status, 403);
  EXPECT_EQ(Send({"GET", "/metrics", "", {"Origin: http://evil.example"}}).status, 403);
}

TEST_F(HttpE2eTest, WithTheTokenTheSameApiAnswers) {
  Start();
  HttpReply node = Send({"GET", "/v1/node", "", {Bearer()}});
  ASSERT_EQ(node.status, 200) << node.body;
  EXPECT_EQ(node.headers["content-type"], "application/json");
  Json n = Json::parse(node.body);
  EXPECT_EQ(n.at("http"), http_);
  EXPECT_EQ(n.at("peers"), 0);
  EXPECT_EQ(n.at("version"), "0.1.0");
  EXPECT_GT(n.at("disk").at("total_bytes").get<uint64_t>(), 0u);
  EXPECT_GT(n.at("disk").at("free_bytes").get<uint64_t>(), 0u);
  EXPECT_GT(n.at("disk").at("used_bytes").get<uint64_t>(), 0u);  // the database at least
  EXPECT_GE(n.at("uptime_secs").get<int64_t>(), 0);
  // The same answer as the Unix socket gives.
  CommandResult over_socket = Tes({"--json", "node"});
  ASSERT_EQ(over_socket.exit_code, 0) << over_socket.err;
  EXPECT_EQ(Json::parse(over_socket.out).at("node_id"), n.at("node_id"));

  // A write from the page's own origin, and errors keep their JSON shape.
  HttpReply same_origin = Send({"POST", "/v1/repair", "", {Bearer(), "Origin: http://" + http_}});
  EXPECT_EQ(same_origin.status, 200) << same_origin.body;
  HttpReply missing = Send({"GET", "/v1/tesseras/" + std::string(64, 'b'), "", {Bearer()}});
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(Json::parse(missing.body).at("error").at("code"), "not_found");
  HttpReply unknown = Send({"GET", "/v1/nothing", "", {Bearer()}});
  EXPECT_EQ(unknown.status, 404);
  HttpReply too_big = Send({"POST", "/v1/repair", std::string(2 << 20, ' '), {Bearer()}});
  EXPECT_EQ(too_big.status, 413);

  // The dashboard and its assets, with the headers that keep it to itself.
  HttpReply page = Send({"GET", "/", "", {}});
  ASSERT_EQ(page.status, 200);
  EXPECT_THAT(page.headers["content-type"], HasSubstr("text/html"));
  EXPECT_THAT(page.headers["content-security-policy"], HasSubstr("default-src 'none'"));
  EXPECT_THAT(page.headers["content-security-policy"], HasSubstr("connect-src 'self'"));
  EXPECT_EQ(page.headers["x-frame-options"], "DENY");
  EXPECT_EQ(page.headers["cache-control"], "no-store");
  EXPECT_EQ(page.headers.count("set-cookie"), 0u);
  EXPECT_THAT(page.body, HasSubstr("Tesseras node"));
  HttpReply script = Send({"GET", "/app.js", "", {}});
  EXPECT_EQ(script.status, 200);
  EXPECT_THAT(script.headers["content-type"], HasSubstr("javascript"));
  EXPECT_EQ(Send({"POST", "/", "", {}}).status, 405);

  // /metrics needs no token on a loopback listener, in the 0.0.4 text format.
  HttpReply metrics = Send({"GET", "/metrics", "", {}});
  ASSERT_EQ(metrics.status, 200);
  EXPECT_EQ(metrics.headers["content-type"], "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_THAT(metrics.body, HasSubstr("# TYPE tesseras_peers gauge\ntesseras_peers 0\n"));
  EXPECT_EQ(Metric(metrics.body, "tesseras_tesseras{state=\"local\"}"), 0);
  EXPECT_EQ(Metric(metrics.body, "tesseras_build_info{version=\"0.1.0\"}"), 1);
}

TEST_F(HttpE2eTest, TheTokenIsMadeOnceWithMode0600AndKeptAcrossRestarts) {
  Start();
  struct stat st {};
  ASSERT_EQ(::stat((data_dir_ / "api.token").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  const std::string first = token_;
  EXPECT_EQ(first.find_first_not_of("0123456789abcdef"), std::string::npos);
  ::kill(daemons_.back()->pid(), SIGTERM);
  ASSERT_EQ(daemons_.back()->Wait(Clock::now() + std::chrono::seconds(5)), 0);
  Start();
  EXPECT_EQ(token_, first);

  // A token file that holds no token stops the daemon with a reason.
  ::kill(daemons_.back()->pid(), SIGTERM);
  ASSERT_EQ(daemons_.back()->Wait(Clock::now() + std::chrono::seconds(5)), 0);
  std::ofstream((data_dir_ / "api.token").string()) << "not a token\n";
  CommandResult bad = RunDaemon({"--data-dir", data_dir_.string(), "--listen", "127.0.0.1:0",
                                 "--http-listen", "127.0.0.1:0"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_THAT(bad.err, HasSubstr("api.token does not hold an API token"));
}

TEST_F(HttpE2eTest, TesUiPrintsTheLinkWithTheToken) {
  Start();
  ::unsetenv("DISPLAY");  // no desktop: tes ui only prints
  ::unsetenv("WAYLAND_DISPLAY");
  CommandResult ui = Tes({"ui"});
  ASSERT_EQ(ui.exit_code, 0) << ui.err;
  EXPECT_THAT(ui.out, StartsWith("http://" + http_ + "/#token=" + token_ + "\n"));
  CommandResult json = Tes({"--json", "ui"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  Json j = Json::parse(json.out);
  EXPECT_EQ(j.at("url"), "http://" + http_ + "/#token=" + token_);
  EXPECT_EQ(j.at("opened"), false);
  // The link works: the page is there, and the token in it opens the API.
  EXPECT_EQ(Send({"GET", "/", "", {}}).status, 200);
  EXPECT_EQ(Send({"GET", "/v1/node", "", {Bearer()}}).status, 200);
}

TEST_F(HttpE2eTest, TheListenerCanBeTurnedOff) {
  Child& d = StartDaemon(data_dir_, {"--http-listen", ""});
  EXPECT_EQ(ReadyField(d.err(), "http"), "off");
  CommandResult node = Tes({"--json", "node"});
  ASSERT_EQ(node.exit_code, 0) << node.err;
  EXPECT_TRUE(Json::parse(node.out).at("http").is_null());
  CommandResult ui = Tes({"ui"});
  EXPECT_EQ(ui.exit_code, 7);
  EXPECT_THAT(ui.err, HasSubstr("the dashboard is off"));
}

TEST_F(HttpE2eTest, ListenAddressRules) {
  // Not loopback without allow_remote: refused before the data dir is touched.
  CommandResult remote = RunDaemon(
      {"--data-dir", data_dir_.string(), "--listen", "127.0.0.1:0", "--http-listen", "0.0.0.0:0"});
  EXPECT_EQ(remote.exit_code, 2);
  EXPECT_THAT(remote.err, HasSubstr("not a loopback address"));
  EXPECT_THAT(remote.err, HasSubstr("allow_remote = true"));
  EXPECT_FALSE(fs::exists(data_dir_));
  CommandResult bad = RunDaemon({"--data-dir", data_dir_.string(), "--http-listen", "nowhere"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_THAT(bad.err, HasSubstr("--http-listen: invalid address 'nowhere'"));

  // A taken address stops start-up, naming the key, and leaves no socket.
  Start();
  fs::path other = root_ / "other";
  CommandResult busy =
      RunDaemon({"--data-dir", other.string(), "--listen", "127.0.0.1:0", "--http-listen", http_});
  EXPECT_EQ(busy.exit_code, 1);
  EXPECT_THAT(busy.err, HasSubstr("cannot serve the dashboard on " + http_));
  EXPECT_THAT(busy.err, HasSubstr("[api] http_listen"));
  EXPECT_FALSE(fs::exists(other / "tesd.sock"));

  // With allow_remote, a wildcard listener serves, and /metrics then needs the token too.
  fs::path config = root_ / "remote.toml";
  std::ofstream(config.string()) << "[api]\nallow_remote = true\n";
  fs::path third = root_ / "third";
  Child& d = StartDaemon(third, {"--config", config.string(), "--http-listen", "0.0.0.0:0"});
  std::string wildcard = ReadyField(d.err(), "http");
  ASSERT_THAT(wildcard, StartsWith("0.0.0.0:"));
  EXPECT_THAT(d.err(), HasSubstr("REACHABLE FROM OTHER HOSTS"));
  const std::string local = "127.0.0.1:" + std::to_string(SplitAddress(wildcard).second);
  std::string token = ReadFile(third / "api.token");
  token.pop_back();
  EXPECT_EQ(Exchange(local, Build({"GET", "/metrics", "", {}}, local)).status, 401);
  EXPECT_EQ(
      Exchange(local, Build({"GET", "/metrics", "", {"Authorization: Bearer " + token}}, local))
          .status,
      200);
  // tes ui gives the loopback form of a wildcard address.
  CommandResult ui = Tes({"--json", "ui", "--no-open"}, &third);
  ASSERT_EQ(ui.exit_code, 0) << ui.err;
  EXPECT_THAT(Json::parse(ui.out).at("url").get<std::string>(),
              StartsWith("http://" + local + "/"));
}

TEST_F(HttpE2eTest, VersionFlagsAndPrintedConfig) {
  CommandResult tesd = RunDaemon({"--version"});
  EXPECT_EQ(tesd.exit_code, 0);
  EXPECT_EQ(tesd.out, "tesd 0.1.0\n");
  CommandResult tes = Tes({"--version"});
  EXPECT_EQ(tes.exit_code, 0);
  EXPECT_EQ(tes.out, "tes 0.1.0\n");
  CommandResult printed = RunDaemon({"--print-config"});
  EXPECT_THAT(printed.out, HasSubstr("[api]\n"));
  EXPECT_THAT(printed.out, HasSubstr("http_listen = \"127.0.0.1:7780\"\n"));
  EXPECT_THAT(printed.out, HasSubstr("allow_remote = false\n"));
  CommandResult flag = RunDaemon({"--http-listen", "127.0.0.1:9", "--print-config"});
  EXPECT_THAT(flag.out, HasSubstr("http_listen = \"127.0.0.1:9\"\n"));
}

// A small network: an owner and three holders, each on its own /24.
class MetricsNetworkTest : public HttpE2eTest {
 protected:
  static constexpr int kNodes = 4;
  fs::path Dir(int n) const { return root_ / std::string("m").append(std::to_string(n)); }
  std::string Addr(int n) const { return "127.0." + std::to_string(140 + n) + ".1"; }
  std::string Scrape(int n) {
    HttpReply r = Exchange(https_[n], Build({"GET", "/metrics", "", {}}, https_[n]));
    EXPECT_EQ(r.status, 200) << "node " << n;
    return r.body;
  }
  std::map<int, std::string> https_;
};

TEST_F(MetricsNetworkTest, GaugesMoveWithAPublish) {
  {
    std::ofstream cfg((root_ / "t.toml").string());
    cfg << "[replication]\nmin_free_space_bytes = 67108864\n";
  }
  for (int n = 1; n <= kNodes; ++n) {
    std::vector<std::string> args = {"--listen",      Addr(n) + ":7700",
                                     "--http-listen", Addr(n) + ":0",
                                     "--config",      (root_ / "t.toml").string()};
    if (n > 1) args.insert(args.end(), {"--bootstrap", Addr(1) + ":7700"});
    Child& d = StartDaemon(Dir(n), args);
    https_[n] = ReadyField(d.err(), "http");
    ASSERT_THAT(https_[n], StartsWith(Addr(n) + ":")) << d.err();
  }
  // Bounded wait until the owner's routing table holds the three others.
  fs::path owner = Dir(1);
  auto deadline = Clock::now() + std::chrono::seconds(20);
  while (Metric(Scrape(1), "tesseras_peers") != kNodes - 1) {
    ASSERT_LT(Clock::now(), deadline) << "network did not converge";
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // polling a condition
  }

  // A Medium tessera (5 MiB: 24 fragments of 16+8).
  fs::path in = root_ / "medium";
  fs::create_directories(in);
  {
    std::ofstream f((in / "video.bin").string(), std::ios::binary);
    std::string block(1 << 20, '\0');
    for (int i = 0; i < 5; ++i) {
      for (std::size_t j = 0; j < block.size(); j += 64) block[j] = static_cast<char>(i * 7 + j);
      f.write(block.data(), static_cast<std::streamsize>(block.size()));
    }
  }
  CommandResult created = Tes({"--json", "create", in.string()}, &owner);
  ASSERT_EQ(created.exit_code, 0) << created.err;
  const std::string hash = Json::parse(created.out).at("hash");
  std::string before = Scrape(1);
  EXPECT_EQ(Metric(before, "tesseras_tesseras{state=\"local\"}"), 1);
  EXPECT_EQ(Metric(before, "tesseras_tesseras{state=\"healthy\"}"), 0);
  for (int n = 2; n <= kNodes; ++n) {
    EXPECT_EQ(Metric(Scrape(n), "tesseras_bytes_held"), 0) << n;
    EXPECT_EQ(Metric(Scrape(n), "tesseras_fragments_held"), 0) << n;
  }

  // Scrape every node while the publish runs: /metrics keeps answering.
  Child publish(TESSERAS_TES_BIN, {"--data-dir", owner.string(), "--json", "publish", hash});
  int scrapes_during = 0;
  const auto publish_deadline = Clock::now() + std::chrono::seconds(60);
  std::optional<int> publish_status;
  while (!publish_status) {
    ASSERT_LT(Clock::now(), publish_deadline) << "publish did not finish";
    for (int n = 1; n <= kNodes; ++n) {
      EXPECT_THAT(Scrape(n), HasSubstr("# TYPE tesseras_bytes_held gauge"));
    }
    ++scrapes_during;
    publish_status = publish.Wait(Clock::now() + std::chrono::milliseconds(50));
  }
  EXPECT_GE(scrapes_during, 1);
  ASSERT_EQ(*publish_status, 0) << publish.err();
  Json published = Json::parse(publish.out());
  ASSERT_EQ(published.at("fragments"), 24) << publish.out() << publish.err();

  // After: the holders hold all 24 fragments between them, the owner's tessera
  // is healthy.
  CommandResult status = Tes({"--json", "status", hash}, &owner);
  ASSERT_EQ(status.exit_code, 0) << status.err;
  Json st = Json::parse(status.out);
  ASSERT_EQ(st.at("state"), "healthy") << status.out;
  double fragments = 0;
  double bytes = 0;
  for (int n = 2; n <= kNodes; ++n) {
    std::string m = Scrape(n);
    EXPECT_GT(Metric(m, "tesseras_fragments_held"), 0) << n;
    fragments += Metric(m, "tesseras_fragments_held");
    bytes += Metric(m, "tesseras_bytes_held");
  }
  EXPECT_EQ(fragments, 24);
  const double shard = std::ceil(st.at("size").get<double>() / 16);
  EXPECT_EQ(bytes, 24 * shard);
  std::string after = Scrape(1);
  EXPECT_EQ(Metric(after, "tesseras_tesseras{state=\"local\"}"), 0);
  EXPECT_EQ(Metric(after, "tesseras_tesseras{state=\"healthy\"}"), 1);
  EXPECT_EQ(Metric(after, "tesseras_fragments_held"), 0);  // the owner keeps the payload
  // The counters moved: 24 fragments sent and timed, attestations asked by
  // the status check, received on the holders' side.
  const double sent_before =
      std::max(0.0, Metric(before, "tesseras_transfer_duration_seconds_count{direction=\"out\"}"));
  EXPECT_GE(
      Metric(after, "tesseras_transfer_duration_seconds_count{direction=\"out\"}") - sent_before,
      24);
  EXPECT_GT(Metric(after, "tesseras_attestations_total{result=\"ok\"}"),
            std::max(0.0, Metric(before, "tesseras_attestations_total{result=\"ok\"}")));
  double received = 0;
  for (int n = 2; n <= kNodes; ++n) {
    received += Metric(Scrape(n), "tesseras_transfer_duration_seconds_count{direction=\"in\"}");
  }
  EXPECT_GE(received, 24);
}

}  // namespace
