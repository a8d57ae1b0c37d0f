#include <algorithm>
#include <chrono>
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
  using Clock = std::chrono::steady_clock;
  std::mt19937_64 rng(std::random_device{}());
  const auto& cfg = service_.config();
  const int64_t probe_every_ms = cfg.policy.suspect_probe_interval_ms;
  auto next_pass = [&] {
    std::uniform_int_distribution<uint64_t> jitter(0, cfg.repair_jitter_secs);
    return Clock::now() + std::chrono::seconds(cfg.repair_interval_secs + jitter(rng));
  };
  auto pass_at = next_pass();
  for (;;) {
    // Between passes the loop wakes for the earliest probe noted, and at
    // least once per probe interval (a check made outside the loop, by
    // `tes status` or `tes repair HASH`, may have noted an earlier one).
    auto wake = pass_at;
    if (probe_every_ms > 0) {
      int64_t in_ms = probe_every_ms;
      if (auto due = service_.NextProbeDueMs()) {
        // At least a second: a probe that cannot be recorded is dropped,
        // never retried in a spin.
        in_ms = std::clamp<int64_t>(*due - service_.clock_now_ms(), 1000,
                                    std::max<int64_t>(probe_every_ms, 1000));
      }
      wake = std::min(wake, Clock::now() + std::chrono::milliseconds(in_ms));
    }
    {
      std::unique_lock lock(mu_);
      if (cv_.wait_until(lock, wake, [this] { return stop_; })) return;
    }
    if (Clock::now() < pass_at) {
      std::lock_guard pass(pass_mu_);
      // Probes give way to the pass: what is left waits for the next wake.
      const auto until_pass =
          std::chrono::duration_cast<std::chrono::milliseconds>(pass_at - Clock::now()).count();
      auto p = service_.ProbeSuspects(service_.clock_now_ms() + std::max<int64_t>(0, until_pass));
      if (!p.ok()) {
        log_("probing suspect holders failed: " + p.error().ToString());
      } else {
        for (const auto& problem : p->problems) log_("probe " + problem);
      }
      continue;
    }
    auto r = RunPass(/*forced=*/false);
    pass_at = next_pass();
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
