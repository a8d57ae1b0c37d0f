#include "net/tls.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include <string>

namespace tesseras::net {
namespace {

using core::ErrorCode;
using core::MakeError;

struct PkeyDeleter {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct X509Deleter {
  void operator()(X509* x) const { X509_free(x); }
};

core::Result<crypto::PublicKey> RawEd25519(EVP_PKEY* key) {
  if (key == nullptr || EVP_PKEY_get_id(key) != EVP_PKEY_ED25519) {
    return MakeError(ErrorCode::kPermissionDenied, "peer certificate key is not Ed25519");
  }
  crypto::PublicKey pk{};
  std::size_t len = pk.size();
  if (EVP_PKEY_get_raw_public_key(key, pk.data(), &len) != 1 || len != pk.size()) {
    return MakeError(ErrorCode::kPermissionDenied, OpenSslError("bad Ed25519 key"));
  }
  return pk;
}

// Accepts exactly one self-signed Ed25519 certificate; identity is checked
// after the handshake against the Hello.
int VerifyCallback(int /*preverified*/, X509_STORE_CTX* ctx) {
  if (X509_STORE_CTX_get_error_depth(ctx) != 0) return 0;
  X509* cert = X509_STORE_CTX_get_current_cert(ctx);
  if (cert == nullptr) return 0;
  EVP_PKEY* key = X509_get0_pubkey(cert);
  if (key == nullptr || EVP_PKEY_get_id(key) != EVP_PKEY_ED25519) return 0;
  return 1;
}

}  // namespace

std::string OpenSslError(std::string_view what) {
  std::string s(what);
  unsigned long e = ERR_get_error();
  if (e != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    s += ": ";
    s += buf;
  }
  ERR_clear_error();
  return s;
}

core::Result<std::shared_ptr<boost::asio::ssl::context>> MakeTlsContext(
    const crypto::Identity& identity) {
  namespace ssl = boost::asio::ssl;
  std::unique_ptr<EVP_PKEY, PkeyDeleter> key(EVP_PKEY_new_raw_private_key(
      EVP_PKEY_ED25519, nullptr, identity.seed().data(), identity.seed().size()));
  if (!key) return MakeError(ErrorCode::kInternal, OpenSslError("Ed25519 key"));

  std::unique_ptr<X509, X509Deleter> cert(X509_new());
  if (!cert) return MakeError(ErrorCode::kInternal, OpenSslError("X509_new"));
  X509_set_version(cert.get(), 2);
  uint8_t serial_bytes[8];
  if (RAND_bytes(serial_bytes, sizeof serial_bytes) != 1) {
    return MakeError(ErrorCode::kInternal, OpenSslError("RAND_bytes"));
  }
  uint64_t serial = 0;
  for (uint8_t b : serial_bytes) serial = (serial << 8) | b;
  ASN1_INTEGER_set_uint64(X509_get_serialNumber(cert.get()), serial >> 1);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 10L * 365 * 24 * 3600);
  X509_NAME* name = X509_get_subject_name(cert.get());
  std::string cn = identity.node_id().ToHex().substr(0, 32);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);
  if (X509_set_pubkey(cert.get(), key.get()) != 1 ||
      X509_sign(cert.get(), key.get(), nullptr) <= 0) {
    return MakeError(ErrorCode::kInternal, OpenSslError("self-signing the certificate"));
  }

  auto ctx = std::make_shared<ssl::context>(ssl::context::tls);
  SSL_CTX* native = ctx->native_handle();
  SSL_CTX_set_min_proto_version(native, TLS1_3_VERSION);
  SSL_CTX_set_max_proto_version(native, TLS1_3_VERSION);
  SSL_CTX_set_options(native, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_set_session_cache_mode(native, SSL_SESS_CACHE_OFF);
  // No TLS 1.3 session tickets either (SSL_OP_NO_TICKET alone only makes
  // them stateful): nothing resumes sessions, and a ticket nobody reads can
  // turn a peer's close into a reset.
  SSL_CTX_set_num_tickets(native, 0);
  // Ed25519 certificates; AES-GCM first (hardware), ChaCha20 as fallback.
  SSL_CTX_set_ciphersuites(native,
                           "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"
                           "TLS_CHACHA20_POLY1305_SHA256");
  if (SSL_CTX_use_certificate(native, cert.get()) != 1 ||
      SSL_CTX_use_PrivateKey(native, key.get()) != 1 || SSL_CTX_check_private_key(native) != 1) {
    return MakeError(ErrorCode::kInternal, OpenSslError("installing the certificate"));
  }
  SSL_CTX_set_verify(native, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, VerifyCallback);
  SSL_CTX_set_verify_depth(native, 0);
  return ctx;
}

core::Result<crypto::PublicKey> PeerPublicKey(SSL* ssl) {
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (cert == nullptr) {
    return MakeError(ErrorCode::kPermissionDenied, "peer presented no certificate");
  }
  return RawEd25519(X509_get0_pubkey(cert));
}

}  // namespace tesseras::net
