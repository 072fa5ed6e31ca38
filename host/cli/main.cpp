// The `weft` command line. Thin: parses arguments, then calls the host's services.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "host/api/serve.hpp"
#include "host/app/host.hpp"
#include "host/core/call.hpp"
#include "host/core/ids.hpp"
#include "host/service/audit.hpp"
#include "host/service/code.hpp"
#include "host/service/credentials.hpp"
#include "host/service/custom_nodes.hpp"
#include "host/service/schedules.hpp"
#include "host/vault/vault.hpp"

#ifndef WEFT_VERSION_STRING
#define WEFT_VERSION_STRING "0.0.0"
#endif

namespace {

using weft::Json;
using weft::app::Config;
using weft::app::Host;

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;     // the workflow ran and failed / was cancelled
constexpr int kExitInvalid = 2;    // the workflow does not compile, or bad usage
constexpr int kExitWaiting = 3;    // the workflow is waiting for a human
constexpr int kExitSystem = 4;     // the host could not start (plugins, database...)

const char* kUsage = R"(usage: weft <command> [options]

commands:
  run FILE.json [--input JSON | --input-file F] [--json] [--quiet] [--no-wait]
                         compile and run a workflow, printing its events and final output; a run
                         waiting for a human stays while a timeout is pending (an answer given
                         through `weft serve` on the same database resumes it here) and exits 3
                         when only an answer can move it, or at once with --no-wait
  validate FILE.json [--json]
                         compile only: print every problem (exit 2) or "ok"
  nodes                  the palette of node types (JSON)
  plugins list           plugins with their state and reasons
  plugins enable NAME    switch a plugin on (persisted)
  plugins disable NAME   switch a plugin off (persisted)
  worker [--until-idle] [--no-scheduler]
                         claim and run queued executions (until none is runnable with --until-idle);
                         also fires due cron schedules unless --no-scheduler, --until-idle or
                         schedules.enabled is false (each occurrence runs once across all processes)
  serve [--address A] [--port P]
                         the REST API with in-process workers (default 127.0.0.1:8080)
  users create EMAIL [--admin] [--tier free|pro|enterprise] [--password-file F]
                         create an account (password from the file, $WEFT_PASSWORD, or generated
                         and printed once)
  users list             accounts with their role and tier
  users set-tier ID TIER change an account's tier
  keys create EMAIL [--name NAME] [--scopes a,b]
                         create an API key for an account and print it (shown once)
  keys rotate [--batch N] [--resume]
                         master-key rotation: add a key version to the key file (vault.key_file,
                         env WEFT_VAULT_KEY_FILE) and re-encrypt every credential under it, N per
                         batch (default 100); --resume continues an interrupted rotation without
                         adding another version
  vault init [FILE]      create a master key file for the credentials vault (0600; FILE defaults to
                         vault.key_file / WEFT_VAULT_KEY_FILE); never overwrites
  --version              print the version

common options:
  --db URL               database (default sqlite:var/weft.db; env WEFT_DB)
  --config FILE          configuration file (default config/weft.json if present; env WEFT_CONFIG)
  --plugin-dir DIR       plugin directory (repeatable; env WEFT_PLUGIN_DIRS)

exit codes: 0 ok, 1 workflow failed or cancelled, 2 invalid workflow or usage, 3 waiting for a
human, 4 the host could not start.
)";

struct Args {
  std::string command;
  std::vector<std::string> positional;
  std::string input_json, input_file, db, config, address, port, tier, password_file, name, scopes;
  bool admin = false;
  std::vector<std::string> plugin_dirs;
  bool json = false, quiet = false, until_idle = false;
  bool no_wait = false;       // run: leave (exit 3) as soon as the execution waits for a human
  bool no_scheduler = false;  // worker
  std::string batch;    // keys rotate
  bool resume = false;  // keys rotate
};

bool read_file(const std::string& path, std::string& out, std::string& err) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    err = "cannot read " + path + ": " + std::strerror(errno);
    return false;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  out = ss.str();
  return true;
}

int usage_error(const std::string& msg) {
  std::fprintf(stderr, "weft: %s\n\n%s", msg.c_str(), kUsage);
  return kExitInvalid;
}

// The configuration with the command-line overrides applied.
weft::Result<Config> load_config(const Args& a) {
  auto cfg = Config::load(a.config);
  if (!cfg.ok()) return cfg.error();
  if (!a.db.empty()) cfg->database = a.db;
  if (!a.plugin_dirs.empty()) cfg->plugin_dirs = a.plugin_dirs;
  return cfg;
}

weft::Result<std::unique_ptr<Host>> open_host(const Args& a) {
  auto cfg = load_config(a);
  if (!cfg.ok()) return cfg.error();
  return Host::open(*cfg);
}

// A host that runs nodes: with the guarded HTTP client and, when a master key is configured (or
// the development default exists), the vault. Never creates a key (only `weft serve` and `weft
// vault init` do); production refuses to run without one.
weft::Result<std::unique_ptr<Host>> open_running_host(const Args& a) {
  auto host = open_host(a);
  if (!host.ok()) return host;
  auto creds = weft::service::attach_credentials(**host, /*create_dev_key=*/false);
  if (!creds.ok()) return creds.error();
  // Custom nodes of the workflow's owner resolve in this process too (the host keeps the service).
  (void)weft::service::attach_custom_nodes(**host, creds->code);
  return host;
}

void print_error(const weft::Error& e) {
  std::fprintf(stderr, "weft: error [%s]: %s\n", e.code.c_str(), e.message.c_str());
}

void print_diagnostics(const weft::compiler::CompileResult& r, bool json) {
  if (json) {
    Json out = Json::object();
    out.set("ok", r.ok());
    out.set("errors", r.errors_json());
    Json w = Json::array();
    for (const auto& d : r.warnings) w.push_back(d.to_json());
    out.set("warnings", w);
    std::printf("%s\n", out.dump_pretty().c_str());
    return;
  }
  for (const auto& d : r.errors) {
    std::string where;
    if (!d.node_id.empty()) where += " node " + d.node_id;
    if (!d.edge_id.empty()) where += " edge " + d.edge_id;
    if (!d.field.empty()) where += " field " + d.field;
    std::fprintf(stderr, "error [%s]%s: %s\n", d.code.c_str(), where.c_str(), d.message.c_str());
  }
  for (const auto& d : r.warnings) {
    std::string where;
    if (!d.node_id.empty()) where += " node " + d.node_id;
    if (!d.field.empty()) where += " field " + d.field;
    std::fprintf(stderr, "warning [%s]%s: %s\n", d.code.c_str(), where.c_str(), d.message.c_str());
  }
}

void print_event(const weft::store::EventRecord& e, bool json) {
  if (json) {
    Json j = Json::object();
    j.set("seq", e.seq);
    j.set("type", e.type);
    j.set("ts_ms", e.ts_ms);
    j.set("data", e.data);
    std::printf("%s\n", j.dump().c_str());
    std::fflush(stdout);
    return;
  }
  std::string line = "[" + std::to_string(e.seq) + "] " + e.type;
  const Json& d = e.data;
  if (d["node_id"].is_string()) {
    line += "  " + d["node_id"].as_string();
    if (!d["scope"].as_string().empty()) line += " @" + d["scope"].as_string();
  }
  if (e.type == "node_start" && d["attempt"].as_int() > 1) line += "  attempt " + std::to_string(d["attempt"].as_int());
  if (e.type == "node_complete") {
    if (d.contains("duration_ms")) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "  %.3f ms", d["duration_ms"].as_double());
      line += buf;
    }
    if (d["handles"].is_array()) {
      line += "  ->";
      for (const auto& h : d["handles"].as_array()) line += " " + h.as_string();
    }
  }
  if (e.type == "node_error" || e.type == "node_retry") line += "  " + d["error"]["message"].as_string();
  if (e.type == "node_retry") line += "  (retry in " + std::to_string(d["delay_ms"].as_int()) + " ms)";
  if (e.type == "node_parked" || e.type == "execution_parked") {
    int64_t wake = d["wake_at_ms"].as_int();
    if (wake > 0) line += "  wakes in " + std::to_string(std::max<int64_t>(0, wake - weft::wall_ms())) + " ms";
  }
  if (e.type == "workflow_done") {
    line += "  " + d["status"].as_string();
    if (d.contains("duration_ms")) line += "  " + std::to_string(d["duration_ms"].as_int()) + " ms";
    if (d["error"].is_object()) line += "  " + d["error"]["message"].as_string();
  }
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

std::atomic<bool> g_interrupted{false};

int cmd_validate(const Args& a) {
  if (a.positional.size() != 1) return usage_error("validate needs exactly one FILE.json");
  std::string text, err;
  if (!read_file(a.positional[0], text, err)) {
    std::fprintf(stderr, "weft: %s\n", err.c_str());
    return kExitInvalid;
  }
  auto host = open_host(a);
  if (!host.ok()) {
    print_error(host.error());
    return kExitSystem;
  }
  weft::compiler::CompileOptions co;
  co.workflow_id = "validate";
  co.code_validator = (*host)->code_validator();
  auto r = (*host)->compiler().compile_text(text, co);
  print_diagnostics(r, a.json);
  if (!r.ok()) {
    if (!a.json) std::fprintf(stderr, "%zu problem(s) found in %s\n", r.errors.size(), a.positional[0].c_str());
    return kExitInvalid;
  }
  if (!a.json) std::printf("ok: %s compiles (%zu nodes, %s)\n", a.positional[0].c_str(), r.plan->nodes.size(),
                           r.plan->quick ? "quick: would run synchronously" : "would be queued");
  return kExitOk;
}

std::string workflow_id_for(const std::string& path) {
  std::string stem = path;
  size_t slash = stem.rfind('/');
  if (slash != std::string::npos) stem = stem.substr(slash + 1);
  size_t dot = stem.rfind('.');
  if (dot != std::string::npos && dot > 0) stem = stem.substr(0, dot);
  std::string id = "local-";
  for (char c : stem) id += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_') ? static_cast<char>(std::tolower(c)) : '-';
  return id.substr(0, 64);
}

int cmd_run(const Args& a) {
  if (a.positional.size() != 1) return usage_error("run needs exactly one FILE.json");
  std::string text, err;
  if (!read_file(a.positional[0], text, err)) {
    std::fprintf(stderr, "weft: %s\n", err.c_str());
    return kExitInvalid;
  }
  Json input;  // null unless given: triggers may supply a default
  std::string input_text = a.input_json;
  if (!a.input_file.empty() && !read_file(a.input_file, input_text, err)) {
    std::fprintf(stderr, "weft: %s\n", err.c_str());
    return kExitInvalid;
  }
  if (!input_text.empty()) {
    auto in = Json::parse(input_text);
    if (!in.ok()) return usage_error("--input is not valid JSON: " + in.error().message);
    input = std::move(*in);
  }
  auto host_r = open_running_host(a);
  if (!host_r.ok()) {
    print_error(host_r.error());
    return kExitSystem;
  }
  Host& host = **host_r;
  weft::compiler::CompileOptions co;
  co.workflow_id = workflow_id_for(a.positional[0]);
  co.code_validator = host.code_validator();
  auto compiled = host.compiler().compile_text(text, co);
  if (!compiled.ok()) {
    print_diagnostics(compiled, a.json);
    std::fprintf(stderr, "weft: %s does not compile: %zu problem(s); nothing was run\n", a.positional[0].c_str(),
                 compiled.errors.size());
    return kExitInvalid;
  }
  auto def = Json::parse(text);  // compiled, so it parses
  std::string name = (*def)["name"].is_string() ? (*def)["name"].as_string() : co.workflow_id;
  auto wf = host.store()->save_workflow("", co.workflow_id, name, *def);
  if (!wf.ok()) {
    print_error(wf.error());
    return kExitSystem;
  }
  weft::store::NewExecution ne;
  ne.workflow_id = wf->id;
  ne.workflow_version = wf->version;
  ne.definition = *def;
  ne.input = input;
  ne.mode = "sync";
  ne.claim_owner = host.workers().worker_id();
  ne.lease_ms = host.config().lease_ms;
  auto exec = host.store()->create_execution(ne);
  if (!exec.ok()) {
    print_error(exec.error());
    return kExitSystem;
  }
  std::string exec_id = exec->id;
  if (!a.quiet && !a.json)
    std::printf("execution %s of %s v%lld (database %s)\n", exec_id.c_str(), wf->id.c_str(),
                static_cast<long long>(wf->version), host.config().database.c_str());
  uint64_t sub = 0;
  if (!a.quiet) sub = host.bus().subscribe(exec_id, [&](const weft::store::EventRecord& e) { print_event(e, a.json); });

  // Ctrl-C cancels the execution cleanly (its state is committed as cancelled).
  std::atomic<bool> done{false};
  std::thread watcher([&] {
    while (!done) {
      if (g_interrupted.exchange(false)) {
        if (auto c = host.executor().control_of(exec_id)) c->cancel = true;
        else (void)host.store()->request_cancel(exec_id);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });

  weft::executor::RunResult r = host.workers().run_claimed(*exec);
  // Parked: this process stays and acts as a worker until the execution can go on. A timer (wait
  // node, retry delay, an approval's timeout) makes it due at wake_at_ms; an answer given through
  // another process on the same database (`weft serve`, `weft worker`) makes it due at once, so the
  // store is polled while waiting. It leaves with exit code 3 when nothing but a human can move the
  // execution (no timer), or at once with --no-wait when the execution waits for a human.
  auto waits_for_human = [&]() {
    weft::store::HumanRequestFilter f;
    f.execution_id = exec_id;
    f.status = "open";
    f.limit = 1;
    auto open = host.store()->list_human_requests(f);
    return open.ok() && !open->empty();
  };
  while (r.outcome == weft::executor::RunOutcome::Parked) {
    if (r.wake_at_ms <= 0 || (a.no_wait && waits_for_human())) break;
    int64_t next_poll = weft::wall_ms() + 250;
    for (;;) {
      if (g_interrupted) break;
      const int64_t now = weft::wall_ms();
      if (now >= r.wake_at_ms) break;
      if (now >= next_poll) {
        next_poll = now + 250;
        auto cur = host.store()->get_execution(exec_id);
        if (cur.ok() && (weft::store::is_final(cur->status) ||
                         (cur->status == weft::store::ExecStatus::Parked && cur->wake_at_ms > 0 &&
                          cur->wake_at_ms <= now) ||
                         cur->status == weft::store::ExecStatus::Queued))
          break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(std::min<int64_t>(r.wake_at_ms - now, 50)));
    }
    if (g_interrupted) {
      (void)host.store()->request_cancel(exec_id);
      g_interrupted = false;
    }
    bool ours = false;
    for (int spins = 0; spins < 1000 && !ours; ++spins) {
      auto claimed = host.store()->claim_execution(host.workers().worker_id(), host.config().lease_ms, weft::wall_ms());
      if (!claimed.ok()) {
        print_error(claimed.error());
        break;
      }
      if (!claimed->has_value()) {
        auto cur = host.store()->get_execution(exec_id);
        if (cur.ok() && weft::store::is_final(cur->status)) break;
        // Not claimable (yet): another process holds it, or the wake time moved (a timer that
        // lost to an answer, or the reverse); wait with what the store says now.
        if (cur.ok() && cur->status == weft::store::ExecStatus::Parked) {
          r.wake_at_ms = cur->wake_at_ms;
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        continue;
      }
      auto rr = host.workers().run_claimed(**claimed);
      if ((*claimed)->id == exec_id) {
        r = rr;
        ours = true;
      }
    }
    if (!ours) {
      auto cur = host.store()->get_execution(exec_id);
      if (!cur.ok() || cur->status != weft::store::ExecStatus::Parked || cur->wake_at_ms <= 0) break;
      r.outcome = weft::executor::RunOutcome::Parked;
      r.wake_at_ms = cur->wake_at_ms;
    }
  }
  done = true;
  watcher.join();
  if (sub) host.bus().unsubscribe(sub);

  auto fin = host.store()->get_execution(exec_id);
  if (!fin.ok()) {
    print_error(fin.error());
    return kExitSystem;
  }
  using weft::store::ExecStatus;
  switch (fin->status) {
    case ExecStatus::Succeeded:
      if (a.json) {
        Json o = Json::object();
        o.set("execution_id", exec_id);
        o.set("status", "succeeded");
        o.set("output", fin->output);
        std::printf("%s\n", o.dump().c_str());
      } else {
        std::printf("output:\n%s\n", fin->output.dump_pretty().c_str());
      }
      return kExitOk;
    case ExecStatus::Parked: {
      std::fprintf(stderr, "weft: execution %s is waiting for a human answer; it is saved in %s and resumes when answered\n",
                   exec_id.c_str(), host.config().database.c_str());
      weft::store::HumanRequestFilter f;
      f.execution_id = exec_id;
      f.status = "open";
      auto open = host.store()->list_human_requests(f);
      if (open.ok())
        for (const auto& q : *open)
          std::fprintf(stderr, "weft:   request %s (%s, node %s): answer it with POST /api/orchestrator/respond/%s\n",
                       q.id.c_str(), q.kind.c_str(), q.node_id.c_str(), q.id.c_str());
      return kExitWaiting;
    }
    case ExecStatus::Failed:
    case ExecStatus::Cancelled:
    default: {
      std::string st = weft::store::to_string(fin->status);
      std::fprintf(stderr, "weft: execution %s %s: %s\n", exec_id.c_str(), st.c_str(),
                   fin->error["message"].as_string().c_str());
      if (fin->error["details"].is_object() && !a.quiet)
        std::fprintf(stderr, "%s\n", fin->error["details"].dump_pretty().c_str());
      return kExitFailed;
    }
  }
}

int cmd_nodes(const Args& a) {
  auto host = open_host(a);
  if (!host.ok()) {
    print_error(host.error());
    return kExitSystem;
  }
  std::printf("%s\n", (*host)->registry().palette().dump_pretty().c_str());
  return kExitOk;
}

int cmd_plugins(const Args& a) {
  if (a.positional.empty()) return usage_error("plugins needs list, enable NAME or disable NAME");
  auto host = open_host(a);
  if (!host.ok()) {
    print_error(host.error());
    return kExitSystem;
  }
  auto& reg = (*host)->registry();
  const std::string& sub = a.positional[0];
  if (sub == "list") {
    Json out = Json::array();
    for (const auto& p : reg.plugins()) {
      Json j = Json::object();
      j.set("name", p.name);
      j.set("version", p.version);
      j.set("state", weft::registry::to_string(p.state));
      if (!p.reason.empty()) j.set("reason", p.reason);
      j.set("abi", p.abi_min + "-" + p.abi_max);
      if (p.negotiated_abi) j.set("negotiated_abi", weft::registry::format_abi_version(p.negotiated_abi));
      j.set("file", p.file_path);
      Json types = Json::array();
      for (const auto& t : p.node_types) types.push_back(t);
      j.set("node_types", types);
      Json schemes = Json::array();
      for (const auto& s : p.storage_schemes) schemes.push_back(s);
      if (schemes.size()) j.set("storage", schemes);
      out.push_back(j);
    }
    std::printf("%s\n", out.dump_pretty().c_str());
    return kExitOk;
  }
  if ((sub == "enable" || sub == "disable") && a.positional.size() == 2) {
    weft::Status st = (*host)->set_plugin_enabled(a.positional[1], sub == "enable");
    if (!st.ok()) {
      print_error(st.error());
      return st.error().code == "not_found" ? kExitInvalid : kExitSystem;
    }
    std::printf("plugin %s %sd\n", a.positional[1].c_str(), sub.c_str());
    return kExitOk;
  }
  return usage_error("plugins needs list, enable NAME or disable NAME");
}

int cmd_worker(const Args& a) {
  auto host_r = open_running_host(a);
  if (!host_r.ok()) {
    print_error(host_r.error());
    return kExitSystem;
  }
  Host& host = **host_r;
  auto reclaimed = host.workers().reclaim_dead_local_leases();
  if (reclaimed.ok() && *reclaimed > 0)
    std::fprintf(stderr, "weft worker: reclaimed %zu execution(s) left by dead processes\n", *reclaimed);
  uint64_t sub = 0;
  if (!a.quiet) sub = host.bus().subscribe("", [&](const weft::store::EventRecord& e) {
    if (a.json) print_event(e, true);
    else if (e.type == "workflow_done" || e.type == "execution_parked" || e.type == "execution_resumed" ||
             e.type == "execution_started")
      std::printf("%s %s\n", e.execution_id.c_str(), e.type.c_str()), std::fflush(stdout);
  });
  if (a.until_idle) {
    size_t n = host.workers().drain();
    if (sub) host.bus().unsubscribe(sub);
    std::fprintf(stderr, "weft worker: ran %zu execution(s); nothing runnable now\n", n);
    return kExitOk;
  }
  // Cron schedules: every process running a scheduler may fire a due occurrence; the store's
  // compare-and-swap lets exactly one of them start its execution, so workers can keep schedules
  // going while no `weft serve` runs.
  std::unique_ptr<weft::service::ScheduleService> scheduler;
  if (!a.no_scheduler) {
    auto opts = weft::service::ScheduleOptions::from(host.config().raw["schedules"]);
    if (!opts.ok()) {
      print_error(opts.error());
      return kExitSystem;
    }
    if (opts->enabled) scheduler = std::make_unique<weft::service::ScheduleService>(host, *opts);
  }
  std::fprintf(stderr, "weft worker %s: waiting for work on %s%s (Ctrl-C to stop)\n", host.workers().worker_id().c_str(),
               host.config().database.c_str(), scheduler ? ", firing due schedules" : "");
  host.workers().start();
  if (scheduler) scheduler->start();
  while (!g_interrupted) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  std::fprintf(stderr, "weft worker: stopping; running executions finish first\n");
  if (scheduler) scheduler->stop();
  host.workers().stop();
  if (sub) host.bus().unsubscribe(sub);
  return kExitOk;
}

int cmd_serve(const Args& a) {
  auto cfg = load_config(a);
  if (!cfg.ok()) {
    print_error(cfg.error());
    return kExitSystem;
  }
  auto serve = weft::api::ServeConfig::from(*cfg);
  if (!serve.ok()) {
    print_error(serve.error());
    return kExitSystem;
  }
  if (!a.address.empty()) serve->http.address = a.address;
  if (!a.port.empty()) {
    char* end = nullptr;
    long p = std::strtol(a.port.c_str(), &end, 10);
    if (*end || p < 0 || p > 65535) return usage_error("--port must be 0..65535");
    serve->http.port = static_cast<uint16_t>(p);
  }
  const int64_t t0 = weft::monotonic_ms();
  auto server = weft::api::ApiServer::start(*cfg, *serve);
  if (!server.ok()) {
    print_error(server.error());
    return kExitSystem;
  }
  auto& s = **server;
  std::fprintf(stderr, "weft serve: listening on http://%s:%u (database %s, %zu plugin(s), ready in %lld ms)\n",
               serve->http.address.c_str(), static_cast<unsigned>(s.port()), cfg->database.c_str(),
               s.host().registry().plugins().size(), static_cast<long long>(weft::monotonic_ms() - t0));
  if (s.ws_port() != 0) {
    const std::string& ws_address = serve->websocket.address.empty() ? serve->http.address : serve->websocket.address;
    std::fprintf(stderr, "weft serve: execution WebSocket on ws://%s:%u/ws/orchestrator/{executionId}\n",
                 ws_address.c_str(), static_cast<unsigned>(s.ws_port()));
  }
  if (!s.credentials_notice().empty())
    std::fprintf(stderr, "weft serve: %s\n", s.credentials_notice().c_str());
  // Start the sandbox's warm interpreters now, so the first code node does not pay for them, and
  // say which isolation layers this machine gives. Not fatal: code nodes then fail with
  // sandbox_unavailable (retryable) and the rest of the server works.
  if (const auto& code = s.code_runtime()) {
    if (weft::Status st = code->warm_up(); st.ok()) {
      weft::Json status = code->status();
      const weft::Json& probe = status["probe"];
      std::string why = probe["bwrap_detail"].as_string();
      std::fprintf(stderr, "weft serve: sandbox for code nodes: %s%s%s\n", probe["mode"].as_string().c_str(),
                   why.empty() ? "" : " (bubblewrap not used: ", why.empty() ? "" : (why + ")").c_str());
    } else {
      std::fprintf(stderr, "weft serve: WARNING: %s; code nodes will fail until this is fixed (docs/sandbox.md)\n",
                   st.error().message.c_str());
    }
  }
  if (!s.bootstrap_email().empty()) {
    std::fprintf(stderr,
                 "weft serve: created the first administrator %s; its generated password is in %s (mode 0600)\n",
                 s.bootstrap_email().c_str(), serve->bootstrap_file.c_str());
  }
  std::fflush(stderr);
  while (!g_interrupted) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  std::fprintf(stderr, "weft serve: shutting down (running executions get %lld ms to finish or park)\n",
               static_cast<long long>(serve->shutdown_grace_ms));
  std::atomic<bool> done{false};
  std::thread stopper([&] {
    s.shutdown();
    done = true;
  });
  const int64_t deadline = weft::monotonic_ms() + serve->shutdown_grace_ms + 5000;
  while (!done && weft::monotonic_ms() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  if (!done) {
    // Whatever still runs is durable up to its last committed node: its lease expires and the
    // next process resumes it.
    std::fprintf(stderr, "weft serve: grace period over; leaving the rest to lease expiry\n");
    std::fflush(stderr);
    std::_Exit(kExitOk);
  }
  stopper.join();
  server->reset();
  std::fprintf(stderr, "weft serve: stopped\n");
  return kExitOk;
}

int cmd_users(const Args& a) {
  if (a.positional.empty())
    return usage_error(a.command == "keys" ? "keys needs a subcommand: create"
                                           : "users needs a subcommand: create, list, set-tier");
  auto cfg = load_config(a);
  if (!cfg.ok()) {
    print_error(cfg.error());
    return kExitSystem;
  }
  auto serve = weft::api::ServeConfig::from(*cfg);
  if (!serve.ok()) {
    print_error(serve.error());
    return kExitSystem;
  }
  auto secret = weft::auth::load_or_create_secret(serve->secret_file, serve->create_secret);
  if (!secret.ok()) {
    print_error(secret.error());
    return kExitSystem;
  }
  auto host = Host::open(*cfg);
  if (!host.ok()) {
    print_error(host.error());
    return kExitSystem;
  }
  weft::auth::AuthService auth((*host)->store(), *secret, serve->auth);
  const std::string& sub = a.positional[0];
  if (a.command == "keys") {
    if (sub != "create" || a.positional.size() != 2) return usage_error("keys create EMAIL [--name NAME] [--scopes a,b]");
    auto u = (*host)->store()->find_user_by_email(a.positional[1]);
    if (!u.ok()) {
      print_error(u.error());
      return kExitInvalid;
    }
    weft::auth::Principal p;
    p.user_id = u->id;
    p.email = u->email;
    p.role = u->role;
    p.tier = u->tier;
    p.via = "cli";
    p.scopes = {"*"};
    std::vector<std::string> scopes;
    std::string cur;
    for (char ch : a.scopes + ",") {
      if (ch == ',') {
        if (!cur.empty()) scopes.push_back(cur);
        cur.clear();
      } else {
        cur.push_back(ch);
      }
    }
    auto k = auth.create_api_key(p, a.name.empty() ? "cli" : a.name, scopes, 0);
    if (!k.ok()) {
      print_error(k.error());
      return kExitInvalid;
    }
    std::printf("%s\n", k->key.c_str());
    return kExitOk;
  }
  if (sub == "create") {
    if (a.positional.size() != 2) return usage_error("users create EMAIL");
    std::string password;
    bool generated = false;
    if (!a.password_file.empty()) {
      std::string err;
      if (!read_file(a.password_file, password, err)) {
        std::fprintf(stderr, "weft: %s\n", err.c_str());
        return kExitInvalid;
      }
      while (!password.empty() && (password.back() == '\n' || password.back() == '\r')) password.pop_back();
    } else if (const char* e = std::getenv("WEFT_PASSWORD"); e && *e) {
      password = e;
    } else {
      password = weft::random_hex(12);
      generated = true;
    }
    auto u = auth.create_user(a.positional[1], password, a.admin ? "admin" : "user", a.tier.empty() ? "free" : a.tier);
    if (!u.ok()) {
      print_error(u.error());
      return u.error().code == "conflict" || u.error().code == "invalid_argument" ? kExitInvalid : kExitSystem;
    }
    std::printf("created %s %s (id %s, tier %s)\n", u->role.c_str(), u->email.c_str(), u->id.c_str(), u->tier.c_str());
    if (generated) std::printf("password: %s\n", password.c_str());
    return kExitOk;
  }
  if (sub == "list") {
    auto users = auth.list_users(1000, "");
    if (!users.ok()) {
      print_error(users.error());
      return kExitSystem;
    }
    for (const auto& u : *users)
      std::printf("%s  %-30s %-5s %s%s\n", u.id.c_str(), u.email.c_str(), u.role.c_str(), u.tier.c_str(),
                  u.disabled ? " (disabled)" : "");
    return kExitOk;
  }
  if (sub == "set-tier") {
    if (a.positional.size() != 3) return usage_error("users set-tier ID TIER");
    auto u = auth.set_tier(a.positional[1], a.positional[2]);
    if (!u.ok()) {
      print_error(u.error());
      return kExitInvalid;
    }
    std::printf("%s is now %s\n", u->email.c_str(), u->tier.c_str());
    return kExitOk;
  }
  return usage_error("unknown users subcommand " + sub);
}

// `weft keys rotate`: checks the key file against the database, adds a version (unless --resume),
// then re-encrypts every credential under the newest version. Running servers notice the changed
// key file before their next seal, so new and edited secrets get the new version too. Ctrl-C stops
// after the current batch; --resume picks up from there. The old versions stay in the file: remove
// one only once a run reports 0 credentials below the new version (the server refuses to start
// while rows still use a version the file lacks).
int cmd_keys_rotate(const Args& a) {
  // A server that sealed a secret just before the key file changed may still be writing it: a
  // rotation that adds a version counts (and re-encrypts) again once this long has passed since.
  constexpr int64_t kSettleMs = 2000;
  if (a.positional.size() != 1) return usage_error("keys rotate [--batch N] [--resume]");
  int64_t batch = 100;
  if (!a.batch.empty()) {
    char* end = nullptr;
    const long long n = std::strtoll(a.batch.c_str(), &end, 10);
    if (*end || n < 1 || n > 1000) return usage_error("--batch must be 1..1000");
    batch = n;
  }
  auto cfg = load_config(a);
  if (!cfg.ok()) {
    print_error(cfg.error());
    return kExitSystem;
  }
  std::string key_file = cfg->vault_key_file;
  if (key_file.empty() && !cfg->production()) {
    // The development default (config.hpp); rotation never creates a key file.
    if (const char* home = std::getenv("HOME"); home && *home)
      key_file = std::string(home) + "/.config/weft/master.key";
  }
  if (key_file.empty()) {
    print_error(weft::Error("vault_key_missing",
                            "no master key file is configured (vault.key_file / WEFT_VAULT_KEY_FILE)"));
    return kExitSystem;
  }
  auto host = Host::open(*cfg);
  if (!host.ok()) {
    print_error(host.error());
    return kExitSystem;
  }
  auto store = (*host)->store();
  // The file as it is must match the database before anything is added to it.
  auto ring = weft::vault::MasterKeyring::load(key_file, cfg->data_dir());
  if (!ring.ok()) {
    print_error(ring.error());
    return kExitSystem;
  }
  auto vault = std::make_shared<weft::vault::Vault>(
      std::shared_ptr<weft::vault::MasterKeyring>(std::move(ring).value()), store);
  if (auto st = vault->verify(); !st.ok()) {
    print_error(st.error());
    return kExitSystem;
  }
  int64_t added_at_ms = 0;
  if (!a.resume) {
    auto added = weft::vault::MasterKeyring::add_version(key_file);
    if (!added.ok()) {
      print_error(added.error());
      return kExitSystem;
    }
    if (auto st = vault->keys().reload(); !st.ok()) {
      print_error(st.error());
      return kExitSystem;
    }
    if (auto st = vault->verify(); !st.ok()) {  // stores the new version's check value
      print_error(st.error());
      return kExitSystem;
    }
    added_at_ms = weft::monotonic_ms();
    std::printf("added master key version %lld to %s\n", static_cast<long long>(*added), key_file.c_str());
    std::printf("running servers seal new and edited secrets with it from now on (no restart needed)\n");
  }
  std::printf("re-encrypting credentials under key version %lld, %lld per batch\n",
              static_cast<long long>(vault->keys().current_version()), static_cast<long long>(batch));
  std::fflush(stdout);
  int64_t rekeyed_before = 0;
  auto report = [&rekeyed_before](const weft::vault::RotateProgress& p) {
    std::printf("  re-encrypted %lld (edited meanwhile, retried: %lld)\n",
                static_cast<long long>(rekeyed_before + p.rekeyed), static_cast<long long>(p.conflicts));
    std::fflush(stdout);
  };
  auto done = weft::vault::rotate_credentials(*vault, *store, batch, report, &g_interrupted);
  if (done.ok() && added_at_ms > 0 && !done->stopped && done->remaining == 0) {
    // Count again once in-flight writes sealed under the old version have landed.
    while (!g_interrupted && weft::monotonic_ms() - added_at_ms < kSettleMs)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (g_interrupted) {
      done->stopped = true;  // not counted again: a re-run decides
    } else {
      rekeyed_before = done->rekeyed;
      auto again = weft::vault::rotate_credentials(*vault, *store, batch, report, &g_interrupted);
      if (!again.ok()) {
        done = again.take_error();
      } else {
        done->target_version = again->target_version;
        done->rekeyed += again->rekeyed;
        done->conflicts += again->conflicts;
        done->rounds += again->rounds;
        done->remaining = again->remaining;
        done->stopped = again->stopped;
      }
    }
  }
  if (!done.ok()) {
    print_error(done.error());
    std::fprintf(stderr, "weft: fix the credential named above, then run `weft keys rotate --resume`\n");
    return kExitFailed;
  }
  weft::service::AuditLog audit(store);
  weft::service::AuditEntry entry;
  entry.action_type = "vault.rotate";
  entry.details = Json::object({{"target_version", done->target_version},
                                {"rekeyed", done->rekeyed},
                                {"conflicts", done->conflicts},
                                {"remaining", done->remaining},
                                {"stopped", done->stopped}});
  if (auto st = audit.record(entry); !st.ok()) print_error(st.error());
  const long long target = static_cast<long long>(done->target_version);
  std::printf("done: %lld re-encrypted, %lld still below version %lld\n",
              static_cast<long long>(done->rekeyed), static_cast<long long>(done->remaining), target);
  if (done->remaining > 0) {
    std::printf("run `weft keys rotate --resume` to continue; keep every key line in %s until a run "
                "reports 0 still below version %lld\n",
                key_file.c_str(), target);
    return kExitFailed;
  }
  if (target > 1) {
    std::printf("versions below %lld are no longer used: their lines may be removed from %s once a re-run of "
                "`weft keys rotate --resume` also reports 0 still below version %lld (back them up first)\n",
                target, key_file.c_str(), target);
  }
  return kExitOk;
}

// `weft vault init [FILE]`: creates a master key file (version 1, mode 0600, parent 0700). FILE
// defaults to vault.key_file / WEFT_VAULT_KEY_FILE. Refuses to overwrite.
int cmd_vault(const Args& a) {
  if (a.positional.empty() || a.positional[0] != "init" || a.positional.size() > 2)
    return usage_error("vault init [FILE]");
  std::string file;
  if (a.positional.size() == 2) {
    file = a.positional[1];
  } else {
    auto cfg = load_config(a);
    if (!cfg.ok()) {
      print_error(cfg.error());
      return kExitSystem;
    }
    file = cfg->vault_key_file;
  }
  if (file.empty()) return usage_error("vault init needs FILE (or vault.key_file / WEFT_VAULT_KEY_FILE)");
  if (auto st = weft::vault::MasterKeyring::create(file); !st.ok()) {
    print_error(st.error());
    return kExitSystem;
  }
  std::printf("created master key file %s (version 1, owner-only); keep a backup: credentials cannot be decrypted without it\n",
              file.c_str());
  return kExitOk;
}

void on_signal(int) { g_interrupted = true; }

}  // namespace

int main(int argc, char** argv) {
  Args a;
  std::vector<std::string> args(argv + 1, argv + argc);
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& s = args[i];
    auto value = [&](const char* flag) -> std::string {
      if (i + 1 >= args.size()) {
        std::fprintf(stderr, "weft: %s needs a value\n", flag);
        std::exit(kExitInvalid);
      }
      return args[++i];
    };
    if (s == "--version" || s == "version") {
      std::printf("weft %s (plugin ABI %d.%d)\n", WEFT_VERSION_STRING, WEFT_ABI_VERSION_MAJOR, WEFT_ABI_VERSION_MINOR);
      return kExitOk;
    } else if (s == "-h" || s == "--help" || s == "help") {
      std::printf("%s", kUsage);
      return kExitOk;
    } else if (s == "--input") {
      a.input_json = value("--input");
    } else if (s == "--input-file") {
      a.input_file = value("--input-file");
    } else if (s == "--db") {
      a.db = value("--db");
    } else if (s == "--config") {
      a.config = value("--config");
    } else if (s == "--plugin-dir") {
      a.plugin_dirs.push_back(value("--plugin-dir"));
    } else if (s == "--json") {
      a.json = true;
    } else if (s == "--quiet" || s == "-q") {
      a.quiet = true;
    } else if (s == "--until-idle") {
      a.until_idle = true;
    } else if (s == "--no-wait") {
      a.no_wait = true;
    } else if (s == "--no-scheduler") {
      a.no_scheduler = true;
    } else if (s == "--address") {
      a.address = value("--address");
    } else if (s == "--port") {
      a.port = value("--port");
    } else if (s == "--tier") {
      a.tier = value("--tier");
    } else if (s == "--password-file") {
      a.password_file = value("--password-file");
    } else if (s == "--name") {
      a.name = value("--name");
    } else if (s == "--scopes") {
      a.scopes = value("--scopes");
    } else if (s == "--admin") {
      a.admin = true;
    } else if (s == "--batch") {
      a.batch = value("--batch");
    } else if (s == "--resume") {
      a.resume = true;
    } else if (s.rfind("--", 0) == 0) {
      return usage_error("unknown option " + s);
    } else if (a.command.empty()) {
      a.command = s;
    } else {
      a.positional.push_back(s);
    }
  }
  if (a.command.empty()) return usage_error("no command given");
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  if (a.command == "run") return cmd_run(a);
  if (a.command == "validate") return cmd_validate(a);
  if (a.command == "nodes") return cmd_nodes(a);
  if (a.command == "plugins") return cmd_plugins(a);
  if (a.command == "worker") return cmd_worker(a);
  if (a.command == "serve") return cmd_serve(a);
  if (a.command == "keys" && !a.positional.empty() && a.positional[0] == "rotate") return cmd_keys_rotate(a);
  if (a.command == "users" || a.command == "keys") return cmd_users(a);
  if (a.command == "vault") return cmd_vault(a);
  return usage_error("unknown command " + a.command);
}
