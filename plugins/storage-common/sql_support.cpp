#include "plugins/storage-common/sql_support.hpp"

#include <utility>

namespace weft::storage {

// ---- StatementCache ----------------------------------------------------------------------------

StatementCache::Entry* StatementCache::acquire(const std::string& sql, const std::string& signature) {
  auto it = entries_.find(sql);
  if (it == entries_.end()) return nullptr;
  Entry* e = it->second.get();
  // Busy: a nested use of the same text while the first is still being read. A different
  // signature for the same text cannot happen with the store's fixed queries; if it ever did, a
  // one-use statement is still correct.
  if (e->busy || e->signature != signature) return nullptr;
  e->busy = true;
  return e;
}

bool StatementCache::add(const std::string& sql, std::unique_ptr<Entry>& entry) {
  if (entries_.size() >= kMaxEntries || entries_.count(sql) != 0) return false;
  entry->busy = true;
  entries_.emplace(sql, std::move(entry));
  return true;
}

void StatementCache::purge_failed() noexcept {
  if (!any_failed_) return;
  any_failed_ = false;
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (it->second->failed) {
      it = entries_.erase(it);
    } else {
      ++it;
    }
  }
}

void StatementCache::release(Entry* e) noexcept {
  if (release_) release_(e->st);
  e->busy = false;
}

// ---- Stmt --------------------------------------------------------------------------------------

Stmt::~Stmt() {
  if (cached_ && entry_) cache_->release(entry_);
}

std::unique_ptr<StatementCache::Entry> Stmt::prepare(soci::details::statement_type type) const {
  auto e = std::make_unique<StatementCache::Entry>(s_);
  e->signature = signature_;
  // Exchange elements in signature (= placeholder and column) order, each bound to its own slot.
  for (char kind : signature_) {
    switch (kind) {
      case 's':
        e->st.exchange(soci::use(e->strings_in.emplace_back()));
        break;
      case 'i':
        e->st.exchange(soci::use(e->ints_in.emplace_back()));
        break;
      case 'S':
        e->st.exchange(soci::into(e->strings_out.emplace_back()));
        break;
      case 'I':
        e->st.exchange(soci::into(e->ints_out.emplace_back()));
        break;
    }
  }
  e->st.alloc();
  e->st.prepare(sql_, type);
  e->st.define_and_bind();
  return e;
}

bool Stmt::run() {
  if (cache_) {
    entry_ = cache_->acquire(sql_, signature_);
    if (entry_) {
      cached_ = true;
    } else {
      std::unique_ptr<StatementCache::Entry> fresh = prepare(soci::details::st_repeatable_query);
      StatementCache::Entry* raw = fresh.get();
      if (cache_->add(sql_, fresh)) {
        entry_ = raw;
        cached_ = true;
      } else {
        own_ = std::move(fresh);
        entry_ = own_.get();
      }
    }
  } else {
    own_ = prepare(soci::details::st_one_time_query);
    entry_ = own_.get();
  }
  for (size_t i = 0; i < strings_.size(); ++i) entry_->strings_in[i] = std::move(strings_[i]);
  for (size_t i = 0; i < ints_.size(); ++i) entry_->ints_in[i] = ints_[i];
  bool got = false;
  try {
    got = entry_->st.execute(true);
  } catch (...) {
    forget();
    throw;
  }
  if (got) copy_out();
  return got;
}

bool Stmt::next() {
  bool got = false;
  try {
    got = entry_->st.fetch();
  } catch (...) {
    forget();
    throw;
  }
  if (got) copy_out();
  return got;
}

void Stmt::forget() noexcept {
  // Not reused after a failure (see StatementCache::discard), not even by this Stmt.
  if (cached_) {
    cache_->discard(entry_);
    cached_ = false;
  }
  entry_ = nullptr;
}

void Stmt::copy_out() {
  // Swapping hands the fetched text over without a copy; the slot is overwritten at the next
  // fetch anyway.
  for (size_t i = 0; i < string_targets_.size(); ++i) string_targets_[i]->swap(entry_->strings_out[i]);
  for (size_t i = 0; i < int_targets_.size(); ++i) *int_targets_[i] = entry_->ints_out[i];
}

// ---- ConnectionPool ----------------------------------------------------------------------------

ConnectionPool::ConnectionPool(const DialectSupport& dialect, size_t size,
                               const std::string& connect_string, Setup setup)
    : dialect_(dialect), size_(size), pool_(size), setup_(std::move(setup)), down_(size, 0) {
  for (size_t i = 0; i < size_; ++i) {
    statements_.push_back(std::make_unique<StatementCache>(dialect_.release_statement));
  }
  for (size_t i = 0; i < size_; ++i) {
    soci::session& s = pool_.at(i);
    s.open(*dialect_.factory, connect_string);
    if (setup_) setup_(s);
  }
}

ConnectionPool::~ConnectionPool() = default;

void ConnectionPool::reopen(size_t pos) {
  // The cached statements belong to the connection being replaced.
  statements_[pos]->clear();
  soci::session& s = pool_.at(pos);
  s.reconnect();
  if (setup_) setup_(s);
}

ConnectionPool::Lease::Lease(ConnectionPool& pool) : pool_(pool), pos_(pool.pool_.lease()) {}

ConnectionPool::Lease::~Lease() {
  pool_.statements_[pos_]->purge_failed();
  pool_.pool_.give_back(pos_);
}

soci::session& ConnectionPool::Lease::session() {
  soci::session& s = pool_.pool_.at(pos_);
  if (pool_.down_[pos_] || s.get_backend() == nullptr) {
    try {
      pool_.reopen(pos_);
    } catch (const std::exception& e) {
      throw ConnectionDown(e.what());
    }
    pool_.down_[pos_] = 0;
  }
  return s;
}

StatementCache* ConnectionPool::Lease::statements() { return pool_.statements_[pos_].get(); }

void ConnectionPool::Lease::reconnect_quietly() noexcept {
  try {
    pool_.reopen(pos_);
    pool_.down_[pos_] = 0;
  } catch (...) {
    // Left closed: the next session() call on this connection tries again.
    pool_.down_[pos_] = 1;
  }
}

// ---- Tx ----------------------------------------------------------------------------------------

Tx::Tx(soci::session& s, Dialect dialect, bool write, bool* commit_sent, StatementCache* statements)
    : s_(s), commit_sent_(commit_sent), statements_(statements) {
  exec(dialect == Dialect::SQLite && write ? "BEGIN IMMEDIATE" : "BEGIN");
}

Tx::~Tx() {
  if (done_) return;
  try {
    // The rare path: not worth a cached statement (and after a failed statement PostgreSQL takes
    // nothing but the end of the transaction, which a plain ROLLBACK is beyond doubt).
    s_ << "ROLLBACK";
  } catch (...) {
    // The connection is probably gone; the server rolls back on its own then.
  }
}

void Tx::exec(const char* sql) {
  if (statements_) {
    Stmt st(s_, statements_);
    st.sql(sql);
    st.run();
  } else {
    s_ << sql;
  }
}

void Tx::commit() {
  if (commit_sent_) *commit_sent_ = true;
  exec("COMMIT");
  done_ = true;
}

}  // namespace weft::storage
