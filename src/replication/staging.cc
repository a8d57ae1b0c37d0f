#include <algorithm>
#include <atomic>
#include <charconv>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <set>

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

namespace {

constexpr const char* kGatherPrefix = "gather-";
constexpr const char* kGatherSince = "since";

// When a gather was started (Unix ms), from its `since` file: none when
// there is no such file or it does not parse (not a gather to keep), and
// unreadable when the file is there but cannot be read now (an I/O error:
// the gather is neither used nor removed).
struct Since {
  enum State { kNone, kAt, kUnreadable } state = kNone;
  int64_t ms = 0;
  bool Fresh(int64_t now, int64_t keep_ms) const {
    return state == kAt && now >= ms && now - ms < keep_ms;
  }
};
Since ReadSince(const fs::path& dir) {
  auto file = FileSource::Open(dir / kGatherSince);
  if (!file.ok()) {
    return {file.error().code == ErrorCode::kNotFound ? Since::kNone : Since::kUnreadable};
  }
  if ((*file)->Size() == 0 || (*file)->Size() > 20) return {};
  std::vector<uint8_t> bytes((*file)->Size());
  if (!(*file)->ReadAt(0, bytes).ok()) return {Since::kUnreadable};
  const char* text = reinterpret_cast<const char*>(bytes.data());
  const char* stop = text + bytes.size();
  int64_t ms = 0;
  const auto [end, ec] = std::from_chars(text, stop, ms);
  if (ec != std::errc() || (end != stop && *end != '\n')) return {};
  return {Since::kAt, ms};
}

// Starts the gather in `dir` (made empty) at `now`.
Result<void> StartGather(const fs::path& dir, int64_t now) {
  std::error_code ec;
  fs::remove_all(dir, ec);
  if (!ec) fs::create_directories(dir, ec);
  if (ec) {
    return MakeError(ErrorCode::kIo,
                     "cannot start a gather in " + dir.string() + ": " + ec.message());
  }
  ASSIGN_OR_RETURN(auto since, FileSink::Create(dir / kGatherSince, /*durable=*/false));
  const std::string text = std::to_string(now) + "\n";
  TRY(since->Write(std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size())));
  return since->Finish();
}

// Gather directories an attempt is using now. Kept per process, not per
// service: in tests and the simulator's full-stack mode several services
// share one process and may share one gather root.
struct GathersInUse {
  std::mutex mu;
  std::set<fs::path> dirs;
};
GathersInUse& InUse() {
  // Never destroyed: a Staged released during exit may still reach it.
  static GathersInUse* in_use = new GathersInUse;
  return *in_use;
}
bool ClaimGather(const fs::path& dir) {
  std::lock_guard lock(InUse().mu);
  return InUse().dirs.insert(dir).second;
}
void ReleaseGather(const fs::path& dir) {
  std::lock_guard lock(InUse().mu);
  InUse().dirs.erase(dir);
}

// Bytes of every file under `root` (the gathers); nullopt if the walk fails.
std::optional<uint64_t> GatheredBytes(const fs::path& root) {
  uint64_t total = 0;
  std::error_code ec;
  fs::recursive_directory_iterator it(root, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    std::error_code size_ec;
    if (!it->is_regular_file(size_ec)) continue;
    const auto size = it->file_size(size_ec);
    if (size_ec) return std::nullopt;
    total += size;
  }
  if (ec) return std::nullopt;
  return total;
}

// Whether the file at `path` holds exactly the fragment `checksum` names.
bool HoldsFragment(const fs::path& path, const core::ContentHash& checksum, uint64_t size) {
  auto src = FileSource::Open(path);
  if (!src.ok() || (*src)->Size() != size) return false;
  core::NullSink null;
  CheckedSink checked(null, checksum, size);
  core::SequentialReader reader(**src);
  std::vector<uint8_t> buf(1 << 20);
  for (;;) {
    auto r = reader.Read(buf);
    if (!r.ok()) return false;
    if (*r == 0) break;
    if (!checked.Write(std::span(buf.data(), *r)).ok()) return false;
  }
  return checked.Finish().ok();
}

// Forwards to the file a fetch writes into and remembers that file's own
// failure, so that a local write error (a full disk) is told apart from the
// peer's: the transport reports both as the fetch's error.
class LocalFile final : public core::ByteSink {
 public:
  explicit LocalFile(core::ByteSink& file) : file_(file) {}
  core::Result<void> Write(std::span<const uint8_t> data) override {
    return Note(file_.Write(data));
  }
  core::Result<void> Finish() override { return Note(file_.Finish()); }
  const std::optional<core::Error>& error() const { return error_; }

 private:
  core::Result<void> Note(core::Result<void> r) {
    if (!r.ok() && !error_) error_ = r.error();
    return r;
  }
  core::ByteSink& file_;
  std::optional<core::Error> error_;
};

}  // namespace

fs::path ReplicationService::GatherRoot() const {
  if (!config_.gather_dir.empty()) return config_.gather_dir;
  const fs::path base = config_.scratch_dir.empty() ? fs::temp_directory_path() / "tesseras-scratch"
                                                    : config_.scratch_dir;
  return base / "gather";
}

void ReplicationService::SweepGathers() {
  const int64_t now = d_.clock->NowUnixMs();
  std::error_code ec;
  for (fs::directory_iterator it(GatherRoot(), ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().filename().string().rfind(kGatherPrefix, 0) != 0) continue;
    auto keep = [&] {
      const Since since = ReadSince(it->path());
      return since.state == Since::kUnreadable || since.Fresh(now, config_.policy.gather_keep_ms);
    };
    if (keep() || !ClaimGather(it->path())) continue;  // fresh, or an attempt is using it
    // Read again under the claim: an attempt may have started it afresh
    // between the first read and the claim.
    std::error_code rm;
    if (!keep()) fs::remove_all(it->path(), rm);
    ReleaseGather(it->path());
  }
}

Result<std::unique_ptr<ReplicationService::Staged>> ReplicationService::StageFromNetwork(
    const SignedPlan& plan, const std::vector<core::PlacementEntry>& holders,
    std::vector<PeerFailure>* failures, bool gather, uint64_t* fetched_bytes) {
  const auto& table = plan.table;
  const uint32_t n = table.plan.total_shards(), k = table.plan.data_shards;
  // Holders are asked for this plan's fragments, whoever else claims the hash.
  const std::optional<core::NodeId> owner = plan.owner_id();
  auto staged = std::make_unique<Staged>();
  staged->table = table;
  staged->present.assign(n, false);
  if (fetched_bytes) *fetched_bytes = 0;
  gather = gather && config_.policy.gather_keep_ms > 0;
  uint32_t gathered = 0;  // fragments an earlier attempt fetched, verified again now
  if (gather) {
    // One gather per plan (hash, owner, table): what earlier attempts
    // fetched, each file checked against the plan again before it is used.
    const std::string name = kGatherPrefix + table.tessera.ToHex() + "-" + owner->ToHex() + "-" +
                             table.checksums.front().ToHex().substr(0, 16);
    const fs::path dir = GatherRoot() / name;
    // Another attempt at this plan is running (a pass and `tes repair`):
    // this one fetches into scratch, as without gathering.
    gather = ClaimGather(dir);
    if (gather) {
      staged->release = [dir] { ReleaseGather(dir); };
      staged->dir = dir;
      staged->gather = true;
      const int64_t now = d_.clock->NowUnixMs();
      const Since since = ReadSince(dir);
      // A gather that cannot be read or started now is not used: the attempt
      // fetches into scratch, says why, and leaves the directory alone.
      Result<void> usable = core::Ok();
      if (since.state == Since::kUnreadable) {
        usable = MakeError(ErrorCode::kIo, "cannot read " + (dir / kGatherSince).string());
      } else if (!since.Fresh(now, config_.policy.gather_keep_ms)) {
        usable = StartGather(dir, now);
      } else {
        // Keep `since` and the fragments that still verify; anything else
        // (a temporary file a crash left, rotten bytes) goes.
        std::error_code ec;
        std::vector<fs::path> drop;
        for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
          const std::string file = it->path().filename().string();
          if (file == kGatherSince) continue;
          bool kept = false;
          for (uint32_t i = 0; i < n && !kept; ++i) {
            if (file != ShardFileName(i)) continue;
            kept = HoldsFragment(it->path(), table.checksums[i], table.plan.shard_size);
            if (kept) {
              staged->present[i] = true;
              ++gathered;
            }
          }
          if (!kept) drop.push_back(it->path());
        }
        for (const auto& f : drop) fs::remove_all(f, ec);
      }
      if (!usable.ok()) {
        staged->note = "gather not used: " + usable.error().message;
        staged->dir.clear();  // not removed here: only a sweep removes a gather
        staged->release();
        staged->release = nullptr;
        staged->gather = false;
        gather = false;
      }
    }
  }
  if (!gather) {
    ASSIGN_OR_RETURN(staged->dir, MakeScratch(config_.scratch_dir, table.tessera, "fetch"));
  }
  std::vector<uint32_t> copied_local, fetched_now;  // indices, for what a failed gather keeps
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
  // The first local write failure (a full disk): no peer is blamed for it and
  // no further fetch starts. A copy of ours that cannot be read is skipped.
  std::optional<core::Error> local_error;
  auto local = d_.fragments->List(at);
  for (const auto& f : local.ok() ? *local : std::vector<core::StoredFragment>{}) {
    if (local_error) break;
    if (f.id.index >= n || f.id.checksum != table.checksums[f.id.index]) continue;
    if (staged->present[f.id.index]) continue;  // gathered already
    if (!d_.fragments->Verify(at, f.id.index).ok()) continue;
    auto src = d_.fragments->Open(at, f.id.index);
    if (!src.ok()) continue;
    auto sink = FileSink::Create(staged->PathOf(f.id.index), false);
    if (!sink.ok()) {
      local_error = sink.error();
      break;
    }
    core::SequentialReader reader(**src);
    std::vector<uint8_t> buf(1 << 20);
    bool readable = true;
    for (;;) {
      auto r = reader.Read(buf);
      if (!r.ok()) {
        readable = false;
        break;
      }
      if (*r == 0) break;
      if (auto w = (*sink)->Write(std::span(buf.data(), *r)); !w.ok()) {
        local_error = w.error();
        break;
      }
    }
    if (!readable || local_error) continue;
    if (auto done = (*sink)->Finish(); !done.ok()) {
      local_error = done.error();
      continue;
    }
    staged->present[f.id.index] = true;
    copied_local.push_back(f.id.index);
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
        cv.wait(lock, [&] { return have >= k || claimed < k || local_error; });
        if (have >= k || local_error || staged->present[index]) return;
        ++claimed;
      }
      auto file = FileSink::Create(staged->PathOf(index), /*durable=*/false);
      Result<void> r = file.ok() ? Result<void>(core::Ok()) : Result<void>(file.error());
      bool local = !file.ok();
      if (file.ok()) {
        LocalFile noted(**file);
        CheckedSink checked(noted, table.checksums[index], table.plan.shard_size);
        r = d_.dht->FetchFragment(peer, table.tessera, index, checked, owner);
        if (r.ok()) r = checked.Finish();
        if (noted.error()) {
          local = true;
          r = *noted.error();
        }
      }
      std::lock_guard lock(mu);
      if (local) {
        --claimed;
        if (!local_error) local_error = r.error();
        cv.notify_all();
        return;
      }
      if (r.ok()) {
        staged->present[index] = true;
        staged->fetched_bytes += table.plan.shard_size;
        fetched_now.push_back(index);
        ++have;
        cv.notify_all();
        return;
      }
      --claimed;
      cv.notify_all();
      if (failures) failures->push_back({peer, {index}, r.error().ToString()});
    }
  });
  if (fetched_bytes) *fetched_bytes = staged->fetched_bytes;
  if (have < k) {
    std::string detail;
    if (local_error) {
      detail = " (cannot write here: " + local_error->message + ")";
    } else if (failures && !failures->empty()) {
      detail = " (" + std::to_string(failures->size()) +
               " fetches failed; first: " + failures->front().error + ")";
    } else if (sources.empty()) {
      detail = " (no holder is known)";
    }
    if (gather) {
      // Our own fragments stay in the fragment store, not here.
      std::error_code ec;
      for (uint32_t i : copied_local) fs::remove(staged->PathOf(i), ec);
      const auto total = GatheredBytes(GatherRoot());
      if (!total || *total > config_.gather_max_bytes) {
        // Over the cap (or not measurable): this attempt's fetches go, what
        // earlier attempts kept stays.
        for (uint32_t i : fetched_now) fs::remove(staged->PathOf(i), ec);
        detail += "; none of the " + std::to_string(fetched_now.size()) + " fetched now kept: " +
                  (total ? "gathers would exceed gather_max_bytes (" +
                               std::to_string(config_.gather_max_bytes) + ")"
                         : std::string("the size of the gathers cannot be read")) +
                  "; " + std::to_string(gathered) + " kept from before";
        if (gathered > 0) staged->dir.clear();
      } else if (gathered + fetched_now.size() > 0) {
        detail += "; " + std::to_string(gathered + fetched_now.size()) +
                  " kept for the next attempt (" + std::to_string(gathered) + " gathered before)";
        staged->dir.clear();  // kept: ~Staged removes nothing
      }
    }
    if (!staged->note.empty()) detail += "; " + staged->note;
    // A local failure keeps its code when it says what to do about it (a full
    // disk, a permission); any other is an I/O error here, never "not found".
    const ErrorCode code = !local_error ? ErrorCode::kInsufficientShards
                           : local_error->code == ErrorCode::kResourceExhausted ||
                                   local_error->code == ErrorCode::kPermissionDenied
                               ? local_error->code
                               : ErrorCode::kIo;
    return MakeError(code, "could fetch only " + std::to_string(have) + " of the " +
                               std::to_string(k) + " fragments needed to rebuild tessera " +
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
