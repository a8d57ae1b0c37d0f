// A core::FragmentStore that forwards to another and counts what passes
// through: bytes read from opened fragments, bytes of proof-tree hashes read,
// and whole-fragment checks (Verify, CheckHeld that hashes) with the bytes they
// read; a CheckHeld that a recent verification lets skip the hash (the row's
// last_verified_ms within its window, by `clock`) reads no fragment bytes and
// is counted in trusted_checks() instead. For
// tests and benchmarks that show what an operation reads (tests/
// attestation_cost_test.cc, bench/big_node.cc). Thread-safe as the store it
// wraps; the counters are atomic.
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "core/ports/clock.h"
#include "core/ports/fragment_store.h"

namespace tesseras::storage::testing {

class CountingFragmentStore final : public core::FragmentStore {
 public:
  // `clock` must be the one the inner store stamps verifications with (the
  // system clock when null).
  explicit CountingFragmentStore(core::FragmentStore& inner,
                                 std::shared_ptr<const core::Clock> clock = nullptr)
      : inner_(inner),
        clock_(clock ? std::move(clock) : std::make_shared<const core::SystemClock>()) {}

  core::Result<void> Store(const core::FragmentId& id, uint64_t size, core::ByteSource& bytes,
                           const core::NodeId& origin, bool replace) override {
    return inner_.Store(id, size, bytes, origin, replace);
  }
  core::Result<std::unique_ptr<core::RandomAccessSource>> Open(const core::ContentHash& t,
                                                               uint32_t index) override {
    auto src = inner_.Open(t, index);
    if (!src.ok()) return std::move(src).error();
    return std::unique_ptr<core::RandomAccessSource>(new Counting(std::move(*src), bytes_read_));
  }
  core::Result<core::StoredFragment> Get(const core::ContentHash& t, uint32_t index) override {
    return inner_.Get(t, index);
  }
  core::Result<void> Delete(const core::ContentHash& t, uint32_t index) override {
    return inner_.Delete(t, index);
  }
  core::Result<std::vector<core::StoredFragment>> List(
      std::optional<core::ContentHash> t) override {
    return inner_.List(t);
  }
  core::Result<std::vector<core::StoredFragment>> ListAfter(std::optional<core::FragmentKey> after,
                                                            std::size_t limit) override {
    return inner_.ListAfter(after, limit);
  }
  // Counted as reading the whole fragment (what Verify does).
  core::Result<void> Verify(const core::ContentHash& t, uint32_t index) override {
    CountWhole(t, index);
    return inner_.Verify(t, index);
  }
  // Counted as reading the whole fragment unless a verification within
  // `trust` lets it skip the hash (decided as the inner store decides it,
  // from the row as it is before the call).
  core::Result<void> CheckHeld(const core::ContentHash& t, uint32_t index, int64_t trust) override {
    auto row = inner_.Get(t, index);
    if (row.ok() && trust > 0 && row->last_verified_ms &&
        clock_->NowUnixMs() - *row->last_verified_ms < trust) {
      ++trusted_checks_;
    } else {
      CountWhole(t, index);
    }
    return inner_.CheckHeld(t, index, trust);
  }
  core::Result<std::vector<std::vector<core::ContentHash>>> ReadProofPaths(
      const core::ContentHash& t, uint32_t index, std::span<const uint64_t> leaves) override {
    auto paths = inner_.ReadProofPaths(t, index, leaves);
    if (paths.ok()) {
      for (const auto& p : *paths) bytes_read_ += 32 * p.size();
    }
    return paths;
  }

  // Everything read: opened fragments, tree hashes, whole checks.
  uint64_t bytes_read() const { return bytes_read_; }
  uint64_t whole_checks() const { return whole_checks_; }
  uint64_t trusted_checks() const { return trusted_checks_; }
  void Reset() { bytes_read_ = whole_checks_ = trusted_checks_ = 0; }

 private:
  void CountWhole(const core::ContentHash& t, uint32_t index) {
    ++whole_checks_;
    auto row = inner_.Get(t, index);
    if (row.ok()) bytes_read_ += row->size;
  }
  class Counting final : public core::RandomAccessSource {
   public:
    Counting(std::unique_ptr<core::RandomAccessSource> inner, std::atomic<uint64_t>& counter)
        : inner_(std::move(inner)), counter_(counter) {}
    uint64_t Size() const override { return inner_->Size(); }
    core::Result<void> ReadAt(uint64_t offset, std::span<uint8_t> out) override {
      counter_ += out.size();
      return inner_->ReadAt(offset, out);
    }

   private:
    std::unique_ptr<core::RandomAccessSource> inner_;
    std::atomic<uint64_t>& counter_;
  };
  core::FragmentStore& inner_;
  std::shared_ptr<const core::Clock> clock_;
  std::atomic<uint64_t> bytes_read_{0};
  std::atomic<uint64_t> whole_checks_{0};
  std::atomic<uint64_t> trusted_checks_{0};
};

}  // namespace tesseras::storage::testing
