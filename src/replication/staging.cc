#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>

#include "replication/fragment_codec.h"
#include "replication/replication_service.h"
#include "replication/service_internal.h"

namespace tesseras::replication {

namespace fs = std::filesystem;
using core::ErrorCode;
using core::MakeError;
using core::Result;

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
  // Holders are asked for this plan's fragments, whoever else claims the hash.
  const std::optional<core::NodeId> owner = plan.owner_id();
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
  // They are kept under this plan's key here (the hash, or its slot).
  auto local_key = FindPlanKey(table.tessera, owner);
  const core::ContentHash at = local_key.ok() && *local_key ? **local_key : table.tessera;
  auto local = d_.fragments->List(at);
  if (local.ok()) {
    for (const auto& f : *local) {
      if (f.id.index >= n || f.id.checksum != table.checksums[f.id.index]) continue;
      if (!d_.fragments->Verify(at, f.id.index).ok()) continue;
      auto src = d_.fragments->Open(at, f.id.index);
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
  // Exactly k fragments are wanted: a fetch starts only while fewer than k are
  // held or in flight, and a failed one frees its slot for the next source.
  uint32_t have =
      static_cast<uint32_t>(std::count(staged->present.begin(), staged->present.end(), true));
  uint32_t claimed = have;  // held + in flight
  std::mutex mu;
  std::condition_variable cv;
  ParallelFor(order.size(), config_.max_concurrent_transfers, [&](std::size_t oi) {
    const uint32_t index = order[oi];
    for (const auto& peer : sources[index]) {
      {
        std::unique_lock lock(mu);
        cv.wait(lock, [&] { return have >= k || claimed < k; });
        if (have >= k || staged->present[index]) return;
        ++claimed;
      }
      auto file = FileSink::Create(staged->PathOf(index), /*durable=*/false);
      Result<void> r = file.ok() ? Result<void>(core::Ok()) : Result<void>(file.error());
      std::optional<CheckedSink> checked;
      if (r.ok()) {
        checked.emplace(**file, table.checksums[index], table.plan.shard_size);
        r = d_.dht->FetchFragment(peer, table.tessera, index, *checked, owner);
        if (r.ok()) r = checked->Finish();
      }
      std::lock_guard lock(mu);
      if (r.ok()) {
        staged->present[index] = true;
        staged->fetched_bytes += table.plan.shard_size;
        ++have;
        cv.notify_all();
        return;
      }
      --claimed;
      cv.notify_all();
      if (failures) failures->push_back({peer, {index}, r.error().ToString()});
    }
  });
  if (have < k) {
    std::string detail;
    if (failures && !failures->empty()) {
      detail = " (" + std::to_string(failures->size()) +
               " fetches failed; first: " + failures->front().error + ")";
    } else if (sources.empty()) {
      detail = " (no holder is known)";
    }
    return MakeError(ErrorCode::kInsufficientShards, "could fetch only " + std::to_string(have) +
                                                         " of the " + std::to_string(k) +
                                                         " fragments needed to rebuild tessera " +
                                                         table.tessera.Short() + "…" + detail);
  }
  return staged;
}

Result<void> ReplicationService::RebuildMissing(Staged& staged,
                                                const std::vector<uint32_t>& wanted) {
  const auto& table = staged.table;
  std::vector<uint32_t> todo;
  for (uint32_t i : wanted) {
    if (i < staged.present.size() && !staged.present[i] &&
        std::find(todo.begin(), todo.end(), i) == todo.end()) {
      todo.push_back(i);
    }
  }
  if (todo.empty()) return core::Ok();
  std::vector<std::unique_ptr<FileSource>> files;
  std::vector<FragmentInput> inputs;
  for (uint32_t i = 0; i < table.plan.total_shards(); ++i) {
    if (!staged.present[i]) continue;
    ASSIGN_OR_RETURN(auto f, staged.Open(i));
    inputs.push_back({i, f.get()});
    files.push_back(std::move(f));
  }
  std::vector<std::unique_ptr<FileSink>> owned;
  std::vector<core::ByteSink*> sinks;
  for (uint32_t i : todo) {
    ASSIGN_OR_RETURN(auto s, FileSink::Create(staged.PathOf(i), /*durable=*/false));
    sinks.push_back(s.get());
    owned.push_back(std::move(s));
  }
  TRY(RebuildFragments(table, inputs, todo, sinks));
  for (uint32_t i : todo) staged.present[i] = true;
  return core::Ok();
}

}  // namespace tesseras::replication
