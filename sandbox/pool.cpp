#include "sandbox/pool.hpp"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "host/core/call.hpp"  // monotonic_ms
#include "sandbox/protocol.hpp"

namespace weft::sandbox {

const char* to_string(Language l) { return l == Language::JavaScript ? "javascript" : "python"; }

Result<Language> parse_language(std::string_view s) {
  if (s == "javascript" || s == "js") return Language::JavaScript;
  if (s == "python" || s == "py") return Language::Python;
  return Error("invalid_input", "unknown code language '" + std::string(s.substr(0, 64)) +
                                    "' (javascript or python)");
}

Json LanguageMetrics::to_json() const {
  Json o = Json::object();
  o.set("jobs", jobs);
  o.set("warm_hits", warm_hits);
  o.set("cold_starts", cold_starts);
  o.set("kills", kills);
  o.set("timeouts", timeouts);
  o.set("memory_limits", memory_limits);
  o.set("output_limits", output_limits);
  o.set("failures", failures);
  o.set("cancelled", cancelled);
  o.set("code_errors", code_errors);
  o.set("warm_started", warm_started);
  o.set("warm_start_failures", warm_start_failures);
  o.set("warm_ready", warm_ready);
  return o;
}

Json PoolMetrics::to_json() const {
  Json o = Json::object();
  o.set("warm_hits", warm_hits);
  o.set("cold_starts", cold_starts);
  o.set("kills", kills);
  o.set("timeouts", timeouts);
  o.set("failures", failures);
  o.set("jobs_javascript", jobs_javascript);
  o.set("jobs_python", jobs_python);
  o.set("warm_ready_javascript", warm_ready_javascript);
  o.set("warm_ready_python", warm_ready_python);
  o.set("busy", busy);
  o.set("javascript", javascript.to_json());
  o.set("python", python.to_json());
  return o;
}

namespace {

constexpr int kLanguages = 2;
constexpr const char* kRunnerMount = "/weft/runner";  // where bubblewrap shows the runner dir
// A warm sandbox's replacement starts when the job that took it ends, or this long after it
// began: starting an interpreter costs a core for ~100 ms, which a short job should not share.
constexpr int64_t kRefillHoldMs = 100;

int index_of(Language l) { return l == Language::JavaScript ? 0 : 1; }
Language language_at(int i) { return i == 0 ? Language::JavaScript : Language::Python; }

bool same_limits(const ResourceLimits& a, const ResourceLimits& b) {
  return a.cpu_ms == b.cpu_ms && a.memory_bytes == b.memory_bytes && a.max_processes == b.max_processes &&
         a.max_file_bytes == b.max_file_bytes && a.max_open_files == b.max_open_files &&
         a.tmp_bytes == b.tmp_bytes;
}

bool readable_file(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::string binary_dir() {
  std::string buf(4096, '\0');
  ssize_t n = ::readlink("/proc/self/exe", buf.data(), buf.size() - 1);
  if (n <= 0) return ".";
  buf.resize(static_cast<size_t>(n));
  auto slash = buf.rfind('/');
  return slash == std::string::npos ? std::string(".") : buf.substr(0, slash);
}

// V8's old-space cap for a memory limit: Node aborts with a clear "heap out of memory" before
// RLIMIT_DATA makes some unrelated allocation fail. Code, young generation, buffers and the
// runner need the rest (~100 MiB is comfortable; small limits give the heap half).
int64_t node_heap_mb(int64_t memory_bytes) {
  int64_t mb = memory_bytes >> 20;
  return std::max<int64_t>(16, std::max(mb / 2, mb - 160));
}

std::string describe_exit(const PumpResult& p) {
  if (p.term_signal != 0) return "killed by signal " + std::to_string(p.term_signal);
  return "exit code " + std::to_string(p.exit_code);
}

class PoolImpl final : public SandboxPool {
 public:
  PoolImpl(PoolConfig cfg, std::shared_ptr<Isolation> iso, std::string runner_dir)
      : cfg_(std::move(cfg)), iso_(std::move(iso)) {
    const bool bwrap = iso_->probe().mode.rfind("bwrap", 0) == 0;
    // Launcher-only, sandboxes share the host's world-writable directories, which kill_tree
    // cleans: the next job must not start before that, so the kill stays on the job's path.
    background_kill_ = bwrap;
    const std::string dir = bwrap ? std::string(kRunnerMount) : runner_dir;
    runner_js_ = dir + "/runner.js";
    runner_py_ = dir + "/runner.py";
    target_[0] = cfg_.runtime.warm_javascript;
    target_[1] = cfg_.runtime.warm_python;
    if (target_[0] + target_[1] > 0) refill_ = std::thread([this] { refill_loop(); });
    reaper_ = std::thread([this] { reaper_loop(); });
  }

  ~PoolImpl() override { shutdown(); }

  const ProbeReport& probe() const override { return iso_->probe(); }

  ResourceLimits clamp_limits(const ResourceLimits& asked, int64_t& timeout_ms) const override {
    const ResourceLimits& max = cfg_.max_limits;
    auto clamp = [](int64_t v, int64_t lo, int64_t hi) { return std::max(lo, std::min(v, std::max(lo, hi))); };
    ResourceLimits out;
    out.cpu_ms = clamp(asked.cpu_ms, 100, max.cpu_ms);
    out.memory_bytes = clamp(asked.memory_bytes, 64ll << 20, max.memory_bytes);
    out.max_processes = clamp(asked.max_processes, 16, max.max_processes);
    out.max_file_bytes = clamp(asked.max_file_bytes, 1ll << 20, max.max_file_bytes);
    out.max_open_files = clamp(asked.max_open_files, 16, max.max_open_files);
    out.tmp_bytes = clamp(asked.tmp_bytes, 1ll << 20, max.tmp_bytes);
    if (timeout_ms <= 0) timeout_ms = cfg_.default_timeout_ms;
    timeout_ms = std::min(timeout_ms, cfg_.max_timeout_ms);
    return out;
  }

  JobResult run(const Job& job, const HostCallHandler& host_calls,
                const std::function<bool()>& cancelled) override;

  PoolMetrics metrics() const override {
    std::lock_guard lk(mu_);
    PoolMetrics m;
    m.javascript = stats_[0];
    m.python = stats_[1];
    m.javascript.warm_ready = static_cast<uint32_t>(warm_[0].size());
    m.python.warm_ready = static_cast<uint32_t>(warm_[1].size());
    for (const LanguageMetrics* l : {&m.javascript, &m.python}) {
      m.warm_hits += l->warm_hits;
      m.cold_starts += l->cold_starts;
      m.kills += l->kills;
      m.timeouts += l->timeouts;
      m.failures += l->failures;
    }
    m.jobs_javascript = m.javascript.jobs;
    m.jobs_python = m.python.jobs;
    m.warm_ready_javascript = m.javascript.warm_ready;
    m.warm_ready_python = m.python.warm_ready;
    m.busy = busy_;
    return m;
  }

  bool wait_warm(int64_t timeout_ms) override {
    std::unique_lock lk(mu_);
    return cv_.wait_for(lk, std::chrono::milliseconds(std::max<int64_t>(0, timeout_ms)), [&] {
      return stopping_.load() || (warm_[0].size() >= target_[0] && warm_[1].size() >= target_[1]);
    }) && !stopping_.load();
  }

  void shutdown() override {
    std::lock_guard once(shutdown_mu_);  // callers may race (an explicit call and the destructor)
    std::deque<std::unique_ptr<Child>> doomed[kLanguages];
    {
      std::lock_guard lk(mu_);
      stopping_.store(true);
      for (int i = 0; i < kLanguages; ++i) doomed[i].swap(warm_[i]);
    }
    cv_.notify_all();
    if (refill_.joinable() && refill_.get_id() != std::this_thread::get_id()) refill_.join();
    for (auto& d : doomed) {
      for (auto& c : d) c->kill_tree();
    }
    {
      std::lock_guard lk(reap_mu_);
      reaper_stop_ = true;
    }
    reap_cv_.notify_all();
    if (reaper_.joinable() && reaper_.get_id() != std::this_thread::get_id()) reaper_.join();
  }

 private:
  SpawnSpec spec_for(Language lang, const ResourceLimits& limits, bool network) const {
    SpawnSpec spec;
    spec.limits = limits;
    spec.network = network;
    if (lang == Language::JavaScript) {
      spec.argv = {cfg_.runtime.node_path, "--max-old-space-size=" + std::to_string(node_heap_mb(limits.memory_bytes)),
                   runner_js_};
    } else {
      spec.argv = {cfg_.runtime.python_path, "-I", "-S", "-B", runner_py_};
    }
    return spec;
  }

  // Starts one warm sandbox and waits for its "ready".
  Result<std::unique_ptr<Child>> start_warm(Language lang) {
    auto spawned = iso_->spawn(spec_for(lang, cfg_.default_limits, false), cfg_.io);
    if (!spawned.ok()) return spawned.take_error();
    std::unique_ptr<Child> child = std::move(spawned).value();
    bool ready = false;
    bool garbage = false;
    PumpResult p = child->pump(
        monotonic_ms() + cfg_.runtime.warm_start_timeout_ms,
        [&](std::string_view line) {
          auto f = protocol::parse_child_frame(line, cfg_.io.max_frame_bytes);
          if (f.ok() && f->type == protocol::ChildFrame::Type::Ready) {
            ready = true;
          } else {
            garbage = true;
          }
          return FrameAction::Stop;
        },
        [this] { return stopping_.load(); });
    if (p.reason == EndReason::Stopped && ready) {
      (void)child->take_text();
      return child;
    }
    std::string text = child->take_text();
    child->kill_tree();
    std::string why = garbage ? "it sent something else than ready" : std::string(to_string(p.reason));
    if (p.reason == EndReason::Exited) why = describe_exit(p);
    if (!text.empty()) why += ": " + text.substr(0, 300);
    return Error("sandbox_unavailable", std::string("a warm ") + to_string(lang) + " sandbox did not start (" + why + ")");
  }

  bool needs_refill(int i) const { return warm_[i].size() + starting_[i] < target_[i]; }

  void refill_loop() {
    int64_t backoff_ms[kLanguages] = {0, 0};
    int64_t retry_at[kLanguages] = {0, 0};
    std::unique_lock lk(mu_);
    while (!stopping_.load()) {
      int pick = -1;
      int64_t now = monotonic_ms();
      int64_t next_retry = 0;
      for (int i = 0; i < kLanguages; ++i) {
        if (!needs_refill(i)) continue;
        const int64_t not_before = std::max(retry_at[i], hold_until_[i]);
        if (not_before > now) {
          next_retry = next_retry == 0 ? not_before : std::min(next_retry, not_before);
          continue;
        }
        // The language with the fewest ready sandboxes first.
        if (pick < 0 || warm_[i].size() < warm_[pick].size()) pick = i;
      }
      if (pick < 0) {
        if (next_retry > 0) {
          cv_.wait_for(lk, std::chrono::milliseconds(next_retry - now));
        } else {
          cv_.wait(lk);
        }
        continue;
      }
      ++starting_[pick];
      lk.unlock();
      auto started = start_warm(language_at(pick));
      lk.lock();
      --starting_[pick];
      if (started.ok()) {
        ++stats_[pick].warm_started;
        backoff_ms[pick] = 0;
        retry_at[pick] = 0;
        if (stopping_.load()) {
          lk.unlock();
          (*started)->kill_tree();
          lk.lock();
        } else {
          warm_[pick].push_back(std::move(started).value());
          cv_.notify_all();  // wait_warm()
        }
      } else if (!stopping_.load()) {
        ++stats_[pick].warm_start_failures;
        last_warm_error_ = started.error().message;
        backoff_ms[pick] = std::min<int64_t>(backoff_ms[pick] == 0 ? 250 : backoff_ms[pick] * 2, 30'000);
        retry_at[pick] = monotonic_ms() + backoff_ms[pick];
      }
    }
  }

  // Every sandbox is killed after its job. Under bubblewrap nothing of it is shared with the next
  // sandbox (own mount, pid, ipc and network namespaces, own tmpfs), so the reaper thread does it
  // and the caller has its answer at once; launcher-only (and after shutdown) it is done inline.
  void retire(std::unique_ptr<Child> child) {
    {
      std::lock_guard lk(reap_mu_);
      if (!reaper_stop_ && background_kill_) {
        reap_queue_.push_back(std::move(child));
        reap_cv_.notify_one();
        return;
      }
    }
    child->kill_tree();
  }

  void reaper_loop() {
    std::unique_lock lk(reap_mu_);
    for (;;) {
      reap_cv_.wait(lk, [&] { return reaper_stop_ || !reap_queue_.empty(); });
      if (reap_queue_.empty()) return;  // stopping, and nothing left to kill
      std::unique_ptr<Child> child = std::move(reap_queue_.front());
      reap_queue_.pop_front();
      lk.unlock();
      child->kill_tree();
      child.reset();
      lk.lock();
    }
  }

  // A ready warm sandbox for this job, or null (the job then starts cold).
  std::unique_ptr<Child> take_warm(Language lang) {
    int i = index_of(lang);
    std::unique_ptr<Child> child;
    {
      std::lock_guard lk(mu_);
      if (stopping_.load() || warm_[i].empty()) return nullptr;
      child = std::move(warm_[i].front());
      warm_[i].pop_front();
      hold_until_[i] = monotonic_ms() + kRefillHoldMs;
    }
    cv_.notify_all();  // the refill thread schedules a replacement
    if (!child->alive()) {
      child->kill_tree();
      return nullptr;
    }
    return child;
  }

  PoolConfig cfg_;
  std::shared_ptr<Isolation> iso_;
  std::string runner_js_, runner_py_;
  bool background_kill_ = false;
  uint32_t target_[kLanguages] = {0, 0};

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<Child>> warm_[kLanguages];
  uint32_t starting_[kLanguages] = {0, 0};
  int64_t hold_until_[kLanguages] = {0, 0};  // kRefillHoldMs
  LanguageMetrics stats_[kLanguages];
  uint32_t busy_ = 0;
  std::string last_warm_error_;
  std::atomic<bool> stopping_{false};
  std::mutex shutdown_mu_;
  std::thread refill_;

  std::mutex reap_mu_;
  std::condition_variable reap_cv_;
  std::deque<std::unique_ptr<Child>> reap_queue_;
  bool reaper_stop_ = false;
  std::thread reaper_;
};

// One job's conversation with its sandbox.
class JobSession {
 public:
  JobSession(const PoolConfig& cfg, const HostCallHandler& host_calls, Child& child, JobResult& result)
      : cfg_(cfg), host_calls_(host_calls), child_(child), result_(result) {}

  FrameAction on_frame(std::string_view line) {
    auto parsed = protocol::parse_child_frame(line, cfg_.io.max_frame_bytes);
    if (answered_) {
      // Between the answer and "done" only "done" matters; anything else is ignored.
      if (!parsed.ok() || parsed->type == protocol::ChildFrame::Type::Done) return FrameAction::Stop;
      return FrameAction::Continue;
    }
    if (!parsed.ok()) {
      failure_ = protocol::job_error(parsed.error().code, parsed.error().message);
      return FrameAction::Stop;
    }
    protocol::ChildFrame& f = *parsed;
    using T = protocol::ChildFrame::Type;
    switch (f.type) {
      case T::Ready:
        if (++readies_ > 1) {
          failure_ = protocol::job_error("protocol_error", "the sandbox said ready twice");
          return FrameAction::Stop;
        }
        return FrameAction::Continue;
      case T::Log:
        add_log(f.level, f.msg);
        return FrameAction::Continue;
      case T::Call:
        return on_call(f);
      case T::Result:
        answered_ = true;
        result_.ok = true;
        result_.value = std::move(f.value);
        child_.send(std::string(protocol::kAck));
        return FrameAction::Continue;
      case T::Error:
        answered_ = true;
        result_.ok = false;
        result_.error = protocol::job_error_from_child(f.value);
        child_.send(std::string(protocol::kAck));
        return FrameAction::Continue;
      case T::Done:
        failure_ = protocol::job_error("protocol_error", "the sandbox said done before answering");
        return FrameAction::Stop;
    }
    return FrameAction::Continue;
  }

  bool answered() const { return answered_; }
  const Json& failure() const { return failure_; }

  // Closes the log: a final entry says how much was dropped.
  void finish_log() {
    if (dropped_entries_ > 0) {
      Json e = Json::object();
      e.set("level", "warn");
      e.set("msg", "[" + std::to_string(dropped_entries_) + " log messages dropped: the node log is capped]");
      log_.push_back(std::move(e));
    }
    result_.log = std::move(log_);
  }

 private:
  FrameAction on_call(const protocol::ChildFrame& f) {
    if (++calls_ > cfg_.max_host_calls) {
      failure_ = protocol::job_error("output_limit", "the code made more than " + std::to_string(cfg_.max_host_calls) +
                                                         " host calls");
      return FrameAction::Stop;
    }
    if (f.op == "log") {
      const std::string& level = f.args["level"].as_string();
      add_log(level == "debug" || level == "warn" || level == "error" ? level : "info",
              f.args["msg"].is_string() ? f.args["msg"].as_string() : f.args["msg"].dump());
      child_.send(protocol::encode_reply_ok(f.id, Json()));
      return FrameAction::Continue;
    }
    if (!host_calls_) {
      child_.send(protocol::encode_reply_error(f.id, "unsupported", "host calls are not available to this code"));
      return FrameAction::Continue;
    }
    Result<Json> r = Error("internal", "the host call failed");
    try {
      r = host_calls_(f.op, f.args);
    } catch (...) {
      r = Error("internal", "the host call '" + f.op + "' failed");
    }
    if (r.ok()) {
      child_.send(protocol::encode_reply_ok(f.id, *r));
    } else {
      const Error& e = r.error();
      child_.send(protocol::encode_reply_error(f.id, e.code.empty() ? "host_call_failed" : e.code, e.message));
    }
    return FrameAction::Continue;
  }

  void add_log(const std::string& level, std::string msg) {
    if (log_.size() >= cfg_.max_log_entries || log_bytes_ >= cfg_.max_log_bytes) {
      ++dropped_entries_;
      return;
    }
    if (msg.size() > cfg_.max_log_message_bytes) {
      size_t cut = cfg_.max_log_message_bytes;
      while (cut > 0 && (static_cast<unsigned char>(msg[cut]) & 0xC0) == 0x80) --cut;  // whole UTF-8 chars
      const size_t dropped = msg.size() - cut;
      msg.resize(cut);
      msg += " ... [" + std::to_string(dropped) + " bytes cut]";
    }
    log_bytes_ += msg.size();
    Json e = Json::object();
    e.set("level", level);
    e.set("msg", std::move(msg));
    log_.push_back(std::move(e));
  }

  const PoolConfig& cfg_;
  const HostCallHandler& host_calls_;
  Child& child_;
  JobResult& result_;
  Json log_ = Json::array();
  size_t log_bytes_ = 0;
  uint64_t dropped_entries_ = 0;
  uint32_t calls_ = 0;
  int readies_ = 0;
  bool answered_ = false;
  Json failure_;  // set when the sandbox misbehaved: {"code","message"}
};

JobResult PoolImpl::run(const Job& job, const HostCallHandler& host_calls, const std::function<bool()>& cancelled) {
  const int64_t t0 = monotonic_ms();
  const int li = index_of(job.language);
  JobResult result;
  result.log = Json::array();

  enum class Outcome { Ok, CodeError, Timeout, MemoryLimit, OutputLimit, Failure, Cancelled };
  auto account = [&](Outcome o, bool count_busy_end) {
    std::lock_guard lk(mu_);
    LanguageMetrics& s = stats_[li];
    switch (o) {
      case Outcome::Ok: break;
      case Outcome::CodeError: ++s.code_errors; break;
      case Outcome::Timeout: ++s.kills; ++s.timeouts; break;
      case Outcome::MemoryLimit: ++s.kills; ++s.memory_limits; break;
      case Outcome::OutputLimit: ++s.kills; ++s.output_limits; break;
      case Outcome::Failure: ++s.failures; break;
      case Outcome::Cancelled: ++s.cancelled; break;
    }
    if (count_busy_end) --busy_;
    if (result.warm) hold_until_[li] = 0;  // the job is over: its replacement may start now
  };
  auto finish = [&](Outcome o, Json error, bool count_busy_end) {
    if (!error.is_null()) {
      result.ok = false;
      result.error = std::move(error);
    }
    account(o, count_busy_end);
    if (result.warm) cv_.notify_all();
    result.wall_ms = monotonic_ms() - t0;
    return result;
  };

  {
    std::lock_guard lk(mu_);
    ++stats_[li].jobs;
  }
  if (stopping_.load()) {
    return finish(Outcome::Failure, protocol::job_error("sandbox_unavailable", "the sandbox pool is shut down"), false);
  }
  if (job.mode != "run" && job.mode != "describe") {
    return finish(Outcome::CodeError,
                  protocol::job_error("code_error", "unknown job mode '" + job.mode.substr(0, 32) + "' (run or describe)"),
                  false);
  }
  int64_t timeout_ms = job.timeout_ms > 0 ? job.timeout_ms : cfg_.default_timeout_ms;
  timeout_ms = std::min(timeout_ms, cfg_.max_timeout_ms);
  const int64_t deadline = t0 + timeout_ms;

  // A sandbox: a warm one when this job fits what warm ones were started with, else a new one.
  std::unique_ptr<Child> child;
  if (!job.network && same_limits(job.limits, cfg_.default_limits)) child = take_warm(job.language);
  if (child) {
    result.warm = true;
    std::lock_guard lk(mu_);
    ++stats_[li].warm_hits;
    ++busy_;
  } else {
    {
      std::lock_guard lk(mu_);
      ++stats_[li].cold_starts;
    }
    auto spawned = iso_->spawn(spec_for(job.language, job.limits, job.network), cfg_.io);
    if (!spawned.ok()) {
      const Error& e = spawned.error();
      const std::string code = e.code == "sandbox_busy" ? "sandbox_busy" : "sandbox_unavailable";
      return finish(Outcome::Failure, protocol::job_error(code, e.message), false);
    }
    child = std::move(spawned).value();
    std::lock_guard lk(mu_);
    ++busy_;
  }

  JobSession session(cfg_, host_calls, *child, result);
  child->send(protocol::encode_job(job));
  PumpResult p = child->pump(
      deadline, [&](std::string_view line) { return session.on_frame(line); }, cancelled);
  // The answer was followed by ack -> done: by then every byte of text the code wrote before its
  // answer has been read. Killing the sandbox is off the job's path (the reaper thread).
  result.text = child->take_text();
  retire(std::move(child));
  session.finish_log();

  if (!session.failure().is_null()) {
    const std::string& code = session.failure()["code"].as_string();
    return finish(code == "output_limit" ? Outcome::OutputLimit : Outcome::Failure, session.failure(), true);
  }
  if (session.answered()) {
    if (result.ok) return finish(Outcome::Ok, Json(), true);
    const bool oom = result.error["code"].as_string() == "memory_limit";
    return finish(oom ? Outcome::MemoryLimit : Outcome::CodeError, Json(), true);
  }
  switch (p.reason) {
    case EndReason::Timeout:
      return finish(Outcome::Timeout,
                    protocol::job_error("timeout", "the code ran longer than its " + std::to_string(timeout_ms) +
                                                       " ms time limit and was killed"),
                    true);
    case EndReason::Cancelled:
      return finish(Outcome::Cancelled, protocol::job_error("cancelled", "the job was cancelled"), true);
    case EndReason::OutputLimit:
      return finish(Outcome::OutputLimit,
                    protocol::job_error("output_limit", "the code's output crossed a limit and it was killed (" +
                                                            p.detail + ")"),
                    true);
    case EndReason::Error:
      return finish(Outcome::Failure, protocol::job_error("killed", "the sandbox failed: " + p.detail), true);
    case EndReason::Stopped:
    case EndReason::Exited:
      break;
  }
  // The child ended without an answer.
  if (p.term_signal == SIGXCPU) {
    return finish(Outcome::Timeout,
                  protocol::job_error("timeout", "the code used more than its " + std::to_string(job.limits.cpu_ms) +
                                                     " ms of CPU time and was killed"),
                  true);
  }
  if (protocol::text_says_out_of_memory(result.text)) {
    return finish(Outcome::MemoryLimit,
                  protocol::job_error("memory_limit", "the code used more than its " +
                                                          std::to_string(job.limits.memory_bytes >> 20) +
                                                          " MiB memory limit and was killed"),
                  true);
  }
  if (p.term_signal == SIGXFSZ) {
    return finish(Outcome::OutputLimit,
                  protocol::job_error("output_limit", "the code wrote a file larger than its limit and was killed"),
                  true);
  }
  return finish(Outcome::Failure,
                protocol::job_error("killed", "the sandbox ended without an answer (" + describe_exit(p) + ")"), true);
}

}  // namespace

Result<std::shared_ptr<SandboxPool>> SandboxPool::start(const PoolConfig& cfg) {
  PoolConfig c = cfg;
  std::string dir = c.runtime.runner_dir.empty() ? binary_dir() + "/sandbox-runners" : c.runtime.runner_dir;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  for (const char* f : {"/runner.js", "/runner.py"}) {
    if (!readable_file(dir + f)) {
      return Error("sandbox_unavailable", "the sandbox runner " + dir + f + " is missing");
    }
  }
  c.isolation.ro_binds.emplace_back(dir, kRunnerMount);
  auto iso = Isolation::create(c.isolation);
  if (!iso.ok()) return iso.take_error();
  return std::shared_ptr<SandboxPool>(std::make_shared<PoolImpl>(std::move(c), std::move(iso).value(), dir));
}

}  // namespace weft::sandbox
