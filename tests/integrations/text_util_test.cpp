// The integrations pack's text helpers (plugins/integrations/text_util.cpp), compiled straight into
// this binary: encodings, URL pieces and the Retry-After / HTTP-date parser behind retry_after_ms.
#include "plugins/integrations/text_util.hpp"

#include <gtest/gtest.h>

namespace {

using namespace weft::integrations;

// 1994-11-06T08:49:37Z, the RFC's example date.
constexpr int64_t kRfcExampleMs = 784111777000;

TEST(HttpDate, ParsesTheThreeFormsOfTheRfc) {
  EXPECT_EQ(parse_http_date_ms("Sun, 06 Nov 1994 08:49:37 GMT"), kRfcExampleMs);
  EXPECT_EQ(parse_http_date_ms("Sunday, 06-Nov-94 08:49:37 GMT"), kRfcExampleMs);
  EXPECT_EQ(parse_http_date_ms("Sun Nov  6 08:49:37 1994"), kRfcExampleMs);
  EXPECT_EQ(parse_http_date_ms("  Sun, 06 Nov 1994 08:49:37 GMT "), kRfcExampleMs);
  EXPECT_EQ(parse_http_date_ms("Thu, 01 Jan 1970 00:00:00 GMT"), 0);
  EXPECT_EQ(parse_http_date_ms("Tue, 29 Feb 2028 23:59:59 GMT"), 1835481599000);
  EXPECT_EQ(parse_http_date_ms("Wednesday, 01-Jan-25 00:00:00 GMT"), 1735689600000);
}

TEST(HttpDate, RefusesMalformedAndImpossibleDates) {
  for (const char* bad :
       {"", "tomorrow", "Sun, 06 Nov 1994 08:49:37", "Sun, 06 Nov 1994 08:49:37 UTC",
        "Sun, 6 Nov 1994 08:49:37 GMT", "Sun, 31 Nov 1994 08:49:37 GMT", "Mon, 29 Feb 2027 00:00:00 GMT",
        "Sun, 06 Nox 1994 08:49:37 GMT", "Sun, 06 Nov 1994 24:00:00 GMT", "Sun, 06 Nov 1994 08:49:37 GMTx",
        "Sunday, 06-Nov-1994 08:49:37 GMT", "Sun Nov 6 08:49:37 1994"})
    EXPECT_EQ(parse_http_date_ms(bad), std::nullopt) << bad;
}

TEST(RetryAfter, SecondsAndDates) {
  const int64_t now = kRfcExampleMs;
  EXPECT_EQ(retry_after_ms("0", now), 0);
  EXPECT_EQ(retry_after_ms("7", now), 7000);
  EXPECT_EQ(retry_after_ms(" 120 ", now), 120000);
  EXPECT_EQ(retry_after_ms("1.5", now), 1500);
  EXPECT_EQ(retry_after_ms("Sun, 06 Nov 1994 08:50:07 GMT", now), 30000);
  EXPECT_EQ(retry_after_ms("Sun, 06 Nov 1994 08:00:00 GMT", now), 0);         // in the past: retry now
  EXPECT_EQ(retry_after_ms("99999999999999", now), 30LL * 24 * 3600 * 1000);  // capped
  for (const char* bad : {"", "-1", "soon", "5s", "1e3", "Sun, 06 Nov 1994"})
    EXPECT_EQ(retry_after_ms(bad, now), std::nullopt) << bad;
}

TEST(Encoding, Base64) {
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(base64_encode("f"), "Zg==");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode("foo"), "Zm9v");
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64_encode(std::string("\x00\xff\xfe", 3)), "AP/+");
}

TEST(Encoding, UrlEncodingAndQueries) {
  EXPECT_EQ(url_encode("a-b_c.d~e"), "a-b_c.d~e");
  EXPECT_EQ(url_encode("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
  EXPECT_EQ(encode_pairs({{"q", "x y"}, {"n", "1"}, {"q", "z"}}), "q=x%20y&n=1&q=z");
  EXPECT_EQ(append_query("https://h/p", "a=1"), "https://h/p?a=1");
  EXPECT_EQ(append_query("https://h/p?x=1", "a=1"), "https://h/p?x=1&a=1");
  EXPECT_EQ(append_query("https://h/p?", "a=1"), "https://h/p?a=1");
  EXPECT_EQ(append_query("https://h/p?x=1#frag", "a=1"), "https://h/p?x=1&a=1#frag");
  EXPECT_EQ(append_query("https://h/p", ""), "https://h/p");
  EXPECT_EQ(url_for_display("https://h/p/q?token=secret#x"), "https://h/p/q");
  EXPECT_EQ(url_for_display("https://user:pw@h:8080/p"), "https://h:8080/p");
  EXPECT_EQ(url_for_display("https://user:pw@h"), "https://h");
  EXPECT_EQ(url_for_display("https://h/p@q"), "https://h/p@q");
  EXPECT_EQ(remove_query_param("https://h/p?a=1&api_key=s&b=2", "api_key"), "https://h/p?a=1&b=2");
  EXPECT_EQ(remove_query_param("https://h/p?api_key=s", "api_key"), "https://h/p");
  EXPECT_EQ(remove_query_param("https://h/p?api_keyx=1#f", "api_key"), "https://h/p?api_keyx=1#f");
}

TEST(Text, Utf8AndPreviews) {
  EXPECT_TRUE(valid_utf8("plain ascii"));
  EXPECT_TRUE(valid_utf8("h\xc3\xa9llo \xf0\x9f\x98\x80"));
  EXPECT_FALSE(valid_utf8("\xff"));
  EXPECT_FALSE(valid_utf8("\xc0\xaf"));          // overlong '/'
  EXPECT_FALSE(valid_utf8("\xed\xa0\x80"));      // surrogate
  EXPECT_FALSE(valid_utf8("\xf4\x90\x80\x80"));  // past U+10FFFF
  EXPECT_FALSE(valid_utf8("\xe2\x82"));          // truncated
  EXPECT_EQ(utf8_preview("short", 10), "short");
  EXPECT_EQ(utf8_preview("abcdef", 3), "abc...");
  // Never cuts inside a sequence: "é" is two bytes.
  EXPECT_EQ(utf8_preview("a\xc3\xa9z", 2), "a...");
}

TEST(Text, HeadersAndUrls) {
  EXPECT_TRUE(valid_header_name("X-Api-Key"));
  EXPECT_FALSE(valid_header_name(""));
  EXPECT_FALSE(valid_header_name("Bad Name"));
  EXPECT_FALSE(valid_header_name("a:b"));
  EXPECT_TRUE(valid_header_value("v a l u e"));
  EXPECT_FALSE(valid_header_value("a\r\nInjected: 1"));
  EXPECT_FALSE(valid_header_value(std::string_view("a\0b", 3)));
  EXPECT_TRUE(looks_like_http_url("https://example.com/x"));
  EXPECT_TRUE(looks_like_http_url("HTTP://example.com"));
  EXPECT_FALSE(looks_like_http_url("ftp://example.com"));
  EXPECT_FALSE(looks_like_http_url("https://exa mple.com"));
  EXPECT_FALSE(looks_like_http_url("example.com"));
  EXPECT_EQ(to_upper("post"), "POST");
  EXPECT_EQ(to_lower("Content-Type"), "content-type");
}

}  // namespace
