// Small helpers over SOCI used by the SQL store: a connection pool with per-connection setup and
// reconnection and a per-connection cache of prepared statements, a transaction guard that knows
// the dialect's BEGIN, and a statement builder for queries whose shape depends on the arguments
// (values are always bound, never spliced).
//
// These throw soci::soci_error like SOCI itself; SqlStore::run() turns them into weft errors.
#pragma once

#include <soci/soci.h>

#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "plugins/storage-common/storage_backend.hpp"

namespace weft::storage {

// Thrown when a pooled connection is closed (an earlier reconnect failed) and reopening it fails
// again: the database is unreachable.
class ConnectionDown : public soci::soci_error {
 public:
  using soci::soci_error::soci_error;
};

// Prepared statements kept per connection and reused across operations, keyed by SQL text.
// Preparing (parsing and planning) a statement costs more than running the small statements the
// store issues, so every query goes through this cache (Stmt below).
//
// SOCI binds use/into elements by reference, so each cached statement owns the storage it is bound
// to (slots in placeholder order); Stmt copies values in before and results out after each
// execution. A cache belongs to one pooled connection and is only touched by the holder of that
// connection's lease. It must be cleared before its connection closes or reconnects (the prepared
// statements refer to the connection).
class StatementCache {
 public:
  struct Entry {
    explicit Entry(soci::session& s) : st(s) {}
    soci::statement st;
    std::string signature;  // binding types in order: 's'/'i' use, 'S'/'I' into
    std::deque<std::string> strings_in;  // deque: bound references stay valid as it grows
    std::deque<long long> ints_in;
    std::deque<std::string> strings_out;
    std::deque<long long> ints_out;
    bool busy = false;  // in use by a live Stmt (a nested use of the same SQL prepares its own)
    bool failed = false;  // see discard()
  };

  // `release` (optional) runs when a Stmt is done with a cached statement: SQLite resets it so an
  // unfinished SELECT does not keep its read snapshot open.
  using Release = void (*)(soci::statement&) noexcept;
  explicit StatementCache(Release release) : release_(release) {}
  StatementCache(const StatementCache&) = delete;
  StatementCache& operator=(const StatementCache&) = delete;

  // The idle cached statement for `sql` with these bindings, marked busy; nullptr when there is
  // none (the caller prepares it and may add() it).
  Entry* acquire(const std::string& sql, const std::string& signature);
  // Takes a freshly prepared statement into the cache (marked busy); false (and the entry stays
  // with the caller) when the cache is full: statements whose text varies without bound are not
  // worth keeping.
  bool add(const std::string& sql, std::unique_ptr<Entry>& entry);
  void release(Entry* e) noexcept;
  // A statement whose execution failed is not reused: SOCI frees what it allocated for an
  // execution when the execution completes or when the statement goes away, and a failed one may
  // be left in any state. It stays out of use (busy) until purge_failed() drops it — after the
  // operation, outside its transaction, where PostgreSQL can still deallocate it.
  void discard(Entry* e) noexcept {
    e->failed = true;
    any_failed_ = true;
  }
  void purge_failed() noexcept;
  void clear() noexcept { entries_.clear(); }
  size_t size() const { return entries_.size(); }

  static constexpr size_t kMaxEntries = 128;

 private:
  Release release_;
  std::unordered_map<std::string, std::unique_ptr<Entry>> entries_;
  bool any_failed_ = false;
};

// A statement assembled at run time. Values are bound positionally in the order use() is called,
// which must match the order of the :placeholders in the SQL; into() targets receive the columns
// of the current row after run() and next(). With a cache the prepared statement is reused by
// later Stmts with the same text on the same connection; without one it is prepared for one use.
class Stmt {
 public:
  explicit Stmt(soci::session& s, StatementCache* cache = nullptr) : s_(s), cache_(cache) {}
  ~Stmt();
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  Stmt& sql(std::string_view text) {
    sql_ += text;
    return *this;
  }
  Stmt& use(std::string v) {
    signature_ += 's';
    strings_.push_back(std::move(v));
    return *this;
  }
  Stmt& use(long long v) {
    signature_ += 'i';
    ints_.push_back(v);
    return *this;
  }
  Stmt& into(std::string& target) {
    signature_ += 'S';
    string_targets_.push_back(&target);
    return *this;
  }
  Stmt& into(long long& target) {
    signature_ += 'I';
    int_targets_.push_back(&target);
    return *this;
  }
  // Prepares (or reuses) and executes; with into() targets, fetches the first row. Returns whether
  // a row was fetched. A Stmt runs once.
  bool run();
  bool next();
  long long affected() { return entry_->st.get_affected_rows(); }  // after a successful run()
  const std::string& text() const { return sql_; }

 private:
  std::unique_ptr<StatementCache::Entry> prepare(soci::details::statement_type type) const;
  void copy_out();
  void forget() noexcept;

  soci::session& s_;
  StatementCache* cache_;
  std::string sql_;
  std::string signature_;
  std::vector<std::string> strings_;
  std::vector<long long> ints_;
  std::vector<std::string*> string_targets_;
  std::vector<long long*> int_targets_;
  StatementCache::Entry* entry_ = nullptr;  // the statement run() executed
  bool cached_ = false;                     // entry_ belongs to cache_
  std::unique_ptr<StatementCache::Entry> own_;  // not cached: prepared for this Stmt only
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
    // The prepared statements of this connection (valid while the lease is held).
    StatementCache* statements();

   private:
    ConnectionPool& pool_;
    size_t pos_;
  };

  size_t size() const { return size_; }

 private:
  void reopen(size_t pos);

  const DialectSupport& dialect_;
  size_t size_;
  soci::connection_pool pool_;
  Setup setup_;
  std::vector<char> down_;  // per connection: closed after a failed reconnect (guarded by leases)
  // Per connection, declared after pool_ so that the statements are gone before the connections
  // close (a SQLite connection with unfinalized statements cannot close).
  std::vector<std::unique_ptr<StatementCache>> statements_;
};

// BEGIN ... COMMIT, rolled back on destruction unless committed. SQLite write transactions start
// with BEGIN IMMEDIATE: they take the write lock up front, so two writers never both read and then
// deadlock trying to upgrade (SQLITE_BUSY without waiting).
// commit_sent (optional) is set just before COMMIT is sent: if the connection drops after that,
// whether the transaction committed is unknown and the operation must not be repeated blindly.
// statements (optional): the connection's statement cache, so BEGIN/COMMIT are not re-prepared.
class Tx {
 public:
  Tx(soci::session& s, Dialect dialect, bool write, bool* commit_sent = nullptr,
     StatementCache* statements = nullptr);
  ~Tx();
  Tx(const Tx&) = delete;
  Tx& operator=(const Tx&) = delete;
  void commit();

 private:
  void exec(const char* sql);

  soci::session& s_;
  bool* commit_sent_;
  StatementCache* statements_;
  bool done_ = false;
};

}  // namespace weft::storage
