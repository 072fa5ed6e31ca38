#include "plugins/storage-common/sql_support.hpp"

namespace weft::storage {

ConnectionPool::ConnectionPool(const DialectSupport& dialect, size_t size,
                               const std::string& connect_string, Setup setup)
    : dialect_(dialect), size_(size), pool_(size), setup_(std::move(setup)), down_(size, 0) {
  for (size_t i = 0; i < size_; ++i) {
    soci::session& s = pool_.at(i);
    s.open(*dialect_.factory, connect_string);
    if (setup_) setup_(s);
  }
}

ConnectionPool::~ConnectionPool() = default;

void ConnectionPool::reopen(soci::session& s) {
  s.reconnect();
  if (setup_) setup_(s);
}

ConnectionPool::Lease::Lease(ConnectionPool& pool) : pool_(pool), pos_(pool.pool_.lease()) {}

ConnectionPool::Lease::~Lease() { pool_.pool_.give_back(pos_); }

soci::session& ConnectionPool::Lease::session() {
  soci::session& s = pool_.pool_.at(pos_);
  if (pool_.down_[pos_] || s.get_backend() == nullptr) {
    try {
      pool_.reopen(s);
    } catch (const std::exception& e) {
      throw ConnectionDown(e.what());
    }
    pool_.down_[pos_] = 0;
  }
  return s;
}

void ConnectionPool::Lease::reconnect_quietly() noexcept {
  soci::session& s = pool_.pool_.at(pos_);
  try {
    pool_.reopen(s);
    pool_.down_[pos_] = 0;
  } catch (...) {
    // Left closed: the next session() call on this connection tries again.
    pool_.down_[pos_] = 1;
  }
}

Tx::Tx(soci::session& s, Dialect dialect, bool write, bool* commit_sent)
    : s_(s), commit_sent_(commit_sent) {
  s_ << (dialect == Dialect::SQLite && write ? "BEGIN IMMEDIATE" : "BEGIN");
}

Tx::~Tx() {
  if (done_) return;
  try {
    s_ << "ROLLBACK";
  } catch (...) {
    // The connection is probably gone; the server rolls back on its own then.
  }
}

void Tx::commit() {
  if (commit_sent_) *commit_sent_ = true;
  s_ << "COMMIT";
  done_ = true;
}

bool Stmt::run() {
  st_.alloc();
  st_.prepare(sql_, soci::details::st_one_time_query);
  st_.define_and_bind();
  return st_.execute(true);
}

}  // namespace weft::storage
