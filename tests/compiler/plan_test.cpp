// Valid workflows compile to the expected Plan: topological order, entries, loops and back
// edges, settings, defaults, activation, the quick flag; plus the PlanCache and scale checks.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "tests/compiler/support.hpp"

using weft::Json;
using namespace weft::compiler;
using namespace weft::compiler::testing;

namespace {

class Plans : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { registry_ = make_registry().release(); }
  static void TearDownTestSuite() {
    delete registry_;
    registry_ = nullptr;
  }

  PlanPtr compile_ok(const Wf& wf, const CompileOptions& options = {}) {
    Compiler c(*registry_);
    CompileResult r = c.compile(wf.json(), options);
    EXPECT_TRUE(r.ok()) << dump_diags(r);
    EXPECT_TRUE(r.errors.empty());
    return r.plan;
  }

  // Node ids in plan order for a list of indices.
  static std::vector<std::string> ids(const Plan& p, const std::vector<size_t>& idx) {
    std::vector<std::string> out;
    for (size_t i : idx) out.push_back(p.nodes[i].id);
    return out;
  }
  static std::vector<std::string> ids(const Plan& p, const std::vector<int64_t>& idx) {
    std::vector<std::string> out;
    for (int64_t i : idx) out.push_back(i < 0 ? "-" : p.nodes[static_cast<size_t>(i)].id);
    return out;
  }

  static weft::registry::Registry* registry_;
};

weft::registry::Registry* Plans::registry_ = nullptr;

}  // namespace

TEST_F(Plans, LinearChain) {
  Wf wf;
  wf.node("start", "core.manual_trigger")
      .node("inc", "core.set", R"({"fields": {"x": "{{ $json.x + 1 }}"}})",
            R"({"timeout_seconds": 2.5, "retry_count": 3, "retry_delay_seconds": 0.5,
                "retry_backoff": 2, "retry_max_delay_seconds": 30, "on_error": "continue"})")
      .data("label", "Increment")
      .node("done", "core.noop")
      .edge("start", "inc")
      .edge("inc", "done");
  wf.setting("timeout_seconds", 10).setting("variables", parse_or_die(R"({"env": "test"})"))
      .setting("output_node", "done").setting("max_failures", 3);
  CompileOptions options;
  options.workflow_id = "wf1";
  options.workflow_version = 7;
  PlanPtr plan = compile_ok(wf, options);
  ASSERT_NE(plan, nullptr);
  const Plan& p = *plan;
  EXPECT_EQ(p.workflow_id, "wf1");
  EXPECT_EQ(p.workflow_version, 7);
  ASSERT_EQ(p.nodes.size(), 3u);
  ASSERT_EQ(p.edges.size(), 2u);
  EXPECT_EQ(ids(p, p.topo_order), (std::vector<std::string>{"start", "inc", "done"}));
  EXPECT_EQ(ids(p, p.entries), std::vector<std::string>{"start"});
  EXPECT_EQ(p.timeout_ms, 10000);
  EXPECT_EQ(p.max_failures, 3);
  EXPECT_EQ(p.variables.dump(), R"({"env":"test"})");
  EXPECT_EQ(p.output_node, "done");
  EXPECT_TRUE(p.quick);
  EXPECT_TRUE(p.loops.empty());

  const PlanNode& start = p.nodes[0];
  EXPECT_TRUE(start.is_trigger);
  EXPECT_FALSE(start.is_loop);
  EXPECT_EQ(start.type_name, "core.manual_trigger");
  EXPECT_EQ(start.type_version, 1u);
  ASSERT_NE(start.type, nullptr);
  EXPECT_EQ(start.type->type_name, "core.manual_trigger");
  EXPECT_EQ(start.out_edges, std::vector<size_t>{0});
  EXPECT_TRUE(start.in_edges.empty());
  EXPECT_EQ(start.loop, -1);
  // Default settings (PRODUCT.md §1).
  EXPECT_EQ(start.settings.timeout_ms, 60000);
  EXPECT_EQ(start.settings.retry_count, 0);
  EXPECT_EQ(start.settings.retry_delay_ms, 5000);
  EXPECT_EQ(start.settings.retry_backoff, 1.0);
  EXPECT_EQ(start.settings.on_error, OnError::Stop);

  const PlanNode& inc = p.nodes[1];
  EXPECT_EQ(inc.name, "Increment");
  EXPECT_EQ(inc.settings.timeout_ms, 2500);
  EXPECT_EQ(inc.settings.retry_count, 3);
  EXPECT_EQ(inc.settings.retry_delay_ms, 500);
  EXPECT_EQ(inc.settings.retry_backoff, 2.0);
  EXPECT_EQ(inc.settings.retry_max_delay_ms, 30000);
  EXPECT_EQ(inc.settings.on_error, OnError::Continue);
  EXPECT_STREQ(to_string(inc.settings.on_error), "continue");
  EXPECT_EQ(inc.in_edges, std::vector<size_t>{0});
  EXPECT_EQ(inc.out_edges, std::vector<size_t>{1});
  EXPECT_EQ(inc.raw_params.dump(), R"({"fields":{"x":"{{ $json.x + 1 }}"}})");
  EXPECT_TRUE(inc.params.has_expressions());
  // The compiled parameters render, with the schema default for "mode" filled in.
  Json input = parse_or_die(R"({"x": 41})");
  weft::expr::EvalContext ctx;
  ctx.json = &input;
  auto rendered = inc.params.render(ctx);
  ASSERT_TRUE(rendered.ok()) << rendered.error().message;
  EXPECT_EQ(rendered->dump(), R"({"fields":{"x":42},"mode":"merge"})");

  const PlanEdge& e = p.edges[0];
  EXPECT_EQ(e.id, "e1");
  EXPECT_EQ(e.source, 0u);
  EXPECT_EQ(e.target, 1u);
  EXPECT_EQ(e.source_handle, "main");
  EXPECT_EQ(e.target_handle, "main");
  EXPECT_FALSE(e.back_edge);

  EXPECT_EQ(p.index_of("inc"), 1);
  EXPECT_EQ(p.index_of("nope"), -1);
}

TEST_F(Plans, HandlesDefaultToMainAndNullHandlesAreAccepted) {
  Json wf = parse_or_die(R"({"nodes": [
      {"id": "t", "type": "core.manual_trigger"},
      {"id": "a", "type": "core.noop", "data": {"parameters": null, "settings": null}}],
    "edges": [{"id": "x", "source": "t", "target": "a", "sourceHandle": null, "targetHandle": ""}]})");
  Compiler c(*registry_);
  CompileResult r = c.compile(wf, {});
  ASSERT_TRUE(r.ok()) << dump_diags(r);
  EXPECT_EQ(r.plan->edges[0].source_handle, "main");
  EXPECT_EQ(r.plan->edges[0].target_handle, "main");
  EXPECT_EQ(r.plan->nodes[1].name, "a");  // no label: the id
}

TEST_F(Plans, BranchesAndMerge) {
  // start -> if -> (true) yes, (false) no -> merge(first) ; the document lists nodes out of
  // order to show that the topological order follows edges, ties broken by document order.
  Wf wf;
  wf.node("merge", "core.merge", R"({"mode": "first"})")
      .node("no", "core.set", R"({"fields": {"b": 2}})")
      .node("start", "core.manual_trigger")
      .node("yes", "core.set", R"({"fields": {"a": 1}})")
      .node("if", "core.if", R"({"condition": "{{ $json.n > 1 }}"})")
      .node("all", "core.merge")
      .edge("start", "if")
      .edge("if", "yes", "true")
      .edge("if", "no", "false")
      .edge("yes", "merge")
      .edge("no", "merge")
      .edge("merge", "all")
      .edge("yes", "all");
  PlanPtr plan = compile_ok(wf);
  ASSERT_NE(plan, nullptr);
  const Plan& p = *plan;
  EXPECT_EQ(ids(p, p.topo_order),
            (std::vector<std::string>{"start", "if", "no", "yes", "merge", "all"}));
  const PlanNode& merge = p.nodes[static_cast<size_t>(p.index_of("merge"))];
  EXPECT_EQ(merge.multi_inputs, std::vector<std::string>{"main"});
  EXPECT_TRUE(merge.fire_on_first);
  EXPECT_EQ(merge.in_edges.size(), 2u);
  const PlanNode& all = p.nodes[static_cast<size_t>(p.index_of("all"))];
  EXPECT_FALSE(all.fire_on_first);  // mode defaults to "all"
  EXPECT_FALSE(p.quick);            // 6 nodes
  EXPECT_EQ(p.edges[1].source_handle, "true");
  EXPECT_EQ(p.edges[2].source_handle, "false");
}

TEST_F(Plans, Loop) {
  Wf wf;
  wf.node("start", "core.manual_trigger")
      .node("loop", "core.loop")
      .node("a", "core.set", R"({"fields": {"i": "{{ $index }}", "v": "{{ $item }}",
                                           "src": "{{ $node.start.output }}",
                                           "l": "{{ $node.loop.output }}"}})")
      .node("b", "core.noop")
      .node("after", "core.set", R"({"fields": {"all": "{{ $node.loop.output }}"}})")
      .edge("start", "loop")
      .edge("loop", "a", "item")
      .edge("a", "b")
      .edge("b", "loop", "main", "back")
      .edge("loop", "after", "done");
  PlanPtr plan = compile_ok(wf);
  ASSERT_NE(plan, nullptr);
  const Plan& p = *plan;
  ASSERT_EQ(p.loops.size(), 1u);
  const PlanLoop& loop = p.loops[0];
  EXPECT_EQ(p.nodes[loop.loop_node].id, "loop");
  EXPECT_EQ(ids(p, loop.body), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(loop.back_edges, std::vector<size_t>{3});
  EXPECT_EQ(loop.parent, -1);
  EXPECT_TRUE(p.edges[3].back_edge);
  EXPECT_EQ(std::count_if(p.edges.begin(), p.edges.end(), [](const PlanEdge& e) { return e.back_edge; }), 1);
  EXPECT_TRUE(p.nodes[1].is_loop);
  EXPECT_EQ(p.nodes[1].loop, -1);
  EXPECT_EQ(p.nodes[2].loop, 0);
  EXPECT_EQ(p.nodes[3].loop, 0);
  EXPECT_EQ(p.nodes[4].loop, -1);
  // The back edge is in the loop node's in_edges but not in the topological order's constraints.
  EXPECT_EQ(p.nodes[1].in_edges, (std::vector<size_t>{0, 3}));
  EXPECT_EQ(ids(p, p.topo_order), (std::vector<std::string>{"start", "loop", "a", "b", "after"}));
  EXPECT_EQ(p.nodes[1].settings.timeout_ms, 60000);
}

TEST_F(Plans, NestedLoops) {
  Wf wf;
  wf.node("start", "core.manual_trigger")
      .node("outer", "core.loop")
      .node("prep", "core.noop")
      .node("inner", "core.loop")
      .node("work", "core.set", R"({"fields": {"o": "{{ $node.prep.output }}"}})")
      .node("collect", "core.noop")
      .node("end", "core.noop")
      .edge("start", "outer")
      .edge("outer", "prep", "item")
      .edge("prep", "inner")
      .edge("inner", "work", "item")
      .edge("work", "inner", "main", "back")
      .edge("inner", "collect", "done")
      .edge("collect", "outer", "main", "back")
      .edge("outer", "end", "done");
  PlanPtr plan = compile_ok(wf);
  ASSERT_NE(plan, nullptr);
  const Plan& p = *plan;
  ASSERT_EQ(p.loops.size(), 2u);
  EXPECT_EQ(p.nodes[p.loops[0].loop_node].id, "outer");
  EXPECT_EQ(ids(p, p.loops[0].body), (std::vector<std::string>{"prep", "inner", "work", "collect"}));
  EXPECT_EQ(p.loops[0].parent, -1);
  EXPECT_EQ(p.nodes[p.loops[1].loop_node].id, "inner");
  EXPECT_EQ(ids(p, p.loops[1].body), std::vector<std::string>{"work"});
  EXPECT_EQ(p.loops[1].parent, 0);
  std::vector<int64_t> loops;
  for (const auto& n : p.nodes) loops.push_back(n.loop);
  EXPECT_EQ(loops, (std::vector<int64_t>{-1, -1, 0, 0, 1, 0, -1}));
  EXPECT_EQ(p.loops[0].back_edges, std::vector<size_t>{6});
  EXPECT_EQ(p.loops[1].back_edges, std::vector<size_t>{4});
  EXPECT_EQ(ids(p, p.topo_order),
            (std::vector<std::string>{"start", "outer", "prep", "inner", "work", "collect", "end"}));
}

TEST_F(Plans, QuickFlag) {
  Wf four;
  four.node("s", "core.manual_trigger").node("a", "core.noop").node("b", "core.noop")
      .node("c", "core.noop").edge("s", "a").edge("a", "b").edge("b", "c");
  EXPECT_TRUE(compile_ok(four)->quick);

  Wf five = four;
  five.node("d", "core.noop").edge("c", "d");
  EXPECT_FALSE(compile_ok(five)->quick);

  Wf llm;
  llm.node("s", "core.manual_trigger").node("l", "test.llm", R"({"prompt": "hi"})").edge("s", "l");
  EXPECT_FALSE(compile_ok(llm)->quick);

  Wf wait;
  wait.node("s", "core.manual_trigger").node("w", "core.wait", R"({"seconds": 1})").edge("s", "w");
  EXPECT_FALSE(compile_ok(wait)->quick);
}

TEST_F(Plans, TypeVersionPinning) {
  Wf wf;
  wf.node("s", "core.manual_trigger")
      .node("old", "test.versioned", R"({"old": "x"})").data("type_version", 1)
      .node("new", "test.versioned", R"({"new": "y"})")
      .edge("s", "old").edge("old", "new");
  Compiler c(*registry_);
  CompileResult r = c.compile(wf.json(), {});
  ASSERT_TRUE(r.ok()) << dump_diags(r);
  EXPECT_TRUE(r.warnings.empty()) << dump_diags(r);  // each node checked against its own version
  EXPECT_EQ(r.plan->nodes[1].type_version, 1u);
  EXPECT_EQ(r.plan->nodes[1].type->type_version, 1u);
  EXPECT_EQ(r.plan->nodes[2].type_version, 2u);
}

TEST_F(Plans, SeveralTriggersAreEntries) {
  Wf wf;
  wf.node("a", "core.noop").node("t2", "core.manual_trigger").node("t1", "core.manual_trigger")
      .node("m", "core.merge").edge("t1", "m").edge("t2", "a").edge("a", "m");
  PlanPtr plan = compile_ok(wf);
  ASSERT_NE(plan, nullptr);
  EXPECT_EQ(ids(*plan, plan->entries), (std::vector<std::string>{"t2", "t1"}));
  EXPECT_EQ(ids(*plan, plan->topo_order), (std::vector<std::string>{"t2", "a", "t1", "m"}));
}

TEST_F(Plans, RoutedErrorHandle) {
  Wf wf;
  wf.node("s", "core.manual_trigger")
      .node("risky", "core.noop", "", R"({"on_error": "route"})")
      .node("ok", "core.noop").node("handler", "core.noop")
      .edge("s", "risky").edge("risky", "ok").edge("risky", "handler", "error");
  PlanPtr plan = compile_ok(wf);
  ASSERT_NE(plan, nullptr);
  EXPECT_EQ(plan->nodes[1].settings.on_error, OnError::Route);
  EXPECT_EQ(plan->edges[2].source_handle, "error");
}

TEST_F(Plans, IndexOfWorksOnHandBuiltPlans) {
  Plan p;
  p.nodes.resize(2);
  p.nodes[0].id = "x";
  p.nodes[1].id = "y";
  EXPECT_EQ(p.index_of("y"), 1);
  EXPECT_EQ(p.index_of("z"), -1);
}

// ---- PlanCache -----------------------------------------------------------------------------

TEST(PlanCacheTest, GetPutEvictClear) {
  PlanCache cache(2);
  auto a = std::make_shared<const Plan>();
  auto b = std::make_shared<const Plan>();
  auto c = std::make_shared<const Plan>();
  EXPECT_EQ(cache.get("wf", 1), nullptr);
  cache.put("wf", 1, a);
  cache.put("wf", 2, b);
  EXPECT_EQ(cache.get("wf", 1), a);  // touch 1, so 2 is the least recently used
  cache.put("other", 1, c);
  EXPECT_EQ(cache.get("wf", 2), nullptr);
  EXPECT_EQ(cache.get("wf", 1), a);
  EXPECT_EQ(cache.get("other", 1), c);
  cache.put("wf", 1, b);  // replace
  EXPECT_EQ(cache.get("wf", 1), b);
  // Keys do not collide across id/version boundaries.
  cache.put("wf1", 1, a);
  EXPECT_EQ(cache.get("wf", 11), nullptr);
  cache.clear();
  EXPECT_EQ(cache.get("wf", 1), nullptr);
  EXPECT_EQ(cache.get("other", 1), nullptr);
}

TEST(PlanCacheTest, ConcurrentUse) {
  PlanCache cache(8);
  auto plan = std::make_shared<const Plan>();
  std::atomic<int> hits{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        cache.put("wf" + std::to_string((i + t) % 16), i % 3, plan);
        if (cache.get("wf" + std::to_string(i % 16), i % 3)) hits.fetch_add(1);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_GT(hits.load(), 0);
}

// ---- scale ---------------------------------------------------------------------------------

TEST_F(Plans, TenThousandNodeChainCompilesQuickly) {
  // A 10,000-node chain where every node reads its predecessor and the trigger: exercises the
  // upstream check at scale (it must stay near-linear).
  const int n = 10000;
  std::string text = R"({"name": "chain", "nodes": [{"id": "n0", "type": "core.manual_trigger"})";
  for (int i = 1; i < n; ++i) {
    text += ",{\"id\": \"n" + std::to_string(i) +
            "\", \"type\": \"core.set\", \"data\": {\"parameters\": {\"fields\": {\"prev\": "
            "\"{{ $node.n" + std::to_string(i - 1) + ".output.x }}\", \"first\": \"{{ $node.n0.output }}\"}}}}";
  }
  text += "], \"edges\": [";
  for (int i = 1; i < n; ++i) {
    if (i > 1) text += ',';
    text += "{\"id\": \"e" + std::to_string(i) + "\", \"source\": \"n" + std::to_string(i - 1) +
            "\", \"target\": \"n" + std::to_string(i) + "\"}";
  }
  text += "]}";
  auto doc = Json::parse(text);
  ASSERT_TRUE(doc.ok());
  Compiler c(*registry_);
  auto start = std::chrono::steady_clock::now();
  CompileResult r = c.compile(*doc, {});
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() -
                                                                  start)
                .count();
  ASSERT_TRUE(r.ok()) << dump_diags(r);
  EXPECT_EQ(r.plan->nodes.size(), static_cast<size_t>(n));
  EXPECT_EQ(r.plan->topo_order.size(), static_cast<size_t>(n));
  EXPECT_EQ(r.plan->topo_order.back(), static_cast<size_t>(n - 1));
  std::printf("[ info ] 10,000-node chain with 20,000 expressions compiled in %.1f ms\n", us / 1000.0);

  // The same chain where the last node refers to a node downstream of nothing: one error.
  Json bad = *doc;
  Json nodes = bad["nodes"];
  Json& last = nodes.mutable_array().back();
  Json data = last["data"];
  data.set("parameters", parse_or_die(R"({"fields": {"x": "{{ $node.n9999.output }}"}})"));
  last.set("data", data);
  Json& first_set = nodes.mutable_array()[1];
  Json d1 = first_set["data"];
  d1.set("parameters", parse_or_die(R"({"fields": {"x": "{{ $node.n5000.output }}"}})"));
  first_set.set("data", d1);
  bad.set("nodes", nodes);
  r = c.compile(bad, {});
  EXPECT_EQ(codes(r.errors),
            (std::vector<std::string>{"expression_not_upstream", "expression_not_upstream"}))
      << dump_diags(r);
}

TEST_F(Plans, WideFanOutAndFanIn) {
  // One trigger feeding 5,000 nodes that all flow into one merge.
  Wf wf;
  wf.node("s", "core.manual_trigger").node("m", "core.merge");
  for (int i = 0; i < 5000; ++i) {
    std::string id = "w" + std::to_string(i);
    wf.node(id, "core.noop");
  }
  Json doc = wf.json();
  Json edges = Json::array();
  for (int i = 0; i < 5000; ++i) {
    std::string id = "w" + std::to_string(i);
    Json e1 = Json::object();
    e1.set("id", "a" + std::to_string(i));
    e1.set("source", "s");
    e1.set("target", id);
    edges.push_back(e1);
    Json e2 = Json::object();
    e2.set("id", "b" + std::to_string(i));
    e2.set("source", id);
    e2.set("target", "m");
    edges.push_back(e2);
  }
  doc.set("edges", edges);
  Compiler c(*registry_);
  CompileResult r = c.compile(doc, {});
  ASSERT_TRUE(r.ok()) << dump_diags(r);
  EXPECT_EQ(r.plan->nodes[1].in_edges.size(), 5000u);
  EXPECT_EQ(r.plan->topo_order.back(), 1u);
}
