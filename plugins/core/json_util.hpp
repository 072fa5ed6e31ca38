// Small JSON helpers shared by the core nodes (RapidJSON values, see weft/sdk.hpp).
#pragma once

#include <weft/sdk.hpp>

#include <optional>
#include <string_view>
#include <vector>

namespace weft::core_pack {

using sdk::Allocator;
using sdk::Value;

// Truthiness used by core.if / core.switch: false, null, 0, "", [] and {} are false; every other
// value (including the string "false") is true.
bool truthy(const Value& v);

// Splits a dotted path "a.b.c" into its segments; nullopt when a segment is empty ("a..b", ".a").
// The empty path yields no segments (the root itself).
std::optional<std::vector<std::string_view>> split_path(std::string_view path);

// Follows path segments into `root`: object members by name, array elements by decimal index.
// nullptr when a step is missing.
const Value* follow_path(const Value& root, const std::vector<std::string_view>& segments);

// The member `key` of object `obj`, or nullptr (also when obj is not an object).
using sdk::find_member;
Value* find_member(Value& obj, std::string_view key);

// Sets `key` on object `obj` to `value` (replacing an existing member, keeping its position).
void set_member(Value& obj, std::string_view key, Value&& value, Allocator& alloc);

// Output handle names a node may take by name at run time (switch rules): 1-64 characters of
// [A-Za-z0-9_.-], and not "error" (every node's implicit error handle).
bool valid_handle_name(std::string_view name);

}  // namespace weft::core_pack
