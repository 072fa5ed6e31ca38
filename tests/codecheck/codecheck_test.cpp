// Syntax validation of user code (host/codecheck): the real grammars, the real runtime.
// Positions are 1-based lines and code-point columns (docs/code-validation.md).
#include "host/codecheck/codecheck.hpp"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "host/core/json.hpp"

namespace weft {
namespace {

CodeCheckResult check(std::string_view lang, std::string_view code, std::string mode = "body") {
  CodeCheckOptions o;
  o.mode = std::move(mode);
  return check_code(lang, code, o);
}
CodeCheckResult js(std::string_view code, std::string mode = "body") {
  return check("javascript", code, mode);
}
CodeCheckResult py(std::string_view code, std::string mode = "body") {
  return check("python", code, mode);
}

std::string describe(const CodeCheckResult& r) {
  return to_json(r);
}

// The first diagnostic is at (line, column), has `code`, and its message contains `message`.
void expect_first(const CodeCheckResult& r, int line, int column, std::string_view code,
                  std::string_view message) {
  ASSERT_FALSE(r.ok) << describe(r);
  ASSERT_FALSE(r.diagnostics.empty()) << describe(r);
  const CodeDiagnostic& d = r.diagnostics.front();
  EXPECT_EQ(d.line, line) << describe(r);
  EXPECT_EQ(d.column, column) << describe(r);
  EXPECT_EQ(d.code, code) << describe(r);
  EXPECT_NE(d.message.find(message), std::string::npos) << "message: " << d.message;
}

void expect_ok(const CodeCheckResult& r) {
  EXPECT_TRUE(r.ok) << describe(r);
  EXPECT_TRUE(r.diagnostics.empty()) << describe(r);
}

// ---- valid code ------------------------------------------------------------------------------

TEST(CodeCheckJs, ModernSyntaxIsValidInBodyMode) {
  expect_ok(js(R"JS(const items = $input.all();
const total = items.reduce((sum, { json }) => sum + (json?.price ?? 0), 0);
class Cart extends Base {
  #secret = 1;
  static create(...args) { return new Cart(...args); }
  get size() { return this.#secret; }
  async *stream() { for await (const x of source()) yield x; }
}
const label = `total: ${total.toFixed(2)} for ${items.length} item${items.length === 1 ? '' : 's'}`;
const re = /^[a-z]+\d*$/giu;
label: for (const [k, v] of Object.entries({ a: 1, ...rest })) { if (!v) continue label; }
const data = await fetch(url).then(r => r.json()).catch(() => null);
try { JSON.parse('{}'); } catch { /* ignored */ } finally { done = true; }
x ||= 1; y &&= 2; z ??= 3; n = 1_000_000n;
// a trailing comment without a newline
return [{ json: { total, label, data } }];)JS"));
}

TEST(CodeCheckJs, ModuleModeAcceptsCommonJsAndEsModules) {
  expect_ok(
      js("'use strict';\nconst { fetch } = require('x');\nmodule.exports = { name: 'n', execute: async (i) "
         "=> i };\n",
         "module"));
  expect_ok(js("import fs from 'fs';\nexport async function execute(input) { return input; }\n", "module"));
  expect_ok(js("#!/usr/bin/env node\nconsole.log(1);\n", "module"));
}

TEST(CodeCheckPython, ModernSyntaxIsValidInBodyMode) {
  expect_ok(py(R"PY(import json
items = [item for item in _input if (n := len(item)) > 2]
name = "world"
greeting = f"hello {name!r:>10} {items[0]['k']} {{literal}} {3.14159:.2f}"
raw = rb'\d+' + b"bytes"

@decorator(option=True)
class Thing:
    value: int = 0

    @property
    def double(self) -> int:
        return self.value * 2

async def helper(x, /, y=1, *args, z, **kw):
    async with session() as s:
        async for row in s:
            yield row

match command.split():
    case ["go", direction] if direction in ("north", "south"):
        result = direction
    case [_, *rest]:
        result = rest
    case _:
        result = None

try:
    value = helper(1, z=2)
except (ValueError, KeyError) as e:
    raise RuntimeError("bad") from e
finally:
    pass
lam = lambda a, b=2: a + b
text = """
multi-line
"""
return [{"json": {"greeting": greeting}}]
)PY"));
}

TEST(CodeCheckPython, ModuleModeFileIsValid) {
  expect_ok(
      py("import os\n\n\ndef execute(items, params):\n    return items\n\n\nclass Node:\n    name = 'n'\n",
         "module"));
}

TEST(CodeCheck, EmptyAndBlankCodeIsValid) {
  expect_ok(js(""));
  expect_ok(py(""));
  expect_ok(py("# only a comment\n"));
  expect_ok(py("\n\n   \n"));
  expect_ok(js("  \n// nothing\n"));
}

// ---- body mode vs module mode ------------------------------------------------------------------

TEST(CodeCheckPython, TopLevelReturnIsValidOnlyInBodyMode) {
  // A Python code node is the body of a plain (synchronous) function, as the runner runs it.
  expect_first(py("x = await get()\nreturn x\n"), 1, 5, "syntax_error", "`await` outside async function");
  expect_first(py("x = 1\nreturn x\n", "module"), 2, 1, "syntax_error", "`return` outside function");
  expect_first(py("data = await get()\n", "module"), 1, 8, "syntax_error", "`await` outside function");
  expect_first(py("def f():\n    return await g()\n", "module"), 2, 12, "syntax_error",
               "`await` outside async function");
  expect_first(py("value = yield 1\n", "module"), 1, 9, "syntax_error", "`yield` outside function");
  expect_ok(py("async def f():\n    return await g()\n", "module"));
}

TEST(CodeCheckPython, ReturnInAClassBodyIsInvalidEvenInBodyMode) {
  expect_first(py("class A:\n    return 1\n"), 2, 5, "syntax_error", "`return` outside function");
}

TEST(CodeCheckJs, TopLevelReturnAndAwaitAreValidInBodyMode) {
  expect_ok(js("const r = await fetch(x);\nif (!r) return [];\nreturn r;"));
}

TEST(CodeCheckJs, ImportIsOnlyValidAtTheTopOfAModule) {
  expect_first(js("const a = 1;\nimport x from 'y';\n"), 2, 1, "syntax_error", "`import` is not allowed");
  expect_first(js("function f() {\n  export const a = 1;\n}\n", "module"), 2, 3, "syntax_error",
               "`export` is only allowed at the top level");
}

TEST(CodeCheckJs, CodeCannotCloseTheWrappingFunction) {
  // `});` would end the function the body is wrapped in and start a new one: the brace is
  // reported, whatever parses after it.
  expect_first(js("x(); }); (function(){ y();"), 1, 6, "syntax_error", "unexpected `}`");
}

// ---- common errors, exact positions ----------------------------------------------------------

TEST(CodeCheckJs, MissingClosingParen) {
  const auto r = js("const a = 1;\nconst x = foo(1, 2;\n");
  expect_first(r, 2, 19, "missing_token", "missing `)`");
  EXPECT_EQ(r.diagnostics.size(), 1u) << describe(r);
}

TEST(CodeCheckJs, UnterminatedString) {
  const auto r = js("let s = \"abc;\nfoo();\n");
  expect_first(r, 1, 9, "syntax_error", "unterminated string literal");
  EXPECT_EQ(r.diagnostics[0].end_line, 1);
  EXPECT_EQ(r.diagnostics[0].end_column, 14);
}

TEST(CodeCheckJs, StrayClosingBrace) {
  expect_first(js("a();\n}\nb();\n"), 2, 1, "syntax_error", "unexpected `}`");
  expect_first(js("a();\n}\nb();\n", "module"), 2, 1, "syntax_error", "unexpected `}`");
}

TEST(CodeCheckJs, UnexpectedClosingParen) {
  const auto r = js("foo(a, b));\n");
  expect_first(r, 1, 10, "syntax_error", "unexpected `)`");
  EXPECT_EQ(r.diagnostics[0].end_line, 1);
  EXPECT_EQ(r.diagnostics[0].end_column, 11);
}

TEST(CodeCheckJs, MissingClosingBraceAtTheEnd) {
  expect_first(js("if (x) {\n  y();"), 2, 7, "missing_token", "missing `}`");
  expect_first(js("if (x) {\n  y();\n", "module"), 2, 7, "missing_token",
               "missing `}`");  // after the last token
}

TEST(CodeCheckJs, UnexpectedToken) {
  expect_first(js("const x = ;"), 1, 9, "syntax_error", "unexpected `=`");
  expect_first(js("a = b c;"), 1, 7, "syntax_error", "unexpected identifier `c`");
}

TEST(CodeCheckJs, EarlyErrorsTheGrammarAccepts) {
  expect_first(js("const a;\n"), 1, 7, "syntax_error", "missing initializer in `const` declaration");
  expect_first(js("let ok = 1;\ntry {\n  x();\n}\n"), 2, 1, "syntax_error", "missing `catch` or `finally`");
  expect_ok(js("for (const k of list) {}\nfor (const k in obj) {}\ntry { a() } catch { b() }\n"));
}

TEST(CodeCheckPython, NeverClosedParen) {
  const auto r = py("x = 1\nprint(f(1)\n");
  expect_first(r, 2, 6, "syntax_error", "`(` was never closed");
}

TEST(CodeCheckPython, UnterminatedString) {
  expect_first(py("s = \"abc\nprint(s)\n"), 1, 5, "syntax_error", "unterminated string literal");
  expect_first(py("x = 1\ns = '''abc\nmore\n"), 2, 5, "syntax_error",
               "unterminated triple-quoted string literal");
  // Nothing is reported from the tokenizer's first error on (CPython stops there too).
  const auto r = py("x = 1\ns = 'abc\nreturn 2\n)\n", "module");
  expect_first(r, 2, 5, "syntax_error", "unterminated string literal");
  EXPECT_EQ(r.diagnostics.size(), 1u) << describe(r);
}

TEST(CodeCheckPython, UnexpectedIndent) {
  const auto r = py("if x:\n    a = 1\n      b = 2\n");
  expect_first(r, 3, 7, "indentation_error", "unexpected indent");
  EXPECT_EQ(r.diagnostics[0].end_line, 3);
  EXPECT_EQ(r.diagnostics[0].end_column, 12);
}

TEST(CodeCheckPython, UnindentMatchesNoOuterLevel) {
  expect_first(py("if x:\n        a\n    b\n"), 3, 5, "indentation_error",
               "unindent does not match any outer indentation level");
}

TEST(CodeCheckPython, ExpectedAnIndentedBlock) {
  expect_first(py("if x:\na = 1\n"), 2, 1, "indentation_error",
               "expected an indented block after `if` statement on line 1");
  expect_first(py("y = 0\ndef f():\n\nz = 1\n"), 4, 1, "indentation_error",
               "expected an indented block after function definition on line 2");
  // At the end of the code.
  expect_first(py("for i in x:\n"), 2, 1, "indentation_error", "expected an indented block");
}

TEST(CodeCheckPython, FirstLineIndentedInBodyMode) {
  expect_first(py("  x = 1\n"), 1, 3, "indentation_error", "unexpected indent");
}

TEST(CodeCheckPython, TabsMixedWithSpaces) {
  expect_first(py("if x:\n\ta = 1\n        b = 2\n"), 3, 9, "indentation_error",
               "inconsistent use of tabs and spaces");
  expect_ok(py("if x:\n\ta = 1\n\tif y:\n\t\tb = 2\n"));
}

TEST(CodeCheckPython, UnexpectedToken) {
  expect_first(py("x = 1\nif x == :\n    pass\n"), 2, 6, "syntax_error", "unexpected `==`");
}

// ---- positions -------------------------------------------------------------------------------

TEST(CodeCheckPositions, MultiLineErrorsAreReportedInOrder) {
  const auto r = js("const a = 1;\nconst b = ;\nconst c = 3;\nfoo(1;\n\nbar(1, 2));\n");
  ASSERT_FALSE(r.ok);
  ASSERT_EQ(r.diagnostics.size(), 3u) << describe(r);
  EXPECT_EQ(r.diagnostics[0].line, 2);
  EXPECT_EQ(r.diagnostics[0].column, 9);
  EXPECT_EQ(r.diagnostics[1].line, 4);
  EXPECT_EQ(r.diagnostics[1].column, 6);
  EXPECT_EQ(r.diagnostics[1].code, "missing_token");
  EXPECT_EQ(r.diagnostics[2].line, 6);
  EXPECT_EQ(r.diagnostics[2].column, 10);
}

TEST(CodeCheckPositions, ATabIsOneColumn) {
  expect_first(js("\t\tfoo(1;\n"), 1, 8, "missing_token", "missing `)`");
}

TEST(CodeCheckPositions, CrlfLineEnds) {
  expect_first(js("a();\r\n}\r\nb();\r\n"), 2, 1, "syntax_error", "unexpected `}`");
  const auto r = py("if x:\r\n    a\r\n      b\r\n");
  expect_first(r, 3, 7, "indentation_error", "unexpected indent");
  EXPECT_EQ(r.diagnostics[0].end_column, 8);  // the CR is not part of the line
  expect_ok(py("def f(x):\r\n    return x\r\n\r\nf(1)\r\n"));
}

TEST(CodeCheckPositions, ColumnsCountCodePointsNotBytes) {
  // é is 2 bytes, 😀 is 4: in bytes the missing `)` would be at 29.
  expect_first(js("const s = \"héllo😀\"; foo(;\n"), 1, 25, "missing_token", "missing `)`");
  expect_first(py("名前 = \"値\"\nprint(名前 +)\n"), 2, 10, "syntax_error", "unexpected `+`");
}

TEST(CodeCheckPositions, PythonBodyMappingKeepsUserColumns) {
  // The body is re-indented inside a wrapper: positions still refer to the user's text.
  expect_first(py("x = 1\nfor i in range(3):\n    y = (i +\n"), 3, 9, "syntax_error", "`(` was never closed");
}

// ---- limits and hostile input -----------------------------------------------------------------

TEST(CodeCheckLimits, TooLargeCodeIsRejectedUnparsed) {
  CodeCheckOptions o;
  o.max_bytes = 100;
  const auto at_limit = check_code("js", std::string(100, ' '), o);
  expect_ok(at_limit);
  const auto r = check_code("js", std::string(101, ' '), o);
  expect_first(r, 0, 0, "code_too_large", "101 bytes");
  EXPECT_EQ(r.diagnostics.size(), 1u);
}

TEST(CodeCheckLimits, TooManyTokensIsRejectedNotParsed) {
  // 40,000 unclosed parentheses: under 1 MiB, but a parse would build an ERROR node with more
  // children than the Tree-sitter 0.20 runtime can hold.
  expect_first(js(std::string(40000, '(')), 0, 0, "code_too_large", "too many tokens");
  std::string comments;
  for (int i = 0; i < 70000; ++i) comments += "#c\n";
  expect_first(py(comments), 0, 0, "code_too_large", "too many tokens");
}

TEST(CodeCheckLimits, DeepNestingJustUnderTheLimitDoesNotCrash) {
  // Just under the token limit (see TooManyTokensIsRejectedNotParsed): parsed, and no crash.
  const auto a = js(std::string(15000, '(') + "1" + std::string(15000 - 1, ')'), "module");
  expect_first(a, 1, 1, "syntax_error", "`(` was never closed");  // one parenthesis too few
  const auto b = py("x = " + std::string(31000, '['));
  ASSERT_FALSE(b.ok);
  EXPECT_EQ(b.diagnostics[0].code, "syntax_error");
  const auto c = js(std::string(31000, '!'));
  ASSERT_FALSE(c.ok);
}

TEST(CodeCheckLimits, NulByteIsADiagnostic) {
  const std::string code("a();\nb(\0);\n", 11);
  const auto r = js(code);
  expect_first(r, 2, 3, "nul_byte", "NUL");
  EXPECT_EQ(r.diagnostics.size(), 1u);
}

TEST(CodeCheckLimits, InvalidUtf8IsADiagnostic) {
  expect_first(js("let s = '\xff';"), 1, 10, "invalid_utf8", "0xFF");
  expect_first(py("s = 'é'\nt = '\xC0\xAF'\n"), 2, 6, "invalid_utf8", "0xC0");  // overlong
  expect_first(py("s = '\xED\xA0\x80'\n"), 1, 6, "invalid_utf8", "0xED");       // surrogate
  expect_first(js("x = 1; // \xE2\x82"), 1, 11, "invalid_utf8", "0xE2");        // cut short
  expect_first(js("\xF4\x90\x80\x80"), 1, 1, "invalid_utf8", "0xF4");           // > U+10FFFF
}

TEST(CodeCheckLimits, UnknownLanguageAndMode) {
  expect_first(check_code("ruby", "puts 1"), 0, 0, "unsupported_language", "`ruby`");
  expect_first(check_code("", "x"), 0, 0, "unsupported_language", "");
  expect_first(check_code("java\xffscript", "x"), 0, 0, "unsupported_language", "`java?script`");
  expect_ok(check_code("JS", "x = 1"));
  expect_ok(check_code("Py", "x = 1"));
  CodeCheckOptions o;
  o.mode = "script";
  expect_first(check_code("js", "x", o), 0, 0, "unsupported_mode", "`script`");
}

TEST(CodeCheckLimits, DiagnosticsAreCappedAndSorted) {
  std::string code;
  for (int i = 1; i <= 30; ++i) code += "let v" + std::to_string(i) + " = ;\n";
  const auto r = js(code);
  ASSERT_FALSE(r.ok);
  ASSERT_EQ(r.diagnostics.size(), 20u) << describe(r);
  EXPECT_TRUE(r.truncated);
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(r.diagnostics[i].line, i + 1);
    EXPECT_EQ(r.diagnostics[i].code, "syntax_error");
  }
  CodeCheckOptions o;
  o.max_diagnostics = 5;
  const auto five = check_code("js", code, o);
  ASSERT_EQ(five.diagnostics.size(), 5u);
  EXPECT_TRUE(five.truncated);
  EXPECT_EQ(five.diagnostics[4].line, 5);

  const auto few = js("let a = ;\nlet b = ;\n");
  EXPECT_EQ(few.diagnostics.size(), 2u);
  EXPECT_FALSE(few.truncated);
}

TEST(CodeCheckLimits, ParseTimeoutIsADiagnostic) {
  // A budget no parse of this size can meet (the runtime checks the clock every few hundred
  // operations; parsing 3,000 statements takes tens of thousands).
  std::string code;
  for (int i = 0; i < 3000; ++i) code += "a(b, c);\n";
  CodeCheckOptions o;
  o.timeout_micros = 1;
  expect_first(check_code("js", code, o), 0, 0, "parse_timeout", "longer than");
  o.timeout_micros = 0;  // no limit
  expect_ok(check_code("js", code, o));
}

// ---- JSON and threads -------------------------------------------------------------------------

TEST(CodeCheckJson, ShapeAndValues) {
  const auto r = js("foo(a, b));\n");
  auto parsed = Json::parse(to_json(r));
  ASSERT_TRUE(parsed.ok()) << to_json(r);
  const Json& j = *parsed;
  EXPECT_FALSE(j["ok"].as_bool(true));
  EXPECT_FALSE(j["truncated"].as_bool(true));
  ASSERT_EQ(j["diagnostics"].size(), 1u);
  const Json& d = j["diagnostics"].at(0);
  EXPECT_EQ(d["line"].as_int(), 1);
  EXPECT_EQ(d["column"].as_int(), 10);
  EXPECT_EQ(d["end_line"].as_int(), 1);
  EXPECT_EQ(d["end_column"].as_int(), 11);
  EXPECT_EQ(d["code"].as_string(), "syntax_error");
  EXPECT_EQ(d["message"].as_string(), "unexpected `)`");

  auto ok = Json::parse(to_json(js("return 1;")));
  ASSERT_TRUE(ok.ok());
  EXPECT_TRUE((*ok)["ok"].as_bool(false));
  EXPECT_TRUE((*ok)["diagnostics"].is_array());
  EXPECT_EQ((*ok)["diagnostics"].size(), 0u);
}

TEST(CodeCheckThreads, FourThreadsGetTheSameAnswersAsOne) {
  struct Case {
    std::string lang, code, mode;
  };
  const std::vector<Case> cases = {
      {"js", "const x = foo(1, 2;\n", "body"},
      {"js", "a();\n}\nb();\n", "body"},
      {"js", "return await x;", "body"},
      {"py", "if x:\n    a\n      b\n", "body"},
      {"py", "print(f(1)\n", "module"},
      {"py", "return 1\n", "module"},
      {"py", "x = [i for i in y if (n := i)]\n", "body"},
      {"js", "class A { #x = 1; m() { return this.#x?.y ?? `${1}`; } }", "module"},
  };
  std::vector<std::string> expected;
  for (const Case& c : cases) expected.push_back(to_json(check(c.lang, c.code, c.mode)));

  std::vector<std::string> failures[4];
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 50; ++round) {
        for (size_t i = 0; i < cases.size(); ++i) {
          const size_t k = (i + static_cast<size_t>(t)) % cases.size();
          const std::string got = to_json(check(cases[k].lang, cases[k].code, cases[k].mode));
          if (got != expected[k]) failures[t].push_back(cases[k].code + " -> " + got);
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  for (auto& f : failures) EXPECT_TRUE(f.empty()) << f.front();
}

}  // namespace
}  // namespace weft
