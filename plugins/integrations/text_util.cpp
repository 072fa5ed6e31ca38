#include "text_util.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>

namespace weft::integrations {

namespace {

constexpr int64_t kMaxRetryAfterMs = 30LL * 24 * 3600 * 1000;

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// Days since 1970-01-01 of a proleptic Gregorian date (month 1-12).
int64_t days_from_civil(int64_t y, int64_t m, int64_t d) {
  y -= m <= 2 ? 1 : 0;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;                                   // [0, 399]
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;  // [0, 365]
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;           // [0, 146096]
  return era * 146097 + doe - 719468;
}

int days_in_month(int64_t y, int m) {
  static const int kDays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : kDays[m - 1];
}

// A tiny cursor over the date text.
struct Cursor {
  std::string_view s;
  size_t i = 0;
  bool eat(std::string_view lit) {
    if (s.substr(i, lit.size()) != lit) return false;
    i += lit.size();
    return true;
  }
  // Exactly `n` digits.
  std::optional<int> digits(size_t n) {
    if (i + n > s.size()) return std::nullopt;
    int v = 0;
    for (size_t k = 0; k < n; ++k) {
      if (!is_digit(s[i + k])) return std::nullopt;
      v = v * 10 + (s[i + k] - '0');
    }
    i += n;
    return v;
  }
  // One of `names` (case-sensitive, as the RFC's grammar is); its index.
  template <size_t N>
  std::optional<int> one_of(const std::string_view (&names)[N]) {
    for (size_t k = 0; k < N; ++k)
      if (eat(names[k])) return static_cast<int>(k);
    return std::nullopt;
  }
  bool done() const { return i == s.size(); }
};

const std::string_view kMonths[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
const std::string_view kDayNames[7] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
// Longest first, so that "Monday" is not read as "Mon" + "day".
const std::string_view kLongDayNames[7] = {"Wednesday", "Thursday", "Saturday", "Tuesday",
                                           "Monday",    "Friday",   "Sunday"};

std::optional<int64_t> to_ms(int64_t year, int month, int day, int hh, int mm, int ss) {
  if (month < 1 || month > 12 || day < 1 || day > days_in_month(year, month)) return std::nullopt;
  // 60 is tolerated as a leap second.
  if (hh > 23 || mm > 59 || ss > 60) return std::nullopt;
  const int64_t days = days_from_civil(year, month, day);
  return ((days * 24 + hh) * 60 + mm) * 60000 + static_cast<int64_t>(ss) * 1000;
}

// "hh:mm:ss"
bool read_time(Cursor& c, int& hh, int& mm, int& ss) {
  auto h = c.digits(2);
  if (!h || !c.eat(":")) return false;
  auto m = c.digits(2);
  if (!m || !c.eat(":")) return false;
  auto s = c.digits(2);
  if (!s) return false;
  hh = *h;
  mm = *m;
  ss = *s;
  return true;
}

std::optional<int64_t> parse_imf_fixdate(std::string_view text) {
  Cursor c{text};
  int hh, mm, ss;
  if (!c.one_of(kDayNames) || !c.eat(", ")) return std::nullopt;
  auto day = c.digits(2);
  if (!day || !c.eat(" ")) return std::nullopt;
  auto month = c.one_of(kMonths);
  if (!month || !c.eat(" ")) return std::nullopt;
  auto year = c.digits(4);
  if (!year || !c.eat(" ") || !read_time(c, hh, mm, ss) || !c.eat(" GMT") || !c.done()) return std::nullopt;
  return to_ms(*year, *month + 1, *day, hh, mm, ss);
}

std::optional<int64_t> parse_rfc850(std::string_view text) {
  Cursor c{text};
  int hh, mm, ss;
  if (!c.one_of(kLongDayNames) || !c.eat(", ")) return std::nullopt;
  auto day = c.digits(2);
  if (!day || !c.eat("-")) return std::nullopt;
  auto month = c.one_of(kMonths);
  if (!month || !c.eat("-")) return std::nullopt;
  auto yy = c.digits(2);
  if (!yy || !c.eat(" ") || !read_time(c, hh, mm, ss) || !c.eat(" GMT") || !c.done()) return std::nullopt;
  // Two-digit years: RFC 9110 says to take the most recent past year with those digits; with
  // dates this protocol still produces, 00-69 are 2000s and 70-99 are 1900s.
  const int64_t year = *yy < 70 ? 2000 + *yy : 1900 + *yy;
  return to_ms(year, *month + 1, *day, hh, mm, ss);
}

std::optional<int64_t> parse_asctime(std::string_view text) {
  Cursor c{text};
  int hh, mm, ss;
  if (!c.one_of(kDayNames) || !c.eat(" ")) return std::nullopt;
  auto month = c.one_of(kMonths);
  if (!month || !c.eat(" ")) return std::nullopt;
  std::optional<int> day;
  if (c.eat(" ")) {
    day = c.digits(1);
  } else {
    day = c.digits(2);
  }
  if (!day || !c.eat(" ") || !read_time(c, hh, mm, ss) || !c.eat(" ")) return std::nullopt;
  auto year = c.digits(4);
  if (!year || !c.done()) return std::nullopt;
  return to_ms(*year, *month + 1, *day, hh, mm, ss);
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

std::string base64_encode(std::string_view bytes) {
  static const char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const uint32_t n = (static_cast<uint8_t>(bytes[i]) << 16) | (static_cast<uint8_t>(bytes[i + 1]) << 8) |
                       static_cast<uint8_t>(bytes[i + 2]);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += kAlphabet[n & 63];
  }
  const size_t rest = bytes.size() - i;
  if (rest > 0) {
    uint32_t n = static_cast<uint8_t>(bytes[i]) << 16;
    if (rest == 2) n |= static_cast<uint8_t>(bytes[i + 1]) << 8;
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += rest == 2 ? kAlphabet[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::string url_encode(std::string_view text) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
        c == '_' || c == '~') {
      out += ch;
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string encode_pairs(const std::vector<std::pair<std::string, std::string>>& pairs) {
  std::string out;
  for (const auto& [k, v] : pairs) {
    if (!out.empty()) out += '&';
    out += url_encode(k);
    out += '=';
    out += url_encode(v);
  }
  return out;
}

std::string append_query(std::string_view url, std::string_view query) {
  if (query.empty()) return std::string(url);
  const size_t hash = url.find('#');
  std::string_view base = url.substr(0, hash);
  std::string out(base);
  if (base.find('?') == std::string_view::npos) {
    out += '?';
  } else if (base.back() != '?' && base.back() != '&') {
    out += '&';
  }
  out += query;
  if (hash != std::string_view::npos) out += url.substr(hash);
  return out;
}

std::string url_for_display(std::string_view url) {
  url = url.substr(0, url.find_first_of("?#"));
  // Drop "user:password@" from the authority.
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return std::string(url);
  const size_t host_start = scheme_end + 3;
  const size_t authority_end = std::min(url.size(), url.find('/', host_start));
  const size_t at = url.substr(0, authority_end).rfind('@');
  if (at == std::string_view::npos || at < host_start) return std::string(url);
  return std::string(url.substr(0, host_start)) + std::string(url.substr(at + 1));
}

std::string remove_query_param(std::string_view url, std::string_view name) {
  const size_t q = url.find('?');
  if (q == std::string_view::npos) return std::string(url);
  const size_t hash = url.find('#', q);
  std::string_view query =
      url.substr(q + 1, hash == std::string_view::npos ? std::string_view::npos : hash - q - 1);
  std::string kept;
  while (true) {
    const size_t amp = query.find('&');
    std::string_view part = query.substr(0, amp);
    if (!part.empty() && part.substr(0, part.find('=')) != name) {
      if (!kept.empty()) kept += '&';
      kept += part;
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  std::string out(url.substr(0, q));
  if (!kept.empty()) out += "?" + kept;
  if (hash != std::string_view::npos) out += url.substr(hash);
  return out;
}

std::optional<int64_t> parse_http_date_ms(std::string_view text) {
  text = trim(text);
  if (auto v = parse_imf_fixdate(text)) return v;
  if (auto v = parse_rfc850(text)) return v;
  return parse_asctime(text);
}

std::optional<int64_t> retry_after_ms(std::string_view value, int64_t now_unix_ms) {
  value = trim(value);
  if (value.empty()) return std::nullopt;
  if (is_digit(value.front())) {
    // delay-seconds. Servers are meant to send an integer; "1.5" is tolerated, anything else is
    // not a number of seconds.
    double seconds = 0;
    size_t i = 0;
    while (i < value.size() && is_digit(value[i])) {
      seconds = seconds * 10 + (value[i] - '0');
      if (seconds > 1e12) seconds = 1e12;
      ++i;
    }
    if (i < value.size() && value[i] == '.') {
      double scale = 0.1;
      for (++i; i < value.size() && is_digit(value[i]); ++i, scale /= 10) seconds += (value[i] - '0') * scale;
    }
    if (i != value.size()) return std::nullopt;
    const double ms = std::ceil(seconds * 1000.0);
    return ms >= static_cast<double>(kMaxRetryAfterMs) ? kMaxRetryAfterMs : static_cast<int64_t>(ms);
  }
  auto at = parse_http_date_ms(value);
  if (!at) return std::nullopt;
  const int64_t wait = *at - now_unix_ms;
  if (wait <= 0) return 0;
  return wait > kMaxRetryAfterMs ? kMaxRetryAfterMs : wait;
}

bool valid_utf8(std::string_view text) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  size_t i = 0;
  while (i < n) {
    const unsigned char c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
      cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > n) return false;
    for (size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += len;
  }
  return true;
}

std::string utf8_preview(std::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes) return std::string(text);
  size_t cut = max_bytes;
  // Step back over continuation bytes so that no sequence is split.
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  return std::string(text.substr(0, cut)) + "...";
}

std::string to_lower(std::string_view text) {
  std::string out(text);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

std::string to_upper(std::string_view text) {
  std::string out(text);
  for (char& c : out)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return out;
}

bool valid_header_name(std::string_view name) {
  if (name.empty()) return false;
  for (char ch : name) {
    const auto c = static_cast<unsigned char>(ch);
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    std::string_view("!#$%&'*+-.^_`|~").find(ch) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

bool valid_header_value(std::string_view value) {
  return value.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

bool looks_like_http_url(std::string_view url) {
  const std::string lower = to_lower(url.substr(0, 8));
  if (lower.rfind("http://", 0) != 0 && lower.rfind("https://", 0) != 0) return false;
  for (char ch : url)
    if (static_cast<unsigned char>(ch) <= 0x20 || ch == 0x7F) return false;
  return true;
}

}  // namespace weft::integrations
