// Credential types: what a plugin declares through weft_registrar_api.register_credential_type
// (the type JSON below), checked here so that the credential service, the UI form and the host's
// "apply to an outbound request" step can rely on the shape without re-checking it.
//
//   {
//     "name": "slack_token",            required, [a-z0-9_]{1,64}, unique across all plugins
//     "display_name": "Slack token",    optional string (default: name)
//     "description": "...",             optional string (default: "")
//     "fields": [                       required, 1..64 entries, unique names
//       {"name": "token",               required, [a-z0-9_]{1,64}
//        "display_name": "Token",       optional string (default: name)
//        "type": "string",              required: string | url | number | boolean | select
//        "options": ["a", {"value": "b", "label": "B"}],   select only, required there, non-empty
//        "secret": true,                optional (default false); secret fields are string or url
//        "required": true,              optional (default false)
//        "default": "...",              optional, of the field's type (a select's: one of its options);
//                                       not allowed on secret fields
//        "description": "...",          optional string (default: "")
//        "placeholder": "xoxb-...",     optional string
//        "pattern": "..."}              optional string, kept for the UI; the host does not check it
//     ],
//     "apply": {"kind": "bearer", "field": "token"}            Authorization: Bearer <field>
//            | {"kind": "basic", "username_field": "user", "password_field": "pass"}
//            | {"kind": "header", "name": "X-Api-Key", "field": "key", "prefix": ""}
//            | {"kind": "query", "name": "api_key", "field": "key"}
//            | {"kind": "url", "field": "webhook_url"}          the secret is the whole URL
//            | {"kind": "none"}                                  only credential_get reads it
//              optional (default {"kind": "none"}); header "prefix" defaults to "".
//     "test_request": {...}              optional object, kept as given (not used by this host)
//   }
//
// Unknown members are refused everywhere (a typo must not silently drop a "secret": true). The
// field an apply kind sends (bearer/header/query/url field, basic password_field) must be a
// declared secret field of type string or url; basic's username_field a declared string field.
// A header apply names a valid HTTP token that is not one the HTTP client owns (Host,
// Content-Length, Transfer-Encoding, Connection...); a prefix is printable ASCII.
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "host/core/json.hpp"
#include "host/core/result.hpp"

namespace weft::registry {

// Checks a credential type definition and returns it normalised (defaults filled, members in a
// fixed order). Error code "invalid_credential_type"; the message names the offending member,
// e.g. `apply.field "tok" is not a declared field`.
Result<Json> validate_credential_type(const Json& definition);

// Credential type names: [a-z0-9_], 1-64 bytes.
bool is_valid_credential_type_name(std::string_view name);

}  // namespace weft::registry
