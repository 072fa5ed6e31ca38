// Shared by the sandbox tests: an Isolation on a uid range of its own, and running a child to
// its end while collecting frames and text.
#pragma once

#include <dirent.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "host/core/call.hpp"
#include "sandbox/isolation.hpp"

namespace weft::sandbox::testing {

inline const char* kPython = "/usr/bin/python3";
inline const char* kNode = "/usr/bin/node";

inline const char* mode_name(BwrapMode m) { return m == BwrapMode::Off ? "launcher" : "bwrap"; }

// Small limits keep the whole suite fast on two cores.
inline ResourceLimits small_limits() {
  ResourceLimits l;
  l.cpu_ms = 5'000;
  l.memory_bytes = 256ll << 20;
  l.max_processes = 32;
  l.max_file_bytes = 4ll << 20;
  l.max_open_files = 64;
  l.tmp_bytes = 8ll << 20;
  return l;
}

inline IoLimits small_io() {
  IoLimits io;
  io.max_frame_bytes = 1u << 20;
  io.max_protocol_bytes = 16u << 20;
  io.max_text_bytes = 64u << 10;
  io.max_text_total_bytes = 4u << 20;
  return io;
}

// Each test process uses a uid range of its own (chosen from its pid): slot uids are shared
// machine-wide through their locks, so tests that run several ctest processes at once would
// otherwise take each other's uids, and tests that count on "one slot: the next job gets the same
// uid" would see another process's job there. `cfg.uid_base` is set to the range used.
inline Result<std::shared_ptr<Isolation>> make_isolation_with(IsolationConfig& cfg) {
  cfg.uid_base = 300000 + static_cast<uint32_t>(getpid() % 1024) * 64;
  return Isolation::create(cfg);
}

inline Result<std::shared_ptr<Isolation>> make_isolation(BwrapMode mode, uint32_t slots = 4,
                                                         std::string inject = {}) {
  IsolationConfig cfg;
  cfg.bwrap = mode;
  cfg.slots = slots;
  cfg.inject_failure = std::move(inject);
  return make_isolation_with(cfg);
}

inline bool is_root() { return geteuid() == 0; }

inline bool bwrap_works() {
  static int works = -1;
  if (works < 0) {
    auto iso = make_isolation(BwrapMode::Required, 1);
    works = iso.ok() ? 1 : 0;
  }
  return works == 1;
}

struct Outcome {
  PumpResult result;
  std::vector<std::string> frames;
  std::string text;
  int pid = -1;
  uint32_t slot = 0;
};

inline SpawnSpec python(const std::string& code, ResourceLimits limits = small_limits()) {
  SpawnSpec s;
  s.argv = {kPython, "-I", "-S", "-c", code};
  s.limits = limits;
  return s;
}

inline SpawnSpec node(const std::string& code, ResourceLimits limits = small_limits()) {
  SpawnSpec s;
  s.argv = {kNode, "--max-old-space-size=128", "-e", code};
  s.limits = limits;
  return s;
}

// Spawns, writes `input`, pumps to the end (or `timeout_ms`), kills the tree.
inline Outcome run(Isolation& iso, const SpawnSpec& spec, int64_t timeout_ms = 10'000, const std::string& input = {},
                   IoLimits io = small_io()) {
  Outcome o;
  auto child = iso.spawn(spec, io);
  if (!child.ok()) {
    ADD_FAILURE() << "spawn failed: " << child.error().code << ": " << child.error().message;
    o.result.reason = EndReason::Error;
    return o;
  }
  o.pid = (*child)->pid();
  o.slot = (*child)->slot();
  if (!input.empty()) (*child)->send(input);
  (*child)->close_stdin();
  o.result = (*child)->pump(weft::monotonic_ms() + timeout_ms, [&](std::string_view f) {
    if (o.frames.size() < 10'000) o.frames.emplace_back(f);
    return FrameAction::Continue;
  });
  o.text = (*child)->take_text();
  (*child)->kill_tree();
  return o;
}

inline std::string joined(const Outcome& o) {
  std::string s;
  for (auto& f : o.frames) s += f + "\n";
  return s;
}

// Counts processes whose real, effective or saved uid is `uid` (independent of the code under
// test). `live_only` leaves zombies out.
inline int processes_of_uid(uid_t uid, bool live_only = true) {
  int n = 0;
  DIR* d = opendir("/proc");
  if (d == nullptr) return -1;
  while (struct dirent* e = readdir(d)) {
    if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
    std::ifstream f(std::string("/proc/") + e->d_name + "/status");
    std::string line;
    bool mine = false, zombie = false;
    while (std::getline(f, line)) {
      if (line.rfind("State:", 0) == 0) zombie = line.find('Z') != std::string::npos;
      if (line.rfind("Uid:", 0) == 0) {
        std::istringstream is(line.substr(4));
        unsigned long r = 0, e2 = 0, s = 0;
        is >> r >> e2 >> s;
        mine = r == uid || e2 == uid || s == uid;
      }
    }
    if (mine && (!live_only || !zombie)) ++n;
  }
  closedir(d);
  return n;
}

// A thread that keeps ticking while a test runs: the host must stay responsive.
class Heartbeat {
 public:
  Heartbeat() : t_([this] {
      while (!stop_) {
        ++ticks_;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    }) {}
  ~Heartbeat() {
    stop_ = true;
    t_.join();
  }
  uint64_t ticks() const { return ticks_; }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> ticks_{0};
  std::thread t_;
};

}  // namespace weft::sandbox::testing
