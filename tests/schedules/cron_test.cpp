// Cron expressions, time zones and occurrences (host/service/cron.hpp), against the machine's
// real tz database.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "host/core/json.hpp"
#include "host/service/cron.hpp"

namespace weft::service {
namespace {

// UTC ms of a civil UTC time.
int64_t utc(int64_t y, unsigned mo, unsigned d, int64_t h = 0, int64_t mi = 0, int64_t s = 0) {
  return (days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s) * 1000;
}

CronSchedule sched(const std::string& cron, const std::string& tz = "UTC") {
  auto s = CronSchedule::parse(cron, tz);
  EXPECT_TRUE(s.ok()) << cron << " / " << tz << ": " << (s.ok() ? "" : s.error().message);
  if (!s.ok()) return *CronSchedule::parse("* * * * *", "UTC");
  return *s;
}

std::vector<std::string> next_iso(const std::string& cron, const std::string& tz, int64_t from_ms, size_t n) {
  std::vector<std::string> out;
  for (int64_t t : sched(cron, tz).next_n(from_ms, n)) out.push_back(utc_iso(t));
  return out;
}

using V = std::vector<std::string>;

// ---- calendar helpers ---------------------------------------------------------------------------

TEST(Calendar, CivilRoundTripAndWeekdays) {
  EXPECT_EQ(days_from_civil(1970, 1, 1), 0);
  EXPECT_EQ(weekday_of(0), 4u);                              // Thursday
  EXPECT_EQ(weekday_of(days_from_civil(2025, 3, 9)), 0u);    // a Sunday
  EXPECT_EQ(weekday_of(days_from_civil(1969, 12, 31)), 3u);  // before the epoch
  for (int64_t d = -800000; d < 800000; d += 997) {
    int64_t y;
    unsigned m, dd;
    civil_from_days(d, y, m, dd);
    ASSERT_EQ(days_from_civil(y, m, dd), d);
  }
  EXPECT_EQ(days_in_month(2024, 2), 29u);
  EXPECT_EQ(days_in_month(2100, 2), 28u);
  EXPECT_EQ(days_in_month(2000, 2), 29u);
  EXPECT_EQ(utc_iso(utc(2025, 3, 9, 7, 0, 0) + 5), "2025-03-09T07:00:00.005Z");
}

// ---- syntax --------------------------------------------------------------------------------------

TEST(CronSyntax, EveryMinuteIsStrictlyAfter) {
  EXPECT_EQ(next_iso("* * * * *", "UTC", utc(2025, 1, 1, 0, 0, 30), 3),
            (V{"2025-01-01T00:01:00.000Z", "2025-01-01T00:02:00.000Z", "2025-01-01T00:03:00.000Z"}));
  // Exactly on a minute: that minute is not "after".
  EXPECT_EQ(next_iso("* * * * *", "UTC", utc(2025, 1, 1, 0, 1), 1), (V{"2025-01-01T00:02:00.000Z"}));
  EXPECT_EQ(next_iso("* * * * *", "UTC", utc(2025, 1, 1, 0, 1) - 1, 1), (V{"2025-01-01T00:01:00.000Z"}));
}

TEST(CronSyntax, ListsRangesAndSteps) {
  const int64_t t = utc(2025, 1, 1);
  EXPECT_EQ(next_iso("0,15,45 0 * * *", "UTC", t, 3),
            (V{"2025-01-01T00:15:00.000Z", "2025-01-01T00:45:00.000Z", "2025-01-02T00:00:00.000Z"}));
  EXPECT_EQ(next_iso("10-12 3 * * *", "UTC", t, 4),
            (V{"2025-01-01T03:10:00.000Z", "2025-01-01T03:11:00.000Z", "2025-01-01T03:12:00.000Z",
               "2025-01-02T03:10:00.000Z"}));
  EXPECT_EQ(next_iso("*/20 0 * * *", "UTC", t - 1, 4),
            (V{"2025-01-01T00:00:00.000Z", "2025-01-01T00:20:00.000Z", "2025-01-01T00:40:00.000Z",
               "2025-01-02T00:00:00.000Z"}));
  EXPECT_EQ(next_iso("10-40/15 0 * * *", "UTC", t, 3),
            (V{"2025-01-01T00:10:00.000Z", "2025-01-01T00:25:00.000Z", "2025-01-01T00:40:00.000Z"}));
  // "a/n": from a to the end of the field.
  EXPECT_EQ(next_iso("5/20 0 * * *", "UTC", t, 3),
            (V{"2025-01-01T00:05:00.000Z", "2025-01-01T00:25:00.000Z", "2025-01-01T00:45:00.000Z"}));
  // Lists of ranges and steps together, hours as well.
  EXPECT_EQ(next_iso("0 1-2,22/2 * * *", "UTC", t, 4),
            (V{"2025-01-01T01:00:00.000Z", "2025-01-01T02:00:00.000Z", "2025-01-01T22:00:00.000Z",
               "2025-01-02T01:00:00.000Z"}));
  // Blanks: tabs and repeated spaces separate fields too.
  EXPECT_EQ(next_iso("  0\t12   *  * * ", "UTC", t, 1), (V{"2025-01-01T12:00:00.000Z"}));
}

TEST(CronSyntax, MonthAndWeekdayNamesAnyCase) {
  const int64_t t = utc(2025, 1, 1);  // a Wednesday
  EXPECT_EQ(next_iso("0 0 1 jul,Dec *", "UTC", t, 3),
            (V{"2025-07-01T00:00:00.000Z", "2025-12-01T00:00:00.000Z", "2026-07-01T00:00:00.000Z"}));
  EXPECT_EQ(next_iso("0 0 1 MAR-may *", "UTC", t, 3),
            (V{"2025-03-01T00:00:00.000Z", "2025-04-01T00:00:00.000Z", "2025-05-01T00:00:00.000Z"}));
  EXPECT_EQ(next_iso("0 9 * * mon-FRI", "UTC", t, 4),
            (V{"2025-01-01T09:00:00.000Z", "2025-01-02T09:00:00.000Z", "2025-01-03T09:00:00.000Z",
               "2025-01-06T09:00:00.000Z"}));
  EXPECT_EQ(next_iso("0 0 * * sun", "UTC", t, 1), (V{"2025-01-05T00:00:00.000Z"}));
  // Month numbers with a step.
  EXPECT_EQ(next_iso("0 0 1 */4 *", "UTC", t, 3),
            (V{"2025-05-01T00:00:00.000Z", "2025-09-01T00:00:00.000Z", "2026-01-01T00:00:00.000Z"}));
}

TEST(CronSyntax, SevenIsSunday) {
  const int64_t t = utc(2025, 1, 1);
  EXPECT_EQ(next_iso("0 0 * * 7", "UTC", t, 2), next_iso("0 0 * * 0", "UTC", t, 2));
  EXPECT_EQ(next_iso("0 0 * * 7", "UTC", t, 1), (V{"2025-01-05T00:00:00.000Z"}));
  // Fri-Sun through 7.
  EXPECT_EQ(next_iso("0 0 * * 5-7", "UTC", t, 4),
            (V{"2025-01-03T00:00:00.000Z", "2025-01-04T00:00:00.000Z", "2025-01-05T00:00:00.000Z",
               "2025-01-10T00:00:00.000Z"}));
  // */2 on day-of-week means 0,2,4,6 (Sun, Tue, Thu, Sat).
  EXPECT_EQ(next_iso("0 0 * * */2", "UTC", t, 4),
            (V{"2025-01-02T00:00:00.000Z", "2025-01-04T00:00:00.000Z", "2025-01-05T00:00:00.000Z",
               "2025-01-07T00:00:00.000Z"}));
}

TEST(CronSyntax, Macros) {
  const int64_t t = utc(2025, 1, 1, 10, 30);
  const std::pair<const char*, const char*> pairs[] = {{"@hourly", "0 * * * *"},   {"@daily", "0 0 * * *"},
                                                       {"@midnight", "0 0 * * *"}, {"@weekly", "0 0 * * 0"},
                                                       {"@monthly", "0 0 1 * *"},  {"@yearly", "0 0 1 1 *"},
                                                       {"@annually", "0 0 1 1 *"}, {"@DAILY", "0 0 * * *"}};
  for (const auto& [macro, expansion] : pairs)
    EXPECT_EQ(next_iso(macro, "UTC", t, 3), next_iso(expansion, "UTC", t, 3)) << macro;
  EXPECT_EQ(next_iso("@weekly", "UTC", t, 1), (V{"2025-01-05T00:00:00.000Z"}));
  EXPECT_EQ(sched("@Hourly").expr().text(), "@Hourly");
}

TEST(CronSyntax, DayOfMonthOrDayOfWeekLikeVixieCron) {
  const int64_t t = utc(2025, 6, 1);  // a Sunday
  // Both restricted: the 13th OR any Friday.
  EXPECT_EQ(next_iso("0 0 13 * FRI", "UTC", t, 4),
            (V{"2025-06-06T00:00:00.000Z", "2025-06-13T00:00:00.000Z", "2025-06-20T00:00:00.000Z",
               "2025-06-27T00:00:00.000Z"}));
  EXPECT_EQ(next_iso("0 0 1,15 * 3", "UTC", t - 1, 4),
            (V{"2025-06-01T00:00:00.000Z", "2025-06-04T00:00:00.000Z", "2025-06-11T00:00:00.000Z",
               "2025-06-15T00:00:00.000Z"}));
  // One side '*': only the other decides.
  EXPECT_EQ(next_iso("0 0 13 * *", "UTC", t, 1), (V{"2025-06-13T00:00:00.000Z"}));
  EXPECT_EQ(next_iso("0 0 * * FRI", "UTC", t, 1), (V{"2025-06-06T00:00:00.000Z"}));
  // A field starting with '*' counts as unrestricted even with a step (Vixie): odd days AND Monday.
  EXPECT_EQ(next_iso("0 0 */2 * MON", "UTC", t, 3),
            (V{"2025-06-09T00:00:00.000Z", "2025-06-23T00:00:00.000Z", "2025-07-07T00:00:00.000Z"}));
  EXPECT_TRUE(sched("0 0 13 * 5").expr().day_matches(2025, 6, 20));   // Friday 20th
  EXPECT_FALSE(sched("0 0 13 * 5").expr().day_matches(2025, 6, 19));  // Thursday 19th
}

// ---- invalid expressions -------------------------------------------------------------------------

struct BadCron {
  const char* expr;
  const char* field;    // details.field ("" = none)
  const char* token;    // details.value ("" = none)
  const char* message;  // a part of the message
};

TEST(CronSyntax, InvalidExpressionsNameTheFieldAndToken) {
  const BadCron cases[] = {
      {"60 * * * *", "minute", "60", "minute field: '60' is out of range 0-59"},
      {"* 24 * * *", "hour", "24", "hour field: '24' is out of range 0-23"},
      {"* * 0 * *", "day_of_month", "0", "day-of-month field: '0' is out of range 1-31"},
      {"* * 32 * *", "day_of_month", "32", "out of range 1-31"},
      {"* * * 13 *", "month", "13", "month field: '13' is out of range 1-12"},
      {"* * * 0 *", "month", "0", "out of range 1-12"},
      {"* * * * 8", "day_of_week", "8", "day-of-week field: '8' is out of range 0-7"},
      {"* * * FOO *", "month", "FOO", "'FOO' is not a month name (JAN..DEC) or number"},
      {"* * * * FUN", "day_of_week", "FUN", "is not a weekday name (SUN..SAT) or number"},
      {"MON * * * *", "minute", "MON", "minute field: 'MON' is not a number"},
      {"* * * JANUARY *", "month", "JANUARY", "not a month name"},
      {"*/0 * * * *", "minute", "*/0", "step '0' in '*/0' must be a number from 1 to 60"},
      {"*/61 * * * *", "minute", "*/61", "must be a number from 1 to 60"},
      {"*/x * * * *", "minute", "*/x", "step 'x'"},
      {"1/2/3 * * * *", "minute", "1/2/3", "more than one step"},
      {"5-2 * * * *", "minute", "5-2", "range '5-2' starts after it ends"},
      {"* * * * FRI-MON", "day_of_week", "FRI-MON", "starts after it ends"},
      {"1,,2 * * * *", "minute", "1,,2", "empty list item"},
      {"1, * * * *", "minute", "1,", "empty list item"},
      {"-5 * * * *", "minute", "-5", "'-5' is not a valid item"},
      {"5- * * * *", "minute", "5-", "'5-' is not a valid item"},
      {"1-2-3 * * * *", "minute", "2-3", "is not a number"},
      {"* * L * *", "day_of_month", "L", "syntax standard cron does not have"},
      {"0 0 ? * MON", "day_of_month", "?", "syntax standard cron does not have"},
      {"0 0 * * 5#3", "day_of_week", "5#3", "syntax standard cron does not have"},
      {"99999999999 * * * *", "minute", "99999999999", "out of range 0-59"},
  };
  for (const auto& c : cases) {
    auto e = CronExpr::parse(c.expr);
    ASSERT_FALSE(e.ok()) << c.expr;
    EXPECT_EQ(e.error().code, "invalid_cron") << c.expr;
    EXPECT_NE(e.error().message.find(c.message), std::string::npos) << c.expr << " -> " << e.error().message;
    auto d = Json::parse(e.error().details);
    ASSERT_TRUE(d.ok()) << c.expr;
    EXPECT_EQ((*d)["field"].as_string(), c.field) << c.expr;
    EXPECT_EQ((*d)["value"].as_string(), c.token) << c.expr;
    EXPECT_EQ((*d)["expression"].as_string(), c.expr) << c.expr;
  }
}

TEST(CronSyntax, InvalidShapes) {
  const std::pair<const char*, const char*> cases[] = {
      {"", "cron expression is empty"},
      {"   ", "cron expression is empty"},
      {"* * * *", "has 5 fields (minute hour day-of-month month day-of-week), this one has 4"},
      {"0 * * * * *", "this one has 6"},
      {"@reboot", "unknown macro '@reboot'"},
      {"@every 5m", "this one has 2"},
      {"* * * * *\n", "control character"},
  };
  for (const auto& [expr, msg] : cases) {
    auto e = CronExpr::parse(expr);
    ASSERT_FALSE(e.ok()) << expr;
    EXPECT_EQ(e.error().code, "invalid_cron");
    EXPECT_NE(e.error().message.find(msg), std::string::npos) << expr << " -> " << e.error().message;
  }
  EXPECT_FALSE(CronExpr::parse(std::string(300, '1')).ok());
}

// ---- time zones ----------------------------------------------------------------------------------

TEST(TimeZones, UnknownAndMalformedNames) {
  for (const char* name : {"Mars/Olympus_Mons", "", "../../etc/passwd", "/etc/localtime", "Europe//Berlin",
                           "Europe/Berlin/", "zone.tab", "America", "Europe/Berlin ", "right/UTC"}) {
    auto z = TimeZone::load(name);
    ASSERT_FALSE(z.ok()) << name;
    EXPECT_EQ(z.error().code, "invalid_timezone") << name;
    EXPECT_NE(z.error().message.find("time zone"), std::string::npos) << z.error().message;
  }
  auto s = CronSchedule::parse("* * * * *", "Nowhere/Special");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, "invalid_timezone");
  // A file that is not TZif.
  auto bad = TimeZone::from_tzif("x", "not a tz file at all, but long enough to have a header........");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, "invalid_timezone");
  EXPECT_FALSE(TimeZone::from_posix("x", "EST5EDT,M13.1.0,M11.1.0").ok());
}

TEST(TimeZones, OffsetsIncludingYearsPastTheTransitionTable) {
  auto ny = TimeZone::load("America/New_York");
  ASSERT_TRUE(ny.ok()) << ny.error().message;
  EXPECT_EQ((*ny)->offset_at(utc(2025, 1, 15) / 1000), -5 * 3600);
  EXPECT_EQ((*ny)->offset_at(utc(2025, 7, 15) / 1000), -4 * 3600);
  // Past 2037 the file's POSIX rule takes over (a table-only reader gets EST here).
  EXPECT_EQ((*ny)->offset_at(utc(2040, 7, 1) / 1000), -4 * 3600);
  EXPECT_EQ((*ny)->offset_at(utc(2040, 12, 1) / 1000), -5 * 3600);
  EXPECT_EQ((*ny)->offset_at(utc(2150, 7, 1) / 1000), -4 * 3600);
  auto berlin = TimeZone::load("Europe/Berlin");
  ASSERT_TRUE(berlin.ok());
  EXPECT_EQ((*berlin)->offset_at(utc(2045, 8, 1) / 1000), 2 * 3600);
  EXPECT_EQ((*berlin)->offset_at(utc(2045, 2, 1) / 1000), 1 * 3600);
  // Southern hemisphere: summer time across the new year.
  auto sydney = TimeZone::load("Australia/Sydney");
  ASSERT_TRUE(sydney.ok());
  EXPECT_EQ((*sydney)->offset_at(utc(2045, 1, 15) / 1000), 11 * 3600);
  EXPECT_EQ((*sydney)->offset_at(utc(2045, 7, 15) / 1000), 10 * 3600);
  // Zones without DST and with half-hour offsets.
  auto kolkata = TimeZone::load("Asia/Kolkata");
  ASSERT_TRUE(kolkata.ok());
  EXPECT_EQ((*kolkata)->offset_at(utc(2030, 7, 1) / 1000), 5 * 3600 + 1800);
  auto u = TimeZone::load("UTC");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ((*u)->offset_at(utc(2030, 7, 1) / 1000), 0);
  // Loading twice hands out the cached zone.
  EXPECT_EQ(TimeZone::load("America/New_York")->get(), ny->get());
}

TEST(TimeZones, PosixRules) {
  // Greenland-like negative transition times and Tehran-like angle-bracket names.
  auto z = TimeZone::from_posix("t", "<-02>2<-01>,M3.5.0/-1,M10.5.0/0");
  ASSERT_TRUE(z.ok()) << z.error().message;
  EXPECT_EQ((*z)->offset_at(utc(2030, 7, 1) / 1000), -1 * 3600);
  EXPECT_EQ((*z)->offset_at(utc(2030, 1, 1) / 1000), -2 * 3600);
  // Last Sunday of March 2030 is the 31st; "-1:00" on it is 23:00 the day before, local
  // standard time (-02) = 01:00Z on the 31st.
  EXPECT_EQ((*z)->offset_at(utc(2030, 3, 31, 0, 59) / 1000), -2 * 3600);
  EXPECT_EQ((*z)->offset_at(utc(2030, 3, 31, 1, 0) / 1000), -1 * 3600);
  auto fixed = TimeZone::from_posix("f", "<+0330>-3:30");
  ASSERT_TRUE(fixed.ok());
  EXPECT_EQ((*fixed)->offset_at(0), 3 * 3600 + 1800);
  // Julian day rules: J60 is always March 1.
  auto j = TimeZone::from_posix("j", "AAA3BBB,J60/2,J300/2");
  ASSERT_TRUE(j.ok());
  EXPECT_EQ((*j)->offset_at(utc(2028, 3, 1, 4, 59) / 1000), -3 * 3600);  // 02:00 local = 05:00Z
  EXPECT_EQ((*j)->offset_at(utc(2028, 3, 1, 5, 0) / 1000), -2 * 3600);
}

// ---- DST -----------------------------------------------------------------------------------------

TEST(CronDst, NewYorkSpringForwardFiresAfterTheGap) {
  // 2025-03-09: 02:00 EST jumps to 03:00 EDT (07:00Z). 02:30 does not exist that day.
  EXPECT_EQ(next_iso("30 2 * * *", "America/New_York", utc(2025, 3, 8, 12), 3),
            (V{"2025-03-09T07:00:00.000Z",  // first instant after the gap (03:00 EDT)
               "2025-03-10T06:30:00.000Z",  // 02:30 EDT
               "2025-03-11T06:30:00.000Z"}));
  // Every minute through the gap: no duplicate, no hole in UTC.
  EXPECT_EQ(next_iso("* * * * *", "America/New_York", utc(2025, 3, 9, 6, 58), 3),
            (V{"2025-03-09T06:59:00.000Z", "2025-03-09T07:00:00.000Z", "2025-03-09T07:01:00.000Z"}));
  // Every 15 minutes of the missing hour collapse into one run at 03:00 EDT.
  EXPECT_EQ(next_iso("*/15 2 * * *", "America/New_York", utc(2025, 3, 9, 0), 2),
            (V{"2025-03-09T07:00:00.000Z", "2025-03-10T06:00:00.000Z"}));
  auto s = sched("30 2 * * *", "America/New_York");
  EXPECT_EQ(s.local_iso(utc(2025, 3, 9, 7)), "2025-03-09T03:00:00-04:00");
  bool gap = false, amb = false;
  (void)s.zone().to_utc(days_from_civil(2025, 3, 9) * 86400 + 2 * 3600 + 1800, &gap, &amb);
  EXPECT_TRUE(gap);
  EXPECT_FALSE(amb);
}

TEST(CronDst, NewYorkFallBackFiresOnce) {
  // 2025-11-02: 02:00 EDT falls back to 01:00 EST (06:00Z); 01:xx happens twice.
  EXPECT_EQ(next_iso("30 1 * * *", "America/New_York", utc(2025, 11, 1, 12), 2),
            (V{"2025-11-02T05:30:00.000Z",     // 01:30 EDT, the first one
               "2025-11-03T06:30:00.000Z"}));  // 01:30 EST next day
  EXPECT_EQ(next_iso("0 * * * *", "America/New_York", utc(2025, 11, 2, 3, 30), 4),
            (V{"2025-11-02T04:00:00.000Z", "2025-11-02T05:00:00.000Z",  // 00:00, 01:00 EDT
               "2025-11-02T07:00:00.000Z",                              // 02:00 EST (01:00 EST skipped)
               "2025-11-02T08:00:00.000Z"}));
  // Asked from inside the repeated hour (01:10 EST): the repeated local minutes do not fire again.
  EXPECT_EQ(next_iso("*/30 * * * *", "America/New_York", utc(2025, 11, 2, 6, 10), 1),
            (V{"2025-11-02T07:00:00.000Z"}));
  auto s = sched("30 1 * * *", "America/New_York");
  bool gap = false, amb = false;
  EXPECT_EQ(s.zone().to_utc(days_from_civil(2025, 11, 2) * 86400 + 5400, &gap, &amb) * 1000,
            utc(2025, 11, 2, 5, 30));
  EXPECT_TRUE(amb);
  EXPECT_FALSE(gap);
  EXPECT_EQ(s.local_iso(utc(2025, 11, 2, 5, 30)), "2025-11-02T01:30:00-04:00");
  EXPECT_EQ(s.local_iso(utc(2025, 11, 2, 6, 30)), "2025-11-02T01:30:00-05:00");
}

TEST(CronDst, BerlinBothDirections) {
  // 2025-03-30: 02:00 CET -> 03:00 CEST at 01:00Z.
  EXPECT_EQ(next_iso("30 2 * * *", "Europe/Berlin", utc(2025, 3, 29, 12), 2),
            (V{"2025-03-30T01:00:00.000Z", "2025-03-31T00:30:00.000Z"}));
  // 2025-10-26: 03:00 CEST -> 02:00 CET at 01:00Z; 02:30 happens twice, fires at the first.
  EXPECT_EQ(next_iso("30 2 * * *", "Europe/Berlin", utc(2025, 10, 25, 12), 2),
            (V{"2025-10-26T00:30:00.000Z", "2025-10-27T01:30:00.000Z"}));
  // A daily 09:00 keeps its local time across both changes.
  auto runs = next_iso("0 9 * * *", "Europe/Berlin", utc(2025, 3, 29), 3);
  EXPECT_EQ(runs, (V{"2025-03-29T08:00:00.000Z", "2025-03-30T07:00:00.000Z", "2025-03-31T07:00:00.000Z"}));
  // Far future: the POSIX rule (last Sunday of March 2041 is the 31st).
  EXPECT_EQ(next_iso("30 2 31 3 *", "Europe/Berlin", utc(2041, 1, 1), 1), (V{"2041-03-31T01:00:00.000Z"}));
}

TEST(CronDst, NewYorkAfter2037UsesTheRule) {
  EXPECT_EQ(next_iso("0 12 1 7 *", "America/New_York", utc(2040, 1, 1), 1), (V{"2040-07-01T16:00:00.000Z"}));
  // Spring forward in 2045: second Sunday of March = the 12th.
  EXPECT_EQ(next_iso("30 2 * * *", "America/New_York", utc(2045, 3, 11, 12), 2),
            (V{"2045-03-12T07:00:00.000Z", "2045-03-13T06:30:00.000Z"}));
}

// ---- leap years, never-firing, horizon -----------------------------------------------------------

TEST(CronCalendar, LeapDays) {
  EXPECT_EQ(next_iso("0 12 29 2 *", "UTC", utc(2025, 3, 1), 2),
            (V{"2028-02-29T12:00:00.000Z", "2032-02-29T12:00:00.000Z"}));
  // 2100 is not a leap year: eight years between Feb 29ths.
  EXPECT_EQ(next_iso("0 0 29 2 *", "UTC", utc(2096, 3, 1), 1), (V{"2104-02-29T00:00:00.000Z"}));
  EXPECT_EQ(next_iso("0 0 29 2 *", "UTC", utc(1999, 3, 1), 1), (V{"2000-02-29T00:00:00.000Z"}));
  // Valid now (fires within 5 years)...
  EXPECT_TRUE(CronSchedule::parse_valid("0 0 29 2 *", "UTC", utc(2025, 3, 1)).ok());
  // ...but not from a point where the next Feb 29 is more than 5 years away.
  auto late = CronSchedule::parse_valid("0 0 29 2 *", "UTC", utc(2097, 3, 1));
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.error().code, "cron_never_fires");
  // The 31st only in months that have one.
  EXPECT_EQ(next_iso("0 0 31 * *", "UTC", utc(2025, 1, 31, 1), 3),
            (V{"2025-03-31T00:00:00.000Z", "2025-05-31T00:00:00.000Z", "2025-07-31T00:00:00.000Z"}));
}

TEST(CronCalendar, NeverFires) {
  for (const char* expr : {"0 0 30 2 *", "0 0 31 4 *", "0 0 31 2,4,6,9,11 *", "0 0 31 jun *"}) {
    auto s = CronSchedule::parse(expr, "UTC");
    ASSERT_TRUE(s.ok()) << expr;  // syntactically fine
    EXPECT_FALSE(s->next_after(utc(2025, 1, 1)).has_value()) << expr;
    auto v = CronSchedule::parse_valid(expr, "UTC", utc(2025, 1, 1));
    ASSERT_FALSE(v.ok()) << expr;
    EXPECT_EQ(v.error().code, "cron_never_fires");
    EXPECT_NE(v.error().message.find("never fires within 5 years"), std::string::npos);
  }
  // Many calls stay cheap: the search jumps by month and day, not by minute (this would take
  // minutes with minute stepping over 9 years).
  auto s = sched("0 0 30 2 *");
  for (int i = 0; i < 2000; ++i) ASSERT_FALSE(s.next_after(utc(2025, 1, 1) + i * 60000LL).has_value());
}

// ---- intervals and missed runs -------------------------------------------------------------------

TEST(CronIntervals, MinIntervalOverNextFirings) {
  const int64_t t = utc(2025, 1, 1);
  EXPECT_EQ(sched("*/5 * * * *").min_interval_ms(t, 200), 300000);
  EXPECT_EQ(sched("* * * * *").min_interval_ms(t, 200), 60000);
  EXPECT_EQ(sched("0,1 * * * *").min_interval_ms(t, 200), 60000);
  EXPECT_EQ(sched("@hourly").min_interval_ms(t, 200), 3600000);
  EXPECT_EQ(sched("0 9 * * MON-FRI").min_interval_ms(t, 200), 86400000);
  // Across the end of a day: 23:59 then 00:00.
  EXPECT_EQ(sched("0,59 0,23 * * *").min_interval_ms(t, 200), 60000);
  EXPECT_FALSE(sched("0 0 30 2 *").min_interval_ms(t, 200).has_value());
}

TEST(CronIntervals, OccurrencesBetween) {
  auto hourly = sched("0 * * * *");
  auto span = hourly.occurrences_between(utc(2025, 1, 1, 0), utc(2025, 1, 1, 10), 1000);
  EXPECT_EQ(span.count, 11);  // both ends included
  EXPECT_FALSE(span.capped);
  ASSERT_TRUE(span.latest.has_value());
  EXPECT_EQ(*span.latest, utc(2025, 1, 1, 10));
  span = hourly.occurrences_between(utc(2025, 1, 1, 0, 1), utc(2025, 1, 1, 0, 59), 1000);
  EXPECT_EQ(span.count, 0);
  EXPECT_FALSE(span.latest.has_value());
  // Capped counting still finds the latest occurrence.
  auto minutely = sched("* * * * *");
  span = minutely.occurrences_between(utc(2024, 1, 1), utc(2025, 1, 1, 12, 34, 56), 100);
  EXPECT_TRUE(span.capped);
  EXPECT_EQ(span.count, 100);
  ASSERT_TRUE(span.latest.has_value());
  EXPECT_EQ(*span.latest, utc(2025, 1, 1, 12, 34));
}

}  // namespace
}  // namespace weft::service
