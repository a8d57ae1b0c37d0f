#include "net/wire.h"

#include <gtest/gtest.h>

#include <random>

namespace tesseras::net {
namespace {

using core::ErrorCode;

wire::Envelope FindNode(uint64_t id) {
  wire::Envelope env;
  env.set_version(kProtocolVersion);
  env.set_request_id(id);
  env.mutable_find_node()->set_target(std::string(32, '\x07'));
  return env;
}

std::span<const uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

TEST(WireTest, FrameRoundTrip) {
  auto frame = EncodeFrame(FindNode(7));
  ASSERT_TRUE(frame.ok());
  FrameDecoder d;
  d.Feed(Bytes(*frame));
  auto env = d.Next();
  ASSERT_TRUE(env.ok()) << env.error().ToString();
  ASSERT_TRUE(env->has_value());
  EXPECT_EQ((*env)->env.request_id(), 7u);
  EXPECT_TRUE((*env)->env.has_find_node());
  EXPECT_TRUE((*env)->data.empty());
  EXPECT_EQ(d.buffered(), 0u);
}

TEST(WireTest, ByteAtATime) {
  auto a = EncodeFrame(FindNode(1));
  auto b = EncodeFrame(FindNode(3));
  std::string both = *a + *b;
  FrameDecoder d;
  int got = 0;
  for (char c : both) {
    d.Feed(Bytes(std::string(1, c)));
    auto env = d.Next();
    ASSERT_TRUE(env.ok());
    if (env->has_value()) ++got;
  }
  EXPECT_EQ(got, 2);
}

TEST(WireTest, TruncatedFrameWaits) {
  auto frame = EncodeFrame(FindNode(1));
  FrameDecoder d;
  d.Feed(Bytes(frame->substr(0, frame->size() - 1)));
  auto env = d.Next();
  ASSERT_TRUE(env.ok());
  EXPECT_FALSE(env->has_value());
}

TEST(WireTest, HugeLengthRefusedBeforeAllocation) {
  const uint8_t header[4] = {0xff, 0xff, 0xff, 0xff};  // 4 GiB - 1
  FrameDecoder d;
  d.Feed(header);
  auto env = d.Next();
  ASSERT_FALSE(env.ok());
  EXPECT_EQ(env.error().code, ErrorCode::kProtocol);
  EXPECT_FALSE(d.Next().ok());  // stays failed
  std::array<uint8_t, 4> just_over = {0x00, 0x10, 0x00, 0x01};
  EXPECT_FALSE(DecodeFrameLength(just_over).ok());
  std::array<uint8_t, 4> zero = {0, 0, 0, 0};
  EXPECT_FALSE(DecodeFrameLength(zero).ok());
  std::array<uint8_t, 4> cap = {0x00, 0x10, 0x00, 0x00};
  EXPECT_TRUE(DecodeFrameLength(cap).ok());
}

TEST(WireTest, GarbagePayloadRefused) {
  std::string garbage = "\x00\x00\x00\x05\xff\xff\xff\xff\xff";
  garbage = std::string("\x00\x00\x00\x05", 4) + "\xff\xff\xff\xff\xff";
  FrameDecoder d;
  d.Feed(Bytes(garbage));
  EXPECT_FALSE(d.Next().ok());
}

TEST(WireTest, VersionChecked) {
  auto env = FindNode(1);
  env.set_version(2);
  auto r = ValidateEnvelope(env);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kVersionMismatch);
}

TEST(WireTest, UnknownBodyRefused) {
  wire::Envelope env;
  env.set_version(kProtocolVersion);
  env.set_request_id(1);
  EXPECT_FALSE(ValidateEnvelope(env).ok());
  // A body number from the future: parses as an unknown field, so no body.
  std::string bytes = env.SerializeAsString();
  bytes += std::string("\xf2\x07\x00", 3);  // field 126, length-delimited, empty
  auto decoded = DecodePayload(Bytes(bytes));
  EXPECT_FALSE(decoded.ok());
}

// "Exactly one body": a standard parser keeps the last oneof member, so two
// body fields in one payload (or the same one twice) are caught on the bytes.
TEST(WireTest, TwoBodiesRefused) {
  auto find = FindNode(3);
  std::string one = find.SerializeAsString();
  EXPECT_EQ(BodyFieldCount(Bytes(one)), 1);
  EXPECT_TRUE(DecodePayload(Bytes(one)).ok());
  wire::Envelope ping;
  ping.mutable_ping();
  std::string two = one + ping.SerializeAsString();  // find_node, then ping
  EXPECT_EQ(BodyFieldCount(Bytes(two)), 2);
  wire::Envelope parsed;
  ASSERT_TRUE(parsed.ParseFromString(two));
  EXPECT_TRUE(parsed.has_ping());  // what a parser alone sees: one body
  auto decoded = DecodePayload(Bytes(two));
  ASSERT_FALSE(decoded.ok());
  EXPECT_EQ(decoded.error().code, ErrorCode::kProtocol);
  std::string twice = one + std::string(one.begin() + 4, one.end());  // find_node again
  EXPECT_EQ(BodyFieldCount(Bytes(twice)), 2);
  EXPECT_FALSE(DecodePayload(Bytes(twice)).ok());
  EXPECT_EQ(BodyFieldCount(Bytes(std::string("\x6a\x05"
                                             "ab",
                                             4))),
            -1);  // cut short
}

TEST(WireTest, FieldLengthsChecked) {
  auto env = FindNode(1);
  env.mutable_find_node()->set_target(std::string(31, 'x'));
  EXPECT_FALSE(ValidateEnvelope(env).ok());

  wire::Envelope nodes;
  nodes.set_version(1);
  nodes.set_request_id(2);
  for (int i = 0; i < 21; ++i) {
    auto* c = nodes.mutable_nodes()->add_nodes();
    c->set_node_id(std::string(32, 'a'));
    c->set_public_key(std::string(32, 'b'));
    c->set_ip(std::string(4, '\x7f'));
    c->set_port(1);
  }
  EXPECT_FALSE(ValidateEnvelope(nodes).ok());  // over 20 contacts
  nodes.mutable_nodes()->mutable_nodes()->RemoveLast();
  EXPECT_TRUE(ValidateEnvelope(nodes).ok());
  nodes.mutable_nodes()->mutable_nodes(0)->set_ip(std::string(5, '\x7f'));
  EXPECT_FALSE(ValidateEnvelope(nodes).ok());

  wire::Envelope chunk;
  chunk.set_version(1);
  chunk.set_request_id(3);
  chunk.mutable_chunk()->set_length(kMaxChunkBytes + 1);
  EXPECT_FALSE(ValidateEnvelope(chunk).ok());
  chunk.mutable_chunk()->set_length(0);
  EXPECT_FALSE(ValidateEnvelope(chunk).ok());
  chunk.mutable_chunk()->set_length(kMaxChunkBytes);
  EXPECT_TRUE(ValidateEnvelope(chunk).ok());
  EXPECT_EQ(DataFollowing(chunk), kMaxChunkBytes);

  wire::Envelope credit;
  credit.set_version(1);
  credit.set_request_id(3);
  credit.mutable_credit()->set_chunks(0);
  EXPECT_FALSE(ValidateEnvelope(credit).ok());
  credit.mutable_credit()->set_chunks(kMaxCreditChunks + 1);
  EXPECT_FALSE(ValidateEnvelope(credit).ok());

  wire::Envelope fetch;
  fetch.set_version(1);
  fetch.set_request_id(5);
  fetch.mutable_fetch_fragment()->set_tessera(std::string(32, 't'));
  fetch.mutable_fetch_fragment()->set_index(255);
  EXPECT_FALSE(ValidateEnvelope(fetch).ok());

  wire::Envelope no_id = FindNode(0);
  EXPECT_FALSE(ValidateEnvelope(no_id).ok());
}

wire::Envelope ChunkHeader(uint64_t id, uint64_t offset, uint32_t length, bool last) {
  wire::Envelope env;
  env.set_version(kProtocolVersion);
  env.set_request_id(id);
  env.mutable_chunk()->set_offset(offset);
  env.mutable_chunk()->set_length(length);
  env.mutable_chunk()->set_last(last);
  return env;
}

// A Chunk frame is followed by exactly `length` raw bytes, then the next frame.
TEST(WireTest, ChunkDataFollowsItsFrame) {
  std::string data(1000, '\0');
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 7);
  std::string stream =
      *EncodeFrame(ChunkHeader(5, 0, 1000, true)) + data + *EncodeFrame(FindNode(9));
  FrameDecoder d;
  std::vector<DecodedFrame> frames;
  for (char c : stream) {  // byte at a time: the data may arrive in any split
    d.Feed(Bytes(std::string(1, c)));
    auto next = d.Next();
    ASSERT_TRUE(next.ok()) << next.error().ToString();
    if (next->has_value()) frames.push_back(std::move(**next));
  }
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_TRUE(frames[0].env.has_chunk());
  EXPECT_EQ(frames[0].data, data);
  EXPECT_TRUE(frames[1].env.has_find_node());
  EXPECT_TRUE(frames[1].data.empty());
  EXPECT_EQ(d.buffered(), 0u);
}

// The example in docs/PROTOCOL.md section 3, byte for byte.
TEST(WireTest, ChunkFrameMatchesTheDocumentedBytes) {
  const std::string documented(
      "\x00\x00\x00\x0b"              // length 11
      "\x08\x01\x10\x05"              // version 1, request_id 5
      "\xca\x01\x04\x18\x01\x20\x04"  // chunk (25): last, length 4
      "DATA",                         // the data, unframed
      19);
  EXPECT_EQ(*EncodeFrame(ChunkHeader(5, 0, 4, true)) + "DATA", documented);
  FrameDecoder d;
  d.Feed(Bytes(documented));
  auto frame = d.Next();
  ASSERT_TRUE(frame.ok() && frame->has_value());
  EXPECT_EQ((*frame)->data, "DATA");
}

// Without its data a Chunk is not complete; the data is never parsed as a frame.
TEST(WireTest, ChunkWaitsForAllItsData) {
  std::string data(300, '\xff');  // would be a 4 GiB length prefix if read as a frame
  std::string stream = *EncodeFrame(ChunkHeader(5, 0, 300, true)) + data;
  FrameDecoder d;
  d.Feed(Bytes(stream.substr(0, stream.size() - 1)));
  auto first = d.Next();
  ASSERT_TRUE(first.ok());
  EXPECT_FALSE(first->has_value());
  d.Feed(Bytes(stream.substr(stream.size() - 1)));
  auto second = d.Next();
  ASSERT_TRUE(second.ok()) << second.error().ToString();
  ASSERT_TRUE(second->has_value());
  EXPECT_EQ((*second)->data, data);
}

TEST(WireTest, EnvelopeOfReplicateChecked) {
  wire::Envelope env;
  env.set_version(1);
  env.set_request_id(9);
  auto* e = env.mutable_replicate()->mutable_envelope();
  e->set_tessera(std::string(32, 't'));
  e->set_index(1);
  e->set_shard_count(3);
  e->set_checksum(std::string(32, 'b'));
  e->set_owner_public_key(std::string(32, 'o'));
  auto* p = e->mutable_plan();
  p->set_tier(1);
  p->set_data_shards(2);
  p->set_parity_shards(1);
  p->set_shard_size(100);
  for (char c : {'a', 'b', 'c'}) e->add_checksums(std::string(32, c));
  EXPECT_TRUE(ValidateEnvelope(env).ok());
  e->set_index(3);
  EXPECT_FALSE(ValidateEnvelope(env).ok());
  e->set_index(0);  // checksum no longer matches checksums[index]
  EXPECT_FALSE(ValidateEnvelope(env).ok());
  e->set_index(1);
  p->set_shard_size(kMaxTransferBytes + 1);
  EXPECT_FALSE(ValidateEnvelope(env).ok());
}

TEST(WireTest, AttestRequestIndicesChecked) {
  wire::Envelope env;
  env.set_version(kProtocolVersion);
  env.set_request_id(7);
  auto* a = env.mutable_attest_request();
  a->set_tessera(std::string(32, 't'));
  a->set_challenge(std::string(32, 'c'));
  EXPECT_TRUE(ValidateEnvelope(env).ok());  // no indices: every held fragment
  a->add_indices(0);
  a->add_indices(254);
  a->add_indices(31);
  EXPECT_TRUE(ValidateEnvelope(env).ok());
  // Survives the frame round trip in order.
  auto frame = EncodeFrame(env);
  ASSERT_TRUE(frame.ok());
  auto decoded = DecodePayload(Bytes(frame->substr(kFrameHeaderBytes)));
  ASSERT_TRUE(decoded.ok()) << decoded.error().ToString();
  EXPECT_EQ(std::vector<uint32_t>(decoded->attest_request().indices().begin(),
                                  decoded->attest_request().indices().end()),
            (std::vector<uint32_t>{0, 254, 31}));

  a->add_indices(255);  // not a fragment index
  auto bad = ValidateEnvelope(env);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, ErrorCode::kProtocol);
  a->mutable_indices()->RemoveLast();
  a->add_indices(31);  // repeated
  EXPECT_FALSE(ValidateEnvelope(env).ok());

  a->clear_indices();
  for (uint32_t i = 0; i < kMaxShards; ++i) a->add_indices(i);
  EXPECT_TRUE(ValidateEnvelope(env).ok());  // all 255, each once
  a->add_indices(0);
  auto too_many = ValidateEnvelope(env);
  ASSERT_FALSE(too_many.ok());
  EXPECT_NE(too_many.error().message.find("at most 255"), std::string::npos)
      << too_many.error().message;
}

TEST(WireTest, OversizeEncodeRefused) {
  wire::Envelope env;
  env.set_version(1);
  env.set_request_id(1);
  env.mutable_store()->set_record(std::string(kMaxFrameBytes + 10, 'r'));
  EXPECT_FALSE(EncodeFrame(env).ok());
}

TEST(WireTest, RandomBytesNeverCrash) {
  std::mt19937 rng(42);
  for (int round = 0; round < 2000; ++round) {
    std::string buf(rng() % 256, '\0');
    for (auto& c : buf) c = static_cast<char>(rng());
    if (round % 2 == 0 && buf.size() >= 4) {
      uint32_t n = static_cast<uint32_t>(buf.size() - 4);
      buf[0] = 0;
      buf[1] = 0;
      buf[2] = static_cast<char>(n >> 8);
      buf[3] = static_cast<char>(n);
    }
    FrameDecoder d;
    d.Feed(Bytes(buf));
    for (int i = 0; i < 4; ++i) {
      auto r = d.Next();
      if (!r.ok() || !r->has_value()) break;
    }
  }
}

}  // namespace
}  // namespace tesseras::net
