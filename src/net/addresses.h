// How the network layer classifies peer addresses (docs/SECURITY.md, "Network").
//
// - Subnet: the failure and ownership domain budgets count by: an IPv4 /24 or
//   an IPv6 /48. An IPv4-mapped IPv6 address (::ffff:a.b.c.d, what a dual-stack
//   socket reports for IPv4 peers) counts as the IPv4 address.
// - Scope: loopback, private (RFC 1918, 100.64/10 shared, 169.254/16 and
//   fe80::/10 link-local, fc00::/7 unique local) or public. A node dials only
//   contacts in the scopes its ContactScope allows, so that a stranger cannot
//   make it connect to ports on its own host or its local network.
//
// Pure functions; thread-safe.
#pragma once

#include <array>
#include <boost/asio/ip/address.hpp>
#include <compare>
#include <cstdint>
#include <string>

namespace tesseras::net {

struct Subnet {
  bool v4 = true;
  std::array<uint8_t, 6> prefix{};  // IPv4: 3 bytes (/24); IPv6: 6 bytes (/48)
  auto operator<=>(const Subnet&) const = default;
  std::string ToString() const;  // "192.0.2.0/24", "2001:db8:1::/48"
};

// The /24 or /48 of `address`.
Subnet SubnetOf(const boost::asio::ip::address& address);
bool SameSubnet(const boost::asio::ip::address& a, const boost::asio::ip::address& b);

// An IPv4-mapped IPv6 address as IPv4; every other address unchanged.
boost::asio::ip::address Unmapped(const boost::asio::ip::address& address);

enum class AddressScope { kLoopback = 0, kPrivate = 1, kPublic = 2 };
AddressScope ScopeOf(const boost::asio::ip::address& address);
const char* ScopeName(AddressScope scope);

// Which contact addresses a node accepts and dials ([network] contact_scope).
enum class ContactScope : uint32_t {
  kAuto = 0,        // from the listen address, see ResolveContactScope
  kPublicOnly = 1,  // public addresses only
  kPrivate = 2,     // private and public
  kAny = 3,         // loopback, private and public
};

// kAuto resolved against our listen address: a node listening on loopback
// accepts every scope (all the tests and the local demo), one on a private
// address accepts private and public, and one on a public or unspecified
// address (0.0.0.0, ::) accepts only public addresses. Other values are kept.
ContactScope ResolveContactScope(ContactScope configured,
                                 const boost::asio::ip::address& listen_address);

// Whether a node with the (resolved) policy `scope` may add and dial `address`.
// Unspecified and multicast addresses are never allowed.
bool ContactAllowed(ContactScope scope, const boost::asio::ip::address& address);

}  // namespace tesseras::net
