#include "host/net/address.hpp"

#include "host/net/outbound.hpp"  // is_blocked_address

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>

namespace weft::net {
namespace {

IpAddress v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  IpAddress ip;
  ip.bytes[0] = a;
  ip.bytes[1] = b;
  ip.bytes[2] = c;
  ip.bytes[3] = d;
  return ip;
}

// True when the first `prefix` bits of a and b agree (same family assumed).
bool prefix_match(const IpAddress& a, const IpAddress& b, int prefix) {
  int full = prefix / 8;
  if (std::memcmp(a.bytes.data(), b.bytes.data(), static_cast<size_t>(full)) != 0) return false;
  int rest = prefix % 8;
  if (rest == 0) return true;
  uint8_t mask = static_cast<uint8_t>(0xFFu << (8 - rest));
  return (a.bytes[full] & mask) == (b.bytes[full] & mask);
}

void mask_to_prefix(IpAddress& a, int prefix) {
  int total = a.v6 ? 16 : 4;
  for (int i = 0; i < total; ++i) {
    int bits = std::clamp(prefix - i * 8, 0, 8);
    uint8_t mask = bits == 0 ? 0 : static_cast<uint8_t>(0xFFu << (8 - bits));
    a.bytes[i] &= mask;
  }
  for (int i = total; i < 16; ++i) a.bytes[i] = 0;
}

struct Range {
  IpAddress net;
  int prefix;
};

IpAddress v6_prefix(std::initializer_list<uint16_t> groups) {
  IpAddress ip;
  ip.v6 = true;
  int i = 0;
  for (uint16_t g : groups) {
    ip.bytes[i++] = static_cast<uint8_t>(g >> 8);
    ip.bytes[i++] = static_cast<uint8_t>(g & 0xFF);
  }
  return ip;
}

// IPv4 special-purpose ranges (IANA registry) that node code has no business reaching.
const std::vector<Range>& blocked_v4() {
  static const std::vector<Range> ranges = {
      {v4(0, 0, 0, 0), 8},        // "this network", incl. 0.0.0.0
      {v4(10, 0, 0, 0), 8},       // private
      {v4(100, 64, 0, 0), 10},    // carrier-grade NAT
      {v4(127, 0, 0, 0), 8},      // loopback
      {v4(169, 254, 0, 0), 16},   // link-local, cloud metadata (169.254.169.254)
      {v4(172, 16, 0, 0), 12},    // private
      {v4(192, 0, 0, 0), 24},     // IETF protocol assignments
      {v4(192, 0, 2, 0), 24},     // documentation TEST-NET-1
      {v4(192, 88, 99, 0), 24},   // 6to4 relay anycast (deprecated)
      {v4(192, 168, 0, 0), 16},   // private
      {v4(198, 18, 0, 0), 15},    // benchmarking
      {v4(198, 51, 100, 0), 24},  // documentation TEST-NET-2
      {v4(203, 0, 113, 0), 24},   // documentation TEST-NET-3
      {v4(224, 0, 0, 0), 4},      // multicast
      {v4(240, 0, 0, 0), 4},      // reserved, incl. broadcast 255.255.255.255
  };
  return ranges;
}

// Special ranges inside global unicast 2000::/3 (everything outside 2000::/3 is blocked anyway:
// ::/8 reserved, 64:ff9b:1::/48 local NAT64, 100::/64 discard, fc00::/7 unique local,
// fe80::/10 link-local, fec0::/10 site-local, ff00::/8 multicast, ...).
const std::vector<Range>& blocked_v6_in_global() {
  static const std::vector<Range> ranges = {
      {v6_prefix({0x2001, 0x0000}), 32},          // Teredo (embeds an obfuscated IPv4)
      {v6_prefix({0x2001, 0x0002, 0x0000}), 48},  // benchmarking
      {v6_prefix({0x2001, 0x0010}), 28},          // ORCHID (deprecated)
      {v6_prefix({0x2001, 0x0020}), 28},          // ORCHIDv2
      {v6_prefix({0x2001, 0x0db8}), 32},          // documentation
      {v6_prefix({0x3fff, 0x0000}), 20},          // documentation (RFC 9637)
  };
  return ranges;
}

bool blocked_v4_address(const IpAddress& a) {
  for (const Range& r : blocked_v4()) {
    if (prefix_match(a, r.net, r.prefix)) return true;
  }
  return false;
}

std::string lower_ascii(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string normalise_name(std::string_view host) {
  std::string h = lower_ascii(host);
  if (!h.empty() && h.back() == '.') h.pop_back();
  return h;
}

std::optional<uint16_t> parse_port(std::string_view s) {
  if (s.empty() || s.size() > 5) return std::nullopt;
  uint32_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<uint32_t>(c - '0');
  }
  if (v == 0 || v > 65535) return std::nullopt;
  return static_cast<uint16_t>(v);
}

// A DNS name as it may appear in a URL: labels of letters, digits, '-' and '_'. The last label
// must not be all digits, so numeric IPv4 spellings ("127.1", "2130706433") cannot pose as names.
bool valid_host_name(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  size_t start = 0;
  bool last_all_digits = false;
  while (start <= name.size()) {
    size_t dot = name.find('.', start);
    if (dot == std::string_view::npos) dot = name.size();
    std::string_view label = name.substr(start, dot - start);
    if (label.empty() || label.size() > 63) return false;
    last_all_digits = true;
    for (char c : label) {
      bool digit = c >= '0' && c <= '9';
      bool ok = digit || (c >= 'a' && c <= 'z') || c == '-' || c == '_';
      if (!ok) return false;
      if (!digit) last_all_digits = false;
    }
    start = dot + 1;
  }
  return !last_all_digits;
}

Error bad_entry(std::string_view entry, std::string_view why) {
  return Error("invalid_config", "outbound.allow entry \"" + std::string(entry) + "\": " + std::string(why));
}

}  // namespace

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
  if (text.size() >= 2 && text.front() == '[' && text.back() == ']') {
    text = text.substr(1, text.size() - 2);
    std::string s(text);
    IpAddress ip;
    ip.v6 = true;
    if (inet_pton(AF_INET6, s.c_str(), ip.bytes.data()) == 1) return ip;
    return std::nullopt;
  }
  if (text.empty() || text.size() > 45) return std::nullopt;
  std::string s(text);
  IpAddress ip;
  if (inet_pton(AF_INET, s.c_str(), ip.bytes.data()) == 1) return ip;
  ip.v6 = true;
  if (inet_pton(AF_INET6, s.c_str(), ip.bytes.data()) == 1) return ip;
  return std::nullopt;
}

std::optional<IpAddress> IpAddress::from_sockaddr(const struct sockaddr* sa, size_t len, uint16_t* port_out) {
  if (sa == nullptr) return std::nullopt;
  IpAddress ip;
  if (sa->sa_family == AF_INET && len >= sizeof(sockaddr_in)) {
    sockaddr_in in{};
    std::memcpy(&in, sa, sizeof in);
    std::memcpy(ip.bytes.data(), &in.sin_addr, 4);
    if (port_out) *port_out = ntohs(in.sin_port);
    return ip;
  }
  if (sa->sa_family == AF_INET6 && len >= sizeof(sockaddr_in6)) {
    sockaddr_in6 in6{};
    std::memcpy(&in6, sa, sizeof in6);
    ip.v6 = true;
    std::memcpy(ip.bytes.data(), &in6.sin6_addr, 16);
    if (port_out) *port_out = ntohs(in6.sin6_port);
    return ip;
  }
  return std::nullopt;
}

std::string IpAddress::to_string() const {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(v6 ? AF_INET6 : AF_INET, bytes.data(), buf, sizeof buf);
  return buf;
}

std::optional<IpAddress> IpAddress::mapped_ipv4() const {
  if (!v6) return std::nullopt;
  static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
  if (std::memcmp(bytes.data(), mapped, 12) != 0) return std::nullopt;
  return v4(bytes[12], bytes[13], bytes[14], bytes[15]);
}

std::optional<IpAddress> IpAddress::embedded_ipv4() const {
  if (!v6) return std::nullopt;
  auto last32 = [&] { return v4(bytes[12], bytes[13], bytes[14], bytes[15]); };
  static const uint8_t zeros[12] = {};
  static const uint8_t translated[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0, 0};
  static const uint8_t nat64[12] = {0x00, 0x64, 0xFF, 0x9B, 0, 0, 0, 0, 0, 0, 0, 0};
  if (auto m = mapped_ipv4()) return m;                                 // ::ffff:a.b.c.d
  if (std::memcmp(bytes.data(), zeros, 12) == 0) return last32();       // ::a.b.c.d, ::, ::1
  if (std::memcmp(bytes.data(), translated, 12) == 0) return last32();  // ::ffff:0:a.b.c.d
  if (std::memcmp(bytes.data(), nat64, 12) == 0) return last32();       // 64:ff9b::a.b.c.d
  if (bytes[0] == 0x20 && bytes[1] == 0x02) {                           // 2002:aabb:ccdd::
    return v4(bytes[2], bytes[3], bytes[4], bytes[5]);
  }
  return std::nullopt;
}

bool is_blocked_ip(const IpAddress& address) {
  if (!address.v6) return blocked_v4_address(address);
  if (auto embedded = address.embedded_ipv4()) return blocked_v4_address(*embedded);
  // Only global unicast 2000::/3 is reachable.
  if ((address.bytes[0] & 0xE0) != 0x20) return true;
  for (const Range& r : blocked_v6_in_global()) {
    if (prefix_match(address, r.net, r.prefix)) return true;
  }
  return false;
}

bool is_blocked_address(std::string_view address) {
  auto ip = IpAddress::parse(address);
  if (!ip) return true;  // not a numeric address: fail closed
  return is_blocked_ip(*ip);
}

Result<Allowlist> Allowlist::parse(const std::vector<std::string>& entries) {
  Allowlist list;
  for (const std::string& raw : entries) {
    std::string_view s = raw;
    if (s.empty()) return bad_entry(raw, "empty entry");
    for (char c : s) {
      if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7F) {
        return bad_entry(raw, "contains whitespace or non-ASCII characters");
      }
    }
    Entry e;
    std::string_view target;  // address, CIDR or host name, without port
    bool bracketed = false;
    if (s.front() == '[') {
      size_t close = s.find(']');
      if (close == std::string_view::npos) return bad_entry(raw, "missing ']'");
      target = s.substr(1, close - 1);
      std::string_view rest = s.substr(close + 1);
      if (!rest.empty()) {
        if (rest.front() != ':') return bad_entry(raw, "expected ':<port>' after ']'");
        auto port = parse_port(rest.substr(1));
        if (!port) return bad_entry(raw, "port must be 1-65535");
        e.port = *port;
      }
      bracketed = true;
    } else {
      size_t colons = static_cast<size_t>(std::count(s.begin(), s.end(), ':'));
      if (colons == 1) {
        size_t colon = s.find(':');
        auto port = parse_port(s.substr(colon + 1));
        if (!port) return bad_entry(raw, "port must be 1-65535");
        e.port = *port;
        target = s.substr(0, colon);
      } else {
        target = s;  // no port, or an unbracketed IPv6 address / CIDR (any port)
      }
    }
    if (target.empty()) return bad_entry(raw, "missing address or host name");

    size_t slash = target.find('/');
    std::string_view addr_text = target.substr(0, slash);
    auto ip = IpAddress::parse(addr_text);
    if (ip) {
      if (bracketed && !ip->v6) return bad_entry(raw, "brackets are for IPv6 addresses");
      int max_prefix = ip->v6 ? 128 : 32;
      int prefix = max_prefix;
      if (slash != std::string_view::npos) {
        std::string_view len = target.substr(slash + 1);
        if (len.empty() || len.size() > 3 ||
            !std::all_of(len.begin(), len.end(), [](char c) { return c >= '0' && c <= '9'; })) {
          return bad_entry(raw, "prefix length must be a number");
        }
        prefix = std::stoi(std::string(len));
        if (prefix > max_prefix) return bad_entry(raw, "prefix length too long");
      }
      // An IPv4-mapped entry is the IPv4 entry (connections are matched the same way).
      if (auto m = ip->mapped_ipv4(); m && prefix >= 96) {
        ip = m;
        prefix -= 96;
      }
      mask_to_prefix(*ip, prefix);
      e.network = *ip;
      e.prefix = prefix;
    } else {
      if (bracketed || slash != std::string_view::npos) {
        return bad_entry(raw, "not a valid IP address or CIDR");
      }
      std::string name = normalise_name(target);
      if (!valid_host_name(name)) {
        return bad_entry(raw,
                         "not an IP address, CIDR or host name (IPv4 addresses must be "
                         "written as a.b.c.d)");
      }
      e.is_name = true;
      e.name = std::move(name);
    }
    list.entries_.push_back(std::move(e));
  }
  return list;
}

bool Allowlist::allows(std::string_view host, const IpAddress& address, uint16_t port) const {
  if (entries_.empty()) return false;
  std::string name = normalise_name(host);
  IpAddress a = address.mapped_ipv4().value_or(address);
  for (const Entry& e : entries_) {
    if (e.port != 0 && e.port != port) continue;
    if (e.is_name) {
      if (!name.empty() && name == e.name) return true;
    } else if (e.network.v6 == a.v6 && prefix_match(a, e.network, e.prefix)) {
      return true;
    }
  }
  return false;
}

bool address_permitted(const Allowlist& allow, std::string_view host, const IpAddress& address,
                       uint16_t port) {
  return allow.allows(host, address, port) || !is_blocked_ip(address);
}

bool connection_permitted(const Allowlist& allow, std::string_view host, uint16_t port,
                          const std::vector<IpAddress>& pinned, const struct sockaddr* sa, size_t sa_len,
                          std::string* refused) {
  uint16_t sa_port = 0;
  auto ip = IpAddress::from_sockaddr(sa, sa_len, &sa_port);
  if (!ip) {
    if (refused) *refused = "(not an IP socket address)";
    return false;
  }
  bool is_pinned = std::find(pinned.begin(), pinned.end(), *ip) != pinned.end();
  if (!is_pinned || sa_port != port || !address_permitted(allow, host, *ip, sa_port)) {
    if (refused) *refused = ip->to_string();
    return false;
  }
  return true;
}

}  // namespace weft::net
