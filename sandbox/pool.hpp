// The sandbox's upper layer: language runners, the job protocol, host calls and the warm pool.
//
// A job runs in a sandbox that served nobody before and serves nobody after: the pool keeps
// pre-started interpreters (runner loaded, waiting for their single job) per language, hands one
// to a job, and kills it with its whole tree afterwards, then starts a replacement in the
// background. So nothing of one user's job (files, globals, processes) is visible to the next.
//
// Protocol (docs/sandbox.md "Job protocol"): newline-delimited JSON frames.
//   child -> host on fd 1:  {"t":"ready"}                                   once, when loaded
//                           {"t":"log","level":"info|warn|error|debug","msg":"..."}
//                           {"t":"call","id":N,"op":"<host op>","args":{...}}
//                           {"t":"result","value":<json>}                    job done
//                           {"t":"error","error":{"name","message","line","column","stack"}}
//                           {"t":"done"}                                    after the host's ack
//   host -> child on fd 0:  {"t":"job","mode":"run|describe","custom_node":bool,"code":"...",
//                            "input":<json>,"params":<json>,"context":{...},"limits":{...}}
//                           {"t":"reply","id":N,"ok":true,"value":<json>}
//                           {"t":"reply","id":N,"ok":false,"error":{"code","message"}}
//                           {"t":"ack"}                 the answer (result|error) has been read
// Anything the user's code writes to stdout/stderr directly is captured as text (fd 1 is kept for
// frames by the runner, which moves the interpreter's stdout to fd 2 before user code loads).
// "custom_node": `code` is a custom-node file (always with "describe"). ack/done make sure every
// byte of text written before the answer has been read when run() returns.
// Frame codec: sandbox/protocol.hpp. The code-node API the runners give user code: docs/sandbox.md.
//
// Thread-safety: a SandboxPool is shared; run() may be called from many threads at once (each job
// runs on its caller's thread; the host-call handler is called on that thread too).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "host/core/json.hpp"
#include "host/core/result.hpp"
#include "sandbox/isolation.hpp"

namespace weft::sandbox {

enum class Language { JavaScript, Python };
const char* to_string(Language l);
Result<Language> parse_language(std::string_view s);  // "javascript"|"js"|"python"|"py"

struct RuntimeConfig {
  std::string node_path = "/usr/bin/node";
  std::string python_path = "/usr/bin/python3";
  std::string runner_dir;     // holds runner.js / runner.py; empty = <binary dir>/sandbox-runners
  uint32_t warm_javascript = 1;
  uint32_t warm_python = 1;
  // A warm sandbox that has not said "ready" within this time is killed (and retried with backoff).
  int64_t warm_start_timeout_ms = 20'000;
};

struct PoolConfig {
  IsolationConfig isolation;
  RuntimeConfig runtime;
  ResourceLimits default_limits;
  int64_t default_timeout_ms = 10'000;
  // Upper bounds a node's own settings may ask for (larger asks are clamped, not errors).
  ResourceLimits max_limits{60'000, 2048ll << 20, 256, 256ll << 20, 1024, 512ll << 20};
  int64_t max_timeout_ms = 300'000;
  IoLimits io;
  // Per job: host calls allowed (more kill the sandbox: output_limit), and the node log kept
  // (entries and bytes; the rest is dropped and counted in a final warn entry). Each log message
  // is cut at max_log_message_bytes.
  uint32_t max_host_calls = 10'000;
  size_t max_log_entries = 1'000;
  size_t max_log_bytes = 1u << 20;
  size_t max_log_message_bytes = 8u << 10;
};

// One job: run user code (mode "run") or load it and return its declaration (mode "describe",
// for custom nodes).
struct Job {
  Language language = Language::JavaScript;
  std::string mode = "run";
  std::string code;
  Json input;                 // the node's input items
  Json params;                // the node's parameters
  Json context;               // {"execution_id","workflow_id","node_id","owner_id"}
  ResourceLimits limits;      // already clamped by the caller or by clamp_limits()
  int64_t timeout_ms = 10'000;  // wall clock, covering the whole job (a cold start included)
  bool network = false;       // a warm sandbox is never networked: network jobs start cold
  bool custom_node = false;   // mode "run": `code` is a custom-node file (call its execute), not a body
};

// Host calls made by user code over the protocol (op "log" is handled by the pool itself into
// JobResult::log). Returns the reply value or an Error {code, message} sent back to the code.
using HostCallHandler = std::function<Result<Json>(std::string_view op, const Json& args)>;

struct JobResult {
  bool ok = false;
  Json value;                 // mode run: what the code returned; describe: the declaration
  // {"code": "code_error|timeout|memory_limit|output_limit|killed|cancelled|sandbox_unavailable|
  //  sandbox_busy|protocol_error", "message", "details": {"line","column","name","stack"}}
  Json error;
  Json log;                   // array of {"level","msg"} from console/print and log frames
  std::string text;           // raw stdout/stderr text the code wrote directly (capped)
  bool warm = false;          // served by a pre-started sandbox
  int64_t wall_ms = 0;
};

// Counters since start. A job counts once, in the first matching bucket:
//   kills     the sandbox was killed for a limit: timeout (wall clock or CPU), memory_limit, output_limit
//   failures  the sandbox could not serve it: sandbox_unavailable, sandbox_busy, protocol_error, killed
//   cancelled / code_errors as named; the rest succeeded.
// (Every sandbox is killed after its one job anyway; `kills` counts only the forced ones.)
struct LanguageMetrics {
  uint64_t jobs = 0, warm_hits = 0, cold_starts = 0, kills = 0, timeouts = 0, memory_limits = 0,
           output_limits = 0, failures = 0, cancelled = 0, code_errors = 0;
  uint64_t warm_started = 0, warm_start_failures = 0;  // background refills
  uint32_t warm_ready = 0;
  Json to_json() const;
};

struct PoolMetrics {
  // Totals over both languages.
  uint64_t warm_hits = 0, cold_starts = 0, kills = 0, timeouts = 0, failures = 0;
  uint64_t jobs_javascript = 0, jobs_python = 0;
  uint32_t warm_ready_javascript = 0, warm_ready_python = 0, busy = 0;  // busy: jobs running now
  LanguageMetrics javascript, python;
  Json to_json() const;
};

class SandboxPool {
 public:
  virtual ~SandboxPool() = default;
  static Result<std::shared_ptr<SandboxPool>> start(const PoolConfig& cfg);
  virtual const ProbeReport& probe() const = 0;
  // Caps every limit at PoolConfig::max_limits (and max_timeout_ms), and raises it to the floor
  // an interpreter needs to start (cpu 100 ms, memory 64 MiB, 16 processes, 16 open files,
  // 1 MiB files/temp); timeout_ms <= 0 becomes default_timeout_ms.
  virtual ResourceLimits clamp_limits(const ResourceLimits& asked, int64_t& timeout_ms) const = 0;
  // Runs one job to completion on the calling thread. Never throws; never runs unsandboxed.
  // A ready warm sandbox serves it when the job is not networked and its limits equal
  // default_limits; otherwise a sandbox is started for it (cold). Either way it is killed after.
  virtual JobResult run(const Job& job, const HostCallHandler& host_calls,
                        const std::function<bool()>& cancelled = {}) = 0;
  virtual PoolMetrics metrics() const = 0;
  // Blocks until every language has its warm_* sandboxes ready or timeout_ms passes; true when
  // they all are. For start-up checks and tests: jobs never wait for warm sandboxes.
  virtual bool wait_warm(int64_t timeout_ms) = 0;
  // Kills warm sandboxes and stops refilling; running jobs finish or are killed at their deadline.
  virtual void shutdown() = 0;
};

}  // namespace weft::sandbox
