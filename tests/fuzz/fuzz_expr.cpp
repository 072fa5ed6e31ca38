// Fuzz target: the expression parser and evaluator, and template compile/render.
// Every input must end in a value or an error, within the caps, without crashing, hanging or
// tripping a sanitizer.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "host/expr/expr.hpp"

using weft::Json;
using namespace weft::expr;

namespace {

struct Context {
  Json input = *Json::parse(R"({"email": "a@b.c", "n": 3, "list": [1, 2.5, "x", null, {"k": [true]}]})");
  Json json = *Json::parse(R"({"a": {"b": 1}, "s": "h\u00e9llo", "items": [1, 2, 3], "big": 9223372036854775807})");
  Json item = *Json::parse(R"({"sku": "A1", "qty": 2})");
  Json vars = *Json::parse(R"({"env": "prod"})");
  Json fetch = *Json::parse(R"({"output": {"body": {"id": 42}}, "outputs": {"main": {"body": {"id": 42}}}})");
  EvalContext ctx;
  Context() {
    ctx.input = &input;
    ctx.json = &json;
    ctx.item = &item;
    ctx.index = 1;
    ctx.vars = &vars;
    ctx.node = [this](std::string_view id) -> const Json* { return id == "fetch" ? &fetch : nullptr; };
    ctx.now_ms = 1700000000000;
    // Tight caps keep each run fast; the caps themselves are part of what is tested.
    ctx.max_steps = 20000;
    ctx.max_string_bytes = 1 << 16;
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Context c;
  std::string_view text(reinterpret_cast<const char*>(data), size);

  // 1. The whole input as one expression.
  auto e = Expression::parse(text);
  if (e.ok()) {
    auto r = evaluate(*e, c.ctx);
    if (r.ok()) (void)r->dump();
  }

  // 2. The input as a template string.
  auto t = Template::compile(Json(std::string(text)));
  if (t.ok()) {
    (void)t->referenced_nodes();
    auto r = t->render(c.ctx);
    if (r.ok()) (void)r->dump();
  }

  // 3. If it is JSON, as a template value (parameters).
  auto j = Json::parse(text);
  if (j.ok()) {
    std::vector<weft::Error> errors;
    auto tj = Template::compile_all(*j, &errors);
    if (tj.ok()) {
      auto r = tj->render(c.ctx);
      if (r.ok()) (void)r->dump();
    }
  }
  return 0;
}
