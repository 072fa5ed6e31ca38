// A node type's schema, read once per compile into lookup-friendly form (internal).
// The registry has already validated the schema's shape (registry/node_schema.hpp), but this
// reader still tolerates odd entries (skips them) so that a plugin bug can never crash the
// compiler.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "host/core/json.hpp"
#include "registry/registry.hpp"

namespace weft::compiler::detail {

struct FieldSpec {
  std::string name;
  std::string type;                // string number integer boolean select json code credential expression
  bool required = false;
  const Json* default_value = nullptr;  // points into the type's schema
  const Json* options = nullptr;        // select: array of values or {"value": ...} objects
  std::optional<double> min, max;
  std::optional<int64_t> max_length;
  std::string language;                 // code fields
  std::vector<std::string> credential_types;
};

struct HandleSpec {
  std::string name;
  std::string type = "any";  // json text number boolean binary any
  bool multiple = false;
};

struct TypeSpec {
  std::shared_ptr<const registry::NodeType> type;
  std::vector<FieldSpec> fields;
  std::unordered_map<std::string, size_t> field_index;
  std::vector<HandleSpec> inputs;
  std::vector<HandleSpec> outputs;
  std::string dynamic_param;  // dynamic_outputs.param ("" = none)
  std::string dynamic_key;    // dynamic_outputs.key
  const Json* any_input_when = nullptr;  // activation.any_input_when (object) or null
  std::vector<std::string> credential_types;

  const FieldSpec* field(std::string_view name) const;
  const HandleSpec* input(std::string_view name) const;
  const HandleSpec* output(std::string_view name) const;
};

TypeSpec make_type_spec(std::shared_ptr<const registry::NodeType> type);

// The handle data-type rule of docs/ARCHITECTURE.md: equal types, either side "any", a "json"
// target fed by anything but "binary", or a "text" target fed by "number"/"boolean".
bool handle_types_compatible(std::string_view source, std::string_view target);

}  // namespace weft::compiler::detail
