#include "sim/scenario.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace tesseras::sim {
namespace {

using ::testing::HasSubstr;

constexpr const char* kMinimal = R"(
[[nodes]]
name = "a"
lifetime = { dist = "exponential", mean_days = 100 }
session = { dist = "fixed", mean_hours = 10 }
downtime = { dist = "fixed", mean_hours = 2 }
)";

std::string ErrorOf(std::string_view text, std::vector<std::string> overrides = {}) {
  auto s = ParseScenario(text, "t.toml", overrides);
  return s.ok() ? "" : s.error().message;
}

TEST(ScenarioTest, EveryShippedScenarioParses) {
  for (const char* name : {"datacenter", "home", "laptops", "blackout"}) {
    auto s = LoadScenario(std::string(TESSERAS_SIM_DIR) + "/scenarios/" + name + ".toml");
    ASSERT_TRUE(s.ok()) << name << ": " << s.error().message;
    EXPECT_EQ(s->name, name);
    EXPECT_EQ(s->nodes, 10000u);
    EXPECT_EQ(s->tesseras, 100000u);
    EXPECT_EQ(s->years, 10);
  }
}

TEST(ScenarioTest, DefaultsAreThePolicyDefaults) {
  auto s = ParseScenario(kMinimal, "t.toml");
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(s->policy.holder_grace_ms, replication::MaintenancePolicyConfig{}.holder_grace_ms);
  EXPECT_EQ(s->policy.suspect_probe_interval_ms,
            replication::MaintenancePolicyConfig{}.suspect_probe_interval_ms);
  EXPECT_EQ(EagerOf(s->policy).suspect_probe_interval_ms, 0);
  EXPECT_EQ(s->policy.repair_bytes_per_day,
            replication::MaintenancePolicyConfig{}.repair_bytes_per_day);
  EXPECT_EQ(s->pass.interval_secs, 86400);
  ASSERT_EQ(s->classes.size(), 1u);
  EXPECT_EQ(s->classes[0].session.mean_secs, 36000);
}

TEST(ScenarioTest, BadInputNamesTheFileLineAndKey) {
  EXPECT_THAT(ErrorOf(std::string(kMinimal) + "[policy]\nholder_grace_hours = -1\n"),
              HasSubstr("t.toml:8: policy.holder_grace_hours must be between 0"));
  EXPECT_THAT(ErrorOf(std::string(kMinimal) + "[policy]\nsuspect_probe_hours = 87601\n"),
              HasSubstr("policy.suspect_probe_hours must be between 0"));
  EXPECT_THAT(ErrorOf(std::string(kMinimal) + "[policy]\ngrace = 3\n"),
              HasSubstr("unknown key policy.grace"));
  EXPECT_THAT(ErrorOf(std::string(kMinimal) + "[policies]\n"), HasSubstr("unknown section"));
  EXPECT_THAT(ErrorOf("[scenario]\nnodes = 100\n"), HasSubstr("no [[nodes]]"));
  EXPECT_THAT(ErrorOf("[[nodes]]\nlifetime = { dist = \"gamma\", mean_days = 3 }\n"),
              HasSubstr("dist must be"));
  EXPECT_THAT(ErrorOf("[[nodes]]\nlifetime = { mean_days = 3, mean_hours = 2 }\n"),
              HasSubstr("exactly one of mean_days, mean_hours"));
  EXPECT_THAT(ErrorOf("[[nodes]]\nlifetime = { mean_days = 3 }\n"),
              HasSubstr("needs session and downtime, or diurnal"));
  EXPECT_THAT(ErrorOf(std::string(kMinimal) + "[tesseras]\nsmall_sizes = [5000000]\n"),
              HasSubstr("tesseras.small_sizes entries must be integers"));
  EXPECT_THAT(ErrorOf(std::string(kMinimal) + "[tesseras]\nsmall_share = 0.5\n"),
              HasSubstr("must be 1"));
  EXPECT_THAT(ErrorOf("[scenario\n"), HasSubstr("t.toml:1"));
  EXPECT_THAT(ErrorOf(kMinimal, {"policy.holder_grace_hours"}), HasSubstr("section.key=value"));
  EXPECT_THAT(ErrorOf(kMinimal, {"policy.holder_grace_hours=[1"}), HasSubstr("not TOML"));
  EXPECT_THAT(ErrorOf(kMinimal, {"policy.nope=1"}), HasSubstr("unknown key policy.nope"));
}

TEST(ScenarioTest, OverridesGoThroughTheSameChecks) {
  auto s = ParseScenario(
      kMinimal, "t.toml",
      {"policy.holder_grace_hours=168", "scenario.nodes = 300", "policy.repair_threshold=0.75"});
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(s->policy.holder_grace_ms, 168ll * 3600 * 1000);
  EXPECT_EQ(s->policy.repair_threshold, 0.75);
  EXPECT_EQ(s->nodes, 300u);
  EXPECT_THAT(ErrorOf(kMinimal, {"scenario.nodes=3"}), HasSubstr("scenario.nodes must be"));
}

TEST(ScenarioTest, EagerIsNoGraceAndEveryUnprovenCopyRebuilt) {
  replication::MaintenancePolicyConfig c;
  c.holder_grace_ms = 5;
  c.repair_threshold = 0.3;
  c.surplus_fraction = 0.7;
  const auto e = EagerOf(c);
  EXPECT_EQ(e.holder_grace_ms, 0);
  EXPECT_EQ(e.repair_threshold, 1.0);
  EXPECT_EQ(e.surplus_fraction, 0.7);  // everything else as configured
}

TEST(ScenarioTest, DistributionsHaveTheirMeans) {
  Rng rng(3);
  for (auto kind : {Distribution::Kind::kExponential, Distribution::Kind::kWeibull}) {
    Distribution d{kind, 1000, kind == Distribution::Kind::kWeibull ? 0.7 : 1.0};
    double sum = 0;
    const int n = 200000;
    for (int i = 0; i < n; ++i) sum += d.Sample(rng);
    EXPECT_NEAR(sum / n / 1000, 1.0, 0.02);
  }
  EXPECT_EQ((Distribution{Distribution::Kind::kFixed, 42, 1}).Sample(rng), 42);
}

}  // namespace
}  // namespace tesseras::sim
