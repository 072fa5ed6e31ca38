// Fuzz target: workflow JSON through the whole compiler, against a small in-process registry
// mirroring the core node pack. When the compile succeeds, every node's parameters are rendered
// to exercise the compiled templates too.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "tests/compiler/support.hpp"

using weft::Json;
using namespace weft::compiler;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static auto registry = testing::make_registry();
  static Compiler compiler(*registry);
  std::string_view text(reinterpret_cast<const char*>(data), size);

  CompileOptions options;
  options.workflow_id = "fuzz";
  options.max_nodes = 500;  // keep single runs fast; the limit check itself is exercised too
  options.max_edges = 2000;
  CompileResult r = compiler.compile_text(text, options);
  (void)r.errors_json().dump();
  if (!r.ok()) return 0;

  const Plan& plan = *r.plan;
  Json input = Json::object();
  input.set("x", 1);
  for (const auto& node : plan.nodes) {
    (void)plan.index_of(node.id);
    weft::expr::EvalContext ctx;
    ctx.input = &input;
    ctx.json = &input;
    ctx.vars = &plan.variables;
    ctx.max_steps = 20000;
    ctx.max_string_bytes = 1 << 16;
    ctx.node = [&](std::string_view id) -> const Json* {
      return plan.index_of(id) >= 0 ? &input : nullptr;
    };
    auto rendered = node.params.render(ctx);
    if (rendered.ok()) (void)rendered->dump();
  }
  return 0;
}
