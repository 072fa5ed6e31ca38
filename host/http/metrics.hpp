// A small Prometheus metrics registry: counters, gauges (stored or computed at scrape time) and
// histograms with fixed buckets, rendered as text exposition format 0.0.4 for GET /metrics.
//
// Hot path: registering a series returns a reference that stays valid for the registry's
// lifetime; cache it and the per-request cost is one or two relaxed atomic operations, with no
// string hashing and no lock:
//
//   static Counter& ok = registry.counter("weft_http_requests_total", "HTTP requests.",
//                                          {{"route", "/api/x"}, {"method", "GET"}, {"status", "200"}});
//   ok.inc();
//
// Label values only known per request go through a family handle, also cacheable; a lookup of an
// existing series takes a shared lock and compares the values (no allocation):
//
//   static CounterFamily& requests = registry.counter_family("weft_http_requests_total", "HTTP requests.",
//                                                             {"route", "method", "status"});
//   requests.labels({route, method, status}).inc();
//
// Misuse that can only be a programming error (an invalid metric or label name, a name registered
// again with another type, label names or buckets, the wrong number of label values) throws
// std::invalid_argument. A family holds at most `max_series` label combinations (default 10000);
// further combinations all share one series whose label values are "overflow", so label values
// taken from requests cannot grow memory without bound.
//
// Thread-safety: everything may be called from any thread; the registry, families and series must
// not be destroyed while in use. Callback gauges are invoked by render() without any registry lock
// held (they may use the registry) on the rendering thread.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace weft::http {

inline constexpr std::string_view kPrometheusContentType = "text/plain; version=0.0.4; charset=utf-8";

using Labels = std::vector<std::pair<std::string, std::string>>;

// Monotonic counter.
class Counter {
 public:
  void inc(uint64_t n = 1) { whole_.fetch_add(n, std::memory_order_relaxed); }
  // Adds a non-negative amount (negative, NaN and infinite amounts are ignored: counters only go up).
  void add(double amount);
  double value() const;

 private:
  std::atomic<uint64_t> whole_{0};
  std::atomic<double> fraction_{0};
};

// A value that goes up and down.
class Gauge {
 public:
  void set(double v) { v_.store(v, std::memory_order_relaxed); }
  void inc(double d = 1) { v_.fetch_add(d, std::memory_order_relaxed); }
  void dec(double d = 1) { v_.fetch_add(-d, std::memory_order_relaxed); }
  double value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> v_{0};
};

// Observations counted into fixed buckets (upper bounds, in seconds for durations).
class Histogram {
 public:
  explicit Histogram(std::shared_ptr<const std::vector<double>> bounds);
  void observe(double v);  // NaN is ignored
  uint64_t count() const;
  double sum() const { return sum_.load(std::memory_order_relaxed); }
  // Cumulative counts per bound, then +Inf last (size = bounds + 1).
  std::vector<uint64_t> cumulative() const;
  const std::vector<double>& bounds() const { return *bounds_; }

 private:
  std::shared_ptr<const std::vector<double>> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;  // per bucket, not cumulative; last = +Inf
  std::atomic<double> sum_{0};
};

// 5 ms .. 10 s, the usual HTTP latency buckets.
const std::vector<double>& default_latency_buckets();

namespace detail {

// Orders label-value lists of std::string or std::string_view alike (heterogeneous lookup).
struct ValuesLess {
  using is_transparent = void;
  template <typename A, typename B>
  bool operator()(const A& a, const B& b) const {
    return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end(),
                                        [](std::string_view x, std::string_view y) { return x < y; });
  }
};

class FamilyBase {
 public:
  FamilyBase(std::string name, std::string help, const char* type, std::vector<std::string> label_names,
             size_t max_series);
  virtual ~FamilyBase() = default;
  const std::string& name() const { return name_; }
  const char* type() const { return type_; }
  const std::vector<std::string>& label_names() const { return label_names_; }
  // Appends HELP, TYPE and every series; nothing when the family has no series.
  virtual void render(std::string& out) const = 0;

 protected:
  void render_header(std::string& out) const;
  // name{l1="v1",...,extra} value\n
  void render_sample(std::string& out, std::string_view suffix, const std::vector<std::string>& values,
                     std::string_view extra_label, double value) const;
  void check_arity(size_t n) const;

  std::string name_, help_;
  const char* type_;
  std::vector<std::string> label_names_;
  size_t max_series_;
};

}  // namespace detail

// All series of one metric name; M is Counter, Gauge or Histogram.
template <typename M>
class Family : public detail::FamilyBase {
 public:
  // The series for these label values, in the order of label_names(); created on first use.
  M& labels(std::initializer_list<std::string_view> values) { return get(values); }
  M& labels(const std::vector<std::string>& values) { return get(values); }
  M& labels(const std::vector<std::string_view>& values) { return get(values); }
  size_t series() const {
    std::shared_lock lock(mu_);
    return children_.size();
  }

  // Internal (used by MetricsRegistry).
  Family(std::string name, std::string help, const char* type, std::vector<std::string> label_names,
         size_t max_series, std::shared_ptr<const std::vector<double>> bounds = nullptr)
      : FamilyBase(std::move(name), std::move(help), type, std::move(label_names), max_series),
        bounds_(std::move(bounds)) {}
  void render(std::string& out) const override;
  const std::shared_ptr<const std::vector<double>>& bucket_bounds() const { return bounds_; }

 protected:
  template <typename Values>
  M& get(const Values& values);
  std::unique_ptr<M> make() const;

  mutable std::shared_mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<M>, detail::ValuesLess> children_;
  std::shared_ptr<const std::vector<double>> bounds_;  // histograms only
};

extern template class Family<Counter>;
extern template class Family<Gauge>;
extern template class Family<Histogram>;
using CounterFamily = Family<Counter>;
using HistogramFamily = Family<Histogram>;

// Gauges may also be computed at scrape time by a callback.
class GaugeFamily : public Family<Gauge> {
 public:
  using Family<Gauge>::Family;
  void set_callback(std::vector<std::string> values, std::function<double()> fn);
  bool remove_callback(const std::vector<std::string>& values);
  void render(std::string& out) const override;

 private:
  std::map<std::vector<std::string>, std::function<double()>, detail::ValuesLess> callbacks_;  // under mu_
};

class MetricsRegistry {
 public:
  explicit MetricsRegistry(size_t max_series_per_family = 10000) : max_series_(max_series_per_family) {}
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  // Families: returned references stay valid for the registry's lifetime. Asking again for a name
  // returns the same family (help text of the first registration wins).
  CounterFamily& counter_family(std::string_view name, std::string_view help,
                                std::vector<std::string> label_names);
  GaugeFamily& gauge_family(std::string_view name, std::string_view help,
                            std::vector<std::string> label_names);
  HistogramFamily& histogram_family(std::string_view name, std::string_view help,
                                    std::vector<std::string> label_names,
                                    const std::vector<double>& buckets = default_latency_buckets());

  // One series. `labels` may come in any order; the first registration of the name fixes the
  // family's label names (and their order in the output).
  Counter& counter(std::string_view name, std::string_view help, const Labels& labels = {});
  Gauge& gauge(std::string_view name, std::string_view help, const Labels& labels = {});
  Histogram& histogram(std::string_view name, std::string_view help, const Labels& labels = {},
                       const std::vector<double>& buckets = default_latency_buckets());

  // A gauge series computed by `fn` at every render() (queue depth, plugin states). Registering
  // the same name and labels again replaces the callback. A callback that throws renders as NaN.
  // Remove it before whatever it captures dies.
  void gauge_fn(std::string_view name, std::string_view help, const Labels& labels,
                std::function<double()> fn);
  bool remove_gauge_fn(std::string_view name, const Labels& labels);

  // The whole registry in text format 0.0.4, families sorted by name, series by label values.
  std::string render() const;

 private:
  template <typename F, typename... Extra>
  F& family(std::string_view name, std::string_view help, const char* type,
            std::vector<std::string> label_names, Extra&&... extra);
  // The family's label values for `labels`, in the family's order.
  static std::vector<std::string> values_for(const detail::FamilyBase& f, const Labels& labels);
  static std::vector<std::string> names_of(const Labels& labels);

  size_t max_series_;
  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<detail::FamilyBase>, std::less<>> families_;
};

// ---- template implementation ---------------------------------------------------------------------

template <typename M>
template <typename Values>
M& Family<M>::get(const Values& values) {
  check_arity(values.size());
  {
    std::shared_lock lock(mu_);
    auto it = children_.find(values);
    if (it != children_.end()) return *it->second;
  }
  std::unique_lock lock(mu_);
  auto it = children_.find(values);
  if (it != children_.end()) return *it->second;
  std::vector<std::string> key;
  key.reserve(values.size());
  if (children_.size() >= max_series_) {
    key.assign(values.size(), "overflow");
    auto overflow = children_.find(key);
    if (overflow != children_.end()) return *overflow->second;
  } else {
    for (const auto& v : values) key.emplace_back(v);
  }
  return *children_.emplace(std::move(key), make()).first->second;
}

template <typename M>
std::unique_ptr<M> Family<M>::make() const {
  if constexpr (std::is_same_v<M, Histogram>) {
    return std::make_unique<Histogram>(bounds_);
  } else {
    return std::make_unique<M>();
  }
}

}  // namespace weft::http
