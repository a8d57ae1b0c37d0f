// TLS 1.3 contexts built from a node's Ed25519 identity.
//
// Each side presents a self-signed X.509 certificate whose key is the node key.
// Certificate chains are not checked against any authority: the verification
// callback only accepts a single Ed25519 certificate, and after the handshake
// PeerPublicKey extracts the raw key so that the caller can check it against
// the NodeId the peer claims (crypto::VerifyNodeIdentity). The TLS handshake
// itself proves possession of the private key (CertificateVerify).
#pragma once

#include <openssl/ssl.h>

#include <boost/asio/ssl/context.hpp>
#include <memory>
#include <string>
#include <string_view>

#include "core/result.h"
#include "crypto/identity.h"

namespace tesseras::net {

// A TLS 1.3-only context for both client and server use, presenting a
// certificate made from `identity` and requiring one from the peer.
core::Result<std::shared_ptr<boost::asio::ssl::context>> MakeTlsContext(
    const crypto::Identity& identity);

// The raw Ed25519 key of the peer's certificate after a completed handshake.
// kPermissionDenied if there is none or it is not Ed25519.
core::Result<crypto::PublicKey> PeerPublicKey(SSL* ssl);

// `what`, followed by the first error on OpenSSL's error queue (which is then
// cleared).
std::string OpenSslError(std::string_view what);

}  // namespace tesseras::net
