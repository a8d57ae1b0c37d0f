// A few nodes on loopback: records, replication requests through the handler
// port, and the DhtPort adapter.
#include "dht/node.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>

#include "dht/dht_port_adapter.h"
#include "dht/test_network.h"

namespace tesseras::dht {
namespace {

using core::ErrorCode;
using core::Result;
using testing::TestConfig;
using testing::TestNetwork;

class OwnedSource final : public core::RandomAccessSource {
 public:
  explicit OwnedSource(std::vector<uint8_t> data) : data_(std::move(data)) {}
  uint64_t Size() const override { return data_.size(); }
  Result<void> ReadAt(uint64_t offset, std::span<uint8_t> out) override {
    if (offset > data_.size() || out.size() > data_.size() - offset) {
      return core::MakeError(ErrorCode::kInvalidArgument, "read past end");
    }
    std::copy_n(data_.begin() + static_cast<std::ptrdiff_t>(offset), out.size(), out.begin());
    return core::Ok();
  }

 private:
  std::vector<uint8_t> data_;
};

// Keeps fragments in memory. Attest can be held back to simulate a slow disk.
class MemoryHandler final : public ReplicationHandler {
 public:
  explicit MemoryHandler(core::NodeId self) : self_(self) {}

  class Incoming final : public IncomingFragment {
   public:
    Incoming(MemoryHandler* h, core::FragmentEnvelope env) : h_(h), env_(std::move(env)) {}
    Result<void> Write(std::span<const uint8_t> data) override {
      if (buf_.size() + data.size() > env_.table.plan.shard_size) {
        return core::MakeError(ErrorCode::kInvalidArgument, "too many bytes");
      }
      buf_.insert(buf_.end(), data.begin(), data.end());
      return core::Ok();
    }
    Result<core::ReplicateAck> Finish() override {
      if (buf_.size() != env_.table.plan.shard_size) {
        return core::MakeError(ErrorCode::kInvalidArgument, "short fragment");
      }
      std::lock_guard lock(h_->mu_);
      h_->fragments_[{env_.id.tessera, env_.id.index}] = buf_;
      return core::ReplicateAck{env_.id.tessera, h_->self_, {env_.id.index}};
    }

   private:
    MemoryHandler* h_;
    core::FragmentEnvelope env_;
    std::vector<uint8_t> buf_;
  };

  Result<std::unique_ptr<IncomingFragment>> BeginReplicate(
      const RequestContext&, const core::FragmentEnvelope& envelope) override {
    return std::unique_ptr<IncomingFragment>(new Incoming(this, envelope));
  }
  Result<core::Attestation> Attest(const RequestContext&, const core::ContentHash& tessera,
                                   const std::array<uint8_t, 32>& challenge,
                                   const std::vector<uint32_t>& indices,
                                   const std::optional<core::NodeId>&) override {
    if (hold_) hold_->wait();
    core::Attestation a;
    a.tessera = tessera;
    a.holder = self_;
    a.challenge = challenge;
    a.timestamp_ms = 1;
    std::lock_guard lock(mu_);
    asked_.push_back(indices);
    auto wanted = [&](uint32_t i) {
      return indices.empty() || std::find(indices.begin(), indices.end(), i) != indices.end();
    };
    if (synthetic_count_ > 0) {
      for (uint32_t i = 0; i < synthetic_count_; ++i) {
        if (!wanted(i)) continue;
        core::FragmentProof p;
        p.index = i;
        p.response.assign(synthetic_bytes_, static_cast<uint8_t>(i));
        a.proofs.push_back(p);
      }
      return a;
    }
    for (const auto& [key, bytes] : fragments_) {
      if (key.first != tessera || !wanted(key.second)) continue;
      core::FragmentProof p;
      p.index = key.second;
      p.response.assign(bytes.begin(), bytes.begin() + std::min<std::size_t>(32, bytes.size()));
      a.proofs.push_back(p);
    }
    return a;
  }
  // The index lists of every attestation request so far.
  std::vector<std::vector<uint32_t>> asked() {
    std::lock_guard lock(mu_);
    return asked_;
  }
  // Set before use: Attest answers proofs for indices 0..count-1 (those asked
  // for), each with a response of `bytes` bytes, instead of the stored fragments.
  void Synthesize(uint32_t count, std::size_t bytes) {
    synthetic_count_ = count;
    synthetic_bytes_ = bytes;
  }
  Result<std::unique_ptr<core::RandomAccessSource>> OpenFragment(
      const RequestContext&, const core::ContentHash& tessera, uint32_t index,
      const std::optional<core::NodeId>&) override {
    std::lock_guard lock(mu_);
    auto it = fragments_.find({tessera, index});
    if (it == fragments_.end()) return core::MakeError(ErrorCode::kNotFound, "no such fragment");
    return std::unique_ptr<core::RandomAccessSource>(new OwnedSource(it->second));
  }

  std::shared_future<void>* hold_ = nullptr;

 private:
  core::NodeId self_;
  std::mutex mu_;
  std::map<std::pair<core::ContentHash, uint32_t>, std::vector<uint8_t>> fragments_;
  std::vector<std::vector<uint32_t>> asked_;
  uint32_t synthetic_count_ = 0;
  std::size_t synthetic_bytes_ = 0;
};

std::vector<uint8_t> Pattern(std::size_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(i * 13 + seed + i / 251);
  return v;
}

core::FragmentEnvelope SmallEnvelope(std::size_t size) {
  core::FragmentEnvelope env;
  env.table.tessera.bytes.fill(0x5a);
  env.table.plan = core::PlanForSize(size).value();
  env.table.checksums.resize(env.table.plan.total_shards());
  env.table.checksums[0].bytes.fill(0x11);
  env.id = env.table.IdOf(0);
  env.owner_public_key.fill(0x22);
  return env;
}

class SmallNetworkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int i = 0; i < 6; ++i) ASSERT_TRUE(net_.Add());
    auto seed = net_.AddressOf(net_.nodes()[0]);
    for (std::size_t i = 1; i < net_.nodes().size(); ++i) {
      auto n = net_.nodes()[i];
      auto r = net_.Await<Result<void>>([n, seed]() { return n->Bootstrap({seed}); });
      ASSERT_TRUE(r.ok()) << r.error().ToString();
    }
  }
  std::shared_ptr<Node> node(int i) { return net_.nodes()[static_cast<std::size_t>(i)]; }
  TestNetwork net_;
};

TEST_F(SmallNetworkTest, SignedRecordsAreStoredAndFound) {
  auto a = node(1);
  core::NodeId key;
  key.bytes.fill(0x33);
  std::vector<uint8_t> value = {1, 2, 3, 4};
  auto now = core::SystemClock().NowUnixMs();
  auto rec = Record::Sign(a->identity(), kHolderRecord, key, value, now + 60'000).value();
  auto put = net_.Await<Result<std::size_t>>([a, rec]() { return a->Put(rec); });
  ASSERT_TRUE(put.ok()) << put.error().ToString();
  EXPECT_GE(*put, 5u);  // every other node is among the k closest

  auto f = node(5);
  auto got = net_.Await<Result<std::vector<Record>>>([f, key]() { return f->Get(key); });
  ASSERT_TRUE(got.ok()) << got.error().ToString();
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ(got->front(), rec);

  core::NodeId missing;
  missing.bytes.fill(0x34);
  auto none = net_.Await<Result<std::vector<Record>>>([f, missing]() { return f->Get(missing); });
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().code, ErrorCode::kNotFound);
}

TEST_F(SmallNetworkTest, RecordWithBadSignatureRefused) {
  auto a = node(1);
  auto b = node(2);
  core::NodeId key;
  key.bytes.fill(0x44);
  auto now = core::SystemClock().NowUnixMs();
  auto rec =
      Record::Sign(a->identity(), kHolderRecord, key, std::vector<uint8_t>{9, 9}, now + 60'000)
          .value();
  Record forged = rec;
  forged.value = {6, 6};
  // Our own node checks before sending.
  auto put = net_.Await<Result<std::size_t>>([a, forged]() { return a->Put(forged); });
  ASSERT_FALSE(put.ok());
  EXPECT_EQ(put.error().code, ErrorCode::kCorrupt);
  // A peer refuses it on the wire.
  auto peer = net_.InfoOf(b);
  auto bytes = forged.Encode();
  auto stored = net_.Await<Result<void>>([a, peer, bytes]() { return a->StoreAt(peer, bytes); });
  ASSERT_FALSE(stored.ok());
  EXPECT_EQ(stored.error().code, ErrorCode::kCorrupt);
  EXPECT_EQ(net_.Sync([b, key, now] { return b->records().Get(key, now).size(); }), 0u);
  EXPECT_GE(net_.Sync([b] { return b->stats().records_refused; }), 1u);
  // The genuine one is accepted by the same peer.
  auto good = rec.Encode();
  EXPECT_TRUE(net_.Await<Result<void>>([a, peer, good]() { return a->StoreAt(peer, good); }).ok());
}

TEST_F(SmallNetworkTest, DiskRequestsWithoutHandlerAreUnimplemented) {
  auto a = node(1);
  auto peer = net_.InfoOf(node(2));
  core::ContentHash t;
  auto att = net_.Await<Result<core::Attestation>>(
      [a, peer, t]() { return a->Attest(peer, t, std::array<uint8_t, 32>{}, {}); });
  ASSERT_FALSE(att.ok());
  EXPECT_EQ(att.error().code, ErrorCode::kUnimplemented);
  core::MemorySink sink;
  auto fetched =
      net_.Await<Result<void>>([a, peer, t, &sink]() { return a->Fetch(peer, t, 0, sink); });
  ASSERT_FALSE(fetched.ok());
  EXPECT_EQ(fetched.error().code, ErrorCode::kUnimplemented);
  auto env = SmallEnvelope(1000);
  OwnedSource src(Pattern(1000, 1));
  auto rep = net_.Await<Result<core::ReplicateAck>>(
      [a, peer, env, &src]() { return a->Replicate(peer, env, src); });
  ASSERT_FALSE(rep.ok());
  EXPECT_EQ(rep.error().code, ErrorCode::kUnimplemented);
}

TEST_F(SmallNetworkTest, ReplicateFetchAttestThroughHandler) {
  auto a = node(1);
  auto b = node(2);
  auto handler = std::make_shared<MemoryHandler>(b->id());
  b->SetReplicationHandler(handler);
  auto peer = net_.InfoOf(b);
  const std::size_t size = 3 * 1024 * 1024 + 12345;  // 13 chunks, the last short
  auto env = SmallEnvelope(size);
  auto data = Pattern(size, 7);
  OwnedSource src(data);
  auto ack = net_.Await<Result<core::ReplicateAck>>(
      [a, peer, env, &src]() { return a->Replicate(peer, env, src); });
  ASSERT_TRUE(ack.ok()) << ack.error().ToString();
  EXPECT_EQ(ack->holder, b->id());
  EXPECT_EQ(ack->held_indices, std::vector<uint32_t>{0});

  core::MemorySink sink;
  auto t = env.id.tessera;
  auto fetched =
      net_.Await<Result<void>>([a, peer, t, &sink]() { return a->Fetch(peer, t, 0, sink); });
  ASSERT_TRUE(fetched.ok()) << fetched.error().ToString();
  EXPECT_TRUE(sink.finished());
  EXPECT_EQ(sink.bytes(), data);

  std::array<uint8_t, 32> challenge{};
  challenge.fill(3);
  auto att = net_.Await<Result<core::Attestation>>(
      [a, peer, t, challenge]() { return a->Attest(peer, t, challenge, {}); });
  ASSERT_TRUE(att.ok()) << att.error().ToString();
  ASSERT_EQ(att->proofs.size(), 1u);
  EXPECT_EQ(att->challenge, challenge);
  EXPECT_TRUE(att->requested.empty());
  // A subset reaches the handler as sent, and the result says what was asked.
  auto subset = net_.Await<Result<core::Attestation>>([a, peer, t, challenge]() {
    return a->Attest(peer, t, challenge, {1, 0});
  });
  ASSERT_TRUE(subset.ok()) << subset.error().ToString();
  EXPECT_EQ(subset->requested, (std::vector<uint32_t>{1, 0}));
  EXPECT_EQ(handler->asked().back(), (std::vector<uint32_t>{1, 0}));
  ASSERT_EQ(subset->proofs.size(), 1u);
  EXPECT_EQ(subset->proofs[0].index, 0u);

  core::MemorySink missing;
  auto nf =
      net_.Await<Result<void>>([a, peer, t, &missing]() { return a->Fetch(peer, t, 1, missing); });
  ASSERT_FALSE(nf.ok());
  EXPECT_EQ(nf.error().code, ErrorCode::kNotFound);
  EXPECT_FALSE(missing.finished());
}

// An attestation is one frame. A batch of 31 proofs of ~33 KiB (what the
// replication layer asks for at once) crosses a real connection; an answer too
// large for a frame comes back as an explicit error at once, not as a timeout;
// index lists the wire would refuse are refused before anything is sent.
TEST_F(SmallNetworkTest, AttestationSubsetsAndTheFrameCap) {
  auto a = node(1);
  auto b = node(2);
  auto handler = std::make_shared<MemoryHandler>(b->id());
  handler->Synthesize(72, 33'600);  // 72 fragments held: ~2.4 MB in one answer
  b->SetReplicationHandler(handler);
  auto peer = net_.InfoOf(b);
  core::ContentHash t;
  t.bytes.fill(9);
  std::vector<uint32_t> batch;
  for (uint32_t i = 0; i < 31; ++i) batch.push_back(40 + i);
  auto att = net_.Await<Result<core::Attestation>>(
      [a, peer, t, batch]() { return a->Attest(peer, t, std::array<uint8_t, 32>{}, batch); });
  ASSERT_TRUE(att.ok()) << att.error().ToString();
  ASSERT_EQ(att->proofs.size(), 31u);
  for (std::size_t i = 0; i < 31; ++i) EXPECT_EQ(att->proofs[i].index, 40 + i);
  EXPECT_EQ(att->requested, batch);

  auto all = net_.Await<Result<core::Attestation>>(
      [a, peer, t]() { return a->Attest(peer, t, std::array<uint8_t, 32>{}, {}); });
  ASSERT_FALSE(all.ok());
  EXPECT_EQ(all.error().code, ErrorCode::kResourceExhausted) << all.error().ToString();
  // The connection survived: the next batch is answered.
  auto again = net_.Await<Result<core::Attestation>>([a, peer, t]() {
    return a->Attest(peer, t, std::array<uint8_t, 32>{}, {0, 1});
  });
  ASSERT_TRUE(again.ok()) << again.error().ToString();
  EXPECT_EQ(again->proofs.size(), 2u);

  const std::size_t asked_before = handler->asked().size();
  for (std::vector<uint32_t> bad :
       {std::vector<uint32_t>{255}, std::vector<uint32_t>{3, 3}, std::vector<uint32_t>(256, 0)}) {
    auto r = net_.Await<Result<core::Attestation>>(
        [a, peer, t, bad]() { return a->Attest(peer, t, std::array<uint8_t, 32>{}, bad); });
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  }
  EXPECT_EQ(handler->asked().size(), asked_before);
}

TEST_F(SmallNetworkTest, SlowHandlerDoesNotStallLookups) {
  auto a = node(1);
  auto b = node(2);
  auto handler = std::make_shared<MemoryHandler>(b->id());
  std::promise<void> release;
  std::shared_future<void> gate = release.get_future().share();
  handler->hold_ = &gate;
  b->SetReplicationHandler(handler);
  auto peer = net_.InfoOf(b);
  core::ContentHash t;
  auto slow = net_.Spawn<Result<core::Attestation>>(
      [a, peer, t]() { return a->Attest(peer, t, std::array<uint8_t, 32>{}, {}); });
  // While b's disk is "stuck", b still answers pings and lookups.
  EXPECT_TRUE(net_.Await<Result<void>>([a, peer]() { return a->Ping(peer); }).ok());
  auto target = node(4)->id();
  auto found =
      net_.Await<Result<std::vector<Contact>>>([b, target]() { return b->Lookup(target); });
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(found->front().id, target);
  EXPECT_EQ(slow.wait_for(std::chrono::milliseconds(0)), std::future_status::timeout);
  release.set_value();
  EXPECT_TRUE(slow.get().ok());
}

// A node stores records only for keys it is among the k + store_slack closest
// to (of the nodes it knows): with k = 2 and no slack, in a network of 8, a
// Store sent straight to the farthest node is refused, one to the closest kept.
TEST(StoreClosenessTest, RecordsOnlyForKeysWeAreCloseTo) {
  TestNetwork net;
  auto cfg = TestConfig();
  cfg.routing.k = 2;
  cfg.alpha = 2;
  cfg.store_slack = 0;
  for (int i = 0; i < 8; ++i) ASSERT_TRUE(net.Add(cfg));
  auto seed = net.AddressOf(net.nodes()[0]);
  for (std::size_t i = 1; i < net.nodes().size(); ++i) {
    auto n = net.nodes()[i];
    ASSERT_TRUE(net.Await<Result<void>>([n, seed]() { return n->Bootstrap({seed}); }).ok());
  }
  auto writer = net.nodes()[0];
  core::NodeId key;
  key.bytes.fill(0x3c);
  auto others = net.nodes();
  others.erase(others.begin());
  std::sort(others.begin(), others.end(), [&](const auto& a, const auto& b) {
    return core::XorDistance(key, a->id()) < core::XorDistance(key, b->id());
  });
  auto closest = others.front();
  auto farthest = others.back();
  ASSERT_TRUE(net.Sync([&] { return closest->CloseTo(key); }));
  ASSERT_FALSE(net.Sync([&] { return farthest->CloseTo(key); }));
  int64_t now =
      std::chrono::duration_cast<Millis>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  auto rec =
      Record::Sign(writer->identity(), kHolderRecord, key, std::vector<uint8_t>{1}, now + 60'000)
          .value();
  auto enc = rec.Encode();
  auto far = net.InfoOf(farthest);
  auto refused =
      net.Await<Result<void>>([writer, far, enc]() { return writer->StoreAt(far, enc); });
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kPermissionDenied);
  EXPECT_EQ(net.Sync([&] { return farthest->refusals().count("record_not_close"); }), 1u);
  auto near = net.InfoOf(closest);
  EXPECT_TRUE(
      net.Await<Result<void>>([writer, near, enc]() { return writer->StoreAt(near, enc); }).ok());
}

// A node whose contact scope is public-only (what a node on a public address
// gets) never dials a loopback or private address, whoever names it, and
// drops such contacts from lookup results; a node on loopback (kAuto) accepts
// loopback, which is how every test runs.
TEST(ContactScopeTest, APublicNodeNeverDialsInternalAddresses) {
  TestNetwork net;
  auto strict = TestConfig();
  strict.contact_scope = net::ContactScope::kPublicOnly;
  auto a = net.Add();
  auto b = net.Add();
  auto guarded = net.Add(strict);
  EXPECT_EQ(net.Sync([&] { return a->contact_scope(); }), net::ContactScope::kAny);
  EXPECT_EQ(net.Sync([&] { return guarded->contact_scope(); }), net::ContactScope::kPublicOnly);
  // A holder address pointing at a loopback port, as a record might carry.
  auto target = net.InfoOf(a);
  auto ping = net.Await<Result<void>>([guarded, target]() { return guarded->Ping(target); });
  ASSERT_FALSE(ping.ok());
  EXPECT_EQ(ping.error().code, ErrorCode::kPermissionDenied);
  // Seeds are the operator's word: bootstrap through one works, but the
  // loopback contacts its answers carry are dropped, and inbound loopback
  // peers do not enter the routing table either.
  auto seed = net.AddressOf(a);
  ASSERT_TRUE(net.Await<Result<void>>([b, seed]() { return b->Bootstrap({seed}); }).ok());
  (void)net.Await<Result<void>>([guarded, seed]() { return guarded->Bootstrap({seed}); });
  EXPECT_FALSE(net.Sync([&] { return guarded->routing().Contains(b->id()); }));
  EXPECT_GT(net.Sync([&] { return guarded->stats().contacts_out_of_scope; }), 0u);
}

// The DHT node counts transfers in the registry it is given.
TEST(MetricsTest, TransfersAreCountedInTheGivenRegistry) {
  TestNetwork net;
  core::MetricsRegistry registry;
  auto cfg = TestConfig();
  cfg.metrics = &registry;
  auto holder = net.Add(cfg);
  auto owner = net.Add();
  auto handler = std::make_shared<MemoryHandler>(holder->id());
  holder->SetReplicationHandler(handler);
  auto env = SmallEnvelope(300'000);
  auto bytes = Pattern(300'000, 7);
  OwnedSource src(bytes);
  auto peer = net.InfoOf(holder);
  auto ack = net.Await<Result<core::ReplicateAck>>(
      [owner, peer, env, &src]() { return owner->Replicate(peer, env, src); });
  ASSERT_TRUE(ack.ok()) << ack.error().ToString();
  std::string text = registry.Render();
  EXPECT_NE(text.find("tesseras_transfer_duration_seconds_count{direction=\"in\"} 1"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("tesseras_transfers_inflight 0"), std::string::npos) << text;
}

TEST(DhtPortAdapterTest, BlockingCallsFromWorkerThreads) {
  auto cfg = TestConfig();
  cfg.listen_address = "127.0.201.1:0";
  auto id_a = crypto::Identity::Generate(testing::kTestPowBits).value();
  auto id_b = crypto::Identity::Generate(testing::kTestPowBits).value();
  auto a = DhtRuntime::Start(id_a, cfg, 2);
  ASSERT_TRUE(a.ok()) << a.error().ToString();
  cfg.listen_address = "127.0.202.1:0";
  auto b = DhtRuntime::Start(id_b, cfg, 2);
  ASSERT_TRUE(b.ok());
  auto seed = net::FormatEndpoint((*a)->local_endpoint());
  auto boot = (*b)->Run<void>([seed](Node& n) { return n.Bootstrap({seed}); });
  ASSERT_TRUE(boot.ok()) << boot.error().ToString();
  auto handler = std::make_shared<MemoryHandler>(id_a.node_id());
  (*a)->SetReplicationHandler(handler);

  DhtPortAdapter port(**b);
  auto peer_a = (*a)->self_info();
  EXPECT_TRUE(port.Ping(peer_a).ok());
  auto peers = port.FindPeers(id_a.node_id(), 5);
  ASSERT_TRUE(peers.ok()) << peers.error().ToString();
  ASSERT_EQ(peers->size(), 1u);
  EXPECT_EQ(peers->front(), peer_a);

  auto env = SmallEnvelope(600 * 1024);
  auto data = Pattern(600 * 1024, 9);
  OwnedSource src(data);
  auto ack = port.ReplicateFragment(peer_a, env, src);
  ASSERT_TRUE(ack.ok()) << ack.error().ToString();
  core::MemorySink sink;
  ASSERT_TRUE(port.FetchFragment(peer_a, env.id.tessera, 0, sink, std::nullopt).ok());
  EXPECT_EQ(sink.bytes(), data);
  auto att = port.RequestAttestation(peer_a, env.id.tessera, {}, {0}, std::nullopt);
  ASSERT_TRUE(att.ok()) << att.error().ToString();
  EXPECT_EQ(att->requested, std::vector<uint32_t>{0});
  EXPECT_EQ(att->proofs.size(), 1u);

  core::NodeId key;
  key.bytes.fill(0x77);
  auto rec = Record::Sign(id_b, kHolderRecord, key, std::vector<uint8_t>{1},
                          core::SystemClock().NowUnixMs() + 60'000)
                 .value();
  auto put = port.PutRecord(key, rec.Encode());
  ASSERT_TRUE(put.ok()) << put.error().ToString();
  EXPECT_GE(*put, 1u);
  DhtPortAdapter port_a(**a);
  auto got = port_a.GetRecords(key);
  ASSERT_TRUE(got.ok()) << got.error().ToString();
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ(got->front(), rec.Encode());
  auto bad = rec.Encode();
  bad.back() ^= 1;
  EXPECT_EQ(port.PutRecord(key, bad).error().code, ErrorCode::kCorrupt);

  (*a)->Stop();
  auto after = port.Ping(peer_a);
  EXPECT_FALSE(after.ok());
  (*b)->Stop();
  EXPECT_EQ(port.Ping(peer_a).error().code, ErrorCode::kCancelled);
}

// The replication layer's receive path runs on the worker pool and publishes
// its claim with a blocking PutRecord (DhtPortAdapter). With one pool thread,
// that Put must not need a pool thread itself to remember its record.
TEST(DhtPortAdapterTest, APutFromTheOnlyPoolThreadCompletes) {
  class PublishingHandler final : public ReplicationHandler {
   public:
    class Incoming final : public IncomingFragment {
     public:
      explicit Incoming(PublishingHandler* h, core::FragmentEnvelope env)
          : h_(h), env_(std::move(env)) {}
      Result<void> Write(std::span<const uint8_t>) override { return core::Ok(); }
      Result<core::ReplicateAck> Finish() override {
        h_->put = h_->port->PutRecord(h_->key, h_->record);
        return core::ReplicateAck{env_.id.tessera, h_->self, {env_.id.index}};
      }

     private:
      PublishingHandler* h_;
      core::FragmentEnvelope env_;
    };
    Result<std::unique_ptr<IncomingFragment>> BeginReplicate(
        const RequestContext&, const core::FragmentEnvelope& envelope) override {
      return std::unique_ptr<IncomingFragment>(new Incoming(this, envelope));
    }
    Result<core::Attestation> Attest(const RequestContext&, const core::ContentHash&,
                                     const std::array<uint8_t, 32>&, const std::vector<uint32_t>&,
                                     const std::optional<core::NodeId>&) override {
      return core::MakeError(ErrorCode::kUnimplemented, "not in this test");
    }
    Result<std::unique_ptr<core::RandomAccessSource>> OpenFragment(
        const RequestContext&, const core::ContentHash&, uint32_t,
        const std::optional<core::NodeId>&) override {
      return core::MakeError(ErrorCode::kUnimplemented, "not in this test");
    }
    DhtPortAdapter* port = nullptr;
    core::NodeId self, key;
    std::vector<uint8_t> record;
    Result<std::size_t> put = core::MakeError(ErrorCode::kInternal, "not called");
  };

  auto cfg = TestConfig();
  cfg.listen_address = "127.0.203.1:0";
  auto id_a = crypto::Identity::Generate(testing::kTestPowBits).value();
  auto id_b = crypto::Identity::Generate(testing::kTestPowBits).value();
  auto a = DhtRuntime::Start(id_a, cfg, /*workers=*/1);
  ASSERT_TRUE(a.ok()) << a.error().ToString();
  cfg.listen_address = "127.0.204.1:0";
  auto b = DhtRuntime::Start(id_b, cfg, 1);
  ASSERT_TRUE(b.ok()) << b.error().ToString();
  auto seed = net::FormatEndpoint((*a)->local_endpoint());
  auto boot = (*b)->Run<void>([seed](Node& n) { return n.Bootstrap({seed}); });
  ASSERT_TRUE(boot.ok()) << boot.error().ToString();

  DhtPortAdapter port_a(**a);
  auto handler = std::make_shared<PublishingHandler>();
  handler->port = &port_a;
  handler->self = id_a.node_id();
  handler->key.bytes.fill(0x78);
  handler->record = Record::Sign(id_a, kHolderRecord, handler->key, std::vector<uint8_t>{2},
                                 core::SystemClock().NowUnixMs() + 60'000)
                        .value()
                        .Encode();
  (*a)->SetReplicationHandler(handler);

  DhtPortAdapter port_b(**b);
  auto env = SmallEnvelope(64 * 1024);
  OwnedSource src(Pattern(64 * 1024, 3));
  auto ack = port_b.ReplicateFragment((*a)->self_info(), env, src);
  ASSERT_TRUE(ack.ok()) << ack.error().ToString();
  ASSERT_TRUE(handler->put.ok()) << handler->put.error().ToString();
  EXPECT_GE(*handler->put, 1u);
  (*b)->Stop();
  (*a)->Stop();
}

}  // namespace
}  // namespace tesseras::dht
