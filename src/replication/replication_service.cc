#include "replication/replication_service.h"

#include <set>

#include "replication/service_internal.h"

namespace tesseras::replication {

namespace fs = std::filesystem;
using core::ErrorCode;
using core::MakeError;
using core::Result;

std::string_view HealthStateName(HealthState s) {
  switch (s) {
    case HealthState::kLocal:
      return "local";
    case HealthState::kHealthy:
      return "healthy";
    case HealthState::kDegraded:
      return "degraded";
    case HealthState::kLost:
      return "lost";
  }
  return "unknown";
}

uint32_t ReplicationReport::fragments_placed() const {
  std::set<uint32_t> s;
  for (const auto& h : holders) s.insert(h.indices.begin(), h.indices.end());
  return static_cast<uint32_t>(s.size());
}

ReplicationService::ReplicationService(ReplicationDeps deps, ReplicationConfig config)
    : d_(deps), config_(std::move(config)), record_cache_(config_.record_cache) {
  if (!d_.metrics) {
    own_metrics_ = std::make_unique<core::MetricsRegistry>();
    d_.metrics = own_metrics_.get();
  }
  metrics_ = std::make_unique<Metrics>(*d_.metrics);
  budget_ = RepairBudget(config_.policy, d_.clock->NowUnixMs());
}

ReplicationService::~ReplicationService() = default;

void ReplicationService::CountRefusal(std::string_view reason) {
  d_.metrics
      ->GetCounter("tesseras_refusals_total", "Requests and fragments refused, by reason",
                   {{"reason", std::string(reason)}})
      .Inc();
}

PassStatus ReplicationService::pass_status() const {
  std::lock_guard lock(mu_);
  return pass_;
}

std::vector<PassSummary> ReplicationService::pass_history() const {
  std::lock_guard lock(mu_);
  return {history_.begin(), history_.end()};
}

Result<SignedPlan> ReplicationService::LoadPlan(const core::ContentHash& tessera) {
  ASSIGN_OR_RETURN(auto bytes, d_.plans->GetPlan(tessera));
  if (!bytes) {
    return MakeError(ErrorCode::kNotFound, "no plan is known for tessera " + tessera.ToHex());
  }
  return SignedPlan::Decode(*bytes);
}

Result<SignedPlan> ReplicationService::GetPlan(const core::ContentHash& tessera) {
  return LoadPlan(tessera);
}

}  // namespace tesseras::replication
