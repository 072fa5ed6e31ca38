// Small helpers over SOCI used by the SQL store: a connection pool with per-connection setup and
// reconnection, a transaction guard that knows the dialect's BEGIN, and a statement builder for
// queries whose shape depends on the arguments (values are always bound, never spliced).
//
// These throw soci::soci_error like SOCI itself; SqlStore::run() turns them into weft errors.
#pragma once

#include <soci/soci.h>

#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "plugins/storage-common/storage_backend.hpp"

namespace weft::storage {

// Thrown when a pooled connection is closed (an earlier reconnect failed) and reopening it fails
// again: the database is unreachable.
class ConnectionDown : public soci::soci_error {
 public:
  using soci::soci_error::soci_error;
};

class ConnectionPool {
 public:
  using Setup = std::function<void(soci::session&)>;

  // Opens `size` connections with `connect_string`, running `setup` on each (and again after
  // every reconnect). Throws soci::soci_error when a connection cannot be opened.
  ConnectionPool(const DialectSupport& dialect, size_t size, const std::string& connect_string,
                 Setup setup);
  ~ConnectionPool();
  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;

  // Exclusive use of one connection until destroyed. Blocks while all connections are in use.
  class Lease {
   public:
    Lease(ConnectionPool& pool);
    ~Lease();
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;

    // The session, reopened first if an earlier reconnect left it closed (ConnectionDown when
    // that fails).
    soci::session& session();
    // After a connection error: drops the broken connection and tries to open a new one (and run
    // the setup). Never throws; a failed attempt leaves the connection closed for session() to
    // retry.
    void reconnect_quietly() noexcept;

   private:
    ConnectionPool& pool_;
    size_t pos_;
  };

  size_t size() const { return size_; }

 private:
  void reopen(soci::session& s);

  const DialectSupport& dialect_;
  size_t size_;
  soci::connection_pool pool_;
  Setup setup_;
  std::vector<char> down_;  // per connection: closed after a failed reconnect (guarded by leases)
};

// BEGIN ... COMMIT, rolled back on destruction unless committed. SQLite write transactions start
// with BEGIN IMMEDIATE: they take the write lock up front, so two writers never both read and then
// deadlock trying to upgrade (SQLITE_BUSY without waiting).
// commit_sent (optional) is set just before COMMIT is sent: if the connection drops after that,
// whether the transaction committed is unknown and the operation must not be repeated blindly.
class Tx {
 public:
  Tx(soci::session& s, Dialect dialect, bool write, bool* commit_sent = nullptr);
  ~Tx();
  Tx(const Tx&) = delete;
  Tx& operator=(const Tx&) = delete;
  void commit();

 private:
  soci::session& s_;
  bool* commit_sent_;
  bool done_ = false;
};

// A statement assembled at run time. Values are bound positionally in the order use() is called,
// which must match the order of the :placeholders in the SQL.
class Stmt {
 public:
  explicit Stmt(soci::session& s) : st_(s) {}
  Stmt& sql(std::string_view text) {
    sql_ += text;
    return *this;
  }
  Stmt& use(std::string v) {
    strings_.push_back(std::move(v));
    st_.exchange(soci::use(strings_.back()));
    return *this;
  }
  Stmt& use(long long v) {
    ints_.push_back(v);
    st_.exchange(soci::use(ints_.back()));
    return *this;
  }
  template <typename T>
  Stmt& into(T& target) {
    st_.exchange(soci::into(target));
    return *this;
  }
  // Prepares and executes; with into() targets, fetches the first row. Returns whether a row was
  // fetched.
  bool run();
  bool next() { return st_.fetch(); }
  long long affected() { return st_.get_affected_rows(); }
  const std::string& text() const { return sql_; }

 private:
  soci::statement st_;
  std::string sql_;
  std::deque<std::string> strings_;  // deque: bound references stay valid as it grows
  std::deque<long long> ints_;
};

}  // namespace weft::storage
