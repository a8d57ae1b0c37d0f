#include "sim/wire_costs.h"

#include <openssl/bio.h>
#include <openssl/ssl.h>

#include "core/bytes.h"
#include "crypto/blake3_hasher.h"
#include "crypto/identity.h"
#include "dht/convert.h"
#include "dht/record.h"
#include "net/tls.h"
#include "net/wire.h"
#include "replication/attestation.h"
#include "replication/proof_tree.h"
#include "replication/records.h"
#include "sim/rng.h"

namespace tesseras::sim {
namespace {

using core::ErrorCode;
using core::MakeError;
using core::Result;

constexpr uint64_t kTlsRecordPlaintext = 16384;
constexpr uint64_t kTlsRecordOverhead = 5 + 1 + 16;  // header, inner content type, AEAD tag
constexpr uint64_t kRequestId = 1000;                // a two-byte varint, as after a few requests
constexpr int64_t kTimestampMs = 1'700'000'000'000;
constexpr uint32_t kInitialCredit = 8;  // docs/PROTOCOL.md section 6
constexpr uint32_t kCreditBatch = 4;

std::string Bytes(std::span<const uint8_t> b) {
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

Result<uint64_t> FrameBytes(wire::Envelope env) {
  env.set_version(net::kProtocolVersion);
  if (env.request_id() == 0 && !env.has_hello()) env.set_request_id(kRequestId);
  TRY(net::ValidateEnvelope(env));
  ASSIGN_OR_RETURN(std::string frame, net::EncodeFrame(env));
  return static_cast<uint64_t>(frame.size());
}

template <typename Id>
Id RandomId(Rng& rng) {
  Id id;
  for (auto& b : id.bytes) b = static_cast<uint8_t>(rng.Next());
  return id;
}

// Credit frames a receiver sends for `chunks` chunks.
uint32_t CreditFrames(uint64_t chunks) {
  if (chunks <= kInitialCredit) return 1;
  return 1 + static_cast<uint32_t>((chunks - kInitialCredit + kCreditBatch - 1) / kCreditBatch);
}

// The Chunk frames of one fragment of `size` bytes (without the data).
Result<uint64_t> ChunkFrames(uint64_t size) {
  uint64_t total = 0;
  for (uint64_t off = 0; off < size; off += net::kMaxChunkBytes) {
    wire::Envelope env;
    auto* c = env.mutable_chunk();
    c->set_offset(off);
    c->set_length(static_cast<uint32_t>(std::min<uint64_t>(net::kMaxChunkBytes, size - off)));
    c->set_last(off + net::kMaxChunkBytes >= size);
    ASSIGN_OR_RETURN(uint64_t n, FrameBytes(std::move(env)));
    total += n;
  }
  return total;
}

Result<uint64_t> CreditBytes(uint64_t chunks) {
  wire::Envelope first;
  first.mutable_credit()->set_chunks(kInitialCredit);
  ASSIGN_OR_RETURN(uint64_t a, FrameBytes(std::move(first)));
  wire::Envelope more;
  more.mutable_credit()->set_chunks(kCreditBatch);
  ASSIGN_OR_RETURN(uint64_t b, FrameBytes(std::move(more)));
  return a + (CreditFrames(chunks) - 1) * b;
}

// Both directions of a TLS 1.3 handshake between two nodes' real contexts.
Result<uint64_t> TlsHandshakeBytes() {
  ASSIGN_OR_RETURN(auto a, crypto::Identity::Generate(0));
  ASSIGN_OR_RETURN(auto b, crypto::Identity::Generate(0));
  ASSIGN_OR_RETURN(auto ca, net::MakeTlsContext(a));
  ASSIGN_OR_RETURN(auto cb, net::MakeTlsContext(b));
  SSL* client = SSL_new(ca->native_handle());
  SSL* server = SSL_new(cb->native_handle());
  if (!client || !server) {
    SSL_free(client);
    SSL_free(server);
    return MakeError(ErrorCode::kInternal, net::OpenSslError("SSL_new"));
  }
  BIO* c_in = BIO_new(BIO_s_mem());
  BIO* c_out = BIO_new(BIO_s_mem());
  BIO* s_in = BIO_new(BIO_s_mem());
  BIO* s_out = BIO_new(BIO_s_mem());
  SSL_set_bio(client, c_in, c_out);
  SSL_set_bio(server, s_in, s_out);
  SSL_set_connect_state(client);
  SSL_set_accept_state(server);
  uint64_t moved = 0;
  auto pump = [&moved](BIO* from, BIO* to) {
    char buf[16384];
    int n;
    while ((n = BIO_read(from, buf, sizeof buf)) > 0) {
      BIO_write(to, buf, n);
      moved += static_cast<uint64_t>(n);
    }
  };
  bool done = false;
  for (int round = 0; round < 16 && !done; ++round) {
    SSL_do_handshake(client);
    pump(c_out, s_in);
    SSL_do_handshake(server);
    pump(s_out, c_in);
    done = SSL_is_init_finished(client) && SSL_is_init_finished(server);
  }
  // Anything sent after the handshake (there are no session tickets).
  char probe = 0;
  SSL_write(client, &probe, 0);
  pump(c_out, s_in);
  SSL_free(client);
  SSL_free(server);
  if (!done) return MakeError(ErrorCode::kInternal, "TLS handshake over memory did not finish");
  return moved;
}

Result<SizeClass> Measure(uint64_t payload, int samples, const crypto::Identity& owner,
                          const crypto::Identity& holder, Rng& rng) {
  SizeClass c;
  c.payload_bytes = payload;
  ASSIGN_OR_RETURN(c.plan, core::PlanForSize(payload));
  c.redundancy = replication::RedundancyOf(c.plan);
  c.attest_batch = static_cast<uint32_t>(replication::AttestBatchSize(samples));
  const uint64_t shard = c.plan.shard_size;
  const uint32_t n = c.plan.total_shards();

  // One real fragment, its checksum and proof root; the other fragments'
  // checksums and roots are random values of the same length.
  std::vector<uint8_t> bytes(shard);
  for (std::size_t i = 0; i < bytes.size(); i += 8) {
    const uint64_t v = rng.Next();
    for (std::size_t j = 0; j < 8 && i + j < bytes.size(); ++j) bytes[i + j] = uint8_t(v >> 8 * j);
  }
  core::MemorySource src(bytes);
  ASSIGN_OR_RETURN(core::ContentHash root, replication::ProofRootOf(src));
  core::FragmentTable table;
  table.tessera = RandomId<core::ContentHash>(rng);
  table.plan = c.plan;
  for (uint32_t i = 0; i < n; ++i) {
    table.checksums.push_back(i == 0 ? crypto::Blake3(bytes) : RandomId<core::ContentHash>(rng));
    table.proof_roots.push_back(i == 0 ? root : RandomId<core::ContentHash>(rng));
  }
  const replication::SignedPlan plan = replication::SignedPlan::Sign(table, owner);

  // Audit: request and answer, with no proof and with one.
  replication::Challenge challenge{};
  for (auto& b : challenge) b = static_cast<uint8_t>(rng.Next());
  auto request = [&](std::vector<uint32_t> indices) -> Result<uint64_t> {
    return AttestRequestFrameBytes(table.tessera, challenge, indices);
  };
  // The sampled leaves depend on the challenge (the last leaf of a fragment
  // may be short, and paths differ in length): an answer's size is the mean
  // over a fixed set of challenges.
  auto answer_once = [&](bool with_proof, const replication::Challenge& ch) -> Result<uint64_t> {
    std::vector<replication::HeldFragment> held;
    core::MemorySource reader(bytes);
    if (with_proof) {
      replication::HeldFragment f;  // no stored tree: the whole fragment is read
      f.bytes = &reader;
      held.push_back(std::move(f));
    }
    ASSIGN_OR_RETURN(
        core::Attestation att,
        replication::MakeAttestation(holder, plan, ch, {0}, kTimestampMs, held, samples));
    if (with_proof) {
      ASSIGN_OR_RETURN(auto check,
                       replication::VerifyAttestation(att, holder.node_id(), plan, ch, {0},
                                                      kTimestampMs, 10 * 60 * 1000, samples));
      if (check.proven.size() != 1) {
        return MakeError(ErrorCode::kInternal, "the sizing attestation does not verify");
      }
    }
    return AttestResponseFrameBytes(att);
  };
  auto answer = [&](bool with_proof) -> Result<uint64_t> {
    if (!with_proof) return answer_once(false, challenge);
    constexpr int kChallenges = 16;
    uint64_t total = 0;
    replication::Challenge ch = challenge;
    for (int i = 0; i < kChallenges; ++i) {
      ch[0] = static_cast<uint8_t>(i);
      ASSIGN_OR_RETURN(uint64_t n, answer_once(true, ch));
      total += n;
    }
    return (total + kChallenges / 2) / kChallenges;
  };
  ASSIGN_OR_RETURN(uint64_t req1, request({0}));
  ASSIGN_OR_RETURN(uint64_t req2, request({0, 1}));
  ASSIGN_OR_RETURN(uint64_t ans0, answer(false));
  ASSIGN_OR_RETURN(uint64_t ans1, answer(true));
  c.attest_request_bytes = req1;
  c.attest_request_per_index = req2 - req1;
  c.attest_response_bytes = ans1;
  c.attest_response_per_proof = ans1 - ans0;

  // Push and fetch of one fragment.
  core::FragmentEnvelope fe;
  fe.id = table.IdOf(0);
  fe.table = table;
  std::copy(plan.owner.begin(), plan.owner.end(), fe.owner_public_key.begin());
  fe.plan_signature.assign(plan.signature.begin(), plan.signature.end());
  ASSIGN_OR_RETURN(c.push_bytes, PushWireBytes(fe, {table.tessera, holder.node_id(), {0}}, false));
  ASSIGN_OR_RETURN(c.push_held_bytes,
                   PushWireBytes(fe, {table.tessera, holder.node_id(), {0}}, true));
  ASSIGN_OR_RETURN(c.fetch_bytes, FetchWireBytes(table.tessera, 0, shard));

  // A holder record listing one holder per unit, sealed as the DHT stores it.
  std::vector<replication::HolderEntry> entries;
  for (uint32_t u = 0; u < c.redundancy.units(); ++u) {
    replication::HolderEntry e;
    e.node_id = RandomId<core::NodeId>(rng);
    e.address = "10." + std::to_string(u % 250) + "." + std::to_string(u / 250) + ".17:7700";
    e.indices = {c.redundancy.copies > 1 ? 0 : u};
    entries.push_back(std::move(e));
  }
  const auto record =
      replication::HolderRecord::Sign(plan, kTimestampMs, std::move(entries), owner);
  ASSIGN_OR_RETURN(auto sealed,
                   dht::Record::Sign(owner, dht::kHolderRecord, core::KeyFor(table.tessera),
                                     record.Encode(), kTimestampMs + 86400000));
  ASSIGN_OR_RETURN(c.record_store_bytes, RecordStoreWireBytes(sealed.Encode()));
  return c;
}

}  // namespace

Result<uint64_t> AttestRequestFrameBytes(const core::ContentHash& tessera,
                                         const std::array<uint8_t, 32>& challenge,
                                         const std::vector<uint32_t>& indices) {
  wire::Envelope env;
  auto* r = env.mutable_attest_request();
  r->set_tessera(Bytes(tessera.bytes));
  r->set_challenge(Bytes(challenge));
  for (uint32_t i : indices) r->add_indices(i);
  r->set_owner(std::string(32, '\0'));  // the plan's owner: every audit names it
  return FrameBytes(std::move(env));
}

Result<uint64_t> AttestResponseFrameBytes(const core::Attestation& answer) {
  wire::Envelope env;
  dht::ToWire(answer, env.mutable_attest_response());
  return FrameBytes(std::move(env));
}

Result<uint64_t> PushWireBytes(const core::FragmentEnvelope& envelope,
                               const core::ReplicateAck& ack, bool already_held) {
  const uint64_t shard = envelope.table.plan.shard_size;
  wire::Envelope replicate;
  dht::ToWire(envelope, replicate.mutable_replicate()->mutable_envelope());
  ASSIGN_OR_RETURN(uint64_t replicate_bytes, FrameBytes(std::move(replicate)));
  wire::Envelope answer;
  dht::ToWire(ack, answer.mutable_replicate_ack());
  ASSIGN_OR_RETURN(uint64_t ack_bytes, FrameBytes(std::move(answer)));
  if (already_held) return WithTlsRecords(replicate_bytes) + WithTlsRecords(ack_bytes);
  const uint64_t chunks = (shard + net::kMaxChunkBytes - 1) / net::kMaxChunkBytes;
  ASSIGN_OR_RETURN(uint64_t chunk_frames, ChunkFrames(shard));
  ASSIGN_OR_RETURN(uint64_t credits, CreditBytes(chunks));
  return WithTlsRecords(replicate_bytes + chunk_frames + shard) +
         WithTlsRecords(credits + ack_bytes);
}

Result<uint64_t> FetchWireBytes(const core::ContentHash& tessera, uint32_t index, uint64_t size) {
  wire::Envelope fetch;
  fetch.mutable_fetch_fragment()->set_tessera(Bytes(tessera.bytes));
  fetch.mutable_fetch_fragment()->set_index(index);
  fetch.mutable_fetch_fragment()->set_owner(std::string(32, '\0'));  // every fetch names it
  ASSIGN_OR_RETURN(uint64_t fetch_req, FrameBytes(std::move(fetch)));
  wire::Envelope header;
  header.mutable_fragment_header()->set_size(size);
  ASSIGN_OR_RETURN(uint64_t header_bytes, FrameBytes(std::move(header)));
  const uint64_t chunks = (size + net::kMaxChunkBytes - 1) / net::kMaxChunkBytes;
  ASSIGN_OR_RETURN(uint64_t chunk_frames, ChunkFrames(size));
  ASSIGN_OR_RETURN(uint64_t credits, CreditBytes(chunks));
  return WithTlsRecords(fetch_req + credits) + WithTlsRecords(header_bytes + chunk_frames + size);
}

Result<uint64_t> RecordStoreWireBytes(std::span<const uint8_t> sealed_record) {
  wire::Envelope store;
  store.mutable_store()->set_record(Bytes(sealed_record));
  ASSIGN_OR_RETURN(uint64_t store_bytes, FrameBytes(std::move(store)));
  wire::Envelope stored;
  stored.mutable_stored();
  ASSIGN_OR_RETURN(uint64_t stored_bytes, FrameBytes(std::move(stored)));
  return WithTlsRecords(store_bytes) + WithTlsRecords(stored_bytes);
}

uint64_t WithTlsRecords(uint64_t bytes) {
  const uint64_t records = (bytes + kTlsRecordPlaintext - 1) / kTlsRecordPlaintext;
  return bytes + records * kTlsRecordOverhead;
}

uint64_t SizeClass::AuditBytes(uint32_t indices) const {
  uint64_t total = 0;
  for (uint32_t left = std::max<uint32_t>(indices, 1); left > 0;) {
    const uint32_t m = std::min(left, attest_batch);
    total += WithTlsRecords(attest_request_bytes + (m - 1) * attest_request_per_index) +
             WithTlsRecords(attest_response_bytes + (m - 1) * attest_response_per_proof);
    left -= m;
  }
  return total;
}

Result<WireCosts> MeasureWireCosts(const std::vector<uint64_t>& sizes, int audit_samples) {
  WireCosts w;
  Rng rng(0x77697265, 1);
  // Fixed keys: the same node ids, so the same sampled leaves, in every run.
  crypto::Seed owner_seed{}, holder_seed{};
  owner_seed[0] = 1;
  holder_seed[0] = 2;
  ASSIGN_OR_RETURN(auto owner, crypto::Identity::FromSeed(owner_seed, 0));
  ASSIGN_OR_RETURN(auto holder, crypto::Identity::FromSeed(holder_seed, 0));
  // The certificates carry a random serial number, whose DER length is one
  // byte shorter when its top byte happens to be 0: the largest of a few
  // handshakes is the size, the same in every run.
  for (int i = 0; i < 8; ++i) {
    ASSIGN_OR_RETURN(uint64_t bytes, TlsHandshakeBytes());
    w.tls_handshake_bytes = std::max(w.tls_handshake_bytes, bytes);
  }
  wire::Envelope hello;
  hello.set_request_id(0);
  auto* h = hello.mutable_hello();
  h->set_node_id(Bytes(owner.node_id().bytes));
  h->set_pow_nonce(123456789);
  h->set_listen_port(7700);
  h->set_capabilities(3);
  ASSIGN_OR_RETURN(uint64_t hello_bytes, FrameBytes(std::move(hello)));
  w.connection_bytes = w.tls_handshake_bytes + 2 * WithTlsRecords(hello_bytes);
  for (uint64_t size : sizes) {
    ASSIGN_OR_RETURN(SizeClass c, Measure(size, audit_samples, owner, holder, rng));
    w.classes.push_back(std::move(c));
  }
  return w;
}

}  // namespace tesseras::sim
