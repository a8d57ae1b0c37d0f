// End-to-end tests of the daemon and the command line: each test starts the real
// `tesd` on a temporary data dir (--listen 127.0.0.1:0) and drives it with the
// real `tes` (tests/daemon_harness.h).
#include "daemon_harness.h"

namespace {

using namespace tesseras_e2e;
using ::testing::HasSubstr;
using ::testing::Not;

// Exit codes of tes (src/cli/exit_codes.h, docs/DAEMON.md).
constexpr int kExitUsage = 2;
constexpr int kExitNotRunning = 3;

const std::string kHash(64, 'a');

class DaemonE2eTest : public DaemonHarness {};

TEST_F(DaemonE2eTest, NodeHumanAndJson) {
  Child& d = StartDaemon(data_dir_);
  std::string node_id = ReadyField(d.err(), "node_id");
  std::string listen = ReadyField(d.err(), "listen");
  ASSERT_EQ(node_id.size(), 64u) << d.err();
  ASSERT_THAT(listen, HasSubstr("127.0.0.1:"));
  EXPECT_NE(listen, "127.0.0.1:0");  // port 0 was resolved to the bound port

  CommandResult human = Tes({"node"});
  EXPECT_EQ(human.exit_code, 0) << human.err;
  EXPECT_THAT(human.out, HasSubstr("node id       " + node_id));
  EXPECT_THAT(human.out, HasSubstr("listen        " + listen));
  EXPECT_THAT(human.out, HasSubstr("peers         0"));
  EXPECT_EQ(human.err, "");

  CommandResult json = Tes({"--json", "node"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  Json j = Json::parse(json.out);  // exactly one document: parse fails on trailing data
  EXPECT_EQ(j.at("node_id"), node_id);
  EXPECT_EQ(j.at("listen"), listen);
  EXPECT_EQ(j.at("peers"), 0);
  EXPECT_EQ(j.at("bytes_stored"), 0);
  EXPECT_EQ(j.at("scrub").at("running"), true);
  EXPECT_EQ(j.at("scrub").at("bytes_per_day"), 34359738368);  // the default, 32 GiB

  // The node key persists: a restart keeps the id.
  ::kill(d.pid(), SIGTERM);
  ASSERT_EQ(d.Wait(Clock::now() + std::chrono::seconds(5)), 0);
  Child& again = StartDaemon(data_dir_);
  EXPECT_EQ(ReadyField(again.err(), "node_id"), node_id);
}

TEST_F(DaemonE2eTest, BootstrapPeersAndLogLevel) {
  Child& d = StartDaemon(data_dir_, {"--bootstrap", "127.0.0.1:7700,[::1]:7701", "--bootstrap",
                                     "127.0.0.2:7702", "--log-level", "debug"});
  EXPECT_THAT(d.err(), HasSubstr("bootstrapping from 127.0.0.1:7700,[::1]:7701,127.0.0.2:7702"));
  ASSERT_EQ(Tes({"node"}).exit_code, 0);
  // debug logs every API request; wait (bounded) for that line.
  EXPECT_TRUE(
      d.ReadUntil([&d] { return d.err().find("api: GET /v1/node -> 200") != std::string::npos; },
                  Clock::now() + kCommandTimeout))
      << d.err();
  // Every log line carries a level.
  std::istringstream lines(d.err());
  for (std::string line; std::getline(lines, line);) {
    EXPECT_TRUE(
        std::regex_search(line, std::regex("^\\S+Z (trace|debug|info|warning|error|critical) ")))
        << line;
  }
}

TEST_F(DaemonE2eTest, DataDirSocketAndKeyPermissions) {
  StartDaemon(data_dir_);
  struct stat st {};
  ASSERT_EQ(::stat(data_dir_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(::stat((data_dir_ / "tesd.sock").c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat((data_dir_ / "node.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0077, 0u);
  EXPECT_TRUE(fs::exists(data_dir_ / "tesd.lock"));
}

TEST_F(DaemonE2eTest, BadHashIsAClearErrorBeforeAnyCall) {
  // No daemon is needed: hashes are checked locally.
  for (std::vector<std::string> args : {std::vector<std::string>{"--json", "status", "xyz"},
                                        {"status", "xyz"},
                                        {"show", std::string(64, 'g')},
                                        {"publish", std::string(63, 'a')},
                                        {"fetch", "nothex", "--out", root_.string()},
                                        {"verify", "12"},
                                        {"repair", "zz"}}) {
    CommandResult r = Tes(args);
    EXPECT_EQ(r.exit_code, kExitUsage) << args[0] << " " << r.err;
    EXPECT_THAT(r.err, HasSubstr("invalid hash"));
    EXPECT_THAT(r.err, HasSubstr("hex"));
    EXPECT_EQ(Lines(r.err), 1) << r.err;
  }
  CommandResult json = Tes({"--json", "status", "xyz"});
  Json j = Json::parse(json.out);
  EXPECT_EQ(j.at("error").at("code"), "invalid_argument");
}

TEST_F(DaemonE2eTest, BadPathsAreRefusedLocally) {
  StartDaemon(data_dir_);
  CommandResult missing = Tes({"create", (root_ / "does-not-exist").string()});
  EXPECT_EQ(missing.exit_code, kExitUsage);
  EXPECT_THAT(missing.err, HasSubstr("no such file or directory"));
  std::ofstream((root_ / "file.txt").string()) << "x";
  CommandResult not_dir = Tes({"fetch", kHash, "--out", (root_ / "file.txt").string()});
  EXPECT_EQ(not_dir.exit_code, kExitUsage);
  EXPECT_THAT(not_dir.err, HasSubstr("is not a directory"));
  CommandResult no_out = Tes({"fetch", kHash});
  EXPECT_EQ(no_out.exit_code, kExitUsage);
  EXPECT_THAT(no_out.err, HasSubstr("--out"));
}

TEST_F(DaemonE2eTest, NoDaemonSaysHowToStartOne) {
  fs::path empty = root_ / "nobody-home";
  CommandResult r = Tes({"node"}, &empty);
  EXPECT_EQ(r.exit_code, kExitNotRunning);
  EXPECT_THAT(r.err, HasSubstr("no tesd is running for data dir " + empty.string()));
  EXPECT_THAT(r.err, HasSubstr("tesd --data-dir " + empty.string()));
  EXPECT_EQ(Lines(r.err), 1);
  EXPECT_EQ(r.out, "");

  CommandResult json = Tes({"--json", "peers"}, &empty);
  EXPECT_EQ(json.exit_code, kExitNotRunning);
  EXPECT_EQ(Json::parse(json.out).at("error").at("code"), "unavailable");
}

TEST_F(DaemonE2eTest, StaleSocketAfterSigkillIsReplaced) {
  Child& first = StartDaemon(data_dir_);
  ::kill(first.pid(), SIGKILL);
  ASSERT_EQ(first.Wait(Clock::now() + std::chrono::seconds(5)), -SIGKILL);
  ASSERT_TRUE(fs::exists(data_dir_ / "tesd.sock"));  // left behind by the kill

  CommandResult dead = Tes({"node"});
  EXPECT_EQ(dead.exit_code, kExitNotRunning);
  EXPECT_THAT(dead.err, HasSubstr("nothing answers"));

  Child& second = StartDaemon(data_dir_);
  EXPECT_THAT(second.err(), HasSubstr("removed stale socket"));
  EXPECT_EQ(Tes({"node"}).exit_code, 0);
}

TEST_F(DaemonE2eTest, SecondDaemonOnTheSameDataDirIsRefused) {
  Child& first = StartDaemon(data_dir_);
  CommandResult second = RunDaemon({"--data-dir", data_dir_.string(), "--listen", "127.0.0.1:0"});
  EXPECT_NE(second.exit_code, 0);
  EXPECT_THAT(second.err, HasSubstr((data_dir_ / "tesd.lock").string()));
  EXPECT_THAT(second.err, HasSubstr("pid " + std::to_string(first.pid())));
  EXPECT_THAT(second.err, HasSubstr("in use"));
  // The first one is unharmed, socket included.
  EXPECT_EQ(Tes({"node"}).exit_code, 0);
}

TEST_F(DaemonE2eTest, SigtermAndSigintExitZeroWithinFiveSeconds) {
  for (int sig : {SIGTERM, SIGINT}) {
    Child& d = StartDaemon(data_dir_);
    // An idle open API connection must not hold up the shutdown.
    ASSERT_EQ(Tes({"node"}).exit_code, 0);
    auto start = Clock::now();
    ::kill(d.pid(), sig);
    auto status = d.Wait(start + std::chrono::seconds(5));
    ASSERT_TRUE(status.has_value()) << "still running 5 s after signal " << sig;
    EXPECT_EQ(*status, 0) << d.err();
    EXPECT_LT(Clock::now() - start, std::chrono::seconds(5));
    EXPECT_THAT(d.err(), HasSubstr("shutting down"));
    EXPECT_FALSE(fs::exists(data_dir_ / "tesd.sock"));
    daemons_.clear();
  }
}

// A network of real daemons, each on its own 127.0.N.1, driven with tes.
class DaemonNetworkTest : public DaemonE2eTest {
 protected:
  static constexpr int kNodes = 9;
  // std::string::append rather than "n" + std::string: g++ 12 at -O3 reports a
  // false -Werror=restrict on the operator+ form.
  fs::path Dir(int n) const { return root_ / std::string("n").append(std::to_string(n)); }
  // Each test has its own /24 range: ctest runs tests in parallel and the
  // daemons listen on fixed ports.
  int base_ = 100;
  std::string Addr(int n) const { return "127.0." + std::to_string(n + base_) + ".1"; }

  void StartNetwork() {
    {
      std::ofstream cfg((root_ / "t.toml").string());
      cfg << "[replication]\nmin_free_space_bytes = 67108864\n";
    }
    for (int n = 1; n <= kNodes; ++n) {
      std::vector<std::string> args = {
          "--data-dir",    Dir(n).string(), "--listen", Addr(n) + ":7700",
          "--http-listen", Addr(n) + ":0",  "--config", (root_ / "t.toml").string()};
      if (n > 1) args.insert(args.end(), {"--bootstrap", Addr(1) + ":7700"});
      daemons_.push_back(std::make_unique<Child>(TESSERAS_TESD_BIN, args));
      Child& d = *daemons_.back();
      ASSERT_TRUE(d.ReadUntil([&d] { return d.err().find(" ready ") != std::string::npos; },
                              Clock::now() + kStartTimeout))
          << d.err();
    }
    // Bounded wait until node 1's routing table holds every other node.
    auto deadline = Clock::now() + std::chrono::seconds(20);
    for (;;) {
      auto peers = Tes({"--json", "peers"}, &dir1_);
      if (peers.exit_code == 0 && Json::parse(peers.out).size() == kNodes - 1) break;
      ASSERT_LT(Clock::now(), deadline) << "network did not converge";
      std::this_thread::sleep_for(std::chrono::milliseconds(100));  // polling a condition
    }
  }
  fs::path dir1_;
  void SetUp() override {
    DaemonE2eTest::SetUp();
    dir1_ = Dir(1);
  }
};

TEST_F(DaemonNetworkTest, CreatePublishStatusFetchRepairVerifyLedger) {
  StartNetwork();
  fs::path in = root_ / "memories";
  fs::create_directories(in / "letters");
  std::ofstream((in / "letters" / "a.txt").string()) << "a memory worth keeping";
  std::ofstream((in / "photo.jpg").string()) << std::string(100000, 'p');

  CommandResult created = Tes({"--json", "create", in.string()}, &dir1_);
  ASSERT_EQ(created.exit_code, 0) << created.err;
  Json c = Json::parse(created.out);
  const std::string hash = c.at("hash");
  EXPECT_EQ(hash.size(), 64u);
  EXPECT_EQ(c.at("files"), 2);
  EXPECT_GT(c.at("size").get<uint64_t>(), 100000u);

  CommandResult listed = Tes({"--json", "list"}, &dir1_);
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_EQ(Json::parse(listed.out).at(0).at("hash"), hash);
  EXPECT_THAT(Tes({"list"}, &dir1_).out, HasSubstr(hash.substr(0, 8)));

  CommandResult shown = Tes({"--json", "show", hash}, &dir1_);
  ASSERT_EQ(shown.exit_code, 0) << shown.err;
  EXPECT_EQ(Json::parse(shown.out).at("signature_valid"), true);

  CommandResult local = Tes({"--json", "status", hash}, &dir1_);
  ASSERT_EQ(local.exit_code, 0) << local.err;
  EXPECT_EQ(Json::parse(local.out).at("state"), "local");

  CommandResult published = Tes({"--json", "publish", hash}, &dir1_);
  ASSERT_EQ(published.exit_code, 0) << published.err;
  Json p = Json::parse(published.out);
  EXPECT_EQ(p.at("tier"), "small");
  EXPECT_EQ(p.at("fragments"), 1);
  EXPECT_EQ(p.at("holders"), 7);

  CommandResult status = Tes({"--json", "status", hash}, &dir1_);
  ASSERT_EQ(status.exit_code, 0) << status.err;
  Json st = Json::parse(status.out);
  EXPECT_EQ(st.at("state"), "healthy");
  EXPECT_EQ(st.at("data_shards"), 1);
  EXPECT_EQ(st.at("parity_shards"), 0);
  EXPECT_EQ(st.at("fragments_total"), 1);
  EXPECT_EQ(st.at("fragments_verified"), 1);
  ASSERT_EQ(st.at("holders").size(), 7u);
  EXPECT_EQ(st.at("holders").at(0).at("fragments"), Json::array({0}));
  // The durability estimate from the 7 copies just proven.
  const Json& d = st.at("durability");
  EXPECT_EQ(d.at("units_counted"), 7);
  EXPECT_EQ(d.at("horizon_years"), 10);
  EXPECT_GT(d.at("p_lost").get<double>(), 0.0);
  EXPECT_LT(d.at("p_lost").get<double>(), 0.5);
  EXPECT_THAT(Tes({"status", hash}, &dir1_).out, HasSubstr("healthy"));
  EXPECT_THAT(Tes({"status", hash}, &dir1_).out, HasSubstr("chance of loss within 10 years"));

  // The owner's ledger credits what the holders store for it.
  Json ledger = Json::parse(Tes({"--json", "ledger"}, &dir1_).out);
  EXPECT_EQ(ledger.size(), 7u);
  EXPECT_GT(ledger.at(0).at("bytes_they_store_for_us").get<uint64_t>(), 0u);

  // Restore on a node that holds nothing of it (nodes hold it or not: find one).
  int stranger = 0;
  for (int n = 2; n <= kNodes && !stranger; ++n) {
    fs::path d = Dir(n);
    Json v = Json::parse(Tes({"--json", "verify"}, &d).out);
    if (v.at("checked") == 0) stranger = n;
  }
  ASSERT_NE(stranger, 0);
  fs::path sd = Dir(stranger);
  CommandResult fetched =
      Tes({"--json", "fetch", hash, "--out", (root_ / "restored").string()}, &sd);
  ASSERT_EQ(fetched.exit_code, 0) << fetched.err;
  EXPECT_EQ(Json::parse(fetched.out).at("files"), 2);
  std::ifstream back((root_ / "restored" / "memories" / "letters" / "a.txt").string());
  std::string text((std::istreambuf_iterator<char>(back)), {});
  EXPECT_EQ(text, "a memory worth keeping");

  // A holder killed with SIGKILL comes back with its fragment intact and verified.
  int holder = 0;
  for (int n = 2; n <= kNodes && !holder; ++n) {
    fs::path d = Dir(n);
    if (Json::parse(Tes({"--json", "verify"}, &d).out).at("checked") == 1) holder = n;
  }
  ASSERT_NE(holder, 0);
  ::kill(daemons_[holder - 1]->pid(), SIGKILL);
  daemons_[holder - 1]->Wait(Clock::now() + kCommandTimeout);
  daemons_.push_back(std::make_unique<Child>(
      TESSERAS_TESD_BIN, std::vector<std::string>{
                             "--data-dir", Dir(holder).string(), "--listen", Addr(holder) + ":7700",
                             "--http-listen", Addr(holder) + ":0", "--bootstrap", Addr(1) + ":7700",
                             "--config", (root_ / "t.toml").string()}));
  Child& again = *daemons_.back();
  ASSERT_TRUE(again.ReadUntil([&] { return again.err().find(" ready ") != std::string::npos; },
                              Clock::now() + kStartTimeout))
      << again.err();
  fs::path hd = Dir(holder);
  CommandResult verified = Tes({"--json", "verify", hash}, &hd);
  ASSERT_EQ(verified.exit_code, 0) << verified.err;
  Json vj = Json::parse(verified.out);
  EXPECT_EQ(vj.at("checked"), 1);
  EXPECT_TRUE(vj.at("failed").empty());

  CommandResult repaired = Tes({"--json", "repair"}, &dir1_);
  ASSERT_EQ(repaired.exit_code, 0) << repaired.err;
  EXPECT_EQ(Json::parse(repaired.out).at("tesseras").size(), 1u);
  EXPECT_EQ(Tes({"repair", hash}, &dir1_).exit_code, 0);

  // Every command in human form too: success, something on stdout, nothing on stderr.
  const std::vector<std::vector<std::string>> human = {
      {"node"},          {"list"},
      {"show", hash},    {"status", hash},
      {"publish", hash}, {"peers"},
      {"ledger"},        {"verify"},
      {"repair", hash},  {"fetch", hash, "--out", (root_ / "restored-human").string()}};
  for (const auto& command : human) {
    CommandResult r = Tes(command, &dir1_);
    EXPECT_EQ(r.exit_code, 0) << command[0] << ": " << r.err;
    EXPECT_FALSE(r.out.empty()) << command[0];
    EXPECT_EQ(r.err, "") << command[0];
  }
  EXPECT_TRUE(fs::exists(root_ / "restored-human" / "memories" / "photo.jpg"));

  // Unknown tessera: a clear not-found, in human and JSON form.
  CommandResult missing = Tes({"status", kHash}, &dir1_);
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_EQ(Lines(missing.err), 1) << missing.err;
  CommandResult missing_json =
      Tes({"--json", "fetch", kHash, "--out", (root_ / "nothing").string()}, &dir1_);
  EXPECT_NE(missing_json.exit_code, 0);
  EXPECT_TRUE(Json::parse(missing_json.out).contains("error"));
  EXPECT_FALSE(fs::exists(root_ / "nothing"));
}

TEST_F(DaemonNetworkTest, SigtermDuringAPublishExitsCleanlyWithinFiveSeconds) {
  base_ = 120;
  StartNetwork();
  fs::path in = root_ / "big";
  fs::create_directories(in);
  {
    std::ofstream f((in / "video.bin").string(), std::ios::binary);
    std::string block(1 << 20, '\0');
    for (int i = 0; i < 96; ++i) {
      for (std::size_t j = 0; j < block.size(); j += 64) block[j] = static_cast<char>(i * 31 + j);
      f.write(block.data(), static_cast<std::streamsize>(block.size()));
    }
  }
  CommandResult created = Tes({"--json", "create", in.string()}, &dir1_);
  ASSERT_EQ(created.exit_code, 0) << created.err;
  const std::string hash = Json::parse(created.out).at("hash");

  Child publish(TESSERAS_TES_BIN, {"--data-dir", dir1_.string(), "--json", "publish", hash});
  // Wait (bounded) until a first fragment has landed somewhere: the publish runs.
  auto deadline = Clock::now() + std::chrono::seconds(30);
  bool started = false;
  while (!started && Clock::now() < deadline) {
    for (int n = 2; n <= kNodes && !started; ++n) {
      fs::path d = Dir(n);
      auto v = Tes({"--json", "verify"}, &d);
      started = v.exit_code == 0 && Json::parse(v.out).at("checked").get<int>() > 0;
    }
  }
  ASSERT_TRUE(started);
  auto t0 = Clock::now();
  ::kill(daemons_[0]->pid(), SIGTERM);
  auto status = daemons_[0]->Wait(t0 + std::chrono::seconds(5));
  ASSERT_TRUE(status.has_value()) << "tesd did not exit within 5 s:\n" << daemons_[0]->err();
  EXPECT_EQ(*status, 0) << daemons_[0]->err();
  ASSERT_TRUE(publish.Wait(Clock::now() + kCommandTimeout).has_value());

  // Whatever the holders kept is whole: every fragment they index verifies.
  for (int n = 2; n <= kNodes; ++n) {
    fs::path d = Dir(n);
    auto v = Tes({"--json", "verify"}, &d);
    ASSERT_EQ(v.exit_code, 0) << v.err;
    EXPECT_TRUE(Json::parse(v.out).at("failed").empty()) << v.out;
  }
}

TEST_F(DaemonE2eTest, PrintConfigAndConfigErrors) {
  CommandResult printed = RunDaemon({"--print-config"});
  EXPECT_EQ(printed.exit_code, 0) << printed.err;
  EXPECT_THAT(printed.out, HasSubstr("[replication]\n"));
  EXPECT_THAT(printed.out, HasSubstr("repair_interval_secs = 86400\n"));
  EXPECT_THAT(printed.out, HasSubstr("[dht]\n"));
  EXPECT_THAT(printed.out, HasSubstr("[network]\n"));

  fs::path config = root_ / "tesd.toml";
  std::ofstream(config.string()) << "[replication]\nmax_concurrent_transfers = 9\n";
  CommandResult custom = RunDaemon({"--config", config.string(), "--print-config"});
  EXPECT_EQ(custom.exit_code, 0) << custom.err;
  EXPECT_THAT(custom.out, HasSubstr("max_concurrent_transfers = 9\n"));

  std::ofstream(config.string()) << "[replication]\nmax_concurent_transfers = 9\n";
  CommandResult unknown = RunDaemon({"--config", config.string(), "--print-config"});
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_THAT(unknown.err, HasSubstr("replication.max_concurent_transfers"));
  EXPECT_THAT(unknown.err, HasSubstr(config.string()));

  std::ofstream(config.string()) << "[replication]\nmax_concurrent_transfers = 0\n";
  CommandResult range = RunDaemon(
      {"--config", config.string(), "--data-dir", data_dir_.string(), "--listen", "127.0.0.1:0"});
  EXPECT_EQ(range.exit_code, 2);
  EXPECT_THAT(range.err, HasSubstr("out of range"));
  EXPECT_FALSE(fs::exists(data_dir_));  // refused before touching the data dir
}

TEST_F(DaemonE2eTest, BadListenAddressesAreRefused) {
  CommandResult bad = RunDaemon({"--data-dir", data_dir_.string(), "--listen", "localhost:1"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_THAT(bad.err, HasSubstr("invalid address 'localhost:1'"));
  CommandResult bad_peer = RunDaemon({"--data-dir", data_dir_.string(), "--listen", "127.0.0.1:0",
                                      "--bootstrap", "127.0.0.1:7700,10.0.0.1"});
  EXPECT_EQ(bad_peer.exit_code, 2);
  EXPECT_THAT(bad_peer.err, HasSubstr("--bootstrap: invalid address '10.0.0.1'"));
  EXPECT_FALSE(fs::exists(data_dir_));  // refused before touching the data dir

  Child& first = StartDaemon(data_dir_);
  std::string taken = ReadyField(first.err(), "listen");
  fs::path other = root_ / "other";
  CommandResult busy = RunDaemon({"--data-dir", other.string(), "--listen", taken});
  EXPECT_EQ(busy.exit_code, 1);
  EXPECT_THAT(busy.err, HasSubstr("cannot listen on " + taken));
  EXPECT_FALSE(fs::exists(other / "tesd.sock"));
}

// Sends raw bytes on the API socket and reads until the daemon closes it
// (every request below asks for Connection: close or is malformed).
std::string RawExchange(const fs::path& socket_path, const std::string& request) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return "";
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, socket_path.c_str(), sizeof(addr.sun_path) - 1);
  std::string reply;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    // The daemon may answer and close before reading everything (413): stop
    // sending then, without SIGPIPE, and read the answer.
    for (std::size_t sent = 0; sent < request.size();) {
      ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) break;
      sent += static_cast<std::size_t>(n);
    }
    auto deadline = Clock::now() + kCommandTimeout;
    while (Clock::now() < deadline) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 1000) <= 0) continue;
      char buf[4096];
      ssize_t n = ::read(fd, buf, sizeof(buf));
      if (n <= 0) break;
      reply.append(buf, static_cast<std::size_t>(n));
    }
  }
  ::close(fd);
  return reply;
}

std::string HttpRequest(const std::string& method, const std::string& target,
                        const std::string& body = "") {
  return method + " " + target + " HTTP/1.1\r\nHost: tesd\r\nConnection: close\r\n" +
         "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

Json BodyOf(const std::string& reply) {
  auto at = reply.find("\r\n\r\n");
  if (at == std::string::npos) return Json();
  return Json::parse(reply.substr(at + 4), nullptr, false);
}

TEST_F(DaemonE2eTest, RawHttpApiAnswersWithStatusesAndJsonErrors) {
  StartDaemon(data_dir_);
  fs::path sock = data_dir_ / "tesd.sock";

  std::string node = RawExchange(sock, HttpRequest("GET", "/v1/node"));
  EXPECT_THAT(node, HasSubstr("HTTP/1.1 200 OK"));
  EXPECT_THAT(node, HasSubstr("Content-Type: application/json"));
  EXPECT_EQ(BodyOf(node).at("peers"), 0);

  std::string bad_hash = RawExchange(sock, HttpRequest("GET", "/v1/tesseras/xyz/status"));
  EXPECT_THAT(bad_hash, HasSubstr("HTTP/1.1 400 Bad Request"));
  Json e = BodyOf(bad_hash);
  EXPECT_EQ(e.at("error").at("code"), "invalid_argument");
  EXPECT_THAT(e.at("error").at("message").get<std::string>(), HasSubstr("invalid tessera hash"));

  std::string unknown = RawExchange(sock, HttpRequest("GET", "/v1/nothing"));
  EXPECT_THAT(unknown, HasSubstr("HTTP/1.1 404 Not Found"));
  EXPECT_EQ(BodyOf(unknown).at("error").at("code"), "not_found");

  std::string wrong_method = RawExchange(sock, HttpRequest("DELETE", "/v1/node"));
  EXPECT_THAT(wrong_method, HasSubstr("HTTP/1.1 405"));
  EXPECT_THAT(wrong_method, HasSubstr("Allow: GET"));

  std::string bad_json = RawExchange(sock, HttpRequest("POST", "/v1/tesseras", "{oops"));
  EXPECT_THAT(bad_json, HasSubstr("HTTP/1.1 400"));
  EXPECT_THAT(BodyOf(bad_json).at("error").at("message").get<std::string>(),
              HasSubstr("not valid JSON"));

  const std::string missing = (root_ / "no-such-file").string();
  std::string create =
      RawExchange(sock, HttpRequest("POST", "/v1/tesseras", "{\"paths\":[\"" + missing + "\"]}"));
  EXPECT_THAT(create, Not(HasSubstr("HTTP/1.1 200")));
  EXPECT_TRUE(BodyOf(create).at("error").contains("message"));

  std::string too_big =
      RawExchange(sock, HttpRequest("POST", "/v1/repair", std::string(2 * 1024 * 1024, ' ')));
  EXPECT_THAT(too_big, HasSubstr("HTTP/1.1 413"));

  std::string garbage = RawExchange(sock, "NOT HTTP AT ALL\r\n\r\n");
  EXPECT_THAT(garbage, HasSubstr("HTTP/1.1 400"));

  // Two requests on one kept-alive connection, then the daemon is still fine.
  std::string two = RawExchange(
      sock, "GET /v1/node HTTP/1.1\r\nHost: tesd\r\n\r\n" + HttpRequest("GET", "/v1/peers"));
  EXPECT_THAT(two, HasSubstr("HTTP/1.1 200 OK"));
  EXPECT_NE(two.find("HTTP/1.1 200 OK"), two.rfind("HTTP/1.1 200 OK"));  // both answered
  EXPECT_EQ(Tes({"node"}).exit_code, 0);
}

}  // namespace
