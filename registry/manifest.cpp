#include "registry/manifest.hpp"

#include <sodium.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>

#include "host/core/json.hpp"
#include "registry/registry.hpp"

namespace weft::registry {

namespace {

constexpr size_t kMaxNameLength = 128;
// A manifest is a handful of short fields; anything bigger is not one of ours.
constexpr size_t kMaxManifestBytes = 64 * 1024;

Error invalid(std::string message) {
  return Error("manifest_invalid", std::move(message));
}

bool is_hex(std::string_view s) {
  for (char c : s) {
    bool digit = c >= '0' && c <= '9';
    bool lower = c >= 'a' && c <= 'f';
    bool upper = c >= 'A' && c <= 'F';
    if (!digit && !lower && !upper) return false;
  }
  return true;
}

// A string field that must be present and non-empty.
Result<std::string> required_string(const Json& m, std::string_view key) {
  const Json* v = m.find(key);
  if (!v) return invalid("field \"" + std::string(key) + "\" is missing");
  if (!v->is_string())
    return invalid("field \"" + std::string(key) + "\" must be a string, not " + v->type_name());
  if (v->as_string().empty()) return invalid("field \"" + std::string(key) + "\" is empty");
  return v->as_string();
}

}  // namespace

std::optional<uint32_t> parse_abi_version(std::string_view s) {
  // Exactly "<digits>.<digits>", each part fitting 16 bits: no signs, spaces or extra parts.
  size_t dot = s.find('.');
  if (dot == std::string_view::npos || dot == 0 || dot + 1 >= s.size()) return std::nullopt;
  auto part = [](std::string_view p) -> std::optional<uint32_t> {
    if (p.empty() || p.size() > 5) return std::nullopt;
    for (char c : p)
      if (c < '0' || c > '9') return std::nullopt;
    uint32_t v = 0;
    auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), v);
    if (ec != std::errc() || ptr != p.data() + p.size() || v > 0xFFFFu) return std::nullopt;
    return v;
  };
  auto major = part(s.substr(0, dot));
  auto minor = part(s.substr(dot + 1));
  if (!major || !minor) return std::nullopt;
  return WEFT_ABI_MAKE_VERSION(*major, *minor);
}

std::string format_abi_version(uint32_t v) {
  return std::to_string(WEFT_ABI_VERSION_MAJOR_OF(v)) + "." + std::to_string(WEFT_ABI_VERSION_MINOR_OF(v));
}

bool is_valid_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameLength) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
    if (!ok) return false;
  }
  return true;
}

Result<Manifest> parse_manifest(std::string_view text, bool require_sha256) {
  JsonParseLimits limits;
  limits.max_depth = 16;
  limits.max_bytes = kMaxManifestBytes;
  auto parsed = Json::parse(text, limits);
  if (!parsed) return invalid("manifest is not valid JSON: " + parsed.error().message);
  const Json& m = *parsed;
  if (!m.is_object()) return invalid(std::string("manifest must be a JSON object, not ") + m.type_name());

  Manifest out;
  auto name = required_string(m, "name");
  if (!name) return name.take_error();
  if (!is_valid_name(*name))
    return invalid("plugin name \"" + *name + "\" is invalid: use 1-128 characters of [a-z0-9_.-]");
  out.name = std::move(*name);

  auto version = required_string(m, "version");
  if (!version) return version.take_error();
  out.version = std::move(*version);

  if (const Json* d = m.find("description")) {
    if (!d->is_string()) return invalid("field \"description\" must be a string");
    out.description = d->as_string();
  }

  const Json* abi = m.find("abi");
  if (!abi) return invalid("field \"abi\" is missing");
  if (!abi->is_object())
    return invalid("field \"abi\" must be an object {\"min\": \"1.0\", \"max\": \"1.0\"}");
  auto abi_bound = [&](const char* key, uint32_t& value, std::string& text) -> Status {
    const Json* v = abi->find(key);
    auto parsed_v = (v && v->is_string()) ? parse_abi_version(v->as_string()) : std::nullopt;
    if (!parsed_v)
      return invalid(std::string("field \"abi.") + key + "\" must be a \"major.minor\" string, got " +
                     (v ? v->dump() : std::string("nothing")));
    value = *parsed_v;
    text = v->as_string();
    return {};
  };
  if (auto st = abi_bound("min", out.abi_min, out.abi_min_text); !st) return st.take_error();
  if (auto st = abi_bound("max", out.abi_max, out.abi_max_text); !st) return st.take_error();
  if (out.abi_min > out.abi_max)
    return invalid("ABI range is empty: min " + out.abi_min_text + " is above max " + out.abi_max_text);

  auto file = required_string(m, "file");
  if (!file) return file.take_error();
  // Plugins load only from the configured directory: the file must be a plain name in the
  // manifest's own directory, never a path that could lead elsewhere.
  if (file->find('/') != std::string::npos || file->find('\\') != std::string::npos || *file == "." ||
      *file == "..")
    return invalid("field \"file\" must be a file name in the manifest's directory, not a path: \"" + *file +
                   "\"");
  out.file = std::move(*file);

  if (const Json* sha = m.find("sha256")) {
    if (!sha->is_string() || sha->as_string().size() != 64 || !is_hex(sha->as_string()))
      return invalid("field \"sha256\" must be 64 hex digits");
    out.sha256 = sha->as_string();
    for (char& c : out.sha256)
      if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
  } else if (require_sha256) {
    return invalid("field \"sha256\" is missing");
  }
  return out;
}

Result<Manifest> read_manifest(const std::filesystem::path& path, bool require_sha256) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error("manifest_unreadable", "cannot open manifest: " + std::string(std::strerror(errno)));
  std::string text;
  std::array<char, 4096> buf;
  while (in.read(buf.data(), buf.size()) || in.gcount() > 0) {
    text.append(buf.data(), static_cast<size_t>(in.gcount()));
    if (text.size() > kMaxManifestBytes)
      return invalid("manifest is larger than " + std::to_string(kMaxManifestBytes) + " bytes");
  }
  if (in.bad()) return Error("manifest_unreadable", "cannot read manifest");
  return parse_manifest(text, require_sha256);
}

Result<std::string> sha256_file(const std::filesystem::path& path) {
  // sodium_init is idempotent and thread-safe; the hash itself does not strictly need it, but
  // calling it keeps us on the documented side of the library.
  if (sodium_init() < 0) return Error("crypto_unavailable", "libsodium failed to initialise");
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) return Error("file_unreadable", "cannot open " + path.string() + ": " + std::strerror(errno));
  crypto_hash_sha256_state st;
  crypto_hash_sha256_init(&st);
  std::array<unsigned char, 64 * 1024> buf;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), f.get())) > 0)
    crypto_hash_sha256_update(&st, buf.data(), n);
  if (std::ferror(f.get())) return Error("file_unreadable", "cannot read " + path.string());
  std::array<unsigned char, crypto_hash_sha256_BYTES> digest;
  crypto_hash_sha256_final(&st, digest.data());
  std::array<char, crypto_hash_sha256_BYTES * 2 + 1> hex;
  sodium_bin2hex(hex.data(), hex.size(), digest.data(), digest.size());
  return std::string(hex.data(), crypto_hash_sha256_BYTES * 2);
}

}  // namespace weft::registry
