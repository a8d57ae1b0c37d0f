#include "replication/durability.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/tier.h"

namespace tesseras::replication {
namespace {

constexpr double kHoursPerYear = 24 * 365;

// A prior that says nothing, so that the observed rates are the rates used.
DurabilityPrior NoPrior() {
  DurabilityPrior p;
  p.lifetime_weight_years = 1e-20;
  p.availability_weight_audits = 1e-20;
  return p;
}

DurabilityInput Observed(Redundancy r, uint32_t holders, double departures, double years,
                         uint64_t asked = 100, uint64_t answered = 100) {
  DurabilityInput in;
  in.redundancy = r;
  for (uint32_t i = 0; i < holders; ++i) in.holders.push_back({asked, answered});
  in.departures_seen = departures;
  in.holder_years_watched = years;
  return in;
}

Redundancy Code(uint32_t data, uint32_t fragments) {
  Redundancy r;
  r.data = data;
  r.fragments = fragments;
  r.copies = 1;
  r.fragment_bytes = 1 << 20;
  return r;
}

TEST(DurabilityTest, OneUnitWithoutRepairIsTheExponentialLifetime) {
  MaintenancePolicyConfig c;
  // λ = 0.5 per year; one unit, nothing can rebuild it.
  for (double horizon : {0.1, 1.0, 10.0}) {
    auto in = Observed(Code(1, 1), 1, 50, 100);
    in.horizon_years = horizon;
    const auto e = EstimateDurability(in, c, NoPrior());
    EXPECT_NEAR(e.departures_per_year, 0.5, 1e-9);
    EXPECT_NEAR(e.p_lost, 1 - std::exp(-0.5 * horizon), 1e-9) << horizon;
  }
}

TEST(DurabilityTest, TinyProbabilitiesKeepTheirRelativePrecision) {
  MaintenancePolicyConfig c;
  auto in = Observed(Code(1, 1), 1, 1e-9, 1e3);  // λ = 1e-12 per year
  in.horizon_years = 1;
  const auto e = EstimateDurability(in, c, NoPrior());
  EXPECT_NEAR(e.p_lost / 1e-12, 1.0, 1e-6);
}

TEST(DurabilityTest, TwoUnitsWithRepairMatchTheClosedForm) {
  MaintenancePolicyConfig c;
  c.holder_grace_ms = 48ll * 3600 * 1000;
  auto in = Observed(Code(1, 2), 2, 30, 100);  // λ = 0.3 per year
  in.payload_at_hand = true;                   // every pass can repair
  in.pass_interval_hours = 24;
  in.horizon_years = 10;
  const auto e = EstimateDurability(in, c, NoPrior());
  const double l = 0.3 / kHoursPerYear;
  const double mu = 1.0 / (48 + 24);
  EXPECT_NEAR(e.repair_delay_hours, 72, 1e-9);
  // Transient states {2, 1}: A = [[-2l, 2l], [mu, -(l + mu)]]; survival from 2
  // is [1 0] exp(A t) [1 1]^T, by its two eigenvalues.
  const double tr = -(3 * l + mu), det = 2 * l * (l + mu) - 2 * l * mu;
  const double disc = std::sqrt(tr * tr - 4 * det);
  const double r1 = (tr + disc) / 2, r2 = (tr - disc) / 2;
  const double t = 10 * kHoursPerYear;
  // x(t) = c1 e^{r1 t} + c2 e^{r2 t} with x(0) = 1 and x'(0) = row sum of A from 2 = 0.
  const double c1 = (0 - r2) / (r1 - r2), c2 = 1 - c1;
  const double survival = c1 * std::exp(r1 * t) + c2 * std::exp(r2 * t);
  EXPECT_NEAR(e.p_lost / (1 - survival), 1.0, 1e-6);
}

TEST(DurabilityTest, RiskGrowsWithGraceDeparturesAbsenceAndHorizon) {
  const Redundancy medium = RedundancyOf(*core::PlanForSize(64 * core::kMiB));
  MaintenancePolicyConfig c;
  auto base_in = Observed(medium, 24, 100, 100, 100, 60);  // λ = 1/yr, 60 % up
  const double base = EstimateDurability(base_in, c).p_lost;
  EXPECT_GT(base, 0);
  EXPECT_LT(base, 1);
  MaintenancePolicyConfig longer = c;
  longer.holder_grace_ms *= 10;
  EXPECT_GT(EstimateDurability(base_in, longer).p_lost, base);
  auto more_departures = Observed(medium, 24, 300, 100, 100, 60);
  EXPECT_GT(EstimateDurability(more_departures, c).p_lost, base);
  auto less_up = Observed(medium, 24, 100, 100, 100, 45);
  EXPECT_GT(EstimateDurability(less_up, c).p_lost, base);
  auto owner = base_in;
  owner.payload_at_hand = true;
  EXPECT_LT(EstimateDurability(owner, c).p_lost, base);
  auto shorter = base_in;
  shorter.horizon_years = 1;
  EXPECT_LT(EstimateDurability(shorter, c).p_lost, base);
  // Fewer counted fragments now: closer to the edge.
  auto degraded = Observed(medium, 18, 100, 100, 100, 60);
  EXPECT_GT(EstimateDurability(degraded, c).p_lost, base);
}

TEST(DurabilityTest, TheSmallTierNeedsOneCopyAndAnyHolderCanRepair) {
  const Redundancy small = RedundancyOf(*core::PlanForSize(100'000));
  MaintenancePolicyConfig c;
  auto in = Observed(small, 7, 50, 100, 100, 10);  // rarely up: irrelevant for copies
  const auto e = EstimateDurability(in, c, NoPrior());
  EXPECT_EQ(e.units, 7u);
  EXPECT_NEAR(e.repair_delay_hours, 72 + 24, 1e-9);
  EXPECT_LT(e.p_lost, 1e-9);
  auto one = Observed(small, 1, 50, 100);
  EXPECT_GT(EstimateDurability(one, c, NoPrior()).p_lost, e.p_lost);
}

TEST(DurabilityTest, EdgesAndThePrior) {
  const Redundancy medium = RedundancyOf(*core::PlanForSize(64 * core::kMiB));
  MaintenancePolicyConfig c;
  // Fewer counted than k: already lost.
  EXPECT_EQ(EstimateDurability(Observed(medium, 15, 0, 1), c).p_lost, 1.0);
  // No time, no loss.
  auto now = Observed(medium, 24, 10, 10);
  now.horizon_years = 0;
  EXPECT_EQ(EstimateDurability(now, c).p_lost, 0.0);
  // Nothing observed: the prior's 2-year lifetime and 80 % availability.
  DurabilityInput blank;
  blank.redundancy = medium;
  blank.holders.resize(24);
  const auto e = EstimateDurability(blank, c);
  EXPECT_NEAR(e.departures_per_year, 0.5, 1e-12);
  EXPECT_NEAR(e.availability, 0.8, 1e-12);
}

}  // namespace
}  // namespace tesseras::replication

namespace tesseras::replication {
namespace {

// What a node remembers of the holders becomes the estimate's input: counted
// copies with their audits, departed holders over the time watched.
TEST(ObservedDurabilityInputTest, CountsCopiesDeparturesAndWatchedTime) {
  MaintenancePolicyConfig c;
  c.holder_grace_ms = 3600 * 1000;
  const int64_t year = static_cast<int64_t>(24 * 365) * 3600 * 1000;
  const int64_t now = 2 * year;
  auto copy = [](uint32_t index, int64_t seen, uint32_t audits, uint32_t answered) {
    core::CopyHistory h;
    h.index = index;
    h.first_seen_ms = seen;
    h.last_proven_ms = seen;
    h.audits = audits;
    h.answered = answered;
    return h;
  };
  std::vector<core::HolderView> holders(4);
  holders[0].copies = {copy(0, 0, 10, 9), copy(1, 0, 4, 4)};  // two counted indices
  holders[1].copies = {copy(1, year, 12, 12)};                // index 1 again, better observed
  holders[2].copies = {copy(2, year, 5, 5)};
  holders[2].copies[0].first_failure_ms = year + 1000;  // silent past the grace: lost
  holders[2].copies[0].consecutive_failures = 3;
  holders[3].copies = {copy(3, now - 1000, 1, 1)};
  holders[3].copies[0].denied = true;  // said it no longer has it
  const DurabilityInput in = ObservedDurabilityInput(holders, Code(2, 4), now, c);
  ASSERT_EQ(in.holders.size(), 2u);  // indices 0 and 1; 2 and 3 are lost
  EXPECT_EQ(in.holders[0].audits_asked, 10u);
  EXPECT_EQ(in.holders[0].audits_answered, 9u);
  EXPECT_EQ(in.holders[1].audits_asked, 12u);  // the better-observed copy of index 1
  EXPECT_DOUBLE_EQ(in.departures_seen, 2);     // holders 2 and 3
  // Watched: 2 years, 1, 1 and ~0.
  EXPECT_NEAR(in.holder_years_watched, 4.0, 1e-6);
  // With all four counted again, the tessera is safer than with two of k = 2.
  holders[2].copies[0].first_failure_ms.reset();
  holders[3].copies[0].denied = false;
  const auto all = EstimateDurability(ObservedDurabilityInput(holders, Code(2, 4), now, c), c);
  EXPECT_LT(all.p_lost, EstimateDurability(in, c).p_lost);
}

}  // namespace
}  // namespace tesseras::replication
