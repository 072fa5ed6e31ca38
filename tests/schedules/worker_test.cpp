// `weft worker` runs a scheduler too (docs/schedules.md "Which processes fire"): a real worker
// process on a temp SQLite database fires a due schedule and runs the execution it started;
// `--no-scheduler` leaves schedules alone.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "host/app/host.hpp"
#include "host/core/call.hpp"
#include "host/core/ids.hpp"
#include "host/service/schedules.hpp"

namespace weft::service {
namespace {

bool eventually(const std::function<bool()>& pred, int timeout_ms) {
  const int64_t end = monotonic_ms() + timeout_ms;
  while (monotonic_ms() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  return pred();
}

class WorkerScheduleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (std::filesystem::temp_directory_path() / ("weft-sched-" + random_hex(6))).string();
    std::filesystem::create_directories(dir_ + "/data");
    std::filesystem::create_directories(dir_ + "/home");
    db_ = "sqlite:" + dir_ + "/data/weft.db";
    Json cfg = Json::object();
    cfg.set("poll_ms", 50);
    Json sched = Json::object();
    sched.set("poll_ms", 50);
    cfg.set("schedules", sched);
    cfg_path_ = dir_ + "/weft.json";
    std::ofstream(cfg_path_) << cfg.dump_pretty();

    app::Config config;
    config.database = db_;
    config.plugin_dirs = {WEFT_TEST_PLUGIN_DIR};
    auto h = app::Host::open(config);
    ASSERT_TRUE(h.ok()) << h.error().message;
    host_ = std::move(*h);
    ScheduleOptions o;
    o.enabled = false;  // this process only creates schedules; the worker fires them
    service_ = std::make_unique<ScheduleService>(*host_, o);
  }
  void TearDown() override {
    stop_worker();
    service_.reset();
    host_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  // A quick workflow of the local owner ("") and a yearly schedule of it made due now.
  std::pair<std::string, std::string> due_schedule(const std::string& name) {
    auto def = Json::parse(R"({
      "name": "scheduled",
      "nodes": [
        {"id": "start", "type": "core.manual_trigger", "position": {"x": 0, "y": 0}, "data": {"parameters": {}}},
        {"id": "mark", "type": "core.set", "position": {"x": 200, "y": 0},
         "data": {"parameters": {"fields": {"at": "{{ $json.scheduled_at }}"}}}}
      ],
      "edges": [{"id": "e1", "source": "start", "target": "mark"}]
    })");
    EXPECT_TRUE(def.ok());
    auto wf = host_->store()->save_workflow("", "", name, *def);
    EXPECT_TRUE(wf.ok()) << wf.error().message;
    Json body = Json::object();
    body.set("workflow_id", wf->id);
    body.set("cron", "0 0 1 1 *");
    auto s = service_->create("", "enterprise", body);
    EXPECT_TRUE(s.ok()) << s.error().message;
    const std::string id = (*s)["id"].as_string();
    for (int i = 0; i < 10; ++i) {
      auto rec = host_->store()->get_schedule("", id);
      EXPECT_TRUE(rec.ok());
      rec->next_run_at_ms = wall_ms() - 1000;
      if (host_->store()->update_schedule(*rec).ok()) break;
    }
    return {wf->id, id};
  }

  void start_worker(const std::vector<std::string>& extra) {
    log_ = dir_ + "/worker-" + std::to_string(++runs_) + ".log";
    std::vector<std::string> args = {WEFT_BINARY, "worker", "--config",     cfg_path_,
                                     "--db",      db_,      "--plugin-dir", WEFT_TEST_PLUGIN_DIR};
    args.insert(args.end(), extra.begin(), extra.end());
    pid_ = ::fork();
    ASSERT_GE(pid_, 0);
    if (pid_ == 0) {
      int fd = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      // No master key anywhere: credentials are simply unavailable in this worker.
      ::setenv("HOME", (dir_ + "/home").c_str(), 1);
      ::unsetenv("WEFT_VAULT_KEY_FILE");
      ::unsetenv("WEFT_SCHEDULER");
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(WEFT_BINARY, argv.data());
      ::_exit(127);
    }
    ASSERT_TRUE(eventually([&] { return log_text().find("waiting for work") != std::string::npos; }, 30000))
        << log_text();
  }
  // Ctrl-C: the worker stops its scheduler and workers and exits 0.
  int stop_worker() {
    if (pid_ <= 0) return -1;
    ::kill(pid_, SIGINT);
    int st = 0;
    ::waitpid(pid_, &st, 0);
    pid_ = -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  }
  std::string log_text() const {
    std::ifstream f(log_);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }

  std::string dir_, db_, cfg_path_, log_;
  std::unique_ptr<app::Host> host_;
  std::unique_ptr<ScheduleService> service_;
  pid_t pid_ = -1;
  int runs_ = 0;
};

TEST_F(WorkerScheduleTest, WorkerFiresDueSchedulesAndRunsThem) {
  auto [wf, id] = due_schedule("by-worker");
  start_worker({});
  EXPECT_NE(log_text().find("firing due schedules"), std::string::npos) << log_text();
  std::string exec_id;
  ASSERT_TRUE(eventually(
      [&] {
        auto r = host_->store()->get_schedule("", id);
        if (!r.ok() || r->last_execution_id.empty()) return false;
        exec_id = r->last_execution_id;
        return true;
      },
      30000))
      << log_text();
  ASSERT_TRUE(eventually(
      [&] {
        auto e = host_->store()->get_execution(exec_id);
        return e.ok() && e->status == store::ExecStatus::Succeeded;
      },
      30000))
      << log_text();
  auto e = host_->store()->get_execution(exec_id);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->idempotency_key.rfind("schedule:" + id + ":", 0), 0u) << e->idempotency_key;
  EXPECT_EQ(e->output["at"], e->input["scheduled_at"]);
  EXPECT_EQ(stop_worker(), 0);
}

TEST_F(WorkerScheduleTest, NoSchedulerFlag) {
  start_worker({"--no-scheduler"});
  EXPECT_EQ(log_text().find("firing due schedules"), std::string::npos) << log_text();
  EXPECT_EQ(stop_worker(), 0);
}

}  // namespace
}  // namespace weft::service
