#include "dht/record.h"

#include <algorithm>
#include <cstring>

namespace tesseras::dht {
namespace {

constexpr uint8_t kMagic[4] = {'T', 'S', 'R', '1'};

void PutBE(uint8_t* p, uint64_t v, int n) {
  for (int i = 0; i < n; ++i) p[i] = static_cast<uint8_t>(v >> (8 * (n - 1 - i)));
}
uint64_t GetBE(const uint8_t* p, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; ++i) v = (v << 8) | p[i];
  return v;
}

}  // namespace

std::vector<uint8_t> Record::SignedBytes() const {
  // Fixed offsets and memcpy (GCC 12 -O3 warns falsely on vector::insert here).
  std::vector<uint8_t> out(kRecordOverhead - 64 + value.size());
  uint8_t* p = out.data();
  std::memcpy(p, kMagic, 4);
  PutBE(p + 4, type, 4);
  std::memcpy(p + 8, key.bytes.data(), 32);
  std::memcpy(p + 40, publisher.data(), 32);
  PutBE(p + 72, static_cast<uint64_t>(expires_unix_ms), 8);
  PutBE(p + 80, value.size(), 4);
  if (!value.empty()) std::memcpy(p + 84, value.data(), value.size());
  return out;
}

std::vector<uint8_t> Record::Encode() const {
  std::vector<uint8_t> out = SignedBytes();
  std::size_t n = out.size();
  out.resize(n + signature.size());
  std::memcpy(out.data() + n, signature.data(), signature.size());
  return out;
}

core::Result<Record> Record::Sign(const crypto::Identity& identity, uint32_t type,
                                  const core::NodeId& key, std::span<const uint8_t> value,
                                  int64_t expires_unix_ms) {
  if (value.size() > kMaxRecordValue) {
    return core::MakeError(core::ErrorCode::kInvalidArgument, "record value over 16 KiB");
  }
  if (expires_unix_ms <= 0) {
    return core::MakeError(core::ErrorCode::kInvalidArgument, "record without expiry");
  }
  Record r;
  r.type = type;
  r.key = key;
  r.publisher = identity.public_key();
  r.expires_unix_ms = expires_unix_ms;
  r.value.assign(value.begin(), value.end());
  r.signature = identity.Sign(r.SignedBytes());
  return r;
}

core::Result<Record> Record::Parse(std::span<const uint8_t> b) {
  auto bad = [](std::string why) {
    return core::MakeError(core::ErrorCode::kInvalidArgument, "record: " + std::move(why));
  };
  if (b.size() < kRecordOverhead) return bad("too short");
  if (std::memcmp(b.data(), kMagic, 4) != 0) return bad("bad magic");
  Record r;
  const uint8_t* p = b.data() + 4;
  r.type = static_cast<uint32_t>(GetBE(p, 4));
  p += 4;
  std::copy_n(p, 32, r.key.bytes.begin());
  p += 32;
  std::copy_n(p, 32, r.publisher.begin());
  p += 32;
  uint64_t expires = GetBE(p, 8);
  p += 8;
  if (expires == 0 || expires > static_cast<uint64_t>(INT64_MAX)) return bad("bad expiry");
  r.expires_unix_ms = static_cast<int64_t>(expires);
  uint64_t len = GetBE(p, 4);
  p += 4;
  if (len > kMaxRecordValue) return bad("value over 16 KiB");
  if (b.size() != kRecordOverhead + len) return bad("length does not match value_length");
  r.value.assign(p, p + len);
  p += len;
  std::copy_n(p, 64, r.signature.begin());
  return r;
}

core::Result<void> Record::Verify() const {
  if (!crypto::VerifySignature(publisher, SignedBytes(), signature)) {
    return core::MakeError(core::ErrorCode::kCorrupt, "record signature does not verify");
  }
  return core::Ok();
}

core::Result<Record> Record::ParseVerified(std::span<const uint8_t> bytes) {
  ASSIGN_OR_RETURN(Record r, Parse(bytes));
  TRY(r.Verify());
  return r;
}

}  // namespace tesseras::dht
