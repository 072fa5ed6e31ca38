#include "host/api/serve.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>

#include "host/core/call.hpp"
#include "host/service/code.hpp"
#include "host/service/human.hpp"
#include "host/service/schedules.hpp"
#include "host/http/rate_limit.hpp"

namespace weft::api {

namespace {

Result<int64_t> env_int(const char* name, int64_t min, int64_t max) {
  const char* e = std::getenv(name);
  char* end = nullptr;
  long long v = std::strtoll(e, &end, 10);
  if (!*e || *end || v < min || v > max)
    return Error("invalid_config", std::string(name) + "=\"" + e + "\" is not an integer in " + std::to_string(min) +
                                       ".." + std::to_string(max));
  return static_cast<int64_t>(v);
}

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i <= s.size()) {
    size_t j = s.find(',', i);
    if (j == std::string::npos) j = s.size();
    std::string item = s.substr(i, j - i);
    while (!item.empty() && item.front() == ' ') item.erase(item.begin());
    while (!item.empty() && item.back() == ' ') item.pop_back();
    if (!item.empty()) out.push_back(item);
    i = j + 1;
  }
  return out;
}

Status write_private_file(const std::string& path, const std::string& text) {
  std::error_code ec;
  auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Error("unavailable", "cannot write " + path);
  (void)::fchmod(fd, 0600);
  ssize_t n = ::write(fd, text.data(), text.size());
  ::close(fd);
  if (n != static_cast<ssize_t>(text.size())) return Error("unavailable", "cannot write " + path);
  return {};
}

// The bound WebSocket port per running server (websocket_port_of), for the HTTP port's 426 answer.
std::mutex g_ws_ports_mu;
std::map<const ApiContext*, uint16_t> g_ws_ports;

// "server.websocket" (config/weft.json documents it).
Status read_websocket_section(const Json& j, http::WebSocketOptions& w) {
  if (j.is_null()) return {};
  if (!j.is_object()) return Error("invalid_config", "server.websocket must be an object");
  for (const auto& [k, v] : j.as_object()) {
    if (k.rfind("$", 0) == 0) continue;
    auto want_int = [&, key = k, val = v](int64_t min, int64_t max) -> Result<int64_t> {
      if (!val.is_int() || val.as_int() < min || val.as_int() > max)
        return Error("invalid_config", "server.websocket." + key + " must be an integer in " + std::to_string(min) +
                                           ".." + std::to_string(max));
      return val.as_int();
    };
    if (k == "enabled") {
      if (!v.is_bool()) return Error("invalid_config", "server.websocket.enabled must be true or false");
      w.enabled = v.as_bool();
    } else if (k == "address") {
      if (!v.is_string()) return Error("invalid_config", "server.websocket.address must be a string (\"\" = the HTTP address)");
      w.address = v.as_string();
    } else if (k == "port") {
      auto n = want_int(0, 65535);
      if (!n.ok()) return n.error();
      w.port = static_cast<int>(*n);
    } else if (k == "max_connections") {
      auto n = want_int(1, 1000000);
      if (!n.ok()) return n.error();
      w.max_connections = static_cast<size_t>(*n);
    } else if (k == "max_message_bytes") {
      auto n = want_int(1024, 16LL << 20);
      if (!n.ok()) return n.error();
      w.max_message_bytes = static_cast<size_t>(*n);
    } else if (k == "ping_interval_ms") {
      auto n = want_int(100, 3600000);
      if (!n.ok()) return n.error();
      w.ping_interval_ms = *n;
    } else if (k == "handshake_timeout_ms") {
      auto n = want_int(100, 600000);
      if (!n.ok()) return n.error();
      w.handshake_timeout_ms = *n;
    } else if (k == "max_backlog_bytes") {
      auto n = want_int(65536, 1LL << 30);  // above the largest event (outputs in events are capped at 8 KiB)
      if (!n.ok()) return n.error();
      w.max_backlog_bytes = static_cast<size_t>(*n);
    } else if (k == "threads") {
      auto n = want_int(1, 64);
      if (!n.ok()) return n.error();
      w.threads = static_cast<size_t>(*n);
    } else {
      return Error("invalid_config", "server.websocket: unknown key \"" + k.substr(0, 64) + "\"");
    }
  }
  return {};
}

}  // namespace

uint16_t websocket_port_of(const ApiContext* ctx) {
  std::lock_guard<std::mutex> lk(g_ws_ports_mu);
  auto it = g_ws_ports.find(ctx);
  return it == g_ws_ports.end() ? 0 : it->second;
}

Result<ServeConfig> ServeConfig::from(const app::Config& config) {
  ServeConfig s;
  const Json& j = config.raw["server"];
  if (!j.is_null() && !j.is_object()) return Error("invalid_config", "\"server\" must be an object");
  auto get_int = [&](const char* key, int64_t min, int64_t max, int64_t& out) -> Status {
    const Json* v = j.find(key);
    if (!v) return {};
    if (!v->is_int() || v->as_int() < min || v->as_int() > max)
      return Error("invalid_config", std::string("server.") + key + " must be an integer in " + std::to_string(min) +
                                         ".." + std::to_string(max));
    out = v->as_int();
    return {};
  };
  int64_t port = s.http.port, reactors = 2, blocking = 4, max_req = static_cast<int64_t>(s.http.max_request_bytes);
  int64_t access_ttl = s.auth.access_ttl_s, refresh_ttl = s.auth.refresh_ttl_s;
  int64_t hb = s.sse.heartbeat_ms, poll = s.sse.poll_ms, grace = s.shutdown_grace_ms;
  int64_t sync_wait = s.sync_wait_ms, sync_per_user = s.max_sync_runs_per_user, pw_threads = 2;
  int64_t hook_rate = s.http.webhook_per_minute, header_to = s.http.header_timeout_ms, body_to = s.http.body_timeout_ms;
  for (Status st : {get_int("port", 0, 65535, port), get_int("reactor_threads", 1, 64, reactors),
                    get_int("blocking_threads", 1, 256, blocking),
                    get_int("max_request_bytes", 1024, 1LL << 30, max_req),
                    get_int("access_token_ttl_seconds", 60, 86400, access_ttl),
                    get_int("refresh_token_ttl_seconds", 300, 365LL * 86400, refresh_ttl),
                    get_int("sse_heartbeat_ms", 50, 600000, hb), get_int("sse_poll_ms", 20, 60000, poll),
                    get_int("shutdown_grace_ms", 0, 3600000, grace),
                    get_int("sync_wait_ms", 100, 3600000, sync_wait),
                    get_int("max_sync_runs_per_user", 0, 1024, sync_per_user),
                    get_int("password_threads", 1, 64, pw_threads),
                    get_int("webhook_requests_per_minute", -1, 1LL << 40, hook_rate),
                    get_int("header_timeout_ms", 100, 600000, header_to),
                    get_int("body_timeout_ms", 100, 3600000, body_to)}) {
    if (!st.ok()) return st.error();
  }
  if (const Json* v = j.find("address")) {
    if (!v->is_string() || v->as_string().empty()) return Error("invalid_config", "server.address must be a string");
    s.http.address = v->as_string();
  }
  if (const Json* v = j.find("cors_origins")) {
    if (!v->is_array()) return Error("invalid_config", "server.cors_origins must be an array of origins");
    for (const Json& o : v->as_array()) {
      if (!o.is_string() || o.as_string() == "*")
        return Error("invalid_config", "server.cors_origins entries must be exact origins (\"*\" is not accepted)");
      s.http.cors_origins.push_back(o.as_string());
    }
  }
  if (const Json* v = j.find("rate_limits")) {
    if (v->is_bool()) {
      s.http.rate_limits = v->as_bool();
    } else {
      // "$comment"-style keys document the file; they are not limits.
      Json limits = Json::object();
      for (const auto& [k, val] : v->as_object())
        if (k.rfind("$", 0) != 0) limits.set(k, val);
      Status st = http::validate_limit_overrides(limits);
      if (!st.ok()) return st.error();
      s.http.rate_overrides = limits;
    }
  }
  if (const Json* v = j.find("secret_file")) {
    if (!v->is_string() || v->as_string().empty()) return Error("invalid_config", "server.secret_file must be a path");
    s.secret_file = v->as_string();
    s.create_secret = false;  // an explicitly configured secret must exist
  }
  if (Status st = read_websocket_section(j["websocket"], s.websocket); !st.ok()) return st.error();
  if (const char* e = std::getenv("WEFT_WS_PORT"); e && *e) {
    auto v = env_int("WEFT_WS_PORT", 0, 65535);
    if (!v.ok()) return v.error();
    s.websocket.port = static_cast<int>(*v);
  }
  if (const Json* v = j.find("admin_email"); v && v->is_string()) s.admin_email = v->as_string();
  if (const Json* v = j.find("bootstrap_admin"); v && v->is_bool()) s.bootstrap_admin = v->as_bool();
  // Environment overrides.
  if (const char* e = std::getenv("WEFT_ADDRESS"); e && *e) s.http.address = e;
  if (const char* e = std::getenv("WEFT_PORT"); e && *e) {
    auto v = env_int("WEFT_PORT", 0, 65535);
    if (!v.ok()) return v.error();
    port = *v;
  }
  if (const char* e = std::getenv("WEFT_AUTH_SECRET_FILE"); e && *e) {
    s.secret_file = e;
    s.create_secret = false;
  }
  if (const char* e = std::getenv("WEFT_CORS_ORIGINS"); e && *e) s.http.cors_origins = split_list(e);
  if (const char* e = std::getenv("WEFT_ADMIN_EMAIL"); e && *e) s.admin_email = e;
  if (const char* e = std::getenv("WEFT_RATE_LIMITS"); e && *e) s.http.rate_limits = std::string(e) != "0";
  s.http.port = static_cast<uint16_t>(port);
  s.http.reactor_threads = static_cast<size_t>(reactors);
  s.http.blocking_threads = static_cast<size_t>(blocking);
  s.http.max_request_bytes = static_cast<size_t>(max_req);
  s.http.webhook_per_minute = hook_rate;
  s.http.header_timeout_ms = header_to;
  s.http.body_timeout_ms = body_to;
  s.auth.access_ttl_s = access_ttl;
  s.auth.refresh_ttl_s = refresh_ttl;
  s.sse.heartbeat_ms = hb;
  s.sse.poll_ms = poll;
  s.shutdown_grace_ms = grace;
  s.sync_wait_ms = sync_wait;
  s.max_sync_runs_per_user = sync_per_user;
  s.http.password_threads = static_cast<size_t>(pw_threads);
  // The data directory follows the SQLite database by default.
  const std::string& db = config.database;
  if (db.rfind("sqlite:", 0) == 0 && db.find(":memory:") == std::string::npos) {
    std::string file = db.substr(7);
    if (file.rfind("///", 0) == 0) file = file.substr(2);
    auto dir = std::filesystem::path(file).parent_path().string();
    if (!dir.empty() && j.find("secret_file") == nullptr && !std::getenv("WEFT_AUTH_SECRET_FILE"))
      s.secret_file = dir + "/auth.key";
    if (!dir.empty()) s.bootstrap_file = dir + "/initial-admin.json";
  }
  return s;
}

Result<std::unique_ptr<ApiServer>> ApiServer::start(const app::Config& config, const ServeConfig& serve) {
  std::unique_ptr<ApiServer> s(new ApiServer());
  s->serve_ = serve;
  auto secret = auth::load_or_create_secret(serve.secret_file, serve.create_secret);
  if (!secret.ok()) return secret.error();
  auto host = app::Host::open(config);
  if (!host.ok()) return host.error();
  s->host_ = std::move(*host);
  app::Host& h = *s->host_;

  auto ctx = std::make_shared<ApiContext>();
  ctx->host = &h;
  ctx->auth = std::make_shared<auth::AuthService>(h.store(), *secret, serve.auth);
  // The webhook secrets are derived from their own key, so the JWT key never signs anything else.
  ctx->workflows = std::make_shared<service::WorkflowService>(h, auth::hmac_sha256_hex(*secret, "weft-webhooks"));
  ctx->executions = std::make_shared<service::ExecutionService>(h);
  // The vault (refusing to start on a missing or wrong key in production), the guarded HTTP
  // client and the credential service, installed before any worker runs.
  auto creds = service::attach_credentials(h);
  if (!creds.ok()) return creds.error();
  s->credentials_ = std::move(*creds);
  ctx->credentials = s->credentials_.service;
  ctx->workflows->set_credentials(ctx->credentials);
  // Custom nodes: the owners' uploaded node types, known to every compile and run of this host.
  ctx->custom_nodes = service::attach_custom_nodes(h, s->credentials_.code);
  ctx->sse = std::make_shared<http::SseHub>(h.store(), h.executor().bus(), serve.sse);
  ctx->limiter = std::make_shared<http::RateLimiter>();
  ctx->timer = std::make_shared<http::TimerThread>();
  ctx->sync_wait_ms = serve.sync_wait_ms;
  ctx->max_sync_runs_per_user = serve.max_sync_runs_per_user;
  ctx->metrics = std::make_shared<http::MetricsRegistry>();
  ctx->rate_overrides = serve.http.rate_overrides;
  ctx->rate_limits = serve.http.rate_limits;
  ctx->version = WEFT_VERSION_STRING;
  ctx->audit = s->credentials_.audit;
  {
    // Human in the loop: answers wake this process's workers at once (other processes' workers
    // find the execution due: the store sets its wake time when the answer commits).
    app::Host* hp = &h;
    ctx->human = std::make_shared<service::HumanService>(h.store(), ctx->audit, [hp] { hp->workers().wake(); });
  }
  {
    // Cron schedules (/api/schedules); the scheduler thread starts after the workers.
    auto opts = service::ScheduleOptions::from(config.raw["schedules"]);
    if (!opts.ok()) return opts.error();
    ctx->schedules = std::make_shared<service::ScheduleService>(h, *opts);
  }
  s->ctx_ = ctx;

  // The sandbox's counters (code nodes): pool hits, misses (cold starts) and kills.
  if (auto code = s->credentials_.code) {
    using Pick = uint64_t sandbox::PoolMetrics::*;
    const std::pair<const char*, Pick> counters[] = {
        {"warm_hit", &sandbox::PoolMetrics::warm_hits}, {"cold_start", &sandbox::PoolMetrics::cold_starts},
        {"killed", &sandbox::PoolMetrics::kills},       {"timeout", &sandbox::PoolMetrics::timeouts},
        {"failed", &sandbox::PoolMetrics::failures}};
    std::weak_ptr<service::CodeRuntime> weak = code;
    for (const auto& [name, field] : counters) {
      Pick f = field;
      ctx->metrics->gauge_fn("weft_sandbox_jobs", "Sandbox jobs by how they started or ended (counters)",
                             {{"kind", name}}, [weak, f]() -> double {
                               auto c = weak.lock();
                               return c ? static_cast<double>(c->metrics().*f) : 0.0;
                             });
    }
    ctx->metrics->gauge_fn("weft_sandbox_warm_ready", "Pre-started sandboxes waiting for a job", {},
                           [weak]() -> double {
                             auto c = weak.lock();
                             if (!c) return 0.0;
                             auto m = c->metrics();
                             return static_cast<double>(m.warm_ready_javascript + m.warm_ready_python);
                           });
  }

  // Scrape-time gauges: executions by state (the queue depth is "queued"), plugin states.
  {
    // One store query per scrape, shared by the seven series.
    struct Snapshot {
      std::mutex mu;
      int64_t at_ms = -1;
      std::optional<std::map<std::string, int64_t>> counts;
    };
    auto snap = std::make_shared<Snapshot>();
    auto store = h.store();
    static constexpr const char* kStates[] = {"queued", "running", "parked", "paused", "succeeded", "failed", "cancelled"};
    for (const char* st : kStates) {
      std::string state = st;
      ctx->metrics->gauge_fn("weft_executions", "Executions by state (queued = queue depth)", {{"state", state}},
                             [store, snap, state]() -> double {
                               std::lock_guard<std::mutex> lk(snap->mu);
                               const int64_t now = monotonic_ms();
                               if (snap->at_ms < 0 || now - snap->at_ms > 250) {
                                 auto counts = store->count_executions_by_status();
                                 snap->counts = counts.ok() ? std::optional(*counts) : std::nullopt;
                                 snap->at_ms = now;
                               }
                               if (!snap->counts) return -1;
                               auto it = snap->counts->find(state);
                               return it == snap->counts->end() ? 0 : static_cast<double>(it->second);
                             });
    }
    app::Host* hp = &h;
    for (const char* ps : {"loaded", "disabled", "incompatible", "rejected", "broken"}) {
      std::string state = ps;
      ctx->metrics->gauge_fn("weft_plugins", "Plugins by state", {{"state", state}}, [hp, state]() -> double {
        double n = 0;
        for (const auto& p : hp->registry().plugins())
          if (registry::to_string(p.state) == state) ++n;
        return n;
      });
    }
    auto sse = ctx->sse;
    ctx->metrics->gauge_fn("weft_sse_subscribers", "Open event streams", {},
                           [sse]() -> double { return static_cast<double>(sse->subscribers()); });
  }

  if (serve.bootstrap_admin) {
    auto count = h.store()->count_users();
    if (count.ok() && *count == 0) {
      std::string password;
      auto admin = ctx->auth->bootstrap_admin(serve.admin_email, &password);
      if (admin.ok()) {
        s->bootstrap_email_ = admin->email;
        s->bootstrap_password_ = password;
        Json j = Json::object();
        j.set("email", admin->email);
        j.set("password", password);
        j.set("note", "first administrator, created on first start; change the password and delete this file");
        (void)write_private_file(serve.bootstrap_file, j.dump_pretty() + "\n");
      }
    }
  }

  s->router_ = std::make_shared<http::Router>();
  register_routes(*s->router_, ctx);
  http::ServerDeps deps{ctx->auth, ctx->limiter, ctx->metrics};
  s->server_ = std::make_unique<http::Server>(serve.http, deps, s->router_);
  ctx->server = s->server_.get();
  (void)h.workers().reclaim_dead_local_leases();
  if (serve.start_workers) h.workers().start();
  ctx->schedules->start();  // unless schedules.enabled is false
  auto port = s->server_->start();
  if (!port.ok()) {
    h.workers().stop();
    return port.error();
  }
  if (serve.websocket.enabled) {
    // Its own listener (Pistache cannot hand a connection over): the HTTP address and port + 1
    // unless configured; ephemeral when the HTTP port is.
    http::WebSocketOptions wo = serve.websocket;
    if (wo.address.empty()) wo.address = serve.http.address;
    if (wo.port < 0) wo.port = serve.http.port == 0 ? 0 : serve.http.port + 1;
    if (wo.port > 65535) wo.port = 0;
    wo.cors_origins = serve.http.cors_origins;
    s->ws_ = std::make_shared<http::WebSocketServer>(wo, h.store(), ctx->auth, ctx->sse,
                                                    orchestrator_websocket_hooks(ctx));
    auto ws_port = s->ws_->start();
    if (!ws_port.ok()) {
      s->ws_.reset();
      h.workers().stop();
      return ws_port.error();
    }
    {
      std::lock_guard<std::mutex> lk(g_ws_ports_mu);
      g_ws_ports[ctx.get()] = *ws_port;
    }
    std::weak_ptr<http::WebSocketServer> weak_ws = s->ws_;
    ctx->metrics->gauge_fn("weft_websocket_connections", "Open WebSocket connections (incl. handshaking)", {},
                           [weak_ws]() -> double {
                             auto ws = weak_ws.lock();
                             return ws ? static_cast<double>(ws->connections()) : 0.0;
                           });
  }
  return s;
}

void ApiServer::shutdown() {
  if (stopped_ || !server_) return;
  stopped_ = true;
  server_->begin_drain();
  if (ws_) ws_->begin_drain();
  // Running executions finish or park; past the grace period they are left to lease expiry (the
  // next process resumes them from their last committed node).
  // (weft serve bounds this wait by shutdown_grace_ms and exits; the leases then expire.)
  // No new scheduled runs first: an occurrence not fired yet stays due for the next scheduler.
  if (ctx_->schedules) ctx_->schedules->stop();
  host_->workers().stop();
  // WebSockets close (1001) before the event hub stops; the listener object outlives the hub,
  // whose sinks of closed connections then report them gone.
  if (ws_) ws_->stop();
  ctx_->sse->stop();
  server_->stop();
  std::lock_guard<std::mutex> lk(g_ws_ports_mu);
  g_ws_ports.erase(ctx_.get());
}

ApiServer::~ApiServer() { shutdown(); }

}  // namespace weft::api
