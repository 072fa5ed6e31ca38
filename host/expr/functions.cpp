// Built-in functions. Conventions (documented in docs/workflow-format.md):
//  - a null first argument gives null (or the natural empty answer: 0 for length/count/sum,
//    false for predicates, [] for keys/values), so missing paths flow through without errors;
//  - a wrong type is an error naming the function, the argument and the type received;
//  - conversions (toNumber, toInt, parseJson, parseDate) give null when the text cannot be
//    converted, so `toNumber($json.x) ?? 0` works;
//  - strings are measured and indexed in Unicode code points.
#include "host/expr/functions.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <unordered_map>

#include "host/expr/value.hpp"

namespace weft::expr {

namespace {
const Json kNullArg;
}

const Json& FnCall::arg(size_t i) const { return i < args.size() ? *args[i] : kNullArg; }

bool FnCall::charge(size_t n) {
  steps += n;
  if (steps > ctx.max_steps) {
    return fail("the expression exceeded its budget of " + std::to_string(ctx.max_steps) +
                " evaluation steps");
  }
  return true;
}

namespace {

const char* ordinal(size_t i) {
  static const char* kNames[] = {"first", "second", "third", "fourth"};
  return i < 4 ? kNames[i] : "an";
}

bool type_error(FnCall& c, size_t i, const char* expected) {
  return c.fail(std::string("expected ") + expected + " as the " + ordinal(i) +
                " argument, got " + c.arg(i).type_name());
}

// Fetches argument i as a string; `ok` false (with an error set) otherwise.
const std::string* str_arg(FnCall& c, size_t i) {
  if (!c.arg(i).is_string()) {
    type_error(c, i, "a string");
    return nullptr;
  }
  return &c.arg(i).as_string();
}

bool int_arg(FnCall& c, size_t i, int64_t& out) {
  const Json& v = c.arg(i);
  if (v.is_int()) {
    out = v.as_int();
    return true;
  }
  if (v.is_double()) {
    double d = v.as_double();
    if (std::isfinite(d) && d == std::trunc(d) && std::fabs(d) < 9.0e18) {
      out = static_cast<int64_t>(d);
      return true;
    }
  }
  return type_error(c, i, "an integer");
}

bool num_arg(FnCall& c, size_t i, double& out) {
  if (!c.arg(i).is_number()) return type_error(c, i, "a number");
  out = c.arg(i).as_double();
  return true;
}

bool set_string(FnCall& c, std::string s) {
  if (s.size() > c.ctx.max_string_bytes) {
    return c.fail("the result is longer than the limit of " +
                  std::to_string(c.ctx.max_string_bytes) + " bytes");
  }
  c.result = Json(std::move(s));
  return true;
}

bool set_number(FnCall& c, double d) {
  if (!std::isfinite(d)) return c.fail("the result is not a finite number");
  c.result = Json(d);
  return true;
}

// ---- strings -----------------------------------------------------------------------------------

// Shifts the ASCII letters first..last of the string argument by `shift` (upper/lower only
// touch ASCII letters).
bool shift_ascii(FnCall& c, char first, char last, int shift) {
  if (c.arg(0).is_null()) return true;
  const std::string* s = str_arg(c, 0);
  if (!s) return false;
  std::string r = *s;
  for (char& ch : r)
    if (ch >= first && ch <= last) ch = static_cast<char>(ch + shift);
  c.result = Json(std::move(r));
  return true;
}

bool fn_upper(FnCall& c) { return shift_ascii(c, 'a', 'z', 'A' - 'a'); }
bool fn_lower(FnCall& c) { return shift_ascii(c, 'A', 'Z', 'a' - 'A'); }

bool fn_trim(FnCall& c) {
  if (c.arg(0).is_null()) return true;
  const std::string* s = str_arg(c, 0);
  if (!s) return false;
  constexpr const char* kSpace = " \t\n\r\f\v";
  size_t b = s->find_first_not_of(kSpace);
  if (b == std::string::npos) {
    c.result = Json("");
    return true;
  }
  size_t e = s->find_last_not_of(kSpace);
  c.result = Json(s->substr(b, e - b + 1));
  return true;
}

bool fn_length(FnCall& c) {
  const Json& v = c.arg(0);
  switch (v.type()) {
    case Json::Type::Null: c.result = Json(0); return true;
    case Json::Type::String: c.result = Json(utf8_length(v.as_string())); return true;
    case Json::Type::Array:
    case Json::Type::Object: c.result = Json(v.size()); return true;
    default: return type_error(c, 0, "a string, array or object");
  }
}

bool fn_contains(FnCall& c) {
  const Json& hay = c.arg(0);
  const Json& needle = c.arg(1);
  switch (hay.type()) {
    case Json::Type::Null: c.result = Json(false); return true;
    case Json::Type::String:
      if (!needle.is_string()) return type_error(c, 1, "a string");
      c.result = Json(hay.as_string().find(needle.as_string()) != std::string::npos);
      return true;
    case Json::Type::Array: {
      bool found = false;
      for (const auto& e : hay.as_array()) {
        if (e == needle) {
          found = true;
          break;
        }
      }
      c.result = Json(found);
      return true;
    }
    case Json::Type::Object:
      if (!needle.is_string()) return type_error(c, 1, "a string (an object key)");
      c.result = Json(hay.contains(needle.as_string()));
      return true;
    default: return type_error(c, 0, "a string, array or object");
  }
}

bool fn_starts_with(FnCall& c) {
  if (c.arg(0).is_null()) {
    c.result = Json(false);
    return true;
  }
  const std::string* s = str_arg(c, 0);
  const std::string* p = s ? str_arg(c, 1) : nullptr;
  if (!p) return false;
  c.result = Json(s->size() >= p->size() && s->compare(0, p->size(), *p) == 0);
  return true;
}

bool fn_ends_with(FnCall& c) {
  if (c.arg(0).is_null()) {
    c.result = Json(false);
    return true;
  }
  const std::string* s = str_arg(c, 0);
  const std::string* p = s ? str_arg(c, 1) : nullptr;
  if (!p) return false;
  c.result = Json(s->size() >= p->size() && s->compare(s->size() - p->size(), p->size(), *p) == 0);
  return true;
}

bool fn_replace(FnCall& c) {
  if (c.arg(0).is_null()) return true;
  const std::string* s = str_arg(c, 0);
  const std::string* from = s ? str_arg(c, 1) : nullptr;
  const std::string* to = from ? str_arg(c, 2) : nullptr;
  if (!to) return false;
  if (from->empty()) {  // replacing "" would match everywhere; treat it as "nothing to replace"
    c.result = c.arg(0);
    return true;
  }
  std::string out;
  size_t pos = 0;
  while (true) {
    size_t hit = s->find(*from, pos);
    if (hit == std::string::npos) break;
    out.append(*s, pos, hit - pos);
    out += *to;
    pos = hit + from->size();
    if (out.size() > c.ctx.max_string_bytes) return set_string(c, std::move(out));
  }
  out.append(*s, pos, std::string::npos);
  return set_string(c, std::move(out));
}

bool fn_split(FnCall& c) {
  if (c.arg(0).is_null()) return true;
  const std::string* s = str_arg(c, 0);
  const std::string* sep = s ? str_arg(c, 1) : nullptr;
  if (!sep) return false;
  Json::Array parts;
  if (sep->empty()) {  // split into code points
    if (!c.charge(utf8_length(*s))) return false;
    size_t i = 0;
    while (i < s->size()) {
      size_t j = i + 1;
      while (j < s->size() && (static_cast<unsigned char>((*s)[j]) & 0xC0) == 0x80) ++j;
      parts.emplace_back(s->substr(i, j - i));
      i = j;
    }
  } else {
    size_t pos = 0;
    while (true) {
      size_t hit = s->find(*sep, pos);
      if (!c.charge(1)) return false;
      if (hit == std::string::npos) {
        parts.emplace_back(s->substr(pos));
        break;
      }
      parts.emplace_back(s->substr(pos, hit - pos));
      pos = hit + sep->size();
    }
  }
  c.result = Json(std::move(parts));
  return true;
}

bool fn_join(FnCall& c) {
  const Json& a = c.arg(0);
  if (a.is_null()) {
    c.result = Json("");
    return true;
  }
  if (!a.is_array()) return type_error(c, 0, "an array");
  std::string sep;
  if (c.argc() > 1) {
    const std::string* s = str_arg(c, 1);
    if (!s) return false;
    sep = *s;
  }
  std::string out;
  bool first = true;
  for (const auto& e : a.as_array()) {
    if (!first) out += sep;
    first = false;
    // null elements join as empty strings, like JavaScript's Array.prototype.join
    if (!e.is_null() && !append_text(e, out, c.ctx.max_string_bytes)) {
      return c.fail("the result is longer than the limit of " +
                    std::to_string(c.ctx.max_string_bytes) + " bytes");
    }
    if (out.size() > c.ctx.max_string_bytes) return set_string(c, std::move(out));
  }
  return set_string(c, std::move(out));
}

// Clamps a code-point index into [0, len].
int64_t clamp_index(int64_t i, int64_t len) { return std::max<int64_t>(0, std::min(i, len)); }

bool fn_substring(FnCall& c) {
  if (c.arg(0).is_null()) return true;
  const std::string* s = str_arg(c, 0);
  if (!s) return false;
  int64_t len = static_cast<int64_t>(utf8_length(*s));
  int64_t start = 0, end = len;
  if (!int_arg(c, 1, start)) return false;
  if (c.argc() > 2 && !c.arg(2).is_null() && !int_arg(c, 2, end)) return false;
  start = clamp_index(start, len);
  end = clamp_index(end, len);
  if (start >= end) {
    c.result = Json("");
    return true;
  }
  size_t b = utf8_offset(*s, static_cast<size_t>(start));
  size_t e = utf8_offset(*s, static_cast<size_t>(end));
  c.result = Json(s->substr(b, e - b));
  return true;
}

bool fn_pad_start(FnCall& c) {
  const Json& v = c.arg(0);
  if (v.is_null()) return true;
  std::string s;
  if (v.is_string()) s = v.as_string();
  else if (v.is_number()) append_json(v, s, c.ctx.max_string_bytes);
  else return type_error(c, 0, "a string or number");
  int64_t width = 0;
  if (!int_arg(c, 1, width)) return false;
  std::string pad = " ";
  if (c.argc() > 2) {
    const std::string* p = str_arg(c, 2);
    if (!p) return false;
    pad = *p;
  }
  if (width < 0) width = 0;
  if (static_cast<uint64_t>(width) > c.ctx.max_string_bytes) {
    return c.fail("width " + std::to_string(width) + " exceeds the string limit of " +
                  std::to_string(c.ctx.max_string_bytes) + " bytes");
  }
  size_t have = utf8_length(s);
  if (pad.empty() || have >= static_cast<size_t>(width)) {
    c.result = Json(std::move(s));
    return true;
  }
  size_t need = static_cast<size_t>(width) - have;
  size_t pad_len = utf8_length(pad);
  std::string prefix;
  while (need >= pad_len) {
    prefix += pad;
    need -= pad_len;
  }
  prefix.append(pad, 0, utf8_offset(pad, need));
  return set_string(c, prefix + s);
}

// ---- numbers -----------------------------------------------------------------------------------

bool fn_round(FnCall& c) {
  const Json& v = c.arg(0);
  if (v.is_null()) return true;
  if (!v.is_number()) return type_error(c, 0, "a number");
  int64_t digits = 0;
  if (c.argc() > 1 && !int_arg(c, 1, digits)) return false;
  if (digits < -15 || digits > 15) return c.fail("digits must be between -15 and 15");
  if (v.is_int() && digits >= 0) {
    c.result = v;
    return true;
  }
  double x = v.as_double();
  if (digits == 0) {
    c.result = integral_or_double(std::round(x));  // halves round away from zero
    return true;
  }
  // Scale by an exact power of ten in the direction that keeps the factor representable:
  // 10^-2 is not exact in binary, 100 is.
  double f = std::pow(10.0, static_cast<double>(digits < 0 ? -digits : digits));
  double r = digits > 0 ? std::round(x * f) / f : std::round(x / f) * f;
  if (!std::isfinite(r)) r = x;  // x * f overflowed: x has no digits at that position anyway
  c.result = digits < 0 ? integral_or_double(r) : Json(r);
  return true;
}

// floor/ceil: integers (and null) pass through; other numbers are rounded by `op`.
bool round_with(FnCall& c, double (*op)(double)) {
  const Json& v = c.arg(0);
  if (v.is_null() || v.is_int()) {
    c.result = v;
    return true;
  }
  if (!v.is_number()) return type_error(c, 0, "a number");
  c.result = integral_or_double(op(v.as_double()));
  return true;
}

bool fn_floor(FnCall& c) { return round_with(c, [](double x) { return std::floor(x); }); }
bool fn_ceil(FnCall& c) { return round_with(c, [](double x) { return std::ceil(x); }); }

bool fn_abs(FnCall& c) {
  const Json& v = c.arg(0);
  if (v.is_null()) return true;
  if (!v.is_number()) return type_error(c, 0, "a number");
  if (v.is_int()) {
    int64_t i = v.as_int();
    if (i == std::numeric_limits<int64_t>::min()) c.result = Json(-static_cast<double>(i));
    else c.result = Json(static_cast<long long>(i < 0 ? -i : i));
    return true;
  }
  c.result = Json(std::fabs(v.as_double()));
  return true;
}

// min/max over the arguments, or over the elements of a single array argument.
bool extreme(FnCall& c, bool want_max) {
  std::vector<const Json*> vals;
  if (c.argc() == 1 && c.arg(0).is_array()) {
    for (const auto& e : c.arg(0).as_array()) vals.push_back(&e);
  } else {
    vals = c.args;
  }
  const Json* best = nullptr;
  for (size_t i = 0; i < vals.size(); ++i) {
    const Json* v = vals[i];
    if (!v->is_number()) {
      return c.fail(std::string("expected numbers, got ") + v->type_name() + " at position " +
                    std::to_string(i + 1));
    }
    if (!best) {
      best = v;
      continue;
    }
    bool greater = (v->is_int() && best->is_int()) ? v->as_int() > best->as_int()
                                                   : v->as_double() > best->as_double();
    bool less = (v->is_int() && best->is_int()) ? v->as_int() < best->as_int()
                                                : v->as_double() < best->as_double();
    if (want_max ? greater : less) best = v;
  }
  c.result = best ? *best : Json();
  return true;
}
bool fn_min(FnCall& c) { return extreme(c, false); }
bool fn_max(FnCall& c) { return extreme(c, true); }

std::optional<Json> to_number(const Json& v) {
  switch (v.type()) {
    case Json::Type::Int:
    case Json::Type::Double: return v;
    case Json::Type::Bool: return Json(v.as_bool() ? 1 : 0);
    case Json::Type::String: return parse_number(v.as_string());
    default: return std::nullopt;
  }
}

bool fn_to_number(FnCall& c) {
  auto n = to_number(c.arg(0));
  c.result = n ? *n : Json();
  return true;
}

bool fn_to_int(FnCall& c) {
  auto n = to_number(c.arg(0));
  if (!n) {
    c.result = Json();
  } else if (n->is_int()) {
    c.result = *n;
  } else {
    c.result = integral_or_double(std::trunc(n->as_double()));
  }
  return true;
}

// ---- json and types ----------------------------------------------------------------------------

bool fn_to_string(FnCall& c) {
  std::string out;
  if (!append_text(c.arg(0), out, c.ctx.max_string_bytes)) {
    return c.fail("the result is longer than the limit of " +
                  std::to_string(c.ctx.max_string_bytes) + " bytes");
  }
  c.result = Json(std::move(out));
  return true;
}

bool fn_to_json(FnCall& c) {
  std::string out;
  if (!append_json(c.arg(0), out, c.ctx.max_string_bytes)) {
    return c.fail("the result is longer than the limit of " +
                  std::to_string(c.ctx.max_string_bytes) + " bytes");
  }
  c.result = Json(std::move(out));
  return true;
}

bool fn_parse_json(FnCall& c) {
  const Json& v = c.arg(0);
  if (v.is_null()) return true;
  if (!v.is_string()) return type_error(c, 0, "a string");
  JsonParseLimits limits;
  limits.max_bytes = c.ctx.max_string_bytes;
  auto r = Json::parse(v.as_string(), limits);
  c.result = r.ok() ? std::move(r.value()) : Json();
  return true;
}

bool fn_keys(FnCall& c) {
  const Json& v = c.arg(0);
  if (v.is_null()) {
    c.result = Json::array();
    return true;
  }
  if (!v.is_object()) return type_error(c, 0, "an object");
  if (!c.charge(v.size())) return false;
  Json::Array out;
  out.reserve(v.size());
  for (const auto& m : v.as_object()) out.emplace_back(m.first);
  c.result = Json(std::move(out));
  return true;
}

bool fn_values(FnCall& c) {
  const Json& v = c.arg(0);
  if (v.is_null()) {
    c.result = Json::array();
    return true;
  }
  if (v.is_array()) {
    c.result = v;
    return true;
  }
  if (!v.is_object()) return type_error(c, 0, "an object");
  if (!c.charge(v.size())) return false;
  Json::Array out;
  out.reserve(v.size());
  for (const auto& m : v.as_object()) out.push_back(m.second);
  c.result = Json(std::move(out));
  return true;
}

bool fn_type_of(FnCall& c) {
  c.result = Json(c.arg(0).type_name());
  return true;
}

bool is_empty(const Json& v) {
  switch (v.type()) {
    case Json::Type::Null: return true;
    case Json::Type::String: return v.as_string().empty();
    case Json::Type::Array:
    case Json::Type::Object: return v.size() == 0;
    default: return false;
  }
}

bool fn_is_empty(FnCall& c) {
  c.result = Json(is_empty(c.arg(0)));
  return true;
}

bool fn_default(FnCall& c) {
  c.result = is_empty(c.arg(0)) ? c.arg(1) : c.arg(0);
  return true;
}

bool fn_get(FnCall& c) {
  const std::string* path = str_arg(c, 1);
  if (!path) return false;
  const Json* found = path->empty() ? &c.arg(0) : json_path(c.arg(0), *path);
  c.result = (found && !found->is_null()) ? *found : c.arg(2);
  return true;
}

// ---- arrays ------------------------------------------------------------------------------------

bool fn_first(FnCall& c) {
  const Json& v = c.arg(0);
  if (v.is_null()) return true;
  if (v.is_array()) {
    c.result = v.at(0);
    return true;
  }
  if (v.is_string()) {
    const auto& s = v.as_string();
    c.result = Json(s.substr(0, utf8_offset(s, 1)));
    return true;
  }
  return type_error(c, 0, "an array or string");
}

bool fn_last(FnCall& c) {
  const Json& v = c.arg(0);
  if (v.is_null()) return true;
  if (v.is_array()) {
    if (v.size() > 0) c.result = v.at(v.size() - 1);
    return true;
  }
  if (v.is_string()) {
    const auto& s = v.as_string();
    size_t n = utf8_length(s);
    c.result = Json(n == 0 ? std::string() : s.substr(utf8_offset(s, n - 1)));
    return true;
  }
  return type_error(c, 0, "an array or string");
}

// JavaScript slice() index rules: negative counts from the end, then clamp.
int64_t slice_index(int64_t i, int64_t len) {
  if (i < 0) i += len;
  return clamp_index(i, len);
}

bool fn_slice(FnCall& c) {
  const Json& v = c.arg(0);
  if (v.is_null()) return true;
  if (!v.is_array() && !v.is_string()) return type_error(c, 0, "an array or string");
  int64_t len = v.is_array() ? static_cast<int64_t>(v.size())
                             : static_cast<int64_t>(utf8_length(v.as_string()));
  int64_t start = 0, end = len;
  if (!int_arg(c, 1, start)) return false;
  if (c.argc() > 2 && !c.arg(2).is_null() && !int_arg(c, 2, end)) return false;
  start = slice_index(start, len);
  end = slice_index(end, len);
  if (end < start) end = start;
  if (v.is_array()) {
    if (!c.charge(static_cast<size_t>(end - start))) return false;
    const auto& a = v.as_array();
    c.result = Json(Json::Array(a.begin() + start, a.begin() + end));
  } else {
    const auto& s = v.as_string();
    size_t b = utf8_offset(s, static_cast<size_t>(start));
    size_t e = utf8_offset(s, static_cast<size_t>(end));
    c.result = Json(s.substr(b, e - b));
  }
  return true;
}

bool fn_count(FnCall& c) {
  const Json& v = c.arg(0);
  if (v.is_null()) {
    c.result = Json(0);
    return true;
  }
  if (!v.is_array() && !v.is_object()) return type_error(c, 0, "an array or object");
  c.result = Json(v.size());
  return true;
}

bool numbers_of(FnCall& c, const Json& v) {
  size_t i = 0;
  for (const auto& e : v.as_array()) {
    if (!e.is_number()) {
      return c.fail(std::string("expected an array of numbers, element ") + std::to_string(i) +
                    " is " + e.type_name());
    }
    ++i;
  }
  return true;
}

bool fn_sum(FnCall& c) {
  const Json& v = c.arg(0);
  if (v.is_null()) {
    c.result = Json(0);
    return true;
  }
  if (!v.is_array()) return type_error(c, 0, "an array");
  if (!numbers_of(c, v)) return false;
  Json total(0);
  for (const auto& e : v.as_array()) total = add_numbers(total, e);
  if (total.is_double()) return set_number(c, total.as_double());
  c.result = total;
  return true;
}

bool fn_avg(FnCall& c) {
  const Json& v = c.arg(0);
  if (v.is_null()) return true;
  if (!v.is_array()) return type_error(c, 0, "an array");
  if (!numbers_of(c, v)) return false;
  if (v.size() == 0) return true;
  double total = 0;
  for (const auto& e : v.as_array()) total += e.as_double();
  double avg = total / static_cast<double>(v.size());
  if (!std::isfinite(avg)) return c.fail("the result is not a finite number");
  c.result = integral_or_double(avg);
  return true;
}

// ---- dates -------------------------------------------------------------------------------------

int64_t now_ms(const EvalContext& ctx) {
  if (ctx.now_ms != 0) return ctx.now_ms;
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool ms_arg(FnCall& c, size_t i, int64_t& out) {
  double d = 0;
  if (!num_arg(c, i, d)) return false;
  if (c.arg(i).is_int()) {
    out = c.arg(i).as_int();
    return true;
  }
  d = std::floor(d);
  if (!(d > -9.0e18 && d < 9.0e18)) return c.fail("the timestamp is out of range");
  out = static_cast<int64_t>(d);
  return true;
}

bool fn_now(FnCall& c) {
  c.result = Json(static_cast<long long>(now_ms(c.ctx)));
  return true;
}

bool fn_format_date(FnCall& c) {
  if (c.arg(0).is_null()) return true;
  int64_t ms = 0;
  if (!ms_arg(c, 0, ms)) return false;
  std::string fmt = "iso";
  if (c.argc() > 1) {
    const std::string* f = str_arg(c, 1);
    if (!f) return false;
    fmt = *f;
  }
  if (fmt == "unix") {
    int64_t secs = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
    c.result = Json(static_cast<long long>(secs));
    return true;
  }
  if (fmt != "iso" && fmt != "date") {
    return c.fail("unknown format \"" + fmt.substr(0, 32) + "\" (use \"iso\", \"date\" or \"unix\")");
  }
  auto text = format_iso8601_ms(ms, fmt == "date");
  if (!text) return c.fail("the timestamp is outside the years 0000-9999");
  c.result = Json(std::move(*text));
  return true;
}

bool fn_parse_date(FnCall& c) {
  const Json& v = c.arg(0);
  if (v.is_number()) {  // already a timestamp
    c.result = v;
    return true;
  }
  if (v.is_null()) return true;
  if (!v.is_string()) return type_error(c, 0, "a string");
  auto ms = parse_iso8601_ms(v.as_string());
  c.result = ms ? Json(static_cast<long long>(*ms)) : Json();
  return true;
}

bool add_time(FnCall& c, double unit_ms) {
  if (c.arg(0).is_null()) return true;
  int64_t ms = 0;
  double n = 0;
  if (!ms_arg(c, 0, ms) || !num_arg(c, 1, n)) return false;
  double delta = std::round(n * unit_ms);
  double total = static_cast<double>(ms) + delta;
  if (!(std::fabs(delta) < 9.0e18) || !(std::fabs(total) < 9.0e18)) {
    return c.fail("the resulting timestamp is out of range");
  }
  c.result = Json(static_cast<long long>(ms + static_cast<int64_t>(delta)));
  return true;
}
bool fn_add_days(FnCall& c) { return add_time(c, 86400000.0); }
bool fn_add_hours(FnCall& c) { return add_time(c, 3600000.0); }
bool fn_add_minutes(FnCall& c) { return add_time(c, 60000.0); }

}  // namespace

const std::vector<Builtin>& builtins() {
  static const std::vector<Builtin> kTable = {
      // strings
      {"upper", 1, 1, fn_upper, "upper(s)"},
      {"lower", 1, 1, fn_lower, "lower(s)"},
      {"trim", 1, 1, fn_trim, "trim(s)"},
      {"length", 1, 1, fn_length, "length(x)"},
      {"contains", 2, 2, fn_contains, "contains(x, v)"},
      {"startsWith", 2, 2, fn_starts_with, "startsWith(s, prefix)"},
      {"endsWith", 2, 2, fn_ends_with, "endsWith(s, suffix)"},
      {"replace", 3, 3, fn_replace, "replace(s, from, to)"},
      {"split", 2, 2, fn_split, "split(s, separator)"},
      {"join", 1, 2, fn_join, "join(array, separator?)"},
      {"substring", 2, 3, fn_substring, "substring(s, start, end?)"},
      {"padStart", 2, 3, fn_pad_start, "padStart(s, width, pad?)"},
      // numbers
      {"round", 1, 2, fn_round, "round(x, digits?)"},
      {"floor", 1, 1, fn_floor, "floor(x)"},
      {"ceil", 1, 1, fn_ceil, "ceil(x)"},
      {"abs", 1, 1, fn_abs, "abs(x)"},
      {"min", 1, kVariadic, fn_min, "min(a, b, ...) or min(array)"},
      {"max", 1, kVariadic, fn_max, "max(a, b, ...) or max(array)"},
      {"toNumber", 1, 1, fn_to_number, "toNumber(x)"},
      {"toInt", 1, 1, fn_to_int, "toInt(x)"},
      // json and types
      {"toString", 1, 1, fn_to_string, "toString(x)"},
      {"toJson", 1, 1, fn_to_json, "toJson(x)"},
      {"parseJson", 1, 1, fn_parse_json, "parseJson(s)"},
      {"keys", 1, 1, fn_keys, "keys(object)"},
      {"values", 1, 1, fn_values, "values(object)"},
      {"typeOf", 1, 1, fn_type_of, "typeOf(x)"},
      {"isEmpty", 1, 1, fn_is_empty, "isEmpty(x)"},
      {"default", 2, 2, fn_default, "default(x, fallback)"},
      {"get", 2, 3, fn_get, "get(x, \"dotted.path\", fallback?)"},
      // arrays
      {"first", 1, 1, fn_first, "first(x)"},
      {"last", 1, 1, fn_last, "last(x)"},
      {"slice", 2, 3, fn_slice, "slice(x, start, end?)"},
      {"includes", 2, 2, fn_contains, "includes(x, v)"},
      {"count", 1, 1, fn_count, "count(x)"},
      {"sum", 1, 1, fn_sum, "sum(array)"},
      {"avg", 1, 1, fn_avg, "avg(array)"},
      // dates
      {"now", 0, 0, fn_now, "now()"},
      {"formatDate", 1, 2, fn_format_date, "formatDate(ms, format?)"},
      {"parseDate", 1, 1, fn_parse_date, "parseDate(text)"},
      {"addDays", 2, 2, fn_add_days, "addDays(ms, n)"},
      {"addHours", 2, 2, fn_add_hours, "addHours(ms, n)"},
      {"addMinutes", 2, 2, fn_add_minutes, "addMinutes(ms, n)"},
  };
  return kTable;
}

const Builtin* find_builtin(std::string_view name) {
  static const std::unordered_map<std::string_view, const Builtin*> kIndex = [] {
    std::unordered_map<std::string_view, const Builtin*> m;
    for (const auto& b : builtins()) m.emplace(b.name, &b);
    return m;
  }();
  auto it = kIndex.find(name);
  return it == kIndex.end() ? nullptr : it->second;
}

}  // namespace weft::expr
