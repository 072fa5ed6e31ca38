#include "host/service/audit.hpp"

#include <algorithm>

#include "host/core/call.hpp"
#include "host/expr/value.hpp"
#include "host/store/records.hpp"

namespace weft::service {

std::string AuditLog::canonical(const AuditEntry& e, int64_t ts_ms, const Redactor* redactor) {
  Json j = Json::object();
  j.set("ts", ts_ms);
  j.set("user_id", e.user_id);
  j.set("action_type", e.action_type);
  j.set("workflow_id", e.workflow_id);
  j.set("execution_id", e.execution_id);
  j.set("node_id", e.node_id);
  Json details = e.details.is_null() ? Json::object() : e.details;
  if (redactor) {
    redactor->redact_json(details);
  } else {
    Redactor patterns_only;
    patterns_only.redact_json(details);
  }
  j.set("details", std::move(details));
  return j.dump();
}

Status AuditLog::record(const AuditEntry& e, const Redactor* redactor) {
  store::AuditRecord r;
  r.ts_ms = wall_ms();
  r.user_id = e.user_id;
  r.action_type = e.action_type;
  r.workflow_id = e.workflow_id;
  r.execution_id = e.execution_id;
  r.node_id = e.node_id;
  r.entry = canonical(e, r.ts_ms, redactor);
  auto appended = store_->append_audit({r});
  if (!appended.ok()) return appended.error();
  return {};
}

// ---- reading ---------------------------------------------------------------------------------------

namespace {

constexpr size_t kMaxIdLength = 200;

Error invalid(const std::string& member, const std::string& message) {
  Json d = Json::object();
  d.set("parameter", member);
  return Error("invalid_argument", message, d.dump());
}

bool valid_type(const std::string& t) {
  if (t.empty() || t.size() > 64) return false;
  return std::all_of(t.begin(), t.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.';
  });
}

// The hashed entry text as JSON (an object), or null when it is not one.
Json parse_entry(const std::string& text) {
  auto parsed = Json::parse(text);
  if (!parsed.ok() || !parsed->is_object()) return Json();
  return std::move(*parsed);
}

}  // namespace

Status AuditLog::check(const AuditQuery& q) {
  if (q.limit < 1 || q.limit > kMaxPage)
    return invalid("limit", "limit must be an integer from 1 to " + std::to_string(kMaxPage));
  if (q.from_ms < 0) return invalid("from", "from must not be before 1970");
  if (q.to_ms < 0) return invalid("to", "to must not be before 1970");
  if (q.after_seq < 0) return invalid("cursor", "cursor must be a non-negative integer (an entry's seq)");
  if (!q.type.empty() && !valid_type(q.type))
    return invalid("type", "type must be an action type such as credential.access, or a prefix ending in '.' "
                           "such as human. (lower-case letters, digits, '_' and '.', at most 64)");
  if (q.workflow_id.size() > kMaxIdLength) return invalid("workflow_id", "workflow_id is too long");
  if (q.user_id.size() > kMaxIdLength) return invalid("user_id", "user_id is too long");
  return {};
}

std::optional<int64_t> AuditLog::parse_time(std::string_view text) {
  if (text.empty()) return std::nullopt;
  if (std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    if (text.size() > 15) return std::nullopt;  // beyond year 33658: not a time anyone means
    int64_t v = 0;
    for (char c : text) v = v * 10 + (c - '0');
    return v;
  }
  auto ms = expr::parse_iso8601_ms(text);
  if (!ms || *ms < 0) return std::nullopt;
  return ms;
}

namespace {

// The store filter for a caller and a query (list / list_workflow / scan), or the error.
Result<store::AuditFilter> filter_for(store::Store& st, const AuditCaller& caller, const AuditQuery& q,
                                      const std::string* workflow_trail) {
  if (Status s = AuditLog::check(q); !s.ok()) return s.error();
  if (!q.user_id.empty() && !caller.admin)
    return Error("forbidden", "only administrators may filter the audit trail by user_id");
  store::AuditFilter f;
  f.from_ms = q.from_ms;
  f.to_ms = q.to_ms;
  f.action_type = q.type;
  f.after_seq = q.after_seq;
  if (workflow_trail) {
    if (workflow_trail->empty() || workflow_trail->size() > kMaxIdLength)
      return Error("not_found", "workflow not found");
    if (!caller.admin) {
      // Ownership: another user's workflow is not found, so its existence is not revealed.
      auto wf = st.get_workflow(caller.user_id, *workflow_trail, 0);
      if (!wf.ok()) {
        if (wf.error().code == "not_found") return Error("not_found", "workflow '" + *workflow_trail + "' not found");
        return wf.error();
      }
    }
    f.workflow_id = *workflow_trail;
    f.user_id = q.user_id;  // admins only (checked above)
  } else {
    f.workflow_id = q.workflow_id;
    f.user_id = caller.admin ? q.user_id : caller.user_id;
  }
  if (!caller.admin && !workflow_trail && f.user_id.empty())
    return Error("forbidden", "the audit trail needs a signed-in user");  // never "everyone" by accident
  return f;
}

}  // namespace

Result<AuditPage> AuditLog::read_page(store::AuditFilter f, int64_t limit) const {
  f.limit = limit + 1;  // one more row says whether there is a next page
  auto rows = store_->list_audit(f);
  if (!rows.ok()) return rows.error();
  AuditPage page;
  const bool more = static_cast<int64_t>(rows->size()) > limit;
  if (more) rows->resize(static_cast<size_t>(limit));
  page.entries.reserve(rows->size());
  for (const auto& r : *rows) page.entries.push_back(view(r));
  if (more && !rows->empty()) page.next_cursor = rows->back().seq;
  return page;
}

Result<AuditPage> AuditLog::list(const AuditCaller& caller, const AuditQuery& q) const {
  auto f = filter_for(*store_, caller, q, nullptr);
  if (!f.ok()) return f.error();
  return read_page(*f, q.limit);
}

Result<AuditPage> AuditLog::list_workflow(const AuditCaller& caller, const std::string& workflow_id,
                                          AuditQuery q) const {
  auto f = filter_for(*store_, caller, q, &workflow_id);
  if (!f.ok()) return f.error();
  return read_page(*f, q.limit);
}

Status AuditLog::scan(const AuditCaller& caller, const AuditQuery& q, int64_t page_size,
                      const std::function<bool(const std::vector<Json>&)>& sink) const {
  AuditQuery checked = q;
  checked.limit = 1;  // the export has no limit; check() wants one
  auto f = filter_for(*store_, caller, checked, nullptr);
  if (!f.ok()) return f.error();
  page_size = std::clamp<int64_t>(page_size, 1, 1000);  // the store caps a page at 1000 rows
  store::AuditFilter filter = *f;
  for (;;) {
    filter.limit = page_size;
    auto rows = store_->list_audit(filter);
    if (!rows.ok()) return rows.error();
    if (rows->empty()) return {};
    std::vector<Json> views;
    views.reserve(rows->size());
    for (const auto& r : *rows) views.push_back(view(r));
    const bool last = static_cast<int64_t>(rows->size()) < page_size;
    filter.after_seq = rows->back().seq;
    rows->clear();
    if (!sink(views)) return {};
    if (last) return {};
  }
}

Result<AuditVerification> AuditLog::verify(int64_t page_size) const {
  page_size = std::clamp<int64_t>(page_size, 1, 1000);
  AuditVerification v;
  store::AuditFilter f;
  f.limit = page_size;
  std::string prev = store::audit_genesis_hash();
  int64_t expected_seq = 1;
  for (;;) {
    auto rows = store_->list_audit(f);
    if (!rows.ok()) return rows.error();
    if (rows->empty()) break;
    // The hash chain over the page (edited entries, removed or reordered predecessors).
    const int64_t chain_break = store::verify_audit_chain(*rows, prev);
    for (const auto& r : *rows) {
      std::string reason;
      if (r.seq != expected_seq) {
        reason = "entries are missing before this one (seq " + std::to_string(expected_seq) + " expected)";
      } else if (chain_break != 0 && r.seq == chain_break) {
        reason = r.prev_hash != prev ? "its prev_hash does not match the previous entry's hash"
                                     : "its hash does not match its entry text (the entry was edited)";
      } else {
        const Json entry = parse_entry(r.entry);
        if (entry.is_null()) {
          reason = "its entry text is not a JSON object";
        } else {
          auto differs = [&entry](const char* member, const std::string& column) {
            const Json* m = entry.find(member);
            return m && m->is_string() && m->as_string() != column;
          };
          const Json* ts = entry.find("ts");
          if (ts && ts->is_int() && ts->as_int() != r.ts_ms) reason = "its ts column differs from the hashed entry";
          for (const auto& [member, column] :
               {std::pair<const char*, const std::string*>{"user_id", &r.user_id},
                {"action_type", &r.action_type},
                {"workflow_id", &r.workflow_id},
                {"execution_id", &r.execution_id},
                {"node_id", &r.node_id}}) {
            if (reason.empty() && differs(member, *column))
              reason = std::string("its ") + member + " column differs from the hashed entry";
          }
        }
      }
      ++v.entries;
      if (!reason.empty()) {
        v.ok = false;
        v.broken_at = r.seq > 0 ? r.seq : expected_seq;
        v.reason = reason;
        return v;
      }
      prev = r.hash;
      expected_seq = r.seq + 1;
    }
    const bool last = static_cast<int64_t>(rows->size()) < page_size;
    f.after_seq = rows->back().seq;
    v.last_seq = rows->back().seq;
    v.last_hash = rows->back().hash;
    if (last) break;
  }
  return v;
}

// ---- formats ---------------------------------------------------------------------------------------

Json AuditLog::view(const store::AuditRecord& r) {
  static const Redactor patterns;  // the pattern layer only; thread-safe for concurrent readers
  const Json entry = parse_entry(r.entry);
  auto text = [&entry](const char* member, const std::string& column) -> Json {
    const Json* m = entry.find(member);
    return m && m->is_string() ? *m : Json(column);
  };
  const Json* ts_member = entry.find("ts");
  const int64_t ts = ts_member && ts_member->is_int() ? ts_member->as_int() : r.ts_ms;
  Json details = entry["details"];
  patterns.redact_json(details);

  Json j = Json::object();
  j.set("seq", r.seq);
  auto iso = expr::format_iso8601_ms(ts, false);
  j.set("timestamp", iso ? Json(*iso) : Json());
  j.set("ts_ms", ts);
  j.set("user_id", text("user_id", r.user_id));
  const Json action = text("action_type", r.action_type);
  j.set("action_type", action);
  j.set("workflow_id", text("workflow_id", r.workflow_id));
  j.set("execution_id", text("execution_id", r.execution_id));
  j.set("node_id", text("node_id", r.node_id));
  // PRODUCT.md §5's human-decision fields: top level for human.* entries, null otherwise.
  const bool human = action.as_string().rfind("human.", 0) == 0;
  j.set("request_details", human ? details["request_details"] : Json());
  j.set("response", human ? details["response"] : Json());
  const Json& rt = details["response_time_ms"];
  j.set("response_time_ms", human && rt.is_number() ? rt : Json());
  j.set("details", details.is_null() ? Json::object() : details);
  j.set("hash", r.hash);
  j.set("prev_hash", r.prev_hash);
  return j;
}

namespace {

constexpr const char* kCsvColumns[] = {"seq",     "timestamp",       "ts_ms",    "user_id",  "action_type",
                                       "workflow_id", "execution_id", "node_id", "request_details",
                                       "response", "response_time_ms", "details", "hash", "prev_hash"};

void append_csv_cell(std::string& out, std::string_view cell) {
  // Formula neutralisation first (the quote is part of the cell, so it is quoted with it).
  std::string value;
  if (!cell.empty() && (cell[0] == '=' || cell[0] == '+' || cell[0] == '-' || cell[0] == '@' || cell[0] == '\t' ||
                        cell[0] == '\r')) {
    value.reserve(cell.size() + 1);
    value.push_back('\'');
  }
  value.append(cell);
  if (value.find_first_of(",\"\r\n") == std::string::npos) {
    out.append(value);
    return;
  }
  out.push_back('"');
  for (char c : value) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
}

}  // namespace

std::string AuditLog::csv_header() {
  std::string out;
  bool first = true;
  for (const char* c : kCsvColumns) {
    if (!first) out.push_back(',');
    first = false;
    out.append(c);
  }
  out.append("\r\n");
  return out;
}

void AuditLog::append_csv_row(std::string& out, const Json& view) {
  bool first = true;
  for (const char* c : kCsvColumns) {
    if (!first) out.push_back(',');
    first = false;
    const Json& v = view[c];
    if (v.is_null()) continue;  // empty cell
    if (v.is_string()) {
      append_csv_cell(out, v.as_string());
    } else {
      append_csv_cell(out, v.dump());  // numbers as digits, objects/arrays as JSON text
    }
  }
  out.append("\r\n");
}

}  // namespace weft::service
