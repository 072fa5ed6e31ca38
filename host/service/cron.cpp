#include "host/service/cron.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>

#include "host/core/json.hpp"

namespace weft::service {

// ---- calendar ------------------------------------------------------------------------------------

namespace {

int64_t floor_div(int64_t a, int64_t b) {
  return a / b - ((a % b != 0) && ((a < 0) != (b < 0)));
}

bool is_leap(int64_t y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

}  // namespace

// Howard Hinnant's days_from_civil / civil_from_days algorithms (public-domain descriptions of
// the proleptic Gregorian calendar), written out here.
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = floor_div(y, 400);
  const int64_t yoe = y - era * 400;                                   // [0, 399]
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;  // [0, 365]
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;           // [0, 146096]
  return era * 146097 + doe - 719468;
}

void civil_from_days(int64_t z, int64_t& y, unsigned& m, unsigned& d) {
  z += 719468;
  const int64_t era = floor_div(z, 146097);
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  d = static_cast<unsigned>(doy - (153 * mp + 2) / 5 + 1);
  m = static_cast<unsigned>(mp < 10 ? mp + 3 : mp - 9);
  y = yoe + era * 400 + (m <= 2);
}

unsigned days_in_month(int64_t y, unsigned m) {
  static constexpr unsigned kDays[] = {0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : kDays[m];
}

unsigned weekday_of(int64_t days) {
  // 1970-01-01 was a Thursday (4).
  return static_cast<unsigned>(((days + 4) % 7 + 7) % 7);
}

// ---- cron expressions ------------------------------------------------------------------------------

namespace {

struct FieldSpec {
  const char* label;                   // for messages: "day-of-month"
  const char* key;                     // for details: "day_of_month"
  int min, max;                        // accepted values (day-of-week: 0-7, 7 = Sunday)
  const char* const* names = nullptr;  // 3-letter names, value = index + names_base
  int names_base = 0;
};

constexpr const char* kMonthNames[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                       "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
constexpr const char* kDayNames[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};

const FieldSpec kFields[5] = {
    {"minute", "minute", 0, 59},
    {"hour", "hour", 0, 23},
    {"day-of-month", "day_of_month", 1, 31},
    {"month", "month", 1, 12, kMonthNames, 1},
    {"day-of-week", "day_of_week", 0, 7, kDayNames, 0},
};

Error cron_error(const std::string& expr, const FieldSpec* f, const std::string& token,
                 const std::string& why) {
  Json d = Json::object();
  if (f) d.set("field", f->key);
  if (!token.empty()) d.set("value", token);  // not "token": error details named so are redacted
  d.set("expression", expr);
  std::string msg = f ? std::string(f->label) + " field: " : std::string();
  msg += why;
  return Error("invalid_cron", msg, d.dump());
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

bool all_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

// One value of a field: a number or (month, day-of-week) a name. Range-checked.
Result<int> field_value(const std::string& expr, const FieldSpec& f, std::string_view tok) {
  const std::string token(tok);
  if (all_digits(tok)) {
    if (tok.size() > 4)
      return cron_error(
          expr, &f, token,
          "'" + token + "' is out of range " + std::to_string(f.min) + "-" + std::to_string(f.max));
    int v = std::atoi(token.c_str());
    if (v < f.min || v > f.max)
      return cron_error(
          expr, &f, token,
          "'" + token + "' is out of range " + std::to_string(f.min) + "-" + std::to_string(f.max));
    return v;
  }
  if (f.names) {
    const std::string u = upper(tok);
    const size_t count = f.names == kMonthNames ? 12 : 7;
    for (size_t i = 0; i < count; ++i)
      if (u == f.names[i]) return static_cast<int>(i) + f.names_base;
    return cron_error(expr, &f, token,
                      "'" + token + "' is not a " + (f.names == kMonthNames ? "month" : "weekday") +
                          " name (" + f.names[0] + ".." + f.names[count - 1] + ") or number");
  }
  return cron_error(expr, &f, token, "'" + token + "' is not a number");
}

// Parses one field into `bits` (value v sets bit v; day-of-week 7 sets bit 0).
template <size_t N>
Status parse_field(const std::string& expr, const FieldSpec& f, std::string_view text, std::bitset<N>& bits) {
  const int hi = f.max == 7 ? 6 : f.max;  // `*` on day-of-week is 0-6
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t comma = text.find(',', pos);
    if (comma == std::string_view::npos) comma = text.size();
    const std::string_view item = text.substr(pos, comma - pos);
    const std::string item_s(item);
    if (item.empty())
      return cron_error(expr, &f, std::string(text), "empty list item in '" + std::string(text) + "'");
    std::string_view base = item, step_text;
    bool has_step = false;
    if (size_t slash = item.find('/'); slash != std::string_view::npos) {
      base = item.substr(0, slash);
      step_text = item.substr(slash + 1);
      has_step = true;
      if (step_text.find('/') != std::string_view::npos)
        return cron_error(expr, &f, item_s, "'" + item_s + "' has more than one step");
    }
    int lo, up;
    if (base == "*") {
      lo = f.min;
      up = hi;
    } else if (size_t dash = base.find('-'); dash != std::string_view::npos) {
      if (dash == 0 || dash + 1 == base.size())
        return cron_error(expr, &f, item_s, "'" + item_s + "' is not a valid item");
      auto a = field_value(expr, f, base.substr(0, dash));
      if (!a.ok()) return a.error();
      auto b = field_value(expr, f, base.substr(dash + 1));
      if (!b.ok()) return b.error();
      lo = *a;
      up = *b;
      if (lo > up)
        return cron_error(expr, &f, item_s, "range '" + std::string(base) + "' starts after it ends");
    } else if (base.empty()) {
      return cron_error(expr, &f, item_s, "'" + item_s + "' is not a valid item");
    } else {
      auto a = field_value(expr, f, base);
      if (!a.ok()) {
        // Give unsupported extensions (L, W, #, ?) a clearer message than "not a number".
        if (base.find_first_of("LW#?") != std::string_view::npos)
          return cron_error(expr, &f, item_s,
                            "'" + item_s + "' uses syntax standard cron does not have (L, W, #, ?)");
        return a.error();
      }
      lo = *a;
      up = has_step ? std::max(hi, lo) : *a;  // "a/n" = from a to the end of the field by n
    }
    int step = 1;
    if (has_step) {
      const int width = hi - f.min + 1;
      if (!all_digits(step_text) || step_text.size() > 4 || std::atoi(std::string(step_text).c_str()) < 1 ||
          std::atoi(std::string(step_text).c_str()) > width)
        return cron_error(expr, &f, item_s,
                          "step '" + std::string(step_text) + "' in '" + item_s +
                              "' must be a number from 1 to " + std::to_string(width));
      step = std::atoi(std::string(step_text).c_str());
    }
    for (int v = lo; v <= up; v += step) bits.set(static_cast<size_t>(f.max == 7 && v == 7 ? 0 : v));
    pos = comma + 1;
    if (comma == text.size()) break;
  }
  return {};
}

}  // namespace

Result<CronExpr> CronExpr::parse(std::string_view text_in) {
  std::string text(text_in);
  if (text.size() > 256)
    return cron_error(text.substr(0, 64) + "...", nullptr, "",
                      "cron expression is longer than 256 characters");
  // Split on blanks.
  std::vector<std::string> fields;
  {
    std::string cur;
    for (char c : text) {
      if (c == ' ' || c == '\t') {
        if (!cur.empty()) fields.push_back(std::move(cur)), cur.clear();
      } else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
        return cron_error(text, nullptr, "", "cron expression contains a control character");
      } else {
        cur.push_back(c);
      }
    }
    if (!cur.empty()) fields.push_back(std::move(cur));
  }
  if (fields.empty()) return cron_error(text, nullptr, "", "cron expression is empty");
  if (fields.size() == 1 && fields[0][0] == '@') {
    static const std::pair<const char*, const char*> kMacros[] = {
        {"@HOURLY", "0 * * * *"},  {"@DAILY", "0 0 * * *"},   {"@MIDNIGHT", "0 0 * * *"},
        {"@WEEKLY", "0 0 * * 0"},  {"@MONTHLY", "0 0 1 * *"}, {"@YEARLY", "0 0 1 1 *"},
        {"@ANNUALLY", "0 0 1 1 *"}};
    const std::string u = upper(fields[0]);
    for (const auto& [name, expansion] : kMacros) {
      if (u == name) {
        auto e = parse(expansion);
        if (e.ok()) e->text_ = text;
        return e;
      }
    }
    return cron_error(text, nullptr, fields[0],
                      "unknown macro '" + fields[0] +
                          "' (known: @hourly, @daily, @midnight, @weekly, @monthly, @yearly, @annually)");
  }
  if (fields.size() != 5) {
    Json d = Json::object();
    d.set("expression", text);
    d.set("fields", static_cast<int64_t>(fields.size()));
    return Error(
        "invalid_cron",
        "a cron expression has 5 fields (minute hour day-of-month month day-of-week), this one has " +
            std::to_string(fields.size()),
        d.dump());
  }
  CronExpr e;
  e.text_ = text;
  if (Status s = parse_field(text, kFields[0], fields[0], e.minutes_); !s.ok()) return s.error();
  if (Status s = parse_field(text, kFields[1], fields[1], e.hours_); !s.ok()) return s.error();
  if (Status s = parse_field(text, kFields[2], fields[2], e.days_); !s.ok()) return s.error();
  if (Status s = parse_field(text, kFields[3], fields[3], e.months_); !s.ok()) return s.error();
  if (Status s = parse_field(text, kFields[4], fields[4], e.weekdays_); !s.ok()) return s.error();
  // Vixie cron: a field "is restricted" unless it starts with '*' (so "*/2" counts as unrestricted).
  e.days_star_ = fields[2][0] == '*';
  e.weekdays_star_ = fields[4][0] == '*';
  return e;
}

bool CronExpr::day_matches(int64_t y, unsigned m, unsigned d) const {
  const bool dom = days_[d];
  const bool dow = weekdays_[weekday_of(days_from_civil(y, m, d))];
  if (days_star_ || weekdays_star_) return dom && dow;
  return dom || dow;
}

std::optional<int64_t> CronExpr::next_local(int64_t from_local_s, int64_t limit_local_s) const {
  const int64_t start = floor_div(from_local_s + 59, 60) * 60;
  if (start > limit_local_s) return std::nullopt;
  const int64_t limit_days = floor_div(limit_local_s, 86400);
  int64_t days = floor_div(start, 86400);
  const int64_t sod = start - days * 86400;
  int64_t y;
  unsigned mo, d;
  civil_from_days(days, y, mo, d);
  unsigned h = static_cast<unsigned>(sod / 3600), mi = static_cast<unsigned>(sod % 3600 / 60);
  auto next_day = [&] {
    ++days;
    if (++d > days_in_month(y, mo)) {
      d = 1;
      if (++mo > 12) mo = 1, ++y;
    }
    h = 0;
    mi = 0;
  };
  for (;;) {
    if (days > limit_days) return std::nullopt;
    if (!months_[mo]) {
      unsigned nm = mo + 1;
      while (nm <= 12 && !months_[nm]) ++nm;
      if (nm > 12) {
        ++y;
        nm = 1;
        while (!months_[nm]) ++nm;  // some month is set: parse guarantees it
      }
      mo = nm;
      d = 1;
      h = 0;
      mi = 0;
      days = days_from_civil(y, mo, d);
      continue;
    }
    if (!day_matches(y, mo, d)) {
      next_day();
      continue;
    }
    if (!hours_[h]) {
      unsigned nh = h + 1;
      while (nh < 24 && !hours_[nh]) ++nh;
      if (nh >= 24) {
        next_day();
        continue;
      }
      h = nh;
      mi = 0;
    }
    if (!minutes_[mi]) {
      unsigned nmi = mi + 1;
      while (nmi < 60 && !minutes_[nmi]) ++nmi;
      if (nmi >= 60) {
        mi = 0;
        if (++h >= 24) next_day();
        continue;
      }
      mi = nmi;
    }
    const int64_t r = days * 86400 + h * 3600 + mi * 60;
    if (r > limit_local_s) return std::nullopt;
    return r;
  }
}

// ---- time zones ----------------------------------------------------------------------------------

namespace {

Error tz_error(const std::string& name, const std::string& why) {
  Json d = Json::object();
  d.set("timezone", name);
  return Error("invalid_timezone", "time zone '" + name + "': " + why, d.dump());
}

// A POSIX TZ string ("CET-1CEST,M3.5.0,M10.5.0/3"): the rule for times after a TZif file's
// last transition.
struct PosixRule {
  struct When {
    char kind = 'M';  // 'J' (1..365, no Feb 29), 'D' (0..365 zero-based), 'M' (month.week.day)
    int n = 0, m = 0, w = 0, d = 0;
    int64_t time = 7200;  // seconds after local midnight (may be negative or past 24h)
  };
  int64_t std_offset = 0;  // seconds east of UTC
  bool has_dst = false;
  int64_t dst_offset = 0;
  When start, end;
};

class PosixParser {
 public:
  explicit PosixParser(std::string_view s) : s_(s) {}

  std::optional<PosixRule> parse() {
    PosixRule r;
    if (!name()) return std::nullopt;
    auto off = offset(24);
    if (!off) return std::nullopt;
    r.std_offset = -*off;  // POSIX offsets are west-positive
    if (done()) return r;
    if (!name()) return std::nullopt;
    r.has_dst = true;
    r.dst_offset = r.std_offset + 3600;
    if (!done() && peek() != ',') {
      auto d = offset(24);
      if (!d) return std::nullopt;
      r.dst_offset = -*d;
    }
    if (done()) {
      // No rule given: the POSIX default is implementation-defined; use the US rule like glibc.
      r.start = {'M', 0, 3, 2, 0, 7200};
      r.end = {'M', 0, 11, 1, 0, 7200};
      return r;
    }
    if (get() != ',') return std::nullopt;
    auto a = when();
    if (!a || done() || get() != ',') return std::nullopt;
    auto b = when();
    if (!b || !done()) return std::nullopt;
    r.start = *a;
    r.end = *b;
    return r;
  }

 private:
  bool done() const { return i_ >= s_.size(); }
  char peek() const { return done() ? '\0' : s_[i_]; }
  char get() { return done() ? '\0' : s_[i_++]; }

  bool name() {
    if (peek() == '<') {
      ++i_;
      size_t start = i_;
      while (!done() && peek() != '>') ++i_;
      if (done() || i_ == start) return false;
      ++i_;
      return true;
    }
    size_t start = i_;
    while (!done() && std::isalpha(static_cast<unsigned char>(peek()))) ++i_;
    return i_ - start >= 1;
  }

  std::optional<int64_t> number(int max_digits) {
    size_t start = i_;
    int64_t v = 0;
    while (!done() && std::isdigit(static_cast<unsigned char>(peek())) &&
           static_cast<int>(i_ - start) < max_digits)
      v = v * 10 + (get() - '0');
    if (i_ == start) return std::nullopt;
    return v;
  }

  // [+-]hh[:mm[:ss]] in seconds; hours up to max_hours.
  std::optional<int64_t> offset(int64_t max_hours) {
    int sign = 1;
    if (peek() == '+' || peek() == '-') sign = get() == '-' ? -1 : 1;
    auto h = number(3);
    if (!h || *h > max_hours) return std::nullopt;
    int64_t v = *h * 3600;
    if (peek() == ':') {
      ++i_;
      auto m = number(2);
      if (!m || *m > 59) return std::nullopt;
      v += *m * 60;
      if (peek() == ':') {
        ++i_;
        auto sec = number(2);
        if (!sec || *sec > 59) return std::nullopt;
        v += *sec;
      }
    }
    return sign * v;
  }

  std::optional<PosixRule::When> when() {
    PosixRule::When w;
    if (peek() == 'J') {
      ++i_;
      auto n = number(3);
      if (!n || *n < 1 || *n > 365) return std::nullopt;
      w.kind = 'J';
      w.n = static_cast<int>(*n);
    } else if (peek() == 'M') {
      ++i_;
      auto m = number(2);
      if (!m || *m < 1 || *m > 12 || get() != '.') return std::nullopt;
      auto wk = number(1);
      if (!wk || *wk < 1 || *wk > 5 || get() != '.') return std::nullopt;
      auto d = number(1);
      if (!d || *d > 6) return std::nullopt;
      w.kind = 'M';
      w.m = static_cast<int>(*m);
      w.w = static_cast<int>(*wk);
      w.d = static_cast<int>(*d);
    } else {
      auto n = number(3);
      if (!n || *n > 365) return std::nullopt;
      w.kind = 'D';
      w.n = static_cast<int>(*n);
    }
    if (peek() == '/') {
      ++i_;
      auto t = offset(167);  // RFC 8536 extension: -167..167 hours
      if (!t) return std::nullopt;
      w.time = *t;
    }
    return w;
  }

  std::string_view s_;
  size_t i_ = 0;
};

// The day (days since the epoch) a rule date falls on in year y.
int64_t rule_day(const PosixRule::When& w, int64_t y) {
  const int64_t jan1 = days_from_civil(y, 1, 1);
  if (w.kind == 'J') return jan1 + w.n - 1 + (is_leap(y) && w.n >= 60 ? 1 : 0);
  if (w.kind == 'D') return jan1 + w.n;
  const int64_t first = days_from_civil(y, static_cast<unsigned>(w.m), 1);
  int64_t day = first + (w.d - static_cast<int>(weekday_of(first)) + 7) % 7 + 7 * (w.w - 1);
  const int64_t dim = days_in_month(y, static_cast<unsigned>(w.m));
  while (day - first >= dim) day -= 7;  // week 5 = the last such weekday
  return day;
}

constexpr int64_t kRuleLastYear = 2400;

uint32_t be32(const unsigned char* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}
int64_t be64(const unsigned char* p) {
  return static_cast<int64_t>((uint64_t{be32(p)} << 32) | uint64_t{be32(p + 4)});
}

bool valid_zone_name(std::string_view n) {
  if (n.empty() || n.size() > 64 || n.front() == '/' || n.back() == '/') return false;
  char prev = '/';
  for (char c : n) {
    const bool ok =
        std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '+' || c == '-' || c == '/';
    if (!ok) return false;
    if (c == '/' && prev == '/') return false;
    prev = c;
  }
  return true;
}

}  // namespace

struct TimeZoneBuilder {
  // Appends the rule's transitions after `after_s` up to kRuleLastYear.
  static void extend(TimeZone& z, const PosixRule& r, int64_t after_s, bool have_transitions) {
    const int64_t last = z.offset_.empty() ? z.initial_offset_ : z.offset_.back();
    if (!r.has_dst) {
      if (!have_transitions)
        z.initial_offset_ = r.std_offset;
      else if (last != r.std_offset) {
        // The rule's standard time differs from the last transition's (malformed file): trust
        // the table up to its end, the rule after it.
        z.at_.push_back(after_s + 1);
        z.offset_.push_back(r.std_offset);
      }
      return;
    }
    int64_t first_year;
    if (have_transitions) {
      int64_t y;
      unsigned m, d;
      civil_from_days(floor_div(after_s, 86400), y, m, d);
      first_year = y;
    } else {
      z.initial_offset_ = r.std_offset;
      first_year = 1900;
    }
    int64_t current = have_transitions ? last : z.initial_offset_;
    for (int64_t y = first_year; y <= kRuleLastYear; ++y) {
      std::pair<int64_t, int64_t> ts[2] = {
          {rule_day(r.start, y) * 86400 + r.start.time - r.std_offset, r.dst_offset},
          {rule_day(r.end, y) * 86400 + r.end.time - r.dst_offset, r.std_offset}};
      if (ts[1].first < ts[0].first) std::swap(ts[0], ts[1]);  // southern hemisphere
      for (const auto& [at, off] : ts) {
        if (have_transitions && at <= after_s) continue;
        if (!z.at_.empty() && at <= z.at_.back()) continue;
        if (off == current) continue;
        z.at_.push_back(at);
        z.offset_.push_back(off);
        current = off;
      }
    }
  }
};

Result<std::shared_ptr<const TimeZone>> TimeZone::from_posix(std::string name, std::string_view rule) {
  auto r = PosixParser(rule).parse();
  if (!r) return tz_error(name, "invalid POSIX TZ rule '" + std::string(rule) + "'");
  auto z = std::make_shared<TimeZone>();
  z->name_ = std::move(name);
  TimeZoneBuilder::extend(*z, *r, 0, false);
  return std::shared_ptr<const TimeZone>(std::move(z));
}

Result<std::shared_ptr<const TimeZone>> TimeZone::from_tzif(std::string name, std::string_view bytes) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const size_t size = bytes.size();
  auto bad = [&](const std::string& why) {
    return tz_error(name, "not a valid tz database file (" + why + ")");
  };
  if (size < 44 || bytes.substr(0, 4) != "TZif") return bad("no TZif header");
  const char version = bytes[4];

  struct Counts {
    uint32_t isut, isstd, leap, time, type, chars;
  };
  auto counts_at = [&](size_t off) {
    return Counts{be32(p + off + 20), be32(p + off + 24), be32(p + off + 28),
                  be32(p + off + 32), be32(p + off + 36), be32(p + off + 40)};
  };
  auto block_size = [](const Counts& c, size_t tsize) {
    return c.time * tsize + c.time + c.type * 6 + c.chars + c.leap * (tsize + 4) + c.isstd + c.isut;
  };
  Counts c = counts_at(0);
  size_t off = 44;
  size_t tsize = 4;
  if (version >= '2') {
    // Skip the 32-bit block; the 64-bit one follows with its own header.
    off += block_size(c, 4);
    if (off + 44 > size || bytes.substr(off, 4) != "TZif") return bad("missing version 2 header");
    c = counts_at(off);
    off += 44;
    tsize = 8;
  }
  if (c.type == 0 || c.type > 256 || c.time > 100000 || c.chars > 100000 || c.leap > 100000)
    return bad("implausible counts");
  if (off + block_size(c, tsize) > size) return bad("truncated");
  if (c.leap != 0) return tz_error(name, "zones with leap seconds (\"right/\") are not supported");

  auto z = std::make_shared<TimeZone>();
  z->name_ = name;
  const unsigned char* times = p + off;
  const unsigned char* idx = times + c.time * tsize;
  const unsigned char* types = idx + c.time;
  std::vector<int64_t> type_offset(c.type);
  for (uint32_t i = 0; i < c.type; ++i) {
    type_offset[i] = static_cast<int32_t>(be32(types + i * 6));
    if (type_offset[i] <= -26 * 3600 || type_offset[i] >= 26 * 3600) return bad("offset out of range");
  }
  z->initial_offset_ = type_offset[0];
  int64_t current = z->initial_offset_;
  for (uint32_t i = 0; i < c.time; ++i) {
    const int64_t at = tsize == 8 ? be64(times + i * 8) : static_cast<int32_t>(be32(times + i * 4));
    const unsigned t = idx[i];
    if (t >= c.type) return bad("transition type out of range");
    if (i > 0 &&
        at <= (tsize == 8 ? be64(times + (i - 1) * 8) : static_cast<int32_t>(be32(times + (i - 1) * 4))))
      return bad("transitions out of order");
    // Keep only real offset changes (abbreviation-only changes do not matter here).
    if (type_offset[t] == current) continue;
    z->at_.push_back(at);
    z->offset_.push_back(type_offset[t]);
    current = type_offset[t];
  }
  const int64_t last_at = c.time ? (tsize == 8 ? be64(times + (c.time - 1) * 8)
                                               : static_cast<int32_t>(be32(times + (c.time - 1) * 4)))
                                 : 0;
  if (version >= '2') {
    size_t foot = off + block_size(c, tsize);
    if (foot < size && p[foot] == '\n') {
      size_t end = bytes.find('\n', foot + 1);
      if (end == std::string_view::npos) return bad("unterminated footer");
      std::string_view tz = bytes.substr(foot + 1, end - foot - 1);
      if (!tz.empty()) {
        auto r = PosixParser(tz).parse();
        if (!r) return bad("invalid POSIX TZ footer '" + std::string(tz) + "'");
        TimeZoneBuilder::extend(*z, *r, last_at, c.time > 0);
      }
    }
  }
  return std::shared_ptr<const TimeZone>(std::move(z));
}

Result<std::shared_ptr<const TimeZone>> TimeZone::load(std::string_view name_in) {
  const std::string name(name_in);
  if (!valid_zone_name(name))
    return tz_error(name, "not an IANA time zone name (e.g. \"Europe/Berlin\", \"UTC\")");
  static std::mutex mu;
  static std::map<std::string, std::shared_ptr<const TimeZone>> cache;
  {
    std::lock_guard<std::mutex> lock(mu);
    if (auto it = cache.find(name); it != cache.end()) return it->second;
  }
  const char* env = std::getenv("TZDIR");
  const std::string dir = env && *env ? env : "/usr/share/zoneinfo";
  std::string bytes;
  {
    std::ifstream in(dir + "/" + name, std::ios::binary);
    if (in) {
      std::ostringstream ss;
      ss << in.rdbuf();
      bytes = ss.str();
    }
  }
  Result<std::shared_ptr<const TimeZone>> z = Error("", "");
  if (bytes.empty()) {
    if (name != "UTC") return tz_error(name, "unknown time zone (not in " + dir + ")");
    z = from_posix("UTC", "UTC0");  // a machine without tzdata still knows UTC
  } else if (bytes.size() > (1u << 20)) {
    return tz_error(name, "the zone file is too large");
  } else {
    z = from_tzif(name, bytes);
  }
  if (!z.ok()) return z;
  std::lock_guard<std::mutex> lock(mu);
  cache.emplace(name, *z);
  return z;
}

int64_t TimeZone::offset_at(int64_t utc_s) const {
  auto it = std::upper_bound(at_.begin(), at_.end(), utc_s);
  if (it == at_.begin()) return initial_offset_;
  return offset_[static_cast<size_t>(it - at_.begin()) - 1];
}

int64_t TimeZone::to_utc(int64_t local_s, bool* in_gap, bool* ambiguous) const {
  if (in_gap) *in_gap = false;
  if (ambiguous) *ambiguous = false;
  // A solution u (u + offset(u) == local) lies within 26 h of local; look at the segments there.
  constexpr int64_t kSpan = 27 * 3600;
  const auto n = static_cast<int64_t>(at_.size());
  const int64_t lo = std::lower_bound(at_.begin(), at_.end(), local_s - kSpan) - at_.begin();
  const int64_t hi = std::upper_bound(at_.begin(), at_.end(), local_s + kSpan) - at_.begin();
  std::optional<int64_t> best;
  int found = 0;
  for (int64_t k = std::max<int64_t>(lo - 1, -1); k < hi; ++k) {
    const int64_t off = k < 0 ? initial_offset_ : offset_[static_cast<size_t>(k)];
    const int64_t u = local_s - off;
    const bool after_begin = k < 0 || u >= at_[static_cast<size_t>(k)];
    const bool before_end = k + 1 >= n || u < at_[static_cast<size_t>(k + 1)];
    if (after_begin && before_end) {
      ++found;
      if (!best || u < *best) best = u;
    }
  }
  if (best) {
    if (ambiguous) *ambiguous = found > 1;
    return *best;
  }
  // No instant shows this local time: it is inside a forward jump. The first instant after the
  // gap is the transition itself.
  for (int64_t k = std::max<int64_t>(lo, 0); k < hi; ++k) {
    const int64_t before = k == 0 ? initial_offset_ : offset_[static_cast<size_t>(k - 1)];
    const int64_t at = at_[static_cast<size_t>(k)];
    if (local_s - before >= at && local_s - offset_[static_cast<size_t>(k)] < at) {
      if (in_gap) *in_gap = true;
      return at;
    }
  }
  return local_s - offset_at(local_s);  // not reached for well-formed zones
}

// ---- schedules -------------------------------------------------------------------------------------

Result<CronSchedule> CronSchedule::parse(std::string_view cron, std::string_view timezone) {
  auto e = CronExpr::parse(cron);
  if (!e.ok()) return e.error();
  auto z = TimeZone::load(timezone);
  if (!z.ok()) return z.error();
  CronSchedule s;
  s.expr_ = std::move(*e);
  s.zone_ = std::move(*z);
  return s;
}

Result<CronSchedule> CronSchedule::parse_valid(std::string_view cron, std::string_view timezone,
                                               int64_t now_ms) {
  auto s = parse(cron, timezone);
  if (!s.ok()) return s;
  auto next = s->next_after(now_ms);
  const int64_t horizon_ms = (kValidityHorizonYears * 365LL + 2) * 86400 * 1000;
  if (!next || *next - now_ms > horizon_ms) {
    Json d = Json::object();
    d.set("expression", std::string(cron));
    d.set("timezone", std::string(timezone));
    return Error("cron_never_fires",
                 "cron expression '" + std::string(cron) + "' never fires within " +
                     std::to_string(kValidityHorizonYears) + " years",
                 d.dump());
  }
  return s;
}

std::optional<int64_t> CronSchedule::next_after(int64_t t_ms) const {
  const int64_t t = floor_div(t_ms, 1000);
  const int64_t limit = t + (kSearchHorizonYears * 366LL) * 86400;
  // Local minutes are visited in order; their UTC instants are non-decreasing, so the first one
  // after t is the answer. Ambiguous local times resolve to their first instant (which may be
  // before t when t is in the repeated hour: skipped), local times in a gap to the gap's end
  // (several of them to the same instant: only the first one after t counts).
  int64_t from = t + zone_->offset_at(t);
  for (int guard = 0; guard < 100000; ++guard) {
    auto local = expr_.next_local(from, limit + 2 * 86400);
    if (!local) return std::nullopt;
    const int64_t u = zone_->to_utc(*local);
    if (u > limit) return std::nullopt;
    if (u * 1000 > t_ms) return u * 1000;
    from = *local + 60;
  }
  return std::nullopt;
}

std::vector<int64_t> CronSchedule::next_n(int64_t t_ms, size_t n) const {
  std::vector<int64_t> out;
  int64_t t = t_ms;
  while (out.size() < n) {
    auto next = next_after(t);
    if (!next) break;
    out.push_back(*next);
    t = *next;
  }
  return out;
}

std::optional<int64_t> CronSchedule::min_interval_ms(int64_t t_ms, size_t n) const {
  auto runs = next_n(t_ms, n);
  std::optional<int64_t> best;
  for (size_t i = 1; i < runs.size(); ++i) {
    const int64_t gap = runs[i] - runs[i - 1];
    if (!best || gap < *best) best = gap;
  }
  return best;
}

CronSchedule::Span CronSchedule::occurrences_between(int64_t from_ms, int64_t to_ms, int64_t cap) const {
  Span s;
  int64_t t = from_ms - 1;
  while (s.count < cap) {
    auto next = next_after(t);
    if (!next || *next > to_ms) return s;
    ++s.count;
    s.latest = *next;
    t = *next;
  }
  // Too many to count: find the latest by looking back from to_ms in growing windows.
  auto more = next_after(t);
  if (!more || *more > to_ms) return s;
  s.capped = true;
  for (int64_t w = 60000; w / 2 <= to_ms - t; w *= 2) {
    auto o = next_after(std::max(t, to_ms - w));
    if (o && *o <= to_ms) {
      int64_t latest = *o;
      for (auto x = next_after(latest); x && *x <= to_ms; x = next_after(latest)) latest = *x;
      s.latest = latest;
      return s;
    }
  }
  return s;
}

namespace {

std::string format_local(int64_t local_s, int64_t millis) {
  int64_t days = floor_div(local_s, 86400);
  int64_t sod = local_s - days * 86400;
  int64_t y;
  unsigned m, d;
  civil_from_days(days, y, m, d);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02lld:%02lld:%02lld", static_cast<long long>(y), m, d,
                static_cast<long long>(sod / 3600), static_cast<long long>(sod % 3600 / 60),
                static_cast<long long>(sod % 60));
  std::string out = buf;
  if (millis >= 0) {
    std::snprintf(buf, sizeof buf, ".%03lld", static_cast<long long>(millis));
    out += buf;
  }
  return out;
}

}  // namespace

std::string CronSchedule::local_iso(int64_t utc_ms) const {
  const int64_t s = floor_div(utc_ms, 1000);
  const int64_t off = zone_->offset_at(s);
  std::string out = format_local(s + off, -1);
  const int64_t a = off < 0 ? -off : off;
  char buf[48];
  std::snprintf(buf, sizeof buf, "%c%02lld:%02lld", off < 0 ? '-' : '+', static_cast<long long>(a / 3600),
                static_cast<long long>(a % 3600 / 60));
  return out + buf;
}

std::string utc_iso(int64_t utc_ms) {
  const int64_t s = floor_div(utc_ms, 1000);
  return format_local(s, utc_ms - s * 1000) + "Z";
}

}  // namespace weft::service
