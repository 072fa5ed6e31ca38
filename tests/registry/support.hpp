// Shared helpers of the registry tests: temp plugin directories populated from the fixture
// plugins (tests/fixtures/plugins), manifests written per test, and a way to run a node.
#pragma once

#include <dlfcn.h>
#include <gtest/gtest.h>
#include <sodium.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "host/core/call.hpp"
#include "host/core/json.hpp"
#include "registry/registry.hpp"

namespace weft::registry::testing {

namespace fs = std::filesystem;

#ifndef WEFT_FIXTURES_DIR
#error "WEFT_FIXTURES_DIR must point at <build>/fixtures"
#endif

inline fs::path fixtures_dir() {
  return fs::path(WEFT_FIXTURES_DIR);
}

// A fresh directory under the system temp dir, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::string templ = (fs::temp_directory_path() / "weft-registry-test-XXXXXX").string();
    char* made = ::mkdtemp(templ.data());
    if (!made) throw std::runtime_error("mkdtemp failed");
    path_ = made;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }
  std::string str() const { return path_.string(); }
  fs::path operator/(const std::string& name) const { return path_ / name; }

 private:
  fs::path path_;
};

inline std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

inline void write_file(const fs::path& p, std::string_view content) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(content.data(), static_cast<std::streamsize>(content.size()));
  if (!out) throw std::runtime_error("cannot write " + p.string());
}

// Computed here independently of the registry's own hashing code.
inline std::string sha256_hex(const fs::path& p) {
  std::string data = read_file(p);
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(data.data()), data.size());
  char hex[crypto_hash_sha256_BYTES * 2 + 1];
  sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
  return hex;
}

inline fs::path fixture_library(const std::string& scenario, const std::string& name) {
  return fixtures_dir() / scenario / ("weft-" + name + ".so");
}

// The manifest weft_add_plugin generated for a fixture (or a plausible one for fixtures built
// without it).
inline Json fixture_manifest(const std::string& scenario, const std::string& name) {
  fs::path generated = fixtures_dir() / scenario / (name + ".plugin.json");
  if (fs::exists(generated)) {
    auto parsed = Json::parse(read_file(generated));
    if (!parsed) throw std::runtime_error("bad generated manifest " + generated.string());
    return *parsed;
  }
  Json m = Json::object();
  m.set("name", name);
  m.set("version", "1.0.0");
  m.set("description", "test fixture");
  Json abi = Json::object();
  abi.set("min", "1.0");
  abi.set("max", "1.0");
  m.set("abi", abi);
  m.set("file", "weft-" + name + ".so");
  return m;
}

struct Installed {
  fs::path library;
  fs::path manifest;
};

// Copies a fixture's library into `dir` and writes its manifest there, with the sha256 of the
// copy, after `edit` had its say (to make it lie). The copy is a distinct file, so each test gets
// its own instance of the library (its own globals), whatever other tests loaded.
inline Installed install_fixture(const fs::path& dir, const std::string& scenario, const std::string& name,
                                 const std::function<void(Json&)>& edit = {},
                                 const std::string& manifest_file = {}) {
  Installed out;
  out.library = dir / ("weft-" + name + ".so");
  fs::copy_file(fixture_library(scenario, name), out.library, fs::copy_options::overwrite_existing);
  Json m = fixture_manifest(scenario, name);
  m.set("sha256", sha256_hex(out.library));
  if (edit) edit(m);
  out.manifest = dir / (manifest_file.empty() ? name + ".plugin.json" : manifest_file);
  write_file(out.manifest, m.dump_pretty());
  return out;
}

inline Json abi_range(const char* min, const char* max) {
  Json abi = Json::object();
  abi.set("min", min);
  abi.set("max", max);
  return abi;
}

inline RegistryOptions options_for(std::vector<std::string> dirs) {
  RegistryOptions o;
  o.plugin_dirs = std::move(dirs);
  return o;
}

// A copy (plugins() returns a temporary): the first plugin listed under `name`.
inline std::optional<PluginInfo> find_plugin(const std::vector<PluginInfo>& all, const std::string& name) {
  for (const auto& p : all)
    if (p.name == name) return p;
  return std::nullopt;
}

inline std::vector<PluginInfo> plugins_named(const std::vector<PluginInfo>& all, const std::string& name) {
  std::vector<PluginInfo> out;
  for (const auto& p : all)
    if (p.name == name) out.push_back(p);
  return out;
}

// True when the dynamic loader has this file mapped (RTLD_NOLOAD never loads anything).
inline bool is_mapped(const fs::path& library) {
  void* h = ::dlopen(library.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);
  if (!h) return false;
  ::dlclose(h);
  return true;
}

// A second reference to an already loaded plugin library, to read the counters fixtures export.
// Holding it keeps the library mapped after the registry let go, so counters stay readable.
class LibraryPeek {
 public:
  explicit LibraryPeek(const fs::path& library)
      : handle_(::dlopen(library.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD)) {}
  ~LibraryPeek() {
    if (handle_) ::dlclose(handle_);
  }
  LibraryPeek(const LibraryPeek&) = delete;
  LibraryPeek& operator=(const LibraryPeek&) = delete;
  bool ok() const { return handle_ != nullptr; }
  int counter(const char* symbol) const {
    auto* p = handle_ ? static_cast<int*>(::dlsym(handle_, symbol)) : nullptr;
    return p ? *p : -1;
  }

 private:
  void* handle_;
};

struct NodeRun {
  weft_status status = WEFT_OK;
  std::string output, error, park;
};

// Runs one attempt of a node type the way the executor does, through its C function pointer.
inline NodeRun run_node(const NodeType& type, std::string_view input_json,
                        std::string_view params_json = "{}") {
  StringSink out, err, park;
  weft_node_request req{};
  req.struct_size = sizeof req;
  req.call = nullptr;
  req.node_id = to_weft_str("n1");
  req.params_json = to_weft_str(params_json);
  req.input_json = to_weft_str(input_json);
  req.resume_json = to_weft_str("");
  req.attempt = 1;
  static const std::string kContext =
      R"({"execution_id":"e1","workflow_id":"w1","workflow_version":1,"scope":""})";
  req.context_json = to_weft_str(kContext);
  weft_node_result res{sizeof(weft_node_result), &out.sink, &err.sink, &park.sink};
  NodeRun run;
  run.status = type.execute(type.type_state, &req, &res);
  run.output = out.data;
  run.error = err.data;
  run.park = park.data;
  return run;
}

// A PluginStateStore kept in memory (the real one is the store's; this is the interface's other
// side, not a stand-in for one of our components). Can be told to fail.
class MemoryStateStore : public PluginStateStore {
 public:
  Result<std::map<std::string, bool>> load_plugin_states() override {
    std::lock_guard lock(mu_);
    if (fail_load) return Error("store_unavailable", "the state store is down");
    return states_;
  }
  Status save_plugin_state(const std::string& name, bool enabled) override {
    std::lock_guard lock(mu_);
    if (fail_save) return Error("store_unavailable", "the state store is down");
    states_[name] = enabled;
    ++saves_;
    return {};
  }
  std::map<std::string, bool> states() {
    std::lock_guard lock(mu_);
    return states_;
  }
  void set(const std::string& name, bool enabled) {
    std::lock_guard lock(mu_);
    states_[name] = enabled;
  }
  int saves() {
    std::lock_guard lock(mu_);
    return saves_;
  }
  bool fail_load = false;
  bool fail_save = false;

 private:
  std::mutex mu_;
  std::map<std::string, bool> states_;
  int saves_ = 0;
};

}  // namespace weft::registry::testing
