// The expression language (PRODUCT.md §2): a small, safe template language evaluated in C++.
// Never a JS engine. docs/workflow-format.md "Expressions" is the user-facing reference.
//
// A parameter string may contain {{ ... }} blocks:
//   "{{ $node.fetch.output.body.id }}"   exactly one block -> the value keeps its JSON type
//   "Hello {{ $input.name }}!"           text around blocks -> a string (values stringified)
// Inside a block: paths ($input, $json, $node.<id>.output..., $node["id"]..., $vars, $item,
// $index, $execution), literals (numbers, 'strings', "strings", true, false, null, [..], {..}),
// arithmetic (+ - * / %), comparison (== != < <= > >=), boolean (&& || !), the ternary ?:,
// indexing (a[0], a["k"]) and calls of the built-in functions (functions.cpp lists them).
//
// Evaluation is bounded: no loops, no user-defined functions, result size and step caps.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "host/core/json.hpp"
#include "host/core/result.hpp"

namespace weft::expr {

struct Node;  // AST node (internal)

// One parsed {{ }} expression.
class Expression {
 public:
  // Error code "expression_syntax" with message including the column.
  static Result<Expression> parse(std::string_view source);
  const std::string& source() const { return source_; }
  // Node ids referenced through $node.<id> / $node["<id>"].
  const std::set<std::string>& referenced_nodes() const { return nodes_; }
  // True when the expression reads $input (the execution's trigger input).
  bool uses_input() const { return uses_input_; }
  std::shared_ptr<const Node> root() const { return root_; }

 private:
  std::string source_;
  std::shared_ptr<const Node> root_;
  std::set<std::string> nodes_;
  bool uses_input_ = false;
};

// What expressions can see at evaluation time. Lookups return nullptr when absent.
struct EvalContext {
  const Json* input = nullptr;      // $input: the execution's trigger input
  const Json* json = nullptr;       // $json: the node's main input value
  const Json* item = nullptr;       // $item / $index: current loop item (inside a loop body)
  int64_t index = -1;
  const Json* vars = nullptr;       // $vars: workflow-level variables (settings.variables)
  const Json* execution = nullptr;  // $execution: {"id", "workflow_id", ...}
  // $node.<id> resolves to {"output": <main value>, "outputs": {handle: value}}.
  std::function<const Json*(std::string_view node_id)> node;
  int64_t now_ms = 0;               // what now() returns (unix ms); 0 = the real clock
  size_t max_steps = 100000;        // evaluation step cap
  size_t max_string_bytes = 1 << 20;
};

// Error code "expression_error" (type errors, unknown function, caps exceeded...).
Result<Json> evaluate(const Expression& e, const EvalContext& ctx);

// A parameter value with its expressions parsed once at compile time.
class Template {
 public:
  // Walks a JSON value (typically a node's parameters); every string containing "{{" is parsed.
  // Errors: "expression_syntax" with details {"path": "a.b.0"} naming where.
  static Result<Template> compile(const Json& value);
  // Like compile(), but also appends every syntax error found (not only the first, up to 100)
  // to *errors when it is not null. The compiler uses it to report all problems at once.
  static Result<Template> compile_all(const Json& value, std::vector<Error>* errors);
  // Renders: a value with every expression evaluated (strings with no {{ }} are kept as is).
  Result<Json> render(const EvalContext& ctx) const;
  bool has_expressions() const;
  // All node ids referenced anywhere in the value.
  std::set<std::string> referenced_nodes() const;
  // Every expression with the dotted path of the string it came from (for compiler errors).
  std::vector<std::pair<std::string, const Expression*>> expressions() const;

  struct Part;  // internal
 private:
  Json literal_;                       // the value when it has no expressions
  std::shared_ptr<const Part> root_;   // null when literal
};

}  // namespace weft::expr
