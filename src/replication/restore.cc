#include "replication/fragment_codec.h"
#include "replication/replication_service.h"
#include "replication/service_internal.h"

namespace tesseras::replication {

namespace fs = std::filesystem;
using core::ErrorCode;
using core::MakeError;
using core::Result;

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

}  // namespace tesseras::replication
