#include "host/expr/value.hpp"

#include <charconv>
#include <cstdio>
#include <cmath>
#include <limits>

namespace weft::expr {

bool truthy(const Json& v) {
  switch (v.type()) {
    case Json::Type::Null: return false;
    case Json::Type::Bool: return v.as_bool();
    case Json::Type::Int: return v.as_int() != 0;
    case Json::Type::Double: {
      double d = v.as_double();
      return d != 0 && !std::isnan(d);
    }
    case Json::Type::String: return !v.as_string().empty();
    case Json::Type::Array:
    case Json::Type::Object: return true;
  }
  return false;
}

bool append_json(const Json& v, std::string& out, size_t max_bytes) { return v.dump_to(out, max_bytes); }

bool append_text(const Json& v, std::string& out, size_t max_bytes) {
  if (v.is_string()) {
    const auto& s = v.as_string();
    if (out.size() + s.size() > max_bytes) return false;
    out += s;
    return true;
  }
  return append_json(v, out, max_bytes);
}

size_t utf8_length(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s)
    if ((c & 0xC0) != 0x80) ++n;
  return n;
}

size_t utf8_offset(std::string_view s, size_t cp) {
  size_t i = 0;
  size_t seen = 0;
  while (i < s.size()) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) {
      if (seen == cp) return i;
      ++seen;
    }
    ++i;
  }
  return s.size();
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

Json add_numbers(const Json& a, const Json& b) {
  if (a.is_int() && b.is_int()) {
    int64_t r;
    if (!__builtin_add_overflow(a.as_int(), b.as_int(), &r)) return Json(static_cast<long long>(r));
  }
  return Json(a.as_double() + b.as_double());
}
Json sub_numbers(const Json& a, const Json& b) {
  if (a.is_int() && b.is_int()) {
    int64_t r;
    if (!__builtin_sub_overflow(a.as_int(), b.as_int(), &r)) return Json(static_cast<long long>(r));
  }
  return Json(a.as_double() - b.as_double());
}
Json mul_numbers(const Json& a, const Json& b) {
  if (a.is_int() && b.is_int()) {
    int64_t r;
    if (!__builtin_mul_overflow(a.as_int(), b.as_int(), &r)) return Json(static_cast<long long>(r));
  }
  return Json(a.as_double() * b.as_double());
}

Json integral_or_double(double d) {
  // 2^63 is exactly representable; anything in [-2^63, 2^63) converts without UB.
  if (std::isfinite(d) && d == std::trunc(d) && d >= -9223372036854775808.0 &&
      d < 9223372036854775808.0) {
    return Json(static_cast<long long>(d));
  }
  return Json(d);
}

std::optional<Json> parse_number(std::string_view s) {
  auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  if (s.empty()) return std::nullopt;
  std::string_view body = s;
  if (body.front() == '+') {  // from_chars rejects a leading '+'; accept exactly one
    body.remove_prefix(1);
    if (body.empty() || body.front() == '+' || body.front() == '-') return std::nullopt;
  }
  bool integral = body.find_first_of(".eE") == std::string_view::npos;
  if (integral) {
    long long i = 0;
    auto [p, ec] = std::from_chars(body.data(), body.data() + body.size(), i);
    if (ec == std::errc() && p == body.data() + body.size()) return Json(i);
    if (ec != std::errc::result_out_of_range) return std::nullopt;
  }
  double d = 0;
  auto [p, ec] = std::from_chars(body.data(), body.data() + body.size(), d);
  if (ec != std::errc() || p != body.data() + body.size() || !std::isfinite(d)) return std::nullopt;
  return Json(d);
}

// Days-from-civil and its inverse for the proleptic Gregorian calendar: the well-known
// era-based (400-year cycle) arithmetic, which needs no tables and no time zone database.
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

void civil_from_days(int64_t z, int64_t& y, unsigned& m, unsigned& d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  y = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y += m <= 2;
}

namespace {

bool leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }
unsigned days_in_month(int64_t y, unsigned m) {
  static const unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && leap(y) ? 29 : kDays[m - 1];
}

// Reads exactly `n` digits at s[pos]; advances pos.
bool digits(std::string_view s, size_t& pos, size_t n, unsigned& out) {
  if (pos + n > s.size()) return false;
  unsigned v = 0;
  for (size_t i = 0; i < n; ++i) {
    char c = s[pos + i];
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  pos += n;
  out = v;
  return true;
}

}  // namespace

std::optional<int64_t> parse_iso8601_ms(std::string_view s) {
  size_t p = 0;
  unsigned year, month, day, hour = 0, minute = 0, second = 0, millis = 0;
  if (!digits(s, p, 4, year) || p >= s.size() || s[p++] != '-') return std::nullopt;
  if (!digits(s, p, 2, month) || p >= s.size() || s[p++] != '-') return std::nullopt;
  if (!digits(s, p, 2, day)) return std::nullopt;
  if (month < 1 || month > 12 || day < 1 || day > days_in_month(year, month)) return std::nullopt;
  int64_t offset_minutes = 0;
  if (p < s.size()) {
    if (s[p] != 'T' && s[p] != 't' && s[p] != ' ') return std::nullopt;
    ++p;
    if (!digits(s, p, 2, hour) || p >= s.size() || s[p++] != ':') return std::nullopt;
    if (!digits(s, p, 2, minute)) return std::nullopt;
    if (p < s.size() && s[p] == ':') {
      ++p;
      if (!digits(s, p, 2, second)) return std::nullopt;
      if (p < s.size() && (s[p] == '.' || s[p] == ',')) {
        ++p;
        size_t start = p;
        unsigned scale = 100;
        while (p < s.size() && s[p] >= '0' && s[p] <= '9') {
          millis += static_cast<unsigned>(s[p] - '0') * scale;  // extra digits are dropped
          scale /= 10;
          ++p;
        }
        if (p == start) return std::nullopt;
      }
    }
    if (hour > 23 || minute > 59 || second > 59) return std::nullopt;
    if (p < s.size()) {
      char z = s[p++];
      if (z == 'Z' || z == 'z') {
        // UTC
      } else if (z == '+' || z == '-') {
        unsigned oh, om;
        if (!digits(s, p, 2, oh)) return std::nullopt;
        if (p < s.size() && s[p] == ':') ++p;
        if (!digits(s, p, 2, om) || oh > 23 || om > 59) return std::nullopt;
        offset_minutes = (z == '+' ? 1 : -1) * static_cast<int64_t>(oh * 60 + om);
      } else {
        return std::nullopt;
      }
    }
  }
  if (p != s.size()) return std::nullopt;
  int64_t days = days_from_civil(year, month, day);
  int64_t secs = days * 86400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
  return secs * 1000 + millis;
}

std::optional<std::string> format_iso8601_ms(int64_t ms, bool date_only) {
  // Years 0..9999 keep the fixed-width format meaningful; beyond that the caller gets an error.
  constexpr int64_t kMin = -62167219200000LL;  // 0000-01-01T00:00:00Z
  constexpr int64_t kMax = 253402300799999LL;  // 9999-12-31T23:59:59.999Z
  if (ms < kMin || ms > kMax) return std::nullopt;
  int64_t days = ms >= 0 ? ms / 86400000 : -((-ms + 86399999) / 86400000);
  int64_t rem = ms - days * 86400000;  // 0 .. 86399999
  int64_t y;
  unsigned m, d;
  civil_from_days(days, y, m, d);
  char buf[40];
  if (date_only) {
    std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", static_cast<int>(y), m, d);
  } else {
    int64_t h = rem / 3600000, mi = rem / 60000 % 60, s = rem / 1000 % 60, f = rem % 1000;
    std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ", static_cast<int>(y), m, d,
                  static_cast<int>(h), static_cast<int>(mi), static_cast<int>(s),
                  static_cast<int>(f));
  }
  return std::string(buf);
}

}  // namespace weft::expr
