// Syntax validation of user code (JavaScript and Python) with Tree-sitter, without running it.
// Used by the compiler for `code` fields and custom-node files, and by the validate endpoint.
//
// What is checked (docs/code-validation.md has the details):
//   - the Tree-sitter grammar's verdict: ERROR nodes ("syntax_error": "unexpected `)`",
//     "`(` was never closed", "unterminated string literal", ...) and tokens the parser had to
//     invent ("missing_token": "missing `}`");
//   - Python only: indentation the way CPython's tokenizer sees it (Tree-sitter's Python grammar
//     accepts inconsistent indentation and empty blocks), unterminated strings, and `return` /
//     `yield` / `await` outside a (async) function;
//   - size, UTF-8 validity and NUL bytes before anything is parsed.
//
// Positions are 1-based lines and 1-based columns counted in Unicode code points (a tab is one
// column; CRLF and LF both end a line; a lone CR does not). end_line/end_column point just past
// the offending text. Diagnostics about the input as a whole (too large, unsupported language,
// timeout) have line = column = end_line = end_column = 0.
//
// Thread-safety: check_code may be called from any number of threads at once (each call has its
// own parser; the grammar tables are immutable and shared).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace weft {

struct CodeDiagnostic {
  int line = 0;
  int column = 0;
  int end_line = 0;
  int end_column = 0;
  // "syntax_error" | "missing_token" | "indentation_error" (Python) | "invalid_utf8" | "nul_byte" |
  // "code_too_large" | "parse_timeout" | "unsupported_language" | "unsupported_mode"
  std::string code;
  std::string message;  // for humans; quotes at most a short excerpt of the code
};

struct CodeCheckResult {
  bool ok = true;
  std::vector<CodeDiagnostic> diagnostics;  // sorted by position; at most max_diagnostics
  bool truncated = false;                   // more diagnostics were found than returned
};

struct CodeCheckOptions {
  // Larger code is rejected unparsed ("code_too_large"); so is code of more than about 32,000
  // tokens whatever its size (a limit of the Tree-sitter 0.20 runtime, docs/code-validation.md).
  size_t max_bytes = 1024u * 1024u;
  size_t max_diagnostics = 20;
  uint64_t timeout_micros = 1'000'000;  // parse budget; 0 = none ("parse_timeout")
  // "body": the code of a code node, i.e. the body of an async function (JavaScript) or of an
  //         async Python function: top-level `return` and `await` are valid.
  // "module": a whole file (custom nodes), parsed as it is.
  std::string mode = "body";
};

// language: "javascript" | "js" | "python" | "py" (ASCII case-insensitive).
// Never throws; any input (binary, huge, hostile) yields a result.
CodeCheckResult check_code(std::string_view language, std::string_view code,
                           const CodeCheckOptions& options = {});

// {"ok":bool,"diagnostics":[{"line","column","end_line","end_column","code","message"}],
//  "truncated":bool}
std::string to_json(const CodeCheckResult& result);

}  // namespace weft
