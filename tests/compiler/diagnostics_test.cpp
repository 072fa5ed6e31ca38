// One test per diagnostic code the compiler returns, plus "all errors at once".
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "tests/compiler/support.hpp"

using weft::Json;
using namespace weft::compiler;
using namespace weft::compiler::testing;

namespace {

class Diagnostics : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { registry_ = make_registry().release(); }
  static void TearDownTestSuite() {
    delete registry_;
    registry_ = nullptr;
  }

  CompileResult compile(const Json& wf, const CompileOptions& options = {}) {
    Compiler c(*registry_);
    return c.compile(wf, options);
  }
  CompileResult compile(const Wf& wf, const CompileOptions& options = {}) {
    return compile(wf.json(), options);
  }
  CompileResult compile_text(std::string_view text, const CompileOptions& options = {}) {
    Compiler c(*registry_);
    return c.compile_text(text, options);
  }

  // Compiles and expects exactly the given error codes (in order).
  CompileResult expect_errors(const Wf& wf, std::vector<std::string> expected) {
    CompileResult r = compile(wf);
    EXPECT_EQ(codes(r.errors), expected) << dump_diags(r);
    EXPECT_EQ(r.plan, nullptr);
    EXPECT_FALSE(r.ok());
    return r;
  }

  // A valid start: a trigger named "start".
  static Wf base() {
    Wf wf;
    wf.node("start", "core.manual_trigger");
    return wf;
  }

  static weft::registry::Registry* registry_;
};

weft::registry::Registry* Diagnostics::registry_ = nullptr;

}  // namespace

TEST_F(Diagnostics, ValidBaseCompiles) {
  Wf wf = base();
  wf.node("a", "core.set", R"({"fields": {"x": 1}})").edge("start", "a");
  CompileResult r = compile(wf);
  EXPECT_TRUE(r.ok()) << dump_diags(r);
  EXPECT_TRUE(r.errors.empty());
  EXPECT_TRUE(r.warnings.empty()) << dump_diags(r);
}

// ---- document ------------------------------------------------------------------------------

TEST_F(Diagnostics, InvalidJson) {
  CompileResult r = compile_text("{\"nodes\": [");
  ASSERT_EQ(codes(r.errors), std::vector<std::string>{"invalid_json"});
  EXPECT_EQ(r.errors[0].details["reason"].as_string(), "json_parse_error");
  EXPECT_NE(r.errors[0].message.find("offset"), std::string::npos) << r.errors[0].message;

  r = compile_text("{\"name\": \"\xff\xfe\", \"nodes\": []}");
  ASSERT_EQ(codes(r.errors), std::vector<std::string>{"invalid_json"});
  EXPECT_EQ(r.errors[0].details["reason"].as_string(), "json_invalid_utf8");

  r = compile_text(std::string("{\"nodes\": [], \"x\": \"a\0b\"}", 25));
  ASSERT_EQ(codes(r.errors), std::vector<std::string>{"invalid_json"});
  EXPECT_EQ(r.errors[0].details["reason"].as_string(), "json_nul_byte");

  r = compile_text(R"({"nodes": [], "nodes": []})");
  ASSERT_EQ(codes(r.errors), std::vector<std::string>{"invalid_json"});
  EXPECT_EQ(r.errors[0].details["reason"].as_string(), "json_duplicate_key");
}

TEST_F(Diagnostics, DeepJsonIsRejectedWithoutCrashing) {
  std::string deep = "{\"nodes\": " + std::string(100000, '[') + std::string(100000, ']') + "}";
  CompileResult r = compile_text(deep);
  ASSERT_EQ(codes(r.errors), std::vector<std::string>{"invalid_json"});
  EXPECT_EQ(r.errors[0].details["reason"].as_string(), "json_too_deep");
}

TEST_F(Diagnostics, InvalidWorkflow) {
  CompileResult r = compile(parse_or_die("[1, 2]"));
  ASSERT_EQ(codes(r.errors), std::vector<std::string>{"invalid_workflow"});
  EXPECT_NE(r.errors[0].message.find("must be a JSON object, got array"), std::string::npos);

  r = compile(parse_or_die(R"({"edges": []})"));
  ASSERT_EQ(codes(r.errors), std::vector<std::string>{"invalid_workflow"});
  EXPECT_EQ(r.errors[0].field, "nodes");

  r = compile(parse_or_die(R"({"nodes": {}, "edges": 5, "settings": "x", "name": 3})"));
  EXPECT_EQ(codes(r.errors), (std::vector<std::string>{"invalid_workflow", "invalid_workflow",
                                                       "invalid_workflow", "invalid_workflow"}))
      << dump_diags(r);
  std::set<std::string> fields;
  for (const auto& d : r.errors) fields.insert(d.field);
  EXPECT_EQ(fields, (std::set<std::string>{"nodes", "edges", "settings", "name"}));
}

TEST_F(Diagnostics, TooManyNodesIsCheckedFirstAndQuickly) {
  // 100,000 nodes, each also broken in other ways: only the limit is reported.
  std::string text = "{\"nodes\": [";
  for (int i = 0; i < 100000; ++i) {
    if (i) text += ',';
    text += "{\"id\": \"n" + std::to_string(i) + "\", \"type\": \"nope\"}";
  }
  text += "], \"edges\": []}";
  auto start = std::chrono::steady_clock::now();
  CompileResult r = compile_text(text);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                  start)
                .count();
  ASSERT_EQ(codes(r.errors), std::vector<std::string>{"too_many_nodes"});
  EXPECT_EQ(r.errors[0].details["limit"].as_int(), 10000);
  EXPECT_EQ(r.errors[0].details["count"].as_int(), 100000);
  EXPECT_NE(r.errors[0].message.find("the limit is 10000"), std::string::npos);
  std::printf("[ info ] 100,000-node document parsed and rejected in %lld ms\n",
              static_cast<long long>(ms));

  CompileOptions small;
  small.max_nodes = 2;
  Wf wf = base();
  wf.node("a", "core.noop").node("b", "core.noop");
  r = compile(wf, small);
  ASSERT_EQ(codes(r.errors), std::vector<std::string>{"too_many_nodes"});
}

TEST_F(Diagnostics, TooManyEdges) {
  CompileOptions small;
  small.max_edges = 1;
  Wf wf = base();
  wf.node("a", "core.noop").node("b", "core.noop").edge("start", "a").edge("a", "b");
  CompileResult r = compile(wf, small);
  ASSERT_EQ(codes(r.errors), std::vector<std::string>{"too_many_edges"});
  EXPECT_EQ(r.errors[0].details["limit"].as_int(), 1);
}

TEST_F(Diagnostics, InvalidNode) {
  Json wf = parse_or_die(R"({"nodes": [
    {"id": "start", "type": "core.manual_trigger"},
    5,
    {"id": "a", "type": "core.noop", "data": "x"},
    {"id": "b"},
    {"id": "c", "type": 7},
    {"id": "d", "type": "core.set", "data": {"parameters": [1]}},
    {"id": "e", "type": "core.noop", "data": {"credentials": "x"}},
    {"id": "f", "type": "core.noop", "data": {"type_version": 0}},
    {"id": "g", "type": "core.noop", "data": {"label": 5}}
  ], "edges": []})");
  CompileResult r = compile(wf);
  std::vector<std::pair<std::string, std::string>> got;  // (node, field) of invalid_node
  for (const auto& d : r.errors)
    if (d.code == "invalid_node") got.emplace_back(d.node_id, d.field);
  EXPECT_EQ(got, (std::vector<std::pair<std::string, std::string>>{
                     {"", "nodes.1"},
                     {"a", "data"},
                     {"b", "type"},
                     {"c", "type"},
                     {"d", "parameters"},
                     {"e", "credentials"},
                     {"f", "type_version"},
                     {"g", "label"}}))
      << dump_diags(r);
}

TEST_F(Diagnostics, InvalidId) {
  Json wf = parse_or_die(R"({"nodes": [
    {"id": "start", "type": "core.manual_trigger"},
    {"type": "core.noop"},
    {"id": "", "type": "core.noop"},
    {"id": 12, "type": "core.noop"},
    {"id": "bad/id", "type": "core.noop"},
    {"id": " padded", "type": "core.noop"},
    {"id": "ok id-1.x:y_z", "type": "core.noop"}
  ], "edges": [
    {"source": "start", "target": "ok id-1.x:y_z"},
    {"id": "fine", "source": "start", "target": "ok id-1.x:y_z"}
  ]})");
  Json nodes = wf["nodes"];
  Json long_id = Json::object();
  long_id.set("id", std::string(129, 'a'));
  long_id.set("type", "core.noop");
  nodes.push_back(long_id);
  wf.set("nodes", nodes);
  CompileResult r = compile(wf);
  std::vector<std::string> fields;
  for (const auto& d : r.errors)
    if (d.code == "invalid_id") fields.push_back(d.field);
  EXPECT_EQ(fields, (std::vector<std::string>{"nodes.1.id", "nodes.2.id", "nodes.3.id",
                                              "nodes.4.id", "nodes.5.id", "nodes.7.id",
                                              "edges.0.id"}))
      << dump_diags(r);
  const Diagnostic* d = find_code(r.errors, "invalid_id");
  ASSERT_NE(d, nullptr);
  EXPECT_NE(d->message.find("id is missing"), std::string::npos);
  // "ok id-1.x:y_z" is a fine id: nothing else about it is reported.
  for (const auto& e : r.errors) EXPECT_NE(e.node_id, "ok id-1.x:y_z") << e.to_json().dump();
}

TEST_F(Diagnostics, DuplicateIds) {
  Wf wf = base();
  wf.node("a", "core.noop").node("a", "core.set").edge("start", "a", "main", "main", "e1")
      .edge("start", "a", "main", "main", "e1");
  CompileResult r = compile(wf);
  EXPECT_EQ(codes(r.errors), (std::vector<std::string>{"duplicate_node_id", "duplicate_edge_id"}))
      << dump_diags(r);
  EXPECT_EQ(r.errors[0].node_id, "a");
  EXPECT_EQ(r.errors[0].field, "nodes.2.id");
  EXPECT_NE(r.errors[0].message.find("node #1 and node #2"), std::string::npos);
  EXPECT_EQ(r.errors[1].edge_id, "e1");
}

TEST_F(Diagnostics, UnknownNodeTypeWithSuggestions) {
  Wf wf = base();
  wf.node("a", "core.sett").node("b", "set").node("c", "totally.unrelated")
      .edge("start", "a").edge("a", "b").edge("b", "c");
  CompileResult r = compile(wf);
  ASSERT_EQ(codes(r.errors), (std::vector<std::string>{"unknown_node_type", "unknown_node_type",
                                                       "unknown_node_type"}))
      << dump_diags(r);
  EXPECT_EQ(r.errors[0].node_id, "a");
  EXPECT_EQ(r.errors[0].field, "type");
  EXPECT_NE(r.errors[0].message.find("did you mean core.set"), std::string::npos)
      << r.errors[0].message;
  EXPECT_EQ(r.errors[0].details["suggestions"].at(0).as_string(), "core.set");
  EXPECT_EQ(r.errors[1].details["suggestions"].at(0).as_string(), "core.set");
  EXPECT_EQ(r.errors[2].details["suggestions"].size(), 0u);
  // Unknown types do not also produce handle errors on their edges.
}

TEST_F(Diagnostics, UnknownTypeVersion) {
  Wf wf = base();
  wf.node("a", "test.versioned").data("type_version", 7).edge("start", "a");
  CompileResult r = compile(wf);
  ASSERT_EQ(codes(r.errors), std::vector<std::string>{"unknown_type_version"}) << dump_diags(r);
  EXPECT_EQ(r.errors[0].field, "type_version");
  EXPECT_EQ(r.errors[0].details["available"].dump(), "[1,2]");
}

// ---- edges ---------------------------------------------------------------------------------

TEST_F(Diagnostics, InvalidEdge) {
  Json wf = base().json();
  wf.set("edges", parse_or_die(R"([
    "not an edge",
    {"id": "e1", "target": "start"},
    {"id": "e2", "source": 5, "target": "start"},
    {"id": "e3", "source": "start", "target": "start", "sourceHandle": 1}
  ])"));
  CompileResult r = compile(wf);
  std::vector<std::pair<std::string, std::string>> got;
  for (const auto& d : r.errors)
    if (d.code == "invalid_edge") got.emplace_back(d.edge_id, d.field);
  EXPECT_EQ(got, (std::vector<std::pair<std::string, std::string>>{
                     {"", "edges.0"}, {"e1", "source"}, {"e2", "source"}, {"e3", "sourceHandle"}}))
      << dump_diags(r);
}

TEST_F(Diagnostics, DanglingEdge) {
  Wf wf = base();
  wf.node("a", "core.noop").edge("start", "a").edge("a", "ghost").edge("phantom", "a");
  CompileResult r = compile(wf);
  ASSERT_EQ(codes(r.errors), (std::vector<std::string>{"dangling_edge", "dangling_edge"}))
      << dump_diags(r);
  EXPECT_EQ(r.errors[0].edge_id, "e2");
  EXPECT_EQ(r.errors[0].field, "target");
  EXPECT_NE(r.errors[0].message.find("\"ghost\" does not exist"), std::string::npos);
  EXPECT_EQ(r.errors[1].field, "source");
}

TEST_F(Diagnostics, UnknownHandle) {
  Wf wf = base();
  wf.node("a", "core.if", R"({"condition": true})")
      .node("b", "core.noop")
      .node("t2", "core.manual_trigger")
      .edge("start", "a")
      .edge("a", "b", "maybe", "main")
      .edge("a", "b", "true", "side")
      .edge("b", "t2");
  CompileResult r = compile(wf);
  ASSERT_EQ(codes(r.errors),
            (std::vector<std::string>{"unknown_handle", "unknown_handle", "unknown_handle"}))
      << dump_diags(r);
  EXPECT_EQ(r.errors[0].field, "sourceHandle");
  EXPECT_NE(r.errors[0].message.find("outputs: true, false, error"), std::string::npos)
      << r.errors[0].message;
  EXPECT_EQ(r.errors[1].field, "targetHandle");
  EXPECT_NE(r.errors[1].message.find("inputs: main"), std::string::npos);
  EXPECT_NE(r.errors[2].message.find("has no inputs; a trigger starts a workflow"),
            std::string::npos);
}

TEST_F(Diagnostics, SwitchDynamicOutputs) {
  Wf wf = base();
  wf.node("sw", "core.switch", R"({"rules": [{"output": "big", "condition": "{{ $json.n > 5 }}"},
                                            {"output": "small", "condition": true}]})")
      .node("a", "core.noop").node("b", "core.noop").node("c", "core.noop").node("d", "core.noop")
      .edge("start", "sw").edge("sw", "a", "big").edge("sw", "b", "small")
      .edge("sw", "c", "default").edge("sw", "d", "medium");
  CompileResult r = compile(wf);
  ASSERT_EQ(codes(r.errors), std::vector<std::string>{"unknown_handle"}) << dump_diags(r);
  EXPECT_EQ(r.errors[0].edge_id, "e5");
  EXPECT_NE(r.errors[0].message.find("outputs: default, big, small, error"), std::string::npos)
      << r.errors[0].message;
}

TEST_F(Diagnostics, ErrorHandleNeedsRoute) {
  Wf wf = base();
  wf.node("a", "core.noop").node("h", "core.noop").edge("start", "a").edge("a", "h", "error");
  CompileResult r = compile(wf);
  ASSERT_EQ(codes(r.errors), std::vector<std::string>{"error_handle_not_routed"}) << dump_diags(r);
  EXPECT_EQ(r.errors[0].node_id, "a");
  EXPECT_EQ(r.errors[0].edge_id, "e2");
  EXPECT_NE(r.errors[0].message.find("on_error setting is stop"), std::string::npos);

  Wf routed = base();
  routed.node("a", "core.noop", "", R"({"on_error": "route"})")
      .node("h", "core.noop")
      .edge("start", "a")
      .edge("a", "h", "error");
  r = compile(routed);
  EXPECT_TRUE(r.ok()) << dump_diags(r);
}

TEST_F(Diagnostics, MultipleEdgesToSingleInput) {
  Wf wf = base();
  wf.node("a", "core.noop").node("b", "core.noop").node("c", "core.noop")
      .edge("start", "a").edge("start", "b").edge("a", "c").edge("b", "c");
  CompileResult r = compile(wf);
  ASSERT_EQ(codes(r.errors), std::vector<std::string>{"multiple_edges_to_input"}) << dump_diags(r);
  EXPECT_EQ(r.errors[0].node_id, "c");
  EXPECT_EQ(r.errors[0].edge_id, "e4");
  EXPECT_EQ(r.errors[0].details["edges"].dump(), R"(["e3","e4"])");

  Wf merged = base();
  merged.node("a", "core.noop").node("b", "core.noop").node("m", "core.merge")
      .edge("start", "a").edge("start", "b").edge("a", "m").edge("b", "m");
  r = compile(merged);
  EXPECT_TRUE(r.ok()) << dump_diags(r);
}

TEST_F(Diagnostics, IncompatibleHandleTypes) {
  Wf wf = base();
  wf.node("bin", "test.binary_source")
      .node("txt", "test.text_sink")
      .node("js", "test.json_sink")
      .node("num", "test.number_source")
      .node("txt2", "test.text_sink")
      .node("any", "core.noop")
      .edge("start", "bin")
      .edge("bin", "txt")        // binary -> text: no
      .edge("start", "num")
      .edge("num", "txt2")       // number -> text: yes
      .edge("bin", "js", "main", "main", "bin_to_json")  // binary -> json: no
      .edge("txt2", "any");      // text -> any: yes
  CompileResult r = compile(wf);
  ASSERT_EQ(codes(r.errors),
            (std::vector<std::string>{"incompatible_handle_types", "incompatible_handle_types"}))
      << dump_diags(r);
  EXPECT_EQ(r.errors[0].edge_id, "e2");
  EXPECT_EQ(r.errors[0].details["source_type"].as_string(), "binary");
  EXPECT_EQ(r.errors[0].details["target_type"].as_string(), "text");
  EXPECT_EQ(r.errors[1].edge_id, "bin_to_json");

  // text -> json is fine, json -> text is not.
  Wf wf2 = base();
  wf2.node("t", "test.llm", R"({"prompt": "hi"})").node("j", "test.json_sink")
      .node("t2", "test.text_sink").edge("start", "t").edge("t", "j").edge("j", "t2");
  r = compile(wf2);
  ASSERT_EQ(codes(r.errors), std::vector<std::string>{"incompatible_handle_types"})
      << dump_diags(r);
  EXPECT_EQ(r.errors[0].edge_id, "e3");
}

// ---- graph ---------------------------------------------------------------------------------

TEST_F(Diagnostics, Cycle) {
  Wf wf = base();
  wf.node("m", "core.merge").node("a", "core.noop").node("b", "core.noop").node("self", "core.merge")
      .edge("start", "m").edge("m", "a").edge("a", "b").edge("b", "m")
      .edge("start", "self").edge("self", "self");
  CompileResult r = compile(wf);
  ASSERT_EQ(codes(r.errors), (std::vector<std::string>{"cycle", "cycle"})) << dump_diags(r);
  EXPECT_EQ(r.errors[0].details["nodes"].dump(), R"(["m","a","b"])");
  EXPECT_NE(r.errors[0].message.find("nodes m, a, b form a cycle"), std::string::npos);
  EXPECT_EQ(r.errors[1].details["nodes"].dump(), R"(["self"])");
  EXPECT_NE(r.errors[1].message.find("connected to itself"), std::string::npos);
}

TEST_F(Diagnostics, CycleThroughALoopsMainInputIsStillACycle) {
  Wf wf = base();
  wf.node("m", "core.merge").node("loop", "core.loop").node("a", "core.noop")
      .edge("start", "m").edge("m", "loop").edge("loop", "a", "item").edge("a", "m");
  CompileResult r = compile(wf);
  ASSERT_EQ(codes(r.errors), std::vector<std::string>{"cycle"}) << dump_diags(r);
}

TEST_F(Diagnostics, InvalidBackEdge) {
  Wf wf = base();
  wf.node("loop", "core.loop").node("a", "core.noop").node("x", "core.noop")
      .edge("start", "loop").edge("loop", "a", "item").edge("a", "loop", "main", "back")
      .edge("start", "x").edge("x", "loop", "main", "back", "from_outside");
  CompileResult r = compile(wf);
  ASSERT_EQ(codes(r.errors), (std::vector<std::string>{"multiple_edges_to_input", "invalid_back_edge"}))
      << dump_diags(r);
  EXPECT_EQ(r.errors[1].edge_id, "from_outside");
  EXPECT_EQ(r.errors[1].node_id, "loop");
}

TEST_F(Diagnostics, LoopBodyEscape) {
  // The body's last node feeds "after", which also gets the loop's done output: "after" cannot
  // be both inside and outside the loop.
  Wf wf = base();
  wf.node("loop", "core.loop").node("a", "core.noop").node("after", "core.merge")
      .edge("start", "loop").edge("loop", "a", "item").edge("a", "loop", "main", "back")
      .edge("a", "after", "main", "main", "escape").edge("loop", "after", "done");
  CompileResult r = compile(wf);
  ASSERT_EQ(codes(r.errors), std::vector<std::string>{"loop_body_escape"}) << dump_diags(r);
  EXPECT_EQ(r.errors[0].edge_id, "escape");
  EXPECT_EQ(r.errors[0].node_id, "a");
  EXPECT_NE(r.errors[0].message.find("leaves the body of loop \"loop\""), std::string::npos);

  // An inner body returning straight to the outer loop's back input.
  Wf nested = base();
  nested.node("outer", "core.loop").node("inner", "core.loop").node("x", "core.noop")
      .edge("start", "outer").edge("outer", "inner", "item")
      .edge("inner", "x", "item").edge("x", "inner", "main", "back")
      .edge("x", "outer", "main", "back", "skip_level");
  r = compile(nested);
  ASSERT_EQ(codes(r.errors), std::vector<std::string>{"loop_body_escape"}) << dump_diags(r);
  EXPECT_EQ(r.errors[0].edge_id, "skip_level");
}

TEST_F(Diagnostics, LoopBodyEntry) {
  Wf wf = base();
  wf.node("loop", "core.loop").node("side", "core.noop").node("m", "core.merge")
      .edge("start", "loop").edge("start", "side")
      .edge("loop", "m", "item").edge("side", "m", "main", "main", "sneak_in")
      .edge("m", "loop", "main", "back");
  CompileResult r = compile(wf);
  ASSERT_EQ(codes(r.errors), std::vector<std::string>{"loop_body_entry"}) << dump_diags(r);
  EXPECT_EQ(r.errors[0].edge_id, "sneak_in");
  EXPECT_EQ(r.errors[0].node_id, "m");
}

TEST_F(Diagnostics, NoEntry) {
  Wf wf;
  wf.node("a", "core.noop").node("b", "core.noop").edge("a", "b");
  expect_errors(wf, {"no_entry"});
  expect_errors(Wf(), {"no_entry"});  // an empty workflow
}

TEST_F(Diagnostics, OrphanNode) {
  Wf wf = base();
  wf.node("a", "core.noop").node("lonely", "core.noop").node("island1", "core.noop")
      .node("island2", "core.noop").edge("start", "a").edge("island1", "island2");
  CompileResult r = expect_errors(wf, {"orphan_node", "orphan_node", "orphan_node"});
  EXPECT_EQ(r.errors[0].node_id, "lonely");
  EXPECT_EQ(r.errors[1].node_id, "island1");
  EXPECT_EQ(r.errors[2].node_id, "island2");

  // Several triggers are fine; each reaches its own branch.
  Wf two = base();
  two.node("start2", "core.manual_trigger").node("a", "core.noop").node("b", "core.noop")
      .edge("start", "a").edge("start2", "b");
  EXPECT_TRUE(compile(two).ok());
}

// ---- configuration -------------------------------------------------------------------------

TEST_F(Diagnostics, MissingRequiredField) {
  Wf wf = base();
  wf.node("f", "test.fields", R"({})")
      .node("f2", "test.fields", R"({"req": ""})")
      .node("if", "core.if")
      .node("set", "core.set")  // "fields" is required but has a default: fine
      .edge("start", "f").edge("f", "f2").edge("f2", "if").edge("if", "set", "true");
  CompileResult r = expect_errors(wf, {"missing_required_field", "missing_required_field",
                                       "missing_required_field"});
  EXPECT_EQ(r.errors[0].node_id, "f");
  EXPECT_EQ(r.errors[0].field, "parameters.req");
  EXPECT_NE(r.errors[0].message.find("is missing"), std::string::npos);
  EXPECT_NE(r.errors[1].message.find("is empty"), std::string::npos);
  EXPECT_EQ(r.errors[2].field, "parameters.condition");
}

TEST_F(Diagnostics, InvalidFieldType) {
  Wf wf = base();
  wf.node("f", "test.fields",
          R"({"req": "x", "s": 1, "n": "1", "i": 1.5, "b": "true", "c": 3, "cred": 4,
              "e": [1], "j": {"anything": [1, "goes"]}})")
      .edge("start", "f");
  CompileResult r = compile(wf);
  std::vector<std::string> fields;
  for (const auto& d : r.errors) {
    EXPECT_EQ(d.code, "invalid_field_type") << d.to_json().dump();
    fields.push_back(d.field);
  }
  EXPECT_EQ(fields, (std::vector<std::string>{"parameters.s", "parameters.n", "parameters.i",
                                              "parameters.b", "parameters.c", "parameters.cred",
                                              "parameters.e"}))
      << dump_diags(r);
  EXPECT_NE(r.errors[1].message.find("must be a number, got string"), std::string::npos);
  EXPECT_EQ(r.errors[2].details["expected"].as_string(), "integer");

  // Expressions satisfy every type at compile time; integral doubles are integers.
  Wf ok = base();
  ok.node("f", "test.fields",
          R"({"req": "{{ $json.r }}", "s": "{{ $json.s }}", "n": "{{ 1 + 1 }}", "i": 2.0,
              "b": "{{ true }}", "sel": "{{ 'a' }}", "e": true})")
      .edge("start", "f");
  r = compile(ok);
  EXPECT_TRUE(r.ok()) << dump_diags(r);
}

TEST_F(Diagnostics, InvalidOption) {
  Wf wf = base();
  wf.node("f", "test.fields", R"({"req": "x", "sel": "c"})")
      .node("g", "test.fields", R"({"req": "x", "sel": "b"})")  // object option {"value": "b"}
      .edge("start", "f").edge("f", "g");
  CompileResult r = expect_errors(wf, {"invalid_option"});
  EXPECT_EQ(r.errors[0].field, "parameters.sel");
  EXPECT_NE(r.errors[0].message.find("not one of: a, b"), std::string::npos) << r.errors[0].message;
  EXPECT_EQ(r.errors[0].details["options"].dump(), R"(["a","b"])");
}

TEST_F(Diagnostics, OutOfRange) {
  Wf wf = base();
  wf.node("f", "test.fields", R"({"req": "x", "n": 10.5, "i": 0})")
      .node("loop", "core.loop", R"({"max_iterations": 0})")
      .edge("start", "f").edge("f", "loop");
  CompileResult r = expect_errors(wf, {"out_of_range", "out_of_range", "out_of_range"});
  EXPECT_NE(r.errors[0].message.find("10.5, above the maximum 10"), std::string::npos)
      << r.errors[0].message;
  EXPECT_EQ(r.errors[1].details["min"].as_double(), 1);
  EXPECT_EQ(r.errors[2].node_id, "loop");
}

TEST_F(Diagnostics, TooLong) {
  Wf wf = base();
  wf.node("f", "test.fields", R"({"req": "x", "s": "\u00e9\u00e9\u00e9\u00e9\u00e9"})")  // 5 code points: ok
      .node("g", "test.fields", R"({"req": "x", "s": "abcdef"})")
      .edge("start", "f").edge("f", "g");
  CompileResult r = expect_errors(wf, {"too_long"});
  EXPECT_EQ(r.errors[0].node_id, "g");
  EXPECT_EQ(r.errors[0].details["max_length"].as_int(), 5);
}

TEST_F(Diagnostics, UnknownParameterIsAWarning) {
  Wf wf = base();
  wf.node("a", "core.set", R"({"fields": {}, "colour": "blue"})").edge("start", "a");
  CompileResult r = compile(wf);
  EXPECT_TRUE(r.ok()) << dump_diags(r);
  ASSERT_EQ(codes(r.warnings), std::vector<std::string>{"unknown_parameter"});
  EXPECT_EQ(r.warnings[0].field, "parameters.colour");
}

TEST_F(Diagnostics, InvalidNodeSettings) {
  Wf wf = base();
  wf.node("a", "core.noop", "",
          R"({"timeout_seconds": 0, "retry_count": 11, "retry_delay_seconds": 4000,
              "retry_backoff": 0.5, "on_error": "explode"})")
      .node("b", "core.noop", "", R"({"retry_count": 1.5, "timeout_seconds": "{{ 5 }}"})")
      .node("c", "core.noop", "", R"("fast")")
      .edge("start", "a").edge("a", "b").edge("b", "c");
  CompileResult r = compile(wf);
  std::vector<std::string> fields;
  for (const auto& d : r.errors) {
    EXPECT_EQ(d.code, "invalid_setting") << d.to_json().dump();
    fields.push_back(d.node_id + ":" + d.field);
  }
  EXPECT_EQ(fields, (std::vector<std::string>{"a:settings.timeout_seconds", "a:settings.retry_count",
                                              "a:settings.retry_delay_seconds",
                                              "a:settings.retry_backoff", "a:settings.on_error",
                                              "b:settings.timeout_seconds", "b:settings.retry_count",
                                              "c:settings"}))
      << dump_diags(r);
  EXPECT_EQ(r.errors[0].details["min"].as_int(), 1);
  EXPECT_EQ(r.errors[0].details["max"].as_int(), 86400);
  EXPECT_NE(r.errors[5].message.find("settings cannot use expressions"), std::string::npos);
}

TEST_F(Diagnostics, InvalidWorkflowSettings) {
  Wf wf = base();
  wf.setting("timeout_seconds", 0).setting("variables", Json::array()).setting("max_failures", -1)
      .setting("output_node", 5).setting("colour", "blue");
  CompileResult r = compile(wf);
  std::vector<std::string> fields;
  for (const auto& d : r.errors) {
    EXPECT_EQ(d.code, "invalid_setting");
    EXPECT_EQ(d.node_id, "");
    fields.push_back(d.field);
  }
  EXPECT_EQ(fields, (std::vector<std::string>{"settings.timeout_seconds", "settings.max_failures",
                                              "settings.variables", "settings.output_node"}))
      << dump_diags(r);
  ASSERT_EQ(codes(r.warnings), std::vector<std::string>{"unknown_setting"});
  EXPECT_EQ(r.warnings[0].field, "settings.colour");
}

TEST_F(Diagnostics, UnknownSettingIsAWarning) {
  Wf wf = base();
  wf.node("a", "core.noop", "", R"({"retries": 3})").edge("start", "a");
  CompileResult r = compile(wf);
  EXPECT_TRUE(r.ok()) << dump_diags(r);
  ASSERT_EQ(codes(r.warnings), std::vector<std::string>{"unknown_setting"});
  EXPECT_EQ(r.warnings[0].node_id, "a");
  EXPECT_EQ(r.warnings[0].field, "settings.retries");
}

TEST_F(Diagnostics, UnknownOutputNode) {
  Wf wf = base();
  wf.setting("output_node", "nowhere");
  CompileResult r = expect_errors(wf, {"unknown_output_node"});
  EXPECT_EQ(r.errors[0].field, "settings.output_node");
}

// ---- expressions ---------------------------------------------------------------------------

TEST_F(Diagnostics, ExpressionSyntax) {
  Wf wf = base();
  wf.node("a", "core.set", R"({"fields": {"x": "{{ $json.a + }}", "list": ["ok", "{{ nope(1) }}"]}})")
      .edge("start", "a");
  CompileResult r = expect_errors(wf, {"expression_syntax", "expression_syntax"});
  EXPECT_EQ(r.errors[0].node_id, "a");
  EXPECT_EQ(r.errors[0].field, "parameters.fields.x");
  EXPECT_EQ(r.errors[0].details["path"].as_string(), "fields.x");
  EXPECT_EQ(r.errors[0].details["column"].as_int(), 12);  // the end of " $json.a + "
  EXPECT_EQ(r.errors[1].field, "parameters.fields.list.1");
  EXPECT_NE(r.errors[1].message.find("unknown function 'nope'"), std::string::npos)
      << r.errors[1].message;
}

TEST_F(Diagnostics, ExpressionUnknownNode) {
  Wf wf = base();
  wf.node("a", "core.set", R"({"fields": {"x": "{{ $node.ghost.output.id }}"}})").edge("start", "a");
  CompileResult r = expect_errors(wf, {"expression_unknown_node"});
  EXPECT_EQ(r.errors[0].field, "parameters.fields.x");
  EXPECT_EQ(r.errors[0].details["referenced_node"].as_string(), "ghost");
}

TEST_F(Diagnostics, ExpressionNotUpstream) {
  // start -> if -> (true) a, (false) b; a refers to b (a sibling), start refers to a (downstream),
  // c refers to itself.
  Wf wf = base();
  wf.node("if", "core.if", R"({"condition": "{{ $node.start.output.ok }}"})")
      .node("a", "core.set", R"({"fields": {"x": "{{ $node.b.output }}"}})")
      .node("b", "core.set", R"({"fields": {"x": "{{ $node[\"if\"].output }}"}})")
      .node("c", "core.set", R"({"fields": {"x": "{{ $node.c.output }}", "y": "{{ $node.a.output }}"}})")
      .edge("start", "if").edge("if", "a", "true").edge("if", "b", "false").edge("a", "c");
  CompileResult r = expect_errors(wf, {"expression_not_upstream", "expression_not_upstream"});
  EXPECT_EQ(r.errors[0].node_id, "a");
  EXPECT_EQ(r.errors[0].details["referenced_node"].as_string(), "b");
  EXPECT_NE(r.errors[0].message.find("does not run before this node"), std::string::npos);
  EXPECT_EQ(r.errors[1].node_id, "c");
  EXPECT_NE(r.errors[1].message.find("its own node"), std::string::npos);
}

TEST_F(Diagnostics, ExpressionsAfterALoopCannotSeeItsBody) {
  Wf wf = base();
  wf.node("loop", "core.loop")
      .node("body", "core.set", R"({"fields": {"item": "{{ $item }}", "l": "{{ $node.loop.output }}",
                                                "s": "{{ $node.start.output }}"}})")
      .node("after", "core.set", R"({"fields": {"x": "{{ $node.body.output }}"}})")
      .edge("start", "loop").edge("loop", "body", "item").edge("body", "loop", "main", "back")
      .edge("loop", "after", "done");
  CompileResult r = expect_errors(wf, {"expression_not_upstream"});
  EXPECT_EQ(r.errors[0].node_id, "after");
}

// ---- credentials and code ------------------------------------------------------------------

namespace {

// A stand-in for the credential vault (which arrives with a later issue): two credentials of
// user "u1".
class VaultStandIn : public CredentialChecker {
 public:
  std::string check(const std::string& owner, const std::string& id,
                    const std::vector<std::string>& accepted) override {
    calls.push_back(owner + "/" + id);
    static const std::map<std::string, std::string> kTypes = {{"slack-1", "slack"},
                                                              {"pg-1", "postgres"}};
    auto it = kTypes.find(id);
    if (owner != "u1" || it == kTypes.end()) return "credential_not_found";
    if (!accepted.empty() &&
        std::find(accepted.begin(), accepted.end(), it->second) == accepted.end()) {
      return "credential_wrong_type";
    }
    return "";
  }
  std::vector<std::string> calls;
};

// Flags code with unbalanced braces, reporting the line of the first unmatched one.
class BraceChecker : public CodeValidator {
 public:
  std::vector<Problem> validate(std::string_view language, std::string_view code) override {
    languages.emplace_back(language);
    int depth = 0;
    int64_t line = 1, col = 0;
    for (char c : code) {
      ++col;
      if (c == '\n') {
        ++line;
        col = 0;
      }
      if (c == '{') ++depth;
      if (c == '}' && --depth < 0) return {Problem{line, col, "unexpected '}'"}};
    }
    if (depth > 0) return {Problem{line, col, "missing '}'"}};
    return {};
  }
  std::vector<std::string> languages;
};

}  // namespace

TEST_F(Diagnostics, Credentials) {
  Wf wf = base();
  wf.node("ok", "test.slack").data("credentials", parse_or_die(R"({"slack": "slack-1"})"))
      .node("missing", "test.slack").data("credentials", parse_or_die(R"({"slack": "nope"})"))
      .node("wrong", "test.slack").data("credentials", parse_or_die(R"({"slack": {"id": "pg-1", "name": "PG"}})"))
      .node("bad", "test.slack").data("credentials", parse_or_die(R"({"slack": 5})"))
      .node("field", "test.fields", R"({"req": "x", "cred": "pg-1"})")
      .edge("start", "ok").edge("ok", "missing").edge("missing", "wrong").edge("wrong", "bad")
      .edge("bad", "field");
  VaultStandIn vault;
  CompileOptions options;
  options.owner_id = "u1";
  options.credentials = &vault;
  CompileResult r = compile(wf, options);
  EXPECT_EQ(codes(r.errors),
            (std::vector<std::string>{"credential_not_found", "credential_wrong_type",
                                      "invalid_credential_ref", "credential_wrong_type"}))
      << dump_diags(r);
  EXPECT_EQ(r.errors[0].node_id, "missing");
  EXPECT_EQ(r.errors[0].field, "credentials.slack");
  EXPECT_EQ(r.errors[1].details["accepted_types"].dump(), R"(["slack","slack_oauth"])");
  EXPECT_EQ(r.errors[3].field, "parameters.cred");
  EXPECT_EQ(r.errors[3].details["accepted_types"].dump(), R"(["slack"])");
  EXPECT_EQ(vault.calls, (std::vector<std::string>{"u1/slack-1", "u1/nope", "u1/pg-1", "u1/pg-1"}));

  // Another user's credential is "not found" for this one.
  options.owner_id = "u2";
  Wf other = base();
  other.node("ok", "test.slack").data("credentials", parse_or_die(R"({"slack": "slack-1"})"))
      .edge("start", "ok");
  r = compile(other, options);
  EXPECT_EQ(codes(r.errors), std::vector<std::string>{"credential_not_found"});

  // Without a checker, references are recorded but not verified.
  r = compile(other);
  ASSERT_TRUE(r.ok()) << dump_diags(r);
  EXPECT_EQ(r.plan->nodes[1].credential_refs, std::vector<std::string>{"slack-1"});
}

TEST_F(Diagnostics, CredentialsOfAnUnknownTypeAreStillChecked) {
  // A node whose type (or version) does not resolve is already an error, but a reference to
  // another user's credential must be reported too: a saved draft never holds one unnoticed.
  Wf wf = base();
  wf.node("x", "test.nope").data("credentials", parse_or_die(R"({"auth": "slack-1"})")).edge("start", "x");
  VaultStandIn vault;
  CompileOptions options;
  options.owner_id = "u2";
  options.credentials = &vault;
  CompileResult r = compile(wf, options);
  EXPECT_EQ(codes(r.errors), (std::vector<std::string>{"unknown_node_type", "credential_not_found"}))
      << dump_diags(r);
  EXPECT_EQ(vault.calls, std::vector<std::string>{"u2/slack-1"});
}

TEST_F(Diagnostics, PlaceholderOutsideACredentialFieldIsAnError) {
  Wf wf = base();
  wf.node("f", "test.fields", R"({"req": "{{credential:slack}}"})").edge("start", "f");
  CompileResult r = compile(wf);
  ASSERT_EQ(codes(r.errors), std::vector<std::string>{"credential_placeholder_misplaced"}) << dump_diags(r);
  EXPECT_EQ(r.errors[0].node_id, "f");
  EXPECT_EQ(r.errors[0].field, "parameters.req");
}

TEST_F(Diagnostics, CodeSyntaxThroughTheValidatorHook) {
  Wf wf = base();
  wf.node("f", "test.fields", R"({"req": "x", "c": "function f() {\n  return 1;\n"})")
      .node("g", "test.fields", R"({"req": "x", "c": "{ ok }"})")
      .edge("start", "f").edge("f", "g");
  BraceChecker checker;
  CompileOptions options;
  options.code_validator = &checker;
  CompileResult r = compile(wf, options);
  ASSERT_EQ(codes(r.errors), std::vector<std::string>{"code_syntax"}) << dump_diags(r);
  EXPECT_EQ(r.errors[0].node_id, "f");
  EXPECT_EQ(r.errors[0].field, "parameters.c");
  EXPECT_EQ(r.errors[0].details["line"].as_int(), 3);
  EXPECT_EQ(r.errors[0].details["language"].as_string(), "javascript");
  EXPECT_NE(r.errors[0].message.find("(javascript): line 3"), std::string::npos)
      << r.errors[0].message;
  EXPECT_EQ(checker.languages, (std::vector<std::string>{"javascript", "javascript"}));
  // Without a validator the same workflow compiles.
  EXPECT_TRUE(compile(wf).ok());
}

// ---- caps and everything at once -----------------------------------------------------------

TEST_F(Diagnostics, TooManyErrorsIsCapped) {
  Wf wf = base();
  for (int i = 0; i < 1500; ++i) wf.node("n" + std::to_string(i), "core.noop");
  CompileResult r = compile(wf);  // 1500 orphans
  ASSERT_EQ(r.errors.size(), 1001u);
  EXPECT_EQ(r.errors.back().code, "too_many_errors");
  EXPECT_EQ(r.errors.back().details["omitted"].as_int(), 500);
}

TEST_F(Diagnostics, AllErrorsAtOnce) {
  // Six different problems in one document: six diagnostics, each pointing at its place.
  Wf wf = base();
  wf.node("a", "core.sett")                                                    // unknown type
      .node("b", "core.set", R"({"fields": {"x": "{{ $node.zzz.output }}"}})")  // unknown node ref
      .node("c", "core.wait", R"({"seconds": -5})", R"({"retry_count": 99})")  // range + setting
      .node("d", "core.noop")                                                  // orphan
      .edge("start", "a").edge("a", "b").edge("b", "c").edge("c", "ghost");    // dangling
  CompileResult r = compile(wf);
  EXPECT_EQ(codes(r.errors),
            (std::vector<std::string>{"unknown_node_type", "invalid_setting", "out_of_range",
                                      "dangling_edge", "orphan_node", "expression_unknown_node"}))
      << dump_diags(r);
  std::map<std::string, std::string> where;
  for (const auto& d : r.errors) where[d.code] = d.node_id + "|" + d.field + "|" + d.edge_id;
  EXPECT_EQ(where["unknown_node_type"], "a|type|");
  EXPECT_EQ(where["expression_unknown_node"], "b|parameters.fields.x|");
  EXPECT_EQ(where["out_of_range"], "c|parameters.seconds|");
  EXPECT_EQ(where["invalid_setting"], "c|settings.retry_count|");
  EXPECT_EQ(where["dangling_edge"], "|target|e4");
  EXPECT_EQ(where["orphan_node"], "d||");
}

TEST_F(Diagnostics, DiagnosticJson) {
  Wf wf = base();
  wf.node("a", "core.noop").edge("start", "a").edge("a", "ghost");
  CompileResult r = compile(wf);
  Json errors = r.errors_json();
  ASSERT_EQ(errors.size(), 1u);
  const Json& e = errors.at(0);
  EXPECT_EQ(e["code"].as_string(), "dangling_edge");
  EXPECT_TRUE(e["message"].is_string());
  EXPECT_EQ(e["node_id"].as_string(), "");
  EXPECT_EQ(e["field"].as_string(), "target");
  EXPECT_EQ(e["edge_id"].as_string(), "e2");
  EXPECT_FALSE(e.contains("details"));
  // Round-trips as JSON text.
  EXPECT_TRUE(Json::parse(errors.dump()).ok());
}

TEST_F(Diagnostics, HostileShapesDoNotCrash) {
  // Every field with every wrong type; the compiler reports and never crashes.
  const char* values[] = {"null", "true", "1", "-1.5", "\"\"", "\"x\"", "[]", "{}", "[{}]"};
  for (const char* v : values) {
    for (const char* key : {"id", "type", "data", "position"}) {
      std::string text = std::string(R"({"nodes": [{"id": "t", "type": "core.manual_trigger"}, {"id": "n", "type": "core.noop", ")") +
                         key + "\": " + v + "}], \"edges\": [{\"id\": \"e\", \"source\": " + v +
                         ", \"target\": " + v + ", \"sourceHandle\": " + v + "}], \"settings\": " +
                         v + "}";
      CompileResult r = compile_text(text);
      EXPECT_FALSE(r.ok()) << text;
    }
  }
}
