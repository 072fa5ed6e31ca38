// The weft_storage_backend C entry points over SqlStore. Every entry point is a noexcept barrier:
// nothing thrown inside (SOCI errors, bad_alloc, ...) crosses into the host; failures become an
// error status plus {"code","message"} JSON in the error sink.
#include <memory>
#include <optional>
#include <string>

#include "host/core/json.hpp"
#include "host/store/records.hpp"
#include "plugins/storage-common/sql_store.hpp"
#include "plugins/storage-common/storage_backend.hpp"

// Completes the opaque C type for this plugin (hidden visibility: each plugin has its own).
struct weft_storage_conn {
  std::unique_ptr<weft::storage::SqlStore> store;
};

namespace weft::storage {

namespace {

std::string_view view(weft_str s) { return s.ptr ? std::string_view(s.ptr, s.len) : std::string_view(); }

void write(weft_sink* sink, const std::string& text) {
  if (sink && sink->write && !text.empty()) sink->write(sink->ctx, text.data(), text.size());
}

weft_status status_for(const std::string& code) {
  if (code == "not_found") return WEFT_ERR_NOT_FOUND;
  if (code == "invalid_argument") return WEFT_ERR_INVALID_INPUT;
  if (code == "unsupported") return WEFT_ERR_UNSUPPORTED;
  if (code == "internal") return WEFT_ERR_INTERNAL;
  return WEFT_ERR_FAILED;
}

weft_status fail(weft_sink* error, const Error& e) {
  // Serializing the error could itself throw (bad_alloc): fall back to a fixed text.
  try {
    write(error, store::error_to_json(e).dump());
  } catch (...) {
    write(error, R"({"code":"internal","message":"storage backend: out of memory reporting an error"})");
  }
  return status_for(e.code);
}

weft_status fail_exception(weft_sink* error, const char* where, const char* what) {
  try {
    return fail(error, Error("internal", std::string(where) + ": unexpected exception: " + what));
  } catch (...) {
    write(error, R"({"code":"internal","message":"storage backend: unexpected exception"})");
    return WEFT_ERR_INTERNAL;
  }
}

Result<Json> parse_args(std::string_view text, const char* what) {
  if (text.empty()) return Json::object();
  auto parsed = Json::parse(text, store::storage_json_limits());
  if (!parsed.ok()) return Error("invalid_argument", std::string(what) + " is not valid JSON: " + parsed.error().message);
  return parsed;
}

weft_status backend_open(void* state, weft_str url, weft_str options_json, weft_storage_conn** out_conn,
                         weft_sink* error) noexcept {
  try {
    if (!out_conn) return fail(error, Error("invalid_argument", "open: out_conn is NULL"));
    *out_conn = nullptr;
    const auto* dialect = static_cast<const DialectSupport*>(state);
    auto options = parse_args(view(options_json), "storage options");
    if (!options.ok()) return fail(error, options.error());
    auto store = SqlStore::open(*dialect, view(url), *options);
    if (!store.ok()) return fail(error, store.error());
    *out_conn = new weft_storage_conn{std::move(store).value()};
    return WEFT_OK;
  } catch (const std::exception& e) {
    return fail_exception(error, "open", e.what());
  } catch (...) {
    return fail_exception(error, "open", "unknown");
  }
}

weft_status backend_call(weft_storage_conn* conn, weft_str op, weft_str args_json, weft_sink* result,
                         weft_sink* error) noexcept {
  try {
    if (!conn || !conn->store) return fail(error, Error("invalid_argument", "call: connection is NULL"));
    std::optional<Result<Json>> out = conn->store->call_text(view(op), view(args_json));
    if (!out) {
      auto args = parse_args(view(args_json), "arguments");
      if (!args.ok()) return fail(error, args.error());
      out = conn->store->call(view(op), *args);
    }
    if (!out->ok()) return fail(error, out->error());
    write(result, store::to_json_text(**out));
    return WEFT_OK;
  } catch (const std::exception& e) {
    return fail_exception(error, "call", e.what());
  } catch (...) {
    return fail_exception(error, "call", "unknown");
  }
}

void backend_close(weft_storage_conn* conn) noexcept {
  try {
    delete conn;
  } catch (...) {
    // Closing database connections must not take the host down.
  }
}

}  // namespace

weft_storage_backend make_storage_backend(const DialectSupport* dialect) {
  weft_storage_backend b{};
  b.struct_size = sizeof(weft_storage_backend);
  b.scheme = weft_str{dialect->scheme, std::char_traits<char>::length(dialect->scheme)};
  b.backend_state = const_cast<DialectSupport*>(dialect);
  b.open = &backend_open;
  b.call = &backend_call;
  b.close = &backend_close;
  return b;
}

uint32_t negotiate_storage_plugin(uint32_t host_min_version, uint32_t host_max_version) noexcept {
  constexpr uint32_t kSpoken = WEFT_ABI_MAKE_VERSION(1, 0);
  return host_min_version <= kSpoken && kSpoken <= host_max_version ? kSpoken : 0;
}

weft_status init_storage_plugin(const weft_plugin_init_args* args, const DialectSupport* dialect) noexcept {
  try {
    if (!args || !WEFT_HAS_FIELD(args, weft_plugin_init_args, error)) return WEFT_ERR_VERSION;
    const weft_registrar_api* api = args->registrar_api;
    if (!api || !WEFT_HAS_FIELD(api, weft_registrar_api, register_storage_backend) ||
        !api->register_storage_backend) {
      return fail(args->error, Error("unsupported", std::string(dialect->display_name) +
                                                        " storage plugin: the host offers no "
                                                        "register_storage_backend"));
    }
    const weft_storage_backend backend = make_storage_backend(dialect);
    weft_status st = api->register_storage_backend(args->registrar, &backend);
    if (st != WEFT_OK) {
      return fail(args->error, Error("internal", std::string(dialect->display_name) +
                                                     " storage plugin: the host refused backend '" +
                                                     dialect->scheme + "' (status " +
                                                     std::to_string(static_cast<int>(st)) + ")"));
    }
    return WEFT_OK;
  } catch (const std::exception& e) {
    return fail_exception(args ? args->error : nullptr, "init", e.what());
  } catch (...) {
    return fail_exception(args ? args->error : nullptr, "init", "unknown");
  }
}

}  // namespace weft::storage
