#include "net/addresses.h"

#include <gtest/gtest.h>

#include "net/budget.h"
#include "net/connection.h"

namespace tesseras::net {
namespace {

namespace ip = boost::asio::ip;

ip::address A(const char* s) { return ip::make_address(s); }

TEST(AddressesTest, SubnetsAreSlash24AndSlash48) {
  EXPECT_TRUE(SameSubnet(A("127.0.13.1"), A("127.0.13.2")));
  EXPECT_FALSE(SameSubnet(A("127.0.13.1"), A("127.0.14.1")));
  EXPECT_TRUE(SameSubnet(A("2001:db8:1:2::1"), A("2001:db8:1:ffff::9")));
  EXPECT_FALSE(SameSubnet(A("2001:db8:1::1"), A("2001:db8:2::1")));
  // What a dual-stack socket reports for an IPv4 peer counts as that IPv4 address.
  EXPECT_TRUE(SameSubnet(A("::ffff:192.0.2.7"), A("192.0.2.200")));
  EXPECT_EQ(SubnetOf(A("192.0.2.7")).ToString(), "192.0.2.0/24");
  EXPECT_EQ(SubnetOf(A("2001:db8:1:2::1")).ToString(), "2001:db8:1::/48");
}

TEST(AddressesTest, Scopes) {
  EXPECT_EQ(ScopeOf(A("127.0.5.1")), AddressScope::kLoopback);
  EXPECT_EQ(ScopeOf(A("::1")), AddressScope::kLoopback);
  EXPECT_EQ(ScopeOf(A("0.0.0.1")), AddressScope::kLoopback);
  EXPECT_EQ(ScopeOf(A("::ffff:127.0.0.1")), AddressScope::kLoopback);
  for (const char* p : {"10.1.2.3", "172.16.0.1", "172.31.255.1", "192.168.1.1", "100.64.0.1",
                        "169.254.1.1", "fd00::1", "fe80::1"}) {
    EXPECT_EQ(ScopeOf(A(p)), AddressScope::kPrivate) << p;
  }
  for (const char* p : {"172.32.0.1", "8.8.8.8", "100.128.0.1", "2001:db8::1"}) {
    EXPECT_EQ(ScopeOf(A(p)), AddressScope::kPublic) << p;
  }
}

TEST(AddressesTest, ContactScopeFollowsTheListenAddress) {
  EXPECT_EQ(ResolveContactScope(ContactScope::kAuto, A("127.0.3.1")), ContactScope::kAny);
  EXPECT_EQ(ResolveContactScope(ContactScope::kAuto, A("192.168.1.5")), ContactScope::kPrivate);
  EXPECT_EQ(ResolveContactScope(ContactScope::kAuto, A("198.51.100.1")), ContactScope::kPublicOnly);
  EXPECT_EQ(ResolveContactScope(ContactScope::kAuto, A("0.0.0.0")), ContactScope::kPublicOnly);
  EXPECT_EQ(ResolveContactScope(ContactScope::kAny, A("0.0.0.0")), ContactScope::kAny);
  // A public node never dials loopback or private ports a stranger names.
  EXPECT_FALSE(ContactAllowed(ContactScope::kPublicOnly, A("127.0.0.1")));
  EXPECT_FALSE(ContactAllowed(ContactScope::kPublicOnly, A("10.0.0.8")));
  EXPECT_TRUE(ContactAllowed(ContactScope::kPublicOnly, A("198.51.100.1")));
  EXPECT_FALSE(ContactAllowed(ContactScope::kPrivate, A("::1")));
  EXPECT_TRUE(ContactAllowed(ContactScope::kPrivate, A("192.168.0.2")));
  EXPECT_TRUE(ContactAllowed(ContactScope::kAny, A("127.0.0.1")));
  for (ContactScope s : {ContactScope::kAny, ContactScope::kPrivate, ContactScope::kPublicOnly}) {
    EXPECT_FALSE(ContactAllowed(s, A("0.0.0.0")));
    EXPECT_FALSE(ContactAllowed(s, A("224.0.0.1")));
    EXPECT_FALSE(ContactAllowed(s, A("255.255.255.255")));
    EXPECT_FALSE(ContactAllowed(s, A("ff02::1")));
  }
}

TEST(ConnectionBudgetTest, PerIpAndPerSubnetCaps) {
  AdmissionLimits l;
  l.max_connections_per_ip = 2;
  l.max_connections_per_subnet = 3;
  l.max_handshakes = 4;
  l.max_handshakes_per_ip = 1;
  l.max_handshakes_per_subnet = 2;
  ConnectionBudget b(l);
  auto x = A("203.0.113.1");
  auto y = A("203.0.113.2");
  auto z = A("203.0.113.3");
  EXPECT_EQ(b.CheckHandshake(x), AdmissionRefusal::kNone);
  b.BeginHandshake(x);
  EXPECT_EQ(b.CheckHandshake(x), AdmissionRefusal::kHandshakesPerIp);
  b.BeginHandshake(y);
  EXPECT_EQ(b.CheckHandshake(z), AdmissionRefusal::kHandshakesPerSubnet);
  EXPECT_EQ(b.CheckHandshake(A("198.51.100.1")), AdmissionRefusal::kNone);
  EXPECT_TRUE(b.HandshakeSlotFree());
  b.EndHandshake(x);
  b.EndHandshake(y);
  EXPECT_EQ(b.handshakes(), 0u);
  b.AddInbound(x);
  b.AddInbound(x);
  EXPECT_EQ(b.CheckInbound(x), AdmissionRefusal::kConnectionsPerIp);
  EXPECT_EQ(b.CheckHandshake(x), AdmissionRefusal::kConnectionsPerIp);  // refused before TLS
  b.AddInbound(y);
  EXPECT_EQ(b.CheckInbound(z), AdmissionRefusal::kConnectionsPerSubnet);
  b.RemoveInbound(x);  // x: 1, y: 1, the /24: 2 of 3
  EXPECT_EQ(b.CheckInbound(x), AdmissionRefusal::kNone);
  EXPECT_EQ(b.CheckInbound(z), AdmissionRefusal::kNone);
  b.AddInbound(z);
  EXPECT_EQ(b.CheckInbound(A("203.0.113.9")), AdmissionRefusal::kConnectionsPerSubnet);
  // Handshakes in flight never count as established connections, and back.
  for (int i = 0; i < 4; ++i) b.BeginHandshake(A(("192.0.2." + std::to_string(i)).c_str()));
  EXPECT_FALSE(b.HandshakeSlotFree());
  EXPECT_EQ(b.inbound(), 3u);
}

TEST(TransferPaceTest, DeadlineGrowsWithProgressAndSkipsOwnTime) {
  using Clock = TransferPace::Clock;
  auto t0 = Clock::time_point{} + std::chrono::hours(1);
  TransferPace pace(1000, Millis(10000), t0);  // 1000 B/s after 10 s
  EXPECT_EQ(pace.Deadline(0), t0 + Millis(10000));
  EXPECT_EQ(pace.Deadline(5000), t0 + Millis(15000));
  pace.AddOwnTime(Millis(3000));  // our disk: not the peer's fault
  EXPECT_EQ(pace.Deadline(5000), t0 + Millis(18000));
  EXPECT_EQ(TransferPace::Bound(22'369'622, 16 * 1024, Millis(10000)), Millis(10000 + 1'365'334));
  TransferPace off(0, Millis(10000), t0);
  EXPECT_EQ(off.Deadline(0), Clock::time_point::max());
}

}  // namespace
}  // namespace tesseras::net
