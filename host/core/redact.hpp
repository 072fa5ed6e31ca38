// Secret redaction (PRODUCT.md §6 "Log and event sanitization"). Two layers, both replacing the
// secret with "[REDACTED]":
//   1. exact values: every secret decrypted during an execution is registered with that run's
//      Redactor (plus the derived forms a request may carry: URL-encoded, base64 of
//      "user:password" for basic auth, JSON-escaped) and removed wherever it appears, inside
//      longer strings too;
//   2. patterns: well-known token formats and "name=value" / "name: value" pairs whose name looks
//      secret (password, secret, token, api_key, authorization...), and JSON object members with
//      such names, are masked even when no credential was involved.
// Applied to node logs, events, stored node inputs/outputs/errors, execution errors and output,
// audit records, host log lines and API error messages (docs/ARCHITECTURE.md "Secrets").
//
// Thread-safety: all methods may be called concurrently. Readers work on an immutable snapshot of
// the registered values (taken under a short mutex), so a stream of redactions never starves
// add_secret (glibc's shared_mutex prefers readers) and a long text does not block it either.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "host/core/json.hpp"

namespace weft {

inline constexpr std::string_view kRedacted = "[REDACTED]";

// Pattern layer only (no exact values). Returns the text with matches masked.
std::string redact_patterns(std::string_view text);
// True when a JSON member / header / parameter name looks secret ("password", "api_key",
// "x-api-key", "authorization", "client_secret", "access_token", ...). Case-insensitive.
bool is_secret_name(std::string_view name);

class Redactor {
 public:
  // Secrets shorter than this are not matched as exact values inside longer text (a 2-character
  // "secret" would shred every log); they are still masked when a whole string equals them.
  static constexpr size_t kMinExactLength = 4;

  // Registers a secret value and its derived forms. Empty values are ignored.
  void add_secret(std::string_view value);
  // Registers basic-auth material: base64("user:password") as well as the password.
  void add_basic_auth(std::string_view user, std::string_view password);

  // Parts of a secret URL shorter than this are not registered (a path segment such as "hooks"
  // or a query such as "a=1" would mask common words everywhere).
  static constexpr size_t kMinUrlFragment = 8;
  // Registers a secret that is a URL (a webhook URL carries its token in the path or query): the
  // whole URL (add_secret), the URL as an HTTP client normalises it (lower-case scheme and host,
  // dot segments removed, no fragment, no default port), and the parts a server or client shows
  // of it — path + query, the path after its first segment, the last path segment, the query
  // and each query value — as written, normalised and percent-decoded, each with its
  // JSON-escaped ("/" also as "\/") and percent-encoded forms. Parts shorter than
  // kMinUrlFragment are left out. A value that is not an absolute URL is only add_secret'ed.
  void add_secret_url(std::string_view url);
  bool empty() const;

  // Both layers.
  std::string redact(std::string_view text) const;
  // Both layers, in place; returns true when anything was masked. Allocates nothing when nothing
  // matches (the executor's per-log-line path).
  bool redact_in_place(std::string& text) const;
  // Redacts every string (and member name) in place; members whose name is_secret_name() and whose
  // value is a string/number become "[REDACTED]". Returns true when anything changed.
  bool redact_json(Json& value) const;
  // The exact-value layer only: for data handed back to node code (a server that echoes a
  // request must not hand the node the secret the host applied), where masking every member
  // named like a secret would break integrations that legitimately receive tokens.
  bool redact_exact_json(Json& value) const;
  Json redacted(const Json& value) const {
    Json copy = value;
    redact_json(copy);
    return copy;
  }

 private:
  using Values = std::vector<std::string>;  // longest first, so a secret containing another goes first
  std::shared_ptr<const Values> snapshot() const;
  void add_forms(std::vector<std::string> forms);

  mutable std::mutex mu_;                 // guards the pointer only; snapshots are never modified
  std::shared_ptr<const Values> values_;  // null until the first secret
};

}  // namespace weft
