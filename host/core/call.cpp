#include "host/core/call.hpp"

#include "host/core/redact.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>

namespace weft {

int64_t monotonic_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}
int64_t wall_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

namespace {

void default_host_log(int32_t level, std::string_view msg) {
  static const char* names[] = {"debug", "info", "warn", "error"};
  const char* n = (level >= 0 && level <= 3) ? names[level] : "log";
  const std::string safe = redact_patterns(msg);
  std::fprintf(stderr, "[plugin %s] %.*s\n", n, static_cast<int>(safe.size()), safe.data());
}
std::atomic<HostLogSink> g_host_log{&default_host_log};

void t_log(weft_call* call, int32_t level, weft_str message) noexcept {
  try {
    if (call) call->log(level, from_weft_str(message));
    else g_host_log.load()(level, from_weft_str(message));
  } catch (...) {
  }
}
weft_status t_emit_event(weft_call* call, weft_str type, weft_str data) noexcept {
  if (!call) return WEFT_ERR_INVALID_INPUT;
  try {
    return call->emit_event(from_weft_str(type), from_weft_str(data));
  } catch (...) {
    return WEFT_ERR_INTERNAL;
  }
}
int32_t t_is_cancelled(weft_call* call) noexcept {
  if (!call) return 0;
  try {
    return call->is_cancelled() ? 1 : 0;
  } catch (...) {
    return 1;
  }
}
int64_t t_deadline(weft_call* call) noexcept {
  if (!call) return 0;
  try {
    return call->deadline_monotonic_ms();
  } catch (...) {
    return 0;
  }
}
int64_t t_now() noexcept { return monotonic_ms(); }
weft_str t_idem(weft_call* call) noexcept {
  if (!call) return weft_str{"", 0};
  try {
    return to_weft_str(call->idempotency_key());
  } catch (...) {
    return weft_str{"", 0};
  }
}
void write_sink(weft_sink* s, const std::string& data) {
  if (s && s->write && !data.empty()) s->write(s->ctx, data.data(), data.size());
}
weft_status t_credential_get(weft_call* call, weft_str ref, weft_sink* out, weft_sink* err) noexcept {
  if (!call) return WEFT_ERR_INVALID_INPUT;
  try {
    std::string o, e;
    weft_status st = call->credential_get(from_weft_str(ref), o, e);
    write_sink(st == WEFT_OK ? out : err, st == WEFT_OK ? o : e);
    return st;
  } catch (...) {
    return WEFT_ERR_INTERNAL;
  }
}
weft_status t_http_request(weft_call* call, weft_str req, weft_sink* out, weft_sink* err) noexcept {
  if (!call) return WEFT_ERR_INVALID_INPUT;
  try {
    std::string o, e;
    weft_status st = call->http_request(from_weft_str(req), o, e);
    write_sink(st == WEFT_OK ? out : err, st == WEFT_OK ? o : e);
    return st;
  } catch (...) {
    return WEFT_ERR_INTERNAL;
  }
}

weft_status t_sandbox_run(weft_call* call, weft_str req, weft_sink* out, weft_sink* err) noexcept {
  if (!call) return WEFT_ERR_INVALID_INPUT;
  try {
    std::string o, e;
    weft_status st = call->sandbox_run(from_weft_str(req), o, e);
    write_sink(st == WEFT_OK ? out : err, st == WEFT_OK ? o : e);
    return st;
  } catch (...) {
    return WEFT_ERR_INTERNAL;
  }
}

const weft_host_api kHostApi = {
    sizeof(weft_host_api), WEFT_ABI_VERSION, &t_log,           &t_emit_event,     &t_is_cancelled,
    &t_deadline,           &t_now,           &t_idem,          &t_credential_get, &t_http_request,
    &t_sandbox_run,
};

}  // namespace

const weft_host_api* host_api_table() { return &kHostApi; }
void set_host_log_sink(HostLogSink sink) { g_host_log.store(sink ? sink : &default_host_log); }

}  // namespace weft
