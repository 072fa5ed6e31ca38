// Internal to host/codecheck: the part of CPython's tokenizer that Tree-sitter's Python grammar
// does not enforce — indentation (unexpected indent, unindent that matches no outer level,
// missing indented block, tabs vs spaces) — plus unterminated string literals.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace weft::codecheck_detail {

struct PythonLayoutIssue {
  size_t begin = 0;  // byte offsets into the scanned code
  size_t end = 0;
  std::string code;  // "indentation_error" | "syntax_error"
  std::string message;
};

// Scans `code` (valid UTF-8, LF or CRLF line ends) as a module. Like CPython's tokenizer it stops
// at the first problem; nullopt when the layout is fine.
std::optional<PythonLayoutIssue> check_python_layout(std::string_view code);

}  // namespace weft::codecheck_detail
