// The host side of the opaque `weft_call` handle from weft_abi.h, and the host-services table.
//
// Every node attempt gets a weft_call object (a subclass implemented by the executor, or by tests).
// The C function pointers in the weft_host_api table are trampolines that forward to it, behind a
// noexcept barrier.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "weft/weft_abi.h"

// Must live in the global namespace: it completes the C declaration `struct weft_call`.
struct weft_call {
  virtual ~weft_call() = default;
  virtual void log(int32_t level, std::string_view message) = 0;
  // Returns WEFT_ERR_INVALID_INPUT when data_json is not valid JSON.
  virtual weft_status emit_event(std::string_view type, std::string_view data_json) = 0;
  virtual bool is_cancelled() = 0;
  virtual int64_t deadline_monotonic_ms() = 0;  // 0 = none
  virtual const std::string& idempotency_key() = 0;
  // Later issues: vault and guarded HTTP. Default: not offered.
  virtual weft_status credential_get(std::string_view ref, std::string& out_json, std::string& out_error) {
    out_error = R"({"code":"unsupported","message":"credential lookup is not available in this host"})";
    return WEFT_ERR_UNSUPPORTED;
  }
  virtual weft_status http_request(std::string_view request_json, std::string& out_json,
                                   std::string& out_error) {
    out_error = R"({"code":"unsupported","message":"outbound HTTP is not available in this host"})";
    return WEFT_ERR_UNSUPPORTED;
  }
  // ABI 1.1: user code in the sandbox.
  virtual weft_status sandbox_run(std::string_view request_json, std::string& out_json, std::string& out_error) {
    out_error = R"({"code":"sandbox_unavailable","message":"this host has no sandbox for user code"})";
    return WEFT_ERR_UNSUPPORTED;
  }
};

namespace weft {

// Milliseconds on the monotonic clock (what weft_host_api.now_monotonic_ms returns).
int64_t monotonic_ms();
// Milliseconds since the Unix epoch.
int64_t wall_ms();

// The host-services table given to every plugin. Static storage; valid for the process lifetime.
// Host-level log lines (call == NULL) go to the sink set with set_host_log_sink (stderr default).
const weft_host_api* host_api_table();

using HostLogSink = void (*)(int32_t level, std::string_view plugin_message);
void set_host_log_sink(HostLogSink sink);

// A weft_sink that appends to a std::string.
struct StringSink {
  std::string data;
  weft_sink sink{sizeof(weft_sink), this, &StringSink::write};
  StringSink() = default;
  StringSink(const StringSink&) = delete;
  StringSink& operator=(const StringSink&) = delete;
  static void write(void* ctx, const char* p, size_t n) {
    if (p && n) static_cast<StringSink*>(ctx)->data.append(p, n);
  }
};

inline weft_str to_weft_str(std::string_view s) { return weft_str{s.data(), s.size()}; }
inline std::string_view from_weft_str(weft_str s) {
  return s.ptr ? std::string_view(s.ptr, s.len) : std::string_view();
}

}  // namespace weft
