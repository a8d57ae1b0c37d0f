// A DHT contact: a node id with the key and proof that mint it, and where the
// node listens. Contacts that arrive from peers are verified before use.
#pragma once

#include <algorithm>
#include <string>

#include "core/fragment.h"
#include "core/ids.h"
#include "core/result.h"
#include "crypto/identity.h"
#include "net/connection.h"
#include "tesseras.pb.h"

namespace tesseras::dht {

struct Contact {
  core::NodeId id;
  crypto::PublicKey public_key{};
  uint64_t pow_nonce = 0;
  net::tcp::endpoint endpoint;

  std::string Address() const;
  core::PeerInfo ToPeerInfo() const { return core::PeerInfo{id, Address()}; }
  bool operator==(const Contact&) const = default;
};

// The contact of a peer we are connected to, if it listens (listen_port != 0).
std::optional<Contact> ContactOf(const net::PeerIdentity& peer);

void ToWire(const Contact& c, wire::NodeContact* out);
// Checks the id against key + proof (kPermissionDenied) and the address.
core::Result<Contact> FromWire(const wire::NodeContact& in, int min_pow_bits);

// Helpers for 32-byte protobuf fields (lengths are checked by net::ValidateEnvelope).
inline std::string Bytes(std::span<const uint8_t> b) { return std::string(b.begin(), b.end()); }
template <typename Id>
Id IdFrom(const std::string& s) {
  Id id;
  std::copy_n(reinterpret_cast<const uint8_t*>(s.data()), std::min(s.size(), id.bytes.size()),
              id.bytes.begin());
  return id;
}

}  // namespace tesseras::dht
