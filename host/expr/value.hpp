// Value helpers shared by the evaluator, the built-in functions and templates (internal).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "host/core/json.hpp"

namespace weft::expr {

// JavaScript-like truthiness: null, false, 0, "" are false; everything else (including empty
// arrays and objects) is true.
bool truthy(const Json& v);

// Appends the text form of `v` to `out`: strings raw, everything else as compact JSON. Stops and
// returns false as soon as `out` would grow past `max_bytes` (so huge or highly shared values
// cannot make it run long).
bool append_text(const Json& v, std::string& out, size_t max_bytes);
// Compact JSON of `v` (strings quoted), bounded like append_text.
bool append_json(const Json& v, std::string& out, size_t max_bytes);

// UTF-8 helpers that count code points; invalid bytes count as one code point each, so they
// never throw off the arithmetic.
size_t utf8_length(std::string_view s);
// Byte offset of code point `cp` (clamped to s.size()).
size_t utf8_offset(std::string_view s, size_t cp);
void append_utf8(std::string& out, uint32_t cp);

// Integer arithmetic that falls back to double on overflow.
Json add_numbers(const Json& a, const Json& b);
Json sub_numbers(const Json& a, const Json& b);
Json mul_numbers(const Json& a, const Json& b);

// Converts a double to an int Json when it is integral and in range, else keeps the double.
Json integral_or_double(double d);

// Parses a number from text ("12", "-3.5", "1e3"; surrounding whitespace allowed). nullopt when
// the whole text is not a number.
std::optional<Json> parse_number(std::string_view s);

// Dates: civil <-> days since 1970-01-01 (proleptic Gregorian).
int64_t days_from_civil(int64_t y, unsigned m, unsigned d);
void civil_from_days(int64_t z, int64_t& y, unsigned& m, unsigned& d);
// "2024-01-02T03:04:05.678Z" style parse; nullopt when malformed.
std::optional<int64_t> parse_iso8601_ms(std::string_view s);
// ISO-8601 UTC text of a unix-ms instant; nullopt outside years 0..9999.
std::optional<std::string> format_iso8601_ms(int64_t ms, bool date_only);

}  // namespace weft::expr
