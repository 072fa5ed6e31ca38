#include "host/app/config.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <functional>
#include <fstream>
#include <sstream>
#include <sys/stat.h>

namespace weft::app {
namespace {

bool file_exists(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == sep) {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

Result<int64_t> parse_int(const char* name, const std::string& v, int64_t min, int64_t max) {
  char* end = nullptr;
  errno = 0;
  long long x = std::strtoll(v.c_str(), &end, 10);
  if (errno || !end || *end || v.empty() || x < min || x > max)
    return Error("invalid_config", std::string(name) + "=\"" + v + "\" is not an integer in " +
                                       std::to_string(min) + ".." + std::to_string(max));
  return static_cast<int64_t>(x);
}

Status apply_json(Config& c, const Json& j, const std::string& where) {
  if (!j.is_object()) return Error("invalid_config", where + ": the configuration must be a JSON object");
  c.raw = j;
  for (const auto& [k, v] : j.as_object()) {
    auto want_int = [&](int64_t min, int64_t max) -> Result<int64_t> {
      if (!v.is_int() || v.as_int() < min || v.as_int() > max)
        return Error("invalid_config", where + ": \"" + k + "\" must be an integer in " + std::to_string(min) +
                                           ".." + std::to_string(max));
      return v.as_int();
    };
    if (k == "database") {
      if (!v.is_string() || v.as_string().empty())
        return Error("invalid_config", where + ": \"database\" must be a non-empty string URL");
      c.database = v.as_string();
    } else if (k == "database_options") {
      if (!v.is_object()) return Error("invalid_config", where + ": \"database_options\" must be an object");
      c.database_options = v;
    } else if (k == "plugin_dirs") {
      if (!v.is_array()) return Error("invalid_config", where + ": \"plugin_dirs\" must be an array of strings");
      c.plugin_dirs.clear();
      for (const auto& d : v.as_array()) {
        if (!d.is_string()) return Error("invalid_config", where + ": \"plugin_dirs\" must be an array of strings");
        c.plugin_dirs.push_back(d.as_string());
      }
    } else if (k == "plugins") {
      if (!v.is_object()) return Error("invalid_config", where + ": \"plugins\" must be an object");
      c.plugin_config = v;
    } else if (k == "workers") {
      auto r = want_int(1, 256);
      if (!r.ok()) return r.error();
      c.workers = static_cast<size_t>(*r);
    } else if (k == "node_threads") {
      auto r = want_int(1, 1024);
      if (!r.ok()) return r.error();
      c.node_threads = static_cast<size_t>(*r);
    } else if (k == "lease_ms") {
      auto r = want_int(100, 3600000);
      if (!r.ok()) return r.error();
      c.lease_ms = *r;
    } else if (k == "heartbeat_ms") {
      auto r = want_int(10, 3600000);
      if (!r.ok()) return r.error();
      c.heartbeat_ms = *r;
    } else if (k == "poll_ms") {
      auto r = want_int(10, 60000);
      if (!r.ok()) return r.error();
      c.poll_ms = *r;
    } else if (k == "mode") {
      if (!v.is_string() || (v.as_string() != "development" && v.as_string() != "production"))
        return Error("invalid_config", where + ": \"mode\" must be \"development\" or \"production\"");
      c.mode = v.as_string();
    } else if (k == "vault") {
      if (!v.is_object()) return Error("invalid_config", where + ": \"vault\" must be an object");
      for (const auto& [vk, vv] : v.as_object()) {
        if (vk.rfind("$", 0) == 0) continue;
        if (vk != "key_file") return Error("invalid_config", where + ": unknown key vault." + vk);
        if (!vv.is_string()) return Error("invalid_config", where + ": vault.key_file must be a path");
        c.vault_key_file = vv.as_string();
      }
    } else if (k == "sandbox") {
      if (!v.is_object()) return Error("invalid_config", where + ": \"sandbox\" must be an object");
      c.sandbox = v;
    } else if (k == "outbound") {
      if (!v.is_object()) return Error("invalid_config", where + ": \"outbound\" must be an object");
      c.outbound = v;
    } else if (k.rfind("$", 0) == 0 || k == "comment") {
      // documentation keys
    } else {
      // Unknown keys are kept for components that arrive later (server, vault...) but must
      // at least be well-formed JSON, which they are.
    }
  }
  return {};
}

}  // namespace

std::string Config::data_dir() const {
  if (database.rfind("sqlite:", 0) != 0 || database.find(":memory:") != std::string::npos) return "";
  std::string file = database.substr(7);
  if (file.rfind("///", 0) == 0) file = file.substr(2);
  size_t q = file.find('?');
  if (q != std::string::npos) file = file.substr(0, q);
  size_t slash = file.rfind('/');
  return slash == std::string::npos ? "." : (slash == 0 ? "/" : file.substr(0, slash));
}

std::string executable_dir() {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return ".";
  buf[n] = 0;
  std::string p(buf);
  size_t slash = p.rfind('/');
  return slash == std::string::npos ? "." : p.substr(0, slash);
}

Result<Config> Config::load(const std::string& path) {
  Config c;
  std::string file = path;
  if (file.empty()) {
    if (const char* e = std::getenv("WEFT_CONFIG"); e && *e) file = e;
    else if (file_exists("config/weft.json")) file = "config/weft.json";
  }
  if (!file.empty()) {
    std::ifstream in(file, std::ios::binary);
    if (!in) return Error("invalid_config", "cannot read configuration file " + file);
    std::stringstream ss;
    ss << in.rdbuf();
    auto j = Json::parse(ss.str());
    if (!j.ok()) return Error("invalid_config", "configuration file " + file + ": " + j.error().message);
    Status st = apply_json(c, *j, file);
    if (!st.ok()) return st.error();
    c.source = file;
  } else {
    c.source = "defaults";
  }
  if (const char* e = std::getenv("WEFT_DB"); e && *e) c.database = e;
  if (const char* e = std::getenv("WEFT_PLUGIN_DIRS"); e && *e) c.plugin_dirs = split(e, ':');
  if (const char* e = std::getenv("WEFT_MODE"); e && *e) {
    if (std::string(e) != "development" && std::string(e) != "production")
      return Error("invalid_config", "WEFT_MODE must be development or production");
    c.mode = e;
  }
  if (const char* e = std::getenv("WEFT_VAULT_KEY_FILE"); e && *e) c.vault_key_file = e;
  if (const char* e = std::getenv("WEFT_OUTBOUND_ALLOW"); e && *e) {
    Json out = c.outbound.is_object() ? c.outbound : Json::object();
    Json allow = out["allow"].is_array() ? out["allow"] : Json::array();
    for (const auto& a : split(e, ','))
      if (!a.empty()) allow.push_back(a);
    out.set("allow", std::move(allow));
    c.outbound = std::move(out);
  }
  if (const char* e = std::getenv("WEFT_SANDBOX_BWRAP"); e && *e) {
    Json sb = c.sandbox.is_object() ? c.sandbox : Json::object();
    sb.set("bwrap", std::string(e));
    c.sandbox = std::move(sb);
  }
  struct IntEnv {
    const char* name;
    int64_t min, max;
    std::function<void(int64_t)> set;
  };
  const IntEnv ints[] = {
      {"WEFT_WORKERS", 1, 256, [&](int64_t v) { c.workers = static_cast<size_t>(v); }},
      {"WEFT_NODE_THREADS", 1, 1024, [&](int64_t v) { c.node_threads = static_cast<size_t>(v); }},
      {"WEFT_LEASE_MS", 100, 3600000, [&](int64_t v) { c.lease_ms = v; }},
      {"WEFT_HEARTBEAT_MS", 10, 3600000, [&](int64_t v) { c.heartbeat_ms = v; }},
      {"WEFT_POLL_MS", 10, 60000, [&](int64_t v) { c.poll_ms = v; }},
  };
  for (const auto& ie : ints) {
    if (const char* e = std::getenv(ie.name); e && *e) {
      auto v = parse_int(ie.name, e, ie.min, ie.max);
      if (!v.ok()) return v.error();
      ie.set(*v);
    }
  }
  if (c.plugin_dirs.empty()) {
    std::string exe = executable_dir();
    for (const std::string& d : {exe + "/plugins", exe + "/../lib/weft/plugins"})
      if (file_exists(d)) c.plugin_dirs.push_back(d);
  }
  return c;
}

}  // namespace weft::app
