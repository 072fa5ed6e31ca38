// Address classification, allowlist parsing/matching and the "outbound" config section.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <cstring>

#include "host/net/address.hpp"
#include "host/net/outbound.hpp"

namespace weft::net {
namespace {

TEST(BlockedAddress, Ipv4SpecialRangesAreBlocked) {
  for (const char* a :
       {"0.0.0.0",         "0.1.2.3",         "10.0.0.1",        "10.255.255.255",  "100.64.0.1",
        "100.127.255.254", "127.0.0.1",       "127.255.255.255", "169.254.169.254", "169.254.0.1",
        "172.16.0.1",      "172.31.255.255",  "192.0.0.8",       "192.0.2.1",       "192.88.99.1",
        "192.168.0.1",     "192.168.255.255", "198.18.0.1",      "198.19.255.255",  "198.51.100.7",
        "203.0.113.9",     "224.0.0.1",       "239.255.255.250", "240.0.0.1",       "255.255.255.255"}) {
    EXPECT_TRUE(is_blocked_address(a)) << a;
  }
}

TEST(BlockedAddress, PublicIpv4IsAllowed) {
  for (const char* a :
       {"8.8.8.8", "1.1.1.1", "93.184.216.34", "9.255.255.255", "11.0.0.0", "100.63.255.255", "100.128.0.0",
        "126.255.255.255", "128.0.0.1", "169.253.255.255", "172.15.255.255", "172.32.0.0", "192.167.255.255",
        "192.169.0.0", "198.17.255.255", "198.20.0.0", "223.255.255.255"}) {
    EXPECT_FALSE(is_blocked_address(a)) << a;
  }
}

TEST(BlockedAddress, Ipv6SpecialRangesAreBlocked) {
  for (const char* a : {"::",
                        "::1",
                        "fe80::1",
                        "febf::1",
                        "fc00::1",
                        "fd00:ec2::254",
                        "ff02::1",
                        "ff0e::1",
                        "fec0::1",
                        "100::1",
                        "64:ff9b:1::1",
                        "2001::1",
                        "2001:0:4136:e378::1",
                        "2001:2::1",
                        "2001:10::1",
                        "2001:20::1",
                        "2001:db8::1",
                        "3fff::1",
                        "1::1",
                        "4000::1",
                        "[::1]"}) {
    EXPECT_TRUE(is_blocked_address(a)) << a;
  }
}

TEST(BlockedAddress, Ipv6FormsOfBlockedIpv4AreBlocked) {
  for (const char* a : {"::ffff:127.0.0.1", "::ffff:7f00:1", "::ffff:169.254.169.254", "::ffff:10.0.0.1",
                        "::127.0.0.1", "::a9fe:a9fe", "::ffff:0:7f00:1", "64:ff9b::7f00:1",
                        "64:ff9b::127.0.0.1", "64:ff9b::a9fe:a9fe", "64:ff9b::a00:1", "2002:7f00:1::",
                        "2002:7f00:1::1", "2002:a9fe:a9fe::1", "2002:c0a8:101::", "2002::"}) {
    EXPECT_TRUE(is_blocked_address(a)) << a;
  }
}

TEST(BlockedAddress, PublicIpv6AndIpv6FormsOfPublicIpv4AreAllowed) {
  for (const char* a : {"2606:4700:4700::1111", "2001:4860:4860::8888", "2a00:1450::1", "::ffff:8.8.8.8",
                        "64:ff9b::808:808", "2002:808:808::1", "[2606::1]"}) {
    EXPECT_FALSE(is_blocked_address(a)) << a;
  }
}

TEST(BlockedAddress, AnythingNotAStrictNumericAddressIsBlocked) {
  // Fails closed: names and non-canonical IPv4 spellings are not addresses to this function.
  for (const char* a : {"", "localhost", "example.com", "127.1", "0x7f.1", "0177.0.0.1", "2130706433",
                        "1.2.3.4.5", "::1%lo", "[::1", "256.0.0.1"}) {
    EXPECT_TRUE(is_blocked_address(a)) << a;
  }
}

TEST(BlockedAddress, EmbeddedIpv4IsExtractedFromEachForm) {
  auto embedded = [](const char* text) {
    auto ip = IpAddress::parse(text);
    EXPECT_TRUE(ip.has_value()) << text;
    auto e = ip ? ip->embedded_ipv4() : std::nullopt;
    return e ? e->to_string() : std::string("-");
  };
  EXPECT_EQ(embedded("::ffff:1.2.3.4"), "1.2.3.4");
  EXPECT_EQ(embedded("::1.2.3.4"), "1.2.3.4");
  EXPECT_EQ(embedded("::ffff:0:1.2.3.4"), "1.2.3.4");
  EXPECT_EQ(embedded("64:ff9b::1.2.3.4"), "1.2.3.4");
  EXPECT_EQ(embedded("2002:102:304:5::6"), "1.2.3.4");
  EXPECT_EQ(embedded("2606:4700::1"), "-");
  EXPECT_EQ(embedded("1.2.3.4"), "-");
}

Allowlist parse_ok(std::vector<std::string> entries) {
  auto r = Allowlist::parse(entries);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
  return r.ok() ? r.value() : Allowlist{};
}

IpAddress ip(const char* text) {
  return IpAddress::parse(text).value();
}

TEST(Allowlist, AddressWithPortMatchesOnlyThatPort) {
  Allowlist a = parse_ok({"127.0.0.1:8080"});
  EXPECT_TRUE(a.allows("127.0.0.1", ip("127.0.0.1"), 8080));
  EXPECT_FALSE(a.allows("127.0.0.1", ip("127.0.0.1"), 8081));
  EXPECT_FALSE(a.allows("127.0.0.2", ip("127.0.0.2"), 8080));
  // The mapped IPv6 form is the same host.
  EXPECT_TRUE(a.allows("::ffff:127.0.0.1", ip("::ffff:127.0.0.1"), 8080));
  EXPECT_FALSE(a.allows("::1", ip("::1"), 8080));
}

TEST(Allowlist, CidrsAndIpv6) {
  Allowlist a = parse_ok(
      {"10.0.0.0/8", "192.168.1.0/24:443", "fd00::/8", "[::1]:9000", "[fe80::/10]:22", "2001:db8::1"});
  EXPECT_TRUE(a.allows("x", ip("10.1.2.3"), 1));
  EXPECT_TRUE(a.allows("x", ip("10.255.0.1"), 65535));
  EXPECT_FALSE(a.allows("x", ip("11.0.0.1"), 80));
  EXPECT_TRUE(a.allows("x", ip("192.168.1.77"), 443));
  EXPECT_FALSE(a.allows("x", ip("192.168.1.77"), 80));
  EXPECT_FALSE(a.allows("x", ip("192.168.2.1"), 443));
  EXPECT_TRUE(a.allows("x", ip("fd12:3456::1"), 80));
  EXPECT_FALSE(a.allows("x", ip("fc00::1"), 80));
  EXPECT_TRUE(a.allows("x", ip("::1"), 9000));
  EXPECT_FALSE(a.allows("x", ip("::1"), 9001));
  EXPECT_TRUE(a.allows("x", ip("fe80::abcd"), 22));
  EXPECT_FALSE(a.allows("x", ip("fe80::abcd"), 23));
  EXPECT_TRUE(a.allows("x", ip("2001:db8::1"), 1234));
  EXPECT_FALSE(a.allows("x", ip("2001:db8::2"), 1234));
}

TEST(Allowlist, HostNamesMatchTheUrlHostCaseInsensitively) {
  Allowlist a = parse_ok({"Internal.Example.com", "api.example.com:8443"});
  EXPECT_TRUE(a.allows("internal.example.com", ip("10.0.0.5"), 80));
  EXPECT_TRUE(a.allows("INTERNAL.EXAMPLE.COM.", ip("10.0.0.5"), 1));
  EXPECT_FALSE(a.allows("other.example.com", ip("10.0.0.5"), 80));
  EXPECT_FALSE(a.allows("sub.internal.example.com", ip("10.0.0.5"), 80));
  EXPECT_TRUE(a.allows("api.example.com", ip("192.168.0.1"), 8443));
  EXPECT_FALSE(a.allows("api.example.com", ip("192.168.0.1"), 443));
  // A name entry never matches by address.
  EXPECT_FALSE(a.allows("10.0.0.5", ip("10.0.0.5"), 80));
}

TEST(Allowlist, EmptyAllowsNothing) {
  Allowlist a = parse_ok({});
  EXPECT_TRUE(a.empty());
  EXPECT_FALSE(a.allows("localhost", ip("127.0.0.1"), 80));
}

TEST(Allowlist, MalformedEntriesAreConfigErrors) {
  for (const char* bad : {"",
                          " 127.0.0.1",
                          "127.0.0.1:",
                          "127.0.0.1:0",
                          "127.0.0.1:65536",
                          "127.0.0.1:http",
                          "10.0.0.0/33",
                          "10.0.0.0/",
                          "10.0.0.0/x",
                          "::1/129",
                          "[::1",
                          "[::1]x",
                          "[::1]:",
                          "[127.0.0.1]",
                          "[::1]:0",
                          "127.1",
                          "0x7f.1",
                          "2130706433",
                          "0177.0.0.1",
                          "*.example.com",
                          "exa mple.com",
                          "example..com",
                          "-bad-.com:x",
                          "host/8",
                          "a:b:c:d",
                          ":80"}) {
    auto r = Allowlist::parse({bad});
    ASSERT_FALSE(r.ok()) << "accepted: \"" << bad << "\"";
    EXPECT_EQ(r.error().code, "invalid_config") << bad;
  }
}

sockaddr_in v4_sockaddr(const char* a, uint16_t port) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  inet_pton(AF_INET, a, &sa.sin_addr);
  return sa;
}

sockaddr_in6 v6_sockaddr(const char* a, uint16_t port) {
  sockaddr_in6 sa{};
  sa.sin6_family = AF_INET6;
  sa.sin6_port = htons(port);
  inet_pton(AF_INET6, a, &sa.sin6_addr);
  return sa;
}

// The open-socket re-check (the DNS-rebinding guard): only the validated addresses, only on the
// hop's port, only while the policy permits them.
TEST(ConnectionCheck, OnlyPinnedPermittedAddressesOnTheHopPort) {
  Allowlist allow = parse_ok({"127.0.0.1:8080"});
  std::vector<IpAddress> pinned = {ip("93.184.216.34"), ip("2606:2800:220:1::1"), ip("127.0.0.1")};
  std::string refused;
  auto check = [&](const auto& sa, uint16_t port) {
    refused.clear();
    return connection_permitted(allow, "example.com", port, pinned, reinterpret_cast<const sockaddr*>(&sa),
                                sizeof sa, &refused);
  };
  EXPECT_TRUE(check(v4_sockaddr("93.184.216.34", 80), 80));
  EXPECT_TRUE(check(v6_sockaddr("2606:2800:220:1::1", 80), 80));
  EXPECT_TRUE(check(v4_sockaddr("127.0.0.1", 8080), 8080));  // pinned and allowlisted

  // A rebound answer: not among the validated addresses, even though it is public.
  EXPECT_FALSE(check(v4_sockaddr("1.1.1.1", 80), 80));
  EXPECT_EQ(refused, "1.1.1.1");
  // Rebound to an internal address.
  EXPECT_FALSE(check(v4_sockaddr("169.254.169.254", 80), 80));
  EXPECT_EQ(refused, "169.254.169.254");
  EXPECT_FALSE(check(v6_sockaddr("::ffff:169.254.169.254", 80), 80));
  // Right address, wrong port.
  EXPECT_FALSE(check(v4_sockaddr("93.184.216.34", 81), 80));
  // Pinned but blocked without an entry for this port.
  EXPECT_FALSE(check(v4_sockaddr("127.0.0.1", 9090), 9090));
  // Not an IP socket.
  sockaddr unix_sa{};
  unix_sa.sa_family = AF_UNIX;
  EXPECT_FALSE(connection_permitted(allow, "example.com", 80, pinned, &unix_sa, sizeof unix_sa, &refused));
  EXPECT_FALSE(connection_permitted(allow, "example.com", 80, pinned, nullptr, 0, &refused));
}

TEST(OutboundPolicyConfig, NullGivesDefaults) {
  auto p = OutboundPolicy::from_json(Json());
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE(p->allow.empty());
  EXPECT_EQ(p->max_redirects, 5);
  EXPECT_EQ(p->user_agent, "weft/0.1");
}

TEST(OutboundPolicyConfig, ParsesEveryKey) {
  auto j = Json::parse(R"({"allow": ["127.0.0.1:8080", "10.0.0.0/8", "api.internal"],
    "max_response_bytes": 1000, "max_request_body_bytes": 2000, "default_timeout_ms": 3000,
    "max_timeout_ms": 4000, "connect_timeout_ms": 500, "max_redirects": 2,
    "low_speed_bytes_per_s": 10, "low_speed_time_ms": 5000, "user_agent": "bot/1"})");
  ASSERT_TRUE(j.ok());
  auto p = OutboundPolicy::from_json(*j);
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_EQ(p->allow.size(), 3u);
  EXPECT_EQ(p->max_response_bytes, 1000u);
  EXPECT_EQ(p->max_request_body_bytes, 2000u);
  EXPECT_EQ(p->default_timeout_ms, 3000);
  EXPECT_EQ(p->max_timeout_ms, 4000);
  EXPECT_EQ(p->connect_timeout_ms, 500);
  EXPECT_EQ(p->max_redirects, 2);
  EXPECT_EQ(p->low_speed_bytes_per_s, 10);
  EXPECT_EQ(p->low_speed_time_ms, 5000);
  EXPECT_EQ(p->user_agent, "bot/1");
}

TEST(OutboundPolicyConfig, RejectsBadSections) {
  for (const char* text :
       {R"([])", R"({"allowlist": []})", R"({"allow": "127.0.0.1"})", R"({"allow": [1]})",
        R"({"allow": ["127.1"]})", R"({"allow": ["10.0.0.0/40"]})", R"({"max_response_bytes": 0})",
        R"({"max_response_bytes": "10"})", R"({"max_response_bytes": 1.5})", R"({"default_timeout_ms": -1})",
        R"({"max_redirects": 100})", R"({"default_timeout_ms": 5000, "max_timeout_ms": 1000})",
        R"({"user_agent": ""})", R"({"user_agent": "a\r\nX-Injected: 1"})", R"({"low_speed_time_ms": 10})"}) {
    auto j = Json::parse(text);
    ASSERT_TRUE(j.ok()) << text;
    auto p = OutboundPolicy::from_json(*j);
    ASSERT_FALSE(p.ok()) << "accepted: " << text;
    EXPECT_EQ(p.error().code, "invalid_config") << text;
  }
  auto j = Json::parse(R"({"allow": ["ok.example", "bad entry"]})");
  auto p = OutboundPolicy::from_json(*j);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.error().message.find("bad entry"), std::string::npos) << p.error().message;
}

}  // namespace
}  // namespace weft::net
