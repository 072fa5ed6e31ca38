// Google Benchmark scenarios for the in-process engine (guides/BENCHMARKS.md):
//   B1 chain10  — 10 nodes each x = x + 1, compiled once, executed in a loop:
//                 (a) no persistence, (b) durable on SQLite with the product's default settings
//   B8 growth   — compile, and execute, chains of 10 .. 10,000 nodes
// Run: ./build/weft_bench   (see bench/README.md for the peer comparison)
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "host/app/host.hpp"
#include "host/core/call.hpp"
#include "host/core/ids.hpp"

using weft::Json;

namespace {

std::string chain(size_t n) {
  std::string s = R"({"name":"chain","settings":{"timeout_seconds":3600},"nodes":[{"id":"start","type":"core.manual_trigger","position":{"x":0,"y":0},"data":{}})";
  for (size_t i = 0; i < n; ++i)
    s += R"(,{"id":"n)" + std::to_string(i) +
         R"(","type":"core.set","position":{"x":0,"y":0},"data":{"parameters":{"fields":{"x":"{{ $json.x + 1 }}"}}}})";
  s += R"(],"edges":[)";
  for (size_t i = 0; i < n; ++i) {
    std::string src = i == 0 ? "start" : "n" + std::to_string(i - 1);
    s += (i ? "," : "") + std::string(R"({"id":"e)") + std::to_string(i) + R"(","source":")" + src +
         R"(","target":"n)" + std::to_string(i) + R"("})";
  }
  return s + "]}";
}

// One host for the whole benchmark binary: plugins loaded once, SQLite in a temp dir.
struct Env {
  std::string dir;
  std::unique_ptr<weft::app::Host> host;
  Env() {
    char tmpl[] = "/tmp/weft-bench-XXXXXX";
    dir = mkdtemp(tmpl);
    weft::app::Config c;
    c.database = "sqlite:" + dir + "/weft.db";  // product defaults: WAL, synchronous=NORMAL
    c.plugin_dirs = {WEFT_BENCH_PLUGIN_DIR};
    auto h = weft::app::Host::open(c);
    if (!h.ok()) {
      std::fprintf(stderr, "bench: cannot open host: %s\n", h.error().message.c_str());
      std::exit(1);
    }
    host = std::move(*h);
  }
  ~Env() {
    host.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
};
Env& env() {
  static Env e;
  return e;
}

weft::compiler::PlanPtr compile(const std::string& text) {
  weft::compiler::CompileOptions co;
  co.workflow_id = "bench";
  co.max_nodes = 20000;
  auto r = env().host->compiler().compile_text(text, co);
  if (!r.ok()) {
    std::fprintf(stderr, "bench: compile failed: %s\n", r.errors_json().dump().c_str());
    std::exit(1);
  }
  return r.plan;
}

// B1 (a): the engine alone, no persistence.
void BM_B1_Chain10_NoPersistence(benchmark::State& state) {
  auto plan = compile(chain(10));
  weft::executor::ExecutorOptions eo;
  eo.persist = false;
  weft::executor::Executor ex(nullptr, std::make_shared<weft::executor::ThreadPool>(2), nullptr, eo);
  weft::store::ExecutionRecord rec;
  rec.id = "bench";
  rec.workflow_id = "bench";
  rec.input = Json::parse(R"({"x":0})").value();
  for (auto _ : state) {
    auto r = ex.run(rec, plan);
    if (r.outcome != weft::executor::RunOutcome::Succeeded || r.output["x"].as_int() != 10) {
      state.SkipWithError("wrong result");
      break;
    }
  }
  // Seconds per node (10 adding nodes per execution; the trigger's cost counts as overhead).
  state.counters["per_node"] =
      benchmark::Counter(10, benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

// B1 (b): durable on SQLite: every node's result, log and events committed before the next node.
void BM_B1_Chain10_DurableSqlite(benchmark::State& state) {
  auto& h = *env().host;
  auto def = Json::parse(chain(10)).value();
  auto wf = h.store()->save_workflow("", "bench-chain10", "chain10", def);
  if (!wf.ok()) {
    state.SkipWithError(wf.error().message.c_str());
    return;
  }
  for (auto _ : state) {
    weft::store::NewExecution ne;
    ne.workflow_id = wf->id;
    ne.workflow_version = wf->version;
    ne.definition = def;
    ne.input = Json::parse(R"({"x":0})").value();
    ne.mode = "sync";
    ne.claim_owner = h.workers().worker_id();
    auto exec = h.store()->create_execution(ne);
    auto r = h.workers().run_claimed(*exec);
    if (r.outcome != weft::executor::RunOutcome::Succeeded || r.output["x"].as_int() != 10) {
      state.SkipWithError("wrong result");
      break;
    }
  }
  state.counters["per_node"] =
      benchmark::Counter(10, benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

// B8: compile cost of chains of N nodes.
void BM_B8_Compile(benchmark::State& state) {
  std::string text = chain(static_cast<size_t>(state.range(0)));
  auto def = Json::parse(text).value();
  weft::compiler::CompileOptions co;
  co.workflow_id = "bench";
  co.max_nodes = 20000;
  for (auto _ : state) {
    auto r = env().host->compiler().compile(def, co);
    benchmark::DoNotOptimize(r.plan);
  }
  state.SetComplexityN(state.range(0));
}

// B8: execute (no persistence) chains of N nodes.
void BM_B8_Execute(benchmark::State& state) {
  auto plan = compile(chain(static_cast<size_t>(state.range(0))));
  weft::executor::ExecutorOptions eo;
  eo.persist = false;
  weft::executor::Executor ex(nullptr, std::make_shared<weft::executor::ThreadPool>(2), nullptr, eo);
  weft::store::ExecutionRecord rec;
  rec.id = "bench";
  rec.input = Json::parse(R"({"x":0})").value();
  for (auto _ : state) {
    auto r = ex.run(rec, plan);
    benchmark::DoNotOptimize(r.output);
  }
  state.SetComplexityN(state.range(0));
}

}  // namespace

BENCHMARK(BM_B1_Chain10_NoPersistence)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_B1_Chain10_DurableSqlite)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_B8_Compile)->RangeMultiplier(10)->Range(10, 10000)->Unit(benchmark::kMillisecond)->Complexity(benchmark::oN);
BENCHMARK(BM_B8_Execute)->RangeMultiplier(10)->Range(10, 10000)->Unit(benchmark::kMillisecond)->Complexity(benchmark::oN);

BENCHMARK_MAIN();
