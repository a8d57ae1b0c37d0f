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
    core::FragmentEnvelope env;
    env.id = table_.IdOf(i);
    env.table = table_;
    env.owner_public_key = signed_.owner;
    env.plan_signature.assign(signed_.signature.begin(), signed_.signature.end());
    return env;
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

}  // namespace
}  // namespace tesseras::replication
