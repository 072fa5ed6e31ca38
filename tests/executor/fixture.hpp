// The fixture of the executor suites: a real Host (real plugins through the real registry, a real
// SQLite file or a fresh PostgreSQL database) per test, parameterised by backend, and builders
// for workflow JSON.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "harness.hpp"

namespace weft::testing {

class HostFixture : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    dir_ = make_temp_dir("exec");
    ASSERT_FALSE(dir_.empty());
    if (GetParam() == "postgres") {
      std::string url = fresh_pg_url();
      if (url.empty()) GTEST_SKIP() << "WEFT_TEST_PG_URL not set: PostgreSQL tests skipped";
      config_.database = url;
    } else {
      config_.database = "sqlite:" + dir_ + "/weft.db";
    }
    config_.plugin_dirs = plugin_dirs();
    config_.lease_ms = 5000;
    config_.heartbeat_ms = 500;
    config_.node_threads = 4;
    open_host();
  }
  void TearDown() override {
    host_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  // (Re)opens the host on the test's database: a new process as far as the run is concerned.
  void open_host() {
    auto h = app::Host::open(config_);
    ASSERT_TRUE(h.ok()) << h.error().code << ": " << h.error().message;
    host_ = std::move(*h);
  }

  struct Ran {
    executor::RunResult result;
    store::ExecutionRecord exec;
    std::vector<store::EventRecord> events;
    std::vector<store::NodeRunRecord> runs;
    std::vector<store::NodeLogRecord> logs;
  };

  // Saves `workflow_text` for `owner` and returns the stored version (checks it compiles).
  store::WorkflowRecord save(const std::string& workflow_text, const std::string& owner = "") {
    auto def = Json::parse(workflow_text);
    EXPECT_TRUE(def.ok()) << (def.ok() ? "" : def.error().message);
    compiler::CompileOptions co;
    auto compiled = host_->compiler().compile(*def, co);
    EXPECT_TRUE(compiled.ok()) << compiled.errors_json().dump_pretty();
    auto wf = host_->store()->save_workflow(owner, "", "t", *def);
    EXPECT_TRUE(wf.ok()) << (wf.ok() ? "" : wf.error().message);
    return wf.ok() ? *wf : store::WorkflowRecord{};
  }

  // Compiles, saves and runs a workflow synchronously on this thread.
  Ran run(const std::string& workflow_text, const Json& input = Json::object(), bool expect_compile = true) {
    Ran out;
    auto def = Json::parse(workflow_text);
    EXPECT_TRUE(def.ok()) << (def.ok() ? "" : def.error().message);
    compiler::CompileOptions co;
    auto compiled = host_->compiler().compile(*def, co);
    if (expect_compile) {
      EXPECT_TRUE(compiled.ok()) << compiled.errors_json().dump_pretty();
    }
    if (!compiled.ok()) return out;
    auto wf = host_->store()->save_workflow("", "", "t", *def);
    EXPECT_TRUE(wf.ok());
    store::NewExecution ne;
    ne.workflow_id = wf->id;
    ne.workflow_version = wf->version;
    ne.definition = *def;
    ne.input = input;
    ne.mode = "sync";
    ne.claim_owner = host_->workers().worker_id();
    ne.lease_ms = 5000;
    auto exec = host_->store()->create_execution(ne);
    EXPECT_TRUE(exec.ok()) << exec.error().message;
    out.result = host_->workers().run_claimed(*exec);
    collect(exec->id, out);
    return out;
  }
  void collect(const std::string& id, Ran& out) {
    out.exec = *host_->store()->get_execution(id);
    out.events = *host_->store()->events(id, 0, 100000);
    out.runs = *host_->store()->node_runs(id);
    out.logs = *host_->store()->node_logs(id);
  }
  Ran collect(const std::string& id) {
    Ran r;
    collect(id, r);
    return r;
  }
  static std::vector<std::string> types(const Ran& r) {
    std::vector<std::string> t;
    for (const auto& e : r.events) t.push_back(e.type);
    return t;
  }
  static const store::NodeRunRecord* run_of(const Ran& r, const std::string& key) {
    for (const auto& x : r.runs)
      if (x.node_key == key) return &x;
    return nullptr;
  }
  static int count(const Ran& r, const std::string& type, const std::string& node = "") {
    int n = 0;
    for (const auto& e : r.events)
      if (e.type == type && (node.empty() || e.data["node_id"].as_string() == node)) ++n;
    return n;
  }
  // The last event of `type`, or nullptr.
  static const store::EventRecord* last(const Ran& r, const std::string& type) {
    for (auto it = r.events.rbegin(); it != r.events.rend(); ++it)
      if (it->type == type) return &*it;
    return nullptr;
  }
  // The data of the last event of `type`, or null (so a missing event fails an expectation
  // instead of crashing the suite).
  static Json last_data(const Ran& r, const std::string& type) {
    const store::EventRecord* e = last(r, type);
    return e ? e->data : Json();
  }

  std::string dir_;
  app::Config config_;
  std::unique_ptr<app::Host> host_;
};

inline std::string node(const std::string& id, const std::string& type, const std::string& params = "{}",
                        const std::string& settings = "{}") {
  return R"({"id":")" + id + R"(","type":")" + type + R"(","position":{"x":0,"y":0},"data":{"parameters":)" + params +
         R"(,"settings":)" + settings + "}}";
}
inline std::string edge(const std::string& s, const std::string& t, const std::string& sh = "main",
                        const std::string& th = "main") {
  return R"({"id":")" + s + "-" + sh + "-" + t + "-" + th + R"(","source":")" + s + R"(","sourceHandle":")" + sh +
         R"(","target":")" + t + R"(","targetHandle":")" + th + R"("})";
}
inline std::string wf(const std::vector<std::string>& nodes, const std::vector<std::string>& edges,
                      const std::string& settings = "{}") {
  std::string s = R"({"name":"t","settings":)" + settings + R"(,"nodes":[)";
  for (size_t i = 0; i < nodes.size(); ++i) s += (i ? "," : "") + nodes[i];
  s += R"(],"edges":[)";
  for (size_t i = 0; i < edges.size(); ++i) s += (i ? "," : "") + edges[i];
  return s + "]}";
}

}  // namespace weft::testing
