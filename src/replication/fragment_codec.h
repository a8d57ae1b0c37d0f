// The coding pipeline: a tessera's payload <-> its fragments.
//
// Layout (normative text: docs/FORMAT.md). With k data and m parity shards and
// L = ceil(size / k), data shard i holds payload bytes [i*L, (i+1)*L), the last
// one zero-padded to L; parity shard k+j is row k+j of the Cauchy generator
// applied byte-wise to the data shards. The small tier is k=1, m=0: the single
// fragment is the payload itself. Each fragment's checksum is BLAKE3 of its L
// bytes.
//
// Memory stays bounded: the coder holds (k + m) stripes of `stripe_bytes` and
// never the whole payload or a whole shard, so a 1 GiB tessera is coded in a few
// MiB. Everything here is blocking; run it on a worker thread.
#pragma once

#include <filesystem>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "core/bytes.h"
#include "core/fragment.h"

namespace tesseras::replication {

struct CodecOptions {
  // Bytes of each shard processed per step: (k+m) * stripe_bytes stay cache-resident.
  std::size_t stripe_bytes = 64 * 1024;
  // Where DecodeTessera to a sequential sink spools rebuilt data shards; empty
  // means memory (only sensible for small payloads and tests).
  std::filesystem::path scratch_dir;
  // Also compute each fragment's proof-tree root (FragmentTable::proof_roots),
  // used by attestations. Costs one more BLAKE3 pass over the fragments.
  bool compute_proof_roots = false;
  // Called after each stripe with (bytes done, bytes total) of the current pass.
  std::function<void(uint64_t, uint64_t)> progress;
};

// Encodes exactly plan.original_size bytes of `input` into plan.total_shards()
// fragments, fragment i written to sinks[i]; every sink is finished on success
// and left unfinished (so discarded) on failure.
core::Result<core::FragmentTable> EncodeTessera(const core::ContentHash& tessera,
                                                const core::FragmentPlan& plan,
                                                core::RandomAccessSource& input,
                                                std::span<core::ByteSink* const> sinks,
                                                const CodecOptions& options = {});

// The same with the plan chosen by tier from input.Size() (kTesseraTooBig over 1 GiB).
core::Result<core::FragmentTable> EncodeTessera(const core::ContentHash& tessera,
                                                core::RandomAccessSource& input,
                                                std::span<core::ByteSink* const> sinks,
                                                const CodecOptions& options = {});

// Encodes a stream of known size into `dir`/{index:03}.shard. Data shards are
// written straight from the stream, then parity is computed from them, so the
// stream is read once and memory stays bounded. Fails if the stream is shorter
// or longer than `size`.
core::Result<core::FragmentTable> EncodeStreamToDirectory(const core::ContentHash& tessera,
                                                          const core::FragmentPlan& plan,
                                                          core::ByteSource& input,
                                                          const std::filesystem::path& dir,
                                                          const CodecOptions& options = {});

// Encodes a file into `dir`/{index:03}.shard (plan chosen by tier).
core::Result<core::FragmentTable> EncodeFileToDirectory(const core::ContentHash& tessera,
                                                        const std::filesystem::path& file,
                                                        const std::filesystem::path& dir,
                                                        const CodecOptions& options = {});

struct FragmentInput {
  uint32_t index = 0;
  core::RandomAccessSource* source = nullptr;
};

struct DecodeReport {
  std::vector<uint32_t> used;        // the k fragments the output was built from
  std::vector<uint32_t> rejected;    // offered but refused (wrong size, bad checksum, duplicate)
  std::vector<std::string> reasons;  // one per rejected fragment
  uint64_t bytes_written = 0;
};

// Checks fragments against the table (size and BLAKE3), in index order, until k
// are good. Nothing is written. kInsufficientShards (listing what was rejected
// and why) if fewer than k are good.
core::Result<DecodeReport> SelectVerifiedFragments(const core::FragmentTable& table,
                                                   std::span<const FragmentInput> inputs,
                                                   std::size_t buffer_bytes = 1 << 20);

// Rebuilds the payload from any k of the fragments into `out`, cut to the
// original size. Every fragment used is verified against its checksum before a
// byte is written, so a corrupt or forged fragment never reaches the output; it
// is skipped in favour of another if one is offered.
core::Result<DecodeReport> DecodeTessera(const core::FragmentTable& table,
                                         std::span<const FragmentInput> inputs,
                                         core::RandomAccessSink& out,
                                         const CodecOptions& options = {});

// The same into a sequential sink. When data shards are missing they are first
// rebuilt into options.scratch_dir (or memory), then the payload is streamed.
core::Result<DecodeReport> DecodeTessera(const core::FragmentTable& table,
                                         std::span<const FragmentInput> inputs, core::ByteSink& out,
                                         const CodecOptions& options = {});

// Re-creates the fragments `wanted` (any indices, data or parity) from any k
// good inputs, fragment wanted[j] written to sinks[j]. Each rebuilt fragment is
// checked against the table's checksum before its sink is finished (repair).
core::Result<DecodeReport> RebuildFragments(const core::FragmentTable& table,
                                            std::span<const FragmentInput> inputs,
                                            std::span<const uint32_t> wanted,
                                            std::span<core::ByteSink* const> sinks,
                                            const CodecOptions& options = {});

}  // namespace tesseras::replication
