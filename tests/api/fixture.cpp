#include "tests/api/fixture.hpp"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <vector>

#include "host/auth/auth.hpp"
#include "host/core/ids.hpp"

namespace weft::apitest {

namespace {

std::string make_temp_dir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "weft-api-XXXXXX").string();
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back(0);
  char* d = ::mkdtemp(buf.data());
  return d ? std::string(d) : std::string();
}

// A fresh database on the test PostgreSQL server (see tests/executor/harness.hpp); "" when
// PostgreSQL is not configured. *name receives the database name.
std::string fresh_pg_url(std::string* name) {
  const char* url = std::getenv("WEFT_TEST_PG_URL");
  const char* conn = std::getenv("WEFT_TEST_PG_CONNSTR");
  if (!url || !*url || !conn || !*conn) return {};
  std::string db = "weft_api_" + weft::random_hex(6);
  std::string cmd = std::string("psql \"") + conn + "\" -q -c 'CREATE DATABASE " + db + "' >/dev/null 2>&1";
  if (std::system(cmd.c_str()) != 0) return {};
  *name = db;
  std::string u = url;
  return u.substr(0, u.rfind('/') + 1) + db;
}

void drop_pg_database(const std::string& db) {
  const char* conn = std::getenv("WEFT_TEST_PG_CONNSTR");
  if (!conn || db.empty()) return;
  std::string cmd = std::string("psql \"") + conn + "\" -q -c 'DROP DATABASE IF EXISTS " + db +
                    " WITH (FORCE)' >/dev/null 2>&1";
  (void)std::system(cmd.c_str());
}

}  // namespace

void ApiTest::SetUp() {
  dir_ = make_temp_dir();
  ASSERT_FALSE(dir_.empty());
  app::Config config;
  if (GetParam() == "postgres") {
    std::string url = fresh_pg_url(&pg_database_);
    if (url.empty()) GTEST_SKIP() << "WEFT_TEST_PG_URL not set: PostgreSQL cases skipped";
    config.database = url;
  } else {
    std::filesystem::create_directories(dir_ + "/data");
    config.database = "sqlite:" + dir_ + "/data/weft.db";
  }
  config.plugin_dirs = {WEFT_TEST_PLUGIN_DIR};
  config.workers = 4;
  config.node_threads = 4;
  config.poll_ms = 50;  // timers (core.wait) fire promptly
  config.lease_ms = 10000;
  config.heartbeat_ms = 2000;
  // The vault's master key: created on start (development mode), outside the data directory.
  config.vault_key_file = dir_ + "/keys/master.key";

  api::ServeConfig serve;
  serve.http.address = "127.0.0.1";
  serve.http.port = 0;
  serve.http.reactor_threads = 2;
  serve.http.blocking_threads = 4;
  serve.secret_file = dir_ + "/auth.key";
  serve.create_secret = true;
  serve.auth.pwhash_opslimit = 1;
  serve.auth.pwhash_memlimit = 256u << 10;  // real argon2id, cheap: tests log in a lot
  serve.sse.heartbeat_ms = 200;
  serve.sse.poll_ms = 50;
  serve.shutdown_grace_ms = 2000;
  serve.admin_email = "admin@example.com";
  serve.bootstrap_file = dir_ + "/initial-admin.json";
  serve.bootstrap_admin = true;
  serve.start_workers = true;
  configure(config, serve);

  auto s = api::ApiServer::start(config, serve);
  ASSERT_TRUE(s.ok()) << s.error().code << ": " << s.error().message;
  server_ = std::move(*s);
  port_ = server_->port();
  ASSERT_NE(port_, 0);
  client_ = Client(port_);
  ASSERT_FALSE(server_->bootstrap_password().empty()) << "the first admin was not bootstrapped";
}

void ApiTest::TearDown() {
  server_.reset();
  drop_pg_database(pg_database_);
  if (!dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

std::string ApiTest::server_secret() const {
  auto s = auth::load_or_create_secret(dir_ + "/auth.key", false);
  return s.ok() ? *s : std::string();
}

const std::string& ApiTest::admin_token() {
  if (admin_token_.empty()) {
    Json t = api_login(server_->bootstrap_email(), server_->bootstrap_password());
    admin_token_ = t["access_token"].as_string();
  }
  return admin_token_;
}

TestUser ApiTest::make_user(const std::string& tier, const std::string& role) {
  TestUser u;
  u.email = "user-" + weft::random_hex(5) + "@example.com";
  u.password = "pw-" + weft::random_hex(8);
  auto created = server_->auth().create_user(u.email, u.password, role, tier);
  EXPECT_TRUE(created.ok()) << created.error().message;
  if (!created.ok()) return u;
  u.id = created->id;
  auto t = server_->auth().login(u.email, u.password);
  EXPECT_TRUE(t.ok()) << t.error().message;
  if (!t.ok()) return u;
  u.token = t->access_token;
  u.refresh = t->refresh_token;
  return u;
}

Json ApiTest::api_login(const std::string& email, const std::string& password) {
  Json body = Json::object();
  body.set("email", email);
  body.set("password", password);
  Response r = client_.post("/api/auth/login", body);
  EXPECT_EQ(r.status, 200) << r.describe();
  Json j = r.json();
  EXPECT_TRUE(j["access_token"].is_string()) << r.describe();
  return j;
}

std::string ApiTest::create_workflow(const std::string& token, const Json& definition) {
  Response r = client_.post("/api/workflows", definition, token);
  EXPECT_EQ(r.status, 201) << r.describe();
  return r.json()["id"].as_string();
}

Response ApiTest::execute(const std::string& token, const std::string& workflow_id, const std::string& query,
                          const HeaderList& headers) {
  return client_.request("POST", "/api/workflows/" + workflow_id + "/execute" + query, token, "", headers);
}

Json ApiTest::wait_status(const std::string& token, const std::string& execution_id,
                          const std::set<std::string>& statuses, int timeout_ms) {
  Json last;
  bool done = eventually(
      [&] {
        Response r = client_.get("/api/executions/" + execution_id, token);
        if (r.status != 200) return false;
        last = r.json();
        return statuses.count(last["status"].as_string()) > 0;
      },
      timeout_ms, 25);
  std::string want;
  for (const auto& s : statuses) want += s + " ";
  EXPECT_TRUE(done) << "execution " << execution_id << " never reached {" << want << "}; last: " << last.dump();
  return last;
}

Json ApiTest::quick_workflow(const std::string& name) {
  auto j = Json::parse(R"({
    "nodes": [
      {"id": "start", "type": "core.manual_trigger", "position": {"x": 0, "y": 0},
       "data": {"parameters": {"default_input": {"name": "world"}}}},
      {"id": "greet", "type": "core.set", "position": {"x": 200, "y": 0},
       "data": {"parameters": {"fields": {"greeting": "hello {{ $json.name }}"}}}}
    ],
    "edges": [{"id": "e1", "source": "start", "target": "greet"}]
  })");
  Json w = *j;
  w.set("name", name);
  return w;
}

Json ApiTest::wait_workflow(double seconds, const std::string& name) {
  auto j = Json::parse(R"({
    "nodes": [
      {"id": "start", "type": "core.manual_trigger", "position": {"x": 0, "y": 0},
       "data": {"parameters": {"default_input": {"ticket": 17}}}},
      {"id": "pause_here", "type": "core.wait", "position": {"x": 200, "y": 0},
       "data": {"parameters": {"seconds": 1}}},
      {"id": "after", "type": "core.set", "position": {"x": 400, "y": 0},
       "data": {"parameters": {"fields": {"done": true}}}}
    ],
    "edges": [
      {"id": "e1", "source": "start", "target": "pause_here"},
      {"id": "e2", "source": "pause_here", "target": "after"}
    ]
  })");
  Json w = *j;
  w.set("name", name);
  // Rebuild the wait node with the requested delay.
  Json nodes = Json::array();
  for (const Json& n : w["nodes"].as_array()) {
    if (n["id"].as_string() == "pause_here") {
      Json node = n;
      Json data = Json::object();
      Json params = Json::object();
      params.set("seconds", seconds);
      data.set("parameters", params);
      node.set("data", data);
      nodes.push_back(node);
    } else {
      nodes.push_back(n);
    }
  }
  w.set("nodes", nodes);
  return w;
}

Json ApiTest::five_node_workflow(const std::string& name) {
  auto j = Json::parse(R"({
    "nodes": [
      {"id": "start", "type": "core.manual_trigger", "position": {"x": 0, "y": 0}, "data": {"parameters": {}}},
      {"id": "a", "type": "core.set", "position": {"x": 100, "y": 0}, "data": {"parameters": {"fields": {"a": 1}}}},
      {"id": "b", "type": "core.set", "position": {"x": 200, "y": 0}, "data": {"parameters": {"fields": {"b": 2}}}},
      {"id": "c", "type": "core.set", "position": {"x": 300, "y": 0}, "data": {"parameters": {"fields": {"c": 3}}}},
      {"id": "d", "type": "core.set", "position": {"x": 400, "y": 0}, "data": {"parameters": {"fields": {"d": 4}}}}
    ],
    "edges": [
      {"id": "e1", "source": "start", "target": "a"},
      {"id": "e2", "source": "a", "target": "b"},
      {"id": "e3", "source": "b", "target": "c"},
      {"id": "e4", "source": "c", "target": "d"}
    ]
  })");
  Json w = *j;
  w.set("name", name);
  return w;
}

bool ApiTest::has_node_type(const std::string& type) {
  Response r = client_.get("/api/nodes", admin_token());
  EXPECT_EQ(r.status, 200) << r.describe();
  for (const Json& n : r.json()["nodes"].as_array()) {
    if (n["type"].as_string() == type) return true;
  }
  return false;
}

::testing::AssertionResult IsError(const Response& r, int status, const std::string& code) {
  if (r.status != status)
    return ::testing::AssertionFailure() << "expected status " << status << ", got " << r.describe();
  const std::string ct = r.header("content-type").value_or("");
  if (ct.find("application/json") == std::string::npos)
    return ::testing::AssertionFailure() << "error content type is '" << ct << "': " << r.describe();
  Json j = r.json();
  if (!j.is_object() || j.size() != 1 || !j["error"].is_object())
    return ::testing::AssertionFailure() << "not the error shape: " << r.describe();
  const Json& e = j["error"];
  if (!e["code"].is_string() || e["code"].as_string().empty() || !e["message"].is_string() ||
      e["message"].as_string().empty())
    return ::testing::AssertionFailure() << "error without code/message: " << r.describe();
  for (const auto& [k, v] : e.as_object()) {
    if (k != "code" && k != "message" && k != "details")
      return ::testing::AssertionFailure() << "unexpected member '" << k << "' in error: " << r.describe();
  }
  if (!code.empty() && e["code"].as_string() != code)
    return ::testing::AssertionFailure() << "expected code " << code << ", got " << r.describe();
  return ::testing::AssertionSuccess();
}

}  // namespace weft::apitest
