// The guarded outbound HTTP client. Request flow for each hop (the first URL and every redirect):
//   1. parse the URL with curl's own parser (so the host checked is the host curl connects to),
//      refuse anything but http/https, userinfo, zone ids, port 0;
//   2. resolve the host here and judge EVERY address against the policy;
//   3. pin curl to exactly those addresses (CURLOPT_RESOLVE) and re-check, in the open-socket
//      callback, that the address curl is about to connect to is one of them;
//   4. run the exchange with all caps set; on a 3xx, compute the next URL/method/headers here.
#include "host/net/outbound.hpp"

#include <curl/curl.h>
#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <thread>

#include "host/net/address.hpp"

namespace weft::net {

namespace {

using Clock = std::chrono::steady_clock;

// Response header caps: a server cannot make us buffer more than this before the body starts.
constexpr size_t kMaxResponseHeaderBytes = 64 * 1024;
constexpr size_t kMaxResponseHeaders = 256;
// Request header caps (the node builds these; keep them sane).
constexpr size_t kMaxRequestHeaders = 256;
constexpr size_t kMaxRequestHeaderBytes = 64 * 1024;

std::once_flag g_curl_init;

void ensure_curl_initialised() {
  std::call_once(g_curl_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

bool is_tchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_token(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), is_tchar);
}

std::string json_string(std::string_view s) {
  return Json(std::string(s)).dump();
}

// ---- curl URL handles ---------------------------------------------------------------------------

struct UrlDeleter {
  void operator()(CURLU* u) const { curl_url_cleanup(u); }
};
using UrlPtr = std::unique_ptr<CURLU, UrlDeleter>;

// Reads one part; nullopt when the part is absent.
std::optional<std::string> url_part(CURLU* u, CURLUPart part, unsigned flags = 0) {
  char* out = nullptr;
  CURLUcode rc = curl_url_get(u, part, &out, flags);
  std::optional<std::string> s;
  if (rc == CURLUE_OK && out != nullptr) s = std::string(out);
  curl_free(out);  // curl 7.88 can hand out a string even when it reports an error
  return s;
}

// The scheme a URL/reference starts with, lower-cased; nullopt for a relative reference. A
// "host:port" prefix (digits only after the colon) is not a scheme.
std::optional<std::string> leading_scheme(std::string_view text) {
  if (text.empty() || !std::isalpha(static_cast<unsigned char>(text[0]))) return std::nullopt;
  size_t i = 1;
  while (i < text.size() && (std::isalnum(static_cast<unsigned char>(text[i])) || text[i] == '+' ||
                             text[i] == '-' || text[i] == '.')) {
    ++i;
  }
  if (i >= text.size() || text[i] != ':') return std::nullopt;
  std::string_view after = text.substr(i + 1);
  size_t digits = 0;
  while (digits < after.size() && after[digits] >= '0' && after[digits] <= '9') ++digits;
  if (digits > 0 && (digits == after.size() || after[digits] == '/')) return std::nullopt;
  return lower(text.substr(0, i));
}

Result<UrlPtr> parse_url(std::string_view text, CURLU* base) {
  if (text.empty()) return Error("invalid_url", "the URL is empty");
  if (text.size() > 64 * 1024) return Error("invalid_url", "the URL is longer than 64 KiB");
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7F) {
      return Error("invalid_url", "the URL contains whitespace or control characters");
    }
  }
  std::optional<std::string> scheme = leading_scheme(text);
  if (scheme && *scheme != "http" && *scheme != "https") {
    return Error("scheme_not_allowed", "scheme \"" + *scheme + "\" is not allowed (only http and https)",
                 Json::object({{"scheme", *scheme}}).dump());
  }
  if (!base && !scheme) return Error("invalid_url", "the URL must start with http:// or https://");
  UrlPtr url(base ? curl_url_dup(base) : curl_url());
  if (!url) return Error("http_failed", "out of memory");
  std::string s(text);
  CURLUcode rc = curl_url_set(url.get(), CURLUPART_URL, s.c_str(), 0);
  if (rc != CURLUE_OK) {
    return Error("invalid_url", std::string("the URL could not be parsed: ") + curl_url_strerror(rc));
  }
  return url;
}

// A hop's destination after the URL checks.
struct Target {
  UrlPtr url;
  std::string scheme;
  std::string host;  // lower case, no brackets, no trailing dot
  uint16_t port = 0;

  std::string origin() const {
    std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
    return scheme + "://" + h + ":" + std::to_string(port);
  }
};

Result<Target> check_url(UrlPtr url) {
  Target t;
  t.scheme = lower(url_part(url.get(), CURLUPART_SCHEME).value_or(""));
  if (t.scheme != "http" && t.scheme != "https") {
    return Error("scheme_not_allowed", "scheme \"" + t.scheme + "\" is not allowed (only http and https)",
                 Json::object({{"scheme", t.scheme}}).dump());
  }
  if (url_part(url.get(), CURLUPART_USER) || url_part(url.get(), CURLUPART_PASSWORD) ||
      url_part(url.get(), CURLUPART_OPTIONS)) {
    return Error("invalid_url",
                 "credentials in the URL (user@host) are not allowed; send them "
                 "in a header");
  }
  if (url_part(url.get(), CURLUPART_ZONEID)) {
    return Error("invalid_url", "IPv6 zone ids are not allowed in the URL");
  }
  std::optional<std::string> stored = url_part(url.get(), CURLUPART_HOST);
  if (!stored || stored->empty()) return Error("invalid_url", "the URL has no host");
  auto non_ascii = [](const std::string& h) {
    return std::any_of(h.begin(), h.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
  };
  std::string host = *stored;
  if (non_ascii(host)) {
    // curl's IDN conversion depends on the process locale; use it when it works, otherwise ask
    // for the ASCII (punycode) form rather than guess.
    host = url_part(url.get(), CURLUPART_HOST, CURLU_PUNYCODE).value_or("");
    if (host.empty() || non_ascii(host)) {
      return Error("invalid_url",
                   "internationalised host names must be written in their ASCII form (xn--...)");
    }
  }
  host = lower(host);
  if (host.front() == '[') {
    host = host.substr(1, host.size() - 2);  // IPv6 literal, already canonical
  } else {
    // "example.com." is "example.com" (curl strips the dot when connecting). Re-parse without
    // it: the parser normalises numeric hosts like "0x7f.1" only when there is no trailing dot.
    if (host.size() > 1 && host.back() == '.') {
      host.pop_back();
      std::optional<std::string> whole;
      UrlPtr again(curl_url());
      if (curl_url_set(url.get(), CURLUPART_HOST, host.c_str(), 0) != CURLUE_OK ||
          !(whole = url_part(url.get(), CURLUPART_URL)) || !again ||
          curl_url_set(again.get(), CURLUPART_URL, whole->c_str(), 0) != CURLUE_OK) {
        return Error("invalid_url", "the URL has an invalid host");
      }
      url = std::move(again);
      stored = url_part(url.get(), CURLUPART_HOST);
      host = lower(stored.value_or(""));
      if (host.empty() || host.back() == '.') return Error("invalid_url", "the URL has an invalid host");
    }
    // Hand curl exactly the host that was checked (lower case, ASCII), so the pinned entry and
    // the connection are about the same name.
    if (*stored != host && curl_url_set(url.get(), CURLUPART_HOST, host.c_str(), 0) != CURLUE_OK) {
      return Error("invalid_url", "the URL has an invalid host");
    }
  }
  t.host = host;
  std::optional<std::string> port = url_part(url.get(), CURLUPART_PORT, CURLU_DEFAULT_PORT);
  long p = port ? std::strtol(port->c_str(), nullptr, 10) : 0;
  if (p <= 0 || p > 65535) return Error("invalid_url", "the URL's port must be 1-65535");
  t.port = static_cast<uint16_t>(p);
  // The fragment is never sent; drop it so the final URL reported is what was requested.
  curl_url_set(url.get(), CURLUPART_FRAGMENT, nullptr, 0);
  t.url = std::move(url);
  return t;
}

// ---- name resolution ----------------------------------------------------------------------------

struct ResolveState {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  int rc = 0;
  std::vector<IpAddress> addresses;
};

void resolve_into(const std::string& host, ResolveState& st) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  int rc = getaddrinfo(host.c_str(), nullptr, &hints, &res);
  std::vector<IpAddress> out;
  for (addrinfo* ai = res; rc == 0 && ai != nullptr; ai = ai->ai_next) {
    auto ip = IpAddress::from_sockaddr(ai->ai_addr, ai->ai_addrlen, nullptr);
    if (ip && std::find(out.begin(), out.end(), *ip) == out.end()) out.push_back(*ip);
  }
  if (res) freeaddrinfo(res);
  std::lock_guard<std::mutex> lk(st.mu);
  st.rc = rc;
  st.addresses = std::move(out);
  st.done = true;
  st.cv.notify_all();
}

// Every address `host` resolves to (both families). getaddrinfo cannot be interrupted, so it
// runs on a detached thread and the caller stops waiting at the deadline or on cancellation.
Result<std::vector<IpAddress>> resolve(const std::string& host, Clock::time_point deadline,
                                       const std::function<bool()>& cancelled) {
  if (auto ip = IpAddress::parse(host)) return std::vector<IpAddress>{*ip};
  auto st = std::make_shared<ResolveState>();
  try {
    std::thread([st, host] { resolve_into(host, *st); }).detach();
  } catch (const std::system_error&) {
    resolve_into(host, *st);  // no thread to spare: resolve inline
  }
  std::unique_lock<std::mutex> lk(st->mu);
  while (!st->done) {
    if (cancelled && cancelled()) return Error("cancelled", "the request was cancelled");
    auto now = Clock::now();
    if (now >= deadline) {
      return Error("timeout", "resolving host \"" + host + "\" took too long",
                   Json::object({{"host", host}}).dump());
    }
    st->cv.wait_until(lk, std::min(deadline, now + std::chrono::milliseconds(50)));
  }
  if (st->rc != 0 || st->addresses.empty()) {
    return Error("dns_failed",
                 "host \"" + host + "\" does not resolve" +
                     (st->rc != 0 ? std::string(": ") + gai_strerror(st->rc) : ""),
                 Json::object({{"host", host}}).dump());
  }
  return std::move(st->addresses);
}

// ---- one exchange -------------------------------------------------------------------------------

struct Exchange {
  // inputs
  const Allowlist* allow = nullptr;
  std::string host;
  uint16_t port = 0;
  std::vector<IpAddress> pinned;
  size_t max_body = 0;
  const std::function<bool()>* cancelled = nullptr;
  // outputs
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  size_t header_bytes = 0;
  bool headers_too_large = false;
  bool body_too_large = false;
  bool was_cancelled = false;
  std::string refused_address;  // set when the open-socket check refused a connection
};

// Defence in depth: whatever curl resolved or cached, it may only connect to an address that
// was validated for this hop, on this hop's port.
curl_socket_t open_socket(void* clientp, curlsocktype purpose, struct curl_sockaddr* a) {
  auto* ex = static_cast<Exchange*>(clientp);
  if (purpose != CURLSOCKTYPE_IPCXN || a == nullptr) return CURL_SOCKET_BAD;
  if (!connection_permitted(*ex->allow, ex->host, ex->port, ex->pinned, &a->addr, a->addrlen,
                            &ex->refused_address)) {
    return CURL_SOCKET_BAD;
  }
  return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

size_t on_header(char* data, size_t size, size_t n, void* userdata) {
  auto* ex = static_cast<Exchange*>(userdata);
  size_t len = size * n;
  ex->header_bytes += len;
  if (ex->header_bytes > kMaxResponseHeaderBytes) {
    ex->headers_too_large = true;
    return 0;
  }
  std::string_view line(data, len);
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.remove_suffix(1);
  if (line.empty()) return len;
  if (line.rfind("HTTP/", 0) == 0) {
    ex->headers.clear();  // a new (possibly interim 1xx) response starts
    return len;
  }
  auto trim = [](std::string_view v) {
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
    return v;
  };
  if (line.front() == ' ' || line.front() == '\t') {  // obsolete line folding
    if (!ex->headers.empty()) {
      ex->headers.back().second += " ";
      ex->headers.back().second += trim(line);
    }
    return len;
  }
  size_t colon = line.find(':');
  if (colon == std::string_view::npos || colon == 0) return len;  // not a header: ignore
  if (ex->headers.size() >= kMaxResponseHeaders) {
    ex->headers_too_large = true;
    return 0;
  }
  ex->headers.emplace_back(lower(trim(line.substr(0, colon))), std::string(trim(line.substr(colon + 1))));
  return len;
}

size_t on_body(char* data, size_t size, size_t n, void* userdata) {
  auto* ex = static_cast<Exchange*>(userdata);
  size_t len = size * n;
  if (ex->body.size() + len > ex->max_body) {
    ex->body_too_large = true;
    return CURL_WRITEFUNC_ERROR;
  }
  ex->body.append(data, len);
  return len;
}

int on_progress(void* clientp, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* ex = static_cast<Exchange*>(clientp);
  if (ex->cancelled && *ex->cancelled && (*ex->cancelled)()) {
    ex->was_cancelled = true;
    return 1;
  }
  return 0;
}

struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using SlistPtr = std::unique_ptr<curl_slist, SlistDeleter>;

bool slist_add(SlistPtr& list, const std::string& line) {
  curl_slist* next = curl_slist_append(list.get(), line.c_str());
  if (!next) return false;
  list.release();
  list.reset(next);
  return true;
}

struct EasyDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};

bool has_header(const std::vector<std::pair<std::string, std::string>>& headers, std::string_view name) {
  return std::any_of(headers.begin(), headers.end(), [&](const auto& h) { return lower(h.first) == name; });
}

Error blocked(const std::string& host, const IpAddress& address) {
  std::string text = address.to_string();
  std::string what = IpAddress::parse(host) && *IpAddress::parse(host) == address
                         ? "address " + text
                         : "host \"" + host + "\" resolves to " + text + ", which";
  return Error("address_blocked",
               what +
                   " is blocked by the outbound policy (loopback, private, link-local and "
                   "other internal ranges need an outbound.allow entry)",
               Json::object({{"host", host}, {"address", text}}).dump());
}

struct HopRequest {
  const std::string& method;
  const std::vector<std::pair<std::string, std::string>>& headers;
  const std::string& body;
};

Result<int64_t> run_exchange(const Target& t, const HopRequest& rq, const OutboundPolicy& policy,
                             Exchange& ex, Clock::time_point deadline) {
  auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  if (remaining.count() <= 0) return Error("timeout", "the request took longer than its timeout");

  std::unique_ptr<CURL, EasyDeleter> easy(curl_easy_init());
  if (!easy) return Error("http_failed", "could not create a transfer handle");
  CURL* c = easy.get();
  char errbuf[CURL_ERROR_SIZE] = {};

  // Pin the host name to the validated addresses. An IP-literal host needs no resolving (and
  // curl 7.88 cannot parse an IPv6 literal in a CURLOPT_RESOLVE entry); the open-socket check
  // below covers both cases.
  SlistPtr resolve_list;
  SlistPtr header_list;
  if (!IpAddress::parse(t.host)) {
    std::string pin = t.host + ":" + std::to_string(t.port) + ":";
    for (size_t i = 0; i < ex.pinned.size(); ++i) {
      if (i) pin += ",";
      pin += ex.pinned[i].v6 ? "[" + ex.pinned[i].to_string() + "]" : ex.pinned[i].to_string();
    }
    if (!slist_add(resolve_list, pin)) return Error("http_failed", "out of memory");
  }

  for (const auto& [name, value] : rq.headers) {
    // curl's syntax for a header with an empty value is "Name;".
    if (!slist_add(header_list, value.empty() ? name + ";" : name + ": " + value)) {
      return Error("http_failed", "out of memory");
    }
  }
  // Don't let curl invent a form content type for raw bodies, nor stall on 100-continue.
  if (!rq.body.empty() && !has_header(rq.headers, "content-type")) slist_add(header_list, "Content-Type:");
  slist_add(header_list, "Expect:");

  curl_easy_setopt(c, CURLOPT_CURLU, t.url.get());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_PROXY, "");
  curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(c, CURLOPT_NETRC, static_cast<long>(CURL_NETRC_IGNORED));
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_RESOLVE, resolve_list.get());
  curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, open_socket);
  curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, &ex);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &ex);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &ex);
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, &ex);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(remaining.count()));
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(std::min<int64_t>(policy.connect_timeout_ms, remaining.count())));
  if (policy.low_speed_bytes_per_s > 0) {
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, static_cast<long>(policy.low_speed_bytes_per_s));
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME,
                     static_cast<long>(std::max<int64_t>(1, (policy.low_speed_time_ms + 999) / 1000)));
  }
  curl_easy_setopt(c, CURLOPT_USERAGENT, policy.user_agent.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, header_list.get());

  if (rq.method == "HEAD") {
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  } else {
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(ex.max_body));
    bool sends_body = !rq.body.empty() || rq.method == "POST" || rq.method == "PUT" || rq.method == "PATCH";
    if (sends_body) {
      curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(rq.body.size()));
      curl_easy_setopt(c, CURLOPT_POSTFIELDS, rq.body.data());
      if (rq.method != "POST") curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, rq.method.c_str());
    } else if (rq.method == "GET") {
      curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    } else {
      curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, rq.method.c_str());
    }
  }

  CURLcode rc = curl_easy_perform(c);
  std::string where = t.origin();
  if (!ex.refused_address.empty()) {
    return Error("address_blocked",
                 "host \"" + t.host + "\": the connection to " + ex.refused_address +
                     " was refused (not an address validated for this request)",
                 Json::object({{"host", t.host}, {"address", ex.refused_address}}).dump());
  }
  if (rc != CURLE_OK) {
    if (ex.was_cancelled) return Error("cancelled", "the request to " + where + " was cancelled");
    if (ex.body_too_large || rc == CURLE_FILESIZE_EXCEEDED) {
      return Error("response_too_large",
                   "the response from " + where + " exceeds " + std::to_string(ex.max_body) + " bytes",
                   Json::object({{"max_response_bytes", ex.max_body}}).dump());
    }
    if (ex.headers_too_large) {
      return Error("response_too_large", "the response headers from " + where + " exceed " +
                                             std::to_string(kMaxResponseHeaderBytes) + " bytes or " +
                                             std::to_string(kMaxResponseHeaders) + " lines");
    }
    std::string detail = errbuf[0] ? std::string(errbuf) : std::string(curl_easy_strerror(rc));
    switch (rc) {
      case CURLE_OPERATION_TIMEDOUT:
        return Error("timeout", "the request to " + where + " timed out: " + detail);
      case CURLE_COULDNT_RESOLVE_HOST:
        return Error("dns_failed", "host \"" + t.host + "\" does not resolve");
      case CURLE_COULDNT_CONNECT:
        return Error("connect_failed", "could not connect to " + where + ": " + detail);
      case CURLE_SSL_CONNECT_ERROR:
      case CURLE_PEER_FAILED_VERIFICATION:
      case CURLE_SSL_CERTPROBLEM:
      case CURLE_SSL_CIPHER:
      case CURLE_SSL_CACERT_BADFILE:
      case CURLE_SSL_ISSUER_ERROR:
      case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
      case CURLE_SSL_INVALIDCERTSTATUS:
      case CURLE_SSL_CRL_BADFILE:
      case CURLE_SSL_ENGINE_INITFAILED:
        return Error("tls_failed", "TLS with " + where + " failed: " + detail);
      default:
        return Error("http_failed", "the request to " + where + " failed: " + detail);
    }
  }
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  return static_cast<int64_t>(status);
}

Status check_request(const OutboundRequest& req, const OutboundPolicy& policy) {
  if (!is_token(req.method) || req.method.size() > 32) {
    return Error("invalid_request", "method must be an HTTP token (e.g. GET, POST)");
  }
  if (upper(req.method) == "CONNECT") {
    return Error("invalid_request", "method CONNECT is not allowed");
  }
  if (req.headers.size() > kMaxRequestHeaders) {
    return Error("invalid_request", "more than " + std::to_string(kMaxRequestHeaders) + " headers");
  }
  size_t header_bytes = 0;
  for (const auto& [name, value] : req.headers) {
    if (Status s = validate_header(name, value); !s) return s;
    header_bytes += name.size() + value.size() + 4;
  }
  if (header_bytes > kMaxRequestHeaderBytes) {
    return Error("invalid_request",
                 "the request headers exceed " + std::to_string(kMaxRequestHeaderBytes) + " bytes");
  }
  if (req.body.size() > policy.max_request_body_bytes) {
    return Error("invalid_request",
                 "the request body exceeds " + std::to_string(policy.max_request_body_bytes) + " bytes");
  }
  if (req.timeout_ms < 0) return Error("invalid_request", "timeout_ms must not be negative");
  return {};
}

bool is_redirect(int64_t status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

}  // namespace

Status validate_header(std::string_view name, std::string_view value) {
  if (!is_token(name)) {
    return Error("invalid_request",
                 "header name " + json_string(name.substr(0, 64)) + " is not a valid HTTP token");
  }
  for (char c : value) {
    if (c == '\r' || c == '\n' || c == '\0') {
      return Error("invalid_request",
                   "header " + std::string(name) + " has a value containing CR, LF or NUL");
    }
  }
  static const char* const managed[] = {"host",    "content-length",  "transfer-encoding", "te",
                                        "trailer", "upgrade",         "connection",        "keep-alive",
                                        "expect",  "proxy-connection"};
  std::string lname = lower(name);
  for (const char* m : managed) {
    if (lname == m) {
      return Error("invalid_request",
                   "header " + std::string(name) + " is managed by the HTTP client and cannot be set");
    }
  }
  return {};
}

std::string OutboundResponse::header(std::string_view name) const {
  std::string want = lower(name);
  std::string out;
  bool first = true;
  for (const auto& [n, v] : headers) {
    if (n != want) continue;
    if (!first) out += ", ";
    out += v;
    first = false;
  }
  return out;
}

OutboundHttp::OutboundHttp(OutboundPolicy policy) : policy_(std::move(policy)) {
  ensure_curl_initialised();
  // An entry that does not parse is skipped (entries only lift blocks, so dropping one fails
  // closed); OutboundPolicy::from_json reports such entries as errors before it gets here.
  std::vector<std::string> valid;
  for (const std::string& entry : policy_.allow) {
    if (Allowlist::parse({entry})) valid.push_back(entry);
  }
  auto parsed = Allowlist::parse(valid);
  allow_ = std::make_shared<const Allowlist>(parsed ? std::move(parsed.value()) : Allowlist{});
}

OutboundHttp::~OutboundHttp() = default;

Result<OutboundResponse> OutboundHttp::perform(const OutboundRequest& req,
                                               const std::function<bool()>& cancelled) const {
  auto start = Clock::now();
  if (Status s = check_request(req, policy_); !s) return s.error();

  int64_t timeout_ms =
      req.timeout_ms > 0 ? std::min(req.timeout_ms, policy_.max_timeout_ms) : policy_.default_timeout_ms;
  auto deadline = start + std::chrono::milliseconds(timeout_ms);
  size_t max_body = req.max_response_bytes > 0 ? std::min(req.max_response_bytes, policy_.max_response_bytes)
                                               : policy_.max_response_bytes;

  std::string method = upper(req.method);
  std::string body = req.body;
  std::vector<std::pair<std::string, std::string>> headers = req.headers;
  std::vector<std::string> sensitive = {"authorization", "cookie", "proxy-authorization"};
  for (const std::string& h : req.sensitive_headers) sensitive.push_back(lower(h));

  auto first = parse_url(req.url, nullptr);
  if (!first) return first.take_error();
  UrlPtr next_url = std::move(first.value());
  std::string previous_origin;
  int64_t redirects = 0;

  for (;;) {
    auto checked = check_url(std::move(next_url));
    if (!checked) return checked.take_error();
    Target target = std::move(checked.value());

    auto dns_deadline =
        std::min(deadline, Clock::now() + std::chrono::milliseconds(policy_.connect_timeout_ms));
    auto addresses = resolve(target.host, dns_deadline, cancelled);
    if (!addresses) {
      Error e = addresses.take_error();
      if (e.code == "timeout" && Clock::now() < deadline) e.message += " (connect timeout)";
      return e;
    }
    for (const IpAddress& ip : addresses.value()) {
      if (!address_permitted(*allow_, target.host, ip, target.port)) {
        return blocked(target.host, ip);
      }
    }

    // Origin change: credentials meant for the previous origin are not forwarded.
    std::string origin = target.origin();
    if (!previous_origin.empty() && origin != previous_origin) {
      headers.erase(std::remove_if(headers.begin(), headers.end(),
                                   [&](const auto& h) {
                                     std::string n = lower(h.first);
                                     return std::find(sensitive.begin(), sensitive.end(), n) !=
                                            sensitive.end();
                                   }),
                    headers.end());
    }
    previous_origin = origin;

    Exchange ex;
    ex.allow = allow_.get();
    ex.host = target.host;
    ex.port = target.port;
    ex.pinned = std::move(addresses.value());
    ex.max_body = max_body;
    ex.cancelled = &cancelled;
    auto status = run_exchange(target, HopRequest{method, headers, body}, policy_, ex, deadline);
    if (!status) return status.take_error();

    OutboundResponse res;
    res.status = status.value();
    res.headers = std::move(ex.headers);
    std::string location = res.header("location");
    if (req.follow_redirects && is_redirect(res.status) && !location.empty()) {
      if (redirects >= policy_.max_redirects) {
        return Error("too_many_redirects",
                     "more than " + std::to_string(policy_.max_redirects) + " redirects",
                     Json::object({{"max_redirects", policy_.max_redirects}}).dump());
      }
      auto resolved = parse_url(location, target.url.get());
      if (!resolved) {
        Error e = resolved.take_error();
        e.message = "redirect " + std::to_string(redirects + 1) + " from " + origin + ": " + e.message;
        return e;
      }
      next_url = std::move(resolved.value());
      bool to_get = (res.status == 303 && method != "HEAD") ||
                    ((res.status == 301 || res.status == 302) && method == "POST");
      if (to_get) {
        method = "GET";
        body.clear();
        headers.erase(std::remove_if(headers.begin(), headers.end(),
                                     [](const auto& h) { return lower(h.first).rfind("content-", 0) == 0; }),
                      headers.end());
      }
      ++redirects;
      continue;
    }
    res.body = std::move(ex.body);
    res.url = url_part(target.url.get(), CURLUPART_URL).value_or("");
    res.redirects = redirects;
    res.elapsed_ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
    return res;
  }
}

}  // namespace weft::net
