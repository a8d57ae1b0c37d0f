#include "net/tls_socket.h"

#include <openssl/err.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <string>

#include "net/tls.h"

namespace tesseras::net {
namespace {

namespace asio = boost::asio;
using core::ErrorCode;
using core::MakeError;
using core::Result;
constexpr auto kAwait = asio::as_tuple(asio::use_awaitable);

// Ring sizes. Output: a Write encrypts everything it is given into the ring
// and sends it at the end (or whenever the ring fills), so a connection's
// batch of frames (up to 1 MiB of chunks, see Connection::WriteLoop) leaves in
// one or two system calls (two when the ring wraps). Input: what one socket
// read may bring. Rings are allocated on first use, never zero-filled, so an
// idle connection touches only the pages it used.
constexpr std::size_t kOutputRing = (1u << 20) + 64 * 1024;
constexpr std::size_t kInputRing = 512 * 1024;

core::Error Closed() { return MakeError(ErrorCode::kUnavailable, "connection closed"); }

}  // namespace

TlsSocket::TlsSocket(asio::ip::tcp::socket socket, asio::ssl::context& context)
    : socket_(std::move(socket)) {
  ssl_ = SSL_new(context.native_handle());
  if (ssl_ == nullptr) return;
  BIO* internal = nullptr;
  // What TLS writes for us (kOutputRing), what we write for TLS (kInputRing).
  if (BIO_new_bio_pair(&internal, kOutputRing, &network_, kInputRing) != 1) {
    SSL_free(ssl_);
    ssl_ = nullptr;
    network_ = nullptr;
    return;
  }
  SSL_set_bio(ssl_, internal, internal);  // ssl_ owns `internal`
  // A write may stop after whole records when the output ring is full; we
  // send and continue from where it stopped.
  SSL_set_mode(ssl_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
}

TlsSocket::~TlsSocket() {
  Close();
  if (ssl_ != nullptr) SSL_free(ssl_);
  if (network_ != nullptr) BIO_free(network_);
}

void TlsSocket::Close() {
  if (closed_) return;
  closed_ = true;
  boost::system::error_code ignored;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
}

asio::awaitable<Result<void>> TlsSocket::Fill() {
  if (closed_) co_return Closed();
  char* space = nullptr;
  ossl_ssize_t room = BIO_nwrite0(network_, &space);
  if (room <= 0) {
    // TLS asked for input with its input ring full: cannot happen while the
    // ring holds a whole record, so the session is broken.
    co_return MakeError(ErrorCode::kInternal, OpenSslError("TLS input ring full"));
  }
  auto [ec, n] =
      co_await socket_.async_read_some(asio::buffer(space, static_cast<std::size_t>(room)), kAwait);
  if (closed_) co_return Closed();
  if (ec == asio::error::eof) {
    co_return MakeError(ErrorCode::kUnavailable, "peer closed the connection");
  }
  if (ec) co_return MakeError(ErrorCode::kUnavailable, "read: " + ec.message());
  if (BIO_nwrite(network_, &space, static_cast<int>(n)) != static_cast<int>(n)) {
    co_return MakeError(ErrorCode::kInternal, OpenSslError("committing TLS input"));
  }
  co_return core::Ok();
}

asio::awaitable<Result<void>> TlsSocket::Flush() {
  while (true) {
    if (closed_) co_return Closed();
    char* pending = nullptr;
    ossl_ssize_t n = BIO_nread0(network_, &pending);
    if (n <= 0) co_return core::Ok();
    // Sent from the ring itself: TLS may append to it meanwhile (an alert from
    // the reader), which never moves bytes already there.
    auto [ec, sent] = co_await asio::async_write(
        socket_, asio::buffer(pending, static_cast<std::size_t>(n)), kAwait);
    if (closed_) co_return Closed();
    if (ec) co_return MakeError(ErrorCode::kUnavailable, "write: " + ec.message());
    if (BIO_nread(network_, &pending, static_cast<int>(n)) != static_cast<int>(n)) {
      co_return MakeError(ErrorCode::kInternal, OpenSslError("consuming TLS output"));
    }
  }
}

asio::awaitable<Result<void>> TlsSocket::Handshake(Role role) {
  if (ssl_ == nullptr) co_return MakeError(ErrorCode::kInternal, "no TLS session");
  if (role == Role::kClient) {
    SSL_set_connect_state(ssl_);
  } else {
    SSL_set_accept_state(ssl_);
  }
  while (true) {
    ERR_clear_error();
    int r = SSL_do_handshake(ssl_);
    int err = r == 1 ? SSL_ERROR_NONE : SSL_get_error(ssl_, r);
    // Send what the handshake produced (also a fatal alert, so that the peer
    // learns why), then decide.
    std::string reason = err == SSL_ERROR_SSL ? OpenSslError("TLS handshake") : std::string();
    auto flushed = co_await Flush();
    if (err == SSL_ERROR_NONE) co_return flushed;
    if (err == SSL_ERROR_WANT_WRITE && flushed.ok()) continue;  // output ring was full
    if (err == SSL_ERROR_WANT_READ && flushed.ok()) {
      CO_TRY(co_await Fill());
      continue;
    }
    if (!reason.empty()) co_return MakeError(ErrorCode::kPermissionDenied, reason);
    if (!flushed.ok()) co_return flushed;
    co_return MakeError(ErrorCode::kUnavailable,
                        "TLS handshake failed (error " + std::to_string(err) + ")");
  }
}

asio::awaitable<Result<void>> TlsSocket::Read(std::span<uint8_t> out) {
  if (ssl_ == nullptr) co_return MakeError(ErrorCode::kInternal, "no TLS session");
  std::size_t filled = 0;
  while (filled < out.size()) {
    if (closed_) co_return Closed();
    ERR_clear_error();
    std::size_t n = 0;
    int r = SSL_read_ex(ssl_, out.data() + filled, out.size() - filled, &n);
    if (r == 1) {
      filled += n;
      continue;
    }
    int err = SSL_get_error(ssl_, r);
    if (err == SSL_ERROR_WANT_READ) {
      CO_TRY(co_await Fill());
      continue;
    }
    if (err == SSL_ERROR_ZERO_RETURN) {
      co_return MakeError(ErrorCode::kUnavailable, "peer closed the TLS session");
    }
    if (err == SSL_ERROR_WANT_WRITE) {
      // TLS must answer something (an alert, a key update) and the output ring
      // is full; only the writer may send, so give up on this connection.
      co_return MakeError(ErrorCode::kUnavailable, "TLS output blocked while reading");
    }
    co_return MakeError(err == SSL_ERROR_SSL ? ErrorCode::kProtocol : ErrorCode::kUnavailable,
                        OpenSslError("TLS read"));
  }
  co_return core::Ok();
}

asio::awaitable<Result<void>> TlsSocket::Write(std::span<const asio::const_buffer> buffers) {
  if (ssl_ == nullptr) co_return MakeError(ErrorCode::kInternal, "no TLS session");
  for (const auto& b : buffers) {
    const auto* data = static_cast<const uint8_t*>(b.data());
    std::size_t done = 0;
    while (done < b.size()) {
      if (closed_) co_return Closed();
      ERR_clear_error();
      std::size_t written = 0;
      int r = SSL_write_ex(ssl_, data + done, b.size() - done, &written);
      if (r == 1) {
        done += written;
        continue;
      }
      if (SSL_get_error(ssl_, r) == SSL_ERROR_WANT_WRITE) {  // output ring full
        CO_TRY(co_await Flush());
        continue;
      }
      co_return MakeError(ErrorCode::kProtocol, OpenSslError("TLS write"));
    }
  }
  co_return co_await Flush();
}

asio::awaitable<Result<void>> TlsSocket::Write(asio::const_buffer buffer) {
  // A coroutine (not a forwarding call): `buffer` must live in this frame
  // while the span over it is in use.
  co_return co_await Write(std::span<const asio::const_buffer>(&buffer, 1));
}

}  // namespace tesseras::net
