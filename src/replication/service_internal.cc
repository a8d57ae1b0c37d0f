#include "replication/service_internal.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <string>
#include <thread>

namespace tesseras::replication {

namespace fs = std::filesystem;
using core::ErrorCode;
using core::MakeError;
using core::Result;

Result<void> CheckedSink::Write(std::span<const uint8_t> data) {
  written_ += data.size();
  if (written_ > size_) {
    return MakeError(ErrorCode::kProtocol, "peer sent more bytes than the fragment has");
  }
  hash_.Update(data);
  return inner_.Write(data);
}

Result<void> CheckedSink::Finish() {
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

ReplicationService::Staged::~Staged() {
  std::error_code ec;
  if (!dir.empty()) fs::remove_all(dir, ec);
  if (release) release();
}

ReplicationService::Metrics::Metrics(core::MetricsRegistry& r)
    : registry(r),
      attest_ok(r.GetCounter("tesseras_attestations_total",
                             "Attestation batches asked of holders, by result",
                             {{"result", "ok"}})),
      attest_failed(r.GetCounter("tesseras_attestations_total",
                                 "Attestation batches asked of holders, by result",
                                 {{"result", "failed"}})),
      attest_unanswered(r.GetCounter("tesseras_attestations_total",
                                     "Attestation batches asked of holders, by result",
                                     {{"result", "unanswered"}})),
      passes(r.GetCounter("tesseras_repair_passes_total", "Maintenance passes run")),
      repair_sent(r.GetCounter("tesseras_repair_bytes_total",
                               "Fragment bytes moved by repairs, by direction",
                               {{"direction", "sent"}})),
      repair_received(r.GetCounter("tesseras_repair_bytes_total",
                                   "Fragment bytes moved by repairs, by direction",
                                   {{"direction", "received"}})),
      record_reads_cache(
          r.GetCounter("tesseras_dht_record_reads_total",
                       "Reads of a tessera's DHT records, by where the answer came from",
                       {{"source", "cache"}})),
      record_reads_network(
          r.GetCounter("tesseras_dht_record_reads_total",
                       "Reads of a tessera's DHT records, by where the answer came from",
                       {{"source", "network"}})),
      probes_answered(r.GetCounter("tesseras_holder_probes_total",
                                   "Suspect holders asked again between checks, by result",
                                   {{"result", "answered"}})),
      probes_unanswered(r.GetCounter("tesseras_holder_probes_total",
                                     "Suspect holders asked again between checks, by result",
                                     {{"result", "unanswered"}})) {}

std::vector<core::PlacementEntry> CountedPlacement(const std::vector<core::HolderView>& holders,
                                                   int64_t now_ms, const MaintenancePolicyConfig& c,
                                                   bool proven_only) {
  std::vector<core::PlacementEntry> out;
  for (const auto& h : holders) {
    core::PlacementEntry e{h.holder, h.address, {}, std::nullopt};
    for (const auto& copy : h.copies) {
      const auto st = StandingOf(copy, now_ms, c);
      if (st != CopyStanding::kProven && (proven_only || st != CopyStanding::kSuspect)) continue;
      e.indices.push_back(copy.index);
      if (copy.last_proven_ms) {
        e.last_attested_ms = std::max(e.last_attested_ms.value_or(0), *copy.last_proven_ms);
      }
    }
    if (!e.indices.empty()) out.push_back(std::move(e));
  }
  return out;
}

void AddCopies(std::vector<core::HolderView>& holders, const core::PlacementEntry& acked,
               int64_t now_ms) {
  auto it = std::find_if(holders.begin(), holders.end(),
                         [&](const core::HolderView& h) { return h.holder == acked.holder; });
  if (it == holders.end()) {
    holders.push_back({acked.holder, acked.address, {}});
    it = holders.end() - 1;
  }
  it->address = acked.address;
  for (uint32_t i : acked.indices) {
    auto c = std::find_if(it->copies.begin(), it->copies.end(),
                          [&](const core::CopyHistory& x) { return x.index == i; });
    if (c == it->copies.end()) {
      it->copies.push_back(AfterPush(i, now_ms));
    } else {
      *c = AfterAudit(*c, CopyObservation::kProven, now_ms);
    }
  }
  std::sort(it->copies.begin(), it->copies.end(),
            [](const auto& a, const auto& b) { return a.index < b.index; });
  std::sort(holders.begin(), holders.end(),
            [](const auto& a, const auto& b) { return a.holder < b.holder; });
}

core::Error HideSlot(core::Error e, const core::ContentHash& key,
                     const core::ContentHash& tessera) {
  if (key == tessera) return e;
  const std::string slot = key.ToHex();
  const std::string hash = tessera.ToHex();
  for (std::size_t len : {slot.size(), std::size_t{8}}) {
    const std::string from = slot.substr(0, len);
    const std::string to = hash.substr(0, len);
    for (auto at = e.message.find(from); at != std::string::npos;
         at = e.message.find(from, at + to.size())) {
      e.message.replace(at, from.size(), to);
    }
  }
  return e;
}

}  // namespace tesseras::replication
