#include "host/http/metrics.hpp"

#include <charconv>
#include <cmath>
#include <set>
#include <stdexcept>

namespace weft::http {

namespace {

bool valid_metric_name(std::string_view n) {
  if (n.empty()) return false;
  for (size_t i = 0; i < n.size(); ++i) {
    char c = n[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
              (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

bool valid_label_name(std::string_view n) {
  if (n.empty() || n.substr(0, 2) == "__") return false;  // "__" names are reserved by Prometheus
  for (size_t i = 0; i < n.size(); ++i) {
    char c = n[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

[[noreturn]] void misuse(const std::string& message) {
  throw std::invalid_argument("metrics: " + message);
}

// Prometheus float syntax: shortest round-trip decimal, NaN, +Inf, -Inf.
void append_value(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
  } else if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
  } else {
    char buf[64];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
  }
}

// HELP text escapes backslash and newline; label values also escape the double quote.
void append_escaped(std::string& out, std::string_view s, bool quote) {
  for (char c : s) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && quote) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
}

}  // namespace

// ---- series --------------------------------------------------------------------------------------

void Counter::add(double amount) {
  if (!(amount > 0) || std::isinf(amount)) return;
  fraction_.fetch_add(amount, std::memory_order_relaxed);
}

double Counter::value() const {
  return static_cast<double>(whole_.load(std::memory_order_relaxed)) +
         fraction_.load(std::memory_order_relaxed);
}

Histogram::Histogram(std::shared_ptr<const std::vector<double>> bounds)
    : bounds_(bounds ? std::move(bounds) : std::make_shared<const std::vector<double>>()),
      counts_(std::make_unique<std::atomic<uint64_t>[]>(bounds_->size() + 1)) {}

void Histogram::observe(double v) {
  if (std::isnan(v)) return;
  // Buckets are "less than or equal": the first bound >= v; past the last bound is +Inf.
  size_t i = static_cast<size_t>(std::lower_bound(bounds_->begin(), bounds_->end(), v) - bounds_->begin());
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

std::vector<uint64_t> Histogram::cumulative() const {
  std::vector<uint64_t> out(bounds_->size() + 1);
  uint64_t running = 0;
  for (size_t i = 0; i < out.size(); ++i) {
    running += counts_[i].load(std::memory_order_relaxed);
    out[i] = running;
  }
  return out;
}

uint64_t Histogram::count() const {
  return cumulative().back();
}

const std::vector<double>& default_latency_buckets() {
  static const std::vector<double> buckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  return buckets;
}

// ---- families ------------------------------------------------------------------------------------

namespace detail {

FamilyBase::FamilyBase(std::string name, std::string help, const char* type,
                       std::vector<std::string> label_names, size_t max_series)
    : name_(std::move(name)),
      help_(std::move(help)),
      type_(type),
      label_names_(std::move(label_names)),
      max_series_(max_series == 0 ? 1 : max_series) {}

void FamilyBase::render_header(std::string& out) const {
  out += "# HELP ";
  out += name_;
  out += ' ';
  append_escaped(out, help_, false);
  out += "\n# TYPE ";
  out += name_;
  out += ' ';
  out += type_;
  out += '\n';
}

void FamilyBase::render_sample(std::string& out, std::string_view suffix,
                               const std::vector<std::string>& values, std::string_view extra_label,
                               double value) const {
  out += name_;
  out += suffix;
  if (!values.empty() || !extra_label.empty()) {
    out += '{';
    for (size_t i = 0; i < values.size(); ++i) {
      if (i) out += ',';
      out += label_names_[i];
      out += "=\"";
      append_escaped(out, values[i], true);
      out += '"';
    }
    if (!extra_label.empty()) {
      if (!values.empty()) out += ',';
      out += extra_label;
    }
    out += '}';
  }
  out += ' ';
  append_value(out, value);
  out += '\n';
}

void FamilyBase::check_arity(size_t n) const {
  if (n != label_names_.size())
    misuse(name_ + " has " + std::to_string(label_names_.size()) + " labels, got " + std::to_string(n) +
           " values");
}

}  // namespace detail

template <typename M>
void Family<M>::render(std::string& out) const {
  std::shared_lock lock(mu_);
  if (children_.empty()) return;
  render_header(out);
  for (const auto& [values, metric] : children_) {
    if constexpr (std::is_same_v<M, Histogram>) {
      const std::vector<uint64_t> cumulative = metric->cumulative();
      const std::vector<double>& bounds = metric->bounds();
      std::string le;
      for (size_t i = 0; i <= bounds.size(); ++i) {
        le = "le=\"";
        if (i < bounds.size()) {
          append_value(le, bounds[i]);
        } else {
          le += "+Inf";
        }
        le += '"';
        render_sample(out, "_bucket", values, le, static_cast<double>(cumulative[i]));
      }
      render_sample(out, "_sum", values, {}, metric->sum());
      // _count equals the +Inf bucket of the same snapshot, so the two never disagree.
      render_sample(out, "_count", values, {}, static_cast<double>(cumulative.back()));
    } else {
      render_sample(out, "", values, {}, metric->value());
    }
  }
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

void GaugeFamily::set_callback(std::vector<std::string> values, std::function<double()> fn) {
  check_arity(values.size());
  std::unique_lock lock(mu_);
  callbacks_[std::move(values)] = std::move(fn);
}

bool GaugeFamily::remove_callback(const std::vector<std::string>& values) {
  std::unique_lock lock(mu_);
  return callbacks_.erase(values) > 0;
}

void GaugeFamily::render(std::string& out) const {
  std::map<std::vector<std::string>, double, detail::ValuesLess> samples;
  std::vector<std::pair<std::vector<std::string>, std::function<double()>>> callbacks;
  {
    std::shared_lock lock(mu_);
    for (const auto& [values, gauge] : children_) samples.emplace(values, gauge->value());
    callbacks.assign(callbacks_.begin(), callbacks_.end());
  }
  // Outside the lock: a callback may take its own locks or even register metrics.
  for (auto& [values, fn] : callbacks) {
    double v;
    try {
      v = fn ? fn() : std::nan("");
    } catch (...) {
      v = std::nan("");
    }
    samples[values] = v;
  }
  if (samples.empty()) return;
  render_header(out);
  for (const auto& [values, v] : samples) render_sample(out, "", values, {}, v);
}

// ---- the registry --------------------------------------------------------------------------------

template <typename F, typename... Extra>
F& MetricsRegistry::family(std::string_view name, std::string_view help, const char* type,
                           std::vector<std::string> label_names, Extra&&... extra) {
  if (!valid_metric_name(name)) misuse("\"" + std::string(name) + "\" is not a valid metric name");
  std::set<std::string_view> seen;
  for (const auto& l : label_names) {
    if (!valid_label_name(l)) misuse(std::string(name) + ": \"" + l + "\" is not a valid label name");
    if (std::string_view(type) == "histogram" && l == "le")
      misuse(std::string(name) + ": a histogram cannot have a label named le");
    if (!seen.insert(l).second) misuse(std::string(name) + ": label \"" + l + "\" is given twice");
  }
  std::lock_guard lock(mu_);
  auto it = families_.find(name);
  if (it == families_.end()) {
    auto f = std::make_unique<F>(std::string(name), std::string(help), type, std::move(label_names),
                                 max_series_, std::forward<Extra>(extra)...);
    F& ref = *f;
    families_.emplace(std::string(name), std::move(f));
    return ref;
  }
  auto* existing = dynamic_cast<F*>(it->second.get());
  if (!existing || std::string_view(existing->type()) != type)
    misuse(std::string(name) + " is already registered as a " + it->second->type());
  std::vector<std::string> have = existing->label_names(), want = label_names;
  std::sort(have.begin(), have.end());
  std::sort(want.begin(), want.end());
  if (have != want) misuse(std::string(name) + " is already registered with other label names");
  return *existing;
}

std::vector<std::string> MetricsRegistry::names_of(const Labels& labels) {
  std::vector<std::string> names;
  names.reserve(labels.size());
  for (const auto& [n, v] : labels) names.push_back(n);
  return names;
}

std::vector<std::string> MetricsRegistry::values_for(const detail::FamilyBase& f, const Labels& labels) {
  std::vector<std::string> values;
  values.reserve(f.label_names().size());
  for (const auto& n : f.label_names()) {
    auto it = std::find_if(labels.begin(), labels.end(), [&](const auto& l) { return l.first == n; });
    if (it == labels.end()) misuse(f.name() + ": label \"" + n + "\" is missing");
    values.push_back(it->second);
  }
  return values;
}

CounterFamily& MetricsRegistry::counter_family(std::string_view name, std::string_view help,
                                               std::vector<std::string> label_names) {
  return family<CounterFamily>(name, help, "counter", std::move(label_names));
}

GaugeFamily& MetricsRegistry::gauge_family(std::string_view name, std::string_view help,
                                           std::vector<std::string> label_names) {
  return family<GaugeFamily>(name, help, "gauge", std::move(label_names));
}

HistogramFamily& MetricsRegistry::histogram_family(std::string_view name, std::string_view help,
                                                   std::vector<std::string> label_names,
                                                   const std::vector<double>& buckets) {
  for (size_t i = 0; i < buckets.size(); ++i) {
    if (!std::isfinite(buckets[i]) || (i > 0 && !(buckets[i] > buckets[i - 1])))
      misuse(std::string(name) + ": buckets must be finite and strictly increasing (+Inf is implicit)");
  }
  auto& f = family<HistogramFamily>(name, help, "histogram", std::move(label_names),
                                    std::make_shared<const std::vector<double>>(buckets));
  if (*f.bucket_bounds() != buckets) misuse(std::string(name) + " is already registered with other buckets");
  return f;
}

Counter& MetricsRegistry::counter(std::string_view name, std::string_view help, const Labels& labels) {
  auto& f = counter_family(name, help, names_of(labels));
  return f.labels(values_for(f, labels));
}

Gauge& MetricsRegistry::gauge(std::string_view name, std::string_view help, const Labels& labels) {
  auto& f = gauge_family(name, help, names_of(labels));
  return f.labels(values_for(f, labels));
}

Histogram& MetricsRegistry::histogram(std::string_view name, std::string_view help, const Labels& labels,
                                      const std::vector<double>& buckets) {
  auto& f = histogram_family(name, help, names_of(labels), buckets);
  return f.labels(values_for(f, labels));
}

void MetricsRegistry::gauge_fn(std::string_view name, std::string_view help, const Labels& labels,
                               std::function<double()> fn) {
  auto& f = gauge_family(name, help, names_of(labels));
  f.set_callback(values_for(f, labels), std::move(fn));
}

bool MetricsRegistry::remove_gauge_fn(std::string_view name, const Labels& labels) {
  GaugeFamily* f = nullptr;
  {
    std::lock_guard lock(mu_);
    auto it = families_.find(name);
    if (it == families_.end()) return false;
    f = dynamic_cast<GaugeFamily*>(it->second.get());
  }
  if (!f) return false;
  std::vector<std::string> values;
  for (const auto& n : f->label_names()) {
    auto it = std::find_if(labels.begin(), labels.end(), [&](const auto& l) { return l.first == n; });
    if (it == labels.end()) return false;
    values.push_back(it->second);
  }
  return f->remove_callback(values);
}

std::string MetricsRegistry::render() const {
  // Families are never removed, so the pointers stay valid once the registry lock is released;
  // rendering without it lets callback gauges use the registry.
  std::vector<const detail::FamilyBase*> families;
  {
    std::lock_guard lock(mu_);
    families.reserve(families_.size());
    for (const auto& [name, f] : families_) families.push_back(f.get());
  }
  std::string out;
  for (const auto* f : families) f->render(out);
  return out;
}

}  // namespace weft::http
