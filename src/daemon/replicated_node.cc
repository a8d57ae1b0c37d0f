#include "daemon/replicated_node.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>

#include "daemon/api_contract.h"
#include "daemon/disk_usage.h"
#include "replication/file_io.h"
#include "storage/bundle.h"

namespace tesseras::daemon {
namespace {

using core::ErrorCode;
using core::MakeError;
using core::Result;

std::filesystem::path ScratchFile(const std::filesystem::path& dir, const std::string& what) {
  static std::atomic<uint64_t> counter{0};
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  return dir / (what + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
}

// Removes a scratch file when the operation ends, however it ends.
struct RemoveOnExit {
  std::filesystem::path path;
  ~RemoveOnExit() {
    std::error_code ec;
    std::filesystem::remove(path, ec);
  }
};

Json IndicesJson(const std::vector<uint32_t>& v) {
  Json a = Json::array();
  for (uint32_t i : v) a.push_back(i);
  return a;
}

Json OptionalMs(const std::optional<int64_t>& ms) { return ms ? Json(*ms) : Json(); }

}  // namespace

std::string TesseraStateApiName(storage::TesseraState s) {
  switch (s) {
    case storage::TesseraState::kLocal:
      return "local";
    case storage::TesseraState::kReplicating:
      return "replicating";
    case storage::TesseraState::kReplicated:
      return "healthy";
    case storage::TesseraState::kDegraded:
      return "degraded";
    case storage::TesseraState::kLost:
      return "lost";
    case storage::TesseraState::kRestored:
      return "restored";
  }
  return "unknown";
}

Json RepairReportJson(const replication::RepairReport& r) {
  Json j;
  j["hash"] = r.tessera.ToHex();
  j["state_before"] = std::string(replication::HealthStateName(r.before.state));
  j["deficit"] = r.before.deficit;
  j["corrupt_local"] = IndicesJson(r.before.corrupt_local);
  j["mended_local"] = IndicesJson(r.mended_local);
  j["regenerated"] = IndicesJson(r.regenerated);
  Json holders = Json::array();
  for (const auto& h : r.new_holders) {
    holders.push_back({{"node_id", h.holder.ToHex()},
                       {"addr", h.address},
                       {"fragments", IndicesJson(h.indices)}});
  }
  j["new_holders"] = holders;
  j["action"] = r.action;
  j["bytes_fetched"] = r.bytes_fetched;
  j["bytes_sent"] = r.bytes_sent;
  j["problems"] = r.problems;
  return j;
}

Json DurabilityJson(const replication::DurabilityEstimate& e, int horizon_years) {
  return Json{{"horizon_years", horizon_years},
              {"p_lost", e.p_lost},
              {"availability", e.availability},
              {"departures_per_year", e.departures_per_year},
              {"repair_delay_hours", e.repair_delay_hours},
              {"units_counted", e.units},
              {"method", "docs/SIMULATION.md, Durability estimate"}};
}

Json ScrubStatusJson(const storage::ScrubStatus& s) {
  auto time = [](int64_t ms) { return ms > 0 ? Json(ms) : Json(); };
  auto opt = [](const std::optional<int64_t>& ms) { return ms ? Json(*ms) : Json(); };
  const bool in_cycle = s.cycle_started_ms > 0;
  return Json{{"running", s.running},
              {"bytes_per_day", s.bytes_per_day},
              {"cycle_started", time(s.cycle_started_ms)},
              {"position", in_cycle ? time(s.position_ms) : Json()},
              {"cycle_fragments", s.cycle_fragments},
              {"cycle_bytes", s.cycle_bytes},
              {"cycle_fragments_total", s.cycle_fragments_total},
              {"cycle_bytes_total", s.cycle_bytes_total},
              {"next_cycle", in_cycle ? Json() : time(s.next_cycle_ms)},
              {"last_cycle_started", opt(s.last_cycle_started_ms)},
              {"last_cycle_finished", opt(s.last_cycle_finished_ms)},
              {"last_cycle_fragments", s.last_cycle_fragments},
              {"last_cycle_bytes", s.last_cycle_bytes},
              {"corrupt_found", s.corrupt_found},
              {"missing_found", s.missing_found},
              {"last_error", s.last_error.empty() ? Json() : Json(s.last_error)}};
}

Result<std::vector<core::PeerInfo>> ReplicatedNodeOperations::Peers() {
  return d_.dht->Run<std::vector<core::PeerInfo>>(
      [](dht::Node& node) -> boost::asio::awaitable<Result<std::vector<core::PeerInfo>>> {
        std::vector<core::PeerInfo> out;
        for (const auto& c : node.routing().Closest(node.id(), node.routing().size())) {
          out.push_back(c.ToPeerInfo());
        }
        co_return out;
      });
}

Result<std::size_t> ReplicatedNodeOperations::PeerCount() {
  return d_.dht->Run<std::size_t>(
      [](dht::Node& node) -> boost::asio::awaitable<Result<std::size_t>> {
        co_return node.routing().size();
      });
}

Result<Json> ReplicatedNodeOperations::GetNode() {
  ASSIGN_OR_RETURN(std::size_t peers, PeerCount());
  ASSIGN_OR_RETURN(uint64_t stored, d_.fragments->TotalBytes());
  const auto pass = d_.replication->pass_status();
  Json maintenance{{"running", pass.running}};
  if (pass.running) {
    maintenance["phase"] = pass.phase;
    maintenance["started_at"] = pass.started_ms;
    maintenance["done"] = pass.done;
    maintenance["total"] = pass.total;
  }
  Json passes = Json::array();
  for (const auto& p : d_.replication->pass_history()) {
    passes.push_back({{"started_at", p.started_ms},
                      {"finished_at", p.finished_ms},
                      {"checked", p.checked},
                      {"repaired", p.repaired},
                      {"waiting", p.waiting},
                      {"deferred", p.deferred},
                      {"failed", p.failed},
                      {"bytes_fetched", p.bytes_fetched},
                      {"bytes_sent", p.bytes_sent}});
  }
  maintenance["passes"] = passes;
  ASSIGN_OR_RETURN(auto ledger, d_.ledger->All());
  uint64_t for_others = 0;
  uint64_t by_others = 0;
  for (const auto& e : ledger) {
    for_others += e.bytes_stored_for_them;
    by_others += e.bytes_they_store_for_us;
  }
  ASSIGN_OR_RETURN(FilesystemSpace space, StatFilesystem(d_.data_dir));
  // What the node keeps in its data dir: fragments held (from the index), its
  // own payloads and the database.
  const uint64_t used =
      stored + DirectoryBytes(d_.data_dir / "blobs") + DirectoryBytes(d_.data_dir / "db");
  const int64_t now = d_.clock->NowUnixMs();
  Json node{{"node_id", d_.identity->node_id().ToHex()},
            {"listen", d_.listen},
            {"http", http_address_.empty() ? Json() : Json(http_address_)},
            {"peers", peers},
            {"bytes_stored", stored},
            {"bytes_stored_for_others", for_others},
            {"bytes_stored_by_others", by_others},
            {"version", std::string(kVersion)},
            {"started_at", d_.started_at_ms},
            {"uptime_secs", std::max<int64_t>(0, (now - d_.started_at_ms) / 1000)},
            {"disk",
             {{"path", d_.data_dir.string()},
              {"total_bytes", space.total_bytes},
              {"free_bytes", space.available_bytes},
              {"used_bytes", used}}},
            {"maintenance", maintenance}};
  if (d_.scrub) node["scrub"] = ScrubStatusJson(d_.scrub->Status());
  return node;
}

Result<Json> ReplicatedNodeOperations::ListTesseras() {
  ASSIGN_OR_RETURN(auto all, d_.tesseras->List());
  Json out = Json::array();
  for (const auto& t : all) {
    auto plan = core::PlanForSize(t.size);
    Json j{{"hash", t.hash.ToHex()},
           {"tier", plan.ok() ? std::string(core::TierName(plan->tier)) : "too_big"},
           {"size", t.size},
           {"state", TesseraStateApiName(t.state)},
           {"files", t.file_count},
           {"created_at", t.created_at_ms}};
    if (plan.ok()) {
      j["data_shards"] = plan->data_shards;
      j["fragments_total"] = plan->total_shards();
      j["replication_factor"] = plan->replication_factor;
    }
    // The holders as tracked: how many, and the last time any proved a copy.
    ASSIGN_OR_RETURN(auto tracked, d_.plans->GetHolders(t.hash));
    std::optional<int64_t> last;
    for (const auto& h : tracked) {
      for (const auto& c : h.copies) {
        if (c.last_proven_ms && (!last || *c.last_proven_ms > *last)) last = c.last_proven_ms;
      }
    }
    j["holders"] = tracked.size();
    j["last_audit"] = OptionalMs(last);
    auto health = d_.activity->Health(t.hash);
    j["health"] = health ? *health : Json();
    out.push_back(std::move(j));
  }
  return out;
}

Result<Json> ReplicatedNodeOperations::CreateTessera(
    const std::vector<std::filesystem::path>& paths) {
  ASSIGN_OR_RETURN(storage::Bundle bundle,
                   storage::CreateBundle(paths, *d_.identity, d_.clock->NowUnixMs()));
  // Pack into a scratch file, then into the blob store (which checks the hash).
  RemoveOnExit tmp{ScratchFile(d_.scratch_dir, "pack")};
  {
    ASSIGN_OR_RETURN(auto sink, replication::FileSink::Create(tmp.path, /*durable=*/false));
    ASSIGN_OR_RETURN(core::ContentHash packed, storage::PackBundle(bundle, *sink));
    if (packed != bundle.tessera_hash) {
      return MakeError(ErrorCode::kCorrupt, "a file changed while the tessera was being made");
    }
  }
  ASSIGN_OR_RETURN(auto src, replication::FileSource::Open(tmp.path));
  TRY(d_.blobs->Put(bundle.tessera_hash, bundle.payload_size, *src));
  storage::TesseraRecord rec;
  rec.hash = bundle.tessera_hash;
  rec.owner = d_.identity->public_key();
  rec.size = bundle.payload_size;
  rec.file_count = static_cast<uint32_t>(bundle.manifest.files.size());
  rec.state = storage::TesseraState::kLocal;
  rec.created_at_ms = bundle.manifest.created_at_ms;
  std::vector<storage::TesseraFileRecord> files;
  for (const auto& f : bundle.manifest.files) {
    storage::TesseraFileRecord fr;
    fr.path = f.path;
    fr.size = f.size;
    fr.hash = f.hash;
    fr.media_type = f.media_type;
    files.push_back(fr);
  }
  auto inserted = d_.tesseras->Insert(rec, files);
  if (!inserted.ok() && inserted.error().code != ErrorCode::kAlreadyExists) return inserted.error();
  return Json{{"hash", bundle.tessera_hash.ToHex()},
              {"size", bundle.payload_size},
              {"files", bundle.manifest.files.size()}};
}

Result<Json> ReplicatedNodeOperations::ShowTessera(const core::ContentHash& hash) {
  ASSIGN_OR_RETURN(auto payload, d_.blobs->Open(hash));
  core::SequentialReader reader(*payload);
  auto verified = storage::VerifyBundle(reader, hash);
  Json j;
  j["hash"] = hash.ToHex();
  j["size"] = payload->Size();
  j["signature_valid"] = verified.ok();
  if (!verified.ok()) {
    j["problem"] = verified.error().message;
    return j;
  }
  const auto& m = verified->manifest;
  j["creator"] = core::ToHex(m.creator);
  j["creator_node_id"] = crypto::NodeIdFromPublicKey(m.creator).ToHex();
  j["created_at"] = m.created_at_ms;
  Json files = Json::array();
  for (const auto& f : m.files) {
    files.push_back({{"path", f.path},
                     {"size", f.size},
                     {"blake3", f.hash.ToHex()},
                     {"media_type", f.media_type}});
  }
  j["files"] = files;
  return j;
}

Result<Json> ReplicatedNodeOperations::PublishTessera(const core::ContentHash& hash) {
  ASSIGN_OR_RETURN(auto rec, d_.tesseras->Get(hash));
  (void)d_.tesseras->SetState(hash, storage::TesseraState::kReplicating);
  auto report = d_.replication->ReplicateTessera(hash);
  if (!report.ok()) {
    (void)d_.tesseras->SetState(hash, rec.state);
    return report.error();
  }
  (void)d_.tesseras->SetState(hash, storage::TesseraState::kReplicated);
  Json failures = Json::array();
  for (const auto& f : report->failures) {
    failures.push_back({{"node_id", f.peer.id.ToHex()},
                        {"addr", f.peer.address},
                        {"fragments", IndicesJson(f.indices)},
                        {"error", f.error}});
    d_.activity->Record({d_.clock->NowUnixMs(), 0, 1, "peer_refused", hash.ToHex(),
                         f.peer.id.ToHex(), f.peer.address, "publish: " + f.error});
  }
  return Json{{"hash", hash.ToHex()},
              {"tier", std::string(core::TierName(report->plan.tier))},
              {"fragments", report->fragments_placed()},
              {"holders", report->holders.size()},
              {"complete", report->complete()},
              {"copies_wanted", report->units_wanted},
              {"copies_placed", report->units_placed},
              {"missing", IndicesJson(report->missing)},
              {"failures", failures}};
}

Result<Json> ReplicatedNodeOperations::TesseraStatus(const core::ContentHash& hash) {
  auto health = d_.replication->CheckTesseraHealth(hash);
  if (!health.ok() && health.error().code == ErrorCode::kNotFound) {
    // Known locally but never published: no plan yet.
    ASSIGN_OR_RETURN(auto rec, d_.tesseras->Get(hash));
    ASSIGN_OR_RETURN(auto plan, core::PlanForSize(rec.size));
    return Json{{"hash", hash.ToHex()},
                {"tier", std::string(core::TierName(plan.tier))},
                {"size", rec.size},
                {"data_shards", plan.data_shards},
                {"parity_shards", plan.parity_shards},
                {"fragments_total", plan.total_shards()},
                {"fragments_verified", 0},
                {"state", "local"},
                {"holders", Json::array()}};
  }
  if (!health.ok()) return health.error();
  const auto& h = *health;
  const int64_t now = d_.clock->NowUnixMs();
  Json holders = Json::array();
  for (const auto& hh : h.holders) {
    Json e{{"node_id", hh.entry.holder.ToHex()},      {"addr", hh.entry.address},
           {"subnet", SubnetLabel(hh.entry.address)}, {"fragments", IndicesJson(hh.entry.indices)},
           {"proven", IndicesJson(hh.proven)},        {"reachable", hh.reachable}};
    e["last_attested"] = OptionalMs(hh.entry.last_attested_ms);
    e["suspect_since"] = OptionalMs(hh.suspect_since);
    e["lost"] = IndicesJson(hh.lost);
    if (!hh.error.empty()) e["error"] = hh.error;
    holders.push_back(e);
    if (!hh.answered) {
      d_.activity->Record({now, 0, 1, "audit_failed", hash.ToHex(), hh.entry.holder.ToHex(),
                           hh.entry.address,
                           hh.error.empty() ? "proved none of its fragments" : hh.error});
    }
  }
  Json summary = HealthSummaryJson(h, now);
  d_.activity->RecordHealth(hash, summary);
  auto state = std::string(replication::HealthStateName(h.state));
  auto rec = d_.tesseras->Get(hash);
  if (rec.ok()) {
    auto s = h.state == replication::HealthState::kHealthy    ? storage::TesseraState::kReplicated
             : h.state == replication::HealthState::kDegraded ? storage::TesseraState::kDegraded
             : h.state == replication::HealthState::kLost     ? storage::TesseraState::kLost
                                                              : rec->state;
    (void)d_.tesseras->SetState(hash, s);
  }
  Json out{{"hash", hash.ToHex()},
           {"tier", std::string(core::TierName(h.plan.tier))},
           {"size", h.plan.original_size},
           {"data_shards", h.plan.data_shards},
           {"parity_shards", h.plan.parity_shards},
           {"fragments_total", h.plan.total_shards()},
           {"fragments_verified", h.fragments_verified},
           {"fragments_counted", h.fragments_counted},
           {"copies_verified", h.copies_verified},
           {"copies_counted", h.copies_counted},
           {"margin", h.margin},
           {"repair", std::string(replication::RepairTriggerName(h.trigger))},
           {"own", h.own},
           {"maintainer_rank", h.maintainer_rank ? Json(*h.maintainer_rank) : Json()},
           {"need_since", OptionalMs(h.need_since_ms)},
           {"state", state},
           {"holders", holders}};
  for (const auto& [key, value] : summary.items()) {
    if (!out.contains(key)) out[key] = value;
  }
  out["subnets"] = SubnetSpreadJson(h);
  // The chance of losing it within 10 years, from what we observed of its
  // holders (docs/SIMULATION.md, "Durability estimate").
  auto estimate = d_.replication->EstimateDurabilityOf(hash, 10);
  out["durability"] = estimate.ok() ? DurabilityJson(*estimate, 10) : Json();
  return out;
}

Result<Json> ReplicatedNodeOperations::FetchTessera(const core::ContentHash& hash,
                                                    const std::filesystem::path& out_dir) {
  RemoveOnExit tmp{ScratchFile(d_.scratch_dir, "restore")};
  {
    ASSIGN_OR_RETURN(auto sink, replication::FileSink::Create(tmp.path, /*durable=*/false));
    auto report = d_.replication->FetchTessera(hash, static_cast<core::RandomAccessSink&>(*sink));
    if (!report.ok()) {
      d_.activity->Record({d_.clock->NowUnixMs(), 0, 1, "fetch_failed", hash.ToHex(), "", "",
                           report.error().message});
      return report.error();
    }
    for (const auto& f : report->failures) {
      d_.activity->Record({d_.clock->NowUnixMs(), 0, 1, "fetch_failed", hash.ToHex(),
                           f.peer.id.ToHex(), f.peer.address, f.error});
    }
  }
  ASSIGN_OR_RETURN(auto payload, replication::FileSource::Open(tmp.path));
  std::error_code ec;
  const bool existed = std::filesystem::exists(out_dir, ec);
  // Unpacking writes nothing unless everything verified; into an existing
  // directory it goes through a staging directory next to the files.
  const std::filesystem::path target =
      existed ? out_dir / (".tesseras-restore-" + hash.Short()) : out_dir;
  ASSIGN_OR_RETURN(
      auto unpacked,
      storage::UnpackBundle(static_cast<core::RandomAccessSource&>(*payload), hash, target));
  if (existed) {
    std::vector<std::filesystem::path> entries;
    for (const auto& e : std::filesystem::directory_iterator(target)) entries.push_back(e.path());
    for (const auto& e : entries) {
      if (std::filesystem::exists(out_dir / e.filename(), ec)) {
        std::filesystem::remove_all(target, ec);
        return MakeError(ErrorCode::kAlreadyExists, (out_dir / e.filename()).string() +
                                                        " already exists; nothing was written");
      }
    }
    for (const auto& e : entries) {
      std::filesystem::rename(e, out_dir / e.filename(), ec);
      if (ec) {
        return MakeError(ErrorCode::kIo,
                         "cannot move restored " + e.string() + ": " + ec.message());
      }
    }
    std::filesystem::remove(target, ec);
  }
  return Json{{"hash", hash.ToHex()},
              {"files", unpacked.manifest.files.size()},
              {"bytes", unpacked.manifest.ContentBytes()}};
}

Result<Json> ReplicatedNodeOperations::Repair(const std::optional<core::ContentHash>& hash) {
  const uint64_t pass = d_.activity->PassStarted(d_.clock->NowUnixMs(), "api",
                                                 hash ? hash->ToHex() : std::string("all"));
  NodeActivity::Pass done;
  auto finish = [&](const std::vector<replication::RepairReport>& reports, std::string error) {
    done.finished_at_ms = d_.clock->NowUnixMs();
    done.tesseras = static_cast<uint32_t>(reports.size());
    for (const auto& r : reports) {
      done.regenerated += static_cast<uint32_t>(r.regenerated.size());
      done.mended_local += static_cast<uint32_t>(r.mended_local.size());
      done.problems += static_cast<uint32_t>(r.problems.size());
      RecordRepair(r);
    }
    done.error = std::move(error);
    d_.activity->PassFinished(pass, done);
  };
  Result<std::vector<replication::RepairReport>> reports = std::vector<replication::RepairReport>{};
  if (hash) {
    auto one = d_.replication->RepairTessera(*hash);
    if (one.ok()) {
      reports->push_back(std::move(*one));
    } else {
      reports = one.error();
    }
  } else {
    reports = d_.repair->RunNow();
  }
  if (!reports.ok()) {
    finish({}, reports.error().message);
    d_.activity->Record({d_.clock->NowUnixMs(), 0, 1, "repair_problem",
                         hash ? hash->ToHex() : std::string(), "", "", reports.error().message});
    return reports.error();
  }
  finish(*reports, "");
  Json list = Json::array();
  for (const auto& r : *reports) list.push_back(RepairReportJson(r));
  return Json{{"tesseras", list}};
}

void ReplicatedNodeOperations::RecordRepair(const replication::RepairReport& r) {
  const int64_t now = d_.clock->NowUnixMs();
  for (const auto& p : r.problems) {
    d_.activity->Record({now, 0, 1, "repair_problem", r.tessera.ToHex(), "", "", p});
  }
  for (const auto& hh : r.before.holders) {
    if (hh.answered) continue;
    d_.activity->Record({now, 0, 1, "audit_failed", r.tessera.ToHex(), hh.entry.holder.ToHex(),
                         hh.entry.address,
                         hh.error.empty() ? "proved none of its fragments" : hh.error});
  }
  if (r.before.own) d_.activity->RecordHealth(r.tessera, HealthSummaryJson(r.before, now));
}

Result<Json> ReplicatedNodeOperations::Verify(const std::optional<core::ContentHash>& hash) {
  ASSIGN_OR_RETURN(auto held, d_.fragments->List(hash));
  Json failed = Json::array();
  for (const auto& f : held) {
    auto v = d_.fragments->Verify(f.id.tessera, f.id.index);
    if (!v.ok()) {
      failed.push_back(
          {{"hash", f.id.tessera.ToHex()}, {"index", f.id.index}, {"error", v.error().ToString()}});
    }
  }
  return Json{{"checked", held.size()}, {"failed", failed}};
}

Result<Json> ReplicatedNodeOperations::ListPeers() {
  ASSIGN_OR_RETURN(auto peers, Peers());
  Json out = Json::array();
  for (const auto& p : peers) out.push_back({{"node_id", p.id.ToHex()}, {"addr", p.address}});
  return out;
}

Result<Json> ReplicatedNodeOperations::Ledger() {
  ASSIGN_OR_RETURN(auto all, d_.ledger->All());
  Json out = Json::array();
  for (const auto& e : all) {
    out.push_back({{"peer", e.peer.ToHex()},
                   {"bytes_stored_for_them", e.bytes_stored_for_them},
                   {"bytes_they_store_for_us", e.bytes_they_store_for_us},
                   {"balance", e.balance}});
  }
  return out;
}

}  // namespace tesseras::daemon
