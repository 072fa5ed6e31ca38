// Test support for the auth suite: real stores (SQLite in a temp dir; PostgreSQL in a per-test
// schema when WEFT_TEST_PG_URL is set) opened through the real registry and storage plugins.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "host/core/result.hpp"
#include "host/store/store.hpp"

namespace weft::auth::testing {

// A fresh temporary directory (removed by the caller, e.g. with TempDir below).
std::string make_temp_dir(const std::string& tag);

class TempDir {
 public:
  explicit TempDir(const std::string& tag) : path_(make_temp_dir(tag)) {}
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// The PostgreSQL URL under test, or "" (PostgreSQL cases skip).
std::string pg_url();

// One database for one test: "sqlite" or "postgresql". Dropped/removed at destruction.
class TestStore {
 public:
  explicit TestStore(const std::string& backend);
  ~TestStore();
  TestStore(const TestStore&) = delete;
  TestStore& operator=(const TestStore&) = delete;

  Result<std::shared_ptr<store::Store>> open() const;

 private:
  std::string backend_;
  std::string url_;
  std::string schema_;            // PostgreSQL
  std::unique_ptr<TempDir> dir_;  // SQLite
};

}  // namespace weft::auth::testing
