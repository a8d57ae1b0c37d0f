#include "tests/hostile/attacker.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>

namespace tesseras::hostile {
namespace {

using core::ErrorCode;
using core::MakeError;
using core::Result;
using Clock = std::chrono::steady_clock;

// Section 3.
constexpr uint32_t kMaxFrame = 1u << 20;

std::string Bytes(std::span<const uint8_t> b) { return std::string(b.begin(), b.end()); }

core::Error Sys(const char* what) {
  return MakeError(ErrorCode::kUnavailable, std::string(what) + ": " + std::strerror(errno));
}

core::Error Ssl(const char* what) {
  std::string s(what);
  unsigned long e = ERR_get_error();
  if (e != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    s += ": ";
    s += buf;
  }
  ERR_clear_error();
  return MakeError(ErrorCode::kUnavailable, s);
}

int RemainingMs(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now()).count();
  return left <= 0 ? 0 : static_cast<int>(left);
}

bool Wait(int fd, short events, Clock::time_point deadline) {
  pollfd p{fd, events, 0};
  int n = ::poll(&p, 1, RemainingMs(deadline));
  return n > 0;
}

// Section 2: "the receiver accepts exactly one certificate (chain depth 0)
// whose key is Ed25519, whatever its other contents or validity dates".
int AcceptEd25519(int /*preverified*/, X509_STORE_CTX* ctx) {
  if (X509_STORE_CTX_get_error_depth(ctx) != 0) return 0;
  X509* cert = X509_STORE_CTX_get_current_cert(ctx);
  EVP_PKEY* key = cert ? X509_get0_pubkey(cert) : nullptr;
  return key != nullptr && EVP_PKEY_get_id(key) == EVP_PKEY_ED25519;
}

// Section 2: a self-signed X.509 v3 certificate on the node's Ed25519 key,
// CN = the first 32 hex digits of the node id.
Result<SSL_CTX*> MakeContext(const crypto::Identity& id) {
  EVP_PKEY* key =
      EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, id.seed().data(), id.seed().size());
  if (!key) return Ssl("Ed25519 key");
  X509* cert = X509_new();
  X509_set_version(cert, 2);
  uint64_t serial = 0;
  RAND_bytes(reinterpret_cast<unsigned char*>(&serial), sizeof serial);
  ASN1_INTEGER_set_uint64(X509_get_serialNumber(cert), serial >> 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert), 10L * 365 * 24 * 3600);
  std::string cn = id.node_id().ToHex().substr(0, 32);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(cert, name);
  X509_set_pubkey(cert, key);
  if (X509_sign(cert, key, nullptr) <= 0) {
    X509_free(cert);
    EVP_PKEY_free(key);
    return Ssl("self-signing");
  }
  SSL_CTX* ctx = SSL_CTX_new(TLS_method());
  SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
  SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
  SSL_CTX_set_ciphersuites(ctx,
                           "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"
                           "TLS_CHACHA20_POLY1305_SHA256");
  bool ok = SSL_CTX_use_certificate(ctx, cert) == 1 && SSL_CTX_use_PrivateKey(ctx, key) == 1;
  X509_free(cert);
  EVP_PKEY_free(key);
  if (!ok) {
    SSL_CTX_free(ctx);
    return Ssl("certificate");
  }
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, AcceptEd25519);
  return ctx;
}

wire::Envelope Envelope(uint64_t request_id) {
  wire::Envelope e;
  e.set_version(1);
  e.set_request_id(request_id);
  return e;
}

void PutBE(std::vector<uint8_t>& out, uint64_t v, int n) {
  for (int i = n - 1; i >= 0; --i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

// A frame (section 3: 4-byte big-endian length, the envelope) and the bytes
// that follow it. Sized once and filled by copy: g++ 12 at -O3 warns falsely
// (stringop-overflow) on inserting a string's bytes after push_backs.
std::vector<uint8_t> FrameBytes(const std::string& payload, std::span<const uint8_t> data = {}) {
  std::vector<uint8_t> frame(4 + payload.size() + data.size());
  const auto n = static_cast<uint32_t>(payload.size());
  for (std::size_t i = 0; i < 4; ++i) frame[i] = static_cast<uint8_t>(n >> (24 - 8 * i));
  std::memcpy(frame.data() + 4, payload.data(), payload.size());
  if (!data.empty()) std::memcpy(frame.data() + 4 + payload.size(), data.data(), data.size());
  return frame;
}

}  // namespace

Result<std::unique_ptr<Conn>> Conn::Dial(const std::string& local_ip, const std::string& server,
                                         Millis timeout) {
  // OpenSSL writes to the socket with write(2): a node that closed on us must
  // be an error, not SIGPIPE.
  static const bool ignore_sigpipe = [] {
    ::signal(SIGPIPE, SIG_IGN);
    return true;
  }();
  (void)ignore_sigpipe;
  auto colon = server.rfind(':');
  if (colon == std::string::npos) return MakeError(ErrorCode::kInvalidArgument, "ip:port");
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<uint16_t>(std::stoi(server.substr(colon + 1))));
  if (inet_pton(AF_INET, server.substr(0, colon).c_str(), &to.sin_addr) != 1) {
    return MakeError(ErrorCode::kInvalidArgument, "IPv4 address expected: " + server);
  }
  sockaddr_in from{};
  from.sin_family = AF_INET;
  if (inet_pton(AF_INET, local_ip.c_str(), &from.sin_addr) != 1) {
    return MakeError(ErrorCode::kInvalidArgument, "bad local IP " + local_ip);
  }
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return Sys("socket");
  std::unique_ptr<Conn> c(new Conn(fd));
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0) return Sys("bind");
  auto deadline = Clock::now() + timeout;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
    if (errno != EINPROGRESS) return Sys("connect");
    if (!Wait(fd, POLLOUT, deadline)) return MakeError(ErrorCode::kTimeout, "connect timed out");
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      errno = err;
      return Sys("connect");
    }
  }
  return c;
}

Conn::~Conn() {
  if (ssl_) SSL_free(ssl_);
  if (ctx_) SSL_CTX_free(ctx_);
  if (fd_ >= 0) ::close(fd_);
}

template <typename Op>
Result<int> Conn::Drive(Op op, Millis timeout, const char* what) {
  auto deadline = Clock::now() + timeout;
  for (;;) {
    ERR_clear_error();
    int r = op();
    if (r > 0) return r;
    int err = SSL_get_error(ssl_, r);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
      if (Clock::now() >= deadline) {
        return MakeError(ErrorCode::kTimeout, std::string(what) + " timed out");
      }
      if (!Wait(fd_, err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline)) {
        return MakeError(ErrorCode::kTimeout, std::string(what) + " timed out");
      }
      continue;
    }
    if (err == SSL_ERROR_ZERO_RETURN || err == SSL_ERROR_SYSCALL) {
      return MakeError(ErrorCode::kUnavailable, std::string(what) + ": connection closed");
    }
    return Ssl(what);
  }
}

Result<void> Conn::StartTls(const crypto::Identity& id, Millis timeout, bool server) {
  ASSIGN_OR_RETURN(ctx_, MakeContext(id));
  ssl_ = SSL_new(ctx_);
  SSL_set_fd(ssl_, fd_);
  if (server) {
    SSL_set_accept_state(ssl_);
  } else {
    SSL_set_connect_state(ssl_);
  }
  auto r = Drive([this] { return SSL_do_handshake(ssl_); }, timeout, "TLS handshake");
  if (!r.ok()) return r.error();
  return core::Ok();
}

Result<void> Conn::WriteAll(std::span<const uint8_t> bytes, Millis timeout) {
  auto deadline = Clock::now() + timeout;
  std::size_t done = 0;
  while (done < bytes.size()) {
    auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now());
    auto r = Drive(
        [&] { return SSL_write(ssl_, bytes.data() + done, static_cast<int>(bytes.size() - done)); },
        std::max(left, Millis(0)), "write");
    if (!r.ok()) return r.error();
    done += static_cast<std::size_t>(*r);
  }
  return core::Ok();
}

Result<void> Conn::ReadExactly(std::span<uint8_t> out, Millis timeout) {
  auto deadline = Clock::now() + timeout;
  std::size_t done = 0;
  while (done < out.size()) {
    auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now());
    auto r = Drive(
        [&] { return SSL_read(ssl_, out.data() + done, static_cast<int>(out.size() - done)); },
        std::max(left, Millis(0)), "read");
    if (!r.ok()) return r.error();
    done += static_cast<std::size_t>(*r);
  }
  return core::Ok();
}

Result<void> Conn::SendBytes(std::span<const uint8_t> bytes, Millis timeout) {
  if (!ssl_) return MakeError(ErrorCode::kInvalidArgument, "no TLS yet");
  return WriteAll(bytes, timeout);
}

Result<void> Conn::Send(wire::Envelope env, Millis timeout) {
  env.set_version(1);
  return SendBytes(FrameBytes(env.SerializeAsString()), timeout);
}

Result<void> Conn::SendChunk(uint64_t request_id, uint64_t offset, std::span<const uint8_t> data,
                             bool last, Millis timeout) {
  wire::Envelope env = Envelope(request_id);
  auto* c = env.mutable_chunk();
  c->set_offset(offset);
  c->set_length(static_cast<uint32_t>(data.size()));
  c->set_last(last);
  // Section 3: the data follows its frame.
  return SendBytes(FrameBytes(env.SerializeAsString(), data), timeout);
}

Result<Conn::Frame> Conn::Read(Millis timeout) {
  if (!ssl_) return MakeError(ErrorCode::kInvalidArgument, "no TLS yet");
  auto deadline = Clock::now() + timeout;
  std::array<uint8_t, 4> head{};
  TRY(ReadExactly(head, timeout));
  uint32_t len =
      (uint32_t{head[0]} << 24) | (uint32_t{head[1]} << 16) | (uint32_t{head[2]} << 8) | head[3];
  if (len == 0 || len > kMaxFrame) return MakeError(ErrorCode::kProtocol, "bad frame length");
  std::vector<uint8_t> payload(len);
  TRY(ReadExactly(payload, std::max(Millis(0), std::chrono::duration_cast<Millis>(
                                                   deadline - Clock::now() + Millis(1000)))));
  Frame f;
  if (!f.env.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
    return MakeError(ErrorCode::kProtocol, "not an Envelope");
  }
  if (f.env.has_chunk() && f.env.chunk().length() > 0) {
    std::vector<uint8_t> data(f.env.chunk().length());
    TRY(ReadExactly(data, Millis(5000)));
    f.data = Bytes(data);
  }
  return f;
}

Result<wire::Hello> Conn::Hello(const crypto::Identity& id, uint16_t listen_port, Millis timeout) {
  wire::Envelope env = Envelope(0);
  auto* h = env.mutable_hello();
  h->set_node_id(Bytes(id.node_id().bytes));
  h->set_pow_nonce(id.pow_nonce());
  h->set_listen_port(listen_port);
  h->set_capabilities(1);
  TRY(Send(std::move(env), timeout));
  ASSIGN_OR_RETURN(Frame f, Read(timeout));
  if (f.env.has_error()) {
    uint32_t c = f.env.error().code();
    auto code = (c >= 1 && c <= 16) ? static_cast<ErrorCode>(c) : ErrorCode::kProtocol;
    return MakeError(code, "refused: " + f.env.error().reason());
  }
  if (!f.env.has_hello()) return MakeError(ErrorCode::kProtocol, "first frame is not a Hello");
  return f.env.hello();
}

Result<wire::Hello> Conn::Greet(const crypto::Identity& id, Millis timeout) {
  TRY(StartTls(id, timeout));
  return Hello(id, 0, timeout);
}

bool Conn::WaitClosed(Millis timeout) {
  auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    auto f = Read(std::chrono::duration_cast<Millis>(deadline - Clock::now()));
    if (!f.ok()) return f.error().code != ErrorCode::kTimeout;
  }
  return false;
}

Result<std::unique_ptr<Listener>> Listener::Open(const std::string& ip) {
  sockaddr_in at{};
  at.sin_family = AF_INET;
  if (inet_pton(AF_INET, ip.c_str(), &at.sin_addr) != 1) {
    return MakeError(ErrorCode::kInvalidArgument, "bad IP " + ip);
  }
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return Sys("socket");
  if (::bind(fd, reinterpret_cast<sockaddr*>(&at), sizeof at) != 0 || ::listen(fd, 512) != 0) {
    ::close(fd);
    return Sys("bind/listen");
  }
  socklen_t len = sizeof at;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&at), &len);
  return std::unique_ptr<Listener>(new Listener(fd, ip, ntohs(at.sin_port)));
}

Listener::~Listener() { ::close(fd_); }

Result<std::unique_ptr<Conn>> Conn::Accept(Listener& l, Millis timeout) {
  ::signal(SIGPIPE, SIG_IGN);
  auto deadline = Clock::now() + timeout;
  for (;;) {
    int fd = ::accept4(l.fd(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      return std::unique_ptr<Conn>(new Conn(fd));
    }
    if (errno != EAGAIN && errno != EWOULDBLOCK) return Sys("accept");
    if (!Wait(l.fd(), POLLIN, deadline)) return MakeError(ErrorCode::kTimeout, "no connection");
  }
}

Result<std::unique_ptr<Tarpit>> Tarpit::Open(const std::string& ip) {
  ASSIGN_OR_RETURN(auto l, Listener::Open(ip));
  return std::unique_ptr<Tarpit>(new Tarpit(std::move(l)));
}

Tarpit::Tarpit(std::unique_ptr<Listener> l) : listener_(std::move(l)) {
  thread_ = std::thread([this] {
    std::vector<int> held;
    while (!stop_) {
      pollfd p{listener_->fd(), POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      int fd = ::accept4(listener_->fd(), nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      held.push_back(fd);
      ++held_;
    }
    for (int fd : held) ::close(fd);
  });
}

Tarpit::~Tarpit() {
  stop_ = true;
  thread_.join();
}

// ---- bodies ----------------------------------------------------------------------

wire::Envelope Ping(uint64_t request_id) {
  auto e = Envelope(request_id);
  e.mutable_ping();
  return e;
}

wire::Envelope FindNode(uint64_t request_id, const core::NodeId& target) {
  auto e = Envelope(request_id);
  e.mutable_find_node()->set_target(Bytes(target.bytes));
  return e;
}

wire::Envelope FindValue(uint64_t request_id, const core::NodeId& key) {
  auto e = Envelope(request_id);
  e.mutable_find_value()->set_key(Bytes(key.bytes));
  return e;
}

wire::Envelope Store(uint64_t request_id, std::span<const uint8_t> record) {
  auto e = Envelope(request_id);
  e.mutable_store()->set_record(Bytes(record));
  return e;
}

wire::Envelope AttestRequest(uint64_t request_id, const core::ContentHash& tessera,
                             const std::array<uint8_t, 32>& challenge,
                             const std::vector<uint32_t>& indices) {
  auto e = Envelope(request_id);
  auto* a = e.mutable_attest_request();
  a->set_tessera(Bytes(tessera.bytes));
  a->set_challenge(Bytes(challenge));
  for (uint32_t i : indices) a->add_indices(i);
  return e;
}

wire::Envelope FetchFragment(uint64_t request_id, const core::ContentHash& tessera,
                             uint32_t index) {
  auto e = Envelope(request_id);
  e.mutable_fetch_fragment()->set_tessera(Bytes(tessera.bytes));
  e.mutable_fetch_fragment()->set_index(index);
  return e;
}

wire::Envelope Credit(uint64_t request_id, uint32_t chunks) {
  auto e = Envelope(request_id);
  e.mutable_credit()->set_chunks(chunks);
  return e;
}

wire::Envelope ErrorFrame(uint64_t request_id, uint32_t code, const std::string& reason) {
  auto e = Envelope(request_id);
  e.mutable_error()->set_code(code);
  e.mutable_error()->set_reason(reason);
  return e;
}

std::vector<uint8_t> SignRecord(const crypto::Identity& publisher, uint32_t type,
                                const core::NodeId& key, std::span<const uint8_t> value,
                                int64_t expires_unix_ms) {
  // Section 8, in table order, integers big-endian.
  std::vector<uint8_t> out = {'T', 'S', 'R', '1'};
  PutBE(out, type, 4);
  out.insert(out.end(), key.bytes.begin(), key.bytes.end());
  out.insert(out.end(), publisher.public_key().begin(), publisher.public_key().end());
  PutBE(out, static_cast<uint64_t>(expires_unix_ms), 8);
  PutBE(out, value.size(), 4);
  out.insert(out.end(), value.begin(), value.end());
  auto sig = publisher.Sign(out);
  out.insert(out.end(), sig.begin(), sig.end());
  return out;
}

crypto::Identity GrindNear(const core::NodeId& target, int bits, int pow_bits) {
  std::random_device rd;
  std::mt19937_64 rng(rd());
  for (;;) {
    crypto::Seed seed{};
    for (auto& b : seed) b = static_cast<uint8_t>(rng());
    auto id = crypto::Identity::FromSeed(seed, pow_bits);
    if (!id.ok()) continue;
    if (core::LeadingZeroBits(core::XorDistance(id->node_id(), target).bytes) >= bits) {
      return std::move(id).value();
    }
  }
}

uint64_t ResidentBytes() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  }
  return 0;
}

}  // namespace tesseras::hostile
