// The evaluator: a recursive walk over the (height-capped) AST. Values read from the context are
// referenced, not copied, until a result has to be materialised; Json copies are cheap anyway
// (shared, copy-on-write). Every node visited costs one step against EvalContext::max_steps and
// every string built is checked against max_string_bytes.
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "host/expr/ast.hpp"
#include "host/expr/expr.hpp"
#include "host/expr/functions.hpp"
#include "host/expr/value.hpp"

namespace weft::expr {

namespace {

// A value that is either borrowed from the context (ref) or owned.
struct Val {
  const Json* ref = nullptr;
  Json own;

  const Json& get() const { return ref ? *ref : own; }
  void set(Json j) {
    ref = nullptr;
    own = std::move(j);
  }
  void borrow(const Json* p) {
    if (p) {
      ref = p;
    } else {
      ref = nullptr;
      own = Json();
    }
  }
  Json take() { return ref ? *ref : std::move(own); }
};

bool all_digits(const std::string& s) {
  if (s.empty() || s.size() > 18) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

class Evaluator {
 public:
  Evaluator(const Expression& e, const EvalContext& ctx) : expr_(e), ctx_(ctx) {}

  bool eval(const Node& n, Val& out) {
    if (++steps_ > ctx_.max_steps) {
      return fail(n, "the expression exceeded its budget of " + std::to_string(ctx_.max_steps) +
                         " evaluation steps");
    }
    switch (n.kind) {
      case NodeKind::Literal: out.borrow(&n.value); return true;
      case NodeKind::Variable: return variable(n, out);
      case NodeKind::NodeRef:
        out.borrow(ctx_.node ? ctx_.node(n.name) : nullptr);
        return true;
      case NodeKind::Member: {
        Val base;
        if (!eval(n.kid(0), base)) return false;
        member(base, n.name, out);
        return true;
      }
      case NodeKind::Index: {
        Val base, key;
        if (!eval(n.kid(0), base) || !eval(n.kid(1), key)) return false;
        index(base, key.get(), out);
        return true;
      }
      case NodeKind::Unary: return unary(n, out);
      case NodeKind::Binary: return binary(n, out);
      case NodeKind::And:
      case NodeKind::Or: {
        // JavaScript semantics: the result is the operand that decided, not a coerced boolean.
        if (!eval(n.kid(0), out)) return false;
        bool t = truthy(out.get());
        if ((n.kind == NodeKind::And) != t) return true;
        return eval(n.kid(1), out);
      }
      case NodeKind::Coalesce:
        if (!eval(n.kid(0), out)) return false;
        if (!out.get().is_null()) return true;
        return eval(n.kid(1), out);
      case NodeKind::Ternary: {
        Val cond;
        if (!eval(n.kid(0), cond)) return false;
        return eval(n.kid(truthy(cond.get()) ? 1 : 2), out);
      }
      case NodeKind::Call: return call(n, out);
      case NodeKind::Array: {
        Json::Array a;
        a.reserve(n.size());
        for (size_t i = 0; i < n.size(); ++i) {
          Val v;
          if (!eval(n.kid(i), v)) return false;
          a.push_back(v.take());
        }
        out.set(Json(std::move(a)));
        return true;
      }
      case NodeKind::Object: {
        // Keys are unique (the parser rejects duplicates), so the members are built directly.
        Json::Object o;
        o.reserve(n.size());
        for (size_t i = 0; i < n.size(); ++i) {
          Val v;
          if (!eval(n.kid(i), v)) return false;
          o.emplace_back(n.keys[i], v.take());
        }
        out.set(Json(std::move(o)));
        return true;
      }
    }
    return fail(n, "internal error: unknown expression node");
  }

  Error error;

 private:
  bool fail(const Node& n, std::string message) {
    const std::string& src = expr_.source();
    size_t byte = n.column > 0 ? n.column - 1 : 0;
    size_t column = utf8_length(std::string_view(src).substr(0, std::min(byte, src.size()))) + 1;
    Json details = Json::object();
    details.set("column", Json(column));
    error = Error("expression_error", message + " (column " + std::to_string(column) + ")",
                  details.dump());
    return false;
  }

  bool variable(const Node& n, Val& out) {
    switch (static_cast<Variable>(n.op)) {
      case Variable::Input: out.borrow(ctx_.input); break;
      case Variable::Json: out.borrow(ctx_.json); break;
      case Variable::Item: out.borrow(ctx_.item); break;
      case Variable::Index:
        if (ctx_.index >= 0) out.set(Json(static_cast<long long>(ctx_.index)));
        else out.set(Json());
        break;
      case Variable::Vars: out.borrow(ctx_.vars); break;
      case Variable::Execution: out.borrow(ctx_.execution); break;
    }
    return true;
  }

  // Missing members are null, never errors: `$json.a.b ?? 'x'` must work on any input.
  static void member(Val& base, const std::string& name, Val& out) {
    const Json& b = base.get();
    if (b.is_object()) {
      const Json* f = b.find(name);
      if (!f) out.set(Json());
      else if (base.ref) out.borrow(f);
      else out.set(*f);
      return;
    }
    if (name == "length" && (b.is_array() || b.is_string())) {
      out.set(Json(b.is_array() ? b.size() : utf8_length(b.as_string())));
      return;
    }
    if (b.is_array() && all_digits(name)) {
      size_t i = std::stoull(name);
      if (i >= b.size()) out.set(Json());
      else if (base.ref) out.borrow(&b.at(i));
      else out.set(b.at(i));
      return;
    }
    out.set(Json());
  }

  // Integer value of an index: ints and integral doubles; nullopt otherwise.
  static bool int_index(const Json& k, int64_t& i) {
    if (k.is_int()) {
      i = k.as_int();
      return true;
    }
    if (k.is_double()) {
      double d = k.as_double();
      if (std::isfinite(d) && d == std::trunc(d) && std::fabs(d) < 9.0e18) {
        i = static_cast<int64_t>(d);
        return true;
      }
    }
    return false;
  }

  static void index(Val& base, const Json& key, Val& out) {
    const Json& b = base.get();
    int64_t i = 0;
    if (b.is_array() && int_index(key, i)) {
      int64_t n = static_cast<int64_t>(b.size());
      if (i < 0) i += n;  // negative indexes count from the end
      if (i < 0 || i >= n) out.set(Json());
      else if (base.ref) out.borrow(&b.at(static_cast<size_t>(i)));
      else out.set(b.at(static_cast<size_t>(i)));
      return;
    }
    if (b.is_object() && (key.is_string() || key.is_int())) {
      std::string k = key.is_string() ? key.as_string() : key.dump();
      member(base, k, out);
      return;
    }
    if (b.is_string() && int_index(key, i)) {
      const std::string& s = b.as_string();
      int64_t n = static_cast<int64_t>(utf8_length(s));
      if (i < 0) i += n;
      if (i < 0 || i >= n) {
        out.set(Json());
      } else {
        size_t from = utf8_offset(s, static_cast<size_t>(i));
        size_t to = utf8_offset(s, static_cast<size_t>(i) + 1);
        out.set(Json(s.substr(from, to - from)));
      }
      return;
    }
    if (key.is_string()) {  // "length" of an array or string via ["length"]
      member(base, key.as_string(), out);
      return;
    }
    out.set(Json());
  }

  bool unary(const Node& n, Val& out) {
    Val v;
    if (!eval(n.kid(0), v)) return false;
    const Json& x = v.get();
    if (static_cast<UnaryOp>(n.op) == UnaryOp::Not) {
      out.set(Json(!truthy(x)));
      return true;
    }
    if (!x.is_number()) return fail(n, std::string("cannot negate ") + x.type_name());
    if (x.is_int()) {
      if (x.as_int() == std::numeric_limits<int64_t>::min()) {
        out.set(Json(-static_cast<double>(x.as_int())));
      } else {
        out.set(Json(static_cast<long long>(-x.as_int())));
      }
    } else {
      out.set(Json(-x.as_double()));
    }
    return true;
  }

  bool number_result(const Node& n, Json r, Val& out) {
    if (r.is_double() && !std::isfinite(r.as_double())) {
      return fail(n, "the result is not a finite number");
    }
    out.set(std::move(r));
    return true;
  }

  bool binary(const Node& n, Val& out) {
    Val lv, rv;
    if (!eval(n.kid(0), lv) || !eval(n.kid(1), rv)) return false;
    const Json& a = lv.get();
    const Json& b = rv.get();
    auto op = static_cast<BinaryOp>(n.op);
    switch (op) {
      case BinaryOp::Eq: out.set(Json(a == b)); return true;
      case BinaryOp::Ne: out.set(Json(a != b)); return true;
      case BinaryOp::Lt:
      case BinaryOp::Le:
      case BinaryOp::Gt:
      case BinaryOp::Ge: {
        int cmp = 0;
        if (a.is_number() && b.is_number()) {
          if (a.is_int() && b.is_int()) {
            cmp = a.as_int() < b.as_int() ? -1 : a.as_int() > b.as_int() ? 1 : 0;
          } else {
            double x = a.as_double(), y = b.as_double();
            cmp = x < y ? -1 : x > y ? 1 : 0;
          }
        } else if (a.is_string() && b.is_string()) {
          int c = a.as_string().compare(b.as_string());
          cmp = c < 0 ? -1 : c > 0 ? 1 : 0;
        } else {
          return fail(n, std::string("cannot compare ") + a.type_name() + " with " +
                             b.type_name() + " (only numbers with numbers, strings with strings)");
        }
        bool r = op == BinaryOp::Lt ? cmp < 0 : op == BinaryOp::Le ? cmp <= 0
                 : op == BinaryOp::Gt ? cmp > 0 : cmp >= 0;
        out.set(Json(r));
        return true;
      }
      case BinaryOp::Add:
        if (a.is_string() || b.is_string()) {
          std::string s;
          if (!append_text(a, s, ctx_.max_string_bytes) ||
              !append_text(b, s, ctx_.max_string_bytes)) {
            return fail(n, "the string is longer than the limit of " +
                               std::to_string(ctx_.max_string_bytes) + " bytes");
          }
          out.set(Json(std::move(s)));
          return true;
        }
        if (!a.is_number() || !b.is_number()) break;
        return number_result(n, add_numbers(a, b), out);
      case BinaryOp::Sub:
        if (!a.is_number() || !b.is_number()) break;
        return number_result(n, sub_numbers(a, b), out);
      case BinaryOp::Mul:
        if (!a.is_number() || !b.is_number()) break;
        return number_result(n, mul_numbers(a, b), out);
      case BinaryOp::Div: {
        if (!a.is_number() || !b.is_number()) break;
        if (b.as_double() == 0) return fail(n, "division by zero");
        if (a.is_int() && b.is_int()) {
          int64_t x = a.as_int(), y = b.as_int();
          // Exact integer quotients stay integers (6 / 2 is 3); others become doubles (7 / 2 is
          // 3.5). INT64_MIN / -1 overflows int64, so it goes through double.
          if (!(x == std::numeric_limits<int64_t>::min() && y == -1) && x % y == 0) {
            out.set(Json(static_cast<long long>(x / y)));
            return true;
          }
        }
        return number_result(n, Json(a.as_double() / b.as_double()), out);
      }
      case BinaryOp::Mod: {
        if (!a.is_number() || !b.is_number()) break;
        if (b.as_double() == 0) return fail(n, "division by zero (in %)");
        if (a.is_int() && b.is_int()) {
          int64_t y = b.as_int();
          out.set(Json(static_cast<long long>(y == -1 ? 0 : a.as_int() % y)));
          return true;
        }
        return number_result(n, Json(std::fmod(a.as_double(), b.as_double())), out);
      }
    }
    static const char* kNames[] = {"*", "/", "%", "+", "-", "<", "<=", ">", ">=", "==", "!="};
    return fail(n, std::string("operator ") + kNames[n.op] + " needs numbers" +
                       (op == BinaryOp::Add ? " or a string" : "") + ", got " + a.type_name() +
                       " and " + b.type_name());
  }

  bool call(const Node& n, Val& out) {
    std::vector<Val> vals(n.size());
    std::vector<const Json*> args(n.size());
    for (size_t i = 0; i < n.size(); ++i) {
      if (!eval(n.kid(i), vals[i])) return false;
      args[i] = &vals[i].get();
    }
    FnCall c{args, ctx_, steps_, Json(), {}};
    if (!n.fn->fn(c)) return fail(n, std::string(n.fn->name) + ": " + c.error);
    if (c.result.is_string() && c.result.as_string().size() > ctx_.max_string_bytes) {
      return fail(n, std::string(n.fn->name) + ": the result is longer than the limit of " +
                         std::to_string(ctx_.max_string_bytes) + " bytes");
    }
    out.set(std::move(c.result));
    return true;
  }

  const Expression& expr_;
  const EvalContext& ctx_;
  size_t steps_ = 0;
};

}  // namespace

Result<Json> evaluate(const Expression& e, const EvalContext& ctx) {
  if (!e.root()) return Error("expression_error", "the expression was not parsed");
  Evaluator ev(e, ctx);
  Val out;
  if (!ev.eval(*e.root(), out)) return std::move(ev.error);
  return out.take();
}

}  // namespace weft::expr
