// Lexer and parser of the expression language: precedence climbing for binary operators,
// recursive descent for the rest. Recursion is capped (kMaxNesting) and so is the height of the
// tree (kMaxTreeHeight), so hostile input gives an "expression_syntax" error, never a stack
// overflow. Errors name the 1-based column (in code points) where the problem was found.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>
#include <unordered_set>

#include "host/expr/ast.hpp"
#include "host/expr/expr.hpp"
#include "host/expr/functions.hpp"
#include "host/expr/value.hpp"

namespace weft::expr {

namespace {

enum class Tok : uint8_t {
  End, Int, Float, String, Ident, Var,
  LParen, RParen, LBracket, RBracket, LBrace, RBrace,
  Dot, Comma, Colon, Question, QQ,
  Plus, Minus, Star, Slash, Percent,
  Lt, Le, Gt, Ge, EqEq, NotEq, AndAnd, OrOr, Bang,
  Error,
};

// Tokens are cheap to move: names are views into the source; only string literals (which may
// contain escapes) own their decoded text.
struct Token {
  Tok kind = Tok::End;
  size_t pos = 0;          // byte offset in the source
  std::string_view text;   // identifier / variable name (without $)
  std::string str;         // decoded string literal
  int64_t int_value = 0;   // Tok::Int
  double float_value = 0;  // Tok::Float
};

bool ident_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool ident_char(char c) { return ident_start(c) || (c >= '0' && c <= '9'); }
bool digit(char c) { return c >= '0' && c <= '9'; }

class Lexer {
 public:
  explicit Lexer(std::string_view src) : src_(src) {}

  // `after_dot`: a member name is expected, so digits form an integer index (`a.0.1` is two
  // steps, not the number 0.1) and keywords are plain names.
  Token next(bool after_dot) {
    skip_space();
    Token t;
    t.pos = pos_;
    if (pos_ >= src_.size()) {
      t.kind = Tok::End;
      return t;
    }
    char c = src_[pos_];
    if (after_dot && digit(c)) {
      size_t start = pos_;
      while (pos_ < src_.size() && digit(src_[pos_])) ++pos_;
      t.kind = Tok::Ident;
      t.text = src_.substr(start, pos_ - start);
      return t;
    }
    if (digit(c)) return number(t);
    if (ident_start(c)) {
      size_t start = pos_;
      while (pos_ < src_.size() && ident_char(src_[pos_])) ++pos_;
      t.kind = Tok::Ident;
      t.text = src_.substr(start, pos_ - start);
      return t;
    }
    if (c == '$') {
      size_t start = ++pos_;
      while (pos_ < src_.size() && ident_char(src_[pos_])) ++pos_;
      if (pos_ == start) return error(t, "'$' must be followed by a variable name such as $json");
      t.kind = Tok::Var;
      t.text = src_.substr(start, pos_ - start);
      return t;
    }
    if (c == '\'' || c == '"') return string(t, c);
    ++pos_;
    auto two = [&](char second) {
      if (pos_ < src_.size() && src_[pos_] == second) {
        ++pos_;
        return true;
      }
      return false;
    };
    switch (c) {
      case '(': t.kind = Tok::LParen; return t;
      case ')': t.kind = Tok::RParen; return t;
      case '[': t.kind = Tok::LBracket; return t;
      case ']': t.kind = Tok::RBracket; return t;
      case '{': t.kind = Tok::LBrace; return t;
      case '}': t.kind = Tok::RBrace; return t;
      case '.': t.kind = Tok::Dot; return t;
      case ',': t.kind = Tok::Comma; return t;
      case ':': t.kind = Tok::Colon; return t;
      case '?': t.kind = two('?') ? Tok::QQ : Tok::Question; return t;
      case '+': t.kind = Tok::Plus; return t;
      case '-': t.kind = Tok::Minus; return t;
      case '*': t.kind = Tok::Star; return t;
      case '/': t.kind = Tok::Slash; return t;
      case '%': t.kind = Tok::Percent; return t;
      case '<': t.kind = two('=') ? Tok::Le : Tok::Lt; return t;
      case '>': t.kind = two('=') ? Tok::Ge : Tok::Gt; return t;
      case '=':
        if (!two('=')) return error(t, "'=' is not an operator (compare with ==)");
        if (pos_ < src_.size() && src_[pos_] == '=')
          return error(t, "'===' is not an operator (== already compares strictly)");
        t.kind = Tok::EqEq;
        return t;
      case '!':
        if (two('=')) {
          if (pos_ < src_.size() && src_[pos_] == '=')
            return error(t, "'!==' is not an operator (use !=)");
          t.kind = Tok::NotEq;
        } else {
          t.kind = Tok::Bang;
        }
        return t;
      case '&':
        if (!two('&')) return error(t, "'&' is not an operator (use &&)");
        t.kind = Tok::AndAnd;
        return t;
      case '|':
        if (!two('|')) return error(t, "'|' is not an operator (use ||)");
        t.kind = Tok::OrOr;
        return t;
      default: break;
    }
    std::string shown;
    if (static_cast<unsigned char>(c) >= 0x20 && static_cast<unsigned char>(c) < 0x7F) {
      shown = std::string("'") + c + "'";
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "0x%02X", static_cast<unsigned char>(c));
      shown = buf;
    }
    return error(t, "unexpected character " + shown);
  }

  const std::string& error_message() const { return error_; }

 private:
  void skip_space() {
    while (pos_ < src_.size()) {
      char c = src_[pos_];
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r') ++pos_;
      else break;
    }
  }

  Token error(Token t, std::string message) {
    t.kind = Tok::Error;
    error_ = std::move(message);
    return t;
  }

  Token number(Token t) {
    size_t start = pos_;
    bool is_float = false;
    while (pos_ < src_.size() && digit(src_[pos_])) ++pos_;
    if (pos_ + 1 < src_.size() && src_[pos_] == '.' && digit(src_[pos_ + 1])) {
      is_float = true;
      ++pos_;
      while (pos_ < src_.size() && digit(src_[pos_])) ++pos_;
    }
    if (pos_ < src_.size() && (src_[pos_] == 'e' || src_[pos_] == 'E')) {
      size_t save = pos_++;
      if (pos_ < src_.size() && (src_[pos_] == '+' || src_[pos_] == '-')) ++pos_;
      if (pos_ < src_.size() && digit(src_[pos_])) {
        is_float = true;
        while (pos_ < src_.size() && digit(src_[pos_])) ++pos_;
      } else {
        pos_ = save;  // "2e" is the number 2 followed by the identifier e
      }
    }
    if (pos_ < src_.size() && ident_char(src_[pos_])) {
      return error(t, "invalid number '" + std::string(src_.substr(start, pos_ - start + 1)) + "'");
    }
    std::string_view text = src_.substr(start, pos_ - start);
    if (!is_float) {
      long long i = 0;
      auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), i);
      if (ec == std::errc() && p == text.data() + text.size()) {
        t.kind = Tok::Int;
        t.int_value = i;
        return t;
      }
      // too big for int64: fall through to a double, like JSON parsers do
    }
    double d = 0;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), d);
    if (ec != std::errc() || !std::isfinite(d)) {
      return error(t, "number '" + std::string(text.substr(0, 40)) + "' is out of range");
    }
    t.kind = Tok::Float;
    t.float_value = d;
    return t;
  }

  bool hex4(uint32_t& out) {
    if (pos_ + 4 > src_.size()) return false;
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      char c = src_[pos_ + i];
      v <<= 4;
      if (c >= '0' && c <= '9') v |= static_cast<uint32_t>(c - '0');
      else if (c >= 'a' && c <= 'f') v |= static_cast<uint32_t>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') v |= static_cast<uint32_t>(c - 'A' + 10);
      else return false;
    }
    pos_ += 4;
    out = v;
    return true;
  }

  Token string(Token t, char quote) {
    ++pos_;
    std::string out;
    while (true) {
      if (pos_ >= src_.size()) return error(t, "unterminated string");
      char c = src_[pos_++];
      if (c == quote) break;
      if (c != '\\') {
        out.push_back(c);
        continue;
      }
      if (pos_ >= src_.size()) return error(t, "unterminated string");
      char e = src_[pos_++];
      switch (e) {
        case 'n': out.push_back('\n'); break;
        case 't': out.push_back('\t'); break;
        case 'r': out.push_back('\r'); break;
        case 'b': out.push_back('\b'); break;
        case 'f': out.push_back('\f'); break;
        case 'v': out.push_back('\v'); break;
        case '0': out.push_back('\0'); break;
        case '\\': out.push_back('\\'); break;
        case '\'': out.push_back('\''); break;
        case '"': out.push_back('"'); break;
        case '/': out.push_back('/'); break;
        case 'u': {
          uint32_t cp = 0;
          if (!hex4(cp)) return error(t, "\\u must be followed by 4 hex digits");
          if (cp >= 0xDC00 && cp <= 0xDFFF) return error(t, "unpaired surrogate in \\u escape");
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            uint32_t lo = 0;
            if (pos_ + 2 > src_.size() || src_[pos_] != '\\' || src_[pos_ + 1] != 'u')
              return error(t, "unpaired surrogate in \\u escape");
            pos_ += 2;
            if (!hex4(lo) || lo < 0xDC00 || lo > 0xDFFF)
              return error(t, "unpaired surrogate in \\u escape");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          }
          append_utf8(out, cp);
          break;
        }
        default:
          return error(t, std::string("unknown escape '\\") +
                              (static_cast<unsigned char>(e) >= 0x20 ? std::string(1, e) : "?") +
                              "' in string");
      }
    }
    t.kind = Tok::String;
    t.str = std::move(out);
    return t;
  }

  std::string_view src_;
  size_t pos_ = 0;
  std::string error_;
};

// Binary operator precedence (higher binds tighter); -1 when not a binary operator.
int precedence(Tok t) {
  switch (t) {
    case Tok::QQ: return 1;
    case Tok::OrOr: return 2;
    case Tok::AndAnd: return 3;
    case Tok::EqEq:
    case Tok::NotEq: return 4;
    case Tok::Lt:
    case Tok::Le:
    case Tok::Gt:
    case Tok::Ge: return 5;
    case Tok::Plus:
    case Tok::Minus: return 6;
    case Tok::Star:
    case Tok::Slash:
    case Tok::Percent: return 7;
    default: return -1;
  }
}

using NodePtr = Node*;  // owned by the expression's NodeArena

class Parser {
 public:
  Parser(std::string_view src, std::set<std::string>& nodes, bool& uses_input, NodeArena& arena)
      : src_(src), lex_(src), nodes_(nodes), uses_input_(uses_input), arena_(arena) {}

  NodePtr parse() {
    if (!advance()) return nullptr;
    if (tok_.kind == Tok::End) {
      fail_at(tok_.pos, "empty expression");
      return nullptr;
    }
    NodePtr root = parse_ternary();
    if (!root) return nullptr;
    if (tok_.kind != Tok::End) {
      fail_at(tok_.pos, "unexpected " + describe(tok_) + " after the expression");
      return nullptr;
    }
    return root;
  }

  const std::string& message() const { return message_; }
  size_t column() const { return column_; }

 private:
  // Recursion guard. Every nested construct (parentheses, brackets, calls, literals, ?:) descends
  // through parse_ternary and chains of unary operators through parse_unary: both count here.
  struct Depth {
    Parser& p;
    explicit Depth(Parser& parser) : p(parser) { ++p.depth_; }
    ~Depth() { --p.depth_; }
    bool ok() const {
      if (p.depth_ <= kMaxNesting) return true;
      p.fail_at(p.tok_.pos, "expression nested more than " + std::to_string(kMaxNesting) +
                                " levels deep");
      return false;
    }
  };

  bool advance(bool after_dot = false) {
    tok_ = lex_.next(after_dot);
    if (tok_.kind == Tok::Error) {
      fail_at(tok_.pos, lex_.error_message());
      return false;
    }
    return true;
  }

  void fail_at(size_t pos, std::string message) {
    if (failed_) return;  // keep the first (most relevant) error
    failed_ = true;
    column_ = utf8_length(src_.substr(0, std::min(pos, src_.size()))) + 1;
    message_ = std::move(message);
  }

  bool expect(Tok kind, const char* what) {
    if (tok_.kind != kind) {
      fail_at(tok_.pos, std::string("expected ") + what + " but found " + describe(tok_));
      return false;
    }
    return advance();
  }

  static std::string describe(const Token& t) {
    switch (t.kind) {
      case Tok::End: return "end of the expression";
      case Tok::Int: return "number " + std::to_string(t.int_value);
      case Tok::Float: return "number " + Json(t.float_value).dump();
      case Tok::String: return "a string";
      case Tok::Ident: return "'" + std::string(t.text) + "'";
      case Tok::Var: return "'$" + std::string(t.text) + "'";
      case Tok::LParen: return "'('";
      case Tok::RParen: return "')'";
      case Tok::LBracket: return "'['";
      case Tok::RBracket: return "']'";
      case Tok::LBrace: return "'{'";
      case Tok::RBrace: return "'}'";
      case Tok::Dot: return "'.'";
      case Tok::Comma: return "','";
      case Tok::Colon: return "':'";
      case Tok::Question: return "'?'";
      case Tok::QQ: return "'?\?'";
      case Tok::Plus: return "'+'";
      case Tok::Minus: return "'-'";
      case Tok::Star: return "'*'";
      case Tok::Slash: return "'/'";
      case Tok::Percent: return "'%'";
      case Tok::Lt: return "'<'";
      case Tok::Le: return "'<='";
      case Tok::Gt: return "'>'";
      case Tok::Ge: return "'>='";
      case Tok::EqEq: return "'=='";
      case Tok::NotEq: return "'!='";
      case Tok::AndAnd: return "'&&'";
      case Tok::OrOr: return "'||'";
      case Tok::Bang: return "'!'";
      case Tok::Error: return "an invalid token";
    }
    return "a token";
  }

  NodePtr make(NodeKind kind, size_t pos) {
    Node* n = arena_.make();
    n->kind = kind;
    n->column = static_cast<uint32_t>(pos + 1);  // byte column; refined only for errors
    return n;
  }

  // Attaches children and enforces the height cap.
  NodePtr finish(NodePtr n) {
    uint32_t h = 0;
    for (size_t i = 0; i < n->size(); ++i) h = std::max(h, n->kid(i).height);
    n->height = h + 1;
    if (n->height > kMaxTreeHeight) {
      fail_at(n->column - 1, "expression too complex (more than " +
                                 std::to_string(kMaxTreeHeight) + " nested operations)");
      return nullptr;
    }
    return n;
  }

  NodePtr parse_ternary() {
    Depth guard(*this);
    if (!guard.ok()) return nullptr;
    NodePtr cond = parse_binary(1);
    if (!cond || tok_.kind != Tok::Question) return cond;
    size_t pos = tok_.pos;
    if (!advance()) return nullptr;
    NodePtr yes = parse_ternary();
    if (!yes || !expect(Tok::Colon, "':' of the ?: operator")) return nullptr;
    NodePtr no = parse_ternary();
    if (!no) return nullptr;
    NodePtr n = make(NodeKind::Ternary, pos);
    n->add(cond);
    n->add(yes);
    n->add(no);
    return finish(std::move(n));
  }

  // Precedence climbing: left-associative operators loop; only the right operand recurses, and
  // at most once per precedence level, so depth stays bounded by the number of levels.
  NodePtr parse_binary(int min_prec) {
    NodePtr left = parse_unary();
    while (left) {
      int prec = precedence(tok_.kind);
      if (prec < 0 || prec < min_prec) break;
      Tok op = tok_.kind;
      size_t pos = tok_.pos;
      if (!advance()) return nullptr;
      NodePtr right = parse_binary(prec + 1);
      if (!right) return nullptr;
      NodePtr n;
      switch (op) {
        case Tok::QQ: n = make(NodeKind::Coalesce, pos); break;
        case Tok::OrOr: n = make(NodeKind::Or, pos); break;
        case Tok::AndAnd: n = make(NodeKind::And, pos); break;
        default: {
          n = make(NodeKind::Binary, pos);
          BinaryOp b = BinaryOp::Add;
          switch (op) {
            case Tok::Star: b = BinaryOp::Mul; break;
            case Tok::Slash: b = BinaryOp::Div; break;
            case Tok::Percent: b = BinaryOp::Mod; break;
            case Tok::Plus: b = BinaryOp::Add; break;
            case Tok::Minus: b = BinaryOp::Sub; break;
            case Tok::Lt: b = BinaryOp::Lt; break;
            case Tok::Le: b = BinaryOp::Le; break;
            case Tok::Gt: b = BinaryOp::Gt; break;
            case Tok::Ge: b = BinaryOp::Ge; break;
            case Tok::EqEq: b = BinaryOp::Eq; break;
            case Tok::NotEq: b = BinaryOp::Ne; break;
            default: break;
          }
          n->op = static_cast<uint8_t>(b);
        }
      }
      n->add(left);
      n->add(right);
      left = finish(std::move(n));
    }
    return left;
  }

  NodePtr parse_unary() {
    if (tok_.kind != Tok::Minus && tok_.kind != Tok::Bang) return parse_postfix();
    Depth guard(*this);
    if (!guard.ok()) return nullptr;
    bool neg = tok_.kind == Tok::Minus;
    size_t pos = tok_.pos;
    if (!advance()) return nullptr;
    NodePtr operand = parse_unary();
    if (!operand) return nullptr;
    // Fold "-<number literal>" so that negative constants are literals (and -9223372036854775808
    // stays an integer).
    if (neg && operand->kind == NodeKind::Literal && operand->value.is_number()) {
      const Json& v = operand->value;
      if (v.is_int() && v.as_int() != std::numeric_limits<int64_t>::min()) {
        operand->value = Json(static_cast<long long>(-v.as_int()));
      } else if (v.is_double() && v.as_double() == 9223372036854775808.0) {
        operand->value = Json(static_cast<long long>(std::numeric_limits<int64_t>::min()));
      } else {
        operand->value = Json(-v.as_double());
      }
      operand->column = static_cast<uint32_t>(pos + 1);
      return operand;
    }
    NodePtr n = make(NodeKind::Unary, pos);
    n->op = static_cast<uint8_t>(neg ? UnaryOp::Neg : UnaryOp::Not);
    n->add(operand);
    return finish(std::move(n));
  }

  NodePtr parse_postfix() {
    NodePtr base = parse_primary();
    while (base) {
      if (tok_.kind == Tok::Dot) {
        size_t pos = tok_.pos;
        if (!advance(/*after_dot=*/true)) return nullptr;
        if (tok_.kind != Tok::Ident) {
          fail_at(tok_.pos, "expected a name after '.' but found " + describe(tok_));
          return nullptr;
        }
        NodePtr n = make(NodeKind::Member, pos);
        n->name = std::string(tok_.text);
        n->add(base);
        if (!advance()) return nullptr;
        base = finish(std::move(n));
      } else if (tok_.kind == Tok::LBracket) {
        size_t pos = tok_.pos;
        if (!advance()) return nullptr;
        NodePtr index = parse_ternary();
        if (!index || !expect(Tok::RBracket, "']'")) return nullptr;
        NodePtr n = make(NodeKind::Index, pos);
        n->add(base);
        n->add(index);
        base = finish(std::move(n));
      } else if (tok_.kind == Tok::LParen) {
        fail_at(tok_.pos, "only built-in functions can be called");
        return nullptr;
      } else {
        break;
      }
    }
    return base;
  }

  NodePtr literal(Json v, size_t pos) {
    NodePtr n = make(NodeKind::Literal, pos);
    n->value = std::move(v);
    return n;
  }

  NodePtr parse_primary() {
    size_t pos = tok_.pos;
    switch (tok_.kind) {
      case Tok::Int:
      case Tok::Float: {
        NodePtr n = literal(tok_.kind == Tok::Int ? Json(static_cast<long long>(tok_.int_value))
                                                  : Json(tok_.float_value),
                            pos);
        return advance() ? std::move(n) : nullptr;
      }
      case Tok::String: {
        NodePtr n = literal(Json(std::move(tok_.str)), pos);
        return advance() ? std::move(n) : nullptr;
      }
      case Tok::Ident: return parse_identifier();
      case Tok::Var: return parse_variable();
      case Tok::LParen: {
        if (!advance()) return nullptr;
        NodePtr inner = parse_ternary();
        if (!inner || !expect(Tok::RParen, "')'")) return nullptr;
        return inner;
      }
      case Tok::LBracket: return parse_array();
      case Tok::LBrace: return parse_object();
      default:
        fail_at(pos, "unexpected " + describe(tok_));
        return nullptr;
    }
  }

  NodePtr parse_identifier() {
    size_t pos = tok_.pos;
    std::string name(tok_.text);
    if (!advance()) return nullptr;
    if (tok_.kind != Tok::LParen) {
      if (name == "true") return literal(Json(true), pos);
      if (name == "false") return literal(Json(false), pos);
      if (name == "null") return literal(Json(), pos);
      fail_at(pos, "unknown name '" + name +
                       "' (variables start with $, for example $json." + name + ")");
      return nullptr;
    }
    const Builtin* fn = find_builtin(name);
    if (!fn) {
      fail_at(pos, "unknown function '" + name + "'");
      return nullptr;
    }
    if (!advance()) return nullptr;
    NodePtr n = make(NodeKind::Call, pos);
    n->name = name;
    n->fn = fn;
    while (tok_.kind != Tok::RParen) {
      NodePtr arg = parse_ternary();
      if (!arg) return nullptr;
      n->add(arg);
      if (tok_.kind == Tok::Comma) {
        if (!advance()) return nullptr;
      } else if (tok_.kind != Tok::RParen) {
        fail_at(tok_.pos, "expected ',' or ')' in the call of " + name + " but found " +
                              describe(tok_));
        return nullptr;
      }
    }
    if (!advance()) return nullptr;
    size_t argc = n->size();
    if (argc < fn->min_args || (fn->max_args != kVariadic && argc > fn->max_args)) {
      fail_at(pos, std::string(fn->name) + " takes " + arity(*fn) + " (" + fn->signature +
                       "), got " + std::to_string(argc));
      return nullptr;
    }
    return finish(std::move(n));
  }

  static std::string arity(const Builtin& b) {
    auto args = [](size_t n) { return std::to_string(n) + (n == 1 ? " argument" : " arguments"); };
    if (b.max_args == kVariadic) return "at least " + args(b.min_args);
    if (b.min_args == b.max_args) return args(b.min_args);
    return std::to_string(b.min_args) + " to " + args(b.max_args);
  }

  NodePtr parse_variable() {
    size_t pos = tok_.pos;
    std::string_view name = tok_.text;
    static const std::pair<const char*, Variable> kVars[] = {
        {"input", Variable::Input}, {"json", Variable::Json},   {"item", Variable::Item},
        {"index", Variable::Index}, {"vars", Variable::Vars},   {"execution", Variable::Execution},
    };
    for (const auto& [n, v] : kVars) {
      if (name == n) {
        if (v == Variable::Input) uses_input_ = true;
        NodePtr node = make(NodeKind::Variable, pos);
        node->op = static_cast<uint8_t>(v);
        return advance() ? std::move(node) : nullptr;
      }
    }
    if (name != "node") {
      fail_at(pos, "unknown variable '$" + std::string(name) +
                       "' (known: $input, $json, $item, $index, $vars, $execution, $node)");
      return nullptr;
    }
    // $node.<id> or $node["<id>"]: the id must be written literally so the compiler can check it.
    if (!advance()) return nullptr;
    std::string id;
    if (tok_.kind == Tok::Dot) {
      if (!advance(/*after_dot=*/true)) return nullptr;
      if (tok_.kind != Tok::Ident) {
        fail_at(tok_.pos, "expected a node id after '$node.' but found " + describe(tok_));
        return nullptr;
      }
      id = std::string(tok_.text);
      if (!advance()) return nullptr;
    } else if (tok_.kind == Tok::LBracket) {
      if (!advance()) return nullptr;
      if (tok_.kind != Tok::String) {
        fail_at(tok_.pos, "$node[...] needs a quoted node id, for example $node[\"my-node\"]");
        return nullptr;
      }
      id = std::move(tok_.str);
      if (!advance() || !expect(Tok::RBracket, "']'")) return nullptr;
    } else {
      fail_at(tok_.pos, "$node must be followed by .<id> or [\"<id>\"]");
      return nullptr;
    }
    if (id.empty()) {
      fail_at(pos, "empty node id after $node");
      return nullptr;
    }
    nodes_.insert(id);
    NodePtr node = make(NodeKind::NodeRef, pos);
    node->name = std::move(id);
    return node;
  }

  NodePtr parse_array() {
    NodePtr n = make(NodeKind::Array, tok_.pos);
    if (!advance()) return nullptr;
    while (tok_.kind != Tok::RBracket) {
      NodePtr e = parse_ternary();
      if (!e) return nullptr;
      n->add(e);
      if (tok_.kind == Tok::Comma) {
        if (!advance()) return nullptr;
      } else if (tok_.kind != Tok::RBracket) {
        fail_at(tok_.pos, "expected ',' or ']' in the array but found " + describe(tok_));
        return nullptr;
      }
    }
    if (!advance()) return nullptr;
    return finish(std::move(n));
  }

  NodePtr parse_object() {
    NodePtr n = make(NodeKind::Object, tok_.pos);
    if (!advance()) return nullptr;
    std::unordered_set<std::string> seen;
    while (tok_.kind != Tok::RBrace) {
      std::string key;
      size_t key_pos = tok_.pos;
      if (tok_.kind == Tok::Ident) {
        key = std::string(tok_.text);
      } else if (tok_.kind == Tok::String) {
        key = std::move(tok_.str);
      } else if (tok_.kind == Tok::Int) {
        key = std::to_string(tok_.int_value);
      } else {
        fail_at(tok_.pos, "expected an object key but found " + describe(tok_));
        return nullptr;
      }
      if (!seen.insert(key).second) {
        fail_at(key_pos, "duplicate key \"" + key.substr(0, 64) + "\" in the object");
        return nullptr;
      }
      if (!advance() || !expect(Tok::Colon, "':' after the object key")) return nullptr;
      NodePtr v = parse_ternary();
      if (!v) return nullptr;
      n->keys.push_back(std::move(key));
      n->add(v);
      if (tok_.kind == Tok::Comma) {
        if (!advance()) return nullptr;
      } else if (tok_.kind != Tok::RBrace) {
        fail_at(tok_.pos, "expected ',' or '}' in the object but found " + describe(tok_));
        return nullptr;
      }
    }
    if (!advance()) return nullptr;
    return finish(std::move(n));
  }

  std::string_view src_;
  Lexer lex_;
  Token tok_;
  std::set<std::string>& nodes_;
  bool& uses_input_;
  NodeArena& arena_;
  size_t depth_ = 0;
  bool failed_ = false;
  std::string message_;
  size_t column_ = 0;
};

}  // namespace

Result<Expression> Expression::parse(std::string_view source) {
  Expression e;
  e.source_ = std::string(source);
  auto arena = std::make_shared<NodeArena>();
  Parser p(e.source_, e.nodes_, e.uses_input_, *arena);
  NodePtr root = p.parse();
  if (!root) {
    Json details = Json::object();
    details.set("column", Json(p.column()));
    return Error("expression_syntax", p.message() + " (column " + std::to_string(p.column()) + ")",
                 details.dump());
  }
  e.root_ = std::shared_ptr<const Node>(std::move(arena), root);  // shares the arena
  return e;
}

}  // namespace weft::expr
