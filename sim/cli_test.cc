// The tesseras-sim command as a real process: its exit codes, its JSON
// document, --policy, --csv with the plot script, and its errors.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

namespace tesseras::sim {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

struct Ran {
  int code = -1;
  std::string out, err;
};

std::string Slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class SimCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/sim_cli_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Runs `sh -c` on the command line (arguments are the test's own, quoted
  // where they need it), stdout and stderr to files.
  Ran Run(const std::string& command) {
    const fs::path out = dir_ / "stdout", err = dir_ / "stderr";
    const std::string line = command + " >" + out.string() + " 2>" + err.string();
    const int status = std::system(line.c_str());
    Ran r;
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.out = Slurp(out);
    r.err = Slurp(err);
    return r;
  }
  Ran Sim(const std::string& args) { return Run(std::string(TESSERAS_SIM_BINARY) + " " + args); }
  static std::string Scenario(const std::string& name) {
    return std::string(TESSERAS_SIM_DIR) + "/scenarios/" + name + ".toml";
  }

  fs::path dir_;
};

// A few simulated weeks on a small network: enough for churn and repairs.
constexpr const char* kTiny =
    " --set scenario.nodes=40 --set scenario.tesseras=60 --set scenario.years=0.06"
    " --set scenario.calibration_day=5";

TEST_F(SimCliTest, JsonHasEveryHeadlineFieldForEveryScenario) {
  for (const char* name : {"datacenter", "home", "laptops", "blackout"}) {
    const Ran r = Sim("--scenario " + Scenario(name) + kTiny + " --json");
    ASSERT_EQ(r.code, 0) << name << ": " << r.err;
    const auto j = nlohmann::json::parse(r.out);  // exactly one document
    EXPECT_EQ(j["scenario"], name);
    EXPECT_EQ(j["policy"], "configured");
    EXPECT_TRUE(j["tesseras_lost"]["count"].is_number_unsigned());
    EXPECT_TRUE(j["tesseras_lost"]["which"].is_array());
    EXPECT_EQ(j["tesseras_lost"]["which"].size(), j["tesseras_lost"]["count"].get<std::size_t>());
    EXPECT_TRUE(j["traffic_vs_oracle"].is_number());
    EXPECT_TRUE(j["min_margin_seen"].is_number_integer());
    EXPECT_TRUE(j["below_threshold"]["p50_hours"].is_number());
    EXPECT_TRUE(j["below_threshold"]["p99_hours"].is_number());
    for (const char* k : {"repair_bytes", "audit_bytes"}) {
      EXPECT_TRUE(j[k]["total"].is_number_unsigned()) << k;
      EXPECT_TRUE(j[k]["per_node_day"].is_number()) << k;
      EXPECT_TRUE(j["oracle"][k]["total"].is_number_unsigned()) << k;
      EXPECT_TRUE(j["oracle"][k]["per_node_day"].is_number()) << k;
    }
    EXPECT_GT(j["audit_bytes"]["total"].get<uint64_t>(), 0u) << name;
    EXPECT_LE(j["oracle"]["repair_bytes"]["total"].get<uint64_t>(),
              j["repair_bytes"]["total"].get<uint64_t>() + j["repair_debt_bytes"].get<uint64_t>())
        << name;
    EXPECT_EQ(j["invariants"]["held"], true) << name;
  }
}

TEST_F(SimCliTest, PolicyRunsEagerAndConfiguredOnTheSameChurn) {
  const Ran r = Sim("--scenario " + Scenario("home") + kTiny + " --policy --json --threads 1");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  const auto& eager = j["runs"]["eager"];
  const auto& configured = j["runs"]["configured"];
  ASSERT_TRUE(eager.is_object());
  ASSERT_TRUE(configured.is_object());
  EXPECT_EQ(eager["seed"], configured["seed"]);
  // The same churn: the policy decides repairs, not who leaves.
  EXPECT_EQ(eager["counts"]["departures"], configured["counts"]["departures"]);
  EXPECT_EQ(eager["counts"]["disk_failures"], configured["counts"]["disk_failures"]);
  EXPECT_EQ(eager["oracle"]["repair_bytes"], configured["oracle"]["repair_bytes"]);
  EXPECT_EQ(eager["knobs"]["holder_grace_hours"], 0.0);
  EXPECT_EQ(eager["knobs"]["repair_threshold"], 1.0);
  EXPECT_GT(configured["knobs"]["holder_grace_hours"].get<double>(), 0.0);
  ASSERT_EQ(j["side_by_side"].size(), 2u);
  EXPECT_EQ(j["side_by_side"][0]["policy"], "eager");
  EXPECT_EQ(j["side_by_side"][1]["policy"], "configured");
}

// --trace-tessera writes that tessera's history to stderr, and only its:
// its checks (the owner's first), each with the ground truth.
TEST_F(SimCliTest, TraceTesseraWritesThatTesserasHistory) {
  const Ran r = Sim("--scenario " + Scenario("home") + kTiny + " --json --trace-tessera 3");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("tessera 3: check by node"));
  EXPECT_THAT(r.err, HasSubstr("(owner, rank 0, acting)"));
  EXPECT_THAT(r.err, HasSubstr("[truth: durable "));
  std::istringstream lines(r.err);
  std::size_t n = 0;
  for (std::string line; std::getline(lines, line); ++n) {
    EXPECT_THAT(line, HasSubstr(" tessera 3: ")) << line;
  }
  EXPECT_GT(n, 10u);
  const auto j = nlohmann::json::parse(r.out);  // stdout keeps its one document
  EXPECT_EQ(j["scenario"], "home");
}

TEST_F(SimCliTest, CsvHasOneRowPerDayAndThePlotScriptDrawsIt) {
  const fs::path csv = dir_ / "csv";
  const Ran r =
      Sim("--scenario " + Scenario("laptops") + kTiny + " --policy --csv " + csv.string());
  ASSERT_EQ(r.code, 0) << r.err;
  for (const char* policy : {"eager", "configured"}) {
    std::ifstream in(csv / (std::string(policy) + "-days.csv"));
    ASSERT_TRUE(in) << policy;
    std::string header, line;
    std::getline(in, header);
    EXPECT_THAT(header, HasSubstr("day,nodes_alive,nodes_up,repair_bytes,audit_bytes,oracle_bytes,"
                                  "min_margin_seen"));
    int rows = 0;
    while (std::getline(in, line)) ++rows;
    EXPECT_EQ(rows, static_cast<int>(0.06 * 365)) << policy;
  }
  if (Run("command -v python3").code != 0) {
    GTEST_SKIP() << "python3 is not installed: sim/plot_days.py was not run";
  }
  const fs::path svg = dir_ / "days.svg";
  const Ran plot = Run("python3 " + std::string(TESSERAS_SIM_DIR) + "/plot_days.py " +
                       csv.string() + " " + svg.string());
  ASSERT_EQ(plot.code, 0) << plot.err;
  const std::string text = Slurp(svg);
  EXPECT_THAT(text, HasSubstr("<svg"));
  EXPECT_THAT(text, HasSubstr("eager repair"));
  EXPECT_THAT(text, HasSubstr("configured durable"));
  EXPECT_THAT(text, HasSubstr("<polyline"));
  const Ran empty = Run("python3 " + std::string(TESSERAS_SIM_DIR) + "/plot_days.py " +
                        dir_.string() + "/nothing-here");
  EXPECT_EQ(empty.code, 1);
  EXPECT_THAT(empty.err, HasSubstr("no *-days.csv"));
}

TEST_F(SimCliTest, BadScenarioFilesAreClearErrors) {
  Ran r = Sim("--scenario " + (dir_ / "missing.toml").string());
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("cannot read scenario file"));
  EXPECT_TRUE(r.out.empty());

  const fs::path bad = dir_ / "bad.toml";
  std::ofstream(bad) << "[scenario]\nnodes = \"many\"\n";
  r = Sim("--scenario " + bad.string() + " --json");
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("bad.toml:2: scenario.nodes must be an integer"));
  EXPECT_TRUE(r.out.empty());

  std::ofstream(bad) << "[scenario\n";
  r = Sim("--scenario " + bad.string());
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("bad.toml:1"));

  r = Sim("--scenario " + Scenario("home") + " --set policy.holder_grace_hours=-3");
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("policy.holder_grace_hours must be between 0"));

  r = Sim("--json");
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("--scenario is required"));
}

// The real services of 30 nodes for 18 days, with disks failing under them:
// every tessera that was not lost is restored bit-exact by a node that joins
// at the end, the real repairs re-created copies, and what they cost on the
// wire is of the order the policy-level run beside them predicts.
TEST_F(SimCliTest, FullStackModeRunsTheRealServicesOnTheSameChurn) {
  const Ran r = Sim("--scenario " + Scenario("home") +
                    " --full-stack --json --set fullstack.nodes=30 --set fullstack.tesseras=40"
                    " --set fullstack.years=0.05 --set disk.failures_per_node_year=4");
  ASSERT_EQ(r.code, 0) << r.err << r.out;
  const auto j = nlohmann::json::parse(r.out);
  const auto& policy = j["runs"]["configured"];
  const auto& full = j["runs"]["configured-full-stack"];
  EXPECT_EQ(policy["mode"], "policy");
  EXPECT_EQ(full["mode"], "full-stack");
  const auto lost = full["tesseras_lost"]["count"].get<uint64_t>();
  EXPECT_EQ(full["full_stack"]["restored_at_end"].get<uint64_t>() + lost, 40u);
  EXPECT_EQ(full["untracked"], 0);
  EXPECT_GT(full["full_stack"]["maintenance_passes"].get<uint64_t>(), 30u * 10);
  EXPECT_GT(full["full_stack"]["restore_bytes"].get<uint64_t>(), 0u);
  EXPECT_GT(full["publish_bytes"].get<uint64_t>(), 0u);
  EXPECT_GT(full["audit_bytes"]["total"].get<uint64_t>(), 0u);
  // Disks failed: both runs had to re-create copies.
  EXPECT_GT(full["counts"]["disk_failures"].get<uint64_t>(), 0u);
  const double full_repair = full["repair_bytes"]["total"].get<double>();
  const double policy_repair = policy["repair_bytes"]["total"].get<double>();
  EXPECT_GT(full["counts"]["copies_created"].get<uint64_t>(), 0u);
  EXPECT_GT(full_repair, 0);
  EXPECT_GT(policy_repair, 0);
  // Both probe the holders their checks left suspect.
  const auto full_probes = full["counts"]["probes"].get<uint64_t>();
  const auto policy_probes = policy["counts"]["probes"].get<uint64_t>();
  EXPECT_GT(full_probes, 0u);
  EXPECT_GT(policy_probes, 0u);
  std::printf(
      "full-stack repair %.0f B, policy-level %.0f B (%.2fx); audits %.0f vs %.0f B; "
      "probes %llu vs %llu\n",
      full_repair, policy_repair, full_repair / policy_repair,
      full["audit_bytes"]["total"].get<double>(), policy["audit_bytes"]["total"].get<double>(),
      static_cast<unsigned long long>(full_probes), static_cast<unsigned long long>(policy_probes));
}

}  // namespace
}  // namespace tesseras::sim
