// B3 "code node" (guides/BENCHMARKS.md): a trivial JavaScript and a trivial Python code node run
// through the real sandbox pool (sandbox/pool.hpp) — the real isolation layer, the real runners.
//
//   weft_bench_sandbox [--jobs 40] [--seconds 10] [--only js|py]
//
// Scenarios, per language:
//   bare     the interpreter alone under the same sandbox: Isolation::spawn of `node -e 0` /
//            `python3 -I -S -c pass`, pumped until it exits (the start-up the warm pool hides);
//   cold     SandboxPool::run with warm_* = 0: every job starts its sandbox and runner;
//   warm     SandboxPool::run with a ready warm sandbox (the bench waits for the refill between
//            jobs, outside the timed region): what a code node costs when the pool keeps up;
//   2 threads  two threads submitting jobs back to back for --seconds (warm_* = 2): tasks/s, and
//            how many were warm hits (the refill rate bounds it).
// Latency = wall clock around one call: spawn → pump until the program exited for bare; run() for
// the others. Neither includes killing the sandbox (the pool does that on its reaper thread under
// bubblewrap, after the answer; launcher-only run() includes it).
//
// The job: JavaScript `return items.length;`, Python `return len(items)`, input [{"x":1}].
// Prints one table and one JSON line.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "host/core/call.hpp"
#include "host/core/json.hpp"
#include "sandbox/pool.hpp"

using weft::Json;
using namespace weft::sandbox;

namespace {

int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

struct Stats {
  double p50_ms = 0, p99_ms = 0, mean_ms = 0;
  size_t n = 0;
};

Stats stats_of(std::vector<int64_t> us) {
  Stats s;
  if (us.empty()) return s;
  std::sort(us.begin(), us.end());
  auto pct = [&](double p) {
    size_t i = static_cast<size_t>(p * static_cast<double>(us.size() - 1) + 0.5);
    return static_cast<double>(us[std::min(i, us.size() - 1)]) / 1000.0;
  };
  s.p50_ms = pct(0.50);
  s.p99_ms = pct(0.99);
  double sum = 0;
  for (int64_t v : us) sum += static_cast<double>(v);
  s.mean_ms = sum / static_cast<double>(us.size()) / 1000.0;
  s.n = us.size();
  return s;
}

Job trivial_job(Language lang) {
  Job j;
  j.language = lang;
  j.code = lang == Language::JavaScript ? "return items.length;" : "return len(items)";
  j.input = *Json::parse(R"([{"x":1}])");
  j.params = Json::object();
  j.context = Json::object();
  j.timeout_ms = 30'000;
  return j;
}

std::shared_ptr<SandboxPool> make_pool(uint32_t warm_js, uint32_t warm_py) {
  PoolConfig c;
  c.runtime.warm_javascript = warm_js;
  c.runtime.warm_python = warm_py;
  auto p = SandboxPool::start(c);
  if (!p.ok()) {
    std::fprintf(stderr, "the sandbox pool did not start: %s: %s\n", p.error().code.c_str(),
                 p.error().message.c_str());
    std::exit(1);
  }
  return *p;
}

bool check(const JobResult& r) {
  if (r.ok && r.value == Json(1)) return true;
  std::fprintf(stderr, "job failed: %s %s\n", r.error.dump().c_str(), r.text.substr(0, 300).c_str());
  return false;
}

Stats bench_bare(Language lang, int jobs) {
  IsolationConfig ic;
  auto iso = Isolation::create(ic);
  if (!iso.ok()) {
    std::fprintf(stderr, "isolation: %s\n", iso.error().message.c_str());
    std::exit(1);
  }
  std::vector<int64_t> us;
  for (int i = 0; i < jobs; ++i) {
    SpawnSpec spec;
    spec.argv = lang == Language::JavaScript ? std::vector<std::string>{"/usr/bin/node", "-e", "0"}
                                             : std::vector<std::string>{"/usr/bin/python3", "-I", "-S", "-c", "pass"};
    int64_t t0 = now_us();
    auto child = (*iso)->spawn(spec);
    if (!child.ok()) {
      std::fprintf(stderr, "spawn: %s\n", child.error().message.c_str());
      std::exit(1);
    }
    PumpResult p = (*child)->pump(weft::monotonic_ms() + 30'000, [](std::string_view) { return FrameAction::Continue; });
    int64_t t1 = now_us();
    (*child)->kill_tree();  // outside the timed region, as the pool kills after the answer
    if (p.reason != EndReason::Exited || p.exit_code != 0) {
      std::fprintf(stderr, "bare %s ended %s (%d)\n", to_string(lang), to_string(p.reason), p.exit_code);
      std::exit(1);
    }
    us.push_back(t1 - t0);
  }
  return stats_of(us);
}

Stats bench_cold(Language lang, int jobs) {
  auto pool = make_pool(0, 0);
  std::vector<int64_t> us;
  Job j = trivial_job(lang);
  for (int i = 0; i < jobs; ++i) {
    int64_t t0 = now_us();
    JobResult r = pool->run(j, {});
    int64_t t1 = now_us();
    if (!check(r)) std::exit(1);
    us.push_back(t1 - t0);
  }
  return stats_of(us);
}

Stats bench_warm(Language lang, int jobs) {
  auto pool = make_pool(lang == Language::JavaScript ? 1 : 0, lang == Language::Python ? 1 : 0);
  std::vector<int64_t> us;
  Job j = trivial_job(lang);
  for (int i = 0; i < jobs; ++i) {
    if (!pool->wait_warm(60'000)) {
      std::fprintf(stderr, "no warm sandbox: %s\n", pool->metrics().to_json().dump().c_str());
      std::exit(1);
    }
    int64_t t0 = now_us();
    JobResult r = pool->run(j, {});
    int64_t t1 = now_us();
    if (!check(r) || !r.warm) {
      std::fprintf(stderr, "expected a warm job\n");
      std::exit(1);
    }
    us.push_back(t1 - t0);
  }
  return stats_of(us);
}

struct Throughput {
  double tasks_per_s = 0;
  uint64_t tasks = 0, warm = 0;
  Stats latency;
};

Throughput bench_threads(Language lang, int seconds) {
  auto pool = make_pool(lang == Language::JavaScript ? 2 : 0, lang == Language::Python ? 2 : 0);
  pool->wait_warm(60'000);
  std::atomic<uint64_t> warm{0};
  std::vector<int64_t> lat[2];
  const int64_t t_start = now_us();
  const int64_t t_end = t_start + static_cast<int64_t>(seconds) * 1'000'000;
  std::vector<std::thread> threads;
  std::atomic<bool> failed{false};
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      Job j = trivial_job(lang);
      while (now_us() < t_end && !failed.load()) {
        int64_t t0 = now_us();
        JobResult r = pool->run(j, {});
        int64_t t1 = now_us();
        if (!check(r)) failed = true;
        if (r.warm) ++warm;
        lat[t].push_back(t1 - t0);
      }
    });
  }
  for (auto& th : threads) th.join();
  if (failed.load()) std::exit(1);
  const int64_t elapsed = now_us() - t_start;
  Throughput out;
  std::vector<int64_t> all = lat[0];
  all.insert(all.end(), lat[1].begin(), lat[1].end());
  out.tasks = all.size();
  out.warm = warm.load();
  out.tasks_per_s = static_cast<double>(out.tasks) * 1e6 / static_cast<double>(elapsed);
  out.latency = stats_of(all);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  int jobs = 40;
  int seconds = 10;
  std::string only;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--jobs" && i + 1 < argc) {
      jobs = std::max(1, std::atoi(argv[++i]));
    } else if (a == "--seconds" && i + 1 < argc) {
      seconds = std::max(1, std::atoi(argv[++i]));
    } else if (a == "--only" && i + 1 < argc) {
      only = argv[++i];
    } else {
      std::fprintf(stderr, "usage: %s [--jobs N] [--seconds S] [--only js|py]\n", argv[0]);
      return 2;
    }
  }
  {
    auto probe_pool = make_pool(0, 0);
    std::printf("sandbox: %s\n", probe_pool->probe().to_json().c_str());
  }
  Json out = Json::object();
  std::printf("%-11s %-9s %8s %8s %8s %6s\n", "language", "scenario", "p50 ms", "p99 ms", "mean ms", "n");
  for (Language lang : {Language::JavaScript, Language::Python}) {
    const std::string name = to_string(lang);
    if (!only.empty() && only != (lang == Language::JavaScript ? "js" : "py")) continue;
    Json l = Json::object();
    auto row = [&](const char* scenario, const Stats& s) {
      std::printf("%-11s %-9s %8.2f %8.2f %8.2f %6zu\n", name.c_str(), scenario, s.p50_ms, s.p99_ms, s.mean_ms, s.n);
      std::fflush(stdout);
      Json o = Json::object();
      o.set("p50_ms", s.p50_ms);
      o.set("p99_ms", s.p99_ms);
      o.set("mean_ms", s.mean_ms);
      o.set("n", static_cast<int64_t>(s.n));
      l.set(scenario, std::move(o));
    };
    row("bare", bench_bare(lang, jobs));
    row("cold", bench_cold(lang, jobs));
    row("warm", bench_warm(lang, jobs));
    Throughput t = bench_threads(lang, seconds);
    std::printf("%-11s 2 threads: %.1f tasks/s (%llu tasks in %d s, %llu warm), latency p50 %.2f ms p99 %.2f ms\n",
                name.c_str(), t.tasks_per_s, static_cast<unsigned long long>(t.tasks), seconds,
                static_cast<unsigned long long>(t.warm), t.latency.p50_ms, t.latency.p99_ms);
    std::fflush(stdout);
    Json tj = Json::object();
    tj.set("tasks_per_s", t.tasks_per_s);
    tj.set("tasks", t.tasks);
    tj.set("warm", t.warm);
    tj.set("p50_ms", t.latency.p50_ms);
    tj.set("p99_ms", t.latency.p99_ms);
    l.set("two_threads", std::move(tj));
    out.set(name, std::move(l));
  }
  std::printf("%s\n", out.dump().c_str());
  return 0;
}
