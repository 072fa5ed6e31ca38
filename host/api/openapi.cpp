// The OpenAPI 3.1 document, generated from the route table so that it cannot miss a route.
//
// Two halves meet here:
//   - what the server enforces for every route (host/http/server.cpp): authentication, role and
//     scope, rate limits, the JSON content type, draining. These responses are derived from the
//     Route's own fields, the same ones the server reads, so they cannot drift from it.
//   - what each handler does (host/api/api.cpp): parameters, body, the statuses it answers. That
//     is the hand-written table kOperations below, keyed by "METHOD pattern".
// A route without a table entry is still listed, marked "x-missing-schema"; a table entry without
// a route is listed under the root's "x-unused-schema-entries". tests/api/openapi_test.cpp fails
// on either, so a new route cannot ship undocumented and a removed one cannot linger.
#include <algorithm>
#include <set>

#include "host/api/api.hpp"
#include "host/api/routes.hpp"

namespace weft::api {

namespace {

// Shared schemas, parameters, headers and responses. WorkflowDefinition and the schemas it
// refers to (NodeId ... WorkflowEdge) are docs/workflow.schema.json with its $defs renamed;
// openapi_test checks that they stay identical.
constexpr std::string_view kComponents = R"json({
"securitySchemes": {
  "bearer": {"type": "http", "scheme": "bearer",
    "description": "Authorization: Bearer <token>: an access JWT from POST /api/auth/login, or an API key (wk_...)."},
  "apiKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key",
    "description": "An API key (wk_...) in the X-API-Key header, used when there is no Authorization header."}
},
"headers": {
  "Retry-After": {"description": "Seconds to wait before retrying.", "required": true,
    "schema": {"type": "integer", "minimum": 0}},
  "X-RateLimit-Limit": {"description": "Requests allowed per minute for this route's rate class.",
    "schema": {"type": "integer"}},
  "X-RateLimit-Remaining": {"description": "Requests left in the current window.",
    "schema": {"type": "integer", "minimum": 0}},
  "WWW-Authenticate": {"description": "Bearer, or Bearer error=\"invalid_token\" when a credential was presented.",
    "schema": {"type": "string"}},
  "X-Weft-Execution-Id": {"description": "The execution the request started.", "schema": {"type": "string"}}
},
"parameters": {
  "credential_type": {"name": "type", "in": "query", "required": false,
    "description": "Only credentials of this type.", "schema": {"type": "string"}},
  "limit": {"name": "limit", "in": "query", "required": false,
    "description": "Page size (400 invalid_argument outside 1..200).",
    "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}},
  "cursor": {"name": "cursor", "in": "query", "required": false,
    "description": "The next_cursor of the previous page; absent for the first page.",
    "schema": {"type": "string"}},
  "status": {"name": "status", "in": "query", "required": false,
    "description": "Only executions in this status (400 invalid_argument for an unknown status).",
    "schema": {"$ref": "#/components/schemas/ExecutionStatus"}},
  "workflow_id": {"name": "workflow_id", "in": "query", "required": false,
    "description": "Only executions of this workflow.", "schema": {"type": "string"}},
  "mode": {"name": "mode", "in": "query", "required": false,
    "description": "auto: quick workflows run synchronously (200), others are queued (202); sync: wait for the result; async: always queue (202). Anything else is 400 invalid_argument.",
    "schema": {"type": "string", "enum": ["auto", "sync", "async"], "default": "auto"}},
  "version": {"name": "version", "in": "query", "required": false,
    "description": "A saved version of the workflow; the latest when absent (400 invalid_argument when not a positive integer).",
    "schema": {"type": "integer", "minimum": 1}},
  "overlap_seconds": {"name": "overlap_seconds", "in": "query", "required": false,
    "description": "How long the old key keeps working (0 = revoked at once); the server default (one day) when absent.",
    "schema": {"type": "integer", "minimum": 0, "maximum": 2592000}},
  "after": {"name": "after", "in": "query", "required": false,
    "description": "Only events with a larger seq; Last-Event-ID wins when both are sent.",
    "schema": {"type": "integer", "minimum": 0}},
  "Idempotency-Key": {"name": "Idempotency-Key", "in": "header", "required": false,
    "description": "A retry with the same key returns the execution the first request started (existed: true) instead of starting another. At most 200 characters.",
    "schema": {"type": "string", "maxLength": 200}},
  "Last-Event-ID": {"name": "Last-Event-ID", "in": "header", "required": false,
    "description": "Resume after this event seq (sent back by EventSource on reconnect).",
    "schema": {"type": "integer", "minimum": 0}},
  "Idempotency-Key-Webhook": {"name": "Idempotency-Key", "in": "header", "required": false,
    "description": "A sender's retry with the same key runs the workflow once (the earlier execution is answered).",
    "schema": {"type": "string", "maxLength": 192}}
},
"responses": {
  "BadRequest": {"description": "The request is malformed: invalid_json, invalid_argument (the message names the member) or unknown_field (details.field).",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
  "Unauthorized": {"description": "No credential, or the token or API key is invalid, expired or revoked (unauthorized).",
    "headers": {"WWW-Authenticate": {"$ref": "#/components/headers/WWW-Authenticate"}},
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
  "Forbidden": {"description": "Authenticated but not allowed: the route is for administrators, or the API key lacks the route's scope (forbidden).",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
  "NotFound": {"description": "No such resource for this account (another account's resources are not_found too).",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
  "RequestTimeout": {"description": "The request's headers or body did not arrive within the server's timeouts; the connection is closed. Answered inside the HTTP library, so without a body."},
  "PayloadTooLarge": {"description": "The request body (its Content-Length) is larger than the server's max_request_bytes (payload_too_large); answered before any of it is read, and the connection is closed.",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
  "UnsupportedMediaType": {"description": "The body is not Content-Type: application/json (charset utf-8 only): unsupported_media_type.",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
  "RateLimited": {"description": "Too many requests for this rate class (rate_limited); details carry the limit.",
    "headers": {
      "Retry-After": {"$ref": "#/components/headers/Retry-After"},
      "X-RateLimit-Limit": {"$ref": "#/components/headers/X-RateLimit-Limit"},
      "X-RateLimit-Remaining": {"$ref": "#/components/headers/X-RateLimit-Remaining"}},
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
  "InternalError": {"description": "An unexpected failure (internal, storage_error). The message never carries internals.",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
  "Unavailable": {"description": "The server is draining (draining, with Retry-After) or the store is unavailable (unavailable).",
    "headers": {"Retry-After": {"description": "Sent while draining.", "schema": {"type": "integer", "minimum": 0}}},
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
},
"schemas": {
  "Error": {"type": "object", "required": ["error"],
    "description": "The one error shape of every JSON error response.",
    "properties": {"error": {"type": "object", "required": ["code", "message"], "properties": {
      "code": {"type": "string", "description": "Machine code, e.g. invalid_argument, not_found, rate_limited."},
      "message": {"type": "string", "description": "For humans: names the thing and the cause."},
      "details": {"description": "Optional structured details (the field, the limit, compile diagnostics...)."}}}}},
  "Timestamp": {"type": "integer", "format": "int64", "description": "Milliseconds since the Unix epoch; 0 = not yet / never."},
  "Health": {"type": "object", "required": ["status"], "properties": {"status": {"const": "ok"}}},
  "Readiness": {"type": "object", "required": ["status"], "properties": {
    "status": {"type": "string", "enum": ["ready", "draining", "unavailable"]},
    "reason": {"type": "string", "description": "With unavailable: the store's error code."}}},
  "OpenApiDocument": {"type": "object", "required": ["openapi", "info", "paths"],
    "description": "This document.", "properties": {
      "openapi": {"type": "string"}, "info": {"type": "object"}, "paths": {"type": "object"}}},
  "Role": {"type": "string", "enum": ["user", "admin"]},
  "Tier": {"type": "string", "enum": ["free", "pro", "enterprise"]},
  "Scope": {"type": "string", "enum": ["*", "workflows:read", "workflows:write", "executions:read", "executions:write", "keys:manage", "credentials:read", "credentials:write", "audit:read", "admin"]},
  "TokenPair": {"type": "object",
    "required": ["token_type", "access_token", "access_expires_at", "refresh_token", "refresh_expires_at"],
    "properties": {
      "token_type": {"const": "Bearer"},
      "access_token": {"type": "string", "description": "JWT (HS256) for the Authorization header."},
      "access_expires_at": {"$ref": "#/components/schemas/Timestamp"},
      "refresh_token": {"type": "string", "description": "Opaque; exchange it at POST /api/auth/refresh (once: it rotates)."},
      "refresh_expires_at": {"$ref": "#/components/schemas/Timestamp"}}},
  "Me": {"type": "object", "required": ["id", "email", "role", "tier", "via", "scopes"], "properties": {
    "id": {"type": "string"}, "email": {"type": "string"},
    "role": {"$ref": "#/components/schemas/Role"}, "tier": {"type": "string"},
    "via": {"type": "string", "enum": ["jwt", "api_key"]},
    "scopes": {"type": "array", "items": {"type": "string"}}}},
  "User": {"type": "object", "required": ["id", "email", "role", "tier", "disabled", "created_at"], "properties": {
    "id": {"type": "string"}, "email": {"type": "string", "description": "Lower-cased."},
    "role": {"$ref": "#/components/schemas/Role"}, "tier": {"$ref": "#/components/schemas/Tier"},
    "disabled": {"type": "boolean"}, "created_at": {"$ref": "#/components/schemas/Timestamp"}}},
  "UserList": {"type": "object", "required": ["users"], "properties": {
    "users": {"type": "array", "items": {"$ref": "#/components/schemas/User"}},
    "next_cursor": {"type": "string", "description": "Present when there may be more: pass it as ?cursor=."}}},
  "ApiKey": {"type": "object", "description": "An API key's record; never the key itself.",
    "required": ["id", "name", "prefix", "scopes", "created_at", "expires_at", "revoked", "last_used_at"],
    "properties": {
      "id": {"type": "string"}, "name": {"type": "string"},
      "prefix": {"type": "string", "description": "The public lookup part of the key (wk_<prefix>_...)."},
      "scopes": {"type": "array", "items": {"$ref": "#/components/schemas/Scope"}},
      "created_at": {"$ref": "#/components/schemas/Timestamp"},
      "expires_at": {"$ref": "#/components/schemas/Timestamp"},
      "revoked": {"type": "boolean"},
      "last_used_at": {"$ref": "#/components/schemas/Timestamp"},
      "replaced_by": {"type": "string", "description": "After a rotation: the id of the successor key."}}},
  "ApiKeyCreated": {"description": "A new key: the only response that ever carries the whole key.",
    "allOf": [{"$ref": "#/components/schemas/ApiKey"},
      {"type": "object", "required": ["key"], "properties": {"key": {"type": "string", "pattern": "^wk_"}}}]},
  "ApiKeyList": {"type": "object", "required": ["keys"], "properties": {
    "keys": {"type": "array", "items": {"$ref": "#/components/schemas/ApiKey"}}}},
  "Credential": {"type": "object", "description": "A credential's record: its non-secret fields and the NAMES of the secret fields that are set, never a secret value.",
    "required": ["id", "name", "type", "fields", "secret_fields_set", "created_at", "updated_at"],
    "properties": {
      "id": {"type": "string"}, "name": {"type": "string"}, "type": {"type": "string"},
      "fields": {"type": "object", "description": "Non-secret fields (e.g. a username, a base URL)."},
      "secret_fields_set": {"type": "array", "items": {"type": "string"}, "description": "Secret fields that hold a value (write-only)."},
      "created_at": {"$ref": "#/components/schemas/Timestamp"},
      "updated_at": {"$ref": "#/components/schemas/Timestamp"}}},
  "CredentialList": {"type": "object", "required": ["credentials"], "properties": {
    "credentials": {"type": "array", "items": {"$ref": "#/components/schemas/Credential"}}}},
  "CredentialType": {"type": "object", "required": ["name", "fields", "apply", "plugin"],
    "description": "A credential type declared by a plugin (docs/plugin-abi.md \"Credential types\").",
    "properties": {
      "name": {"type": "string"}, "display_name": {"type": "string"}, "description": {"type": "string"},
      "plugin": {"type": "string"},
      "fields": {"type": "array", "items": {"type": "object", "required": ["name", "type", "secret", "required"], "properties": {
        "name": {"type": "string"}, "display_name": {"type": "string"},
        "type": {"type": "string", "enum": ["string", "url", "number", "boolean", "select"]},
        "secret": {"type": "boolean"}, "required": {"type": "boolean"}, "default": {},
        "description": {"type": "string"}, "placeholder": {"type": "string"}, "options": {"type": "array"}}}},
      "apply": {"type": "object", "required": ["kind"], "properties": {
        "kind": {"type": "string", "enum": ["bearer", "basic", "header", "query", "url", "none"]}}}}},
  "CredentialTypeList": {"type": "object", "required": ["types"], "properties": {
    "types": {"type": "array", "items": {"$ref": "#/components/schemas/CredentialType"}}}},
  "CredentialBody": {"type": "object", "additionalProperties": false, "properties": {
    "name": {"type": "string", "minLength": 1, "maxLength": 200, "description": "Unique per account (case-insensitive); no control characters."},
    "type": {"type": "string", "description": "A type from GET /api/credentials/types (cannot change on update)."},
    "fields": {"type": "object", "description": "Values by field name, secret and non-secret together. On update, secret fields not given keep their value; null clears an optional field."}}},
  "PlaceholderResolution": {"type": "object", "required": ["workflow", "resolved", "problems"], "properties": {
    "workflow": {"type": "object", "description": "The body with every resolved placeholder replaced by a credential id."},
    "resolved": {"type": "array", "items": {"type": "object", "required": ["node_id", "field", "placeholder", "credential_id", "name", "type"], "properties": {
      "node_id": {"type": "string"}, "field": {"type": "string"}, "placeholder": {"type": "string"},
      "credential_id": {"type": "string"}, "name": {"type": "string"}, "type": {"type": "string"}}}},
    "problems": {"type": "array", "items": {"$ref": "#/components/schemas/Diagnostic"},
      "description": "credential_placeholder_ambiguous (details.candidates) or credential_placeholder_unresolved."}}},
  "NodeId": {"type": "string", "minLength": 1, "maxLength": 128,
    "pattern": "^[A-Za-z0-9_.:-]([A-Za-z0-9_.: -]*[A-Za-z0-9_.:-])?$",
    "description": "Letters, digits, space, '_', '-', '.', ':'; no leading or trailing space."},
  "EdgeId": {"type": "string", "minLength": 1, "maxLength": 256,
    "pattern": "^[A-Za-z0-9_.:-]([A-Za-z0-9_.: -]*[A-Za-z0-9_.:-])?$"},
  "Handle": {"type": ["string", "null"], "description": "A handle name; null or \"\" means \"main\"."},
  "WorkflowSettings": {"type": ["object", "null"], "additionalProperties": true, "properties": {
    "timeout_seconds": {"type": "number", "minimum": 1, "maximum": 604800, "default": 300},
    "variables": {"type": ["object", "null"], "default": {}, "description": "Visible to expressions as $vars."},
    "output_node": {"type": ["string", "null"], "description": "Id of the node whose output is the workflow result."},
    "max_failures": {"type": "integer", "minimum": 0, "maximum": 1000000, "default": 0},
    "error_workflow": {"type": ["string", "null"], "maxLength": 64, "pattern": "^[a-z0-9_-]*$",
      "description": "Id of the workflow to start (its latest version, same owner) when an execution of this workflow fails; empty or null = none. It receives the failure as its input (docs/workflow-format.md, Error workflows)."}}},
  "NodeSettings": {"type": ["object", "null"], "additionalProperties": true, "properties": {
    "timeout_seconds": {"type": "number", "minimum": 1, "maximum": 86400, "default": 60},
    "retry_count": {"type": "integer", "minimum": 0, "maximum": 10, "default": 0},
    "retry_delay_seconds": {"type": "number", "minimum": 0, "maximum": 3600, "default": 5},
    "retry_backoff": {"type": "number", "minimum": 1, "maximum": 10, "default": 1},
    "retry_max_delay_seconds": {"type": "number", "minimum": 0, "maximum": 86400, "default": 300},
    "on_error": {"enum": ["stop", "continue", "route", "ask"], "default": "stop"}}},
  "CredentialRef": {"oneOf": [
    {"type": "string", "minLength": 1},
    {"type": "object", "required": ["id"], "additionalProperties": true,
     "properties": {"id": {"type": "string", "minLength": 1}, "name": {"type": "string"}}}]},
  "NodeData": {"type": ["object", "null"], "additionalProperties": true, "properties": {
    "label": {"type": ["string", "null"]},
    "type_version": {"type": ["integer", "null"], "minimum": 1, "maximum": 4294967295},
    "parameters": {"type": ["object", "null"],
      "description": "Checked against the node type's fields (GET /api/nodes). String values may contain {{ expressions }}."},
    "settings": {"$ref": "#/components/schemas/NodeSettings"},
    "credentials": {"type": ["object", "null"], "additionalProperties": {"$ref": "#/components/schemas/CredentialRef"}}}},
  "WorkflowNode": {"type": "object", "required": ["id", "type"], "additionalProperties": true, "properties": {
    "id": {"$ref": "#/components/schemas/NodeId"},
    "type": {"type": "string", "minLength": 1, "description": "A registered node type, e.g. core.set."},
    "position": {"type": "object", "properties": {"x": {"type": "number"}, "y": {"type": "number"}},
      "description": "Editor layout; ignored by the compiler."},
    "data": {"$ref": "#/components/schemas/NodeData"}}},
  "WorkflowEdge": {"type": "object", "required": ["id", "source", "target"], "additionalProperties": true, "properties": {
    "id": {"$ref": "#/components/schemas/EdgeId"},
    "source": {"type": "string", "minLength": 1},
    "target": {"type": "string", "minLength": 1},
    "sourceHandle": {"$ref": "#/components/schemas/Handle"},
    "targetHandle": {"$ref": "#/components/schemas/Handle"}}},
  "WorkflowDefinition": {"title": "Weft workflow",
    "description": "A workflow document as the editor sends it (docs/workflow-format.md). The compiler checks more than this schema can: node types and their parameters, handles, the graph, expressions and credentials.",
    "type": "object", "required": ["nodes"], "additionalProperties": true, "properties": {
      "name": {"type": ["string", "null"], "description": "Display name."},
      "settings": {"$ref": "#/components/schemas/WorkflowSettings"},
      "nodes": {"type": "array", "maxItems": 10000, "items": {"$ref": "#/components/schemas/WorkflowNode"},
        "description": "Node ids must be unique (not expressible in JSON Schema; the compiler reports duplicate_node_id)."},
      "edges": {"type": ["array", "null"], "maxItems": 50000, "items": {"$ref": "#/components/schemas/WorkflowEdge"},
        "description": "Edge ids must be unique (the compiler reports duplicate_edge_id)."}}},
  "WorkflowBody": {"$ref": "#/components/schemas/WorkflowDefinition",
    "description": "A workflow to save. Stricter than the document format: name must be a string of at most 200 characters and edges an array when present (400 invalid_argument otherwise); members the server owns are refused (400 unknown_field).",
    "properties": {
      "name": {"type": "string", "maxLength": 200},
      "edges": {"type": "array"},
      "id": false, "owner_id": false, "owner": false, "user_id": false, "version": false,
      "created_at": false, "updated_at": false, "role": false, "tier": false}},
  "WorkflowVersion": {"type": "object", "required": ["id", "version", "name", "created_at"], "properties": {
    "id": {"type": "string"}, "version": {"type": "integer", "minimum": 1},
    "name": {"type": "string"}, "created_at": {"$ref": "#/components/schemas/Timestamp"}}},
  "Workflow": {"allOf": [{"$ref": "#/components/schemas/WorkflowVersion"},
    {"type": "object", "required": ["definition"], "properties": {
      "definition": {"$ref": "#/components/schemas/WorkflowDefinition"}}}]},
  "SavedWorkflow": {"description": "The saved version and its compile diagnostics (saving never requires a clean compile).",
    "allOf": [{"$ref": "#/components/schemas/Workflow"},
      {"type": "object", "required": ["compile"], "properties": {"compile": {"$ref": "#/components/schemas/CompileResult"},
        "credential_placeholders": {"type": "array", "description": "Present when placeholders ({{credential:...}}) were resolved while saving: what each became (see POST /api/credentials/resolve).",
          "items": {"type": "object"}}}}]},
  "WorkflowSummary": {"type": "object", "required": ["id", "name", "version", "created_at", "updated_at"], "properties": {
    "id": {"type": "string"}, "name": {"type": "string"},
    "version": {"type": "integer", "minimum": 1, "description": "The latest version."},
    "created_at": {"$ref": "#/components/schemas/Timestamp"},
    "updated_at": {"$ref": "#/components/schemas/Timestamp"}}},
  "WorkflowList": {"type": "object", "required": ["workflows"], "properties": {
    "workflows": {"type": "array", "items": {"$ref": "#/components/schemas/WorkflowSummary"}},
    "next_cursor": {"type": "string", "description": "Present when there may be more: pass it as ?cursor=."}}},
  "WorkflowVersionList": {"type": "object", "required": ["versions"], "properties": {
    "versions": {"type": "array", "items": {"$ref": "#/components/schemas/WorkflowVersion"}}}},
  "Diagnostic": {"type": "object", "required": ["code", "message", "node_id", "field", "edge_id"], "properties": {
    "code": {"type": "string", "description": "e.g. unknown_node_type, cycle, too_many_errors."},
    "message": {"type": "string"},
    "node_id": {"type": "string", "description": "\"\" when not about a node."},
    "field": {"type": "string", "description": "\"\" when not about a field."},
    "edge_id": {"type": "string", "description": "\"\" when not about an edge."},
    "details": {}}},
  "CodeValidateRequest": {"type": "object", "required": ["language", "code"], "additionalProperties": false, "properties": {
    "language": {"type": "string", "enum": ["javascript", "js", "python", "py"]},
    "code": {"type": "string", "description": "The source text (at most 1 MiB)."},
    "mode": {"type": "string", "enum": ["body", "module"], "default": "body",
      "description": "body: a code node's code, the body of an async function (top-level return/await allowed). module: a whole file (custom nodes)."}}},
  "CodeDiagnostic": {"type": "object", "required": ["line", "column", "end_line", "end_column", "code", "message"], "properties": {
    "line": {"type": "integer", "description": "1-based; 0 for problems with the input as a whole."},
    "column": {"type": "integer", "description": "1-based, in Unicode code points."},
    "end_line": {"type": "integer"}, "end_column": {"type": "integer"},
    "code": {"type": "string", "description": "syntax_error, missing_token, indentation_error, invalid_utf8, nul_byte, code_too_large, parse_timeout"},
    "message": {"type": "string"}}},
  "CodeValidateResult": {"type": "object", "required": ["ok", "diagnostics"], "properties": {
    "ok": {"type": "boolean"},
    "diagnostics": {"type": "array", "items": {"$ref": "#/components/schemas/CodeDiagnostic"}},
    "truncated": {"type": "boolean", "description": "More problems were found than listed (at most 20 are)."}}},
  "CompileResult": {"type": "object", "required": ["ok", "errors", "warnings"], "properties": {
    "ok": {"type": "boolean"},
    "errors": {"type": "array", "items": {"$ref": "#/components/schemas/Diagnostic"}},
    "warnings": {"type": "array", "items": {"$ref": "#/components/schemas/Diagnostic"}}}},
  "ExecutionStatus": {"type": "string", "enum": ["queued", "running", "parked", "paused", "succeeded", "failed", "cancelled"]},
  "Execution": {"type": "object",
    "required": ["id", "workflow_id", "workflow_version", "status", "mode", "created_at", "started_at",
                 "finished_at", "updated_at", "pause_requested", "cancel_requested", "last_event_seq"],
    "properties": {
      "id": {"type": "string"}, "workflow_id": {"type": "string"},
      "workflow_version": {"type": "integer", "minimum": 1},
      "status": {"$ref": "#/components/schemas/ExecutionStatus"},
      "mode": {"type": "string", "enum": ["sync", "async"]},
      "input": {"description": "The trigger input (null = the trigger's defaults). Not in lists (GET /api/executions), which stay small."},
      "output": {"description": "The workflow result; present only when succeeded, and not in lists."},
      "error": {"description": "Why it failed; present only when there is an error."},
      "created_at": {"$ref": "#/components/schemas/Timestamp"},
      "started_at": {"$ref": "#/components/schemas/Timestamp"},
      "finished_at": {"$ref": "#/components/schemas/Timestamp"},
      "updated_at": {"$ref": "#/components/schemas/Timestamp"},
      "wake_at": {"$ref": "#/components/schemas/Timestamp", "description": "When a parked execution wakes up; present only when set."},
      "pause_requested": {"type": "boolean"}, "cancel_requested": {"type": "boolean"},
      "last_event_seq": {"type": "integer", "minimum": 0},
      "idempotency_key": {"type": "string", "description": "Present when it was started with one."}}},
  "ExecutionList": {"type": "object", "required": ["executions"], "properties": {
    "executions": {"type": "array", "items": {"$ref": "#/components/schemas/Execution"}},
    "next_cursor": {"type": "string", "description": "Present when there may be more: pass it as ?cursor=."}}},
  "ExecutionStarted": {"type": "object", "required": ["execution", "links"], "properties": {
    "execution": {"$ref": "#/components/schemas/Execution"},
    "links": {"type": "object", "required": ["self", "events"], "properties": {
      "self": {"type": "string", "description": "/api/executions/{id}"},
      "events": {"type": "string", "description": "/api/executions/{id}/events"}}},
    "existed": {"const": true, "description": "Present when the Idempotency-Key matched an earlier execution."}}},
  "NodeLog": {"type": "object",
    "required": ["node_id", "node_key", "attempt", "status", "started_at", "finished_at", "duration_us", "input", "output", "lines"],
    "properties": {
      "node_id": {"type": "string"}, "node_key": {"type": "string"},
      "attempt": {"type": "integer", "minimum": 0},
      "status": {"type": "string", "description": "succeeded, failed, parked, cancelled or timeout."},
      "started_at": {"$ref": "#/components/schemas/Timestamp"},
      "finished_at": {"$ref": "#/components/schemas/Timestamp"},
      "duration_us": {"type": "integer", "minimum": 0},
      "input": {"description": "Capped and redacted."}, "output": {"description": "Capped and redacted."},
      "error": {"description": "Present when the attempt failed."},
      "lines": {"type": "string", "description": "The plugin's log lines, newline-separated, capped."}}},
  "NodeLogList": {"type": "object", "required": ["logs"], "properties": {
    "logs": {"type": "array", "items": {"$ref": "#/components/schemas/NodeLog"}}}},
  "Event": {"type": "object", "required": ["seq", "type", "ts", "data"], "properties": {
    "seq": {"type": "integer", "minimum": 1, "description": "1, 2, ... per execution, without gaps."},
    "type": {"type": "string", "description": "execution_started, node_start, node_complete, ..."},
    "ts": {"$ref": "#/components/schemas/Timestamp"},
    "data": {}}},
  "EventList": {"type": "object", "required": ["events"],
    "description": "One page; fetch the next with ?after=<last seq>.",
    "properties": {"events": {"type": "array", "items": {"$ref": "#/components/schemas/Event"}}}},
  "StreamEvent": {"description": "The data line of one Server-Sent Event.",
    "allOf": [{"$ref": "#/components/schemas/Event"},
      {"type": "object", "required": ["execution_id"], "properties": {"execution_id": {"type": "string"}}}]},
  "Webhook": {"type": "object", "required": ["node_id", "url", "method", "auth", "response"], "properties": {
    "node_id": {"type": "string"},
    "url": {"type": "string", "description": "/webhook/<path>, relative to the server."},
    "method": {"type": "string", "description": "POST, GET or ANY (the trigger's parameter)."},
    "auth": {"type": "string", "description": "secret_path (the path is the secret) or hmac."},
    "response": {"type": "string", "description": "auto, wait or immediate."},
    "hmac_secret": {"type": "string", "description": "With auth hmac: the signing secret (owner only)."}}},
  "WebhookList": {"type": "object", "required": ["webhooks"], "properties": {
    "webhooks": {"type": "array", "items": {"$ref": "#/components/schemas/Webhook"}}}},
  "WebhookAccepted": {"type": "object", "required": ["execution_id", "status"], "properties": {
    "execution_id": {"type": "string"}, "status": {"$ref": "#/components/schemas/ExecutionStatus"}}},
  "WebhookFailed": {"type": "object", "required": ["execution_id", "status", "error"], "properties": {
    "execution_id": {"type": "string"}, "status": {"const": "failed"}, "error": {}}},
  "NodeType": {"type": "object", "required": ["type", "version", "plugin", "flags", "fields", "inputs", "outputs"],
    "description": "One palette entry: the registry's members, then the node schema the plugin declares (docs/ARCHITECTURE.md \"Node schema\").",
    "properties": {
      "type": {"type": "string"}, "version": {"type": "integer", "minimum": 1}, "plugin": {"type": "string"},
      "flags": {"type": "array", "items": {"type": "string", "enum": ["trigger", "uses_llm", "long_running", "side_effects", "loop"]}},
      "display_name": {"type": "string"}, "description": {"type": "string"}, "category": {"type": "string"},
      "fields": {"type": "array", "items": {"type": "object", "required": ["name", "type"], "properties": {
        "name": {"type": "string"},
        "type": {"type": "string", "enum": ["string", "number", "integer", "boolean", "select", "json", "code", "credential", "expression"]}}}},
      "inputs": {"type": "array", "items": {"$ref": "#/components/schemas/HandleSpec"}},
      "outputs": {"type": "array", "items": {"$ref": "#/components/schemas/HandleSpec"}}}},
  "HandleSpec": {"type": "object", "required": ["name"], "properties": {
    "name": {"type": "string"},
    "type": {"type": "string", "enum": ["json", "text", "number", "boolean", "binary", "any"]},
    "multiple": {"type": "boolean"}}},
  "Palette": {"type": "object", "required": ["nodes"], "properties": {
    "nodes": {"type": "array", "items": {"$ref": "#/components/schemas/NodeType"}}}},
  "CustomNodeBody": {"type": "object", "required": ["language", "source"], "additionalProperties": false, "properties": {
    "language": {"type": "string", "enum": ["javascript", "js", "python", "py"]},
    "source": {"type": "string", "minLength": 1, "maxLength": 262144,
      "description": "The node's file (at most 256 KiB). JavaScript: module.exports = {name, displayName, description, fields, inputs, outputs, credentialTypes, execute(items, params, weft)}. Python: a module-level NODE = {...} dict and def execute(items, params, weft). docs/custom-nodes.md describes the declaration."}}},
  "CustomNode": {"type": "object", "required": ["id", "name", "type", "version", "language", "declaration", "created_at", "updated_at"],
    "properties": {
      "id": {"type": "string", "description": "The id of this version's row."},
      "name": {"type": "string", "pattern": "^[a-z][a-z0-9_]{0,62}$"},
      "type": {"type": "string", "description": "The node type workflows use: custom.<name>."},
      "version": {"type": "integer", "minimum": 1},
      "language": {"type": "string", "enum": ["javascript", "python"]},
      "declaration": {"type": "object", "description": "The validated node schema (display_name, description, category, fields, inputs, outputs, credential_types), as the palette shows it."},
      "created_at": {"$ref": "#/components/schemas/Timestamp", "description": "When version 1 was uploaded."},
      "updated_at": {"$ref": "#/components/schemas/Timestamp", "description": "When this version was uploaded."}}},
  "CustomNodeDetail": {"allOf": [{"$ref": "#/components/schemas/CustomNode"},
    {"type": "object", "required": ["source", "versions"], "properties": {
      "source": {"type": "string"},
      "versions": {"type": "array", "items": {"type": "object", "required": ["version", "created_at"], "properties": {
        "version": {"type": "integer", "minimum": 1}, "created_at": {"$ref": "#/components/schemas/Timestamp"}}}}}}]},
  "CustomNodeList": {"type": "object", "required": ["nodes"], "properties": {
    "nodes": {"type": "array", "items": {"$ref": "#/components/schemas/CustomNode"}}}},
  "PluginState": {"type": "string", "enum": ["loaded", "disabled", "incompatible", "rejected", "broken"]},
  "Plugin": {"type": "object", "required": ["name", "version", "description", "state", "node_types"], "properties": {
    "name": {"type": "string"}, "version": {"type": "string"}, "description": {"type": "string"},
    "state": {"$ref": "#/components/schemas/PluginState"},
    "reason": {"type": "string", "description": "Why it is not loaded."},
    "node_types": {"type": "array", "items": {"type": "string"}}}},
  "PluginList": {"type": "object", "required": ["plugins"], "properties": {
    "plugins": {"type": "array", "items": {"$ref": "#/components/schemas/Plugin"}}}},
  "PluginSwitched": {"type": "object", "required": ["name", "state"], "properties": {
    "name": {"type": "string"}, "state": {"$ref": "#/components/schemas/PluginState"}}}
}
})json";

// Per route: what the handler reads and answers. Members:
//   tag, operationId, description (optional; the Route's summary is the summary)
//   parameters: names of components/parameters, or inline parameter objects
//   path_schemas: {param: schema} for path parameters that are not plain strings
//   requestBody: an OpenAPI request body
//   responses: status → response object, or a string: an Error-shaped response with that
//     description. The server-side responses (401, 403, 413, 415, 429, 500, 503) are added from
//     the Route's fields; a status given here wins.
//   no_internal: true when the handler cannot fail (no 500).
constexpr std::string_view kOperations = R"json({
"GET /healthz": {"tag": "health", "operationId": "getHealth", "no_internal": true,
  "responses": {"200": {"description": "The process answers.",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Health"}}}}}},
"GET /readyz": {"tag": "health", "operationId": "getReadiness",
  "responses": {
    "200": {"description": "Ready to serve.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Readiness"}}}},
    "503": {"description": "Draining, or the store does not answer (status draining or unavailable).",
      "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Readiness"}}}}}},
"GET /metrics": {"tag": "health", "operationId": "getMetrics",
  "responses": {"200": {"description": "Prometheus text exposition format 0.0.4 (Content-Type: text/plain; version=0.0.4).",
    "content": {"text/plain": {"schema": {"type": "string"}}}}}},
"GET /api/openapi.json": {"tag": "meta", "operationId": "getOpenApiDocument",
  "responses": {"200": {"description": "This document.",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/OpenApiDocument"}}}}}},

"POST /api/auth/login": {"tag": "auth", "operationId": "login",
  "description": "Rate limited per client address and, whether or not the account exists, per account name.",
  "requestBody": {"required": true, "content": {"application/json": {"schema": {
    "type": "object", "required": ["email", "password"], "additionalProperties": false, "properties": {
      "email": {"type": "string", "description": "Case-insensitive."}, "password": {"type": "string"}}}}}},
  "responses": {
    "200": {"description": "Logged in.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TokenPair"}}}},
    "400": {"$ref": "#/components/responses/BadRequest"},
    "401": "invalid_credentials: the same answer whether the account does not exist, is disabled or the password is wrong."}},
"POST /api/auth/refresh": {"tag": "auth", "operationId": "refreshToken",
  "description": "The presented refresh token stops working; presenting it again (replay) revokes the whole session.",
  "requestBody": {"required": true, "content": {"application/json": {"schema": {
    "type": "object", "required": ["refresh_token"], "additionalProperties": false, "properties": {
      "refresh_token": {"type": "string"}}}}}},
  "responses": {
    "200": {"description": "A new token pair.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TokenPair"}}}},
    "400": {"$ref": "#/components/responses/BadRequest"},
    "401": "unauthorized: the refresh token is invalid, expired, already used or its session was revoked."}},
"POST /api/auth/logout": {"tag": "auth", "operationId": "logout",
  "responses": {
    "204": {"description": "The session is revoked: its access and refresh tokens stop working."},
    "400": "invalid_argument: the caller authenticated with an API key (revoke keys with DELETE /api/keys/{id})."}},
"GET /api/auth/me": {"tag": "auth", "operationId": "getMe",
  "responses": {"200": {"description": "The caller's account and how it authenticated.",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Me"}}}}}},
"POST /api/auth/password": {"tag": "auth", "operationId": "changePassword",
  "requestBody": {"required": true, "content": {"application/json": {"schema": {
    "type": "object", "required": ["old_password", "new_password"], "additionalProperties": false, "properties": {
      "old_password": {"type": "string"},
      "new_password": {"type": "string", "minLength": 8, "maxLength": 1024, "description": "Length limits are the server's configuration (defaults shown)."}}}}}},
  "responses": {
    "204": {"description": "Changed; every session of the account is revoked (log in again)."},
    "400": {"$ref": "#/components/responses/BadRequest"},
    "401": "invalid_credentials: old_password is wrong; or unauthorized.",
    "403": "forbidden: the password can only be changed from a login session, not with an API key."}},

"GET /api/keys": {"tag": "keys", "operationId": "listApiKeys",
  "responses": {"200": {"description": "Every key of the account, revoked and expired ones included.",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ApiKeyList"}}}}}},
"POST /api/keys": {"tag": "keys", "operationId": "createApiKey",
  "requestBody": {"required": true, "content": {"application/json": {"schema": {
    "type": "object", "additionalProperties": false, "properties": {
      "name": {"type": "string", "maxLength": 128, "description": "No control characters."},
      "scopes": {"type": "array", "items": {"$ref": "#/components/schemas/Scope"},
        "description": "Empty or absent: every scope the credential holds (*). A credential can only grant scopes it holds; admin only for admins."},
      "expires_in_seconds": {"type": "integer", "minimum": 0, "maximum": 3155760000, "description": "0 or absent: never expires."}}}}}},
  "responses": {
    "201": {"description": "The key: shown in this response only.",
      "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ApiKeyCreated"}}}},
    "400": {"$ref": "#/components/responses/BadRequest"},
    "403": "forbidden: the API key lacks keys:manage, or a requested scope is not the caller's to grant."}},
"POST /api/keys/:id/rotate": {"tag": "keys", "operationId": "rotateApiKey",
  "parameters": ["overlap_seconds"],
  "responses": {
    "201": {"description": "The successor key (same name and scopes), shown in this response only.",
      "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ApiKeyCreated"}}}},
    "400": "invalid_argument: overlap_seconds is not an integer from 0 to 2592000.",
    "403": "forbidden: the API key lacks keys:manage, or the key's scopes are not the caller's to grant.",
    "404": {"$ref": "#/components/responses/NotFound"},
    "409": "conflict: the key is revoked, expired or already rotated."}},
"DELETE /api/keys/:id": {"tag": "keys", "operationId": "revokeApiKey",
  "responses": {
    "204": {"description": "Revoked (also when it already was)."},
    "404": {"$ref": "#/components/responses/NotFound"}}},

"GET /api/credentials/types": {"tag": "credentials", "operationId": "listCredentialTypes",
  "responses": {"200": {"description": "Every credential type of the enabled plugins.",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CredentialTypeList"}}}}}},
"GET /api/credentials": {"tag": "credentials", "operationId": "listCredentials",
  "parameters": ["credential_type"],
  "responses": {"200": {"description": "The caller's credentials by name; secret fields are named, never shown.",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CredentialList"}}}}}},
"POST /api/credentials": {"tag": "credentials", "operationId": "createCredential",
  "requestBody": {"required": true, "content": {"application/json": {"schema": {"allOf": [
    {"$ref": "#/components/schemas/CredentialBody"}, {"required": ["name", "type"]}]}}}},
  "responses": {
    "201": {"description": "Created; the secrets are encrypted at rest (XChaCha20-Poly1305, bound to owner, id and field).",
      "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Credential"}}}},
    "400": "invalid_credential (a field is unknown, missing, of the wrong type or too long), unknown_credential_type, unknown_field (id, owner_id... are the server's).",
    "409": "conflict: the account already has a credential with that name.",
    "503": "vault_unavailable: the server has no master key configured."}},
"GET /api/credentials/:id": {"tag": "credentials", "operationId": "getCredential",
  "responses": {
    "200": {"description": "The credential without its secrets.",
      "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Credential"}}}},
    "404": {"$ref": "#/components/responses/NotFound"}}},
"PUT /api/credentials/:id": {"tag": "credentials", "operationId": "updateCredential",
  "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CredentialBody"}}}},
  "responses": {
    "200": {"description": "Updated.",
      "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Credential"}}}},
    "400": "invalid_credential (including a type change), unknown_field.",
    "404": {"$ref": "#/components/responses/NotFound"},
    "409": "conflict: the account already has a credential with that name.",
    "503": "vault_unavailable: secrets cannot be changed without a master key."}},
"DELETE /api/credentials/:id": {"tag": "credentials", "operationId": "deleteCredential",
  "responses": {
    "204": {"description": "Deleted."},
    "404": {"$ref": "#/components/responses/NotFound"}}},
"POST /api/code/validate": {"tag": "code", "operationId": "validateCode",
  "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CodeValidateRequest"}}}},
  "responses": {
    "200": {"description": "The syntax check (Tree-sitter) of the code; nothing is run. ok false lists every problem with line and column.",
      "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CodeValidateResult"}}}},
    "400": {"$ref": "#/components/responses/BadRequest"}}},

"POST /api/credentials/resolve": {"tag": "credentials", "operationId": "resolveCredentialPlaceholders",
  "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/WorkflowBody"}}}},
  "responses": {
    "200": {"description": "What each {{credential:...}} placeholder maps to, and what could not be mapped (saving a workflow resolves them the same way).",
      "content": {"application/json": {"schema": {"$ref": "#/components/schemas/PlaceholderResolution"}}}},
    "400": {"$ref": "#/components/responses/BadRequest"}}},

"GET /api/workflows": {"tag": "workflows", "operationId": "listWorkflows",
  "parameters": ["limit", "cursor"],
  "responses": {
    "200": {"description": "The caller's workflows (latest versions), in id order.",
      "content": {"application/json": {"schema": {"$ref": "#/components/schemas/WorkflowList"}}}},
    "400": "invalid_argument: limit is not an integer from 1 to 200."}},
"POST /api/workflows": {"tag": "workflows", "operationId": "createWorkflow",
  "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/WorkflowBody"}}}},
  "responses": {
    "201": {"description": "Saved as version 1, with its compile diagnostics.",
      "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SavedWorkflow"}}}},
    "400": {"$ref": "#/components/responses/BadRequest"},
    "409": "conflict: a webhook path of this workflow is already used by another workflow."}},
"GET /api/workflows/:id": {"tag": "workflows", "operationId": "getWorkflow",
  "responses": {
    "200": {"description": "The latest version.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Workflow"}}}},
    "404": {"$ref": "#/components/responses/NotFound"}}},
"PUT /api/workflows/:id": {"tag": "workflows", "operationId": "updateWorkflow",
  "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/WorkflowBody"}}}},
  "responses": {
    "200": {"description": "Saved as a new version, with its compile diagnostics.",
      "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SavedWorkflow"}}}},
    "400": {"$ref": "#/components/responses/BadRequest"},
    "404": {"$ref": "#/components/responses/NotFound"},
    "409": "conflict: a webhook path of this workflow is already used by another workflow."}},
"DELETE /api/workflows/:id": {"tag": "workflows", "operationId": "deleteWorkflow",
  "responses": {
    "204": {"description": "Deleted; its executions stay readable."},
    "404": {"$ref": "#/components/responses/NotFound"}}},
"GET /api/workflows/:id/versions": {"tag": "workflows", "operationId": "listWorkflowVersions",
  "responses": {
    "200": {"description": "Every version, without definitions.",
      "content": {"application/json": {"schema": {"$ref": "#/components/schemas/WorkflowVersionList"}}}},
    "404": {"$ref": "#/components/responses/NotFound"}}},
"GET /api/workflows/:id/versions/:version": {"tag": "workflows", "operationId": "getWorkflowVersion",
  "path_schemas": {"version": {"type": "integer", "minimum": 1}},
  "responses": {
    "200": {"description": "That version.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Workflow"}}}},
    "400": "invalid_argument: version is not a positive integer.",
    "404": {"$ref": "#/components/responses/NotFound"}}},
"POST /api/workflows/compile": {"tag": "workflows", "operationId": "compileWorkflowBody",
  "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/WorkflowDefinition"}}}},
  "responses": {
    "200": {"description": "Compiles cleanly (warnings possible).",
      "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CompileResult"}}}},
    "400": {"$ref": "#/components/responses/BadRequest"},
    "422": {"description": "Does not compile: every error at once.",
      "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CompileResult"}}}}}},
"POST /api/workflows/:id/compile": {"tag": "workflows", "operationId": "compileWorkflow",
  "parameters": ["version"],
  "responses": {
    "200": {"description": "Compiles cleanly (warnings possible).",
      "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CompileResult"}}}},
    "400": "invalid_argument: version is not a positive integer.",
    "404": {"$ref": "#/components/responses/NotFound"},
    "422": {"description": "Does not compile: every error at once.",
      "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CompileResult"}}}}}},
"POST /api/workflows/:id/execute": {"tag": "executions", "operationId": "executeWorkflow",
  "parameters": ["mode", "version", "Idempotency-Key"],
  "requestBody": {"required": false, "description": "May be empty: the trigger's defaults are the input.",
    "content": {"application/json": {"schema": {
      "type": "object", "additionalProperties": false, "properties": {
        "input": {"description": "The trigger input, any JSON value."}}}}}},
  "responses": {
    "200": {"description": "Finished within the request (ran synchronously, or an Idempotency-Key matched a finished execution).",
      "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ExecutionStarted"}}}},
    "202": {"description": "Accepted: queued, parked, or a synchronous run still going when its wait budget (server.sync_wait_ms) ran out. Follow links.events or poll links.self.",
      "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ExecutionStarted"}}}},
    "400": "invalid_argument (mode, version, an Idempotency-Key over 200 characters), invalid_json, unknown_field, or compile_failed (details: the compile errors).",
    "404": {"$ref": "#/components/responses/NotFound"}}},
"GET /api/workflows/:id/webhooks": {"tag": "workflows", "operationId": "listWorkflowWebhooks",
  "responses": {
    "200": {"description": "The webhook entry points of the latest version.",
      "content": {"application/json": {"schema": {"$ref": "#/components/schemas/WebhookList"}}}},
    "404": {"$ref": "#/components/responses/NotFound"}}},

"GET /api/executions": {"tag": "executions", "operationId": "listExecutions",
  "parameters": ["limit", "cursor", "workflow_id", "status"],
  "responses": {
    "200": {"description": "The caller's executions, newest first.",
      "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ExecutionList"}}}},
    "400": "invalid_argument: limit out of range or an unknown status."}},
"GET /api/executions/:id": {"tag": "executions", "operationId": "getExecution",
  "responses": {
    "200": {"description": "The execution.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Execution"}}}},
    "404": {"$ref": "#/components/responses/NotFound"}}},
"GET /api/executions/:id/logs": {"tag": "executions", "operationId": "getExecutionLogs",
  "responses": {
    "200": {"description": "One entry per node attempt.",
      "content": {"application/json": {"schema": {"$ref": "#/components/schemas/NodeLogList"}}}},
    "404": {"$ref": "#/components/responses/NotFound"}}},
"GET /api/executions/:id/events": {"tag": "executions", "operationId": "streamExecutionEvents",
  "parameters": ["Last-Event-ID", "after",
    {"name": "limit", "in": "query", "required": false,
     "description": "Page size of the JSON form (400 invalid_argument outside 1..200); ignored by the stream.",
     "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}}],
  "responses": {
    "200": {"description": "The stream starts with the comment \": connected\", replays the persisted events after the cursor, then follows live until the execution ends. Each event is \"id: <seq>\\nevent: <type>\\ndata: <StreamEvent JSON>\\n\\n\". With Accept: application/json: one page of events instead.",
      "content": {
        "text/event-stream": {"schema": {"type": "string"}, "x-event-data-schema": {"$ref": "#/components/schemas/StreamEvent"}},
        "application/json": {"schema": {"$ref": "#/components/schemas/EventList"}}}},
    "400": "invalid_argument: Last-Event-ID / after is not a non-negative integer, or limit is out of range.",
    "404": {"$ref": "#/components/responses/NotFound"},
    "429": {"description": "Too many open event streams for this account (rate_limited; details.max_concurrent_streams).",
      "headers": {"Retry-After": {"$ref": "#/components/headers/Retry-After"}},
      "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}}},
"POST /api/executions/:id/cancel": {"tag": "executions", "operationId": "cancelExecution",
  "responses": {
    "200": {"description": "Cancellation requested (cancel_requested is true).",
      "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Execution"}}}},
    "404": {"$ref": "#/components/responses/NotFound"},
    "409": "invalid_state: the execution already finished."}},
"POST /api/executions/:id/pause": {"tag": "executions", "operationId": "pauseExecution",
  "responses": {
    "200": {"description": "Pause requested: it pauses at the next node boundary.",
      "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Execution"}}}},
    "404": {"$ref": "#/components/responses/NotFound"},
    "409": "invalid_state: the execution already finished."}},
"POST /api/executions/:id/resume": {"tag": "executions", "operationId": "resumeExecution",
  "responses": {
    "200": {"description": "Resumed.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Execution"}}}},
    "404": {"$ref": "#/components/responses/NotFound"},
    "409": "invalid_state: the execution already finished."}},

"GET /api/nodes": {"tag": "nodes", "operationId": "getPalette",
  "responses": {"200": {"description": "Every node type of every loaded, enabled plugin, then the caller's custom nodes (plugin \"custom\", type custom.<name>, their latest versions).",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Palette"}}}}}},
"POST /api/nodes/custom": {"tag": "nodes", "operationId": "createCustomNode",
  "description": "The file is checked with Tree-sitter, then loaded once in the sandbox (no network, no host calls) to read its declaration, which is validated. The node runs only in the sandbox, and only for this account.",
  "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CustomNodeBody"}}}},
  "responses": {
    "201": {"description": "Stored as version 1.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CustomNode"}}}},
    "400": "invalid_custom_node: syntax errors (details.diagnostics with line and column), a file that fails to load (details.line/column), or a declaration problem (details.member names it); unknown_field; invalid_json.",
    "409": "conflict: the account already has a custom node with that name (PUT uploads a new version).",
    "503": "sandbox_unavailable: the sandbox cannot run on this server."}},
"GET /api/nodes/custom": {"tag": "nodes", "operationId": "listCustomNodes",
  "responses": {"200": {"description": "The caller's custom nodes by name, latest versions, without sources.",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CustomNodeList"}}}}}},
"GET /api/nodes/custom/:name": {"tag": "nodes", "operationId": "getCustomNode",
  "parameters": [{"name": "version", "in": "query", "required": false,
    "description": "A stored version; the latest when absent (400 invalid_argument when not a positive integer).",
    "schema": {"type": "integer", "minimum": 1}}],
  "responses": {
    "200": {"description": "The version with its source, and every version's number.",
      "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CustomNodeDetail"}}}},
    "400": "invalid_argument: version is not a positive integer.",
    "404": {"$ref": "#/components/responses/NotFound"}}},
"PUT /api/nodes/custom/:name": {"tag": "nodes", "operationId": "updateCustomNode",
  "description": "Checked like an upload; the file must declare the same name. Earlier versions stay: workflows may pin one with data.type_version.",
  "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CustomNodeBody"}}}},
  "responses": {
    "200": {"description": "Stored as the next version.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CustomNode"}}}},
    "400": "invalid_custom_node (as for an upload, or the declared name differs), unknown_field, invalid_json.",
    "404": {"$ref": "#/components/responses/NotFound"},
    "503": "sandbox_unavailable: the sandbox cannot run on this server."}},
"DELETE /api/nodes/custom/:name": {"tag": "nodes", "operationId": "deleteCustomNode",
  "responses": {
    "204": {"description": "Deleted, every version; workflows that use it no longer compile (unknown_node_type)."},
    "404": {"$ref": "#/components/responses/NotFound"}}},

"GET /api/admin/plugins": {"tag": "admin", "operationId": "listPlugins",
  "responses": {"200": {"description": "Every plugin the registry knows, with its state.",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/PluginList"}}}}}},
"POST /api/admin/plugins/:name/enable": {"tag": "admin", "operationId": "enablePlugin",
  "responses": {
    "200": {"description": "The plugin's new state.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/PluginSwitched"}}}},
    "404": {"$ref": "#/components/responses/NotFound"},
    "409": "invalid_state: the plugin cannot be enabled (incompatible, rejected or broken)."}},
"POST /api/admin/plugins/:name/disable": {"tag": "admin", "operationId": "disablePlugin",
  "responses": {
    "200": {"description": "The plugin's new state.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/PluginSwitched"}}}},
    "404": {"$ref": "#/components/responses/NotFound"},
    "409": "invalid_state: the plugin serves this host's database, or cannot be switched in its state."}},
"GET /api/admin/users": {"tag": "admin", "operationId": "listUsers",
  "parameters": ["limit", "cursor"],
  "responses": {
    "200": {"description": "Users in id order.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/UserList"}}}},
    "400": "invalid_argument: limit is not an integer from 1 to 200."}},
"POST /api/admin/users": {"tag": "admin", "operationId": "createUser",
  "requestBody": {"required": true, "content": {"application/json": {"schema": {
    "type": "object", "required": ["email", "password"], "additionalProperties": false, "properties": {
      "email": {"type": "string"},
      "password": {"type": "string", "minLength": 8, "maxLength": 1024, "description": "Length limits are the server's configuration (defaults shown)."},
      "role": {"$ref": "#/components/schemas/Role", "default": "user"},
      "tier": {"$ref": "#/components/schemas/Tier", "default": "free"}}}}}},
  "responses": {
    "201": {"description": "Created.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/User"}}}},
    "400": {"$ref": "#/components/responses/BadRequest"},
    "409": "conflict: the email is already registered."}},
"PUT /api/admin/users/:id/tier": {"tag": "admin", "operationId": "setUserTier",
  "requestBody": {"required": true, "content": {"application/json": {"schema": {
    "type": "object", "required": ["tier"], "additionalProperties": false, "properties": {
      "tier": {"$ref": "#/components/schemas/Tier"}}}}}},
  "responses": {
    "200": {"description": "The updated user.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/User"}}}},
    "400": {"$ref": "#/components/responses/BadRequest"},
    "404": {"$ref": "#/components/responses/NotFound"}}},

"POST /webhook/*path": {"tag": "webhooks", "operationId": "postWebhook",
  "description": "No account credential: the unguessable path is the secret (auth secret_path), or the body is signed (auth hmac). The trigger input is {body, query, headers (credentials removed), method}; a JSON body (by Content-Type) is parsed, anything else is passed as text. Rate limited per path.",
  "parameters": ["Idempotency-Key-Webhook",
    {"name": "X-Weft-Timestamp", "in": "header", "required": false,
     "description": "auth hmac: Unix seconds, within 5 minutes of the server's clock.", "schema": {"type": "integer"}},
    {"name": "X-Weft-Signature", "in": "header", "required": false,
     "description": "auth hmac: sha256=<hex HMAC-SHA256 of \"<timestamp>.<body>\" with the webhook's hmac_secret>.",
     "schema": {"type": "string", "pattern": "^sha256=[0-9a-f]{64}$"}}],
  "path_description": "The webhook's path (see GET /api/workflows/{id}/webhooks); may span several segments.",
  "requestBody": {"required": false, "content": {
    "application/json": {"schema": {}},
    "*/*": {"schema": {"type": "string"}}}},
  "responses": {
    "200": {"description": "The workflow finished: its output.",
      "headers": {"X-Weft-Execution-Id": {"$ref": "#/components/headers/X-Weft-Execution-Id"}},
      "content": {"application/json": {"schema": {}}}},
    "202": {"description": "Accepted: queued (response immediate, or not quick), parked, or still running when the wait budget ran out (wait_timeout_seconds with response wait, else server.sync_wait_ms).",
      "headers": {"X-Weft-Execution-Id": {"$ref": "#/components/headers/X-Weft-Execution-Id"}},
      "content": {"application/json": {"schema": {"$ref": "#/components/schemas/WebhookAccepted"}}}},
    "400": "invalid_json (a JSON Content-Type with a body that does not parse), invalid_argument, or compile_failed.",
    "401": "invalid_signature: auth hmac and the timestamp or signature is missing or wrong.",
    "404": "not_found: no webhook at this path.",
    "405": {"description": "The webhook takes another method (method_not_allowed).",
      "headers": {"Allow": {"schema": {"type": "string"}}},
      "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
    "500": {"description": "The workflow failed (the body names the execution), or an internal error (Error shape).",
      "headers": {"X-Weft-Execution-Id": {"$ref": "#/components/headers/X-Weft-Execution-Id"}},
      "content": {"application/json": {"schema": {"oneOf": [
        {"$ref": "#/components/schemas/WebhookFailed"}, {"$ref": "#/components/schemas/Error"}]}}}}}},
"GET /webhook/*path": {"tag": "webhooks", "operationId": "getWebhook",
  "description": "As POST /webhook/{path}, for triggers whose method is GET or ANY. The query string is the useful input.",
  "parameters": ["Idempotency-Key-Webhook",
    {"name": "X-Weft-Timestamp", "in": "header", "required": false,
     "description": "auth hmac: Unix seconds, within 5 minutes of the server's clock.", "schema": {"type": "integer"}},
    {"name": "X-Weft-Signature", "in": "header", "required": false,
     "description": "auth hmac: sha256=<hex HMAC-SHA256 of \"<timestamp>.<body>\" (here an empty body) with the webhook's hmac_secret>.",
     "schema": {"type": "string", "pattern": "^sha256=[0-9a-f]{64}$"}}],
  "path_description": "The webhook's path (see GET /api/workflows/{id}/webhooks); may span several segments.",
  "responses": {
    "200": {"description": "The workflow finished: its output.",
      "headers": {"X-Weft-Execution-Id": {"$ref": "#/components/headers/X-Weft-Execution-Id"}},
      "content": {"application/json": {"schema": {}}}},
    "202": {"description": "Accepted: queued (response immediate, or not quick), parked, or still running when the wait budget ran out (wait_timeout_seconds with response wait, else server.sync_wait_ms).",
      "headers": {"X-Weft-Execution-Id": {"$ref": "#/components/headers/X-Weft-Execution-Id"}},
      "content": {"application/json": {"schema": {"$ref": "#/components/schemas/WebhookAccepted"}}}},
    "400": "invalid_argument or compile_failed.",
    "401": "invalid_signature: auth hmac and the timestamp or signature is missing or wrong.",
    "404": "not_found: no webhook at this path.",
    "405": {"description": "The webhook takes another method (method_not_allowed).",
      "headers": {"Allow": {"schema": {"type": "string"}}},
      "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
    "500": {"description": "The workflow failed (the body names the execution), or an internal error (Error shape).",
      "headers": {"X-Weft-Execution-Id": {"$ref": "#/components/headers/X-Weft-Execution-Id"}},
      "content": {"application/json": {"schema": {"oneOf": [
        {"$ref": "#/components/schemas/WebhookFailed"}, {"$ref": "#/components/schemas/Error"}]}}}}}}
})json";

constexpr std::string_view kTags = R"json([
  {"name": "health", "description": "Liveness, readiness and metrics (never rate limited, answered while draining)."},
  {"name": "meta", "description": "This document."},
  {"name": "auth", "description": "Login sessions: tokens, logout, password."},
  {"name": "keys", "description": "API keys of the caller's account."},
  {"name": "credentials", "description": "Credentials for integrations: encrypted at rest, secrets write-only."},
  {"name": "workflows", "description": "Saved workflows (immutable versions) and compilation."},
  {"name": "executions", "description": "Running workflows, their state, logs and live events."},
  {"name": "nodes", "description": "The node palette, and custom nodes (uploaded JavaScript/Python node types, run in the sandbox)."},
  {"name": "code", "description": "User code (JavaScript, Python): validation without running it."},
  {"name": "admin", "description": "Administration (admin role; API keys need the admin scope)."},
  {"name": "webhooks", "description": "Public webhook entry points of workflows."}
])json";

// Routes the server answers even while draining, and never rate limits (server.cpp is_health).
bool is_health_pattern(const std::string& p) { return p == "/healthz" || p == "/readyz" || p == "/metrics"; }

// "/api/workflows/:id" → "/api/workflows/{id}"; "/webhook/*path" → "/webhook/{path}".
std::string openapi_path(const std::string& pattern, std::vector<std::string>& params) {
  std::string out;
  for (const std::string& seg : http::split_path(pattern)) {
    out.push_back('/');
    if (seg[0] == ':' || seg[0] == '*') {
      params.push_back(seg.substr(1));
      out += "{" + seg.substr(1) + "}";
    } else {
      out += seg;
    }
  }
  return out.empty() ? "/" : out;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// A stand-in id for a route the table does not know, so the document still parses.
std::string fallback_operation_id(const http::Route& r) {
  std::string id = lower(r.method);
  bool upper = true;
  for (char ch : r.pattern) {
    if (!std::isalnum(static_cast<unsigned char>(ch))) {
      upper = true;
      continue;
    }
    id.push_back(upper ? static_cast<char>(std::toupper(static_cast<unsigned char>(ch))) : ch);
    upper = false;
  }
  return id;
}

Json ref(std::string_view kind, std::string_view name) {
  Json j = Json::object();
  j.set("$ref", "#/components/" + std::string(kind) + "/" + std::string(name));
  return j;
}

Json error_response(const std::string& description) {
  Json media = Json::object();
  media.set("schema", ref("schemas", "Error"));
  Json content = Json::object();
  content.set("application/json", media);
  Json r = Json::object();
  r.set("description", description);
  r.set("content", content);
  return r;
}

// Whether the server applies a per-minute limit to the route (server.cpp, before the handler).
bool server_rate_limited(const http::Route& r) {
  const std::string klass = r.rate_class.empty() ? "api" : r.rate_class;
  if (r.access != http::Access::Public) return klass != "stream";  // streams: the handler caps them
  return klass != "health";
}

// A body that must be JSON (the handler answers 415 for another content type); webhooks take any.
bool has_json_body(const Json& entry) {
  const Json& content = entry["requestBody"]["content"];
  return content.size() == 1 && content.contains("application/json");
}

// Builds one operation from the route and its table entry (null: none).
Json build_operation(const http::Route& r, const std::vector<std::string>& path_params, const Json* entry) {
  Json op = Json::object();
  const bool known = entry != nullptr && entry->is_object();
  const Json& e = known ? *entry : Json::object();
  op.set("operationId", known && e["operationId"].is_string() ? e["operationId"].as_string() : fallback_operation_id(r));
  op.set("summary", r.summary);
  if (e["description"].is_string()) op.set("description", e["description"]);
  Json tags = Json::array();
  tags.push_back(e["tag"].is_string() ? e["tag"].as_string() : std::string("undocumented"));
  op.set("tags", tags);
  if (!known) op.set("x-missing-schema", true);

  Json params = Json::array();
  for (const std::string& name : path_params) {
    Json p = Json::object();
    p.set("name", name);
    p.set("in", "path");
    p.set("required", true);
    if (e["path_description"].is_string()) p.set("description", e["path_description"]);
    const Json* schema = e["path_schemas"].find(name);
    if (schema) {
      p.set("schema", *schema);
    } else {
      Json s = Json::object();
      s.set("type", "string");
      p.set("schema", s);
    }
    params.push_back(p);
  }
  for (const Json& p : e["parameters"].as_array())
    params.push_back(p.is_string() ? ref("parameters", p.as_string()) : p);
  if (params.size() > 0) op.set("parameters", params);

  if (const Json* body = e.find("requestBody")) op.set("requestBody", *body);

  if (r.access == http::Access::Public) {
    op.set("security", Json::array());
  } else {
    Json sec = Json::array();
    for (const char* scheme : {"bearer", "apiKeyHeader"}) {
      Json s = Json::object();
      s.set(scheme, Json::array());
      sec.push_back(s);
    }
    op.set("security", sec);
    if (!r.scope.empty()) op.set("x-required-scope", r.scope);
  }

  // The handler's own answers first (they win), then what the server adds.
  Json responses = Json::object();
  for (const auto& [status, resp] : e["responses"].as_object())
    responses.set(status, resp.is_string() ? error_response(resp.as_string()) : resp);
  auto add = [&responses](const char* status, const char* name) {
    if (!responses.contains(status)) responses.set(status, ref("responses", name));
  };
  if (r.access != http::Access::Public) add("401", "Unauthorized");
  if (r.access == http::Access::Admin || !r.scope.empty()) add("403", "Forbidden");
  if (e.contains("requestBody")) {
    add("408", "RequestTimeout");
    add("413", "PayloadTooLarge");
  }
  if (r.json_body || has_json_body(e)) add("415", "UnsupportedMediaType");
  if (server_rate_limited(r)) add("429", "RateLimited");
  if (!e["no_internal"].as_bool()) add("500", "InternalError");
  if (!is_health_pattern(r.pattern)) add("503", "Unavailable");
  if (!known) {
    Json d = Json::object();
    d.set("description", "Undocumented: this route has no entry in host/api/openapi.cpp");
    responses.set("default", d);
  }
  // Stable order: by status code.
  auto& members = responses.mutable_object();
  std::stable_sort(members.begin(), members.end(), [](const Json::Member& a, const Json::Member& b) { return a.first < b.first; });
  op.set("responses", responses);
  return op;
}

Json parse_table(std::string_view text, const char* what, Json& doc) {
  auto parsed = Json::parse(text);
  if (parsed.ok()) return std::move(*parsed);
  // Loud: the test looks for this marker (and the document is useless without its table).
  doc.set("x-table-error", std::string(what) + ": " + parsed.error().message);
  return Json::object();
}

}  // namespace

Json openapi_document(const http::Router& router, const std::string& version) {
  Json doc = Json::object();
  doc.set("openapi", "3.1.0");
  Json operations = parse_table(kOperations, "kOperations", doc);
  Json components = parse_table(kComponents, "kComponents", doc);
  Json tags = parse_table(kTags, "kTags", doc);
  // The route areas' own parts (host/api/routes.hpp).
  const std::pair<const char*, OpenApiPart> parts[] = {
      {"human", openapi_human()}, {"audit", openapi_audit()}, {"schedules", openapi_schedules()}};
  for (const auto& [name, part] : parts) {
    const std::string what = std::string("openapi_") + name;
    Json ops = parse_table(part.operations, (what + ".operations").c_str(), doc);
    for (const auto& [k, v] : ops.as_object()) operations.set(k, v);
    Json comps = parse_table(part.components, (what + ".components").c_str(), doc);
    if (comps.is_object()) {
      Json schemas = components["schemas"].is_object() ? components["schemas"] : Json::object();
      for (const auto& [k, v] : comps.as_object()) schemas.set(k, v);
      components.set("schemas", schemas);
    }
    Json t = parse_table(part.tags, (what + ".tags").c_str(), doc);
    if (t.is_array())
      for (const Json& x : t.as_array()) tags.push_back(x);
  }

  Json info = Json::object();
  info.set("title", "Weft API");
  info.set("version", version);
  info.set("description",
           "Workflow automation: workflows, executions, live events, accounts and administration.\n\n"
           "Every JSON error has the shape {\"error\":{\"code\",\"message\",\"details\"}}. Paths are "
           "normalized before routing (percent-decoding, repeated slashes, dot segments); literal "
           "segments match case-insensitively. An unknown path is 404 not_found, a known path with "
           "another method 405 method_not_allowed (with Allow). CORS preflights (OPTIONS) are "
           "answered for the configured origins only. HEAD is answered like GET. A client too slow to "
           "send its request gets 408 request_timeout; one larger than the size limit 413.");
  doc.set("info", info);
  doc.set("jsonSchemaDialect", "https://spec.openapis.org/oas/3.1/dialect/base");
  doc.set("tags", tags);

  Json paths = Json::object();
  std::set<std::string> used;
  for (const http::Route& r : router.routes()) {
    std::vector<std::string> params;
    const std::string path = openapi_path(r.pattern, params);
    const std::string key = r.method + " " + r.pattern;
    const Json* entry = operations.find(key);
    if (entry) used.insert(key);
    Json item = paths[path].is_object() ? paths[path] : Json::object();
    item.set(lower(r.method), build_operation(r, params, entry));
    paths.set(path, item);
  }
  doc.set("paths", paths);

  Json unused = Json::array();
  for (const auto& [key, value] : operations.as_object())
    if (!used.count(key)) unused.push_back(key);
  if (unused.size() > 0) doc.set("x-unused-schema-entries", unused);

  doc.set("components", components);
  return doc;
}

}  // namespace weft::api
