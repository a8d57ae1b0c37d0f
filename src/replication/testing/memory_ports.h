// In-memory implementations of the storage ports, for unit tests and the
// in-process simulator. They do the real work (checksums, idempotent
// accounting, capacity) in memory; nothing here reports success it did not earn.
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <tuple>

#include "core/ports/blob_store.h"
#include "core/ports/clock.h"
#include "core/ports/fragment_store.h"
#include "core/ports/reciprocity_ledger.h"
#include "crypto/blake3_hasher.h"
#include "crypto/proof_tree.h"

namespace tesseras::replication::testing {

class MemoryFragmentStore final : public core::FragmentStore {
 public:
  explicit MemoryFragmentStore(uint64_t capacity_bytes = UINT64_MAX) : capacity_(capacity_bytes) {}

  core::Result<void> Store(const core::FragmentId& id, uint64_t size, core::ByteSource& bytes,
                           const core::NodeId& origin, bool replace) override {
    {
      std::lock_guard lock(mu_);
      auto it = frags_.find({id.tessera, id.index});
      if (it != frags_.end() && it->second.gone) {
        used_ -= it->second.meta.size;  // indexed, but its bytes vanished: store it again
        frags_.erase(it);
        it = frags_.end();
      }
      if (it != frags_.end() && it->second.meta.id.checksum != id.checksum && !replace) {
        return core::MakeError(core::ErrorCode::kAlreadyExists, "fragment stored with other bytes");
      }
      if (used_ + size > capacity_) {
        return core::MakeError(core::ErrorCode::kResourceExhausted,
                               "store full: " + std::to_string(capacity_ - used_) +
                                   " bytes free, " + std::to_string(size) + " needed");
      }
    }
    std::vector<uint8_t> data;
    std::vector<uint8_t> buf(1 << 16);
    for (;;) {
      std::size_t n = TRY(bytes.Read(buf));
      if (n == 0) break;
      data.insert(data.end(), buf.begin(), buf.begin() + static_cast<long>(n));
      if (data.size() > size) break;
    }
    if (data.size() != size || crypto::Blake3(data) != id.checksum) {
      return core::MakeError(core::ErrorCode::kCorrupt, "fragment bytes do not match the checksum");
    }
    std::lock_guard lock(mu_);
    auto key = std::make_pair(id.tessera, id.index);
    if (auto it = frags_.find(key); it != frags_.end()) used_ -= it->second.bytes.size();
    Entry e;
    e.meta.id = id;
    e.meta.size = size;
    e.meta.origin = origin;
    {  // the proof tree, kept as a disk store keeps it: from the bytes as stored
      crypto::ProofTreeBuilder tree;
      tree.Update(data);
      e.leaves = tree.FinishLeaves();
    }
    e.bytes = std::move(data);
    used_ += size;
    frags_[key] = std::move(e);
    return core::Ok();
  }

  core::Result<std::unique_ptr<core::RandomAccessSource>> Open(const core::ContentHash& t,
                                                               uint32_t index) override {
    std::lock_guard lock(mu_);
    auto it = frags_.find({t, index});
    if (it == frags_.end()) return NotFound(t, index);
    if (it->second.gone) {
      return core::MakeError(core::ErrorCode::kNotFound, "fragment " + std::to_string(index) +
                                                             " of " + t.Short() +
                                                             "… is indexed but its bytes are gone");
    }
    // A snapshot: later corruption or deletion does not affect an open reader.
    auto copy = std::make_shared<std::vector<uint8_t>>(it->second.bytes);
    return std::unique_ptr<core::RandomAccessSource>(new Reader(copy));
  }

  core::Result<core::StoredFragment> Get(const core::ContentHash& t, uint32_t index) override {
    std::lock_guard lock(mu_);
    auto it = frags_.find({t, index});
    if (it == frags_.end()) return NotFound(t, index);
    return it->second.meta;
  }

  core::Result<void> Delete(const core::ContentHash& t, uint32_t index) override {
    std::lock_guard lock(mu_);
    auto it = frags_.find({t, index});
    if (it == frags_.end()) return NotFound(t, index);
    used_ -= it->second.bytes.size();
    frags_.erase(it);
    return core::Ok();
  }

  core::Result<std::vector<core::StoredFragment>> List(
      std::optional<core::ContentHash> t) override {
    std::lock_guard lock(mu_);
    std::vector<core::StoredFragment> out;
    for (const auto& [k, e] : frags_)
      if (!t || k.first == *t) out.push_back(e.meta);
    return out;
  }

  core::Result<std::vector<core::StoredFragment>> ListAfter(std::optional<core::FragmentKey> after,
                                                            std::size_t limit) override {
    std::lock_guard lock(mu_);
    std::vector<core::StoredFragment> out;
    auto it = after ? frags_.upper_bound({after->tessera, after->index}) : frags_.begin();
    for (; it != frags_.end() && out.size() < limit; ++it) out.push_back(it->second.meta);
    return out;
  }

  // The paths from the tree computed when the fragment was stored (later
  // damage to the bytes does not change it, as on disk).
  core::Result<std::vector<std::vector<core::ContentHash>>> ReadProofPaths(
      const core::ContentHash& t, uint32_t index, std::span<const uint64_t> leaves) override {
    std::lock_guard lock(mu_);
    auto it = frags_.find({t, index});
    if (it == frags_.end()) return NotFound(t, index);
    if (it->second.gone) {
      return core::MakeError(core::ErrorCode::kNotFound, "fragment " + std::to_string(index) +
                                                             " of " + t.Short() +
                                                             "… is indexed but its bytes are gone");
    }
    std::vector<std::vector<core::ContentHash>> out;
    for (uint64_t leaf : leaves) {
      if (leaf >= it->second.leaves.size()) {
        return core::MakeError(core::ErrorCode::kInvalidArgument, "leaf past the last one");
      }
      out.push_back(crypto::MerklePath(it->second.leaves, leaf));
    }
    ++proof_path_reads_;
    return out;
  }
  uint64_t proof_path_reads() {
    std::lock_guard lock(mu_);
    return proof_path_reads_;
  }

  // Always hashes: memory cannot go stale behind our back the way a disk can.
  // A failure removes the fragment, as the port asks (the index agrees with
  // the bytes).
  core::Result<void> Verify(const core::ContentHash& t, uint32_t index) override {
    std::lock_guard lock(mu_);
    auto it = frags_.find({t, index});
    if (it == frags_.end()) return NotFound(t, index);
    std::optional<core::Error> failed;
    if (it->second.gone) {
      failed = core::MakeError(core::ErrorCode::kNotFound,
                               "fragment " + std::to_string(index) + " of " + t.Short() +
                                   "… is indexed but its bytes are gone; dropped");
    } else if (crypto::Blake3(it->second.bytes) != it->second.meta.id.checksum) {
      failed =
          core::MakeError(core::ErrorCode::kCorrupt, "fragment " + std::to_string(index) + " of " +
                                                         t.Short() + "… is corrupt; dropped");
    }
    if (failed) {
      used_ -= it->second.meta.size;
      frags_.erase(it);
      return *failed;
    }
    ++verifications_;
    return core::Ok();
  }
  core::Result<void> CheckHeld(const core::ContentHash& t, uint32_t index, int64_t) override {
    return Verify(t, index);
  }

  // Test hooks: damage what a disk could damage.
  void FlipByte(const core::ContentHash& t, uint32_t index, std::size_t at) {
    std::lock_guard lock(mu_);
    frags_.at({t, index}).bytes.at(at) ^= 0x01;
  }
  // The bytes vanish but the index still lists the fragment (an operator's rm
  // of a fragment directory while the index stays).
  void LoseBytes(const core::ContentHash& t, uint32_t index) {
    std::lock_guard lock(mu_);
    auto& e = frags_.at({t, index});
    e.gone = true;
    e.bytes.clear();
  }
  uint64_t verifications() {
    std::lock_guard lock(mu_);
    return verifications_;
  }
  void set_capacity(uint64_t bytes) {
    std::lock_guard lock(mu_);
    capacity_ = bytes;
  }
  uint64_t used() {
    std::lock_guard lock(mu_);
    return used_;
  }

 private:
  struct Entry {
    core::StoredFragment meta;
    std::vector<uint8_t> bytes;
    std::vector<core::ContentHash> leaves;  // proof-tree leaves of the bytes as stored
    bool gone = false;                      // LoseBytes: listed, but nothing to read
  };
  class Reader final : public core::RandomAccessSource {
   public:
    explicit Reader(std::shared_ptr<std::vector<uint8_t>> b) : b_(std::move(b)), src_(*b_) {}
    uint64_t Size() const override { return src_.Size(); }
    core::Result<void> ReadAt(uint64_t off, std::span<uint8_t> out) override {
      return src_.ReadAt(off, out);
    }

   private:
    std::shared_ptr<std::vector<uint8_t>> b_;
    core::MemorySource src_;
  };
  static core::Error NotFound(const core::ContentHash& t, uint32_t index) {
    return core::MakeError(core::ErrorCode::kNotFound,
                           "fragment " + std::to_string(index) + " of " + t.Short() + "… not held");
  }
  std::mutex mu_;
  uint64_t capacity_;
  uint64_t used_ = 0;
  uint64_t verifications_ = 0;
  uint64_t proof_path_reads_ = 0;
  std::map<std::pair<core::ContentHash, uint32_t>, Entry> frags_;
};

class MemoryLedger final : public core::ReciprocityLedger {
 public:
  core::Result<bool> Record(const core::NodeId& peer, core::LedgerDirection dir,
                            const core::ContentHash& t, uint32_t index, uint64_t bytes) override {
    std::lock_guard lock(mu_);
    auto key = std::make_tuple(peer, static_cast<int>(dir), t, index);
    if (counted_.count(key)) return false;
    counted_[key] = bytes;
    auto& e = Entry(peer);
    (dir == core::LedgerDirection::kWeStoreForThem ? e.bytes_stored_for_them
                                                   : e.bytes_they_store_for_us) += bytes;
    Rebalance(e);
    return true;
  }
  core::Result<bool> Forget(const core::NodeId& peer, core::LedgerDirection dir,
                            const core::ContentHash& t, uint32_t index) override {
    std::lock_guard lock(mu_);
    auto it = counted_.find(std::make_tuple(peer, static_cast<int>(dir), t, index));
    if (it == counted_.end()) return false;
    auto& e = Entry(peer);
    (dir == core::LedgerDirection::kWeStoreForThem ? e.bytes_stored_for_them
                                                   : e.bytes_they_store_for_us) -= it->second;
    Rebalance(e);
    counted_.erase(it);
    return true;
  }
  core::Result<core::LedgerEntry> Balance(const core::NodeId& peer) override {
    std::lock_guard lock(mu_);
    return Entry(peer);
  }
  core::Result<std::vector<core::LedgerEntry>> BestPeers(std::size_t n) override {
    auto all = TRY(All());
    std::stable_sort(all.begin(), all.end(),
                     [](const auto& a, const auto& b) { return a.balance > b.balance; });
    if (all.size() > n) all.resize(n);
    return all;
  }
  core::Result<std::vector<core::LedgerEntry>> All() override {
    std::lock_guard lock(mu_);
    std::vector<core::LedgerEntry> out;
    for (const auto& [_, e] : peers_) out.push_back(e);
    return out;
  }

 private:
  core::LedgerEntry& Entry(const core::NodeId& peer) {
    auto& e = peers_[peer];
    e.peer = peer;
    return e;
  }
  static void Rebalance(core::LedgerEntry& e) {
    e.balance = static_cast<int64_t>(e.bytes_they_store_for_us) -
                static_cast<int64_t>(e.bytes_stored_for_them);
  }
  std::mutex mu_;
  std::map<core::NodeId, core::LedgerEntry> peers_;
  std::map<std::tuple<core::NodeId, int, core::ContentHash, uint32_t>, uint64_t> counted_;
};

class MemoryBlobStore final : public core::BlobStore {
 public:
  core::Result<void> Put(const core::ContentHash& hash, uint64_t size,
                         core::ByteSource& bytes) override {
    std::vector<uint8_t> data;
    std::vector<uint8_t> buf(1 << 16);
    for (;;) {
      std::size_t n = TRY(bytes.Read(buf));
      if (n == 0) break;
      data.insert(data.end(), buf.begin(), buf.begin() + static_cast<long>(n));
    }
    if (data.size() != size || crypto::Blake3(data) != hash) {
      return core::MakeError(core::ErrorCode::kCorrupt, "blob does not match its hash");
    }
    std::lock_guard lock(mu_);
    blobs_[hash] = std::make_shared<std::vector<uint8_t>>(std::move(data));
    return core::Ok();
  }
  core::Result<std::unique_ptr<core::RandomAccessSource>> Open(
      const core::ContentHash& hash) override {
    std::lock_guard lock(mu_);
    auto it = blobs_.find(hash);
    if (it == blobs_.end()) return core::MakeError(core::ErrorCode::kNotFound, "no such blob");
    struct Src final : core::RandomAccessSource {
      explicit Src(std::shared_ptr<std::vector<uint8_t>> b) : b(std::move(b)), m(*this->b) {}
      uint64_t Size() const override { return m.Size(); }
      core::Result<void> ReadAt(uint64_t o, std::span<uint8_t> out) override {
        return m.ReadAt(o, out);
      }
      std::optional<std::span<const uint8_t>> Contiguous() const override { return m.Contiguous(); }
      std::shared_ptr<std::vector<uint8_t>> b;
      core::MemorySource m;
    };
    return std::unique_ptr<core::RandomAccessSource>(new Src(it->second));
  }
  core::Result<bool> Contains(const core::ContentHash& hash) override {
    std::lock_guard lock(mu_);
    return blobs_.count(hash) > 0;
  }
  core::Result<void> Remove(const core::ContentHash& hash) override {
    std::lock_guard lock(mu_);
    if (!blobs_.erase(hash)) return core::MakeError(core::ErrorCode::kNotFound, "no such blob");
    return core::Ok();
  }
  // Flips one byte of a stored blob, as bit rot on disk would: it still
  // opens, but no longer matches its hash. False if there is no such blob.
  bool Corrupt(const core::ContentHash& hash) {
    std::lock_guard lock(mu_);
    auto it = blobs_.find(hash);
    if (it == blobs_.end() || it->second->empty()) return false;
    auto copy = std::make_shared<std::vector<uint8_t>>(*it->second);
    (*copy)[copy->size() / 2] ^= 0x5a;
    it->second = std::move(copy);
    return true;
  }

 private:
  std::mutex mu_;
  std::map<core::ContentHash, std::shared_ptr<std::vector<uint8_t>>> blobs_;
};

}  // namespace tesseras::replication::testing
