// A plugin of node types that exist only for the executor tests: sleeping, recording side
// effects, failing N times, parking, and a barrier that proves branches run concurrently.
// Written directly against the C ABI (with a local exception barrier) like a foreign plugin.
#include <weft/weft_abi.h>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <thread>

namespace {

const weft_host_api* g_host = nullptr;

void put(weft_sink* s, const std::string& v) {
  if (s && s->write) s->write(s->ctx, v.data(), v.size());
}
std::string str(weft_str s) { return s.ptr ? std::string(s.ptr, s.len) : std::string(); }
std::string to_text(const rapidjson::Value& v) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  v.Accept(w);
  return std::string(sb.GetString(), sb.GetSize());
}
std::string err_json(const char* code, const std::string& msg) {
  rapidjson::Document d(rapidjson::kObjectType);
  d.AddMember("code", rapidjson::Value(code, d.GetAllocator()), d.GetAllocator());
  d.AddMember("message", rapidjson::Value(msg.c_str(), d.GetAllocator()), d.GetAllocator());
  return to_text(d);
}

struct Req {
  rapidjson::Document params, input;
  std::string main_text = "null";
  std::string node_id;
};
bool parse_req(const weft_node_request* r, Req& q) {
  q.params.Parse(r->params_json.ptr, r->params_json.len);
  q.input.Parse(r->input_json.ptr, r->input_json.len);
  q.node_id = str(r->node_id);
  if (q.params.HasParseError() || !q.params.IsObject() || q.input.HasParseError() || !q.input.IsObject()) return false;
  if (q.input.HasMember("main")) q.main_text = to_text(q.input["main"]);
  return true;
}
int64_t int_param(const Req& q, const char* name, int64_t def) {
  if (q.params.HasMember(name) && q.params[name].IsNumber()) return q.params[name].GetInt64();
  return def;
}
std::string str_param(const Req& q, const char* name) {
  if (q.params.HasMember(name) && q.params[name].IsString()) return q.params[name].GetString();
  return {};
}
void pass_through(const weft_node_result* res, const Req& q) { put(res->output, "{\"main\":" + q.main_text + "}"); }

// Sleeps `ms` cooperatively: returns early (cancelled) when the host says so, and early
// (successfully) once params.until_file exists.
weft_status do_sleep(void*, const weft_node_request* r, const weft_node_result* res) {
  Req q;
  if (!parse_req(r, q)) return WEFT_ERR_INVALID_INPUT;
  int64_t ms = int_param(q, "ms", 100);
  std::string until_file = str_param(q, "until_file");
  auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (std::chrono::steady_clock::now() < until) {
    if (!until_file.empty()) {
      if (FILE* f = std::fopen(until_file.c_str(), "r")) {
        std::fclose(f);
        break;
      }
    }
    if (g_host->is_cancelled(r->call)) {
      put(res->error, err_json("cancelled", "sleep interrupted"));
      return WEFT_ERR_CANCELLED;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  pass_through(res, q);
  return WEFT_OK;
}

// Appends "<node id> <attempt>\n" to params.file, then passes its input through.
weft_status do_record(void*, const weft_node_request* r, const weft_node_result* res) {
  Req q;
  if (!parse_req(r, q)) return WEFT_ERR_INVALID_INPUT;
  std::string file = str_param(q, "file");
  if (file.empty()) {
    put(res->error, err_json("missing_file", "params.file is required"));
    return WEFT_ERR_INVALID_INPUT;
  }
  FILE* f = std::fopen(file.c_str(), "a");
  if (!f) return WEFT_ERR_FAILED;
  std::fprintf(f, "%s %u\n", q.node_id.c_str(), r->attempt);
  std::fflush(f);
  std::fclose(f);
  std::string msg = "recorded " + q.node_id;
  g_host->log(r->call, WEFT_LOG_INFO, weft_str{msg.data(), msg.size()});
  pass_through(res, q);
  return WEFT_OK;
}

// Fails attempts 1..params.times with a retryable error, then passes through.
weft_status do_fail(void*, const weft_node_request* r, const weft_node_result* res) {
  Req q;
  if (!parse_req(r, q)) return WEFT_ERR_INVALID_INPUT;
  int64_t times = int_param(q, "times", 1);
  if (static_cast<int64_t>(r->attempt) <= times) {
    std::string msg = "planned failure " + std::to_string(r->attempt) + " of " + std::to_string(times);
    if (!str_param(q, "message").empty()) msg += ": " + str_param(q, "message");
    put(res->error, err_json("planned_failure", msg));
    return str_param(q, "kind") == "invalid" ? WEFT_ERR_INVALID_INPUT : WEFT_ERR_FAILED;
  }
  pass_through(res, q);
  return WEFT_OK;
}

// Parks with a human request: params.request (a JSON object, used as is) or
// {"kind": params.kind (default "clarification"), "question": "continue?"}; with params.wake_in_ms
// also a timer. On resume outputs the answer, or {"timed_out": true} when woken by the timer.
weft_status do_ask(void*, const weft_node_request* r, const weft_node_result* res) {
  Req q;
  if (!parse_req(r, q)) return WEFT_ERR_INVALID_INPUT;
  if (r->resume_json.len > 0) {
    rapidjson::Document d;
    d.Parse(r->resume_json.ptr, r->resume_json.len);
    if (d.IsObject() && d.HasMember("answer")) {
      put(res->output, "{\"main\":" + to_text(d["answer"]) + "}");
      return WEFT_OK;
    }
    put(res->output, "{\"main\":{\"timed_out\":true}}");
    return WEFT_OK;
  }
  std::string request;
  if (q.params.HasMember("request")) {
    request = to_text(q.params["request"]);
  } else {
    std::string kind = str_param(q, "kind");
    request = "{\"kind\":\"" + (kind.empty() ? std::string("clarification") : kind) + "\",\"question\":\"continue?\"}";
  }
  std::string park = "{\"request\":" + request;
  int64_t wake_in = int_param(q, "wake_in_ms", 0);
  if (wake_in > 0) {
    int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
    park += ",\"wake_at_ms\":" + std::to_string(now + wake_in);
  }
  put(res->park, park + "}");
  return WEFT_PARK;
}

// Waits until params.count nodes of the same params.group are inside, or fails after 5 s.
// Two such nodes on parallel branches only pass when the executor runs them concurrently.
struct Barrier {
  int inside = 0;
  std::condition_variable cv;
};
std::mutex g_barrier_mu;
std::map<std::string, Barrier> g_barriers;
weft_status do_barrier(void*, const weft_node_request* r, const weft_node_result* res) {
  Req q;
  if (!parse_req(r, q)) return WEFT_ERR_INVALID_INPUT;
  std::string group = str_param(q, "group");
  int64_t count = int_param(q, "count", 2);
  std::unique_lock<std::mutex> lock(g_barrier_mu);
  Barrier& b = g_barriers[group];
  ++b.inside;
  b.cv.notify_all();
  bool ok = b.cv.wait_for(lock, std::chrono::seconds(5), [&] { return b.inside >= count; });
  if (!ok) {
    --b.inside;
    put(res->error, err_json("barrier_timeout", "the other branch never ran concurrently"));
    return WEFT_ERR_INVALID_INPUT;
  }
  lock.unlock();
  pass_through(res, q);
  return WEFT_OK;
}

// Emits a custom event and logs, then outputs {"main": input, "extra": 1} (two handles taken).
weft_status do_emit(void*, const weft_node_request* r, const weft_node_result* res) {
  Req q;
  if (!parse_req(r, q)) return WEFT_ERR_INVALID_INPUT;
  const char* data = "{\"progress\":50}";
  g_host->emit_event(r->call, weft_str{"progress", 8}, weft_str{data, std::strlen(data)});
  std::string k = str(g_host->idempotency_key(r->call));
  put(res->output, "{\"main\":" + q.main_text + ",\"key\":\"" + k + "\"}");
  return WEFT_OK;
}

// Returns output that is not JSON.
weft_status do_garbage(void*, const weft_node_request*, const weft_node_result* res) {
  put(res->output, "not json");
  return WEFT_OK;
}

template <weft_status (*F)(void*, const weft_node_request*, const weft_node_result*)>
weft_status barrier_wrap(void* s, const weft_node_request* r, const weft_node_result* res) noexcept {
  try {
    return F(s, r, res);
  } catch (...) {
    return WEFT_ERR_INTERNAL;
  }
}

struct TypeDef {
  const char* name;
  const char* schema;
  uint32_t flags;
  weft_node_execute_fn fn;
};

#define ANY_IO R"("inputs":[{"name":"main","type":"any"}],"outputs":[{"name":"main","type":"any"}])"
const TypeDef kTypes[] = {
    {"test.sleep", R"({"display_name":"Sleep","category":"test","fields":[{"name":"ms","type":"integer","min":0,"default":100},{"name":"until_file","type":"string"}],)" ANY_IO "}", 0,
     &barrier_wrap<do_sleep>},
    {"test.record", R"({"display_name":"Record","category":"test","fields":[{"name":"file","type":"string","required":true}],)" ANY_IO "}",
     WEFT_NODE_FLAG_SIDE_EFFECTS, &barrier_wrap<do_record>},
    {"test.fail", R"({"display_name":"Fail N times","category":"test","fields":[{"name":"times","type":"integer","min":0,"default":1},{"name":"kind","type":"string"},{"name":"message","type":"string"}],)" ANY_IO "}", 0,
     &barrier_wrap<do_fail>},
    {"test.ask", R"({"display_name":"Ask","category":"test","fields":[{"name":"kind","type":"string"},{"name":"request","type":"json"},{"name":"wake_in_ms","type":"integer","min":0}],)" ANY_IO "}", WEFT_NODE_FLAG_LONG_RUNNING,
     &barrier_wrap<do_ask>},
    {"test.barrier", R"({"display_name":"Barrier","category":"test","fields":[{"name":"group","type":"string","required":true},{"name":"count","type":"integer","default":2}],)" ANY_IO "}", 0,
     &barrier_wrap<do_barrier>},
    {"test.emit", R"({"display_name":"Emit","category":"test","fields":[],"inputs":[{"name":"main","type":"any"}],"outputs":[{"name":"main","type":"any"},{"name":"key","type":"text"}]})", 0,
     &barrier_wrap<do_emit>},
    {"test.garbage", R"({"display_name":"Garbage","category":"test","fields":[],)" ANY_IO "}", 0, &barrier_wrap<do_garbage>},
};

}  // namespace

extern "C" {

WEFT_EXPORT uint32_t weft_plugin_negotiate(uint32_t host_min, uint32_t host_max) {
  return (WEFT_ABI_VERSION >= host_min && WEFT_ABI_VERSION <= host_max) ? WEFT_ABI_VERSION : 0;
}

WEFT_EXPORT weft_status weft_plugin_init(const weft_plugin_init_args* args) {
  try {
    g_host = args->host;
    for (const auto& t : kTypes) {
      weft_node_type nt{};
      nt.struct_size = sizeof nt;
      nt.type_name = weft_str{t.name, std::strlen(t.name)};
      nt.type_version = 1;
      nt.schema_json = weft_str{t.schema, std::strlen(t.schema)};
      nt.flags = t.flags;
      nt.execute = t.fn;
      weft_status st = args->registrar_api->register_node_type(args->registrar, &nt);
      if (st != WEFT_OK) return st;
    }
    return WEFT_OK;
  } catch (...) {
    return WEFT_ERR_INTERNAL;
  }
}

WEFT_EXPORT void weft_plugin_shutdown(void) {}
}
