// Syntax validation cost (host/codecheck): parse + checks of a 1,000-line JavaScript and Python
// file, valid and with a few errors. Build with -DCMAKE_BUILD_TYPE=Release for figures.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <string>

#include "host/codecheck/codecheck.hpp"

namespace {

// About 1,000 lines of ordinary code-node JavaScript: functions, classes, loops, templates.
std::string javascript_1000_lines() {
  std::string out;
  for (int i = 0; std::count(out.begin(), out.end(), '\n') < 1000; ++i) {
    const std::string n = std::to_string(i);
    out += "// block " + n + "\n";
    out += "async function handle" + n + "(items, { limit = 10, label } = {}) {\n";
    out += "  const seen = new Set();\n";
    out += "  for (const item of items.slice(0, limit)) {\n";
    out += "    if (seen.has(item?.json?.id ?? null)) continue;\n";
    out += "    seen.add(item.json.id);\n";
    out += "    const value = await fetchValue(item.json.url, { retries: " + n + " });\n";
    out += "    item.json.text = `${label}: ${value.toFixed(2)} (${item.json.name || 'none'})`;\n";
    out += "  }\n";
    out += "  return items.filter((x) => x.json.text !== undefined).map(({ json }) => ({ json }));\n";
    out += "}\n";
    out += "class Store" + n + " extends Base {\n";
    out += "  #cache = new Map();\n";
    out += "  get(key) { return this.#cache.get(key) ?? this.load(key); }\n";
    out += "}\n";
  }
  out += "return await handle0($input.all(), { label: 'x' });\n";
  return out;
}

std::string python_1000_lines() {
  std::string out;
  for (int i = 0; std::count(out.begin(), out.end(), '\n') < 1000; ++i) {
    const std::string n = std::to_string(i);
    out += "# block " + n + "\n";
    out += "async def handle_" + n + "(items, limit=10, label=None):\n";
    out += "    seen = set()\n";
    out += "    result = []\n";
    out += "    for item in items[:limit]:\n";
    out += "        if (key := item.get('id')) in seen:\n";
    out += "            continue\n";
    out += "        seen.add(key)\n";
    out += "        value = await fetch_value(item['url'], retries=" + n + ")\n";
    out += "        item['text'] = f\"{label}: {value:.2f} ({item.get('name') or 'none'})\"\n";
    out += "        result.append({'json': item})\n";
    out += "    return [r for r in result if r['json'].get('text') is not None]\n";
    out += "\n";
    out += "class Store" + n + "(Base):\n";
    out += "    def get(self, key):\n";
    out += "        return self._cache.get(key) or self.load(key)\n";
    out += "\n";
  }
  out += "return await handle_0(_input, label='x')\n";
  return out;
}

// Breaks three lines spread over the file.
std::string with_errors(std::string code) {
  for (size_t at : {code.size() / 4, code.size() / 2, code.size() * 3 / 4}) {
    const size_t nl = code.find('\n', at);
    if (nl != std::string::npos) code.insert(nl, " ) (");
  }
  return code;
}

void run(benchmark::State& state, const char* lang, const std::string& code, bool expect_ok) {
  size_t diagnostics = 0;
  for (auto _ : state) {
    auto r = weft::check_code(lang, code);
    if (r.ok != expect_ok) state.SkipWithError("unexpected verdict");
    diagnostics = r.diagnostics.size();
    benchmark::DoNotOptimize(r);
  }
  state.counters["bytes"] = static_cast<double>(code.size());
  state.counters["diagnostics"] = static_cast<double>(diagnostics);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * code.size()));
}

void BM_CodeCheck_JS_1000_Valid(benchmark::State& s) {
  static const std::string code = javascript_1000_lines();
  run(s, "javascript", code, true);
}
void BM_CodeCheck_JS_1000_Errors(benchmark::State& s) {
  static const std::string code = with_errors(javascript_1000_lines());
  run(s, "javascript", code, false);
}
void BM_CodeCheck_Python_1000_Valid(benchmark::State& s) {
  static const std::string code = python_1000_lines();
  run(s, "python", code, true);
}
void BM_CodeCheck_Python_1000_Errors(benchmark::State& s) {
  static const std::string code = with_errors(python_1000_lines());
  run(s, "python", code, false);
}
void BM_CodeCheck_JS_Small(benchmark::State& s) {
  static const std::string code = "const r = await fetch($json.url);\nreturn [{ json: await r.json() }];\n";
  run(s, "javascript", code, true);
}
void BM_CodeCheck_Python_Small(benchmark::State& s) {
  static const std::string code = "r = await fetch(_json['url'])\nreturn [{'json': r}]\n";
  run(s, "python", code, true);
}

BENCHMARK(BM_CodeCheck_JS_1000_Valid)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_CodeCheck_JS_1000_Errors)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_CodeCheck_Python_1000_Valid)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_CodeCheck_Python_1000_Errors)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_CodeCheck_JS_Small)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_CodeCheck_Python_Small)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
