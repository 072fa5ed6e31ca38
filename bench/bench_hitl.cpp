// B5 "HITL at scale" (guides/BENCHMARKS.md): N executions parked on an approval node, then
// answered through the REST API. Reports the server's memory per parked execution, its thread
// count with and without the parked runs, and the latency from sending an answer to the next
// node's start.
//
// One process pair:
//   - the parent runs the real `weft serve` stack in-process (api::ApiServer on a free port, SQLite
//     with the product defaults, the in-process queue workers): it creates the executions, waits
//     until every one is parked, reads its own RSS and thread count, and records when the node
//     after the approval starts (an EventBus subscriber: events are published right after the
//     commit that holds them, exactly what SSE and WebSocket clients receive);
//   - a child process, forked before any thread exists, is the client: one keep-alive HTTP/1.1
//     connection, POST /api/orchestrator/respond/:id for every request, one at a time; it stamps
//     the wall clock just before writing each request.
//
// Latency of one answer = the parent's wall clock when node_start of the node after the approval
// was published − the client's wall clock before it wrote the POST. Same CLOCK_REALTIME, one
// machine. It covers the HTTP request, the answer's transaction, waking a worker, claiming the
// execution, rebuilding it from the store, resuming the approval node, committing its result
// and starting the next node.
//
// Then, unless --paced 0, P more executions are parked and answered in a closed loop (the next
// answer is sent once the previous execution's next node started): the latency of one answer on a
// server that is not busy with the answers before it.
//
//   weft_bench_hitl [--executions 10000] [--warmup 200] [--paced 1000]
//
// The warm-up executions are parked and answered first (not counted), so per-process caches,
// thread stacks and allocator arenas exist before the baseline is read. RSS is read twice after
// parking: as is, and after malloc_trim(0) (glibc keeps freed memory of the creation burst; what
// the parked runs themselves hold is the second figure).
//
// Prints one JSON line.
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_util.hpp"
#include "host/api/serve.hpp"
#include "host/core/call.hpp"
#include "host/service/executions.hpp"

using weft::Json;
using namespace weft::bench;

namespace {

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "bench_hitl: %s\n", what.c_str());
  std::exit(1);
}

// ---- line protocol: parent → child "go <port> <key>", "answer <id> <id> ...", "quit";
// child → parent "sent <t_us> <t_us> ..." (one stamp per id, 0 = failed) or "error <text>".

// ---- the client ----------------------------------------------------------------------------------

class Client {
 public:
  Client(int ctl) : ctl_(ctl) {}

  int run() {
    std::string line;
    if (!read_line(ctl_, ctl_buf_, line)) return 1;
    auto go = split(line);
    if (go.size() != 3 || go[0] != "go") return fail("bad go line");
    port_ = static_cast<uint16_t>(std::stoi(go[1]));
    key_ = go[2];
    while (read_line(ctl_, ctl_buf_, line)) {
      if (line == "quit") return 0;
      auto ids = split(line);
      if (ids.empty() || ids[0] != "answer") return fail("bad line");
      std::string out = "sent";
      for (size_t i = 1; i < ids.size(); ++i) out += " " + std::to_string(answer(ids[i]));
      send_all(ctl_, out + "\n");
    }
    return 0;
  }

 private:
  int fail(const std::string& why) {
    send_all(ctl_, "error " + why + "\n");
    return 1;
  }

  bool connect_once() {
    if (fd_ >= 0) return true;
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port_);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      ::close(fd_);
      fd_ = -1;
      return false;
    }
    return true;
  }

  // One POST; returns the wall clock stamped before writing it, or 0 when it did not get a 200.
  int64_t answer(const std::string& id) {
    for (int attempt = 0; attempt < 2; ++attempt) {
      if (!connect_once()) return 0;
      const std::string body = R"({"decision":"approve"})";
      std::string req = "POST /api/orchestrator/respond/" + id +
                        " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                        "Authorization: Bearer " + key_ + "\r\nContent-Length: " +
                        std::to_string(body.size()) + "\r\n\r\n" + body;
      const int64_t t = now_us();
      send_all(fd_, req);
      int status = 0;
      if (read_response(&status)) return status == 200 ? t : 0;
      ::close(fd_);  // the server closed a kept-alive connection: reconnect once
      fd_ = -1;
    }
    return 0;
  }

  bool read_response(int* status) {
    std::string in;
    char tmp[16384];
    size_t head_end = std::string::npos;
    while ((head_end = in.find("\r\n\r\n")) == std::string::npos) {
      ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      in.append(tmp, static_cast<size_t>(n));
    }
    *status = in.size() > 12 ? std::atoi(in.c_str() + 9) : 0;
    std::string head = in.substr(0, head_end);
    for (char& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    size_t cl = head.find("content-length:");
    size_t len = cl == std::string::npos ? 0 : std::strtoul(head.c_str() + cl + 15, nullptr, 10);
    size_t have = in.size() - head_end - 4;
    while (have < len) {
      ssize_t n = ::recv(fd_, tmp, std::min(sizeof tmp, len - have), 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      have += static_cast<size_t>(n);
    }
    return true;
  }

  int ctl_;
  std::string ctl_buf_;
  uint16_t port_ = 0;
  std::string key_;
  int fd_ = -1;
};

// ---- the server side -------------------------------------------------------------------------------

struct Options {
  int executions = 10000;
  int warmup = 200;
  int paced = 1000;  // closed-loop answers after the burst (0 = none)
};

double pct(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(q / 100.0 * (v.size() - 1) + 0.5))];
}

int parent(const Options& o, pid_t child, int ctl) {
  char tmpl[] = "/tmp/weft-bench-hitl-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  weft::app::Config config;
  config.database = "sqlite:" + dir + "/weft.db";  // product defaults: WAL, synchronous=NORMAL
  config.plugin_dirs = {WEFT_BENCH_PLUGIN_DIR};
  auto serve = weft::api::ServeConfig::from(config);
  if (!serve.ok()) die(serve.error().message);
  serve->http.port = 0;
  serve->http.rate_limits = false;
  serve->secret_file = dir + "/auth.key";
  serve->bootstrap_file = dir + "/initial-admin.json";
  auto server = weft::api::ApiServer::start(config, *serve);
  if (!server.ok()) die("cannot start the server: " + server.error().message);
  weft::api::ApiServer& s = **server;
  auto store = s.host().store();

  auto user = store->find_user_by_email(s.bootstrap_email());
  if (!user.ok()) die("no bootstrap admin: " + user.error().message);
  weft::auth::Principal p;
  p.user_id = user->id;
  p.email = user->email;
  p.role = user->role;
  p.tier = user->tier;
  p.via = "cli";
  p.scopes = {"*"};
  auto key = s.auth().create_api_key(p, "bench-hitl", {}, 0);
  if (!key.ok()) die("cannot create an API key: " + key.error().message);

  auto def = Json::parse(R"({"name":"b5","nodes":[
      {"id":"start","type":"core.manual_trigger","position":{"x":0,"y":0},"data":{}},
      {"id":"approve","type":"core.approval","position":{"x":200,"y":0},
       "data":{"parameters":{"title":"Ship it?","message":"B5 approval"}}},
      {"id":"after","type":"core.noop","position":{"x":400,"y":0},"data":{}}],
    "edges":[{"id":"e1","source":"start","target":"approve"},
             {"id":"e2","source":"approve","sourceHandle":"approved","target":"after"}]})");
  if (!def.ok()) die("bad workflow JSON");
  auto wf = store->save_workflow(user->id, "", "b5", *def);
  if (!wf.ok()) die("cannot save the workflow: " + wf.error().message);

  // node_start of "after", by execution id.
  std::mutex mu;
  std::condition_variable started_cv;
  std::map<std::string, int64_t> started;
  s.host().bus().subscribe("", [&](const weft::store::EventRecord& e) {
    if (e.type != "node_start" || e.data["node_id"].as_string() != "after") return;
    const int64_t t = now_us();
    {
      std::lock_guard<std::mutex> lock(mu);
      started.emplace(e.execution_id, t);
    }
    started_cv.notify_all();
  });

  auto& execs = *s.context().executions;
  auto count_parked = [&]() -> int64_t {
    auto counts = store->count_executions_by_status();
    if (!counts.ok()) die("count: " + counts.error().message);
    auto it = counts->find("parked");
    return it == counts->end() ? 0 : it->second;
  };
  // Creates n executions and waits until `target` are parked.
  auto park = [&](int n, int64_t target) {
    for (int i = 0; i < n; ++i) {
      weft::service::StartRequest r;
      r.owner = user->id;
      r.workflow_id = wf->id;
      r.mode = "async";
      r.input = Json::object();
      auto st = execs.start(r);
      if (!st.ok()) die("start: " + st.error().message);
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(10);
    while (count_parked() < target) {
      if (std::chrono::steady_clock::now() > deadline) die("executions did not all park within 10 minutes");
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  };
  std::string buf, line;
  send_all(ctl, "go " + std::to_string(s.port()) + " " + key->key + "\n");
  // Answers every open request (in chunks of 1000 ids per line); returns (request id, execution id,
  // sent stamp) for each.
  struct Sent {
    std::string execution_id;
    int64_t sent_us;
  };
  auto answer_all = [&]() {
    std::vector<Sent> out;
    std::string after;
    std::vector<weft::store::HumanRequestRecord> open;
    for (;;) {
      weft::store::HumanRequestFilter f;
      f.status = "open";
      f.limit = 1000;
      f.after_id = after;
      auto page = store->list_human_requests(f);
      if (!page.ok()) die("list requests: " + page.error().message);
      if (page->empty()) break;
      after = page->back().id;
      open.insert(open.end(), page->begin(), page->end());
    }
    for (size_t i = 0; i < open.size(); i += 1000) {
      std::string l = "answer";
      const size_t end = std::min(open.size(), i + 1000);
      for (size_t j = i; j < end; ++j) l += " " + open[j].id;
      send_all(ctl, l + "\n");
      if (!read_line(ctl, buf, line)) die("the client exited");
      if (line.rfind("error ", 0) == 0) die("client: " + line.substr(6));
      auto stamps = split(line);
      if (stamps.size() != end - i + 1) die("client answered " + std::to_string(stamps.size() - 1) + " of " +
                                            std::to_string(end - i));
      for (size_t j = i; j < end; ++j) out.push_back({open[j].execution_id, std::stoll(stamps[j - i + 1])});
    }
    return out;
  };
  auto wait_done = [&](size_t n) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(10);
    for (;;) {
      {
        std::lock_guard<std::mutex> lock(mu);
        if (started.size() >= n) return;
      }
      if (std::chrono::steady_clock::now() > deadline) die("resumed executions did not all start the next node");
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  };

  // Warm-up: park and answer a few, so the baseline holds every per-process structure.
  park(o.warmup, o.warmup);
  auto warm = answer_all();
  wait_done(warm.size());
  std::this_thread::sleep_for(std::chrono::seconds(1));
  malloc_trim(0);
  const int64_t rss_base = rss_kib();
  const int64_t threads_base = threads();

  const auto t0 = std::chrono::steady_clock::now();
  park(o.executions, o.executions);
  const double park_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::this_thread::sleep_for(std::chrono::seconds(1));
  const int64_t rss_parked = rss_kib();
  const int64_t threads_parked = threads();
  malloc_trim(0);
  const int64_t rss_parked_trimmed = rss_kib();

  {
    std::lock_guard<std::mutex> lock(mu);
    started.clear();
  }
  const auto t1 = std::chrono::steady_clock::now();
  auto sent = answer_all();
  const double answer_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
  wait_done(sent.size());
  std::vector<double> lat_ms;
  int64_t failed = 0;
  {
    std::lock_guard<std::mutex> lock(mu);
    for (const Sent& x : sent) {
      auto it = started.find(x.execution_id);
      if (x.sent_us == 0 || it == started.end()) {
        ++failed;
        continue;
      }
      lat_ms.push_back(static_cast<double>(it->second - x.sent_us) / 1000.0);
    }
  }
  // Closed loop: one answer at a time, the next one sent when the previous execution's next node
  // started. The latency of an answer on a server that is not already busy with the previous
  // ones (the burst above measures it at saturation, where it includes queueing).
  std::vector<double> paced_ms;
  double paced_s = 0;
  if (o.paced > 0) {
    park(o.paced, o.paced);
    weft::store::HumanRequestFilter f;
    f.status = "open";
    f.limit = o.paced;
    auto open = store->list_human_requests(f);
    if (!open.ok()) die("list requests: " + open.error().message);
    const auto t2 = std::chrono::steady_clock::now();
    for (const auto& q : *open) {
      send_all(ctl, "answer " + q.id + "\n");
      if (!read_line(ctl, buf, line)) die("the client exited");
      auto stamps = split(line);
      if (stamps.size() != 2 || stamps[1] == "0") {
        ++failed;
        continue;
      }
      const int64_t sent_us = std::stoll(stamps[1]);
      std::unique_lock<std::mutex> lock(mu);
      if (!started_cv.wait_for(lock, std::chrono::seconds(30), [&] { return started.count(q.execution_id) > 0; })) {
        ++failed;
        continue;
      }
      paced_ms.push_back(static_cast<double>(started[q.execution_id] - sent_us) / 1000.0);
    }
    paced_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t2).count();
  }

  send_all(ctl, "quit\n");
  int status = 0;
  waitpid(child, &status, 0);

  Json out = Json::object();
  out.set("bench", "hitl_b5");
  out.set("executions", o.executions);
  out.set("parked_seen", static_cast<int64_t>(sent.size()));
  out.set("answers_failed", failed);
  out.set("park_all_seconds", park_s);
  out.set("rss_base_kib", rss_base);
  out.set("rss_parked_kib", rss_parked);
  out.set("rss_parked_trimmed_kib", rss_parked_trimmed);
  out.set("bytes_per_parked_run", static_cast<double>(rss_parked - rss_base) * 1024.0 / o.executions);
  out.set("bytes_per_parked_run_trimmed", static_cast<double>(rss_parked_trimmed - rss_base) * 1024.0 / o.executions);
  out.set("threads_base", threads_base);
  out.set("threads_parked", threads_parked);
  out.set("answer_all_seconds", answer_s);
  out.set("answers_per_second", answer_s > 0 ? static_cast<double>(sent.size()) / answer_s : 0.0);
  out.set("answer_to_next_node_p50_ms", pct(lat_ms, 50));
  out.set("answer_to_next_node_p90_ms", pct(lat_ms, 90));
  out.set("answer_to_next_node_p99_ms", pct(lat_ms, 99));
  out.set("answer_to_next_node_max_ms", pct(lat_ms, 100));
  out.set("paced_answers", static_cast<int64_t>(paced_ms.size()));
  out.set("paced_seconds", paced_s);
  out.set("paced_answer_to_next_node_p50_ms", pct(paced_ms, 50));
  out.set("paced_answer_to_next_node_p90_ms", pct(paced_ms, 90));
  out.set("paced_answer_to_next_node_p99_ms", pct(paced_ms, 99));
  out.set("paced_answer_to_next_node_max_ms", pct(paced_ms, 100));
  std::printf("%s\n", out.dump().c_str());
  std::fflush(stdout);

  server->reset();
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return failed == 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> int {
      if (i + 1 >= argc) die(a + " needs a value");
      return std::atoi(argv[++i]);
    };
    if (a == "--executions") o.executions = next();
    else if (a == "--warmup") o.warmup = next();
    else if (a == "--paced") o.paced = next();
    else die("usage: weft_bench_hitl [--executions N] [--warmup W] [--paced P]");
  }
  if (o.executions < 1 || o.warmup < 1 || o.paced < 0)
    die("--executions and --warmup must be >= 1, --paced >= 0");
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) die("socketpair failed");
  pid_t child = fork();
  if (child < 0) die("fork failed");
  if (child == 0) {
    ::close(sv[0]);
    Client c(sv[1]);
    std::_Exit(c.run());
  }
  ::close(sv[1]);
  return parent(o, child, sv[0]);
}
