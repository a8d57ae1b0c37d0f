#include <random>

#include "replication/replication_service.h"
#include "replication/service_internal.h"

namespace tesseras::replication {

namespace fs = std::filesystem;
using core::ErrorCode;
using core::MakeError;
using core::Result;

RepairLoop::RepairLoop(ReplicationService& service, std::function<void(const std::string&)> log)
    : service_(service), log_(std::move(log)) {}

RepairLoop::~RepairLoop() { Stop(); }

void RepairLoop::Start() {
  std::lock_guard lock(mu_);
  if (started_) return;
  started_ = true;
  thread_ = std::thread([this] { Run(); });
}

Result<std::vector<RepairReport>> RepairLoop::RunNow() { return RunPass(/*forced=*/true); }

Result<std::vector<RepairReport>> RepairLoop::RunPass(bool forced) {
  std::lock_guard pass(pass_mu_);
  auto r = service_.RunRepairPass(forced);
  ++passes_;
  return r;
}

void RepairLoop::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void RepairLoop::Run() {
  std::mt19937_64 rng(std::random_device{}());
  const auto& cfg = service_.config();
  for (;;) {
    std::uniform_int_distribution<uint64_t> jitter(0, cfg.repair_jitter_secs);
    const auto wait = std::chrono::seconds(cfg.repair_interval_secs + jitter(rng));
    {
      std::unique_lock lock(mu_);
      if (cv_.wait_for(lock, wait, [this] { return stop_; })) return;
    }
    auto r = RunPass(/*forced=*/false);
    if (!r.ok()) {
      log_("repair pass failed: " + r.error().ToString());
      continue;
    }
    for (const auto& rep : *r) {
      for (const auto& p : rep.problems) log_("repair " + rep.tessera.Short() + "…: " + p);
    }
  }
}

}  // namespace tesseras::replication
