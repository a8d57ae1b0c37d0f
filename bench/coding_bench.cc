// Coding pipeline benchmarks: BLAKE3, ISA-L Reed-Solomon, EncodeTessera /
// DecodeTessera, with memcpy of the same bytes as the baseline in the same run.
//
//   build-release/bench/coding_bench --benchmark_format=json > coding.json
//   python3 bench/summarize.py coding.json
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <random>

#include "crypto/blake3_hasher.h"
#include "crypto/reed_solomon.h"
#include "replication/file_io.h"
#include "replication/fragment_codec.h"

namespace tesseras {
namespace {

constexpr std::size_t kMiB = 1024 * 1024;

const std::vector<uint8_t>& Payload(std::size_t size) {
  static std::vector<uint8_t> data;
  if (data.size() < size) {
    data.resize(size);
    std::mt19937_64 rng(42);
    for (std::size_t i = 0; i + 8 <= size; i += 8) {
      uint64_t v = rng();
      std::memcpy(&data[i], &v, 8);
    }
  }
  return data;
}

void SetBytes(benchmark::State& state, std::size_t bytes) {
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes));
}

void BM_Memcpy(benchmark::State& state) {
  const std::size_t size = static_cast<std::size_t>(state.range(0)) * kMiB;
  const auto& src = Payload(size);
  std::vector<uint8_t> dst(size, 1);
  for (auto _ : state) {
    std::memcpy(dst.data(), src.data(), size);
    benchmark::DoNotOptimize(dst.data());
    benchmark::ClobberMemory();
  }
  SetBytes(state, size);
}
BENCHMARK(BM_Memcpy)->Arg(64)->Arg(256)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_Blake3(benchmark::State& state) {
  const std::size_t size = static_cast<std::size_t>(state.range(0)) * kMiB;
  const auto& src = Payload(size);
  for (auto _ : state) benchmark::DoNotOptimize(crypto::Blake3(std::span(src.data(), size)));
  SetBytes(state, size);
}
BENCHMARK(BM_Blake3)->Arg(256)->Unit(benchmark::kMillisecond)->UseRealTime();

// Shards laid out as the codec sees them: data shard i = payload[i*L, (i+1)*L).
struct Coded {
  std::size_t len;
  std::vector<const uint8_t*> data;
  std::vector<std::vector<uint8_t>> parity;
  std::vector<uint8_t*> parity_ptrs;
};

// `stride` > len spaces the shards apart: shards exactly 2^n bytes apart map to
// the same cache sets, which a real payload size rarely does.
Coded Layout(std::size_t size, int k, int m, std::size_t extra = 0) {
  Coded c;
  c.len = (size + k - 1) / k;
  const std::size_t stride = c.len + extra;
  const auto& src = Payload(stride * k);
  for (int i = 0; i < k; ++i) c.data.push_back(src.data() + i * stride);
  c.parity.assign(m, std::vector<uint8_t>(c.len));
  for (auto& p : c.parity) c.parity_ptrs.push_back(p.data());
  return c;
}

// args: MiB, k, m, stripe bytes (0 = whole shards), gap bytes between shards
void BM_RsEncode(benchmark::State& state) {
  const std::size_t size = static_cast<std::size_t>(state.range(0)) * kMiB;
  const int k = static_cast<int>(state.range(1)), m = static_cast<int>(state.range(2));
  const std::size_t stripe = static_cast<std::size_t>(state.range(3));
  auto rs = *crypto::ReedSolomon::Create(k, m);
  Coded c = Layout(size, k, m, static_cast<std::size_t>(state.range(4)));
  for (auto _ : state) {
    rs.Encode(c.data, c.parity_ptrs, c.len, stripe ? stripe : c.len);
    benchmark::ClobberMemory();
  }
  SetBytes(state, size);
}
BENCHMARK(BM_RsEncode)
    ->ArgsProduct({{64, 256}, {16}, {8}, {0, 16384}, {0, 4160}})
    ->ArgsProduct({{64, 256}, {48}, {24}, {0, 16384}, {0, 4160}})
    ->ArgNames({"MiB", "k", "m", "stripe", "gap"})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// Rebuild with the first m data shards lost (the costliest case: m data rows).
void BM_RsReconstruct(benchmark::State& state) {
  const std::size_t size = static_cast<std::size_t>(state.range(0)) * kMiB;
  const int k = static_cast<int>(state.range(1)), m = static_cast<int>(state.range(2));
  auto rs = *crypto::ReedSolomon::Create(k, m);
  Coded c = Layout(size, k, m);
  rs.Encode(c.data, c.parity_ptrs, c.len);
  std::unique_ptr<bool[]> present(new bool[k + m]);
  std::vector<int> wanted;
  for (int i = 0; i < k + m; ++i) present[i] = i >= m;
  for (int i = 0; i < m; ++i) wanted.push_back(i);
  auto dec = *rs.MakeDecoder(std::span(present.get(), k + m), wanted);
  std::vector<const uint8_t*> in;
  for (int s : dec.sources()) in.push_back(s < k ? c.data[s] : c.parity[s - k].data());
  std::vector<std::vector<uint8_t>> out(m, std::vector<uint8_t>(c.len));
  std::vector<uint8_t*> out_ptrs;
  for (auto& o : out) out_ptrs.push_back(o.data());
  for (auto _ : state) {
    dec.Apply(in, out_ptrs, c.len);
    benchmark::ClobberMemory();
  }
  SetBytes(state, size);
}
BENCHMARK(BM_RsReconstruct)
    ->Args({256, 16, 8})
    ->Args({256, 48, 24})
    ->ArgNames({"MiB", "k", "m"})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// Hashing every fragment of a coded payload: (k+m) * L bytes, as EncodeTessera does.
void BM_HashFragments(benchmark::State& state) {
  const std::size_t size = static_cast<std::size_t>(state.range(0)) * kMiB;
  const int k = static_cast<int>(state.range(1)), m = static_cast<int>(state.range(2));
  Coded c = Layout(size, k, m);
  for (auto _ : state) {
    for (int i = 0; i < k; ++i)
      benchmark::DoNotOptimize(crypto::Blake3(std::span(c.data[i], c.len)));
    for (int j = 0; j < m; ++j) benchmark::DoNotOptimize(crypto::Blake3(c.parity[j]));
  }
  SetBytes(state, size);
}
BENCHMARK(BM_HashFragments)
    ->Args({256, 16, 8})
    ->Args({256, 48, 24})
    ->ArgNames({"MiB", "k", "m"})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// EncodeTessera from memory to discarding sinks: coding + a checksum of every fragment.
void BM_EncodeTesseraMemory(benchmark::State& state) {
  const std::size_t size = static_cast<std::size_t>(state.range(0)) * kMiB;
  const int k = static_cast<int>(state.range(1)), m = static_cast<int>(state.range(2));
  const auto& src = Payload(size);
  auto plan = *core::MakePlan(k == 16 ? core::Tier::kMedium : core::Tier::kLarge, size,
                              static_cast<uint32_t>(k), static_cast<uint32_t>(m));
  replication::CodecOptions opt;
  opt.stripe_bytes = static_cast<std::size_t>(state.range(3));
  for (auto _ : state) {
    core::MemorySource in(std::span(src.data(), size));
    std::vector<core::NullSink> sinks(k + m);
    std::vector<core::ByteSink*> ptrs;
    for (auto& s : sinks) ptrs.push_back(&s);
    auto t = replication::EncodeTessera({}, plan, in, ptrs, opt);
    if (!t.ok()) state.SkipWithError(t.error().ToString().c_str());
  }
  SetBytes(state, size);
}
BENCHMARK(BM_EncodeTesseraMemory)
    ->ArgsProduct({{256}, {16}, {8}, {16384, 65536, 262144}})
    ->ArgsProduct({{256}, {48}, {24}, {16384, 65536, 262144}})
    ->ArgNames({"MiB", "k", "m", "stripe"})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

std::filesystem::path BenchDir() {
  static std::filesystem::path dir = [] {
    auto d =
        std::filesystem::temp_directory_path() / ("tesseras-bench-" + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    return d;
  }();
  return dir;
}

std::filesystem::path PayloadFile(std::size_t size) {
  auto p = BenchDir() / ("payload-" + std::to_string(size));
  if (!std::filesystem::exists(p)) {
    auto sink = *replication::FileSink::Create(p);
    (void)sink->Write(std::span(Payload(size).data(), size));
    (void)sink->Finish();
  }
  return p;
}

// Baseline for the file benchmarks: write the payload's bytes plus parity-sized
// bytes (what the encoder writes) to files with fsync.
void BM_WriteFsyncBaseline(benchmark::State& state) {
  const std::size_t size = static_cast<std::size_t>(state.range(0)) * kMiB;
  const std::size_t total = size + size / 2;  // 16+8 writes 1.5x the payload
  const auto& src = Payload(size);
  for (auto _ : state) {
    auto sink = *replication::FileSink::Create(BenchDir() / "baseline");
    for (std::size_t off = 0; off < total; off += 4 * kMiB) {
      std::size_t n = std::min(4 * kMiB, total - off);
      (void)sink->Write(std::span(src.data() + (off % size), std::min(n, size - off % size)));
    }
    (void)sink->Finish();
  }
  SetBytes(state, size);
}
BENCHMARK(BM_WriteFsyncBaseline)
    ->Arg(256)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(3);

void BM_EncodeTesseraFiles(benchmark::State& state) {
  const std::size_t size = static_cast<std::size_t>(state.range(0)) * kMiB;
  auto in = PayloadFile(size);
  for (auto _ : state) {
    auto t = replication::EncodeFileToDirectory({}, in, BenchDir() / "frags");
    if (!t.ok()) state.SkipWithError(t.error().ToString().c_str());
  }
  SetBytes(state, size);
}
BENCHMARK(BM_EncodeTesseraFiles)
    ->Arg(256)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(3);

void BM_DecodeTesseraFiles(benchmark::State& state) {
  const std::size_t size = static_cast<std::size_t>(state.range(0)) * kMiB;
  auto in = PayloadFile(size);
  auto dir = BenchDir() / "frags-dec";
  auto table = *replication::EncodeFileToDirectory({}, in, dir);
  const uint32_t k = table.plan.data_shards, n = table.plan.total_shards();
  // Lose the first m data shards: the decoder must rebuild them.
  std::vector<std::unique_ptr<replication::FileSource>> files;
  std::vector<replication::FragmentInput> inputs;
  for (uint32_t i = n - k; i < n; ++i) {
    files.push_back(*replication::FileSource::Open(dir / replication::ShardFileName(i)));
    inputs.push_back({i, files.back().get()});
  }
  for (auto _ : state) {
    auto sink = *replication::FileSink::Create(BenchDir() / "restored");
    auto r = replication::DecodeTessera(table, inputs, static_cast<core::RandomAccessSink&>(*sink));
    if (!r.ok()) state.SkipWithError(r.error().ToString().c_str());
  }
  SetBytes(state, size);
}
BENCHMARK(BM_DecodeTesseraFiles)
    ->Arg(256)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(3);

}  // namespace
}  // namespace tesseras

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  std::filesystem::remove_all(tesseras::BenchDir());
  return 0;
}
