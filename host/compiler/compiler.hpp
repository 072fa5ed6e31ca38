// The compiler (PRODUCT.md §3): workflow JSON in, an immutable Plan out — or ALL the problems at
// once, each with node id, field, machine-readable code and a human message.
#pragma once

#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "host/compiler/plan.hpp"
#include "host/core/json.hpp"
#include "host/core/result.hpp"
#include "registry/registry.hpp"

namespace weft::compiler {

struct Diagnostic {
  std::string code;      // e.g. "cycle", "unknown_node_type", "missing_required_field"
  std::string message;   // for humans
  std::string node_id;   // "" for workflow-level problems
  std::string field;     // dotted path of the offending field ("" when not field-specific)
  std::string edge_id;   // "" unless about an edge
  Json details;          // extra machine-readable context (null when none)
  Json to_json() const;
};

struct CompileResult {
  PlanPtr plan;                        // null when there are errors
  std::vector<Diagnostic> errors;
  std::vector<Diagnostic> warnings;    // e.g. orphan-but-harmless nodes
  bool ok() const { return plan != nullptr && errors.empty(); }
  Json errors_json() const;            // [{code, message, node_id, field, ...}]
};

// A credential placeholder as AI-generated workflows write them: the whole string is
// "{{credential:<name or type>}}" (spaces allowed inside the braces). Returns the token ("" when
// `text` is not a placeholder).
std::string credential_placeholder_token(std::string_view text);
inline bool is_credential_placeholder(std::string_view text) { return !credential_placeholder_token(text).empty(); }

// Answers credential questions for the compiler (host/service/credentials.hpp implements it).
class CredentialChecker {
 public:
  virtual ~CredentialChecker() = default;
  // "" when fine, else an error code: "credential_not_found", "credential_wrong_type".
  virtual std::string check(const std::string& owner_id, const std::string& credential_id,
                            const std::vector<std::string>& accepted_types) = 0;
};

// Checks the source text of "code" fields (JavaScript, Python...). The sandbox work plugs its
// Tree-sitter validator in here; without one, code is only checked to be a string. Called from
// Compiler::compile, possibly concurrently when the Compiler is shared: must be thread-safe.
class CodeValidator {
 public:
  struct Problem {
    int64_t line = 0;    // 1-based
    int64_t column = 0;  // 1-based
    std::string message;
  };
  virtual ~CodeValidator() = default;
  // `language` is the field's schema "language" ("javascript", "python", ...; may be empty).
  // Returns the problems found; empty = the code is fine. Each becomes a "code_syntax" error.
  virtual std::vector<Problem> validate(std::string_view language, std::string_view code) = 0;
};

// Node types that exist only for one owner (custom nodes uploaded by a user, docs/custom-nodes.md):
// the compiler asks this when the registry does not know a type. version 0 = the latest. Must be
// thread-safe; returns null when the owner has no such type.
using OwnerTypeLookup =
    std::function<std::shared_ptr<const registry::NodeType>(const std::string& owner_id, const std::string& type_name,
                                                            uint32_t version)>;

struct CompileOptions {
  std::string owner_id;
  OwnerTypeLookup owner_types;               // null = only the registry's types
  std::string workflow_id;
  int64_t workflow_version = 0;
  CredentialChecker* credentials = nullptr;  // null = credential references are not checked
  CodeValidator* code_validator = nullptr;   // null = code fields are not syntax-checked
  size_t max_nodes = 10000;
  size_t max_edges = 50000;
};

class Compiler {
 public:
  explicit Compiler(const registry::Registry& registry) : registry_(registry) {}
  // Compiles a parsed workflow document.
  CompileResult compile(const Json& workflow, const CompileOptions& options) const;
  // Parses then compiles; JSON errors come back as a single diagnostic ("invalid_json", ...).
  CompileResult compile_text(std::string_view workflow_json, const CompileOptions& options) const;

 private:
  const registry::Registry& registry_;
};

// Plans cached by (workflow id, version). Thread-safe. Bounded (LRU-ish eviction).
class PlanCache {
 public:
  explicit PlanCache(size_t capacity = 256) : capacity_(capacity) {}
  PlanPtr get(const std::string& workflow_id, int64_t version);
  void put(const std::string& workflow_id, int64_t version, PlanPtr plan);
  void clear();

 private:
  size_t capacity_;
  std::mutex mu_;
  std::unordered_map<std::string, std::pair<PlanPtr, uint64_t>> map_;
  uint64_t tick_ = 0;
};

}  // namespace weft::compiler
