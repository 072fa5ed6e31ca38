// Plugin manifests (<name>.plugin.json, written by sdk/cmake/WeftManifest.cmake) and the checks
// the registry runs on them before any plugin code is mapped into the process.
//
// Internal to the registry; kept separate so the rules are readable (and testable) in one place.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "host/core/result.hpp"

namespace weft::registry {

struct Manifest {
  std::string name;
  std::string version;
  std::string description;
  std::string abi_min_text, abi_max_text;  // as written ("major.minor")
  uint32_t abi_min = 0, abi_max = 0;
  std::string file;    // bare file name, relative to the manifest's directory
  std::string sha256;  // lowercase hex, 64 chars; empty when absent (only allowed without verify)
};

// Names of plugins, node types: non-empty, at most 128 bytes of [a-z0-9_.-].
bool is_valid_name(std::string_view name);

// Parses and validates manifest text. Error codes: "manifest_invalid" (message says which field
// and why). `require_sha256` makes a missing sha256 an error.
Result<Manifest> parse_manifest(std::string_view text, bool require_sha256);

// Reads a manifest file (bounded size) and parses it.
Result<Manifest> read_manifest(const std::filesystem::path& path, bool require_sha256);

// The sha256 of a file as lowercase hex, streamed through libsodium.
Result<std::string> sha256_file(const std::filesystem::path& path);

}  // namespace weft::registry
