// BLAKE3 against Debian's b3sum on the official test-vector inputs
// (byte i = i mod 251, lengths from the BLAKE3 test_vectors.json).
#include "crypto/blake3_hasher.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

namespace tesseras::crypto {
namespace {

constexpr std::size_t kLengths[] = {0,    1,    1023, 1024,  1025,  2048,  2049, 3072,
                                    3073, 4096, 4097, 5120,  5121,  6144,  6145, 7168,
                                    7169, 8192, 8193, 16384, 31744, 102400};

std::vector<uint8_t> VectorInput(std::size_t n) {
  std::vector<uint8_t> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(i % 251);
  return v;
}

std::string RunCommand(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return out;
  std::array<char, 256> buf;
  while (fgets(buf.data(), buf.size(), p)) out += buf.data();
  int rc = pclose(p);
  EXPECT_EQ(rc, 0) << cmd;
  return out;
}

class Blake3VsB3sum : public ::testing::Test {
 protected:
  void SetUp() override {
    if (RunCommand("command -v b3sum || true").empty()) {
      GTEST_FAIL() << "b3sum is missing: run scripts/install-deps.sh";
    }
    dir_ = std::filesystem::temp_directory_path() / ("tesseras-b3-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::filesystem::path Write(std::size_t n) {
    auto p = dir_ / ("in-" + std::to_string(n));
    auto data = VectorInput(n);
    std::ofstream(p, std::ios::binary)
        .write(reinterpret_cast<const char*>(data.data()),
               static_cast<std::streamsize>(data.size()));
    return p;
  }
  std::filesystem::path dir_;
};

TEST_F(Blake3VsB3sum, HashMode) {
  for (std::size_t n : kLengths) {
    auto path = Write(n);
    std::string expected = RunCommand("b3sum --no-names " + path.string()).substr(0, 64);
    auto data = VectorInput(n);
    EXPECT_EQ(Blake3(data).ToHex(), expected) << "length " << n;
    // The same through the streaming interface in uneven pieces.
    Blake3Hasher h;
    std::size_t off = 0, step = 1;
    while (off < n) {
      std::size_t take = std::min(step, n - off);
      h.Update(std::span(data.data() + off, take));
      off += take;
      step = step * 3 + 1;
    }
    EXPECT_EQ(h.Finalize().ToHex(), expected) << "streamed, length " << n;
  }
}

TEST_F(Blake3VsB3sum, DeriveKeyMode) {
  const std::string ctx = "tesseras 2026 node id v1";
  for (std::size_t n : {0u, 32u, 1025u}) {
    auto path = Write(n);
    std::string expected =
        RunCommand("b3sum --no-names --derive-key '" + ctx + "' " + path.string()).substr(0, 64);
    Blake3Hasher h = Blake3Hasher::ForContext(ctx);
    h.Update(VectorInput(n));
    EXPECT_EQ(h.Finalize().ToHex(), expected) << n;
  }
}

TEST_F(Blake3VsB3sum, XofLength) {
  auto path = Write(1025);
  std::string expected = RunCommand("b3sum --no-names -l 131 " + path.string()).substr(0, 262);
  Blake3Hasher h;
  h.Update(VectorInput(1025));
  std::vector<uint8_t> out(131);
  h.FinalizeXof(out);
  EXPECT_EQ(core::ToHex(out), expected);
}

// Published value (BLAKE3 test_vectors.json, input_len 0).
TEST(Blake3Test, EmptyInputPublishedVector) {
  EXPECT_EQ(Blake3({}).ToHex(), "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262");
}

TEST(Blake3Test, StreamHelperCountsBytes) {
  auto data = VectorInput(200000);
  core::MemorySource src(data);
  uint64_t n = 0;
  auto h = Blake3Stream(src, &n);
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(n, data.size());
  EXPECT_EQ(*h, Blake3(data));
}

}  // namespace
}  // namespace tesseras::crypto
