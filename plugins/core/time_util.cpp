#include "time_util.hpp"

#include <chrono>

namespace weft::core_pack {

namespace {

// Reads exactly `n` decimal digits at `pos`.
bool digits(std::string_view s, size_t& pos, size_t n, int& out) {
  if (pos + n > s.size()) return false;
  out = 0;
  for (size_t i = 0; i < n; ++i) {
    char c = s[pos + i];
    if (c < '0' || c > '9') return false;
    out = out * 10 + (c - '0');
  }
  pos += n;
  return true;
}

bool expect(std::string_view s, size_t& pos, char c) {
  if (pos >= s.size() || s[pos] != c) return false;
  ++pos;
  return true;
}

}  // namespace

std::optional<int64_t> parse_iso8601_ms(std::string_view s, std::string& error) {
  const char* kShape = "is not an ISO-8601 time like 2026-01-02T03:04:05Z";
  size_t pos = 0;
  int year, month, day, hour, minute, second;
  if (!digits(s, pos, 4, year) || !expect(s, pos, '-') || !digits(s, pos, 2, month) || !expect(s, pos, '-') ||
      !digits(s, pos, 2, day)) {
    error = kShape;
    return std::nullopt;
  }
  if (pos >= s.size() || (s[pos] != 'T' && s[pos] != 't' && s[pos] != ' ')) {
    error = kShape;
    return std::nullopt;
  }
  ++pos;
  if (!digits(s, pos, 2, hour) || !expect(s, pos, ':') || !digits(s, pos, 2, minute) || !expect(s, pos, ':') ||
      !digits(s, pos, 2, second)) {
    error = kShape;
    return std::nullopt;
  }
  int millis = 0;
  if (pos < s.size() && (s[pos] == '.' || s[pos] == ',')) {
    ++pos;
    size_t start = pos;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (pos - start < 3) millis = millis * 10 + (s[pos] - '0');
      ++pos;
    }
    size_t n = pos - start;
    if (n == 0 || n > 9) {
      error = "has an invalid fraction of a second";
      return std::nullopt;
    }
    for (size_t i = n; i < 3; ++i) millis *= 10;
  }
  int offset_minutes = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int sign = s[pos] == '-' ? -1 : 1;
    ++pos;
    int oh, om;
    if (!digits(s, pos, 2, oh)) {
      error = "has an invalid UTC offset";
      return std::nullopt;
    }
    if (pos < s.size() && s[pos] == ':') ++pos;
    if (!digits(s, pos, 2, om) || oh > 23 || om > 59) {
      error = "has an invalid UTC offset";
      return std::nullopt;
    }
    offset_minutes = sign * (oh * 60 + om);
  } else {
    error = "has no time zone: end it with Z (UTC) or an offset like +02:00";
    return std::nullopt;
  }
  if (pos != s.size()) {
    error = kShape;
    return std::nullopt;
  }
  if (year < 1970) {
    error = "is before 1970";
    return std::nullopt;
  }
  using namespace std::chrono;
  const year_month_day ymd{std::chrono::year{year}, std::chrono::month{static_cast<unsigned>(month)},
                           std::chrono::day{static_cast<unsigned>(day)}};
  // Seconds up to 60 for a leap second, which Unix time folds into the next second.
  if (!ymd.ok() || hour > 23 || minute > 59 || second > 60) {
    error = "is not a valid date and time";
    return std::nullopt;
  }
  const int64_t days = sys_days{ymd}.time_since_epoch().count();
  const int64_t secs = days * 86400 + hour * 3600 + minute * 60 + second - int64_t{offset_minutes} * 60;
  return secs * 1000 + millis;
}

}  // namespace weft::core_pack
