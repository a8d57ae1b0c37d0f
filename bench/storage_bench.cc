// Storage benchmarks, each with its baseline in the same run:
//   - FsFragmentStore Store / Open+ReadAt of 24 shards totalling 256 MiB against
//     plain write+fsync / read of the same bytes into files in the same directory;
//   - SqliteReciprocityLedger updates, one per transaction and 1000 per transaction.
//
//   build-release/bench/storage_bench --benchmark_format=json > storage.json
// Files go under $TESSERAS_BENCH_DIR (default: the system temp directory).
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <random>

#include "crypto/blake3_hasher.h"
#include "storage/fragment_store.h"
#include "storage/reciprocity_ledger.h"

namespace tesseras::storage {
namespace {

constexpr std::size_t kMiB = 1024 * 1024;
constexpr std::size_t kTotal = 256 * kMiB;
constexpr uint32_t kShards = 24;
constexpr std::size_t kShardSize = (kTotal + kShards - 1) / kShards;
constexpr std::size_t kChunk = kMiB;  // same chunk size for the store and the baseline

void Check(bool ok, const std::string& what) {
  if (!ok) {
    std::fprintf(stderr, "storage_bench: %s\n", what.c_str());
    std::abort();
  }
}
template <typename R>
void CheckOk(const R& r) {
  if (!r.ok()) Check(false, r.error().ToString());
}

struct Fixture {
  std::filesystem::path dir;
  std::vector<std::vector<uint8_t>> shards;
  std::vector<core::ContentHash> checksums;
  std::shared_ptr<Database> db;
  std::unique_ptr<FsFragmentStore> store;
  std::unique_ptr<SqliteReciprocityLedger> ledger;

  Fixture() {
    std::fprintf(stderr, "preparing 256 MiB of shards...\n");
    const char* base = std::getenv("TESSERAS_BENCH_DIR");
    std::string tmpl =
        (std::filesystem::path(base ? base : std::filesystem::temp_directory_path()) /
         "tesseras-storage-bench-XXXXXX")
            .string();
    Check(::mkdtemp(tmpl.data()) != nullptr, "mkdtemp");
    dir = tmpl;
    std::mt19937_64 rng(42);
    for (uint32_t i = 0; i < kShards; ++i) {
      std::vector<uint8_t> s(kShardSize);
      for (std::size_t j = 0; j + 8 <= s.size(); j += 8) {
        uint64_t v = rng();
        std::memcpy(&s[j], &v, 8);
      }
      checksums.push_back(crypto::Blake3(s));
      shards.push_back(std::move(s));
    }
    auto d = Database::OpenInDataDir(dir);
    CheckOk(d);
    db = std::shared_ptr<Database>(std::move(d).value());
    FsFragmentStoreOptions opts;
    opts.min_free_bytes = 0;
    opts.io_chunk_bytes = kChunk;
    auto s = FsFragmentStore::Open(db, dir, opts);
    CheckOk(s);
    store = std::move(s).value();
    ledger = std::make_unique<SqliteReciprocityLedger>(db);
  }
  ~Fixture() {
    store.reset();
    ledger.reset();
    db.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
};

}  // namespace

Fixture& F() {
  static Fixture f;
  return f;
}

namespace {

core::ContentHash TesseraNumber(uint64_t n) {
  crypto::Blake3Hasher h;
  h.Update("bench tessera " + std::to_string(n));
  return h.Finalize();
}

// Plain files: open, write in chunks, fsync, close; then fsync the directory.
void PlainWrite(const std::filesystem::path& dir) {
  for (uint32_t i = 0; i < kShards; ++i) {
    std::filesystem::path p = dir / (std::to_string(i) + ".plain");
    int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    Check(fd >= 0, "open");
    const auto& s = F().shards[i];
    for (std::size_t off = 0; off < s.size(); off += kChunk) {
      std::size_t n = std::min(kChunk, s.size() - off);
      Check(::write(fd, s.data() + off, n) == static_cast<ssize_t>(n), "write");
    }
    Check(::fsync(fd) == 0, "fsync");
    ::close(fd);
  }
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  Check(dfd >= 0 && ::fsync(dfd) == 0, "fsync dir");
  ::close(dfd);
}

void BM_PlainWriteFsync(benchmark::State& state) {
  std::filesystem::path dir = F().dir / "plain-write";
  std::filesystem::create_directories(dir);
  for (auto _ : state) {
    PlainWrite(dir);
    state.PauseTiming();
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    state.ResumeTiming();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kShardSize * kShards));
}
BENCHMARK(BM_PlainWriteFsync)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(3);

void BM_FragmentStoreWrite(benchmark::State& state) {
  static uint64_t tessera_counter = 1000;
  core::NodeId origin;
  for (auto _ : state) {
    core::ContentHash t = TesseraNumber(tessera_counter++);
    for (uint32_t i = 0; i < kShards; ++i) {
      core::MemorySource src(F().shards[i]);
      CheckOk(F().store->Store({t, i, kShards, F().checksums[i]}, kShardSize, src, origin));
    }
    state.PauseTiming();
    for (uint32_t i = 0; i < kShards; ++i) CheckOk(F().store->Delete(t, i));
    state.ResumeTiming();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kShardSize * kShards));
}
BENCHMARK(BM_FragmentStoreWrite)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(3);

void BM_PlainRead(benchmark::State& state) {
  std::filesystem::path dir = F().dir / "plain-read";
  std::filesystem::create_directories(dir);
  PlainWrite(dir);
  std::vector<uint8_t> buf(kChunk);
  for (auto _ : state) {
    for (uint32_t i = 0; i < kShards; ++i) {
      std::filesystem::path p = dir / (std::to_string(i) + ".plain");
      int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
      Check(fd >= 0, "open");
      for (;;) {
        ssize_t n = ::read(fd, buf.data(), buf.size());
        Check(n >= 0, "read");
        if (n == 0) break;
      }
      ::close(fd);
      benchmark::DoNotOptimize(buf.data());
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kShardSize * kShards));
}
BENCHMARK(BM_PlainRead)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(3);

void BM_FragmentStoreRead(benchmark::State& state) {
  core::ContentHash t = TesseraNumber(1);
  core::NodeId origin;
  for (uint32_t i = 0; i < kShards; ++i) {
    core::MemorySource src(F().shards[i]);
    CheckOk(F().store->Store({t, i, kShards, F().checksums[i]}, kShardSize, src, origin));
  }
  std::vector<uint8_t> buf(kChunk);
  for (auto _ : state) {
    for (uint32_t i = 0; i < kShards; ++i) {
      auto src = F().store->Open(t, i);
      CheckOk(src);
      uint64_t size = (*src)->Size();
      for (uint64_t off = 0; off < size; off += kChunk) {
        std::size_t n = static_cast<std::size_t>(std::min<uint64_t>(kChunk, size - off));
        CheckOk((*src)->ReadAt(off, std::span(buf.data(), n)));
      }
      benchmark::DoNotOptimize(buf.data());
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kShardSize * kShards));
}
BENCHMARK(BM_FragmentStoreRead)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(3);

// The same comparisons with plain and store alternating inside every iteration,
// so that load from other processes on a shared machine hits both alike.
// Counters: plain and store throughput (bytes/s) and store / plain.
double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

void BM_WriteStoreVsPlainInterleaved(benchmark::State& state) {
  static uint64_t tessera_counter = 5'000'000;
  std::filesystem::path dir = F().dir / "plain-interleaved";
  std::filesystem::create_directories(dir);
  core::NodeId origin;
  double plain_s = 0, store_s = 0;
  bool store_first = false;
  for (auto _ : state) {
    // Alternate which one goes first: whichever follows the other's fsyncs
    // tends to find the device still busy.
    store_first = !store_first;
    core::ContentHash t = TesseraNumber(tessera_counter++);
    auto plain = [&] {
      auto t0 = std::chrono::steady_clock::now();
      PlainWrite(dir);
      plain_s += Seconds(t0);
    };
    auto store = [&] {
      auto t1 = std::chrono::steady_clock::now();
      for (uint32_t i = 0; i < kShards; ++i) {
        core::MemorySource src(F().shards[i]);
        CheckOk(F().store->Store({t, i, kShards, F().checksums[i]}, kShardSize, src, origin));
      }
      store_s += Seconds(t1);
    };
    if (store_first) {
      store();
      plain();
    } else {
      plain();
      store();
    }
    state.PauseTiming();
    for (uint32_t i = 0; i < kShards; ++i) CheckOk(F().store->Delete(t, i));
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    state.ResumeTiming();
  }
  double bytes = static_cast<double>(state.iterations()) * kShardSize * kShards;
  state.counters["plain_Bps"] = bytes / plain_s;
  state.counters["store_Bps"] = bytes / store_s;
  state.counters["store_vs_plain"] = plain_s / store_s;
}
BENCHMARK(BM_WriteStoreVsPlainInterleaved)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(10);  // even: each order runs equally often

void BM_ReadStoreVsPlainInterleaved(benchmark::State& state) {
  std::filesystem::path dir = F().dir / "plain-read";
  std::filesystem::create_directories(dir);
  PlainWrite(dir);
  core::ContentHash t = TesseraNumber(1);
  core::NodeId origin;
  for (uint32_t i = 0; i < kShards; ++i) {
    core::MemorySource src(F().shards[i]);
    CheckOk(F().store->Store({t, i, kShards, F().checksums[i]}, kShardSize, src, origin));
  }
  std::vector<uint8_t> buf(kChunk);
  double plain_s = 0, store_s = 0;
  for (auto _ : state) {
    auto t0 = std::chrono::steady_clock::now();
    for (uint32_t i = 0; i < kShards; ++i) {
      std::filesystem::path p = dir / (std::to_string(i) + ".plain");
      int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
      Check(fd >= 0, "open");
      for (;;) {
        ssize_t n = ::read(fd, buf.data(), buf.size());
        Check(n >= 0, "read");
        if (n == 0) break;
      }
      ::close(fd);
      benchmark::DoNotOptimize(buf.data());
    }
    plain_s += Seconds(t0);
    auto t1 = std::chrono::steady_clock::now();
    for (uint32_t i = 0; i < kShards; ++i) {
      auto src = F().store->Open(t, i);
      CheckOk(src);
      uint64_t size = (*src)->Size();
      for (uint64_t off = 0; off < size; off += kChunk) {
        std::size_t n = static_cast<std::size_t>(std::min<uint64_t>(kChunk, size - off));
        CheckOk((*src)->ReadAt(off, std::span(buf.data(), n)));
      }
      benchmark::DoNotOptimize(buf.data());
    }
    store_s += Seconds(t1);
  }
  double bytes = static_cast<double>(state.iterations()) * kShardSize * kShards;
  state.counters["plain_Bps"] = bytes / plain_s;
  state.counters["store_Bps"] = bytes / store_s;
  state.counters["store_vs_plain"] = plain_s / store_s;
}
BENCHMARK(BM_ReadStoreVsPlainInterleaved)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2);

// Baseline for the ledger: a bare single-table UPSERT (what DESIGN measured),
// one per transaction and 1000 per transaction, on the same database.
void BareUpserts(int per_transaction, benchmark::State& state) {
  Database& db = *F().db;
  auto lock = db.Lock();
  CheckOk(
      db.Exec("CREATE TABLE IF NOT EXISTS bench_upsert (peer BLOB PRIMARY KEY, "
              "total INTEGER NOT NULL) WITHOUT ROWID"));
  static uint64_t n = 0;
  for (auto _ : state) {
    auto tx = Transaction::Begin(db);
    CheckOk(tx);
    auto s = db.Cached(
        "INSERT INTO bench_upsert (peer, total) VALUES (?, ?) ON CONFLICT (peer) "
        "DO UPDATE SET total = total + excluded.total");
    CheckOk(s);
    for (int i = 0; i < per_transaction; ++i) {
      core::NodeId peer;
      peer.bytes[0] = static_cast<uint8_t>(++n % 100);
      (*s)->Bind(1, peer).Bind(2, int64_t{11});
      CheckOk((*s)->Run());
      (*s)->Reset();
    }
    CheckOk(tx->Commit());
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * per_transaction);
}

void BM_BaselineBareUpsertOnePerTransaction(benchmark::State& state) { BareUpserts(1, state); }
BENCHMARK(BM_BaselineBareUpsertOnePerTransaction)->UseRealTime()->MinTime(2);

void BM_BaselineBareUpsertBatch1000(benchmark::State& state) { BareUpserts(1000, state); }
BENCHMARK(BM_BaselineBareUpsertBatch1000)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2);

// Realistic keys: tesseras of 24 fragments, each fragment recorded with one of
// 100 peers, every record new.
LedgerRecord NextRecord() {
  static uint64_t n = 0;
  ++n;
  LedgerRecord r;
  r.tessera = TesseraNumber(n / 24 + 1'000'000'000);
  r.index = static_cast<uint32_t>(n % 24);
  r.peer.bytes[0] = static_cast<uint8_t>((n * 7919) % 100);
  r.direction = ((n / 24) & 1) ? core::LedgerDirection::kWeStoreForThem
                               : core::LedgerDirection::kTheyStoreForUs;
  r.bytes = 11 * kMiB;
  return r;
}

void BM_LedgerRecordOnePerTransaction(benchmark::State& state) {
  for (auto _ : state) {
    LedgerRecord r = NextRecord();
    auto changed = F().ledger->Record(r.peer, r.direction, r.tessera, r.index, r.bytes);
    CheckOk(changed);
    Check(*changed, "record not counted");
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_LedgerRecordOnePerTransaction)->UseRealTime()->MinTime(2);

void BM_LedgerRecordBatch1000(benchmark::State& state) {
  std::vector<LedgerRecord> batch(1000);
  for (auto _ : state) {
    state.PauseTiming();
    for (auto& r : batch) r = NextRecord();
    state.ResumeTiming();
    auto changed = F().ledger->RecordBatch(batch);
    CheckOk(changed);
    Check(*changed == batch.size(), "batch not counted");
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * batch.size()));
}
BENCHMARK(BM_LedgerRecordBatch1000)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2);

}  // namespace
}  // namespace tesseras::storage

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  tesseras::storage::F();  // build the 256 MiB of shards before any timing
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
