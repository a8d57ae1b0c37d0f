#include "crypto/identity.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace tesseras::crypto {
namespace {

namespace fs = std::filesystem;

class IdentityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("tesseras-id-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(IdentityTest, SignAndVerify) {
  auto id = Identity::Generate();
  ASSERT_TRUE(id.ok());
  std::vector<uint8_t> msg = {1, 2, 3};
  auto sig = id->Sign(msg);
  EXPECT_TRUE(VerifySignature(id->public_key(), msg, sig));
  msg[0] ^= 1;
  EXPECT_FALSE(VerifySignature(id->public_key(), msg, sig));
  msg[0] ^= 1;
  sig[10] ^= 0x40;
  EXPECT_FALSE(VerifySignature(id->public_key(), msg, sig));
  EXPECT_FALSE(VerifySignature(id->public_key(), msg, std::span(sig.data(), 63)));
}

TEST_F(IdentityTest, NodeIdHasProofOfWork) {
  auto id = Identity::Generate(8);
  ASSERT_TRUE(id.ok());
  EXPECT_GE(PowBits(id->public_key(), id->pow_nonce()), 8);
  EXPECT_EQ(id->node_id(), NodeIdFromPublicKey(id->public_key()));
  EXPECT_TRUE(VerifyNodeIdentity(id->node_id(), id->public_key(), id->pow_nonce(), 8).ok());
}

TEST_F(IdentityTest, MismatchedIdOrWeakProofIsRefused) {
  auto a = *Identity::Generate(8);
  auto b = *Identity::Generate(8);
  auto r = VerifyNodeIdentity(a.node_id(), b.public_key(), b.pow_nonce(), 8);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, core::ErrorCode::kPermissionDenied);
  // Find a nonce that fails the 8-bit proof.
  uint64_t bad = 0;
  while (PowBits(a.public_key(), bad) >= 8) ++bad;
  r = VerifyNodeIdentity(a.node_id(), a.public_key(), bad, 8);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("proof of work"), std::string::npos);
}

TEST_F(IdentityTest, DeterministicFromSeed) {
  Seed seed{};
  seed[0] = 42;
  auto a = *Identity::FromSeed(seed, 4);
  auto b = *Identity::FromSeed(seed, 4);
  EXPECT_EQ(a.public_key(), b.public_key());
  EXPECT_EQ(a.node_id(), b.node_id());
  EXPECT_EQ(a.pow_nonce(), b.pow_nonce());
}

TEST_F(IdentityTest, SaveLoadWithMode0600) {
  auto id = *Identity::Generate();
  auto path = dir_ / "node.key";
  ASSERT_TRUE(id.Save(path).ok());
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto loaded = Identity::Load(path);
  ASSERT_TRUE(loaded.ok()) << loaded.error().ToString();
  EXPECT_EQ(loaded->node_id(), id.node_id());
  EXPECT_EQ(loaded->pow_nonce(), id.pow_nonce());
  std::vector<uint8_t> msg = {7};
  EXPECT_TRUE(VerifySignature(id.public_key(), msg, loaded->Sign(msg)));
}

TEST_F(IdentityTest, LoadOrCreateReusesKey) {
  auto path = dir_ / "k";
  auto a = Identity::LoadOrCreate(path);
  ASSERT_TRUE(a.ok());
  auto b = Identity::LoadOrCreate(path);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(a->node_id(), b->node_id());
}

TEST_F(IdentityTest, RejectsWorldReadableAndCorruptFiles) {
  auto id = *Identity::Generate();
  auto path = dir_ / "node.key";
  ASSERT_TRUE(id.Save(path).ok());
  ::chmod(path.c_str(), 0644);
  auto r = Identity::Load(path);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, core::ErrorCode::kPermissionDenied);

  auto bad = dir_ / "bad.key";
  { std::ofstream(bad) << "tesseras-node-key v1\nseed zz\npow-nonce 1\n"; }
  ::chmod(bad.c_str(), 0600);
  r = Identity::Load(bad);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, core::ErrorCode::kCorrupt);

  EXPECT_EQ(Identity::Load(dir_ / "missing").error().code, core::ErrorCode::kIo);
}

}  // namespace
}  // namespace tesseras::crypto
