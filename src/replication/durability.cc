#include "replication/durability.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>

namespace tesseras::replication {
namespace {

constexpr double kHoursPerYear = 24 * 365;

using Matrix = std::vector<double>;  // row-major, s × s

Matrix Multiply(const Matrix& a, const Matrix& b, std::size_t s) {
  Matrix out(s * s, 0.0);
  for (std::size_t i = 0; i < s; ++i) {
    for (std::size_t k = 0; k < s; ++k) {
      const double x = a[i * s + k];
      if (x == 0) continue;
      for (std::size_t j = 0; j < s; ++j) out[i * s + j] += x * b[k * s + j];
    }
  }
  return out;
}

// P(Binomial(n, p) >= k).
double AtLeast(uint32_t n, double p, uint32_t k) {
  if (k == 0) return 1;
  if (k > n) return 0;
  double total = 0;
  for (uint32_t i = k; i <= n; ++i) {
    const double log_term = std::lgamma(n + 1.0) - std::lgamma(i + 1.0) - std::lgamma(n - i + 1.0) +
                            (i > 0 ? i * std::log(p) : 0.0) +
                            (n > i ? (n - i) * std::log1p(-p) : 0.0);
    total += std::exp(log_term);
  }
  return std::min(1.0, total);
}

}  // namespace

DurabilityEstimate EstimateDurability(const DurabilityInput& in, const MaintenancePolicyConfig& c,
                                      const DurabilityPrior& prior) {
  DurabilityEstimate e;
  const Redundancy& r = in.redundancy;
  const bool small = r.copies > 1;
  const uint32_t total = small ? r.copies : r.fragments;  // units at full redundancy
  const uint32_t need = small ? 1 : r.data;               // fewer is loss
  e.units = std::min<uint32_t>(static_cast<uint32_t>(in.holders.size()), total);

  double asked = prior.availability_weight_audits;
  double answered = prior.availability * prior.availability_weight_audits;
  for (const auto& h : in.holders) {
    asked += static_cast<double>(h.audits_asked);
    answered += static_cast<double>(std::min(h.audits_answered, h.audits_asked));
  }
  e.availability = std::clamp(answered / asked, 1e-6, 1.0 - 1e-12);
  e.departures_per_year =
      (std::max(0.0, in.departures_seen) + prior.lifetime_weight_years / prior.lifetime_years) /
      (std::max(0.0, in.holder_years_watched) + prior.lifetime_weight_years);
  const double lambda = e.departures_per_year / kHoursPerYear;  // per unit-hour
  const double grace_h = static_cast<double>(c.holder_grace_ms) / 3.6e6;
  const double pass_h = std::max(1e-3, in.pass_interval_hours);
  auto delay = [&](uint32_t j) {
    const double p = (small || in.payload_at_hand) ? 1.0 : AtLeast(j, e.availability, need);
    return p <= 0 ? INFINITY : grace_h + pass_h / p;
  };
  e.repair_delay_hours = total >= 1 ? delay(total - 1) : 0;
  if (e.units < need) {
    e.p_lost = 1;
    return e;
  }
  // States: 0 = lost (absorbing), then j = need..total as 1..total-need+1.
  const std::size_t s = total - need + 2;
  auto state = [&](uint32_t j) { return static_cast<std::size_t>(j - need + 1); };
  Matrix q(s * s, 0.0);
  for (uint32_t j = need; j <= total; ++j) {
    const std::size_t i = state(j);
    const double death = j * lambda;
    q[i * s + (j == need ? 0 : state(j - 1))] += death;
    q[i * s + i] -= death;
    if (j < total) {
      const double d = delay(j);
      if (std::isfinite(d)) {
        const double birth = (total - j) / d;
        q[i * s + state(j + 1)] += birth;
        q[i * s + i] -= birth;
      }
    }
  }
  double rate = 0;
  for (std::size_t i = 0; i < s; ++i) rate = std::max(rate, -q[i * s + i]);
  const double t = std::max(0.0, in.horizon_years) * kHoursPerYear;
  if (rate <= 0 || t <= 0) return e;
  // exp(Q t) = exp(Q Δ)^(2^n) with Λ Δ ≤ 1; exp(Q Δ) = Σ_m Pois(m; ΛΔ) P^m
  // with P = I + Q / Λ, every term non-negative.
  int n = 0;
  while (rate * t / std::ldexp(1.0, n) > 1.0 && n < 200) ++n;
  const double ld = rate * t / std::ldexp(1.0, n);
  Matrix p(s * s, 0.0);
  for (std::size_t i = 0; i < s; ++i) {
    for (std::size_t j = 0; j < s; ++j) p[i * s + j] = (i == j ? 1.0 : 0.0) + q[i * s + j] / rate;
    p[i * s + i] = std::max(0.0, p[i * s + i]);
  }
  Matrix term(s * s, 0.0), sum(s * s, 0.0);
  for (std::size_t i = 0; i < s; ++i) term[i * s + i] = 1;
  double weight = std::exp(-ld);
  for (int m = 0; m < 40; ++m) {
    for (std::size_t i = 0; i < s * s; ++i) sum[i] += weight * term[i];
    term = Multiply(term, p, s);
    weight *= ld / (m + 1);
  }
  for (int i = 0; i < n; ++i) sum = Multiply(sum, sum, s);
  e.p_lost = std::clamp(sum[state(e.units) * s + 0], 0.0, 1.0);
  return e;
}

DurabilityInput ObservedDurabilityInput(const std::vector<core::HolderView>& holders,
                                        const Redundancy& redundancy, int64_t now_ms,
                                        const MaintenancePolicyConfig& c) {
  constexpr double kMsPerYear = kHoursPerYear * 3600 * 1000;
  DurabilityInput in;
  in.redundancy = redundancy;
  const bool small = redundancy.copies > 1;
  std::map<uint32_t, HolderObservation> by_index;  // coded: one unit per index
  for (const auto& h : holders) {
    bool any_counted = false;
    std::optional<int64_t> first_seen;
    for (const auto& copy : h.copies) {
      if (copy.first_seen_ms && (!first_seen || *copy.first_seen_ms < *first_seen)) {
        first_seen = copy.first_seen_ms;
      }
      const CopyStanding st = StandingOf(copy, now_ms, c);
      if (st != CopyStanding::kProven && st != CopyStanding::kSuspect) continue;
      any_counted = true;
      HolderObservation o{copy.audits, std::min(copy.answered, copy.audits)};
      if (small) {
        in.holders.push_back(o);
        continue;
      }
      auto [it, fresh] = by_index.emplace(copy.index, o);
      if (!fresh && o.audits_asked > it->second.audits_asked) it->second = o;
    }
    bool all_lost = !h.copies.empty();
    for (const auto& copy : h.copies) {
      all_lost = all_lost && StandingOf(copy, now_ms, c) == CopyStanding::kLost;
    }
    if (all_lost && !any_counted) in.departures_seen += 1;
    if (first_seen && *first_seen < now_ms) {
      in.holder_years_watched += static_cast<double>(now_ms - *first_seen) / kMsPerYear;
    }
  }
  for (const auto& [index, o] : by_index) in.holders.push_back(o);
  return in;
}

}  // namespace tesseras::replication
