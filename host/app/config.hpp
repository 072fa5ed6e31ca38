// Host configuration: defaults that need no file at all, then config/weft.json (or the file
// named by WEFT_CONFIG / --config), then WEFT_* environment variables, then command-line flags.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "host/core/json.hpp"
#include "host/core/result.hpp"

namespace weft::app {

struct Config {
  std::string database = "sqlite:var/weft.db";  // WEFT_DB
  std::vector<std::string> plugin_dirs;          // WEFT_PLUGIN_DIRS (":"-separated); default: next to the binary
  size_t workers = 2;                            // WEFT_WORKERS: executions driven concurrently
  size_t node_threads = 4;                       // WEFT_NODE_THREADS: node attempts in parallel
  int64_t lease_ms = 30000;                      // WEFT_LEASE_MS
  int64_t heartbeat_ms = 10000;                  // WEFT_HEARTBEAT_MS
  int64_t poll_ms = 500;                         // WEFT_POLL_MS
  Json database_options = Json::object();        // passed to the storage backend
  Json plugin_config = Json::object();           // {"<plugin name>": {...}}
  // "development" (default) or "production" (WEFT_MODE). Production refuses to start without an
  // explicitly configured, existing and correct master key, and never creates one.
  std::string mode = "development";
  // The vault's master-key file (WEFT_VAULT_KEY_FILE; config "vault": {"key_file"}). Empty: in
  // development $HOME/.config/weft/master.key (created 0600 on first use, with a notice).
  std::string vault_key_file;
  // The "outbound" section (net::OutboundPolicy::from_json); WEFT_OUTBOUND_ALLOW adds
  // comma-separated allowlist entries.
  Json outbound = Json::object();
  // The "sandbox" section (user code: isolation, warm pool, limits), read by
  // service::sandbox_config_from_json; WEFT_SANDBOX_BWRAP overrides sandbox.bwrap.
  Json sandbox = Json::object();
  bool production() const { return mode == "production"; }
  // Where the data lives (the SQLite database's directory; "" for PostgreSQL / in-memory). The
  // master key must not be inside it.
  std::string data_dir() const;
  std::string source;                            // where the config came from (for messages)
  Json raw = Json::object();                     // the whole file, for components with their own section ("server")

  // Loads defaults <- file <- environment. `path` "" = $WEFT_CONFIG or config/weft.json if present.
  static Result<Config> load(const std::string& path = "");
};

// The directory containing the running executable.
std::string executable_dir();

}  // namespace weft::app
