#include "host/codecheck/codecheck.hpp"

#include <tree_sitter/api.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>
#include <utility>

#include "host/codecheck/python_layout.hpp"
#include "host/core/json.hpp"

// The grammars, compiled from the pinned npm tarballs (scripts/grammars.sh).
extern "C" {
const TSLanguage* tree_sitter_javascript(void);
const TSLanguage* tree_sitter_python(void);
}

namespace weft {
namespace {

constexpr TSSymbol kErrorSymbol = static_cast<TSSymbol>(-1);  // ts_builtin_sym_error
constexpr size_t kExcerptCodePoints = 30;
constexpr size_t kMaxLooseTokens = 512;

// The Tree-sitter runtime pinned by the stack (Debian's 0.20.7) keeps a node's child count in 16
// bits: a node with 65,536 or more children (65k comments in a row, or an unfinished construct
// nested 65k deep that error recovery wraps in one ERROR) corrupts the heap and aborts the
// process (fixed upstream in 0.20.8). No node can have more children than the parse has
// tokens, so the code is only parsed when a cheap over-estimate of its token count is safely
// below that: see token_units().
constexpr size_t kMaxTokenUnits = 32000;

enum class Language { JavaScript, Python };
enum class Mode { Body, Module };

std::optional<Language> language_from(std::string_view name) {
  std::string lower(name.substr(0, 16));
  for (char& c : lower) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  if (name.size() > 16) return std::nullopt;
  if (lower == "javascript" || lower == "js") return Language::JavaScript;
  if (lower == "python" || lower == "py") return Language::Python;
  return std::nullopt;
}

CodeDiagnostic whole_input(std::string code, std::string message) {
  CodeDiagnostic d;
  d.code = std::move(code);
  d.message = std::move(message);
  return d;
}

CodeCheckResult failed(CodeDiagnostic d) {
  CodeCheckResult r;
  r.ok = false;
  r.diagnostics.push_back(std::move(d));
  return r;
}

// Length of the valid UTF-8 sequence at s[i], or 0 when it is not one (overlong forms,
// surrogates and code points above U+10FFFF are invalid).
size_t utf8_sequence(std::string_view s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  if (c < 0x80) return 1;
  size_t len;
  uint32_t cp;
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
    cp = c & 0x1F;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    cp = c & 0x0F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  for (size_t k = 1; k < len; ++k) {
    if ((b(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b(i + k) & 0x3F);
  }
  if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF))) return 0;
  if (cp >= 0xD800 && cp <= 0xDFFF) return 0;
  return len;
}

// An over-estimate of how many tokens (and stack entries) Tree-sitter can make of `text`: each
// ASCII letter/digit run, each other ASCII character and each non-ASCII code point is one unit,
// and each line end three (the zero-width tokens a line can add: Python's NEWLINE/INDENT/DEDENT,
// JavaScript's automatic semicolons). Error recovery can add one MISSING token per real one,
// hence the limit at half of the 65,536 the runtime can hold.
size_t token_units(std::string_view text) {
  size_t units = 0;
  bool in_word = false;
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    const bool word =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '$';
    if (word) {
      if (!in_word) ++units;
    } else if (c == '\n') {
      units += 3;
    } else if (c >= 0x80) {
      if ((c & 0xC0) != 0x80) ++units;  // a lead byte: one code point
    } else if (c != ' ' && c != '\t' && c != '\r' && c != '\f' && c != '\v') {
      ++units;
    }
    in_word = word;
  }
  return units;
}

// Line index over the user's code: byte offsets to 1-based (line, code-point column).
class Lines {
 public:
  explicit Lines(std::string_view code) : code_(code) {
    starts_.push_back(0);
    for (size_t i = 0; i < code.size(); ++i) {
      if (code[i] == '\n') starts_.push_back(i + 1);
    }
  }
  size_t count() const { return starts_.size(); }
  size_t begin(size_t row) const { return starts_[row]; }
  // Just before the line's '\n' (or the end of the code).
  size_t end(size_t row) const { return row + 1 < starts_.size() ? starts_[row + 1] - 1 : code_.size(); }
  std::pair<int, int> position(size_t offset) const {
    offset = std::min(offset, code_.size());
    const size_t row =
        static_cast<size_t>(std::upper_bound(starts_.begin(), starts_.end(), offset) - starts_.begin()) - 1;
    size_t col = 1;
    for (size_t k = starts_[row]; k < offset; ++k) {
      if ((static_cast<unsigned char>(code_[k]) & 0xC0) != 0x80) ++col;
    }
    return {static_cast<int>(row + 1), static_cast<int>(col)};
  }

 private:
  std::string_view code_;
  std::vector<size_t> starts_;
};

// What is handed to the parser: the user's code, possibly wrapped so that a code node's body
// parses as a function body. Positions are mapped back by rows and columns: the wrapper adds
// `row_offset` lines before the code and `col_offset` bytes at the start of each of its lines.
struct Wrapped {
  std::string storage;
  std::string_view text;
  size_t user_begin = 0;  // the user's code is text[user_begin, user_end)
  size_t user_end = 0;
  uint32_t row_offset = 0;
  uint32_t col_offset = 0;
};

constexpr std::string_view kJsPrefix = "(async function(){\n";
constexpr std::string_view kJsSuffix = "\n})";
// Python code nodes are synchronous (weft.http/credential block; the runner calls a plain def).
constexpr std::string_view kPyPrefix = "def __weft__():\n pass\n";

Wrapped wrap(Language lang, Mode mode, std::string_view code) {
  Wrapped w;
  if (mode == Mode::Module) {
    w.text = code;
    w.user_end = code.size();
    return w;
  }
  if (lang == Language::JavaScript) {
    // The body of an async function: top-level `return` and `await` are fine. The closing brace
    // goes on its own line so that a trailing `//` comment cannot swallow it.
    w.storage.reserve(kJsPrefix.size() + code.size() + kJsSuffix.size());
    w.storage.append(kJsPrefix).append(code).append(kJsSuffix);
    w.user_begin = kJsPrefix.size();
    w.user_end = w.user_begin + code.size();
    w.row_offset = 1;
  } else {
    // The body of a def, every line indented by one space. The leading `pass` keeps an
    // empty body valid and makes a body whose first line is indented an "unexpected indent",
    // as it is for Python itself.
    size_t lines = 1 + static_cast<size_t>(std::count(code.begin(), code.end(), '\n'));
    w.storage.reserve(kPyPrefix.size() + code.size() + lines + 1);
    w.storage.append(kPyPrefix);
    w.storage.push_back(' ');
    for (char c : code) {
      w.storage.push_back(c);
      if (c == '\n') w.storage.push_back(' ');
    }
    w.storage.push_back('\n');
    w.user_begin = kPyPrefix.size();
    w.user_end = w.storage.size() - 1;
    w.row_offset = 2;
    w.col_offset = 1;
  }
  w.text = w.storage;
  return w;
}

// A problem found, in user byte offsets, before positions are computed.
struct Finding {
  size_t begin;
  size_t end;
  std::string code;
  std::string message;
  // An ERROR made only of well-formed parts: a construct Tree-sitter could not finish, usually
  // because of an error reported elsewhere. Kept only when nothing else is found.
  bool weak = false;
};

std::string excerpt(std::string_view text) {
  size_t cut = text.find_first_of("\r\n");
  bool more = cut != std::string_view::npos;
  if (more) text = text.substr(0, cut);
  size_t cps = 0, i = 0;
  for (; i < text.size(); ++i) {
    if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) {
      if (cps == kExcerptCodePoints) {
        more = true;
        break;
      }
      ++cps;
    }
  }
  std::string out(text.substr(0, i));
  if (more) out += "…";
  return out;
}

// A caller-supplied name for a message: printable ASCII only, short.
std::string printable(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 32)) out.push_back(c >= 0x20 && c < 0x7F ? c : '?');
  if (s.size() > 32) out += "...";
  return out;
}

std::string quoted(std::string_view s) {
  if (s.find('`') != std::string_view::npos) return "'" + std::string(s) + "'";
  return "`" + std::string(s) + "`";
}

class Checker {
 public:
  Checker(const Wrapped& w, std::string_view code, size_t limit)
      : w_(w), code_(code), lines_(code), limit_(limit) {}

  // Maps a point of the parsed text to a byte offset in the user's code.
  size_t user_offset(TSPoint p) const {
    if (p.row < w_.row_offset) return 0;
    const size_t row = p.row - w_.row_offset;
    if (row >= lines_.count()) return code_.size();
    const size_t col = p.column >= w_.col_offset ? p.column - w_.col_offset : 0;
    return std::min(lines_.begin(row) + col, lines_.end(row));
  }
  // Maps a byte of the parsed text inside the user's part to a byte offset in the user's code.
  size_t user_offset_of_byte(uint32_t byte) const {
    if (w_.col_offset == 0) return byte - std::min<size_t>(byte, w_.user_begin);
    // Python body: one added space per line before `byte`.
    size_t added = 0;
    for (size_t k = w_.user_begin; k < byte && k < w_.text.size(); ++k) added += w_.text[k] == '\n';
    return byte - w_.user_begin - (added + 1);
  }
  bool in_user(uint32_t byte) const { return byte >= w_.user_begin && byte < w_.user_end; }
  std::string_view text_of(TSNode n) const {
    const uint32_t b = ts_node_start_byte(n), e = ts_node_end_byte(n);
    return w_.text.substr(b, e - b);
  }

  void add(Finding f) {
    if (findings_.size() >= limit_) {
      overflow_ = true;
      return;
    }
    findings_.push_back(std::move(f));
  }

  // Every ERROR and MISSING node. Tree-sitter's ERROR nodes hold the parts that did parse
  // (whole statements, expressions) next to the tokens that fit nowhere; only the latter are
  // the error, so an ERROR is reported at its first loose token, and its well-formed parts are
  // searched for further errors like the rest of the tree.
  void collect_tree_errors(TSNode root) {
    if (!ts_node_has_error(root)) return;
    TSTreeCursor cur = ts_tree_cursor_new(root);
    for (;;) {
      TSNode n = ts_tree_cursor_current_node(&cur);
      bool descend = false;
      if (ts_node_is_missing(n)) {
        report_missing(n);
      } else if (ts_node_symbol(n) == kErrorSymbol) {
        report_error(n);
        descend = true;
      } else {
        descend = ts_node_has_error(n);
      }
      if (findings_.size() >= limit_) break;
      if (descend && ts_tree_cursor_goto_first_child(&cur)) continue;
      bool done = false;
      while (!ts_tree_cursor_goto_next_sibling(&cur)) {
        if (!ts_tree_cursor_goto_parent(&cur)) {
          done = true;
          break;
        }
      }
      if (done) break;
    }
    ts_tree_cursor_delete(&cur);
  }

  // JavaScript body mode: the user's code must not close the wrapping function itself
  // (`}); (function(){` would otherwise pass). The function body has to end at our brace.
  // When it does, what follows is parsed outside the function and its errors are consequences:
  // only the brace is reported.
  void check_js_wrapper(TSNode root) {
    // Our `function` keyword is at a fixed offset; its function_expression is a few levels up.
    const uint32_t kw = static_cast<uint32_t>(kJsPrefix.find("function"));
    TSNode fn = ts_node_descendant_for_byte_range(root, kw, kw + 8);
    for (int up = 0;
         up < 4 && !ts_node_is_null(fn) && std::strcmp(ts_node_type(fn), "function_expression") != 0; ++up) {
      fn = ts_node_parent(fn);
    }
    if (ts_node_is_null(fn) || std::strcmp(ts_node_type(fn), "function_expression") != 0) return;
    TSNode body = ts_node_child_by_field_name(fn, "body", 4);
    if (ts_node_is_null(body) || ts_node_child_count(body) == 0) return;  // reported elsewhere
    TSNode brace = ts_node_child(body, ts_node_child_count(body) - 1);
    if (ts_node_is_missing(brace) || std::strcmp(ts_node_type(brace), "}") != 0) return;
    const uint32_t close = ts_node_start_byte(brace);
    if (close == w_.text.size() - 2) return;  // our own `}` in "\n})"
    if (!in_user(close)) return;
    const size_t at = user_offset(ts_node_start_point(brace));
    drop_if([&](const Finding& f) { return f.begin > at; });
    add({at, user_offset(ts_node_end_point(brace)), "syntax_error", "unexpected `}`"});
  }

  // JavaScript: early errors V8 reports that the grammar accepts — `const` without an
  // initializer, `try` with neither `catch` nor `finally`, and `import`/`export` anywhere but at
  // the top level of a module (so never in a code node's body).
  void check_js_rules(TSNode root) {
    const TSLanguage* lang = ts_tree_language(root.tree);
    const auto sym = [&](const char* name) {
      return ts_language_symbol_for_name(lang, name, static_cast<uint32_t>(std::strlen(name)), true);
    };
    const TSSymbol s_lexical = sym("lexical_declaration"), s_try = sym("try_statement"),
                   s_import = sym("import_statement"), s_export = sym("export_statement");
    TSTreeCursor cur = ts_tree_cursor_new(root);
    uint32_t depth = 0;
    for (;;) {
      TSNode n = ts_tree_cursor_current_node(&cur);
      const TSSymbol s = ts_node_symbol(n);
      const bool checked = !ts_node_has_error(n) && in_user(ts_node_start_byte(n));  // else reported already
      if ((s == s_import || s == s_export) && depth != 1 && checked) {
        TSNode kw = ts_node_child(n, 0);
        if (ts_node_is_null(kw) || ts_node_child_count(kw) > 0) kw = n;
        add({user_offset(ts_node_start_point(n)), user_offset(ts_node_end_point(kw)), "syntax_error",
             std::string(s == s_import ? "`import`" : "`export`") +
                 (w_.user_begin > 0
                      ? " is not allowed in a code node's body (only at the top level of a module)"
                      : " is only allowed at the top level of a module")});
      } else if (s == s_lexical && checked) {
        TSNode kind = ts_node_child(n, 0);
        if (!ts_node_is_null(kind) && text_of(kind) == "const") {
          for (uint32_t i = 0; i < ts_node_named_child_count(n); ++i) {
            TSNode decl = ts_node_named_child(n, i);
            if (std::strcmp(ts_node_type(decl), "variable_declarator") != 0) continue;
            if (!ts_node_is_null(ts_node_child_by_field_name(decl, "value", 5))) continue;
            TSNode name = ts_node_child_by_field_name(decl, "name", 4);
            if (ts_node_is_null(name)) name = decl;
            add({user_offset(ts_node_start_point(name)), user_offset(ts_node_end_point(name)), "syntax_error",
                 "missing initializer in `const` declaration"});
          }
        }
      } else if (s == s_try && checked && ts_node_is_null(ts_node_child_by_field_name(n, "handler", 7)) &&
                 ts_node_is_null(ts_node_child_by_field_name(n, "finalizer", 9))) {
        TSNode kw = ts_node_child(n, 0);
        add({user_offset(ts_node_start_point(kw)), user_offset(ts_node_end_point(kw)), "syntax_error",
             "missing `catch` or `finally` after `try`"});
      }
      if (findings_.size() >= limit_) break;
      const bool descend = s != kErrorSymbol && ts_node_child_count(n) > 0;
      if (descend && ts_tree_cursor_goto_first_child(&cur)) {
        ++depth;
        continue;
      }
      bool done = false;
      while (!ts_tree_cursor_goto_next_sibling(&cur)) {
        if (!ts_tree_cursor_goto_parent(&cur)) {
          done = true;
          break;
        }
        --depth;
      }
      if (done) break;
    }
    ts_tree_cursor_delete(&cur);
  }

  // Python: `return`/`yield` outside a function, `await` outside an async function (Tree-sitter's
  // grammar accepts them anywhere).
  void check_python_scopes(TSNode root) {
    const TSLanguage* lang = ts_tree_language(root.tree);
    const auto sym = [&](const char* name) {
      return ts_language_symbol_for_name(lang, name, static_cast<uint32_t>(std::strlen(name)), true);
    };
    const TSSymbol s_def = sym("function_definition"), s_class = sym("class_definition"),
                   s_lambda = sym("lambda"), s_return = sym("return_statement"), s_yield = sym("yield"),
                   s_await = sym("await");
    enum Kind { Function, AsyncFunction, Class, Lambda };
    struct Scope {
      uint32_t depth;
      Kind kind;
    };
    std::vector<Scope> scopes;
    uint32_t depth = 0;
    TSTreeCursor cur = ts_tree_cursor_new(root);
    for (;;) {
      TSNode n = ts_tree_cursor_current_node(&cur);
      const TSSymbol s = ts_node_symbol(n);
      bool descend = s != kErrorSymbol && ts_node_child_count(n) > 0;
      if (s == s_def) {
        TSNode first = ts_node_child(n, 0);
        const bool is_async = !ts_node_is_null(first) && text_of(first) == "async";
        scopes.push_back({depth, is_async ? AsyncFunction : Function});
      } else if (s == s_class) {
        scopes.push_back({depth, Class});
      } else if (s == s_lambda) {
        scopes.push_back({depth, Lambda});
      } else if (s == s_return || s == s_yield || s == s_await) {
        // A return's enclosing scope skips lambdas (they cannot hold statements anyway).
        const Scope* inner = scopes.empty() ? nullptr : &scopes.back();
        if (s == s_return) {
          for (auto it = scopes.rbegin(); it != scopes.rend(); ++it) {
            if (it->kind != Lambda) {
              inner = &*it;
              break;
            }
          }
        }
        const char* what = s == s_return ? "`return`" : s == s_yield ? "`yield`" : "`await`";
        std::string message;
        if (inner == nullptr || inner->kind == Class) {
          message = std::string(what) + " outside function";
        } else if (s == s_await && inner->kind != AsyncFunction) {
          message = "`await` outside async function";
        }
        if (!message.empty() && in_user(ts_node_start_byte(n))) {
          TSNode kw = ts_node_child(n, 0);
          if (ts_node_is_null(kw)) kw = n;
          add({user_offset(ts_node_start_point(kw)), user_offset(ts_node_end_point(kw)), "syntax_error",
               std::move(message)});
          if (findings_.size() >= limit_) break;
        }
      }
      if (descend && ts_tree_cursor_goto_first_child(&cur)) {
        ++depth;
        continue;
      }
      bool done = false;
      for (;;) {
        while (!scopes.empty() && scopes.back().depth >= depth) scopes.pop_back();
        if (ts_tree_cursor_goto_next_sibling(&cur)) break;
        if (!ts_tree_cursor_goto_parent(&cur)) {
          done = true;
          break;
        }
        --depth;
      }
      if (done) break;
    }
    ts_tree_cursor_delete(&cur);
  }

  // Drops what was found from the start of the line holding `offset` on.
  void cut_from_line_of(size_t offset) {
    size_t line_start = std::min(offset, code_.size());
    while (line_start > 0 && code_[line_start - 1] != '\n') --line_start;
    drop_if([&](const Finding& f) { return f.begin >= line_start; });
  }

  // Removes findings; when some go, so does the overflow mark: every walk runs in document
  // order, so what did not fit came after what is dropped.
  template <typename Pred>
  void drop_if(Pred pred) {
    if (std::erase_if(findings_, pred) > 0) overflow_ = false;
  }

  // Sorted by position, one per position, at most max_diagnostics.
  CodeCheckResult finish(size_t max_diagnostics) {
    const bool strong =
        std::any_of(findings_.begin(), findings_.end(), [](const Finding& f) { return !f.weak; });
    if (strong) std::erase_if(findings_, [](const Finding& f) { return f.weak; });
    std::stable_sort(findings_.begin(), findings_.end(),
                     [](const Finding& a, const Finding& b) { return a.begin < b.begin; });
    CodeCheckResult out;
    out.ok = findings_.empty();
    out.truncated = overflow_;
    size_t last_begin = std::numeric_limits<size_t>::max();
    for (Finding& f : findings_) {
      if (f.begin == last_begin) continue;
      last_begin = f.begin;
      if (out.diagnostics.size() >= max_diagnostics) {
        out.truncated = true;
        break;
      }
      CodeDiagnostic d;
      std::tie(d.line, d.column) = lines_.position(f.begin);
      std::tie(d.end_line, d.end_column) = lines_.position(std::max(f.end, f.begin));
      d.code = std::move(f.code);
      d.message = std::move(f.message);
      out.diagnostics.push_back(std::move(d));
    }
    return out;
  }

 private:
  void report_missing(TSNode n) {
    const size_t at = user_offset(ts_node_start_point(n));
    const char* type = ts_node_type(n);
    std::string what = ts_node_is_named(n) ? std::string(type) : quoted(type);
    add({at, at, "missing_token", "missing " + what});
  }

  void report_error(TSNode err) {
    // The ERROR's own tokens (direct children without children) that belong to the user, not to
    // the wrapper, in order; and whether some child will report something itself.
    std::vector<TSNode> loose;
    bool child_reports = false;
    // (A cursor, not ts_node_child(i): that is linear in i, and an ERROR can have many children.)
    TSTreeCursor cur = ts_tree_cursor_new(err);
    for (bool more = ts_tree_cursor_goto_first_child(&cur); more;
         more = ts_tree_cursor_goto_next_sibling(&cur)) {
      TSNode c = ts_tree_cursor_current_node(&cur);
      if (ts_node_has_error(c) || ts_node_is_missing(c)) {
        child_reports = true;
      } else if (ts_node_child_count(c) == 0 && !ts_node_is_extra(c) && in_user(ts_node_start_byte(c)) &&
                 loose.size() < kMaxLooseTokens) {
        loose.push_back(c);
      }
    }
    ts_tree_cursor_delete(&cur);
    const auto at_node = [&](TSNode n, std::string message) {
      add({user_offset(ts_node_start_point(n)), user_offset(ts_node_end_point(n)), "syntax_error",
           std::move(message)});
    };

    if (loose.empty()) {
      if (child_reports) return;
      const uint32_t b = ts_node_start_byte(err);
      if (b >= w_.user_end || ts_node_end_byte(err) <= w_.user_begin) {
        return;  // wrapper tokens only: the user's code closed the wrapper (check_js_wrapper)
      }
      if (ts_node_end_byte(err) == b) {
        at_node(err, "unexpected end of input");
        return;
      }
      uint32_t from = std::max<uint32_t>(b, static_cast<uint32_t>(w_.user_begin));
      const uint32_t to = std::min<uint32_t>(ts_node_end_byte(err), static_cast<uint32_t>(w_.user_end));
      while (from < to && std::strchr(" \t\r\n\f", w_.text[from]) != nullptr) ++from;
      const size_t at = from == b ? user_offset(ts_node_start_point(err)) : user_offset_of_byte(from);
      Finding f{at, user_offset(ts_node_end_point(err)), "syntax_error",
                "invalid syntax near " + quoted(excerpt(w_.text.substr(from, to - from)))};
      f.weak = true;
      add(std::move(f));
      return;
    }

    const std::string_view first_type = ts_node_type(loose.front());

    // An opening quote whose string never closed.
    if (first_type == "\"" || first_type == "'" || first_type == "`" || first_type == "string_start") {
      const std::string_view closer = first_type == "string_start" ? "string_end" : first_type;
      bool closed = false;
      for (size_t i = 1; i < loose.size() && !closed; ++i) closed = ts_node_type(loose[i]) == closer;
      if (!closed) {
        const size_t at = user_offset(ts_node_start_point(loose.front()));
        const size_t end = user_offset(ts_node_end_point(loose.back()));
        add({at, std::max(at + 1, end), "syntax_error",
             first_type == "`" ? "unterminated template literal" : "unterminated string literal"});
        return;
      }
    }

    // Brackets: a closer with no opener, or an opener never closed (brackets inside the parts
    // that did parse are balanced already).
    std::vector<TSNode> open;
    for (TSNode t : loose) {
      if (ts_node_is_named(t)) continue;
      const std::string_view type = ts_node_type(t);
      if (type == "(" || type == "[" || type == "{" || type == "${") {
        open.push_back(t);
      } else if (type == ")" || type == "]" || type == "}") {
        const std::string_view opener = open.empty() ? "" : ts_node_type(open.back());
        const bool matches = (type == ")" && opener == "(") || (type == "]" && opener == "[") ||
                             (type == "}" && (opener == "{" || opener == "${"));
        if (!matches) {
          at_node(t, "unexpected " + quoted(type));
          return;
        }
        open.pop_back();
      }
    }
    if (!open.empty()) {
      at_node(open.back(), quoted(ts_node_type(open.back())) + " was never closed");
      return;
    }

    if (loose.size() == 1) {
      TSNode t = loose.front();
      std::string what = ts_node_is_named(t) ? std::string(ts_node_type(t)) + " " : std::string();
      at_node(t, "unexpected " + what + quoted(excerpt(text_of(t))));
      return;
    }

    // Several tokens that fit nowhere: quote the code from the first one on.
    const uint32_t b = ts_node_start_byte(loose.front());
    const uint32_t e = std::min<uint32_t>(ts_node_end_byte(err), static_cast<uint32_t>(w_.user_end));
    add({user_offset(ts_node_start_point(loose.front())), user_offset(ts_node_end_point(loose.back())),
         "syntax_error", "invalid syntax near " + quoted(excerpt(w_.text.substr(b, e > b ? e - b : 0)))});
  }

  const Wrapped& w_;
  std::string_view code_;
  Lines lines_;
  size_t limit_;
  std::vector<Finding> findings_;
  bool overflow_ = false;
};

struct ParserDeleter {
  void operator()(TSParser* p) const { ts_parser_delete(p); }
};
struct TreeDeleter {
  void operator()(TSTree* t) const { ts_tree_delete(t); }
};

}  // namespace

CodeCheckResult check_code(std::string_view language, std::string_view code,
                           const CodeCheckOptions& options) {
  const std::optional<Language> lang = language_from(language);
  if (!lang) {
    return failed(whole_input("unsupported_language", "unsupported language " + quoted(printable(language)) +
                                                          " (supported: javascript, python)"));
  }
  Mode mode;
  if (options.mode == "body") {
    mode = Mode::Body;
  } else if (options.mode == "module") {
    mode = Mode::Module;
  } else {
    return failed(whole_input(
        "unsupported_mode",
        "unsupported check mode " + quoted(printable(options.mode)) + " (supported: body, module)"));
  }
  // The parser takes 32-bit lengths; the wrapper adds a byte per line at most.
  const size_t hard_cap = std::numeric_limits<uint32_t>::max() / 4;
  if (code.size() > options.max_bytes || code.size() > hard_cap) {
    return failed(whole_input("code_too_large", "code is " + std::to_string(code.size()) +
                                                    " bytes; the limit is " +
                                                    std::to_string(std::min(options.max_bytes, hard_cap))));
  }

  // Encoding first: the grammars (and the positions) assume UTF-8 text without NUL bytes.
  {
    const Lines lines(code);
    for (size_t i = 0; i < code.size();) {
      if (code[i] == '\0') {
        CodeDiagnostic d;
        std::tie(d.line, d.column) = lines.position(i);
        std::tie(d.end_line, d.end_column) = lines.position(i + 1);
        d.code = "nul_byte";
        d.message = "the code contains a NUL byte";
        return failed(std::move(d));
      }
      const size_t len = utf8_sequence(code, i);
      if (len == 0) {
        CodeDiagnostic d;
        std::tie(d.line, d.column) = lines.position(i);
        d.end_line = d.line;
        d.end_column = d.column + 1;
        d.code = "invalid_utf8";
        static const char* hex = "0123456789ABCDEF";
        const auto byte = static_cast<unsigned char>(code[i]);
        d.message =
            std::string("the code is not valid UTF-8 (byte 0x") + hex[byte >> 4] + hex[byte & 15] + ")";
        return failed(std::move(d));
      }
      i += len;
    }
  }

  const Wrapped wrapped = wrap(*lang, mode, code);
  if (const size_t units = token_units(wrapped.text); units > kMaxTokenUnits) {
    return failed(whole_input("code_too_large", "the code has too many tokens to validate (about " +
                                                    std::to_string(units) + " token units; the limit is " +
                                                    std::to_string(kMaxTokenUnits) + ")"));
  }
  const TSLanguage* ts_lang = *lang == Language::JavaScript ? tree_sitter_javascript() : tree_sitter_python();
  std::unique_ptr<TSParser, ParserDeleter> parser(ts_parser_new());
  if (!parser || !ts_parser_set_language(parser.get(), ts_lang)) {
    return failed(whole_input("unsupported_language",
                              "the " + std::string(*lang == Language::JavaScript ? "JavaScript" : "Python") +
                                  " grammar (ABI " + std::to_string(ts_language_version(ts_lang)) +
                                  ") does not load in this Tree-sitter runtime (ABI " +
                                  std::to_string(TREE_SITTER_MIN_COMPATIBLE_LANGUAGE_VERSION) + "-" +
                                  std::to_string(TREE_SITTER_LANGUAGE_VERSION) + ")"));
  }
  ts_parser_set_timeout_micros(parser.get(), options.timeout_micros);
  std::unique_ptr<TSTree, TreeDeleter> tree(ts_parser_parse_string(
      parser.get(), nullptr, wrapped.text.data(), static_cast<uint32_t>(wrapped.text.size())));
  if (!tree) {
    const uint64_t t = options.timeout_micros;
    return failed(whole_input(
        "parse_timeout", "parsing the code took longer than " +
                             (t >= 1000 ? std::to_string(t / 1000) + " ms" : std::to_string(t) + " µs")));
  }

  // Each source of findings stops a little after max_diagnostics: enough to fill the answer
  // in position order and to know that there were more.
  const size_t limit = options.max_diagnostics * 2 + 8;
  Checker checker(wrapped, code, limit);
  const TSNode root = ts_tree_root_node(tree.get());
  checker.collect_tree_errors(root);
  if (*lang == Language::JavaScript) {
    checker.check_js_rules(root);
    if (mode == Mode::Body) checker.check_js_wrapper(root);
  } else {
    checker.check_python_scopes(root);
    // CPython stops at its tokenizer's first error: what the grammar makes of the lines from
    // there on (inside an unterminated string, under a broken indentation) is noise.
    if (auto issue = codecheck_detail::check_python_layout(code)) {
      checker.cut_from_line_of(issue->begin);
      checker.add({issue->begin, issue->end, std::move(issue->code), std::move(issue->message)});
    }
  }
  return checker.finish(options.max_diagnostics);
}

std::string to_json(const CodeCheckResult& result) {
  Json diagnostics = Json::array();
  for (const CodeDiagnostic& d : result.diagnostics) {
    Json item = Json::object();
    item.set("line", d.line);
    item.set("column", d.column);
    item.set("end_line", d.end_line);
    item.set("end_column", d.end_column);
    item.set("code", d.code);
    item.set("message", d.message);
    diagnostics.push_back(std::move(item));
  }
  Json out = Json::object();
  out.set("ok", result.ok);
  out.set("diagnostics", std::move(diagnostics));
  out.set("truncated", result.truncated);
  return out.dump();
}

}  // namespace weft
