// Health: who holds a tessera, what each holder proves, and what that means
// (docs/REPLICATION.md, "Health" and "Maintenance"). One check is four steps:
//   FindHolders   what the DHT says: the owner's record and the holders' claims
//   GatherHolders merged with the holders we track and the copies we keep
//   AuditHolders  a fresh challenge to every holder, batch by batch
//   RecordAudit   each copy's history updated, the policy's assessment, the
//                 ledger following proof, everything persisted
#include <algorithm>
#include <map>

#include "replication/replication_service.h"
#include "replication/service_internal.h"

namespace tesseras::replication {

namespace fs = std::filesystem;
using core::ErrorCode;
using core::MakeError;
using core::Result;

namespace {

// An attestation answer older than this (holder's clock) is refused.
constexpr int64_t kAttestationMaxAgeMs = 10 * 60 * 1000;

bool IsTransportFailure(ErrorCode code) {
  return code == ErrorCode::kTimeout || code == ErrorCode::kUnavailable ||
         code == ErrorCode::kCancelled;
}

}  // namespace

bool CanBeTheTessera(const SignedPlan& plan, const core::ContentHash& tessera) {
  if (plan.table.tessera != tessera) return false;
  if (plan.table.plan.tier == core::Tier::kSmall) {
    return plan.table.checksums.size() == 1 && plan.table.checksums[0] == tessera;
  }
  return true;
}

ReplicationService::Records ReplicationService::ReadRecords(const core::ContentHash& tessera,
                                                            bool cached) {
  Records out;
  const core::NodeId key = core::KeyFor(tessera);
  const int64_t now = d_.clock->NowUnixMs();
  std::optional<std::vector<std::vector<uint8_t>>> kept;
  if (cached) kept = record_cache_.Get(key, now);
  const uint64_t erase_epoch = record_cache_.erase_epoch();
  Result<std::vector<std::vector<uint8_t>>> records =
      kept ? Result<std::vector<std::vector<uint8_t>>>(std::move(*kept)) : d_.dht->GetRecords(key);
  (kept ? metrics_->record_reads_cache : metrics_->record_reads_network).Inc();
  if (!records.ok()) {
    out.problem = records.error().message;
    return out;
  }
  out.reached = true;
  out.from_cache = kept.has_value();
  // The answer is kept until the first of the records it was read for expires
  // (a record rejected below does not shorten it).
  int64_t valid_until = INT64_MAX;
  // Many claims carry the same plan: each distinct plan's signature is checked once.
  std::map<core::ContentHash, bool> plan_valid;
  auto plan_ok = [&](const SignedPlan& plan, const core::ContentHash& digest) {
    auto it = plan_valid.find(digest);
    if (it == plan_valid.end()) it = plan_valid.emplace(digest, plan.Verify().ok()).first;
    return it->second;
  };
  for (const auto& sealed : *records) {
    std::vector<uint8_t> bytes = sealed;
    int64_t expires = INT64_MAX;
    if (d_.open_record) {
      auto opened = d_.open_record(sealed);
      if (!opened.ok()) {
        out.problem = opened.error().message;
        continue;
      }
      expires = opened->expires_unix_ms;
      bytes = std::move(opened->value);
    }
    if (LooksLikeHolderClaim(bytes)) {
      auto claim = HolderClaim::Decode(bytes);
      if (!claim.ok()) {
        out.problem = claim.error().message;
        continue;
      }
      const core::ContentHash digest = PlanDigest(claim->plan);
      if (!plan_ok(claim->plan, digest)) {
        out.problem = "holder claim carries a plan with an invalid owner signature";
        continue;
      }
      if (auto valid = claim->Verify(/*plan_verified=*/true); !valid.ok()) {
        out.problem = valid.error().message;
        continue;
      }
      if (!CanBeTheTessera(claim->plan, tessera)) continue;
      valid_until = std::min(valid_until, expires);
      auto by = std::make_pair(digest, claim->holder());
      auto it = out.claims.find(by);
      if (it == out.claims.end() || claim->claimed_at_ms > it->second.claimed_at_ms) {
        out.claims.insert_or_assign(by, std::move(*claim));
      }
      continue;
    }
    auto rec = HolderRecord::Decode(bytes);
    Result<void> valid = rec.ok() ? rec->Verify() : Result<void>(rec.error());
    if (!valid.ok()) {
      out.problem = valid.error().message;
      continue;
    }
    // A holder record is signed by its plan's owner (Verify): it speaks only
    // for that owner's plan.
    if (!CanBeTheTessera(rec->plan, tessera)) continue;
    valid_until = std::min(valid_until, expires);
    const core::ContentHash digest = PlanDigest(rec->plan);
    auto it = out.owner_records.find(digest);
    if (it == out.owner_records.end() || rec->version > it->second.version) {
      out.owner_records.insert_or_assign(digest, std::move(*rec));
    }
  }
  if (!out.from_cache) record_cache_.Put(key, std::move(*records), now, valid_until, erase_epoch);
  return out;
}

bool ReplicationService::CachedRecordsCurrent(const core::ContentHash& tessera) {
  const core::NodeId key = core::KeyFor(tessera);
  auto kept = record_cache_.Get(key, d_.clock->NowUnixMs());
  if (!kept) return false;
  auto fresh = d_.dht->GetRecords(key);
  metrics_->record_reads_network.Inc();
  if (fresh.ok() && fresh->size() == kept->size()) {
    // The same records in any order: compared as sorted lists, in an order of
    // our own (length, then bytes). std::sort with vector's operator< is
    // what g++ 12 at -O3 misreads as a memcmp past any object's size.
    auto before = [](const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
      if (a.size() != b.size()) return a.size() < b.size();
      return std::lexicographical_compare(a.data(), a.data() + a.size(), b.data(),
                                          b.data() + b.size());
    };
    std::sort(kept->begin(), kept->end(), before);
    std::sort(fresh->begin(), fresh->end(), before);
    if (*kept == *fresh) return true;
  }
  record_cache_.Erase(key);
  return false;
}

ReplicationService::Found ReplicationService::FindHolders(const SignedPlan& plan, bool cached) {
  Records all = ReadRecords(plan.table.tessera, cached);
  Found found;
  found.problem = all.problem;
  found.from_cache = all.from_cache;
  const core::ContentHash digest = PlanDigest(plan);
  if (auto it = all.owner_records.find(digest); it != all.owner_records.end()) {
    found.owner_record = std::move(it->second);
  }
  for (auto& [key, claim] : all.claims) {
    if (key.first == digest) found.claims.push_back(std::move(claim));
  }
  return found;
}

Result<ReplicationService::View> ReplicationService::GatherHolders(const SignedPlan& plan,
                                                                   int64_t trust_verified_ms,
                                                                   bool cached_records) {
  const core::ContentHash& tessera = plan.table.tessera;
  const uint32_t n = plan.table.plan.total_shards();
  const core::NodeId& self = d_.self->node_id();
  View view;
  ASSIGN_OR_RETURN(auto stored_plan, d_.plans->GetPlan(tessera));
  view.stored = stored_plan.has_value() && *stored_plan == plan.Encode();
  if (view.stored) {
    ASSIGN_OR_RETURN(view.holders, d_.plans->GetHolders(tessera));
  }
  std::vector<uint32_t> ours;  // indices the placement or our claim gives us
  if (view.stored) {
    ASSIGN_OR_RETURN(auto m, d_.plans->GetMaintenance(tessera));
    ours = m.claimed;
  }
  // Merge what the DHT says: a holder it names that we do not track is added
  // with unverified copies (counted once it proves them); a holder's own claim
  // gives its current address.
  Found found = FindHolders(plan, cached_records);
  view.records_cached = found.from_cache;
  auto merge = [&](const core::NodeId& holder, const std::string& address,
                   const std::vector<uint32_t>& indices, bool own_word) {
    if (holder == self) {
      ours.insert(ours.end(), indices.begin(), indices.end());
      return;
    }
    auto it = std::find_if(view.holders.begin(), view.holders.end(),
                           [&](const core::HolderView& h) { return h.holder == holder; });
    if (it == view.holders.end()) {
      view.holders.push_back({holder, address, {}});
      it = view.holders.end() - 1;
    } else if (own_word) {
      it->address = address;
    }
    for (uint32_t i : indices) {
      if (i >= n) continue;
      const bool known = std::any_of(it->copies.begin(), it->copies.end(),
                                     [&](const core::CopyHistory& c) { return c.index == i; });
      if (!known)
        it->copies.push_back(
            core::CopyHistory{i, std::nullopt, std::nullopt, 0, false, 0, 0, std::nullopt});
    }
  };
  if (found.owner_record) {
    for (const auto& h : found.owner_record->holders) merge(h.node_id, h.address, h.indices, false);
  }
  for (const auto& c : found.claims) {
    view.own_claim_found = view.own_claim_found || c.holder() == self;
    merge(c.holder(), c.address, c.indices, true);
  }
  view.holders.erase(std::remove_if(view.holders.begin(), view.holders.end(),
                                    [&](const core::HolderView& h) {
                                      return h.holder == self || h.copies.empty();
                                    }),
                     view.holders.end());
  for (auto& h : view.holders) {
    std::sort(h.copies.begin(), h.copies.end(),
              [](const auto& a, const auto& b) { return a.index < b.index; });
  }
  std::sort(view.holders.begin(), view.holders.end(),
            [](const auto& a, const auto& b) { return a.holder < b.holder; });

  // The copies we keep: verified now, or, within `trust_verified_ms` of their
  // last verification, checked for presence and size (a fragment whose bytes
  // are bad or gone is dropped by the store and mended like a missing one).
  ASSIGN_OR_RETURN(auto mine, d_.fragments->List(tessera));
  for (const auto& f : mine) {
    const bool in_plan = f.id.index < n && f.id.checksum == plan.table.checksums[f.id.index];
    if (in_plan && d_.fragments->CheckHeld(tessera, f.id.index, trust_verified_ms).ok()) {
      view.local.push_back(f.id.index);
    } else {
      view.corrupt_local.push_back(f.id.index);
    }
  }
  for (uint32_t i : ours) {
    const bool have = std::find(view.local.begin(), view.local.end(), i) != view.local.end();
    const bool noted = std::find(view.corrupt_local.begin(), view.corrupt_local.end(), i) !=
                       view.corrupt_local.end();
    if (!have && !noted && i < n) view.corrupt_local.push_back(i);
  }
  std::sort(view.corrupt_local.begin(), view.corrupt_local.end());
  // The same test as RepairMissing's. A payload that opens counts as at
  // hand; if it then fails to re-encode, the repair fetches and reports it.
  // One that does not open counts as none: the policy batches as for any
  // holder, which costs traffic, never safety.
  view.payload_local = d_.blobs->Open(tessera).ok();
  view.published = !view.holders.empty() || !mine.empty() || found.owner_record.has_value();
  return view;
}

ReplicationService::Audit ReplicationService::AuditHolders(const SignedPlan& plan, const View& view,
                                                           bool ping) {
  const core::ContentHash& tessera = plan.table.tessera;
  const uint32_t n = plan.table.plan.total_shards();
  Audit audit;
  audit.holders.resize(view.holders.size());
  const std::size_t batch_size = AttestBatchSize(config_.audit_samples);
  ParallelFor(view.holders.size(), config_.max_concurrent_transfers, [&](std::size_t i) {
    const core::HolderView& hv = view.holders[i];
    Audit::Holder& h = audit.holders[i];
    const core::PeerInfo peer{hv.holder, hv.address};
    // Every copy we track is asked for, lost ones included: a holder that
    // comes back and proves them counts again.
    std::vector<uint32_t> wanted;
    for (const auto& c : hv.copies)
      if (c.index < n) wanted.push_back(c.index);
    auto note = [&h](std::string what) {
      if (h.error.empty()) h.error = std::move(what);
    };
    // Batches (ATTESTATION.md, "Batches") count separately: each has its own
    // fresh challenge and is verified on its own. A batch answered with a
    // valid attestation proves what it proves and denies the rest of what it
    // asked; one answered "not found" denies all it asked; one with no valid
    // answer leaves its copies unanswered, and after a transport failure the
    // remaining batches are not asked (they would wait out the same silence).
    bool silent = false;
    for (std::size_t start = 0; start < wanted.size(); start += batch_size) {
      const std::size_t end = std::min(wanted.size(), start + batch_size);
      const std::vector<uint32_t> ask(wanted.begin() + static_cast<std::ptrdiff_t>(start),
                                      wanted.begin() + static_cast<std::ptrdiff_t>(end));
      auto mark = [&](CopyObservation o) {
        for (uint32_t idx : ask) h.seen[idx] = o;
      };
      if (silent) {
        mark(CopyObservation::kUnanswered);
        continue;
      }
      const Challenge challenge = FreshChallenge();
      // Named, so that a holder keeping other owners' plans for the hash
      // proves this one's, whoever asks.
      auto att = d_.dht->RequestAttestation(peer, tessera, challenge, ask, plan.owner_id());
      if (!att.ok()) {
        note(att.error().ToString());
        if (att.error().code == ErrorCode::kNotFound) {
          h.answered = true;
          metrics_->attest_failed.Inc();
          mark(CopyObservation::kDenied);
          continue;
        }
        metrics_->attest_unanswered.Inc();
        mark(CopyObservation::kUnanswered);
        silent = IsTransportFailure(att.error().code);
        continue;
      }
      auto check = VerifyAttestation(*att, peer.id, plan, challenge, ask, d_.clock->NowUnixMs(),
                                     kAttestationMaxAgeMs, config_.audit_samples);
      if (!check.ok()) {
        note(check.error().ToString());
        metrics_->attest_unanswered.Inc();
        mark(CopyObservation::kUnanswered);
        continue;
      }
      h.answered = true;
      mark(CopyObservation::kDenied);
      for (uint32_t idx : check->proven) {
        h.seen[idx] = CopyObservation::kProven;
        h.proven.push_back(idx);
      }
      if (check->failed.empty() && check->proven.size() == ask.size()) {
        metrics_->attest_ok.Inc();
      } else {
        metrics_->attest_failed.Inc();
      }
      if (!check->failed.empty()) {
        note("fragment " + std::to_string(check->failed[0].first) + ": " + check->failed[0].second);
      } else if (check->proven.size() < ask.size()) {
        note("did not prove " + std::to_string(ask.size() - check->proven.size()) + " of " +
             std::to_string(ask.size()) + " fragments asked");
      }
    }
    std::sort(h.proven.begin(), h.proven.end());
    h.proven.erase(std::unique(h.proven.begin(), h.proven.end()), h.proven.end());
    // Did the node go away, or does it answer but not prove? Ping tells.
    h.reachable = h.answered || (ping && d_.dht->Ping(peer).ok());
  });
  return audit;
}

void ReplicationService::RecordAudit(const SignedPlan& plan, View& view, const Audit& audit,
                                     HealthReport& r) {
  const core::ContentHash& tessera = plan.table.tessera;
  const int64_t now = d_.clock->NowUnixMs();
  const auto& cfg = config_.policy;
  const Redundancy red = RedundancyOf(plan.table.plan);
  const uint64_t size = plan.table.plan.shard_size;
  // 1. Each copy's history.
  for (std::size_t i = 0; i < view.holders.size(); ++i) {
    for (auto& c : view.holders[i].copies) {
      auto seen = audit.holders[i].seen.find(c.index);
      c = AfterAudit(
          c, seen == audit.holders[i].seen.end() ? CopyObservation::kUnanswered : seen->second,
          now);
    }
  }
  // 2. The policy's verdict.
  const Assessment a = Assess(red, view.holders, view.local, now, cfg,
                              view.payload_local ? Payload::kLocal : Payload::kFetched);
  // 3. The report, before surplus and forgotten copies leave the view.
  r.holders.clear();
  for (std::size_t i = 0; i < view.holders.size(); ++i) {
    const auto& hv = view.holders[i];
    const auto& h = audit.holders[i];
    HolderHealth hh;
    hh.entry.holder = hv.holder;
    hh.entry.address = hv.address;
    for (const auto& c : hv.copies) {
      hh.entry.indices.push_back(c.index);
      if (c.last_proven_ms) {
        hh.entry.last_attested_ms =
            std::max(hh.entry.last_attested_ms.value_or(0), *c.last_proven_ms);
      }
      if (StandingOf(c, now, cfg) == CopyStanding::kLost) hh.lost.push_back(c.index);
    }
    hh.answered = h.answered;
    hh.reachable = h.reachable;
    hh.proven = h.proven;
    hh.suspect_since = SuspectSince(hv, now, cfg);
    hh.error = h.error;
    r.holders.push_back(std::move(hh));
  }
  r.corrupt_local = view.corrupt_local;
  r.own_claim_found = view.own_claim_found;
  r.records_cached = view.records_cached;
  r.fragments_verified = a.proven_fragments;
  r.fragments_counted = a.counted_fragments;
  r.copies_verified = a.proven_units;
  r.copies_counted = a.counted_units;
  r.margin = a.margin;
  r.trigger = a.trigger;
  r.rebuild = a.rebuild;
  r.deficit = static_cast<uint32_t>(a.rebuild.size());
  r.state = !view.published                        ? HealthState::kLocal
            : a.state == Recoverability::kHealthy  ? HealthState::kHealthy
            : a.state == Recoverability::kDegraded ? HealthState::kDegraded
                                                   : HealthState::kLost;
  r.outcome = !r.corrupt_local.empty() ? HealthOutcome::kCorruptLocal
              : a.needs_repair()       ? HealthOutcome::kNeedsReplication
                                       : HealthOutcome::kHealthy;
  // 4. Credit follows proof, copy by copy (the owner's ledger only): a proven
  // copy is credited (again, for a returning holder), a lost or dropped one
  // is not.
  const bool own = plan.owner_id() == d_.self->node_id();
  auto drop = [&](const std::vector<std::pair<core::NodeId, uint32_t>>& list) {
    for (const auto& entry : list) {
      // Named outside the lambda: clang 14 cannot capture a structured binding.
      const core::NodeId& holder = entry.first;
      const uint32_t index = entry.second;
      for (auto& h : view.holders) {
        if (h.holder != holder) continue;
        h.copies.erase(std::remove_if(h.copies.begin(), h.copies.end(),
                                      [&](const core::CopyHistory& c) { return c.index == index; }),
                       h.copies.end());
      }
      if (own) {
        (void)d_.ledger->Forget(holder, core::LedgerDirection::kTheyStoreForUs, tessera, index);
      }
    }
  };
  if (own) {
    for (const auto& h : view.holders) {
      for (const auto& c : h.copies) {
        const auto st = StandingOf(c, now, cfg);
        if (st == CopyStanding::kProven) {
          (void)d_.ledger->Record(h.holder, core::LedgerDirection::kTheyStoreForUs, tessera,
                                  c.index, size);
        } else if (st == CopyStanding::kLost) {
          (void)d_.ledger->Forget(h.holder, core::LedgerDirection::kTheyStoreForUs, tessera,
                                  c.index);
        }
      }
    }
  }
  drop(a.surplus);
  drop(a.forget);
  view.holders.erase(std::remove_if(view.holders.begin(), view.holders.end(),
                                    [](const core::HolderView& h) { return h.copies.empty(); }),
                     view.holders.end());
  // 5. Who we are for this tessera, and what we remember of it.
  std::vector<core::HolderView> ranked = view.holders;
  if (!view.local.empty() || !view.corrupt_local.empty()) {
    core::HolderView me{d_.self->node_id(), "", {}};
    for (uint32_t i : view.local) me.copies.push_back(AfterPush(i, now));
    for (uint32_t i : view.corrupt_local) me.copies.push_back(AfterPush(i, now));
    ranked.push_back(std::move(me));
  }
  r.maintainer_rank =
      MaintainerRank(d_.self->node_id(), plan.owner_id(), core::KeyFor(tessera), ranked, now, cfg);
  if (!view.stored) return;  // a stranger asking: nothing of ours to remember
  (void)d_.plans->SetHolders(tessera, view.holders);
  NoteProbes(tessera, view.holders, now, plan.owner_id() == d_.self->node_id());
  auto m = d_.plans->GetMaintenance(tessera);
  core::MaintenanceClock clock = m.ok() ? std::move(*m) : core::MaintenanceClock{};
  clock.last_checked_ms = now;
  if (a.needs_repair()) {
    if (!clock.need_since_ms) clock.need_since_ms = now;
  } else {
    clock.need_since_ms.reset();
  }
  r.need_since_ms = clock.need_since_ms;
  (void)d_.plans->SetMaintenance(tessera, clock);
}

Result<HealthReport> ReplicationService::CheckTesseraHealth(const core::ContentHash& tessera,
                                                            int64_t trust_verified_ms,
                                                            bool cached_records) {
  auto local = LoadPlan(tessera);
  SignedPlan plan;
  if (local.ok()) {
    plan = std::move(*local);
  } else if (local.error().code == ErrorCode::kNotFound) {
    // Not ours and not held: a plan published by its owner or carried by a
    // holder's claim, if the DHT has one.
    ASSIGN_OR_RETURN(plan, FindPlan(tessera));
  } else {
    return local.error();
  }
  HealthReport r;
  r.tessera = tessera;
  r.plan = plan.table.plan;
  r.own = plan.owner_id() == d_.self->node_id();
  ASSIGN_OR_RETURN(View view, GatherHolders(plan, trust_verified_ms, cached_records));
  const Audit audit = AuditHolders(plan, view);
  RecordAudit(plan, view, audit, r);
  return r;
}

Result<HolderRecord> ReplicationService::LookupHolderRecord(const core::ContentHash& tessera) {
  ASSIGN_OR_RETURN(SignedPlan plan, LoadPlan(tessera));
  Found found = FindHolders(plan);
  if (!found.owner_record) {
    return MakeError(ErrorCode::kNotFound,
                     "no valid holder record for tessera " + tessera.ToHex() +
                         (found.problem.empty() ? "" : " (" + found.problem + ")"));
  }
  return std::move(*found.owner_record);
}

}  // namespace tesseras::replication
