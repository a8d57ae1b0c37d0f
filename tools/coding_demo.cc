// tesseras-coding-demo: the coding pipeline end to end, through real files.
//
// For each size: write a pseudo-random payload file, encode it by tier into
// fragment files, delete as many fragments as there are parity shards (data
// shards first: the worst case), restore from the rest, and compare BLAKE3 of
// the restored file with the original. Prints timings and peak memory.
//
//   tesseras-coding-demo [--sizes N,N,...] [--workdir DIR] [--json]
//                        [--max-rss-growth-mib M]   (exit 1 if peak RSS grows more)
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "crypto/blake3_hasher.h"
#include "replication/file_io.h"
#include "replication/fragment_codec.h"

namespace fs = std::filesystem;
using namespace tesseras;

namespace {

// Resident set figures from /proc/self/status, in KiB.
long ProcStatusKib(const char* key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  std::size_t klen = std::strlen(key);
  while (std::getline(in, line)) {
    if (line.compare(0, klen, key) == 0 && line.size() > klen && line[klen] == ':') {
      return std::stol(line.substr(klen + 1));
    }
  }
  return -1;
}

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

// Streams `size` pseudo-random bytes to `path`, returning their BLAKE3.
core::Result<core::ContentHash> WritePayload(const fs::path& path, uint64_t size, uint64_t seed) {
  ASSIGN_OR_RETURN(auto sink, replication::FileSink::Create(path, /*durable=*/false));
  std::mt19937_64 rng(seed);
  std::vector<uint8_t> buf(1 << 20);
  crypto::Blake3Hasher h;
  for (uint64_t done = 0; done < size;) {
    std::size_t n = static_cast<std::size_t>(std::min<uint64_t>(buf.size(), size - done));
    for (std::size_t i = 0; i < n; i += 8) {
      uint64_t v = rng();
      std::memcpy(&buf[i], &v, std::min<std::size_t>(8, n - i));
    }
    h.Update(std::span(buf.data(), n));
    TRY(sink->Write(std::span(buf.data(), n)));
    done += n;
  }
  TRY(sink->Finish());
  return h.Finalize();
}

void Progress(bool json, const std::string& what, uint64_t done, uint64_t total) {
  if (json || !::isatty(2)) return;
  int pct = total ? static_cast<int>(done * 100 / total) : 100;
  std::fprintf(stderr, "\r  %-8s %3d%%", what.c_str(), pct);
  if (done == total) std::fprintf(stderr, "\r\033[K");
}

core::Result<nlohmann::json> RunOne(const fs::path& work, uint64_t size, bool json) {
  nlohmann::json r;
  r["size"] = size;
  const fs::path payload = work / "payload.bin", frags = work / "fragments",
                 restored = work / "restored.bin";
  fs::remove_all(frags);
  auto t0 = std::chrono::steady_clock::now();
  ASSIGN_OR_RETURN(core::ContentHash hash, WritePayload(payload, size, size));
  r["write_payload_s"] = Seconds(t0);

  replication::CodecOptions opt;
  opt.scratch_dir = work;
  opt.progress = [json](uint64_t d, uint64_t t) { Progress(json, "encode", d, t); };
  t0 = std::chrono::steady_clock::now();
  ASSIGN_OR_RETURN(core::FragmentTable table,
                   replication::EncodeFileToDirectory(hash, payload, frags, opt));
  r["encode_s"] = Seconds(t0);
  const auto& plan = table.plan;
  r["tier"] = std::string(core::TierName(plan.tier));
  r["data_shards"] = plan.data_shards;
  r["parity_shards"] = plan.parity_shards;
  r["shard_size"] = plan.shard_size;

  // Drop `parity` fragments, data shards first (forces real reconstruction).
  std::vector<uint32_t> dropped;
  for (uint32_t i = 0; i < plan.parity_shards; ++i) {
    fs::remove(frags / replication::ShardFileName(i));
    dropped.push_back(i);
  }
  r["dropped"] = dropped;

  std::vector<std::unique_ptr<replication::FileSource>> files;
  std::vector<replication::FragmentInput> inputs;
  for (uint32_t i = 0; i < plan.total_shards(); ++i) {
    auto f = replication::FileSource::Open(frags / replication::ShardFileName(i));
    if (!f.ok()) continue;  // dropped
    inputs.push_back({i, f->get()});
    files.push_back(std::move(*f));
  }
  opt.progress = [json](uint64_t d, uint64_t t) { Progress(json, "decode", d, t); };
  t0 = std::chrono::steady_clock::now();
  {
    ASSIGN_OR_RETURN(auto sink, replication::FileSink::Create(restored, /*durable=*/false));
    ASSIGN_OR_RETURN(auto report,
                     replication::DecodeTessera(table, inputs,
                                                static_cast<core::RandomAccessSink&>(*sink), opt));
    r["used"] = report.used;
  }
  r["decode_s"] = Seconds(t0);

  ASSIGN_OR_RETURN(auto back, replication::FileSource::Open(restored));
  ASSIGN_OR_RETURN(core::ContentHash got, crypto::Blake3Range(*back));
  r["original_blake3"] = hash.ToHex();
  r["restored_blake3"] = got.ToHex();
  r["identical"] = got == hash && back->Size() == size;
  fs::remove(payload);
  fs::remove(restored);
  fs::remove_all(frags);
  return r;
}

std::vector<uint64_t> ParseSizes(const std::string& s) {
  std::vector<uint64_t> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) out.push_back(std::stoull(item));
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<uint64_t> sizes = {1'000'000, 64ull << 20, 300ull << 20};
  fs::path work;
  bool json = false;
  long max_growth_mib = -1;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "tesseras-coding-demo: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    try {
      if (a == "--sizes")
        sizes = ParseSizes(next());
      else if (a == "--workdir")
        work = next();
      else if (a == "--json")
        json = true;
      else if (a == "--max-rss-growth-mib")
        max_growth_mib = std::stol(next());
      else if (a == "--help" || a == "-h") {
        std::puts(
            "usage: tesseras-coding-demo [--sizes N,N,...] [--workdir DIR] [--json]\n"
            "                            [--max-rss-growth-mib M]");
        return 0;
      } else {
        std::fprintf(stderr, "tesseras-coding-demo: unknown argument '%s' (see --help)\n",
                     a.c_str());
        return 2;
      }
    } catch (const std::exception&) {
      std::fprintf(stderr, "tesseras-coding-demo: bad value for %s\n", a.c_str());
      return 2;
    }
  }
  bool own_work = work.empty();
  if (own_work) work = fs::temp_directory_path() / ("tesseras-demo-" + std::to_string(::getpid()));
  fs::create_directories(work);

  const long baseline_kib = ProcStatusKib("VmRSS");
  nlohmann::json runs = nlohmann::json::array();
  bool all_ok = true;
  for (uint64_t size : sizes) {
    if (!json) std::printf("tessera of %llu bytes\n", static_cast<unsigned long long>(size));
    auto r = RunOne(work, size, json);
    if (!r.ok()) {
      std::fprintf(stderr, "tesseras-coding-demo: %s\n", r.error().ToString().c_str());
      all_ok = false;
      nlohmann::json e;
      e["size"] = size;
      e["error"] = r.error().ToString();
      runs.push_back(e);
      continue;
    }
    all_ok = all_ok && (*r)["identical"].get<bool>();
    if (!json) {
      const auto& j = *r;
      std::printf(
          "  %s %u+%u, shards of %llu bytes; encode %.3f s, dropped %zu, decode %.3f s: %s\n",
          j["tier"].get<std::string>().c_str(), j["data_shards"].get<unsigned>(),
          j["parity_shards"].get<unsigned>(),
          static_cast<unsigned long long>(j["shard_size"].get<uint64_t>()),
          j["encode_s"].get<double>(), j["dropped"].size(), j["decode_s"].get<double>(),
          j["identical"].get<bool>() ? "restored bit-exact" : "MISMATCH");
    }
    runs.push_back(*r);
  }
  const long peak_kib = ProcStatusKib("VmHWM");
  const long growth_mib = (peak_kib - baseline_kib) / 1024;
  if (own_work) fs::remove_all(work);
  bool memory_ok = max_growth_mib < 0 || growth_mib <= max_growth_mib;
  if (json) {
    nlohmann::json out;
    out["runs"] = runs;
    out["rss_baseline_kib"] = baseline_kib;
    out["rss_peak_kib"] = peak_kib;
    out["rss_growth_mib"] = growth_mib;
    out["ok"] = all_ok && memory_ok;
    std::cout << out.dump(2) << "\n";
  } else {
    std::printf("peak resident memory %ld MiB above the %ld MiB baseline\n", growth_mib,
                baseline_kib / 1024);
  }
  if (!memory_ok) {
    std::fprintf(stderr, "tesseras-coding-demo: peak RSS grew %ld MiB, limit %ld MiB\n", growth_mib,
                 max_growth_mib);
  }
  return all_ok && memory_ok ? 0 : 1;
}
