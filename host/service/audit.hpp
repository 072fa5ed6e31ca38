// The audit trail (PRODUCT.md §5 "Audit entries", §6 "every access audited"): the writer every
// service calls, and the read side behind /api/audit (docs/api.md "Audit trail").
// Entries are append-only and hash-chained by the store (store::Store::append_audit); this class
// builds the canonical entry text — secrets redacted — so the chain covers exactly what is shown.
//
// Thread-safety: all methods may be called concurrently.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "host/core/json.hpp"
#include "host/core/redact.hpp"
#include "host/store/store.hpp"

namespace weft::service {

// Action types (docs/api.md "Audit trail" lists the same):
//   credential.create / credential.update / credential.delete   a user changed a credential
//                                                               details {credential_id, name, type}
//   credential.access                                           a node read a decrypted credential
//   credential.use                                              the host applied a credential to
//                                                               an outbound request for a node
//   credential.denied                                           a node asked for one it may not use
//   vault.rotate                                                a master-key rotation ran
//   human.approval / human.clarification / human.error_recovery a human answered a request of a
//                                                               parked execution (the final answer)
//   human.vote                                                  one approver's vote on an approval
//                                                               that needs several
//       details {request_id, kind, request_details, response, response_time_ms, decision|action}
//   admin.plugin_enable / admin.plugin_disable                  an admin switched a plugin
//   admin.user_create                                           an admin created an account
//   admin.user_tier                                             an admin changed an account's tier
//       admin.*: user_id = the admin; details {target, before, after} (target: the plugin name or
//       the user id; before/after: the state that changed, null when there was none)
//   custom_node.create / custom_node.update / custom_node.delete  a user changed a custom node
//                                                               details {name, version, language}
//   api_key.create / api_key.rotate / api_key.revoke            a user managed an API key
//                                                               details {key_id, name, prefix,
//                                                               scopes[, replaces, overlap_seconds]}
// New writers add their types here and in docs/api.md.
struct AuditEntry {
  std::string user_id;       // who acted, or on whose behalf the execution ran
  std::string action_type;
  std::string workflow_id;
  std::string execution_id;
  std::string node_id;
  Json details = Json::object();
};

// Who reads the trail. `admin`: the admin role with the admin scope (an admin's API key without
// the admin scope reads like any user).
struct AuditCaller {
  std::string user_id;
  bool admin = false;
};

// What to read (the query parameters of /api/audit).
struct AuditQuery {
  int64_t from_ms = 0;        // inclusive; 0 = unbounded
  int64_t to_ms = 0;          // exclusive; 0 = unbounded
  std::string type;           // an action type, or a prefix ending in '.' ("human.")
  std::string workflow_id;    // "" = any
  std::string user_id;        // "" = any; admins only ("forbidden" for anyone else)
  int64_t after_seq = 0;      // the cursor: entries after this seq
  int64_t limit = 100;        // 1..kMaxPage
};

struct AuditPage {
  std::vector<Json> entries;  // views (AuditLog::view), ascending seq
  int64_t next_cursor = 0;    // the last seq of this page when there is more; 0 = the end
};

struct AuditVerification {
  bool ok = true;
  int64_t entries = 0;        // entries checked (up to and including the first broken one)
  int64_t broken_at = 0;      // seq of the first entry that breaks the chain; 0 = none
  std::string reason;         // why it breaks ("" when ok)
  int64_t last_seq = 0;       // the chain head (ok only): keep it elsewhere to detect a rewrite
  std::string last_hash;
};

class AuditLog {
 public:
  static constexpr int64_t kMaxPage = 500;

  explicit AuditLog(std::shared_ptr<store::Store> store) : store_(std::move(store)) {}

  // ---- writing ----
  // Appends one entry (one transaction). Details are redacted (patterns + `redactor` when given).
  Status record(const AuditEntry& e, const Redactor* redactor = nullptr);

  // The canonical JSON text of an entry: members in a fixed order, no whitespace.
  static std::string canonical(const AuditEntry& e, int64_t ts_ms, const Redactor* redactor);

  // ---- reading ----
  // Checks a query: limit 1..kMaxPage, from/to not negative, type [a-z0-9_.]{1,64}, ids at most
  // 200 characters. "invalid_argument" naming the member.
  static Status check(const AuditQuery& q);
  // "from"/"to" text: unix milliseconds (digits only) or ISO-8601 ("2025-01-31", with a time
  // "2025-01-31T12:00:00Z", an offset "+02:00" or fractional seconds). nullopt when neither.
  static std::optional<int64_t> parse_time(std::string_view text);

  // Entries visible to the caller: every entry for an admin (q.user_id narrows it), the entries
  // the caller acted in for anyone else ("forbidden" when q.user_id is set).
  Result<AuditPage> list(const AuditCaller& caller, const AuditQuery& q) const;
  // The trail of one workflow: every entry about it, whoever acted (an approver's answer shows in
  // the owner's trail), for its owner or an admin; "not_found" for a workflow the caller does not
  // own (or that does not exist / was deleted), whether or not it has entries.
  Result<AuditPage> list_workflow(const AuditCaller& caller, const std::string& workflow_id, AuditQuery q) const;

  // What list() would return over every page, with no limit (q.limit and q.after_seq aside, the
  // same checks and visibility): reads the store `page_size` rows at a time (at most 1,000) and
  // hands each page's views to `sink`, which returns false to stop early. At most one page is
  // held at a time. The first page is read before `sink` is first called, so an error there comes
  // back before anything was handed over.
  Status scan(const AuditCaller& caller, const AuditQuery& q, int64_t page_size,
              const std::function<bool(const std::vector<Json>&)>& sink) const;

  // Walks the whole chain in seq order, page_size rows at a time: each page through
  // store::verify_audit_chain, plus the checks the hash alone cannot make — seq without gaps,
  // and the filter columns (ts, user_id, action_type, workflow_id, execution_id, node_id) equal to
  // what the hashed entry says (a row whose user_id column was edited would otherwise move between
  // users' views unnoticed). Stops at the first broken entry. Deleting the newest entries cannot
  // be seen from inside the chain: compare last_seq/last_hash with a copy kept elsewhere.
  Result<AuditVerification> verify(int64_t page_size = 1000) const;

  // ---- formats ----
  // The API view of a stored entry: seq, timestamp (ISO-8601 UTC), ts_ms, user_id, action_type,
  // workflow_id, execution_id, node_id, request_details, response, response_time_ms (human.*
  // entries, from their details; null for every other type), details, hash, prev_hash. The
  // fields come from the hashed entry text; details pass the pattern redaction again on the way
  // out (entries are redacted when written; this guards entries written by older code).
  static Json view(const store::AuditRecord& r);
  // CSV (RFC 4180: CRLF line ends, fields with a comma, quote, CR or LF quoted, quotes doubled),
  // one row per view in the column order of csv_header(); JSON values (details...) as JSON text.
  // A cell starting with = + - @ tab or CR gets a leading ' so a spreadsheet never reads it as a
  // formula (CSV injection).
  static std::string csv_header();
  static void append_csv_row(std::string& out, const Json& view);

 private:
  Result<AuditPage> read_page(store::AuditFilter f, int64_t limit) const;
  std::shared_ptr<store::Store> store_;
};

}  // namespace weft::service
