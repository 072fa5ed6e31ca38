// Per-user isolation: another user's workflow, execution or API key is a 404 on every route that
// names it, and never shows up in a list. Nothing B tries changes A's resources.
#include <gtest/gtest.h>

#include "tests/api/fixture.hpp"

namespace weft::apitest {
namespace {

class IsolationTest : public ApiTest {};

TEST_P(IsolationTest, AnotherUsersResourcesAre404AndNeverListed) {
  TestUser a = make_user();
  TestUser b = make_user();
  ASSERT_FALSE(a.token.empty());
  ASSERT_FALSE(b.token.empty());

  // A's resources: a workflow (two versions), a parked execution, an API key.
  const std::string wid = create_workflow(a.token, wait_workflow(60, "a-private"));
  ASSERT_EQ(client().put("/api/workflows/" + wid, wait_workflow(60, "a-private-v2"), a.token).status, 200);
  Response run = execute(a.token, wid);
  ASSERT_EQ(run.status, 202) << run.describe();
  const std::string eid = run.json()["execution"]["id"].as_string();
  wait_status(a.token, eid, {"parked"});
  Json kb = Json::object();
  kb.set("name", "a-key");
  Response key = client().post("/api/keys", kb, a.token);
  ASSERT_EQ(key.status, 201) << key.describe();
  const std::string kid = key.json()["id"].as_string();
  const std::string akey = key.json()["key"].as_string();

  // B's own things, so the lists below are not trivially empty.
  const std::string bwid = create_workflow(b.token, quick_workflow("b-own"));
  ASSERT_EQ(execute(b.token, bwid).status, 200);

  const Json body = quick_workflow("hijack");
  const std::string w = "/api/workflows/" + wid;
  const std::string e = "/api/executions/" + eid;
  struct Probe {
    std::string method, path;
    bool json;
  };
  const std::vector<Probe> probes = {
      {"GET", w, false},
      {"PUT", w, true},
      {"DELETE", w, false},
      {"GET", w + "/versions", false},
      {"GET", w + "/versions/1", false},
      {"GET", w + "/versions/2", false},
      {"POST", w + "/compile", false},
      {"POST", w + "/compile?version=1", false},
      {"POST", w + "/execute", false},
      {"POST", w + "/execute?mode=async", false},
      {"GET", w + "/webhooks", false},
      {"GET", e, false},
      {"GET", e + "/logs", false},
      {"GET", e + "/events", false},
      {"POST", e + "/cancel", false},
      {"POST", e + "/pause", false},
      {"POST", e + "/resume", false},
      {"POST", "/api/keys/" + kid + "/rotate", false},
      {"DELETE", "/api/keys/" + kid, false},
  };
  for (const auto& p : probes) {
    SCOPED_TRACE(p.method + " " + p.path);
    Response r = p.json ? client().request(p.method, p.path, b.token, body.dump(), {{"Content-Type", "application/json"}})
                        : client().request(p.method, p.path, b.token);
    EXPECT_TRUE(IsError(r, 404, "not_found"));
    EXPECT_EQ(r.body.find("a-private"), std::string::npos) << "leaked A's data: " << r.body;
  }
  // Events as a JSON page, and as a stream.
  EXPECT_TRUE(IsError(client().get(e + "/events", b.token, {{"Accept", "application/json"}}), 404, "not_found"));
  auto sse = SseStream::open(port(), e + "/events", b.token);
  EXPECT_EQ(sse->status(), 404) << sse->head().describe();
  // B's API key is no better than B's token.
  Json bk = Json::object();
  bk.set("name", "b-key");
  Response bkey = client().post("/api/keys", bk, b.token);
  ASSERT_EQ(bkey.status, 201);
  EXPECT_TRUE(IsError(client().get(w, bkey.json()["key"].as_string()), 404, "not_found"));
  EXPECT_TRUE(IsError(client().get(e, bkey.json()["key"].as_string()), 404, "not_found"));

  // Lists never show A's items, whatever the filters.
  for (const std::string& path : {std::string("/api/workflows"), std::string("/api/workflows?limit=200")}) {
    Response l = client().get(path, b.token);
    ASSERT_EQ(l.status, 200) << l.describe();
    EXPECT_EQ(l.json()["workflows"].size(), 1u) << l.body;
    EXPECT_EQ(l.body.find(wid), std::string::npos);
  }
  for (const std::string& path :
       {std::string("/api/executions"), "/api/executions?workflow_id=" + wid, std::string("/api/executions?status=parked")}) {
    Response l = client().get(path, b.token);
    ASSERT_EQ(l.status, 200) << path << ": " << l.describe();
    EXPECT_EQ(l.body.find(eid), std::string::npos) << path;
    EXPECT_EQ(l.body.find(wid), std::string::npos) << path;
  }
  EXPECT_EQ(client().get("/api/executions?workflow_id=" + wid, b.token).json()["executions"].size(), 0u);
  // A's execution id as a list cursor answers exactly like an id that does not exist.
  {
    Response with_a = client().get("/api/executions?cursor=" + eid, b.token);
    Response with_none = client().get("/api/executions?cursor=01ZZZZZZZZZZZZZZZZZZZZZZZZ", b.token);
    EXPECT_EQ(with_a.status, with_none.status) << with_a.describe();
    EXPECT_EQ(with_a.error_code(), with_none.error_code());
    EXPECT_EQ(with_a.body.find(wid), std::string::npos);
    EXPECT_EQ(with_a.body.find("a-private"), std::string::npos);
  }
  Response keys = client().get("/api/keys", b.token);
  ASSERT_EQ(keys.status, 200);
  EXPECT_EQ(keys.body.find(kid), std::string::npos);
  EXPECT_EQ(keys.json()["keys"].size(), 1u);

  // A's things are intact: same version, still parked (not cancelled, paused or resumed), key works.
  Response aw = client().get(w, a.token);
  ASSERT_EQ(aw.status, 200);
  EXPECT_EQ(aw.json()["version"].as_int(), 2);
  EXPECT_EQ(aw.json()["name"].as_string(), "a-private-v2");
  Response ae = client().get(e, a.token);
  ASSERT_EQ(ae.status, 200);
  EXPECT_EQ(ae.json()["status"].as_string(), "parked");
  EXPECT_FALSE(ae.json()["cancel_requested"].as_bool());
  EXPECT_FALSE(ae.json()["pause_requested"].as_bool());
  EXPECT_EQ(client().get("/api/auth/me", akey).status, 200);
  Response al = client().get("/api/executions", a.token);
  EXPECT_EQ(al.json()["executions"].size(), 1u) << "B's execute attempts must not have created executions";
}

TEST_P(IsolationTest, WebhookUrlsAreOnlyListedForTheOwner) {
  if (!has_node_type("core.webhook_trigger")) GTEST_SKIP() << "core.webhook_trigger is not in the palette yet";
  TestUser a = make_user();
  TestUser b = make_user();
  auto def = Json::parse(R"({"name": "hook", "nodes": [
      {"id": "hook", "type": "core.webhook_trigger", "position": {"x": 0, "y": 0},
       "data": {"parameters": {"auth": "hmac", "path": "iso-hook"}}}], "edges": []})");
  const std::string wid = create_workflow(a.token, *def);
  Response mine = client().get("/api/workflows/" + wid + "/webhooks", a.token);
  ASSERT_EQ(mine.status, 200) << mine.describe();
  EXPECT_TRUE(mine.json()["webhooks"].at(0)["hmac_secret"].is_string());
  Response theirs = client().get("/api/workflows/" + wid + "/webhooks", b.token);
  EXPECT_TRUE(IsError(theirs, 404, "not_found"));
  EXPECT_EQ(theirs.body.find("whsec_"), std::string::npos);
  // B cannot take over A's webhook path with a workflow of its own.
  Response steal = client().post("/api/workflows", *def, b.token);
  EXPECT_NE(steal.status, 201) << steal.describe();
  EXPECT_EQ(client().get("/api/workflows/" + wid + "/webhooks", a.token).json()["webhooks"].at(0)["url"].as_string(),
            "/webhook/iso-hook");
}

WEFT_API_BACKENDS(IsolationTest);

}  // namespace
}  // namespace weft::apitest
