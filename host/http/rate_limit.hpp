// Per-key request rate limits and concurrency gauges for the REST service (PRODUCT.md §6), plus
// the tier table that says which limit applies to whom. Pure C++: the HTTP layer turns a denied
// Decision into 429 + Retry-After.
//
// Algorithm: GCRA, the "generic cell rate algorithm" form of a token bucket. A limit of L per
// minute is a bucket of L requests that refills continuously at L per minute. Chosen over two
// weighted fixed windows because
//   - the retry time it reports is exact (the moment the next request fits), where the weighted
//     estimate depends on how the previous window's requests are assumed to be spread;
//   - the state is one number (how far the bucket is drained) plus a timestamp, and an entry whose
//     bucket has refilled completely is indistinguishable from no entry — so the idle sweep loses
//     nothing and cannot be used to reset someone's budget early;
//   - there is no window boundary around which a client can fire 2L requests at once: the biggest
//     instantaneous burst is L;
//   - steady traffic at exactly the limit is never refused (the weighted-window estimate refuses
//     some of it, depending on where in the window the requests fall).
// The price: a client that kept its bucket full can spend it and the refill in the same minute,
// so one 60 s span may see up to 2L-1 requests; after that it gets one request every 60/L
// seconds, and over any longer period it averages L per minute.
//
// Memory is bounded: idle entries are swept every `sweep_every` calls of a shard, and each shard
// holds at most max_keys/shards rate entries — past that the least recently used ones are evicted
// (a key sprayer can push out the state of keys that were not used lately, but cannot grow
// memory; keys in regular use stay). Concurrency
// gauges live in a separate table whose entries exist only while a slot is held, so they are
// bounded by the number of open streams.
//
// Thread-safety: every member function may be called from any thread. Keys are spread over
// `shards` independently locked shards; a call locks exactly one of them, briefly.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "host/core/json.hpp"
#include "host/core/result.hpp"

namespace weft::http {

// The value that means "no limit" wherever a limit is an int64 (any value <= 0 also does).
inline constexpr int64_t kUnlimited = -1;

// `klass` arguments are free-form names of endpoint classes ("compile", "execute", "login", ...):
// the same key has an independent budget per class.

struct RateLimiterOptions {
  size_t shards = 16;           // rounded up to at least 1
  size_t max_keys = 100000;     // rate entries tracked in total (spread over the shards)
  uint32_t sweep_every = 4096;  // calls per shard between sweeps of idle entries
};

class RateLimiter {
 public:
  struct Decision {
    bool allowed = true;
    int64_t remaining = kUnlimited;  // requests still allowed right now after this one; -1 = unlimited
    int64_t retry_after_s = 0;       // when denied: whole seconds (>= 1) until one request fits
    int64_t reset_after_s = 0;       // seconds until the bucket is full again (0 when it is)
    int64_t limit = kUnlimited;      // the limit applied; -1 = unlimited
  };

  explicit RateLimiter(RateLimiterOptions options = {});
  ~RateLimiter();
  RateLimiter(const RateLimiter&) = delete;
  RateLimiter& operator=(const RateLimiter&) = delete;

  // Counts one request of `key` (a user id, "ip:1.2.3.4", ...) against `klass` at `now_ms` (any
  // monotonic-ish millisecond clock; a clock that steps back is treated as no time passing).
  // limit_per_minute <= 0 means unlimited: always allowed and nothing is stored. Limits above
  // 1e9 per minute are clamped to 1e9. A denied request does not consume anything.
  // If the limit for a key changes between calls (tier upgrade), the drained fraction of the
  // bucket carries over.
  Decision check(std::string_view key, std::string_view klass, int64_t limit_per_minute, int64_t now_ms);

  // Concurrency gauge: takes one of at most `max` slots of (key, klass); false when all are taken.
  // max <= 0 means unlimited (the slot is still counted). Every successful acquire must be paired
  // with one release; releasing a slot that is not held does nothing.
  bool acquire(std::string_view key, std::string_view klass, int64_t max);
  void release(std::string_view key, std::string_view klass);
  int64_t active(std::string_view key, std::string_view klass) const;

  // Holds one concurrency slot and releases it on destruction. Movable, not copyable. The
  // RateLimiter must outlive it.
  class Slot {
   public:
    Slot() = default;
    Slot(Slot&& other) noexcept;
    Slot& operator=(Slot&& other) noexcept;
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;
    ~Slot() { reset(); }
    explicit operator bool() const { return owner_ != nullptr; }
    void reset();  // releases early

   private:
    friend class RateLimiter;
    Slot(RateLimiter* owner, std::string key, std::string klass)
        : owner_(owner), key_(std::move(key)), klass_(std::move(klass)) {}
    RateLimiter* owner_ = nullptr;
    std::string key_, klass_;
  };
  // Like acquire(); the returned Slot is empty (false) when no slot was free.
  Slot try_acquire(std::string_view key, std::string_view klass, int64_t max);

  // Rate entries currently stored (for tests and a metrics gauge).
  size_t tracked_keys() const;
  // Removes every rate entry whose bucket has refilled by now_ms. Runs on its own every
  // `sweep_every` calls per shard; exposed for tests and for a periodic housekeeping timer.
  void sweep(int64_t now_ms);

 private:
  struct Shard;
  Shard& shard_for(std::string_view composite) const;
  std::vector<std::unique_ptr<Shard>> shards_;
  RateLimiterOptions options_;
  size_t shard_cap_;
};

using RateLimitSlot = RateLimiter::Slot;
using RateLimitDecision = RateLimiter::Decision;

// ---- the tier table -------------------------------------------------------------------------------

// Per-tier limits; every value is per minute except `streams` (concurrent), -1 = unlimited.
struct TierLimits {
  int64_t compile = 0;
  int64_t execute = 0;
  int64_t streams = 0;
  int64_t api = 0;  // general per-minute limit for every other authenticated route
  int64_t exports = 0;  // config key "export": heavy reads (audit export and verify), per minute
};

// Limits keyed by client address or account rather than by tier.
struct PublicLimits {
  int64_t login_per_account = 10;       // login attempts per minute per account name
  int64_t login_per_ip = 30;            // login attempts per minute per client IP
  int64_t unauthenticated_per_ip = 60;  // requests to public routes per minute per client IP
};

// The tiers, lowest first. An unknown tier name gets the "free" limits (least privilege).
inline constexpr std::string_view kTiers[] = {"free", "pro", "enterprise"};

// Defaults (PRODUCT.md §6; `api` is our choice):
//   free: compile 10, execute 5, streams 5, api 120; pro: 100, 50, 20, 600;
//   enterprise: unlimited, 200, 100, 3000; export (audit export/verify) 5, 20, 60.
// `overrides` is the config object {"free": {"execute": 7, ...}, "pro": {...},
// "public": {"login_per_ip": 20, ...}}; a value is an integer (<= 0 = unlimited) or the string
// "unlimited". Entries that validate_limit_overrides() would refuse are ignored here.
TierLimits limits_for_tier(std::string_view tier, const Json& overrides);
PublicLimits public_limits(const Json& overrides);

// Checks a limits override object at config load time; the error (code "invalid_config") names the
// offending key, e.g. "rate_limits.pro.execute must be an integer or \"unlimited\", not string".
Status validate_limit_overrides(const Json& overrides);

}  // namespace weft::http
