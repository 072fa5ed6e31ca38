// Test harness for executor and CLI tests: a real Host (real plugins through the real registry,
// a real SQLite file or a fresh PostgreSQL database) per test.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "host/app/host.hpp"
#include "host/core/ids.hpp"

namespace weft::testing {

inline std::string make_temp_dir(const std::string& tag) {
  std::string tmpl = (std::filesystem::temp_directory_path() / ("weft-" + tag + "-XXXXXX")).string();
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back(0);
  char* d = mkdtemp(buf.data());
  return d ? std::string(d) : std::string();
}

// Creates a fresh PostgreSQL database for one test; "" when PostgreSQL is not configured.
inline std::string fresh_pg_url() {
  const char* url = std::getenv("WEFT_TEST_PG_URL");
  const char* conn = std::getenv("WEFT_TEST_PG_CONNSTR");
  if (!url || !*url || !conn || !*conn) return {};
  std::string db = "weft_t_" + weft::random_hex(6);
  std::string cmd = std::string("psql \"") + conn + "\" -q -c 'CREATE DATABASE " + db + "' >/dev/null 2>&1";
  if (std::system(cmd.c_str()) != 0) return {};
  std::string u = url;
  size_t slash = u.rfind('/');
  return u.substr(0, slash + 1) + db;
}

inline std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline std::vector<std::string> plugin_dirs() {
  return {WEFT_TEST_PLUGIN_DIR, WEFT_TEST_EXTRA_PLUGIN_DIR};
}

}  // namespace weft::testing
