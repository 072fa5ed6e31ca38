// The audit trail over REST (issue 6, docs/api.md "Audit trail"): GET /api/audit,
// /api/audit/workflow/:id, /api/audit/export (CSV and JSON, streamed) and /api/audit/verify,
// against the whole `weft serve` on SQLite and PostgreSQL. Entries come from AuditLog (as every
// service writes them), straight from the store for bulk (the same canonical text, chosen
// times), from real credential accesses of runs, and from the admin / API-key / custom-node
// routes that write them. Tampering is done in the database itself (sqlite3 / psql).
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "host/core/call.hpp"
#include "host/core/ids.hpp"
#include "host/expr/value.hpp"
#include "host/service/audit.hpp"
#include "tests/api/fixture.hpp"

namespace weft::apitest {
namespace {

constexpr int kLongMs = 120000;  // exports of 20,000 entries in a Debug build

// test.audit_reader: reads the credential its configuration names "api" (a credential.access
// entry) and outputs only that it did.
weft_status audit_reader(void*, const weft_node_request* req, const weft_node_result* res) {
  const weft_host_api* host = weft::host_api_table();
  StringSink cred, err;
  weft_status st = host->credential_get(req->call, to_weft_str("api"), &cred.sink, &err.sink);
  if (st != WEFT_OK) {
    res->error->write(res->error->ctx, err.data.data(), err.data.size());
    return st;
  }
  const std::string out = R"({"main": {"read": true}})";
  res->output->write(res->output->ctx, out.data(), out.size());
  return WEFT_OK;
}

// RFC 4180: rows end with CRLF; a quoted field may hold commas, doubled quotes, CR and LF; a
// quote may only open a field and, closing it, be followed by a comma or the row end. false on
// anything else (so a row that breaks the quoting fails the test instead of shifting columns).
bool parse_csv(const std::string& s, std::vector<std::vector<std::string>>& rows) {
  std::vector<std::string> row;
  std::string cell;
  bool quoted = false, closed = false;
  size_t i = 0;
  while (i < s.size()) {
    const char c = s[i];
    if (quoted) {
      if (c == '"') {
        if (i + 1 < s.size() && s[i + 1] == '"') {
          cell.push_back('"');
          i += 2;
          continue;
        }
        quoted = false;
        closed = true;
        ++i;
        continue;
      }
      cell.push_back(c);
      ++i;
      continue;
    }
    if (c == ',') {
      row.push_back(std::move(cell));
      cell.clear();
      closed = false;
      ++i;
      continue;
    }
    if (c == '\r') {
      if (i + 1 >= s.size() || s[i + 1] != '\n') return false;
      row.push_back(std::move(cell));
      cell.clear();
      rows.push_back(std::move(row));
      row.clear();
      closed = false;
      i += 2;
      continue;
    }
    if (closed || c == '\n') return false;  // text after a closing quote, or a bare LF
    if (c == '"') {
      if (!cell.empty()) return false;
      quoted = true;
      ++i;
      continue;
    }
    cell.push_back(c);
    ++i;
  }
  return !quoted && cell.empty() && row.empty();  // the last row ended with CRLF
}

const std::vector<std::string> kCsvColumns = {"seq",      "timestamp",        "ts_ms",   "user_id",
                                              "action_type", "workflow_id",   "execution_id", "node_id",
                                              "request_details", "response",  "response_time_ms", "details",
                                              "hash",     "prev_hash"};

std::string iso(int64_t ms) { return *expr::format_iso8601_ms(ms, false); }

std::string query_escape(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      char b[4];
      std::snprintf(b, sizeof b, "%%%02X", c);
      out += b;
    }
  }
  return out;
}

struct Seed {
  service::AuditEntry e;
  int64_t ts_ms = 0;
};

class AuditApiTest : public ApiTest {
 protected:
  void configure(app::Config&, api::ServeConfig& serve) override {
    // The export's own rate class, small on the free tier so a test can reach it.
    serve.http.rate_overrides = *Json::parse(R"({"free": {"export": 2}})");
  }
  void SetUp() override {
    ApiTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    registry::NodeType t;
    t.type_name = "test.audit_reader";
    t.schema = *Json::parse(R"({"display_name": "Audit reader", "description": "reads its credential",
      "fields": [], "inputs": [{"name": "main", "type": "any"}], "outputs": [{"name": "main", "type": "any"}],
      "credential_types": ["http_bearer"]})");
    t.execute = &audit_reader;
    ASSERT_TRUE(server().host().registry().add_builtin_node_type(std::move(t)).ok());
  }

  service::AuditLog& audit() { return *server().context().audit; }
  store::Store& store() { return *server().host().store(); }

  void record(const std::string& user, const std::string& type, const std::string& workflow, Json details = Json::object(),
              const std::string& node = "") {
    service::AuditEntry e;
    e.user_id = user;
    e.action_type = type;
    e.workflow_id = workflow;
    e.node_id = node;
    e.details = std::move(details);
    Status st = audit().record(e);
    ASSERT_TRUE(st.ok()) << st.error().message;
  }

  // Entries appended straight through the store, 1,000 per transaction, with the canonical text
  // AuditLog writes (record() stamps the current time; these carry the given ones). Returns the
  // seqs in order.
  std::vector<int64_t> bulk(const std::vector<Seed>& seeds) {
    std::vector<int64_t> seqs;
    for (size_t at = 0; at < seeds.size(); at += 1000) {
      std::vector<store::AuditRecord> batch;
      for (size_t i = at; i < std::min(seeds.size(), at + 1000); ++i) {
        const Seed& s = seeds[i];
        store::AuditRecord r;
        r.ts_ms = s.ts_ms;
        r.user_id = s.e.user_id;
        r.action_type = s.e.action_type;
        r.workflow_id = s.e.workflow_id;
        r.execution_id = s.e.execution_id;
        r.node_id = s.e.node_id;
        r.entry = service::AuditLog::canonical(s.e, s.ts_ms, nullptr);
        batch.push_back(std::move(r));
      }
      auto appended = store().append_audit(batch);
      EXPECT_TRUE(appended.ok()) << appended.error().message;
      if (!appended.ok()) break;
      for (const auto& r : *appended) seqs.push_back(r.seq);
    }
    return seqs;
  }

  Json get_ok(const std::string& target, const std::string& token) {
    Response r = client().get(target, token);
    EXPECT_EQ(r.status, 200) << target << ": " << r.describe();
    return r.json();
  }

  // Every page of a list route; checks that non-final pages are full and that every page but
  // the last names a cursor.
  std::vector<Json> all_pages(const std::string& target, const std::string& token, int limit, int* pages = nullptr) {
    std::vector<Json> out;
    std::string cursor;
    int n = 0;
    for (int guard = 0; guard < 100000; ++guard) {
      std::string t = target + (target.find('?') == std::string::npos ? "?" : "&") + "limit=" + std::to_string(limit);
      if (!cursor.empty()) t += "&cursor=" + cursor;
      Response r = client().get(t, token);
      if (r.status != 200) {
        ADD_FAILURE() << t << ": " << r.describe();
        break;
      }
      const Json& j = r.json();
      ++n;
      for (const Json& e : j["entries"].as_array()) out.push_back(e);
      if (!j.contains("next_cursor")) break;
      EXPECT_EQ(j["entries"].size(), static_cast<size_t>(limit)) << "a page before the last is not full";
      cursor = j["next_cursor"].as_string();
    }
    if (pages) *pages = n;
    return out;
  }

  static std::vector<int64_t> seqs_of(const std::vector<Json>& entries) {
    std::vector<int64_t> out;
    for (const Json& e : entries) out.push_back(e["seq"].as_int());
    return out;
  }

  Response export_trail(const std::string& query, const std::string& token) {
    return client().request("GET", "/api/audit/export" + query, token, "", {}, kLongMs);
  }

  // A statement against the server's own database, from outside (sqlite3 / psql).
  void sql(const std::string& statement) {
    std::string cmd;
    if (GetParam() == "sqlite") {
      cmd = "sqlite3 -cmd '.timeout 5000' '" + dir() + "/data/weft.db' \"" + statement + "\" >/dev/null 2>&1";
    } else {
      cmd = "psql '" + server().host().config().database + "' -q -c \"" + statement + "\" >/dev/null 2>&1";
    }
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  }
  std::string sql_value(const std::string& query) {
    std::string cmd;
    if (GetParam() == "sqlite") {
      cmd = "sqlite3 -cmd '.timeout 5000' '" + dir() + "/data/weft.db' \"" + query + "\"";
    } else {
      cmd = "psql '" + server().host().config().database + "' -At -c \"" + query + "\"";
    }
    std::string out;
    FILE* p = ::popen(cmd.c_str(), "r");
    if (!p) return out;
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    ::pclose(p);
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
    return out;
  }

  Json verify(const std::string& admin) { return get_ok("/api/audit/verify", admin); }

  // An API key of `u` with these scopes.
  std::string api_key(const TestUser& u, const std::vector<std::string>& scopes) {
    Json body = Json::object();
    body.set("name", "k-" + random_hex(3));
    Json sc = Json::array();
    for (const auto& s : scopes) sc.push_back(s);
    body.set("scopes", sc);
    Response r = client().post("/api/keys", body, u.token);
    EXPECT_EQ(r.status, 201) << r.describe();
    return r.json()["key"].as_string();
  }
};

// ---- pagination ------------------------------------------------------------------------------------

TEST_P(AuditApiTest, PagesThroughAThousandEntriesWithoutGapsOrDuplicates) {
  TestUser admin = make_user("enterprise", "admin");
  TestUser a = make_user(), b = make_user();
  std::vector<Seed> seeds;
  const int64_t base = wall_ms() - 3600000;
  for (int i = 0; i < 1000; ++i) {
    Seed s;
    s.e.user_id = i % 3 == 0 ? b.id : a.id;
    s.e.action_type = i % 2 ? "credential.access" : "credential.use";
    s.e.details.set("i", i);
    s.ts_ms = base + i;
    seeds.push_back(s);
  }
  std::vector<int64_t> seqs = bulk(seeds);
  ASSERT_EQ(seqs.size(), 1000u);
  std::vector<int64_t> a_seqs;
  for (size_t i = 0; i < seeds.size(); ++i)
    if (seeds[i].e.user_id == a.id) a_seqs.push_back(seqs[i]);

  // A user pages through their 666 entries 37 at a time: each exactly once, in order.
  int pages = 0;
  std::vector<Json> mine = all_pages("/api/audit", a.token, 37, &pages);
  EXPECT_EQ(seqs_of(mine), a_seqs);
  EXPECT_EQ(pages, static_cast<int>((a_seqs.size() + 36) / 37));
  for (const Json& e : mine) {
    ASSERT_EQ(e["user_id"].as_string(), a.id);
    EXPECT_EQ(e["details"]["i"].as_int() % 3 != 0, true);
  }
  // The admin sees the whole trail: 1, 2, ... without a gap.
  std::vector<Json> every = all_pages("/api/audit", admin.token, 500);
  ASSERT_GE(every.size(), 1000u);
  for (size_t i = 0; i < every.size(); ++i) ASSERT_EQ(every[i]["seq"].as_int(), static_cast<int64_t>(i + 1));
  // Exactly a page: no cursor on it (no empty page after).
  Json one = get_ok("/api/audit?limit=500&cursor=" + std::to_string(every[every.size() - 500]["seq"].as_int() - 1),
                    admin.token);
  EXPECT_EQ(one["entries"].size(), 500u);
  EXPECT_FALSE(one.contains("next_cursor")) << one.dump().substr(0, 200);
  // A cursor in the middle continues after it.
  Json after = get_ok("/api/audit?limit=3&cursor=" + std::to_string(a_seqs[10]), a.token);
  ASSERT_EQ(after["entries"].size(), 3u);
  EXPECT_EQ(after["entries"].at(0)["seq"].as_int(), a_seqs[11]);
  EXPECT_EQ(after["next_cursor"].as_string(), std::to_string(a_seqs[13]));
  // The default page is 100.
  EXPECT_EQ(get_ok("/api/audit", a.token)["entries"].size(), 100u);

  for (const std::string q : {"limit=0", "limit=501", "limit=ten", "cursor=-1", "cursor=abc"})
    EXPECT_TRUE(IsError(client().get("/api/audit?" + q, a.token), 400, "invalid_argument")) << q;
}

// ---- filters -----------------------------------------------------------------------------------------

TEST_P(AuditApiTest, EveryFilterNarrowsTheTrail) {
  TestUser admin = make_user("enterprise", "admin");
  TestUser a = make_user(), b = make_user();
  const int64_t base = 1700000000000;  // 2023-11-14T22:13:20Z
  const char* types[] = {"credential.access", "credential.use", "human.approval", "admin.user_tier", "human.vote"};
  const char* workflows[] = {"wf-one", "wf-two", ""};
  std::vector<Seed> seeds;
  for (int i = 0; i < 120; ++i) {
    Seed s;
    s.e.user_id = i % 4 == 0 ? b.id : a.id;
    s.e.action_type = types[i % 5];
    s.e.workflow_id = workflows[i % 3];
    s.e.details.set("i", i);
    s.ts_ms = base + i * 60000;  // one a minute
    seeds.push_back(s);
  }
  std::vector<int64_t> seqs = bulk(seeds);
  ASSERT_EQ(seqs.size(), seeds.size());

  // What a query must return, computed here from the seeds.
  auto expect = [&](const std::string& query, const std::string& token, auto pred) {
    std::vector<int64_t> want;
    for (size_t i = 0; i < seeds.size(); ++i)
      if (pred(seeds[i])) want.push_back(seqs[i]);
    ASSERT_FALSE(want.empty()) << query << ": the seeds do not exercise this filter";
    std::vector<Json> got = all_pages("/api/audit?" + query, token, 500);
    EXPECT_EQ(seqs_of(got), want) << query;
  };
  const int64_t t10 = base + 10 * 60000, t20 = base + 20 * 60000;
  expect("from=" + std::to_string(t10), admin.token, [&](const Seed& s) { return s.ts_ms >= t10; });
  expect("to=" + query_escape(iso(t20)), admin.token, [&](const Seed& s) { return s.ts_ms < t20; });
  expect("from=" + std::to_string(t10) + "&to=" + std::to_string(t20), admin.token,
         [&](const Seed& s) { return s.ts_ms >= t10 && s.ts_ms < t20; });
  // An offset: 23:23:20+01:00 is 22:23:20Z (t10).
  expect("from=" + query_escape("2023-11-14T23:23:20+01:00"), admin.token, [&](const Seed& s) { return s.ts_ms >= t10; });
  // A date alone is its midnight UTC: 2023-11-15 is 1h46m40s after base.
  const int64_t midnight = 1700006400000;
  expect("from=2023-11-15", admin.token, [&](const Seed& s) { return s.ts_ms >= midnight; });
  expect("type=credential.access", admin.token, [](const Seed& s) { return s.e.action_type == "credential.access"; });
  expect("type=credential.", admin.token,
         [](const Seed& s) { return s.e.action_type.rfind("credential.", 0) == 0; });
  expect("type=human.", admin.token, [](const Seed& s) { return s.e.action_type.rfind("human.", 0) == 0; });
  expect("workflow_id=wf-one", admin.token, [](const Seed& s) { return s.e.workflow_id == "wf-one"; });
  expect("user_id=" + b.id, admin.token, [&](const Seed& s) { return s.e.user_id == b.id; });
  expect("user_id=" + a.id + "&type=human.&workflow_id=wf-two&from=" + std::to_string(t10), admin.token,
         [&](const Seed& s) {
           return s.e.user_id == a.id && s.e.action_type.rfind("human.", 0) == 0 && s.e.workflow_id == "wf-two" &&
                  s.ts_ms >= t10;
         });
  // A user's filters apply within their own entries.
  expect("type=credential.&workflow_id=wf-two", a.token, [&](const Seed& s) {
    return s.e.user_id == a.id && s.e.action_type.rfind("credential.", 0) == 0 && s.e.workflow_id == "wf-two";
  });
  // "credential" without the dot is an exact type: nothing has it.
  EXPECT_EQ(get_ok("/api/audit?type=credential", admin.token)["entries"].size(), 0u);

  // user_id is for administrators, whatever the value.
  EXPECT_TRUE(IsError(client().get("/api/audit?user_id=" + b.id, a.token), 403, "forbidden"));
  EXPECT_TRUE(IsError(client().get("/api/audit?user_id=" + a.id, a.token), 403, "forbidden"));
  for (const std::string& q : std::vector<std::string>{"from=yesterday", "to=2023-13-01", "from=-5",
                                                        "type=Credential.Access", "type=a%25b",
                                                        "type=" + std::string(65, 'a')})
    EXPECT_TRUE(IsError(client().get("/api/audit?" + q, admin.token), 400, "invalid_argument")) << q;
}

// ---- visibility ----------------------------------------------------------------------------------------

TEST_P(AuditApiTest, UsersSeeTheirOwnEntriesAndOwnersTheirWorkflowsTrail) {
  TestUser admin = make_user("enterprise", "admin");
  TestUser a = make_user(), b = make_user();
  const std::string wf_a = create_workflow(a.token, quick_workflow("a's"));
  const std::string wf_b = create_workflow(b.token, quick_workflow("b's"));

  record(a.id, "credential.create", "", *Json::parse(R"({"credential_id": "c1", "name": "slack", "type": "slack"})"));
  record(b.id, "credential.access", wf_b);
  // B approves a request on A's workflow (B is a named approver); A answers a clarification.
  Json approval = *Json::parse(R"({"request_id": "r1", "kind": "approval", "decision": "approve",
    "request_details": {"title": "Ship it?", "options": ["approve", "reject"]},
    "response": {"decision": "approve", "comment": "fine"}, "response_time_ms": 4200})");
  record(b.id, "human.approval", wf_a, approval, "gate");
  Json clarification = *Json::parse(R"({"request_id": "r2", "kind": "clarification",
    "request_details": {"question": "Which region?"}, "response": {"answer": "eu"}, "response_time_ms": 900})");
  record(a.id, "human.clarification", wf_a, clarification, "ask");

  // Each user: only the entries they acted in.
  std::vector<Json> seen_a = all_pages("/api/audit", a.token, 50), seen_b = all_pages("/api/audit", b.token, 50);
  std::vector<std::string> types_a, types_b;
  for (const Json& e : seen_a) {
    EXPECT_EQ(e["user_id"].as_string(), a.id);
    types_a.push_back(e["action_type"].as_string());
  }
  for (const Json& e : seen_b) {
    EXPECT_EQ(e["user_id"].as_string(), b.id);
    types_b.push_back(e["action_type"].as_string());
  }
  EXPECT_EQ(types_a, (std::vector<std::string>{"credential.create", "human.clarification"}));
  EXPECT_EQ(types_b, (std::vector<std::string>{"credential.access", "human.approval"}));

  // The owner's workflow trail shows the approver's entry, with the PRODUCT.md §5 fields.
  std::vector<Json> trail = all_pages("/api/audit/workflow/" + wf_a, a.token, 50);
  ASSERT_EQ(trail.size(), 2u);
  const Json& ap = trail[0];
  EXPECT_EQ(ap["user_id"].as_string(), b.id);
  EXPECT_EQ(ap["action_type"].as_string(), "human.approval");
  EXPECT_EQ(ap["workflow_id"].as_string(), wf_a);
  EXPECT_EQ(ap["node_id"].as_string(), "gate");
  EXPECT_EQ(ap["request_details"]["title"].as_string(), "Ship it?");
  EXPECT_EQ(ap["response"]["decision"].as_string(), "approve");
  EXPECT_EQ(ap["response_time_ms"].as_int(), 4200);
  EXPECT_EQ(ap["details"]["request_id"].as_string(), "r1");
  EXPECT_EQ(ap["hash"].as_string().size(), 64u);
  EXPECT_EQ(ap["prev_hash"].as_string().size(), 64u);
  EXPECT_EQ(ap["timestamp"].as_string(), iso(ap["ts_ms"].as_int()));
  EXPECT_EQ(trail[1]["action_type"].as_string(), "human.clarification");
  EXPECT_EQ(trail[1]["response"]["answer"].as_string(), "eu");
  // Other types carry null for the human fields.
  const Json& created = seen_a[0];
  EXPECT_TRUE(created["request_details"].is_null());
  EXPECT_TRUE(created["response"].is_null());
  EXPECT_TRUE(created["response_time_ms"].is_null());
  EXPECT_EQ(created["details"]["name"].as_string(), "slack");
  // Filters apply within the trail.
  EXPECT_EQ(get_ok("/api/audit/workflow/" + wf_a + "?type=human.approval", a.token)["entries"].size(), 1u);

  // Another owner's workflow, or an unknown one, is not found — even with entries about it.
  EXPECT_TRUE(IsError(client().get("/api/audit/workflow/" + wf_a, b.token), 404, "not_found"));
  EXPECT_TRUE(IsError(client().get("/api/audit/workflow/" + wf_b, a.token), 404, "not_found"));
  EXPECT_TRUE(IsError(client().get("/api/audit/workflow/nope", a.token), 404, "not_found"));
  EXPECT_TRUE(IsError(client().get("/api/audit/workflow/" + wf_a + "?user_id=" + b.id, a.token), 403, "forbidden"));
  // An admin reads any workflow's trail, and may narrow it to one user.
  EXPECT_EQ(get_ok("/api/audit/workflow/" + wf_a, admin.token)["entries"].size(), 2u);
  Json by_b = get_ok("/api/audit/workflow/" + wf_a + "?user_id=" + b.id, admin.token);
  ASSERT_EQ(by_b["entries"].size(), 1u);
  EXPECT_EQ(by_b["entries"].at(0)["action_type"].as_string(), "human.approval");
  // ... and the whole trail.
  std::set<std::string> users;
  for (const Json& e : all_pages("/api/audit", admin.token, 50)) users.insert(e["user_id"].as_string());
  EXPECT_TRUE(users.count(a.id) && users.count(b.id));

  // B's export holds none of A's entries.
  Response exported = export_trail("?format=json", b.token);
  ASSERT_EQ(exported.status, 200) << exported.describe();
  ASSERT_EQ(exported.json().size(), 2u) << exported.body;
  EXPECT_EQ(exported.body.find(a.id), std::string::npos);

  // API keys: the audit:read scope; an admin's key without the admin scope reads like a user.
  const std::string no_scope = api_key(a, {"workflows:read"});
  EXPECT_TRUE(IsError(client().get("/api/audit", no_scope), 403, "forbidden"));
  EXPECT_TRUE(IsError(client().get("/api/audit/export", no_scope), 403, "forbidden"));
  // A's four entries now: two recorded, two api_key.create (this key and the one before).
  const std::string reader = api_key(a, {"audit:read"});
  EXPECT_EQ(get_ok("/api/audit", reader)["entries"].size(), 4u);
  const std::string admin_reader = api_key(admin, {"audit:read"});
  const Json own = get_ok("/api/audit", admin_reader);
  ASSERT_GE(own["entries"].size(), 1u);
  for (const Json& e : own["entries"].as_array()) EXPECT_EQ(e["user_id"].as_string(), admin.id);
  EXPECT_TRUE(IsError(client().get("/api/audit?user_id=" + a.id, admin_reader), 403, "forbidden"));
  EXPECT_TRUE(IsError(client().get("/api/audit/verify", admin_reader), 403, "forbidden"));
  EXPECT_TRUE(IsError(client().get("/api/audit/verify", a.token), 403, "forbidden"));
  const std::string admin_full = api_key(admin, {"audit:read", "admin"});
  const size_t everything = get_ok("/api/audit", admin.token)["entries"].size();
  EXPECT_EQ(everything, 4u + 4u);  // recorded, and four keys created
  EXPECT_EQ(get_ok("/api/audit", admin_full)["entries"].size(), everything);
  EXPECT_TRUE(IsError(client().get("/api/audit"), 401, "unauthorized"));
}

// ---- export ---------------------------------------------------------------------------------------------

// Twenty thousand entries: forty pages of the list, many store pages of the export. Under the
// sanitizers (every allocation checked, about five times slower) five thousand still cross every
// page boundary the export has.
#if defined(__SANITIZE_ADDRESS__)
constexpr int kExportEntries = 5000;
#else
constexpr int kExportEntries = 20000;
#endif

TEST_P(AuditApiTest, ExportsStreamTwentyThousandEntriesAsCsvAndJson) {
  TestUser a = make_user(), b = make_user();
  std::vector<Seed> seeds;
  const int64_t base = wall_ms() - 86400000;
  const char* types[] = {"credential.access", "credential.use", "human.approval"};
  for (int i = 0; i < kExportEntries; ++i) {
    Seed s;
    s.e.user_id = i % 10 == 9 ? b.id : a.id;
    s.e.action_type = types[i % 3];
    s.e.workflow_id = "wf-" + std::to_string(i % 7);
    s.e.execution_id = "ex-" + std::to_string(i);
    s.e.node_id = i % 100 == 0 ? "=cmd|' /C calc'!A0" : "node, \"" + std::to_string(i) + "\"";
    s.e.details.set("i", i);
    if (i % 3 == 2) {
      s.e.details.set("request_details", *Json::parse(R"({"title": "line one\nline two"})"));
      s.e.details.set("response", *Json::parse(R"({"decision": "approve"})"));
      s.e.details.set("response_time_ms", i);
    }
    s.ts_ms = base + i * 10;
    seeds.push_back(s);
  }
  ASSERT_EQ(bulk(seeds).size(), seeds.size());

  // The list, paged: what every export must match.
  std::vector<Json> listed = all_pages("/api/audit", a.token, 500);
  ASSERT_EQ(listed.size(), static_cast<size_t>(kExportEntries / 10 * 9));

  // JSON: chunked, complete (the client fails on a body without its last chunk), one array.
  Response json = export_trail("?format=json", a.token);
  ASSERT_EQ(json.status, 200) << json.describe().substr(0, 300);
  EXPECT_NE(json.header("transfer-encoding").value_or("").find("chunked"), std::string::npos);
  EXPECT_FALSE(json.header("content-length").has_value());
  EXPECT_EQ(json.header("content-type").value_or(""), "application/json");
  const std::string disposition = json.header("content-disposition").value_or("");
  EXPECT_EQ(disposition.rfind("attachment; filename=\"weft-audit-", 0), 0u) << disposition;
  EXPECT_NE(disposition.find(".json\""), std::string::npos) << disposition;
  const Json& arr = json.json();
  ASSERT_TRUE(arr.is_array()) << json.body.substr(0, 200);
  ASSERT_EQ(arr.size(), listed.size());
  for (size_t i = 0; i < listed.size(); ++i) ASSERT_EQ(arr.at(i), listed[i]) << "entry " << i;

  // CSV: the header row, then one row per entry with the list's values.
  Response csv = export_trail("?format=csv", a.token);
  ASSERT_EQ(csv.status, 200) << csv.describe().substr(0, 300);
  EXPECT_NE(csv.header("transfer-encoding").value_or("").find("chunked"), std::string::npos);
  EXPECT_EQ(csv.header("content-type").value_or(""), "text/csv; charset=utf-8");
  EXPECT_NE(csv.header("content-disposition").value_or("").find(".csv\""), std::string::npos);
  std::vector<std::vector<std::string>> rows;
  ASSERT_TRUE(parse_csv(csv.body, rows)) << "not RFC 4180: " << csv.body.substr(0, 300);
  ASSERT_EQ(rows.size(), listed.size() + 1);
  EXPECT_EQ(rows[0], kCsvColumns);
  for (size_t i = 0; i < listed.size(); ++i) {
    const auto& row = rows[i + 1];
    const Json& e = listed[i];
    ASSERT_EQ(row.size(), kCsvColumns.size()) << "row " << i;
    ASSERT_EQ(row[0], std::to_string(e["seq"].as_int()));
    ASSERT_EQ(row[1], e["timestamp"].as_string());
    ASSERT_EQ(row[3], e["user_id"].as_string());
    ASSERT_EQ(row[4], e["action_type"].as_string());
    ASSERT_EQ(row[6], e["execution_id"].as_string());
    const std::string node = e["node_id"].as_string();
    ASSERT_EQ(row[7], node[0] == '=' ? "'" + node : node) << "row " << i;
    ASSERT_EQ(*Json::parse(row[11]), e["details"]) << "row " << i;
    if (e["action_type"].as_string() == "human.approval") {
      ASSERT_EQ(*Json::parse(row[8]), e["request_details"]);
      ASSERT_EQ(row[10], std::to_string(e["response_time_ms"].as_int()));
    } else {
      ASSERT_EQ(row[8], "");
      ASSERT_EQ(row[10], "");
    }
    ASSERT_EQ(row[12], e["hash"].as_string());
  }

  // Filters apply to the export as to the list.
  const int64_t from = base + kExportEntries / 4 * 10, to = base + kExportEntries * 3 / 10 * 10;
  const std::string q = "type=human.&workflow_id=wf-3&from=" + std::to_string(from) + "&to=" + query_escape(iso(to));
  std::vector<Json> narrowed = all_pages("/api/audit?" + q, a.token, 500);
  ASSERT_FALSE(narrowed.empty());
  Response filtered = export_trail("?format=json&" + q, a.token);
  ASSERT_EQ(filtered.status, 200) << filtered.describe();
  ASSERT_EQ(filtered.json().size(), narrowed.size());
  for (size_t i = 0; i < narrowed.size(); ++i) EXPECT_EQ(filtered.json().at(i), narrowed[i]);

  // Clients that go away mid-export free their places (two: an account's cap): the server
  // answers, and both accounts export again.
  for (int i = 0; i < 2; ++i) {
    auto conn = Connection::open(port());
    ASSERT_TRUE(conn);
    apitest::Request r;
    r.target = "/api/audit/export?format=csv";
    r.headers = auth_header(a.token);
    ASSERT_TRUE(conn->send_all(serialize(r, port(), false)));
    Response head = conn->read_response(kLongMs, true);
    EXPECT_EQ(head.status, 200) << head.describe();
    std::string some;
    EXPECT_TRUE(conn->read_body_some(some, kLongMs));
  }  // closed without reading the rest
  for (const std::string& token : {b.token, a.token}) {
    Response again;
    // The abandoned exports end at their next write (the client reset the connection).
    EXPECT_TRUE(eventually([&] {
      again = export_trail("?format=json&type=credential.use&workflow_id=wf-1", token);
      return again.status != 429 && again.status != 503;
    }, 30000, 100)) << again.describe();
    EXPECT_EQ(again.status, 200) << again.describe();
    EXPECT_TRUE(again.json().is_array() && again.json().size() > 0);
  }

  // Empty exports are still documents.
  Response none = export_trail("?format=json&type=vault.rotate", a.token);
  EXPECT_EQ(none.body, "[]\n");
  Response none_csv = export_trail("?format=csv&type=vault.rotate", a.token);
  std::vector<std::vector<std::string>> header_only;
  ASSERT_TRUE(parse_csv(none_csv.body, header_only));
  EXPECT_EQ(header_only.size(), 1u);

  // Bad requests are answered before anything streams.
  EXPECT_TRUE(IsError(export_trail("?format=xml", a.token), 400, "invalid_argument"));
  EXPECT_TRUE(IsError(export_trail("?format=csv&limit=10", a.token), 400, "invalid_argument"));
  EXPECT_TRUE(IsError(export_trail("?format=csv&user_id=" + b.id, a.token), 403, "forbidden"));
  EXPECT_TRUE(IsError(export_trail("?format=csv&from=soon", a.token), 400, "invalid_argument"));
  // HEAD: the head only.
  Response head = client().request("HEAD", "/api/audit/export?format=csv", a.token);
  EXPECT_EQ(head.status, 200) << head.describe();
  EXPECT_TRUE(head.body.empty());
}

TEST_P(AuditApiTest, TheExportHasItsOwnRateClass) {
  TestUser free_user = make_user("free");
  record(free_user.id, "credential.create", "");
  for (int i = 0; i < 2; ++i) EXPECT_EQ(export_trail("?format=csv", free_user.token).status, 200);
  Response limited = export_trail("?format=csv", free_user.token);
  EXPECT_TRUE(IsError(limited, 429, "rate_limited")) << limited.describe();
  EXPECT_EQ(limited.json()["error"]["details"]["class"].as_string(), "export");
  EXPECT_TRUE(limited.header("retry-after").has_value());
  // The list is another class.
  EXPECT_EQ(client().get("/api/audit", free_user.token).status, 200);
}

TEST_P(AuditApiTest, CsvCellsCannotBecomeFormulas) {
  TestUser a = make_user();
  const std::vector<std::string> dangerous = {"=HYPERLINK(\"http://evil.example\",\"x\")", "+1+1", "-1+1",
                                              "@SUM(A1:A2)", "\tTAB", "\rCR", "=cmd|' /C calc'!A0"};
  const std::vector<std::string> harmless = {"plain", "with, comma", "with \"quotes\"", "multi\nline", "'already"};
  for (const auto& n : dangerous) record(a.id, "credential.access", "wf", Json::object(), n);
  for (const auto& n : harmless) record(a.id, "credential.access", "wf", Json::object(), n);
  // A value inside details: the cell is JSON text and starts with '{'.
  record(a.id, "credential.access", "wf", *Json::parse(R"({"name": "=1+1"})"), "x");

  Response csv = export_trail("?format=csv", a.token);
  ASSERT_EQ(csv.status, 200) << csv.describe();
  std::vector<std::vector<std::string>> rows;
  ASSERT_TRUE(parse_csv(csv.body, rows)) << csv.body;
  ASSERT_EQ(rows.size(), 1 + dangerous.size() + harmless.size() + 1);
  for (size_t i = 0; i < dangerous.size(); ++i) EXPECT_EQ(rows[1 + i][7], "'" + dangerous[i]);
  for (size_t i = 0; i < harmless.size(); ++i) EXPECT_EQ(rows[1 + dangerous.size() + i][7], harmless[i]);
  EXPECT_EQ(Json::parse(rows.back()[11]).value()["name"].as_string(), "=1+1");
  for (const auto& row : rows)
    for (const auto& cell : row)
      EXPECT_TRUE(cell.empty() || std::string("=+-@\t\r").find(cell[0]) == std::string::npos) << cell;
}

// ---- actions that write entries -------------------------------------------------------------------

TEST_P(AuditApiTest, AdminActionsAreAudited) {
  TestUser admin = make_user("enterprise", "admin");
  // A plugin that can be switched: not the one serving the database.
  Json plugins = get_ok("/api/admin/plugins", admin.token);
  std::string plugin;
  for (const Json& p : plugins["plugins"].as_array())
    if (p["state"].as_string() == "loaded" && p["name"].as_string() == "integrations") plugin = p["name"].as_string();
  ASSERT_FALSE(plugin.empty()) << plugins.dump();
  ASSERT_EQ(client().post_empty("/api/admin/plugins/" + plugin + "/disable", admin.token).status, 200);
  ASSERT_EQ(client().post_empty("/api/admin/plugins/" + plugin + "/enable", admin.token).status, 200);
  Json new_user = Json::object();
  new_user.set("email", "new-" + random_hex(4) + "@example.com");
  new_user.set("password", "a long password");
  Response created = client().post("/api/admin/users", new_user, admin.token);
  ASSERT_EQ(created.status, 201) << created.describe();
  const std::string uid = created.json()["id"].as_string();
  ASSERT_EQ(client().put("/api/admin/users/" + uid + "/tier", *Json::parse(R"({"tier": "pro"})"), admin.token).status,
            200);
  // A refused change writes nothing.
  EXPECT_EQ(client().put("/api/admin/users/" + uid + "/tier", *Json::parse(R"({"tier": "platinum"})"), admin.token).status,
            400);

  std::vector<Json> trail = all_pages("/api/audit?type=admin.", admin.token, 50);
  ASSERT_EQ(trail.size(), 4u);
  std::vector<std::string> types;
  for (const Json& e : trail) {
    types.push_back(e["action_type"].as_string());
    EXPECT_EQ(e["user_id"].as_string(), admin.id);
  }
  EXPECT_EQ(types, (std::vector<std::string>{"admin.plugin_disable", "admin.plugin_enable", "admin.user_create",
                                             "admin.user_tier"}));
  EXPECT_EQ(trail[0]["details"]["target"].as_string(), plugin);
  EXPECT_EQ(trail[0]["details"]["before"]["state"].as_string(), "loaded");
  EXPECT_EQ(trail[0]["details"]["after"]["state"].as_string(), "disabled");
  EXPECT_EQ(trail[1]["details"]["before"]["state"].as_string(), "disabled");
  EXPECT_EQ(trail[1]["details"]["after"]["state"].as_string(), "loaded");
  EXPECT_EQ(trail[2]["details"]["target"].as_string(), uid);
  EXPECT_TRUE(trail[2]["details"]["before"].is_null());
  EXPECT_EQ(trail[2]["details"]["after"]["email"].as_string(), new_user["email"].as_string());
  EXPECT_EQ(trail[2]["details"]["after"]["role"].as_string(), "user");
  EXPECT_EQ(trail[2].dump().find("a long password"), std::string::npos);
  EXPECT_EQ(trail[3]["details"]["target"].as_string(), uid);
  EXPECT_EQ(trail[3]["details"]["before"]["tier"].as_string(), "free");
  EXPECT_EQ(trail[3]["details"]["after"]["tier"].as_string(), "pro");

  // API keys: create, rotate, revoke — in the owner's own trail, never the key itself.
  TestUser u = make_user();
  Response key = client().post("/api/keys", *Json::parse(R"({"name": "ci", "scopes": ["audit:read"]})"), u.token);
  ASSERT_EQ(key.status, 201) << key.describe();
  const std::string old_id = key.json()["id"].as_string();
  Response rotated = client().post_empty("/api/keys/" + old_id + "/rotate?overlap_seconds=0", u.token);
  ASSERT_EQ(rotated.status, 201) << rotated.describe();
  const std::string new_id = rotated.json()["id"].as_string();
  ASSERT_EQ(client().del("/api/keys/" + new_id, u.token).status, 204);
  Response listed = client().get("/api/audit?type=api_key.", u.token);
  ASSERT_EQ(listed.status, 200);
  const Json& keys = listed.json()["entries"];
  ASSERT_EQ(keys.size(), 3u) << listed.body;
  EXPECT_EQ(keys.at(0)["action_type"].as_string(), "api_key.create");
  EXPECT_EQ(keys.at(0)["details"]["key_id"].as_string(), old_id);
  EXPECT_EQ(keys.at(0)["details"]["scopes"].at(0).as_string(), "audit:read");
  EXPECT_EQ(keys.at(1)["action_type"].as_string(), "api_key.rotate");
  EXPECT_EQ(keys.at(1)["details"]["key_id"].as_string(), new_id);
  EXPECT_EQ(keys.at(1)["details"]["replaces"].as_string(), old_id);
  EXPECT_EQ(keys.at(1)["details"]["overlap_seconds"].as_int(), 0);
  EXPECT_EQ(keys.at(2)["action_type"].as_string(), "api_key.revoke");
  EXPECT_EQ(keys.at(2)["details"]["key_id"].as_string(), new_id);
  for (const std::string& secret : {key.json()["key"].as_string(), rotated.json()["key"].as_string()}) {
    ASSERT_FALSE(secret.empty());
    EXPECT_EQ(listed.body.find(secret), std::string::npos);
  }
}

TEST_P(AuditApiTest, CustomNodeChangesAreAudited) {
  if (::geteuid() != 0) GTEST_SKIP() << "the sandbox's per-slot uids need root";
  TestUser u = make_user();
  auto source = [](int v) {
    return "module.exports = {\n  name: 'audited',\n  fields: [],\n"
           "  async execute(items) { return items.map(i => ({v: " + std::to_string(v) + "})); },\n};\n";
  };
  Json body = Json::object();
  body.set("language", "javascript");
  body.set("source", source(1));
  Response created = client().request("POST", "/api/nodes/custom", u.token, body.dump(),
                                      {{"Content-Type", "application/json"}}, kLongMs);
  if (created.status == 503) GTEST_SKIP() << "the sandbox is not available here: " << created.describe();
  ASSERT_EQ(created.status, 201) << created.describe();
  body.set("source", source(2));
  Response updated = client().request("PUT", "/api/nodes/custom/audited", u.token, body.dump(),
                                      {{"Content-Type", "application/json"}}, kLongMs);
  ASSERT_EQ(updated.status, 200) << updated.describe();
  ASSERT_EQ(client().del("/api/nodes/custom/audited", u.token).status, 204);
  std::vector<Json> trail = all_pages("/api/audit?type=custom_node.", u.token, 50);
  ASSERT_EQ(trail.size(), 3u);
  EXPECT_EQ(trail[0]["action_type"].as_string(), "custom_node.create");
  EXPECT_EQ(trail[0]["details"]["name"].as_string(), "audited");
  EXPECT_EQ(trail[0]["details"]["version"].as_int(), 1);
  EXPECT_EQ(trail[0]["details"]["language"].as_string(), "javascript");
  EXPECT_EQ(trail[1]["action_type"].as_string(), "custom_node.update");
  EXPECT_EQ(trail[1]["details"]["version"].as_int(), 2);
  EXPECT_EQ(trail[2]["action_type"].as_string(), "custom_node.delete");
  EXPECT_EQ(trail[2]["details"]["name"].as_string(), "audited");
}

// ---- the chain ----------------------------------------------------------------------------------------

TEST_P(AuditApiTest, VerifyFindsATamperedEntry) {
  TestUser admin = make_user("enterprise", "admin");
  TestUser a = make_user();
  for (int i = 0; i < 60; ++i) record(a.id, "credential.access", "wf", *Json::parse("{\"n\": \"entry-" + std::to_string(i) + "\"}"));
  Json clean = verify(admin.token);
  EXPECT_TRUE(clean["ok"].as_bool()) << clean.dump();
  EXPECT_TRUE(clean["broken_at"].is_null());
  const int64_t total = clean["entries"].as_int();
  EXPECT_GE(total, 60);
  EXPECT_EQ(clean["last_seq"].as_int(), total);
  EXPECT_EQ(clean["last_hash"].as_string(), all_pages("/api/audit", admin.token, 500).back()["hash"].as_string());

  // 1. The entry text of one row, edited in the database.
  const std::string original = sql_value("SELECT entry FROM audit_log WHERE seq = 20");
  ASSERT_NE(original.find("entry-"), std::string::npos) << original;
  sql("UPDATE audit_log SET entry = replace(entry, 'entry-', 'forged-') WHERE seq = 20");
  Json edited = verify(admin.token);
  EXPECT_FALSE(edited["ok"].as_bool()) << edited.dump();
  EXPECT_EQ(edited["broken_at"].as_int(), 20);
  EXPECT_EQ(edited["entries"].as_int(), 20);
  EXPECT_NE(edited["reason"].as_string().find("edited"), std::string::npos) << edited.dump();
  EXPECT_TRUE(edited["last_seq"].is_null());
  sql("UPDATE audit_log SET entry = replace(entry, 'forged-', 'entry-') WHERE seq = 20");
  EXPECT_TRUE(verify(admin.token)["ok"].as_bool());

  // 2. A filter column alone (moves the entry to another user's view; the hash still matches).
  sql("UPDATE audit_log SET user_id = 'someone-else' WHERE seq = 30");
  Json moved = verify(admin.token);
  EXPECT_EQ(moved["broken_at"].as_int(), 30) << moved.dump();
  EXPECT_NE(moved["reason"].as_string().find("user_id"), std::string::npos) << moved.dump();
  sql("UPDATE audit_log SET user_id = '" + a.id + "' WHERE seq = 30");
  EXPECT_TRUE(verify(admin.token)["ok"].as_bool());

  // 3. A row removed: its successor no longer chains.
  sql("DELETE FROM audit_log WHERE seq = 40");
  Json removed = verify(admin.token);
  EXPECT_FALSE(removed["ok"].as_bool());
  EXPECT_EQ(removed["broken_at"].as_int(), 41) << removed.dump();
}

TEST_P(AuditApiTest, VerifyWalksAChainLongerThanAPage) {
  TestUser admin = make_user("enterprise", "admin");
  std::vector<Seed> seeds(2500);
  for (size_t i = 0; i < seeds.size(); ++i) {
    seeds[i].e.user_id = admin.id;
    seeds[i].e.action_type = "credential.use";
    seeds[i].ts_ms = 1700000000000 + static_cast<int64_t>(i);
  }
  ASSERT_EQ(bulk(seeds).size(), seeds.size());
  Json ok = verify(admin.token);
  EXPECT_TRUE(ok["ok"].as_bool()) << ok.dump();
  EXPECT_EQ(ok["entries"].as_int(), 2500);
  // Broken beyond the first page (1,000 rows): found there.
  sql("UPDATE audit_log SET entry = replace(entry, 'credential.use', 'credential.used') WHERE seq = 2222");
  Json broken = verify(admin.token);
  EXPECT_EQ(broken["broken_at"].as_int(), 2222) << broken.dump();
}

// ---- secrets --------------------------------------------------------------------------------------------

TEST_P(AuditApiTest, SecretsInDetailsAreRedactedInEveryViewAndExport) {
  TestUser admin = make_user("enterprise", "admin");
  TestUser a = make_user();
  const std::string wf = create_workflow(a.token, quick_workflow("secretive"));
  const std::string pw = "pwcanary" + random_hex(8), bearer = "tokcanary" + random_hex(12),
                    exact = "exactcanary" + random_hex(8), raw = "rawcanary" + random_hex(8),
                    cred = "credcanary" + random_hex(12);
  // Patterns: members named like secrets, a bearer header in text.
  Json details = Json::object();
  details.set("password", pw);
  details.set("note", "sent Authorization: Bearer " + bearer);
  record(a.id, "human.approval", wf, [&] {
    Json d = details;
    Json req = Json::object();
    req.set("api_key", pw);
    d.set("request_details", req);
    return d;
  }());
  // An exact secret registered with the run's redactor (as credential accesses pass it).
  Redactor redactor;
  redactor.add_secret(exact);
  service::AuditEntry e;
  e.user_id = a.id;
  e.action_type = "credential.use";
  e.workflow_id = wf;
  e.details.set("echo", "the server said " + exact + " back");
  ASSERT_TRUE(audit().record(e, &redactor).ok());
  // An entry written without AuditLog's redaction (older code, another writer): the views redact
  // it on the way out.
  store::AuditRecord unredacted;
  unredacted.ts_ms = wall_ms();
  unredacted.user_id = a.id;
  unredacted.action_type = "credential.update";
  unredacted.workflow_id = wf;
  unredacted.entry = R"({"ts":)" + std::to_string(unredacted.ts_ms) + R"(,"user_id":")" + a.id +
                     R"(","action_type":"credential.update","workflow_id":")" + wf +
                     R"(","execution_id":"","node_id":"","details":{"client_secret":")" + raw + R"("}})";
  ASSERT_TRUE(store().append_audit({unredacted}).ok());

  // A real run reading a credential: its access is audited, without the value.
  Json fields = Json::object();
  fields.set("token", cred);
  Json cbody = Json::object();
  cbody.set("name", "api-cred");
  cbody.set("type", "http_bearer");
  cbody.set("fields", fields);
  Response c = client().post("/api/credentials", cbody, a.token);
  ASSERT_EQ(c.status, 201) << c.describe();
  Json run_wf = *Json::parse(R"({"name": "reads", "nodes": [
      {"id": "start", "type": "core.manual_trigger", "position": {"x": 0, "y": 0}, "data": {"parameters": {}}},
      {"id": "reader", "type": "test.audit_reader", "position": {"x": 200, "y": 0}, "data": {"parameters": {}}}],
    "edges": [{"id": "e1", "source": "start", "target": "reader"}]})");
  Json nodes = run_wf["nodes"];
  Json reader = nodes.at(1);
  Json data = reader["data"];
  Json creds = Json::object();
  creds.set("api", c.json()["id"]);
  data.set("credentials", creds);
  reader.set("data", data);
  nodes.mutable_array()[1] = reader;
  run_wf.set("nodes", nodes);
  const std::string run_id = create_workflow(a.token, run_wf);
  Response ran = execute(a.token, run_id, "?mode=sync");
  ASSERT_EQ(ran.status, 200) << ran.describe();
  EXPECT_EQ(ran.json()["execution"]["status"].as_string(), "succeeded") << ran.body;
  const std::string execution_id = ran.json()["execution"]["id"].as_string();

  Json accesses = get_ok("/api/audit?type=credential.access&workflow_id=" + run_id, a.token);
  ASSERT_EQ(accesses["entries"].size(), 1u) << accesses.dump();
  const Json& access = accesses["entries"].at(0);
  EXPECT_EQ(access["user_id"].as_string(), a.id);
  EXPECT_EQ(access["execution_id"].as_string(), execution_id);
  EXPECT_EQ(access["node_id"].as_string(), "reader");

  // Every view and export, by the user and the admin.
  std::vector<std::pair<std::string, std::string>> views;
  for (const std::string& token : {a.token, admin.token}) {
    views.emplace_back("list", client().get("/api/audit?limit=500", token).body);
    views.emplace_back("workflow", client().get("/api/audit/workflow/" + wf, token).body);
    views.emplace_back("workflow (run)", client().get("/api/audit/workflow/" + run_id, token).body);
    views.emplace_back("csv", export_trail("?format=csv", token).body);
    views.emplace_back("json", export_trail("?format=json", token).body);
  }
  for (const auto& [where, body] : views) {
    ASSERT_FALSE(body.empty()) << where;
    for (const std::string& secret : {pw, bearer, exact, raw, cred}) {
      EXPECT_EQ(body.find(secret), std::string::npos) << secret << " appears in the " << where << " view";
    }
    if (where != "workflow (run)") {
      EXPECT_NE(body.find("[REDACTED]"), std::string::npos) << where;
    }
  }
  // The stored entries hold no secret either (redacted when written), except the one written
  // around AuditLog on purpose.
  std::string stored;
  auto entries = store().list_audit(store::AuditFilter{});  // kept alive: the loop reads into it
  ASSERT_TRUE(entries.ok());
  for (const auto& r : *entries) stored += r.entry;
  for (const std::string& secret : {pw, bearer, exact, cred}) EXPECT_EQ(stored.find(secret), std::string::npos);
}

// The answers have the members the OpenAPI document promises (openapi_test validates the
// document itself; it does not sample these routes).
TEST_P(AuditApiTest, AnswersHaveTheDocumentedMembers) {
  TestUser admin = make_user("enterprise", "admin");
  record(admin.id, "human.approval", "wf", *Json::parse(R"({"request_details": {}, "response": {}, "response_time_ms": 5})"));
  record(admin.id, "credential.create", "");
  const Json doc = get_ok("/api/openapi.json", "");
  const Json& schemas = doc["components"]["schemas"];
  auto members_of = [](const Json& schema) {
    std::set<std::string> out;
    for (const auto& [k, v] : schema["properties"].as_object()) out.insert(k);
    return out;
  };
  auto keys_of = [](const Json& j) {
    std::set<std::string> out;
    for (const auto& [k, v] : j.as_object()) out.insert(k);
    return out;
  };
  auto has_required = [](const Json& schema, const Json& j) {
    for (const Json& r : schema["required"].as_array())
      if (!j.contains(r.as_string())) return ::testing::AssertionFailure() << "missing " << r.as_string() << " in " << j.dump();
    return ::testing::AssertionSuccess();
  };
  Json page = get_ok("/api/audit?limit=1", admin.token);
  EXPECT_TRUE(has_required(schemas["AuditPage"], page));
  EXPECT_EQ(keys_of(page), members_of(schemas["AuditPage"]));
  const Json all = get_ok("/api/audit", admin.token);
  ASSERT_EQ(all["entries"].size(), 2u);
  for (const Json& e : all["entries"].as_array()) {
    EXPECT_TRUE(has_required(schemas["AuditEntry"], e));
    EXPECT_EQ(keys_of(e), members_of(schemas["AuditEntry"]));
  }
  const Json v = verify(admin.token);
  EXPECT_TRUE(has_required(schemas["AuditVerification"], v));
  sql("UPDATE audit_log SET entry = entry || ' ' WHERE seq = 1");
  const Json broken = verify(admin.token);
  EXPECT_TRUE(has_required(schemas["AuditVerification"], broken));
  EXPECT_EQ(keys_of(broken), members_of(schemas["AuditVerification"]));
  EXPECT_EQ(broken["broken_at"].as_int(), 1);
  EXPECT_TRUE(doc["paths"]["/api/audit/export"]["get"]["responses"]["200"]["content"].contains("text/csv"));
  EXPECT_EQ(doc["paths"]["/api/audit"]["get"]["x-required-scope"].as_string(), "audit:read");
}

WEFT_API_BACKENDS(AuditApiTest);

}  // namespace
}  // namespace weft::apitest
