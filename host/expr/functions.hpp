// The built-in functions of the expression language (internal). The table in functions.cpp is
// the single source of truth: the parser resolves names and checks argument counts against it
// (so an unknown function or a wrong argument count is a compile-time error), and
// docs/workflow-format.md documents the same list.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "host/core/json.hpp"
#include "host/expr/expr.hpp"

namespace weft::expr {

// One call of a built-in: its evaluated arguments and where the result or error goes.
struct FnCall {
  const std::vector<const Json*>& args;
  const EvalContext& ctx;
  size_t& steps;  // the evaluation's step counter (functions that build big values charge it)
  Json result;
  std::string error;  // set by fail(); the evaluator prefixes the function name

  size_t argc() const { return args.size(); }
  const Json& arg(size_t i) const;
  bool fail(std::string message) {
    error = std::move(message);
    return false;
  }
  // Adds `n` steps; false (with an error) when the evaluation's step cap is exceeded.
  bool charge(size_t n);
};

using BuiltinFn = bool (*)(FnCall& call);

inline constexpr uint8_t kVariadic = 255;

struct Builtin {
  const char* name;
  uint8_t min_args;
  uint8_t max_args;  // kVariadic = no upper bound
  BuiltinFn fn;
  const char* signature;  // for messages and docs, e.g. "substring(s, start, end?)"
};

// nullptr when there is no such function.
const Builtin* find_builtin(std::string_view name);
const std::vector<Builtin>& builtins();

}  // namespace weft::expr
