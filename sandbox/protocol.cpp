#include "sandbox/protocol.hpp"

#include <string>

#include "sandbox/pool.hpp"

namespace weft::sandbox::protocol {
namespace {

Error bad_frame(std::string message) { return Error("protocol_error", std::move(message)); }

bool contains(std::string_view text, std::string_view needle) {
  return text.find(needle) != std::string_view::npos;
}

}  // namespace

Result<ChildFrame> parse_child_frame(std::string_view line, size_t max_frame_bytes) {
  JsonParseLimits limits;
  limits.max_bytes = max_frame_bytes;
  limits.reject_duplicate_keys = true;
  auto parsed = Json::parse(line, limits);
  if (!parsed.ok()) {
    const std::string& c = parsed.error().code;
    if (c == "json_too_deep" || c == "json_too_large") {
      return Error("output_limit", "the code's output is nested too deeply or too large (" + c + ")");
    }
    return bad_frame("the sandbox sent a frame that is not valid JSON (" + c + ")");
  }
  const Json& f = *parsed;
  if (!f.is_object()) return bad_frame("the sandbox sent a frame that is not a JSON object");
  const Json* t = f.find("t");
  if (t == nullptr || !t->is_string()) return bad_frame("the sandbox sent a frame without a type");
  const std::string& type = t->as_string();
  ChildFrame out;
  if (type == "ready") {
    out.type = ChildFrame::Type::Ready;
  } else if (type == "log") {
    out.type = ChildFrame::Type::Log;
    const Json* msg = f.find("msg");
    if (msg == nullptr || !msg->is_string()) return bad_frame("a log frame without a message");
    out.msg = msg->as_string();
    const std::string& level = f["level"].as_string();
    out.level = (level == "debug" || level == "warn" || level == "error") ? level : "info";
  } else if (type == "call") {
    out.type = ChildFrame::Type::Call;
    const Json* id = f.find("id");
    const Json* op = f.find("op");
    if (id == nullptr || !id->is_int()) return bad_frame("a call frame without an integer id");
    if (op == nullptr || !op->is_string() || op->as_string().empty() || op->as_string().size() > 128) {
      return bad_frame("a call frame without an op");
    }
    out.id = id->as_int();
    out.op = op->as_string();
    const Json* args = f.find("args");
    out.args = args != nullptr ? *args : Json::object();
  } else if (type == "result") {
    out.type = ChildFrame::Type::Result;
    const Json* v = f.find("value");
    out.value = v != nullptr ? *v : Json();
  } else if (type == "error") {
    out.type = ChildFrame::Type::Error;
    const Json* e = f.find("error");
    if (e == nullptr || !e->is_object()) return bad_frame("an error frame without an error object");
    out.value = *e;
  } else if (type == "done") {
    out.type = ChildFrame::Type::Done;
  } else {
    return bad_frame("the sandbox sent a frame of unknown type");
  }
  return out;
}

std::string encode_job(const Job& job) {
  Json limits = Json::object();
  limits.set("timeout_ms", job.timeout_ms);
  limits.set("cpu_ms", job.limits.cpu_ms);
  limits.set("memory_bytes", job.limits.memory_bytes);
  Json frame = Json::object();
  frame.set("t", "job");
  frame.set("mode", job.mode);
  frame.set("custom_node", job.custom_node || job.mode == "describe");
  frame.set("code", job.code);
  frame.set("input", job.input);
  frame.set("params", job.params.is_null() ? Json::object() : job.params);
  frame.set("context", job.context.is_null() ? Json::object() : job.context);
  frame.set("limits", std::move(limits));
  std::string out;
  frame.dump_to(out);
  out.push_back('\n');
  return out;
}

std::string encode_reply_ok(int64_t id, const Json& value) {
  std::string out = "{\"t\":\"reply\",\"id\":" + std::to_string(id) + ",\"ok\":true,\"value\":";
  value.dump_to(out);
  out += "}\n";
  return out;
}

std::string encode_reply_error(int64_t id, std::string_view code, std::string_view message) {
  Json err = Json::object();
  err.set("code", code);
  err.set("message", message);
  std::string out = "{\"t\":\"reply\",\"id\":" + std::to_string(id) + ",\"ok\":false,\"error\":";
  err.dump_to(out);
  out += "}\n";
  return out;
}

Json job_error(std::string_view code, std::string_view message) {
  Json e = Json::object();
  e.set("code", code);
  e.set("message", message);
  return e;
}

Json job_error_from_child(const Json& child_error) {
  const std::string name = child_error["name"].is_string() ? child_error["name"].as_string() : "Error";
  const std::string message = child_error["message"].is_string() ? child_error["message"].as_string() : "";
  const bool out_of_memory =
      name == "MemoryError" || (name == "RangeError" && contains(message, "Array buffer allocation failed"));
  Json details = Json::object();
  details.set("name", name);
  for (const char* key : {"line", "column"}) {
    const Json* v = child_error.find(key);
    if (v != nullptr && v->is_int() && v->as_int() > 0) details.set(key, *v);
  }
  for (const char* key : {"stack", "code"}) {
    const Json* v = child_error.find(key);
    if (v != nullptr && v->is_string()) details.set(key, *v);
  }
  std::string text = name;
  if (!message.empty()) text += ": " + message;
  if (details.contains("line")) {
    text += " (line " + std::to_string(details["line"].as_int());
    if (details.contains("column")) text += ", column " + std::to_string(details["column"].as_int());
    text += ")";
  }
  Json e = Json::object();
  e.set("code", out_of_memory ? "memory_limit" : "code_error");
  e.set("message", out_of_memory ? "the code ran out of memory: " + text : text);
  e.set("details", std::move(details));
  return e;
}

bool text_says_out_of_memory(std::string_view text) {
  return contains(text, "JavaScript heap out of memory") || contains(text, "Reached heap limit") ||
         contains(text, "Fatal process out of memory") || contains(text, "MemoryError") ||
         contains(text, "Cannot allocate memory") || contains(text, "std::bad_alloc");
}

}  // namespace weft::sandbox::protocol
