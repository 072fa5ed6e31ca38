#include "plugins/storage-common/urls.hpp"

#include <cctype>
#include <map>
#include <vector>

namespace weft::storage {

namespace {

bool starts_with_nocase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(s[i])) != prefix[i]) return false;
  }
  return true;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

Result<std::string> percent_decode(std::string_view s, const char* what) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out.push_back(s[i]);
      continue;
    }
    const int hi = i + 2 < s.size() ? hex_value(s[i + 1]) : -1;
    const int lo = i + 2 < s.size() ? hex_value(s[i + 2]) : -1;
    if (hi < 0 || lo < 0) {
      return Error("invalid_argument",
                   std::string("PostgreSQL URL: bad percent-escape in the ") + what);
    }
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

// One libpq conninfo value. SOCI 4.0 splits the connection string on whitespace before libpq sees
// it (quoted values are cut apart), so values cannot contain whitespace; quotes and backslashes
// are backslash-escaped, which libpq understands in unquoted values.
Result<std::string> conninfo_value(const std::string& v, const std::string& key) {
  std::string out;
  for (char c : v) {
    if (std::isspace(static_cast<unsigned char>(c))) {
      return Error("invalid_argument",
                   "PostgreSQL URL: the " + key +
                       " contains whitespace, which cannot be passed to libpq through SOCI 4.0 "
                       "(for a password, use a password file: ?passfile=/path)");
    }
    if (c == '\\' || c == '\'') out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

bool valid_key(const std::string& k) {
  if (k.empty()) return false;
  for (char c : k) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  }
  return true;
}

}  // namespace

Result<SqliteTarget> parse_sqlite_url(std::string_view url) {
  const std::string usage =
      " (expected sqlite:relative/path.db, sqlite:///absolute/path.db or sqlite::memory:)";
  if (!starts_with_nocase(url, "sqlite:")) {
    return Error("invalid_argument", "'" + std::string(url) + "' is not a sqlite: URL" + usage);
  }
  std::string_view rest = url.substr(7);
  SqliteTarget t;
  if (rest == ":memory:") {
    t.memory = true;
    return t;
  }
  if (rest.substr(0, 2) == "//") {
    // sqlite:///abs/path: an empty authority followed by an absolute path. A host is meaningless.
    if (rest.size() < 4 || rest[2] != '/') {
      return Error("invalid_argument", "sqlite URL '" + std::string(url) + "' names a host" + usage);
    }
    rest.remove_prefix(2);
  }
  if (rest.empty()) {
    return Error("invalid_argument", "sqlite URL '" + std::string(url) + "' has no file path" + usage);
  }
  // SOCI's SQLite connection string takes the path as a double-quoted value.
  if (rest.find('"') != std::string_view::npos || rest.find('\0') != std::string_view::npos) {
    return Error("invalid_argument",
                 "sqlite URL '" + std::string(url) + "': the path may not contain '\"' or NUL");
  }
  t.path = std::string(rest);
  return t;
}

Result<PostgresTarget> parse_postgres_url(std::string_view url, int default_connect_timeout_s) {
  std::string_view rest;
  if (starts_with_nocase(url, "postgresql://")) {
    rest = url.substr(13);
  } else if (starts_with_nocase(url, "postgres://")) {
    rest = url.substr(11);
  } else {
    return Error("invalid_argument",
                 "'" + std::string(url) +
                     "' is not a PostgreSQL URL (expected postgresql://user@host:port/dbname)");
  }

  std::string_view query;
  if (size_t q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  std::string_view authority = rest;
  std::string_view path;
  if (size_t slash = rest.find('/'); slash != std::string_view::npos) {
    authority = rest.substr(0, slash);
    path = rest.substr(slash + 1);
  }
  std::string_view userinfo;
  std::string_view hostlist = authority;
  if (size_t at = authority.rfind('@'); at != std::string_view::npos) {
    userinfo = authority.substr(0, at);
    hostlist = authority.substr(at + 1);
  }

  // Ordered, so the conninfo (and messages) are deterministic.
  std::vector<std::pair<std::string, std::string>> params;
  std::map<std::string, size_t> index;
  auto set = [&](const std::string& key, std::string value) {
    if (auto it = index.find(key); it != index.end()) {
      params[it->second].second = std::move(value);
    } else {
      index[key] = params.size();
      params.emplace_back(key, std::move(value));
    }
  };

  std::string user;
  if (!userinfo.empty()) {
    std::string_view u = userinfo;
    if (size_t colon = userinfo.find(':'); colon != std::string_view::npos) {
      auto password = percent_decode(userinfo.substr(colon + 1), "password");
      if (!password.ok()) return password.take_error();
      set("password", std::move(password).value());
      u = userinfo.substr(0, colon);
    }
    auto decoded = percent_decode(u, "user name");
    if (!decoded.ok()) return decoded.take_error();
    user = std::move(decoded).value();
    if (!user.empty()) set("user", user);
  }

  // host[:port] entries, comma separated; IPv6 literals in brackets.
  std::string hosts, ports;
  bool any_port = false;
  size_t start = 0;
  size_t entries = 0;
  while (!hostlist.empty() && start <= hostlist.size()) {
    size_t comma = hostlist.find(',', start);
    std::string_view entry = hostlist.substr(start, comma == std::string_view::npos ? std::string_view::npos
                                                                                     : comma - start);
    std::string_view host = entry;
    std::string_view port;
    if (!entry.empty() && entry[0] == '[') {
      size_t close = entry.find(']');
      if (close == std::string_view::npos) {
        return Error("invalid_argument", "PostgreSQL URL: unterminated '[' in the host");
      }
      host = entry.substr(1, close - 1);
      std::string_view after = entry.substr(close + 1);
      if (!after.empty()) {
        if (after[0] != ':') return Error("invalid_argument", "PostgreSQL URL: bad host '" + std::string(entry) + "'");
        port = after.substr(1);
      }
    } else if (size_t colon = entry.rfind(':'); colon != std::string_view::npos) {
      host = entry.substr(0, colon);
      port = entry.substr(colon + 1);
    }
    for (char c : port) {
      if (!std::isdigit(static_cast<unsigned char>(c))) {
        return Error("invalid_argument", "PostgreSQL URL: port '" + std::string(port) + "' is not a number");
      }
    }
    auto h = percent_decode(host, "host");
    if (!h.ok()) return h.take_error();
    if (entries++) {
      hosts += ",";
      ports += ",";
    }
    hosts += *h;
    ports += port;
    any_port = any_port || !port.empty();
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  if (hosts.find_first_not_of(',') != std::string::npos) set("host", hosts);
  if (any_port) set("port", ports);

  std::string dbname;
  if (!path.empty()) {
    auto db = percent_decode(path, "database name");
    if (!db.ok()) return db.take_error();
    dbname = std::move(db).value();
    set("dbname", dbname);
  }

  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    if (eq == std::string_view::npos) {
      return Error("invalid_argument", "PostgreSQL URL: parameter '" + std::string(pair) + "' has no value");
    }
    auto key = percent_decode(pair.substr(0, eq), "parameter name");
    if (!key.ok()) return key.take_error();
    auto value = percent_decode(pair.substr(eq + 1), "parameter value");
    if (!value.ok()) return value.take_error();
    if (!valid_key(*key)) {
      return Error("invalid_argument", "PostgreSQL URL: bad parameter name '" + *key + "'");
    }
    set(*key, std::move(value).value());
  }
  if (default_connect_timeout_s > 0 && !index.count("connect_timeout")) {
    set("connect_timeout", std::to_string(default_connect_timeout_s));
  }

  PostgresTarget t;
  for (const auto& [key, value] : params) {
    if (value.empty()) continue;
    auto v = conninfo_value(value, key == "password" ? std::string("password") : "parameter '" + key + "'");
    if (!v.ok()) return v.take_error();
    if (!t.conninfo.empty()) t.conninfo += ' ';
    t.conninfo += key + "=" + *v;
  }
  t.display = (user.empty() ? std::string() : user + "@") + (hosts.empty() ? std::string("localhost") : hosts) +
              (any_port ? ":" + ports : std::string()) + "/" + dbname;
  return t;
}

}  // namespace weft::storage
