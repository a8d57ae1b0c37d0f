#include "replication/fragment_codec.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <set>

#include "crypto/blake3_hasher.h"
#include "crypto/reed_solomon.h"
#include "replication/file_io.h"
#include "replication/proof_tree.h"

namespace tesseras::replication {
namespace {

using core::ErrorCode;
using core::MakeError;
using core::Result;

// One 64-byte-aligned block holding `count` stripes of `stripe` bytes.
class StripeBuffers {
 public:
  StripeBuffers(std::size_t count, std::size_t stripe)
      : stripe_(stripe),
        mem_(static_cast<uint8_t*>(std::aligned_alloc(64, Round(count * stripe)))) {}
  uint8_t* at(std::size_t i) { return mem_.get() + i * stripe_; }

 private:
  static std::size_t Round(std::size_t n) { return std::max<std::size_t>(64, (n + 63) / 64 * 64); }
  struct Free {
    void operator()(uint8_t* p) const { std::free(p); }
  };
  std::size_t stripe_;
  std::unique_ptr<uint8_t, Free> mem_;
};

Result<void> CheckTable(const core::FragmentTable& table) {
  const auto& plan = table.plan;
  if (plan.data_shards == 0 || plan.total_shards() > 255 ||
      table.checksums.size() != plan.total_shards()) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "fragment table has " + std::to_string(table.checksums.size()) +
                         " checksums for a " + std::to_string(plan.data_shards) + "+" +
                         std::to_string(plan.parity_shards) + " code");
  }
  if (!table.proof_roots.empty() && table.proof_roots.size() != plan.total_shards()) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "fragment table has the wrong number of proof roots");
  }
  uint64_t expect = (plan.original_size + plan.data_shards - 1) / plan.data_shards;
  if (plan.shard_size != expect) {
    return MakeError(ErrorCode::kInvalidArgument, "fragment table has the wrong shard size");
  }
  return core::Ok();
}

std::size_t StripeFor(const CodecOptions& o) { return std::max<std::size_t>(o.stripe_bytes, 64); }

}  // namespace

Result<core::FragmentTable> EncodeTessera(const core::ContentHash& tessera,
                                          const core::FragmentPlan& plan,
                                          core::RandomAccessSource& input,
                                          std::span<core::ByteSink* const> sinks,
                                          const CodecOptions& options) {
  if (input.Size() != plan.original_size) {
    return MakeError(ErrorCode::kInvalidArgument, "input is " + std::to_string(input.Size()) +
                                                      " bytes; the plan says " +
                                                      std::to_string(plan.original_size));
  }
  const uint32_t k = plan.data_shards, n = plan.total_shards();
  if (sinks.size() != n) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "need " + std::to_string(n) + " sinks, got " + std::to_string(sinks.size()));
  }
  ASSIGN_OR_RETURN(auto rs, crypto::ReedSolomon::Create(static_cast<int>(k),
                                                        static_cast<int>(plan.parity_shards)));
  core::FragmentTable table{tessera, plan, {}, {}};
  TRY(CheckTable(core::FragmentTable{tessera, plan, std::vector<core::ContentHash>(n), {}}));

  const uint64_t size = plan.original_size, len = plan.shard_size;
  const std::size_t stripe = StripeFor(options);
  StripeBuffers bufs(n, stripe);
  std::vector<crypto::Blake3Hasher> hashers(n);
  std::vector<ProofTreeBuilder> trees(options.compute_proof_roots ? n : 0);
  std::vector<const uint8_t*> data(k);
  std::vector<uint8_t*> parity(n - k);
  for (uint32_t j = k; j < n; ++j) parity[j - k] = bufs.at(j);
  const auto contiguous = input.Contiguous();

  for (uint64_t off = 0; off < len; off += stripe) {
    const std::size_t step = static_cast<std::size_t>(std::min<uint64_t>(stripe, len - off));
    for (uint32_t i = 0; i < k; ++i) {
      const uint64_t start = uint64_t{i} * len + off;
      const std::size_t avail =
          start >= size ? 0 : static_cast<std::size_t>(std::min<uint64_t>(step, size - start));
      if (contiguous && avail == step) {
        data[i] = contiguous->data() + start;  // zero-copy: the payload is already in memory
        continue;
      }
      if (avail) TRY(input.ReadAt(start, std::span(bufs.at(i), avail)));
      std::memset(bufs.at(i) + avail, 0, step - avail);  // zero padding of the last data shard
      data[i] = bufs.at(i);
    }
    rs.Encode(data, parity, step, crypto::kDefaultStripeBytes);
    for (uint32_t i = 0; i < n; ++i) {
      const uint8_t* p = i < k ? data[i] : parity[i - k];
      hashers[i].Update(std::span(p, step));
      if (!trees.empty()) trees[i].Update(std::span(p, step));
      TRY(sinks[i]->Write(std::span(p, step)));
    }
    if (options.progress) options.progress(off + step, len);
  }
  for (uint32_t i = 0; i < n; ++i) {
    table.checksums.push_back(hashers[i].Finalize());
    if (!trees.empty()) table.proof_roots.push_back(MerkleRoot(trees[i].FinishLeaves()));
    TRY(sinks[i]->Finish());
  }
  return table;
}

Result<core::FragmentTable> EncodeTessera(const core::ContentHash& tessera,
                                          core::RandomAccessSource& input,
                                          std::span<core::ByteSink* const> sinks,
                                          const CodecOptions& options) {
  ASSIGN_OR_RETURN(core::FragmentPlan plan, core::PlanForSize(input.Size()));
  return EncodeTessera(tessera, plan, input, sinks, options);
}

Result<core::FragmentTable> EncodeStreamToDirectory(const core::ContentHash& tessera,
                                                    const core::FragmentPlan& plan,
                                                    core::ByteSource& input,
                                                    const std::filesystem::path& dir,
                                                    const CodecOptions& options) {
  const uint32_t k = plan.data_shards, n = plan.total_shards();
  const uint64_t size = plan.original_size, len = plan.shard_size;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return MakeError(ErrorCode::kIo, "cannot create " + dir.string() + ": " + ec.message());

  // Pass 1: the data shards, straight from the stream (hashing as they go).
  core::FragmentTable table{tessera, plan, std::vector<core::ContentHash>(n), {}};
  std::vector<uint8_t> buf(std::max<std::size_t>(StripeFor(options), 64 * 1024));
  uint64_t consumed = 0;
  for (uint32_t i = 0; i < k; ++i) {
    ASSIGN_OR_RETURN(auto sink, FileSink::Create(dir / ShardFileName(i)));
    crypto::Blake3Hasher h;
    ProofTreeBuilder tree;
    uint64_t written = 0;
    while (written < len) {
      std::size_t want = static_cast<std::size_t>(std::min<uint64_t>(buf.size(), len - written));
      std::size_t got = 0;
      const std::size_t from_stream =
          static_cast<std::size_t>(std::min<uint64_t>(want, size - consumed));
      while (got < from_stream) {
        std::size_t r = TRY(input.Read(std::span(buf.data() + got, from_stream - got)));
        if (r == 0) {
          return MakeError(ErrorCode::kInvalidArgument,
                           "input ended after " + std::to_string(consumed + got) + " of " +
                               std::to_string(size) + " bytes");
        }
        got += r;
      }
      consumed += got;
      std::memset(buf.data() + got, 0, want - got);
      h.Update(std::span(buf.data(), want));
      if (options.compute_proof_roots) tree.Update(std::span(buf.data(), want));
      TRY(sink->Write(std::span(buf.data(), want)));
      written += want;
    }
    table.checksums[i] = h.Finalize();
    if (options.compute_proof_roots) {
      table.proof_roots.resize(n);
      table.proof_roots[i] = MerkleRoot(tree.FinishLeaves());
    }
    TRY(sink->Finish());
    if (options.progress) options.progress(uint64_t{i + 1} * len, uint64_t{n} * len);
  }
  uint8_t extra;
  if (TRY(input.Read(std::span(&extra, 1))) != 0) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "input is longer than the declared " + std::to_string(size) + " bytes");
  }
  if (n == k) return table;

  // Pass 2: parity from the data shard files, in stripes.
  std::vector<std::unique_ptr<FileSource>> data_files;
  for (uint32_t i = 0; i < k; ++i) {
    ASSIGN_OR_RETURN(auto f, FileSource::Open(dir / ShardFileName(i)));
    data_files.push_back(std::move(f));
  }
  ASSIGN_OR_RETURN(auto rs,
                   crypto::ReedSolomon::Create(static_cast<int>(k), static_cast<int>(n - k)));
  std::vector<std::unique_ptr<FileSink>> parity_sinks;
  for (uint32_t j = k; j < n; ++j) {
    ASSIGN_OR_RETURN(auto s, FileSink::Create(dir / ShardFileName(j)));
    parity_sinks.push_back(std::move(s));
  }
  const std::size_t stripe = StripeFor(options);
  StripeBuffers bufs(n, stripe);
  std::vector<crypto::Blake3Hasher> hashers(n - k);
  std::vector<ProofTreeBuilder> trees(options.compute_proof_roots ? n - k : 0);
  std::vector<const uint8_t*> data(k);
  std::vector<uint8_t*> parity(n - k);
  for (uint32_t i = 0; i < k; ++i) data[i] = bufs.at(i);
  for (uint32_t j = k; j < n; ++j) parity[j - k] = bufs.at(j);
  for (uint64_t off = 0; off < len; off += stripe) {
    const std::size_t step = static_cast<std::size_t>(std::min<uint64_t>(stripe, len - off));
    for (uint32_t i = 0; i < k; ++i) TRY(data_files[i]->ReadAt(off, std::span(bufs.at(i), step)));
    rs.Encode(data, parity, step, crypto::kDefaultStripeBytes);
    for (uint32_t j = 0; j < n - k; ++j) {
      hashers[j].Update(std::span(parity[j], step));
      if (!trees.empty()) trees[j].Update(std::span(parity[j], step));
      TRY(parity_sinks[j]->Write(std::span(parity[j], step)));
    }
    if (options.progress) options.progress(uint64_t{k} * len + off + step, uint64_t{n} * len);
  }
  for (uint32_t j = 0; j < n - k; ++j) {
    table.checksums[k + j] = hashers[j].Finalize();
    if (!trees.empty()) table.proof_roots[k + j] = MerkleRoot(trees[j].FinishLeaves());
    TRY(parity_sinks[j]->Finish());
  }
  return table;
}

Result<core::FragmentTable> EncodeFileToDirectory(const core::ContentHash& tessera,
                                                  const std::filesystem::path& file,
                                                  const std::filesystem::path& dir,
                                                  const CodecOptions& options) {
  ASSIGN_OR_RETURN(auto input, FileSource::Open(file));
  ASSIGN_OR_RETURN(core::FragmentPlan plan, core::PlanForSize(input->Size()));
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return MakeError(ErrorCode::kIo, "cannot create " + dir.string() + ": " + ec.message());
  std::vector<std::unique_ptr<FileSink>> owned;
  std::vector<core::ByteSink*> sinks;
  for (uint32_t i = 0; i < plan.total_shards(); ++i) {
    ASSIGN_OR_RETURN(auto s, FileSink::Create(dir / ShardFileName(i)));
    sinks.push_back(s.get());
    owned.push_back(std::move(s));
  }
  return EncodeTessera(tessera, plan, *input, sinks, options);
}

Result<DecodeReport> SelectVerifiedFragments(const core::FragmentTable& table,
                                             std::span<const FragmentInput> inputs,
                                             std::size_t buffer_bytes) {
  TRY(CheckTable(table));
  const auto& plan = table.plan;
  std::vector<FragmentInput> sorted(inputs.begin(), inputs.end());
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const auto& a, const auto& b) { return a.index < b.index; });
  DecodeReport report;
  std::set<uint32_t> seen;
  std::vector<uint8_t> buf(std::max<std::size_t>(buffer_bytes, 4096));
  auto reject = [&](uint32_t index, std::string why) {
    report.rejected.push_back(index);
    report.reasons.push_back("fragment " + std::to_string(index) + ": " + std::move(why));
  };
  for (const auto& in : sorted) {
    if (report.used.size() == plan.data_shards) break;
    if (in.index >= plan.total_shards() || in.source == nullptr) {
      reject(in.index,
             "index outside the plan's " + std::to_string(plan.total_shards()) + " fragments");
      continue;
    }
    if (!seen.insert(in.index).second) {
      reject(in.index, "offered twice");
      continue;
    }
    if (in.source->Size() != plan.shard_size) {
      reject(in.index, "is " + std::to_string(in.source->Size()) + " bytes, expected " +
                           std::to_string(plan.shard_size));
      continue;
    }
    crypto::Blake3Hasher h;
    bool read_ok = true;
    for (uint64_t off = 0; off < plan.shard_size; off += buf.size()) {
      std::size_t step =
          static_cast<std::size_t>(std::min<uint64_t>(buf.size(), plan.shard_size - off));
      auto r = in.source->ReadAt(off, std::span(buf.data(), step));
      if (!r.ok()) {
        reject(in.index, "unreadable: " + r.error().message);
        read_ok = false;
        break;
      }
      h.Update(std::span(buf.data(), step));
    }
    if (!read_ok) continue;
    if (h.Finalize() != table.checksums[in.index]) {
      reject(in.index, "checksum mismatch (corrupt or forged)");
      continue;
    }
    report.used.push_back(in.index);
  }
  if (report.used.size() < plan.data_shards) {
    std::string msg = "only " + std::to_string(report.used.size()) + " good fragments of " +
                      std::to_string(plan.total_shards()) + "; " +
                      std::to_string(plan.data_shards) + " are needed";
    for (const auto& r : report.reasons) msg += "; " + r;
    return MakeError(ErrorCode::kInsufficientShards, msg);
  }
  return report;
}

namespace {

// Runs the decoder over stripes: for each stripe, reads the k chosen sources,
// produces the `targets`, and hands every data-or-target stripe to `emit`.
// emit(index, offset_in_shard, bytes).
Result<void> DecodeStripes(
    const core::FragmentTable& table, const std::vector<core::RandomAccessSource*>& by_index,
    const DecodeReport& chosen, const std::vector<int>& targets, const CodecOptions& options,
    const std::function<Result<void>(uint32_t, uint64_t, std::span<const uint8_t>)>& emit,
    bool emit_sources) {
  const auto& plan = table.plan;
  const uint32_t k = plan.data_shards, n = plan.total_shards();
  ASSIGN_OR_RETURN(auto rs, crypto::ReedSolomon::Create(static_cast<int>(k),
                                                        static_cast<int>(plan.parity_shards)));
  std::vector<bool> present_v(n, false);
  for (uint32_t i : chosen.used) present_v[i] = true;
  std::unique_ptr<bool[]> present(new bool[n]);
  for (uint32_t i = 0; i < n; ++i) present[i] = present_v[i];
  ASSIGN_OR_RETURN(auto dec, rs.MakeDecoder(std::span(present.get(), n), targets));

  const std::size_t stripe = StripeFor(options);
  StripeBuffers bufs(k + targets.size(), stripe);
  std::vector<const uint8_t*> in(k);
  std::vector<uint8_t*> out(targets.size());
  for (uint32_t s = 0; s < k; ++s) in[s] = bufs.at(s);
  for (std::size_t t = 0; t < targets.size(); ++t) out[t] = bufs.at(k + t);
  const uint64_t len = plan.shard_size;
  for (uint64_t off = 0; off < len; off += stripe) {
    const std::size_t step = static_cast<std::size_t>(std::min<uint64_t>(stripe, len - off));
    for (uint32_t s = 0; s < k; ++s) {
      TRY(by_index[dec.sources()[s]]->ReadAt(off, std::span(bufs.at(s), step)));
    }
    if (!targets.empty()) dec.Apply(in, out, step, crypto::kDefaultStripeBytes);
    if (emit_sources) {
      for (uint32_t s = 0; s < k; ++s) {
        TRY(emit(static_cast<uint32_t>(dec.sources()[s]), off, std::span(in[s], step)));
      }
    }
    for (std::size_t t = 0; t < targets.size(); ++t) {
      TRY(emit(static_cast<uint32_t>(targets[t]), off, std::span(out[t], step)));
    }
    if (options.progress) options.progress(off + step, len);
  }
  return core::Ok();
}

std::vector<core::RandomAccessSource*> IndexInputs(const core::FragmentTable& table,
                                                   std::span<const FragmentInput> inputs) {
  std::vector<core::RandomAccessSource*> by_index(table.plan.total_shards(), nullptr);
  for (const auto& in : inputs) {
    if (in.index < by_index.size() && !by_index[in.index]) by_index[in.index] = in.source;
  }
  return by_index;
}

}  // namespace

Result<DecodeReport> DecodeTessera(const core::FragmentTable& table,
                                   std::span<const FragmentInput> inputs,
                                   core::RandomAccessSink& out, const CodecOptions& options) {
  ASSIGN_OR_RETURN(DecodeReport report, SelectVerifiedFragments(table, inputs));
  const auto& plan = table.plan;
  const uint32_t k = plan.data_shards;
  std::vector<int> missing_data;
  std::vector<bool> used(plan.total_shards(), false);
  for (uint32_t i : report.used) used[i] = true;
  for (uint32_t i = 0; i < k; ++i)
    if (!used[i]) missing_data.push_back(static_cast<int>(i));
  // Sources are only emitted when they are data shards (parity is not output).
  auto emit = [&](uint32_t index, uint64_t off, std::span<const uint8_t> bytes) -> Result<void> {
    if (index >= k) return core::Ok();
    const uint64_t start = uint64_t{index} * plan.shard_size + off;
    if (start >= plan.original_size) return core::Ok();  // padding only
    const std::size_t keep =
        static_cast<std::size_t>(std::min<uint64_t>(bytes.size(), plan.original_size - start));
    return out.WriteAt(start, bytes.first(keep));
  };
  TRY(DecodeStripes(table, IndexInputs(table, inputs), report, missing_data, options, emit, true));
  TRY(out.Finish(plan.original_size));
  report.bytes_written = plan.original_size;
  return report;
}

Result<DecodeReport> RebuildFragments(const core::FragmentTable& table,
                                      std::span<const FragmentInput> inputs,
                                      std::span<const uint32_t> wanted,
                                      std::span<core::ByteSink* const> sinks,
                                      const CodecOptions& options) {
  if (wanted.size() != sinks.size()) {
    return MakeError(ErrorCode::kInvalidArgument, "one sink per wanted fragment is needed");
  }
  for (uint32_t w : wanted) {
    if (w >= table.plan.total_shards()) {
      return MakeError(ErrorCode::kInvalidArgument,
                       "fragment " + std::to_string(w) + " is outside the plan");
    }
  }
  ASSIGN_OR_RETURN(DecodeReport report, SelectVerifiedFragments(table, inputs));
  std::vector<int> targets(wanted.begin(), wanted.end());
  std::vector<crypto::Blake3Hasher> hashers(wanted.size());
  std::vector<int> slot(table.plan.total_shards(), -1);
  for (std::size_t j = 0; j < wanted.size(); ++j) slot[wanted[j]] = static_cast<int>(j);
  auto emit = [&](uint32_t index, uint64_t, std::span<const uint8_t> bytes) -> Result<void> {
    int j = slot[index];
    if (j < 0) return core::Ok();
    hashers[j].Update(bytes);
    return sinks[j]->Write(bytes);
  };
  TRY(DecodeStripes(table, IndexInputs(table, inputs), report, targets, options, emit, false));
  for (std::size_t j = 0; j < wanted.size(); ++j) {
    if (hashers[j].Finalize() != table.checksums[wanted[j]]) {
      // Only possible if the table itself is inconsistent (checksums that no
      // encoding of these bytes produces): refuse rather than store it.
      return MakeError(ErrorCode::kCorrupt, "rebuilt fragment " + std::to_string(wanted[j]) +
                                                " does not match the table's checksum");
    }
  }
  for (auto* s : sinks) TRY(s->Finish());
  report.bytes_written = table.plan.shard_size * wanted.size();
  return report;
}

namespace {

// A spool for a rebuilt data shard: memory, or an unsynced scratch file.
class Spool {
 public:
  static Result<std::unique_ptr<Spool>> Create(const std::filesystem::path& scratch_dir,
                                               uint32_t index) {
    auto s = std::unique_ptr<Spool>(new Spool);
    if (!scratch_dir.empty()) {
      s->path_ =
          scratch_dir / ("rebuild-" + std::to_string(::getpid()) + "-" + ShardFileName(index));
      ASSIGN_OR_RETURN(s->file_sink_, FileSink::Create(s->path_, /*durable=*/false));
    }
    return s;
  }
  ~Spool() {
    if (!path_.empty()) {
      std::error_code ec;
      std::filesystem::remove(path_, ec);
    }
  }
  core::ByteSink* sink() {
    return file_sink_ ? static_cast<core::ByteSink*>(file_sink_.get()) : &memory_;
  }
  Result<core::RandomAccessSource*> source() {
    if (!file_sink_) {
      memory_source_ = std::make_unique<core::MemorySource>(memory_.bytes());
      return static_cast<core::RandomAccessSource*>(memory_source_.get());
    }
    ASSIGN_OR_RETURN(file_source_, FileSource::Open(path_));
    return static_cast<core::RandomAccessSource*>(file_source_.get());
  }

 private:
  Spool() = default;
  std::filesystem::path path_;
  std::unique_ptr<FileSink> file_sink_;
  std::unique_ptr<FileSource> file_source_;
  core::MemorySink memory_;
  std::unique_ptr<core::MemorySource> memory_source_;
};

}  // namespace

Result<DecodeReport> DecodeTessera(const core::FragmentTable& table,
                                   std::span<const FragmentInput> inputs, core::ByteSink& out,
                                   const CodecOptions& options) {
  ASSIGN_OR_RETURN(DecodeReport report, SelectVerifiedFragments(table, inputs));
  const auto& plan = table.plan;
  const uint32_t k = plan.data_shards;
  std::vector<core::RandomAccessSource*> data(k, nullptr);
  auto by_index = IndexInputs(table, inputs);
  std::vector<uint32_t> missing;
  for (uint32_t i : report.used)
    if (i < k) data[i] = by_index[i];
  for (uint32_t i = 0; i < k; ++i)
    if (!data[i]) missing.push_back(i);

  std::vector<std::unique_ptr<Spool>> spools;
  if (!missing.empty()) {
    // Rebuild the missing data shards from the k verified fragments first.
    std::vector<FragmentInput> verified;
    for (uint32_t i : report.used) verified.push_back({i, by_index[i]});
    std::vector<core::ByteSink*> sinks;
    for (uint32_t i : missing) {
      ASSIGN_OR_RETURN(auto s, Spool::Create(options.scratch_dir, i));
      sinks.push_back(s->sink());
      spools.push_back(std::move(s));
    }
    TRY(RebuildFragments(table, verified, missing, sinks, options));
    for (std::size_t j = 0; j < missing.size(); ++j) {
      ASSIGN_OR_RETURN(data[missing[j]], spools[j]->source());
    }
  }
  // Stream the data shards in order, cut to the original size.
  std::vector<uint8_t> buf(std::max<std::size_t>(StripeFor(options), 256 * 1024));
  uint64_t remaining = plan.original_size;
  for (uint32_t i = 0; i < k && remaining > 0; ++i) {
    const uint64_t take_shard = std::min<uint64_t>(plan.shard_size, remaining);
    for (uint64_t off = 0; off < take_shard; off += buf.size()) {
      std::size_t step = static_cast<std::size_t>(std::min<uint64_t>(buf.size(), take_shard - off));
      TRY(data[i]->ReadAt(off, std::span(buf.data(), step)));
      TRY(out.Write(std::span(buf.data(), step)));
    }
    remaining -= take_shard;
  }
  TRY(out.Finish());
  report.bytes_written = plan.original_size;
  return report;
}

}  // namespace tesseras::replication
