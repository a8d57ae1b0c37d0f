// Probes of suspect holders between checks (replication_service.h,
// "Probes"; docs/REPLICATION.md, "Probes"):
//   note    RecordAudit notes each checked tessera's next probe (NextProbeMs)
//   probe   ProbeSuspects audits the holders whose probe is due, alone, and
//           records what they showed with AfterProbe
#include <algorithm>

#include "replication/replication_service.h"
#include "replication/service_internal.h"

namespace tesseras::replication {

using core::Result;

void ReplicationService::NoteProbes(const core::ContentHash& tessera,
                                    const std::vector<core::HolderView>& holders) {
  std::optional<int64_t> next;
  for (const auto& h : holders) {
    const auto at = NextProbeMs(h, config_.policy);
    if (at && (!next || *at < *next)) next = at;
  }
  std::lock_guard lock(mu_);
  if (!next) {
    probes_.erase(tessera);
    return;
  }
  auto it = probes_.find(tessera);
  if (it != probes_.end()) {
    it->second = *next;
  } else if (probes_.size() < config_.max_probe_entries) {
    probes_.emplace(tessera, *next);
  }
}

std::optional<int64_t> ReplicationService::NextProbeDueMs() const {
  std::lock_guard lock(mu_);
  std::optional<int64_t> next;
  for (const auto& [tessera, at] : probes_) {
    if (!next || at < *next) next = at;
  }
  return next;
}

Result<ReplicationService::ProbeSummary> ReplicationService::ProbeSuspects() {
  const int64_t now = d_.clock->NowUnixMs();
  std::vector<core::ContentHash> due;
  {
    std::lock_guard lock(mu_);
    for (const auto& [tessera, at] : probes_) {
      if (at <= now) due.push_back(tessera);
    }
  }
  ProbeSummary summary;
  for (const auto& tessera : due) {
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
    View view;
    for (const auto& h : *tracked) {
      const auto at = NextProbeMs(h, config_.policy);
      if (at && *at <= now) view.holders.push_back(h);
    }
    if (!view.holders.empty()) {
      const Audit audit = AuditHolders(*plan, view);
      const int64_t seen_at = d_.clock->NowUnixMs();
      for (std::size_t i = 0; i < view.holders.size(); ++i) {
        const Audit::Holder& a = audit.holders[i];
        ++summary.holders;
        if (a.answered) {
          ++summary.answered;
          metrics_->probes_answered.Inc();
        } else {
          metrics_->probes_unanswered.Inc();
        }
        auto h = std::find_if(tracked->begin(), tracked->end(), [&](const core::HolderView& v) {
          return v.holder == view.holders[i].holder;
        });
        for (auto& c : h->copies) {
          auto seen = a.seen.find(c.index);
          c = AfterProbe(c, seen == a.seen.end() ? CopyObservation::kUnanswered : seen->second,
                         seen_at);
        }
      }
      if (auto stored = d_.plans->SetHolders(tessera, *tracked); !stored.ok()) {
        // What was seen is lost with the write (a full disk, say); the
        // entry goes too, so that the loop does not retry at once: the next
        // check notes the tessera again.
        summary.problems.push_back(tessera.Short() + "…: " + stored.error().ToString());
        std::lock_guard lock(mu_);
        probes_.erase(tessera);
        continue;
      }
    }
    NoteProbes(tessera, *tracked);
  }
  return summary;
}

}  // namespace tesseras::replication
