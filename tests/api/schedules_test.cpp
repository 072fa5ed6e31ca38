// Cron schedules over the REST API (host/api/routes_schedules.cpp, host/service/schedules.hpp):
// CRUD and validation, tier limits, owner scoping, previews, and the scheduler firing for real —
// occurrences made due by moving next_run_at through the store (no waiting for the clock), missed
// runs after a simulated downtime, two servers racing on one database, restarts, clock jumps.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "host/core/call.hpp"
#include "host/http/http.hpp"
#include "host/service/cron.hpp"
#include "host/service/schedules.hpp"
#include "host/store/store.hpp"
#include "tests/api/fixture.hpp"
#include "tests/api/http_client.hpp"

namespace weft::apitest {
namespace {

// `weft serve` as a child process on the fixture's database, with the fixture's secret and vault
// key, its own port (0), rate limits off and a fast scheduler.
class ChildServe {
 public:
  ChildServe(std::string dir, const app::Config& config, const api::ServeConfig& serve)
      : dir_(std::move(dir)), config_(config), serve_(serve) {}
  ~ChildServe() { stop(); }

  bool start() {
    Json cfg = Json::object();
    cfg.set("database", config_.database);
    Json dirs = Json::array();
    for (const auto& d : config_.plugin_dirs) dirs.push_back(d);
    cfg.set("plugin_dirs", dirs);
    cfg.set("poll_ms", 50);
    Json vault = Json::object();
    vault.set("key_file", config_.vault_key_file);
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
    server.set("secret_file", serve_.secret_file);
    server.set("rate_limits", false);
    server.set("shutdown_grace_ms", 1000);
    server.set("bootstrap_admin", false);
    Json ws = Json::object();
    ws.set("port", 0);
    server.set("websocket", ws);
    cfg.set("server", server);
    Json sched = Json::object();
    sched.set("poll_ms", 50);
    cfg.set("schedules", sched);
    const std::string cfg_path = dir_ + "/second-weft.json";
    std::ofstream(cfg_path) << cfg.dump_pretty();
    log_ = dir_ + "/second-serve.log";
    pid_ = ::fork();
    if (pid_ < 0) return false;
    if (pid_ == 0) {
      int fd = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      ::execl(WEFT_BINARY, WEFT_BINARY, "serve", "--config", cfg_path.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    return eventually([&] { return log_text().find("listening on http://127.0.0.1:") != std::string::npos; },
                      30000, 20);
  }
  void stop() {
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

 private:
  std::string dir_, log_;
  app::Config config_;
  api::ServeConfig serve_;
  pid_t pid_ = -1;
};

class SchedulesTest : public ApiTest {
 protected:
  void configure(app::Config& config, api::ServeConfig& serve) override {
    Json raw = config.raw.is_object() ? config.raw : Json::object();
    Json sched = Json::object();
    sched.set("poll_ms", 50);  // due schedules are seen promptly
    raw.set("schedules", sched);
    config.raw = raw;
    serve.http.rate_limits = false;  // the tests poll; per-tier request limits are not under test here
    config_ = config;
    serve_ = serve;
  }

  store::Store& store() { return *server().host().store(); }
  service::ScheduleService& scheduler() { return *server().context().schedules; }

  static Json body(const std::string& workflow_id, const std::string& cron, const std::string& tz = "UTC") {
    Json b = Json::object();
    b.set("workflow_id", workflow_id);
    b.set("cron", cron);
    b.set("timezone", tz);
    return b;
  }

  // POST /api/schedules; asserts 201.
  Json create(const TestUser& u, const Json& b) {
    Response r = client().post("/api/schedules", b, u.token);
    EXPECT_EQ(r.status, 201) << r.describe();
    return r.json();
  }

  Json get(const TestUser& u, const std::string& id) {
    Response r = client().get("/api/schedules/" + id, u.token);
    EXPECT_EQ(r.status, 200) << r.describe();
    return r.json();
  }

  // Moves a schedule's pending occurrence, as if time had passed (or the server had been down).
  // Returns the schedule's version after the move (-1 on failure).
  int64_t set_next_run(const TestUser& u, const std::string& id, int64_t at_ms) {
    for (int i = 0; i < 10; ++i) {
      auto rec = store().get_schedule(u.id, id);
      EXPECT_TRUE(rec.ok()) << rec.error().message;
      if (!rec.ok()) return -1;
      rec->next_run_at_ms = at_ms;
      auto up = store().update_schedule(*rec);
      if (up.ok()) return up->version;
      EXPECT_EQ(up.error().code, "conflict") << up.error().message;
    }
    ADD_FAILURE() << "could not move schedule " << id;
    return -1;
  }

  // The owner's executions of a workflow (newest first).
  std::vector<store::ExecutionRecord> executions_of(const TestUser& u, const std::string& workflow_id) {
    store::ExecutionFilter f;
    f.owner_id = u.id;
    f.workflow_id = workflow_id;
    f.limit = 500;
    auto list = store().list_executions(f);
    EXPECT_TRUE(list.ok()) << list.error().message;
    return list.ok() ? *list : std::vector<store::ExecutionRecord>{};
  }

  // Waits until the schedule's view satisfies `pred`; returns the last view. Polls the service
  // (the view GET /api/schedules/:id answers), not HTTP: the API's rate limits stay out of it.
  Json wait_view(const TestUser& u, const std::string& id, const std::function<bool(const Json&)>& pred,
                 int timeout_ms = 15000) {
    Json last;
    bool ok = eventually(
        [&] {
          auto v = scheduler().get(u.id, id);
          if (!v.ok()) return false;
          last = *v;
          return pred(last);
        },
        timeout_ms, 20);
    EXPECT_TRUE(ok) << "schedule " << id << " never reached the expected state; last: " << last.dump();
    return last;
  }

  app::Config config_;
  api::ServeConfig serve_;
};

// ---- CRUD ----------------------------------------------------------------------------------------

TEST_P(SchedulesTest, CreateGetListUpdateDelete) {
  TestUser u = make_user("pro");
  const std::string wf = create_workflow(u.token, quick_workflow("scheduled"));
  const std::string other_wf = create_workflow(u.token, quick_workflow("other"));

  Json b = body(wf, "0 9 * * MON-FRI", "Europe/Berlin");
  b.set("name", "weekday mornings");
  Json input = Json::object();
  input.set("report", "daily");
  b.set("input", input);
  const int64_t before = wall_ms();
  Json s = create(u, b);
  const int64_t after = wall_ms();
  const std::string id = s["id"].as_string();
  ASSERT_FALSE(id.empty());
  EXPECT_EQ(s["workflow_id"].as_string(), wf);
  EXPECT_EQ(s["name"].as_string(), "weekday mornings");
  EXPECT_EQ(s["cron"].as_string(), "0 9 * * MON-FRI");
  EXPECT_EQ(s["timezone"].as_string(), "Europe/Berlin");
  EXPECT_TRUE(s["enabled"].as_bool());
  EXPECT_EQ(s["missed_policy"].as_string(), "run_once");  // the default
  EXPECT_EQ(s["input"], input);
  EXPECT_TRUE(s["last_run_at"].is_null());
  EXPECT_TRUE(s["last_execution_id"].is_null());
  EXPECT_TRUE(s["last_error"].is_null());

  // Next runs: what the cron library says, in ISO and ms, five of them, the first = next_run_at.
  auto cs = service::CronSchedule::parse("0 9 * * MON-FRI", "Europe/Berlin");
  ASSERT_TRUE(cs.ok());
  const int64_t next = s["next_run_at_ms"].as_int();
  EXPECT_TRUE(next == *cs->next_after(before) || next == *cs->next_after(after)) << s.dump();
  EXPECT_EQ(s["next_run_at"].as_string(), service::utc_iso(next));
  ASSERT_EQ(s["next_runs"].size(), 5u) << s.dump();
  auto expected = cs->next_n(next, 4);
  expected.insert(expected.begin(), next);
  for (size_t i = 0; i < 5; ++i) {
    const Json& run = s["next_runs"].at(i);
    EXPECT_EQ(run["at_ms"].as_int(), expected[i]);
    EXPECT_EQ(run["at"].as_string(), service::utc_iso(expected[i]));
    EXPECT_EQ(run["local"].as_string(), cs->local_iso(expected[i]));
    EXPECT_NE(run["local"].as_string().find("T09:00:00+0"), std::string::npos) << run.dump();
  }

  EXPECT_EQ(get(u, id), s);
  Json s2 = create(u, body(other_wf, "@daily"));

  Response list = client().get("/api/schedules", u.token);
  ASSERT_EQ(list.status, 200) << list.describe();
  ASSERT_EQ(list.json()["schedules"].size(), 2u);
  Response filtered = client().get("/api/schedules?workflow_id=" + other_wf, u.token);
  ASSERT_EQ(filtered.status, 200);
  ASSERT_EQ(filtered.json()["schedules"].size(), 1u);
  EXPECT_EQ(filtered.json()["schedules"].at(0)["id"].as_string(), s2["id"].as_string());

  // A rename keeps the pending occurrence; a new cron computes another.
  Json rename = Json::object();
  rename.set("name", "renamed");
  rename.set("missed_policy", "skip");
  Response r = client().put("/api/schedules/" + id, rename, u.token);
  ASSERT_EQ(r.status, 200) << r.describe();
  EXPECT_EQ(r.json()["name"].as_string(), "renamed");
  EXPECT_EQ(r.json()["missed_policy"].as_string(), "skip");
  EXPECT_EQ(r.json()["cron"].as_string(), "0 9 * * MON-FRI");
  EXPECT_EQ(r.json()["input"], input);
  EXPECT_EQ(r.json()["next_run_at_ms"].as_int(), next);
  EXPECT_GT(r.json()["version"].as_int(), s["version"].as_int());

  Json recron = Json::object();
  recron.set("cron", "30 10 1 * *");
  recron.set("timezone", "UTC");
  recron.set("input", Json());
  r = client().put("/api/schedules/" + id, recron, u.token);
  ASSERT_EQ(r.status, 200) << r.describe();
  const int64_t next2 = r.json()["next_run_at_ms"].as_int();
  auto monthly = service::CronSchedule::parse("30 10 1 * *", "UTC");
  EXPECT_TRUE(next2 == *monthly->next_after(before) || next2 == *monthly->next_after(wall_ms()))
      << r.describe();
  EXPECT_TRUE(r.json()["input"].is_null());

  // Disabled: no pending run, no next runs; enabled again: from now.
  Json off = Json::object();
  off.set("enabled", false);
  r = client().put("/api/schedules/" + id, off, u.token);
  ASSERT_EQ(r.status, 200) << r.describe();
  EXPECT_FALSE(r.json()["enabled"].as_bool());
  EXPECT_TRUE(r.json()["next_run_at"].is_null());
  EXPECT_TRUE(r.json()["next_run_at_ms"].is_null());
  EXPECT_EQ(r.json()["next_runs"].size(), 0u);
  Json on = Json::object();
  on.set("enabled", true);
  r = client().put("/api/schedules/" + id, on, u.token);
  ASSERT_EQ(r.status, 200) << r.describe();
  EXPECT_GT(r.json()["next_run_at_ms"].as_int(), before);
  EXPECT_EQ(r.json()["next_runs"].size(), 5u);

  Response del = client().del("/api/schedules/" + id, u.token);
  EXPECT_EQ(del.status, 204) << del.describe();
  EXPECT_TRUE(IsError(client().get("/api/schedules/" + id, u.token), 404, "not_found"));
  EXPECT_TRUE(IsError(client().del("/api/schedules/" + id, u.token), 404, "not_found"));
  list = client().get("/api/schedules", u.token);
  EXPECT_EQ(list.json()["schedules"].size(), 1u);
}

TEST_P(SchedulesTest, ValidationErrors) {
  TestUser u = make_user("enterprise");
  const std::string wf = create_workflow(u.token, quick_workflow());

  Response r = client().post("/api/schedules", body(wf, "61 * * * *"), u.token);
  ASSERT_TRUE(IsError(r, 400, "invalid_cron"));
  EXPECT_EQ(r.json()["error"]["details"]["field"].as_string(), "minute");
  EXPECT_EQ(r.json()["error"]["details"]["value"].as_string(), "61");
  EXPECT_NE(r.json()["error"]["message"].as_string().find("minute field: '61' is out of range 0-59"),
            std::string::npos);

  r = client().post("/api/schedules", body(wf, "0 9 * * FUNDAY"), u.token);
  ASSERT_TRUE(IsError(r, 400, "invalid_cron"));
  EXPECT_EQ(r.json()["error"]["details"]["field"].as_string(), "day_of_week");
  EXPECT_TRUE(IsError(client().post("/api/schedules", body(wf, "* * * *"), u.token), 400, "invalid_cron"));
  EXPECT_TRUE(IsError(client().post("/api/schedules", body(wf, "@reboot"), u.token), 400, "invalid_cron"));
  EXPECT_TRUE(IsError(client().post("/api/schedules", body(wf, "0 9 * * *", "Mars/Base"), u.token), 400,
                      "invalid_timezone"));
  EXPECT_TRUE(IsError(client().post("/api/schedules", body(wf, "0 9 * * *", "../../etc/passwd"), u.token),
                      400, "invalid_timezone"));
  r = client().post("/api/schedules", body(wf, "0 0 30 2 *"), u.token);
  ASSERT_TRUE(IsError(r, 400, "cron_never_fires"));

  Json b = body(wf, "0 9 * * *");
  b.set("owner_id", "someone");
  EXPECT_TRUE(IsError(client().post("/api/schedules", b, u.token), 400, "unknown_field"));
  b = body(wf, "0 9 * * *");
  b.set("name", std::string(201, 'n'));
  EXPECT_TRUE(IsError(client().post("/api/schedules", b, u.token), 400, "invalid_argument"));
  b.set("name", std::string(200, 'n'));
  EXPECT_EQ(client().post("/api/schedules", b, u.token).status, 201);
  b = body(wf, "0 9 * * *");
  b.set("missed_policy", "sometimes");
  EXPECT_TRUE(IsError(client().post("/api/schedules", b, u.token), 400, "invalid_argument"));
  b = body(wf, "0 9 * * *");
  b.set("input", Json::array());
  EXPECT_TRUE(IsError(client().post("/api/schedules", b, u.token), 400, "invalid_argument"));
  b = body(wf, "0 9 * * *");
  b.set("enabled", "yes");
  EXPECT_TRUE(IsError(client().post("/api/schedules", b, u.token), 400, "invalid_argument"));
  b = body(wf, "0 9 * * *");
  b.set("cron", 5);
  EXPECT_TRUE(IsError(client().post("/api/schedules", b, u.token), 400, "invalid_argument"));
  b = Json::object();
  b.set("workflow_id", wf);
  r = client().post("/api/schedules", b, u.token);
  ASSERT_TRUE(IsError(r, 400, "invalid_argument"));
  EXPECT_EQ(r.json()["error"]["details"]["field"].as_string(), "cron");
  EXPECT_TRUE(
      IsError(client().post("/api/schedules", body("", "0 9 * * *"), u.token), 400, "invalid_argument"));
  EXPECT_TRUE(IsError(client().post("/api/schedules", body("nope", "0 9 * * *"), u.token), 404, "not_found"));
  EXPECT_TRUE(IsError(client().request("POST", "/api/schedules", u.token, "{not json",
                                       {{"Content-Type", "application/json"}}),
                      400));

  // A deleted workflow cannot get new schedules.
  const std::string gone = create_workflow(u.token, quick_workflow("gone"));
  ASSERT_EQ(client().del("/api/workflows/" + gone, u.token).status, 204);
  EXPECT_TRUE(IsError(client().post("/api/schedules", body(gone, "0 9 * * *"), u.token), 404, "not_found"));

  // Updates are checked the same way; the workflow cannot change.
  Json s = create(u, body(wf, "0 9 * * *"));
  const std::string id = s["id"].as_string();
  Json bad = Json::object();
  bad.set("cron", "0 25 * * *");
  r = client().put("/api/schedules/" + id, bad, u.token);
  ASSERT_TRUE(IsError(r, 400, "invalid_cron"));
  EXPECT_EQ(r.json()["error"]["details"]["field"].as_string(), "hour");
  const std::string wf2 = create_workflow(u.token, quick_workflow("second"));
  Json move = Json::object();
  move.set("workflow_id", wf2);
  EXPECT_TRUE(IsError(client().put("/api/schedules/" + id, move, u.token), 400, "invalid_argument"));
  Json same = Json::object();
  same.set("workflow_id", wf);
  EXPECT_EQ(client().put("/api/schedules/" + id, same, u.token).status, 200);
  Json not_a_string = Json::object();
  not_a_string.set("cron", 5);
  EXPECT_TRUE(IsError(client().put("/api/schedules/" + id, not_a_string, u.token), 400, "invalid_argument"));
  // Nothing was changed by the refused updates.
  EXPECT_EQ(get(u, id)["cron"].as_string(), "0 9 * * *");
}

TEST_P(SchedulesTest, TierLimits) {
  TestUser free_user = make_user("free");
  TestUser pro = make_user("pro");
  const std::string wf_free = create_workflow(free_user.token, quick_workflow());
  const std::string wf_pro = create_workflow(pro.token, quick_workflow());

  // free: at most one run every 300 s.
  EXPECT_EQ(client().post("/api/schedules", body(wf_free, "*/5 * * * *"), free_user.token).status, 201);
  Response r = client().post("/api/schedules", body(wf_free, "*/4 * * * *"), free_user.token);
  ASSERT_TRUE(IsError(r, 400, "schedule_too_frequent"));
  EXPECT_EQ(r.json()["error"]["details"]["limit_seconds"].as_int(), 300);
  EXPECT_EQ(r.json()["error"]["details"]["min_interval_seconds"].as_int(), 240);
  EXPECT_EQ(r.json()["error"]["details"]["tier"].as_string(), "free");
  EXPECT_NE(r.json()["error"]["message"].as_string().find("300 s"), std::string::npos) << r.describe();
  // Irregular expressions are judged by their closest two runs.
  EXPECT_TRUE(IsError(client().post("/api/schedules", body(wf_free, "0,2 9 * * *"), free_user.token), 400,
                      "schedule_too_frequent"));
  EXPECT_TRUE(IsError(client().post("/api/schedules", body(wf_free, "* * * * *"), free_user.token), 400,
                      "schedule_too_frequent"));
  // pro: every minute is fine.
  EXPECT_EQ(client().post("/api/schedules", body(wf_pro, "* * * * *"), pro.token).status, 201);
  EXPECT_EQ(client().post("/api/schedules", body(wf_pro, "0,1 9 * * *"), pro.token).status, 201);

  // An update to a too frequent expression is refused too.
  Json s = create(free_user, body(wf_free, "@hourly"));
  Json faster = Json::object();
  faster.set("cron", "*/2 * * * *");
  EXPECT_TRUE(IsError(client().put("/api/schedules/" + s["id"].as_string(), faster, free_user.token), 400,
                      "schedule_too_frequent"));

  // The preview says so without failing.
  Json p = Json::object();
  p.set("cron", "* * * * *");
  r = client().post("/api/schedules/preview", p, free_user.token);
  ASSERT_EQ(r.status, 200) << r.describe();
  EXPECT_FALSE(r.json()["allowed"].as_bool());
  EXPECT_EQ(r.json()["tier_min_interval_seconds"].as_int(), 300);
  EXPECT_EQ(r.json()["min_interval_seconds"].as_int(), 60);
  r = client().post("/api/schedules/preview", p, pro.token);
  ASSERT_EQ(r.status, 200) << r.describe();
  EXPECT_TRUE(r.json()["allowed"].as_bool());
}

TEST_P(SchedulesTest, PerUserCap) {
  // The fixture's server has the default cap (100); a service with a cap of 2 over the same host.
  service::ScheduleOptions o = scheduler().options();
  o.max_per_user = 2;
  o.enabled = false;
  service::ScheduleService svc(server().host(), o);
  TestUser u = make_user("pro");
  const std::string wf = create_workflow(u.token, quick_workflow());
  ASSERT_TRUE(svc.create(u.id, "pro", body(wf, "@daily")).ok());
  ASSERT_TRUE(svc.create(u.id, "pro", body(wf, "@hourly")).ok());
  auto third = svc.create(u.id, "pro", body(wf, "@weekly"));
  ASSERT_FALSE(third.ok());
  EXPECT_EQ(third.error().code, "too_many_schedules");
  EXPECT_EQ(http::status_for_code("too_many_schedules"), 409);
  // Another account has its own count.
  TestUser v = make_user("pro");
  const std::string wf_v = create_workflow(v.token, quick_workflow());
  EXPECT_TRUE(svc.create(v.id, "pro", body(wf_v, "@daily")).ok());
}

TEST_P(SchedulesTest, AnotherUsersScheduleIsNotFound) {
  TestUser a = make_user("pro");
  TestUser b = make_user("pro");
  const std::string wf = create_workflow(a.token, quick_workflow());
  Json s = create(a, body(wf, "@daily"));
  const std::string id = s["id"].as_string();
  EXPECT_TRUE(IsError(client().get("/api/schedules/" + id, b.token), 404, "not_found"));
  Json rename = Json::object();
  rename.set("name", "mine now");
  EXPECT_TRUE(IsError(client().put("/api/schedules/" + id, rename, b.token), 404, "not_found"));
  EXPECT_TRUE(IsError(client().del("/api/schedules/" + id, b.token), 404, "not_found"));
  Response list = client().get("/api/schedules", b.token);
  ASSERT_EQ(list.status, 200);
  EXPECT_EQ(list.json()["schedules"].size(), 0u);
  list = client().get("/api/schedules?workflow_id=" + wf, b.token);
  EXPECT_EQ(list.json()["schedules"].size(), 0u);
  // Nor can b schedule a's workflow.
  EXPECT_TRUE(IsError(client().post("/api/schedules", body(wf, "@daily"), b.token), 404, "not_found"));
  // a's schedule is untouched.
  EXPECT_EQ(get(a, id)["name"], s["name"]);
  // Without a token: 401.
  EXPECT_EQ(client().get("/api/schedules/" + id).status, 401);
}

TEST_P(SchedulesTest, Preview) {
  TestUser u = make_user("pro");
  Json p = Json::object();
  p.set("cron", "30 2 * * *");
  p.set("timezone", "America/New_York");
  p.set("count", 3);
  const int64_t before = wall_ms();
  Response r = client().post("/api/schedules/preview", p, u.token);
  ASSERT_EQ(r.status, 200) << r.describe();
  auto cs = service::CronSchedule::parse("30 2 * * *", "America/New_York");
  ASSERT_TRUE(cs.ok());
  const Json& runs = r.json()["next_runs"];
  ASSERT_EQ(runs.size(), 3u);
  auto expected = cs->next_n(before, 3);
  if (runs.at(0)["at_ms"].as_int() != expected[0]) expected = cs->next_n(wall_ms(), 3);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(runs.at(i)["at_ms"].as_int(), expected[i]);
    EXPECT_EQ(runs.at(i)["at"].as_string(), service::utc_iso(expected[i]));
    EXPECT_EQ(runs.at(i)["local"].as_string(), cs->local_iso(expected[i]));
  }
  EXPECT_EQ(r.json()["timezone"].as_string(), "America/New_York");
  // Nothing was saved.
  EXPECT_EQ(client().get("/api/schedules", u.token).json()["schedules"].size(), 0u);

  p.set("count", 51);
  EXPECT_TRUE(IsError(client().post("/api/schedules/preview", p, u.token), 400, "invalid_argument"));
  Json bad = Json::object();
  bad.set("cron", "0 0 31 4 *");
  EXPECT_TRUE(IsError(client().post("/api/schedules/preview", bad, u.token), 400, "cron_never_fires"));
  bad.set("cron", "0 0 * * *");
  bad.set("timezone", "Atlantis/Capital");
  EXPECT_TRUE(IsError(client().post("/api/schedules/preview", bad, u.token), 400, "invalid_timezone"));
  Json extra = Json::object();
  extra.set("cron", "@daily");
  extra.set("workflow_id", "x");
  EXPECT_TRUE(IsError(client().post("/api/schedules/preview", extra, u.token), 400, "unknown_field"));
}

// ---- the scheduler ---------------------------------------------------------------------------------

TEST_P(SchedulesTest, FiresOneExecutionWithTheKeyAndInput) {
  TestUser u = make_user("pro");
  const std::string wf = create_workflow(u.token, quick_workflow("fires"));
  Json b = body(wf, "0 0 1 1 *");  // yearly: nothing else fires during the test
  Json input = Json::object();
  input.set("name", "scheduler");
  b.set("input", input);
  Json s = create(u, b);
  const std::string id = s["id"].as_string();
  const int64_t occurrence = wall_ms() - 2000;
  set_next_run(u, id, occurrence);
  scheduler().wake();

  Json v = wait_view(u, id, [](const Json& j) { return j["last_execution_id"].is_string(); });
  const std::string exec_id = v["last_execution_id"].as_string();
  EXPECT_EQ(v["last_run_at_ms"].as_int(), occurrence);
  EXPECT_EQ(v["last_run_at"].as_string(), service::utc_iso(occurrence));
  EXPECT_TRUE(v["last_error"].is_null());
  // The next occurrence: the coming new year.
  auto cs = service::CronSchedule::parse("0 0 1 1 *", "UTC");
  EXPECT_EQ(v["next_run_at_ms"].as_int(), *cs->next_after(occurrence));

  Json e = wait_status(u.token, exec_id, {"succeeded"});
  EXPECT_EQ(e["idempotency_key"].as_string(), "schedule:" + id + ":" + std::to_string(occurrence));
  EXPECT_EQ(e["workflow_id"].as_string(), wf);
  EXPECT_EQ(e["input"]["scheduled_at"].as_string(), service::utc_iso(occurrence));
  EXPECT_EQ(e["input"]["schedule_id"].as_string(), id);
  EXPECT_EQ(e["input"]["name"].as_string(), "scheduler");
  EXPECT_FALSE(e["input"].contains("missed"));
  EXPECT_EQ(e["output"]["greeting"].as_string(), "hello scheduler");  // the trigger got the input
  EXPECT_EQ(executions_of(u, wf).size(), 1u);

  // A clock that jumps back fires nothing again: the store already holds the next occurrence.
  EXPECT_EQ(scheduler().tick(occurrence - 3600 * 1000), 0u);
  EXPECT_EQ(scheduler().tick(occurrence + 1), 0u);
  EXPECT_EQ(executions_of(u, wf).size(), 1u);
}

TEST_P(SchedulesTest, MissedRunsRunOnceOrSkip) {
  TestUser u = make_user("pro");
  const std::string wf = create_workflow(u.token, quick_workflow("missed"));
  Json once_body = body(wf, "0 * * * *");
  once_body.set("missed_policy", "run_once");
  Json skip_body = body(wf, "0 * * * *");
  skip_body.set("missed_policy", "skip");
  const std::string once = create(u, once_body)["id"].as_string();
  const std::string skip = create(u, skip_body)["id"].as_string();

  // The server was "down" for three hours: the pending occurrence is an hourly one 3 h ago.
  const int64_t hour = 3600 * 1000;
  const int64_t due = (wall_ms() / hour) * hour - 3 * hour;
  set_next_run(u, once, due);
  set_next_run(u, skip, due);
  scheduler().wake();

  Json vo = wait_view(u, once, [&](const Json& j) { return j["next_run_at_ms"].as_int() > due; });
  Json vs = wait_view(u, skip, [&](const Json& j) { return j["next_run_at_ms"].as_int() > due; });
  const int64_t now = wall_ms();
  // Both continue from the first occurrence after now.
  EXPECT_GT(vo["next_run_at_ms"].as_int(), now - hour);
  EXPECT_EQ(vo["next_run_at_ms"].as_int() % hour, 0);
  EXPECT_GT(vs["next_run_at_ms"].as_int(), now - hour);

  // run_once: exactly one run, for the most recent missed occurrence, saying how many were missed.
  ASSERT_TRUE(vo["last_execution_id"].is_string()) << vo.dump();
  const int64_t latest = vo["last_run_at_ms"].as_int();
  EXPECT_EQ(latest % hour, 0);
  EXPECT_GE(latest, due + 3 * hour);
  Json e = wait_status(u.token, vo["last_execution_id"].as_string(), {"succeeded"});
  EXPECT_EQ(e["input"]["scheduled_at"].as_string(), service::utc_iso(latest));
  EXPECT_EQ(e["input"]["missed"].as_int(), (latest - due) / hour + 1);  // 4 unless an hour passed meanwhile
  EXPECT_EQ(e["idempotency_key"].as_string(), "schedule:" + once + ":" + std::to_string(latest));

  // skip: no run at all.
  EXPECT_TRUE(vs["last_execution_id"].is_null()) << vs.dump();
  EXPECT_TRUE(vs["last_run_at"].is_null());
  EXPECT_TRUE(vs["last_error"].is_null());
  auto runs = executions_of(u, wf);
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].id, vo["last_execution_id"].as_string());

  // A forward clock jump is a downtime too: the run_once schedule gets one run, skip none.
  const int64_t jump = now + 5 * hour + 30 * 60 * 1000;
  EXPECT_EQ(scheduler().tick(jump), 1u);
  runs = executions_of(u, wf);
  ASSERT_EQ(runs.size(), 2u);
  Json after = get(u, once);
  EXPECT_GT(after["next_run_at_ms"].as_int(), jump);
  EXPECT_EQ(after["last_run_at_ms"].as_int(), (jump / hour) * hour);
  EXPECT_EQ(get(u, skip)["last_execution_id"], Json());
}

TEST_P(SchedulesTest, SkippedOccurrencesExplainThemselvesAndTheScheduleGoesOn) {
  TestUser u = make_user("pro");
  const std::string wf = create_workflow(u.token, quick_workflow("doomed"));
  const std::string id = create(u, body(wf, "0 0 1 1 *"))["id"].as_string();
  ASSERT_EQ(client().del("/api/workflows/" + wf, u.token).status, 204);
  const int64_t occurrence = wall_ms() - 1000;
  set_next_run(u, id, occurrence);
  scheduler().wake();
  Json v = wait_view(u, id, [&](const Json& j) { return j["next_run_at_ms"].as_int() > occurrence; });
  ASSERT_TRUE(v["last_error"].is_string()) << v.dump();
  EXPECT_NE(v["last_error"].as_string().find("no longer exists"), std::string::npos) << v.dump();
  EXPECT_TRUE(v["enabled"].as_bool());
  EXPECT_TRUE(v["last_execution_id"].is_null());
  EXPECT_EQ(executions_of(u, wf).size(), 0u);

  // A workflow saved with problems (saving does not require a clean compile).
  Json broken = quick_workflow("broken");
  Json nodes = broken["nodes"];
  Json bad = nodes.at(1);
  bad.set("type", "core.no_such_node");
  Json fixed_nodes = Json::array();
  fixed_nodes.push_back(nodes.at(0));
  fixed_nodes.push_back(bad);
  broken.set("nodes", fixed_nodes);
  const std::string wf2 = create_workflow(u.token, broken);
  const std::string id2 = create(u, body(wf2, "0 0 1 1 *"))["id"].as_string();
  const int64_t occurrence2 = wall_ms() - 1000;
  set_next_run(u, id2, occurrence2);
  scheduler().wake();
  Json v2 = wait_view(u, id2, [&](const Json& j) { return j["next_run_at_ms"].as_int() > occurrence2; });
  ASSERT_TRUE(v2["last_error"].is_string()) << v2.dump();
  EXPECT_NE(v2["last_error"].as_string().find("does not compile"), std::string::npos) << v2.dump();
  EXPECT_EQ(executions_of(u, wf2).size(), 0u);

  // Fixed: the next occurrence runs and the error is gone.
  ASSERT_EQ(client().put("/api/workflows/" + wf2, quick_workflow("fixed"), u.token).status, 200);
  const int64_t occurrence3 = wall_ms() - 500;
  set_next_run(u, id2, occurrence3);
  scheduler().wake();
  Json v3 = wait_view(u, id2, [](const Json& j) { return j["last_execution_id"].is_string(); });
  EXPECT_TRUE(v3["last_error"].is_null()) << v3.dump();
  Json e = wait_status(u.token, v3["last_execution_id"].as_string(), {"succeeded"});
  EXPECT_EQ(e["workflow_version"].as_int(), 2);

  // A disabled account's schedules stop starting runs.
  store::UserUpdate off;
  off.disabled = true;
  ASSERT_TRUE(store().update_user(u.id, off).ok());
  const int64_t occurrence4 = wall_ms() - 500;
  set_next_run(u, id2, occurrence4);
  scheduler().wake();
  Json v4 = wait_view(u, id2, [&](const Json& j) { return j["next_run_at_ms"].as_int() > occurrence4; });
  ASSERT_TRUE(v4["last_error"].is_string()) << v4.dump();
  EXPECT_NE(v4["last_error"].as_string().find("account that owns the schedule is disabled"),
            std::string::npos);
  EXPECT_EQ(v4["last_execution_id"], v3["last_execution_id"]);
  EXPECT_EQ(executions_of(u, wf2).size(), 1u);
}

TEST_P(SchedulesTest, RestartDoesNotFireAnOccurrenceAgain) {
  TestUser u = make_user("pro");
  const std::string wf = create_workflow(u.token, quick_workflow("restart"));
  const std::string id = create(u, body(wf, "0 0 1 1 *"))["id"].as_string();
  const int64_t occurrence = wall_ms() - 1500;
  set_next_run(u, id, occurrence);
  scheduler().wake();
  Json fired = wait_view(u, id, [](const Json& j) { return j["last_execution_id"].is_string(); });
  wait_status(u.token, fired["last_execution_id"].as_string(), {"succeeded"});

  // Stop and start the server on the same database.
  server_->shutdown();
  server_.reset();
  auto s = api::ApiServer::start(config_, serve_);
  ASSERT_TRUE(s.ok()) << s.error().message;
  server_ = std::move(*s);
  port_ = server_->port();
  client_ = Client(port_);

  // Whatever the new scheduler looks at, the occurrence is done.
  EXPECT_EQ(scheduler().tick(wall_ms()), 0u);
  EXPECT_EQ(scheduler().tick(occurrence), 0u);
  Json after = get(u, id);
  EXPECT_EQ(after["version"], fired["version"]) << after.dump();
  EXPECT_EQ(after["last_execution_id"], fired["last_execution_id"]);
  EXPECT_EQ(after["next_run_at_ms"], fired["next_run_at_ms"]);
  EXPECT_EQ(executions_of(u, wf).size(), 1u);

  // And the restarted scheduler fires what becomes due.
  const int64_t next = wall_ms() - 1000;
  set_next_run(u, id, next);
  scheduler().wake();
  Json again = wait_view(u, id, [&](const Json& j) { return j["last_run_at_ms"].as_int() == next; });
  EXPECT_NE(again["last_execution_id"], fired["last_execution_id"]);
  EXPECT_EQ(executions_of(u, wf).size(), 2u);
}

TEST_P(SchedulesTest, TwoServersOnOneDatabaseFireEachOccurrenceOnce) {
  // A second server on the same database: a real `weft serve` process (plugins are per process),
  // with its own scheduler polling as often as ours.
  ChildServe other(dir(), config_, serve_);
  ASSERT_TRUE(other.start()) << other.log_text();
  TestUser u = make_user("pro");
  const std::string wf = create_workflow(u.token, quick_workflow("raced"));
  constexpr int kSchedules = 40;
  std::vector<std::string> ids;
  for (int i = 0; i < kSchedules; ++i) ids.push_back(create(u, body(wf, "0 0 1 1 *"))["id"].as_string());
  // All become due at about the same moment for both schedulers (distinct occurrences, one per
  // ms). Should setting them take longer than that, the first ones just race earlier.
  const int64_t at = wall_ms() + 2000;
  std::map<std::string, int64_t> occurrence, version;
  for (int i = 0; i < kSchedules; ++i) {
    occurrence[ids[i]] = at + i;
    version[ids[i]] = set_next_run(u, ids[i], at + i);
  }
  std::string pending;
  ASSERT_TRUE(eventually(
      [&] {
        pending.clear();
        for (const auto& id : ids) {
          auto r = store().get_schedule(u.id, id);
          if (!r.ok() || r->last_execution_id.empty()) pending += id + " ";
        }
        return pending.empty();
      },
      30000, 25))
      << "not fired: " << pending << "\nother server's log:\n"
      << other.log_text();
  auto runs = executions_of(u, wf);
  EXPECT_EQ(runs.size(), static_cast<size_t>(kSchedules));
  std::set<std::string> keys;
  for (const auto& e : runs) keys.insert(e.idempotency_key);
  EXPECT_EQ(keys.size(), runs.size());
  for (const auto& id : ids) {
    auto r = store().get_schedule(u.id, id);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->last_run_at_ms, occurrence[id]);
    EXPECT_EQ(keys.count("schedule:" + id + ":" + std::to_string(occurrence[id])), 1u) << id;
    EXPECT_EQ(r->version, version[id] + 1) << id << ": fired more than once";
  }
  // Every run finishes (whichever server's workers took it).
  for (const auto& e : runs) wait_status(u.token, e.id, {"succeeded"});
}

WEFT_API_BACKENDS(SchedulesTest);

}  // namespace
}  // namespace weft::apitest
