#include "host/codecheck/python_layout.hpp"

#include <vector>

namespace weft::codecheck_detail {
namespace {

bool is_ident_start(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80;
}
bool is_ident_char(unsigned char c) {
  return is_ident_start(c) || (c >= '0' && c <= '9');
}

// r, u, b, f and their two-letter combinations (any case) may prefix a string literal.
bool is_string_prefix(std::string_view w) {
  if (w.empty() || w.size() > 2) return false;
  bool raw = false, bytes = false, fmt = false, uni = false;
  for (char c : w) {
    switch (c | 0x20) {
      case 'r':
        if (raw) return false;
        raw = true;
        break;
      case 'b':
        if (bytes) return false;
        bytes = true;
        break;
      case 'f':
        if (fmt) return false;
        fmt = true;
        break;
      case 'u':
        if (uni) return false;
        uni = true;
        break;
      default:
        return false;
    }
  }
  if (uni && w.size() > 1) return false;  // "u" only alone
  return !(bytes && fmt);
}

class Scanner {
 public:
  explicit Scanner(std::string_view code) : s_(code) {}

  std::optional<PythonLayoutIssue> run() {
    size_t i = 0;
    const size_t n = s_.size();
    if (s_.substr(0, 3) == "\xEF\xBB\xBF") i = 3;  // a UTF-8 BOM is not indentation
    bool logical_start = true;
    while (i < n) {
      if (logical_start) {
        logical_start = false;
        // Measure the indentation: columns with tabs to multiples of 8, and (to catch
        // tab/space mixes the way CPython does) with a tab counted as one column.
        int col = 0, alt = 0;
        size_t j = i;
        for (; j < n; ++j) {
          char c = s_[j];
          if (c == ' ') {
            ++col;
            ++alt;
          } else if (c == '\t') {
            col = (col / 8 + 1) * 8;
            ++alt;
          } else if (c == '\f') {
            col = alt = 0;
          } else {
            break;
          }
        }
        if (j >= n) {
          i = j;
          break;
        }
        if (s_[j] == '#' || s_[j] == '\n' || s_[j] == '\r') {  // blank or comment-only line
          i = skip_to_eol(j);
          if (i < n) ++i;  // the '\n'
          logical_start = true;
          continue;
        }
        if (auto issue = indent(j, col, alt)) return issue;
        i = j;
        last_ = 0;
        first_word_.clear();
        logical_begin_ = j;
      }
      const unsigned char c = static_cast<unsigned char>(s_[i]);
      if (c == '#') {
        i = skip_to_eol(i);
      } else if (c == '\\') {
        // Explicit line joining: the next physical line continues this logical line.
        if (i + 1 < n && s_[i + 1] == '\n') {
          i += 2;
        } else if (i + 2 < n && s_[i + 1] == '\r' && s_[i + 2] == '\n') {
          i += 3;
        } else {
          last_ = '\\';
          ++i;
        }
      } else if (c == '\n') {
        ++i;
        if (depth_ == 0) {
          if (last_ == ':') {
            pending_block_ = true;
            header_begin_ = logical_begin_;
            header_word_ = first_word_;
          }
          logical_start = true;
        }
      } else if (c == ' ' || c == '\t' || c == '\f' || c == '\r') {
        ++i;
      } else if (c == '"' || c == '\'') {
        if (auto issue = string(i, i)) return issue;
        i = after_string_;
      } else if (c == '(' || c == '[' || c == '{') {
        ++depth_;
        last_ = static_cast<char>(c);
        ++i;
      } else if (c == ')' || c == ']' || c == '}') {
        if (depth_ > 0) --depth_;
        last_ = static_cast<char>(c);
        ++i;
      } else if (is_ident_start(c)) {
        size_t j = i;
        while (j < n && is_ident_char(static_cast<unsigned char>(s_[j]))) ++j;
        std::string_view word = s_.substr(i, j - i);
        if (j < n && (s_[j] == '"' || s_[j] == '\'') && is_string_prefix(word)) {
          if (auto issue = string(i, j)) return issue;
          i = after_string_;
        } else {
          // The statement's keyword ("if", "def"; after "async", the next word).
          if ((first_word_.empty() && last_ == 0) || (first_word_ == "async" && last_ == 'a')) {
            first_word_ = std::string(word);
          }
          last_ = 'a';
          i = j;
        }
      } else if (c >= '0' && c <= '9') {
        while (i < n && (is_ident_char(static_cast<unsigned char>(s_[i])) || s_[i] == '.')) ++i;
        last_ = '0';
      } else {
        last_ = static_cast<char>(c);
        ++i;
      }
    }
    if (pending_block_) return expected_block(n);
    return std::nullopt;
  }

 private:
  struct Level {
    int col;
    int alt;
  };

  size_t skip_to_eol(size_t i) const {
    while (i < s_.size() && s_[i] != '\n') ++i;
    return i;
  }
  size_t line_end_of(size_t i) const {
    size_t e = skip_to_eol(i);
    if (e > i && s_[e - 1] == '\r') --e;
    return e;
  }
  int line_number(size_t offset) const {
    int line = 1;
    for (size_t k = 0; k < offset && k < s_.size(); ++k) line += s_[k] == '\n';
    return line;
  }

  PythonLayoutIssue issue(size_t at, std::string code, std::string message) const {
    return PythonLayoutIssue{at, line_end_of(at), std::move(code), std::move(message)};
  }

  std::optional<PythonLayoutIssue> expected_block(size_t at) const {
    std::string msg = "expected an indented block after ";
    if (header_word_ == "def") {
      msg += "function definition";
    } else if (header_word_ == "class") {
      msg += "class definition";
    } else if (!header_word_.empty()) {
      msg += "`" + header_word_ + "` statement";
    } else {
      msg += "the statement";
    }
    msg += " on line " + std::to_string(line_number(header_begin_));
    return issue(at, "indentation_error", std::move(msg));
  }

  // At the first token of a logical line whose indentation is (col, alt).
  std::optional<PythonLayoutIssue> indent(size_t at, int col, int alt) {
    const Level top = stack_.back();
    if (pending_block_) {
      pending_block_ = false;
      if (col <= top.col) return expected_block(at);
      if (alt <= top.alt) return tab_error(at);
      stack_.push_back({col, alt});
      return std::nullopt;
    }
    if (col > top.col) return issue(at, "indentation_error", "unexpected indent");
    if (col == top.col) {
      if (alt != top.alt) return tab_error(at);
      return std::nullopt;
    }
    while (stack_.size() > 1 && col < stack_.back().col) stack_.pop_back();
    if (col != stack_.back().col) {
      return issue(at, "indentation_error", "unindent does not match any outer indentation level");
    }
    if (alt != stack_.back().alt) return tab_error(at);
    return std::nullopt;
  }

  std::optional<PythonLayoutIssue> tab_error(size_t at) const {
    return issue(at, "indentation_error", "inconsistent use of tabs and spaces in indentation");
  }

  // A string literal starting at `begin` (its prefix) whose opening quote is at `quote`.
  // Sets after_string_ on success.
  std::optional<PythonLayoutIssue> string(size_t begin, size_t quote) {
    const char q = s_[quote];
    const size_t n = s_.size();
    const bool triple = quote + 2 < n && s_[quote + 1] == q && s_[quote + 2] == q;
    size_t i = quote + (triple ? 3 : 1);
    while (i < n) {
      const char c = s_[i];
      if (c == '\\') {
        // A backslash keeps the next character (even a quote or a newline) inside the literal,
        // raw strings included.
        i += (i + 2 < n && s_[i + 1] == '\r' && s_[i + 2] == '\n') ? 3 : 2;
        continue;
      }
      if (c == q) {
        if (!triple) {
          after_string_ = i + 1;
          last_ = 's';
          return std::nullopt;
        }
        if (i + 2 < n && s_[i + 1] == q && s_[i + 2] == q) {
          after_string_ = i + 3;
          last_ = 's';
          return std::nullopt;
        }
      }
      if (c == '\n' && !triple) break;
      ++i;
    }
    PythonLayoutIssue out;
    out.begin = begin;
    out.code = "syntax_error";
    if (triple) {
      out.end = n;
      out.message = "unterminated triple-quoted string literal";
    } else {
      out.end = line_end_of(begin);
      out.message = "unterminated string literal";
    }
    return out;
  }

  std::string_view s_;
  std::vector<Level> stack_{{0, 0}};
  int depth_ = 0;               // open brackets: lines inside them are not logical lines
  char last_ = 0;               // kind of the last token on the current logical line (':' matters)
  bool pending_block_ = false;  // the last logical line ended with ':'
  size_t logical_begin_ = 0;    // where the current logical line starts
  size_t header_begin_ = 0;     // where the line that ended with ':' starts
  std::string first_word_;      // first word of the current logical line ("if", "def", ...)
  std::string header_word_;
  size_t after_string_ = 0;
};

}  // namespace

std::optional<PythonLayoutIssue> check_python_layout(std::string_view code) {
  return Scanner(code).run();
}

}  // namespace weft::codecheck_detail
