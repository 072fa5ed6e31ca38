// Validation of the node schema a plugin declares per node type (docs/ARCHITECTURE.md "Node
// schema"). The registry refuses a registration whose schema the compiler and the palette could
// not rely on, so those never have to re-check the shape.
#pragma once

#include "host/core/json.hpp"
#include "host/core/result.hpp"

namespace weft::registry {

// Checks the schema's shape and returns it normalised: "fields", "inputs" and "outputs" are
// always present (empty arrays when the plugin left them out). Error code "invalid_schema"; the
// message names the offending member, e.g. `inputs[0].type "blob" is not a handle type (...)`.
// Unknown members are kept: later hosts may understand more.
Result<Json> validate_node_schema(const Json& schema);

}  // namespace weft::registry
