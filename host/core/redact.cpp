#include "host/core/redact.hpp"

#include <string.h>  // memmem (GNU)

#include <algorithm>
#include <optional>
#include <utility>

namespace weft {

namespace {

// ---- character classes (ASCII only; every other byte is "not a word character") -------------

bool is_upper(char c) {
  return c >= 'A' && c <= 'Z';
}
bool is_lower(char c) {
  return c >= 'a' && c <= 'z';
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_alpha(char c) {
  return is_upper(c) || is_lower(c);
}
bool is_alnum(char c) {
  return is_alpha(c) || is_digit(c);
}
bool is_word(char c) {
  return is_alnum(c) || c == '_';
}
bool is_lower_alnum(char c) {
  return is_lower(c) || is_digit(c);
}
bool is_upper_alnum(char c) {
  return is_upper(c) || is_digit(c);
}
bool is_b64url(char c) {
  return is_alnum(c) || c == '_' || c == '-';
}
bool is_alnum_dash(char c) {
  return is_alnum(c) || c == '-';
}
bool is_space(char c) {
  return c == ' ' || c == '\t';
}
char to_lower(char c) {
  return is_upper(c) ? static_cast<char>(c - 'A' + 'a') : c;
}
// RFC 6750 b64token (also covers the base64 of Basic credentials), without the trailing '='s.
bool is_auth_token(char c) {
  return is_alnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/';
}
// Names of "name=value" pairs, headers and JSON members.
bool is_name_char(char c) {
  return is_word(c) || c == '-' || c == '.';
}

bool starts_with(std::string_view s, size_t at, std::string_view prefix) {
  return s.size() >= at && s.size() - at >= prefix.size() && s.compare(at, prefix.size(), prefix) == 0;
}

bool starts_with_nocase(std::string_view s, size_t at, std::string_view lower_prefix) {
  if (s.size() < at || s.size() - at < lower_prefix.size()) return false;
  for (size_t k = 0; k < lower_prefix.size(); ++k)
    if (to_lower(s[at + k]) != lower_prefix[k]) return false;
  return true;
}

template <typename Pred>
size_t run_end(std::string_view s, size_t from, Pred pred) {
  while (from < s.size() && pred(s[from])) ++from;
  return from;
}

// ---- output built only once something changes -------------------------------------------------

// Copies `src` into `out` with ranges replaced by kRedacted. Nothing is allocated until the first
// mask() call, so the common "nothing matched" case costs no allocation at all.
class Editor {
 public:
  Editor(std::string_view src, std::string& out) : src_(src), out_(out) {}

  // Replaces src[begin, end). Ranges must come in increasing, non-overlapping order.
  void mask(size_t begin, size_t end) {
    if (!changed_) {
      changed_ = true;
      out_.clear();
      out_.reserve(src_.size() + kRedacted.size());
    }
    out_.append(src_.substr(copied_, begin - copied_));
    out_.append(kRedacted);
    copied_ = end;
  }

  // Returns true when anything was masked; `out` then holds the whole result.
  bool finish() {
    if (changed_) out_.append(src_.substr(copied_));
    return changed_;
  }

 private:
  std::string_view src_;
  std::string& out_;
  size_t copied_ = 0;
  bool changed_ = false;
};

// ---- the pattern layer ------------------------------------------------------------------------

struct Span {
  size_t begin, end;  // masked range; scanning resumes at `end`
};

// Does a token that follows "Bearer"/"Basic" in free text look like a credential rather than a
// word ("basic understanding", "Bearer Tokens")? Real tokens are long random strings: they carry
// digits, symbols or inner capitals; plain words of letters do not.
bool looks_like_credential(std::string_view token) {
  if (token.size() >= 32) return true;
  if (token.size() < 8) return false;
  for (size_t k = 0; k < token.size(); ++k) {
    char c = token[k];
    if (!is_alpha(c)) return true;  // digit or one of -._~+/=
    if (k > 0 && is_upper(c)) return true;
  }
  return false;
}

// "Bearer <token>" / "Basic <b64>" at `at` (case-insensitive): masks the token, keeps the scheme.
// `strict` applies looks_like_credential (free text); after an auth-ish name it is not needed.
std::optional<Span> match_auth_scheme(std::string_view s, size_t at, bool strict) {
  size_t p;
  if (starts_with_nocase(s, at, "bearer"))
    p = at + 6;
  else if (starts_with_nocase(s, at, "basic"))
    p = at + 5;
  else
    return std::nullopt;
  size_t token = run_end(s, p, is_space);
  if (token == p) return std::nullopt;
  size_t end = run_end(s, token, is_auth_token);
  if (end == token) return std::nullopt;
  end = run_end(s, end, [](char c) { return c == '='; });
  // Padding ends a token: "abc=def" or "abc=[REDACTED]" is a name=value pair, not a token.
  if (end < s.size() && (is_word(s[end]) || s[end] == '[')) return std::nullopt;
  if (strict && !looks_like_credential(s.substr(token, end - token))) return std::nullopt;
  return Span{token, end};
}

// Keeps `prefix_len` characters, masks a run of `pred` characters of at least `min_len`.
template <typename Pred>
std::optional<Span> match_prefixed(std::string_view s, size_t at, size_t prefix_len, size_t min_len,
                                   Pred pred) {
  size_t begin = at + prefix_len;
  size_t end = run_end(s, begin, pred);
  if (end - begin < min_len) return std::nullopt;
  return Span{begin, end};
}

// Well-known token formats starting at a word boundary `at`.
std::optional<Span> match_token_format(std::string_view s, size_t at) {
  switch (s[at]) {
    case 'x':  // Slack: xoxb-/xoxp-/xoxa-/xoxr-/xoxs-/xoxe-…, app-level xapp-…
      if (starts_with(s, at, "xox") && s.size() > at + 4 && s[at + 4] == '-' &&
          std::string_view("abprse").find(s[at + 3]) != std::string_view::npos)
        return match_prefixed(s, at, 5, 10, is_alnum_dash);
      if (starts_with(s, at, "xapp-")) return match_prefixed(s, at, 5, 10, is_alnum_dash);
      return std::nullopt;
    case 'g':  // GitHub: ghp_/gho_/ghu_/ghs_/ghr_ (classic and OAuth), github_pat_ (fine-grained)
      if (starts_with(s, at, "gh") && s.size() > at + 3 &&
          std::string_view("pousr").find(s[at + 2]) != std::string_view::npos && s[at + 3] == '_')
        return match_prefixed(s, at, 4, 20, is_alnum);
      if (starts_with(s, at, "github_pat_")) return match_prefixed(s, at, 11, 20, is_word);
      return std::nullopt;
    case 's':
      // Stripe secret keys. Test-mode keys also call the API, so they are masked too.
      if (starts_with(s, at, "sk_live_") || starts_with(s, at, "sk_test_"))
        return match_prefixed(s, at, 8, 10, is_alnum);
      // OpenAI (sk-…, sk-proj-…) and Anthropic (sk-ant-…): long, and random enough for a digit.
      if (starts_with(s, at, "sk-")) {
        auto m = match_prefixed(s, at, 3, 20, is_b64url);
        if (m && std::any_of(s.begin() + m->begin, s.begin() + m->end, is_digit)) return m;
      }
      return std::nullopt;
    case 'r':  // Stripe restricted keys
      if (starts_with(s, at, "rk_live_") || starts_with(s, at, "rk_test_"))
        return match_prefixed(s, at, 8, 10, is_alnum);
      return std::nullopt;
    case 'A':
      // AWS access key ids: exactly 16 more upper-case letters/digits.
      if (starts_with(s, at, "AKIA") || starts_with(s, at, "ASIA")) {
        size_t end = run_end(s, at + 4, is_upper_alnum);
        if (end - at == 20 && (end == s.size() || !is_word(s[end]))) return Span{at + 4, end};
        return std::nullopt;
      }
      if (starts_with(s, at, "AIza")) return match_prefixed(s, at, 4, 30, is_b64url);  // Google API keys
      return std::nullopt;
    case 'e': {
      // JWT (JWS compact form): header "eyJ…" . payload . signature (empty for alg "none").
      if (!starts_with(s, at, "eyJ")) return std::nullopt;
      size_t h = run_end(s, at, is_b64url);
      if (h - at < 10 || h >= s.size() || s[h] != '.') return std::nullopt;
      size_t p = run_end(s, h + 1, is_b64url);
      if (p == h + 1 || p >= s.size() || s[p] != '.') return std::nullopt;
      size_t sig = run_end(s, p + 1, is_b64url);
      return Span{at, sig};
    }
    case 'w': {
      // Weft API keys "wk_<12 [a-z0-9]>_<secret>": the prefix is shown in listings, keep it.
      if (starts_with(s, at, "wk_")) {
        size_t prefix_end = run_end(s, at + 3, is_lower_alnum);
        if (prefix_end - (at + 3) != 12 || prefix_end >= s.size() || s[prefix_end] != '_')
          return std::nullopt;
        return match_prefixed(s, prefix_end, 1, 20, is_b64url);
      }
      // Weft refresh tokens "wrt_<session id>.<secret>".
      if (starts_with(s, at, "wrt_")) {
        size_t sid_end = run_end(s, at + 4, is_lower_alnum);
        if (sid_end == at + 4 || sid_end - (at + 4) > 64 || sid_end >= s.size() || s[sid_end] != '.')
          return std::nullopt;
        return match_prefixed(s, sid_end, 1, 20, is_b64url);
      }
      return std::nullopt;
    }
    default:
      return std::nullopt;
  }
}

// PEM private key blocks: keeps the BEGIN/END lines, masks the body. A block cut off before its
// END line (a truncated log line) is masked to the end of the text.
std::optional<Span> match_pem(std::string_view s, size_t at) {
  constexpr std::string_view kBegin = "-----BEGIN ";
  if (!starts_with(s, at, kBegin)) return std::nullopt;
  size_t label = at + kBegin.size();
  size_t label_end = run_end(s, label, [](char c) { return is_upper_alnum(c) || c == ' '; });
  if (!starts_with(s, label_end, "-----")) return std::nullopt;
  if (s.substr(label, label_end - label).find("PRIVATE KEY") == std::string_view::npos) return std::nullopt;
  size_t body = label_end + 5;
  size_t end = s.find("-----END ", body);
  if (end == std::string_view::npos) end = s.size();
  if (end == body) return std::nullopt;
  return Span{body, end};
}

// "scheme://user:password@host": masks the password. `at` is the ':' of "://".
std::optional<Span> match_url_userinfo(std::string_view s, size_t at) {
  if (at == 0 || !is_alnum(s[at - 1]) || !starts_with(s, at, "://")) return std::nullopt;
  size_t start = at + 3;
  size_t colon = std::string_view::npos, last_at = std::string_view::npos;
  size_t k = start;
  for (; k < s.size(); ++k) {
    char c = s[k];
    if (c == '/' || c == '?' || c == '#' || c == '"' || c == '\'' || c == '<' || c == '>' || c == '\\' ||
        static_cast<unsigned char>(c) <= 0x20)
      break;
    if (c == '@') last_at = k;  // an unencoded '@' in the password: the last one ends the userinfo
    if (c == ':' && colon == std::string_view::npos) colon = k;
  }
  if (last_at == std::string_view::npos || colon == std::string_view::npos || colon > last_at)
    return std::nullopt;
  if (colon + 1 == last_at) return std::nullopt;  // empty password
  if (s.substr(colon + 1, last_at - colon - 1) == kRedacted) return std::nullopt;
  return Span{colon + 1, last_at};
}

// Header names whose whole value (to the end of the line) is a credential.
bool is_header_secret(std::string_view name) {
  auto eq = [&](std::string_view want) {
    if (name.size() != want.size()) return false;
    for (size_t k = 0; k < want.size(); ++k)
      if (to_lower(name[k]) != want[k]) return false;
    return true;
  };
  return eq("authorization") || eq("proxy-authorization") || eq("cookie") || eq("set-cookie");
}

bool ends_value(char c) {
  return is_space(c) || c == '\r' || c == '\n' || c == '&' || c == ',' || c == ';' || c == '"' || c == '\'' ||
         c == ')' || c == '}' || c == ']' || c == '<' || c == '>' || c == '\\';
}

// A quoted value starting after its opening quote at `from`: the end of its content (the closing
// quote, or the end of the line when unterminated). `escaped` is for \"…\" inside a JSON string.
size_t quoted_end(std::string_view s, size_t from, char quote, bool escaped) {
  size_t k = from;
  while (k < s.size()) {
    char c = s[k];
    if (c == '\n' || c == '\r') return k;
    if (escaped) {
      if (c == '\\' && k + 1 < s.size() && s[k + 1] == quote) return k;
      if (c == '\\' && k + 1 < s.size() && s[k + 1] == '\\') {
        // A backslash of the inner text, escaped once more (\\): not the start of \".
        k += 2;
        continue;
      }
    } else {
      if (c == '\\') {
        k += 2;
        continue;
      }
      if (c == quote) return k;
    }
    ++k;
  }
  return std::min(k, s.size());
}

// "name=value", "name: value", "\"name\": \"value\"" (also JSON-escaped inside a JSON string)
// where is_secret_name(name). `at` is a word boundary. An empty span: the value is masked already.
std::optional<Span> match_name_value(std::string_view s, size_t at) {
  constexpr size_t kMaxName = 64;
  size_t name_end = run_end(s, at, is_name_char);
  if (name_end == at || name_end - at > kMaxName) return std::nullopt;
  size_t p = name_end;
  if (p < s.size() && (s[p] == '"' || s[p] == '\''))
    ++p;
  else if (starts_with(s, p, "\\\""))
    p += 2;
  p = run_end(s, p, is_space);
  if (p >= s.size() || (s[p] != '=' && s[p] != ':')) return std::nullopt;
  const char sep = s[p++];
  // Not an assignment: "token == x", "token::value", "auth://…".
  if (p < s.size() && (s[p] == '=' || s[p] == ':' || s[p] == '/')) return std::nullopt;
  std::string_view name = s.substr(at, name_end - at);
  if (!is_secret_name(name)) return std::nullopt;
  p = run_end(s, p, is_space);
  if (p >= s.size()) return std::nullopt;

  // A value masked already still claims its name (an empty span), so that a second pass over
  // the output does not try the name's inner words ("x-authorization" → "authorization").
  auto unless_done = [&](size_t begin, size_t end) -> std::optional<Span> {
    if (end <= begin) return std::nullopt;
    if (s.substr(begin, end - begin) == kRedacted) return Span{begin, begin};
    return Span{begin, end};
  };
  const char c = s[p];
  if (c == '"' || c == '\'') return unless_done(p + 1, quoted_end(s, p + 1, c, false));
  if (starts_with(s, p, "\\\"")) return unless_done(p + 2, quoted_end(s, p + 2, '"', true));
  if (sep == ':' && is_header_secret(name)) {
    size_t end = p;
    while (end < s.size() && s[end] != '\r' && s[end] != '\n') ++end;
    while (end > p && is_space(s[end - 1])) --end;
    return unless_done(p, end);
  }
  // Masked already (by the exact layer or an earlier pass), perhaps with a remainder to mask too
  // ("password=[REDACTED]tail" when a registered secret was only part of the value). Not past an
  // '@': "user:[REDACTED]@host" is a URL's userinfo, done.
  if (starts_with(s, p, kRedacted)) {
    size_t end = p + kRedacted.size();
    while (end < s.size() && !ends_value(s[end]) && s[end] != '@') ++end;
    return end == p + kRedacted.size() ? Span{p, p} : Span{p, end};
  }
  // Structured values have their own members scanned later.
  if (c == '{' || c == '[') return std::nullopt;
  // "authorization=Bearer xyz": mask the token, not the scheme word ("Bearer [REDACTED]" is done).
  if (auto scheme = match_auth_scheme(s, p, false)) return scheme;
  for (std::string_view word : {std::string_view("bearer"), std::string_view("basic")})
    if (starts_with_nocase(s, p, word) && starts_with(s, run_end(s, p + word.size(), is_space), kRedacted))
      return Span{p, p};
  size_t end = p;
  while (end < s.size() && !ends_value(s[end])) ++end;
  std::string_view value = s.substr(p, end - p);
  if (value == "null" || value == "true" || value == "false") return std::nullopt;
  return unless_done(p, end);
}

// The scanner: one pass, trying the matchers only at word boundaries and at the few punctuation
// characters that can start a pattern. A "name=value" match does not skip its name: the value is
// kept pending while the scan goes on through the name (which may itself hold a token, e.g.
// "x-ghp_…-token: v"), so a second redaction of the output finds nothing new.
bool scan_patterns(std::string_view s, std::string& out) {
  Editor ed(s, out);
  std::optional<Span> pending;  // a name-value match's value, masked when the scan reaches it
  // Right after a mask the output reads "...[REDACTED]x": a word boundary, as a second pass sees it.
  size_t masked_until = 0;
  size_t i = 0;
  const size_t n = s.size();
  while (i < n) {
    if (pending && i >= pending->begin) {
      if (pending->end > pending->begin) {
        ed.mask(pending->begin, pending->end);
        masked_until = pending->end;
      }
      i = pending->end;
      pending.reset();
      continue;
    }
    const char c = s[i];
    std::optional<Span> m;
    if (is_word(c)) {
      if (i == 0 || !is_word(s[i - 1]) || i == masked_until) {
        m = match_token_format(s, i);
        if (!m && (c == 'b' || c == 'B')) m = match_auth_scheme(s, i, true);
        if (!m && !pending && (is_alpha(c) || c == '_')) pending = match_name_value(s, i);
      }
    } else if (c == ':') {
      m = match_url_userinfo(s, i);
    } else if (c == '-') {
      m = match_pem(s, i);
    }
    if (m) {
      // A token reaching into the pending value wins; the value's rest is scanned afresh.
      if (pending && m->end > pending->begin) pending.reset();
      ed.mask(m->begin, m->end);
      masked_until = m->end;
      i = std::max(m->end, i + 1);
    } else {
      ++i;
    }
  }
  return ed.finish();
}

// ---- the exact-value layer --------------------------------------------------------------------

// Masks every occurrence of the registered values (longest first), merging overlapping hits so
// that two secrets sharing characters leave nothing of either behind.
bool mask_exact(const std::vector<std::string>* values, std::string_view s, std::string& out) {
  if (!values || values->empty() || s.empty()) return false;
  std::vector<std::pair<size_t, size_t>> hits;  // allocates only when something matches
  for (const std::string& v : *values) {
    if (v.size() < Redactor::kMinExactLength) {
      if (s == v) hits.emplace_back(0, s.size());
      continue;
    }
    if (v.size() > s.size()) continue;
    const char* base = s.data();
    size_t from = 0;
    while (from + v.size() <= s.size()) {
      const void* hit = ::memmem(base + from, s.size() - from, v.data(), v.size());
      if (!hit) break;
      size_t pos = static_cast<size_t>(static_cast<const char*>(hit) - base);
      hits.emplace_back(pos, pos + v.size());
      from = pos + 1;  // overlapping occurrences ("aaaa" in "aaaaa") are all covered
    }
  }
  if (hits.empty()) return false;
  std::sort(hits.begin(), hits.end());
  Editor ed(s, out);
  size_t begin = hits[0].first, end = hits[0].second;
  for (size_t k = 1; k < hits.size(); ++k) {
    if (hits[k].first <= end) {  // overlapping or touching: one mask
      end = std::max(end, hits[k].second);
    } else {
      ed.mask(begin, end);
      begin = hits[k].first;
      end = hits[k].second;
    }
  }
  ed.mask(begin, end);
  return ed.finish();
}

// Both layers; `out` is written only when something changed.
bool redact_both(const std::vector<std::string>* values, std::string_view s, std::string& out) {
  std::string exact;
  const bool exact_changed = mask_exact(values, s, exact);
  const std::string_view current = exact_changed ? std::string_view(exact) : s;
  std::string patterned;
  if (scan_patterns(current, patterned)) {
    out = std::move(patterned);
    return true;
  }
  if (exact_changed) out = std::move(exact);
  return exact_changed;
}

// ---- derived forms ----------------------------------------------------------------------------

constexpr char kHexUpper[] = "0123456789ABCDEF";
constexpr char kHexLower[] = "0123456789abcdef";

// Query-string percent-encoding: unreserved characters stay, the rest become %XX.
std::string url_encode(std::string_view v, bool space_as_plus, const char* hex) {
  std::string out;
  out.reserve(v.size() * 3);
  for (char ch : v) {
    auto c = static_cast<unsigned char>(ch);
    if (is_alnum(ch) || ch == '-' || ch == '.' || ch == '_' || ch == '~') {
      out += ch;
    } else if (ch == ' ' && space_as_plus) {
      out += '+';
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 0xf];
    }
  }
  return out;
}

// What the value looks like inside a JSON string literal, as Json::dump writes it.
std::string json_escape(std::string_view v) {
  std::string out;
  out.reserve(v.size() + 8);
  for (char ch : v) {
    auto c = static_cast<unsigned char>(ch);
    switch (ch) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += kHexUpper[c >> 4];
          out += kHexUpper[c & 0xf];
        } else {
          out += ch;
        }
    }
  }
  return out;
}

std::string base64(std::string_view v, bool url_safe, bool pad) {
  const char* alphabet = url_safe ? "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
                                  : "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((v.size() + 2) / 3 * 4);
  size_t k = 0;
  for (; k + 3 <= v.size(); k += 3) {
    uint32_t b = (uint32_t(uint8_t(v[k])) << 16) | (uint32_t(uint8_t(v[k + 1])) << 8) | uint8_t(v[k + 2]);
    out += alphabet[(b >> 18) & 63];
    out += alphabet[(b >> 12) & 63];
    out += alphabet[(b >> 6) & 63];
    out += alphabet[b & 63];
  }
  const size_t rest = v.size() - k;
  if (rest > 0) {
    uint32_t b = uint32_t(uint8_t(v[k])) << 16;
    if (rest == 2) b |= uint32_t(uint8_t(v[k + 1])) << 8;
    out += alphabet[(b >> 18) & 63];
    out += alphabet[(b >> 12) & 63];
    if (rest == 2) out += alphabet[(b >> 6) & 63];
    if (pad) out.append(rest == 1 ? "==" : "=");
  }
  return out;
}

void add_base64_forms(std::vector<std::string>& forms, std::string_view v) {
  // The padded and unpadded forms are both kept: the unpadded one is found inside longer base64
  // text, the padded one makes sure the trailing '='s go too.
  for (bool url_safe : {false, true})
    for (bool pad : {true, false}) forms.push_back(base64(v, url_safe, pad));
}

}  // namespace

// ---- public API ---------------------------------------------------------------------------------

bool is_secret_name(std::string_view name) {
  // Compare on the lower-cased letters and digits only, so "api_key", "api-key", "apiKey",
  // "X-Api-Key" and "API Key" are one name. Suffixes catch "client_secret", "access_token",
  // "refreshToken", "db_password"...; "tokens_used", "token_type", "author" or "key" do not match.
  constexpr size_t kMaxName = 64;
  if (name.empty() || name.size() > kMaxName) return false;
  char buf[kMaxName];
  size_t len = 0;
  for (char c : name)
    if (is_alnum(c)) buf[len++] = to_lower(c);
  const std::string_view compact(buf, len);
  if (compact.empty()) return false;

  // Session cookies by their usual names; "session_id" stays visible (an identifier in audit data).
  static constexpr std::string_view kWhole[] = {"session", "phpsessid", "jsessionid"};
  for (auto w : kWhole)
    if (compact == w) return true;
  static constexpr std::string_view kSuffixes[] = {
      "password",  "passwd",     "passphrase", "pwd",           "secret",     "token",
      "apikey",    "privatekey", "secretkey",  "accesskey",     "signingkey", "encryptionkey",
      "masterkey", "sessionkey", "auth",       "authorization", "cookie",     "cookies",
  };
  for (auto suffix : kSuffixes)
    if (compact.size() >= suffix.size() && compact.substr(compact.size() - suffix.size()) == suffix)
      return true;
  return false;
}

std::string redact_patterns(std::string_view text) {
  std::string out;
  if (scan_patterns(text, out)) return out;
  return std::string(text);
}

namespace {

// Inserts keeping `values` longest first, without duplicates.
void insert_value(std::vector<std::string>& values, std::string v) {
  if (v.empty()) return;
  if (std::find(values.begin(), values.end(), v) != values.end()) return;
  auto pos = std::upper_bound(values.begin(), values.end(), v.size(),
                              [](size_t size, const std::string& e) { return size > e.size(); });
  values.insert(pos, std::move(v));
}

// A secret shorter than kMinExactLength is only ever matched as a whole string; so are its
// derived forms, which are dropped when they would be long enough to match inside text (the
// base64 of "ab" is "YWI=": matching that everywhere would mask unrelated text).
void keep_short_forms_only(std::vector<std::string>& forms) {
  forms.erase(std::remove_if(forms.begin(), forms.end(),
                             [](const std::string& f) { return f.size() >= Redactor::kMinExactLength; }),
              forms.end());
}

}  // namespace

std::shared_ptr<const Redactor::Values> Redactor::snapshot() const {
  std::lock_guard lock(mu_);
  return values_;
}

void Redactor::add_forms(std::vector<std::string> forms) {
  std::lock_guard lock(mu_);
  // Copy-on-write: readers holding the previous snapshot keep using it undisturbed. With 0-3
  // credentials per execution the copy is a handful of short strings.
  auto next = values_ ? std::make_shared<Values>(*values_) : std::make_shared<Values>();
  for (std::string& f : forms) insert_value(*next, std::move(f));
  values_ = std::move(next);
}

void Redactor::add_secret(std::string_view value) {
  if (value.empty()) return;
  std::vector<std::string> forms;
  forms.emplace_back(value);
  forms.push_back(url_encode(value, true, kHexUpper));
  forms.push_back(url_encode(value, false, kHexUpper));
  forms.push_back(url_encode(value, false, kHexLower));
  std::string escaped = json_escape(value);
  forms.push_back(json_escape(escaped));  // a JSON document quoted inside another one
  forms.push_back(std::move(escaped));
  add_base64_forms(forms, value);
  if (value.size() < kMinExactLength) {
    keep_short_forms_only(forms);
    forms.emplace_back(value);
  }
  add_forms(std::move(forms));
}

void Redactor::add_basic_auth(std::string_view user, std::string_view password) {
  add_secret(password);
  if (user.empty() && password.empty()) return;
  std::string pair;
  pair.reserve(user.size() + 1 + password.size());
  pair.append(user).append(":").append(password);
  std::vector<std::string> forms;
  add_base64_forms(forms, pair);
  if (password.size() < kMinExactLength) keep_short_forms_only(forms);
  add_forms(std::move(forms));
}

namespace {

std::string lower_ascii(std::string_view v) {
  std::string out(v);
  for (char& c : out) c = to_lower(c);
  return out;
}

// RFC 3986 §5.2.4: "/a/./b/../c" is "/a/c" (what curl's URL parser does to a path).
std::string remove_dot_segments(std::string_view in) {
  std::string out;
  auto drop_last = [&out] {
    const size_t slash = out.rfind('/');
    out.erase(slash == std::string::npos ? 0 : slash);
  };
  while (!in.empty()) {
    if (starts_with(in, 0, "../")) {
      in.remove_prefix(3);
    } else if (starts_with(in, 0, "./")) {
      in.remove_prefix(2);
    } else if (starts_with(in, 0, "/./")) {
      in.remove_prefix(2);  // leaves "/..."
    } else if (in == "/.") {
      in = "/";
    } else if (starts_with(in, 0, "/../")) {
      in.remove_prefix(3);
      drop_last();
    } else if (in == "/..") {
      in = "/";
      drop_last();
    } else if (in == "." || in == "..") {
      in = {};
    } else {
      const size_t end = in.find('/', in.front() == '/' ? 1 : 0);
      const size_t n = end == std::string_view::npos ? in.size() : end;
      out.append(in.substr(0, n));
      in.remove_prefix(n);
    }
  }
  return out;
}

int hex_value(char c) {
  if (is_digit(c)) return c - '0';
  const char l = to_lower(c);
  if (l >= 'a' && l <= 'f') return l - 'a' + 10;
  return -1;
}

// %XX decoded ('+' stays: in a path it is a plus sign).
std::string percent_decode(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (size_t k = 0; k < v.size(); ++k) {
    if (v[k] == '%' && k + 2 < v.size()) {
      const int hi = hex_value(v[k + 1]), lo = hex_value(v[k + 2]);
      if (hi >= 0 && lo >= 0) {
        out += static_cast<char>(hi * 16 + lo);
        k += 2;
        continue;
      }
    }
    out += v[k];
  }
  return out;
}

std::string escape_slashes(std::string_view v) {
  std::string out;
  out.reserve(v.size() + 8);
  for (char c : v) {
    if (c == '/') out += '\\';
    out += c;
  }
  return out;
}

// The forms of one part of a secret URL: as is, JSON-escaped (also with "\/"), percent-encoded.
void add_url_part_forms(std::vector<std::string>& forms, std::string_view part) {
  if (part.size() < Redactor::kMinUrlFragment) return;
  forms.emplace_back(part);
  std::string escaped = json_escape(part);
  if (escaped.find('/') != std::string::npos) forms.push_back(escape_slashes(escaped));
  forms.push_back(std::move(escaped));
  forms.push_back(url_encode(part, false, kHexUpper));
  forms.push_back(url_encode(part, false, kHexLower));
}

// The parts of a path + query that servers and clients show: path + query, the path after its
// first segment, the last segment, the query and its values.
void add_path_parts(std::vector<std::string>& forms, std::string_view path, std::string_view query) {
  if (!query.empty()) {
    std::string pq(path);
    pq.append("?").append(query);
    add_url_part_forms(forms, pq);
  } else {
    add_url_part_forms(forms, path);
  }
  std::string_view rest = path;
  while (!rest.empty() && rest.front() == '/') rest.remove_prefix(1);
  const size_t first_end = rest.find('/');
  if (first_end != std::string_view::npos) add_url_part_forms(forms, rest.substr(first_end + 1));
  const size_t last = path.rfind('/');
  add_url_part_forms(forms, last == std::string_view::npos ? path : path.substr(last + 1));
  if (query.empty()) return;
  add_url_part_forms(forms, query);
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    const size_t eq = pair.find('=');
    if (eq != std::string_view::npos) add_url_part_forms(forms, pair.substr(eq + 1));
    query.remove_prefix(amp == std::string_view::npos ? query.size() : amp + 1);
  }
}

}  // namespace

void Redactor::add_secret_url(std::string_view url) {
  if (url.empty()) return;
  add_secret(url);
  const size_t colon = url.find("://");
  if (colon == std::string_view::npos || colon == 0) return;
  for (size_t k = 0; k < colon; ++k)
    if (!is_alnum(url[k]) && url[k] != '+' && url[k] != '-' && url[k] != '.') return;
  const std::string scheme = lower_ascii(url.substr(0, colon));
  const size_t auth_begin = colon + 3;
  const size_t auth_end = std::min(url.size(), url.find_first_of("/?#", auth_begin));
  std::string_view authority = url.substr(auth_begin, auth_end - auth_begin);
  std::string_view rest = url.substr(auth_end);
  rest = rest.substr(0, rest.find('#'));  // the fragment is never sent
  const size_t q = rest.find('?');
  const std::string_view path = rest.substr(0, q);
  const std::string_view query = q == std::string_view::npos ? std::string_view() : rest.substr(q + 1);

  std::vector<std::string> forms;
  // The whole URL as a client reports it after normalising it, with and without a default port.
  const size_t at = authority.rfind('@');
  std::string host_port = lower_ascii(at == std::string_view::npos ? authority : authority.substr(at + 1));
  const std::string userinfo(at == std::string_view::npos ? std::string_view() : authority.substr(0, at + 1));
  const std::string norm_path = remove_dot_segments(path.empty() ? std::string_view("/") : path);
  const std::string tail = norm_path + (q == std::string_view::npos ? "" : "?" + std::string(query));
  std::vector<std::string> wholes;
  wholes.push_back(scheme + "://" + userinfo + host_port + tail);
  const std::string_view default_port = scheme == "http" ? ":80" : scheme == "https" ? ":443" : "";
  if (!default_port.empty() && host_port.size() > default_port.size() &&
      host_port.compare(host_port.size() - default_port.size(), default_port.size(), default_port) == 0) {
    wholes.push_back(scheme + "://" + userinfo + host_port.substr(0, host_port.size() - default_port.size()) +
                     tail);
  }
  for (const std::string& w : wholes) {
    if (w != url) add_secret(w);
  }
  const std::string escaped_url = json_escape(url);
  if (escaped_url.find('/') != std::string::npos) forms.push_back(escape_slashes(escaped_url));

  // Its parts: as written, normalised, and percent-decoded.
  add_path_parts(forms, path, query);
  if (norm_path != path) add_path_parts(forms, norm_path, query);
  const std::string decoded_path = percent_decode(norm_path);
  const std::string decoded_query = percent_decode(query);
  if (decoded_path != norm_path || decoded_query != query) add_path_parts(forms, decoded_path, decoded_query);
  add_forms(std::move(forms));
}

bool Redactor::empty() const {
  auto values = snapshot();
  return !values || values->empty();
}

std::string Redactor::redact(std::string_view text) const {
  std::string out;
  if (redact_both(snapshot().get(), text, out)) return out;
  return std::string(text);
}

bool Redactor::redact_in_place(std::string& text) const {
  std::string out;
  if (!redact_both(snapshot().get(), text, out)) return false;
  text = std::move(out);
  return true;
}

namespace {

// A member name not yet used in `obj` (other than at index `self`): a redacted name could collide
// with another member's, and objects keep unique keys.
std::string unique_member_name(const Json::Object& obj, std::string name, size_t self) {
  auto taken = [&](const std::string& candidate) {
    for (size_t k = 0; k < obj.size(); ++k)
      if (k != self && obj[k].first == candidate) return true;
    return false;
  };
  if (!taken(name)) return name;
  for (size_t n = 2;; ++n) {
    std::string candidate = name + "#" + std::to_string(n);
    if (!taken(candidate)) return candidate;
  }
}

bool masks_as_secret_member(const Json& v) {
  if (v.is_number()) return true;
  return v.is_string() && !v.as_string().empty() && v.as_string() != kRedacted;
}

// Writes the redacted value into `out` and returns true when anything changed; unchanged
// subtrees are never copied (values share their storage until written).
bool redact_value(const std::vector<std::string>* values, const Json& in, Json& out, bool patterns = true) {
  switch (in.type()) {
    case Json::Type::String: {
      std::string s;
      if (!(patterns ? redact_both(values, in.as_string(), s) : mask_exact(values, in.as_string(), s))) return false;
      out = Json(std::move(s));
      return true;
    }
    case Json::Type::Array: {
      const Json::Array& arr = in.as_array();
      std::optional<Json::Array> copy;
      for (size_t k = 0; k < arr.size(); ++k) {
        Json child;
        if (!redact_value(values, arr[k], child, patterns)) continue;
        if (!copy) copy = arr;  // shallow: elements share storage
        (*copy)[k] = std::move(child);
      }
      if (!copy) return false;
      out = Json(std::move(*copy));
      return true;
    }
    case Json::Type::Object: {
      const Json::Object& obj = in.as_object();
      std::optional<Json::Object> copy;
      for (size_t k = 0; k < obj.size(); ++k) {
        const auto& [name, child] = obj[k];
        std::string new_name;
        const bool name_changed = mask_exact(values, name, new_name);
        Json new_child;
        bool child_changed;
        if (patterns && is_secret_name(name) && masks_as_secret_member(child)) {
          new_child = Json(std::string(kRedacted));
          child_changed = true;
        } else {
          child_changed = redact_value(values, child, new_child, patterns);
        }
        if (!name_changed && !child_changed) continue;
        if (!copy) copy = obj;
        if (name_changed) (*copy)[k].first = unique_member_name(*copy, std::move(new_name), k);
        if (child_changed) (*copy)[k].second = std::move(new_child);
      }
      if (!copy) return false;
      out = Json(std::move(*copy));
      return true;
    }
    default:
      return false;
  }
}

}  // namespace

bool Redactor::redact_json(Json& value) const {
  Json out;
  auto values = snapshot();
  if (!redact_value(values.get(), value, out)) return false;
  value = std::move(out);
  return true;
}

bool Redactor::redact_exact_json(Json& value) const {
  auto values = snapshot();
  if (!values) return false;
  Json out;
  if (!redact_value(values.get(), value, out, /*patterns=*/false)) return false;
  value = std::move(out);
  return true;
}

}  // namespace weft
