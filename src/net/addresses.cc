#include "net/addresses.h"

#include <algorithm>
#include <cstdio>

namespace tesseras::net {

namespace ip = boost::asio::ip;

ip::address Unmapped(const ip::address& address) {
  if (address.is_v6() && address.to_v6().is_v4_mapped()) {
    return ip::make_address_v4(ip::v4_mapped, address.to_v6());
  }
  return address;
}

Subnet SubnetOf(const ip::address& address) {
  ip::address a = Unmapped(address);
  Subnet s;
  if (a.is_v4()) {
    auto b = a.to_v4().to_bytes();
    s.v4 = true;
    std::copy_n(b.begin(), 3, s.prefix.begin());
  } else {
    auto b = a.to_v6().to_bytes();
    s.v4 = false;
    std::copy_n(b.begin(), 6, s.prefix.begin());
  }
  return s;
}

bool SameSubnet(const ip::address& a, const ip::address& b) { return SubnetOf(a) == SubnetOf(b); }

std::string Subnet::ToString() const {
  char buf[64];
  if (v4) {
    std::snprintf(buf, sizeof buf, "%u.%u.%u.0/24", prefix[0], prefix[1], prefix[2]);
  } else {
    std::snprintf(buf, sizeof buf, "%x:%x:%x::/48", (prefix[0] << 8) | prefix[1],
                  (prefix[2] << 8) | prefix[3], (prefix[4] << 8) | prefix[5]);
  }
  return buf;
}

AddressScope ScopeOf(const ip::address& address) {
  ip::address a = Unmapped(address);
  if (a.is_loopback()) return AddressScope::kLoopback;
  if (a.is_v4()) {
    auto b = a.to_v4().to_bytes();
    if (b[0] == 10) return AddressScope::kPrivate;                          // 10/8
    if (b[0] == 172 && (b[1] & 0xf0) == 16) return AddressScope::kPrivate;  // 172.16/12
    if (b[0] == 192 && b[1] == 168) return AddressScope::kPrivate;          // 192.168/16
    if (b[0] == 100 && (b[1] & 0xc0) == 64) return AddressScope::kPrivate;  // 100.64/10
    if (b[0] == 169 && b[1] == 254) return AddressScope::kPrivate;          // link-local
    if (b[0] == 0) return AddressScope::kLoopback;                          // "this host"
    return AddressScope::kPublic;
  }
  auto b = a.to_v6().to_bytes();
  if ((b[0] & 0xfe) == 0xfc) return AddressScope::kPrivate;                  // fc00::/7
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return AddressScope::kPrivate;  // fe80::/10
  return AddressScope::kPublic;
}

const char* ScopeName(AddressScope scope) {
  switch (scope) {
    case AddressScope::kLoopback:
      return "loopback";
    case AddressScope::kPrivate:
      return "private";
    case AddressScope::kPublic:
      return "public";
  }
  return "?";
}

ContactScope ResolveContactScope(ContactScope configured, const ip::address& listen_address) {
  if (configured != ContactScope::kAuto) return configured;
  if (listen_address.is_unspecified()) return ContactScope::kPublicOnly;
  switch (ScopeOf(listen_address)) {
    case AddressScope::kLoopback:
      return ContactScope::kAny;
    case AddressScope::kPrivate:
      return ContactScope::kPrivate;
    case AddressScope::kPublic:
      return ContactScope::kPublicOnly;
  }
  return ContactScope::kPublicOnly;
}

bool ContactAllowed(ContactScope scope, const ip::address& address) {
  ip::address a = Unmapped(address);
  if (a.is_unspecified() || a.is_multicast()) return false;
  if (a.is_v4() && a.to_v4() == ip::address_v4::broadcast()) return false;
  AddressScope s = ScopeOf(a);
  switch (scope) {
    case ContactScope::kAny:
      return true;
    case ContactScope::kPrivate:
      return s != AddressScope::kLoopback;
    case ContactScope::kPublicOnly:
    case ContactScope::kAuto:  // unresolved: the strictest
      return s == AddressScope::kPublic;
  }
  return false;
}

}  // namespace tesseras::net
