// Helpers shared by the process-pair bench drivers (bench_sse, bench_hitl): wall-clock stamps
// comparable across processes, this process's /proc figures, and the line protocol the parent
// and its forked client speak over a socket pair.
#pragma once

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

namespace weft::bench {

// CLOCK_REALTIME in microseconds: the same clock in both processes of a pair.
inline int64_t now_us() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
}

// A numeric field of /proc/self/status ("VmRSS:", "Threads:"), -1 when missing.
inline int64_t status_field(const char* name) {
  FILE* f = std::fopen("/proc/self/status", "r");
  if (!f) return -1;
  char line[256];
  int64_t v = -1;
  const size_t n = std::strlen(name);
  while (std::fgets(line, sizeof line, f))
    if (std::strncmp(line, name, n) == 0) v = std::strtoll(line + n, nullptr, 10);
  std::fclose(f);
  return v;
}
inline int64_t rss_kib() { return status_field("VmRSS:"); }  // what `ps -o rss` shows
inline int64_t threads() { return status_field("Threads:"); }

// Writes all of s. A socket pair, not a pipe: MSG_NOSIGNAL keeps a dead peer from killing us with
// SIGPIPE (the server side must not ignore SIGPIPE, since `weft serve` does not either).
inline void send_all(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    off += static_cast<size_t>(n);
  }
}

// Blocking read of one line; buf keeps what was read past it.
inline bool read_line(int fd, std::string& buf, std::string& line) {
  for (;;) {
    size_t nl = buf.find('\n');
    if (nl != std::string::npos) {
      line = buf.substr(0, nl);
      buf.erase(0, nl + 1);
      return true;
    }
    char tmp[65536];
    ssize_t n = ::read(fd, tmp, sizeof tmp);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    buf.append(tmp, static_cast<size_t>(n));
  }
}

// The words of a line (single spaces; empty words dropped).
inline std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < s.size()) {
    size_t j = s.find(' ', i);
    if (j == std::string::npos) j = s.size();
    if (j > i) out.push_back(s.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

}  // namespace weft::bench
