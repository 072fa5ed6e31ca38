// Workflows and executions through the API: CRUD with immutable versions, pagination, compile
// diagnostics, the sync/async strategy, idempotency, execution lists, logs, control, and the
// per-tier rate limits of compile and execute.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <set>

#include "tests/api/fixture.hpp"

namespace weft::apitest {
namespace {

int64_t wall_ms_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class WorkflowsTest : public ApiTest {};

TEST_P(WorkflowsTest, CreateGetUpdateVersionsDelete) {
  TestUser u = make_user();
  const Json v1 = quick_workflow("first");
  Response c = client().post("/api/workflows", v1, u.token);
  ASSERT_EQ(c.status, 201) << c.describe();
  const Json created = c.json();
  const std::string id = created["id"].as_string();
  ASSERT_FALSE(id.empty());
  EXPECT_EQ(created["version"].as_int(), 1);
  EXPECT_EQ(created["name"].as_string(), "first");
  EXPECT_EQ(created["definition"], v1);
  EXPECT_TRUE(created["compile"]["ok"].as_bool()) << c.describe();
  EXPECT_EQ(created["compile"]["errors"].size(), 0u);

  Response g = client().get("/api/workflows/" + id, u.token);
  ASSERT_EQ(g.status, 200) << g.describe();
  EXPECT_EQ(g.json()["definition"], v1);
  EXPECT_EQ(g.json()["version"].as_int(), 1);

  // Update: a new version; the old one stays unchanged.
  Json v2 = quick_workflow("second");
  v2.set("settings", Json::object({{"timeout_seconds", Json(60)}}));
  Response p = client().put("/api/workflows/" + id, v2, u.token);
  ASSERT_EQ(p.status, 200) << p.describe();
  EXPECT_EQ(p.json()["version"].as_int(), 2);
  EXPECT_EQ(p.json()["id"].as_string(), id);
  Response latest = client().get("/api/workflows/" + id, u.token);
  EXPECT_EQ(latest.json()["version"].as_int(), 2);
  EXPECT_EQ(latest.json()["definition"], v2);
  EXPECT_EQ(latest.json()["name"].as_string(), "second");

  Response vs = client().get("/api/workflows/" + id + "/versions", u.token);
  ASSERT_EQ(vs.status, 200) << vs.describe();
  std::set<int64_t> versions;
  for (const Json& v : vs.json()["versions"].as_array()) versions.insert(v["version"].as_int());
  EXPECT_EQ(versions, (std::set<int64_t>{1, 2}));
  Response one = client().get("/api/workflows/" + id + "/versions/1", u.token);
  ASSERT_EQ(one.status, 200) << one.describe();
  EXPECT_EQ(one.json()["definition"], v1);
  EXPECT_EQ(one.json()["name"].as_string(), "first");
  EXPECT_TRUE(IsError(client().get("/api/workflows/" + id + "/versions/3", u.token), 404, "not_found"));
  EXPECT_TRUE(IsError(client().get("/api/workflows/" + id + "/versions/zero", u.token), 400));
  EXPECT_TRUE(IsError(client().get("/api/workflows/" + id + "/versions/0", u.token), 400));

  // Invalid bodies.
  EXPECT_TRUE(IsError(client().post("/api/workflows", Json::object(), u.token), 400));
  EXPECT_TRUE(IsError(client().post("/api/workflows", Json::parse(R"({"nodes": {}})").value(), u.token), 400));
  EXPECT_TRUE(IsError(client().post("/api/workflows", Json::parse(R"({"nodes": [], "name": 5})").value(), u.token), 400));
  EXPECT_TRUE(IsError(client().request("POST", "/api/workflows", u.token, "[1,2]", {{"Content-Type", "application/json"}}), 400));

  Response d = client().del("/api/workflows/" + id, u.token);
  EXPECT_EQ(d.status, 204) << d.describe();
  EXPECT_TRUE(IsError(client().get("/api/workflows/" + id, u.token), 404, "not_found"));
  EXPECT_TRUE(IsError(client().del("/api/workflows/" + id, u.token), 404, "not_found"));
  EXPECT_TRUE(IsError(client().put("/api/workflows/" + id, v1, u.token), 404, "not_found"));
  EXPECT_TRUE(IsError(execute(u.token, id), 404, "not_found"));
  EXPECT_EQ(client().get("/api/workflows", u.token).json()["workflows"].size(), 0u);
}

TEST_P(WorkflowsTest, ListPaginatesWithoutLossOrDuplicates) {
  TestUser u = make_user();
  std::set<std::string> ids;
  for (int i = 0; i < 7; ++i) ids.insert(create_workflow(u.token, quick_workflow("wf-" + std::to_string(i))));
  std::set<std::string> seen;
  std::string cursor;
  int pages = 0;
  for (;;) {
    Response r = client().get("/api/workflows?limit=3" + (cursor.empty() ? "" : "&cursor=" + cursor), u.token);
    ASSERT_EQ(r.status, 200) << r.describe();
    const Json j = r.json();
    EXPECT_LE(j["workflows"].size(), 3u);
    for (const Json& w : j["workflows"].as_array()) {
      EXPECT_TRUE(seen.insert(w["id"].as_string()).second) << "duplicate " << w["id"].as_string();
      EXPECT_EQ(w["version"].as_int(), 1);
      EXPECT_FALSE(w.contains("definition")) << "lists are summaries";
    }
    ++pages;
    ASSERT_LT(pages, 10);
    if (!j.contains("next_cursor")) break;
    cursor = j["next_cursor"].as_string();
  }
  EXPECT_EQ(seen, ids);
  EXPECT_EQ(pages, 3);
  for (const char* bad : {"0", "201", "-1", "abc", ""}) {
    EXPECT_TRUE(IsError(client().get(std::string("/api/workflows?limit=") + bad, u.token), 400)) << bad;
  }
}

TEST_P(WorkflowsTest, CompileAnUnsavedBodyReturnsEveryProblem) {
  TestUser u = make_user();
  auto def = Json::parse(R"({"name": "broken", "nodes": [
      {"id": "start", "type": "core.manual_trigger", "data": {"parameters": {}}},
      {"id": "ghost", "type": "core.does_not_exist", "data": {"parameters": {}}},
      {"id": "lonely", "type": "core.set", "data": {"parameters": {"fields": {"x": 1}}}},
      {"id": "sleepy", "type": "core.wait", "data": {"parameters": {"seconds": -5}}},
      {"id": "bad_expr", "type": "core.set", "data": {"parameters": {"fields": {"x": "{{ nope( }}"}}}}
    ], "edges": [
      {"id": "e1", "source": "start", "target": "ghost"},
      {"id": "e2", "source": "start", "target": "nowhere"},
      {"id": "e3", "source": "start", "target": "sleepy"},
      {"id": "e4", "source": "start", "target": "bad_expr"}
    ]})");
  ASSERT_TRUE(def.ok());
  Response r = client().post("/api/workflows/compile", *def, u.token);
  ASSERT_EQ(r.status, 422) << r.describe();
  const Json j = r.json();
  EXPECT_FALSE(j["ok"].as_bool(true));
  std::multiset<std::string> codes;
  for (const Json& e : j["errors"].as_array()) {
    codes.insert(e["code"].as_string());
    EXPECT_TRUE(e["message"].is_string() && !e["message"].as_string().empty()) << e.dump();
    EXPECT_TRUE(e.contains("node_id")) << e.dump();
  }
  for (const char* want : {"unknown_node_type", "dangling_edge", "orphan_node", "out_of_range", "expression_syntax"})
    EXPECT_EQ(codes.count(want), 1u) << want << " missing from " << r.body;
  // Compiling saves nothing.
  EXPECT_EQ(client().get("/api/workflows", u.token).json()["workflows"].size(), 0u);
  // A clean body compiles.
  Response ok = client().post("/api/workflows/compile", quick_workflow(), u.token);
  EXPECT_EQ(ok.status, 200) << ok.describe();
  EXPECT_TRUE(ok.json()["ok"].as_bool());
  // A saved one too, also by version.
  const std::string id = create_workflow(u.token, quick_workflow());
  EXPECT_EQ(client().post_empty("/api/workflows/" + id + "/compile", u.token).status, 200);
  EXPECT_EQ(client().post_empty("/api/workflows/" + id + "/compile?version=1", u.token).status, 200);
  EXPECT_TRUE(IsError(client().post_empty("/api/workflows/" + id + "/compile?version=2", u.token), 404));
  // A saved broken workflow: saving works, the answer carries its diagnostics, running is refused.
  Response saved = client().post("/api/workflows", *def, u.token);
  ASSERT_EQ(saved.status, 201) << saved.describe();
  EXPECT_FALSE(saved.json()["compile"]["ok"].as_bool(true));
  EXPECT_GE(saved.json()["compile"]["errors"].size(), 5u);
  Response run = execute(u.token, saved.json()["id"].as_string());
  EXPECT_TRUE(IsError(run, 400, "compile_failed")) << run.describe();
}

TEST_P(WorkflowsTest, QuickWorkflowAnswers200WithItsOutput) {
  TestUser u = make_user();
  const std::string id = create_workflow(u.token, quick_workflow());
  Response r = execute(u.token, id);
  ASSERT_EQ(r.status, 200) << r.describe();
  const Json e = r.json()["execution"];
  EXPECT_EQ(e["status"].as_string(), "succeeded");
  EXPECT_EQ(e["output"]["greeting"].as_string(), "hello world") << r.describe();
  EXPECT_EQ(r.json()["links"]["self"].as_string(), "/api/executions/" + e["id"].as_string());
  // With an input.
  Json body = Json::object();
  body.set("input", Json::object({{"name", Json("Ada")}}));
  Response r2 = client().post("/api/workflows/" + id + "/execute", body, u.token);
  ASSERT_EQ(r2.status, 200) << r2.describe();
  EXPECT_EQ(r2.json()["execution"]["output"]["greeting"].as_string(), "hello Ada");
  // The stored execution agrees.
  Response g = client().get("/api/executions/" + r2.json()["execution"]["id"].as_string(), u.token);
  ASSERT_EQ(g.status, 200);
  EXPECT_EQ(g.json()["output"]["greeting"].as_string(), "hello Ada");
  EXPECT_EQ(g.json()["input"]["name"].as_string(), "Ada");
  // Bad arguments.
  EXPECT_TRUE(IsError(execute(u.token, id, "?mode=later"), 400, "invalid_argument"));
  EXPECT_TRUE(IsError(execute(u.token, id, "?version=9"), 404, "not_found"));
  EXPECT_TRUE(IsError(client().request("POST", "/api/workflows/" + id + "/execute", u.token, "{bad",
                                       {{"Content-Type", "application/json"}}),
                      400, "invalid_json"));
}

TEST_P(WorkflowsTest, AsyncModeAnswers202AndCompletes) {
  TestUser u = make_user();
  const std::string id = create_workflow(u.token, quick_workflow());
  Response r = execute(u.token, id, "?mode=async");
  ASSERT_EQ(r.status, 202) << r.describe();
  const std::string eid = r.json()["execution"]["id"].as_string();
  EXPECT_EQ(r.json()["links"]["events"].as_string(), "/api/executions/" + eid + "/events");
  Json done = wait_status(u.token, eid, {"succeeded", "failed", "cancelled"});
  EXPECT_EQ(done["status"].as_string(), "succeeded");
  EXPECT_EQ(done["output"]["greeting"].as_string(), "hello world");
  EXPECT_EQ(done["mode"].as_string(), "async");
}

TEST_P(WorkflowsTest, NonQuickWorkflowAnswers202) {
  TestUser u = make_user();
  const std::string id = create_workflow(u.token, five_node_workflow());
  Response r = execute(u.token, id);
  ASSERT_EQ(r.status, 202) << r.describe();
  const std::string eid = r.json()["execution"]["id"].as_string();
  Json done = wait_status(u.token, eid, {"succeeded", "failed", "cancelled"});
  EXPECT_EQ(done["status"].as_string(), "succeeded") << done.dump();
  EXPECT_EQ(done["output"]["d"].as_int(), 4) << done.dump();
  // ?mode=sync waits even for a non-quick workflow.
  Response s = execute(u.token, id, "?mode=sync");
  EXPECT_EQ(s.status, 200) << s.describe();
  EXPECT_EQ(s.json()["execution"]["status"].as_string(), "succeeded");
  // A long-running node makes even a 3-node workflow non-quick.
  const std::string wid = create_workflow(u.token, wait_workflow(0.2));
  Response w = execute(u.token, wid);
  EXPECT_EQ(w.status, 202) << w.describe();
  wait_status(u.token, w.json()["execution"]["id"].as_string(), {"succeeded"});
}

TEST_P(WorkflowsTest, IdempotencyKeyReturnsTheSameExecution) {
  TestUser u = make_user();
  const std::string id = create_workflow(u.token, five_node_workflow());
  Response a = execute(u.token, id, "", {{"Idempotency-Key", "order-42"}});
  ASSERT_EQ(a.status, 202) << a.describe();
  const std::string eid = a.json()["execution"]["id"].as_string();
  Response b = execute(u.token, id, "", {{"Idempotency-Key", "order-42"}});
  ASSERT_TRUE(b.status == 200 || b.status == 202) << b.describe();
  EXPECT_EQ(b.json()["execution"]["id"].as_string(), eid);
  EXPECT_TRUE(b.json()["existed"].as_bool());
  // A quick workflow too: the second call answers with the first run's result.
  const std::string qid = create_workflow(u.token, quick_workflow());
  Response q1 = execute(u.token, qid, "", {{"Idempotency-Key", "k-1"}});
  Response q2 = execute(u.token, qid, "", {{"Idempotency-Key", "k-1"}});
  ASSERT_EQ(q1.status, 200) << q1.describe();
  ASSERT_EQ(q2.status, 200) << q2.describe();
  EXPECT_EQ(q1.json()["execution"]["id"].as_string(), q2.json()["execution"]["id"].as_string());
  EXPECT_EQ(q2.json()["execution"]["output"], q1.json()["execution"]["output"]);
  // Another key is another execution.
  Response q3 = execute(u.token, qid, "", {{"Idempotency-Key", "k-2"}});
  EXPECT_NE(q3.json()["execution"]["id"].as_string(), q1.json()["execution"]["id"].as_string());
  // Keys are per user: the same key from another user starts that user's own execution.
  TestUser v = make_user();
  const std::string vid = create_workflow(v.token, quick_workflow());
  Response other = execute(v.token, vid, "", {{"Idempotency-Key", "k-1"}});
  ASSERT_EQ(other.status, 200) << other.describe();
  EXPECT_NE(other.json()["execution"]["id"].as_string(), q1.json()["execution"]["id"].as_string());
  wait_status(u.token, eid, {"succeeded"});
  EXPECT_EQ(client().get("/api/executions?workflow_id=" + id, u.token).json()["executions"].size(), 1u);
  EXPECT_EQ(client().get("/api/executions?workflow_id=" + qid, u.token).json()["executions"].size(), 2u);
}

TEST_P(WorkflowsTest, ExecutionListFiltersAndPaginates) {
  TestUser u = make_user();
  const std::string quick = create_workflow(u.token, quick_workflow());
  const std::string waits = create_workflow(u.token, wait_workflow(60));
  std::set<std::string> quick_ids, all_ids;
  for (int i = 0; i < 5; ++i) {
    Response r = execute(u.token, quick);
    ASSERT_EQ(r.status, 200) << r.describe();
    quick_ids.insert(r.json()["execution"]["id"].as_string());
  }
  Response p = execute(u.token, waits);
  ASSERT_EQ(p.status, 202);
  const std::string parked = p.json()["execution"]["id"].as_string();
  wait_status(u.token, parked, {"parked"});
  all_ids = quick_ids;
  all_ids.insert(parked);

  // Pagination, newest first, no loss or duplicates.
  std::set<std::string> seen;
  std::string cursor;
  int64_t last_created = INT64_MAX;
  int pages = 0;
  for (;;) {
    Response r = client().get("/api/executions?limit=2" + (cursor.empty() ? "" : "&cursor=" + cursor), u.token);
    ASSERT_EQ(r.status, 200) << r.describe();
    for (const Json& e : r.json()["executions"].as_array()) {
      EXPECT_TRUE(seen.insert(e["id"].as_string()).second);
      EXPECT_LE(e["created_at"].as_int(), last_created) << "not newest first";
      last_created = e["created_at"].as_int();
    }
    ++pages;
    ASSERT_LT(pages, 10);
    if (!r.json().contains("next_cursor")) break;
    cursor = r.json()["next_cursor"].as_string();
  }
  EXPECT_EQ(seen, all_ids);
  EXPECT_EQ(pages, 3);

  auto ids_of = [&](const std::string& q) {
    std::set<std::string> out;
    Response r = client().get("/api/executions" + q, u.token);
    EXPECT_EQ(r.status, 200) << q << ": " << r.describe();
    for (const Json& e : r.json()["executions"].as_array()) out.insert(e["id"].as_string());
    return out;
  };
  EXPECT_EQ(ids_of("?workflow_id=" + quick), quick_ids);
  EXPECT_EQ(ids_of("?workflow_id=" + waits), std::set<std::string>{parked});
  EXPECT_EQ(ids_of("?status=succeeded"), quick_ids);
  EXPECT_EQ(ids_of("?status=parked"), std::set<std::string>{parked});
  EXPECT_EQ(ids_of("?status=failed"), std::set<std::string>{});
  EXPECT_EQ(ids_of("?status=succeeded&workflow_id=" + waits), std::set<std::string>{});
  EXPECT_TRUE(IsError(client().get("/api/executions?status=sleeping", u.token), 400, "invalid_argument"));
  EXPECT_TRUE(IsError(client().get("/api/executions?limit=1000", u.token), 400));
}

TEST_P(WorkflowsTest, LogsListEveryNodeAttempt) {
  TestUser u = make_user();
  const std::string id = create_workflow(u.token, quick_workflow());
  Response r = execute(u.token, id);
  ASSERT_EQ(r.status, 200) << r.describe();
  const std::string eid = r.json()["execution"]["id"].as_string();
  Response l = client().get("/api/executions/" + eid + "/logs", u.token);
  ASSERT_EQ(l.status, 200) << l.describe();
  std::set<std::string> nodes;
  for (const Json& log : l.json()["logs"].as_array()) {
    nodes.insert(log["node_id"].as_string());
    EXPECT_EQ(log["attempt"].as_int(), 1) << log.dump();
    EXPECT_GE(log["finished_at"].as_int(), log["started_at"].as_int());
    EXPECT_TRUE(log.contains("input") && log.contains("output")) << log.dump();
  }
  EXPECT_EQ(nodes, (std::set<std::string>{"start", "greet"})) << l.body;
  EXPECT_TRUE(IsError(client().get("/api/executions/01ZZZZZZZZZZZZZZZZZZZZZZZZ/logs", u.token), 404));
}

TEST_P(WorkflowsTest, CancelAParkedExecution) {
  TestUser u = make_user();
  const std::string id = create_workflow(u.token, wait_workflow(60));
  Response r = execute(u.token, id);
  ASSERT_EQ(r.status, 202) << r.describe();
  const std::string eid = r.json()["execution"]["id"].as_string();
  Json parked = wait_status(u.token, eid, {"parked"});
  EXPECT_GT(parked["wake_at"].as_int(), 0) << parked.dump();
  Response c = client().post_empty("/api/executions/" + eid + "/cancel", u.token);
  ASSERT_EQ(c.status, 200) << c.describe();
  EXPECT_TRUE(c.json()["cancel_requested"].as_bool() || c.json()["status"].as_string() == "cancelled") << c.describe();
  Json done = wait_status(u.token, eid, {"cancelled", "succeeded", "failed"}, 10000);
  EXPECT_EQ(done["status"].as_string(), "cancelled") << "cancelling a parked execution must not wait for its timer";
  // Finished: control answers 409.
  EXPECT_TRUE(IsError(client().post_empty("/api/executions/" + eid + "/cancel", u.token), 409, "invalid_state"));
  EXPECT_TRUE(IsError(client().post_empty("/api/executions/" + eid + "/pause", u.token), 409));
  EXPECT_TRUE(IsError(client().post_empty("/api/executions/" + eid + "/resume", u.token), 409));
}

TEST_P(WorkflowsTest, PauseAndResume) {
  TestUser u = make_user();
  const std::string id = create_workflow(u.token, wait_workflow(0.5));
  Response r = execute(u.token, id);
  ASSERT_EQ(r.status, 202) << r.describe();
  const std::string eid = r.json()["execution"]["id"].as_string();
  Response p = client().post_empty("/api/executions/" + eid + "/pause", u.token);
  ASSERT_EQ(p.status, 200) << p.describe();
  EXPECT_TRUE(p.json()["pause_requested"].as_bool()) << p.describe();
  // Paused, it must not get past the wait: watch it until well after the timer was due. (Paused
  // before a worker claimed it, it stays queued; parked, the store does not wake it; running, the
  // worker stops at the next node boundary as "paused". In no case may it finish.)
  Json cur = wait_status(u.token, eid, {"queued", "parked", "paused", "succeeded", "failed", "cancelled"});
  const int64_t due = cur["wake_at"].as_int(wall_ms_now() + 500);
  const bool finished = eventually(
      [&] {
        cur = client().get("/api/executions/" + eid, u.token).json();
        const std::string st = cur["status"].as_string();
        return st == "succeeded" || st == "failed" || st == "cancelled";
      },
      static_cast<int>(std::max<int64_t>(0, due - wall_ms_now()) + 700), 50);
  ASSERT_FALSE(finished) << "a paused execution ran on: " << cur.dump();
  const std::string held = cur["status"].as_string();
  EXPECT_TRUE(held == "paused" || held == "parked" || held == "queued") << cur.dump();
  EXPECT_TRUE(cur["pause_requested"].as_bool() || cur["status"].as_string() == "paused") << cur.dump();
  Response res = client().post_empty("/api/executions/" + eid + "/resume", u.token);
  ASSERT_EQ(res.status, 200) << res.describe();
  EXPECT_FALSE(res.json()["pause_requested"].as_bool()) << res.describe();
  Json done = wait_status(u.token, eid, {"succeeded", "failed", "cancelled"});
  EXPECT_EQ(done["status"].as_string(), "succeeded") << done.dump();
  EXPECT_TRUE(done["output"]["done"].as_bool()) << done.dump();
  // The event log is complete and ends with workflow_done.
  Response ev = client().get("/api/executions/" + eid + "/events?limit=200", u.token, {{"Accept", "application/json"}});
  ASSERT_EQ(ev.status, 200) << ev.describe();
  const Json& events = ev.json()["events"];
  ASSERT_GE(events.size(), 2u);
  EXPECT_EQ(events.at(events.size() - 1)["type"].as_string(), "workflow_done");
  int64_t seq = 0;
  for (const Json& e : events.as_array()) EXPECT_EQ(e["seq"].as_int(), ++seq);
}

WEFT_API_BACKENDS(WorkflowsTest);

// ---- rate limits per tier --------------------------------------------------------------------------

class TierLimitTest : public ApiTest {
 protected:
  // Sends `send` until the first 429, returns its index (-1 = none) and checks it.
  int first_429(const std::function<Response()>& send, int max) {
    for (int i = 0; i < max; ++i) {
      Response r = send();
      if (r.status == 429) {
        EXPECT_TRUE(IsError(r, 429, "rate_limited"));
        auto ra = r.header("retry-after");
        EXPECT_TRUE(ra.has_value()) << r.describe();
        if (ra) {
          EXPECT_GE(std::atoi(ra->c_str()), 1);
        }
        last_429_ = r;
        return i;
      }
      EXPECT_LT(r.status, 300) << "request " << i << ": " << r.describe();
    }
    return -1;
  }
  Response last_429_;
};

TEST_P(TierLimitTest, FreeTierCompileAndExecuteLimits) {
  TestUser u = make_user("free");
  const std::string id = create_workflow(u.token, quick_workflow());
  const Json body = quick_workflow();
  // A fresh bucket holds exactly the per-minute limit; the refill (one per 6 s for compile,
  // 12 s for execute) cannot add one within the few hundred milliseconds these bursts take.
  int64_t t0 = now_ms();
  int c = first_429([&] { return client().post("/api/workflows/compile", body, u.token); }, 15);
  EXPECT_GE(c, 10) << "free: compile 10/min";
  if (now_ms() - t0 < 5000) {
    EXPECT_EQ(c, 10) << "free: compile 10/min (no refill fits in under 6 s)";
  }
  EXPECT_EQ(last_429_.json()["error"]["details"]["limit_per_minute"].as_int(), 10);
  // Saved-workflow compiles share the class.
  EXPECT_EQ(client().post_empty("/api/workflows/" + id + "/compile", u.token).status, 429);
  t0 = now_ms();
  int e = first_429([&] { return execute(u.token, id); }, 10);
  EXPECT_GE(e, 5) << "free: execute 5/min";
  if (now_ms() - t0 < 10000) {
    EXPECT_EQ(e, 5) << "free: execute 5/min (no refill fits in under 12 s)";
  }
  EXPECT_EQ(last_429_.json()["error"]["details"]["limit_per_minute"].as_int(), 5);
  // Other classes are unaffected.
  EXPECT_EQ(client().get("/api/workflows", u.token).status, 200);
  // Limits are per user.
  TestUser v = make_user("free");
  const std::string vid = create_workflow(v.token, quick_workflow());
  EXPECT_EQ(execute(v.token, vid).status, 200);
}

TEST_P(TierLimitTest, ProTierHasHigherLimits) {
  TestUser u = make_user("pro");
  const std::string id = create_workflow(u.token, quick_workflow());
  Response r = execute(u.token, id);
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.header("x-ratelimit-limit").value_or(""), "50");
  for (int i = 0; i < 6; ++i) ASSERT_EQ(execute(u.token, id).status, 200) << i;
}

WEFT_API_BACKENDS(TierLimitTest);

}  // namespace
}  // namespace weft::apitest
