#include <algorithm>

#include "replication/replication_service.h"
#include "replication/service_internal.h"

namespace tesseras::replication {

namespace fs = std::filesystem;
using core::ErrorCode;
using core::MakeError;
using core::Result;

Result<HolderRecord> ReplicationService::LookupHolderRecord(const core::ContentHash& tessera) {
  ASSIGN_OR_RETURN(auto records, d_.dht->GetRecords(core::KeyFor(tessera)));
  std::optional<HolderRecord> best;
  std::string why;
  for (const auto& sealed : records) {
    std::vector<uint8_t> bytes = sealed;
    if (d_.open_record) {
      auto opened = d_.open_record(sealed);
      if (!opened.ok()) {
        why = opened.error().message;
        continue;
      }
      bytes = std::move(*opened);
    }
    auto rec = HolderRecord::Decode(bytes);
    if (!rec.ok()) {
      why = rec.error().message;
      continue;
    }
    auto v = rec->Verify();
    if (!v.ok()) {
      why = v.error().message;
      continue;
    }
    if (rec->plan.table.tessera != tessera) continue;
    if (!best || rec->version > best->version) best = std::move(*rec);
  }
  if (!best) {
    return MakeError(ErrorCode::kNotFound, "no valid holder record for tessera " + tessera.ToHex() +
                                               (why.empty() ? "" : " (" + why + ")"));
  }
  return *best;
}

Result<HealthReport> ReplicationService::CheckTesseraHealth(const core::ContentHash& tessera) {
  ASSIGN_OR_RETURN(SignedPlan plan, LoadPlan(tessera));
  HealthReport r;
  r.tessera = tessera;
  r.plan = plan.table.plan;
  r.own = plan.owner_id() == d_.self->node_id();
  std::vector<core::PlacementEntry> placement;
  if (r.own) {
    ASSIGN_OR_RETURN(placement, d_.plans->GetPlacement(tessera));
  } else {
    auto rec = LookupHolderRecord(tessera);
    if (rec.ok()) placement = ToPlacement(rec->holders);
  }
  const uint32_t n = r.plan.total_shards();
  std::vector<uint32_t> copies(n, 0);
  std::vector<HolderHealth> results(placement.size());
  const std::size_t batch_size = AttestBatchSize(config_.audit_samples);
  ParallelFor(placement.size(), config_.max_concurrent_transfers, [&](std::size_t i) {
    HolderHealth& h = results[i];
    h.entry = placement[i];
    if (h.entry.holder == d_.self->node_id()) return;  // checked locally below
    const core::PeerInfo peer = PeerOf(h.entry);
    // The holder is asked for the fragments the placement gives it, in batches
    // small enough that every answer fits in one message (ATTESTATION.md,
    // "Batches"). An entry without indices is asked for all it holds.
    std::vector<uint32_t> wanted;
    for (uint32_t idx : h.entry.indices)
      if (idx < n) wanted.push_back(idx);
    std::sort(wanted.begin(), wanted.end());
    wanted.erase(std::unique(wanted.begin(), wanted.end()), wanted.end());
    // Batches count separately: every batch has its own fresh challenge and is
    // verified on its own, so a batch that fails (an error reply, a bad
    // signature) proves nothing but does not undo what the other batches
    // proved; its fragments count as not proven. Only when a batch gets no
    // answer at all (timeout, node unreachable) are the remaining batches not
    // asked, since they would wait out the same silence.
    bool replied = false;  // some batch came back as an attestation
    auto note = [&h](std::string what) {
      if (h.error.empty()) h.error = std::move(what);
    };
    for (std::size_t start = 0; start == 0 || start < wanted.size(); start += batch_size) {
      const std::size_t end = std::min(wanted.size(), start + batch_size);
      const std::vector<uint32_t> ask(wanted.begin() + static_cast<std::ptrdiff_t>(start),
                                      wanted.begin() + static_cast<std::ptrdiff_t>(end));
      const Challenge challenge = FreshChallenge();
      auto att = d_.dht->RequestAttestation(peer, tessera, challenge, ask);
      if (!att.ok()) {
        note(att.error().ToString());
        const auto code = att.error().code;
        if (code == ErrorCode::kTimeout || code == ErrorCode::kUnavailable ||
            code == ErrorCode::kCancelled) {
          break;
        }
        continue;
      }
      replied = true;
      auto check = VerifyAttestation(*att, peer.id, plan, challenge, ask, d_.clock->NowUnixMs(),
                                     10 * 60 * 1000, config_.audit_samples);
      if (!check.ok()) {
        note(check.error().ToString());
        continue;
      }
      h.answered = true;
      h.proven.insert(h.proven.end(), check->proven.begin(), check->proven.end());
      if (!check->failed.empty()) {
        note("fragment " + std::to_string(check->failed[0].first) + ": " + check->failed[0].second);
      }
    }
    std::sort(h.proven.begin(), h.proven.end());
    h.proven.erase(std::unique(h.proven.begin(), h.proven.end()), h.proven.end());
    if (h.answered) {
      (void)d_.plans->MarkAttested(tessera, peer.id, d_.clock->NowUnixMs());
      h.entry.last_attested_ms = d_.clock->NowUnixMs();
    }
    // Did the node go away, or does it answer but not prove? Ping tells.
    h.reachable = replied || d_.dht->Ping(peer).ok();
  });
  for (auto& h : results) {
    for (uint32_t idx : h.proven)
      if (idx < n) ++copies[idx];
  }
  // Fragments we hold ourselves.
  ASSIGN_OR_RETURN(auto mine, d_.fragments->List(tessera));
  for (const auto& f : mine) {
    auto v = d_.fragments->Verify(tessera, f.id.index);
    if (v.ok() && f.id.index < n && f.id.checksum == plan.table.checksums[f.id.index]) {
      ++copies[f.id.index];
    } else {
      r.corrupt_local.push_back(f.id.index);
    }
  }
  // Fragments the placement assigns to us that we no longer have (deleted, or
  // quarantined by a failed verification) are mended like corrupt ones.
  for (const auto& e : placement) {
    if (e.holder != d_.self->node_id()) continue;
    for (uint32_t idx : e.indices) {
      const bool have =
          std::any_of(mine.begin(), mine.end(), [&](const auto& f) { return f.id.index == idx; });
      if (!have && idx < n &&
          std::find(r.corrupt_local.begin(), r.corrupt_local.end(), idx) == r.corrupt_local.end()) {
        r.corrupt_local.push_back(idx);
      }
    }
  }
  r.holders = std::move(results);
  uint32_t distinct = 0;
  for (uint32_t c : copies) distinct += c > 0;
  const bool published = !placement.empty() || !mine.empty();
  if (r.plan.tier == core::Tier::kSmall) {
    r.fragments_verified = distinct;
    const uint32_t have = copies[0];
    r.deficit = have >= r.plan.replication_factor ? 0 : r.plan.replication_factor - have;
    r.state = !published       ? HealthState::kLocal
              : have == 0      ? HealthState::kLost
              : r.deficit == 0 ? HealthState::kHealthy
                               : HealthState::kDegraded;
  } else {
    r.fragments_verified = distinct;
    r.deficit = n - distinct;
    r.state = !published                       ? HealthState::kLocal
              : distinct == n                  ? HealthState::kHealthy
              : distinct >= r.plan.data_shards ? HealthState::kDegraded
                                               : HealthState::kLost;
  }
  r.outcome = !r.corrupt_local.empty() ? HealthOutcome::kCorruptLocal
              : r.deficit > 0          ? HealthOutcome::kNeedsReplication
                                       : HealthOutcome::kHealthy;
  return r;
}

}  // namespace tesseras::replication
