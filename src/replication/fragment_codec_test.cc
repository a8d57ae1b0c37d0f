#include "replication/fragment_codec.h"

#include <gtest/gtest.h>
#include <isa-l/erasure_code.h>
#include <unistd.h>

#include <functional>
#include <numeric>
#include <random>

#include "crypto/blake3_hasher.h"
#include "crypto/testing/subsets.h"
#include "replication/file_io.h"
#include "replication/testing/random_bytes.h"

namespace tesseras::replication {
namespace {

using core::ErrorCode;
using core::FragmentPlan;
using core::FragmentTable;
using core::Tier;

using testing::RandomBytes;

struct Encoded {
  FragmentTable table;
  std::vector<std::vector<uint8_t>> fragments;
};

Encoded Encode(const std::vector<uint8_t>& payload, const FragmentPlan& plan,
               std::size_t stripe = 64) {
  std::vector<core::MemorySink> sinks(plan.total_shards());
  std::vector<core::ByteSink*> ptrs;
  for (auto& s : sinks) ptrs.push_back(&s);
  core::MemorySource src(payload);
  CodecOptions opt;
  opt.stripe_bytes = stripe;
  auto table = EncodeTessera(crypto::Blake3(payload), plan, src, ptrs, opt);
  EXPECT_TRUE(table.ok()) << table.error().ToString();
  Encoded e{*table, {}};
  for (auto& s : sinks) {
    EXPECT_TRUE(s.finished());
    e.fragments.push_back(s.bytes());
  }
  return e;
}

// Decodes from every fragment not in `lost`, through both sink kinds.
core::Result<std::vector<uint8_t>> Decode(const Encoded& e, const std::vector<int>& lost,
                                          bool sequential, std::size_t stripe = 64) {
  std::vector<std::unique_ptr<core::MemorySource>> sources;
  std::vector<FragmentInput> inputs;
  for (uint32_t i = 0; i < e.fragments.size(); ++i) {
    if (std::find(lost.begin(), lost.end(), static_cast<int>(i)) != lost.end()) continue;
    sources.push_back(std::make_unique<core::MemorySource>(e.fragments[i]));
    inputs.push_back({i, sources.back().get()});
  }
  CodecOptions opt;
  opt.stripe_bytes = stripe;
  core::MemorySink out;
  core::Result<DecodeReport> r =
      sequential ? DecodeTessera(e.table, inputs, static_cast<core::ByteSink&>(out), opt)
                 : DecodeTessera(e.table, inputs, static_cast<core::RandomAccessSink&>(out), opt);
  if (!r.ok()) {
    EXPECT_FALSE(out.finished());
    return r.error();
  }
  EXPECT_TRUE(out.finished());
  return out.bytes();
}

using crypto::testing::ForEachSubset;

TEST(FragmentCodecTest, LayoutIsContiguousWithZeroPadding) {
  auto payload = RandomBytes(10, 1);
  auto plan = *core::MakePlan(Tier::kMedium, payload.size(), 4, 2);
  EXPECT_EQ(plan.shard_size, 3u);
  Encoded e = Encode(payload, plan);
  ASSERT_EQ(e.fragments.size(), 6u);
  EXPECT_EQ(e.fragments[0], std::vector<uint8_t>(payload.begin(), payload.begin() + 3));
  EXPECT_EQ(e.fragments[3], (std::vector<uint8_t>{payload[9], 0, 0}));
  for (uint32_t i = 0; i < 6; ++i) {
    EXPECT_EQ(e.fragments[i].size(), 3u);
    EXPECT_EQ(e.table.checksums[i], crypto::Blake3(e.fragments[i])) << i;
  }
}

// docs/FORMAT.md section 3, checked byte by byte: parity r at offset t is
// XOR over c of G[r][c] * data[c][t] with G[r][c] = inv(r XOR c) in GF(2^8)/0x11D.
TEST(FragmentCodecTest, ParityFollowsTheDocumentedFormula) {
  auto payload = RandomBytes(1001, 21);
  const uint32_t k = 6, m = 3;
  auto plan = *core::MakePlan(Tier::kMedium, payload.size(), k, m);
  Encoded e = Encode(payload, plan);
  for (uint32_t r = k; r < k + m; ++r) {
    for (uint64_t t = 0; t < plan.shard_size; ++t) {
      uint8_t expect = 0;
      for (uint32_t c = 0; c < k; ++c) {
        expect ^= gf_mul(gf_inv(static_cast<uint8_t>(r ^ c)), e.fragments[c][t]);
      }
      ASSERT_EQ(e.fragments[r][t], expect) << "fragment " << r << " offset " << t;
    }
  }
}

TEST(FragmentCodecTest, EveryLossPatternSmallCodesAndAwkwardSizes) {
  for (auto [k, m] : {std::pair{4u, 2u}, std::pair{6u, 3u}}) {
    for (std::size_t size : {std::size_t{0}, std::size_t{1}, std::size_t{k - 1}, std::size_t{k + 1},
                             std::size_t{1000}, std::size_t{4099}}) {
      auto payload = RandomBytes(size, static_cast<uint32_t>(size + k));
      auto plan = *core::MakePlan(Tier::kMedium, size, k, m);
      Encoded e = Encode(payload, plan);
      int patterns = 0;
      ForEachSubset(static_cast<int>(k + m), static_cast<int>(m),
                    [&](const std::vector<int>& lost) {
                      ++patterns;
                      for (bool seq : {false, true}) {
                        auto out = Decode(e, lost, seq);
                        ASSERT_TRUE(out.ok()) << out.error().ToString();
                        ASSERT_EQ(*out, payload) << "size " << size << " seq " << seq;
                      }
                    });
      EXPECT_EQ(patterns, k == 4 ? 22 : 130);
    }
  }
}

TEST(FragmentCodecTest, RandomLossPatternsTierCodes) {
  std::mt19937 rng(11);
  for (auto [tier, k, m] :
       {std::tuple{Tier::kMedium, 16u, 8u}, std::tuple{Tier::kLarge, 48u, 24u}}) {
    auto payload = RandomBytes(k * 1000 + 17, k);
    auto plan = *core::MakePlan(tier, payload.size(), k, m);
    Encoded e = Encode(payload, plan, 256);
    for (int trial = 0; trial < 12; ++trial) {
      std::vector<int> idx(k + m);
      std::iota(idx.begin(), idx.end(), 0);
      std::shuffle(idx.begin(), idx.end(), rng);
      idx.resize(trial < 6 ? m : rng() % (m + 1));
      auto out = Decode(e, idx, trial % 2 == 0, 256);
      ASSERT_TRUE(out.ok()) << out.error().ToString();
      ASSERT_EQ(*out, payload);
    }
  }
}

TEST(FragmentCodecTest, FailsWithOneMoreThanParityLost) {
  auto payload = RandomBytes(5000, 3);
  auto plan = *core::MakePlan(Tier::kMedium, payload.size(), 6, 3);
  Encoded e = Encode(payload, plan);
  for (bool seq : {false, true}) {
    auto out = Decode(e, {0, 2, 5, 7}, seq);
    ASSERT_FALSE(out.ok());
    EXPECT_EQ(out.error().code, ErrorCode::kInsufficientShards);
    EXPECT_NE(out.error().message.find("only 5 good fragments of 9; 6 are needed"),
              std::string::npos)
        << out.error().message;
  }
}

TEST(FragmentCodecTest, CorruptFragmentIsSkippedNeverDecoded) {
  auto payload = RandomBytes(6000, 4);
  auto plan = *core::MakePlan(Tier::kMedium, payload.size(), 4, 2);
  Encoded e = Encode(payload, plan);
  e.fragments[1][500] ^= 0x01;  // one flipped bit in a data shard
  std::vector<std::unique_ptr<core::MemorySource>> srcs;
  std::vector<FragmentInput> inputs;
  for (uint32_t i = 0; i < 6; ++i) {
    srcs.push_back(std::make_unique<core::MemorySource>(e.fragments[i]));
    inputs.push_back({i, srcs.back().get()});
  }
  core::MemorySink out;
  auto r = DecodeTessera(e.table, inputs, static_cast<core::RandomAccessSink&>(out));
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(out.bytes(), payload);
  ASSERT_EQ(r->rejected, std::vector<uint32_t>{1});
  EXPECT_NE(r->reasons[0].find("checksum mismatch"), std::string::npos);
  EXPECT_EQ(std::count(r->used.begin(), r->used.end(), 1u), 0);

  // With only k fragments offered, one of them corrupt: an error and no output.
  std::vector<FragmentInput> only_k(inputs.begin(), inputs.begin() + 4);
  core::MemorySink out2;
  auto r2 = DecodeTessera(e.table, only_k, static_cast<core::RandomAccessSink&>(out2));
  ASSERT_FALSE(r2.ok());
  EXPECT_EQ(r2.error().code, ErrorCode::kInsufficientShards);
  EXPECT_NE(r2.error().message.find("fragment 1: checksum mismatch"), std::string::npos);
  EXPECT_TRUE(out2.bytes().empty());
  EXPECT_FALSE(out2.finished());
}

TEST(FragmentCodecTest, WrongSizeDuplicateAndOutOfRangeFragmentsAreRejected) {
  auto payload = RandomBytes(4000, 5);
  auto plan = *core::MakePlan(Tier::kMedium, payload.size(), 4, 2);
  Encoded e = Encode(payload, plan);
  std::vector<uint8_t> truncated(e.fragments[0].begin(), e.fragments[0].end() - 1);
  core::MemorySource t(truncated), d1(e.fragments[1]), d1b(e.fragments[1]), d2(e.fragments[2]),
      d3(e.fragments[3]), p4(e.fragments[4]), bogus(e.fragments[5]);
  std::vector<FragmentInput> inputs = {{0, &t},  {1, &d1}, {1, &d1b}, {9, &bogus},
                                       {2, &d2}, {3, &d3}, {4, &p4}};
  core::MemorySink out;
  auto r = DecodeTessera(e.table, inputs, static_cast<core::ByteSink&>(out));
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(out.bytes(), payload);
  // Checking stops once k fragments are good, so index 9 (sorted last) is never read.
  EXPECT_EQ(r->rejected, (std::vector<uint32_t>{0, 1}));
  EXPECT_EQ(r->used, (std::vector<uint32_t>{1, 2, 3, 4}));

  std::vector<FragmentInput> few = {{9, &bogus}, {2, &d2}, {3, &d3}, {4, &p4}};
  auto sel = SelectVerifiedFragments(e.table, few);
  ASSERT_FALSE(sel.ok());
  EXPECT_NE(sel.error().message.find("fragment 9: index outside the plan"), std::string::npos)
      << sel.error().message;
}

TEST(FragmentCodecTest, SmallTierIsTheWholePayload) {
  auto payload = RandomBytes(core::kSmallTierLimit - 1, 6);
  core::MemorySource src(payload);
  core::MemorySink sink;
  core::ByteSink* ptr = &sink;
  auto table = EncodeTessera(crypto::Blake3(payload), src, std::span(&ptr, 1));
  ASSERT_TRUE(table.ok()) << table.error().ToString();
  EXPECT_EQ(table->plan.tier, Tier::kSmall);
  EXPECT_EQ(table->checksums.size(), 1u);
  EXPECT_EQ(sink.bytes(), payload);
  EXPECT_EQ(table->checksums[0], crypto::Blake3(payload));
}

TEST(FragmentCodecTest, MediumTierAtExactlyFourMiB) {
  auto payload = RandomBytes(core::kSmallTierLimit, 7);
  auto plan = *core::PlanForSize(payload.size());
  ASSERT_EQ(plan.total_shards(), 24u);
  Encoded e = Encode(payload, plan, 16 * 1024);
  auto out = Decode(e, {0, 3, 5, 7, 9, 11, 13, 15}, false, 16 * 1024);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(*out, payload);
}

TEST(FragmentCodecTest, EncodeChecksInputs) {
  auto payload = RandomBytes(100, 8);
  core::MemorySource src(payload);
  auto plan = *core::MakePlan(Tier::kMedium, 101, 4, 2);
  std::vector<core::MemorySink> sinks(6);
  std::vector<core::ByteSink*> ptrs;
  for (auto& s : sinks) ptrs.push_back(&s);
  EXPECT_EQ(EncodeTessera({}, plan, src, ptrs).error().code, ErrorCode::kInvalidArgument);
  plan = *core::MakePlan(Tier::kMedium, 100, 4, 2);
  ptrs.pop_back();
  EXPECT_EQ(EncodeTessera({}, plan, src, ptrs).error().code, ErrorCode::kInvalidArgument);
}

TEST(FragmentCodecTest, RebuildRecreatesExactFragments) {
  auto payload = RandomBytes(7777, 9);
  auto plan = *core::MakePlan(Tier::kMedium, payload.size(), 6, 3);
  Encoded e = Encode(payload, plan);
  std::vector<std::unique_ptr<core::MemorySource>> srcs;
  std::vector<FragmentInput> inputs;
  for (uint32_t i : {1u, 2u, 4u, 6u, 7u, 8u}) {
    srcs.push_back(std::make_unique<core::MemorySource>(e.fragments[i]));
    inputs.push_back({i, srcs.back().get()});
  }
  std::vector<uint32_t> wanted = {0, 3, 5};
  std::vector<core::MemorySink> sinks(3);
  std::vector<core::ByteSink*> ptrs = {&sinks[0], &sinks[1], &sinks[2]};
  auto r = RebuildFragments(e.table, inputs, wanted, ptrs);
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  for (std::size_t j = 0; j < 3; ++j) EXPECT_EQ(sinks[j].bytes(), e.fragments[wanted[j]]);

  // A forged table (one checksum changed) makes the rebuild refuse, finishing nothing.
  auto forged = e.table;
  forged.checksums[3].bytes[0] ^= 1;
  std::vector<core::MemorySink> sinks2(3);
  std::vector<core::ByteSink*> ptrs2 = {&sinks2[0], &sinks2[1], &sinks2[2]};
  auto r2 = RebuildFragments(forged, inputs, wanted, ptrs2);
  ASSERT_FALSE(r2.ok());
  EXPECT_EQ(r2.error().code, ErrorCode::kCorrupt);
  for (auto& s : sinks2) EXPECT_FALSE(s.finished());
}

class CodecFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("tesseras-codec-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

TEST_F(CodecFilesTest, FileAndStreamEncodingAgreeAndDecodeFromFiles) {
  auto payload = RandomBytes(5 * core::kMiB + 123, 10);
  auto in_path = dir_ / "payload.bin";
  {
    auto sink = *FileSink::Create(in_path);
    ASSERT_TRUE(sink->Write(payload).ok());
    ASSERT_TRUE(sink->Finish().ok());
  }
  auto hash = crypto::Blake3(payload);
  auto t1 = EncodeFileToDirectory(hash, in_path, dir_ / "a");
  ASSERT_TRUE(t1.ok()) << t1.error().ToString();
  ASSERT_EQ(t1->plan.tier, Tier::kMedium);
  core::MemorySource stream(payload);
  auto t2 = EncodeStreamToDirectory(hash, t1->plan, stream, dir_ / "b");
  ASSERT_TRUE(t2.ok()) << t2.error().ToString();
  EXPECT_EQ(*t1, *t2);
  for (uint32_t i = 0; i < 24; ++i) {
    EXPECT_TRUE(std::filesystem::exists(dir_ / "a" / ShardFileName(i)));
  }
  // No temporary files are left behind.
  for (auto& entry : std::filesystem::directory_iterator(dir_ / "a")) {
    EXPECT_EQ(entry.path().extension(), ".shard") << entry.path();
  }
  // Drop 8 shards (all parity-equivalent worst case: 8 data shards), decode from files.
  std::vector<std::unique_ptr<FileSource>> files;
  std::vector<FragmentInput> inputs;
  for (uint32_t i = 8; i < 24; ++i) {
    files.push_back(*FileSource::Open(dir_ / "b" / ShardFileName(i)));
    inputs.push_back({i, files.back().get()});
  }
  for (bool seq : {false, true}) {
    auto out_path = dir_ / (seq ? "out-seq" : "out-ra");
    auto sink = *FileSink::Create(out_path);
    CodecOptions opt;
    opt.scratch_dir = dir_;
    auto r = seq ? DecodeTessera(*t1, inputs, static_cast<core::ByteSink&>(*sink), opt)
                 : DecodeTessera(*t1, inputs, static_cast<core::RandomAccessSink&>(*sink), opt);
    ASSERT_TRUE(r.ok()) << r.error().ToString();
    auto back = *FileSource::Open(out_path);
    ASSERT_EQ(back->Size(), payload.size());
    std::vector<uint8_t> got(payload.size());
    ASSERT_TRUE(back->ReadAt(0, got).ok());
    EXPECT_TRUE(got == payload);
  }
}

TEST_F(CodecFilesTest, StreamOfWrongLengthIsRefused) {
  auto payload = RandomBytes(1000, 12);
  auto plan = *core::MakePlan(Tier::kMedium, 1001, 4, 2);
  core::MemorySource short_stream(payload);
  auto r = EncodeStreamToDirectory({}, plan, short_stream, dir_ / "s");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("ended after 1000 of 1001"), std::string::npos);
  plan = *core::MakePlan(Tier::kMedium, 999, 4, 2);
  core::MemorySource long_stream(payload);
  r = EncodeStreamToDirectory({}, plan, long_stream, dir_ / "l");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("longer"), std::string::npos);
}

}  // namespace
}  // namespace tesseras::replication
