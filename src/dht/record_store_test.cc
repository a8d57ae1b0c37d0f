// The record store's rules (record_store.h): one record per (key, type,
// publisher), caps per key, per subnet and in all, and the eviction rule that
// keeps honest records against floods from many cheap identities.
#include "dht/record_store.h"

#include <gtest/gtest.h>

#include <cstdio>

namespace tesseras::dht {
namespace {

using core::ErrorCode;
constexpr int64_t kNow = 1'800'000'000'000;

class RecordStoreTest : public ::testing::Test {
 protected:
  static const crypto::Identity& Id(int i) {
    static std::vector<crypto::Identity> ids = [] {
      std::vector<crypto::Identity> v;
      for (int n = 0; n < 400; ++n) v.push_back(crypto::Identity::Generate(0).value());
      return v;
    }();
    return ids.at(static_cast<std::size_t>(i));
  }
  static core::NodeId Key(uint8_t b) {
    core::NodeId k;
    k.bytes.fill(b);
    return k;
  }
  static net::Subnet Net(int a, int b) {
    return net::SubnetOf(
        boost::asio::ip::make_address("10." + std::to_string(a) + "." + std::to_string(b) + ".1"));
  }
  static Record Rec(int who, uint32_t type, const core::NodeId& key,
                    int64_t expires = kNow + 60'000, std::size_t value_bytes = 8) {
    std::vector<uint8_t> v(value_bytes, static_cast<uint8_t>(who));
    return Record::Sign(Id(who), type, key, v, expires).value();
  }
};

TEST_F(RecordStoreTest, APublisherAlwaysReplacesItsOwnRecord) {
  RecordStoreLimits l;
  l.max_holder_records_per_key = 2;
  RecordStore store(l);
  const auto key = Key(1);
  ASSERT_TRUE(store.Put(Rec(0, kHolderRecord, key), Net(0, 0), kNow).ok());  // the owner
  ASSERT_TRUE(store.Put(Rec(1, kHolderRecord, key), Net(1, 0), kNow).ok());  // a stranger
  std::string_view why;
  EXPECT_EQ(store.Put(Rec(2, kHolderRecord, key), Net(2, 0), kNow, &why).error().code,
            ErrorCode::kResourceExhausted);
  EXPECT_EQ(why, "record_key_full");
  // The key is full, yet the owner's new record (after a repair) replaces its old one.
  ASSERT_TRUE(store.Put(Rec(0, kHolderRecord, key, kNow + 90'000, 20), Net(0, 0), kNow).ok());
  auto got = store.Get(key, kNow);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].publisher, Id(0).public_key());
  EXPECT_EQ(got[0].value.size(), 20u);
  // A replay of the owner's older record is refused and changes nothing.
  EXPECT_EQ(store.Put(Rec(0, kHolderRecord, key), Net(7, 7), kNow, &why).error().code,
            ErrorCode::kAlreadyExists);
  EXPECT_EQ(why, "record_stale");
  EXPECT_EQ(store.Get(key, kNow)[0].value.size(), 20u);
}

// Types share a key but not their caps: a Large tessera's key carries a claim
// per holder (72, and more while repairs run) beside the owners' records.
TEST_F(RecordStoreTest, AKeyCarriesAClaimPerHolderAndTheOwnersRecords) {
  RecordStore store;
  const auto key = Key(2);
  for (int i = 0; i < 150; ++i) {
    ASSERT_TRUE(store.Put(Rec(i, kHolderClaim, key), Net(i / 2, 0), kNow).ok()) << i;
  }
  for (int i = 150; i < 166; ++i) {
    ASSERT_TRUE(store.Put(Rec(i, kHolderRecord, key), Net(i, 1), kNow).ok()) << i;
  }
  auto got = store.Get(key, kNow);
  ASSERT_EQ(got.size(), 166u);
  EXPECT_EQ(got[0].type, kHolderRecord);  // owners' records first
  EXPECT_EQ(got.back().type, kHolderClaim);
}

// Many cheap identities on one /24: at most max_per_key_per_subnet records of
// a key come from there, so the owner's record (stored first or last) stays.
TEST_F(RecordStoreTest, ManyIdentitiesOnOneSubnetTakeAFewSlots) {
  RecordStore store;
  const auto key = Key(3);
  int refused = 0;
  for (int i = 1; i <= 200; ++i) {
    std::string_view why;
    auto r = store.Put(Rec(i, kHolderRecord, key), Net(66, 6), kNow, &why);
    if (!r.ok()) {
      ++refused;
      EXPECT_EQ(why, "record_subnet_key");
    }
  }
  EXPECT_EQ(refused, 200 - 8);
  ASSERT_TRUE(store.Put(Rec(0, kHolderRecord, key), Net(1, 1), kNow).ok());
  std::printf("one /24, 200 identities: %d of 200 refused, owner's record stored\n", refused);
}

// An attacker on many /24s fills the key first; an honest newcomer from a
// fresh subnet then evicts the youngest record of the most crowded subnet,
// and a resident alone on its subnet is never evicted.
TEST_F(RecordStoreTest, EvictionKeepsResidentsAloneOnTheirSubnet) {
  RecordStoreLimits l;
  l.max_holder_records_per_key = 10;
  RecordStore store(l);
  const auto key = Key(4);
  ASSERT_TRUE(store.Put(Rec(0, kHolderRecord, key), Net(1, 1), kNow).ok());  // honest, alone
  for (int i = 1; i < 10; ++i) {  // 9 junk records from 3 subnets, 3 each
    ASSERT_TRUE(store.Put(Rec(i, kHolderRecord, key), Net(200, i % 3), kNow).ok());
  }
  // A newcomer from a fresh subnet: a crowded subnet (3) gives up its youngest.
  ASSERT_TRUE(store.Put(Rec(20, kHolderRecord, key), Net(2, 2), kNow).ok());
  auto got = store.Get(key, kNow);
  ASSERT_EQ(got.size(), 10u);
  bool owner = false, newcomer = false, youngest_junk = false;
  for (const auto& r : got) {
    owner |= r.publisher == Id(0).public_key();
    newcomer |= r.publisher == Id(20).public_key();
    youngest_junk |= r.publisher == Id(9).public_key();
  }
  EXPECT_TRUE(owner);
  EXPECT_TRUE(newcomer);
  EXPECT_FALSE(youngest_junk);  // record 9 was the youngest of the crowded subnet 200.0
  // Junk spread one per subnet can no longer evict anybody: refused.
  for (int i = 30; i < 60; ++i) {
    (void)store.Put(Rec(i, kHolderRecord, key), Net(100 + i, 0), kNow);
  }
  got = store.Get(key, kNow);
  owner = newcomer = false;
  for (const auto& r : got) {
    owner |= r.publisher == Id(0).public_key();
    newcomer |= r.publisher == Id(20).public_key();
  }
  EXPECT_TRUE(owner);
  EXPECT_TRUE(newcomer);
  EXPECT_EQ(got.size(), 10u);
}

TEST_F(RecordStoreTest, GlobalCapsEvictFromTheLargestSubnet) {
  RecordStoreLimits l;
  l.max_records = 20;
  l.max_per_subnet = 15;
  RecordStore store(l);
  for (int i = 0; i < 15; ++i) {  // one subnet, many keys
    ASSERT_TRUE(
        store.Put(Rec(i, kHolderClaim, Key(static_cast<uint8_t>(i))), Net(9, 9), kNow).ok());
  }
  std::string_view why;
  EXPECT_EQ(store.Put(Rec(15, kHolderClaim, Key(99)), Net(9, 9), kNow, &why).error().code,
            ErrorCode::kResourceExhausted);
  EXPECT_EQ(why, "record_subnet");
  for (int i = 20; i < 25; ++i) {
    ASSERT_TRUE(store.Put(Rec(i, kHolderClaim, Key(50)), Net(i, 0), kNow).ok());
  }
  EXPECT_EQ(store.size(), 20u);
  // Full: an honest newcomer takes the place of the crowded subnet's youngest.
  ASSERT_TRUE(store.Put(Rec(30, kHolderClaim, Key(60)), Net(30, 0), kNow).ok());
  EXPECT_EQ(store.size(), 20u);
  EXPECT_TRUE(store.Get(Key(14), kNow).empty());
  EXPECT_EQ(store.Get(Key(0), kNow).size(), 1u);
  // Bytes are capped as well.
  RecordStoreLimits b;
  b.max_bytes = 3 * (kRecordOverhead + 1000);
  RecordStore small(b);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(small.Put(Rec(i, kHolderClaim, Key(1), kNow + 1000, 1000), Net(i, 0), kNow).ok());
  }
  EXPECT_EQ(
      small.Put(Rec(5, kHolderClaim, Key(1), kNow + 1000, 1000), Net(5, 0), kNow).error().code,
      ErrorCode::kResourceExhausted);
  EXPECT_LE(small.bytes(), b.max_bytes);
  small.Expire(kNow + 1000);
  EXPECT_EQ(small.size(), 0u);
  EXPECT_EQ(small.bytes(), 0u);
}

}  // namespace
}  // namespace tesseras::dht
