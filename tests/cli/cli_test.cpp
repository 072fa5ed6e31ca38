// End-to-end tests of the `weft` binary: real processes, real plugins, a real SQLite file.
#include <gtest/gtest.h>
#include <signal.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include "../executor/harness.hpp"
#include "host/core/call.hpp"

using weft::Json;

namespace {

struct Proc {
  int status = -1;
  std::string out;
};

// Runs a shell command line, capturing stdout (stderr merged when merge_err).
Proc sh(const std::string& cmd, bool merge_err = true) {
  Proc p;
  std::string full = cmd + (merge_err ? " 2>&1" : " 2>/dev/null");
  FILE* f = popen(full.c_str(), "r");
  if (!f) return p;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) p.out.append(buf, n);
  int st = pclose(f);
  p.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return p;
}

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = weft::testing::make_temp_dir("cli");
    db_ = "sqlite:" + dir_ + "/weft.db";
    base_ = std::string(WEFT_BINARY) + " --db " + db_ + " --plugin-dir " + WEFT_TEST_PLUGIN_DIR +
            " --plugin-dir " + WEFT_TEST_EXTRA_PLUGIN_DIR;
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  std::string write(const std::string& name, const std::string& text) {
    std::string p = dir_ + "/" + name;
    std::ofstream(p) << text;
    return p;
  }
  // `weft run WF [--input JSON]` as a child process (output in run_log()); the pid, -1 on failure.
  pid_t start_run(const std::string& wf, const std::string& input = "") {
    pid_t pid = fork();
    if (pid != 0) return pid;
    int fd = ::open(run_log().c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    if (input.empty())
      execl(WEFT_BINARY, WEFT_BINARY, "run", wf.c_str(), "--db", db_.c_str(), "--plugin-dir", WEFT_TEST_PLUGIN_DIR,
            "--plugin-dir", WEFT_TEST_EXTRA_PLUGIN_DIR, static_cast<char*>(nullptr));
    else
      execl(WEFT_BINARY, WEFT_BINARY, "run", wf.c_str(), "--db", db_.c_str(), "--plugin-dir", WEFT_TEST_PLUGIN_DIR,
            "--plugin-dir", WEFT_TEST_EXTRA_PLUGIN_DIR, "--input", input.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  std::string run_log() const { return dir_ + "/run.log"; }
  // Waits (up to 30 s) until the child's output holds `text`.
  bool wait_for_output(const std::string& text) {
    for (int i = 0; i < 3000; ++i) {
      if (weft::testing::read_text(run_log()).find(text) != std::string::npos) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }
  std::string dir_, db_, base_;
};

TEST_F(CliTest, VersionAndUsage) {
  auto v = sh(std::string(WEFT_BINARY) + " --version");
  EXPECT_EQ(v.status, 0);
  EXPECT_NE(v.out.find("plugin ABI 1.1"), std::string::npos) << v.out;
  auto bad = sh(std::string(WEFT_BINARY) + " frobnicate");
  EXPECT_EQ(bad.status, 2);
  EXPECT_NE(bad.out.find("unknown command"), std::string::npos);
}

TEST_F(CliTest, TheShippedConfigFileLoads) {
  auto r = sh(base_ + " --config " + WEFT_SOURCE_DIR + "/config/weft.json run " + WEFT_EXAMPLES_DIR + "/hello.json");
  EXPECT_EQ(r.status, 0) << r.out;
  auto bad = sh(base_ + " --config " + write("bad.json", "{\"workers\": \"many\"}") + " nodes");
  EXPECT_EQ(bad.status, 4) << bad.out;
  EXPECT_NE(bad.out.find("\"workers\" must be an integer"), std::string::npos) << bad.out;
}

TEST_F(CliTest, RunsEveryExample) {
  for (const auto& entry : std::filesystem::directory_iterator(WEFT_EXAMPLES_DIR)) {
    if (entry.path().extension() != ".json") continue;
    std::string input_flag;
    std::string input_file = entry.path().string();
    input_file.replace(input_file.size() - 5, 5, ".input.json");
    if (std::filesystem::exists(input_file)) input_flag = " --input-file " + input_file;
    if (entry.path().string().find(".input.json") != std::string::npos) continue;
    // An example that asks a person (approval.json) cannot finish here: --no-wait leaves with
    // exit code 3 and names the request to answer.
    const std::string text = weft::testing::read_text(entry.path().string());
    if (text.find("core.approval") != std::string::npos || text.find("core.clarification") != std::string::npos) {
      auto r = sh(base_ + " run " + entry.path().string() + input_flag + " --no-wait");
      EXPECT_EQ(r.status, 3) << entry.path() << "\n" << r.out;
      EXPECT_NE(r.out.find("waiting_for_human"), std::string::npos) << r.out;
      EXPECT_NE(r.out.find("/api/orchestrator/respond/"), std::string::npos) << r.out;
      continue;
    }
    auto r = sh(base_ + " run " + entry.path().string() + input_flag);
    EXPECT_EQ(r.status, 0) << entry.path() << "\n" << r.out;
    EXPECT_NE(r.out.find("workflow_done  succeeded"), std::string::npos) << r.out;
  }
}

TEST_F(CliTest, RunPrintsEventsAndOutputAsJson) {
  std::string wf = write("inc.json", R"({"name":"inc","nodes":[
    {"id":"start","type":"core.manual_trigger","position":{"x":0,"y":0},"data":{}},
    {"id":"inc","type":"core.set","position":{"x":1,"y":0},"data":{"parameters":{"fields":{"x":"{{ $json.x + 1 }}"}}}}],
    "edges":[{"id":"e","source":"start","sourceHandle":"main","target":"inc","targetHandle":"main"}]})");
  auto r = sh(base_ + " run " + wf + " --json --input '{\"x\":41}'", false);
  ASSERT_EQ(r.status, 0) << r.out;
  std::vector<std::string> lines;
  size_t pos = 0;
  while (pos < r.out.size()) {
    size_t nl = r.out.find('\n', pos);
    lines.push_back(r.out.substr(pos, nl - pos));
    pos = nl == std::string::npos ? r.out.size() : nl + 1;
  }
  ASSERT_GE(lines.size(), 3u);
  auto last = Json::parse(lines.back());
  ASSERT_TRUE(last.ok()) << lines.back();
  EXPECT_EQ((*last)["output"]["x"].as_int(), 42);
  auto first = Json::parse(lines.front());
  ASSERT_TRUE(first.ok());
  EXPECT_EQ((*first)["type"].as_string(), "execution_started");
}

TEST_F(CliTest, ValidateListsEveryProblemAndRunRefuses) {
  std::string wf = write("bad.json", R"({"nodes":[
    {"id":"a","type":"core.manual_trigger","position":{"x":0,"y":0},"data":{}},
    {"id":"a","type":"core.set","position":{"x":0,"y":0},"data":{}},
    {"id":"b","type":"no.such_type","position":{"x":0,"y":0},"data":{}}],
    "edges":[{"id":"e","source":"a","target":"zzz"}]})");
  auto v = sh(base_ + " validate " + wf);
  EXPECT_EQ(v.status, 2) << v.out;
  EXPECT_NE(v.out.find("duplicate"), std::string::npos) << v.out;
  EXPECT_NE(v.out.find("no.such_type"), std::string::npos) << v.out;
  EXPECT_NE(v.out.find("zzz"), std::string::npos) << v.out;
  auto j = sh(base_ + " validate " + wf + " --json", false);
  auto parsed = Json::parse(j.out);
  ASSERT_TRUE(parsed.ok()) << j.out;
  EXPECT_FALSE((*parsed)["ok"].as_bool(true));
  EXPECT_GE((*parsed)["errors"].size(), 3u);
  auto r = sh(base_ + " run " + wf);
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.out.find("nothing was run"), std::string::npos) << r.out;
}

TEST_F(CliTest, MalformedFilesGetClearErrors) {
  auto r1 = sh(base_ + " run " + write("broken.json", "{\"nodes\": [ }"));
  EXPECT_EQ(r1.status, 2);
  EXPECT_NE(r1.out.find("offset"), std::string::npos) << r1.out;
  auto r2 = sh(base_ + " run " + dir_ + "/missing.json");
  EXPECT_EQ(r2.status, 2);
  EXPECT_NE(r2.out.find("cannot read"), std::string::npos) << r2.out;
  std::string deep(100000, '[');
  auto r3 = sh(base_ + " validate " + write("deep.json", deep));
  EXPECT_EQ(r3.status, 2) << r3.out;
  auto r4 = sh(base_ + " run " + write("ok.json", R"({"nodes":[{"id":"s","type":"core.manual_trigger","position":{"x":0,"y":0},"data":{}}],"edges":[]})") +
               " --input '{oops'");
  EXPECT_EQ(r4.status, 2);
  EXPECT_NE(r4.out.find("--input is not valid JSON"), std::string::npos) << r4.out;
}

TEST_F(CliTest, FailedWorkflowExitsNonZeroWithTheReason) {
  std::string wf = write("fail.json", R"({"nodes":[
    {"id":"start","type":"core.manual_trigger","position":{"x":0,"y":0},"data":{}},
    {"id":"boom","type":"core.stop_and_error","position":{"x":0,"y":0},"data":{"parameters":{"message":"bad order {{ $json.id }}"}}}],
    "edges":[{"id":"e","source":"start","target":"boom"}]})");
  auto r = sh(base_ + " run " + wf + " --input '{\"id\":7}'");
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find("bad order 7"), std::string::npos) << r.out;
}

TEST_F(CliTest, PluginsCanBeDisabledAndEnabledPersistently) {
  auto list = sh(base_ + " plugins list", false);
  ASSERT_EQ(list.status, 0) << list.out;
  auto plugins = Json::parse(list.out);
  ASSERT_TRUE(plugins.ok()) << list.out;
  bool core_loaded = false;
  for (const auto& p : plugins->as_array())
    if (p["name"].as_string() == "core" && p["state"].as_string() == "loaded") core_loaded = true;
  EXPECT_TRUE(core_loaded) << list.out;
  EXPECT_EQ(sh(base_ + " plugins disable testnodes").status, 0);
  auto nodes = sh(base_ + " nodes", false);
  EXPECT_EQ(nodes.out.find("test.sleep"), std::string::npos);
  EXPECT_NE(nodes.out.find("core.set"), std::string::npos);
  std::string wf = write("t.json", R"({"nodes":[
    {"id":"start","type":"core.manual_trigger","position":{"x":0,"y":0},"data":{}},
    {"id":"s","type":"test.sleep","position":{"x":0,"y":0},"data":{"parameters":{"ms":1}}}],
    "edges":[{"id":"e","source":"start","target":"s"}]})");
  EXPECT_EQ(sh(base_ + " run " + wf).status, 2);
  EXPECT_EQ(sh(base_ + " plugins enable testnodes").status, 0);
  EXPECT_EQ(sh(base_ + " run " + wf).status, 0);
  auto unknown = sh(base_ + " plugins disable nope");
  EXPECT_EQ(unknown.status, 2);
  auto storage = sh(base_ + " plugins disable sqlite");
  EXPECT_NE(storage.status, 0);
  EXPECT_NE(storage.out.find("serves this host's database"), std::string::npos) << storage.out;
}

// Durability for real: kill -9 the process mid-workflow, start a worker, and the execution
// completes from its last committed node; finished nodes do not run twice.
TEST_F(CliTest, KillNineMidWorkflowThenResume) {
  std::string rec = dir_ + "/side-effects.txt";
  auto recnode = [&](const std::string& id) {
    return R"({"id":")" + id + R"(","type":"test.record","position":{"x":0,"y":0},"data":{"parameters":{"file":")" + rec + R"("}}})";
  };
  std::string wf = write("long.json", R"({"nodes":[
    {"id":"start","type":"core.manual_trigger","position":{"x":0,"y":0},"data":{}},)" +
                                          recnode("r1") + "," + recnode("r2") + R"(,
    {"id":"slow","type":"test.sleep","position":{"x":0,"y":0},"data":{"parameters":{"ms":60000,"until_file":")" + dir_ + R"(/go"}}},)" +
                                          recnode("r3") + R"(,
    {"id":"inc","type":"core.set","position":{"x":0,"y":0},"data":{"parameters":{"fields":{"x":"{{ $json.x + 1 }}"}}}}],
    "edges":[{"id":"e1","source":"start","target":"r1"},{"id":"e2","source":"r1","target":"r2"},
             {"id":"e3","source":"r2","target":"slow"},{"id":"e4","source":"slow","target":"r3"},
             {"id":"e5","source":"r3","target":"inc"}]})");
  pid_t pid = start_run(wf, "{\"x\":1}");
  ASSERT_GE(pid, 0);
  // Wait until r2 has run and the slow node has started (its node_start is committed with it).
  ASSERT_TRUE(wait_for_output("node_start  slow")) << weft::testing::read_text(run_log());
  kill(pid, SIGKILL);
  int st = 0;
  waitpid(pid, &st, 0);
  ASSERT_TRUE(WIFSIGNALED(st));
  EXPECT_EQ(weft::testing::read_text(rec), "r1 1\nr2 1\n");

  // A new worker resumes from the committed state. The sleep node was interrupted, so it runs
  // again (at-least-once) as attempt 2 — and returns at once now that its file exists.
  std::ofstream(dir_ + "/go") << "go";
  auto w = sh(base_ + " worker --until-idle");
  EXPECT_EQ(w.status, 0) << w.out;
  EXPECT_NE(w.out.find("reclaimed 1 execution"), std::string::npos) << w.out;
  EXPECT_EQ(weft::testing::read_text(rec), "r1 1\nr2 1\nr3 1\n");

  weft::app::Config c;
  c.database = db_;
  c.plugin_dirs = weft::testing::plugin_dirs();
  auto host = weft::app::Host::open(c);
  ASSERT_TRUE(host.ok());
  auto list = (*host)->store()->list_executions(weft::store::ExecutionFilter{});
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  const auto& e = list->front();
  EXPECT_EQ(e.status, weft::store::ExecStatus::Succeeded);
  EXPECT_EQ(e.output["x"].as_int(), 2);
  auto runs = *(*host)->store()->node_runs(e.id);
  for (const auto& r : runs) {
    if (r.node_id == "slow") EXPECT_EQ(r.attempt, 2);
    else EXPECT_EQ(r.attempt, 1) << r.node_id;
  }
  auto events = *(*host)->store()->events(e.id, 0, 1000);
  int resumed = 0, done = 0;
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i].seq, static_cast<int64_t>(i + 1));
    if (events[i].type == "execution_resumed") ++resumed;
    if (events[i].type == "workflow_done") ++done;
  }
  EXPECT_EQ(resumed, 1);
  EXPECT_EQ(done, 1);
}

// `weft run` waiting on an approval with a timeout is resumed by an answer stored by another
// process (what `weft serve` on the same database does) long before the timeout, and finishes.
TEST_F(CliTest, AWaitingRunResumesWhenAnotherProcessAnswers) {
  std::string wf = write("approve.json", R"({"name":"approve","nodes":[
    {"id":"start","type":"core.manual_trigger","position":{"x":0,"y":0},"data":{}},
    {"id":"gate","type":"core.approval","position":{"x":0,"y":0},"data":{"parameters":{"title":"Ship?","timeout_seconds":600}}},
    {"id":"yes","type":"core.set","position":{"x":0,"y":0},"data":{"parameters":{"fields":{"shipped":true}}}}],
    "edges":[{"id":"e1","source":"start","target":"gate"},
             {"id":"e2","source":"gate","sourceHandle":"approved","target":"yes"}]})");
  const std::string log = run_log();
  pid_t pid = start_run(wf);
  ASSERT_GE(pid, 0);
  ASSERT_TRUE(wait_for_output("execution_parked")) << weft::testing::read_text(log);
  {
    weft::app::Config c;
    c.database = db_;
    c.plugin_dirs = weft::testing::plugin_dirs();
    auto host = weft::app::Host::open(c);
    ASSERT_TRUE(host.ok()) << host.error().message;
    weft::store::HumanRequestFilter f;
    f.status = "open";
    auto requests = (*host)->store()->list_human_requests(f);
    ASSERT_TRUE(requests.ok());
    ASSERT_EQ(requests->size(), 1u);
    weft::store::HumanResponse r;
    r.id = requests->front().id;
    r.expected_version = requests->front().version;
    r.votes = Json::array();
    r.final = true;
    r.response = Json::parse(R"({"decision":"approve","approved":true,"comment":"","by":"ops","votes":[]})").value();
    r.answered_by = "ops";
    r.now_ms = weft::wall_ms();
    auto answered = (*host)->store()->respond_human_request(r);
    ASSERT_TRUE(answered.ok()) << answered.error().message;
  }
  int st = 0;
  bool exited = false;
  for (int i = 0; i < 3000 && !exited; ++i) {
    exited = waitpid(pid, &st, WNOHANG) == pid;
    if (!exited) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (!exited) {
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
  }
  ASSERT_TRUE(exited) << "the answer did not resume `weft run`\n" << weft::testing::read_text(log);
  ASSERT_TRUE(WIFEXITED(st));
  EXPECT_EQ(WEXITSTATUS(st), 0) << weft::testing::read_text(log);
  EXPECT_NE(weft::testing::read_text(log).find("workflow_done  succeeded"), std::string::npos)
      << weft::testing::read_text(log);
}

// Without a timeout only an answer can move the run: `weft run` leaves with exit code 3 and says
// which request to answer.
TEST_F(CliTest, ARunThatOnlyAHumanCanMoveExitsThree) {
  std::string wf = write("ask.json", R"({"name":"ask","nodes":[
    {"id":"start","type":"core.manual_trigger","position":{"x":0,"y":0},"data":{}},
    {"id":"q","type":"core.clarification","position":{"x":0,"y":0},"data":{"parameters":{"question":"Which region?"}}}],
    "edges":[{"id":"e1","source":"start","target":"q"}]})");
  auto r = sh(base_ + " run " + wf);
  EXPECT_EQ(r.status, 3) << r.out;
  EXPECT_NE(r.out.find("(clarification, node q)"), std::string::npos) << r.out;
}

// A workflow waiting for an approval survives the death of the process that ran it: `weft run`
// stays to act on the approval's timeout, is killed with SIGKILL while the execution is parked,
// the answer is stored, and a new `weft worker` process resumes the run from the answer.
TEST_F(CliTest, KillNineWhileWaitingForAnApprovalThenAnswerAndResume) {
  std::string rec = dir_ + "/side-effects.txt";
  std::string wf = write("approve.json", R"({"name":"approve","nodes":[
    {"id":"start","type":"core.manual_trigger","position":{"x":0,"y":0},"data":{}},
    {"id":"r1","type":"test.record","position":{"x":0,"y":0},"data":{"parameters":{"file":")" + rec + R"("}}},
    {"id":"gate","type":"core.approval","position":{"x":0,"y":0},"data":{"parameters":{"title":"Ship {{ $json.x }}?","timeout_seconds":600}}},
    {"id":"yes","type":"core.set","position":{"x":0,"y":0},"data":{"parameters":{"fields":{"shipped":true}}}},
    {"id":"no","type":"core.set","position":{"x":0,"y":0},"data":{"parameters":{"fields":{"shipped":false}}}}],
    "edges":[{"id":"e1","source":"start","target":"r1"},{"id":"e2","source":"r1","target":"gate"},
             {"id":"e3","source":"gate","sourceHandle":"approved","target":"yes"},
             {"id":"e4","source":"gate","sourceHandle":"rejected","target":"no"}]})");
  pid_t pid = start_run(wf, "{\"x\":7}");
  ASSERT_GE(pid, 0);
  // The park is committed (execution_parked is in the same commit); `weft run` now waits for the
  // approval's timer.
  ASSERT_TRUE(wait_for_output("execution_parked")) << weft::testing::read_text(run_log());
  EXPECT_NE(weft::testing::read_text(dir_ + "/run.log").find("waiting_for_human  gate"), std::string::npos);
  int st = 0;
  EXPECT_EQ(waitpid(pid, &st, WNOHANG), 0) << "weft run stays to act on the approval's timeout";
  kill(pid, SIGKILL);
  waitpid(pid, &st, 0);
  ASSERT_TRUE(WIFSIGNALED(st));

  // Someone approves (what POST /api/orchestrator/respond/:id does, through the store).
  std::string exec_id, request_id;
  {
    weft::app::Config c;
    c.database = db_;
    c.plugin_dirs = weft::testing::plugin_dirs();
    auto host = weft::app::Host::open(c);
    ASSERT_TRUE(host.ok()) << host.error().message;
    auto list = (*host)->store()->list_executions(weft::store::ExecutionFilter{});
    ASSERT_TRUE(list.ok());
    ASSERT_EQ(list->size(), 1u);
    exec_id = list->front().id;
    EXPECT_EQ(list->front().status, weft::store::ExecStatus::Parked);
    weft::store::HumanRequestFilter f;
    f.execution_id = exec_id;
    auto requests = (*host)->store()->list_human_requests(f);
    ASSERT_TRUE(requests.ok());
    ASSERT_EQ(requests->size(), 1u);
    const auto& q = requests->front();
    request_id = q.id;
    EXPECT_EQ(q.status, "open");
    EXPECT_EQ(q.request["title"].as_string(), "Ship 7?");
    weft::store::HumanResponse r;
    r.id = q.id;
    r.expected_version = q.version;
    r.votes = Json::array();
    r.final = true;
    r.response = Json::parse(R"({"decision":"approve","approved":true,"comment":"go","by":"ops","votes":[]})").value();
    r.answered_by = "ops";
    r.now_ms = weft::wall_ms();
    auto answered = (*host)->store()->respond_human_request(r);
    ASSERT_TRUE(answered.ok()) << answered.error().message;
  }

  auto w = sh(base_ + " worker --until-idle");
  EXPECT_EQ(w.status, 0) << w.out;
  EXPECT_EQ(weft::testing::read_text(rec), "r1 1\n") << "finished nodes do not run again";

  weft::app::Config c;
  c.database = db_;
  c.plugin_dirs = weft::testing::plugin_dirs();
  auto host = weft::app::Host::open(c);
  ASSERT_TRUE(host.ok());
  auto e = (*host)->store()->get_execution(exec_id);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->status, weft::store::ExecStatus::Succeeded) << e->error.dump();
  EXPECT_TRUE(e->output["shipped"].as_bool()) << e->output.dump();
  EXPECT_EQ(e->output["by"].as_string(), "ops");
  auto q = (*host)->store()->get_human_request(request_id);
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->status, "answered");
  EXPECT_GT(q->resumed_at_ms, 0);
  auto events = *(*host)->store()->events(exec_id, 0, 1000);
  int answered = 0;
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i].seq, static_cast<int64_t>(i + 1));
    if (events[i].type == "human_answered") ++answered;
  }
  EXPECT_EQ(answered, 1);
}

}  // namespace
