// The expression language: parsing, every operator and built-in, error cases and caps.
#include "host/expr/expr.hpp"

#include <gtest/gtest.h>

#include <string>

#include "host/expr/functions.hpp"

using weft::Json;
using namespace weft::expr;

namespace {

Json J(std::string_view text) {
  auto r = Json::parse(text);
  EXPECT_TRUE(r.ok()) << text << ": " << r.error().message;
  return r.ok() ? *r : Json();
}

// A context with a little of everything.
struct Fixture {
  Json input = J(R"({"email": "ada@example.com", "n": 3})");
  Json json = J(R"({"a": {"b": 1, "c": null}, "name": "Ada", "items": [1, 2, 3],
                    "s": "h\u00e9llo", "matrix": [[1, 2], [3, 4]], "big": 9223372036854775807,
                    "words": ["x", "y"], "zero": 0, "f": 2.5, "t": true,
                    "dash-key": "d", "length": "key"})");
  Json item = J(R"({"sku": "A1"})");
  Json vars = J(R"({"env": "prod", "limit": 10})");
  Json execution = J(R"({"id": "ex1", "workflow_id": "wf1"})");
  Json fetch = J(R"({"output": {"body": {"id": 42}}, "outputs": {"main": {"body": {"id": 42}}}})");
  Json dashed = J(R"({"output": "dashed!"})");
  EvalContext ctx;
  Fixture() {
    ctx.input = &input;
    ctx.json = &json;
    ctx.item = &item;
    ctx.index = 4;
    ctx.vars = &vars;
    ctx.execution = &execution;
    ctx.node = [this](std::string_view id) -> const Json* {
      if (id == "fetch") return &fetch;
      if (id == "my node-1") return &dashed;
      return nullptr;
    };
    ctx.now_ms = 1700000000000;  // 2023-11-14T22:13:20Z
  }
};

Json eval(std::string_view src) {
  static Fixture f;
  auto e = Expression::parse(src);
  EXPECT_TRUE(e.ok()) << src << ": " << e.error().message;
  if (!e.ok()) return Json("<parse error>");
  auto r = evaluate(*e, f.ctx);
  EXPECT_TRUE(r.ok()) << src << ": " << r.error().message;
  return r.ok() ? *r : Json("<eval error>");
}

// The message of the evaluation error (the expression must parse).
std::string eval_error(std::string_view src, const EvalContext* ctx = nullptr) {
  static Fixture f;
  auto e = Expression::parse(src);
  EXPECT_TRUE(e.ok()) << src << ": " << e.error().message;
  if (!e.ok()) return "<parse error>";
  auto r = evaluate(*e, ctx ? *ctx : f.ctx);
  EXPECT_FALSE(r.ok()) << src << " unexpectedly gave " << r->dump();
  if (r.ok()) return "<no error>";
  EXPECT_EQ(r.error().code, "expression_error");
  return r.error().message;
}

std::string parse_error(std::string_view src) {
  auto e = Expression::parse(src);
  EXPECT_FALSE(e.ok()) << src << " unexpectedly parsed";
  if (e.ok()) return "<parsed>";
  EXPECT_EQ(e.error().code, "expression_syntax");
  return e.error().message;
}

#define EXPECT_EVAL(src, json_text) EXPECT_EQ(eval(src).dump(), Json::parse(json_text)->dump()) << (src)
#define EXPECT_EVAL_JSON(src, json_text) EXPECT_EQ(eval(src).dump(), std::string(json_text)) << (src)
#define EXPECT_HAS(haystack, needle) \
  EXPECT_NE(std::string(haystack).find(needle), std::string::npos) << (haystack)

}  // namespace

// ---- literals and paths --------------------------------------------------------------------

TEST(ExprLiterals, NumbersStringsAndKeywords) {
  EXPECT_EVAL("42", "42");
  EXPECT_TRUE(eval("42").is_int());
  EXPECT_EVAL("2.5", "2.5");
  EXPECT_TRUE(eval("1e3").is_double());
  EXPECT_EVAL("1e3", "1000.0");
  EXPECT_EVAL("-7", "-7");
  EXPECT_EVAL("-9223372036854775808", "-9223372036854775808");
  EXPECT_TRUE(eval("-9223372036854775808").is_int());
  EXPECT_TRUE(eval("99999999999999999999").is_double());  // too big for int64: a double
  EXPECT_EVAL("'single'", R"("single")");
  EXPECT_EVAL("\"double\"", R"("double")");
  EXPECT_EVAL(R"('a\'b\"c\\d\n\t\u00e9\ud83d\ude00')", "\"a'b\\\"c\\\\d\\n\\t\u00e9\U0001F600\"");
  EXPECT_EVAL("true", "true");
  EXPECT_EVAL("false", "false");
  EXPECT_EVAL("null", "null");
}

TEST(ExprLiterals, ArraysAndObjects) {
  EXPECT_EVAL("[1, 'two', [3], {a: 4}]", R"([1,"two",[3],{"a":4}])");
  EXPECT_EVAL("[]", "[]");
  EXPECT_EVAL("[1, 2, ]", "[1,2]");
  EXPECT_EVAL("{}", "{}");
  EXPECT_EVAL("{a: 1, 'b c': 2, \"d\": $json.name, 3: true}", R"({"a":1,"b c":2,"d":"Ada","3":true})");
  EXPECT_EVAL("{a: {b: {c: 1}}}.a.b.c", "1");
}

TEST(ExprPaths, Variables) {
  EXPECT_EVAL("$input.email", R"("ada@example.com")");
  EXPECT_EVAL("$json.a.b", "1");
  EXPECT_EVAL("$json", Fixture().json.dump());
  EXPECT_EVAL("$item.sku", R"("A1")");
  EXPECT_EVAL("$index", "4");
  EXPECT_EVAL("$vars.env", R"("prod")");
  EXPECT_EVAL("$execution.id", R"("ex1")");
  EXPECT_EVAL("$node.fetch.output.body.id", "42");
  EXPECT_EVAL("$node[\"fetch\"].outputs.main.body.id", "42");
  EXPECT_EVAL("$node[\"my node-1\"].output", R"("dashed!")");
}

TEST(ExprPaths, MissingPathsAreNull) {
  EXPECT_EVAL("$json.nope", "null");
  EXPECT_EVAL("$json.a.b.c.d", "null");
  EXPECT_EVAL("$json.a.c", "null");
  EXPECT_EVAL("$json.a.nope ?? 'x'", R"("x")");
  EXPECT_EVAL("$node.unknown.output.x", "null");
  EXPECT_EVAL("$json.items[10]", "null");
  EXPECT_EVAL("$json.name.first", "null");
  EXPECT_EVAL("$json.items['x']", "null");
  EXPECT_EVAL("$json.a[0]", "null");
  EXPECT_EVAL("null.x", "null");

  // An empty context: every variable is null.
  EvalContext empty;
  for (const char* src : {"$input", "$json.x", "$item", "$index", "$vars.a", "$execution", "$node.a"}) {
    auto e = Expression::parse(src);
    ASSERT_TRUE(e.ok());
    auto r = evaluate(*e, empty);
    ASSERT_TRUE(r.ok()) << src;
    EXPECT_TRUE(r->is_null()) << src;
  }
}

TEST(ExprPaths, IndexingAndMembers) {
  EXPECT_EVAL("$json.items[0]", "1");
  EXPECT_EVAL("$json.items[-1]", "3");
  EXPECT_EVAL("$json.items[1.0]", "2");
  EXPECT_EVAL("$json.items[1.5]", "null");
  EXPECT_EVAL("$json.items.1", "2");
  EXPECT_EVAL("$json.matrix.1.0", "3");  // two steps, not the number 1.0
  EXPECT_EVAL("$json.matrix[1][1]", "4");
  EXPECT_EVAL("$json['dash-key']", R"("d")");
  EXPECT_EVAL("$json[\"a\"][\"b\"]", "1");
  EXPECT_EVAL("$json[$vars.env == 'prod' ? 'name' : 'a']", R"("Ada")");
  EXPECT_EVAL("$json.s[1]", R"("é")");  // strings index by code point
  EXPECT_EVAL("$json.s[-1]", R"("o")");
  EXPECT_EVAL("$json.items.length", "3");
  EXPECT_EVAL("$json.s.length", "5");
  EXPECT_EVAL("$json.length", R"("key")");  // on objects, "length" is just a key
  EXPECT_EVAL("{x: [10, 20]}.x[1]", "20");
  EXPECT_EVAL("[[1, 2], [3]][0][1]", "2");
  EXPECT_EVAL("{'1': 'one'}[1]", R"("one")");
  EXPECT_EVAL("$json.true", "null");  // keywords are plain names after '.'
}

TEST(ExprParse, ReferencedNodesAndInputUse) {
  auto e = Expression::parse("$node.a.output + $node[\"b-c\"].output + $json.x");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->referenced_nodes(), (std::set<std::string>{"a", "b-c"}));
  EXPECT_FALSE(e->uses_input());
  auto f = Expression::parse("$input.x");
  ASSERT_TRUE(f.ok());
  EXPECT_TRUE(f->uses_input());
  EXPECT_TRUE(f->referenced_nodes().empty());
  EXPECT_EQ(f->source(), "$input.x");
}

// ---- operators -----------------------------------------------------------------------------

TEST(ExprOperators, Arithmetic) {
  EXPECT_EVAL("1 + 2", "3");
  EXPECT_TRUE(eval("1 + 2").is_int());
  EXPECT_EVAL("1 + 2.5", "3.5");
  EXPECT_EVAL("5 - 7", "-2");
  EXPECT_EVAL("3 * 4", "12");
  EXPECT_EVAL("6 / 2", "3");
  EXPECT_TRUE(eval("6 / 2").is_int());
  EXPECT_EVAL("7 / 2", "3.5");
  EXPECT_EVAL("7 % 3", "1");
  EXPECT_EVAL("-7 % 3", "-1");
  EXPECT_EVAL("7.5 % 2", "1.5");
  EXPECT_EVAL("2 + 3 * 4", "14");
  EXPECT_EVAL("(2 + 3) * 4", "20");
  EXPECT_EVAL("10 - 4 - 3", "3");  // left associative
  EXPECT_EVAL("100 / 10 / 5", "2");
  EXPECT_EVAL("-$json.a.b", "-1");
  EXPECT_EVAL("- -3", "3");
  EXPECT_EVAL("-$json.f", "-2.5");
  // int overflow falls back to double
  EXPECT_TRUE(eval("$json.big + 1").is_double());
  EXPECT_TRUE(eval("$json.big * 2").is_double());
  EXPECT_TRUE(eval("-$json.big - 2").is_double());
  EXPECT_TRUE(eval("-(-9223372036854775808)").is_double());
  EXPECT_EVAL("-9223372036854775808 / -1", "9.223372036854776e18");
  EXPECT_EVAL("-9223372036854775808 % -1", "0");
}

TEST(ExprOperators, StringConcatenation) {
  EXPECT_EVAL("'a' + 'b'", R"("ab")");
  EXPECT_EVAL("'n=' + 1", R"("n=1")");
  EXPECT_EVAL("1 + 'x'", R"("1x")");
  EXPECT_EVAL("'v: ' + null", R"("v: null")");
  EXPECT_EVAL("'v: ' + [1, 'a']", R"("v: [1,\"a\"]")");
  EXPECT_EVAL("'v: ' + {a: true}", R"("v: {\"a\":true}")");
  EXPECT_EVAL("'Hi ' + $json.name + '!'", R"("Hi Ada!")");
}

TEST(ExprOperators, ArithmeticErrors) {
  EXPECT_HAS(eval_error("1 / 0"), "division by zero");
  EXPECT_HAS(eval_error("1 / 0.0"), "division by zero");
  EXPECT_HAS(eval_error("1 % 0"), "division by zero");
  EXPECT_HAS(eval_error("1 + true"), "operator + needs numbers or a string, got number and boolean");
  EXPECT_HAS(eval_error("null - 1"), "operator - needs numbers");
  EXPECT_HAS(eval_error("[1] * 2"), "operator *");
  EXPECT_HAS(eval_error("-'x'"), "cannot negate string");
  EXPECT_HAS(eval_error("1e308 * 10"), "not a finite number");
  EXPECT_HAS(eval_error("1 / 0"), "(column 3)");
}

TEST(ExprOperators, Comparison) {
  EXPECT_EVAL("1 < 2", "true");
  EXPECT_EVAL("2 <= 2", "true");
  EXPECT_EVAL("3 > 2.5", "true");
  EXPECT_EVAL("2 >= 3", "false");
  EXPECT_EVAL("'a' < 'b'", "true");
  EXPECT_EVAL("'b' >= 'a'", "true");
  EXPECT_EVAL("'abc' < 'abd'", "true");
  EXPECT_EVAL("9223372036854775806 < 9223372036854775807", "true");  // exact for large ints
  EXPECT_HAS(eval_error("1 < 'a'"), "cannot compare number with string");
  EXPECT_HAS(eval_error("$json.missing > 5"), "cannot compare null with number");
  EXPECT_HAS(eval_error("[1] < [2]"), "cannot compare array with array");
}

TEST(ExprOperators, Equality) {
  EXPECT_EVAL("1 == 1.0", "true");
  EXPECT_EVAL("1 != 1.0", "false");
  EXPECT_EVAL("'1' == 1", "false");
  EXPECT_EVAL("null == $json.missing", "true");
  EXPECT_EVAL("[1, {a: [2]}] == [1.0, {a: [2]}]", "true");
  EXPECT_EVAL("{a: 1, b: 2} == {b: 2, a: 1}", "true");
  EXPECT_EVAL("{a: 1} == {a: 1, b: 2}", "false");
  EXPECT_EVAL("$json.items == [1, 2, 3]", "true");
  EXPECT_EVAL("true == 1", "false");
  EXPECT_EVAL("1 + 1 == 2 && 'a' != 'b'", "true");  // == binds looser than +
}

TEST(ExprOperators, LogicShortCircuitsAndReturnsOperands) {
  EXPECT_EVAL("true && false", "false");
  EXPECT_EVAL("true || false", "true");
  EXPECT_EVAL("!true", "false");
  EXPECT_EVAL("!0", "true");
  EXPECT_EVAL("!''", "true");
  EXPECT_EVAL("![]", "false");  // arrays and objects are truthy
  EXPECT_EVAL("!!$json.name", "true");
  EXPECT_EVAL("$json.missing || 'fallback'", R"("fallback")");
  EXPECT_EVAL("$json.name && $json.a.b", "1");
  EXPECT_EVAL("0 || ''", R"("")");
  // The right side is not evaluated when the left side decides: no division error.
  EXPECT_EVAL("false && 1 / 0", "false");
  EXPECT_EVAL("true || 1 / 0", "true");
  EXPECT_EVAL("1 ?? 1 / 0", "1");
  EXPECT_EVAL("true ? 1 : 1 / 0", "1");
  EXPECT_EVAL("true || false && false", "true");  // && binds tighter than ||
}

TEST(ExprOperators, TernaryAndCoalesce) {
  EXPECT_EVAL("$json.t ? 'yes' : 'no'", R"("yes")");
  EXPECT_EVAL("$json.zero ? 'yes' : 'no'", R"("no")");
  EXPECT_EVAL("1 > 2 ? 'a' : 2 > 1 ? 'b' : 'c'", R"("b")");  // right associative
  EXPECT_EVAL("$json.a.c ?? 'x'", R"("x")");
  EXPECT_EVAL("$json.zero ?? 'x'", "0");  // only null is replaced
  EXPECT_EVAL("$json.nope ?? $json.nada ?? 3", "3");
  EXPECT_EVAL("$json.nope ?? 1 + 1", "2");
  EXPECT_EVAL("($json.nope ?? false) ? 1 : 2", "2");
}

// ---- syntax errors -------------------------------------------------------------------------

TEST(ExprSyntax, ErrorsNameTheProblemAndColumn) {
  EXPECT_HAS(parse_error(""), "empty expression");
  EXPECT_HAS(parse_error("   "), "empty expression");
  EXPECT_HAS(parse_error("1 +"), "unexpected end of the expression");
  EXPECT_HAS(parse_error("(1 + 2"), "expected ')'");
  EXPECT_HAS(parse_error("$json.a )"), "unexpected ')' after the expression (column 9)");
  EXPECT_HAS(parse_error("$nope"), "unknown variable '$nope'");
  EXPECT_HAS(parse_error("foo"), "unknown name 'foo'");
  EXPECT_HAS(parse_error("frobnicate(1)"), "unknown function 'frobnicate' (column 1)");
  EXPECT_HAS(parse_error("upper()"), "upper takes 1 argument");
  EXPECT_HAS(parse_error("upper(1, 2)"), "got 2");
  EXPECT_HAS(parse_error("substring('a')"), "2 to 3 arguments");
  EXPECT_HAS(parse_error("min()"), "at least 1 argument");
  EXPECT_HAS(parse_error("'abc"), "unterminated string");
  EXPECT_HAS(parse_error("'\\q'"), "unknown escape");
  EXPECT_HAS(parse_error("'\\u12'"), "4 hex digits");
  EXPECT_HAS(parse_error("'\\ud800'"), "unpaired surrogate");
  EXPECT_HAS(parse_error("a"), "unknown name 'a' (variables start with $, for example $json.a)");
  EXPECT_HAS(parse_error("1 = 1"), "'=' is not an operator");
  EXPECT_HAS(parse_error("1 === 1"), "'===' is not an operator");
  EXPECT_HAS(parse_error("1 & 1"), "use &&");
  EXPECT_HAS(parse_error("1 | 1"), "use ||");
  EXPECT_HAS(parse_error("1 # 1"), "unexpected character '#'");
  EXPECT_HAS(parse_error("12abc"), "invalid number");
  EXPECT_HAS(parse_error("$json."), "expected a name after '.'");
  EXPECT_HAS(parse_error("$json.a(1)"), "only built-in functions can be called");
  EXPECT_HAS(parse_error("$node"), "$node must be followed by");
  EXPECT_HAS(parse_error("$node[$json.id]"), "needs a quoted node id");
  EXPECT_HAS(parse_error("$node['']"), "empty node id");
  EXPECT_HAS(parse_error("{a: 1, a: 2}"), "duplicate key \"a\"");
  EXPECT_HAS(parse_error("{a 1}"), "expected ':'");
  EXPECT_HAS(parse_error("[1 2]"), "expected ',' or ']'");
  EXPECT_HAS(parse_error("upper('a' 'b')"), "expected ',' or ')'");
  EXPECT_HAS(parse_error("1 ? 2"), "expected ':'");
  EXPECT_HAS(parse_error("$"), "'$' must be followed");
  EXPECT_HAS(parse_error("'\xC3\xA9' )"), "(column 5)");  // columns count code points
}

TEST(ExprSyntax, DetailsCarryTheColumn) {
  auto e = Expression::parse("1 + + ");
  ASSERT_FALSE(e.ok());
  auto d = Json::parse(e.error().details);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ((*d)["column"].as_int(), 5);
}

// ---- caps ----------------------------------------------------------------------------------

TEST(ExprCaps, DeepNestingIsAnErrorNotACrash) {
  std::string deep(100000, '(');
  deep += "1";
  deep += std::string(100000, ')');
  EXPECT_HAS(parse_error(deep), "nested more than 64 levels");

  EXPECT_HAS(parse_error(std::string(100000, '[')), "nested more than");
  EXPECT_HAS(parse_error(std::string(100000, '!') + "1"), "nested more than");
  EXPECT_HAS(parse_error(std::string(100000, '-') + "1"), "nested more than");
  std::string calls;
  for (int i = 0; i < 50000; ++i) calls += "abs(";
  EXPECT_HAS(parse_error(calls), "nested more than");
  std::string ternary;
  for (int i = 0; i < 50000; ++i) ternary += "1 ? 2 : ";
  EXPECT_HAS(parse_error(ternary + "3"), "nested more than");

  // Moderate nesting is fine.
  std::string ok(30, '(');
  ok += "1";
  ok += std::string(30, ')');
  EXPECT_EVAL(ok, "1");
}

TEST(ExprCaps, LongOperatorChainsAreBoundedToo) {
  // Left-associative chains grow the tree without recursion; the height cap catches them.
  std::string chain = "1";
  for (int i = 0; i < 100000; ++i) chain += "+1";
  EXPECT_HAS(parse_error(chain), "too complex");
  std::string members = "$json";
  for (int i = 0; i < 100000; ++i) members += ".a";
  EXPECT_HAS(parse_error(members), "too complex");
  std::string indexes = "$json";
  for (int i = 0; i < 100000; ++i) indexes += "[0]";
  EXPECT_HAS(parse_error(indexes), "too complex");

  std::string fine = "0";
  for (int i = 0; i < 200; ++i) fine += "+1";
  EXPECT_EVAL(fine, "200");
}

TEST(ExprCaps, StepCap) {
  Fixture f;
  f.ctx.max_steps = 50;
  std::string many = "[";
  for (int i = 0; i < 100; ++i) many += "1,";
  many += "1]";
  EXPECT_HAS(eval_error(many, &f.ctx), "exceeded its budget of 50 evaluation steps");
  f.ctx.max_steps = 1000;
  EXPECT_HAS(eval_error("split('" + std::string(2000, 'a') + "', '')", &f.ctx),
             "split: the expression exceeded its budget");
}

TEST(ExprCaps, StringCap) {
  Fixture f;
  f.ctx.max_string_bytes = 16;
  EXPECT_HAS(eval_error("'0123456789' + '0123456789'", &f.ctx), "longer than the limit of 16 bytes");
  EXPECT_HAS(eval_error("padStart('a', 100)", &f.ctx), "exceeds the string limit");
  EXPECT_HAS(eval_error("replace('aaaa', 'a', 'bbbbbbbb')", &f.ctx), "longer than the limit");
  EXPECT_HAS(eval_error("join(['aaaaaaaaaa', 'bbbbbbbbbb'], '')", &f.ctx), "longer than the limit");
  EXPECT_HAS(eval_error("toJson([1,2,3,4,5,6,7,8,9,10])", &f.ctx), "longer than the limit");
  EXPECT_HAS(eval_error("toString($json)", &f.ctx), "longer than the limit");
  EXPECT_HAS(eval_error("'x' + $json", &f.ctx), "longer than the limit");
}

// ---- functions -----------------------------------------------------------------------------

TEST(ExprFunctions, Strings) {
  EXPECT_EVAL("upper('abc é')", R"("ABC é")");
  EXPECT_EVAL("lower('ABC')", R"("abc")");
  EXPECT_EVAL("upper(null)", "null");
  EXPECT_EVAL("trim('  a b \\n')", R"("a b")");
  EXPECT_EVAL("trim('   ')", R"("")");
  EXPECT_EVAL("length('héllo')", "5");
  EXPECT_EVAL("length([1,2])", "2");
  EXPECT_EVAL("length({a:1})", "1");
  EXPECT_EVAL("length(null)", "0");
  EXPECT_EVAL("contains('hello', 'ell')", "true");
  EXPECT_EVAL("contains('hello', 'xyz')", "false");
  EXPECT_EVAL("contains([1, 'a'], 'a')", "true");
  EXPECT_EVAL("contains([1, 2], 2.0)", "true");
  EXPECT_EVAL("contains({a: 1}, 'a')", "true");
  EXPECT_EVAL("contains(null, 'a')", "false");
  EXPECT_EVAL("startsWith('hello', 'he')", "true");
  EXPECT_EVAL("startsWith('hello', 'lo')", "false");
  EXPECT_EVAL("endsWith('hello', 'lo')", "true");
  EXPECT_EVAL("endsWith('lo', 'hello')", "false");
  EXPECT_EVAL("startsWith(null, 'a')", "false");
  EXPECT_EVAL("replace('a-b-c', '-', '+')", R"("a+b+c")");
  EXPECT_EVAL("replace('a.b', '.', '')", R"("ab")");  // plain text, not a pattern
  EXPECT_EVAL("replace('abc', '', 'x')", R"("abc")");
  EXPECT_EVAL("split('a,b,,c', ',')", R"(["a","b","","c"])");
  EXPECT_EVAL("split('héy', '')", R"(["h","é","y"])");
  EXPECT_EVAL("split('abc', 'x')", R"(["abc"])");
  EXPECT_EVAL("join(['a', 1, null, true], '-')", R"("a-1--true")");
  EXPECT_EVAL("join(['a', 'b'])", R"("ab")");
  EXPECT_EVAL("join(null)", R"("")");
  EXPECT_EVAL("substring('héllo', 1, 3)", R"("él")");
  EXPECT_EVAL("substring('hello', 2)", R"("llo")");
  EXPECT_EVAL("substring('hello', -5, 100)", R"("hello")");
  EXPECT_EVAL("substring('hello', 3, 1)", R"("")");
  EXPECT_EVAL("padStart('7', 3, '0')", R"("007")");
  EXPECT_EVAL("padStart(42, 5, 'ab')", R"("aba42")");
  EXPECT_EVAL("padStart('abc', 2)", R"("abc")");
  EXPECT_EVAL("padStart('a', 3)", R"("  a")");

  EXPECT_HAS(eval_error("upper(1)"), "upper: expected a string as the first argument, got number");
  EXPECT_HAS(eval_error("contains('a', 1)"), "contains: expected a string as the second argument");
  EXPECT_HAS(eval_error("length(5)"), "length: expected a string, array or object");
  EXPECT_HAS(eval_error("split('a', 1)"), "split: expected a string as the second argument");
  EXPECT_HAS(eval_error("substring('abc', 'x')"), "expected an integer");
  EXPECT_HAS(eval_error("join('abc')"), "join: expected an array");
}

TEST(ExprFunctions, Numbers) {
  EXPECT_EVAL("round(2.5)", "3");
  EXPECT_EVAL("round(-2.5)", "-3");
  EXPECT_TRUE(eval("round(2.4)").is_int());
  EXPECT_EVAL("round(3.14159, 2)", "3.14");
  EXPECT_EVAL("round(1234, -2)", "1200");
  EXPECT_EVAL("round(7)", "7");
  EXPECT_EVAL("round(null)", "null");
  EXPECT_EVAL("floor(2.7)", "2");
  EXPECT_EVAL("floor(-2.1)", "-3");
  EXPECT_EVAL("ceil(2.1)", "3");
  EXPECT_EVAL("ceil(5)", "5");
  EXPECT_EVAL("abs(-3)", "3");
  EXPECT_EVAL("abs(-2.5)", "2.5");
  EXPECT_TRUE(eval("abs(-9223372036854775808)").is_double());
  EXPECT_EVAL("min(3, 1, 2)", "1");
  EXPECT_EVAL("max(3, 1.5, 2)", "3");
  EXPECT_EVAL("min([4, 2.5])", "2.5");
  EXPECT_EVAL("max([])", "null");
  EXPECT_EVAL("toNumber('42')", "42");
  EXPECT_TRUE(eval("toNumber('42')").is_int());
  EXPECT_EVAL("toNumber(' -1.5e1 ')", "-15.0");
  EXPECT_EVAL("toNumber('+3')", "3");
  EXPECT_EVAL("toNumber('abc')", "null");
  EXPECT_EVAL("toNumber('')", "null");
  EXPECT_EVAL("toNumber('inf')", "null");
  EXPECT_EVAL("toNumber(true)", "1");
  EXPECT_EVAL("toNumber(null)", "null");
  EXPECT_EVAL("toNumber('abc') ?? 0", "0");
  EXPECT_EVAL("toInt('42.9')", "42");
  EXPECT_EVAL("toInt(-3.7)", "-3");
  EXPECT_EVAL("toInt('x')", "null");

  EXPECT_HAS(eval_error("round('x')"), "round: expected a number");
  EXPECT_HAS(eval_error("round(1.5, 99)"), "digits must be between");
  EXPECT_HAS(eval_error("min(1, 'a')"), "min: expected numbers, got string at position 2");
  EXPECT_HAS(eval_error("abs(true)"), "abs: expected a number");
}

TEST(ExprFunctions, JsonAndTypes) {
  EXPECT_EVAL("toString('a')", R"("a")");
  EXPECT_EVAL("toString(1.5)", R"("1.5")");
  EXPECT_EVAL("toString(null)", R"("null")");
  EXPECT_EVAL("toString({a: [1]})", R"("{\"a\":[1]}")");
  EXPECT_EVAL("toJson('a')", R"("\"a\"")");
  EXPECT_EVAL("toJson({a: null})", R"("{\"a\":null}")");
  EXPECT_EVAL("parseJson('{\"a\": [1, 2]}').a[1]", "2");
  EXPECT_EVAL("parseJson('not json')", "null");
  EXPECT_EVAL("parseJson(null)", "null");
  EXPECT_EVAL("keys({b: 1, a: 2})", R"(["b","a"])");
  EXPECT_EVAL("keys(null)", "[]");
  EXPECT_EVAL("values({b: 1, a: 2})", "[1,2]");
  EXPECT_EVAL("values([3])", "[3]");
  EXPECT_EVAL("typeOf(1)", R"("number")");
  EXPECT_EVAL("typeOf(1.5)", R"("number")");
  EXPECT_EVAL("typeOf('s')", R"("string")");
  EXPECT_EVAL("typeOf(null)", R"("null")");
  EXPECT_EVAL("typeOf(true)", R"("boolean")");
  EXPECT_EVAL("typeOf([])", R"("array")");
  EXPECT_EVAL("typeOf({})", R"("object")");
  EXPECT_EVAL("isEmpty('')", "true");
  EXPECT_EVAL("isEmpty([])", "true");
  EXPECT_EVAL("isEmpty({})", "true");
  EXPECT_EVAL("isEmpty(null)", "true");
  EXPECT_EVAL("isEmpty(0)", "false");
  EXPECT_EVAL("isEmpty(' ')", "false");
  EXPECT_EVAL("default('', 'x')", R"("x")");
  EXPECT_EVAL("default(null, 'x')", R"("x")");
  EXPECT_EVAL("default(0, 'x')", "0");
  EXPECT_EVAL("default('a', 'x')", R"("a")");
  EXPECT_EVAL("get($json, 'a.b')", "1");
  EXPECT_EVAL("get($json, 'matrix.1.0')", "3");
  EXPECT_EVAL("get($json, 'a.zz', 'dflt')", R"("dflt")");
  EXPECT_EVAL("get($json, 'a.c', 'dflt')", R"("dflt")");
  EXPECT_EVAL("get($json, 'a.zz')", "null");
  EXPECT_EVAL("get(null, 'a', 1)", "1");

  EXPECT_HAS(eval_error("keys([1])"), "keys: expected an object");
  EXPECT_HAS(eval_error("parseJson(1)"), "parseJson: expected a string");
  EXPECT_HAS(eval_error("get({}, 1)"), "get: expected a string as the second argument");
}

TEST(ExprFunctions, Arrays) {
  EXPECT_EVAL("first([1, 2])", "1");
  EXPECT_EVAL("first([])", "null");
  EXPECT_EVAL("first('héllo')", R"("h")");
  EXPECT_EVAL("last([1, 2])", "2");
  EXPECT_EVAL("last('héllo')", R"("o")");
  EXPECT_EVAL("last('')", R"("")");
  EXPECT_EVAL("last(null)", "null");
  EXPECT_EVAL("slice([1, 2, 3, 4], 1, 3)", "[2,3]");
  EXPECT_EVAL("slice([1, 2, 3, 4], -2)", "[3,4]");
  EXPECT_EVAL("slice([1, 2, 3], 2, 1)", "[]");
  EXPECT_EVAL("slice('héllo', 1, -1)", R"("éll")");
  EXPECT_EVAL("includes([1, 2], 2)", "true");
  EXPECT_EVAL("includes([{a: 1}], {a: 1})", "true");
  EXPECT_EVAL("includes('abc', 'bc')", "true");
  EXPECT_EVAL("count([1, 2, 3])", "3");
  EXPECT_EVAL("count({a: 1})", "1");
  EXPECT_EVAL("count(null)", "0");
  EXPECT_EVAL("sum([1, 2, 3])", "6");
  EXPECT_TRUE(eval("sum([1, 2, 3])").is_int());
  EXPECT_EVAL("sum([1, 2.5])", "3.5");
  EXPECT_EVAL("sum([])", "0");
  EXPECT_TRUE(eval("sum([9223372036854775807, 1])").is_double());
  EXPECT_EVAL("avg([1, 2, 3])", "2");
  EXPECT_EVAL("avg([1, 2])", "1.5");
  EXPECT_EVAL("avg([])", "null");

  EXPECT_HAS(eval_error("sum([1, 'a'])"), "sum: expected an array of numbers, element 1 is string");
  EXPECT_HAS(eval_error("first(1)"), "first: expected an array or string");
  EXPECT_HAS(eval_error("count('abc')"), "count: expected an array or object");
  EXPECT_HAS(eval_error("slice([1], 'a')"), "expected an integer");
}

TEST(ExprFunctions, Dates) {
  EXPECT_EVAL("now()", "1700000000000");
  EXPECT_EVAL("formatDate(now())", R"("2023-11-14T22:13:20.000Z")");
  EXPECT_EVAL("formatDate(now(), 'iso')", R"("2023-11-14T22:13:20.000Z")");
  EXPECT_EVAL("formatDate(now(), 'date')", R"("2023-11-14")");
  EXPECT_EVAL("formatDate(now(), 'unix')", "1700000000");
  EXPECT_EVAL("formatDate(0)", R"("1970-01-01T00:00:00.000Z")");
  EXPECT_EVAL("formatDate(-1)", R"("1969-12-31T23:59:59.999Z")");
  EXPECT_EVAL("formatDate(951782400000, 'date')", R"("2000-02-29")");
  EXPECT_EVAL("formatDate(null)", "null");
  EXPECT_EVAL("parseDate('2023-11-14T22:13:20Z')", "1700000000000");
  EXPECT_EVAL("parseDate('2023-11-14T22:13:20.5Z')", "1700000000500");
  EXPECT_EVAL("parseDate('2023-11-14T23:13:20+01:00')", "1700000000000");
  EXPECT_EVAL("parseDate('2023-11-14T21:13:20-0100')", "1700000000000");
  EXPECT_EVAL("parseDate('2023-11-14 22:13')", "1699999980000");
  EXPECT_EVAL("parseDate('1970-01-01')", "0");
  EXPECT_EVAL("parseDate('2000-02-29')", "951782400000");
  EXPECT_EVAL("parseDate('2001-02-29')", "null");
  EXPECT_EVAL("parseDate('2023-13-01')", "null");
  EXPECT_EVAL("parseDate('yesterday')", "null");
  EXPECT_EVAL("parseDate('2023-11-14T25:00:00Z')", "null");
  EXPECT_EVAL("parseDate(1700000000000)", "1700000000000");
  EXPECT_EVAL("formatDate(parseDate('1999-12-31T23:59:59.999Z'))", R"("1999-12-31T23:59:59.999Z")");
  EXPECT_EVAL("addDays(0, 1)", "86400000");
  EXPECT_EVAL("addDays(0, -0.5)", "-43200000");
  EXPECT_EVAL("addHours(0, 2)", "7200000");
  EXPECT_EVAL("addMinutes(0, 3)", "180000");
  EXPECT_EVAL("formatDate(addDays(parseDate('2024-02-28'), 1), 'date')", R"("2024-02-29")");
  EXPECT_EVAL("addDays(null, 1)", "null");

  EXPECT_HAS(eval_error("formatDate(0, 'rfc')"), "unknown format");
  EXPECT_HAS(eval_error("formatDate(1e15)"), "outside the years 0000-9999");
  EXPECT_HAS(eval_error("addDays(0, 1e300)"), "out of range");
  EXPECT_HAS(eval_error("formatDate('x')"), "formatDate: expected a number");

  // Without ctx.now_ms, now() is the wall clock.
  EvalContext real;
  auto e = Expression::parse("now()");
  ASSERT_TRUE(e.ok());
  auto r = evaluate(*e, real);
  ASSERT_TRUE(r.ok());
  EXPECT_GT(r->as_int(), 1700000000000);
}

TEST(ExprFunctions, EveryBuiltinIsCoveredByTheTable) {
  // The documented list; if a function is added to the table it must be documented and tested.
  const std::set<std::string> documented = {
      "upper", "lower", "trim", "length", "contains", "startsWith", "endsWith", "replace",
      "split", "join", "substring", "padStart", "round", "floor", "ceil", "abs", "min", "max",
      "toNumber", "toInt", "toString", "toJson", "parseJson", "keys", "values", "typeOf",
      "isEmpty", "default", "get", "first", "last", "slice", "includes", "count", "sum", "avg",
      "now", "formatDate", "parseDate", "addDays", "addHours", "addMinutes"};
  std::set<std::string> table;
  for (const auto& b : builtins()) table.insert(b.name);
  EXPECT_EQ(table, documented);
  for (const auto& name : documented) EXPECT_NE(find_builtin(name), nullptr) << name;
  EXPECT_EQ(find_builtin("eval"), nullptr);
}

TEST(ExprEval, ErrorsCarryTheColumn) {
  auto e = Expression::parse("1 + 2 / 0");
  ASSERT_TRUE(e.ok());
  EvalContext ctx;
  auto r = evaluate(*e, ctx);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "expression_error");
  auto d = Json::parse(r.error().details);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ((*d)["column"].as_int(), 7);
}

TEST(ExprEval, ResultsAreIndependentCopies) {
  // Evaluating must not let callers mutate the context through the result.
  Fixture f;
  auto e = Expression::parse("$json.a");
  ASSERT_TRUE(e.ok());
  auto r = evaluate(*e, f.ctx);
  ASSERT_TRUE(r.ok());
  Json v = *r;
  v.set("b", 99);
  EXPECT_EQ(f.json["a"]["b"].as_int(), 1);
}
