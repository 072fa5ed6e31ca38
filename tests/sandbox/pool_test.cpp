// The sandbox's upper layer against the real thing: the real isolation layer (bubblewrap where it
// works, the launcher always), the real runners and Debian's node and python3. Nothing is mocked;
// no timing is asserted (time limits are only used to make a runaway job end).
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <ostream>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "host/core/ids.hpp"
#include "host/core/json.hpp"
#include "sandbox/pool.hpp"
#include "sandbox/protocol.hpp"

namespace weft {
// gtest prints values with this (ADL): the JSON text rather than bytes.
inline void PrintTo(const Json& j, std::ostream* os) { *os << j.dump(); }
}  // namespace weft

namespace weft::sandbox {
namespace {

Json parse(std::string_view text) {
  auto r = Json::parse(text);
  EXPECT_TRUE(r.ok()) << text;
  return r.ok() ? *r : Json();
}

class ScratchDir {
 public:
  ScratchDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "weft-pool-test-XXXXXX").string();
    char* p = ::mkdtemp(tmpl.data());
    if (p != nullptr) path_ = p;
  }
  ~ScratchDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

PoolConfig config(const std::string& scratch, uint32_t warm_js = 0, uint32_t warm_py = 0) {
  PoolConfig c;
  c.isolation.scratch_root = scratch;
#ifdef WEFT_TEST_RUNNER_DIR
  c.runtime.runner_dir = WEFT_TEST_RUNNER_DIR;
#endif
  // WEFT_TEST_SANDBOX_BWRAP=off runs the suite on the launcher layer alone.
  if (const char* b = ::getenv("WEFT_TEST_SANDBOX_BWRAP"); b != nullptr && std::string(b) == "off") {
    c.isolation.bwrap = BwrapMode::Off;
  }
  c.runtime.warm_javascript = warm_js;
  c.runtime.warm_python = warm_py;
  c.default_timeout_ms = 20'000;
  return c;
}

// Each test process takes a uid range of its own: ctest runs tests as separate processes, maybe at
// once, and slot uids are locked per process.
std::shared_ptr<SandboxPool> start_pool(PoolConfig c) {
  static std::atomic<uint32_t> counter{0};
  Error last("sandbox_unavailable", "no uid range tried");
  for (int attempt = 0; attempt < 16; ++attempt) {
    uint32_t pick = (static_cast<uint32_t>(getpid()) * 131u + counter.fetch_add(1) * 7u + attempt * 977u) % 4000u;
    c.isolation.uid_base = 500000 + pick * 64;
    c.isolation.slots = std::min<uint32_t>(c.isolation.slots, 16);
    auto p = SandboxPool::start(c);
    if (p.ok()) return *p;
    last = p.error();
    if (last.message.find("held by another") == std::string::npos) break;
  }
  ADD_FAILURE() << "the sandbox pool did not start: " << last.code << ": " << last.message;
  return nullptr;
}

Job job(Language lang, std::string code, Json input = Json::array(), Json params = Json::object()) {
  Job j;
  j.language = lang;
  j.code = std::move(code);
  j.input = std::move(input);
  j.params = std::move(params);
  j.context = parse(R"({"execution_id":"e1","workflow_id":"w1","node_id":"n1","owner_id":"u1"})");
  j.timeout_ms = 20'000;
  return j;
}

std::string error_code(const JobResult& r) { return r.error["code"].as_string(); }

std::string show(const JobResult& r) {
  return "ok=" + std::to_string(r.ok) + " value=" + r.value.dump() + " error=" + r.error.dump() +
         " log=" + r.log.dump() + " text=" + r.text.substr(0, 2000);
}

// A pool without warm sandboxes, for most tests (every job starts cold).
class PoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(scratch_.path().empty());
    pool_ = start_pool(config(scratch_.path()));
    ASSERT_NE(pool_, nullptr);
  }
  JobResult run(const Job& j, const HostCallHandler& h = {}) { return pool_->run(j, h); }

  ScratchDir scratch_;
  std::shared_ptr<SandboxPool> pool_;
};

// ---- happy paths -------------------------------------------------------------------------------

TEST_F(PoolTest, JavaScriptItemsParamsAndContextInItemsOut) {
  auto r = run(job(Language::JavaScript,
                   "return items.map((it, i) => ({ ...it, doubled: it.x * 2, tag: params.tag, i,\n"
                   "                               node: $context.node_id, raw: Array.isArray($input) }));",
                   parse(R"([{"x":1},{"x":21}])"), parse(R"({"tag":"t"})")));
  ASSERT_TRUE(r.ok) << show(r);
  EXPECT_EQ(r.value, parse(R"([{"x":1,"doubled":2,"tag":"t","i":0,"node":"n1","raw":true},
                               {"x":21,"doubled":42,"tag":"t","i":1,"node":"n1","raw":true}])"));
  EXPECT_FALSE(r.warm);
  EXPECT_TRUE(r.error.is_null());
}

TEST_F(PoolTest, JavaScriptReturnShapes) {
  // undefined -> the items; an object input becomes [input]; scalars and null are outputs as-is.
  auto a = run(job(Language::JavaScript, "items.push({added: true});", parse(R"({"x":1})")));
  ASSERT_TRUE(a.ok) << show(a);
  EXPECT_EQ(a.value, parse(R"([{"x":1},{"added":true}])"));
  auto b = run(job(Language::JavaScript, "return 42;"));
  ASSERT_TRUE(b.ok) << show(b);
  EXPECT_EQ(b.value, Json(42));
  auto c = run(job(Language::JavaScript, "return [$input, items.length];", Json()));
  ASSERT_TRUE(c.ok) << show(c);
  EXPECT_EQ(c.value, parse("[null, 0]"));
  auto d = run(job(Language::JavaScript, "await new Promise(r => setTimeout(r, 10)); return {s: 'é✓'};"));
  ASSERT_TRUE(d.ok) << show(d);
  EXPECT_EQ(d.value, parse(R"({"s":"é✓"})"));
  // A lone surrogate cannot travel as UTF-8: it arrives as U+FFFD, not as a broken frame.
  auto e = run(job(Language::JavaScript, "return ['\\ud800x'];"));
  ASSERT_TRUE(e.ok) << show(e);
  EXPECT_EQ(e.value, parse(R"(["\ufffdx"])"));
}

TEST_F(PoolTest, PythonItemsParamsAndContextInItemsOut) {
  auto r = run(job(Language::Python,
                   "out = []\n"
                   "for i, it in enumerate(items):\n"
                   "    out.append(dict(it, doubled=it['x'] * 2, tag=params['tag'], i=i,\n"
                   "                    node=context['node_id'], raw=isinstance(input, list)))\n"
                   "return out\n",
                   parse(R"([{"x":1},{"x":21}])"), parse(R"({"tag":"t"})")));
  ASSERT_TRUE(r.ok) << show(r);
  EXPECT_EQ(r.value, parse(R"([{"x":1,"doubled":2,"tag":"t","i":0,"node":"n1","raw":true},
                               {"x":21,"doubled":42,"tag":"t","i":1,"node":"n1","raw":true}])"));
}

TEST_F(PoolTest, PythonReturnShapes) {
  auto a = run(job(Language::Python, "items.append({'added': True})", parse(R"({"x":1})")));
  ASSERT_TRUE(a.ok) << show(a);
  EXPECT_EQ(a.value, parse(R"([{"x":1},{"added":true}])"));
  auto b = run(job(Language::Python, "return 'é✓'"));
  ASSERT_TRUE(b.ok) << show(b);
  EXPECT_EQ(b.value, Json("é✓"));
  auto c = run(job(Language::Python, "return [input, len(items)]", Json()));
  ASSERT_TRUE(c.ok) << show(c);
  EXPECT_EQ(c.value, parse("[null, 0]"));
  auto d = run(job(Language::Python, "import json, math\nreturn {'pi': round(math.pi, 2), 'j': json.dumps([1])}"));
  ASSERT_TRUE(d.ok) << show(d);
  EXPECT_EQ(d.value, parse(R"({"pi":3.14,"j":"[1]"})"));
  auto e = run(job(Language::Python, "return ['\\ud800x']"));
  ASSERT_TRUE(e.ok) << show(e);
  EXPECT_EQ(e.value, parse(R"(["?x"])"));
}

// ---- output capture ----------------------------------------------------------------------------

TEST_F(PoolTest, JavaScriptConsoleGoesToTheLogAndStdoutToText) {
  auto r = run(job(Language::JavaScript,
                   "console.log('hello', {a: 1});\n"
                   "console.warn('careful');\n"
                   "console.error('bad', 2);\n"
                   "weft.log('via weft');\n"
                   "console.log('x'.repeat(20000));\n"
                   "process.stdout.write('direct stdout\\n');\n"
                   "process.stderr.write('direct stderr\\n');\n"
                   "return 1;"));
  ASSERT_TRUE(r.ok) << show(r);
  ASSERT_EQ(r.log.size(), 5u) << r.log.dump();
  EXPECT_EQ(r.log.at(0), parse(R"({"level":"info","msg":"hello { a: 1 }"})"));
  EXPECT_EQ(r.log.at(1), parse(R"({"level":"warn","msg":"careful"})"));
  EXPECT_EQ(r.log.at(2), parse(R"({"level":"error","msg":"bad 2"})"));
  EXPECT_EQ(r.log.at(3), parse(R"({"level":"info","msg":"via weft"})"));
  const std::string& big = r.log.at(4)["msg"].as_string();
  EXPECT_LT(big.size(), 9000u);  // capped near 8 KiB
  EXPECT_NE(big.find("cut]"), std::string::npos);
  EXPECT_NE(r.text.find("direct stdout"), std::string::npos) << r.text;
  EXPECT_NE(r.text.find("direct stderr"), std::string::npos) << r.text;
}

TEST_F(PoolTest, PythonPrintGoesToTheLogAndStdoutToText) {
  auto r = run(job(Language::Python,
                   "import sys, os\n"
                   "print('hello', {'a': 1})\n"
                   "print('bad', 2, file=sys.stderr)\n"
                   "weft.log('via weft', level='warn')\n"
                   "sys.stdout.write('direct stdout\\n')\n"
                   "os.write(1, b'fd one\\n')\n"
                   "return 1\n"));
  ASSERT_TRUE(r.ok) << show(r);
  ASSERT_EQ(r.log.size(), 3u) << r.log.dump();
  EXPECT_EQ(r.log.at(0), parse(R"({"level":"info","msg":"hello {'a': 1}"})"));
  EXPECT_EQ(r.log.at(1), parse(R"({"level":"error","msg":"bad 2"})"));
  EXPECT_EQ(r.log.at(2), parse(R"({"level":"warn","msg":"via weft"})"));
  // fd 1 of the interpreter is not the frame pipe: both land in the captured text.
  EXPECT_NE(r.text.find("direct stdout"), std::string::npos) << r.text;
  EXPECT_NE(r.text.find("fd one"), std::string::npos) << r.text;
}

TEST(PoolLogCaps, TheNodeLogIsCappedWithAMarker) {
  ScratchDir scratch;
  PoolConfig c = config(scratch.path());
  c.max_log_entries = 10;
  auto pool = start_pool(c);
  ASSERT_NE(pool, nullptr);
  auto r = pool->run(job(Language::JavaScript, "for (let i = 0; i < 100; i++) console.log('line', i); return 1;"),
                     {});
  ASSERT_TRUE(r.ok) << show(r);
  ASSERT_EQ(r.log.size(), 11u);
  EXPECT_EQ(r.log.at(9)["msg"], Json("line 9"));
  EXPECT_EQ(r.log.at(10)["level"], Json("warn"));
  EXPECT_NE(r.log.at(10)["msg"].as_string().find("90 log messages dropped"), std::string::npos);
}

// ---- host calls --------------------------------------------------------------------------------

// Echoes "echo", answers "http_request" with a canned response, serves one credential, and refuses
// everything else, recording what it saw.
struct RecordingHandler {
  std::vector<std::string> ops;
  HostCallHandler fn() {
    return [this](std::string_view op, const Json& args) -> Result<Json> {
      ops.emplace_back(op);
      if (op == "echo") return args;
      if (op == "http_request") {
        Json resp = Json::object();
        resp.set("status", 200);
        resp.set("headers", parse(R"({"content-type":"application/json"})"));
        resp.set("body", parse(R"({"hello":"world"})"));
        resp.set("asked", args["url"]);
        return resp;
      }
      if (op == "credential_get") {
        if (args["name"].as_string() == "api") return parse(R"({"token":"t-123"})");
        return Error("not_found", "no credential named '" + args["name"].as_string() + "' on this node");
      }
      return Error("unknown_op", "unknown host call '" + std::string(op) + "'");
    };
  }
};

TEST_F(PoolTest, JavaScriptHostCallsRoundTrip) {
  RecordingHandler h;
  auto r = run(job(Language::JavaScript,
                   "const e = await weft.call('echo', {n: 1, s: 'x'});\n"
                   "const resp = await weft.http({method: 'GET', url: 'https://example.com/a', headers: {}});\n"
                   "const cred = await weft.credential('api');\n"
                   "let missing, unknown;\n"
                   "try { await weft.credential('nope'); } catch (err) { missing = [err.name, err.code, err.message]; }\n"
                   "try { await weft.call('rm_rf', {}); } catch (err) { unknown = err.code; }\n"
                   "const [a, b] = await Promise.all([weft.call('echo', {p: 1}), weft.call('echo', {p: 2})]);\n"
                   "return {e, status: resp.status, body: resp.body, asked: resp.asked, cred, missing, unknown, a, b};"),
               h.fn());
  ASSERT_TRUE(r.ok) << show(r);
  EXPECT_EQ(r.value, parse(R"({"e":{"n":1,"s":"x"},"status":200,"body":{"hello":"world"},
      "asked":"https://example.com/a","cred":{"token":"t-123"},
      "missing":["WeftError","not_found","no credential named 'nope' on this node"],
      "unknown":"unknown_op","a":{"p":1},"b":{"p":2}})"));
  EXPECT_EQ(h.ops, (std::vector<std::string>{"echo", "http_request", "credential_get", "credential_get", "rm_rf",
                                             "echo", "echo"}));
}

TEST_F(PoolTest, PythonHostCallsRoundTrip) {
  RecordingHandler h;
  auto r = run(job(Language::Python,
                   "e = weft.call('echo', {'n': 1})\n"
                   "resp = weft.http({'method': 'POST', 'url': 'https://example.com/b', 'body': {'q': 1}})\n"
                   "cred = weft.credential('api')\n"
                   "try:\n"
                   "    weft.credential('nope')\n"
                   "except weft.Error as err:\n"
                   "    missing = [type(err).__name__, err.code, str(err)]\n"
                   "return {'e': e, 'status': resp['status'], 'asked': resp['asked'], 'cred': cred, 'missing': missing}\n"),
               h.fn());
  ASSERT_TRUE(r.ok) << show(r);
  EXPECT_EQ(r.value, parse(R"({"e":{"n":1},"status":200,"asked":"https://example.com/b","cred":{"token":"t-123"},
      "missing":["WeftError","not_found","no credential named 'nope' on this node"]})"));
  EXPECT_EQ(h.ops, (std::vector<std::string>{"echo", "http_request", "credential_get", "credential_get"}));
}

TEST_F(PoolTest, HostCallsWithoutAHandlerAreRefusedNotFatal) {
  auto r = run(job(Language::JavaScript,
                   "try { await weft.http({url: 'https://x'}); } catch (e) { return e.code; }"));
  ASSERT_TRUE(r.ok) << show(r);
  EXPECT_EQ(r.value, Json("unsupported"));
}

TEST_F(PoolTest, AnUncaughtHostCallErrorPointsAtTheUsersLine) {
  RecordingHandler h;
  auto r = run(job(Language::JavaScript, "const a = 1;\n\nawait weft.credential('nope');\n"), h.fn());
  ASSERT_FALSE(r.ok);
  EXPECT_EQ(error_code(r), "code_error");
  EXPECT_EQ(r.error["details"]["name"], Json("WeftError"));
  EXPECT_EQ(r.error["details"]["code"], Json("not_found"));
  EXPECT_EQ(r.error["details"]["line"], Json(3)) << show(r);
}

TEST(PoolHostCalls, AFloodOfCallsIsBounded) {
  ScratchDir scratch;
  PoolConfig c = config(scratch.path());
  c.max_host_calls = 50;
  auto pool = start_pool(c);
  ASSERT_NE(pool, nullptr);
  std::atomic<int> calls{0};
  HostCallHandler h = [&](std::string_view, const Json&) -> Result<Json> {
    ++calls;
    return Json();
  };
  auto js = pool->run(job(Language::JavaScript,
                          "const ps = []; for (let i = 0; i < 100000; i++) ps.push(weft.call('echo', {i}));\n"
                          "await Promise.all(ps); return 1;"),
                      h);
  EXPECT_FALSE(js.ok);
  EXPECT_EQ(error_code(js), "output_limit") << show(js);
  EXPECT_LE(calls.load(), 50);
  auto py = pool->run(job(Language::Python, "while True:\n    weft.call('echo', {})\n"), h);
  EXPECT_EQ(error_code(py), "output_limit") << show(py);
  EXPECT_EQ(pool->metrics().kills, 2u);
}

// ---- errors with the user's line numbers -------------------------------------------------------

TEST_F(PoolTest, JavaScriptSyntaxErrorReportsTheUsersLineAndColumn) {
  auto r = run(job(Language::JavaScript, "const a = 1;\nconst b = 2;\nconst c = ;\nreturn a;\n"));
  ASSERT_FALSE(r.ok);
  EXPECT_EQ(error_code(r), "code_error") << show(r);
  EXPECT_EQ(r.error["details"]["name"], Json("SyntaxError"));
  EXPECT_EQ(r.error["details"]["line"], Json(3)) << show(r);
  EXPECT_EQ(r.error["details"]["column"], Json(11)) << show(r);
  EXPECT_NE(r.error["message"].as_string().find("line 3"), std::string::npos);
  // An unclosed block is reported at the end of the user's code, not on the wrapper's line.
  auto u = run(job(Language::JavaScript, "if (items.length) {\n  return 1;\n"));
  EXPECT_EQ(u.error["details"]["name"], Json("SyntaxError")) << show(u);
  EXPECT_EQ(u.error["details"]["line"], Json(3)) << show(u);
}

TEST_F(PoolTest, JavaScriptRuntimeErrorReportsTheUsersLineAndColumn) {
  auto r = run(job(Language::JavaScript,
                   "const a = 1;\n"
                   "function helper(x) {\n"
                   "  return x.missing.deeper;\n"
                   "}\n"
                   "const b = 2;\n"
                   "return helper({});\n"));
  ASSERT_FALSE(r.ok);
  EXPECT_EQ(error_code(r), "code_error");
  EXPECT_EQ(r.error["details"]["name"], Json("TypeError"));
  EXPECT_EQ(r.error["details"]["line"], Json(3)) << show(r);
  EXPECT_EQ(r.error["details"]["column"], Json(20)) << show(r);
  const std::string& stack = r.error["details"]["stack"].as_string();
  EXPECT_NE(stack.find("code.js:6:"), std::string::npos) << stack;  // the caller's frame too
  EXPECT_EQ(stack.find("runner.js"), std::string::npos) << stack;   // never the runner's frames
  auto t = run(job(Language::JavaScript, "\n\n\n\n    throw new RangeError('five');\n"));
  EXPECT_EQ(t.error["details"]["name"], Json("RangeError"));
  EXPECT_EQ(t.error["details"]["line"], Json(5)) << show(t);
  EXPECT_EQ(t.error["details"]["column"], Json(11)) << show(t);
  EXPECT_EQ(t.error["message"], Json("RangeError: five (line 5, column 11)"));
}

TEST_F(PoolTest, PythonSyntaxErrorReportsTheUsersLineAndColumn) {
  auto r = run(job(Language::Python, "a = 1\nb = 2\nc = (a +\nreturn c\n"));
  ASSERT_FALSE(r.ok);
  EXPECT_EQ(error_code(r), "code_error");
  EXPECT_EQ(r.error["details"]["name"], Json("SyntaxError"));
  EXPECT_EQ(r.error["details"]["line"], Json(3)) << show(r);
  EXPECT_EQ(r.error["details"]["column"], Json(5)) << show(r);
  auto i = run(job(Language::Python, "a = 1\nif a:\nreturn 2\n"));
  EXPECT_EQ(i.error["details"]["name"], Json("IndentationError")) << show(i);
  EXPECT_EQ(i.error["details"]["line"], Json(3)) << show(i);
}

TEST_F(PoolTest, PythonRuntimeErrorReportsTheUsersLineAndColumn) {
  auto r = run(job(Language::Python,
                   "a = 1\n"
                   "def helper(x):\n"
                   "    return x['missing']\n"
                   "b = 2\n"
                   "return helper({})\n"));
  ASSERT_FALSE(r.ok);
  EXPECT_EQ(error_code(r), "code_error");
  EXPECT_EQ(r.error["details"]["name"], Json("KeyError"));
  EXPECT_EQ(r.error["details"]["line"], Json(3)) << show(r);
  EXPECT_EQ(r.error["details"]["column"], Json(12)) << show(r);
  const std::string& stack = r.error["details"]["stack"].as_string();
  EXPECT_NE(stack.find("line 5"), std::string::npos) << stack;
  EXPECT_NE(stack.find("return x['missing']"), std::string::npos) << stack;  // the user's source line
  EXPECT_EQ(stack.find("runner.py"), std::string::npos) << stack;
  auto t = run(job(Language::Python, "\n\n\n\nraise ValueError('five')\n"));
  EXPECT_EQ(t.error["details"]["line"], Json(5)) << show(t);
  EXPECT_EQ(t.error["message"], Json("ValueError: five (line 5, column 1)"));
}

TEST_F(PoolTest, NonSerialisableReturnValuesAreClearErrors) {
  auto js = run(job(Language::JavaScript, "const a = {}; a.self = a; return a;"));
  EXPECT_EQ(error_code(js), "code_error");
  EXPECT_NE(js.error["message"].as_string().find("not JSON-serialisable"), std::string::npos) << show(js);
  auto fn = run(job(Language::JavaScript, "return () => 1;"));
  EXPECT_NE(fn.error["message"].as_string().find("not JSON-serialisable"), std::string::npos) << show(fn);
  auto big = run(job(Language::JavaScript, "return 10n;"));
  EXPECT_NE(big.error["message"].as_string().find("not JSON-serialisable"), std::string::npos) << show(big);
  auto py = run(job(Language::Python, "return {1, 2}"));
  EXPECT_EQ(error_code(py), "code_error");
  EXPECT_NE(py.error["message"].as_string().find("not JSON-serialisable"), std::string::npos) << show(py);
  auto nan = run(job(Language::Python, "return float('nan')"));
  EXPECT_NE(nan.error["message"].as_string().find("not JSON-serialisable"), std::string::npos) << show(nan);
}

TEST_F(PoolTest, ExitingWithoutAnAnswerIsAnError) {
  auto js = run(job(Language::JavaScript, "process.exit(0);"));
  EXPECT_EQ(error_code(js), "code_error") << show(js);
  auto never = run(job(Language::JavaScript, "await new Promise(() => {});"));
  EXPECT_EQ(error_code(never), "code_error") << show(never);
  EXPECT_NE(never.error["message"].as_string().find("never settled"), std::string::npos);
  auto py = run(job(Language::Python, "import sys\nsys.exit(3)\n"));
  EXPECT_EQ(error_code(py), "code_error") << show(py);
  auto hard = run(job(Language::Python, "import os\nos._exit(3)\n"));
  EXPECT_EQ(error_code(hard), "killed") << show(hard);
}

// ---- limits ------------------------------------------------------------------------------------

TEST_F(PoolTest, AnInfiniteLoopIsKilledAtTheDeadline) {
  for (Language lang : {Language::JavaScript, Language::Python}) {
    Job j = job(lang, lang == Language::JavaScript ? "while (true) {}" : "while True:\n    pass\n");
    j.timeout_ms = 1500;
    auto r = run(j);
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(error_code(r), "timeout") << show(r);
  }
  auto m = pool_->metrics();
  EXPECT_EQ(m.timeouts, 2u);
  EXPECT_EQ(m.kills, 2u);
  EXPECT_EQ(m.javascript.timeouts, 1u);
  EXPECT_EQ(m.python.timeouts, 1u);
}

TEST_F(PoolTest, AMemoryBombHitsTheMemoryLimit) {
  ResourceLimits asked;
  asked.memory_bytes = 256ll << 20;
  int64_t timeout = 30'000;
  ResourceLimits limits = pool_->clamp_limits(asked, timeout);
  Job js = job(Language::JavaScript, "const keep = [];\nwhile (true) keep.push(new Array(1e6).fill(1.5));\n");
  js.limits = limits;
  js.timeout_ms = timeout;
  auto a = run(js);
  EXPECT_EQ(error_code(a), "memory_limit") << show(a);
  Job py = job(Language::Python, "keep = []\nwhile True:\n    keep.append(bytearray(50 * 1024 * 1024))\n");
  py.limits = limits;
  py.timeout_ms = timeout;
  auto b = run(py);
  EXPECT_EQ(error_code(b), "memory_limit") << show(b);
  EXPECT_EQ(b.error["details"]["line"], Json(3)) << show(b);
  EXPECT_EQ(pool_->metrics().javascript.memory_limits, 1u);
  EXPECT_EQ(pool_->metrics().python.memory_limits, 1u);
}

TEST(PoolOutput, HugeOutputIsCutOffWithOutputLimit) {
  ScratchDir scratch;
  PoolConfig c = config(scratch.path());
  c.io.max_text_total_bytes = 2u << 20;
  c.io.max_frame_bytes = 1u << 20;
  auto pool = start_pool(c);
  ASSERT_NE(pool, nullptr);
  // Raw text without a newline, far over the text cap.
  auto js = pool->run(job(Language::JavaScript, "const s = 'x'.repeat(1 << 20); while (true) process.stdout.write(s);"),
                      {});
  EXPECT_EQ(error_code(js), "output_limit") << show(js);
  EXPECT_LE(js.text.size(), c.io.max_text_bytes + 256);
  auto py = pool->run(job(Language::Python, "import sys\ns = 'y' * (1 << 20)\nwhile True:\n    sys.stdout.write(s)\n"),
                      {});
  EXPECT_EQ(error_code(py), "output_limit") << show(py);
  // A return value over the frame cap.
  auto ret = pool->run(job(Language::Python, "return 'z' * (3 << 20)"), {});
  EXPECT_EQ(error_code(ret), "output_limit") << show(ret);
  EXPECT_EQ(pool->metrics().kills, 3u);
}

TEST_F(PoolTest, GarbageOnTheFramePipeIsAProtocolError) {
  // Node cannot dup2, so code that writes to fd 1 itself hits the frame pipe.
  auto js = run(job(Language::JavaScript, "require('fs').writeSync(1, 'this is not json\\n'); return 1;"));
  EXPECT_EQ(error_code(js), "protocol_error") << show(js);
  // Python moved fd 1 away; code that digs out the runner's private frame descriptor gets the same.
  auto py = run(job(Language::Python, "import os, __main__\nos.write(__main__.FRAME_FD, b'{\"t\":\"bogus\"}\\n')\nreturn 1\n"));
  EXPECT_EQ(error_code(py), "protocol_error") << show(py);
  auto half = run(job(Language::Python, "import os, __main__\nos.write(__main__.FRAME_FD, b'[1,2]\\n')\nreturn 1\n"));
  EXPECT_EQ(error_code(half), "protocol_error") << show(half);
  EXPECT_EQ(pool_->metrics().failures, 3u);
}

TEST_F(PoolTest, CancellationKillsTheJob) {
  std::atomic<bool> cancel{false};
  std::thread t([&] {
    // Cancel once the job is running (busy), whatever the machine's speed.
    while (pool_->metrics().busy == 0) std::this_thread::yield();
    cancel = true;
  });
  auto r = pool_->run(job(Language::Python, "while True:\n    pass\n"), {}, [&] { return cancel.load(); });
  t.join();
  EXPECT_EQ(error_code(r), "cancelled") << show(r);
  EXPECT_EQ(pool_->metrics().python.cancelled, 1u);
}

TEST_F(PoolTest, ClampLimitsCapsAndRaisesToFloors) {
  ResourceLimits asked;
  asked.cpu_ms = 10'000'000;
  asked.memory_bytes = 1;
  asked.max_processes = 1'000'000;
  int64_t timeout = 0;
  ResourceLimits l = pool_->clamp_limits(asked, timeout);
  EXPECT_EQ(l.cpu_ms, 60'000);
  EXPECT_EQ(l.memory_bytes, 64ll << 20);
  EXPECT_EQ(l.max_processes, 256);
  EXPECT_EQ(timeout, 20'000);
  timeout = 10'000'000;
  (void)pool_->clamp_limits(asked, timeout);
  EXPECT_EQ(timeout, 300'000);
}

// ---- custom nodes ------------------------------------------------------------------------------

constexpr const char* kJsNode = R"(// A Trello-like custom node.
const BASE = 'https://api.trello.com/1';
module.exports = {
  name: 'trello_card',
  displayName: 'Trello card',
  description: 'Creates a card',
  fields: [{ name: 'list', type: 'string', required: true }],
  inputs: [{ name: 'main', type: 'json' }],
  outputs: [{ name: 'main', type: 'json' }],
  credentialTypes: [{ name: 'trello', fields: [{ name: 'key', type: 'string', secret: true }] }],
  execute: async (items, params, weft) => {
    const cred = await weft.credential('trello');
    weft.log('creating', items.length, 'cards');
    if (params.fail) {
      throw new Error('asked to fail');
    }
    return items.map(it => ({ ...it, list: params.list, key: cred.key, url: BASE }));
  },
};
)";

constexpr const char* kPyNode = R"(# A Trello-like custom node.
BASE = "https://api.trello.com/1"
NODE = {
    "name": "trello_card",
    "displayName": "Trello card",
    "fields": [{"name": "list", "type": "string", "required": True}],
    "credentialTypes": [{"name": "trello"}],
}

def execute(items, params, weft):
    cred = weft.credential("trello")
    print("creating", len(items), "cards")
    if params.get("fail"):
        raise RuntimeError("asked to fail")
    return [dict(it, list=params["list"], key=cred["key"], url=BASE) for it in items]
)";

HostCallHandler trello_credentials() {
  return [](std::string_view op, const Json& args) -> Result<Json> {
    if (op == "credential_get" && args["name"].as_string() == "trello") return parse(R"({"key":"k-1"})");
    return Error("not_found", "no such credential");
  };
}

TEST_F(PoolTest, JavaScriptCustomNodeDescribeAndRun) {
  Job d = job(Language::JavaScript, kJsNode);
  d.mode = "describe";
  auto r = run(d);
  ASSERT_TRUE(r.ok) << show(r);
  EXPECT_EQ(r.value, parse(R"({"name":"trello_card","displayName":"Trello card","description":"Creates a card",
      "fields":[{"name":"list","type":"string","required":true}],
      "inputs":[{"name":"main","type":"json"}],"outputs":[{"name":"main","type":"json"}],
      "credentialTypes":[{"name":"trello","fields":[{"name":"key","type":"string","secret":true}]}]})"));
  Job x = job(Language::JavaScript, kJsNode, parse(R"([{"title":"a"}])"), parse(R"({"list":"todo"})"));
  x.custom_node = true;
  auto e = run(x, trello_credentials());
  ASSERT_TRUE(e.ok) << show(e);
  EXPECT_EQ(e.value, parse(R"([{"title":"a","list":"todo","key":"k-1","url":"https://api.trello.com/1"}])"));
  EXPECT_EQ(e.log, parse(R"([{"level":"info","msg":"creating 1 cards"}])"));
  x.params = parse(R"({"list":"todo","fail":true})");
  auto f = run(x, trello_credentials());
  EXPECT_EQ(error_code(f), "code_error");
  EXPECT_EQ(f.error["details"]["line"], Json(15)) << show(f);
  // A file without execute is refused at describe time.
  Job bad = job(Language::JavaScript, "module.exports = { name: 'x' };");
  bad.mode = "describe";
  auto b = run(bad);
  EXPECT_EQ(error_code(b), "code_error");
  EXPECT_NE(b.error["message"].as_string().find("execute"), std::string::npos) << show(b);
  Job syn = job(Language::JavaScript, "module.exports = {\n  name: 'x',\n  execute: async () => {\n};\n");
  syn.mode = "describe";
  auto s = run(syn);
  EXPECT_EQ(s.error["details"]["name"], Json("SyntaxError")) << show(s);
  EXPECT_EQ(s.error["details"]["line"], Json(4)) << show(s);
}

TEST_F(PoolTest, PythonCustomNodeDescribeAndRun) {
  Job d = job(Language::Python, kPyNode);
  d.mode = "describe";
  auto r = run(d);
  ASSERT_TRUE(r.ok) << show(r);
  EXPECT_EQ(r.value, parse(R"({"name":"trello_card","displayName":"Trello card",
      "fields":[{"name":"list","type":"string","required":true}],"credentialTypes":[{"name":"trello"}]})"));
  Job x = job(Language::Python, kPyNode, parse(R"([{"title":"a"}])"), parse(R"({"list":"todo"})"));
  x.custom_node = true;
  auto e = run(x, trello_credentials());
  ASSERT_TRUE(e.ok) << show(e);
  EXPECT_EQ(e.value, parse(R"([{"title":"a","list":"todo","key":"k-1","url":"https://api.trello.com/1"}])"));
  EXPECT_EQ(e.log, parse(R"([{"level":"info","msg":"creating 1 cards"}])"));
  x.params = parse(R"({"list":"todo","fail":true})");
  auto f = run(x, trello_credentials());
  EXPECT_EQ(error_code(f), "code_error");
  EXPECT_EQ(f.error["details"]["name"], Json("RuntimeError"));
  EXPECT_EQ(f.error["details"]["line"], Json(14)) << show(f);
  Job bad = job(Language::Python, "def execute(items, params, weft):\n    return items\n");
  bad.mode = "describe";
  auto b = run(bad);
  EXPECT_EQ(error_code(b), "code_error");
  EXPECT_NE(b.error["message"].as_string().find("NODE"), std::string::npos) << show(b);
  Job syn = job(Language::Python, "NODE = {\n  'name': 'x',\n\ndef execute(items, params, weft):\n    return items\n");
  syn.mode = "describe";
  auto s = run(syn);
  EXPECT_EQ(s.error["details"]["name"], Json("SyntaxError")) << show(s);
  EXPECT_EQ(s.error["details"]["line"], Json(1)) << show(s);
}

// ---- the warm pool -----------------------------------------------------------------------------

class WarmPoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pool_ = start_pool(config(scratch_.path(), 1, 1));
    ASSERT_NE(pool_, nullptr);
    ASSERT_TRUE(pool_->wait_warm(60'000)) << pool_->metrics().to_json().dump();
  }
  ScratchDir scratch_;
  std::shared_ptr<SandboxPool> pool_;
};

TEST_F(WarmPoolTest, WarmHitsColdStartsAndMetrics) {
  auto m0 = pool_->metrics();
  EXPECT_EQ(m0.warm_ready_javascript, 1u);
  EXPECT_EQ(m0.warm_ready_python, 1u);
  auto a = pool_->run(job(Language::JavaScript, "return 1;"), {});
  ASSERT_TRUE(a.ok) << show(a);
  EXPECT_TRUE(a.warm);
  auto b = pool_->run(job(Language::Python, "return 2"), {});
  ASSERT_TRUE(b.ok) << show(b);
  EXPECT_TRUE(b.warm);
  // Different limits than the warm sandboxes were started with: a cold start.
  ASSERT_TRUE(pool_->wait_warm(60'000));
  Job other = job(Language::JavaScript, "return 3;");
  other.limits.memory_bytes = 300ll << 20;
  auto c = pool_->run(other, {});
  ASSERT_TRUE(c.ok) << show(c);
  EXPECT_FALSE(c.warm);
  // Networked jobs never take a warm (network-less) sandbox.
  Job net = job(Language::Python, "return 4");
  net.network = true;
  auto d = pool_->run(net, {});
  ASSERT_TRUE(d.ok) << show(d);
  EXPECT_FALSE(d.warm);
  auto m = pool_->metrics();
  EXPECT_EQ(m.warm_hits, 2u);
  EXPECT_EQ(m.cold_starts, 2u);
  EXPECT_EQ(m.javascript.warm_hits, 1u);
  EXPECT_EQ(m.javascript.cold_starts, 1u);
  EXPECT_EQ(m.python.warm_hits, 1u);
  EXPECT_EQ(m.python.cold_starts, 1u);
  EXPECT_EQ(m.jobs_javascript, 2u);
  EXPECT_EQ(m.jobs_python, 2u);
  EXPECT_EQ(m.busy, 0u);
  // Each warm sandbox served one job and was replaced.
  ASSERT_TRUE(pool_->wait_warm(60'000));
  EXPECT_EQ(pool_->metrics().javascript.warm_started, 2u);
  Json j = pool_->metrics().to_json();
  EXPECT_EQ(j["python"]["warm_hits"], Json(1));
}

TEST_F(WarmPoolTest, NothingCarriesOverFromOneJobToTheNext) {
  const std::string marker = "/tmp/weft-leftover-" + new_id();
  const std::string js1 =
      "require('fs').writeFileSync('" + marker + "', 'secret');\n"
      "globalThis.leftover = 'secret'; process.env.LEFTOVER = 'secret';\n"
      "return require('fs').existsSync('" + marker + "');";
  const std::string js2 =
      "return [require('fs').existsSync('" + marker + "'), typeof globalThis.leftover,\n"
      "        process.env.LEFTOVER === undefined];";
  for (int round = 0; round < 2; ++round) {  // warm, then cold
    ASSERT_TRUE(pool_->wait_warm(60'000));
    Job one = job(Language::JavaScript, js1);
    if (round == 1) one.limits.max_open_files = 33;  // a cold start
    auto a = pool_->run(one, {});
    ASSERT_TRUE(a.ok) << show(a);
    EXPECT_EQ(a.value, Json(true));
    EXPECT_EQ(a.warm, round == 0);
    ASSERT_TRUE(pool_->wait_warm(60'000));
    auto b = pool_->run(job(Language::JavaScript, js2), {});
    ASSERT_TRUE(b.ok) << show(b);
    EXPECT_TRUE(b.warm);
    EXPECT_EQ(b.value, parse(R"([false, "undefined", true])"));
  }
  const std::string py1 =
      "import os, builtins\nopen('" + marker + "', 'w').write('secret')\n"
      "builtins.leftover = 'secret'\nos.environ['LEFTOVER'] = 'secret'\n"
      "return os.path.exists('" + marker + "')\n";
  const std::string py2 =
      "import os, builtins\n"
      "return [os.path.exists('" + marker + "'), hasattr(builtins, 'leftover'), 'LEFTOVER' in os.environ]\n";
  ASSERT_TRUE(pool_->wait_warm(60'000));
  auto c = pool_->run(job(Language::Python, py1), {});
  ASSERT_TRUE(c.ok) << show(c);
  EXPECT_EQ(c.value, Json(true));
  ASSERT_TRUE(pool_->wait_warm(60'000));
  auto d = pool_->run(job(Language::Python, py2), {});
  ASSERT_TRUE(d.ok) << show(d);
  EXPECT_TRUE(d.warm);
  EXPECT_EQ(d.value, parse("[false, false, false]"));
  EXPECT_FALSE(std::filesystem::exists(marker));  // and the host's /tmp never saw it
}

TEST_F(WarmPoolTest, ConcurrentJobsFromTwoThreads) {
  constexpr int kPerThread = 6;
  std::atomic<int> good{0};
  std::vector<std::string> problems[2];
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        Language lang = (i + t) % 2 == 0 ? Language::JavaScript : Language::Python;
        const int64_t n = t * 100 + i;
        Json input = Json::array();
        input.push_back(Json(n));
        auto r = pool_->run(job(lang, "return items[0] * 2" + std::string(lang == Language::JavaScript ? ";" : ""), input),
                            {});
        if (r.ok && r.value == Json(n * 2)) {
          ++good;
        } else {
          problems[t].push_back(show(r));
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  for (auto& p : problems) EXPECT_TRUE(p.empty()) << p.front();
  EXPECT_EQ(good.load(), 2 * kPerThread);
  auto m = pool_->metrics();
  EXPECT_EQ(m.jobs_javascript + m.jobs_python, 2u * kPerThread);
  EXPECT_EQ(m.warm_hits + m.cold_starts, 2u * kPerThread);
  EXPECT_EQ(m.busy, 0u);
}

TEST(PoolShutdown, ShutdownWithAJobRunningLetsItFinishAndRefusesNewJobs) {
  ScratchDir scratch;
  auto pool = start_pool(config(scratch.path(), 1, 1));
  ASSERT_NE(pool, nullptr);
  ASSERT_TRUE(pool->wait_warm(60'000));
  JobResult running;
  std::thread t([&] {
    running = pool->run(job(Language::JavaScript, "await new Promise(r => setTimeout(r, 1500)); return 'done';"), {});
  });
  while (pool->metrics().busy == 0) std::this_thread::yield();
  pool->shutdown();
  auto m = pool->metrics();
  EXPECT_EQ(m.warm_ready_javascript + m.warm_ready_python, 0u);
  auto refused = pool->run(job(Language::Python, "return 1"), {});
  EXPECT_EQ(error_code(refused), "sandbox_unavailable") << show(refused);
  t.join();
  EXPECT_TRUE(running.ok) << show(running);
  EXPECT_EQ(running.value, Json("done"));
  pool->shutdown();  // idempotent
  pool.reset();      // the destructor after an explicit shutdown
}

TEST(PoolShutdown, DestroyingAPoolWhileWarmSandboxesStartIsClean) {
  ScratchDir scratch;
  for (int i = 0; i < 3; ++i) {
    auto pool = start_pool(config(scratch.path(), 2, 2));
    ASSERT_NE(pool, nullptr);
  }  // destroyed at once, refills mid-start
  SUCCEED();
}

TEST(PoolSlots, AJobFindingEverySlotTakenIsSandboxBusy) {
  ScratchDir scratch;
  PoolConfig c = config(scratch.path());
  c.isolation.slots = 1;
  auto pool = start_pool(c);
  ASSERT_NE(pool, nullptr);
  JobResult first;
  std::thread t([&] {
    first = pool->run(job(Language::Python, "import time\ntime.sleep(1.5)\nreturn 'slept'\n"), {});
  });
  while (pool->metrics().busy == 0) std::this_thread::yield();
  auto second = pool->run(job(Language::Python, "return 1"), {});
  t.join();
  EXPECT_EQ(error_code(second), "sandbox_busy") << show(second);
  EXPECT_TRUE(first.ok) << show(first);
  EXPECT_EQ(pool->metrics().python.failures, 1u);
}

TEST(PoolStart, AMissingRunnerDirectoryIsSandboxUnavailable) {
  ScratchDir scratch;
  PoolConfig c = config(scratch.path());
  c.runtime.runner_dir = scratch.path() + "/nothing-here";
  auto p = SandboxPool::start(c);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.error().code, "sandbox_unavailable");
}

TEST(PoolLanguage, ParseLanguage) {
  EXPECT_EQ(*parse_language("js"), Language::JavaScript);
  EXPECT_EQ(*parse_language("javascript"), Language::JavaScript);
  EXPECT_EQ(*parse_language("py"), Language::Python);
  EXPECT_EQ(*parse_language("python"), Language::Python);
  EXPECT_FALSE(parse_language("ruby").ok());
  EXPECT_STREQ(to_string(Language::Python), "python");
}

}  // namespace
}  // namespace weft::sandbox
