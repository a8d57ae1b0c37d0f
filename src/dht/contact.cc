#include "dht/contact.h"

#include "net/endpoint.h"

namespace tesseras::dht {

std::string Contact::Address() const { return net::FormatEndpoint(endpoint); }

std::optional<Contact> ContactOf(const net::PeerIdentity& peer) {
  if (peer.listen_port == 0) return std::nullopt;
  Contact c;
  c.id = peer.id;
  c.public_key = peer.public_key;
  c.pow_nonce = peer.pow_nonce;
  c.endpoint = net::tcp::endpoint(peer.address, peer.listen_port);
  return c;
}

void ToWire(const Contact& c, wire::NodeContact* out) {
  out->set_node_id(Bytes(c.id.bytes));
  out->set_public_key(Bytes(c.public_key));
  out->set_pow_nonce(c.pow_nonce);
  const auto& a = c.endpoint.address();
  if (a.is_v4()) {
    auto b = a.to_v4().to_bytes();
    out->set_ip(Bytes(b));
  } else {
    auto b = a.to_v6().to_bytes();
    out->set_ip(Bytes(b));
  }
  out->set_port(c.endpoint.port());
}

core::Result<Contact> FromWire(const wire::NodeContact& in, int min_pow_bits) {
  if (in.node_id().size() != 32 || in.public_key().size() != 32 ||
      (in.ip().size() != 4 && in.ip().size() != 16) || in.port() == 0 || in.port() > 65535) {
    return core::MakeError(core::ErrorCode::kProtocol, "malformed contact");
  }
  Contact c;
  c.id = IdFrom<core::NodeId>(in.node_id());
  std::copy_n(reinterpret_cast<const uint8_t*>(in.public_key().data()), 32, c.public_key.begin());
  c.pow_nonce = in.pow_nonce();
  TRY(crypto::VerifyNodeIdentity(c.id, c.public_key, c.pow_nonce, min_pow_bits));
  net::asio::ip::address addr;
  if (in.ip().size() == 4) {
    net::asio::ip::address_v4::bytes_type b;
    std::copy_n(reinterpret_cast<const uint8_t*>(in.ip().data()), 4, b.begin());
    addr = net::asio::ip::address_v4(b);
  } else {
    net::asio::ip::address_v6::bytes_type b;
    std::copy_n(reinterpret_cast<const uint8_t*>(in.ip().data()), 16, b.begin());
    addr = net::asio::ip::address_v6(b);
  }
  if (addr.is_unspecified() || addr.is_multicast()) {
    return core::MakeError(core::ErrorCode::kProtocol, "contact address is not unicast");
  }
  c.endpoint = net::tcp::endpoint(addr, static_cast<uint16_t>(in.port()));
  return c;
}

}  // namespace tesseras::dht
