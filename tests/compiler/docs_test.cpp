// Keeps docs/workflow.schema.json and docs/workflow-format.md honest: the ranges and patterns
// in the schema are the ones the compiler enforces, and every diagnostic code and built-in
// function is documented.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <regex>

#include "host/expr/functions.hpp"
#include "tests/compiler/support.hpp"

using weft::Json;
using namespace weft::compiler;
using namespace weft::compiler::testing;

#ifndef WEFT_SOURCE_DIR
#error "WEFT_SOURCE_DIR must point at the repository"
#endif

namespace {

std::string read(const std::string& rel) {
  std::ifstream in(std::string(WEFT_SOURCE_DIR) + "/" + rel, std::ios::binary);
  EXPECT_TRUE(in.good()) << rel;
  return std::string(std::istreambuf_iterator<char>(in), {});
}

Json schema() {
  auto s = Json::parse(read("docs/workflow.schema.json"));
  EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message);
  return s.ok() ? *s : Json();
}

class Docs : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { registry_ = make_registry().release(); }
  static void TearDownTestSuite() {
    delete registry_;
    registry_ = nullptr;
  }
  CompileResult compile(const Wf& wf) { return Compiler(*registry_).compile(wf.json(), {}); }
  static weft::registry::Registry* registry_;
};
weft::registry::Registry* Docs::registry_ = nullptr;

bool has_code(const CompileResult& r, const std::string& code) {
  return find_code(r.errors, code) != nullptr;
}

}  // namespace

TEST_F(Docs, NodeSettingRangesMatchTheCompiler) {
  Json doc = schema();
  const Json& props = doc["$defs"]["nodeSettings"]["properties"];
  ASSERT_TRUE(props.is_object());
  size_t checked = 0;
  for (const auto& [name, spec] : props.as_object()) {
    if (!spec.contains("minimum")) continue;
    double lo = spec["minimum"].as_double(), hi = spec["maximum"].as_double();
    bool integer = spec["type"].as_string() == "integer";
    double step = integer ? 1 : 0.001;
    for (double v : {lo, hi, lo - step, hi + step}) {
      Wf wf;
      Json settings = Json::object();
      settings.set(name, v);
      wf.node("s", "core.manual_trigger").node("a", "core.noop", "", settings.dump()).edge("s", "a");
      bool inside = v >= lo && v <= hi;
      EXPECT_EQ(compile(wf).ok(), inside) << name << " = " << v;
    }
    ++checked;
  }
  EXPECT_EQ(checked, 5u);
  for (const auto& mode : props["on_error"]["enum"].as_array()) {
    Wf wf;
    wf.node("s", "core.manual_trigger")
        .node("a", "core.noop", "", "{\"on_error\": \"" + mode.as_string() + "\"}")
        .edge("s", "a");
    EXPECT_TRUE(compile(wf).ok()) << mode.dump();
  }
}

TEST_F(Docs, WorkflowSettingRangesMatchTheCompiler) {
  Json doc = schema();
  const Json& props = doc["$defs"]["workflowSettings"]["properties"];
  size_t checked = 0;
  for (const auto& [name, spec] : props.as_object()) {
    if (!spec.contains("minimum")) continue;
    double lo = spec["minimum"].as_double(), hi = spec["maximum"].as_double();
    for (double v : {lo, hi, lo - 1, hi + 1}) {
      Wf wf;
      wf.node("s", "core.manual_trigger").setting(name, v);
      EXPECT_EQ(compile(wf).ok(), v >= lo && v <= hi) << name << " = " << v;
    }
    ++checked;
  }
  EXPECT_EQ(checked, 2u);
}

TEST_F(Docs, IdPatternMatchesTheCompiler) {
  std::regex pattern(schema()["$defs"]["nodeId"]["pattern"].as_string());
  for (std::string id : {"a", "node_1", "fetch-user 2", "x.y:z", "A", " a", "a ", "a/b", "a\"b",
                         "é", "a\tb", "-", "a  b", ""}) {
    Wf wf;
    wf.node(id, "core.manual_trigger");
    CompileResult r = compile(wf);
    bool compiler_ok = !has_code(r, "invalid_id");
    EXPECT_EQ(std::regex_match(id, pattern), compiler_ok) << "\"" << id << "\"";
  }
}

TEST(DocsText, EveryCodeAndFunctionIsDocumented) {
  std::string doc = read("docs/workflow-format.md");
  const char* codes[] = {
      "invalid_json", "invalid_workflow", "too_many_nodes", "too_many_edges", "invalid_node",
      "invalid_edge", "invalid_id", "duplicate_node_id", "duplicate_edge_id",
      "unknown_node_type", "unknown_type_version", "dangling_edge", "unknown_handle",
      "error_handle_not_routed", "multiple_edges_to_input", "incompatible_handle_types", "cycle",
      "invalid_back_edge", "loop_body_escape", "loop_body_entry", "no_entry", "orphan_node",
      "missing_required_field", "invalid_field_type", "invalid_option", "out_of_range",
      "too_long", "invalid_setting", "unknown_output_node", "expression_syntax",
      "expression_unknown_node", "expression_not_upstream", "invalid_credential_ref",
      "credential_not_found", "credential_wrong_type", "code_syntax", "too_many_errors",
      "credential_placeholder_misplaced", "credential_placeholder_unresolved",
      "unknown_parameter", "unknown_setting", "expression_error"};
  for (const char* code : codes)
    EXPECT_NE(doc.find(std::string("`") + code + "`"), std::string::npos) << code;
  for (const auto& b : weft::expr::builtins())
    EXPECT_NE(doc.find(std::string("`") + b.name + "("), std::string::npos) << b.name;
}
