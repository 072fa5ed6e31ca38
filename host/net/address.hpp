// IP address classification and the outbound allowlist. Internal to host/net (the outbound client
// is the only user); exposed so the tables can be unit-tested directly.
//
// Everything here works on numeric addresses only: name resolution happens in outbound.cpp, and
// every address a name resolves to goes through is_blocked_ip / Allowlist::allows.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "host/core/result.hpp"

struct sockaddr;

namespace weft::net {

struct IpAddress {
  bool v6 = false;
  std::array<uint8_t, 16> bytes{};  // IPv4 uses the first 4 bytes, network order

  // Strict textual forms only (inet_pton): dotted-quad IPv4, RFC 4291 IPv6, optionally in
  // brackets ("[::1]"). Shortened/octal/hex IPv4 spellings are NOT accepted here — they are
  // host names to this function and go through the resolver, which turns them into addresses.
  static std::optional<IpAddress> parse(std::string_view text);
  // From a socket address (AF_INET / AF_INET6); nullopt for any other family.
  static std::optional<IpAddress> from_sockaddr(const struct sockaddr* sa, size_t len, uint16_t* port_out);

  std::string to_string() const;  // inet_ntop form, no brackets

  // The IPv4 address an IPv6 address stands for: IPv4-mapped ::ffff:0:0/96, IPv4-compatible
  // ::/96 (deprecated, includes :: and ::1), IPv4-translated ::ffff:0:0:0/96, NAT64 well-known
  // prefix 64:ff9b::/96, 6to4 2002::/16. nullopt for other IPv6 and for IPv4.
  std::optional<IpAddress> embedded_ipv4() const;
  // Only the IPv4-mapped form (the same host on a dual-stack socket), for allowlist matching.
  std::optional<IpAddress> mapped_ipv4() const;

  bool operator==(const IpAddress& o) const { return v6 == o.v6 && bytes == o.bytes; }
};

// True when the address may not be reached without an allowlist entry. IPv6 forms that embed an
// IPv4 address are judged by that address; other IPv6 is allowed only inside global unicast
// 2000::/3 minus documentation, benchmarking, Teredo, ORCHID and similar special ranges.
bool is_blocked_ip(const IpAddress& address);

// The admin allowlist (OutboundPolicy::allow), parsed once.
class Allowlist {
 public:
  // Entries as documented on OutboundPolicy::allow. Errors: "invalid_config" naming the entry.
  static Result<Allowlist> parse(const std::vector<std::string>& entries);

  // True when an entry covers this connection. `host` is the URL's host as the client normalised
  // it (lower case, no brackets, no trailing dot); `address` is where it resolves / connects.
  bool allows(std::string_view host, const IpAddress& address, uint16_t port) const;

  bool empty() const { return entries_.empty(); }

 private:
  struct Entry {
    bool is_name = false;
    std::string name;   // lower case, no trailing dot
    IpAddress network;  // masked to `prefix`
    int prefix = 0;
    uint16_t port = 0;  // 0 = any port
  };
  std::vector<Entry> entries_;
};

// The policy decision for one address of `host` on `port`: allowlisted, or not blocked.
bool address_permitted(const Allowlist& allow, std::string_view host, const IpAddress& address,
                       uint16_t port);

// The re-check made in the client's open-socket callback, just before connecting: `sa` must be
// one of the `pinned` addresses validated for this hop, on the hop's `port`, and still permitted
// by the policy. Whatever curl resolved or cached, nothing else is connected to. On refusal,
// `refused` (if given) receives the address text.
bool connection_permitted(const Allowlist& allow, std::string_view host, uint16_t port,
                          const std::vector<IpAddress>& pinned, const struct sockaddr* sa, size_t sa_len,
                          std::string* refused);

}  // namespace weft::net
