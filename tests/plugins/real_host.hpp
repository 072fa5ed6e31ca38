// Running node types through the REAL host pieces: the registry's NodeType (loaded from a .so by
// weft::registry::Registry) called through its C function pointer, with the host's own services
// table (host/core/call.hpp) and a weft_call that records what the node sends to the host.
#pragma once

#include <mutex>
#include <string>
#include <vector>

#include "host/core/call.hpp"
#include "host/core/json.hpp"
#include "registry/registry.hpp"

namespace weft::plugin_tests {

// The host side of one node attempt, recording logs and events.
class RecordingCall : public weft_call {
 public:
  void log(int32_t level, std::string_view message) override {
    std::lock_guard lock(mu);
    logs.emplace_back(std::to_string(level) + ":" + std::string(message));
  }
  weft_status emit_event(std::string_view type, std::string_view data_json) override {
    if (!Json::parse(data_json)) return WEFT_ERR_INVALID_INPUT;
    std::lock_guard lock(mu);
    events.emplace_back(std::string(type) + ":" + std::string(data_json));
    return WEFT_OK;
  }
  bool is_cancelled() override { return cancelled; }
  int64_t deadline_monotonic_ms() override { return 0; }
  const std::string& idempotency_key() override { return key; }

  std::mutex mu;
  std::vector<std::string> logs, events;
  bool cancelled = false;
  std::string key = "exec-1:node-1:1";
};

struct RealRun {
  weft_status status = WEFT_ERR_INTERNAL;
  std::string output, error, park;
  std::vector<std::string> logs, events;

  // The output object parsed ({"main": null} when nothing was written), or null on error.
  Json outputs() const {
    if (status != WEFT_OK) return Json();
    auto parsed = Json::parse(output.empty() ? std::string_view(R"({"main":null})") : std::string_view(output));
    return parsed ? *parsed : Json();
  }
  std::string error_code() const {
    auto parsed = Json::parse(error);
    return parsed ? (*parsed)["code"].as_string() : std::string();
  }
};

// One attempt of `type` the way the executor calls it.
inline RealRun run_real(const registry::NodeType& type, std::string_view params_json, std::string_view input_json,
                        std::string_view resume_json = {}, uint32_t attempt = 1) {
  RecordingCall call;
  StringSink out, err, park;
  static const std::string kContext =
      R"({"execution_id":"exec-1","workflow_id":"wf-1","workflow_version":1,"scope":""})";
  weft_node_request req{};
  req.struct_size = sizeof req;
  req.call = &call;
  req.node_id = to_weft_str("node-1");
  req.params_json = to_weft_str(params_json);
  req.input_json = to_weft_str(input_json);
  req.resume_json = to_weft_str(resume_json);
  req.attempt = attempt;
  req.context_json = to_weft_str(kContext);
  weft_node_result res{sizeof(weft_node_result), &out.sink, &err.sink, &park.sink};
  RealRun r;
  r.status = type.execute(type.type_state, &req, &res);
  r.output = out.data;
  r.error = err.data;
  r.park = park.data;
  r.logs = call.logs;
  r.events = call.events;
  return r;
}

}  // namespace weft::plugin_tests
