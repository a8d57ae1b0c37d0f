#include "replication/service_internal.h"

#include <unistd.h>

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
}

}  // namespace tesseras::replication
