#include "dht/record.h"

#include <gtest/gtest.h>

#include "dht/contact.h"
#include "dht/record_store.h"

namespace tesseras::dht {
namespace {

using core::ErrorCode;
constexpr int64_t kNow = 1'800'000'000'000;

class RecordTest : public ::testing::Test {
 protected:
  RecordTest() : owner_(crypto::Identity::Generate(2).value()) {}
  Record Make(std::string value, int64_t expires = kNow + 60'000) {
    core::NodeId key;
    key.bytes.fill(0x42);
    std::vector<uint8_t> v(value.begin(), value.end());
    return Record::Sign(owner_, kHolderRecord, key, v, expires).value();
  }
  crypto::Identity owner_;
};

TEST_F(RecordTest, RoundTripAndVerify) {
  auto r = Make("holders: a, b, c");
  auto bytes = r.Encode();
  EXPECT_EQ(bytes.size(), kRecordOverhead + 16);
  auto parsed = Record::ParseVerified(bytes);
  ASSERT_TRUE(parsed.ok()) << parsed.error().ToString();
  EXPECT_EQ(*parsed, r);
}

TEST_F(RecordTest, TamperingDetected) {
  auto bytes = Make("holders: a").Encode();
  bytes[kRecordOverhead - 64 + 2] ^= 1;  // inside the value
  auto r = Record::ParseVerified(bytes);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kCorrupt);
  // Another publisher's key with this signature.
  auto rec = Make("x");
  rec.publisher = crypto::Identity::Generate(2).value().public_key();
  EXPECT_EQ(rec.Verify().error().code, ErrorCode::kCorrupt);
}

TEST_F(RecordTest, MalformedEncodingsRefused) {
  auto bytes = Make("abc").Encode();
  EXPECT_FALSE(Record::Parse(std::span(bytes).first(bytes.size() - 1)).ok());
  auto longer = bytes;
  longer.push_back(0);
  EXPECT_FALSE(Record::Parse(longer).ok());
  auto magic = bytes;
  magic[0] = 'X';
  EXPECT_FALSE(Record::Parse(magic).ok());
  auto huge = bytes;
  huge[4 + 4 + 32 + 32 + 8] = 0xff;  // value_length over the limit
  EXPECT_FALSE(Record::Parse(huge).ok());
  std::vector<uint8_t> big(kMaxRecordValue + 1, 1);
  EXPECT_FALSE(Record::Sign(owner_, 1, core::NodeId{}, big, kNow).ok());
}

TEST_F(RecordTest, StoreChecksSignatureExpiryAndLimits) {
  RecordStore store(RecordStoreLimits{10, 2, 3'600'000});
  auto good = Make("a");
  EXPECT_TRUE(store.Put(good, kNow).ok());
  auto forged = Make("b");
  forged.value[0] = 'c';
  EXPECT_EQ(store.Put(forged, kNow).error().code, ErrorCode::kCorrupt);
  EXPECT_EQ(store.Put(Make("old", kNow - 1), kNow).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(store.Put(Make("far", kNow + 7'200'000), kNow).error().code,
            ErrorCode::kInvalidArgument);
  // Same publisher and type, later expiry: replaces (a new version, a
  // republish), no new slot; an older one does not replace it.
  EXPECT_TRUE(store.Put(Make("a2", kNow + 120'000), kNow).ok());
  EXPECT_EQ(store.size(), 1u);
  EXPECT_TRUE(store.Put(Make("a1", kNow + 90'000), kNow).ok());
  ASSERT_EQ(store.Get(good.key, kNow).size(), 1u);
  EXPECT_EQ(store.Get(good.key, kNow)[0].value, std::vector<uint8_t>({'a', '2'}));
  // Other publishers take their own slots, up to the per-key limit.
  auto other = [&](std::string value, int64_t expires) {
    auto id = crypto::Identity::Generate(2).value();
    std::vector<uint8_t> v(value.begin(), value.end());
    return Record::Sign(id, kHolderRecord, good.key, v, expires).value();
  };
  EXPECT_TRUE(store.Put(other("b", kNow + 60'000), kNow).ok());
  EXPECT_EQ(store.Put(other("c", kNow + 60'000), kNow).error().code, ErrorCode::kResourceExhausted);
  auto got = store.Get(good.key, kNow);
  ASSERT_EQ(got.size(), 2u);
  store.Expire(kNow + 60'000);
  EXPECT_EQ(store.size(), 1u);
  EXPECT_EQ(store.Get(good.key, kNow + 60'000).size(), 1u);
}

TEST(ContactTest, LookupResultsMustProveTheirIds) {
  auto id = crypto::Identity::Generate(4).value();
  Contact c;
  c.id = id.node_id();
  c.public_key = id.public_key();
  c.pow_nonce = id.pow_nonce();
  c.endpoint = net::tcp::endpoint(net::asio::ip::make_address("127.0.9.1"), 4000);
  wire::NodeContact w;
  ToWire(c, &w);
  auto back = FromWire(w, 4);
  ASSERT_TRUE(back.ok()) << back.error().ToString();
  EXPECT_EQ(*back, c);
  // Someone else's key under this id.
  auto other = crypto::Identity::Generate(4).value();
  w.set_public_key(std::string(other.public_key().begin(), other.public_key().end()));
  EXPECT_EQ(FromWire(w, 4).error().code, ErrorCode::kPermissionDenied);
  // The right key with a proof below the required difficulty.
  ToWire(c, &w);
  uint64_t weak = 0;
  while (crypto::PowBits(id.public_key(), weak) >= 4) ++weak;
  w.set_pow_nonce(weak);
  EXPECT_EQ(FromWire(w, 4).error().code, ErrorCode::kPermissionDenied);
  ToWire(c, &w);
  w.set_ip(std::string(4, '\0'));
  EXPECT_FALSE(FromWire(w, 4).ok());
}

}  // namespace
}  // namespace tesseras::dht
