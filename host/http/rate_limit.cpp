#include "host/http/rate_limit.hpp"

#include <algorithm>
#include <array>
#include <functional>
#include <mutex>
#include <unordered_map>
#include <utility>

namespace weft::http {

namespace {

constexpr int64_t kWindowMs = 60000;        // limits are per minute
constexpr int64_t kMaxLimit = 1000000000;   // keeps 60000 * limit far from overflow
constexpr size_t kMaxStoredKeyBytes = 200;  // longer keys are stored as a digest

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

// GCRA state, scaled by the limit so that the arithmetic is exact in integers: a full bucket is
// debt 0, each request adds kWindowMs, the debt drains by `limit` per millisecond, and a request
// fits while debt + kWindowMs <= kWindowMs * limit.
struct RateEntry {
  int64_t last_ms = 0;
  int64_t debt = 0;
  int64_t limit = 1;
};

int64_t ceil_div(int64_t a, int64_t b) {
  return a <= 0 ? 0 : (a + b - 1) / b;
}

// The entry's debt as of now_ms, rescaled to `limit` if the limit changed.
int64_t current_debt(const RateEntry& e, int64_t limit, int64_t now_ms) {
  int64_t debt = e.debt;
  if (e.limit != limit && debt > 0) {
    // Keep the drained fraction of the bucket; 128-bit because debt * limit can reach 6e22.
    __int128 scaled = static_cast<__int128>(debt) * limit;
    debt = static_cast<int64_t>((scaled + e.limit - 1) / e.limit);
  }
  int64_t elapsed = std::max<int64_t>(0, now_ms - e.last_ms);
  if (elapsed >= kWindowMs) return 0;  // a bucket refills completely within one window
  return std::max<int64_t>(0, debt - elapsed * limit);
}

bool idle(const RateEntry& e, int64_t now_ms) {
  return current_debt(e, e.limit, now_ms) == 0;
}

// 64-bit FNV-1a with a seed; two differently seeded runs give a 128-bit digest for long keys.
uint64_t fnv1a(std::string_view s, uint64_t seed) {
  uint64_t h = 14695981039346656037ull ^ seed;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

void append_hex(std::string& out, uint64_t v) {
  static constexpr char kDigits[] = "0123456789abcdef";
  for (int shift = 60; shift >= 0; shift -= 4) out.push_back(kDigits[(v >> shift) & 0xf]);
}

// "<len(klass)>:<klass><key>" — unambiguous whatever bytes the key holds. Keys an attacker can
// make long (login account names) are replaced by a digest so an entry stays small.
void compose(std::string& out, std::string_view key, std::string_view klass) {
  out.clear();
  out += std::to_string(klass.size());
  out += ':';
  out += klass;
  if (key.size() <= kMaxStoredKeyBytes) {
    out += key;
  } else {
    out += "#digest:";
    append_hex(out, fnv1a(key, 0));
    append_hex(out, fnv1a(key, 0x9e3779b97f4a7c15ull));
    out += ':';
    out += std::to_string(key.size());
  }
}

// A per-thread buffer so that a lookup of an existing entry does not allocate.
std::string& scratch() {
  thread_local std::string buffer;
  return buffer;
}

}  // namespace

struct RateLimiter::Shard {
  mutable std::mutex mu;
  std::unordered_map<std::string, RateEntry, StringHash, std::equal_to<>> rates;
  std::unordered_map<std::string, int64_t, StringHash, std::equal_to<>> gauges;
  uint32_t calls = 0;

  void sweep_locked(int64_t now_ms) {
    std::erase_if(rates, [&](const auto& kv) { return idle(kv.second, now_ms); });
  }

  // Called before inserting into a full shard: drops idle entries, then, if that was not enough,
  // the least recently used eighth, so the O(n) pass is paid once per cap/8 insertions.
  void make_room(size_t cap, int64_t now_ms) {
    sweep_locked(now_ms);
    if (rates.size() < cap) return;
    size_t keep = cap - std::max<size_t>(1, cap / 8);
    size_t drop = rates.size() - keep;
    std::vector<std::pair<int64_t, decltype(rates)::iterator>> by_age;
    by_age.reserve(rates.size());
    for (auto it = rates.begin(); it != rates.end(); ++it) by_age.emplace_back(it->second.last_ms, it);
    std::nth_element(by_age.begin(), by_age.begin() + static_cast<ptrdiff_t>(drop - 1), by_age.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    for (size_t i = 0; i < drop; ++i) rates.erase(by_age[i].second);
  }
};

RateLimiter::RateLimiter(RateLimiterOptions options) : options_(options) {
  if (options_.shards == 0) options_.shards = 1;
  if (options_.sweep_every == 0) options_.sweep_every = 1;
  shard_cap_ = std::max<size_t>(1, options_.max_keys / options_.shards);
  shards_.reserve(options_.shards);
  for (size_t i = 0; i < options_.shards; ++i) shards_.push_back(std::make_unique<Shard>());
}

RateLimiter::~RateLimiter() = default;

RateLimiter::Shard& RateLimiter::shard_for(std::string_view composite) const {
  // The map hashes with std::hash too; mixing the bits keeps shard choice and bucket choice apart.
  uint64_t h = std::hash<std::string_view>{}(composite);
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  return *shards_[h % shards_.size()];
}

RateLimiter::Decision RateLimiter::check(std::string_view key, std::string_view klass,
                                         int64_t limit_per_minute, int64_t now_ms) {
  Decision d;
  if (limit_per_minute <= 0) return d;  // unlimited
  const int64_t limit = std::min(limit_per_minute, kMaxLimit);
  const int64_t capacity = kWindowMs * limit;
  d.limit = limit;

  std::string& id = scratch();
  compose(id, key, klass);
  Shard& shard = shard_for(id);
  std::lock_guard lock(shard.mu);
  if (++shard.calls % options_.sweep_every == 0) shard.sweep_locked(now_ms);

  auto it = shard.rates.find(std::string_view(id));
  int64_t debt = it == shard.rates.end() ? 0 : current_debt(it->second, limit, now_ms);
  if (debt + kWindowMs <= capacity) {
    debt += kWindowMs;
    d.allowed = true;
    d.remaining = (capacity - debt) / kWindowMs;
  } else {
    d.allowed = false;
    d.remaining = 0;
    int64_t wait_ms = ceil_div(debt + kWindowMs - capacity, limit);
    d.retry_after_s = std::max<int64_t>(1, ceil_div(wait_ms, 1000));
  }
  d.reset_after_s = ceil_div(ceil_div(debt, limit), 1000);

  if (it == shard.rates.end()) {
    // Only an allowed request can get here (a full bucket always fits one), so storing it is due.
    if (shard.rates.size() >= shard_cap_) shard.make_room(shard_cap_, now_ms);
    shard.rates.emplace(id, RateEntry{now_ms, debt, limit});
  } else {
    // Keep the later of the two times so a clock stepping back cannot refill the bucket twice.
    it->second = RateEntry{std::max(now_ms, it->second.last_ms), debt, limit};
  }
  return d;
}

bool RateLimiter::acquire(std::string_view key, std::string_view klass, int64_t max) {
  std::string& id = scratch();
  compose(id, key, klass);
  Shard& shard = shard_for(id);
  std::lock_guard lock(shard.mu);
  auto it = shard.gauges.find(std::string_view(id));
  if (it == shard.gauges.end()) {
    shard.gauges.emplace(id, 1);
    return true;
  }
  if (max > 0 && it->second >= max) return false;
  ++it->second;
  return true;
}

void RateLimiter::release(std::string_view key, std::string_view klass) {
  std::string& id = scratch();
  compose(id, key, klass);
  Shard& shard = shard_for(id);
  std::lock_guard lock(shard.mu);
  auto it = shard.gauges.find(std::string_view(id));
  if (it == shard.gauges.end()) return;
  if (--it->second <= 0) shard.gauges.erase(it);
}

int64_t RateLimiter::active(std::string_view key, std::string_view klass) const {
  std::string& id = scratch();
  compose(id, key, klass);
  Shard& shard = shard_for(id);
  std::lock_guard lock(shard.mu);
  auto it = shard.gauges.find(std::string_view(id));
  return it == shard.gauges.end() ? 0 : it->second;
}

RateLimiter::Slot RateLimiter::try_acquire(std::string_view key, std::string_view klass, int64_t max) {
  if (!acquire(key, klass, max)) return Slot();
  return Slot(this, std::string(key), std::string(klass));
}

RateLimiter::Slot::Slot(Slot&& other) noexcept
    : owner_(std::exchange(other.owner_, nullptr)),
      key_(std::move(other.key_)),
      klass_(std::move(other.klass_)) {}

RateLimiter::Slot& RateLimiter::Slot::operator=(Slot&& other) noexcept {
  if (this != &other) {
    reset();
    owner_ = std::exchange(other.owner_, nullptr);
    key_ = std::move(other.key_);
    klass_ = std::move(other.klass_);
  }
  return *this;
}

void RateLimiter::Slot::reset() {
  if (RateLimiter* owner = std::exchange(owner_, nullptr)) owner->release(key_, klass_);
}

size_t RateLimiter::tracked_keys() const {
  size_t n = 0;
  for (const auto& s : shards_) {
    std::lock_guard lock(s->mu);
    n += s->rates.size();
  }
  return n;
}

void RateLimiter::sweep(int64_t now_ms) {
  for (const auto& s : shards_) {
    std::lock_guard lock(s->mu);
    s->sweep_locked(now_ms);
  }
}

// ---- the tier table -------------------------------------------------------------------------------

namespace {

struct TierRow {
  std::string_view name;
  TierLimits limits;
};

constexpr std::array<TierRow, 3> kDefaultTiers = {{
    {"free", {10, 5, 5, 120, 5}},
    {"pro", {100, 50, 20, 600, 20}},
    {"enterprise", {kUnlimited, 200, 100, 3000, 60}},
}};

constexpr std::array<std::string_view, 5> kTierFields = {"compile", "execute", "streams", "api", "export"};
constexpr std::array<std::string_view, 3> kPublicFields = {"login_per_account", "login_per_ip",
                                                           "unauthenticated_per_ip"};

int64_t* tier_field(TierLimits& t, std::string_view name) {
  if (name == "compile") return &t.compile;
  if (name == "execute") return &t.execute;
  if (name == "streams") return &t.streams;
  if (name == "api") return &t.api;
  if (name == "export") return &t.exports;
  return nullptr;
}

int64_t* public_field(PublicLimits& p, std::string_view name) {
  if (name == "login_per_account") return &p.login_per_account;
  if (name == "login_per_ip") return &p.login_per_ip;
  if (name == "unauthenticated_per_ip") return &p.unauthenticated_per_ip;
  return nullptr;
}

// An override value: an integer (<= 0 = unlimited) or "unlimited"; nullopt for anything else.
std::optional<int64_t> limit_value(const Json& v) {
  if (v.is_int()) return v.as_int() <= 0 ? kUnlimited : v.as_int();
  if (v.is_string() && v.as_string() == "unlimited") return kUnlimited;
  return std::nullopt;
}

template <typename T, typename FieldFn>
void apply_overrides(T& limits, const Json& section, FieldFn field) {
  if (!section.is_object()) return;
  for (const auto& [name, value] : section.as_object()) {
    int64_t* slot = field(limits, name);
    auto v = limit_value(value);
    if (slot && v) *slot = *v;
  }
}

template <size_t N>
std::string joined(const std::array<std::string_view, N>& names) {
  std::string out;
  for (auto n : names) {
    if (!out.empty()) out += ", ";
    out += n;
  }
  return out;
}

}  // namespace

TierLimits limits_for_tier(std::string_view tier, const Json& overrides) {
  const TierRow* row = &kDefaultTiers[0];
  for (const auto& r : kDefaultTiers)
    if (r.name == tier) row = &r;
  TierLimits limits = row->limits;
  apply_overrides(limits, overrides[row->name], tier_field);
  return limits;
}

PublicLimits public_limits(const Json& overrides) {
  PublicLimits limits;
  apply_overrides(limits, overrides["public"], public_field);
  return limits;
}

Status validate_limit_overrides(const Json& overrides) {
  auto bad = [](std::string message) { return Error("invalid_config", std::move(message)); };
  if (overrides.is_null()) return {};
  if (!overrides.is_object())
    return bad(std::string("rate limit overrides must be an object, not ") + overrides.type_name());
  for (const auto& [section, fields] : overrides.as_object()) {
    const bool is_public = section == "public";
    bool known = is_public;
    for (const auto& r : kDefaultTiers) known = known || r.name == section;
    if (!known)
      return bad("rate limit override \"" + section +
                 "\" is not a tier (free, pro, enterprise) or \"public\"");
    if (!fields.is_object())
      return bad("rate limit override \"" + section + "\" must be an object, not " + fields.type_name());
    for (const auto& [name, value] : fields.as_object()) {
      TierLimits t;
      PublicLimits p;
      bool field_known = is_public ? public_field(p, name) != nullptr : tier_field(t, name) != nullptr;
      if (!field_known)
        return bad("rate limit override \"" + section + "." + name + "\" is unknown; expected one of " +
                   (is_public ? joined(kPublicFields) : joined(kTierFields)));
      if (!limit_value(value))
        return bad("rate limit override \"" + section + "." + name +
                   "\" must be an integer or \"unlimited\", not " +
                   (value.is_string()                      ? "\"" + value.as_string().substr(0, 40) + "\""
                    : value.is_number() || value.is_bool() ? value.dump()
                                                           : std::string(value.type_name())));
    }
  }
  return {};
}

}  // namespace weft::http
