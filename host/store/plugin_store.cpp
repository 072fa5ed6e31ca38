#include "host/store/plugin_store.hpp"

#include <utility>

#include "host/core/call.hpp"
#include "host/store/records.hpp"

namespace weft::store {

namespace {

std::string source_name(const registry::StorageBackend& b, std::string_view op) {
  std::string s = "storage backend '" + b.scheme + "'";
  if (!b.plugin_name.empty()) s += " (plugin " + b.plugin_name + ")";
  if (!op.empty()) s += " " + std::string(op);
  return s;
}

Json object_of(std::initializer_list<std::pair<const char*, Json>> members) {
  Json j = Json::object();
  for (const auto& [k, v] : members) j.set(k, v);
  return j;
}

template <typename T>
Result<T> decode(Result<Json> r, const char* member) {
  if (!r.ok()) return r.take_error();
  T out;
  Status s = from_json((*r)[member], out);
  if (!s.ok()) return Error("storage_error", "storage backend returned a bad '" + std::string(member) +
                                                 "': " + s.error().message);
  return out;
}

template <typename T>
Result<std::vector<T>> decode_list(Result<Json> r, const char* member) {
  if (!r.ok()) return r.take_error();
  std::vector<T> out;
  Status s = from_json_array((*r)[member], out, member);
  if (!s.ok()) return Error("storage_error", "storage backend returned a bad '" + std::string(member) +
                                                 "': " + s.error().message);
  return out;
}

Status as_status(Result<Json> r) {
  if (!r.ok()) return r.take_error();
  return {};
}

}  // namespace

Result<std::shared_ptr<PluginStore>> PluginStore::open(
    std::shared_ptr<const registry::StorageBackend> backend, const std::string& url,
    const Json& options) {
  if (!backend) return Error("invalid_argument", "no storage backend given for '" + url + "'");
  const weft_storage_backend& vt = backend->vtable;
  if (!WEFT_HAS_FIELD(&vt, weft_storage_backend, close) || !vt.open || !vt.call || !vt.close) {
    return Error("storage_error", source_name(*backend, "") + " has an incomplete function table");
  }
  if (!options.is_object() && !options.is_null()) {
    return Error("invalid_argument", "storage options for '" + url + "' must be a JSON object, got " +
                                         options.type_name());
  }
  const std::string options_text = options.is_null() ? std::string("{}") : options.dump();
  StringSink error;
  weft_storage_conn* conn = nullptr;
  weft_status st = vt.open(vt.backend_state, to_weft_str(url), to_weft_str(options_text), &conn,
                           &error.sink);
  if (st != WEFT_OK || conn == nullptr) {
    if (conn) vt.close(conn);
    if (error.data.empty()) {
      return Error("storage_error", source_name(*backend, "open") + " failed with status " +
                                        std::to_string(static_cast<int>(st)) + " and no error report");
    }
    return error_from_json_text(error.data, source_name(*backend, "open"));
  }
  return std::shared_ptr<PluginStore>(new PluginStore(std::move(backend), conn));
}

PluginStore::PluginStore(std::shared_ptr<const registry::StorageBackend> backend,
                         weft_storage_conn* conn)
    : backend_(std::move(backend)), conn_(conn) {}

PluginStore::~PluginStore() {
  // Close while backend_ (and so the plugin's library) is still held.
  if (conn_) backend_->vtable.close(conn_);
}

Result<Json> PluginStore::call(std::string_view op, const Json& args) {
  return parse_result(op, call_text(op, to_json_text(args)));
}

Result<std::string> PluginStore::call_text(std::string_view op, const std::string& args_text) {
  StringSink result;
  StringSink error;
  weft_status st = backend_->vtable.call(conn_, to_weft_str(op), to_weft_str(args_text), &result.sink,
                                         &error.sink);
  if (st != WEFT_OK) {
    if (error.data.empty()) {
      return Error("storage_error", source_name(*backend_, op) + " failed with status " +
                                        std::to_string(static_cast<int>(st)) + " and no error report");
    }
    return error_from_json_text(error.data, source_name(*backend_, op));
  }
  return std::move(result.data);
}

Result<Json> PluginStore::parse_result(std::string_view op, Result<std::string> text) {
  if (!text.ok()) return text.take_error();
  if (text->empty()) return Json::object();
  auto parsed = Json::parse(*text, storage_json_limits());
  if (!parsed.ok()) {
    return Error("storage_error", source_name(*backend_, op) + " returned malformed JSON: " +
                                      parsed.error().message);
  }
  return std::move(parsed).value();
}

Result<WorkflowRecord> PluginStore::save_workflow(const std::string& owner_id, const std::string& id,
                                                  const std::string& name, const Json& definition) {
  return decode<WorkflowRecord>(
      call(op::kSaveWorkflow,
           object_of({{"owner_id", owner_id}, {"id", id}, {"name", name}, {"definition", definition}})),
      "workflow");
}

Result<WorkflowRecord> PluginStore::get_workflow(const std::string& owner_id, const std::string& id,
                                                 int64_t version) {
  return decode<WorkflowRecord>(
      call(op::kGetWorkflow, object_of({{"owner_id", owner_id}, {"id", id}, {"version", version}})),
      "workflow");
}

Result<ExecutionRecord> PluginStore::create_execution(const NewExecution& e, bool* existed) {
  // "omit_sent_documents": an execution created by this call comes back without the definition
  // and input we are sending (often the largest part of the record): they are filled in here. A
  // backend that does not know the flag returns them, and they are taken from its answer.
  std::string args = to_json_text(e);
  args.insert(args.size() - 1, R"(,"omit_sent_documents":true)");  // before the closing brace
  auto r = parse_result(op::kCreateExecution, call_text(op::kCreateExecution, args));
  if (!r.ok()) return r.take_error();
  const bool found = (*r)["existed"].as_bool();
  if (existed) *existed = found;
  const bool has_definition = (*r)["execution"].contains("definition");
  const bool has_input = (*r)["execution"].contains("input");
  auto rec = decode<ExecutionRecord>(std::move(r), "execution");
  if (!rec.ok() || found) return rec;
  if (!has_definition) rec->definition = e.definition;
  if (!has_input) rec->input = e.input;
  return rec;
}

Result<ExecutionRecord> PluginStore::get_execution(const std::string& id) {
  return decode<ExecutionRecord>(call(op::kGetExecution, object_of({{"id", id}})), "execution");
}

Result<std::vector<ExecutionRecord>> PluginStore::list_executions(const ExecutionFilter& f) {
  return decode_list<ExecutionRecord>(call(op::kListExecutions, to_json(f)), "executions");
}

Result<std::optional<ExecutionRecord>> PluginStore::claim_execution(const std::string& worker,
                                                                    int64_t lease_ms, int64_t now_ms) {
  auto r = call(op::kClaimExecution,
                object_of({{"worker", worker}, {"lease_ms", lease_ms}, {"now_ms", now_ms}}));
  if (!r.ok()) return r.take_error();
  if ((*r)["execution"].is_null()) return std::optional<ExecutionRecord>();
  auto rec = decode<ExecutionRecord>(std::move(r), "execution");
  if (!rec.ok()) return rec.take_error();
  return std::optional<ExecutionRecord>(std::move(rec).value());
}

Status PluginStore::heartbeat(const std::string& execution_id, const Lease& lease, int64_t lease_ms,
                              int64_t now_ms) {
  return as_status(call(op::kHeartbeat, object_of({{"execution_id", execution_id},
                                                   {"lease", to_json(lease)},
                                                   {"lease_ms", lease_ms},
                                                   {"now_ms", now_ms}})));
}

Result<std::vector<ExecutionRecord>> PluginStore::list_leased() {
  return decode_list<ExecutionRecord>(call(op::kListLeased, Json::object()), "executions");
}

Status PluginStore::expire_lease(const std::string& execution_id, const Lease& lease) {
  return as_status(call(op::kExpireLease,
                        object_of({{"execution_id", execution_id}, {"lease", to_json(lease)}})));
}

Status PluginStore::commit(const Commit& c) {
  // The result of a successful commit carries nothing: it is not parsed.
  auto r = call_text(op::kCommit, to_json_text(c));
  if (!r.ok()) return r.take_error();
  return {};
}

Result<std::vector<NodeRunRecord>> PluginStore::node_runs(const std::string& execution_id) {
  return decode_list<NodeRunRecord>(
      call(op::kNodeRuns, object_of({{"execution_id", execution_id}})), "runs");
}

Result<std::vector<NodeLogRecord>> PluginStore::node_logs(const std::string& execution_id) {
  return decode_list<NodeLogRecord>(
      call(op::kNodeLogs, object_of({{"execution_id", execution_id}})), "logs");
}

Result<std::vector<EventRecord>> PluginStore::events(const std::string& execution_id,
                                                     int64_t after_seq, int64_t limit) {
  return decode_list<EventRecord>(
      call(op::kEvents, object_of({{"execution_id", execution_id},
                                   {"after_seq", after_seq},
                                   {"limit", limit}})),
      "events");
}

Status PluginStore::request_cancel(const std::string& execution_id) {
  return as_status(call(op::kRequestCancel, object_of({{"execution_id", execution_id}})));
}

Status PluginStore::set_paused(const std::string& execution_id, bool paused) {
  return as_status(
      call(op::kSetPaused, object_of({{"execution_id", execution_id}, {"paused", paused}})));
}

Result<std::map<std::string, bool>> PluginStore::load_plugin_states() {
  auto r = call(op::kLoadPluginStates, Json::object());
  if (!r.ok()) return r.take_error();
  const Json& states = (*r)["states"];
  if (!states.is_object()) {
    return Error("storage_error", source_name(*backend_, op::kLoadPluginStates) +
                                      " returned no 'states' object");
  }
  std::map<std::string, bool> out;
  for (const auto& [name, enabled] : states.as_object()) {
    if (!enabled.is_bool()) {
      return Error("storage_error", source_name(*backend_, op::kLoadPluginStates) +
                                        " returned a non-boolean state for plugin '" + name + "'");
    }
    out[name] = enabled.as_bool();
  }
  return out;
}

Status PluginStore::save_plugin_state(const std::string& name, bool enabled) {
  return as_status(call(op::kSavePluginState, object_of({{"name", name}, {"enabled", enabled}})));
}

}  // namespace weft::store
