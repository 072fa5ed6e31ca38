/*
 * weft_abi.h — the Weft plugin ABI. This header IS the contract between the Weft host and every
 * native plugin (.so). It is C99 and depends only on <stdint.h> and <stddef.h>.
 *
 * Rules that keep the ABI stable (read docs/plugin-abi.md for the long form):
 *  - Versions are (major << 16 | minor). A major bump breaks compatibility; a minor bump only
 *    appends fields to the end of structs / function tables.
 *  - Every struct that crosses the boundary starts with `uint32_t struct_size`. Readers check that
 *    a field lies inside struct_size before reading it (WEFT_HAS_FIELD). Fields are only ever added
 *    at the end, under an "ABI x.y and later" comment.
 *  - Strings are UTF-8 `weft_str` views {ptr, len}; they are NOT NUL-terminated unless stated.
 *  - OWNERSHIP: memory passed by the host is borrowed and valid only for the duration of the call.
 *    Plugins never hand the host memory to free: results are written into host-provided sinks
 *    (weft_sink), which copy the bytes.
 *  - Errors are values: functions return weft_status; details travel as JSON
 *    {"code": "...", "message": "...", "details": {...}} written into an error sink.
 *  - No C++ exception may cross this boundary. The C++ layer (weft/sdk.hpp) wraps every exported
 *    function in a noexcept barrier.
 *
 * Any edit to this file must come with a version bump and an update of sdk/abi.lock
 * (tests/abi_lock_test fails otherwise).
 */
#ifndef WEFT_ABI_H
#define WEFT_ABI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define WEFT_ABI_MAKE_VERSION(major, minor) ((uint32_t)(((uint32_t)(major) << 16) | (uint32_t)(minor)))
#define WEFT_ABI_VERSION_MAJOR_OF(v) ((uint32_t)(v) >> 16)
#define WEFT_ABI_VERSION_MINOR_OF(v) ((uint32_t)(v)&0xFFFFu)

/* The version this header describes. */
#define WEFT_ABI_VERSION_MAJOR 1
#define WEFT_ABI_VERSION_MINOR 1
#define WEFT_ABI_VERSION WEFT_ABI_MAKE_VERSION(WEFT_ABI_VERSION_MAJOR, WEFT_ABI_VERSION_MINOR)

/* True when `field` of struct pointer `s` lies inside the size the writer declared. */
#define WEFT_HAS_FIELD(s, type, field) \
  ((s) != NULL && (size_t)(s)->struct_size >= offsetof(type, field) + sizeof(((type*)0)->field))

#if defined(_WIN32)
#define WEFT_EXPORT __declspec(dllexport)
#else
#define WEFT_EXPORT __attribute__((visibility("default")))
#endif

/* ---------------------------------------------------------------------------------------------
 * Status codes. Stable numeric values; new codes are only ever appended.
 * ------------------------------------------------------------------------------------------- */
typedef enum weft_status {
  WEFT_OK = 0,
  WEFT_ERR_INVALID_INPUT = 1, /* parameters or input data are wrong: never retried */
  WEFT_ERR_FAILED = 2,        /* the operation failed: retried according to node settings */
  WEFT_ERR_TIMEOUT = 3,       /* gave up because the deadline passed */
  WEFT_ERR_CANCELLED = 4,     /* stopped because the execution was cancelled */
  WEFT_ERR_UNSUPPORTED = 5,   /* host service or feature not available */
  WEFT_ERR_NOT_FOUND = 6,     /* a referenced thing (credential, node type...) does not exist */
  WEFT_ERR_INTERNAL = 7,      /* a bug: exception caught at the barrier, broken invariant */
  WEFT_ERR_VERSION = 8,       /* no common ABI version / struct too small */
  WEFT_ERR_DENIED = 9,        /* refused by policy (e.g. outbound HTTP to a blocked address) */
  WEFT_PARK = 100             /* not an error: the node asks the host to park it (see weft_park) */
} weft_status;

/* A borrowed UTF-8 string view. */
typedef struct weft_str {
  const char* ptr;
  size_t len;
} weft_str;

/* A host-provided write target. The plugin calls write() zero or more times; the host appends the
 * bytes to a buffer it owns. Valid only during the call that received it. */
typedef struct weft_sink {
  uint32_t struct_size;
  void* ctx;
  void (*write)(void* ctx, const char* data, size_t len);
} weft_sink;

/* Log levels for weft_host_api.log. */
typedef enum weft_log_level {
  WEFT_LOG_DEBUG = 0,
  WEFT_LOG_INFO = 1,
  WEFT_LOG_WARN = 2,
  WEFT_LOG_ERROR = 3
} weft_log_level;

/* Opaque per-call handle the host passes to node executions. Plugins hand it back to host
 * services so the host knows which execution/node a log line or event belongs to. NULL is allowed
 * where documented (plugin-level calls outside any execution). */
typedef struct weft_call weft_call;

/* ---------------------------------------------------------------------------------------------
 * Host services. A table of function pointers the host gives to the plugin at init; valid until
 * weft_plugin_shutdown returns. Append-only: check WEFT_HAS_FIELD before using a newer entry, and
 * check the pointer for NULL for entries documented as optional.
 * Thread-safety: every service may be called from any thread, concurrently.
 * ------------------------------------------------------------------------------------------- */
typedef struct weft_host_api {
  uint32_t struct_size;
  uint32_t abi_version; /* the version negotiated for this plugin */

  /* ---- ABI 1.0 ---- */
  /* Writes a line to the node's log (call != NULL) or to the host log (call == NULL). The host
   * redacts secrets before storing it. */
  void (*log)(weft_call* call, int32_t level, weft_str message);
  /* Emits a custom event on the execution's event stream. type: short ASCII name; data_json: a
   * JSON value. Returns WEFT_ERR_INVALID_INPUT when data_json is not JSON. */
  weft_status (*emit_event)(weft_call* call, weft_str type, weft_str data_json);
  /* Non-zero once the execution was cancelled or the node's deadline passed. Long-running nodes
   * poll it. */
  int32_t (*is_cancelled)(weft_call* call);
  /* Absolute deadline of this node attempt, in milliseconds on the host's monotonic clock
   * (comparable with now_monotonic_ms); 0 = none. */
  int64_t (*deadline_ms)(weft_call* call);
  /* Current time on the host's monotonic clock, in milliseconds. */
  int64_t (*now_monotonic_ms)(void);
  /* Idempotency key of this node attempt, derived from execution id + node key + attempt. The
   * string stays valid for the whole call. Use it with outside systems that deduplicate. */
  weft_str (*idempotency_key)(weft_call* call);

  /* Reserved slots, filled by later ABI versions' hosts; NULL when the service is not offered.
   * credential_get: writes the decrypted credential JSON referenced by the node's configuration
   * into `out`. http_request: the guarded outbound HTTP client; request/response as JSON. */
  weft_status (*credential_get)(weft_call* call, weft_str credential_ref, weft_sink* out_json,
                                weft_sink* out_error);
  weft_status (*http_request)(weft_call* call, weft_str request_json, weft_sink* out_response_json,
                              weft_sink* out_error);

  /* ---- ABI 1.1 ---- */
  /* Runs user code (JavaScript, Python) in the host's sandbox (docs/sandbox.md) on behalf of this
   * node attempt. request_json: {"language": "javascript"|"python", "code": "...", "input": <json>,
   * "params": <json>, "limits": {"timeout_ms", "memory_mb", "cpu_ms", ...}} (limits optional,
   * clamped by the host's configuration). The code's own host calls (credentials, outbound HTTP)
   * go through this call's services, so they are limited to what the node's configuration
   * references. On WEFT_OK writes {"value": <json>, "log": [{"level", "msg"}], "text": "...",
   * "warm": bool, "wall_ms": n}; on failure an error JSON whose code is one of code_error, timeout,
   * memory_limit, output_limit, killed, cancelled, sandbox_unavailable, sandbox_busy,
   * protocol_error (details carry "line"/"column" in the user's code for code_error). Check
   * WEFT_HAS_FIELD and NULL: absent when the host has no sandbox. */
  weft_status (*sandbox_run)(weft_call* call, weft_str request_json, weft_sink* out_result_json,
                             weft_sink* out_error);
} weft_host_api;

/* ---------------------------------------------------------------------------------------------
 * Node types.
 * ------------------------------------------------------------------------------------------- */

/* What the host gives a node execution. All strings are borrowed for the duration of the call. */
typedef struct weft_node_request {
  uint32_t struct_size;
  weft_call* call;     /* pass back to host services */
  weft_str node_id;    /* the node's id in the workflow */
  weft_str params_json; /* the node's parameters, expressions already evaluated: a JSON object */
  /* Data arriving on input handles: a JSON object {"<handle>": value}. For handles declared
   * "multiple": true the value is an array of {"from": "<node id>", "data": value}. */
  weft_str input_json;
  /* Empty (len 0) on a normal run. After a WEFT_PARK, the node is called again with the resume
   * payload: {"reason": "timer"} or {"reason": "answer", "answer": ...}. */
  weft_str resume_json;
  uint32_t attempt;    /* 1 on the first attempt, 2 on the first retry, ... */
  /* Context about the run: {"execution_id", "workflow_id", "workflow_version", "scope"}. */
  weft_str context_json;
} weft_node_request;

/* Where a node execution writes its results. Sinks are host-owned. */
typedef struct weft_node_result {
  uint32_t struct_size;
  /* On WEFT_OK: a JSON object {"<output handle>": value, ...}. Handles present are "taken"
   * (their edges carry the value); handles absent are not taken, and nodes that depend only on
   * them are skipped. Writing nothing means {"main": null}. */
  weft_sink* output;
  /* On any error status: {"code": "...", "message": "...", "details": {...}} (message required). */
  weft_sink* error;
  /* On WEFT_PARK: {"wake_at_ms": <unix ms>} to be woken by a timer, and/or
   * {"request": {...}} describing what a human must answer. */
  weft_sink* park;
} weft_node_result;

/* Executes one node attempt. `type_state` is the pointer the plugin registered with the type.
 * Must be thread-safe: the host runs many attempts of the same type concurrently. */
typedef weft_status (*weft_node_execute_fn)(void* type_state, const weft_node_request* request,
                                            const weft_node_result* result);

/* Flags of a node type (also visible in its schema). */
#define WEFT_NODE_FLAG_TRIGGER 0x1u      /* an entry point of a workflow */
#define WEFT_NODE_FLAG_USES_LLM 0x2u     /* calls a language model: never run synchronously */
#define WEFT_NODE_FLAG_LONG_RUNNING 0x4u /* may take long or park: never run synchronously */
#define WEFT_NODE_FLAG_SIDE_EFFECTS 0x8u /* changes the outside world */
#define WEFT_NODE_FLAG_LOOP 0x10u        /* the loop construct: may close a back edge */

typedef struct weft_node_type {
  uint32_t struct_size;
  /* ---- ABI 1.0 ---- */
  weft_str type_name;    /* e.g. "core.set": [a-z0-9_.-]+, unique across all plugins */
  uint32_t type_version; /* version of this node type (>= 1); several may be registered */
  /* The node schema as JSON (docs/plugin-abi.md "Node schema"): display name, description,
   * fields, inputs, outputs (handles with data types), credential types, flags. */
  weft_str schema_json;
  uint32_t flags; /* WEFT_NODE_FLAG_* */
  void* type_state;
  weft_node_execute_fn execute;
} weft_node_type;

/* ---------------------------------------------------------------------------------------------
 * Storage backends (a plugin may offer one or more). A backend is a set of coarse operations,
 * each one transaction, exchanged as JSON (docs/plugin-abi.md "Storage"): the host names the
 * operation and passes arguments; the backend writes the result.
 * ------------------------------------------------------------------------------------------- */
typedef struct weft_storage_conn weft_storage_conn; /* opaque, owned by the plugin */

typedef struct weft_storage_backend {
  uint32_t struct_size;
  /* ---- ABI 1.0 ---- */
  weft_str scheme; /* URL scheme it serves, e.g. "sqlite" or "postgresql" */
  void* backend_state;
  /* Opens a connection pool for `url` and runs pending migrations. options_json: a JSON object
   * of backend options. On failure returns an error status and writes the error JSON. */
  weft_status (*open)(void* backend_state, weft_str url, weft_str options_json,
                      weft_storage_conn** out_conn, weft_sink* error);
  /* Runs one operation. Thread-safe. */
  weft_status (*call)(weft_storage_conn* conn, weft_str op, weft_str args_json, weft_sink* result,
                      weft_sink* error);
  void (*close)(weft_storage_conn* conn);
} weft_storage_backend;

/* ---------------------------------------------------------------------------------------------
 * Registration. During weft_plugin_init the plugin registers what it offers through this table.
 * The host copies everything it is given; the plugin may free its descriptors afterwards (but the
 * function pointers and type_state must live until shutdown).
 * ------------------------------------------------------------------------------------------- */
typedef struct weft_registrar weft_registrar; /* opaque, host-owned */

typedef struct weft_registrar_api {
  uint32_t struct_size;
  /* ---- ABI 1.0 ---- */
  weft_status (*register_node_type)(weft_registrar* reg, const weft_node_type* type);
  weft_status (*register_storage_backend)(weft_registrar* reg, const weft_storage_backend* backend);
  /* Reserved for later versions' hosts (NULL until then): credential types, LLM providers. */
  weft_status (*register_credential_type)(weft_registrar* reg, weft_str type_json);
  void* reserved_llm_provider;
} weft_registrar_api;

typedef struct weft_plugin_init_args {
  uint32_t struct_size;
  /* ---- ABI 1.0 ---- */
  uint32_t abi_version;          /* version agreed by the handshake */
  const weft_host_api* host;     /* host services, valid until shutdown */
  const weft_registrar_api* registrar_api;
  weft_registrar* registrar;     /* valid only during init */
  weft_str config_json;          /* plugin configuration from the host config: a JSON object */
  weft_sink* error;              /* on failure: error JSON */
} weft_plugin_init_args;

/* ---------------------------------------------------------------------------------------------
 * The entry points every plugin exports (with C linkage and default visibility).
 *
 * 1. weft_plugin_negotiate: the two-way handshake. The host passes the range of ABI versions it
 *    supports; the plugin answers the version it will speak (within that range) or 0 when it
 *    speaks none of them. Must not allocate, log or call the host.
 * 2. weft_plugin_init: registration. Called once, after a successful handshake.
 * 3. weft_plugin_shutdown: called once before the library is unloaded; no host call may follow.
 * ------------------------------------------------------------------------------------------- */
#define WEFT_PLUGIN_NEGOTIATE_SYMBOL "weft_plugin_negotiate"
#define WEFT_PLUGIN_INIT_SYMBOL "weft_plugin_init"
#define WEFT_PLUGIN_SHUTDOWN_SYMBOL "weft_plugin_shutdown"

typedef uint32_t (*weft_plugin_negotiate_fn)(uint32_t host_min_version, uint32_t host_max_version);
typedef weft_status (*weft_plugin_init_fn)(const weft_plugin_init_args* args);
typedef void (*weft_plugin_shutdown_fn)(void);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* WEFT_ABI_H */
