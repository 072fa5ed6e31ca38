// Time-ordered random ids (ULID-like): 10 chars of millisecond time + 16 chars of randomness,
// Crockford base32, lowercase. Sorting ids sorts by creation time.
#pragma once
#include <string>

namespace weft {
std::string new_id();
// Random hex string of `bytes` random bytes (getrandom).
std::string random_hex(size_t bytes);
}  // namespace weft
