#include "host/service/audit.hpp"

#include "host/core/call.hpp"

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

}  // namespace weft::service
