// The Prometheus registry: exact text exposition output, escaping, histogram buckets, misuse,
// bounded label sets and concurrent use.
#include "host/http/metrics.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace {

using weft::http::Counter;
using weft::http::CounterFamily;
using weft::http::Gauge;
using weft::http::Histogram;
using weft::http::MetricsRegistry;

// Every line is a HELP/TYPE comment or `name{labels} value` with properly quoted label values.
void expect_valid_exposition(const std::string& text) {
  static const std::regex comment(
      R"(^# (HELP [a-zA-Z_:][a-zA-Z0-9_:]* .*|TYPE [a-zA-Z_:][a-zA-Z0-9_:]* (counter|gauge|histogram))$)");
  static const std::regex sample(
      R"re(^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\[\\"n])*"(,[a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\[\\"n])*")*\})? (NaN|[+-]Inf|-?[0-9.e+-]+)$)re");
  ASSERT_TRUE(text.empty() || text.back() == '\n');
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    EXPECT_TRUE(std::regex_match(line, line[0] == '#' ? comment : sample)) << line;
  }
}

TEST(Metrics, RendersASmallRegistryExactly) {
  MetricsRegistry r;
  Counter& get = r.counter("weft_http_requests_total", "HTTP requests.",
                           {{"route", "/api/x"}, {"method", "GET"}, {"status", "200"}});
  get.inc();
  get.inc(2);
  // The same labels in another order are the same series.
  EXPECT_EQ(&r.counter("weft_http_requests_total", "ignored",
                       {{"status", "200"}, {"route", "/api/x"}, {"method", "GET"}}),
            &get);
  CounterFamily& requests = r.counter_family("weft_http_requests_total", "x", {"route", "method", "status"});
  requests.labels({"/api/x", "POST", "201"}).inc();
  EXPECT_EQ(&requests.labels({"/api/x", "GET", "200"}), &get);

  r.gauge("weft_queue_depth", "Jobs waiting.").set(4);
  r.gauge_fn("weft_plugins", "Plugins by state.", {{"state", "loaded"}}, [] { return 2.0; });
  Histogram& h = r.histogram("weft_http_request_duration_seconds", "Latency.", {}, {0.125, 0.5, 1});
  for (double v : {0.0625, 0.125, 0.25, 2.0}) h.observe(v);
  r.counter_family("weft_unused_total", "Declared, never used.", {"x"});  // no series: not rendered

  EXPECT_EQ(r.render(),
            "# HELP weft_http_request_duration_seconds Latency.\n"
            "# TYPE weft_http_request_duration_seconds histogram\n"
            "weft_http_request_duration_seconds_bucket{le=\"0.125\"} 2\n"
            "weft_http_request_duration_seconds_bucket{le=\"0.5\"} 3\n"
            "weft_http_request_duration_seconds_bucket{le=\"1\"} 3\n"
            "weft_http_request_duration_seconds_bucket{le=\"+Inf\"} 4\n"
            "weft_http_request_duration_seconds_sum 2.4375\n"
            "weft_http_request_duration_seconds_count 4\n"
            "# HELP weft_http_requests_total HTTP requests.\n"
            "# TYPE weft_http_requests_total counter\n"
            "weft_http_requests_total{route=\"/api/x\",method=\"GET\",status=\"200\"} 3\n"
            "weft_http_requests_total{route=\"/api/x\",method=\"POST\",status=\"201\"} 1\n"
            "# HELP weft_plugins Plugins by state.\n"
            "# TYPE weft_plugins gauge\n"
            "weft_plugins{state=\"loaded\"} 2\n"
            "# HELP weft_queue_depth Jobs waiting.\n"
            "# TYPE weft_queue_depth gauge\n"
            "weft_queue_depth 4\n");
  expect_valid_exposition(r.render());
}

TEST(Metrics, EscapesLabelValuesAndHelp) {
  MetricsRegistry r;
  r.counter("weft_odd_total", "Help with \\ and\nnewline \"quoted\".", {{"v", "a\\b\"c\nd"}}).inc();
  EXPECT_EQ(r.render(),
            "# HELP weft_odd_total Help with \\\\ and\\nnewline \"quoted\".\n"
            "# TYPE weft_odd_total counter\n"
            "weft_odd_total{v=\"a\\\\b\\\"c\\nd\"} 1\n");
  expect_valid_exposition(r.render());
}

TEST(Metrics, FormatsValues) {
  MetricsRegistry r;
  r.gauge("g", "", {{"k", "a"}}).set(0.1);
  r.gauge("g", "", {{"k", "b"}}).set(-2.5e-7);
  r.gauge("g", "", {{"k", "c"}}).set(std::numeric_limits<double>::infinity());
  r.gauge("g", "", {{"k", "d"}}).set(-std::numeric_limits<double>::infinity());
  r.gauge("g", "", {{"k", "e"}}).set(std::nan(""));
  r.gauge("g", "", {{"k", "f"}}).set(1e21);
  r.gauge("g", "", {{"k", "g"}}).set(123456789);
  EXPECT_EQ(r.render(),
            "# HELP g \n# TYPE g gauge\n"
            "g{k=\"a\"} 0.1\ng{k=\"b\"} -2.5e-07\ng{k=\"c\"} +Inf\ng{k=\"d\"} -Inf\ng{k=\"e\"} NaN\n"
            "g{k=\"f\"} 1e+21\ng{k=\"g\"} 123456789\n");
  expect_valid_exposition(r.render());
}

TEST(Metrics, CountersOnlyGoUp) {
  MetricsRegistry r;
  Counter& c = r.counter("c_total", "c");
  c.inc();
  c.add(0.5);
  c.add(-3);
  c.add(std::nan(""));
  c.add(std::numeric_limits<double>::infinity());
  EXPECT_DOUBLE_EQ(c.value(), 1.5);
  Gauge& g = r.gauge("g", "g");
  g.inc(5);
  g.dec(7);
  EXPECT_DOUBLE_EQ(g.value(), -2);
}

TEST(Metrics, HistogramBucketMath) {
  MetricsRegistry r;
  auto& fam = r.histogram_family("h_seconds", "h", {"route"}, {0.005, 0.01, 0.1, 1});
  Histogram& h = fam.labels({"/x"});
  // Bounds are inclusive ("less than or equal"); below the first bound counts in every bucket.
  for (double v : {0.0, 0.005, 0.0050001, 0.01, 0.5, 1.0, 1.0000001, 100.0, -1.0}) h.observe(v);
  h.observe(std::nan(""));  // ignored
  EXPECT_EQ(h.cumulative(), (std::vector<uint64_t>{3, 5, 5, 7, 9}));
  EXPECT_EQ(h.count(), 9u);
  EXPECT_DOUBLE_EQ(h.sum(), 0.0 + 0.005 + 0.0050001 + 0.01 + 0.5 + 1.0 + 1.0000001 + 100.0 - 1.0);
  std::string text = r.render();
  EXPECT_NE(text.find("h_seconds_bucket{route=\"/x\",le=\"0.005\"} 3\n"
                      "h_seconds_bucket{route=\"/x\",le=\"0.01\"} 5\n"
                      "h_seconds_bucket{route=\"/x\",le=\"0.1\"} 5\n"
                      "h_seconds_bucket{route=\"/x\",le=\"1\"} 7\n"
                      "h_seconds_bucket{route=\"/x\",le=\"+Inf\"} 9\n"
                      "h_seconds_sum{route=\"/x\"} "),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("h_seconds_count{route=\"/x\"} 9\n"), std::string::npos) << text;
  expect_valid_exposition(text);

  // Default buckets, and a histogram with only +Inf.
  Histogram& d = r.histogram("d_seconds", "d");
  EXPECT_EQ(d.bounds(), weft::http::default_latency_buckets());
  d.observe(0.2);
  EXPECT_EQ(d.cumulative(), (std::vector<uint64_t>{0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1}));
  Histogram& only_inf = r.histogram("i_seconds", "i", {}, {});
  only_inf.observe(3);
  EXPECT_NE(r.render().find("i_seconds_bucket{le=\"+Inf\"} 1\ni_seconds_sum 3\ni_seconds_count 1\n"),
            std::string::npos);
}

TEST(Metrics, CallbackGauges) {
  MetricsRegistry r;
  int depth = 3;
  r.gauge_fn("weft_queue_depth", "Queue.", {{"queue", "default"}}, [&] { return double(depth); });
  EXPECT_NE(r.render().find("weft_queue_depth{queue=\"default\"} 3\n"), std::string::npos);
  depth = 9;  // computed at scrape time
  EXPECT_NE(r.render().find("weft_queue_depth{queue=\"default\"} 9\n"), std::string::npos);
  // Replacing, a throwing callback, a callback that uses the registry itself.
  r.gauge_fn("weft_queue_depth", "Queue.", {{"queue", "default"}}, [] { return 1.0; });
  r.gauge_fn("weft_queue_depth", "Queue.", {{"queue", "broken"}},
             []() -> double { throw std::runtime_error("x"); });
  r.gauge_fn("weft_queue_depth", "Queue.", {{"queue", "nested"}},
             [&r] { return r.counter("weft_scrapes_total", "Scrapes.").value() + 0.5; });
  std::string text = r.render();
  EXPECT_NE(text.find("weft_queue_depth{queue=\"broken\"} NaN\n"
                      "weft_queue_depth{queue=\"default\"} 1\n"
                      "weft_queue_depth{queue=\"nested\"} 0.5\n"),
            std::string::npos)
      << text;
  EXPECT_TRUE(r.remove_gauge_fn("weft_queue_depth", {{"queue", "broken"}}));
  EXPECT_FALSE(r.remove_gauge_fn("weft_queue_depth", {{"queue", "broken"}}));
  EXPECT_FALSE(r.remove_gauge_fn("weft_nothing", {}));
  EXPECT_EQ(r.render().find("broken"), std::string::npos);
}

TEST(Metrics, MisuseIsAProgrammingError) {
  MetricsRegistry r;
  r.counter("weft_a_total", "a", {{"x", "1"}});
  EXPECT_THROW(r.gauge("weft_a_total", "a", {{"x", "1"}}), std::invalid_argument);    // other type
  EXPECT_THROW(r.counter("weft_a_total", "a", {{"y", "1"}}), std::invalid_argument);  // other labels
  EXPECT_THROW(r.counter("weft_a_total", "a"), std::invalid_argument);                // fewer labels
  EXPECT_THROW(r.counter("weft-bad", "a"), std::invalid_argument);                    // metric name
  EXPECT_THROW(r.counter("1abc", "a"), std::invalid_argument);
  EXPECT_THROW(r.counter("ok_total", "a", {{"__reserved", "1"}}), std::invalid_argument);  // label name
  EXPECT_THROW(r.counter("ok_total", "a", {{"b-c", "1"}}), std::invalid_argument);
  EXPECT_THROW(r.counter("ok_total", "a", {{"x", "1"}, {"x", "2"}}), std::invalid_argument);
  EXPECT_THROW(r.histogram("h_seconds", "h", {{"le", "1"}}), std::invalid_argument);
  EXPECT_THROW(r.histogram("h_seconds", "h", {}, {1, 1}), std::invalid_argument);
  EXPECT_THROW(r.histogram("h_seconds", "h", {}, {2, 1}), std::invalid_argument);
  EXPECT_THROW(r.histogram("h_seconds", "h", {}, {1, std::numeric_limits<double>::infinity()}),
               std::invalid_argument);
  r.histogram("h_seconds", "h", {}, {1, 2});
  EXPECT_THROW(r.histogram("h_seconds", "h", {}, {1, 3}), std::invalid_argument);  // other buckets
  auto& fam = r.counter_family("f_total", "f", {"a", "b"});
  EXPECT_THROW(fam.labels({"only one"}), std::invalid_argument);
  EXPECT_NO_THROW(r.counter("ok:name_total", "colons are fine"));
}

TEST(Metrics, LabelCombinationsAreBounded) {
  MetricsRegistry r(/*max_series_per_family=*/4);
  auto& fam = r.counter_family("weft_paths_total", "p", {"path"});
  for (int i = 0; i < 1000; ++i) fam.labels({"/p" + std::to_string(i)}).inc();
  EXPECT_EQ(fam.series(), 5u);  // four real ones and the shared overflow series
  std::string text = r.render();
  EXPECT_NE(text.find("weft_paths_total{path=\"/p0\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("weft_paths_total{path=\"overflow\"} 996\n"), std::string::npos) << text;
  // Existing series still resolve to themselves.
  EXPECT_EQ(fam.labels({"/p3"}).value(), 1);
}

TEST(Metrics, ConcurrentUpdatesAndScrapes) {
  MetricsRegistry r;
  constexpr int kThreads = 8, kIters = 20000;
  Counter& cached = r.counter("weft_cached_total", "c");
  auto& dynamic = r.counter_family("weft_dynamic_total", "d", {"route", "status"});
  auto& latency = r.histogram_family("weft_latency_seconds", "l", {"route"}, {0.5});
  std::atomic<bool> stop{false};
  std::thread scraper([&] {
    while (!stop.load()) expect_valid_exposition(r.render());
  });
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::string routes[] = {"/a", "/b", "/c"};
      for (int i = 0; i < kIters; ++i) {
        cached.inc();
        const std::string& route = routes[(i + t) % 3];
        dynamic.labels({route, i % 2 ? "200" : "500"}).inc();
        latency.labels({route}).observe(i % 2 ? 0.25 : 1.0);
        r.gauge("weft_threads", "t", {{"thread", std::to_string(t)}}).set(i);
      }
    });
  }
  for (auto& th : threads) th.join();
  stop = true;
  scraper.join();

  EXPECT_EQ(cached.value(), kThreads * kIters);
  double dynamic_total = 0;
  uint64_t observed = 0, fast = 0;
  for (const char* route : {"/a", "/b", "/c"}) {
    dynamic_total += dynamic.labels({route, "200"}).value() + dynamic.labels({route, "500"}).value();
    observed += latency.labels({route}).count();
    fast += latency.labels({route}).cumulative()[0];
  }
  EXPECT_EQ(dynamic_total, kThreads * kIters);
  EXPECT_EQ(observed, uint64_t{kThreads} * kIters);
  EXPECT_EQ(fast, uint64_t{kThreads} * kIters / 2);
  EXPECT_EQ(dynamic.series(), 6u);
  std::string text = r.render();
  expect_valid_exposition(text);
  EXPECT_NE(text.find("weft_threads{thread=\"7\"} 19999\n"), std::string::npos);
}

}  // namespace
