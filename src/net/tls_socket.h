// A TLS 1.3 session over a TCP socket, driven by coroutines.
//
// OpenSSL talks to a BIO pair (two ring buffers); this class moves ciphertext
// between the rings and the socket in large blocks: a socket read lands
// straight in the input ring (up to 512 KiB, many TLS records, per system
// call), and a Write encrypts all it is given (a batch of frames, up to
// 1 MiB) before sending it straight from the output ring. Asio's ssl::stream
// moves one record (≤ 17 KiB) per system call and copies it once more on each
// side; on this virtualised kernel the system calls then cost more than the
// cryptography (measured in docs/PERFORMANCE.md, Network).
//
// Threading: lives on one executor; every method must be called there. At
// most one Read and one Write may be in progress at a time (a reader and a
// writer coroutine may run concurrently: they share the TLS session but not
// the socket direction). Close() makes every pending and later operation
// fail; the SSL session stays valid until destruction, and since it never
// owns the file descriptor, no TLS call can touch a reused descriptor.
#pragma once

#include <openssl/ssl.h>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "core/result.h"

namespace tesseras::net {

class TlsSocket {
 public:
  enum class Role { kClient, kServer };

  // `socket` may still be unopened (a dialler connects it through socket()
  // before Handshake).
  TlsSocket(boost::asio::ip::tcp::socket socket, boost::asio::ssl::context& context);
  ~TlsSocket();
  TlsSocket(const TlsSocket&) = delete;
  TlsSocket& operator=(const TlsSocket&) = delete;

  boost::asio::ip::tcp::socket& socket() { return socket_; }
  boost::asio::any_io_executor get_executor() { return socket_.get_executor(); }
  SSL* native_handle() { return ssl_; }
  bool is_open() const { return !closed_ && socket_.is_open(); }

  // Runs the TLS handshake. kPermissionDenied if TLS refuses the peer (its
  // certificate, protocol version...), kUnavailable if the socket fails.
  boost::asio::awaitable<core::Result<void>> Handshake(Role role);

  // Reads exactly out.size() bytes of application data. kUnavailable when the
  // connection ends (or was closed), kProtocol on a TLS error.
  boost::asio::awaitable<core::Result<void>> Read(std::span<uint8_t> out);

  // Encrypts and sends every byte of `buffers`.
  boost::asio::awaitable<core::Result<void>> Write(
      std::span<const boost::asio::const_buffer> buffers);
  boost::asio::awaitable<core::Result<void>> Write(boost::asio::const_buffer buffer);

  // Closes the socket (idempotent).
  void Close();

 private:
  // Reads what the socket has (at least one byte) into the TLS input BIO.
  boost::asio::awaitable<core::Result<void>> Fill();
  // Sends everything TLS has produced so far.
  boost::asio::awaitable<core::Result<void>> Flush();

  boost::asio::ip::tcp::socket socket_;
  SSL* ssl_ = nullptr;
  BIO* network_ = nullptr;  // our end of the BIO pair (ssl_ owns the other)
  bool closed_ = false;
};

}  // namespace tesseras::net
