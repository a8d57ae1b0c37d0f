// Probes of suspect holders between checks (replication_service.h,
// "Probes"; docs/REPLICATION.md, "Probes"):
//   note    RecordAudit notes each checked tessera's next probe (NextProbeMs)
//   probe   ProbeSuspects audits the holders whose probe is due, alone, and
//           records what they showed with AfterProbe
#include <algorithm>
#include <set>

#include "replication/replication_service.h"
#include "replication/service_internal.h"

namespace tesseras::replication {

using core::Result;

void ReplicationService::NoteProbes(const core::ContentHash& tessera,
                                    const std::vector<core::HolderView>& holders, int64_t asked_ms,
                                    bool own) {
  std::optional<int64_t> next;
  for (const auto& h : holders) {
    const auto at = NextProbeMs(h, asked_ms, config_.policy);
    if (at && (!next || *at < *next)) next = at;
  }
  std::lock_guard lock(mu_);
  if (!next) {
    probes_.erase(tessera);
    return;
  }
  const ProbeEntry entry{*next, asked_ms, own};
  if (auto it = probes_.find(tessera); it != probes_.end()) {
    it->second = entry;
    return;
  }
  if (probes_.size() >= config_.max_probe_entries) {
    if (!own || config_.max_probe_entries == 0) return;
    auto other =
        std::find_if(probes_.begin(), probes_.end(), [](const auto& e) { return !e.second.own; });
    if (other == probes_.end()) return;
    probes_.erase(other);
  }
  probes_.emplace(tessera, entry);
}

std::optional<int64_t> ReplicationService::NextProbeDueMs() const {
  std::lock_guard lock(mu_);
  std::optional<int64_t> next;
  for (const auto& [tessera, e] : probes_) {
    if (!next || e.due_ms < *next) next = e.due_ms;
  }
  return next;
}

Result<ReplicationService::ProbeSummary> ReplicationService::ProbeSuspects(
    std::optional<int64_t> deadline_ms) {
  const int64_t now = d_.clock->NowUnixMs();
  std::vector<std::pair<core::ContentHash, int64_t>> due;  // (tessera, last asked)
  {
    std::lock_guard lock(mu_);
    for (const auto& [tessera, e] : probes_) {
      if (e.due_ms <= now) due.emplace_back(tessera, e.asked_ms);
    }
  }
  ProbeSummary summary;
  std::set<core::NodeId> silent;  // asked in this call and gave no answer
  for (const auto& [tessera, asked] : due) {
    if (deadline_ms && d_.clock->NowUnixMs() >= *deadline_ms) break;
    auto plan = LoadPlan(tessera);
    auto tracked = plan.ok() ? d_.plans->GetHolders(tessera)
                             : Result<std::vector<core::HolderView>>(plan.error());
    if (!tracked.ok()) {
      // The plan is gone (deleted, or never stored under this key): nothing
      // to probe for it.
      std::lock_guard lock(mu_);
      probes_.erase(tessera);
      continue;
    }
    ++summary.tesseras;
    View view;  // the holders to ask now
    std::vector<core::NodeId> known_silent;
    for (const auto& h : *tracked) {
      const auto at = NextProbeMs(h, asked, config_.policy);
      if (!at || *at > now) continue;
      if (silent.count(h.holder) != 0) {
        known_silent.push_back(h.holder);
      } else {
        view.holders.push_back(h);
      }
    }
    Audit audit;
    if (!view.holders.empty()) audit = AuditHolders(*plan, view, /*ping=*/false);
    const int64_t seen_at = d_.clock->NowUnixMs();
    // Recorded into a fresh read of the histories, copy by copy, so that
    // what a check or a push wrote while the probe waited on the network is
    // kept.
    auto fresh = d_.plans->GetHolders(tessera);
    if (!fresh.ok()) {
      summary.problems.push_back(tessera.Short() + "…: " + fresh.error().ToString());
      std::lock_guard lock(mu_);
      probes_.erase(tessera);
      continue;
    }
    auto record = [&](const core::NodeId& holder, const Audit::Holder* a) {
      auto h = std::find_if(fresh->begin(), fresh->end(),
                            [&](const core::HolderView& v) { return v.holder == holder; });
      if (h == fresh->end()) return;  // dropped meanwhile
      for (auto& c : h->copies) {
        if (a == nullptr) {  // silent a moment ago in this call: not asked again
          c = AfterProbe(c, CopyObservation::kUnanswered, seen_at);
          continue;
        }
        // Copies added since the probe began were not asked: left as they are.
        if (auto seen = a->seen.find(c.index); seen != a->seen.end()) {
          c = AfterProbe(c, seen->second, seen_at);
        }
      }
    };
    for (std::size_t i = 0; i < view.holders.size(); ++i) {
      const Audit::Holder& a = audit.holders[i];
      ++summary.holders;
      if (a.answered) {
        ++summary.answered;
        metrics_->probes_answered.Inc();
      } else {
        metrics_->probes_unanswered.Inc();
        silent.insert(view.holders[i].holder);
      }
      record(view.holders[i].holder, &a);
    }
    for (const auto& holder : known_silent) record(holder, nullptr);
    if (auto stored = d_.plans->SetHolders(tessera, *fresh); !stored.ok()) {
      // What was seen is lost with the write (a full disk, say); the entry
      // goes too, so that the loop does not retry at once: the next check
      // notes the tessera again.
      summary.problems.push_back(tessera.Short() + "…: " + stored.error().ToString());
      std::lock_guard lock(mu_);
      probes_.erase(tessera);
      continue;
    }
    NoteProbes(tessera, *fresh, seen_at, plan->owner_id() == d_.self->node_id());
  }
  return summary;
}

}  // namespace tesseras::replication
