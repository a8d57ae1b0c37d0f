#include "daemon/node_activity.h"

namespace tesseras::daemon {

void NodeActivity::Record(Event event) {
  std::lock_guard lock(mu_);
  for (auto it = events_.begin(); it != events_.end(); ++it) {
    if (it->kind == event.kind && it->tessera == event.tessera && it->peer == event.peer &&
        it->message == event.message) {
      event.first_at_ms = it->first_at_ms;
      event.count = it->count + 1;
      events_.erase(it);
      break;
    }
  }
  if (event.count == 1) event.first_at_ms = event.at_ms;
  events_.push_front(std::move(event));
  while (events_.size() > kMaxEvents) events_.pop_back();
}

std::vector<NodeActivity::Event> NodeActivity::Events() const {
  std::lock_guard lock(mu_);
  return {events_.begin(), events_.end()};
}

void NodeActivity::RecordHealth(const core::ContentHash& tessera, nlohmann::json summary) {
  std::lock_guard lock(mu_);
  health_[tessera] = std::move(summary);
}

std::optional<nlohmann::json> NodeActivity::Health(const core::ContentHash& tessera) const {
  std::lock_guard lock(mu_);
  auto it = health_.find(tessera);
  if (it == health_.end()) return std::nullopt;
  return it->second;
}

std::map<core::ContentHash, nlohmann::json> NodeActivity::AllHealth() const {
  std::lock_guard lock(mu_);
  return health_;
}

uint64_t NodeActivity::PassStarted(int64_t at_ms, std::string trigger, std::string scope) {
  std::lock_guard lock(mu_);
  Pass p;
  p.started_at_ms = at_ms;
  p.trigger = std::move(trigger);
  p.scope = std::move(scope);
  const uint64_t id = next_pass_++;
  passes_.emplace_front(id, std::move(p));
  while (passes_.size() > kMaxPasses) passes_.pop_back();
  return id;
}

void NodeActivity::PassFinished(uint64_t id, const Pass& result) {
  std::lock_guard lock(mu_);
  for (auto& [pid, pass] : passes_) {
    if (pid != id) continue;
    const int64_t started = pass.started_at_ms;
    std::string trigger = std::move(pass.trigger);
    std::string scope = std::move(pass.scope);
    pass = result;
    pass.started_at_ms = started;
    pass.trigger = std::move(trigger);
    pass.scope = std::move(scope);
    return;
  }
}

std::vector<NodeActivity::Pass> NodeActivity::Passes() const {
  std::lock_guard lock(mu_);
  std::vector<Pass> out;
  for (const auto& [id, pass] : passes_) out.push_back(pass);
  return out;
}

}  // namespace tesseras::daemon
