#include "storage/blob_store.h"

#include <gtest/gtest.h>

#include <fstream>

#include "crypto/blake3_hasher.h"
#include "storage/test_util.h"

namespace tesseras::storage {
namespace {

using core::ErrorCode;
using core::MemorySource;

FsBlobStoreOptions NoMinimum() {
  FsBlobStoreOptions o;
  o.min_free_bytes = 0;
  return o;
}

TEST(BlobStoreTest, PutOpenContainsRemove) {
  TempDir dir;
  ASSERT_OK_AND_ASSIGN(auto store, FsBlobStore::Open(dir.path(), NoMinimum()));
  auto bytes = RandomBytes(2 * 1024 * 1024 + 5, 1);
  auto hash = crypto::Blake3(bytes);
  ASSERT_OK_AND_ASSIGN(bool before, store->Contains(hash));
  EXPECT_FALSE(before);
  MemorySource src(bytes);
  ASSERT_OK(store->Put(hash, bytes.size(), src));
  EXPECT_TRUE(
      std::filesystem::exists(dir.path() / "blobs" / hash.ToHex().substr(0, 2) / hash.ToHex()));
  ASSERT_OK_AND_ASSIGN(bool after, store->Contains(hash));
  EXPECT_TRUE(after);
  ASSERT_OK_AND_ASSIGN(auto reader, store->Open(hash));
  EXPECT_EQ(reader->Size(), bytes.size());
  std::vector<uint8_t> back(bytes.size());
  ASSERT_OK(reader->ReadAt(0, back));
  EXPECT_EQ(back, bytes);
  EXPECT_OK(store->Verify(hash));
  // Idempotent.
  MemorySource again(bytes);
  EXPECT_OK(store->Put(hash, bytes.size(), again));
  ASSERT_OK(store->Remove(hash));
  EXPECT_EQ(store->Remove(hash).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(store->Open(hash).error().code, ErrorCode::kNotFound);
}

TEST(BlobStoreTest, WrongBytesAreRefusedAndLeaveNothing) {
  TempDir dir;
  ASSERT_OK_AND_ASSIGN(auto store, FsBlobStore::Open(dir.path(), NoMinimum()));
  auto bytes = RandomBytes(1000, 2);
  auto hash = crypto::Blake3(bytes);
  auto other = RandomBytes(1000, 3);
  MemorySource src(other);
  auto r = store->Put(hash, other.size(), src);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kCorrupt);
  MemorySource shorter(bytes);
  EXPECT_EQ(store->Put(hash, bytes.size() + 1, shorter).error().code, ErrorCode::kCorrupt);
  ASSERT_OK_AND_ASSIGN(bool has, store->Contains(hash));
  EXPECT_FALSE(has);
  std::size_t files = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir.path() / "blobs")) {
    files += e.is_regular_file() ? 1 : 0;
  }
  EXPECT_EQ(files, 0u);
}

TEST(BlobStoreTest, CorruptBlobIsCaughtAndLeftoversRemovedOnOpen) {
  TempDir dir;
  auto bytes = RandomBytes(5000, 4);
  auto hash = crypto::Blake3(bytes);
  std::filesystem::path p;
  {
    ASSERT_OK_AND_ASSIGN(auto store, FsBlobStore::Open(dir.path(), NoMinimum()));
    MemorySource src(bytes);
    ASSERT_OK(store->Put(hash, bytes.size(), src));
    p = store->PathOf(hash);
  }
  { std::ofstream(p.parent_path() / ".abc.0011223344556677.tmp") << "partial"; }
  {
    std::fstream f(p, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(100);
    f.put(static_cast<char>(bytes[100] ^ 0xff));
  }
  ASSERT_OK_AND_ASSIGN(auto store, FsBlobStore::Open(dir.path(), NoMinimum()));
  EXPECT_EQ(store->removed_temp_files(), 1u);
  auto r = store->Verify(hash);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kCorrupt);
  ASSERT_OK_AND_ASSIGN(bool has, store->Contains(hash));
  EXPECT_FALSE(has);
}

TEST(BlobStoreTest, FreeSpaceMinimum) {
  TempDir dir;
  FsBlobStoreOptions opts;
  opts.min_free_bytes = UINT64_MAX / 2;
  ASSERT_OK_AND_ASSIGN(auto store, FsBlobStore::Open(dir.path(), opts));
  auto bytes = RandomBytes(10, 5);
  MemorySource src(bytes);
  auto r = store->Put(crypto::Blake3(bytes), bytes.size(), src);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kResourceExhausted);
}

}  // namespace
}  // namespace tesseras::storage
