// Human in the loop over the API: /api/orchestrator/* (pending, respond, history), the audit
// entries of every decision, the execution WebSocket (its own port: auth by header and by
// subprotocol, owner/assignee only, the Origin rule, events in order, answers over the socket,
// `after`, limits), and crashes of a real `weft serve` around a parked approval.
//
// Real components only: the in-process ApiServer (SQLite, and PostgreSQL when WEFT_TEST_PG_URL is
// set), the real core plugin's core.approval / core.clarification / on_error "ask", a Beast
// WebSocket client, and the `weft` binary as a child process for the crash tests.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <fcntl.h>
#include <netinet/in.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "host/core/ids.hpp"
#include "host/service/audit.hpp"
#include "host/service/human.hpp"
#include "tests/api/fixture.hpp"
#include "tests/vault/forwarding_store.hpp"

namespace weft::apitest {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace websocket = boost::beast::websocket;

// ---- workflows ------------------------------------------------------------------------------------

Json parse(const std::string& text) {
  auto j = Json::parse(text);
  EXPECT_TRUE(j.ok()) << (j.ok() ? "" : j.error().message) << "\n" << text;
  return j.ok() ? *j : Json();
}

// start -> ask (core.approval) -> approved: yes (set result approved) / rejected: no.
Json approval_workflow(const Json& approvers = Json::array(), const std::string& mode = "any") {
  Json w = parse(R"({
    "name": "approve-payment",
    "nodes": [
      {"id": "start", "type": "core.manual_trigger", "position": {"x": 0, "y": 0},
       "data": {"parameters": {"default_input": {"amount": 42}}}},
      {"id": "ask", "type": "core.approval", "position": {"x": 200, "y": 0},
       "data": {"parameters": {"title": "Pay 42?", "message": "a payment"}}},
      {"id": "yes", "type": "core.set", "position": {"x": 400, "y": 0},
       "data": {"parameters": {"fields": {"result": "approved"}}}},
      {"id": "no", "type": "core.set", "position": {"x": 400, "y": 200},
       "data": {"parameters": {"fields": {"result": "rejected"}}}}
    ],
    "edges": [
      {"id": "e1", "source": "start", "target": "ask"},
      {"id": "e2", "source": "ask", "sourceHandle": "approved", "target": "yes"},
      {"id": "e3", "source": "ask", "sourceHandle": "rejected", "target": "no"}
    ]
  })");
  Json nodes = Json::array();
  for (const Json& n : w["nodes"].as_array()) {
    if (n["id"].as_string() != "ask") {
      nodes.push_back(n);
      continue;
    }
    Json node = n;
    Json data = n["data"];
    Json params = data["parameters"];
    if (approvers.size() > 0) params.set("approvers", approvers);
    params.set("mode", mode);
    data.set("parameters", params);
    node.set("data", data);
    nodes.push_back(node);
  }
  w.set("nodes", nodes);
  return w;
}

// start -> clarify (core.clarification): the answer is the execution's output.
Json clarification_workflow(const Json& options, bool free_text) {
  Json w = parse(R"({
    "name": "clarify",
    "nodes": [
      {"id": "start", "type": "core.manual_trigger", "position": {"x": 0, "y": 0}, "data": {"parameters": {}}},
      {"id": "clarify", "type": "core.clarification", "position": {"x": 200, "y": 0},
       "data": {"parameters": {"question": "Which colour?"}}}
    ],
    "edges": [{"id": "e1", "source": "start", "target": "clarify"}]
  })");
  Json nodes = Json::array();
  nodes.push_back(w["nodes"].at(0));
  Json node = w["nodes"].at(1);
  Json data = node["data"];
  Json params = data["parameters"];
  if (options.size() > 0) params.set("options", options);
  params.set("allow_free_text", free_text);
  data.set("parameters", params);
  node.set("data", data);
  nodes.push_back(node);
  w.set("nodes", nodes);
  return w;
}

// start -> boom (core.wait whose rendered 'seconds' is not a number: it fails at run time, every
// time; on_error ask) -> after (set after: true).
Json recovery_workflow() {
  return parse(R"({
    "name": "recover",
    "nodes": [
      {"id": "start", "type": "core.manual_trigger", "position": {"x": 0, "y": 0},
       "data": {"parameters": {"default_input": {"delay": "soon"}}}},
      {"id": "boom", "type": "core.wait", "position": {"x": 200, "y": 0},
       "data": {"parameters": {"seconds": "{{ $json.delay }}"}, "settings": {"on_error": "ask"}}},
      {"id": "after", "type": "core.set", "position": {"x": 400, "y": 0},
       "data": {"parameters": {"fields": {"after": true}}}}
    ],
    "edges": [
      {"id": "e1", "source": "start", "target": "boom"},
      {"id": "e2", "source": "boom", "target": "after"}
    ]
  })");
}

Json body_of(const std::string& text) { return parse(text); }

// ---- the Beast WebSocket client -------------------------------------------------------------------

// A WebSocket client with a deadline on every operation (async operations run for a bounded
// time on the client's own io_context).
class WsClient {
 public:
  bhttp::response<bhttp::string_body> response;  // the handshake answer (also when declined)
  beast::error_code ec;

  // Connects to 127.0.0.1:port and performs the handshake. True when upgraded (101).
  bool connect(uint16_t port, const std::string& target, const HeaderList& headers = {},
               const std::string& protocols = "") {
    ws_.set_option(websocket::stream_base::decorator([headers, protocols](websocket::request_type& req) {
      for (const auto& [k, v] : headers) req.set(k, v);
      if (!protocols.empty()) req.set(bhttp::field::sec_websocket_protocol, protocols);
    }));
    ws_.read_message_max(8u << 20);
    net::ip::tcp::endpoint ep(net::ip::make_address("127.0.0.1"), port);
    if (!run([&](auto h) { beast::get_lowest_layer(ws_).async_connect(ep, h); }, 5000)) return false;
    return run([&](auto h) { ws_.async_handshake(response, "127.0.0.1:" + std::to_string(port), target, h); }, 10000);
  }

  // The next text frame as JSON; nullopt on close/error/timeout (ec says which).
  std::optional<Json> next(int timeout_ms = 15000) {
    buffer_.consume(buffer_.size());
    if (!run([&](auto h) { ws_.async_read(buffer_, h); }, timeout_ms)) return std::nullopt;
    auto j = Json::parse(beast::buffers_to_string(buffer_.data()));
    if (!j.ok()) return Json(beast::buffers_to_string(buffer_.data()));
    return *j;
  }

  bool send(const Json& j, int timeout_ms = 5000) {
    const std::string text = j.dump();
    ws_.text(true);
    return run([&](auto h) { ws_.async_write(net::buffer(text), h); }, timeout_ms);
  }
  bool send_binary(const std::string& bytes) {
    ws_.binary(true);
    return run([&](auto h) { ws_.async_write(net::buffer(bytes), h); }, 5000);
  }

  // Starts a read, lets it run `idle_ms` (the client answers the server's pings meanwhile), then
  // sends `j` while the read is still pending and returns the frame that read receives.
  std::optional<Json> idle_then_send(int idle_ms, const Json& j) {
    buffer_.consume(buffer_.size());
    bool read_done = false;
    beast::error_code read_ec;
    ws_.async_read(buffer_, [&](beast::error_code e, size_t) {
      read_ec = e;
      read_done = true;
    });
    ioc_.restart();
    ioc_.run_for(std::chrono::milliseconds(idle_ms));
    if (read_done) {
      ec = read_ec;
      return std::nullopt;
    }
    const std::string text = j.dump();
    bool write_done = false;
    ws_.text(true);
    ws_.async_write(net::buffer(text), [&](beast::error_code, size_t) { write_done = true; });
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!read_done && std::chrono::steady_clock::now() < deadline) {
      ioc_.restart();
      ioc_.run_for(std::chrono::milliseconds(50));
    }
    if (!read_done) {
      beast::get_lowest_layer(ws_).cancel();
      ioc_.restart();
      ioc_.run();
      return std::nullopt;
    }
    ec = read_ec;
    if (ec) return std::nullopt;
    auto p = Json::parse(beast::buffers_to_string(buffer_.data()));
    return p.ok() ? std::optional<Json>(*p) : std::nullopt;
  }

  // Reads frames until workflow_done (inclusive) or the stream ends; every frame in order.
  std::vector<Json> until_done(int timeout_ms = 20000) {
    std::vector<Json> frames;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (std::chrono::steady_clock::now() < deadline) {
      auto f = next(timeout_ms);
      if (!f) break;
      frames.push_back(*f);
      if ((*f)["type"].as_string() == "workflow_done") break;
    }
    return frames;
  }

  // After workflow_done: the server's close frame arrives (read fails with "closed").
  bool closed_normally(int timeout_ms = 10000) {
    auto f = next(timeout_ms);
    return !f && ec == websocket::error::closed && ws_.reason().code == websocket::close_code::normal;
  }
  const websocket::close_reason& reason() const { return ws_.reason(); }
  bool is_open() const { return ws_.is_open(); }
  std::string selected_protocol() const {
    auto it = response.find(bhttp::field::sec_websocket_protocol);
    return it == response.end() ? std::string() : std::string(it->value());
  }
  Json response_json() const {
    auto j = Json::parse(response.body());
    return j.ok() ? *j : Json();
  }
  std::string error_code() const { return response_json()["error"]["code"].as_string(); }

 private:
  template <typename Start>
  bool run(Start start, int timeout_ms) {
    bool done = false;
    ec = {};
    start([&](beast::error_code e, auto&&...) {
      ec = e;
      done = true;
    });
    ioc_.restart();
    ioc_.run_for(std::chrono::milliseconds(timeout_ms));
    if (!done) {
      beast::get_lowest_layer(ws_).cancel();
      ioc_.restart();
      ioc_.run();
      ec = beast::error::timeout;
    }
    return !ec;
  }

  net::io_context ioc_;
  websocket::stream<beast::tcp_stream> ws_{ioc_};
  beast::flat_buffer buffer_;
};

// ---- the fixture ----------------------------------------------------------------------------------

constexpr const char* kAllowedOrigin = "https://app.example.com";

class OrchestratorTest : public ApiTest {
 protected:
  void configure(app::Config&, api::ServeConfig& serve) override {
    serve.http.cors_origins = {kAllowedOrigin};
    serve.websocket.port = 0;
  }

  uint16_t ws_port() { return server().ws_port(); }
  static std::string ws_path(const std::string& eid, const std::string& query = "") {
    return "/ws/orchestrator/" + eid + query;
  }

  // Starts the workflow asynchronously; returns the execution id.
  std::string start(const std::string& token, const std::string& workflow_id) {
    Response r = execute(token, workflow_id, "?mode=async");
    EXPECT_EQ(r.status, 202) << r.describe();
    return r.json()["execution"]["id"].as_string();
  }

  // Polls the history of the execution until it has `count` requests and the newest is open;
  // returns that one.
  Json wait_open_request(const std::string& token, const std::string& eid, size_t count = 1) {
    Json found;
    bool ok = eventually(
        [&] {
          Response r = client().get("/api/orchestrator/history/" + eid, token);
          if (r.status != 200) return false;
          const Json& list = r.json()["requests"];
          if (list.size() < count) return false;
          const Json& last = list.at(list.size() - 1);
          if (last["status"].as_string() != "open") return false;
          found = last;
          return true;
        },
        15000, 20);
    EXPECT_TRUE(ok) << "no open request #" << count << " for execution " << eid;
    return found;
  }

  Response respond(const std::string& token, const std::string& request_id, const Json& body) {
    return client().post("/api/orchestrator/respond/" + request_id, body, token);
  }

  // Every persisted event of the execution, through the JSON pages.
  std::vector<Json> events(const std::string& token, const std::string& eid) {
    std::vector<Json> out;
    int64_t after = 0;
    for (;;) {
      Response r = client().get("/api/executions/" + eid + "/events?limit=200&after=" + std::to_string(after), token,
                                {{"Accept", "application/json"}});
      EXPECT_EQ(r.status, 200) << r.describe();
      if (r.status != 200) break;
      const Json& page = r.json()["events"];
      for (const Json& e : page.as_array()) out.push_back(e);
      if (page.size() < 200) break;
      after = out.back()["seq"].as_int();
    }
    return out;
  }
  int count_events(const std::vector<Json>& evs, const std::string& type, const std::string& node_id = "") {
    int n = 0;
    for (const Json& e : evs)
      if (e["type"].as_string() == type && (node_id.empty() || e["data"]["node_id"].as_string() == node_id)) ++n;
    return n;
  }

  std::vector<store::AuditRecord> audit_entries(const std::string& prefix) {
    store::AuditFilter f;
    f.action_type = prefix;
    f.limit = 1000;
    auto list = server().host().store()->list_audit(f);
    EXPECT_TRUE(list.ok()) << (list.ok() ? "" : list.error().message);
    return list.ok() ? *list : std::vector<store::AuditRecord>{};
  }
};

// ---- REST ------------------------------------------------------------------------------------------

TEST_P(OrchestratorTest, ApproveRunsToTheEndAndIsAudited) {
  TestUser u = make_user();
  const std::string wf = create_workflow(u.token, approval_workflow());
  const std::string eid = start(u.token, wf);
  Json req = wait_open_request(u.token, eid);
  ASSERT_TRUE(req.is_object());
  EXPECT_EQ(req["kind"].as_string(), "approval");
  EXPECT_EQ(req["node_id"].as_string(), "ask");
  EXPECT_EQ(req["workflow_id"].as_string(), wf);
  EXPECT_EQ(req["request"]["title"].as_string(), "Pay 42?");
  EXPECT_TRUE(req["created_at"].is_string());
  EXPECT_TRUE(req["response"].is_null());
  EXPECT_TRUE(req["waiting_ms"].is_int());
  wait_status(u.token, eid, {"parked"});

  // The waiting_for_human event names the request.
  auto evs = events(u.token, eid);
  bool announced = false;
  for (const Json& e : evs)
    if (e["type"].as_string() == "waiting_for_human" && e["data"]["request_id"].as_string() == req["id"].as_string())
      announced = true;
  EXPECT_TRUE(announced);

  // Pending lists it for its owner.
  Response pending = client().get("/api/orchestrator/pending", u.token);
  ASSERT_EQ(pending.status, 200) << pending.describe();
  ASSERT_EQ(pending.json()["requests"].size(), 1u) << pending.describe();
  EXPECT_EQ(pending.json()["requests"].at(0)["id"].as_string(), req["id"].as_string());

  Response r = respond(u.token, req["id"].as_string(), body_of(R"({"decision": "approve", "comment": "ok by me"})"));
  ASSERT_EQ(r.status, 200) << r.describe();
  EXPECT_EQ(r.json()["status"].as_string(), "answered");
  EXPECT_EQ(r.json()["response"]["decision"].as_string(), "approve");
  EXPECT_TRUE(r.json()["response"]["approved"].as_bool());
  EXPECT_EQ(r.json()["response"]["by"].as_string(), u.id);
  EXPECT_EQ(r.json()["answered_by"].as_string(), u.id);

  Json done = wait_status(u.token, eid, {"succeeded", "failed"});
  ASSERT_EQ(done["status"].as_string(), "succeeded") << done.dump();
  Response full = client().get("/api/executions/" + eid, u.token);
  EXPECT_EQ(full.json()["output"]["result"].as_string(), "approved") << full.describe();
  EXPECT_EQ(full.json()["output"]["comment"].as_string(), "ok by me") << full.describe();

  // Pending is empty; history has the answer and when the execution consumed it.
  EXPECT_EQ(client().get("/api/orchestrator/pending", u.token).json()["requests"].size(), 0u);
  Response hist = client().get("/api/orchestrator/history/" + eid, u.token);
  ASSERT_EQ(hist.status, 200) << hist.describe();
  ASSERT_EQ(hist.json()["requests"].size(), 1u);
  const Json& h = hist.json()["requests"].at(0);
  EXPECT_EQ(h["status"].as_string(), "answered");
  EXPECT_EQ(h["response"]["comment"].as_string(), "ok by me");
  EXPECT_TRUE(h["answered_at"].is_string());
  EXPECT_TRUE(h["resumed_at_ms"].is_int()) << h.dump();
  EXPECT_FALSE(h.contains("waiting_ms"));

  // The audit entry: who, what, how long it waited.
  auto audit = audit_entries("human.");
  ASSERT_EQ(audit.size(), 1u);
  EXPECT_EQ(audit[0].action_type, "human.approval");
  EXPECT_EQ(audit[0].user_id, u.id);
  EXPECT_EQ(audit[0].workflow_id, wf);
  EXPECT_EQ(audit[0].execution_id, eid);
  EXPECT_EQ(audit[0].node_id, "ask");
  Json entry = parse(audit[0].entry);
  const Json& d = entry["details"];
  EXPECT_EQ(d["request_id"].as_string(), req["id"].as_string());
  EXPECT_EQ(d["kind"].as_string(), "approval");
  EXPECT_EQ(d["decision"].as_string(), "approve");
  EXPECT_EQ(d["request_details"]["title"].as_string(), "Pay 42?");
  EXPECT_EQ(d["response"]["comment"].as_string(), "ok by me");
  ASSERT_TRUE(d["response_time_ms"].is_int()) << entry.dump();
  EXPECT_GE(d["response_time_ms"].as_int(), 0);
  EXPECT_EQ(d["response_time_ms"].as_int(), h["answered_at_ms"].as_int() - h["created_at_ms"].as_int());
}

TEST_P(OrchestratorTest, RejectRoutesToTheRejectedBranch) {
  TestUser u = make_user();
  const std::string wf = create_workflow(u.token, approval_workflow());
  const std::string eid = start(u.token, wf);
  Json req = wait_open_request(u.token, eid);
  Response r = respond(u.token, req["id"].as_string(), body_of(R"({"decision": "reject"})"));
  ASSERT_EQ(r.status, 200) << r.describe();
  EXPECT_FALSE(r.json()["response"]["approved"].as_bool(true));
  Json done = wait_status(u.token, eid, {"succeeded", "failed"});
  ASSERT_EQ(done["status"].as_string(), "succeeded");
  Response full = client().get("/api/executions/" + eid, u.token);
  EXPECT_EQ(full.json()["output"]["result"].as_string(), "rejected") << full.describe();
  auto evs = events(u.token, eid);
  EXPECT_EQ(count_events(evs, "node_start", "yes"), 0);
  EXPECT_EQ(count_events(evs, "node_start", "no"), 1);
  auto audit = audit_entries("human.");
  ASSERT_EQ(audit.size(), 1u);
  EXPECT_EQ(parse(audit[0].entry)["details"]["decision"].as_string(), "reject");
}

TEST_P(OrchestratorTest, AllOfNeedsEveryApproverAndOneVoteEach) {
  TestUser owner = make_user();
  TestUser a = make_user();
  TestUser b = make_user();
  Json approvers = Json::array();
  approvers.push_back(a.id);
  // By email, in another case: assignees match case-insensitively.
  std::string upper = b.email;
  std::transform(upper.begin(), upper.end(), upper.begin(), [](unsigned char c) { return std::toupper(c); });
  approvers.push_back(upper);
  const std::string wf = create_workflow(owner.token, approval_workflow(approvers, "all"));
  const std::string eid = start(owner.token, wf);
  Json req = wait_open_request(owner.token, eid);
  const std::string rid = req["id"].as_string();
  EXPECT_EQ(req["mode"].as_string(), "all");
  EXPECT_EQ(req["assignees"].size(), 2u) << req.dump();
  wait_status(owner.token, eid, {"parked"});

  // Each approver sees it in their pending list (by id, by email).
  for (const TestUser* u : {&a, &b}) {
    Response p = client().get("/api/orchestrator/pending", u->token);
    ASSERT_EQ(p.status, 200);
    ASSERT_EQ(p.json()["requests"].size(), 1u) << p.describe();
    EXPECT_EQ(p.json()["requests"].at(0)["id"].as_string(), rid);
  }
  // The owner is not a named approver.
  EXPECT_TRUE(IsError(respond(owner.token, rid, body_of(R"({"decision": "approve"})")), 403, "not_an_approver"));

  // First vote: still open, the execution stays parked (nothing woke it).
  Response v1 = respond(a.token, rid, body_of(R"({"decision": "approve", "comment": "first"})"));
  ASSERT_EQ(v1.status, 200) << v1.describe();
  EXPECT_EQ(v1.json()["status"].as_string(), "open");
  EXPECT_EQ(v1.json()["votes"].size(), 1u);
  EXPECT_TRUE(v1.json()["response"].is_null());
  EXPECT_TRUE(IsError(respond(a.token, rid, body_of(R"({"decision": "approve"})")), 409, "already_voted"));
  Response mid = client().get("/api/executions/" + eid, owner.token);
  EXPECT_EQ(mid.json()["status"].as_string(), "parked") << mid.describe();
  EXPECT_FALSE(mid.json().contains("wake_at")) << "a non-deciding vote must not wake the execution: " << mid.describe();

  // Second vote decides.
  Response v2 = respond(b.token, rid, body_of(R"({"decision": "approve"})"));
  ASSERT_EQ(v2.status, 200) << v2.describe();
  EXPECT_EQ(v2.json()["status"].as_string(), "answered");
  EXPECT_EQ(v2.json()["response"]["votes"].size(), 2u);
  Json done = wait_status(owner.token, eid, {"succeeded", "failed"});
  EXPECT_EQ(done["status"].as_string(), "succeeded");
  auto evs = events(owner.token, eid);
  // The approval ran twice: once to ask, once to resume with the decision (the vote did not).
  EXPECT_EQ(count_events(evs, "node_start", "ask"), 2);
  EXPECT_EQ(count_events(evs, "human_answered"), 1);
  EXPECT_EQ(count_events(evs, "node_start", "yes"), 1);

  auto votes = audit_entries("human.vote");
  ASSERT_EQ(votes.size(), 1u);
  EXPECT_EQ(votes[0].user_id, a.id);
  auto decided = audit_entries("human.approval");
  ASSERT_EQ(decided.size(), 1u);
  EXPECT_EQ(decided[0].user_id, b.id);

  // The approvers (not owners) may read its history; a stranger may not.
  EXPECT_EQ(client().get("/api/orchestrator/history/" + eid, a.token).status, 200);
  TestUser stranger = make_user();
  EXPECT_TRUE(IsError(client().get("/api/orchestrator/history/" + eid, stranger.token), 404, "not_found"));
}

TEST_P(OrchestratorTest, AllOfRejectsAtTheFirstRejection) {
  TestUser owner = make_user();
  TestUser a = make_user();
  TestUser b = make_user();
  Json approvers = Json::array();
  approvers.push_back(a.email);
  approvers.push_back(b.id);
  const std::string wf = create_workflow(owner.token, approval_workflow(approvers, "all"));
  const std::string eid = start(owner.token, wf);
  Json req = wait_open_request(owner.token, eid);
  Response r = respond(b.token, req["id"].as_string(), body_of(R"({"decision": "reject", "comment": "no"})"));
  ASSERT_EQ(r.status, 200) << r.describe();
  EXPECT_EQ(r.json()["status"].as_string(), "answered");
  EXPECT_EQ(r.json()["response"]["decision"].as_string(), "reject");
  EXPECT_TRUE(IsError(respond(a.token, req["id"].as_string(), body_of(R"({"decision": "approve"})")), 409,
                      "already_answered"));
  Json done = wait_status(owner.token, eid, {"succeeded", "failed"});
  Response full = client().get("/api/executions/" + eid, owner.token);
  EXPECT_EQ(full.json()["output"]["result"].as_string(), "rejected") << full.describe();
}

TEST_P(OrchestratorTest, StrangersSeeNothingAndSecondAnswersConflict) {
  TestUser owner = make_user();
  TestUser stranger = make_user();
  const std::string wf = create_workflow(owner.token, approval_workflow());
  const std::string eid = start(owner.token, wf);
  Json req = wait_open_request(owner.token, eid);
  const std::string rid = req["id"].as_string();

  EXPECT_TRUE(IsError(respond(stranger.token, rid, body_of(R"({"decision": "approve"})")), 404, "not_found"));
  EXPECT_TRUE(IsError(respond(owner.token, "no-such-request", body_of(R"({"decision": "approve"})")), 404, "not_found"));
  EXPECT_EQ(client().get("/api/orchestrator/pending", stranger.token).json()["requests"].size(), 0u);
  EXPECT_TRUE(IsError(client().get("/api/orchestrator/history/" + eid, stranger.token), 404, "not_found"));
  EXPECT_TRUE(IsError(client().get("/api/orchestrator/history/no-such-execution", owner.token), 404, "not_found"));
  EXPECT_TRUE(IsError(client().get("/api/orchestrator/pending"), 401, "unauthorized"));

  ASSERT_EQ(respond(owner.token, rid, body_of(R"({"decision": "approve"})")).status, 200);
  Response again = respond(owner.token, rid, body_of(R"({"decision": "reject"})"));
  ASSERT_TRUE(IsError(again, 409, "already_answered"));
  EXPECT_EQ(again.json()["error"]["details"]["status"].as_string(), "answered") << again.describe();
  wait_status(owner.token, eid, {"succeeded"});
}

TEST_P(OrchestratorTest, MalformedAnswersAre400) {
  TestUser u = make_user();
  const std::string wf = create_workflow(u.token, approval_workflow());
  const std::string eid = start(u.token, wf);
  Json req = wait_open_request(u.token, eid);
  const std::string rid = req["id"].as_string();
  auto bad = [&](const std::string& body, const std::string& field) {
    Response r = respond(u.token, rid, body_of(body));
    EXPECT_TRUE(IsError(r, 400, "invalid_answer")) << body;
    EXPECT_EQ(r.json()["error"]["details"]["field"].as_string(), field) << r.describe();
  };
  bad(R"({})", "decision");
  bad(R"({"decision": "maybe"})", "decision");
  bad(R"({"decision": true})", "decision");
  bad(R"({"decision": "approve", "extra": 1})", "extra");
  bad(R"({"answer": "yes"})", "answer");
  bad(R"({"decision": "approve", "comment": 7})", "comment");
  Json long_comment = Json::object();
  long_comment.set("decision", "approve");
  long_comment.set("comment", std::string(4001, 'x'));
  Response lc = respond(u.token, rid, long_comment);
  EXPECT_TRUE(IsError(lc, 400, "invalid_answer")) << lc.describe();
  // 4000 characters of a two-byte letter: the limit counts characters, not bytes.
  std::string umlauts;
  for (int i = 0; i < 4000; ++i) umlauts += "\xC3\xA4";
  EXPECT_TRUE(IsError(client().request("POST", "/api/orchestrator/respond/" + rid, u.token, "{not json",
                                       {{"Content-Type", "application/json"}}),
                      400, "invalid_json"));
  EXPECT_TRUE(IsError(client().request("POST", "/api/orchestrator/respond/" + rid, u.token, "[1]",
                                       {{"Content-Type", "application/json"}}),
                      400));
  // Still open after all that; a valid answer with the long non-ASCII comment works.
  Json ok = Json::object();
  ok.set("decision", "approve");
  ok.set("comment", umlauts);
  Response good = respond(u.token, rid, ok);
  ASSERT_EQ(good.status, 200) << good.describe();
  wait_status(u.token, eid, {"succeeded"});
}

TEST_P(OrchestratorTest, ClarificationOptionsAreEnforced) {
  TestUser u = make_user();
  Json options = Json::array();
  options.push_back("red");
  options.push_back("green");
  const std::string wf = create_workflow(u.token, clarification_workflow(options, false));
  const std::string eid = start(u.token, wf);
  Json req = wait_open_request(u.token, eid);
  EXPECT_EQ(req["kind"].as_string(), "clarification");
  EXPECT_EQ(req["request"]["question"].as_string(), "Which colour?");
  const std::string rid = req["id"].as_string();
  EXPECT_TRUE(IsError(respond(u.token, rid, body_of(R"({"answer": "blue"})")), 400, "invalid_answer"));
  EXPECT_TRUE(IsError(respond(u.token, rid, body_of(R"({"answer": 3})")), 400, "invalid_answer"));
  EXPECT_TRUE(IsError(respond(u.token, rid, body_of(R"({"decision": "approve"})")), 400, "invalid_answer"));
  Response r = respond(u.token, rid, body_of(R"({"answer": "green"})"));
  ASSERT_EQ(r.status, 200) << r.describe();
  EXPECT_EQ(r.json()["response"]["answer"].as_string(), "green");
  wait_status(u.token, eid, {"succeeded"});
  Response full = client().get("/api/executions/" + eid, u.token);
  EXPECT_EQ(full.json()["output"].as_string(), "green") << full.describe();
  auto audit = audit_entries("human.clarification");
  ASSERT_EQ(audit.size(), 1u);
  EXPECT_EQ(parse(audit[0].entry)["details"]["response"]["answer"].as_string(), "green");
}

TEST_P(OrchestratorTest, ClarificationFreeText) {
  TestUser u = make_user();
  const std::string wf = create_workflow(u.token, clarification_workflow(Json::array(), true));
  const std::string eid = start(u.token, wf);
  Json req = wait_open_request(u.token, eid);
  const std::string rid = req["id"].as_string();
  Json too_long = Json::object();
  too_long.set("answer", std::string(10001, 'a'));
  EXPECT_TRUE(IsError(respond(u.token, rid, too_long), 400, "invalid_answer"));
  EXPECT_TRUE(IsError(respond(u.token, rid, body_of(R"({"answer": ""})")), 400, "invalid_answer"));
  Json longest = Json::object();
  longest.set("answer", "teal, " + std::string(9994, 'a'));
  Response r = respond(u.token, rid, longest);
  ASSERT_EQ(r.status, 200) << r.describe();
  wait_status(u.token, eid, {"succeeded"});
  Response full = client().get("/api/executions/" + eid, u.token);
  EXPECT_EQ(full.json()["output"].as_string().substr(0, 5), "teal,") << full.describe();
}

TEST_P(OrchestratorTest, ErrorRecoveryRetrySkipStop) {
  TestUser u = make_user();
  const std::string wf = create_workflow(u.token, recovery_workflow());

  // retry: the node runs again, fails again, and asks again; then skip continues downstream.
  const std::string e1 = start(u.token, wf);
  Json first = wait_open_request(u.token, e1);
  EXPECT_EQ(first["kind"].as_string(), "error_recovery");
  EXPECT_EQ(first["request"]["node_id"].as_string(), "boom") << first.dump();
  EXPECT_TRUE(first["request"]["error"]["code"].is_string()) << first.dump();
  const std::string rid1 = first["id"].as_string();
  EXPECT_TRUE(IsError(respond(u.token, rid1, body_of(R"({"action": "ignore"})")), 400, "invalid_answer"));
  EXPECT_TRUE(IsError(respond(u.token, rid1, body_of(R"({"decision": "approve"})")), 400, "invalid_answer"));
  ASSERT_EQ(respond(u.token, rid1, body_of(R"({"action": "retry", "comment": "unlocked now"})")).status, 200);
  Json second = wait_open_request(u.token, e1, 2);
  EXPECT_NE(second["id"].as_string(), rid1);
  EXPECT_EQ(second["request"]["attempt"].as_int(), first["request"]["attempt"].as_int() + 1) << second.dump();
  ASSERT_EQ(respond(u.token, second["id"].as_string(), body_of(R"({"action": "skip"})")).status, 200);
  Json done = wait_status(u.token, e1, {"succeeded", "failed"});
  ASSERT_EQ(done["status"].as_string(), "succeeded") << done.dump();
  Response full = client().get("/api/executions/" + e1, u.token);
  EXPECT_TRUE(full.json()["output"]["skipped"].as_bool()) << full.describe();
  EXPECT_TRUE(full.json()["output"]["after"].as_bool()) << full.describe();
  auto evs = events(u.token, e1);
  EXPECT_EQ(count_events(evs, "node_start", "boom"), 2) << "retry reruns the node once";

  // stop: the execution fails like on_error stop.
  const std::string e2 = start(u.token, wf);
  Json req = wait_open_request(u.token, e2);
  ASSERT_EQ(respond(u.token, req["id"].as_string(), body_of(R"({"action": "stop"})")).status, 200);
  Json failed = wait_status(u.token, e2, {"succeeded", "failed"});
  EXPECT_EQ(failed["status"].as_string(), "failed") << failed.dump();
  auto evs2 = events(u.token, e2);
  EXPECT_EQ(count_events(evs2, "node_start", "after"), 0);

  auto audit = audit_entries("human.error_recovery");
  ASSERT_EQ(audit.size(), 3u);
  std::set<std::string> actions;
  for (const auto& a : audit) actions.insert(parse(a.entry)["details"]["action"].as_string());
  EXPECT_EQ(actions, (std::set<std::string>{"retry", "skip", "stop"}));
}

TEST_P(OrchestratorTest, TwentyConcurrentAnswersApplyExactlyOnce) {
  TestUser u = make_user();
  const std::string wf = create_workflow(u.token, approval_workflow());
  const std::string eid = start(u.token, wf);
  Json req = wait_open_request(u.token, eid);
  const std::string rid = req["id"].as_string();
  wait_status(u.token, eid, {"parked"});

  constexpr int kThreads = 20;
  std::vector<int> statuses(kThreads, 0);
  std::vector<std::string> codes(kThreads);
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      Client c(port());
      Json body = Json::object();
      body.set("decision", i % 2 == 0 ? "approve" : "reject");
      body.set("comment", "thread " + std::to_string(i));
      ++ready;
      while (!go.load()) std::this_thread::yield();
      Response r = c.post("/api/orchestrator/respond/" + rid, body, u.token);
      statuses[i] = r.status;
      codes[i] = r.error_code();
    });
  }
  while (ready.load() < kThreads) std::this_thread::yield();
  go = true;
  for (auto& t : threads) t.join();
  int ok = 0, conflict = 0;
  for (int i = 0; i < kThreads; ++i) {
    if (statuses[i] == 200) ++ok;
    if (statuses[i] == 409 && codes[i] == "already_answered") ++conflict;
  }
  EXPECT_EQ(ok, 1);
  EXPECT_EQ(conflict, kThreads - 1);

  Json done = wait_status(u.token, eid, {"succeeded", "failed"});
  EXPECT_EQ(done["status"].as_string(), "succeeded");
  auto evs = events(u.token, eid);
  EXPECT_EQ(count_events(evs, "node_start", "ask"), 2) << "the approval must resume exactly once";
  EXPECT_EQ(count_events(evs, "node_start", "yes") + count_events(evs, "node_start", "no"), 1);
  EXPECT_EQ(count_events(evs, "workflow_done"), 1);
  EXPECT_EQ(audit_entries("human.").size(), 1u);
}

// A store through which another answer lands between the service's read and its
// compare-and-swap (deterministically, instead of hoping threads interleave so).
class InterleavingStore : public store::testing::ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;
  std::function<void()> before_first_respond;
  int responds = 0;
  Result<store::HumanRequestRecord> respond_human_request(const store::HumanResponse& r) override {
    if (responds++ == 0 && before_first_respond) before_first_respond();
    return ForwardingStore::respond_human_request(r);
  }
};

TEST_P(OrchestratorTest, AConcurrentChangeIsReReadNotOverwritten) {
  TestUser owner = make_user();
  TestUser a = make_user();
  TestUser b = make_user();
  TestUser c = make_user();
  auto real = server().host().store();
  auto audit = std::make_shared<service::AuditLog>(real);
  auto wake = [this] { server().host().workers().wake(); };
  auto caller = [](const TestUser& u) {
    service::HumanCaller hc;
    hc.user_id = u.id;
    hc.email = u.email;
    return hc;
  };

  // All-of: b's vote lands while a's is in flight; a's must be added to it, not replace it.
  Json approvers = Json::array();
  approvers.push_back(a.id);
  approvers.push_back(b.id);
  const std::string wf = create_workflow(owner.token, approval_workflow(approvers, "all"));
  const std::string eid = start(owner.token, wf);
  const std::string rid = wait_open_request(owner.token, eid)["id"].as_string();
  service::HumanService direct(real, audit, wake);
  auto racing = std::make_shared<InterleavingStore>(real);
  racing->before_first_respond = [&] {
    auto vote = direct.respond(caller(b), rid, body_of(R"({"decision": "approve"})"));
    ASSERT_TRUE(vote.ok()) << vote.error().message;
    EXPECT_EQ(vote->status, "open");
  };
  service::HumanService svc(racing, audit, wake);
  auto r = svc.respond(caller(a), rid, body_of(R"({"decision": "approve"})"));
  ASSERT_TRUE(r.ok()) << r.error().code << ": " << r.error().message;
  EXPECT_EQ(racing->responds, 2) << "the conflicting CAS is retried after a re-read";
  EXPECT_EQ(r->status, "answered");
  EXPECT_EQ(r->votes.size(), 2u) << r->votes.dump();
  Json done = wait_status(owner.token, eid, {"succeeded", "failed"});
  EXPECT_EQ(done["status"].as_string(), "succeeded");

  // Any-of: another approver decides while c's answer is in flight: c gets already_answered.
  Json two = Json::array();
  two.push_back(b.id);
  two.push_back(c.id);
  const std::string wf2 = create_workflow(owner.token, approval_workflow(two));
  const std::string e2 = start(owner.token, wf2);
  const std::string r2 = wait_open_request(owner.token, e2)["id"].as_string();
  auto racing2 = std::make_shared<InterleavingStore>(real);
  racing2->before_first_respond = [&] {
    ASSERT_TRUE(direct.respond(caller(b), r2, body_of(R"({"decision": "reject"})")).ok());
  };
  service::HumanService svc2(racing2, audit, wake);
  auto lost = svc2.respond(caller(c), r2, body_of(R"({"decision": "approve"})"));
  ASSERT_FALSE(lost.ok());
  EXPECT_EQ(lost.error().code, "already_answered");
  EXPECT_NE(lost.error().details.find("answered"), std::string::npos) << lost.error().details;
  Response full = client().get("/api/executions/" + wait_status(owner.token, e2, {"succeeded"})["id"].as_string(),
                               owner.token);
  EXPECT_EQ(full.json()["output"]["result"].as_string(), "rejected") << full.describe();
}

TEST_P(OrchestratorTest, PendingListsOnlyTheCallersAndPages) {
  TestUser a = make_user();
  TestUser b = make_user();
  const std::string wa = create_workflow(a.token, approval_workflow());
  const std::string wb = create_workflow(b.token, approval_workflow());
  std::vector<std::string> mine;
  for (int i = 0; i < 3; ++i) {
    const std::string eid = start(a.token, wa);
    mine.push_back(wait_open_request(a.token, eid)["id"].as_string());
  }
  const std::string other = start(b.token, wb);
  const std::string theirs = wait_open_request(b.token, other)["id"].as_string();

  std::vector<std::string> seen;
  std::string cursor;
  for (int page = 0; page < 5; ++page) {
    Response r = client().get("/api/orchestrator/pending?limit=2" + (cursor.empty() ? "" : "&cursor=" + cursor), a.token);
    ASSERT_EQ(r.status, 200) << r.describe();
    for (const Json& x : r.json()["requests"].as_array()) seen.push_back(x["id"].as_string());
    cursor = r.json()["next_cursor"].as_string();
    if (cursor.empty()) break;
  }
  std::sort(mine.begin(), mine.end());
  std::vector<std::string> sorted = seen;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(sorted, mine) << "pages must hold each of the caller's requests once, and only those";
  Response rb = client().get("/api/orchestrator/pending", b.token);
  ASSERT_EQ(rb.json()["requests"].size(), 1u);
  EXPECT_EQ(rb.json()["requests"].at(0)["id"].as_string(), theirs);
  EXPECT_TRUE(IsError(client().get("/api/orchestrator/pending?limit=0", a.token), 400, "invalid_argument"));
}

TEST_P(OrchestratorTest, ReadOnlyKeysCannotAnswer) {
  TestUser u = make_user();
  Json body = Json::object();
  body.set("name", "reader");
  Json scopes = Json::array();
  scopes.push_back("executions:read");
  body.set("scopes", scopes);
  Response k = client().post("/api/keys", body, u.token);
  ASSERT_EQ(k.status, 201) << k.describe();
  const std::string key = k.json()["key"].as_string();
  const std::string wf = create_workflow(u.token, approval_workflow());
  const std::string eid = start(u.token, wf);
  Json req = wait_open_request(u.token, eid);
  EXPECT_EQ(client().get("/api/orchestrator/pending", key).status, 200);
  EXPECT_TRUE(IsError(respond(key, req["id"].as_string(), body_of(R"({"decision": "approve"})")), 403, "forbidden"));
}

TEST_P(OrchestratorTest, TheRestPortPointsToTheWebSocketPort) {
  ASSERT_NE(ws_port(), 0);
  TestUser u = make_user();
  Response r = client().get("/ws/orchestrator/anything", u.token);
  ASSERT_TRUE(IsError(r, 426, "websocket_port"));
  EXPECT_EQ(r.json()["error"]["details"]["port"].as_int(), ws_port());
  EXPECT_EQ(r.header("upgrade").value_or(""), "websocket");
}

// The answers of these routes match the OpenAPI document the server serves (the validator of
// tests/api/validate_openapi.mjs with the packages openapi_tests installs into <build>/npm).
TEST_P(OrchestratorTest, ResponsesMatchTheOpenApiDocument) {
  const std::string build_dir = std::filesystem::path(WEFT_BINARY).parent_path().string();
  const std::string modules = build_dir + "/npm/node_modules";
  if (!std::filesystem::exists(modules + "/ajv"))
    GTEST_SKIP() << "the OpenAPI validator's packages are not installed in " << modules
                 << " (build and run openapi_tests once: its CTest fixture installs them)";
  Json samples = Json::array();
  auto sample = [&](const std::string& method, const std::string& path, const Response& r, int expected) {
    EXPECT_EQ(r.status, expected) << method << " " << path << ": " << r.describe();
    Json x = Json::object();
    x.set("method", method);
    x.set("path", path);
    x.set("status", r.status);
    x.set("content_type", r.header("content-type").value_or(""));
    x.set("body", r.json());
    samples.push_back(x);
  };
  TestUser owner = make_user();
  TestUser approver = make_user();
  TestUser stranger = make_user();
  Json approvers = Json::array();
  approvers.push_back(approver.id);
  const std::string wf = create_workflow(owner.token, approval_workflow(approvers));
  const std::string eid = start(owner.token, wf);
  const std::string rid = wait_open_request(owner.token, eid)["id"].as_string();
  const std::string respond_path = "/api/orchestrator/respond/{id}";
  sample("GET", "/api/orchestrator/pending", client().get("/api/orchestrator/pending", approver.token), 200);
  sample("GET", "/api/orchestrator/pending", client().get("/api/orchestrator/pending?limit=1", owner.token), 200);
  sample("GET", "/api/orchestrator/pending", client().get("/api/orchestrator/pending?limit=x", owner.token), 400);
  sample("GET", "/api/orchestrator/pending", client().get("/api/orchestrator/pending"), 401);
  sample("GET", "/api/orchestrator/history/{executionId}", client().get("/api/orchestrator/history/" + eid, owner.token), 200);
  sample("GET", "/api/orchestrator/history/{executionId}", client().get("/api/orchestrator/history/" + eid, stranger.token), 404);
  sample("POST", respond_path, respond(owner.token, rid, body_of(R"({"decision": "approve"})")), 403);
  sample("POST", respond_path, respond(stranger.token, rid, body_of(R"({"decision": "approve"})")), 404);
  sample("POST", respond_path, respond(approver.token, rid, body_of(R"({"decision": "yes"})")), 400);
  sample("POST", respond_path, respond(approver.token, rid, body_of(R"({"decision": "approve", "comment": "fine"})")), 200);
  sample("POST", respond_path, respond(approver.token, rid, body_of(R"({"decision": "approve"})")), 409);
  wait_status(owner.token, eid, {"succeeded"});
  sample("GET", "/api/orchestrator/history/{executionId}", client().get("/api/orchestrator/history/" + eid, owner.token), 200);
  sample("GET", "/ws/orchestrator/{executionId}", client().get("/ws/orchestrator/" + eid, owner.token), 426);
  sample("GET", "/ws/orchestrator/{executionId}", client().get("/ws/orchestrator/" + eid), 401);

  const std::string doc_file = dir() + "/openapi.json";
  const std::string samples_file = dir() + "/samples.json";
  std::ofstream(doc_file) << client().get("/api/openapi.json").body;
  std::ofstream(samples_file) << samples.dump_pretty();
  const std::string cmd = "node '" + std::string(WEFT_SOURCE_DIR) + "/tests/api/validate_openapi.mjs' --modules '" +
                          build_dir + "/npm/node_modules' '" + doc_file + "' --responses '" + samples_file + "' 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int status = ::pclose(p);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << out;
}

// ---- WebSocket -------------------------------------------------------------------------------------

TEST_P(OrchestratorTest, WebSocketStreamsEventsAndTakesAnswers) {
  TestUser u = make_user();
  const std::string wf = create_workflow(u.token, approval_workflow());
  const std::string eid = start(u.token, wf);
  Json req = wait_open_request(u.token, eid);
  wait_status(u.token, eid, {"parked"});

  WsClient ws;
  ASSERT_TRUE(ws.connect(ws_port(), ws_path(eid), auth_header(u.token))) << ws.ec.message() << " " << ws.response.body();
  EXPECT_TRUE(ws.selected_protocol().empty()) << "no subprotocol offered, none selected";
  // Replay from the start, in order, up to the question.
  std::string request_id;
  int64_t want = 1;
  while (request_id.empty()) {
    auto f = ws.next();
    ASSERT_TRUE(f) << ws.ec.message();
    EXPECT_EQ((*f)["id"].as_int(), want++) << f->dump();
    if ((*f)["type"].as_string() == "waiting_for_human") request_id = (*f)["data"]["request_id"].as_string();
  }
  EXPECT_EQ(request_id, req["id"].as_string());

  // Events and replies share the socket: events carry an "id", replies do not.
  auto next_reply = [&]() -> std::optional<Json> {
    for (;;) {
      auto f = ws.next();
      if (!f) return std::nullopt;
      if (!f->contains("id")) return f;
      EXPECT_EQ((*f)["id"].as_int(), want++) << f->dump();
    }
  };
  // Malformed messages get error replies; the connection stays.
  ASSERT_TRUE(ws.send(body_of(R"({"type": "dance"})")));
  auto e1 = next_reply();
  ASSERT_TRUE(e1);
  EXPECT_EQ((*e1)["type"].as_string(), "error");
  EXPECT_EQ((*e1)["error"]["code"].as_string(), "invalid_message");
  ASSERT_TRUE(ws.send_binary("\x01\x02"));
  auto e2 = next_reply();
  ASSERT_TRUE(e2);
  EXPECT_EQ((*e2)["error"]["code"].as_string(), "invalid_message");
  Json wrong = Json::object();
  wrong.set("type", "respond");
  wrong.set("request_id", request_id);
  wrong.set("body", body_of(R"({"decision": "perhaps"})"));
  ASSERT_TRUE(ws.send(wrong));
  auto e3 = next_reply();
  ASSERT_TRUE(e3);
  EXPECT_EQ((*e3)["type"].as_string(), "respond_result");
  EXPECT_FALSE((*e3)["ok"].as_bool(true));
  EXPECT_EQ((*e3)["error"]["code"].as_string(), "invalid_answer") << e3->dump();

  Json answer = Json::object();
  answer.set("type", "respond");
  answer.set("request_id", request_id);
  answer.set("body", body_of(R"({"decision": "approve", "comment": "via websocket"})"));
  ASSERT_TRUE(ws.send(answer));
  bool got_result = false;
  std::vector<Json> rest = ws.until_done();
  ASSERT_FALSE(rest.empty());
  for (const Json& f : rest) {
    if (f["type"].as_string() == "respond_result") {
      got_result = true;
      EXPECT_TRUE(f["ok"].as_bool()) << f.dump();
      EXPECT_EQ(f["request"]["status"].as_string(), "answered");
      continue;
    }
    EXPECT_EQ(f["id"].as_int(), want++) << f.dump();
  }
  EXPECT_EQ(rest.back()["type"].as_string(), "workflow_done");
  EXPECT_EQ(rest.back()["data"]["status"].as_string(), "succeeded") << rest.back().dump();
  if (!got_result) {
    // The run may finish before the reply is queued: it still comes, before the close.
    auto f = ws.next();
    ASSERT_TRUE(f) << "the respond_result never came: " << ws.ec.message();
    EXPECT_EQ((*f)["type"].as_string(), "respond_result") << f->dump();
    EXPECT_TRUE((*f)["ok"].as_bool()) << f->dump();
  }
  EXPECT_TRUE(ws.closed_normally()) << ws.ec.message();
  Response full = client().get("/api/executions/" + eid, u.token);
  EXPECT_EQ(full.json()["output"]["comment"].as_string(), "via websocket");
  // Same checks as REST: a second answer over the socket of a finished run is refused.
  auto audit = audit_entries("human.approval");
  ASSERT_EQ(audit.size(), 1u);
  EXPECT_EQ(audit[0].user_id, u.id);
}

TEST_P(OrchestratorTest, WebSocketAuthBySubprotocolAndResumeAfter) {
  TestUser u = make_user();
  const std::string wf = create_workflow(u.token, approval_workflow());
  const std::string eid = start(u.token, wf);
  Json req = wait_open_request(u.token, eid);
  ASSERT_EQ(respond(u.token, req["id"].as_string(), body_of(R"({"decision": "approve"})")).status, 200);
  wait_status(u.token, eid, {"succeeded"});
  const auto all = events(u.token, eid);
  ASSERT_GT(all.size(), 4u);

  WsClient ws;
  ASSERT_TRUE(ws.connect(ws_port(), ws_path(eid, "?after=3"), {{"Origin", kAllowedOrigin}},
                         "weft.v1, weft.bearer." + u.token))
      << ws.ec.message() << " " << ws.response.body();
  EXPECT_EQ(ws.selected_protocol(), "weft.v1");
  std::vector<Json> frames = ws.until_done();
  ASSERT_EQ(frames.size(), all.size() - 3);
  for (size_t i = 0; i < frames.size(); ++i) {
    EXPECT_EQ(frames[i]["id"].as_int(), static_cast<int64_t>(i + 4));
    EXPECT_EQ(frames[i]["type"].as_string(), all[i + 3]["type"].as_string());
  }
  EXPECT_TRUE(ws.closed_normally());

  // An assignee who is not the owner may watch too.
  TestUser approver = make_user();
  Json approvers = Json::array();
  approvers.push_back(approver.email);
  const std::string wf2 = create_workflow(u.token, approval_workflow(approvers));
  const std::string eid2 = start(u.token, wf2);
  wait_open_request(u.token, eid2);
  WsClient watcher;
  ASSERT_TRUE(watcher.connect(ws_port(), ws_path(eid2), {}, "weft.v1,weft.bearer." + approver.token))
      << watcher.response.body();
  auto first = watcher.next();
  ASSERT_TRUE(first);
  EXPECT_EQ((*first)["id"].as_int(), 1);
}

TEST_P(OrchestratorTest, WebSocketHandshakeRejections) {
  TestUser u = make_user();
  TestUser other = make_user();
  const std::string wf = create_workflow(u.token, approval_workflow());
  const std::string eid = start(u.token, wf);
  wait_open_request(u.token, eid);

  auto declined = [&](const HeaderList& headers, const std::string& protocols, const std::string& target,
                      int status, const std::string& code) {
    WsClient ws;
    EXPECT_FALSE(ws.connect(ws_port(), target, headers, protocols)) << target;
    EXPECT_EQ(static_cast<int>(ws.response.result_int()), status) << target << " " << ws.response.body();
    EXPECT_EQ(ws.error_code(), code) << ws.response.body();
    return ws.response;
  };
  auto no_token = declined({}, "", ws_path(eid), 401, "unauthorized");
  EXPECT_EQ(std::string(no_token[bhttp::field::www_authenticate]), "Bearer");
  declined(auth_header("not-a-token"), "", ws_path(eid), 401, "unauthorized");
  declined({}, "weft.v1, weft.bearer.not-a-token", ws_path(eid), 401, "unauthorized");
  declined({}, "chat, weft.bearer." + u.token, ws_path(eid), 400, "bad_request");
  declined(auth_header(other.token), "", ws_path(eid), 404, "not_found");
  declined(auth_header(u.token), "", ws_path("no-such-execution"), 404, "not_found");
  declined(auth_header(u.token), "", "/ws/elsewhere/" + eid, 404, "not_found");
  declined(auth_header(u.token), "", ws_path(eid, "?after=-1"), 400, "invalid_argument");
  HeaderList evil = auth_header(u.token);
  evil.emplace_back("Origin", "https://evil.example");
  declined(evil, "", ws_path(eid), 403, "cors_forbidden");
  // The token never goes in the URL: ?token= / ?access_token= are not read.
  declined({}, "", ws_path(eid, "?access_token=" + u.token), 401, "unauthorized");

  // A plain GET (no upgrade) on the WebSocket port.
  Response plain = Client(ws_port()).get(ws_path(eid), u.token);
  EXPECT_TRUE(IsError(plain, 426, "upgrade_required")) << plain.describe();
}

TEST_P(OrchestratorTest, WebSocketRespondOnlyForItsExecution) {
  TestUser u = make_user();
  const std::string wf = create_workflow(u.token, approval_workflow());
  const std::string e1 = start(u.token, wf);
  const std::string e2 = start(u.token, wf);
  wait_open_request(u.token, e1);
  Json r2 = wait_open_request(u.token, e2);
  WsClient ws;
  ASSERT_TRUE(ws.connect(ws_port(), ws_path(e1, "?after=1000"), auth_header(u.token)));
  Json msg = Json::object();
  msg.set("type", "respond");
  msg.set("request_id", r2["id"]);
  msg.set("body", body_of(R"({"decision": "approve"})"));
  ASSERT_TRUE(ws.send(msg));
  auto reply = ws.next();
  ASSERT_TRUE(reply);
  EXPECT_FALSE((*reply)["ok"].as_bool(true));
  EXPECT_EQ((*reply)["error"]["code"].as_string(), "not_found") << reply->dump();
  ASSERT_TRUE(ws.send(body_of(R"({"type": "ping"})")));
  auto pong = ws.next();
  ASSERT_TRUE(pong);
  EXPECT_EQ((*pong)["type"].as_string(), "pong");
  Response still = client().get("/api/orchestrator/history/" + e2, u.token);
  EXPECT_EQ(still.json()["requests"].at(0)["status"].as_string(), "open");
}

TEST_P(OrchestratorTest, WebSocketMessagesNeedACredentialThatIsStillValid) {
  TestUser u = make_user();
  const std::string wf = create_workflow(u.token, approval_workflow());
  const std::string eid = start(u.token, wf);
  Json req = wait_open_request(u.token, eid);
  WsClient ws;
  ASSERT_TRUE(ws.connect(ws_port(), ws_path(eid, "?after=1000"), auth_header(u.token)));
  ASSERT_EQ(client().post_empty("/api/auth/logout", u.token).status, 204);  // revokes the session
  Json msg = Json::object();
  msg.set("type", "respond");
  msg.set("request_id", req["id"]);
  msg.set("body", body_of(R"({"decision": "approve"})"));
  ASSERT_TRUE(ws.send(msg));
  auto reply = ws.next();
  ASSERT_TRUE(reply) << ws.ec.message();
  EXPECT_EQ((*reply)["type"].as_string(), "error");
  EXPECT_EQ((*reply)["error"]["code"].as_string(), "unauthorized") << reply->dump();
  EXPECT_FALSE(ws.next());
  EXPECT_EQ(ws.reason().code, websocket::close_code::policy_error) << ws.ec.message();
  auto stored = server().host().store()->get_human_request(req["id"].as_string());
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->status, "open") << "a revoked credential answers nothing";
}

// Limits: connection cap, message size, pings.
class OrchestratorLimitsTest : public OrchestratorTest {
 protected:
  void configure(app::Config& config, api::ServeConfig& serve) override {
    OrchestratorTest::configure(config, serve);
    serve.websocket.max_connections = 2;
    serve.websocket.ping_interval_ms = 400;
    serve.websocket.handshake_timeout_ms = 1000;
    serve.websocket.max_message_bytes = 2048;
  }
};

TEST_P(OrchestratorLimitsTest, ConnectionCapMessageSizeAndPings) {
  TestUser u = make_user();
  const std::string wf = create_workflow(u.token, approval_workflow());
  const std::string eid = start(u.token, wf);
  wait_open_request(u.token, eid);

  {
    // Too big a message: closed with 1009.
    WsClient b;
    ASSERT_TRUE(b.connect(ws_port(), ws_path(eid, "?after=1000"), auth_header(u.token)));
    Json big = Json::object();
    big.set("type", "ping");
    big.set("pad", std::string(2500, 'x'));  // over 2048, within one client write
    ASSERT_TRUE(b.send(big)) << b.ec.message();
    auto reply = b.next(5000);
    EXPECT_FALSE(reply) << "a too-big message must not be answered: " << reply->dump();
    EXPECT_EQ(b.reason().code, websocket::close_code::too_big) << b.ec.message();
  }
  // The closed one no longer counts (the gauge of open connections, on /metrics).
  auto ws_connections = [&] {
    const std::string text = client().get("/metrics").body;
    const std::string name = "\nweft_websocket_connections ";
    const size_t at = text.find(name);
    return at == std::string::npos ? -1 : std::atoi(text.c_str() + at + name.size());
  };
  ASSERT_TRUE(eventually([&] { return ws_connections() == 0; }, 10000, 20)) << ws_connections();
  {
    // Two open connections at most.
    WsClient a, b, c;
    ASSERT_TRUE(a.connect(ws_port(), ws_path(eid, "?after=1000"), auth_header(u.token)));
    EXPECT_EQ(ws_connections(), 1);
    ASSERT_TRUE(b.connect(ws_port(), ws_path(eid, "?after=1000"), auth_header(u.token)));
    EXPECT_FALSE(c.connect(ws_port(), ws_path(eid, "?after=1000"), auth_header(u.token)));
    EXPECT_EQ(c.response.result_int(), 503u) << c.response.body();

    // A client that reads answers the pings and stays connected across several intervals.
    auto pong = a.idle_then_send(2000, body_of(R"({"type": "ping"})"));
    ASSERT_TRUE(pong) << a.ec.message();
    EXPECT_EQ((*pong)["type"].as_string(), "pong");
  }
  // Slots are free again once connections close.
  EXPECT_TRUE(eventually(
      [&] {
        WsClient d;
        return d.connect(ws_port(), ws_path(eid, "?after=1000"), auth_header(u.token));
      },
      5000, 50));

  // A client that never answers pings (raw TCP: it does the handshake and then never reads) is
  // disconnected by the server.
  auto conn = Connection::open(ws_port());
  ASSERT_TRUE(conn);
  const std::string upgrade = "GET " + ws_path(eid, "?after=1000") + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
                              "Authorization: Bearer " + u.token + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
                              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
  ASSERT_TRUE(conn->send_all(upgrade));
  Response head = conn->read_response(5000, true);
  ASSERT_EQ(head.status, 101) << head.describe();
  EXPECT_TRUE(conn->wait_closed(10000)) << "a client that never pongs must be dropped";
}

TEST_P(OrchestratorLimitsTest, ASilentClientIsCutOffAtTheHandshakeTimeout) {
  // Connected, but the upgrade request never comes.
  auto conn = Connection::open(ws_port());
  ASSERT_TRUE(conn);
  EXPECT_TRUE(conn->wait_closed(10000)) << "handshake_timeout_ms must close a silent connection";
  // Half a request head, then nothing: the same.
  auto half = Connection::open(ws_port());
  ASSERT_TRUE(half);
  ASSERT_TRUE(half->send_all("GET /ws/orchestrator/x HTTP/1.1\r\nHost: 127.0.0.1\r\n"));
  EXPECT_TRUE(half->wait_closed(10000));
}

TEST_P(OrchestratorTest, ShutdownClosesWebSocketsWithGoingAway) {
  TestUser u = make_user();
  const std::string wf = create_workflow(u.token, approval_workflow());
  const std::string eid = start(u.token, wf);
  wait_open_request(u.token, eid);
  WsClient ws;
  ASSERT_TRUE(ws.connect(ws_port(), ws_path(eid), auth_header(u.token)));
  std::vector<Json> seen;
  while (seen.empty() || seen.back()["type"].as_string() != "execution_parked") {
    auto f = ws.next();
    ASSERT_TRUE(f) << ws.ec.message();
    seen.push_back(*f);
  }
  std::thread stopper([this] { server().shutdown(); });
  auto f = ws.next(10000);
  stopper.join();
  EXPECT_FALSE(f);
  EXPECT_EQ(ws.ec, websocket::error::closed) << ws.ec.message();
  EXPECT_EQ(ws.reason().code, websocket::close_code::going_away);
}

TEST(OrchestratorConfig, WebSocketSection) {
  app::Config config;
  auto parsed = Json::parse(R"({"server": {"port": 9000, "websocket": {"$comment": "x", "enabled": true,
    "address": "0.0.0.0", "port": 9100, "max_connections": 7, "max_message_bytes": 4096, "ping_interval_ms": 1000,
    "handshake_timeout_ms": 2000, "max_backlog_bytes": 65536, "threads": 2}}})");
  ASSERT_TRUE(parsed.ok());
  config.raw = *parsed;
  ::unsetenv("WEFT_WS_PORT");
  auto s = api::ServeConfig::from(config);
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_TRUE(s->websocket.enabled);
  EXPECT_EQ(s->websocket.address, "0.0.0.0");
  EXPECT_EQ(s->websocket.port, 9100);
  EXPECT_EQ(s->websocket.max_connections, 7u);
  EXPECT_EQ(s->websocket.max_message_bytes, 4096u);
  EXPECT_EQ(s->websocket.ping_interval_ms, 1000);
  EXPECT_EQ(s->websocket.handshake_timeout_ms, 2000);
  EXPECT_EQ(s->websocket.max_backlog_bytes, 65536u);
  EXPECT_EQ(s->websocket.threads, 2u);

  // Absent: enabled, HTTP port + 1 (resolved at start: -1 here); the environment overrides.
  config.raw = *Json::parse(R"({"server": {}})");
  auto d = api::ServeConfig::from(config);
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(d->websocket.enabled);
  EXPECT_EQ(d->websocket.port, -1);
  ::setenv("WEFT_WS_PORT", "0", 1);
  auto e = api::ServeConfig::from(config);
  ::unsetenv("WEFT_WS_PORT");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->websocket.port, 0);

  for (const char* bad : {R"({"server": {"websocket": []}})", R"({"server": {"websocket": {"port": 70000}}})",
                          R"({"server": {"websocket": {"enabled": "yes"}}})",
                          R"({"server": {"websocket": {"max_backlog_bytes": 100}}})",
                          R"({"server": {"websocket": {"portt": 1}}})"}) {
    config.raw = *Json::parse(bad);
    auto r = api::ServeConfig::from(config);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_EQ(r.error().code, "invalid_config") << bad;
    }
  }
  // The shipped configuration file's section loads.
  std::ifstream f(std::string(WEFT_SOURCE_DIR) + "/config/weft.json");
  std::stringstream ss;
  ss << f.rdbuf();
  config.raw = *Json::parse(ss.str());
  auto shipped = api::ServeConfig::from(config);
  ASSERT_TRUE(shipped.ok()) << shipped.error().message;
  EXPECT_TRUE(shipped->websocket.enabled);
  EXPECT_EQ(shipped->websocket.max_connections, 1000u);
}

// A reader slower than its execution: dropped instead of buffered.
class OrchestratorSlowReaderTest : public OrchestratorTest {
 protected:
  void configure(app::Config& config, api::ServeConfig& serve) override {
    OrchestratorTest::configure(config, serve);
    serve.websocket.max_backlog_bytes = 128 * 1024;
    config.plugin_dirs.push_back(WEFT_TEST_EXTRA_PLUGIN_DIR);  // test.sleep
  }
  // start -> ask (approval) -> 250 sets in a chain, each output ~7 KB (events carry up to 8 KB):
  // well over a megabyte of live events once approved. Every 10th node sleeps 20 ms, so the
  // events come at about a megabyte a second: the fast reader may be descheduled for a while on a
  // loaded machine without falling 128 KiB (plus the socket buffers) behind, while the slow one
  // never reads and certainly does.
  static Json flood_workflow() {
    Json w = approval_workflow();
    Json nodes = Json::array();
    Json edges = Json::array();
    for (const Json& n : w["nodes"].as_array())
      if (n["id"].as_string() == "start" || n["id"].as_string() == "ask") nodes.push_back(n);
    Json e1 = Json::object();
    e1.set("id", "e1");
    e1.set("source", "start");
    e1.set("target", "ask");
    edges.push_back(e1);
    std::string prev = "ask";
    for (int i = 0; i < 250; ++i) {
      const std::string id = "s" + std::to_string(i);
      Json n = i % 10 == 9 ? parse(R"({"type": "test.sleep", "position": {"x": 0, "y": 0},
        "data": {"parameters": {"ms": 20}}})")
                           : parse(R"({"type": "core.set", "position": {"x": 0, "y": 0},
        "data": {"parameters": {"mode": "replace", "fields": {"pad": "{{ padStart('', 7000, 'x') }}"}}}})");
      n.set("id", id);
      nodes.push_back(n);
      Json e = Json::object();
      e.set("id", "f" + std::to_string(i));
      e.set("source", prev);
      if (prev == "ask") e.set("sourceHandle", "approved");
      e.set("target", id);
      edges.push_back(e);
      prev = id;
    }
    w.set("nodes", nodes);
    w.set("edges", edges);
    return w;
  }
};

TEST_P(OrchestratorSlowReaderTest, ASlowReaderIsDroppedAFastOneGetsEverything) {
  TestUser u = make_user();
  const std::string wf = create_workflow(u.token, flood_workflow());
  const std::string eid = start(u.token, wf);
  Json req = wait_open_request(u.token, eid);
  wait_status(u.token, eid, {"parked"});

  // The slow reader: a tiny receive window, the handshake, then it never reads again.
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  int small = 2048;
  ASSERT_EQ(::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small), 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(ws_port());
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  const std::string upgrade = "GET " + ws_path(eid) + " HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " +
                              u.token + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
                              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
  ASSERT_EQ(::send(fd, upgrade.data(), upgrade.size(), MSG_NOSIGNAL), static_cast<ssize_t>(upgrade.size()));
  std::string received;
  char buf[4096];
  while (received.find("\r\n\r\n") == std::string::npos) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    ASSERT_GT(n, 0) << "no handshake answer";
    received.append(buf, static_cast<size_t>(n));
  }
  ASSERT_EQ(received.rfind("HTTP/1.1 101", 0), 0u) << received;

  // A reader that keeps up, at the same time.
  WsClient fast;
  ASSERT_TRUE(fast.connect(ws_port(), ws_path(eid), auth_header(u.token)));

  ASSERT_EQ(respond(u.token, req["id"].as_string(), body_of(R"({"decision": "approve"})")).status, 200);
  std::vector<Json> frames = fast.until_done(60000);
  ASSERT_FALSE(frames.empty());
  EXPECT_EQ(frames.back()["type"].as_string(), "workflow_done") << "the fast reader gets everything";
  EXPECT_TRUE(fast.closed_normally());
  wait_status(u.token, eid, {"succeeded"});

  // The slow one was cut off: reading what the kernel buffered ends before workflow_done, in a
  // plain TCP end (no close frame).
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) {
      EXPECT_TRUE(n == 0 || errno == ECONNRESET) << "the connection is still open: " << std::strerror(errno);
      break;
    }
    received.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  EXPECT_EQ(received.find("\"type\":\"workflow_done\""), std::string::npos)
      << "the slow reader was not dropped (" << received.size() << " bytes received)";
  EXPECT_LT(received.size(), 1000000u);
}

// ---- crashes of a real `weft serve` ----------------------------------------------------------------

// `weft serve` as a child process on a SQLite database in a temp dir.
class ServeProcess {
 public:
  explicit ServeProcess(const std::string& dir) : dir_(dir) {}
  ~ServeProcess() { kill_now(); }

  // Starts it and waits for "listening on http://127.0.0.1:<port>". False with the log on failure.
  bool start() {
    const std::string log = dir_ + "/serve-" + std::to_string(++runs_) + ".log";
    log_ = log;
    pid_ = ::fork();
    if (pid_ < 0) return false;
    if (pid_ == 0) {
      int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      std::string cfg = dir_ + "/weft.json";
      ::execl(WEFT_BINARY, WEFT_BINARY, "serve", "--config", cfg.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    return eventually(
        [&] {
          const std::string text = log_text();
          const size_t at = text.find("listening on http://127.0.0.1:");
          if (at == std::string::npos) return false;
          port_ = static_cast<uint16_t>(std::atoi(text.c_str() + at + 30));
          return port_ != 0 && text.find("execution WebSocket on ws://") != std::string::npos;
        },
        30000, 20);
  }
  void kill_now() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int st = 0;
    ::waitpid(pid_, &st, 0);
    pid_ = -1;
  }
  std::string log_text() const {
    std::ifstream f(log_);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }
  uint16_t port() const { return port_; }

 private:
  std::string dir_, log_;
  pid_t pid_ = -1;
  uint16_t port_ = 0;
  int runs_ = 0;
};

class ServeCrashTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (std::filesystem::temp_directory_path() / ("weft-hitl-" + random_hex(6))).string();
    std::filesystem::create_directories(dir_ + "/data");
    Json cfg = Json::object();
    cfg.set("database", "sqlite:" + dir_ + "/data/weft.db");
    Json dirs = Json::array();
    dirs.push_back(WEFT_TEST_PLUGIN_DIR);
    cfg.set("plugin_dirs", dirs);
    cfg.set("poll_ms", 50);
    cfg.set("lease_ms", 5000);
    cfg.set("heartbeat_ms", 1000);
    Json vault = Json::object();
    vault.set("key_file", dir_ + "/keys/master.key");
    cfg.set("vault", vault);
    Json sandbox = Json::object();
    Json warm = Json::object();
    warm.set("javascript", 0);
    warm.set("python", 0);
    sandbox.set("warm", warm);
    cfg.set("sandbox", sandbox);
    Json server = Json::object();
    server.set("address", "127.0.0.1");
    server.set("port", 0);
    server.set("rate_limits", false);
    server.set("shutdown_grace_ms", 1000);
    Json ws = Json::object();
    ws.set("port", 0);
    server.set("websocket", ws);
    cfg.set("server", server);
    std::ofstream(dir_ + "/weft.json") << cfg.dump_pretty();
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  // Logs in as the bootstrapped admin (its generated password is in the data dir).
  std::string login(uint16_t port) {
    std::ifstream f(dir_ + "/data/initial-admin.json");
    std::stringstream ss;
    ss << f.rdbuf();
    Json admin = parse(ss.str());
    Json body = Json::object();
    body.set("email", admin["email"]);
    body.set("password", admin["password"]);
    Response r = Client(port).post("/api/auth/login", body);
    EXPECT_EQ(r.status, 200) << r.describe();
    return r.json()["access_token"].as_string();
  }

  // Creates the approval workflow, starts it, and waits until it is parked on its request.
  // Returns {execution id, request id}.
  std::pair<std::string, std::string> park(uint16_t port, const std::string& token) {
    Client c(port);
    Response w = c.post("/api/workflows", approval_workflow(), token);
    EXPECT_EQ(w.status, 201) << w.describe();
    Response e = c.request("POST", "/api/workflows/" + w.json()["id"].as_string() + "/execute?mode=async", token);
    EXPECT_EQ(e.status, 202) << e.describe();
    const std::string eid = e.json()["execution"]["id"].as_string();
    std::string rid;
    EXPECT_TRUE(eventually(
        [&] {
          Response ex = c.get("/api/executions/" + eid, token);
          Response h = c.get("/api/orchestrator/history/" + eid, token);
          if (ex.json()["status"].as_string() != "parked" || h.json()["requests"].size() != 1) return false;
          rid = h.json()["requests"].at(0)["id"].as_string();
          return true;
        },
        15000, 20));
    return {eid, rid};
  }

  // The execution finished once: succeeded, the approval and "yes" each completed once. With
  // `one_resume`, also exactly one resume by the answer (a process killed while the resumed
  // approval ran may leave a committed human_answered behind: the next one resumes it again,
  // at least once, like any node that was running when its process died).
  void expect_completed_once(uint16_t port, const std::string& token, const std::string& eid, bool one_resume = true) {
    Client c(port);
    Json last;
    EXPECT_TRUE(eventually(
        [&] {
          last = c.get("/api/executions/" + eid, token).json();
          return last["status"].as_string() == "succeeded" || last["status"].as_string() == "failed";
        },
        20000, 25))
        << last.dump();
    EXPECT_EQ(last["status"].as_string(), "succeeded") << last.dump();
    Response evr = c.get("/api/executions/" + eid + "/events?limit=200", token, {{"Accept", "application/json"}});
    int done = 0, yes_complete = 0, ask_complete = 0, answered = 0;
    for (const Json& e : evr.json()["events"].as_array()) {
      const std::string t = e["type"].as_string();
      done += t == "workflow_done";
      answered += t == "human_answered";
      yes_complete += t == "node_complete" && e["data"]["node_id"].as_string() == "yes";
      ask_complete += t == "node_complete" && e["data"]["node_id"].as_string() == "ask";
    }
    EXPECT_EQ(done, 1);
    EXPECT_EQ(yes_complete, 1);
    EXPECT_EQ(ask_complete, 1);
    if (one_resume) {
      EXPECT_EQ(answered, 1);
    } else {
      EXPECT_GE(answered, 1);
    }
    Response full = c.get("/api/executions/" + eid, token);
    EXPECT_EQ(full.json()["output"]["result"].as_string(), "approved") << full.describe();
  }

  std::string dir_;
};

TEST_F(ServeCrashTest, ParkedApprovalSurvivesSigkillAndCompletesAfterTheAnswer) {
  ServeProcess serve(dir_);
  ASSERT_TRUE(serve.start()) << serve.log_text();
  const std::string token = login(serve.port());
  auto [eid, rid] = park(serve.port(), token);
  ASSERT_FALSE(rid.empty());
  serve.kill_now();

  ASSERT_TRUE(serve.start()) << serve.log_text();
  Response r = Client(serve.port()).post("/api/orchestrator/respond/" + rid, body_of(R"({"decision": "approve"})"), token);
  ASSERT_EQ(r.status, 200) << r.describe();
  expect_completed_once(serve.port(), token, eid);
}

TEST_F(ServeCrashTest, AnsweredBeforeTheResumeCompletesOnceAfterRestart) {
  ServeProcess serve(dir_);
  ASSERT_TRUE(serve.start()) << serve.log_text();
  const std::string token = login(serve.port());
  const std::string owner = Client(serve.port()).get("/api/auth/me", token).json()["id"].as_string();
  auto [eid, rid] = park(serve.port(), token);
  ASSERT_FALSE(rid.empty());
  serve.kill_now();

  // The answer lands while no server runs (nothing can resume it): the HumanService on the
  // database itself, as a server whose process then died before resuming would leave it.
  {
    app::Config config;
    config.database = "sqlite:" + dir_ + "/data/weft.db";
    config.plugin_dirs = {WEFT_TEST_PLUGIN_DIR};
    auto host = app::Host::open(config);
    ASSERT_TRUE(host.ok()) << host.error().message;
    auto store = (*host)->store();
    service::HumanService human(store, std::make_shared<service::AuditLog>(store), [] {});
    service::HumanCaller caller;
    caller.user_id = owner;
    auto answered = human.respond(caller, rid, body_of(R"({"decision": "approve"})"));
    ASSERT_TRUE(answered.ok()) << answered.error().code << ": " << answered.error().message;
    EXPECT_EQ(answered->status, "answered");
    auto exec = store->get_execution(eid);
    ASSERT_TRUE(exec.ok());
    EXPECT_EQ(exec->status, store::ExecStatus::Parked) << "nobody resumed it";
  }

  ASSERT_TRUE(serve.start()) << serve.log_text();
  expect_completed_once(serve.port(), token, eid);

  // Answered over HTTP and killed at once: whichever process runs the rest, it runs once.
  auto [eid2, rid2] = park(serve.port(), token);
  Response r = Client(serve.port()).post("/api/orchestrator/respond/" + rid2, body_of(R"({"decision": "approve"})"), token);
  ASSERT_EQ(r.status, 200) << r.describe();
  serve.kill_now();
  ASSERT_TRUE(serve.start()) << serve.log_text();
  expect_completed_once(serve.port(), token, eid2, /*one_resume=*/false);
}

WEFT_API_BACKENDS(OrchestratorTest);
WEFT_API_BACKENDS(OrchestratorLimitsTest);
WEFT_API_BACKENDS(OrchestratorSlowReaderTest);

}  // namespace
}  // namespace weft::apitest
