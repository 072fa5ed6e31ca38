// The API test fixture: the whole `weft serve` (api::ApiServer) in-process on 127.0.0.1, port 0,
// with real plugins from the build, a temp SQLite database (or a fresh PostgreSQL database for
// the "postgres" parameter when WEFT_TEST_PG_URL is set), a temp secret file, cheap argon2, a
// short SSE heartbeat/poll and the first-admin bootstrap. One server per test.
//
// Every test suite derives from ApiTest and is instantiated with WEFT_API_BACKENDS(Suite).
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "host/api/serve.hpp"
#include "tests/api/http_client.hpp"

namespace weft::apitest {

struct TestUser {
  std::string id;
  std::string email;
  std::string password;
  std::string token;    // access token
  std::string refresh;  // refresh token
};

class ApiTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override;
  void TearDown() override;
  // Subclasses adjust the configuration before the server starts.
  virtual void configure(app::Config& config, api::ServeConfig& serve) {}

  api::ApiServer& server() { return *server_; }
  uint16_t port() const { return port_; }
  const Client& client() const { return client_; }
  const std::string& dir() const { return dir_; }
  // The server secret as read from the secret file (raw bytes).
  std::string server_secret() const;

  // The bootstrap admin's access token (logged in once through the API, then cached).
  const std::string& admin_token();
  // A user created through AuthService and logged in through AuthService (no HTTP, so the
  // login rate limits of the tests that exercise them stay untouched).
  TestUser make_user(const std::string& tier = "enterprise", const std::string& role = "user");
  // POST /api/auth/login; asserts 200 and returns the token pair.
  Json api_login(const std::string& email, const std::string& password);

  // POST /api/workflows; asserts 201 and returns the id.
  std::string create_workflow(const std::string& token, const Json& definition);
  // POST /api/workflows/:id/execute[?query] with optional body.
  Response execute(const std::string& token, const std::string& workflow_id, const std::string& query = "",
                   const HeaderList& headers = {});
  // Polls GET /api/executions/:id until its status is one of `statuses`; returns the last body.
  Json wait_status(const std::string& token, const std::string& execution_id, const std::set<std::string>& statuses,
                   int timeout_ms = 15000);

  // Workflow documents used across the suites.
  // manual trigger → set {"greeting": "hello <input name>"}: quick (2 nodes).
  static Json quick_workflow(const std::string& name = "quick");
  // manual trigger → wait `seconds` → set: long_running (parks), so never quick.
  static Json wait_workflow(double seconds, const std::string& name = "waits");
  // manual trigger → four sets in a chain: not quick (5 nodes), finishes at once.
  static Json five_node_workflow(const std::string& name = "five");
  // The node type exists in the palette (GET /api/nodes as admin).
  bool has_node_type(const std::string& type);

  std::string dir_;
  std::string pg_database_;  // dropped at teardown
  std::unique_ptr<api::ApiServer> server_;
  uint16_t port_ = 0;
  Client client_{0};
  std::string admin_token_;
};

// Which backends run: "sqlite" always, "postgres" when WEFT_TEST_PG_URL is set (skips otherwise).
#define WEFT_API_BACKENDS(Suite)                                                  \
  INSTANTIATE_TEST_SUITE_P(Backends, Suite, ::testing::Values("sqlite", "postgres"), \
                           [](const ::testing::TestParamInfo<std::string>& i) { return i.param; })

// Asserts the one error shape {"error":{"code","message"[,"details"]}} with this status and code.
::testing::AssertionResult IsError(const Response& r, int status, const std::string& code = "");

}  // namespace weft::apitest
