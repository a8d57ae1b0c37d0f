// The spool bound of NetworkHandler: incoming transfers reserve their
// fragment's declared size before the first byte, and are refused past
// max_spool_bytes or when the disk would keep less than min_free_bytes free.
#include "replication/network_handler.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <random>

#include "crypto/blake3_hasher.h"
#include "replication/fragment_codec.h"
#include "replication/testing/hand_encoded.h"
#include "replication/testing/sim_network.h"

namespace tesseras::replication {
namespace {

using core::ErrorCode;
using ::testing::HasSubstr;

class NetworkHandlerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    scratch_ = std::filesystem::temp_directory_path() /
               ("tesseras-handler-" + std::to_string(::getpid()) + "-" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(scratch_);
    config_.scratch_dir = scratch_;
    owner_ = &net_.AddNode("127.0.1.1:7700", config_);
    holder_ = &net_.AddNode("127.0.2.1:7700", config_);
    // A Medium tessera: 24 fragments of 5 MiB / 16 = 327,680 bytes.
    std::vector<uint8_t> payload(5 * core::kMiB);
    std::mt19937 rng(7);
    for (auto& b : payload) b = static_cast<uint8_t>(rng());
    auto plan = *core::PlanForSize(payload.size());
    sinks_.resize(plan.total_shards());
    std::vector<core::ByteSink*> ptrs;
    for (auto& s : sinks_) ptrs.push_back(&s);
    core::MemorySource src(payload);
    CodecOptions opt;
    opt.compute_proof_roots = true;
    table_ = *EncodeTessera(crypto::Blake3(payload), plan, src, ptrs, opt);
    signed_ = SignedPlan::Sign(table_, owner_->identity);
  }
  void TearDown() override { std::filesystem::remove_all(scratch_); }

  core::FragmentEnvelope Envelope(uint32_t i) const {
    return testing::EnvelopeOf(table_, signed_, i);
  }
  dht::RequestContext From() const { return {owner_->identity.node_id(), {}, owner_->address}; }
  uint64_t shard() const { return table_.plan.shard_size; }

  std::filesystem::path scratch_;
  ReplicationConfig config_;
  core::ManualClock clock_;
  testing::SimNetwork net_{clock_};
  testing::SimNode* owner_ = nullptr;
  testing::SimNode* holder_ = nullptr;
  std::vector<core::MemorySink> sinks_;
  core::FragmentTable table_;
  SignedPlan signed_;
};

TEST_F(NetworkHandlerTest, TransfersPastTheSpoolCapAreRefusedUntilOneEnds) {
  SpoolLimits limits;
  limits.max_bytes = 2 * shard() + shard() / 2;  // room for two fragments
  std::vector<std::string> refused;              // what the daemon shows as "refused" events
  NetworkHandler handler(
      *holder_->service, scratch_ / "spool", limits,
      [&](const core::PeerInfo& from, const core::ContentHash& tessera, const core::Error& why) {
        EXPECT_EQ(from.id, owner_->identity.node_id());
        EXPECT_EQ(tessera, table_.tessera);
        refused.push_back(why.message);
      });
  auto first = handler.BeginReplicate(From(), Envelope(0));
  ASSERT_TRUE(first.ok()) << first.error().ToString();
  auto second = handler.BeginReplicate(From(), Envelope(1));
  ASSERT_TRUE(second.ok()) << second.error().ToString();
  EXPECT_EQ(handler.spool_reserved(), 2 * shard());
  auto third = handler.BeginReplicate(From(), Envelope(2));
  ASSERT_FALSE(third.ok());
  EXPECT_EQ(third.error().code, ErrorCode::kResourceExhausted);
  EXPECT_THAT(third.error().message, HasSubstr("max_spool_bytes"));
  ASSERT_EQ(refused.size(), 1u);
  EXPECT_EQ(refused[0], third.error().message);
  // An abandoned transfer gives its share back; a finished one too.
  first->reset();
  EXPECT_EQ(handler.spool_reserved(), shard());
  auto again = handler.BeginReplicate(From(), Envelope(2));
  ASSERT_TRUE(again.ok()) << again.error().ToString();
  ASSERT_TRUE((*again)->Write(sinks_[2].bytes()).ok());
  auto ack = (*again)->Finish();
  ASSERT_TRUE(ack.ok()) << ack.error().ToString();
  again->reset();
  EXPECT_EQ(handler.spool_reserved(), shard());
  EXPECT_TRUE(holder_->fragments.Get(table_.tessera, 2).ok());
  EXPECT_FALSE(holder_->fragments.Get(table_.tessera, 0).ok());
  // Bytes that do not match: refused at the end, and reported too.
  auto bad = handler.BeginReplicate(From(), Envelope(3));
  ASSERT_TRUE(bad.ok()) << bad.error().ToString();
  auto wrong = sinks_[3].bytes();
  wrong[5] ^= 1;
  ASSERT_TRUE((*bad)->Write(wrong).ok());
  EXPECT_FALSE((*bad)->Finish().ok());
  ASSERT_EQ(refused.size(), 2u);
  EXPECT_THAT(refused[1], HasSubstr("do not match"));
}

TEST_F(NetworkHandlerTest, ATransferThatWouldEatTheFreeSpaceMinimumIsRefused) {
  SpoolLimits limits;
  limits.min_free_bytes = 1000;
  uint64_t free = 2 * shard() + 1000;  // what the file system reports
  std::filesystem::path asked;
  limits.free_bytes = [&](const std::filesystem::path& p) -> core::Result<uint64_t> {
    asked = p;
    return free;
  };
  NetworkHandler handler(*holder_->service, scratch_ / "spool", limits);
  auto first = handler.BeginReplicate(From(), Envelope(0));
  ASSERT_TRUE(first.ok()) << first.error().ToString();
  EXPECT_EQ(asked, scratch_ / "spool");
  // The first one's reservation counts as written although no byte came yet.
  auto second = handler.BeginReplicate(From(), Envelope(1));
  ASSERT_TRUE(second.ok()) << second.error().ToString();
  auto third = handler.BeginReplicate(From(), Envelope(2));
  ASSERT_FALSE(third.ok());
  EXPECT_EQ(third.error().code, ErrorCode::kResourceExhausted);
  EXPECT_THAT(third.error().message, HasSubstr("not enough disk space"));
  // A file system that cannot be asked refuses too, with its reason.
  limits.free_bytes = [](const std::filesystem::path&) -> core::Result<uint64_t> {
    return core::MakeError(ErrorCode::kIo, "statvfs failed");
  };
  NetworkHandler blind(*holder_->service, scratch_ / "spool2", limits);
  auto r = blind.BeginReplicate(From(), Envelope(3));
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error().message, HasSubstr("statvfs"));
}

// Admission is the only check: transfers admitted and not yet finished count
// against the owner's allowance and the cap for all others, so concurrent
// pushes cannot pass them between them. Bytes go straight into the fragment
// store; an abandoned transfer leaves nothing there.
TEST_F(NetworkHandlerTest, TransfersInFlightCountAgainstTheLimitsAtAdmission) {
  ReplicationConfig cfg = config_;
  cfg.new_owner_allowance_bytes = 2 * shard();
  cfg.max_bytes_for_others = 3 * shard();
  auto& holder = net_.AddNode("127.0.3.1:7700", cfg);
  NetworkHandler handler(*holder.service, scratch_ / "spool3");
  auto first = handler.BeginReplicate(From(), Envelope(0));
  ASSERT_TRUE(first.ok()) << first.error().ToString();
  auto second = handler.BeginReplicate(From(), Envelope(1));
  ASSERT_TRUE(second.ok()) << second.error().ToString();
  // Nothing is stored yet, but two are in flight: a third would pass the allowance.
  EXPECT_EQ(holder.ledger.Balance(owner_->identity.node_id())->bytes_stored_for_them, 0u);
  auto third = handler.BeginReplicate(From(), Envelope(2));
  ASSERT_FALSE(third.ok());
  EXPECT_THAT(third.error().message, HasSubstr("allowance"));
  // Another owner within its own allowance meets the cap for all others.
  auto stranger = *crypto::Identity::Generate(0);
  core::ContentHash other = table_.tessera;
  other.bytes[0] ^= 1;
  auto table2 = table_;
  table2.tessera = other;
  auto signed2 = SignedPlan::Sign(table2, stranger);
  auto env2 = [&](uint32_t i) { return testing::EnvelopeOf(table2, signed2, i); };
  dht::RequestContext from2{stranger.node_id(), {}, "127.0.4.1:7700"};
  auto fourth = handler.BeginReplicate(from2, env2(0));
  ASSERT_TRUE(fourth.ok()) << fourth.error().ToString();
  auto fifth = handler.BeginReplicate(from2, env2(1));
  ASSERT_FALSE(fifth.ok());
  EXPECT_THAT(fifth.error().message, HasSubstr("max_bytes_for_others"));
  // Half the bytes, then abandoned: nothing stored, and its share is free again.
  const auto& bytes0 = sinks_[0].bytes();
  ASSERT_TRUE((*first)->Write(std::span(bytes0.data(), bytes0.size() / 2)).ok());
  first->reset();
  EXPECT_FALSE(holder.fragments.Get(table_.tessera, 0).ok());
  EXPECT_EQ(handler.spool_reserved(), 2 * shard());
  // A finished one is in the store under its own name and charged once.
  ASSERT_TRUE((*second)->Write(sinks_[1].bytes()).ok());
  auto ack = (*second)->Finish();
  ASSERT_TRUE(ack.ok()) << ack.error().ToString();
  EXPECT_EQ(ack->held_indices, std::vector<uint32_t>{1});
  EXPECT_TRUE(holder.fragments.Get(table_.tessera, 1).ok());
  EXPECT_EQ(holder.ledger.Balance(owner_->identity.node_id())->bytes_stored_for_them, shard());
  second->reset();
  auto again = handler.BeginReplicate(From(), Envelope(2));
  EXPECT_TRUE(again.ok()) << again.error().ToString();
}

}  // namespace
}  // namespace tesseras::replication
