// Templates: {{ }} blocks inside JSON values.
#include <gtest/gtest.h>

#include "host/expr/expr.hpp"

using weft::Json;
using namespace weft::expr;

namespace {

Json J(std::string_view text) {
  auto r = Json::parse(text);
  EXPECT_TRUE(r.ok()) << text << ": " << r.error().message;
  return r.ok() ? *r : Json();
}

struct Ctx {
  Json json = J(R"({"name": "Ada", "n": 3, "obj": {"k": [1, 2]}, "nothing": null})");
  Json fetch = J(R"({"output": {"id": 7}})");
  EvalContext ctx;
  Ctx() {
    ctx.json = &json;
    ctx.node = [this](std::string_view id) -> const Json* { return id == "fetch" ? &fetch : nullptr; };
  }
};

Json render(const Json& value) {
  Ctx c;
  auto t = Template::compile(value);
  EXPECT_TRUE(t.ok()) << value.dump() << ": " << t.error().message;
  if (!t.ok()) return Json("<compile error>");
  auto r = t->render(c.ctx);
  EXPECT_TRUE(r.ok()) << value.dump() << ": " << r.error().message;
  return r.ok() ? *r : Json("<render error>");
}

Json render_text(std::string_view s) { return render(Json(s)); }

}  // namespace

TEST(Template, SingleBlockKeepsTheJsonType) {
  EXPECT_EQ(render_text("{{ $json.n }}").dump(), "3");
  EXPECT_EQ(render_text("  {{ $json.obj }}\n").dump(), R"({"k":[1,2]})");
  EXPECT_EQ(render_text("{{$json.nothing}}").dump(), "null");
  EXPECT_EQ(render_text("{{ $json.n > 2 }}").dump(), "true");
  EXPECT_EQ(render_text("{{ $node.fetch.output.id }}").dump(), "7");
}

TEST(Template, MixedTextIsAString) {
  EXPECT_EQ(render_text("Hello {{ $json.name }}!").dump(), R"("Hello Ada!")");
  EXPECT_EQ(render_text("n={{ $json.n }}, obj={{ $json.obj }}, nil={{ $json.nothing }}").dump(),
            R"("n=3, obj={\"k\":[1,2]}, nil=null")");
  EXPECT_EQ(render_text("{{ 1 }}{{ 2 }}").dump(), R"("12")");
  EXPECT_EQ(render_text("{{ 'a' }} ").dump(), R"("a")");  // one block + whitespace: typed
  EXPECT_EQ(render_text("x{{ 1 }}").dump(), R"("x1")");
}

TEST(Template, BracesInsideTheExpression) {
  EXPECT_EQ(render_text("{{ '}}' }}").dump(), R"("}}")");
  EXPECT_EQ(render_text("{{ \"a}}b\" + '{{' }}").dump(), R"("a}}b{{")");
  EXPECT_EQ(render_text("{{ {a: {b: 1}} }}").dump(), R"({"a":{"b":1}})");
  EXPECT_EQ(render_text("{{ {a: 1}}}").dump(), R"({"a":1})");
  EXPECT_EQ(render_text("[{{ 'it\\'s' }}]").dump(), R"("[it's]")");
}

TEST(Template, EscapedBracesAreLiteral) {
  EXPECT_EQ(render_text("\\{{ not an expression }}").dump(), R"("{{ not an expression }}")");
  EXPECT_EQ(render_text("\\{{x}} and {{ $json.n }}").dump(), R"("{{x}} and 3")");
  auto t = Template::compile(Json("only \\{{ escaped"));
  ASSERT_TRUE(t.ok());
  EXPECT_FALSE(t->has_expressions());
  // Escapes inside nested values are resolved too.
  EXPECT_EQ(render(J(R"({"a": ["\\{{b}}"]})")).dump(), R"({"a":["{{b}}"]})");
}

TEST(Template, StringsWithoutBlocksAreUntouched) {
  Json v = J(R"({"url": "https://x/{id}", "n": 1, "list": [true, null, "a\\b"], "single": "{ {"})");
  auto t = Template::compile(v);
  ASSERT_TRUE(t.ok());
  EXPECT_FALSE(t->has_expressions());
  Ctx c;
  auto r = t->render(c.ctx);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, v);
}

TEST(Template, WalksNestedValues) {
  Json v = J(R"({"static": {"a": 1}, "greeting": "Hi {{ $json.name }}",
                 "list": [1, "{{ $json.n * 2 }}", {"deep": "{{ $node.fetch.output }}"}]})");
  auto t = Template::compile(v);
  ASSERT_TRUE(t.ok());
  EXPECT_TRUE(t->has_expressions());
  EXPECT_EQ(t->referenced_nodes(), (std::set<std::string>{"fetch"}));
  auto exprs = t->expressions();
  ASSERT_EQ(exprs.size(), 3u);
  EXPECT_EQ(exprs[0].first, "greeting");
  EXPECT_EQ(exprs[1].first, "list.1");
  EXPECT_EQ(exprs[2].first, "list.2.deep");
  EXPECT_EQ(exprs[2].second->source(), " $node.fetch.output ");
  Ctx c;
  auto r = t->render(c.ctx);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->dump(),
            R"({"static":{"a":1},"greeting":"Hi Ada","list":[1,6,{"deep":{"id":7}}]})");
  // Rendering twice gives the same result (the compiled template is not mutated).
  auto again = t->render(c.ctx);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *r);
}

TEST(Template, SyntaxErrorsNameThePath) {
  auto t = Template::compile(J(R"({"a": {"b": ["ok", "{{ 1 + }}"]}})"));
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.error().code, "expression_syntax");
  EXPECT_NE(t.error().message.find("at a.b.1:"), std::string::npos) << t.error().message;
  auto d = Json::parse(t.error().details);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ((*d)["path"].as_string(), "a.b.1");
  EXPECT_EQ((*d)["column"].as_int(), 6);  // the end of " 1 + "

  auto u = Template::compile(Json("text {{ unterminated"));
  ASSERT_FALSE(u.ok());
  EXPECT_NE(u.error().message.find("unterminated {{"), std::string::npos);

  auto empty = Template::compile(Json("{{   }}"));
  ASSERT_FALSE(empty.ok());
  EXPECT_NE(empty.error().message.find("empty expression"), std::string::npos);

  auto fn = Template::compile(Json("{{ nosuch(1) }}"));
  ASSERT_FALSE(fn.ok());
  EXPECT_NE(fn.error().message.find("unknown function 'nosuch'"), std::string::npos);
}

TEST(Template, CompileAllCollectsEveryError) {
  std::vector<weft::Error> errors;
  auto t = Template::compile_all(J(R"({"a": "{{ ( }}", "b": "fine {{ 1 }}", "c": ["{{ $bad }}"],
                                      "d": "{{ x(}}"})"),
                                 &errors);
  ASSERT_FALSE(t.ok());
  ASSERT_EQ(errors.size(), 3u);
  EXPECT_NE(errors[0].details.find("\"path\":\"a\""), std::string::npos);
  EXPECT_NE(errors[1].details.find("\"path\":\"c.0\""), std::string::npos);
  EXPECT_NE(errors[2].details.find("\"path\":\"d\""), std::string::npos);
}

TEST(Template, RenderErrorsNameThePathAndExpression) {
  auto t = Template::compile(J(R"({"x": ["{{ 1 / 0 }}"]})"));
  ASSERT_TRUE(t.ok());
  Ctx c;
  auto r = t->render(c.ctx);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "expression_error");
  EXPECT_NE(r.error().message.find("at x.0: division by zero"), std::string::npos)
      << r.error().message;
  auto d = Json::parse(r.error().details);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ((*d)["path"].as_string(), "x.0");
  EXPECT_EQ((*d)["expression"].as_string(), " 1 / 0 ");
}

TEST(Template, RenderedTextIsCapped) {
  auto t = Template::compile(Json("{{ $json.name }}{{ $json.name }}{{ $json.name }}"));
  ASSERT_TRUE(t.ok());
  Ctx c;
  c.ctx.max_string_bytes = 8;
  auto r = t->render(c.ctx);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("longer than the limit of 8 bytes"), std::string::npos);
}

TEST(Template, ScalarsAndEmptyContainers) {
  for (const char* text : {"1", "2.5", "true", "null", "[]", "{}", "\"\""}) {
    Json v = J(text);
    auto t = Template::compile(v);
    ASSERT_TRUE(t.ok());
    EXPECT_FALSE(t->has_expressions());
    EXPECT_EQ(render(v), v) << text;
  }
  // A default-constructed Template renders null and has no expressions.
  Template empty;
  EXPECT_FALSE(empty.has_expressions());
  Ctx c;
  auto r = empty.render(c.ctx);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->is_null());
}
