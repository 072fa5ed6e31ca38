// RateLimiter (GCRA per key and endpoint class), concurrency slots and the tier table. Time is
// injected: no test sleeps.
#include "host/http/rate_limit.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

namespace {

using weft::Json;
using weft::http::kUnlimited;
using weft::http::limits_for_tier;
using weft::http::public_limits;
using weft::http::RateLimiter;
using weft::http::RateLimiterOptions;
using weft::http::validate_limit_overrides;

constexpr int64_t kT0 = 1'700'000'000'000;  // an arbitrary wall-clock start

Json parse(const char* text) {
  auto j = Json::parse(text);
  EXPECT_TRUE(j.ok());
  return j.ok() ? *j : Json();
}

TEST(RateLimiter, BurstUpToTheLimitThenDeniedWithExactRetryAfter) {
  RateLimiter rl;
  // 10 per minute: a full bucket of 10, refilling one every 6 s.
  for (int i = 0; i < 10; ++i) {
    auto d = rl.check("user1", "compile", 10, kT0);
    ASSERT_TRUE(d.allowed) << i;
    EXPECT_EQ(d.remaining, 9 - i);
    EXPECT_EQ(d.limit, 10);
    EXPECT_EQ(d.retry_after_s, 0);
  }
  auto d = rl.check("user1", "compile", 10, kT0);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.remaining, 0);
  EXPECT_EQ(d.retry_after_s, 6);
  EXPECT_EQ(d.reset_after_s, 60);
  EXPECT_EQ(d.limit, 10);

  // Denied requests cost nothing: 2.5 s later the wait is 3.5 s, reported as 4.
  d = rl.check("user1", "compile", 10, kT0 + 2500);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.retry_after_s, 4);
  // 1 ms before the slot frees up: still denied, and the wait rounds up to a whole second.
  d = rl.check("user1", "compile", 10, kT0 + 5999);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.retry_after_s, 1);
  // Retrying after exactly retry_after_s works.
  d = rl.check("user1", "compile", 10, kT0 + 6000);
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.remaining, 0);
  d = rl.check("user1", "compile", 10, kT0 + 6000);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.retry_after_s, 6);
}

TEST(RateLimiter, RetryAfterIsAtLeastOneSecondAndRoundsUp) {
  RateLimiter rl;
  // 200 per minute refills one every 300 ms: the wait is below a second but reported as 1.
  for (int i = 0; i < 200; ++i) ASSERT_TRUE(rl.check("u", "execute", 200, kT0).allowed);
  auto d = rl.check("u", "execute", 200, kT0);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.retry_after_s, 1);
  EXPECT_TRUE(rl.check("u", "execute", 200, kT0 + 300).allowed);
  // 1 per minute: the wait is the whole minute.
  EXPECT_TRUE(rl.check("v", "execute", 1, kT0).allowed);
  d = rl.check("v", "execute", 1, kT0 + 1);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.retry_after_s, 60);  // 59.999 s rounds up
  // 7 per minute: 8571.43 ms per request, not a whole number of milliseconds.
  for (int i = 0; i < 7; ++i) ASSERT_TRUE(rl.check("w", "x", 7, kT0).allowed);
  d = rl.check("w", "x", 7, kT0);
  EXPECT_EQ(d.retry_after_s, 9);
  EXPECT_FALSE(rl.check("w", "x", 7, kT0 + 8571).allowed);
  EXPECT_TRUE(rl.check("w", "x", 7, kT0 + 8572).allowed);
}

TEST(RateLimiter, TheWindowSlides) {
  RateLimiter rl;
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(rl.check("k", "execute", 5, kT0 + i * 1000).allowed);
  EXPECT_FALSE(rl.check("k", "execute", 5, kT0 + 5000).allowed);
  // One request's worth (12 s) has drained since the first: exactly one more fits.
  EXPECT_TRUE(rl.check("k", "execute", 5, kT0 + 12000).allowed);
  EXPECT_FALSE(rl.check("k", "execute", 5, kT0 + 12000).allowed);
  // Half a minute of silence gives back 2.5 requests: 2 fit, the third does not.
  auto d = rl.check("k", "execute", 5, kT0 + 42000);
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.remaining, 1);
  EXPECT_TRUE(rl.check("k", "execute", 5, kT0 + 42000).allowed);
  d = rl.check("k", "execute", 5, kT0 + 42000);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.retry_after_s, 6);  // 12 s per request, half of one already drained
  // A full minute of silence restores the whole burst.
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(rl.check("k", "execute", 5, kT0 + 200000).allowed) << i;
  EXPECT_FALSE(rl.check("k", "execute", 5, kT0 + 200000).allowed);
}

TEST(RateLimiter, SteadyTrafficAtTheLimitIsNeverDenied) {
  RateLimiter rl;
  // 60 per minute, one request per second for ten minutes.
  for (int i = 0; i < 600; ++i) ASSERT_TRUE(rl.check("k", "api", 60, kT0 + i * 1000).allowed) << i;
  // Then twice as fast for a minute. Steady traffic at the limit kept the bucket full, so the
  // documented bound applies: the burst of 60 plus 60 refilled during the minute, minus the
  // request that was still draining -> 119 of 120.
  int allowed = 0;
  for (int i = 0; i < 120; ++i) allowed += rl.check("k", "api", 60, kT0 + 600000 + i * 500).allowed;
  EXPECT_EQ(allowed, 119);
}

TEST(RateLimiter, UnlimitedIsAlwaysAllowedAndStoresNothing) {
  RateLimiter rl;
  for (int64_t limit : {kUnlimited, int64_t{0}, int64_t{-5}}) {
    for (int i = 0; i < 1000; ++i) {
      auto d = rl.check("ent", "compile", limit, kT0);
      ASSERT_TRUE(d.allowed);
      EXPECT_EQ(d.limit, kUnlimited);
      EXPECT_EQ(d.remaining, kUnlimited);
      EXPECT_EQ(d.retry_after_s, 0);
    }
  }
  EXPECT_EQ(rl.tracked_keys(), 0u);
}

TEST(RateLimiter, KeysAndClassesAreIsolated) {
  RateLimiter rl;
  ASSERT_TRUE(rl.check("alice", "execute", 1, kT0).allowed);
  EXPECT_FALSE(rl.check("alice", "execute", 1, kT0).allowed);
  EXPECT_TRUE(rl.check("bob", "execute", 1, kT0).allowed);
  EXPECT_TRUE(rl.check("alice", "compile", 1, kT0).allowed);
  // The composite key cannot be forged by moving bytes between class and key.
  ASSERT_TRUE(rl.check("b", "a", 1, kT0).allowed);
  EXPECT_TRUE(rl.check("", "ab", 1, kT0).allowed);
  EXPECT_TRUE(rl.check("ab", "", 1, kT0).allowed);
  // Keys with odd bytes and very long keys are fine and distinct.
  std::string nul("x\0y", 3), long_a(5000, 'a'), long_b = long_a;
  long_b.back() = 'b';
  EXPECT_TRUE(rl.check(nul, "c", 1, kT0).allowed);
  EXPECT_TRUE(rl.check("x", "c", 1, kT0).allowed);
  EXPECT_FALSE(rl.check(nul, "c", 1, kT0).allowed);
  EXPECT_TRUE(rl.check(long_a, "c", 1, kT0).allowed);
  EXPECT_TRUE(rl.check(long_b, "c", 1, kT0).allowed);
  EXPECT_FALSE(rl.check(long_a, "c", 1, kT0).allowed);
}

TEST(RateLimiter, ALimitChangeKeepsTheDrainedFraction) {
  RateLimiter rl;
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(rl.check("u", "compile", 10, kT0).allowed);
  // Upgraded to 100 per minute with the bucket fully drained: one more slot frees every 0.6 s.
  auto d = rl.check("u", "compile", 100, kT0);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.retry_after_s, 1);
  EXPECT_TRUE(rl.check("u", "compile", 100, kT0 + 600).allowed);
  // Half drained at 10/min, then at 2/min: still half drained, so one of two fits.
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(rl.check("h", "compile", 10, kT0).allowed);
  EXPECT_TRUE(rl.check("h", "compile", 2, kT0).allowed);
  EXPECT_FALSE(rl.check("h", "compile", 2, kT0).allowed);
}

TEST(RateLimiter, AClockSteppingBackDoesNotRefill) {
  RateLimiter rl;
  ASSERT_TRUE(rl.check("u", "c", 1, kT0).allowed);
  EXPECT_FALSE(rl.check("u", "c", 1, kT0 - 120000).allowed);
  EXPECT_FALSE(rl.check("u", "c", 1, kT0 + 59999).allowed);
  EXPECT_TRUE(rl.check("u", "c", 1, kT0 + 60000).allowed);
}

TEST(RateLimiter, IdleEntriesAreSwept) {
  RateLimiterOptions o;
  o.sweep_every = 1000000;  // only explicit sweeps here
  RateLimiter rl(o);
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(rl.check("k" + std::to_string(i), "api", 10, kT0).allowed);
  ASSERT_TRUE(rl.check("busy", "api", 1, kT0 + 30000).allowed);
  EXPECT_EQ(rl.tracked_keys(), 101u);
  rl.sweep(kT0 + 5999);  // one request of 10/min drains in 6 s
  EXPECT_EQ(rl.tracked_keys(), 101u);
  rl.sweep(kT0 + 6000);
  EXPECT_EQ(rl.tracked_keys(), 1u);
  // Sweeping changed nothing observable: the busy key is still limited, the others are fresh.
  EXPECT_FALSE(rl.check("busy", "api", 1, kT0 + 31000).allowed);
  EXPECT_EQ(rl.check("k0", "api", 10, kT0 + 31000).remaining, 9);
}

TEST(RateLimiter, SweepsHappenOnTheirOwn) {
  RateLimiterOptions o;
  o.shards = 1;
  o.sweep_every = 64;
  RateLimiter rl(o);
  for (int i = 0; i < 1000; ++i)
    ASSERT_TRUE(rl.check("k" + std::to_string(i), "api", 60, kT0 + i * 2000).allowed);
  // Each entry is idle one second after its request; sweeps every 64 calls keep at most ~64.
  EXPECT_LE(rl.tracked_keys(), 65u);
}

TEST(RateLimiter, MemoryIsCappedByEvictingTheLeastRecentlyUsed) {
  RateLimiterOptions o;
  o.shards = 4;
  o.max_keys = 64;
  o.sweep_every = 1000000;
  RateLimiter rl(o);
  RateLimiter reference;  // no memory pressure: what the regular key should see
  int64_t now = kT0;
  for (int i = 0; i < 4000; ++i) {
    // Every sprayed key is drained (1 per minute) so nothing is idle: only eviction bounds memory.
    ASSERT_TRUE(rl.check("spray" + std::to_string(i), "login_ip", 1, ++now).allowed);
    ASSERT_LE(rl.tracked_keys(), 64u) << i;
    if (i % 8 == 0) {
      // A key in regular use keeps its state through the spray: same decisions as without a cap.
      ++now;
      auto got = rl.check("regular", "api", 1000, now);
      auto want = reference.check("regular", "api", 1000, now);
      ASSERT_EQ(got.allowed, want.allowed) << i;
      ASSERT_EQ(got.remaining, want.remaining) << i;
    }
  }
  EXPECT_LT(reference.check("regular", "api", 1000, now).remaining, 600);  // it was really draining
  // The most recent sprayed key is still limited; the oldest was forgotten.
  EXPECT_FALSE(rl.check("spray3999", "login_ip", 1, now).allowed);
  EXPECT_TRUE(rl.check("spray0", "login_ip", 1, now).allowed);
}

TEST(RateLimiter, ConcurrencySlots) {
  RateLimiter rl;
  EXPECT_TRUE(rl.acquire("u", "streams", 2));
  EXPECT_TRUE(rl.acquire("u", "streams", 2));
  EXPECT_FALSE(rl.acquire("u", "streams", 2));
  EXPECT_EQ(rl.active("u", "streams"), 2);
  EXPECT_TRUE(rl.acquire("v", "streams", 2));  // per key
  rl.release("u", "streams");
  EXPECT_EQ(rl.active("u", "streams"), 1);
  EXPECT_TRUE(rl.acquire("u", "streams", 2));
  rl.release("u", "streams");
  rl.release("u", "streams");
  rl.release("u", "streams");  // one too many: ignored, never negative
  EXPECT_EQ(rl.active("u", "streams"), 0);
  EXPECT_TRUE(rl.acquire("u", "streams", 1));
  EXPECT_FALSE(rl.acquire("u", "streams", 1));
  rl.release("u", "streams");
  // Unlimited still counts.
  for (int i = 0; i < 50; ++i) EXPECT_TRUE(rl.acquire("e", "streams", kUnlimited));
  EXPECT_EQ(rl.active("e", "streams"), 50);
  // Gauges are separate from rate entries.
  EXPECT_EQ(rl.tracked_keys(), 0u);
}

TEST(RateLimiter, SlotsReleaseOnDestructionAndMove) {
  RateLimiter rl;
  {
    auto a = rl.try_acquire("u", "streams", 2);
    auto b = rl.try_acquire("u", "streams", 2);
    auto c = rl.try_acquire("u", "streams", 2);
    EXPECT_TRUE(a);
    EXPECT_TRUE(b);
    EXPECT_FALSE(c);
    EXPECT_EQ(rl.active("u", "streams"), 2);
    RateLimiter::Slot moved = std::move(a);
    EXPECT_FALSE(a);  // NOLINT(bugprone-use-after-move): checking the moved-from state
    EXPECT_TRUE(moved);
    EXPECT_EQ(rl.active("u", "streams"), 2);
    b.reset();
    EXPECT_EQ(rl.active("u", "streams"), 1);
    b.reset();  // twice is harmless
    EXPECT_EQ(rl.active("u", "streams"), 1);
    moved = rl.try_acquire("u", "streams", 2);  // assigning releases the old slot first
    EXPECT_EQ(rl.active("u", "streams"), 1);
  }
  EXPECT_EQ(rl.active("u", "streams"), 0);
}

TEST(RateLimiter, ManyThreadsGetExactlyTheLimit) {
  RateLimiter rl;
  constexpr int kThreads = 8, kPerThread = 5000, kKeys = 16;
  std::vector<std::atomic<int>> allowed(kKeys);
  std::atomic<int> denied{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        int k = (i + t) % kKeys;
        // Frozen clock: each key admits exactly its limit (100 + k) in total.
        auto d = rl.check("user" + std::to_string(k), "execute", 100 + k, kT0);
        if (d.allowed) {
          allowed[k].fetch_add(1);
        } else {
          denied.fetch_add(1);
          EXPECT_GE(d.retry_after_s, 1);
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  int total = 0;
  for (int k = 0; k < kKeys; ++k) {
    EXPECT_EQ(allowed[k].load(), 100 + k) << k;
    total += allowed[k].load();
  }
  EXPECT_EQ(total + denied.load(), kThreads * kPerThread);
}

TEST(RateLimiter, ManyThreadsShareConcurrencySlots) {
  RateLimiter rl;
  constexpr int kThreads = 8;
  std::atomic<int> inside{0}, peak{0}, bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20000; ++i) {
        auto slot = rl.try_acquire("u", "streams", 3);
        if (!slot) continue;
        int now = inside.fetch_add(1) + 1;
        if (now > 3) bad.fetch_add(1);
        int p = peak.load();
        while (now > p && !peak.compare_exchange_weak(p, now)) {
        }
        inside.fetch_sub(1);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_LE(peak.load(), 3);
  EXPECT_EQ(rl.active("u", "streams"), 0);
}

// ---- the tier table -------------------------------------------------------------------------------

TEST(TierLimits, DefaultsFollowTheProductSpec) {
  auto free = limits_for_tier("free", Json());
  EXPECT_EQ(free.compile, 10);
  EXPECT_EQ(free.execute, 5);
  EXPECT_EQ(free.streams, 5);
  EXPECT_EQ(free.api, 120);
  auto pro = limits_for_tier("pro", Json());
  EXPECT_EQ(pro.compile, 100);
  EXPECT_EQ(pro.execute, 50);
  EXPECT_EQ(pro.streams, 20);
  EXPECT_EQ(pro.api, 600);
  auto ent = limits_for_tier("enterprise", Json());
  EXPECT_EQ(ent.compile, kUnlimited);
  EXPECT_EQ(ent.execute, 200);
  EXPECT_EQ(ent.streams, 100);
  EXPECT_EQ(ent.api, 3000);
  // Unknown tiers get the least.
  auto unknown = limits_for_tier("platinum", Json());
  EXPECT_EQ(unknown.compile, 10);
  EXPECT_EQ(unknown.api, 120);
  auto p = public_limits(Json());
  EXPECT_EQ(p.login_per_account, 10);
  EXPECT_EQ(p.login_per_ip, 30);
  EXPECT_EQ(p.unauthenticated_per_ip, 60);
}

TEST(TierLimits, OverridesFromConfig) {
  Json o = parse(R"({"free": {"execute": 7, "api": "unlimited"}, "enterprise": {"compile": 1000},
                     "pro": {"streams": 0}, "public": {"login_per_ip": 20}})");
  ASSERT_TRUE(validate_limit_overrides(o).ok());
  auto free = limits_for_tier("free", o);
  EXPECT_EQ(free.execute, 7);
  EXPECT_EQ(free.api, kUnlimited);
  EXPECT_EQ(free.compile, 10);
  EXPECT_EQ(limits_for_tier("enterprise", o).compile, 1000);
  EXPECT_EQ(limits_for_tier("pro", o).streams, kUnlimited);
  EXPECT_EQ(limits_for_tier("pro", o).execute, 50);
  EXPECT_EQ(limits_for_tier("mystery", o).execute, 7);  // unknown = free, overrides included
  EXPECT_EQ(public_limits(o).login_per_ip, 20);
  EXPECT_EQ(public_limits(o).login_per_account, 10);
}

TEST(TierLimits, BadOverridesAreReportedAndIgnored) {
  struct Case {
    const char* json;
    const char* words;
  };
  for (const Case& c :
       {Case{R"([1])", "must be an object"}, Case{R"({"gold": {}})", "\"gold\" is not a tier"},
        Case{R"({"free": 5})", "\"free\" must be an object"},
        Case{R"({"free": {"exec": 5}})", "\"free.exec\" is unknown"},
        Case{R"({"public": {"compile": 5}})", "\"public.compile\" is unknown"},
        Case{R"({"pro": {"execute": "lots"}})",
             "\"pro.execute\" must be an integer or \"unlimited\", not \"lots\""},
        Case{R"({"pro": {"execute": 2.5}})", "must be an integer or \"unlimited\", not 2.5"}}) {
    auto st = validate_limit_overrides(parse(c.json));
    ASSERT_FALSE(st.ok()) << c.json;
    EXPECT_EQ(st.error().code, "invalid_config");
    EXPECT_NE(st.error().message.find(c.words), std::string::npos) << st.error().message;
  }
  EXPECT_TRUE(validate_limit_overrides(Json()).ok());
  EXPECT_TRUE(validate_limit_overrides(Json::object()).ok());
  // limits_for_tier never fails: bad entries fall back to the defaults.
  Json bad = parse(R"({"pro": {"execute": "lots", "compile": 3}})");
  EXPECT_EQ(limits_for_tier("pro", bad).execute, 50);
  EXPECT_EQ(limits_for_tier("pro", bad).compile, 3);
}

}  // namespace
