// Collects diagnostics during one compile (internal). Errors are capped so that a workflow with
// 10,000 broken nodes yields a bounded answer; when the cap is hit a final "too_many_errors"
// diagnostic says so.
#pragma once

#include <string>
#include <vector>

#include "host/compiler/compiler.hpp"

namespace weft::compiler::detail {

inline constexpr size_t kMaxDiagnostics = 1000;

struct Diags {
  std::vector<Diagnostic> errors;
  std::vector<Diagnostic> warnings;
  size_t dropped_errors = 0;
  size_t dropped_warnings = 0;

  struct Where {
    std::string node_id;
    std::string field;
    std::string edge_id;
  };

  void error(std::string code, std::string message, Where where = {}, Json details = Json()) {
    if (errors.size() >= kMaxDiagnostics) {
      ++dropped_errors;
      return;
    }
    errors.push_back(Diagnostic{std::move(code), std::move(message), std::move(where.node_id),
                                std::move(where.field), std::move(where.edge_id),
                                std::move(details)});
  }
  void warning(std::string code, std::string message, Where where = {}, Json details = Json()) {
    if (warnings.size() >= kMaxDiagnostics) {
      ++dropped_warnings;
      return;
    }
    warnings.push_back(Diagnostic{std::move(code), std::move(message), std::move(where.node_id),
                                  std::move(where.field), std::move(where.edge_id),
                                  std::move(details)});
  }
  bool has_errors() const { return !errors.empty(); }
  // Appends the "too_many_errors" marker when something was dropped.
  void finish();
};

// Short, printable rendering of a user-supplied string for messages (quotes, truncation,
// control characters escaped).
std::string quoted(std::string_view s, size_t max = 80);

}  // namespace weft::compiler::detail
