// Store URLs -> what SOCI needs.
//
//   sqlite:relative/path.db   sqlite:/abs/path.db   sqlite:///abs/path.db   sqlite::memory:
//   postgresql://[user[:password]@][host[:port][,host[:port]...]][/dbname][?param=value&...]
//   (postgres:// is accepted too; params are libpq connection parameters)
#pragma once

#include <string>
#include <string_view>

#include "host/core/result.hpp"

namespace weft::storage {

struct SqliteTarget {
  bool memory = false;
  std::string path;  // file path as given (relative to the working directory or absolute)
};
Result<SqliteTarget> parse_sqlite_url(std::string_view url);

struct PostgresTarget {
  std::string conninfo;  // libpq "key=value ..." string, safe for SOCI 4.0's parser
  std::string display;   // "user@host:port/db" for messages (never the password)
};
// default_connect_timeout_s: added as connect_timeout unless the URL sets one (0 = none).
Result<PostgresTarget> parse_postgres_url(std::string_view url, int default_connect_timeout_s);

}  // namespace weft::storage
