#include "storage/bundle.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "crypto/blake3_hasher.h"
#include "storage/test_util.h"

namespace tesseras::storage {
namespace {

using core::ContentHash;
using core::ErrorCode;
using core::MemorySink;
using core::MemorySource;

void WriteFile(const std::filesystem::path& p, const std::vector<uint8_t>& bytes) {
  std::filesystem::create_directories(p.parent_path());
  std::ofstream f(p, std::ios::binary);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

std::vector<uint8_t> ReadFile(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), {});
}

crypto::Identity Creator(uint8_t seed = 1) {
  crypto::Seed s;
  s.fill(seed);
  auto id = crypto::Identity::FromSeed(s, 0);
  EXPECT_TRUE(id.ok());
  return std::move(id).value();
}

// Builds a payload by hand from any manifest (even an invalid one), signed by
// `creator`, so that the decoder's own checks are what is tested.
std::vector<uint8_t> ForgePayload(const Manifest& m, const std::vector<std::vector<uint8_t>>& files,
                                  const crypto::Identity& creator) {
  std::vector<uint8_t> manifest = m.Encode();
  std::vector<uint8_t> msg(kManifestSignatureContext.begin(), kManifestSignatureContext.end());
  msg.push_back(0);
  msg.insert(msg.end(), manifest.begin(), manifest.end());
  crypto::Signature sig = creator.Sign(msg);
  std::vector<uint8_t> out(kBundleMagic.begin(), kBundleMagic.end());
  out.push_back(1);
  out.push_back(0);
  out.push_back(0);
  out.push_back(0);
  uint32_t len = static_cast<uint32_t>(manifest.size());
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<uint8_t>(len >> (8 * i)));
  out.insert(out.end(), manifest.begin(), manifest.end());
  out.insert(out.end(), sig.begin(), sig.end());
  for (const auto& f : files) out.insert(out.end(), f.begin(), f.end());
  return out;
}

class BundleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    src_ = dir_.path() / "src";
    WriteFile(src_ / "photos" / "b.JPG", RandomBytes(3 * 1024 * 1024 + 17, 1));  // > one chunk
    WriteFile(src_ / "photos" / "a.png", RandomBytes(1000, 2));
    WriteFile(src_ / "photos" / "sub" / "empty.txt", {});
    WriteFile(src_ / "letter.md", RandomBytes(333, 3));
    inputs_ = {src_ / "photos", src_ / "letter.md"};
  }

  Bundle Create(int64_t when = 1'700'000'000'000) {
    auto b = CreateBundle(inputs_, creator_, when);
    EXPECT_TRUE(b.ok()) << b.error().ToString();
    return std::move(b).value();
  }

  std::vector<uint8_t> Pack(const Bundle& b) {
    MemorySink sink;
    auto h = PackBundle(b, sink);
    EXPECT_TRUE(h.ok()) << h.error().ToString();
    EXPECT_TRUE(sink.finished());
    if (h.ok()) {
      EXPECT_EQ(*h, b.tessera_hash);
    }
    return sink.bytes();
  }

  // Unpacking must fail with `code` and leave nothing behind.
  void ExpectRefused(const std::vector<uint8_t>& payload, ErrorCode code,
                     std::optional<ContentHash> expected = std::nullopt) {
    std::filesystem::path target = dir_.path() / "out" / "restored";
    MemorySource src(payload);
    auto r = UnpackBundle(static_cast<core::ByteSource&>(src), expected, target);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, code) << r.error().ToString();
    EXPECT_FALSE(std::filesystem::exists(target));
    if (std::filesystem::exists(dir_.path() / "out")) {
      EXPECT_TRUE(std::filesystem::is_empty(dir_.path() / "out"));  // no staging leftovers
    }
    EXPECT_FALSE(std::filesystem::exists(dir_.path() / "x"));
    EXPECT_FALSE(std::filesystem::exists(dir_.path() / "out" / "x"));
  }

  TempDir dir_;
  std::filesystem::path src_;
  std::vector<std::filesystem::path> inputs_;
  crypto::Identity creator_ = Creator();
};

TEST_F(BundleTest, ManifestListsFilesSortedWithHashesAndMediaTypes) {
  Bundle b = Create();
  const auto& files = b.manifest.files;
  ASSERT_EQ(files.size(), 4u);
  EXPECT_EQ(files[0].path, "letter.md");
  EXPECT_EQ(files[1].path, "photos/a.png");
  EXPECT_EQ(files[2].path, "photos/b.JPG");
  EXPECT_EQ(files[3].path, "photos/sub/empty.txt");
  EXPECT_EQ(files[0].media_type, "text/markdown");
  EXPECT_EQ(files[1].media_type, "image/png");
  EXPECT_EQ(files[2].media_type, "image/jpeg");
  EXPECT_EQ(files[2].size, 3u * 1024 * 1024 + 17);
  EXPECT_EQ(files[2].hash, crypto::Blake3(RandomBytes(3 * 1024 * 1024 + 17, 1)));
  EXPECT_EQ(files[3].size, 0u);
  EXPECT_EQ(b.manifest.creator, creator_.public_key());
  EXPECT_EQ(b.manifest.created_at_ms, 1'700'000'000'000);
  ASSERT_OK_AND_ASSIGN(Manifest decoded, Manifest::Decode(b.manifest_bytes));
  EXPECT_EQ(decoded, b.manifest);
}

TEST_F(BundleTest, PayloadIsCanonicalAndHashedWhole) {
  Bundle b1 = Create();
  Bundle b2 = Create();
  std::vector<uint8_t> p1 = Pack(b1), p2 = Pack(b2);
  EXPECT_EQ(p1, p2);
  EXPECT_EQ(b1.tessera_hash, b2.tessera_hash);
  EXPECT_EQ(b1.tessera_hash, crypto::Blake3(p1));
  EXPECT_EQ(b1.payload_size, p1.size());
  EXPECT_EQ(std::string(p1.begin(), p1.begin() + 8), "TESSBNDL");
  // Another creation time or creator is another tessera.
  EXPECT_NE(Create(1'700'000'000'001).tessera_hash, b1.tessera_hash);
}

TEST_F(BundleTest, UnpackRestoresFilesAndTheHashCanBeRecomputed) {
  Bundle b = Create();
  std::vector<uint8_t> payload = Pack(b);
  std::filesystem::path target = dir_.path() / "restore" / "here";
  MemorySource src(payload);
  ASSERT_OK_AND_ASSIGN(UnpackedBundle u, UnpackBundle(static_cast<core::RandomAccessSource&>(src),
                                                      b.tessera_hash, target));
  EXPECT_EQ(u.manifest, b.manifest);
  EXPECT_EQ(u.signature, b.signature);
  EXPECT_EQ(u.tessera_hash, b.tessera_hash);
  EXPECT_EQ(u.payload_size, payload.size());
  for (const auto& f : b.manifest.files) {
    EXPECT_EQ(ReadFile(target / f.path), ReadFile(src_ / f.path)) << f.path;
  }
  EXPECT_EQ(std::filesystem::directory_iterator(target.parent_path())->path(), target);
  // After a restore the tessera hash is recomputed from the files alone.
  ASSERT_OK_AND_ASSIGN(Bundle again, BundleFromDirectory(u.manifest, u.signature, target));
  EXPECT_EQ(again.tessera_hash, b.tessera_hash);
  EXPECT_EQ(Pack(again), payload);
  // Verification without writing agrees.
  MemorySource src2(payload);
  ASSERT_OK_AND_ASSIGN(UnpackedBundle v, VerifyBundle(src2, b.tessera_hash));
  EXPECT_EQ(v.tessera_hash, b.tessera_hash);
}

TEST_F(BundleTest, TamperedPayloadIsRefusedAndNothingWritten) {
  Bundle b = Create();
  const std::vector<uint8_t> payload = Pack(b);
  const std::size_t manifest_at = kBundleHeaderBytes;
  const std::size_t sig_at = manifest_at + b.manifest_bytes.size();
  const std::size_t data_at = sig_at + kBundleSignatureBytes;
  struct Case {
    std::size_t offset;
    ErrorCode code;
  };
  // Offsets in the magic, the manifest (the creation time, a file size, a file
  // hash), the signature, the first and the last file byte.
  const std::vector<Case> cases = {
      {0, ErrorCode::kCorrupt},
      {manifest_at + 33, ErrorCode::kCorrupt},
      {manifest_at + 44 + 2 + 9 + 3, ErrorCode::kCorrupt},
      {sig_at + 10, ErrorCode::kCorrupt},
      {data_at, ErrorCode::kCorrupt},
      {payload.size() - 1, ErrorCode::kCorrupt},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE("flipped byte at " + std::to_string(c.offset));
    std::vector<uint8_t> bad = payload;
    bad[c.offset] ^= 0x40;
    ExpectRefused(bad, c.code);
  }
  // Trailing bytes, truncation, the wrong expected hash, a newer version.
  std::vector<uint8_t> longer = payload;
  longer.push_back(0);
  ExpectRefused(longer, ErrorCode::kCorrupt);
  for (std::size_t cut : {std::size_t{3}, manifest_at + 10, sig_at + 1, payload.size() - 1}) {
    ExpectRefused(std::vector<uint8_t>(payload.begin(), payload.begin() + cut),
                  ErrorCode::kCorrupt);
  }
  ContentHash other = b.tessera_hash;
  other.bytes[0] ^= 1;
  ExpectRefused(payload, ErrorCode::kCorrupt, other);
  std::vector<uint8_t> v2 = payload;
  v2[8] = 2;
  ExpectRefused(v2, ErrorCode::kVersionMismatch);
}

TEST_F(BundleTest, PathsThatEscapeOrCollideAreRefused) {
  const std::vector<std::vector<std::string>> bad_sets = {
      {"../x"},
      {"/x"},
      {"a/../../x"},
      {"a//b"},
      {"a/./b"},
      {"a/"},
      {"."},
      {""},
      {"a\\..\\x"},
      {"a/b\x01"},
      {"x", "x"},
      {"x", "x/y"},
      {"b", "a"},  // unsorted
      {std::string("bad\xff\xfe")},
  };
  for (const auto& paths : bad_sets) {
    SCOPED_TRACE(paths[0]);
    Manifest m;
    m.creator = creator_.public_key();
    m.created_at_ms = 1;
    std::vector<std::vector<uint8_t>> contents;
    for (const auto& p : paths) {
      contents.push_back({'h', 'i'});
      m.files.push_back({p, 2, crypto::Blake3(contents.back()), "text/plain"});
    }
    ExpectRefused(ForgePayload(m, contents, creator_), ErrorCode::kInvalidArgument);
  }
  // The same forged structure with a harmless path unpacks: the checks above are
  // about the paths, not the forging.
  Manifest ok;
  ok.creator = creator_.public_key();
  ok.files.push_back({"x", 2, crypto::Blake3(std::vector<uint8_t>{'h', 'i'}), "text/plain"});
  std::vector<uint8_t> forged = ForgePayload(ok, {{'h', 'i'}}, creator_);
  MemorySource src(forged);
  EXPECT_OK(UnpackBundle(static_cast<core::ByteSource&>(src), std::nullopt, dir_.path() / "fine"));
  EXPECT_EQ(ReadFile(dir_.path() / "fine" / "x"), (std::vector<uint8_t>{'h', 'i'}));
}

TEST_F(BundleTest, SignatureByAnotherKeyIsRefused) {
  Manifest m;
  m.creator = creator_.public_key();  // claims our key ...
  m.files.push_back({"x", 1, crypto::Blake3(std::vector<uint8_t>{'z'}), "text/plain"});
  ExpectRefused(ForgePayload(m, {{'z'}}, Creator(2)),
                ErrorCode::kCorrupt);  // ... signed by another
}

TEST_F(BundleTest, ExistingTargetIsRefused) {
  Bundle b = Create();
  std::vector<uint8_t> payload = Pack(b);
  std::filesystem::create_directories(dir_.path() / "taken");
  MemorySource src(payload);
  auto r = UnpackBundle(static_cast<core::ByteSource&>(src), b.tessera_hash, dir_.path() / "taken");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kAlreadyExists);
  EXPECT_TRUE(std::filesystem::is_empty(dir_.path() / "taken"));
}

TEST_F(BundleTest, FileChangedAfterCreationFailsThePack) {
  Bundle b = Create();
  WriteFile(src_ / "letter.md", RandomBytes(333, 99));
  MemorySink sink;
  auto r = PackBundle(b, sink);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kCorrupt);
  EXPECT_FALSE(sink.finished());
}

TEST_F(BundleTest, SymlinksAndDuplicateNamesAreRefusedAtCreation) {
  ASSERT_EQ(::symlink("/etc/passwd", (src_ / "photos" / "link").c_str()), 0);
  auto r = CreateBundle(inputs_, creator_, 1);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  std::filesystem::remove(src_ / "photos" / "link");
  WriteFile(dir_.path() / "other" / "letter.md", {1});
  std::vector<std::filesystem::path> dup = {src_ / "letter.md",
                                            dir_.path() / "other" / "letter.md"};
  auto d = CreateBundle(dup, creator_, 1);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().code, ErrorCode::kInvalidArgument);
}

TEST(BundlePathTest, Validation) {
  for (const char* ok : {"a", "a/b/c.txt", "photos/été.jpg", "x..y", ".hidden", "a/...", "日本"}) {
    EXPECT_OK(ValidateBundlePath(ok));
  }
  for (const std::string& bad : std::vector<std::string>{
           "", "/", "/a", "a/", "..", "../a", "a/..", "a/./b", "a//b", "a\\b",
           std::string("a\0b", 3), "a\nb", std::string(256, 'x'), std::string(4097, 'a')}) {
    EXPECT_FALSE(ValidateBundlePath(bad).ok()) << bad;
  }
}

TEST(BundlePathTest, MediaTypes) {
  EXPECT_EQ(GuessMediaType("a/b/photo.JPEG"), "image/jpeg");
  EXPECT_EQ(GuessMediaType("song.flac"), "audio/flac");
  EXPECT_EQ(GuessMediaType("movie.mp4"), "video/mp4");
  EXPECT_EQ(GuessMediaType("README"), "application/octet-stream");
  EXPECT_EQ(GuessMediaType(".bashrc"), "application/octet-stream");
  EXPECT_EQ(GuessMediaType("dir.txt/file"), "application/octet-stream");
}

TEST(ManifestTest, EveryTruncationIsRefusedCleanly) {
  Manifest m;
  m.created_at_ms = 5;
  m.files.push_back({"a.txt", 3, ContentHash{}, "text/plain"});
  m.files.push_back({"b/c.bin", 0, ContentHash{}, "application/octet-stream"});
  std::vector<uint8_t> bytes = m.Encode();
  ASSERT_OK_AND_ASSIGN(Manifest back, Manifest::Decode(bytes));
  EXPECT_EQ(back, m);
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_FALSE(Manifest::Decode(std::span(bytes).first(n)).ok()) << n;
  }
  bytes.push_back(0);
  EXPECT_FALSE(Manifest::Decode(bytes).ok());
  // A huge file count with few bytes is refused before any allocation.
  std::vector<uint8_t> lying = Manifest{}.Encode();
  lying[40] = 0xff;
  lying[41] = 0xff;
  auto r = Manifest::Decode(lying);
  ASSERT_FALSE(r.ok());
}

}  // namespace
}  // namespace tesseras::storage

namespace tesseras::storage {
namespace {

// The worked example of docs/FORMAT.md ("Tessera bundle (payload) format"):
// if this changes, the format changed.
TEST(BundleFormatTest, GoldenVector) {
  TempDir dir;
  WriteFile(dir.path() / "hello.txt", {'h', 'e', 'l', 'l', 'o'});
  crypto::Identity creator = Creator(1);
  Manifest m;
  m.creator = creator.public_key();
  m.created_at_ms = 1'700'000'000'000;
  m.files.push_back({"hello.txt", 5, crypto::Blake3(std::vector<uint8_t>{'h', 'e', 'l', 'l', 'o'}),
                     "text/plain"});
  std::vector<uint8_t> manifest = m.Encode();
  ASSERT_EQ(manifest.size(), 32u + 8 + 4 + 2 + 9 + 8 + 32 + 1 + 10);
  std::vector<uint8_t> msg(kManifestSignatureContext.begin(), kManifestSignatureContext.end());
  msg.push_back(0);
  msg.insert(msg.end(), manifest.begin(), manifest.end());
  ASSERT_OK_AND_ASSIGN(Bundle b, BundleFromDirectory(m, creator.Sign(msg), dir.path()));
  MemorySink sink;
  ASSERT_OK(PackBundle(b, sink));
  EXPECT_EQ(sink.bytes().size(), 16u + manifest.size() + 64 + 5);
  EXPECT_EQ(core::ToHex(creator.public_key()),
            "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c");
  EXPECT_EQ(core::ToHex(std::span(sink.bytes()).first(16)), "54455353424e444c010000006a000000");
  EXPECT_EQ(b.tessera_hash.ToHex(),
            "7d6aeaf9af6b9dcffa5405e5aad0dd393a434608d65e1cc772d57bad59491535")
      << core::ToHex(sink.bytes());
  EXPECT_EQ(b.tessera_hash, crypto::Blake3(sink.bytes()));
}

}  // namespace
}  // namespace tesseras::storage
