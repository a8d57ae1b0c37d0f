// A small, independent client of the Tesseras node-to-node protocol, for
// hostile-peer tests: it does what an attacker who read docs/PROTOCOL.md can
// do, over real TLS sockets, and nothing of it comes from src/net or src/dht.
//
// Written from the document alone, so that the tests also check it:
// - section 1: identities are crypto::Identity (an Ed25519 key and a
//   proof-of-work nonce; cheap to mint, and GrindNear() grinds them near a key);
// - section 2: TLS 1.3 made here with OpenSSL (a self-signed Ed25519
//   certificate, CN = the first 32 hex digits of the node id, our own
//   verification callback), then the Hello exchange;
// - section 3: frames (u32 big-endian length, a serialized Envelope) with a
//   Chunk's data after its frame;
// - sections 4-6: request ids (the dialler's are odd), the bodies, credit;
// - section 8: records, encoded by SignRecord() (not by dht::Record).
// The only shared code is the schema (proto/tesseras.proto, which the
// document names as normative) and crypto::Identity.
//
// API
// - Conn::Dial(local_ip, "ip:port") opens TCP from `local_ip` (a loopback
//   address of the test, e.g. "127.0.200.1"). Then StartTls(id) and
//   Hello(id), or Greet(id) for both. A Conn that stops after Dial is a
//   half-open connection; one that stops after StartTls never says Hello.
// - Send(env) frames an envelope (the version is set; the request id is the
//   caller's: NextRequestId() gives the dialler's next odd id). SendChunk()
//   sends a Chunk frame and its data. SendBytes() writes raw application
//   bytes (for malformed input).
// - Read(timeout) returns the next frame (kTimeout if none came, kUnavailable
//   once the node closed the connection). WaitClosed(timeout) reads until the
//   node closes.
// - Builders make the request bodies of section 5; SignRecord() a record.
// - The other side, for attacks on lookups: Listener binds "ip:0" and
//   Accept()s a Conn, which then StartTls(id, /*server=*/true) and Hello()s
//   like any node; Tarpit accepts TCP connections and never says anything.
//
// A process that uses Conn ignores SIGPIPE (OpenSSL writes with write(2)).
// Threading: a Conn is used by one thread at a time; different Conns may be
// used from different threads. Every call has a timeout: nothing blocks
// forever. Errors are core::Result values.
#pragma once

#include <openssl/ssl.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "core/ids.h"
#include "core/result.h"
#include "crypto/identity.h"
#include "tesseras.pb.h"

namespace tesseras::hostile {

using Millis = std::chrono::milliseconds;
inline constexpr Millis kDefaultTimeout{5000};

class Listener;

class Conn {
 public:
  // TCP connect from `local_ip` to `server` ("ip:port").
  static core::Result<std::unique_ptr<Conn>> Dial(const std::string& local_ip,
                                                  const std::string& server,
                                                  Millis timeout = kDefaultTimeout);
  ~Conn();
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  // The next connection on `l`.
  static core::Result<std::unique_ptr<Conn>> Accept(Listener& l, Millis timeout = kDefaultTimeout);
  // Section 2, steps 2-3: the TLS handshake with `id`'s certificate, as the
  // dialler or (`server`) as the acceptor, which requires the peer's.
  core::Result<void> StartTls(const crypto::Identity& id, Millis timeout = kDefaultTimeout,
                              bool server = false);
  // Section 2, steps 3-4: sends our Hello and returns the node's. An Error
  // frame instead (the node refused us) becomes an error with its code.
  core::Result<wire::Hello> Hello(const crypto::Identity& id, uint16_t listen_port = 0,
                                  Millis timeout = kDefaultTimeout);
  core::Result<wire::Hello> Greet(const crypto::Identity& id, Millis timeout = kDefaultTimeout);

  // Section 3.
  core::Result<void> Send(wire::Envelope env, Millis timeout = kDefaultTimeout);
  core::Result<void> SendChunk(uint64_t request_id, uint64_t offset, std::span<const uint8_t> data,
                               bool last, Millis timeout = kDefaultTimeout);
  core::Result<void> SendBytes(std::span<const uint8_t> bytes, Millis timeout = kDefaultTimeout);
  struct Frame {
    wire::Envelope env;
    std::string data;  // a Chunk's bytes
  };
  core::Result<Frame> Read(Millis timeout = kDefaultTimeout);
  // Reads (and drops) frames until the node closes the connection.
  bool WaitClosed(Millis timeout);

  // Section 4: the dialler numbers its exchanges 1, 3, 5, ...
  uint64_t NextRequestId() {
    uint64_t id = next_id_;
    next_id_ += 2;
    return id;
  }
  bool tls() const { return ssl_ != nullptr; }

 private:
  explicit Conn(int fd) : fd_(fd) {}
  friend class Listener;
  // Runs an OpenSSL operation on the non-blocking socket until it completes,
  // fails or `timeout` passes.
  template <typename Op>
  core::Result<int> Drive(Op op, Millis timeout, const char* what);
  core::Result<void> ReadExactly(std::span<uint8_t> out, Millis timeout);
  core::Result<void> WriteAll(std::span<const uint8_t> bytes, Millis timeout);

  int fd_ = -1;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  uint64_t next_id_ = 1;
};

// A listening TCP socket on "ip:0" (an ephemeral port).
class Listener {
 public:
  static core::Result<std::unique_ptr<Listener>> Open(const std::string& ip);
  ~Listener();
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;
  uint16_t port() const { return port_; }
  std::string address() const { return ip_ + ":" + std::to_string(port_); }
  int fd() const { return fd_; }

 private:
  Listener(int fd, std::string ip, uint16_t port) : fd_(fd), ip_(std::move(ip)), port_(port) {}
  int fd_;
  std::string ip_;
  uint16_t port_;
};

// Accepts TCP connections on its own thread and holds them without a byte:
// where a lie sends its victims (their connect works, their TLS handshake
// never ends).
class Tarpit {
 public:
  static core::Result<std::unique_ptr<Tarpit>> Open(const std::string& ip);
  ~Tarpit();
  uint16_t port() const { return listener_->port(); }
  std::size_t held() const { return held_.load(); }

 private:
  explicit Tarpit(std::unique_ptr<Listener> l);
  std::unique_ptr<Listener> listener_;
  std::atomic<bool> stop_{false};
  std::atomic<std::size_t> held_{0};
  std::thread thread_;
};

// ---- bodies of section 5 ---------------------------------------------------------

wire::Envelope Ping(uint64_t request_id);
wire::Envelope FindNode(uint64_t request_id, const core::NodeId& target);
wire::Envelope FindValue(uint64_t request_id, const core::NodeId& key);
wire::Envelope Store(uint64_t request_id, std::span<const uint8_t> record);
wire::Envelope AttestRequest(uint64_t request_id, const core::ContentHash& tessera,
                             const std::array<uint8_t, 32>& challenge,
                             const std::vector<uint32_t>& indices);
wire::Envelope FetchFragment(uint64_t request_id, const core::ContentHash& tessera, uint32_t index);
wire::Envelope Credit(uint64_t request_id, uint32_t chunks);
wire::Envelope ErrorFrame(uint64_t request_id, uint32_t code, const std::string& reason);

// Section 8: a signed record, encoded from the table (148 + value bytes).
std::vector<uint8_t> SignRecord(const crypto::Identity& publisher, uint32_t type,
                                const core::NodeId& key, std::span<const uint8_t> value,
                                int64_t expires_unix_ms);

// Section 1: an identity whose node id shares at least `bits` leading bits
// with `target` (about 2^bits keys tried, each with its proof of work).
crypto::Identity GrindNear(const core::NodeId& target, int bits, int pow_bits);

// Current resident memory of this process in bytes (VmRSS), for the figures
// hostile tests print; 0 if unknown.
uint64_t ResidentBytes();

}  // namespace tesseras::hostile
