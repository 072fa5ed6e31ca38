// The audit trail writer (PRODUCT.md §6 "every access audited", issue 6 adds the read API).
// Entries are append-only and hash-chained by the store (store::Store::append_audit); this class
// builds the canonical entry text — secrets redacted — so the chain covers exactly what is shown.
//
// Thread-safety: all methods may be called concurrently.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "host/core/json.hpp"
#include "host/core/redact.hpp"
#include "host/store/store.hpp"

namespace weft::service {

// Action types written today (docs/api.md "Audit trail"):
//   credential.create / credential.update / credential.delete   a user changed a credential
//   credential.access                                           a node read a decrypted credential
//   credential.use                                              the host applied a credential to
//                                                               an outbound request for a node
//   credential.denied                                           a node asked for one it may not use
//   vault.rotate                                                a master-key rotation ran
struct AuditEntry {
  std::string user_id;       // who acted, or on whose behalf the execution ran
  std::string action_type;
  std::string workflow_id;
  std::string execution_id;
  std::string node_id;
  Json details = Json::object();
};

class AuditLog {
 public:
  explicit AuditLog(std::shared_ptr<store::Store> store) : store_(std::move(store)) {}

  // Appends one entry (one transaction). Details are redacted (patterns + `redactor` when given).
  Status record(const AuditEntry& e, const Redactor* redactor = nullptr);

  // The canonical JSON text of an entry: members in a fixed order, no whitespace.
  static std::string canonical(const AuditEntry& e, int64_t ts_ms, const Redactor* redactor);

 private:
  std::shared_ptr<store::Store> store_;
};

}  // namespace weft::service
