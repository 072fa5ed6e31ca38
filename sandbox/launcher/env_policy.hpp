// Which environment variable names a sandboxed program may be given. Shared by the host (spawn
// rejects a bad name with "invalid_input") and the launcher (which checks again before exec).
// Header-only and dependency-free: the launcher links nothing of Weft.
#pragma once

#include <string_view>

namespace weft::sandbox {

// Set by the launcher itself (PWD: dropped, bubblewrap's --chdir sets it); a value given for
// them is replaced, not rejected.
inline bool env_name_fixed(std::string_view name) {
  return name == "PATH" || name == "HOME" || name == "TMPDIR" || name == "LANG" || name == "PWD";
}

// False for names that change how the dynamic loader, libc or an interpreter starts (code
// injection before the runner is in control, or a way around the host's own flags such as
// Node's heap limit), and for names that are not plain identifiers.
inline bool env_name_allowed(std::string_view name) {
  if (name.empty() || name.size() > 128) return false;
  for (char c : name) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok) return false;
  }
  if (name[0] >= '0' && name[0] <= '9') return false;
  auto starts = [&](std::string_view p) { return name.substr(0, p.size()) == p; };
  static constexpr std::string_view kPrefixes[] = {"LD_", "NODE_", "PYTHON", "MALLOC_", "OPENSSL_", "UV_"};
  for (auto p : kPrefixes)
    if (starts(p)) return false;
  static constexpr std::string_view kNames[] = {
      "NODE_OPTIONS", "BASH_ENV", "ENV", "IFS", "GLIBC_TUNABLES", "GCONV_PATH", "LOCPATH",
      "NLSPATH", "HOSTALIASES", "RES_OPTIONS", "LOCALDOMAIN", "SHELLOPTS", "PS4", "CDPATH"};
  for (auto n : kNames)
    if (name == n) return false;
  return true;
}

}  // namespace weft::sandbox
