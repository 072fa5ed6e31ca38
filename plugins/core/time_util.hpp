// Parsing of ISO-8601 timestamps for core.wait.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace weft::core_pack {

// Parses "YYYY-MM-DDTHH:MM:SS[.fraction](Z|+hh:mm|-hh:mm|+hhmm|-hhmm)" (years 1970-9999; 'T'
// may be 't' or a space, 'Z' may be 'z') into Unix milliseconds (the fraction is truncated to
// milliseconds). A timestamp without a zone is refused: a server's local time is not what the
// workflow author meant. On failure returns nullopt and sets `error` to the reason.
std::optional<int64_t> parse_iso8601_ms(std::string_view text, std::string& error);

}  // namespace weft::core_pack
