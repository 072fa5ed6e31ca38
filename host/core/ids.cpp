#include "host/core/ids.hpp"

#include <sys/random.h>

#include <cstdint>
#include <cstring>
#include <mutex>

#include "host/core/call.hpp"

namespace weft {
namespace {
constexpr char kAlphabet[] = "0123456789abcdefghjkmnpqrstvwxyz";

void fill_random(unsigned char* buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = getrandom(buf + got, n - got, 0);
    if (r > 0) got += static_cast<size_t>(r);
  }
}
}  // namespace

std::string new_id() {
  // Monotonic within a process: same millisecond -> increment the random part.
  static std::mutex mu;
  static int64_t last_ms = 0;
  static unsigned char last_rand[10];
  unsigned char rnd[10];
  int64_t ms = wall_ms();
  {
    std::lock_guard<std::mutex> lock(mu);
    if (ms <= last_ms) {
      ms = last_ms;
      for (int i = 9; i >= 0; --i) {
        if (++last_rand[i] != 0) break;
      }
    } else {
      last_ms = ms;
      fill_random(last_rand, sizeof last_rand);
    }
    std::memcpy(rnd, last_rand, sizeof rnd);
  }
  std::string out(26, '0');
  uint64_t t = static_cast<uint64_t>(ms);
  for (int i = 9; i >= 0; --i) {
    out[i] = kAlphabet[t & 31];
    t >>= 5;
  }
  // 80 random bits -> 16 chars
  uint64_t hi = 0, lo = 0;
  for (int i = 0; i < 5; ++i) hi = (hi << 8) | rnd[i];
  for (int i = 5; i < 10; ++i) lo = (lo << 8) | rnd[i];
  for (int i = 17; i >= 10; --i) {
    out[i] = kAlphabet[hi & 31];
    hi >>= 5;
  }
  for (int i = 25; i >= 18; --i) {
    out[i] = kAlphabet[lo & 31];
    lo >>= 5;
  }
  return out;
}

std::string random_hex(size_t bytes) {
  std::string raw(bytes, '\0');
  fill_random(reinterpret_cast<unsigned char*>(raw.data()), bytes);
  static const char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes * 2);
  for (unsigned char c : raw) {
    out.push_back(hex[c >> 4]);
    out.push_back(hex[c & 15]);
  }
  return out;
}

}  // namespace weft
