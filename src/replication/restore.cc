// Restore: find the plans the DHT offers for a tessera, fetch any k fragments
// of one, decode, and keep the result only if it hashes to the tessera
// (docs/REPLICATION.md, "Restore"; docs/SECURITY.md for why several plans).
#include <algorithm>
#include <map>

#include "crypto/blake3_hasher.h"
#include "replication/fragment_codec.h"
#include "replication/replication_service.h"
#include "replication/service_internal.h"

namespace tesseras::replication {

namespace fs = std::filesystem;
using core::ErrorCode;
using core::MakeError;
using core::Result;

namespace {

// Writes the decoded payload through to `out` while hashing it; `out` is
// finished only if the bytes hash to the tessera, so a forged plan leaves
// nothing (a later attempt overwrites from offset 0 and sets the length).
class VerifyingSink final : public core::ByteSink {
 public:
  VerifyingSink(core::RandomAccessSink& out, const core::ContentHash& expect)
      : out_(out), expect_(expect) {}
  Result<void> Write(std::span<const uint8_t> data) override {
    hash_.Update(data);
    TRY(out_.WriteAt(offset_, data));
    offset_ += data.size();
    return core::Ok();
  }
  Result<void> Finish() override {
    const core::ContentHash got = hash_.Finalize();
    if (got != expect_) {
      return MakeError(ErrorCode::kCorrupt, "the fragments decode to bytes that hash to " +
                                                got.ToHex() + ", not to the tessera hash");
    }
    return out_.Finish(offset_);
  }

 private:
  core::RandomAccessSink& out_;
  core::ContentHash expect_;
  crypto::Blake3Hasher hash_;
  uint64_t offset_ = 0;
};

}  // namespace

Result<std::vector<PlanCandidate>> ReplicationService::FindPlans(const core::ContentHash& tessera) {
  std::map<core::ContentHash, PlanCandidate> by_digest;
  std::string problem;
  auto holders_of = [](PlanCandidate& c, const core::NodeId& id, const std::string& address,
                       const std::vector<uint32_t>& indices) {
    auto it = std::find_if(c.holders.begin(), c.holders.end(),
                           [&](const core::PlacementEntry& e) { return e.holder == id; });
    if (it == c.holders.end()) {
      c.holders.push_back({id, address, indices, std::nullopt});
      ++c.claimants;
      return;
    }
    for (uint32_t i : indices) {
      if (std::find(it->indices.begin(), it->indices.end(), i) == it->indices.end()) {
        it->indices.push_back(i);
      }
    }
  };
  // The plan we keep, with the holders we track.
  if (auto local = LoadPlan(tessera); local.ok() && CanBeTheTessera(*local, tessera)) {
    PlanCandidate& c = by_digest[PlanDigest(*local)];
    c.plan = *local;
    c.local = true;
    auto tracked = d_.plans->GetHolders(tessera);
    if (tracked.ok()) {
      for (const auto& e : CountedPlacement(*tracked, d_.clock->NowUnixMs(), config_.policy)) {
        holders_of(c, e.holder, e.address, e.indices);
      }
    }
  }
  Records records = ReadRecords(tessera);
  problem = records.problem;
  for (auto& [digest, rec] : records.owner_records) {
    PlanCandidate& c = by_digest[digest];
    if (!c.local) c.plan = rec.plan;
    for (const auto& h : rec.holders) holders_of(c, h.node_id, h.address, h.indices);
  }
  for (auto& [key, claim] : records.claims) {
    PlanCandidate& c = by_digest[key.first];
    if (c.plan.table.checksums.empty()) c.plan = claim.plan;
    holders_of(c, claim.holder(), claim.address, claim.indices);
  }
  std::vector<PlanCandidate> out;
  for (auto& [digest, c] : by_digest) {
    if (c.plan.table.checksums.empty()) continue;
    for (auto& h : c.holders) std::sort(h.indices.begin(), h.indices.end());
    out.push_back(std::move(c));
  }
  if (out.empty()) {
    return MakeError(ErrorCode::kNotFound, "no valid plan is known for tessera " + tessera.ToHex() +
                                               (problem.empty() ? "" : " (" + problem + ")"));
  }
  std::stable_sort(out.begin(), out.end(), [](const PlanCandidate& a, const PlanCandidate& b) {
    if (a.local != b.local) return a.local;
    return a.claimants > b.claimants;
  });
  return out;
}

Result<SignedPlan> ReplicationService::FindPlan(const core::ContentHash& tessera) {
  ASSIGN_OR_RETURN(auto plans, FindPlans(tessera));
  return std::move(plans.front().plan);
}

Result<FetchReport> ReplicationService::FetchTessera(const core::ContentHash& tessera,
                                                     core::RandomAccessSink& out) {
  ASSIGN_OR_RETURN(auto candidates, FindPlans(tessera));
  FetchReport report;
  report.tessera = tessera;
  std::optional<core::Error> last, local;  // the last failure; the first of this node's own
  for (std::size_t i = 0; i < candidates.size() && i < kMaxRestorePlans; ++i) {
    const PlanCandidate& c = candidates[i];
    const SignedPlan& plan = c.plan;
    auto attempt = [&]() -> Result<DecodeReport> {
      ASSIGN_OR_RETURN(auto staged, StageFromNetwork(plan, c.holders, &report.failures));
      std::vector<std::unique_ptr<FileSource>> files;
      std::vector<FragmentInput> inputs;
      for (uint32_t f = 0; f < plan.table.plan.total_shards(); ++f) {
        if (!staged->present[f]) continue;
        ASSIGN_OR_RETURN(auto file, staged->Open(f));
        inputs.push_back({f, file.get()});
        files.push_back(std::move(file));
      }
      CodecOptions opt;
      opt.scratch_dir = staged->dir;
      VerifyingSink sink(out, tessera);
      return DecodeTessera(plan.table, inputs, static_cast<core::ByteSink&>(sink), opt);
    };
    auto decoded = attempt();
    if (decoded.ok()) {
      report.plan = plan.table.plan;
      report.owner = plan.owner_id();
      report.used = decoded->used;
      return report;
    }
    report.rejected_plans.push_back("plan signed by " + plan.owner_id().Short() + "… (" +
                                    std::to_string(c.claimants) +
                                    " holders): " + decoded.error().message);
    last = decoded.error();
    const ErrorCode code = last->code;
    if (!local && (code == ErrorCode::kResourceExhausted || code == ErrorCode::kPermissionDenied ||
                   code == ErrorCode::kIo)) {
      local = last;
    }
  }
  if (candidates.size() == 1 && last) return *last;
  std::string why;
  for (const auto& r : report.rejected_plans) why += (why.empty() ? "" : "; ") + r;
  // A failure of this node (a full disk) says so, whatever the plans were.
  const ErrorCode code = local ? local->code
                         : last && last->code == ErrorCode::kInsufficientShards
                             ? ErrorCode::kInsufficientShards
                             : ErrorCode::kCorrupt;
  return MakeError(code, "no plan for tessera " + tessera.Short() + "… restored it: " + why);
}

}  // namespace tesseras::replication
