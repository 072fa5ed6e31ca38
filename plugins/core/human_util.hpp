// Helpers shared by the human-in-the-loop nodes (core.approval, core.clarification).
#pragma once

#include <cstdint>
#include <string_view>

#include "json_util.hpp"
#include "nodes.hpp"

namespace weft::core_pack {

using sdk::make_string;
using sdk::str_of;

// Longest timeout a question may have: a year.
inline constexpr double kMaxHumanTimeoutSeconds = 31536000.0;
// The host refuses requests with more named approvers (docs/workflow-format.md).
inline constexpr size_t kMaxAssignees = 50;
inline constexpr size_t kMaxAssigneeLength = 320;

// Reads the optional parameter `field` naming people (user ids or emails) into `out` (an array
// value): absent, null, "" or [] -> no one; a string -> that one; an array of non-empty strings ->
// those. Returns false after recording invalid_parameter for anything else (wrong type, more than
// kMaxAssignees, an empty or overlong entry).
bool read_assignees(Context& ctx, std::string_view field, Value& out);

// Wall-clock Unix milliseconds `seconds` from now (rounded up).
int64_t deadline_after(double seconds);

}  // namespace weft::core_pack
