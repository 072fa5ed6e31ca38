// The sandbox's lower layer (isolation.hpp): probe, slots, spawning through bubblewrap and/or the
// launcher with Boost.Process, the pipe pump, and the process-tree kill.
#include "sandbox/isolation.hpp"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <atomic>
#include <boost/process/args.hpp>
#include <boost/process/child.hpp>
#include <boost/process/env.hpp>
#include <boost/process/environment.hpp>
#include <boost/process/exe.hpp>
#include <boost/process/extend.hpp>
#include <boost/process/io.hpp>
#include <boost/process/pipe.hpp>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <thread>

#include "host/core/call.hpp"
#include "host/core/json.hpp"
#include "sandbox/isolation_internal.hpp"
#include "sandbox/launcher/env_policy.hpp"

namespace bp = boost::process;

namespace weft::sandbox {

const char* to_string(EndReason r) {
  switch (r) {
    case EndReason::Stopped: return "stopped";
    case EndReason::Exited: return "exited";
    case EndReason::Timeout: return "timeout";
    case EndReason::Cancelled: return "cancelled";
    case EndReason::OutputLimit: return "output_limit";
    case EndReason::Error: return "error";
  }
  return "unknown";
}

std::string ProbeReport::to_json() const {
  Json j = Json::object();
  j.set("mode", mode);
  j.set("running_as_root", running_as_root);
  j.set("bwrap_available", bwrap_available);
  j.set("bwrap_detail", bwrap_detail);
  j.set("seccomp_available", seccomp_available);
  j.set("uid_switch", uid_switch);
  j.set("tmp_size_limited", tmp_size_limited);
  j.set("launcher_path", launcher_path);
  j.set("slots_available", slots_available);
  j.set("cgroup", cgroup);
  j.set("cgroup_detail", cgroup_detail);
  return j.dump();
}

namespace {

constexpr std::string_view kLauncherInSandbox = "/run/weft/weft-sandbox-exec";
constexpr std::string_view kMarker = "weft-sandbox-exec: ";
constexpr std::string_view kReadyLine = "weft-sandbox-exec: ready";
constexpr int64_t kSetupTimeoutMs = 15'000;
constexpr int64_t kSweepBudgetMs = 3'000;
constexpr size_t kReadChunk = 64u << 10;
constexpr size_t kReadPerWakeup = 1u << 20;  // per descriptor, so deadlines and cancels stay prompt

Error unavailable(const std::string& layer, const std::string& message) {
  Json d = Json::object();
  d.set("layer", layer);
  return Error("sandbox_unavailable", "sandbox layer '" + layer + "' could not be set up: " + message, d.dump());
}

std::string errno_text(const std::string& what) { return what + ": " + strerror(errno); }

bool executable(const std::string& path) { return !path.empty() && access(path.c_str(), X_OK) == 0; }

// Moves a descriptor above 2 (a host started with a closed stdin could hand out 0..2) and keeps
// it close-on-exec.
int above_stdio(int fd) {
  if (fd > 2) return fd;
  int moved = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  close(fd);
  return moved;
}

bool make_pipe(int fds[2]) {
  if (pipe2(fds, O_CLOEXEC) != 0) return false;
  fds[0] = above_stdio(fds[0]);
  fds[1] = above_stdio(fds[1]);
  if (fds[0] < 0 || fds[1] < 0) {
    if (fds[0] >= 0) close(fds[0]);
    if (fds[1] >= 0) close(fds[1]);
    return false;
  }
  return true;
}

void close_fd(int& fd) {
  if (fd >= 0) close(fd);
  fd = -1;
}

// Runs in the forked child before execve (only async-signal-safe calls): every descriptor above
// 2 is marked close-on-exec (the host's own files, sockets, other sandboxes' pipes, whatever
// another thread opened without O_CLOEXEC), except `keep_fd` (bubblewrap's --args memfd); the
// signal mask the spawning thread had is cleared.
struct ExecSetup : bp::extend::handler {
  int keep_fd = -1;
  // Open cgroup.procs files of the slot's cgroups (-1 = none): the child moves itself in ("0")
  // before anything of the sandbox runs, so every descendant is accounted there. Failing that,
  // it reports the layer on stderr and never execs.
  int cgroup_fds[2] = {-1, -1};
  template <class Executor>
  void on_exec_setup(Executor&) const {
    for (int fd : cgroup_fds) {
      if (fd < 0) continue;
      if (write(fd, "0", 1) != 1) {
        static const char msg[] = "weft-sandbox-exec: cgroup: cannot join the sandbox's cgroup\n";
        (void)!write(2, msg, sizeof msg - 1);
        _exit(126);
      }
    }
    if (syscall(SYS_close_range, 3u, ~0u, 4u /* CLOSE_RANGE_CLOEXEC */) != 0) {
      for (int fd = 3; fd < 65536; ++fd) fcntl(fd, F_SETFD, FD_CLOEXEC);
    }
    if (keep_fd >= 0) fcntl(keep_fd, F_SETFD, 0);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
  }
};

// Writes to a pipe without the host ever receiving SIGPIPE (the reader may be gone).
ssize_t write_no_sigpipe(int fd, const char* data, size_t len) {
  sigset_t pipe_set, old, pending;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
  sigpending(&pending);
  bool was_pending = sigismember(&pending, SIGPIPE) == 1;
  ssize_t n = write(fd, data, len);
  int saved = errno;
  if (n < 0 && errno == EPIPE && !was_pending) {
    struct timespec zero{0, 0};
    while (sigtimedwait(&pipe_set, nullptr, &zero) < 0 && errno == EINTR) {
    }
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  errno = saved;
  return n;
}

int64_t cpu_seconds(int64_t cpu_ms) { return std::max<int64_t>(1, (cpu_ms + 999) / 1000); }

// Every sandbox is started from this one long-lived thread. bubblewrap's --die-with-parent
// and the launcher use PR_SET_PDEATHSIG, which fires when the *thread* that forked them exits,
// not the process: a sandbox spawned from a short-lived worker thread would die with it.
class Spawner {
 public:
  Spawner() : thread_([this] { loop(); }) {}
  ~Spawner() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  void run(const std::function<void()>& task) {
    if (std::this_thread::get_id() == thread_.get_id()) {
      task();
      return;
    }
    std::promise<void> done;
    auto finished = done.get_future();
    {
      std::lock_guard<std::mutex> lock(mu_);
      queue_.push_back([&] {
        try {
          task();
        } catch (...) {
          // The task reports its own failure; the caller must never wait forever.
        }
        done.set_value();
      });
    }
    cv_.notify_one();
    finished.wait();
  }

 private:
  void loop() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;
      auto task = std::move(queue_.front());
      queue_.pop_front();
      lock.unlock();
      task();
      lock.lock();
    }
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  bool stop_ = false;
  std::thread thread_;
};

class IsolationImpl;

// ---- one sandboxed child ----------------------------------------------------------------------

class ChildImpl final : public Child {
 public:
  ChildImpl(std::shared_ptr<IsolationImpl> owner, uint32_t slot, bool bwrap, bool uid_switch, uid_t uid,
            IoLimits io)
      : owner_(std::move(owner)), slot_(slot), bwrap_(bwrap), uid_switch_(uid_switch), uid_(uid), io_(io) {}
  ~ChildImpl() override { kill_tree(); }

  int pid() const override { return pid_; }
  uint32_t slot() const override { return slot_; }
  std::string host_tmp_dir() const override { return tmp_dir_; }

  void send(std::string bytes) override {
    if (in_fd_ < 0 || stdin_closing_) return;
    if (in_pos_ == in_buf_.size()) {
      in_buf_.clear();
      in_pos_ = 0;
    } else if (in_pos_ > (1u << 20) && in_pos_ * 2 > in_buf_.size()) {
      in_buf_.erase(0, in_pos_);
      in_pos_ = 0;
    }
    in_buf_ += bytes;
    flush_stdin();
    // What the child has not read yet stays in the host's memory: a child that asks for data
    // (host calls) but never reads the answers is stopped at the protocol cap, not buffered for.
    if (in_buf_.size() - in_pos_ > std::max<size_t>(io_.max_frame_bytes, 1u << 20) * 2) stdin_overflow_ = true;
  }

  void close_stdin() override {
    stdin_closing_ = true;
    if (in_pos_ == in_buf_.size()) close_fd(in_fd_);
  }

  PumpResult pump(int64_t deadline_monotonic_ms, const std::function<FrameAction(std::string_view)>& on_frame,
                  const std::function<bool()>& cancelled) override;

  std::string take_text() override {
    std::string out = std::move(text_);
    text_.clear();
    if (text_dropped_ > 0) {
      out += "\n[sandbox: " + std::to_string(text_dropped_) + " bytes of output dropped]\n";
      text_dropped_ = 0;
    }
    return out;
  }

  void kill_tree() override;
  bool alive() override {
    if (killed_ || reaped_) return false;
    return !check_exit();
  }

  // Set-up (called by IsolationImpl::spawn).
  bp::child proc_;
  int pid_ = -1;
  int in_fd_ = -1, out_fd_ = -1, err_fd_ = -1, pidfd_ = -1;
  std::string tmp_dir_;  // host path (launcher-only)
  bool tmp_mounted_ = false;

  // Waits for the launcher's "ready" line on stderr; an error names the failing layer.
  Status wait_ready(int64_t deadline);

 private:
  void flush_stdin();
  bool check_exit();  // reaps when exited; true when the process is gone
  bool wait_exit(int64_t budget_ms);
  PumpResult exited_result() const;
  static PumpResult stopped() {
    PumpResult r;
    r.reason = EndReason::Stopped;
    return r;
  }
  PumpResult end(EndReason r, std::string detail = {}) {
    kill_tree();
    PumpResult res;
    res.reason = r;
    res.detail = std::move(detail);
    return res;
  }
  // Reads what is there (up to `budget` bytes); false with `limit` set when a cap tripped.
  bool read_out(size_t budget, bool& eof, std::string& limit);
  bool read_err(size_t budget, bool& eof, std::string& limit);
  void add_text(const char* data, size_t n);
  // Hands complete frames to on_frame; returns Stop when it asked to stop.
  FrameAction deliver(const std::function<FrameAction(std::string_view)>& on_frame);

  std::shared_ptr<IsolationImpl> owner_;
  uint32_t slot_;
  bool bwrap_;
  bool uid_switch_;
  uid_t uid_;
  IoLimits io_;

  std::string in_buf_;
  size_t in_pos_ = 0;
  bool stdin_closing_ = false;
  bool stdin_overflow_ = false;  // more than the cap waits unread in in_buf_
  std::string out_buf_;
  size_t out_pos_ = 0;        // start of the first undelivered frame
  size_t out_scanned_ = 0;    // bytes before this hold no newline (from out_pos_)
  size_t protocol_total_ = 0;
  std::string text_;
  size_t text_dropped_ = 0;
  size_t text_total_ = 0;
  bool reaped_ = false;
  int wait_status_ = 0;
  bool killed_ = false;
};

// ---- the isolation service --------------------------------------------------------------------

class IsolationImpl final : public Isolation, public std::enable_shared_from_this<IsolationImpl> {
 public:
  explicit IsolationImpl(IsolationConfig cfg) : cfg_(std::move(cfg)) {}
  ~IsolationImpl() override {
    for (auto& s : slots_) close_fd(s.lock_fd);
    // The per-slot cgroups (empty once every sandbox was killed) and their parent.
    for (const auto& base : cgroup_dirs_) {
      for (uint32_t i = 0; i < cfg_.slots; ++i) (void)rmdir((base + "/slot-" + std::to_string(i)).c_str());
      (void)rmdir(base.c_str());
    }
  }

  Status init();
  const ProbeReport& probe() const override { return probe_; }
  Result<std::unique_ptr<Child>> spawn(const SpawnSpec& spec, const IoLimits& io) override;
  uint32_t slots_in_use() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return busy_;
  }

  // Frees a slot after kill_tree; `clean` = nothing of its uid is left.
  void release(uint32_t slot, bool clean) {
    std::lock_guard<std::mutex> lock(mu_);
    Slot& s = slots_[slot];
    if (s.state == SlotState::Busy) --busy_;
    s.state = clean ? SlotState::Free : SlotState::Dirty;
    // A clean uid goes back to the machine-wide pool; a dirty one stays locked until swept.
    if (clean && s.lock_fd >= 0) {
      close(s.lock_fd);
      s.lock_fd = -1;
    }
  }
  uid_t uid_of(uint32_t slot) const { return static_cast<uid_t>(cfg_.uid_base + slot); }

 private:
  enum class SlotState { Unavailable, Free, Busy, Dirty };
  struct Slot {
    SlotState state = SlotState::Unavailable;
    int lock_fd = -1;
  };

  Result<uint32_t> acquire_slot();
  Result<std::unique_ptr<Child>> start(const SpawnSpec& spec, const IoLimits& io, bool use_bwrap,
                                       const std::string& inject);
  // bubblewrap's options (not the command: bubblewrap takes that from its command line only).
  std::vector<std::string> bwrap_options(const SpawnSpec& spec) const;
  // Runs the launcher's self-test through the given stack; "" when every layer held.
  std::string run_self_test(bool use_bwrap);
  Status claim_slots();
  // Finds writable memory and pids cgroups and makes this process's sandbox parent in each.
  std::string probe_cgroups();
  // Creates/updates the slot's cgroups for `limits` and opens their cgroup.procs (O_CLOEXEC).
  Status prepare_cgroups(uint32_t slot, const ResourceLimits& limits, int fds[2]);
  std::vector<std::string> cgroup_dirs_;  // [memory, pids] (v1) or [unified] (v2) parents
  bool probe_busy_ = false;  // the self-test found no free slot uid (not a broken layer)
  void clean_scratch();

  IsolationConfig cfg_;
  ProbeReport probe_;
  bool use_bwrap_ = false;
  bool tmp_mount_ = false;
  std::vector<std::pair<std::string, std::string>> root_layout_;  // ("bind"|"symlink:<target>", path)
  mutable std::mutex mu_;
  std::vector<Slot> slots_;
  uint32_t next_ = 0;
  uint32_t busy_ = 0;
  std::atomic<uint64_t> seq_{0};
  Spawner spawner_;
};

// ---- ChildImpl --------------------------------------------------------------------------------

bool ChildImpl::check_exit() {
  if (reaped_) return true;
  std::error_code ec;
  bool running = proc_.running(ec);
  if (ec) {
    // ECHILD: somebody else reaped it (SIGCHLD ignored?). Treat as gone.
    reaped_ = true;
    wait_status_ = 0;
    return true;
  }
  if (running) return false;
  reaped_ = true;
  wait_status_ = proc_.native_exit_code();
  return true;
}

PumpResult ChildImpl::exited_result() const {
  PumpResult r;
  r.reason = EndReason::Exited;
  if (WIFSIGNALED(wait_status_)) {
    r.term_signal = WTERMSIG(wait_status_);
  } else if (WIFEXITED(wait_status_)) {
    int code = WEXITSTATUS(wait_status_);
    if (bwrap_ && code > 128 && code <= 128 + 64) {
      r.term_signal = code - 128;  // bubblewrap reports a signal death as 128 + signal
    } else {
      r.exit_code = code;
    }
  }
  return r;
}

void ChildImpl::flush_stdin() {
  while (in_fd_ >= 0 && in_pos_ < in_buf_.size()) {
    size_t want = std::min(in_buf_.size() - in_pos_, kReadChunk);
    ssize_t n = write_no_sigpipe(in_fd_, in_buf_.data() + in_pos_, want);
    if (n > 0) {
      in_pos_ += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    // EPIPE: the child closed its stdin. What it did not read is dropped.
    close_fd(in_fd_);
    in_buf_.clear();
    in_pos_ = 0;
    return;
  }
  if (in_pos_ == in_buf_.size()) {
    in_buf_.clear();
    in_pos_ = 0;
    if (stdin_closing_) close_fd(in_fd_);
  }
}

void ChildImpl::add_text(const char* data, size_t n) {
  text_total_ += n;
  size_t room = text_.size() < io_.max_text_bytes ? io_.max_text_bytes - text_.size() : 0;
  size_t keep = std::min(room, n);
  text_.append(data, keep);
  text_dropped_ += n - keep;
}

bool ChildImpl::read_out(size_t budget, bool& eof, std::string& limit) {
  eof = false;
  char buf[kReadChunk];
  size_t got = 0;
  while (out_fd_ >= 0 && got < budget) {
    ssize_t n = read(out_fd_, buf, sizeof buf);
    if (n > 0) {
      got += static_cast<size_t>(n);
      protocol_total_ += static_cast<size_t>(n);
      if (protocol_total_ > io_.max_protocol_bytes) {
        limit = "protocol output exceeded " + std::to_string(io_.max_protocol_bytes) + " bytes";
        return false;
      }
      // Keep the buffer bounded: drop delivered bytes before growing it.
      if (out_pos_ > 0 && out_pos_ * 2 >= out_buf_.size()) {
        out_buf_.erase(0, out_pos_);
        out_pos_ = 0;
      }
      out_buf_.append(buf, static_cast<size_t>(n));
      // A line longer than the cap is refused as soon as it is, not when its newline comes.
      size_t tail = out_buf_.size() - out_pos_;
      if (tail > io_.max_frame_bytes) {
        size_t from = out_pos_ + out_scanned_;
        size_t nl = out_buf_.find('\n', from);
        if (nl == std::string::npos || nl - out_pos_ > io_.max_frame_bytes) {
          limit = "a protocol frame exceeded " + std::to_string(io_.max_frame_bytes) + " bytes";
          return false;
        }
      }
      continue;
    }
    if (n == 0) {
      eof = true;
      close_fd(out_fd_);
      break;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) break;
    eof = true;
    close_fd(out_fd_);
    break;
  }
  return true;
}

bool ChildImpl::read_err(size_t budget, bool& eof, std::string& limit) {
  eof = false;
  char buf[kReadChunk];
  size_t got = 0;
  while (err_fd_ >= 0 && got < budget) {
    ssize_t n = read(err_fd_, buf, sizeof buf);
    if (n > 0) {
      got += static_cast<size_t>(n);
      add_text(buf, static_cast<size_t>(n));
      if (text_total_ > io_.max_text_total_bytes) {
        limit = "text output exceeded " + std::to_string(io_.max_text_total_bytes) + " bytes";
        return false;
      }
      continue;
    }
    if (n == 0) {
      eof = true;
      close_fd(err_fd_);
      break;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) break;
    eof = true;
    close_fd(err_fd_);
    break;
  }
  return true;
}

FrameAction ChildImpl::deliver(const std::function<FrameAction(std::string_view)>& on_frame) {
  for (;;) {
    size_t from = out_pos_ + out_scanned_;
    size_t nl = out_buf_.find('\n', from);
    if (nl == std::string::npos) {
      out_scanned_ = out_buf_.size() - out_pos_;
      return FrameAction::Continue;
    }
    std::string_view frame(out_buf_.data() + out_pos_, nl - out_pos_);
    out_pos_ = nl + 1;
    out_scanned_ = 0;
    FrameAction a = on_frame ? on_frame(frame) : FrameAction::Continue;
    if (out_pos_ == out_buf_.size()) {
      out_buf_.clear();
      out_pos_ = 0;
    }
    if (a == FrameAction::Stop) return a;
    if (stdin_overflow_) return FrameAction::Continue;  // pump() ends the job; no further frames
  }
}

PumpResult ChildImpl::pump(int64_t deadline, const std::function<FrameAction(std::string_view)>& on_frame,
                           const std::function<bool()>& cancelled) {
  if (killed_) {
    PumpResult r;
    r.reason = EndReason::Error;
    r.detail = "the sandbox was already killed";
    return r;
  }
  // Frames left over from a previous Stop come first.
  if (deliver(on_frame) == FrameAction::Stop) return stopped();
  std::string limit;
  for (;;) {
    if (cancelled && cancelled()) return end(EndReason::Cancelled, "cancelled");
    if (stdin_overflow_)
      return end(EndReason::OutputLimit, "the code does not read what the host sends it (" +
                                             std::to_string(in_buf_.size() - in_pos_) + " bytes pending)");
    int64_t now = weft::monotonic_ms();
    if (deadline > 0 && now >= deadline) return end(EndReason::Timeout, "deadline passed");
    if (reaped_) {
      // Exited earlier, frames all delivered by now.
      return exited_result();
    }

    struct pollfd fds[4];
    int nfds = 0;
    int i_out = -1, i_err = -1, i_in = -1, i_pid = -1;
    if (out_fd_ >= 0) {
      i_out = nfds;
      fds[nfds++] = {out_fd_, POLLIN, 0};
    }
    if (err_fd_ >= 0) {
      i_err = nfds;
      fds[nfds++] = {err_fd_, POLLIN, 0};
    }
    if (in_fd_ >= 0 && in_pos_ < in_buf_.size()) {
      i_in = nfds;
      fds[nfds++] = {in_fd_, POLLOUT, 0};
    }
    if (pidfd_ >= 0) {
      i_pid = nfds;
      fds[nfds++] = {pidfd_, POLLIN, 0};
    }
    int wait_ms = 50;  // cancelled() is polled at least this often; also the exit check without pidfd
    if (deadline > 0) wait_ms = static_cast<int>(std::min<int64_t>(wait_ms, std::max<int64_t>(0, deadline - now)));
    int rc = poll(fds, static_cast<nfds_t>(nfds), wait_ms);
    if (rc < 0 && errno != EINTR) return end(EndReason::Error, errno_text("poll"));
    if (rc < 0) continue;

    if (i_in >= 0 && (fds[i_in].revents & (POLLOUT | POLLERR | POLLHUP))) flush_stdin();

    bool eof = false;
    if (i_out >= 0 && (fds[i_out].revents & (POLLIN | POLLHUP | POLLERR))) {
      if (!read_out(kReadPerWakeup, eof, limit)) return end(EndReason::OutputLimit, limit);
      if (deliver(on_frame) == FrameAction::Stop) return stopped();
    }
    if (i_err >= 0 && (fds[i_err].revents & (POLLIN | POLLHUP | POLLERR))) {
      if (!read_err(kReadPerWakeup, eof, limit)) return end(EndReason::OutputLimit, limit);
    }

    bool exited = false;
    if (i_pid >= 0 && (fds[i_pid].revents & POLLIN)) exited = check_exit();
    if (pidfd_ < 0 && (rc == 0 || (out_fd_ < 0 && err_fd_ < 0))) exited = check_exit();
    if (out_fd_ < 0 && err_fd_ < 0 && !exited) {
      // Both pipes closed: the child is exiting; wait for it without spinning.
      if (pidfd_ < 0) {
        struct timespec ts{0, 5'000'000};
        nanosleep(&ts, nullptr);
      }
    }
    if (exited) {
      // Read what the child left in its pipes. Whatever else still holds them (a daemon it
      // started) cannot keep us here: one pass, bounded.
      if (!read_out(4u << 20, eof, limit)) return end(EndReason::OutputLimit, limit);
      if (!read_err(4u << 20, eof, limit)) return end(EndReason::OutputLimit, limit);
      close_fd(pidfd_);
      if (deliver(on_frame) == FrameAction::Stop) return stopped();
      return exited_result();
    }
  }
}

bool ChildImpl::wait_exit(int64_t budget_ms) {
  const int64_t until = weft::monotonic_ms() + budget_ms;
  while (!check_exit()) {
    int64_t left = until - weft::monotonic_ms();
    if (left <= 0) return false;
    if (pidfd_ >= 0) {
      struct pollfd p = {pidfd_, POLLIN, 0};
      poll(&p, 1, static_cast<int>(std::min<int64_t>(left, 100)));
    } else {
      struct timespec ts{0, 2'000'000};
      nanosleep(&ts, nullptr);
    }
  }
  return true;
}

void ChildImpl::kill_tree() {
  if (killed_) return;
  killed_ = true;
  if (pid_ > 0 && !reaped_ && (bwrap_ || !uid_switch_)) {
    // bubblewrap: its pid-namespace init dies with it, and every process of the namespace with
    // that init.
    kill(pid_, SIGKILL);
  }
  if (uid_switch_) {
    // Every process of the slot uid, wherever it went (double forks, new sessions). Launcher-only,
    // this kills the program under the launcher's init, which then reaps everything and exits.
    detail::sweep_uid(uid_, uid_, kSweepBudgetMs);
  }
  if (pid_ > 0 && !reaped_) {
    if (!wait_exit(2'000)) {
      kill(pid_, SIGKILL);
      kill(-pid_, SIGKILL);
    }
    std::error_code ec;
    proc_.wait(ec);
    reaped_ = true;
    wait_status_ = proc_.native_exit_code();
  }
  close_fd(in_fd_);
  close_fd(out_fd_);
  close_fd(err_fd_);
  close_fd(pidfd_);
  detail::UidPresence left;
  if (uid_switch_) {
    // Killed processes stay zombies until their parent reaps them: under bubblewrap the
    // namespace's init does while it goes down, launcher-only the launcher's init did before it
    // exited. Give that a moment, so the slot is clean (not merely dead) when it is handed out.
    const int64_t until = weft::monotonic_ms() + 500;
    for (int pause_us = 200;; pause_us = std::min(pause_us * 2, 10'000)) {
      auto all = detail::scan_uids(uid_, uid_);
      auto it = all.find(uid_);
      left = it == all.end() ? detail::UidPresence{} : it->second;
      if ((left.live == 0 && left.zombies == 0) || weft::monotonic_ms() >= until) break;
      if (left.live > 0) {
        left = detail::sweep_uid(uid_, uid_, 100);
        continue;
      }
      struct timespec ts{0, pause_us * 1000L};
      nanosleep(&ts, nullptr);
    }
  }
  if (!bwrap_ && uid_switch_ && left.live == 0) {
    // Launcher-only: no private mount namespace, so also what it left in shared places.
    if (!tmp_dir_.empty()) detail::remove_private_tmp(tmp_dir_, tmp_mounted_);
    detail::remove_files_of_uid(uid_);
  }
  tmp_dir_.clear();
  if (owner_) owner_->release(slot_, left.live == 0 && left.zombies == 0);
}

Status ChildImpl::wait_ready(int64_t deadline) {
  std::string seen;  // stderr up to the marker
  std::string other;  // lines that are neither the marker nor an error line (kept for the error)
  bool eof = false;
  char buf[4096];
  for (;;) {
    size_t nl;
    while ((nl = seen.find('\n')) != std::string::npos) {
      std::string line = seen.substr(0, nl);
      seen.erase(0, nl + 1);
      if (line == kReadyLine) {
        // Whatever came before the marker (a bubblewrap warning) or right after it (the
        // program's first words) is the program's text.
        add_text(other.data(), other.size());
        add_text(seen.data(), seen.size());
        return {};
      }
      if (line.rfind(kMarker, 0) == 0) {
        std::string rest = line.substr(kMarker.size());
        size_t colon = rest.find(": ");
        std::string layer = colon == std::string::npos ? "launcher" : rest.substr(0, colon);
        std::string msg = colon == std::string::npos ? rest : rest.substr(colon + 2);
        return unavailable(layer, msg);
      }
      if (line.rfind("bwrap: ", 0) == 0) return unavailable("bwrap", line.substr(7));
      if (other.size() < 4096) other += line + "\n";
    }
    if (eof) {
      if (!reaped_) {
        std::error_code ec;
        proc_.wait(ec);
        reaped_ = true;
        wait_status_ = proc_.native_exit_code();
      }
      std::string what = other + seen;
      while (!what.empty() && (what.back() == '\n' || what.back() == ' ')) what.pop_back();
      if (what.empty()) what = "exited during set-up (wait status " + std::to_string(wait_status_) + ")";
      return unavailable(bwrap_ ? "bwrap" : "launcher", what.substr(0, 500));
    }
    if (seen.size() > 64 * 1024) return unavailable("launcher", "unexpected output before start");
    int64_t now = weft::monotonic_ms();
    if (now >= deadline) return unavailable("launcher", "set-up did not finish in time");
    struct pollfd p = {err_fd_, POLLIN, 0};
    int rc = poll(&p, 1, static_cast<int>(std::min<int64_t>(100, deadline - now)));
    if (rc < 0 && errno != EINTR) return unavailable("launcher", errno_text("poll"));
    if (rc <= 0) {
      // Nothing said; if the process is gone (a daemon it left may hold the pipe), finish.
      if (rc == 0 && check_exit()) {
        ssize_t n;
        while ((n = read(err_fd_, buf, sizeof buf)) > 0) seen.append(buf, static_cast<size_t>(n));
        if (!seen.empty() && seen.back() != '\n') seen += '\n';
        eof = true;
      }
      continue;
    }
    ssize_t n = read(err_fd_, buf, sizeof buf);
    if (n > 0) {
      seen.append(buf, static_cast<size_t>(n));
    } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
      if (!seen.empty() && seen.back() != '\n') seen += '\n';
      eof = true;
    }
  }
}

// ---- IsolationImpl ----------------------------------------------------------------------------

Status IsolationImpl::claim_slots() {
  slots_.assign(cfg_.slots, Slot{});
  if (!probe_.uid_switch) {
    for (auto& s : slots_) s.state = SlotState::Free;
    probe_.slots_available = cfg_.slots;
    return {};
  }
  uint64_t last = static_cast<uint64_t>(cfg_.uid_base) + cfg_.slots - 1;
  if (cfg_.uid_base < 1000 || (last >= 65534 && cfg_.uid_base <= 65534) || last >= 0xfffffffeull)
    return unavailable("uid", "uid range " + std::to_string(cfg_.uid_base) + ".." + std::to_string(last) +
                                  " must start at 1000 or above and leave out 65534 and 2^32-2");
  for (uint32_t i = 0; i < cfg_.slots; ++i) {
    uid_t u = uid_of(i);
    struct passwd pw, *found = nullptr;
    char buf[1024];
    if (getpwuid_r(u, &pw, buf, sizeof buf, &found) == 0 && found != nullptr)
      return unavailable("uid", "uid " + std::to_string(u) + " belongs to the account '" + found->pw_name +
                                    "'; the sandbox needs a uid range nobody else uses");
  }
  std::string err;
  if (!detail::ensure_root_dir(cfg_.lock_dir, 0700, err)) return unavailable("uid", "lock dir " + err);
  // Slot uids are locked one at a time, while a sandbox uses them (acquire_slot .. release), so
  // several Weft processes on one machine (a server and workers, parallel test runs) share the
  // range without ever running two sandboxes under one uid.
  for (auto& sl : slots_) sl.state = SlotState::Free;
  probe_.slots_available = cfg_.slots;
  return {};
}

void IsolationImpl::clean_scratch() {
  // Temp dirs named u<uid>-... of the uids we hold belong to a dead predecessor.
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator(cfg_.scratch_root, ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (name.size() < 3 || name[0] != 'u') continue;
    uint64_t u = strtoull(name.c_str() + 1, nullptr, 10);
    if (u < cfg_.uid_base || u >= static_cast<uint64_t>(cfg_.uid_base) + cfg_.slots) continue;
    if (!probe_.uid_switch) continue;
    // Only when no other process holds that uid: then the dir belongs to a dead predecessor.
    std::string why;
    int fd = detail::lock_uid(cfg_.lock_dir, static_cast<uid_t>(u), why);
    if (fd < 0) continue;
    detail::remove_private_tmp(it->path().string(), true);
    close(fd);
  }
}

Result<uint32_t> IsolationImpl::acquire_slot() {
  std::lock_guard<std::mutex> lock(mu_);
  uint32_t n = static_cast<uint32_t>(slots_.size());
  // Round robin: the slot freed last is the one most likely to have zombies still being reaped.
  for (uint32_t k = 0; k < n; ++k) {
    uint32_t i = (next_ + k) % n;
    Slot& sl = slots_[i];
    if (sl.state == SlotState::Busy || sl.state == SlotState::Unavailable) continue;
    if (!probe_.uid_switch) {
      if (sl.state != SlotState::Free) continue;
      sl.state = SlotState::Busy;
      ++busy_;
      next_ = (i + 1) % n;
      return i;
    }
    if (sl.lock_fd < 0) {
      std::string why;
      sl.lock_fd = detail::lock_uid(cfg_.lock_dir, uid_of(i), why);
      if (sl.lock_fd < 0) continue;  // another Weft process uses this uid right now
    }
    // Holding the uid's lock, nothing else may run under it: whatever does is a leftover (a host
    // that died, a daemon that outlived its sandbox) and is swept first.
    auto present = detail::scan_uids(uid_of(i), uid_of(i));
    auto it = present.find(uid_of(i));
    detail::UidPresence p = it == present.end() ? detail::UidPresence{} : it->second;
    if (p.live > 0) p = detail::sweep_uid(uid_of(i), uid_of(i), 200);
    if (p.live > 0 || p.zombies > 0) {
      sl.state = SlotState::Dirty;  // keep the lock; try again at a later acquire
      continue;
    }
    sl.state = SlotState::Busy;
    ++busy_;
    next_ = (i + 1) % n;
    return i;
  }
  return Error("sandbox_busy", "all " + std::to_string(n) + " sandbox slots are in use");
}

std::vector<std::string> IsolationImpl::bwrap_options(const SpawnSpec& spec) const {
  std::vector<std::string> a;
  if (probe_.uid_switch) {
    // As real root bubblewrap would otherwise add a user namespace mapping only uid 0, and the
    // switch to the slot's host uid could not happen. Every other namespace, explicitly.
    a = {"--unshare-ipc", "--unshare-pid", "--unshare-uts", "--unshare-cgroup-try"};
    if (!spec.network) a.push_back("--unshare-net");
  } else {
    a = {"--unshare-all"};
    if (spec.network) a.push_back("--share-net");
  }
  for (const char* f : {"--die-with-parent", "--new-session", "--clearenv"}) a.push_back(f);
  a.insert(a.end(), {"--hostname", "sandbox"});
  if (probe_.uid_switch) {
    // The launcher needs exactly these to hand /tmp to the slot uid and switch to it; the switch
    // to a non-zero uid then clears every capability set.
    a.insert(a.end(), {"--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add",
                       "CAP_CHOWN"});
  }
  for (auto& [name, value] : spec.env) a.insert(a.end(), {"--setenv", name, value});
  // bubblewrap creates missing parents of a mount point 0700 (root only): make them traversable.
  auto parents = [&](const std::string& path) {
    for (size_t slash = path.find('/', 1); slash != std::string::npos; slash = path.find('/', slash + 1)) {
      std::string dir = path.substr(0, slash);
      if (dir == "/usr" || dir.rfind("/usr/", 0) == 0 || dir == "/tmp" || dir.rfind("/tmp/", 0) == 0) return;
      a.insert(a.end(), {"--perms", "0755", "--dir", dir});
    }
  };
  auto ro_bind_try = [&](const char* path) {
    if (access(path, F_OK) != 0) return;
    parents(path);
    a.insert(a.end(), {"--ro-bind", path, path});
  };
  a.insert(a.end(), {"--ro-bind", "/usr", "/usr"});
  for (auto& [kind, path] : root_layout_) {
    if (kind == "bind") {
      a.insert(a.end(), {"--ro-bind", path, path});
    } else {
      a.insert(a.end(), {"--symlink", kind.substr(8), path});
    }
  }
  // A minimal /etc: what the dynamic loader and the interpreters read. No passwd, no shadow.
  // (Node reads /etc/ssl/openssl.cnf at start-up.)
  for (const char* f : {"/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/alternatives",
                        "/etc/localtime", "/etc/ssl/openssl.cnf"})
    ro_bind_try(f);
  if (spec.network) {
    for (const char* f : {"/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf", "/etc/host.conf",
                          "/etc/gai.conf", "/etc/services", "/etc/protocols", "/etc/ssl/certs",
                          "/etc/ca-certificates"})
      ro_bind_try(f);
  }
  a.insert(a.end(), {"--proc", "/proc", "--dev", "/dev"});
  int64_t tmp = spec.limits.tmp_bytes > 0 ? spec.limits.tmp_bytes : (64ll << 20);
  a.insert(a.end(), {"--size", std::to_string(tmp), "--tmpfs", "/tmp"});
  parents(std::string(kLauncherInSandbox));
  a.insert(a.end(), {"--ro-bind", probe_.launcher_path, std::string(kLauncherInSandbox)});
  for (auto& [src, dst] : cfg_.ro_binds) {
    parents(dst);
    a.insert(a.end(), {"--ro-bind", src, dst});
  }
  a.insert(a.end(), {"--chdir", "/"});
  return a;
}

Result<std::unique_ptr<Child>> IsolationImpl::spawn(const SpawnSpec& spec, const IoLimits& io) {
  if (spec.argv.empty() || spec.argv[0].empty() || spec.argv[0][0] != '/')
    return Error("invalid_input", "sandbox program must be an absolute path");
  for (auto& arg : spec.argv)
    if (arg.find('\0') != std::string::npos) return Error("invalid_input", "sandbox argument contains a NUL byte");
  for (auto& [name, value] : spec.env) {
    if (!env_name_allowed(name) && !env_name_fixed(name))
      return Error("invalid_input", "environment variable '" + name + "' is not allowed in the sandbox");
    if (value.find('\0') != std::string::npos)
      return Error("invalid_input", "environment variable '" + name + "' contains a NUL byte");
  }
  if (!spec.cwd.empty() && spec.cwd[0] != '/') return Error("invalid_input", "sandbox cwd must be absolute");
  const ResourceLimits& l = spec.limits;
  if (l.cpu_ms <= 0 || l.memory_bytes <= 0 || l.max_processes <= 0 || l.max_file_bytes <= 0 ||
      l.max_open_files <= 3 || l.tmp_bytes <= 0)
    return Error("invalid_input", "sandbox limits must be positive");
  return start(spec, io, use_bwrap_, cfg_.inject_failure);
}

Result<std::unique_ptr<Child>> IsolationImpl::start(const SpawnSpec& spec, const IoLimits& io, bool use_bwrap,
                                                    const std::string& inject) {
  auto slot = acquire_slot();
  if (!slot.ok()) return slot.take_error();
  uid_t uid = probe_.uid_switch ? uid_of(*slot) : getuid();
  auto child = std::make_unique<ChildImpl>(shared_from_this(), *slot, use_bwrap, probe_.uid_switch, uid, io);

  // The private temp dir and the launcher's settings.
  std::string tmp_inside = "/tmp";
  if (!use_bwrap) {
    std::string path = cfg_.scratch_root + "/u" + std::to_string(uid) + "-" + std::to_string(getpid()) + "-" +
                       std::to_string(seq_.fetch_add(1));
    std::string err;
    bool mounted = false;
    if (!detail::make_private_tmp(path, uid, uid, spec.limits.tmp_bytes, tmp_mount_, mounted, err)) {
      child->kill_tree();
      return unavailable("tmpdir", err);
    }
    child->tmp_dir_ = path;
    child->tmp_mounted_ = mounted;
    tmp_inside = path;
  }
  std::vector<std::string> la;
  if (probe_.uid_switch) la.insert(la.end(), {"--uid", std::to_string(uid), "--gid", std::to_string(uid)});
  la.insert(la.end(), {"--cpu-s", std::to_string(cpu_seconds(spec.limits.cpu_ms)), "--data",
                       std::to_string(spec.limits.memory_bytes), "--nproc", std::to_string(spec.limits.max_processes),
                       "--fsize", std::to_string(spec.limits.max_file_bytes), "--nofile",
                       std::to_string(spec.limits.max_open_files), "--tmp", tmp_inside});
  if (!spec.network) la.push_back("--no-network");
  if (use_bwrap) la.push_back("--chown-tmp");
  if (!use_bwrap && probe_.uid_switch) la.push_back("--init");
  std::string cwd = spec.cwd.empty() || spec.cwd == "/tmp" ? tmp_inside : spec.cwd;
  la.insert(la.end(), {"--cwd", cwd});
  if (!inject.empty()) la.insert(la.end(), {"--fail-at", inject});
  la.push_back("--");
  la.insert(la.end(), spec.argv.begin(), spec.argv.end());

  // What to execute: bubblewrap reading its options from a memfd (so the program's environment
  // is not on a command line other local users can read; the program's arguments are visible
  // in /proc anyway once it runs), or the launcher directly with the program's environment as
  // its own.
  std::string exe;
  std::vector<std::string> args;
  bp::environment env;  // empty: nothing of the host's environment
  int args_fd = -1;
  struct FdGuard {
    int& fd;
    ~FdGuard() { close_fd(fd); }
  } args_guard{args_fd};
  if (use_bwrap) {
    args_fd = static_cast<int>(syscall(SYS_memfd_create, "weft-bwrap-args", 1u /* MFD_CLOEXEC */));
    if (args_fd < 0) {
      child->kill_tree();
      return unavailable("bwrap", errno_text("memfd_create"));
    }
    args_fd = above_stdio(args_fd);
    std::string blob;
    for (auto& a : bwrap_options(spec)) {
      blob += a;
      blob.push_back('\0');
    }
    size_t off = 0;
    while (off < blob.size()) {
      ssize_t n = write(args_fd, blob.data() + off, blob.size() - off);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        child->kill_tree();
        return unavailable("bwrap", errno_text("memfd write"));
      }
      off += static_cast<size_t>(n);
    }
    lseek(args_fd, 0, SEEK_SET);
    exe = cfg_.bwrap_path;
    args = {"--args", std::to_string(args_fd), "--", std::string(kLauncherInSandbox)};
    args.insert(args.end(), la.begin(), la.end());
  } else {
    exe = probe_.launcher_path;
    args = std::move(la);
    for (auto& [name, value] : spec.env) env[name] = value;
  }

  int in[2], out[2], err[2];
  if (!make_pipe(in)) {
    child->kill_tree();
    return unavailable("pipes", errno_text("pipe2"));
  }
  if (!make_pipe(out)) {
    close(in[0]);
    close(in[1]);
    child->kill_tree();
    return unavailable("pipes", errno_text("pipe2"));
  }
  if (!make_pipe(err)) {
    close(in[0]);
    close(in[1]);
    close(out[0]);
    close(out[1]);
    child->kill_tree();
    return unavailable("pipes", errno_text("pipe2"));
  }
  bp::pipe p_in(in[0], in[1]), p_out(out[0], out[1]), p_err(err[0], err[1]);
  ExecSetup setup;
  setup.keep_fd = args_fd;
  struct CgFds {
    int fds[2] = {-1, -1};
    ~CgFds() {
      for (int& f : fds) close_fd(f);
    }
  } cg;
  if (!cgroup_dirs_.empty()) {
    if (Status st = prepare_cgroups(child->slot(), spec.limits, cg.fds); !st.ok()) {
      close(in[0]);
      close(in[1]);
      close(out[0]);
      close(out[1]);
      close(err[0]);
      close(err[1]);
      child->kill_tree();
      return st.error();
    }
    setup.cgroup_fds[0] = cg.fds[0];
    setup.cgroup_fds[1] = cg.fds[1];
  }
  std::error_code ec;
  spawner_.run([&] {
    try {
      child->proc_ = bp::child(bp::exe = exe, bp::args = args, bp::std_in < p_in, bp::std_out > p_out,
                               bp::std_err > p_err, env, setup, ec);
    } catch (const std::exception& e) {
      ec = std::make_error_code(std::errc::io_error);
    }
  });
  if (ec || !child->proc_.valid()) {
    child->kill_tree();
    return unavailable(use_bwrap ? "bwrap" : "launcher", "could not start " + exe + ": " + ec.message());
  }
  child->pid_ = child->proc_.id();
  // The host keeps the far ends: stdin's write end, stdout's and stderr's read ends.
  child->in_fd_ = p_in.native_sink();
  p_in.assign_sink(-1);
  child->out_fd_ = p_out.native_source();
  p_out.assign_source(-1);
  child->err_fd_ = p_err.native_source();
  p_err.assign_source(-1);
  for (int fd : {child->in_fd_, child->out_fd_, child->err_fd_}) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  child->pidfd_ = static_cast<int>(syscall(SYS_pidfd_open, child->pid_, 0));
  if (child->pidfd_ >= 0) {
    fcntl(child->pidfd_, F_SETFD, FD_CLOEXEC);
    child->pidfd_ = above_stdio(child->pidfd_);
  }
  close_fd(args_fd);

  Status ready = child->wait_ready(weft::monotonic_ms() + kSetupTimeoutMs);
  if (!ready.ok()) {
    child->kill_tree();
    return ready.take_error();
  }
  return std::unique_ptr<Child>(std::move(child));
}

namespace {

bool write_file(const std::string& path, const std::string& value) {
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = write(fd, value.data(), value.size()) == static_cast<ssize_t>(value.size());
  close(fd);
  return ok;
}

// This process's path in a cgroup v1 hierarchy ("memory", "pids") or v2 (""), from /proc/self/cgroup.
std::string own_cgroup_path(const std::string& controller) {
  FILE* f = fopen("/proc/self/cgroup", "re");
  if (!f) return {};
  char line[4096];
  std::string found;
  while (fgets(line, sizeof line, f)) {
    std::string l(line);
    while (!l.empty() && l.back() == '\n') l.pop_back();
    size_t a = l.find(':'), b = l.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    std::string ctrls = l.substr(a + 1, b - a - 1);
    bool match = controller.empty() ? (l.compare(0, a, "0") == 0 && ctrls.empty()) : false;
    if (!controller.empty()) {
      size_t p = 0;
      while (p <= ctrls.size()) {
        size_t c = ctrls.find(',', p);
        if (ctrls.substr(p, c == std::string::npos ? std::string::npos : c - p) == controller) match = true;
        if (c == std::string::npos) break;
        p = c + 1;
      }
    }
    if (match) {
      found = l.substr(b + 1);
      break;
    }
  }
  fclose(f);
  return found;
}

}  // namespace

std::string IsolationImpl::probe_cgroups() {
  const std::string leaf = "/weft-sandbox-" + std::to_string(getpid());
  // cgroup v1: separate memory and pids hierarchies (the usual mount points).
  std::string mem_path = own_cgroup_path("memory"), pids_path = own_cgroup_path("pids");
  struct stat st {};
  if (!mem_path.empty() && !pids_path.empty() && stat("/sys/fs/cgroup/memory/memory.limit_in_bytes", &st) == 0 &&
      stat("/sys/fs/cgroup/pids/cgroup.procs", &st) == 0) {
    std::string mem = "/sys/fs/cgroup/memory" + (mem_path == "/" ? std::string() : mem_path) + leaf;
    std::string pids = "/sys/fs/cgroup/pids" + (pids_path == "/" ? std::string() : pids_path) + leaf;
    if ((mkdir(mem.c_str(), 0700) != 0 && errno != EEXIST) || (mkdir(pids.c_str(), 0700) != 0 && errno != EEXIST)) {
      std::string why = errno_text("mkdir " + mem);
      (void)rmdir(mem.c_str());
      return why;
    }
    cgroup_dirs_ = {mem, pids};
    probe_.cgroup = "v1";
    return {};
  }
  // cgroup v2 (unified): needs memory and pids delegated to a subtree we may create in.
  std::string path = own_cgroup_path("");
  std::string root = "/sys/fs/cgroup";
  if (!path.empty() && stat((root + "/cgroup.controllers").c_str(), &st) == 0) {
    std::string parent = root + (path == "/" ? std::string() : path);
    std::string dir = parent + leaf;
    if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return errno_text("mkdir " + dir);
    if (!write_file(dir + "/cgroup.subtree_control", "+memory +pids")) {
      std::string why = errno_text(dir + "/cgroup.subtree_control");
      (void)rmdir(dir.c_str());
      return "cgroup v2 without memory+pids delegation (" + why + ")";
    }
    cgroup_dirs_ = {dir};
    probe_.cgroup = "v2";
    return {};
  }
  return "no writable memory and pids cgroups (/sys/fs/cgroup)";
}

Status IsolationImpl::prepare_cgroups(uint32_t slot, const ResourceLimits& limits, int fds[2]) {
  const std::string name = "/slot-" + std::to_string(slot);
  const int64_t mem = std::max<int64_t>(limits.memory_bytes, 16ll << 20) + cfg_.cgroup_slack_bytes;
  const std::string pids = std::to_string(std::max<int64_t>(limits.max_processes, 1));
  for (size_t k = 0; k < cgroup_dirs_.size() && k < 2; ++k) {
    const std::string dir = cgroup_dirs_[k] + name;
    if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return unavailable("cgroup", errno_text("mkdir " + dir));
    bool ok = true;
    if (probe_.cgroup == "v1") {
      if (k == 0) {
        // memory.memsw (memory+swap, when swap accounting exists) must stay >= memory.limit:
        // try it before (raising) and after (lowering) the memory limit itself.
        (void)write_file(dir + "/memory.swappiness", "0");
        (void)write_file(dir + "/memory.memsw.limit_in_bytes", std::to_string(mem));
        ok = write_file(dir + "/memory.limit_in_bytes", std::to_string(mem));
        (void)write_file(dir + "/memory.memsw.limit_in_bytes", std::to_string(mem));
      } else {
        ok = write_file(dir + "/pids.max", pids);
      }
    } else {
      ok = write_file(dir + "/memory.max", std::to_string(mem)) && write_file(dir + "/pids.max", pids);
      (void)write_file(dir + "/memory.swap.max", "0");
    }
    if (!ok) return unavailable("cgroup", errno_text("limits of " + dir));
    fds[k] = open((dir + "/cgroup.procs").c_str(), O_WRONLY | O_CLOEXEC);
    if (fds[k] < 0) return unavailable("cgroup", errno_text(dir + "/cgroup.procs"));
  }
  return {};
}

std::string IsolationImpl::run_self_test(bool use_bwrap) {
  SpawnSpec spec;
  spec.argv = {use_bwrap ? std::string(kLauncherInSandbox) : probe_.launcher_path, "--self-test",
               "--expect-no-network"};
  spec.limits.cpu_ms = 5'000;
  spec.limits.tmp_bytes = 1 << 20;
  IoLimits io;
  io.max_frame_bytes = 64 << 10;
  io.max_protocol_bytes = 64 << 10;
  io.max_text_bytes = 4 << 10;
  io.max_text_total_bytes = 64 << 10;
  auto child = start(spec, io, use_bwrap, {});
  // Every uid of the range may be in use by other Weft processes for a moment (slots are shared
  // machine-wide): wait for one rather than conclude that a layer does not work.
  for (const int64_t until = weft::monotonic_ms() + kSetupTimeoutMs;
       !child.ok() && child.error().code == "sandbox_busy" && weft::monotonic_ms() < until;) {
    struct timespec ts{0, 20 * 1000 * 1000L};
    nanosleep(&ts, nullptr);
    child = start(spec, io, use_bwrap, {});
  }
  if (!child.ok()) {
    if (child.error().code == "sandbox_busy") probe_busy_ = true;
    return child.error().message;
  }
  std::string report;
  PumpResult r = (*child)->pump(weft::monotonic_ms() + kSetupTimeoutMs, [&](std::string_view f) {
    report.assign(f);
    return FrameAction::Continue;
  });
  std::string text = (*child)->take_text();
  (*child)->kill_tree();
  if (r.reason != EndReason::Exited || r.exit_code != 0) {
    auto parsed = Json::parse(report);
    if (parsed.ok() && parsed->contains("failures")) return "self-test: " + (*parsed)["failures"].as_string();
    while (!text.empty() && text.back() == '\n') text.pop_back();
    return "self-test ended " + std::string(to_string(r.reason)) + " (status " + std::to_string(r.exit_code) +
           ", signal " + std::to_string(r.term_signal) + ")" + (text.empty() ? "" : ": " + text.substr(0, 300));
  }
  auto parsed = Json::parse(report);
  if (!parsed.ok() || !(*parsed)["ok"].as_bool()) return "self-test: unreadable report";
  probe_.seccomp_available = (*parsed)["seccomp"].as_int() == 2;
  return {};
}

Status IsolationImpl::init() {
  probe_.running_as_root = geteuid() == 0;
  probe_.launcher_path = cfg_.launcher_path.empty() ? detail::self_exe_dir() + "/weft-sandbox-exec" : cfg_.launcher_path;
  if (!executable(probe_.launcher_path))
    return unavailable("launcher", "launcher not found or not executable: " + probe_.launcher_path);
  if (cfg_.slots == 0) return unavailable("uid", "no sandbox slots configured");
  // Per-slot uids need root; unprivileged bubblewrap runs everything under the host's own uid in
  // a user namespace, separated by the pid namespace instead.
  probe_.uid_switch = probe_.running_as_root;
  if (Status s = claim_slots(); !s.ok()) return s;

  // Root filesystem layout for bubblewrap: merged-/usr symlinks stay symlinks.
  for (const char* p : {"/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32"}) {
    struct stat st;
    if (lstat(p, &st) != 0) continue;
    if (S_ISLNK(st.st_mode)) {
      char target[4096];
      ssize_t n = readlink(p, target, sizeof target - 1);
      if (n <= 0) continue;
      root_layout_.push_back({"symlink:" + std::string(target, static_cast<size_t>(n)), p});
    } else if (S_ISDIR(st.st_mode)) {
      root_layout_.push_back({"bind", p});
    }
  }

  if (cfg_.cgroups != BwrapMode::Off && probe_.uid_switch) {
    probe_.cgroup_detail = probe_cgroups();
    if (!probe_.cgroup_detail.empty() && cfg_.cgroups == BwrapMode::Required)
      return unavailable("cgroup", "cgroups are required but cannot be used: " + probe_.cgroup_detail);
  } else {
    probe_.cgroup_detail = cfg_.cgroups == BwrapMode::Off ? "disabled by configuration" : "needs root";
  }

  if (cfg_.bwrap != BwrapMode::Off) {
    if (!executable(cfg_.bwrap_path)) {
      probe_.bwrap_detail = "not found or not executable: " + cfg_.bwrap_path;
    } else {
      std::string why = run_self_test(true);
      if (probe_busy_)
        return Error("sandbox_busy", "cannot probe the sandbox: every slot uid is in use by other Weft processes (" +
                                         why + ")");
      if (why.empty()) {
        probe_.bwrap_available = true;
      } else {
        probe_.bwrap_detail = why;
      }
    }
    if (!probe_.bwrap_available && cfg_.bwrap == BwrapMode::Required)
      return unavailable("bwrap", "bubblewrap is required but does not work: " + probe_.bwrap_detail);
  } else {
    probe_.bwrap_detail = "disabled by configuration";
  }

  if (probe_.bwrap_available) {
    use_bwrap_ = true;
    probe_.tmp_size_limited = true;
    probe_.mode = "bwrap+launcher";
    return {};
  }
  if (!probe_.running_as_root)
    return unavailable("bwrap", "not running as root and bubblewrap is not usable (" + probe_.bwrap_detail +
                                    "); without both there is no way to isolate user code");
  if (cfg_.scratch_root.empty()) cfg_.scratch_root = "/tmp/weft-sandbox";
  std::string err;
  if (!detail::ensure_root_dir(cfg_.scratch_root, 0711, err)) return unavailable("tmpdir", "scratch root " + err);
  clean_scratch();
  // Can we give each sandbox a size-limited tmpfs?
  {
    std::string path = cfg_.scratch_root + "/probe-" + std::to_string(getpid()) + "-" + std::to_string(seq_++);
    bool mounted = false;
    if (detail::make_private_tmp(path, uid_of(0), uid_of(0), 1 << 20, true, mounted, err)) {
      tmp_mount_ = mounted;
      detail::remove_private_tmp(path, mounted);
    }
  }
  probe_.tmp_size_limited = tmp_mount_;
  std::string why = run_self_test(false);
  if (probe_busy_)
    return Error("sandbox_busy", "cannot probe the sandbox: every slot uid is in use by other Weft processes (" +
                                     why + ")");
  if (!why.empty()) return unavailable("launcher", why);
  probe_.mode = "launcher";
  return {};
}

}  // namespace

Result<std::shared_ptr<Isolation>> Isolation::create(const IsolationConfig& cfg) {
  auto impl = std::make_shared<IsolationImpl>(cfg);
  if (Status s = impl->init(); !s.ok()) return s.take_error();
  return std::shared_ptr<Isolation>(std::move(impl));
}

}  // namespace weft::sandbox
