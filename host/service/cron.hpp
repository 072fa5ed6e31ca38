// Cron expressions and time zones for schedules (docs/schedules.md).
//
// CronExpr: the standard five fields "minute hour day-of-month month day-of-week" with `*`, lists,
// ranges, steps (`*/n`, `a-b/n`, `a/n` = a to the end by n), month and weekday names (JAN..DEC,
// SUN..SAT, any case), 7 = Sunday, and the macros @hourly @daily @midnight @weekly @monthly
// @yearly @annually. Day-of-month and day-of-week follow Vixie cron: when both fields are
// restricted (neither starts with `*`) a day matches if EITHER matches; otherwise both must.
//
// TimeZone: an IANA zone read from the tz database's TZif files ($TZDIR or /usr/share/zoneinfo),
// including the POSIX rule at the end of version 2+ files, so dates past the file's last
// transition (2037 in "fat" files, much earlier in "slim" ones) still get their DST changes.
//
// CronSchedule = expression + zone. Occurrences are local wall-clock times converted to UTC: a
// local time that does not exist (spring forward) fires at the first instant after the gap; an
// ambiguous one (fall back) fires once, at its first occurrence.
//
// Error codes: "invalid_cron" (message and details name the field and the bad token),
// "invalid_timezone", "cron_never_fires" (no occurrence within kValidityHorizonYears).
//
// Thread-safety: the types are immutable after construction; TimeZone::load may be called
// concurrently (zones are cached for the life of the process).
#pragma once

#include <bitset>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "host/core/result.hpp"

namespace weft::service {

// Civil-calendar helpers (proleptic Gregorian, days since 1970-01-01).
int64_t days_from_civil(int64_t y, unsigned m, unsigned d);
void civil_from_days(int64_t days, int64_t& y, unsigned& m, unsigned& d);
unsigned days_in_month(int64_t y, unsigned m);
unsigned weekday_of(int64_t days);  // 0 = Sunday

class CronExpr {
 public:
  static Result<CronExpr> parse(std::string_view text);

  // The first local minute (local seconds since the epoch, a multiple of 60) at or after
  // `from_local_s` that matches, or nullopt when there is none up to `limit_local_s`.
  // Jumps field by field (month, day, hour, minute): cost is bounded by days, not minutes.
  std::optional<int64_t> next_local(int64_t from_local_s, int64_t limit_local_s) const;
  bool day_matches(int64_t y, unsigned m, unsigned d) const;

  const std::string& text() const { return text_; }

 private:
  std::string text_;
  std::bitset<60> minutes_;
  std::bitset<24> hours_;
  std::bitset<32> days_;     // 1..31
  std::bitset<13> months_;   // 1..12
  std::bitset<7> weekdays_;  // 0..6, Sunday = 0
  bool days_star_ = false;
  bool weekdays_star_ = false;
};

class TimeZone {
 public:
  // "UTC", "Europe/Berlin", ... from $TZDIR (default /usr/share/zoneinfo). Cached.
  static Result<std::shared_ptr<const TimeZone>> load(std::string_view name);
  // Parses TZif bytes (RFC 8536, versions 1-4). Zones with leap-second records are refused.
  static Result<std::shared_ptr<const TimeZone>> from_tzif(std::string name, std::string_view bytes);
  // A zone from a POSIX TZ rule alone ("CET-1CEST,M3.5.0,M10.5.0/3"); used for tests and by from_tzif.
  static Result<std::shared_ptr<const TimeZone>> from_posix(std::string name, std::string_view rule);

  const std::string& name() const { return name_; }
  // UTC offset (seconds east of UTC) in force at a UTC instant.
  int64_t offset_at(int64_t utc_s) const;
  // A local wall-clock second to UTC: the earliest instant showing that local time (ambiguous
  // times: the first), or, for a local time skipped by a forward jump, the instant the jump
  // happens (the first instant after the gap). *in_gap / *ambiguous say which case applied.
  int64_t to_utc(int64_t local_s, bool* in_gap = nullptr, bool* ambiguous = nullptr) const;

 private:
  friend struct TimeZoneBuilder;
  std::string name_;
  int64_t initial_offset_ = 0;   // before the first transition
  std::vector<int64_t> at_;      // transition instants (UTC seconds), ascending
  std::vector<int64_t> offset_;  // offset in force from at_[i]
};

class CronSchedule {
 public:
  // Occurrences further than this from "now" make an expression invalid (cron_never_fires).
  static constexpr int kValidityHorizonYears = 5;
  // next_after looks this far ahead (covers the 8-year Feb 29 gap around 2100).
  static constexpr int kSearchHorizonYears = 9;

  // Parses both parts (invalid_cron / invalid_timezone); does not check that it ever fires.
  static Result<CronSchedule> parse(std::string_view cron, std::string_view timezone);
  // parse() plus: it must fire within kValidityHorizonYears after now_ms (cron_never_fires).
  static Result<CronSchedule> parse_valid(std::string_view cron, std::string_view timezone, int64_t now_ms);

  // The first occurrence strictly after t_ms (UTC ms, whole minutes), or nullopt when none within
  // kSearchHorizonYears.
  std::optional<int64_t> next_after(int64_t t_ms) const;
  // Up to n occurrences strictly after t_ms.
  std::vector<int64_t> next_n(int64_t t_ms, size_t n) const;
  // The smallest gap (ms) between consecutive occurrences among the next n after t_ms; nullopt
  // when there are fewer than two.
  std::optional<int64_t> min_interval_ms(int64_t t_ms, size_t n) const;
  // Occurrences in [from_ms, to_ms]: how many (counting stops at `cap`) and the latest one
  // (nullopt when none). Used for runs missed while no scheduler ran.
  struct Span {
    int64_t count = 0;
    bool capped = false;
    std::optional<int64_t> latest;
  };
  Span occurrences_between(int64_t from_ms, int64_t to_ms, int64_t cap) const;

  // "2025-03-09T03:00:00-04:00": an instant as local time in this schedule's zone.
  std::string local_iso(int64_t utc_ms) const;

  const CronExpr& expr() const { return expr_; }
  const TimeZone& zone() const { return *zone_; }

 private:
  CronExpr expr_;
  std::shared_ptr<const TimeZone> zone_;
};

// "2025-03-09T07:00:00.000Z"
std::string utc_iso(int64_t utc_ms);

}  // namespace weft::service
