// B6 "SSE fan-out" (guides/BENCHMARKS.md): N subscribers on the execution event stream, events
// published at R per second; publish→receive latency and the server's memory per idle subscriber.
//
// One process pair:
//   - the parent runs the real `weft serve` stack in-process (api::ApiServer on a free port, SQLite
//     with the product defaults, no queue workers) and produces the events the way the executor
//     does: Store::commit of an EventRecord fenced by the execution's lease, then EventBus::publish
//     (host/executor/executor.cpp, ExecutionRun::flush);
//   - a child process, forked before any thread exists, is the client: N non-blocking HTTP/1.1
//     connections to GET /api/executions/:id/events under one epoll loop, de-chunking the response
//     and parsing the SSE frames.
// The parent's RSS is therefore the server's alone: it is read before and after the N streams
// are open (idle) and after the event run.
//
// Latency of one delivery = the client's wall clock when the bytes were read − the wall clock the
// publisher stamped into the event's data just before Store::commit. Both clocks are the same
// CLOCK_REALTIME of one machine; the µs stamp is in the data because the event's own ts is in ms.
//
//   weft_bench_sse [--subscribers 1000] [--rate 100] [--seconds 10] [--executions 1] [--idle-only]
//
// --idle-only stops after the idle measurement: no events are published and the process exits
// without shutting the server down.
//
// Prints one JSON line. The client shares the machine with the server (2 cores here): its
// parsing time is inside the measured latency.
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_util.hpp"
#include "host/api/serve.hpp"
#include "host/core/call.hpp"

using weft::Json;
using namespace weft::bench;

namespace {

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "bench_sse: %s\n", what.c_str());
  std::exit(1);
}

struct Options {
  int subscribers = 1000;
  int rate = 100;         // events per second, over all executions
  int seconds = 10;
  int executions = 1;     // subscribers are spread round-robin over this many executions
  bool idle_only = false; // measure the idle subscribers' memory only, publish nothing
};

// ---- line protocol between the parent (server) and the child (client) ----------------------------
// parent → child: "go <port> <key> <exec id>..."  "open"  "end"
// child → parent: "warm"  "connected <n> <ms>"  "result <json>"  "error <text>"

void send_line(int fd, const std::string& s) { send_all(fd, s + "\n"); }

// ---- the client ------------------------------------------------------------------------------------

struct Conn {
  int fd = -1;
  int exec = 0;
  bool warm = false;           // the warm-up connection (not counted)
  enum State { Connecting, Headers, Body, Done, Failed } state = Connecting;
  std::string in;              // undecoded bytes
  bool chunked = false;
  size_t chunk_left = 0;       // bytes left in the current chunk
  bool chunk_crlf = false;     // the CRLF after a chunk's data is due
  std::string sse;             // de-chunked bytes not yet split into lines
  std::string ev_type, ev_data, ev_id;
  bool connected = false;      // ": connected" seen
  int64_t ticks = 0;           // bench_tick events received
  int64_t last_seq = 0;
  int64_t out_of_order = 0;
};

class Client {
 public:
  Client(int ctl_in, int ctl_out) : ctl_in_(ctl_in), ctl_out_(ctl_out) {}

  int run() {
    std::string buf, line;
    if (!read_line(ctl_in_, buf, line)) return 1;
    auto go = split(line);
    if (go.size() < 4 || go[0] != "go") return fail("bad go line");
    port_ = static_cast<uint16_t>(std::stoi(go[1]));
    key_ = go[2];
    execs_.assign(go.begin() + 3, go.end());
    ep_ = epoll_create1(EPOLL_CLOEXEC);
    // The warm-up subscriber: the server's first stream allocates per-process things (reactor
    // buffers, hub structures) that must not be counted per subscriber.
    open_conn(0, true);
    if (!pump_until([&] { return conns_[0].connected || conns_[0].state == Conn::Failed; }, 10000))
      return fail("the warm-up subscriber did not connect");
    if (conns_[0].state == Conn::Failed) return fail("the warm-up subscriber failed: " + fail_reason_);
    send_line(ctl_out_, "warm");
    if (!read_line(ctl_in_, buf, line) || line != "open") return 1;

    const int64_t t0 = now_us();
    size_t opened = 0;
    const size_t n = static_cast<size_t>(subscribers_);
    // At most kBurst connects in flight: the listener's accept backlog is small, and an
    // overflowing backlog turns into 1 s SYN retransmits, not into a measurement.
    constexpr size_t kBurst = 64;
    for (;;) {
      size_t pending = 0, ok = 0;
      for (size_t i = 1; i < conns_.size(); ++i) {
        if (conns_[i].connected) ++ok;
        else if (conns_[i].state != Conn::Failed) ++pending;
      }
      if (ok == n) break;
      if (failed_ > 0) return fail("a subscriber failed to connect: " + fail_reason_);
      while (opened < n && pending < kBurst) {
        open_conn(static_cast<int>(opened % execs_.size()), false);
        ++opened;
        ++pending;
      }
      if (now_us() - t0 > 60'000'000) return fail("subscribers did not connect within 60 s");
      poll_once(100);
    }
    send_line(ctl_out_, "connected " + std::to_string(n) + " " + std::to_string((now_us() - t0) / 1000));

    // The event run: read until every counted stream ended (the publisher's final workflow_done),
    // or 30 s after the parent said "end".
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = UINT64_MAX;
    epoll_ctl(ep_, EPOLL_CTL_ADD, ctl_in_, &ev);
    ctl_buf_ = buf;
    int64_t end_deadline = 0;
    for (;;) {
      size_t done = 0;
      for (size_t i = 1; i < conns_.size(); ++i)
        if (conns_[i].state == Conn::Done || conns_[i].state == Conn::Failed) ++done;
      if (done == n) break;
      if (ended_ && end_deadline == 0) end_deadline = now_us() + 30'000'000;
      if (end_deadline && now_us() > end_deadline) break;
      poll_once(100);
    }
    report();
    return 0;
  }

  void set_subscribers(int n) { subscribers_ = n; }

 private:
  int fail(const std::string& why) {
    send_line(ctl_out_, "error " + why);
    return 1;
  }

  void open_conn(int exec, bool warm) {
    Conn c;
    c.exec = exec;
    c.warm = warm;
    c.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port_);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int r = ::connect(c.fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    if (r < 0 && errno != EINPROGRESS) {
      c.state = Conn::Failed;
      ++failed_;
      fail_reason_ = std::string("connect: ") + std::strerror(errno);
    }
    conns_.push_back(std::move(c));
    const size_t idx = conns_.size() - 1;
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP;
    ev.data.u64 = idx;
    epoll_ctl(ep_, EPOLL_CTL_ADD, conns_[idx].fd, &ev);
  }

  void close_conn(Conn& c, Conn::State st, const std::string& why = "") {
    if (c.fd >= 0) {
      epoll_ctl(ep_, EPOLL_CTL_DEL, c.fd, nullptr);
      ::close(c.fd);
      c.fd = -1;
    }
    if (st == Conn::Failed && c.state != Conn::Failed) {
      ++failed_;
      if (fail_reason_.empty()) fail_reason_ = why;
    }
    c.state = st;
  }

  template <class Pred>
  bool pump_until(Pred pred, int64_t timeout_ms) {
    const int64_t end = now_us() + timeout_ms * 1000;
    while (!pred()) {
      if (now_us() > end) return false;
      poll_once(100);
    }
    return true;
  }

  void poll_once(int timeout_ms) {
    epoll_event evs[256];
    int n = epoll_wait(ep_, evs, 256, timeout_ms);
    for (int i = 0; i < n; ++i) {
      if (evs[i].data.u64 == UINT64_MAX) {
        on_control();
        continue;
      }
      Conn& c = conns_[evs[i].data.u64];
      if (c.fd < 0) continue;
      if (c.state == Conn::Connecting && (evs[i].events & EPOLLOUT)) on_connected(c, evs[i].data.u64);
      if (c.fd >= 0 && (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) on_readable(c);
    }
  }

  void on_control() {
    char tmp[1024];
    ssize_t n = ::read(ctl_in_, tmp, sizeof tmp);
    if (n <= 0) {
      ended_ = true;  // the parent is gone
      epoll_ctl(ep_, EPOLL_CTL_DEL, ctl_in_, nullptr);
      return;
    }
    ctl_buf_.append(tmp, static_cast<size_t>(n));
    size_t nl;
    while ((nl = ctl_buf_.find('\n')) != std::string::npos) {
      std::string l = ctl_buf_.substr(0, nl);
      ctl_buf_.erase(0, nl + 1);
      if (l == "end") ended_ = true;
    }
  }

  void on_connected(Conn& c, uint64_t idx) {
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) return close_conn(c, Conn::Failed, std::string("connect: ") + std::strerror(err));
    std::string req = "GET /api/executions/" + execs_[static_cast<size_t>(c.exec)] +
                      "/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
                      "Authorization: Bearer " + key_ + "\r\n\r\n";
    // A fresh socket's send buffer takes a request this small whole.
    if (::send(c.fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size()))
      return close_conn(c, Conn::Failed, "send failed");
    c.state = Conn::Headers;
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP;
    ev.data.u64 = idx;
    epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &ev);
  }

  void on_readable(Conn& c) {
    char tmp[65536];
    for (;;) {
      ssize_t n = ::recv(c.fd, tmp, sizeof tmp, 0);
      if (n > 0) {
        const int64_t t = now_us();  // one receive time for everything this read returned
        c.in.append(tmp, static_cast<size_t>(n));
        if (!consume(c, t)) return;
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      if (n < 0 && errno == EINTR) continue;
      // EOF or error: fine after the stream ended, a failure before.
      return close_conn(c, c.state == Conn::Done ? Conn::Done : (ended_ ? Conn::Done : Conn::Failed),
                        "the server closed the stream early");
    }
  }

  // Decodes what arrived; false when the connection was closed.
  bool consume(Conn& c, int64_t t) {
    if (c.state == Conn::Headers) {
      size_t end = c.in.find("\r\n\r\n");
      if (end == std::string::npos) return true;
      std::string head = c.in.substr(0, end);
      c.in.erase(0, end + 4);
      if (head.compare(0, 12, "HTTP/1.1 200") != 0) {
        close_conn(c, Conn::Failed, "status line: " + head.substr(0, head.find('\r')));
        return false;
      }
      std::string lower = head;
      std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char ch) { return std::tolower(ch); });
      c.chunked = lower.find("transfer-encoding: chunked") != std::string::npos;
      c.state = Conn::Body;
    }
    if (c.state != Conn::Body) return true;
    if (!c.chunked) {
      c.sse.append(c.in);
      c.in.clear();
      return sse(c, t);
    }
    size_t pos = 0;
    for (;;) {
      if (c.chunk_crlf) {
        if (c.in.size() - pos < 2) break;
        pos += 2;
        c.chunk_crlf = false;
      }
      if (c.chunk_left == 0) {
        size_t nl = c.in.find("\r\n", pos);
        if (nl == std::string::npos) break;
        const size_t size = std::strtoul(c.in.c_str() + pos, nullptr, 16);
        pos = nl + 2;
        if (size == 0) {  // the last chunk: the stream ended
          c.in.clear();
          if (!sse(c, t)) return false;
          close_conn(c, Conn::Done);
          return false;
        }
        c.chunk_left = size;
      }
      const size_t take = std::min(c.chunk_left, c.in.size() - pos);
      if (take == 0) break;
      c.sse.append(c.in, pos, take);
      pos += take;
      c.chunk_left -= take;
      if (c.chunk_left == 0) c.chunk_crlf = true;
    }
    c.in.erase(0, pos);
    return sse(c, t);
  }

  bool sse(Conn& c, int64_t t) {
    size_t start = 0, nl;
    while ((nl = c.sse.find('\n', start)) != std::string::npos) {
      std::string_view line(c.sse.data() + start, nl - start);
      start = nl + 1;
      if (line.empty()) {
        dispatch(c, t);
        continue;
      }
      if (line[0] == ':') {
        if (line.find("connected") != std::string_view::npos) c.connected = true;
        continue;
      }
      auto field = [&](std::string_view name, std::string& out) {
        if (line.substr(0, name.size()) != name) return false;
        out.assign(line.substr(name.size()));
        return true;
      };
      if (field("data: ", c.ev_data) || field("event: ", c.ev_type) || field("id: ", c.ev_id)) continue;
    }
    c.sse.erase(0, start);
    return true;
  }

  void dispatch(Conn& c, int64_t t) {
    if (c.ev_type == "bench_tick" && !c.warm) {
      static const std::string kKey = "\"sent_us\":";
      size_t p = c.ev_data.find(kKey);
      if (p != std::string::npos) {
        const int64_t sent = std::strtoll(c.ev_data.c_str() + p + kKey.size(), nullptr, 10);
        lat_us_.push_back(static_cast<int32_t>(std::min<int64_t>(t - sent, INT32_MAX)));
      }
      ++c.ticks;
      const int64_t seq = std::strtoll(c.ev_id.c_str(), nullptr, 10);
      if (seq != c.last_seq + 1 && c.last_seq != 0) ++c.out_of_order;
      c.last_seq = seq;
    }
    c.ev_type.clear();
    c.ev_data.clear();
    c.ev_id.clear();
  }

  void report() {
    std::sort(lat_us_.begin(), lat_us_.end());
    auto pct = [&](double p) -> double {
      if (lat_us_.empty()) return -1;
      size_t i = static_cast<size_t>(p / 100.0 * static_cast<double>(lat_us_.size() - 1) + 0.5);
      return lat_us_[std::min(i, lat_us_.size() - 1)] / 1000.0;
    };
    double sum = 0;
    for (int32_t v : lat_us_) sum += v;
    int64_t min_ticks = INT64_MAX, max_ticks = 0, disorder = 0, failed = 0;
    for (size_t i = 1; i < conns_.size(); ++i) {
      min_ticks = std::min(min_ticks, conns_[i].ticks);
      max_ticks = std::max(max_ticks, conns_[i].ticks);
      disorder += conns_[i].out_of_order;
      if (conns_[i].state == Conn::Failed) ++failed;
    }
    Json r = Json::object();
    r.set("deliveries", static_cast<int64_t>(lat_us_.size()));
    r.set("min_events_per_subscriber", min_ticks == INT64_MAX ? 0 : min_ticks);
    r.set("max_events_per_subscriber", max_ticks);
    r.set("out_of_order", disorder);
    r.set("failed_streams", failed);
    if (!fail_reason_.empty()) r.set("first_failure", fail_reason_);
    r.set("p50_ms", pct(50));
    r.set("p90_ms", pct(90));
    r.set("p99_ms", pct(99));
    r.set("p999_ms", pct(99.9));
    r.set("max_ms", lat_us_.empty() ? -1.0 : lat_us_.back() / 1000.0);
    r.set("mean_ms", lat_us_.empty() ? -1.0 : sum / static_cast<double>(lat_us_.size()) / 1000.0);
    send_line(ctl_out_, "result " + r.dump());
  }

  int ctl_in_, ctl_out_;
  std::string ctl_buf_;
  uint16_t port_ = 0;
  std::string key_;
  std::vector<std::string> execs_;
  int subscribers_ = 0;
  int ep_ = -1;
  std::vector<Conn> conns_;
  size_t failed_ = 0;
  std::string fail_reason_;
  bool ended_ = false;
  std::vector<int32_t> lat_us_;
};

// ---- the server side -------------------------------------------------------------------------------

struct Exec {
  std::string id;
  weft::store::Lease lease;
  int64_t seq = 0;
};

weft::store::EventRecord tick(Exec& e, int64_t i) {
  weft::store::EventRecord ev;
  ev.execution_id = e.id;
  ev.seq = ++e.seq;
  ev.type = "bench_tick";
  Json d = Json::object();
  d.set("i", i);
  ev.data = d;
  return ev;
}

int parent(const Options& o, pid_t child, int to_child, int from_child) {
  std::string buf, line;
  auto expect = [&](const char* what) {
    if (!read_line(from_child, buf, line)) die(std::string("the client exited while waiting for '") + what + "'");
    if (line.rfind("error ", 0) == 0) die("client: " + line.substr(6));
    if (line.rfind(what, 0) != 0) die("unexpected from the client: " + line);
    return line;
  };

  char tmpl[] = "/tmp/weft-bench-sse-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  weft::app::Config config;
  config.database = "sqlite:" + dir + "/weft.db";  // product defaults: WAL, synchronous=NORMAL
  config.plugin_dirs = {WEFT_BENCH_PLUGIN_DIR};
  auto serve = weft::api::ServeConfig::from(config);
  if (!serve.ok()) die(serve.error().message);
  serve->http.port = 0;
  serve->http.rate_limits = false;   // the free tier allows 5 concurrent streams per account
  serve->start_workers = false;      // nothing is queued; the bench is the only writer
  const int64_t rss_before_start = rss_kib();
  auto server = weft::api::ApiServer::start(config, *serve);
  if (!server.ok()) die("cannot start the server: " + server.error().message);
  weft::api::ApiServer& s = **server;
  auto store = s.host().store();

  // An API key for the bootstrapped admin (what `weft keys create` does).
  auto user = store->find_user_by_email(s.bootstrap_email());
  if (!user.ok()) die("no bootstrap admin: " + user.error().message);
  weft::auth::Principal p;
  p.user_id = user->id;
  p.email = user->email;
  p.role = user->role;
  p.tier = user->tier;
  p.via = "cli";
  p.scopes = {"*"};
  auto key = s.auth().create_api_key(p, "bench-sse", {}, 0);
  if (!key.ok()) die("cannot create an API key: " + key.error().message);

  // Executions that the bench "runs": created already claimed, like a synchronous run.
  auto def = Json::parse(R"({"name":"sse","nodes":[{"id":"start","type":"core.manual_trigger",
      "position":{"x":0,"y":0},"data":{}}],"edges":[]})");
  auto wf = store->save_workflow(user->id, "", "bench-sse", *def);
  if (!wf.ok()) die("cannot save the workflow: " + wf.error().message);
  std::vector<Exec> execs;
  std::string go = "go " + std::to_string(s.port()) + " " + key->key;
  for (int i = 0; i < o.executions; ++i) {
    weft::store::NewExecution ne;
    ne.workflow_id = wf->id;
    ne.workflow_version = wf->version;
    ne.owner_id = user->id;
    ne.definition = *def;
    ne.input = Json::object();
    ne.mode = "async";
    ne.claim_owner = "bench-sse:" + std::to_string(getpid());
    ne.lease_ms = 3600 * 1000;
    auto e = store->create_execution(ne);
    if (!e.ok()) die("cannot create an execution: " + e.error().message);
    execs.push_back({e->id, e->lease, e->last_event_seq});
    go += " " + e->id;
  }

  send_line(to_child, go);
  expect("warm");
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const int64_t rss_base = rss_kib();
  send_line(to_child, "open");
  const std::string connected = expect("connected");
  // Let the hub finish its catch-up reads and the allocator settle before reading the idle RSS.
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  const int64_t rss_idle = rss_kib();
  const size_t subscribers_seen = s.context().sse->subscribers();
  if (o.idle_only) {
    Json out = Json::object();
    out.set("bench", "sse_idle");
    out.set("subscribers", o.subscribers);
    out.set("executions", o.executions);
    out.set("connect_all_ms", std::stoll(split(connected).size() > 2 ? split(connected)[2] : "0"));
    out.set("hub_subscribers", static_cast<int64_t>(subscribers_seen));
    out.set("rss_process_start_kib", rss_before_start);
    out.set("rss_base_kib", rss_base);
    out.set("rss_idle_kib", rss_idle);
    out.set("kib_per_idle_subscriber", static_cast<double>(rss_idle - rss_base) / o.subscribers);
    std::printf("%s\n", out.dump().c_str());
    std::fflush(stdout);
    // Nothing else to measure: skip the orderly shutdown (it waits for every stream to end).
    kill(child, SIGKILL);
    waitpid(child, nullptr, 0);
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
    std::_Exit(0);
  }

  // The event run: R events per second, round-robin over the executions, each committed (one
  // transaction, lease-fenced) and then published, as the executor does after every node.
  const int64_t total = static_cast<int64_t>(o.rate) * o.seconds;
  const auto period = std::chrono::nanoseconds(1'000'000'000LL / std::max(1, o.rate));
  std::vector<int32_t> commit_us;
  commit_us.reserve(static_cast<size_t>(total));
  auto& bus = s.host().bus();
  const auto t_start = std::chrono::steady_clock::now();
  int64_t late = 0;
  for (int64_t i = 0; i < total; ++i) {
    const auto due = t_start + period * i;
    if (std::chrono::steady_clock::now() > due + period) ++late;
    std::this_thread::sleep_until(due);
    Exec& e = execs[static_cast<size_t>(i) % execs.size()];
    weft::store::Commit c;
    c.execution_id = e.id;
    c.lease = e.lease;
    c.events.push_back(tick(e, i));
    const int64_t sent = now_us();
    c.events.back().data.set("sent_us", sent);
    c.events.back().ts_ms = sent / 1000;
    if (auto st = store->commit(c); !st.ok()) die("commit failed: " + st.error().message);
    commit_us.push_back(static_cast<int32_t>(now_us() - sent));
    bus.publish(c.events.back());
  }
  const double run_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  const int64_t rss_after = rss_kib();
  // End every stream the way a finished execution does.
  for (Exec& e : execs) {
    weft::store::Commit c;
    c.execution_id = e.id;
    c.lease = e.lease;
    weft::store::EventRecord done;
    done.execution_id = e.id;
    done.seq = ++e.seq;
    done.type = "workflow_done";
    done.data = Json::object();
    done.ts_ms = weft::wall_ms();
    c.events.push_back(done);
    weft::store::ExecutionUpdate u;
    u.status = weft::store::ExecStatus::Succeeded;
    u.finished_at_ms = weft::wall_ms();
    u.release_lease = true;
    c.execution = u;
    if (auto st = store->commit(c); !st.ok()) die("final commit failed: " + st.error().message);
    bus.publish(done);
  }
  send_line(to_child, "end");
  const std::string result = expect("result");
  int status = 0;
  waitpid(child, &status, 0);

  std::sort(commit_us.begin(), commit_us.end());
  auto cpct = [&](double q) {
    return commit_us.empty() ? 0.0
                             : commit_us[std::min(commit_us.size() - 1,
                                                  static_cast<size_t>(q / 100.0 * (commit_us.size() - 1) + 0.5))] /
                                   1000.0;
  };
  auto client = Json::parse(result.substr(7));
  if (!client.ok()) die("bad result line: " + result);
  auto cparts = split(connected);
  Json out = Json::object();
  out.set("bench", "sse_fanout");
  out.set("subscribers", o.subscribers);
  out.set("executions", o.executions);
  out.set("rate_per_s", o.rate);
  out.set("events_published", total);
  out.set("publish_seconds", run_s);
  out.set("publisher_late_ticks", late);
  out.set("expected_deliveries", total * o.subscribers / std::max(1, o.executions));
  for (const auto& [k, v] : client->as_object()) out.set(k, v);
  out.set("commit_p50_ms", cpct(50));
  out.set("commit_p99_ms", cpct(99));
  out.set("connect_all_ms", std::stoll(cparts.size() > 2 ? cparts[2] : "0"));
  out.set("hub_subscribers", static_cast<int64_t>(subscribers_seen));
  out.set("rss_process_start_kib", rss_before_start);
  out.set("rss_base_kib", rss_base);
  out.set("rss_idle_kib", rss_idle);
  out.set("rss_after_events_kib", rss_after);
  out.set("kib_per_idle_subscriber", static_cast<double>(rss_idle - rss_base) / o.subscribers);
  std::printf("%s\n", out.dump().c_str());
  std::fflush(stdout);

  server->reset();
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
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
    if (a == "--subscribers") o.subscribers = next();
    else if (a == "--rate") o.rate = next();
    else if (a == "--seconds") o.seconds = next();
    else if (a == "--executions") o.executions = next();
    else if (a == "--idle-only") o.idle_only = true;
    else die("usage: weft_bench_sse [--subscribers N] [--rate R] [--seconds S] [--executions E] [--idle-only]");
  }
  if (o.subscribers < 1 || o.rate < 1 || o.seconds < 1 || o.executions < 1) die("every option must be >= 1");
  // Two descriptors per subscriber across the pair, plus the server's own.
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);

  int down[2], up[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, down) != 0 ||
      socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, up) != 0)
    die("socketpair failed");
  // Fork before any thread exists: the child is a plain single-threaded client.
  pid_t pid = fork();
  if (pid < 0) die("fork failed");
  if (pid == 0) {
    ::close(down[1]);
    ::close(up[0]);
    Client c(down[0], up[1]);
    c.set_subscribers(o.subscribers);
    std::_Exit(c.run());
  }
  ::close(down[0]);
  ::close(up[1]);
  return parent(o, pid, down[1], up[0]);
}
