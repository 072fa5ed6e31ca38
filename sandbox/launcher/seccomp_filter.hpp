// The launcher's seccomp filter (libseccomp): allow by default, deny the calls that reach
// outside the sandbox or attack the kernel's less-travelled paths. Loaded after
// PR_SET_NO_NEW_PRIVS, just before execve, and inherited by everything the program starts.
#pragma once

#include <string>

namespace weft::sandbox::launcher {

struct FilterOptions {
  bool network = false;  // false: socket() fails for every family (socketpair() still works)
};

// Builds and loads the filter into the calling (single-threaded) process. Returns "" on success,
// otherwise what failed.
std::string load_seccomp_filter(const FilterOptions& opts);

}  // namespace weft::sandbox::launcher
