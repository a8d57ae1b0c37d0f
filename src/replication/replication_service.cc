#include "replication/replication_service.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <deque>
#include <filesystem>
#include <map>
#include <random>
#include <set>

#include "crypto/blake3_hasher.h"
#include "replication/file_io.h"
#include "replication/fragment_codec.h"
#include "replication/placement.h"

namespace tesseras::replication {
namespace {

namespace fs = std::filesystem;
using core::ErrorCode;
using core::MakeError;
using core::Result;

// A sink that hashes and counts what passes through, and only finishes the
// underlying file when the bytes match what the plan says.
class CheckedSink final : public core::ByteSink {
 public:
  CheckedSink(core::ByteSink& inner, const core::ContentHash& expect, uint64_t size)
      : inner_(inner), expect_(expect), size_(size) {}
  Result<void> Write(std::span<const uint8_t> data) override {
    written_ += data.size();
    if (written_ > size_) {
      return MakeError(ErrorCode::kProtocol, "peer sent more bytes than the fragment has");
    }
    hash_.Update(data);
    return inner_.Write(data);
  }
  // Idempotent: the transport finishes the sink on success (DhtPort contract),
  // and the caller may call it again to learn the verdict.
  Result<void> Finish() override {
    if (!verdict_) {
      if (written_ != size_ || hash_.Finalize() != expect_) {
        verdict_ = Result<void>(
            MakeError(ErrorCode::kCorrupt, "fragment bytes do not match the signed plan"));
      } else {
        verdict_ = inner_.Finish();
      }
    }
    return *verdict_;
  }

 private:
  core::ByteSink& inner_;
  core::ContentHash expect_;
  uint64_t size_;
  uint64_t written_ = 0;
  crypto::Blake3Hasher hash_;
  std::optional<Result<void>> verdict_;
};

// Runs fn(i) for i in [0, n) on up to `threads` threads.
void ParallelFor(std::size_t n, std::size_t threads, const std::function<void(std::size_t)>& fn) {
  threads = std::max<std::size_t>(1, std::min(threads, n));
  std::atomic<std::size_t> next{0};
  auto worker = [&] {
    for (std::size_t i = next++; i < n; i = next++) fn(i);
  };
  std::vector<std::thread> pool;
  for (std::size_t t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
}

core::PeerInfo PeerOf(const core::PlacementEntry& e) { return {e.holder, e.address}; }

std::vector<HolderEntry> ToHolderEntries(const std::vector<core::PlacementEntry>& placement) {
  std::vector<HolderEntry> out;
  for (const auto& p : placement) out.push_back({p.holder, p.address, p.indices});
  return out;
}

std::vector<core::PlacementEntry> ToPlacement(const std::vector<HolderEntry>& holders) {
  std::vector<core::PlacementEntry> out;
  for (const auto& h : holders) out.push_back({h.node_id, h.address, h.indices, std::nullopt});
  return out;
}

}  // namespace

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

// ---- staging area -------------------------------------------------------------------

struct ReplicationService::Staged {
  fs::path dir;
  core::FragmentTable table;
  std::vector<bool> present;

  ~Staged() {
    std::error_code ec;
    if (!dir.empty()) fs::remove_all(dir, ec);
  }
  fs::path PathOf(uint32_t i) const { return dir / ShardFileName(i); }
  Result<std::unique_ptr<FileSource>> Open(uint32_t i) const { return FileSource::Open(PathOf(i)); }
};

namespace {

Result<fs::path> MakeScratch(const fs::path& base, const core::ContentHash& tessera,
                             const char* what) {
  static std::atomic<uint64_t> counter{0};
  fs::path root = base.empty() ? fs::temp_directory_path() / "tesseras-scratch" : base;
  fs::path dir = root / (std::string(what) + "-" + tessera.Short() + "-" +
                         std::to_string(::getpid()) + "-" + std::to_string(counter++));
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return MakeError(ErrorCode::kIo, "cannot create " + dir.string() + ": " + ec.message());
  return dir;
}

}  // namespace

ReplicationService::ReplicationService(ReplicationDeps deps, ReplicationConfig config)
    : d_(deps), config_(std::move(config)) {}

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

Result<std::unique_ptr<ReplicationService::Staged>> ReplicationService::StageFromPayload(
    const core::ContentHash& tessera, std::optional<SignedPlan> plan) {
  auto payload = d_.blobs->Open(tessera);
  if (!payload.ok()) {
    return MakeError(payload.error().code, "payload of tessera " + tessera.Short() +
                                               "… is not here: " + payload.error().message);
  }
  auto staged = std::make_unique<Staged>();
  ASSIGN_OR_RETURN(staged->dir, MakeScratch(config_.scratch_dir, tessera, "encode"));
  CodecOptions opt;
  opt.compute_proof_roots = true;
  ASSIGN_OR_RETURN(core::FragmentPlan p, core::PlanForSize((*payload)->Size()));
  std::vector<std::unique_ptr<FileSink>> owned;
  std::vector<core::ByteSink*> sinks;
  for (uint32_t i = 0; i < p.total_shards(); ++i) {
    ASSIGN_OR_RETURN(auto s, FileSink::Create(staged->PathOf(i), /*durable=*/false));
    sinks.push_back(s.get());
    owned.push_back(std::move(s));
  }
  ASSIGN_OR_RETURN(staged->table, EncodeTessera(tessera, p, **payload, sinks, opt));
  if (plan && plan->table != staged->table) {
    return MakeError(ErrorCode::kCorrupt,
                     "re-encoding tessera " + tessera.Short() + "… does not match its signed plan");
  }
  staged->present.assign(p.total_shards(), true);
  return staged;
}

Result<std::unique_ptr<ReplicationService::Staged>> ReplicationService::StageFromNetwork(
    const SignedPlan& plan, const std::vector<core::PlacementEntry>& holders,
    std::vector<PeerFailure>* failures) {
  const auto& table = plan.table;
  const uint32_t n = table.plan.total_shards(), k = table.plan.data_shards;
  auto staged = std::make_unique<Staged>();
  staged->table = table;
  staged->present.assign(n, false);
  ASSIGN_OR_RETURN(staged->dir, MakeScratch(config_.scratch_dir, table.tessera, "fetch"));
  // Who has each index (data indices first: they need no decoding).
  std::map<uint32_t, std::vector<core::PeerInfo>> sources;
  for (const auto& h : holders) {
    if (h.holder == d_.self->node_id()) continue;
    for (uint32_t i : h.indices)
      if (i < n) sources[i].push_back(PeerOf(h));
  }
  std::vector<uint32_t> order;
  for (const auto& [i, _] : sources) order.push_back(i);
  // Local fragments count too (a holder mending its own copy, or a re-fetch).
  auto local = d_.fragments->List(table.tessera);
  if (local.ok()) {
    for (const auto& f : *local) {
      if (f.id.index >= n || f.id.checksum != table.checksums[f.id.index]) continue;
      if (!d_.fragments->Verify(table.tessera, f.id.index).ok()) continue;
      auto src = d_.fragments->Open(table.tessera, f.id.index);
      if (!src.ok()) continue;
      auto sink = FileSink::Create(staged->PathOf(f.id.index), false);
      if (!sink.ok()) continue;
      core::SequentialReader reader(**src);
      std::vector<uint8_t> buf(1 << 20);
      bool ok = true;
      for (;;) {
        auto r = reader.Read(buf);
        if (!r.ok()) {
          ok = false;
          break;
        }
        if (*r == 0) break;
        if (!(*sink)->Write(std::span(buf.data(), *r)).ok()) {
          ok = false;
          break;
        }
      }
      if (ok && (*sink)->Finish().ok()) staged->present[f.id.index] = true;
    }
  }
  std::atomic<uint32_t> have{
      static_cast<uint32_t>(std::count(staged->present.begin(), staged->present.end(), true))};
  std::mutex mu;
  ParallelFor(order.size(), config_.max_concurrent_transfers, [&](std::size_t oi) {
    const uint32_t index = order[oi];
    if (have.load() >= k) return;
    {
      std::lock_guard lock(mu);
      if (staged->present[index]) return;
    }
    for (const auto& peer : sources[index]) {
      if (have.load() >= k) return;
      auto file = FileSink::Create(staged->PathOf(index), /*durable=*/false);
      if (!file.ok()) return;
      CheckedSink checked(**file, table.checksums[index], table.plan.shard_size);
      auto r = d_.dht->FetchFragment(peer, table.tessera, index, checked);
      if (r.ok()) r = checked.Finish();
      if (r.ok()) {
        std::lock_guard lock(mu);
        staged->present[index] = true;
        ++have;
        return;
      }
      std::lock_guard lock(mu);
      if (failures) failures->push_back({peer, {index}, r.error().ToString()});
    }
  });
  if (have.load() < k) {
    std::string detail;
    if (failures && !failures->empty()) {
      detail = " (" + std::to_string(failures->size()) +
               " fetches failed; first: " + failures->front().error + ")";
    } else if (sources.empty()) {
      detail = " (no holder is known)";
    }
    return MakeError(ErrorCode::kInsufficientShards,
                     "could fetch only " + std::to_string(have.load()) + " of the " +
                         std::to_string(k) + " fragments needed to rebuild tessera " +
                         table.tessera.Short() + "…" + detail);
  }
  return staged;
}

Result<std::vector<core::PeerInfo>> ReplicationService::Candidates(
    const core::ContentHash& tessera, std::size_t want, const std::vector<core::PeerInfo>& exclude,
    const std::vector<core::PeerInfo>& existing) {
  // Ask for more than needed: subnet caps and exclusions thin the list.
  ASSIGN_OR_RETURN(auto found, d_.dht->FindPeers(core::KeyFor(tessera),
                                                 std::max<std::size_t>(want * 2 + 8, 20)));
  std::vector<Candidate> cands;
  for (const auto& p : found) {
    if (p.id == d_.self->node_id()) continue;
    bool skip = false;
    for (const auto& e : exclude) skip = skip || e.id == p.id;
    if (skip) continue;
    auto bal = d_.ledger->Balance(p.id);
    cands.push_back(
        {p, bal.ok() ? bal->balance : 0, core::XorDistance(p.id, core::KeyFor(tessera))});
  }
  return SelectHolders(std::move(cands), want, config_.max_per_subnet, existing);
}

std::vector<core::PlacementEntry> ReplicationService::Push(
    const SignedPlan& plan, Staged& staged,
    std::vector<std::pair<core::PeerInfo, std::vector<uint32_t>>> work,
    std::vector<core::PeerInfo> spares, std::vector<PeerFailure>* failures) {
  const auto& table = plan.table;
  std::mutex mu;
  std::map<core::NodeId, core::PlacementEntry> acked;
  std::vector<uint32_t> retry;
  auto push_one = [&](const core::PeerInfo& peer, const std::vector<uint32_t>& indices) {
    std::vector<uint32_t> failed;
    std::string last_error;
    for (std::size_t j = 0; j < indices.size(); ++j) {
      const uint32_t i = indices[j];
      core::FragmentEnvelope env;
      env.id = table.IdOf(i);
      env.table = table;
      env.owner_public_key = plan.owner;
      env.plan_signature.assign(plan.signature.begin(), plan.signature.end());
      auto src = staged.Open(i);
      Result<core::ReplicateAck> ack = src.ok() ? d_.dht->ReplicateFragment(peer, env, **src)
                                                : Result<core::ReplicateAck>(src.error());
      if (ack.ok() && ack->holder != peer.id) {
        ack = MakeError(ErrorCode::kProtocol, "acknowledgement from another node");
      }
      if (ack.ok() && std::find(ack->held_indices.begin(), ack->held_indices.end(), i) ==
                          ack->held_indices.end()) {
        ack = MakeError(ErrorCode::kProtocol, "peer acknowledged without holding the fragment");
      }
      if (!ack.ok()) {
        failed.push_back(i);
        last_error = ack.error().ToString();
        if (ack.error().code == ErrorCode::kUnavailable ||
            ack.error().code == ErrorCode::kTimeout) {
          // The peer is gone: do not wait for the rest, hand them on.
          failed.insert(failed.end(), indices.begin() + static_cast<long>(j) + 1, indices.end());
          break;
        }
        continue;
      }
      // The fragment is placed either way; a ledger that cannot record the
      // credit is reported with the peer rather than dropped.
      auto credited = d_.ledger->Record(peer.id, core::LedgerDirection::kTheyStoreForUs,
                                        table.tessera, i, table.plan.shard_size);
      std::lock_guard lock(mu);
      if (!credited.ok() && failures) {
        failures->push_back({peer, {}, "placed, but not credited: " + credited.error().ToString()});
      }
      auto& e = acked[peer.id];
      e.holder = peer.id;
      e.address = peer.address;
      e.indices.push_back(i);
      e.last_attested_ms = std::nullopt;
    }
    if (!failed.empty()) {
      std::lock_guard lock(mu);
      if (failures) failures->push_back({peer, failed, last_error});
      retry.insert(retry.end(), failed.begin(), failed.end());
    }
  };
  ParallelFor(work.size(), config_.max_concurrent_transfers,
              [&](std::size_t w) { push_one(work[w].first, work[w].second); });

  // Retry what failed on spare peers, one fragment list per spare.
  if (!retry.empty() && !spares.empty()) {
    std::sort(retry.begin(), retry.end());
    retry.erase(std::unique(retry.begin(), retry.end()), retry.end());
    std::vector<std::pair<core::PeerInfo, std::vector<uint32_t>>> second;
    if (table.plan.tier == core::Tier::kSmall) {
      // Every copy of fragment 0 that failed goes to one more spare holder.
      const std::size_t lost = work.size() - std::min(work.size(), acked.size());
      for (std::size_t s = 0; s < spares.size() && second.size() < lost; ++s) {
        second.push_back({spares[s], {0}});
      }
    } else {
      for (std::size_t r = 0; r < retry.size(); ++r) {
        auto& slot = r < spares.size() ? second.emplace_back(spares[r], std::vector<uint32_t>{})
                                       : second[r % spares.size()];
        slot.second.push_back(retry[r]);
      }
    }
    ParallelFor(second.size(), config_.max_concurrent_transfers,
                [&](std::size_t w) { push_one(second[w].first, second[w].second); });
  }
  std::vector<core::PlacementEntry> out;
  for (auto& [_, e] : acked) {
    std::sort(e.indices.begin(), e.indices.end());
    out.push_back(std::move(e));
  }
  return out;
}

Result<std::size_t> ReplicationService::PublishHolderRecord(
    const SignedPlan& plan, const std::vector<core::PlacementEntry>& holders) {
  auto rec = HolderRecord::Sign(plan, static_cast<uint64_t>(d_.clock->NowUnixMs()),
                                ToHolderEntries(holders), *d_.self);
  const core::NodeId key = core::KeyFor(plan.table.tessera);
  std::vector<uint8_t> bytes = rec.Encode();
  if (d_.seal_record) {
    ASSIGN_OR_RETURN(bytes, d_.seal_record(key, bytes));
  }
  return d_.dht->PutRecord(key, bytes);
}

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

// ---- owner push -------------------------------------------------------------------

Result<ReplicationReport> ReplicationService::ReplicateTessera(const core::ContentHash& tessera) {
  ASSIGN_OR_RETURN(auto staged, StageFromPayload(tessera, std::nullopt));
  SignedPlan plan = SignedPlan::Sign(staged->table, *d_.self);
  auto encoded = plan.Encode();
  TRY(d_.plans->PutPlan(tessera, d_.self->node_id(), encoded));

  ReplicationReport report;
  report.tessera = tessera;
  report.plan = plan.table.plan;
  const std::size_t want = WantedHolders(plan.table.plan);
  // Primary holders plus as many spares again for retries.
  ASSIGN_OR_RETURN(auto chosen, Candidates(tessera, want * 2, {}, {}));
  if (chosen.empty()) {
    return MakeError(ErrorCode::kUnavailable,
                     "no peer to replicate to: the node knows no other node (is it bootstrapped?)");
  }
  std::vector<core::PeerInfo> primary(
      chosen.begin(), chosen.begin() + static_cast<long>(std::min(want, chosen.size())));
  std::vector<core::PeerInfo> spares(chosen.begin() + static_cast<long>(primary.size()),
                                     chosen.end());
  auto assignment = AssignFragments(plan.table.plan, primary.size());
  std::vector<std::pair<core::PeerInfo, std::vector<uint32_t>>> work;
  for (std::size_t h = 0; h < primary.size(); ++h) work.push_back({primary[h], assignment[h]});
  report.holders = Push(plan, *staged, std::move(work), std::move(spares), &report.failures);
  if (report.holders.empty()) {
    return MakeError(
        ErrorCode::kUnavailable,
        "no peer acknowledged any fragment of " + tessera.Short() + "… (" +
            std::to_string(report.failures.size()) + " failed" +
            (report.failures.empty() ? std::string() : ", first: " + report.failures[0].error) +
            ")");
  }
  TRY(d_.plans->SetPlacement(tessera, report.holders));
  auto stored = PublishHolderRecord(plan, report.holders);
  report.holder_records_stored = stored.ok() ? *stored : 0;
  return report;
}

// ---- receiving --------------------------------------------------------------------

Result<SignedPlan> ReplicationService::AdmitFragment(const core::PeerInfo& sender,
                                                     const core::FragmentEnvelope& env,
                                                     bool* already_held) {
  // 1. The plan: signed by its owner, consistent with its size (which also caps it at 1 GiB).
  if (env.plan_signature.size() != 64) {
    return MakeError(ErrorCode::kInvalidArgument, "plan signature must be 64 bytes");
  }
  SignedPlan plan;
  plan.table = env.table;
  plan.owner = env.owner_public_key;
  std::copy(env.plan_signature.begin(), env.plan_signature.end(), plan.signature.begin());
  TRY(plan.Verify());
  const auto& table = plan.table;
  // 2. The fragment is one the plan lists.
  const uint32_t n = table.plan.total_shards();
  if (env.id.tessera != table.tessera || env.id.index >= n || env.id.shard_count != n) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "fragment " + std::to_string(env.id.index) + " is not in the plan of " +
                         table.tessera.Short() + "… (" + std::to_string(n) + " fragments)");
  }
  if (env.id.checksum != table.checksums[env.id.index]) {
    return MakeError(ErrorCode::kCorrupt, "fragment checksum differs from the signed plan");
  }
  const uint64_t size = table.plan.shard_size;
  // 3. Nobody overwrites another owner's tessera.
  ASSIGN_OR_RETURN(auto existing_plan, d_.plans->GetPlan(table.tessera));
  if (existing_plan) {
    auto prev = SignedPlan::Decode(*existing_plan);
    if (prev.ok() && prev->owner_id() != plan.owner_id()) {
      return MakeError(ErrorCode::kPermissionDenied,
                       "tessera " + table.tessera.Short() + "… belongs to another owner");
    }
  }
  // Already held with these bytes: acknowledged without being counted again.
  auto held = d_.fragments->Get(table.tessera, env.id.index);
  *already_held = held.ok() && held->id.checksum == env.id.checksum;
  if (*already_held) return plan;
  // 4. Reciprocity and the per-peer limit.
  ASSIGN_OR_RETURN(core::LedgerEntry bal, d_.ledger->Balance(sender.id));
  const int64_t deficit_after = static_cast<int64_t>(bal.bytes_stored_for_them + size) -
                                static_cast<int64_t>(bal.bytes_they_store_for_us);
  if (deficit_after > static_cast<int64_t>(config_.deficit_allowance_bytes)) {
    return MakeError(ErrorCode::kResourceExhausted,
                     "refused: peer " + sender.id.Short() + "… would be " +
                         std::to_string(deficit_after) +
                         " bytes in deficit with us; the allowance is " +
                         std::to_string(config_.deficit_allowance_bytes));
  }
  if (bal.bytes_stored_for_them + size > config_.per_peer_limit_bytes) {
    return MakeError(ErrorCode::kResourceExhausted,
                     "refused: we already store " + std::to_string(bal.bytes_stored_for_them) +
                         " bytes for peer " + sender.id.Short() + "…; the limit is " +
                         std::to_string(config_.per_peer_limit_bytes));
  }
  return plan;
}

Result<core::ReplicateAck> ReplicationService::ReceiveFragment(const core::PeerInfo& sender,
                                                               const core::FragmentEnvelope& env,
                                                               core::ByteSource& bytes) {
  bool already_held = false;
  ASSIGN_OR_RETURN(SignedPlan plan, AdmitFragment(sender, env, &already_held));
  const auto& table = plan.table;
  TRY(d_.plans->PutPlan(table.tessera, plan.owner_id(), plan.Encode()));
  if (!already_held) {
    // 5. Store: the store checks free space, size and checksum before anything is visible.
    const bool replace = d_.fragments->Get(table.tessera, env.id.index).ok();
    TRY(d_.fragments->Store(env.id, table.plan.shard_size, bytes, sender.id, replace));
  }
  TRY(d_.ledger->Record(sender.id, core::LedgerDirection::kWeStoreForThem, table.tessera,
                        env.id.index, table.plan.shard_size));
  return AckFor(table.tessera);
}

Result<core::ReplicateAck> ReplicationService::AckFor(const core::ContentHash& tessera) {
  core::ReplicateAck ack;
  ack.tessera = tessera;
  ack.holder = d_.self->node_id();
  ASSIGN_OR_RETURN(auto mine, d_.fragments->List(tessera));
  for (const auto& f : mine) ack.held_indices.push_back(f.id.index);
  return ack;
}

Result<std::unique_ptr<core::RandomAccessSource>> ReplicationService::OpenVerifiedFragment(
    const core::ContentHash& tessera, uint32_t index) {
  TRY(d_.fragments->Verify(tessera, index));
  return d_.fragments->Open(tessera, index);
}

// ---- attestation and serving ------------------------------------------------------

Result<core::Attestation> ReplicationService::HandleAttestationRequest(
    const core::PeerInfo&, const core::ContentHash& tessera, const Challenge& challenge,
    const std::vector<uint32_t>& indices) {
  ASSIGN_OR_RETURN(SignedPlan plan, LoadPlan(tessera));
  ASSIGN_OR_RETURN(auto mine, d_.fragments->List(tessera));
  std::sort(mine.begin(), mine.end(),
            [](const auto& x, const auto& y) { return x.id.index < y.id.index; });
  // In index order: when more are asked than one answer carries, MakeAttestation
  // proves the lowest ones and the requester asks again for the rest.
  std::vector<std::unique_ptr<core::RandomAccessSource>> open;
  std::vector<HeldFragment> held;
  for (const auto& f : mine) {
    if (!indices.empty() &&
        std::find(indices.begin(), indices.end(), f.id.index) == indices.end()) {
      continue;
    }
    auto src = d_.fragments->Open(tessera, f.id.index);
    if (!src.ok()) continue;  // gone: nothing to prove
    held.push_back({f.id.index, src->get()});
    open.push_back(std::move(*src));
  }
  return MakeAttestation(*d_.self, plan, challenge, indices, d_.clock->NowUnixMs(), held,
                         config_.audit_samples);
}

Result<void> ReplicationService::ServeFragment(const core::PeerInfo&,
                                               const core::ContentHash& tessera, uint32_t index,
                                               core::ByteSink& out) {
  TRY(d_.fragments->Verify(tessera, index));
  ASSIGN_OR_RETURN(auto src, d_.fragments->Open(tessera, index));
  std::vector<uint8_t> buf(1 << 20);
  for (uint64_t off = 0; off < src->Size(); off += buf.size()) {
    std::size_t n = static_cast<std::size_t>(std::min<uint64_t>(buf.size(), src->Size() - off));
    TRY(src->ReadAt(off, std::span(buf.data(), n)));
    TRY(out.Write(std::span(buf.data(), n)));
  }
  return out.Finish();
}

// ---- health -----------------------------------------------------------------------

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

// ---- repair -----------------------------------------------------------------------

Result<void> ReplicationService::MendLocal(const SignedPlan& plan, uint32_t index,
                                           const std::vector<core::PlacementEntry>& holders,
                                           std::string* problem) {
  const auto& table = plan.table;
  // First choice: the same fragment from another holder.
  for (const auto& h : holders) {
    if (h.holder == d_.self->node_id()) continue;
    if (std::find(h.indices.begin(), h.indices.end(), index) == h.indices.end()) continue;
    core::MemorySink buf;  // one fragment (tens of MiB at most) — bounded by the plan
    CheckedSink checked(buf, table.checksums[index], table.plan.shard_size);
    auto r = d_.dht->FetchFragment(PeerOf(h), table.tessera, index, checked);
    if (r.ok()) r = checked.Finish();
    if (!r.ok()) continue;
    core::MemorySource src(buf.bytes());
    auto prev = d_.fragments->Get(table.tessera, index);
    core::NodeId origin = prev.ok() ? prev->origin : plan.owner_id();
    return d_.fragments->Store(table.IdOf(index), table.plan.shard_size, src, origin, true);
  }
  // Otherwise rebuild it from any k fragments.
  std::vector<PeerFailure> failures;
  auto staged = StageFromNetwork(plan, holders, &failures);
  if (!staged.ok()) {
    *problem = staged.error().message;
    return staged.error();
  }
  std::vector<std::unique_ptr<FileSource>> files;
  std::vector<FragmentInput> inputs;
  for (uint32_t i = 0; i < table.plan.total_shards(); ++i) {
    if (!(*staged)->present[i] || i == index) continue;
    auto f = (*staged)->Open(i);
    if (!f.ok()) continue;
    inputs.push_back({i, f->get()});
    files.push_back(std::move(*f));
  }
  auto out_path = (*staged)->dir / ("rebuilt-" + ShardFileName(index));
  ASSIGN_OR_RETURN(auto sink, FileSink::Create(out_path, false));
  core::ByteSink* sp = sink.get();
  std::vector<uint32_t> wanted = {index};
  TRY(RebuildFragments(table, inputs, wanted, std::span(&sp, 1)));
  ASSIGN_OR_RETURN(auto src, FileSource::Open(out_path));
  auto prev = d_.fragments->Get(table.tessera, index);
  core::NodeId origin = prev.ok() ? prev->origin : plan.owner_id();
  return d_.fragments->Store(table.IdOf(index), table.plan.shard_size, *src, origin, true);
}

Result<RepairReport> ReplicationService::RepairTessera(const core::ContentHash& tessera) {
  ASSIGN_OR_RETURN(SignedPlan plan, LoadPlan(tessera));
  RepairReport rep;
  rep.tessera = tessera;
  ASSIGN_OR_RETURN(rep.before, CheckTesseraHealth(tessera));
  const auto& health = rep.before;
  std::vector<core::PlacementEntry> placement;
  for (const auto& h : health.holders) placement.push_back(h.entry);

  // Corrupt local fragments: fetch or rebuild a correct copy.
  for (uint32_t idx : health.corrupt_local) {
    std::string problem;
    auto r = MendLocal(plan, idx, placement, &problem);
    if (r.ok()) {
      rep.mended_local.push_back(idx);
    } else {
      rep.problems.push_back("could not mend local fragment " + std::to_string(idx) + ": " +
                             r.error().message);
    }
  }
  if (health.deficit == 0 || health.state == HealthState::kLocal) return rep;
  if (!health.own) {
    rep.problems.push_back("only the owner places new holders (deficit " +
                           std::to_string(health.deficit) + ")");
    return rep;
  }

  // Live holders keep what they proved; the rest is re-created and placed anew.
  const auto& table = plan.table;
  const uint32_t n = table.plan.total_shards();
  std::vector<core::PlacementEntry> live;
  std::vector<core::PeerInfo> live_peers;
  std::set<uint32_t> proven;
  for (const auto& h : health.holders) {
    if (h.proven.empty()) {
      // Un-count what it no longer holds for us.
      for (uint32_t i : h.entry.indices) {
        (void)d_.ledger->Forget(h.entry.holder, core::LedgerDirection::kTheyStoreForUs, tessera, i);
      }
      continue;
    }
    core::PlacementEntry e = h.entry;
    e.indices = h.proven;
    live.push_back(e);
    live_peers.push_back(PeerOf(e));
    proven.insert(h.proven.begin(), h.proven.end());
  }
  std::vector<uint32_t> missing;
  std::size_t want = 0;
  if (table.plan.tier == core::Tier::kSmall) {
    want = health.deficit;
  } else {
    for (uint32_t i = 0; i < n; ++i)
      if (!proven.count(i)) missing.push_back(i);
    want = missing.size();
  }
  std::vector<PeerFailure> failures;
  std::unique_ptr<Staged> staged;
  auto from_payload = StageFromPayload(tessera, plan);
  if (from_payload.ok()) {
    staged = std::move(*from_payload);
  } else {
    auto fetched = StageFromNetwork(plan, live, &failures);
    if (!fetched.ok()) {
      rep.problems.push_back("cannot regenerate: " + fetched.error().message);
      return rep;
    }
    staged = std::move(*fetched);
    // Rebuild what is missing from the k fragments we have.
    std::vector<std::unique_ptr<FileSource>> files;
    std::vector<FragmentInput> inputs;
    std::vector<uint32_t> wanted;
    for (uint32_t i = 0; i < n; ++i) {
      if (staged->present[i]) {
        auto f = staged->Open(i);
        if (!f.ok()) continue;
        inputs.push_back({i, f->get()});
        files.push_back(std::move(*f));
      } else {
        wanted.push_back(i);
      }
    }
    std::vector<std::unique_ptr<FileSink>> owned;
    std::vector<core::ByteSink*> sinks;
    for (uint32_t i : wanted) {
      ASSIGN_OR_RETURN(auto s, FileSink::Create(staged->PathOf(i), false));
      sinks.push_back(s.get());
      owned.push_back(std::move(s));
    }
    auto rebuilt = RebuildFragments(table, inputs, wanted, sinks);
    if (!rebuilt.ok()) {
      rep.problems.push_back("cannot regenerate: " + rebuilt.error().message);
      return rep;
    }
    for (uint32_t i : wanted) staged->present[i] = true;
  }
  auto fresh = Candidates(tessera, want * 2, live_peers, live_peers);
  if (fresh.ok() && fresh->size() < want && table.plan.tier != core::Tier::kSmall) {
    // A small network: no new node is eligible for some fragments, so live
    // holders take them (fewest fragments first). Redundancy comes back; holder
    // diversity is what the network allows (see docs/REPLICATION.md).
    std::vector<core::PlacementEntry> by_load = live;
    std::stable_sort(by_load.begin(), by_load.end(), [](const auto& a, const auto& b) {
      return a.indices.size() < b.indices.size();
    });
    for (const auto& e : by_load) {
      if (fresh->size() >= want) break;
      fresh->push_back(PeerOf(e));
    }
  }
  if (!fresh.ok() || fresh->empty()) {
    rep.problems.push_back("no eligible new holder for " + std::to_string(want) +
                           (table.plan.tier == core::Tier::kSmall ? " copies" : " fragments"));
    return rep;
  }
  std::vector<core::PeerInfo> primary(
      fresh->begin(), fresh->begin() + static_cast<long>(std::min(want, fresh->size())));
  std::vector<core::PeerInfo> spares(fresh->begin() + static_cast<long>(primary.size()),
                                     fresh->end());
  std::vector<std::pair<core::PeerInfo, std::vector<uint32_t>>> work;
  if (table.plan.tier == core::Tier::kSmall) {
    for (const auto& p : primary) work.push_back({p, {0}});
  } else {
    for (std::size_t m = 0; m < missing.size(); ++m) {
      if (m < primary.size()) work.push_back({primary[m], {}});
      work[m % primary.size()].second.push_back(missing[m]);
    }
  }
  auto placed = Push(plan, *staged, std::move(work), std::move(spares), &failures);
  for (const auto& f : failures) {
    rep.problems.push_back("peer " + f.peer.id.Short() + "… failed: " + f.error);
  }
  for (const auto& e : placed) {
    rep.new_holders.push_back(e);
    rep.regenerated.insert(rep.regenerated.end(), e.indices.begin(), e.indices.end());
    auto same =
        std::find_if(live.begin(), live.end(), [&](const auto& l) { return l.holder == e.holder; });
    if (same == live.end()) {
      live.push_back(e);
    } else {
      same->indices.insert(same->indices.end(), e.indices.begin(), e.indices.end());
      std::sort(same->indices.begin(), same->indices.end());
    }
  }
  std::sort(rep.regenerated.begin(), rep.regenerated.end());
  rep.regenerated.erase(std::unique(rep.regenerated.begin(), rep.regenerated.end()),
                        rep.regenerated.end());
  TRY(d_.plans->SetPlacement(tessera, live));
  auto stored = PublishHolderRecord(plan, live);
  if (!stored.ok())
    rep.problems.push_back("holder record not published: " + stored.error().message);
  return rep;
}

Result<std::vector<RepairReport>> ReplicationService::RunRepairPass() {
  ASSIGN_OR_RETURN(auto plans, d_.plans->ListPlans());
  // Own tesseras first; then others' by the owner's balance with us (deficit last).
  std::vector<std::pair<int64_t, core::ContentHash>> order;
  for (const auto& p : plans) {
    int64_t key = INT64_MAX;
    if (p.owner != d_.self->node_id()) {
      auto bal = d_.ledger->Balance(p.owner);
      key = bal.ok() ? bal->balance : 0;
    }
    order.push_back({key, p.tessera});
  }
  std::stable_sort(order.begin(), order.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<RepairReport> out;
  for (const auto& [_, t] : order) {
    auto r = RepairTessera(t);
    if (r.ok()) {
      out.push_back(std::move(*r));
    } else {
      RepairReport failed;
      failed.tessera = t;
      failed.problems.push_back(r.error().ToString());
      out.push_back(std::move(failed));
    }
  }
  return out;
}

// ---- restore ----------------------------------------------------------------------

Result<FetchReport> ReplicationService::FetchTessera(const core::ContentHash& tessera,
                                                     core::RandomAccessSink& out) {
  SignedPlan plan;
  std::vector<core::PlacementEntry> holders;
  auto rec = LookupHolderRecord(tessera);
  if (rec.ok()) {
    plan = rec->plan;
    holders = ToPlacement(rec->holders);
  } else {
    auto local = LoadPlan(tessera);
    if (!local.ok()) return rec.error();
    plan = *local;
    ASSIGN_OR_RETURN(holders, d_.plans->GetPlacement(tessera));
  }
  FetchReport report;
  report.tessera = tessera;
  report.plan = plan.table.plan;
  report.owner = plan.owner_id();
  ASSIGN_OR_RETURN(auto staged, StageFromNetwork(plan, holders, &report.failures));
  std::vector<std::unique_ptr<FileSource>> files;
  std::vector<FragmentInput> inputs;
  for (uint32_t i = 0; i < plan.table.plan.total_shards(); ++i) {
    if (!staged->present[i]) continue;
    ASSIGN_OR_RETURN(auto f, staged->Open(i));
    inputs.push_back({i, f.get()});
    files.push_back(std::move(f));
  }
  CodecOptions opt;
  opt.scratch_dir = staged->dir;
  ASSIGN_OR_RETURN(auto decoded, DecodeTessera(plan.table, inputs, out, opt));
  report.used = decoded.used;
  return report;
}

// ---- repair loop ------------------------------------------------------------------

RepairLoop::RepairLoop(ReplicationService& service, std::function<void(const std::string&)> log)
    : service_(service), log_(std::move(log)) {}

RepairLoop::~RepairLoop() { Stop(); }

void RepairLoop::Start() {
  std::lock_guard lock(mu_);
  if (started_) return;
  started_ = true;
  thread_ = std::thread([this] { Run(); });
}

Result<std::vector<RepairReport>> RepairLoop::RunNow() {
  std::lock_guard pass(pass_mu_);
  auto r = service_.RunRepairPass();
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
    auto r = RunNow();
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
