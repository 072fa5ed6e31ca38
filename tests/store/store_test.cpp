// The store suite: one set of tests run against BOTH storage backends (SQLite and PostgreSQL),
// through the real plugins loaded by the real registry, on real databases.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <latch>
#include <mutex>
#include <set>
#include <thread>

#include "host/core/call.hpp"
#include "host/core/ids.hpp"
#include "host/store/plugin_store.hpp"
#include "host/store/records.hpp"
#include "plugins/storage-common/migrations.hpp"
#include "tests/store/store_env.hpp"

namespace weft::store {
namespace {

using testing::TestDb;

const long long kLatest = storage::latest_schema_version();

// ---- helpers -----------------------------------------------------------------------------------

NewExecution new_exec(const std::string& owner = "", const std::string& key = "") {
  NewExecution e;
  e.workflow_id = "wf1";
  e.workflow_version = 1;
  e.owner_id = owner;
  e.definition = Json::object({{"name", "test"}, {"nodes", Json::array()}});
  e.input = Json::object({{"x", 1}});
  e.idempotency_key = key;
  return e;
}

Commit commit_for(const ExecutionRecord& e) {
  Commit c;
  c.execution_id = e.id;
  c.lease = e.lease;
  return c;
}

EventRecord event(int64_t seq, std::string type = "node_complete", Json data = Json::object()) {
  EventRecord e;
  e.seq = seq;
  e.type = std::move(type);
  e.data = std::move(data);
  return e;
}

NodeRunRecord node_run(const std::string& node, Json output = Json::object({{"main", 1}})) {
  NodeRunRecord r;
  r.node_key = node;
  r.node_id = node;
  r.status = "succeeded";
  r.attempt = 1;
  r.output = std::move(output);
  r.started_at_ms = 10;
  r.finished_at_ms = 20;
  return r;
}

NodeLogRecord node_log(const std::string& node, std::string lines = "hello") {
  NodeLogRecord l;
  l.node_key = node;
  l.node_id = node;
  l.attempt = 1;
  l.status = "succeeded";
  l.duration_us = 1234;
  l.input = Json::object({{"main", 0}});
  l.output = Json::object({{"main", 1}});
  l.lines = std::move(lines);
  return l;
}

bool table_exists(soci::session& s, bool sqlite, const std::string& table) {
  long long n = 0;
  std::string name = table;
  if (sqlite) {
    s << "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = :n", soci::into(n),
        soci::use(name);
  } else {
    s << "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema()"
         " AND table_name = :n",
        soci::into(n), soci::use(name);
  }
  return n > 0;
}

long long schema_version(soci::session& s) {
  long long v = 0;
  s << "SELECT COALESCE(MAX(version), 0) FROM schema_migrations", soci::into(v);
  return v;
}

#define ASSERT_OK(expr)                                                              \
  do {                                                                               \
    auto&& _r = (expr);                                                              \
    ASSERT_TRUE(_r.ok()) << #expr << ": " << _r.error().code << ": " << _r.error().message; \
  } while (0)

// ---- fixture -----------------------------------------------------------------------------------

class StoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (backend() == "postgresql" && testing::pg_url().empty()) {
      GTEST_SKIP() << "WEFT_TEST_PG_URL is not set (scripts/test.sh starts a throwaway PostgreSQL)";
    }
    ASSERT_TRUE(testing::test_registry().find_storage(backend()))
        << "the " << backend() << " storage plugin did not load from " << WEFT_TEST_PLUGIN_DIR;
    db_ = std::make_unique<TestDb>(backend());
    auto opened = db_->open();
    ASSERT_TRUE(opened.ok()) << opened.error().code << ": " << opened.error().message;
    store_ = std::move(opened).value();
  }
  void TearDown() override {
    store_.reset();
    db_.reset();
  }

  const std::string& backend() const { return GetParam(); }
  bool sqlite() const { return backend() == "sqlite"; }

  ExecutionRecord create(const NewExecution& e = new_exec()) {
    auto r = store_->create_execution(e);
    EXPECT_TRUE(r.ok()) << r.error().message;
    return r.ok() ? *r : ExecutionRecord{};
  }
  ExecutionRecord get(const std::string& id) {
    auto r = store_->get_execution(id);
    EXPECT_TRUE(r.ok()) << r.error().message;
    return r.ok() ? *r : ExecutionRecord{};
  }
  // Claims the next runnable execution; fails the test when there is none.
  ExecutionRecord claim(const std::string& worker, int64_t lease_ms, int64_t now) {
    auto r = store_->claim_execution(worker, lease_ms, now);
    EXPECT_TRUE(r.ok()) << r.error().message;
    EXPECT_TRUE(r.ok() && r->has_value()) << "nothing to claim";
    return r.ok() && r->has_value() ? **r : ExecutionRecord{};
  }
  bool nothing_to_claim(int64_t now) {
    auto r = store_->claim_execution("probe", 1000, now);
    EXPECT_TRUE(r.ok()) << r.error().message;
    return r.ok() && !r->has_value();
  }

  std::unique_ptr<TestDb> db_;
  std::shared_ptr<Store> store_;
};

// ---- schema and migrations ---------------------------------------------------------------------

TEST_P(StoreTest, MigrationsAreRecordedAndIdempotent) {
  auto s = db_->inspect();
  EXPECT_EQ(schema_version(*s), kLatest);
  long long rows = 0;
  *s << "SELECT COUNT(*) FROM schema_migrations", soci::into(rows);
  EXPECT_EQ(rows, kLatest);
  for (const char* t :
       {"workflows", "executions", "node_runs", "node_logs", "events", "plugin_states", "users", "sessions",
        "api_keys", "webhook_routes", "workflow_deletions", "credentials", "vault_key_checks", "audit_log",
        "custom_nodes", "human_requests", "human_request_assignees", "schedules"}) {
    EXPECT_TRUE(table_exists(*s, sqlite(), t)) << t;
  }
  // Re-opening the same database (while the first store is still open) applies nothing twice and
  // sees the same data.
  auto wf = store_->save_workflow("", "", "w", Json::object());
  ASSERT_OK(wf);
  auto again = db_->open();
  ASSERT_OK(again);
  *s << "SELECT COUNT(*) FROM schema_migrations", soci::into(rows);
  EXPECT_EQ(rows, kLatest);
  EXPECT_TRUE((*again)->get_workflow("", wf->id).ok());
}

TEST_P(StoreTest, RefusesASchemaNewerThanTheCode) {
  {
    auto s = db_->inspect();
    *s << "INSERT INTO schema_migrations (version, name, applied_at) VALUES (" + std::to_string(kLatest + 1) +
              ", 'from_the_future', 0)";
  }
  auto r = db_->open();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "schema_too_new");
  EXPECT_NE(r.error().message.find("database schema version " + std::to_string(kLatest + 1) +
                                    " is newer than this weft (" +
                                    std::to_string(kLatest) + "); upgrade weft"),
            std::string::npos)
      << r.error().message;
}

TEST_P(StoreTest, AFailedMigrationLeavesThePreviousVersionAndTheNextOpenAppliesIt) {
  TestDb fresh(backend());
  // Migration 2 runs its CREATE TABLEs, then "crashes" before its commit.
  auto failed = fresh.open(Json::object({{"test_fail_migration", 2}}));
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().code, "storage_error");
  EXPECT_NE(failed.error().message.find("migration 2"), std::string::npos) << failed.error().message;
  {
    auto s = fresh.inspect();
    EXPECT_EQ(schema_version(*s), 1);
    EXPECT_TRUE(table_exists(*s, sqlite(), "executions"));
    EXPECT_FALSE(table_exists(*s, sqlite(), "node_runs")) << "half of migration 2 survived";
    EXPECT_FALSE(table_exists(*s, sqlite(), "events"));
  }
  auto reopened = fresh.open();
  ASSERT_OK(reopened);
  auto s = fresh.inspect();
  EXPECT_EQ(schema_version(*s), kLatest);
  EXPECT_TRUE(table_exists(*s, sqlite(), "node_runs"));
  EXPECT_TRUE(table_exists(*s, sqlite(), "plugin_states"));
}

TEST_P(StoreTest, ConcurrentOpenersMigrateOnce) {
  // Several servers starting together on an empty database: the migration lock (BEGIN IMMEDIATE /
  // advisory lock) makes each migration run once and every opener succeed.
  TestDb fresh(backend());
  constexpr int kOpeners = 4;
  std::vector<Result<std::shared_ptr<Store>>> results(kOpeners, Error("pending", ""));
  std::vector<std::thread> threads;
  for (int i = 0; i < kOpeners; ++i) {
    threads.emplace_back([&, i] { results[i] = fresh.open(Json::object({{"pool_size", 1}})); });
  }
  for (auto& t : threads) t.join();
  for (const auto& r : results) {
    EXPECT_TRUE(r.ok()) << r.error().code << ": " << r.error().message;
  }
  auto s = fresh.inspect();
  long long rows = 0;
  *s << "SELECT COUNT(*) FROM schema_migrations", soci::into(rows);
  EXPECT_EQ(rows, kLatest);
}

TEST_P(StoreTest, RejectsUnknownOptions) {
  auto r = db_->open(Json::object({{"pool_sise", 2}}));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "invalid_argument");
  EXPECT_NE(r.error().message.find("pool_sise"), std::string::npos) << r.error().message;
}

// ---- workflows ---------------------------------------------------------------------------------

TEST_P(StoreTest, WorkflowSavesAreImmutableVersions) {
  auto v1 = store_->save_workflow("alice", "", "first", Json::object({{"n", 1}}));
  ASSERT_OK(v1);
  EXPECT_EQ(v1->id.size(), 26u);
  EXPECT_EQ(v1->version, 1);
  auto v2 = store_->save_workflow("alice", v1->id, "second", Json::object({{"n", 2}}));
  ASSERT_OK(v2);
  EXPECT_EQ(v2->id, v1->id);
  EXPECT_EQ(v2->version, 2);

  auto latest = store_->get_workflow("alice", v1->id);
  ASSERT_OK(latest);
  EXPECT_EQ(latest->version, 2);
  EXPECT_EQ(latest->name, "second");
  EXPECT_EQ(latest->definition, Json::object({{"n", 2}}));
  auto first = store_->get_workflow("alice", v1->id, 1);
  ASSERT_OK(first);
  EXPECT_EQ(first->definition, Json::object({{"n", 1}}));
  EXPECT_EQ(first->name, "first");
  EXPECT_GT(first->created_at_ms, 0);

  auto missing = store_->get_workflow("alice", v1->id, 3);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, "not_found");
  // A caller-chosen id starts at version 1.
  auto named = store_->save_workflow("alice", "my-flow", "x", Json::object());
  ASSERT_OK(named);
  EXPECT_EQ(named->id, "my-flow");
  EXPECT_EQ(named->version, 1);
}

TEST_P(StoreTest, ConcurrentSavesGetDistinctVersions) {
  auto v1 = store_->save_workflow("", "", "w", Json::object());
  ASSERT_OK(v1);
  constexpr int kThreads = 6;
  std::vector<int64_t> versions(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      auto r = store_->save_workflow("", v1->id, "w", Json::object({{"i", i}}));
      versions[i] = r.ok() ? r->version : -1;
    });
  }
  for (auto& t : threads) t.join();
  std::sort(versions.begin(), versions.end());
  for (int i = 0; i < kThreads; ++i) EXPECT_EQ(versions[i], i + 2);
}

TEST_P(StoreTest, WorkflowsAreScopedByOwner) {
  auto wf = store_->save_workflow("alice", "", "w", Json::object());
  ASSERT_OK(wf);
  auto other = store_->get_workflow("bob", wf->id);
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.error().code, "not_found");
  // Bob cannot add a version to Alice's workflow either.
  auto hijack = store_->save_workflow("bob", wf->id, "mine now", Json::object());
  ASSERT_FALSE(hijack.ok());
  EXPECT_EQ(hijack.error().code, "not_found");
  EXPECT_EQ(store_->get_workflow("alice", wf->id)->version, 1);
}

// ---- executions --------------------------------------------------------------------------------

TEST_P(StoreTest, CreateAndGetExecution) {
  NewExecution ne = new_exec("alice");
  ne.mode = "sync";
  ne.deadline_at_ms = 123456;
  auto created = store_->create_execution(ne);
  ASSERT_OK(created);
  EXPECT_EQ(created->status, ExecStatus::Queued);
  EXPECT_EQ(created->id.size(), 26u);
  auto got = store_->get_execution(created->id);
  ASSERT_OK(got);
  EXPECT_EQ(got->workflow_id, "wf1");
  EXPECT_EQ(got->workflow_version, 1);
  EXPECT_EQ(got->owner_id, "alice");
  EXPECT_EQ(got->status, ExecStatus::Queued);
  EXPECT_EQ(got->definition, ne.definition);
  EXPECT_EQ(got->input, ne.input);
  EXPECT_TRUE(got->output.is_null());
  EXPECT_EQ(got->mode, "sync");
  EXPECT_EQ(got->deadline_at_ms, 123456);
  EXPECT_EQ(got->created_at_ms, created->created_at_ms);
  EXPECT_EQ(got->lease.owner, "");
  EXPECT_EQ(got->last_event_seq, 0);

  // The record create_execution returns is the stored one (its documents come from the request).
  EXPECT_EQ(store::to_json(*created), store::to_json(*got));

  auto missing = store_->get_execution("nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, "not_found");

  // A caller-chosen id that is taken is a conflict.
  NewExecution dup = new_exec();
  dup.id = created->id;
  auto again = store_->create_execution(dup);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, "conflict");
}

TEST_P(StoreTest, CreateLeavesOutTheSentDocumentsOnlyWhenAsked) {
  auto* plugin = dynamic_cast<PluginStore*>(store_.get());
  ASSERT_NE(plugin, nullptr);
  NewExecution ne = new_exec("", "key-1");
  // Without the flag (an older host): the full record.
  auto full = plugin->call(op::kCreateExecution, to_json(ne));
  ASSERT_OK(full);
  EXPECT_EQ((*full)["execution"]["definition"], ne.definition);
  EXPECT_EQ((*full)["execution"]["input"], ne.input);
  // With it: a new execution comes back without them...
  NewExecution other = new_exec("", "key-2");
  Json args = to_json(other);
  args.set("omit_sent_documents", true);
  auto lean = plugin->call(op::kCreateExecution, args);
  ASSERT_OK(lean);
  EXPECT_FALSE((*lean)["existed"].as_bool());
  EXPECT_FALSE((*lean)["execution"].contains("definition"));
  EXPECT_FALSE((*lean)["execution"].contains("input"));
  EXPECT_EQ((*lean)["execution"]["workflow_id"], "wf1");
  // ...but they are stored, and an existing execution (idempotency key) is returned whole: its
  // documents may differ from the ones just sent.
  auto stored = store_->get_execution((*lean)["execution"]["id"].as_string());
  ASSERT_OK(stored);
  EXPECT_EQ(stored->definition, other.definition);
  NewExecution repeat = new_exec("", "key-1");
  repeat.definition = Json::object({{"different", true}});
  Json again = to_json(repeat);
  again.set("omit_sent_documents", true);
  auto existing = plugin->call(op::kCreateExecution, again);
  ASSERT_OK(existing);
  EXPECT_TRUE((*existing)["existed"].as_bool());
  EXPECT_EQ((*existing)["execution"]["definition"], ne.definition);
  // Through the Store interface the documents are always there.
  bool existed = false;
  auto via_store = store_->create_execution(repeat, &existed);
  ASSERT_OK(via_store);
  EXPECT_TRUE(existed);
  EXPECT_EQ(via_store->definition, ne.definition);
}

TEST_P(StoreTest, IdempotencyKeyDeduplicatesPerOwner) {
  bool existed = true;
  auto first = store_->create_execution(new_exec("alice", "k1"), &existed);
  ASSERT_OK(first);
  EXPECT_FALSE(existed);
  auto second = store_->create_execution(new_exec("alice", "k1"), &existed);
  ASSERT_OK(second);
  EXPECT_TRUE(existed);
  EXPECT_EQ(second->id, first->id);
  // Same key, other owner: a different execution.
  auto bobs = store_->create_execution(new_exec("bob", "k1"), &existed);
  ASSERT_OK(bobs);
  EXPECT_FALSE(existed);
  EXPECT_NE(bobs->id, first->id);
  // No key: never deduplicated.
  auto a = store_->create_execution(new_exec("alice"), &existed);
  auto b = store_->create_execution(new_exec("alice"), &existed);
  ASSERT_OK(a);
  ASSERT_OK(b);
  EXPECT_NE(a->id, b->id);
}

TEST_P(StoreTest, ConcurrentCreatesWithOneIdempotencyKeyMakeOneExecution) {
  constexpr int kThreads = 8;
  std::vector<std::string> ids(kThreads);
  std::atomic<int> fresh{0}, failures{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      bool existed = false;
      auto r = store_->create_execution(new_exec("alice", "same-key"), &existed);
      if (!r.ok()) {
        ++failures;
        ADD_FAILURE() << r.error().code << ": " << r.error().message;
        return;
      }
      ids[i] = r->id;
      if (!existed) ++fresh;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(fresh.load(), 1);
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), 1u);
}

TEST_P(StoreTest, ListExecutionsFiltersAndPages) {
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(create(new_exec("alice")).id);
  NewExecution other_wf = new_exec("alice");
  other_wf.workflow_id = "wf2";
  create(other_wf);
  create(new_exec("bob"));

  ExecutionFilter f;
  f.owner_id = "alice";
  f.workflow_id = "wf1";
  f.limit = 2;
  auto page1 = store_->list_executions(f);
  ASSERT_OK(page1);
  ASSERT_EQ(page1->size(), 2u);
  EXPECT_EQ((*page1)[0].id, ids[4]);  // newest first
  EXPECT_EQ((*page1)[1].id, ids[3]);
  f.before_id = (*page1)[1].id;
  auto page2 = store_->list_executions(f);
  ASSERT_OK(page2);
  ASSERT_EQ(page2->size(), 2u);
  EXPECT_EQ((*page2)[0].id, ids[2]);
  EXPECT_EQ((*page2)[1].id, ids[1]);
  f.before_id = (*page2)[1].id;
  auto page3 = store_->list_executions(f);
  ASSERT_OK(page3);
  ASSERT_EQ(page3->size(), 1u);
  EXPECT_EQ((*page3)[0].id, ids[0]);

  ExecutionFilter all;
  all.owner_id = "alice";
  EXPECT_EQ(store_->list_executions(all)->size(), 6u);
  all.owner_id = "bob";
  EXPECT_EQ(store_->list_executions(all)->size(), 1u);

  ASSERT_OK(store_->request_cancel(ids[0]));
  ExecutionFilter cancelled;
  cancelled.owner_id = "alice";
  cancelled.status = ExecStatus::Cancelled;
  auto c = store_->list_executions(cancelled);
  ASSERT_OK(c);
  ASSERT_EQ(c->size(), 1u);
  EXPECT_EQ((*c)[0].id, ids[0]);
}

// ---- the queue ---------------------------------------------------------------------------------

TEST_P(StoreTest, ClaimTakesTheOldestRunnableAndLeasesIt) {
  auto a = create();
  auto b = create();
  const int64_t now = wall_ms();
  auto got = claim("w1", 30000, now);
  EXPECT_EQ(got.id, a.id);
  EXPECT_EQ(got.status, ExecStatus::Running);
  EXPECT_EQ(got.lease.owner, "w1");
  EXPECT_EQ(got.lease.epoch, 1);
  EXPECT_EQ(got.lease_expires_at_ms, now + 30000);
  EXPECT_EQ(claim("w2", 30000, now).id, b.id);
  EXPECT_TRUE(nothing_to_claim(now));
  // Bad arguments are refused.
  auto bad = store_->claim_execution("", 1000, now);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, "invalid_argument");
}

TEST_P(StoreTest, ConcurrentClaimersClaimEachExecutionExactlyOnce) {
  constexpr int kExecutions = 40;
  constexpr int kThreads = 8;
  for (int i = 0; i < kExecutions; ++i) create();
  const int64_t now = wall_ms();
  std::mutex mu;
  std::vector<std::string> claimed;
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (;;) {
        auto r = store_->claim_execution("worker-" + std::to_string(t), 60000, now);
        if (!r.ok()) {
          ++errors;
          ADD_FAILURE() << r.error().code << ": " << r.error().message;
          return;
        }
        if (!r->has_value()) return;
        EXPECT_EQ((*r)->lease.epoch, 1);
        std::lock_guard<std::mutex> lock(mu);
        claimed.push_back((*r)->id);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(claimed.size(), static_cast<size_t>(kExecutions));
  EXPECT_EQ(std::set<std::string>(claimed.begin(), claimed.end()).size(), static_cast<size_t>(kExecutions));
  EXPECT_TRUE(nothing_to_claim(now));
}

TEST_P(StoreTest, ExpiredLeaseIsReclaimedWithTheNextEpoch) {
  auto e = create();
  const int64_t t0 = wall_ms();
  auto first = claim("dead-worker", 1000, t0);
  EXPECT_TRUE(nothing_to_claim(t0 + 999));  // still leased
  auto second = claim("live-worker", 1000, t0 + 1001);
  EXPECT_EQ(second.id, e.id);
  EXPECT_EQ(second.lease.owner, "live-worker");
  EXPECT_EQ(second.lease.epoch, first.lease.epoch + 1);
  // The old owner's heartbeat is fenced off; the new owner's works.
  auto stale = store_->heartbeat(e.id, first.lease, 1000, t0 + 1002);
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.error().code, "lease_lost");
  ASSERT_OK(store_->heartbeat(e.id, second.lease, 5000, t0 + 1002));
  EXPECT_EQ(get(e.id).lease_expires_at_ms, t0 + 1002 + 5000);
  EXPECT_TRUE(nothing_to_claim(t0 + 2500));  // the heartbeat extended it
}

TEST_P(StoreTest, StaleCommitAfterTakeoverIsLeaseLostAndWritesNothing) {
  auto e = create();
  const int64_t t0 = wall_ms();
  auto old_lease = claim("old", 1000, t0);
  auto new_lease = claim("new", 1000, t0 + 5000);
  ASSERT_EQ(new_lease.id, e.id);

  Commit stale = commit_for(old_lease);
  stale.runs.push_back(node_run("a"));
  stale.logs.push_back(node_log("a"));
  stale.events.push_back(event(1));
  stale.execution = ExecutionUpdate{};
  stale.execution->status = ExecStatus::Succeeded;
  auto r = store_->commit(stale);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "lease_lost");
  EXPECT_TRUE(store_->node_runs(e.id)->empty());
  EXPECT_TRUE(store_->node_logs(e.id)->empty());
  EXPECT_TRUE(store_->events(e.id, 0, 0)->empty());
  auto now = get(e.id);
  EXPECT_EQ(now.status, ExecStatus::Running);
  EXPECT_EQ(now.last_event_seq, 0);

  Commit good = commit_for(new_lease);
  good.runs.push_back(node_run("a"));
  good.events.push_back(event(1));
  ASSERT_OK(store_->commit(good));
  EXPECT_EQ(store_->node_runs(e.id)->size(), 1u);
}

TEST_P(StoreTest, ListLeasedAndExpireLease) {
  auto a = create();
  create();
  const int64_t now = wall_ms();
  auto leased = claim("w", 60000, now);
  auto list = store_->list_leased();
  ASSERT_OK(list);
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].id, a.id);
  // A stale epoch expires nothing.
  ASSERT_OK(store_->expire_lease(a.id, Lease{"w", leased.lease.epoch + 7}));
  EXPECT_EQ(get(a.id).lease_expires_at_ms, now + 60000);
  ASSERT_OK(store_->expire_lease(a.id, leased.lease));
  EXPECT_EQ(get(a.id).lease_expires_at_ms, 0);
  // Reclaimable at once, with the next epoch; the other queued one comes after it (older first).
  auto again = claim("w2", 60000, now);
  EXPECT_EQ(again.id, a.id);
  EXPECT_EQ(again.lease.epoch, 2);
  auto missing = store_->expire_lease("nope", leased.lease);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, "not_found");
}

TEST_P(StoreTest, CreateAlreadyClaimed) {
  NewExecution ne = new_exec();
  ne.claim_owner = "sync-caller";
  ne.lease_ms = 10000;
  auto e = store_->create_execution(ne);
  ASSERT_OK(e);
  EXPECT_EQ(e->status, ExecStatus::Running);
  EXPECT_EQ(e->lease.owner, "sync-caller");
  EXPECT_EQ(e->lease.epoch, 1);
  EXPECT_EQ(e->lease_expires_at_ms, e->created_at_ms + 10000);
  auto stored = get(e->id);
  EXPECT_EQ(stored.status, ExecStatus::Running);
  EXPECT_EQ(stored.lease.owner, "sync-caller");
  EXPECT_TRUE(nothing_to_claim(e->created_at_ms + 100));
  ASSERT_OK(store_->heartbeat(e->id, e->lease, 10000, e->created_at_ms + 100));
}

TEST_P(StoreTest, ParkedExecutionsWakeWhenDue) {
  auto e = create();
  const int64_t t0 = wall_ms();
  auto leased = claim("w", 1000, t0);
  Commit park = commit_for(leased);
  park.events.push_back(event(1, "execution_parked"));
  park.execution = ExecutionUpdate{};
  park.execution->status = ExecStatus::Parked;
  park.execution->wake_at_ms = t0 + 60000;
  park.execution->release_lease = true;
  ASSERT_OK(store_->commit(park));
  auto parked = get(e.id);
  EXPECT_EQ(parked.status, ExecStatus::Parked);
  EXPECT_EQ(parked.lease.owner, "");
  EXPECT_EQ(parked.lease_expires_at_ms, 0);
  EXPECT_TRUE(nothing_to_claim(t0 + 59999));
  auto woken = claim("w2", 1000, t0 + 60000);
  EXPECT_EQ(woken.id, e.id);
  EXPECT_EQ(woken.lease.epoch, 2);
  // Parked with wake_at 0 waits for an answer: never claimed by time.
  Commit answer_wait = commit_for(woken);
  answer_wait.execution = ExecutionUpdate{};
  answer_wait.execution->status = ExecStatus::Parked;
  answer_wait.execution->wake_at_ms = 0;
  answer_wait.execution->release_lease = true;
  ASSERT_OK(store_->commit(answer_wait));
  EXPECT_TRUE(nothing_to_claim(t0 + 10000000));
}

// ---- commits and events ------------------------------------------------------------------------

TEST_P(StoreTest, CommitWritesRunsLogsEventsAndTheExecutionTogether) {
  auto e = create();
  auto leased = claim("w", 60000, wall_ms());
  Commit c = commit_for(leased);
  c.runs = {node_run("a"), node_run("b", Json::object({{"main", "b-out"}}))};
  c.runs[1].scope = "loop1#2";
  c.runs[1].node_key = "b@loop1#2";
  c.logs = {node_log("a", "line 1\nline 2")};
  c.events = {event(1, "execution_started"), event(2, "node_complete", Json::object({{"node", "a"}}))};
  c.execution = ExecutionUpdate{};
  c.execution->started_at_ms = 111;
  ASSERT_OK(store_->commit(c));

  // Upsert: the same node key again replaces the run.
  Commit c2 = commit_for(leased);
  c2.runs = {node_run("a", Json::object({{"main", "second"}}))};
  c2.runs[0].attempt = 2;
  c2.events = {event(3, "workflow_done", Json::object({{"status", "succeeded"}}))};
  c2.execution = ExecutionUpdate{};
  c2.execution->status = ExecStatus::Succeeded;
  c2.execution->output = Json::object({{"result", 42}});
  c2.execution->finished_at_ms = 222;
  c2.execution->release_lease = true;
  ASSERT_OK(store_->commit(c2));

  auto runs = store_->node_runs(e.id);
  ASSERT_OK(runs);
  ASSERT_EQ(runs->size(), 2u);
  std::map<std::string, NodeRunRecord> by_key;
  for (const auto& r : *runs) by_key[r.node_key] = r;
  EXPECT_EQ(by_key["a"].attempt, 2);
  EXPECT_EQ(by_key["a"].output, Json::object({{"main", "second"}}));
  EXPECT_EQ(by_key["a"].execution_id, e.id);
  EXPECT_EQ(by_key["b@loop1#2"].scope, "loop1#2");
  EXPECT_EQ(by_key["b@loop1#2"].node_id, "b");
  EXPECT_EQ(by_key["b@loop1#2"].output, Json::object({{"main", "b-out"}}));

  auto logs = store_->node_logs(e.id);
  ASSERT_OK(logs);
  ASSERT_EQ(logs->size(), 1u);
  EXPECT_EQ((*logs)[0].lines, "line 1\nline 2");
  EXPECT_EQ((*logs)[0].duration_us, 1234);
  EXPECT_EQ((*logs)[0].input, Json::object({{"main", 0}}));

  auto done = get(e.id);
  EXPECT_EQ(done.status, ExecStatus::Succeeded);
  EXPECT_EQ(done.output, Json::object({{"result", 42}}));
  EXPECT_EQ(done.started_at_ms, 111);
  EXPECT_EQ(done.finished_at_ms, 222);
  EXPECT_EQ(done.lease.owner, "");
  EXPECT_EQ(done.last_event_seq, 3);
  EXPECT_TRUE(store_->list_leased()->empty());
  // The released lease fences later commits by the old holder.
  auto late = store_->commit(commit_for(leased));
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.error().code, "lease_lost");
}

TEST_P(StoreTest, LogsKeepTheirAppendOrderPerExecution) {
  // Two executions committing logs in turns, several per commit: each reads back its own, in
  // the order they were appended (SQLite numbers them per execution, PostgreSQL globally).
  auto e1 = create();
  auto e2 = create();
  auto l1 = claim("w", 60000, wall_ms());
  auto l2 = claim("w", 60000, wall_ms());
  int64_t seq1 = 0, seq2 = 0;
  for (int round = 0; round < 3; ++round) {
    for (auto* lease : {&l1, &l2}) {
      Commit c = commit_for(*lease);
      const std::string tag = lease->id.substr(lease->id.size() - 4) + "-" + std::to_string(round);
      c.logs = {node_log("a", tag + "-first"), node_log("b", tag + "-second")};
      c.events = {event(lease == &l1 ? ++seq1 : ++seq2)};
      ASSERT_OK(store_->commit(c));
    }
  }
  for (const auto& lease : {l1, l2}) {
    auto logs = store_->node_logs(lease.id);
    ASSERT_OK(logs);
    ASSERT_EQ(logs->size(), 6u);
    const std::string tag = lease.id.substr(lease.id.size() - 4);
    for (int i = 0; i < 6; ++i) {
      EXPECT_EQ((*logs)[i].execution_id, lease.id);
      EXPECT_EQ((*logs)[i].lines, tag + "-" + std::to_string(i / 2) + (i % 2 ? "-second" : "-first"));
    }
  }
}

TEST_P(StoreTest, TheHistoryMigrationKeepsWhatVersion3Stored) {
  TestDb fresh(backend());
  // Migration 4 fails (and rolls back) after its statements: the database stays at version 3.
  auto failed = fresh.open(Json::object({{"test_fail_migration", 4}}));
  ASSERT_FALSE(failed.ok());
  {
    auto s = fresh.inspect();
    ASSERT_EQ(schema_version(*s), 3);
    // Rows as the version 3 code wrote them; the other execution's log sits between e1's two.
    for (const char* id : {"e1", "e2"}) {
      *s << "INSERT INTO executions (id, status, definition, input, output, error, created_at,"
            " updated_at, lease_owner, lease_epoch, last_event_seq)"
            " VALUES ('" + std::string(id) + "', 'running', '{}', 'null', 'null', 'null', 1, 1, 'w', 1, 2)";
    }
    *s << "INSERT INTO node_runs (execution_id, node_key, node_id, scope, status, attempt, output,"
          " error, park, started_at, finished_at)"
          " VALUES ('e1', 'a', 'a', '', 'succeeded', 1, '{\"x\":1}', 'null', 'null', 5, 6)";
    for (const char* row : {"'e1', 'a', 'first'", "'e2', 'z', 'other'", "'e1', 'b', 'second'"}) {
      *s << "INSERT INTO node_logs (execution_id, node_key, lines, node_id, attempt, status, started_at,"
            " finished_at, duration_us, input, output, error)"
            " VALUES (" + std::string(row) + ", 'n', 1, 'succeeded', 0, 0, 7, 'null', 'null', 'null')";
    }
    *s << "INSERT INTO events (execution_id, seq, type, data, ts)"
          " VALUES ('e1', 1, 'node_start', '{}', 3), ('e1', 2, 'node_complete', '{\"n\":2}', 4)";
  }
  auto opened = fresh.open();
  ASSERT_OK(opened);
  auto store = std::move(opened).value();
  {
    auto s = fresh.inspect();
    EXPECT_EQ(schema_version(*s), kLatest);
  }
  auto runs = store->node_runs("e1");
  ASSERT_OK(runs);
  ASSERT_EQ(runs->size(), 1u);
  EXPECT_EQ((*runs)[0].output, Json::object({{"x", 1}}));
  EXPECT_EQ((*runs)[0].finished_at_ms, 6);
  auto events = store->events("e1", 0, 0);
  ASSERT_OK(events);
  ASSERT_EQ(events->size(), 2u);
  EXPECT_EQ((*events)[1].data, Json::object({{"n", 2}}));
  // New logs go after the migrated ones.
  Commit c;
  c.execution_id = "e1";
  c.lease = {"w", 1};
  c.logs = {node_log("c", "third")};
  c.events = {event(3)};
  ASSERT_OK(store->commit(c));
  auto logs = store->node_logs("e1");
  ASSERT_OK(logs);
  ASSERT_EQ(logs->size(), 3u);
  EXPECT_EQ((*logs)[0].lines, "first");
  EXPECT_EQ((*logs)[1].lines, "second");
  EXPECT_EQ((*logs)[2].lines, "third");
  EXPECT_EQ((*logs)[1].duration_us, 7);
  auto other = store->node_logs("e2");
  ASSERT_OK(other);
  ASSERT_EQ(other->size(), 1u);
  EXPECT_EQ((*other)[0].lines, "other");
}

TEST_P(StoreTest, AStatementFailingMidCommitRollsBackAndTheConnectionsStayUsable) {
  // The database refuses one event type; a commit carrying it fails after its fenced update and
  // run upserts went out, so the whole transaction must roll back. Prepared statements are
  // cached per connection: every pooled connection must keep working afterwards.
  {
    auto s = db_->inspect();
    if (sqlite()) {
      *s << "CREATE TRIGGER no_boom BEFORE INSERT ON events WHEN NEW.type = 'boom'"
            " BEGIN SELECT RAISE(ABORT, 'boom refused'); END";
    } else {
      *s << "ALTER TABLE events ADD CONSTRAINT no_boom CHECK (type <> 'boom')";
    }
  }
  auto e = create();
  auto leased = claim("w", 60000, wall_ms());
  int64_t seq = 0;
  for (int round = 0; round < 6; ++round) {  // more rounds than pooled connections
    Commit bad = commit_for(leased);
    bad.runs = {node_run("r" + std::to_string(round))};
    bad.events = {event(seq + 1, "boom")};
    bad.execution = ExecutionUpdate{};
    bad.execution->status = ExecStatus::Succeeded;
    auto refused = store_->commit(bad);
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.error().code, "storage_error") << refused.error().message;

    Commit good = commit_for(leased);
    good.events = {event(++seq)};
    ASSERT_OK(store_->commit(good));
    ASSERT_OK(store_->get_execution(e.id));
  }
  auto after = get(e.id);
  EXPECT_EQ(after.status, ExecStatus::Running);  // no update of a refused commit survived
  EXPECT_EQ(after.last_event_seq, seq);
  auto runs = store_->node_runs(e.id);
  ASSERT_OK(runs);
  EXPECT_TRUE(runs->empty());
}

TEST_P(StoreTest, AReadLeavesNoSnapshotBehind) {
  // Queries are prepared once per connection and reused; one that stopped after its first row
  // must not keep a read transaction open (in WAL mode that would pin an old snapshot and stop
  // checkpoints from finishing).
  auto e = create();
  ASSERT_OK(store_->get_execution(e.id));
  ASSERT_OK(store_->list_executions(ExecutionFilter{}));
  if (!sqlite()) return;  // PostgreSQL fetches results whole: nothing stays open
  auto s = db_->inspect();
  int busy = -1, log = -1, checkpointed = -1;
  *s << "PRAGMA wal_checkpoint(TRUNCATE)", soci::into(busy), soci::into(log), soci::into(checkpointed);
  EXPECT_EQ(busy, 0) << "a reader still holds a snapshot";
  EXPECT_EQ(log, 0);
}

TEST_P(StoreTest, CommitWithAnEventGapWritesNothing) {
  auto e = create();
  auto leased = claim("w", 60000, wall_ms());
  Commit gap = commit_for(leased);
  gap.runs = {node_run("a")};
  gap.logs = {node_log("a")};
  gap.events = {event(1), event(3)};
  gap.execution = ExecutionUpdate{};
  gap.execution->status = ExecStatus::Failed;
  auto r = store_->commit(gap);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "conflict");
  EXPECT_TRUE(store_->node_runs(e.id)->empty());
  EXPECT_TRUE(store_->node_logs(e.id)->empty());
  EXPECT_TRUE(store_->events(e.id, 0, 0)->empty());
  auto after = get(e.id);
  EXPECT_EQ(after.status, ExecStatus::Running);
  EXPECT_EQ(after.last_event_seq, 0);

  // Duplicates are refused too: seq 1 twice.
  Commit one = commit_for(leased);
  one.events = {event(1)};
  ASSERT_OK(store_->commit(one));
  auto dup = store_->commit(one);
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().code, "conflict");
  // And a stream that does not start right after the last persisted seq.
  Commit skip = commit_for(leased);
  skip.events = {event(3)};
  EXPECT_EQ(store_->commit(skip).error().code, "conflict");
  EXPECT_EQ(store_->events(e.id, 0, 0)->size(), 1u);
}

TEST_P(StoreTest, EventsAreOrderedAndPagedAfterASeq) {
  auto e = create();
  auto leased = claim("w", 60000, wall_ms());
  int64_t seq = 0;
  for (int batch : {3, 5, 2}) {
    Commit c = commit_for(leased);
    for (int i = 0; i < batch; ++i) {
      ++seq;
      c.events.push_back(event(seq, "node_complete", Json::object({{"n", seq}})));
    }
    ASSERT_OK(store_->commit(c));
  }
  auto page = store_->events(e.id, 0, 4);
  ASSERT_OK(page);
  ASSERT_EQ(page->size(), 4u);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ((*page)[i].seq, i + 1);
    EXPECT_EQ((*page)[i].data, Json::object({{"n", i + 1}}));
    EXPECT_EQ((*page)[i].execution_id, e.id);
    EXPECT_GT((*page)[i].ts_ms, 0);
  }
  auto next = store_->events(e.id, 4, 4);
  ASSERT_OK(next);
  ASSERT_EQ(next->size(), 4u);
  EXPECT_EQ(next->front().seq, 5);
  EXPECT_EQ(next->back().seq, 8);
  auto rest = store_->events(e.id, 8, 0);
  ASSERT_OK(rest);
  ASSERT_EQ(rest->size(), 2u);
  EXPECT_EQ(rest->back().seq, 10);
  EXPECT_TRUE(store_->events(e.id, 10, 0)->empty());
  EXPECT_EQ(get(e.id).last_event_seq, 10);
}

TEST_P(StoreTest, LargePayloadsRoundTrip) {
  std::string big(1 << 20, 'x');
  for (size_t i = 0; i < big.size(); i += 97) big[i] = static_cast<char>('a' + i % 26);
  Json payload = Json::object({{"blob", big}, {"list", Json::array({1, 2, 3})}});
  NewExecution ne = new_exec();
  ne.input = payload;
  auto e = store_->create_execution(ne);
  ASSERT_OK(e);
  auto leased = claim("w", 60000, wall_ms());
  Commit c = commit_for(leased);
  c.runs = {node_run("a", Json::object({{"main", payload}}))};
  c.execution = ExecutionUpdate{};
  c.execution->status = ExecStatus::Succeeded;
  c.execution->output = payload;
  ASSERT_OK(store_->commit(c));
  auto got = get(e->id);
  EXPECT_EQ(got.input, payload);
  EXPECT_EQ(got.output, payload);
  auto runs = store_->node_runs(e->id);
  ASSERT_OK(runs);
  ASSERT_EQ(runs->size(), 1u);
  EXPECT_EQ((*runs)[0].output["main"], payload);
}

// ---- control -----------------------------------------------------------------------------------

TEST_P(StoreTest, CancelFinishesIdleExecutionsAndFlagsRunningOnes) {
  auto queued = create();
  ASSERT_OK(store_->request_cancel(queued.id));
  auto c = get(queued.id);
  EXPECT_EQ(c.status, ExecStatus::Cancelled);
  EXPECT_GT(c.finished_at_ms, 0);
  EXPECT_EQ(c.last_event_seq, 1);
  auto ev = store_->events(queued.id, 0, 0);
  ASSERT_OK(ev);
  ASSERT_EQ(ev->size(), 1u);
  EXPECT_EQ((*ev)[0].seq, 1);
  EXPECT_EQ((*ev)[0].type, "workflow_done");
  EXPECT_EQ((*ev)[0].data, Json::object({{"status", "cancelled"}}));
  // Finished: cancelling again is a conflict.
  auto again = store_->request_cancel(queued.id);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, "conflict");

  auto running = create();
  auto leased = claim("w", 60000, wall_ms());
  ASSERT_EQ(leased.id, running.id);
  ASSERT_OK(store_->request_cancel(running.id));
  auto r = get(running.id);
  EXPECT_EQ(r.status, ExecStatus::Running);
  EXPECT_TRUE(r.cancel_requested);
  EXPECT_EQ(r.lease.owner, "w");

  // A parked one continues its event stream.
  auto parked = create();
  auto pl = claim("w", 60000, wall_ms());
  Commit park = commit_for(pl);
  park.events = {event(1, "execution_started"), event(2, "execution_parked")};
  park.execution = ExecutionUpdate{};
  park.execution->status = ExecStatus::Parked;
  park.execution->release_lease = true;
  ASSERT_OK(store_->commit(park));
  ASSERT_OK(store_->request_cancel(parked.id));
  EXPECT_EQ(get(parked.id).status, ExecStatus::Cancelled);
  auto pev = store_->events(parked.id, 2, 0);
  ASSERT_OK(pev);
  ASSERT_EQ(pev->size(), 1u);
  EXPECT_EQ((*pev)[0].seq, 3);

  auto missing = store_->request_cancel("nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, "not_found");
}

TEST_P(StoreTest, AParkedExecutionWithACancelRequestIsClaimableAtOnce) {
  const int64_t now = wall_ms();
  auto q = create();
  auto leased = claim("w", 60000, now);
  ASSERT_EQ(leased.id, q.id);
  // The cancel arrives while the worker runs it; the worker then parks it (a long timer).
  ASSERT_OK(store_->request_cancel(q.id));
  Commit park = commit_for(leased);
  park.execution = ExecutionUpdate{};
  park.execution->status = ExecStatus::Parked;
  park.execution->wake_at_ms = now + 3600000;
  park.execution->release_lease = true;
  ASSERT_OK(store_->commit(park));
  auto again = claim("w2", 60000, now);
  EXPECT_EQ(again.id, q.id) << "a cancelled, parked execution must not wait for its timer";
  EXPECT_TRUE(again.cancel_requested);
}

TEST_P(StoreTest, PausedExecutionsAreNotClaimedUntilResumed) {
  const int64_t now = wall_ms();
  auto q = create();
  ASSERT_OK(store_->set_paused(q.id, true));
  EXPECT_TRUE(get(q.id).pause_requested);
  // Nobody runs a queued execution: it is paused at once, with its event.
  EXPECT_EQ(get(q.id).status, ExecStatus::Paused);
  auto pev = store_->events(q.id, 0, 10);
  ASSERT_OK(pev);
  ASSERT_EQ(pev->size(), 1u);
  EXPECT_EQ((*pev)[0].type, "execution_paused");
  EXPECT_EQ(get(q.id).last_event_seq, 1);
  EXPECT_TRUE(nothing_to_claim(now));
  ASSERT_OK(store_->set_paused(q.id, false));
  EXPECT_EQ(get(q.id).status, ExecStatus::Queued);
  auto leased = claim("w", 60000, now);
  EXPECT_EQ(leased.id, q.id);

  // Running: the flag is for its worker; the lease is untouched.
  ASSERT_OK(store_->set_paused(q.id, true));
  auto r = get(q.id);
  EXPECT_TRUE(r.pause_requested);
  EXPECT_EQ(r.status, ExecStatus::Running);
  // The worker honours it: commits "paused" and lets go of the lease.
  Commit pause = commit_for(leased);
  pause.events = {event(2, "execution_paused")};
  pause.execution = ExecutionUpdate{};
  pause.execution->status = ExecStatus::Paused;
  pause.execution->release_lease = true;
  ASSERT_OK(store_->commit(pause));
  EXPECT_TRUE(nothing_to_claim(now));
  ASSERT_OK(store_->set_paused(q.id, false));
  auto resumed = get(q.id);
  EXPECT_EQ(resumed.status, ExecStatus::Queued);
  EXPECT_FALSE(resumed.pause_requested);
  auto again = claim("w2", 60000, now);
  EXPECT_EQ(again.id, q.id);
  EXPECT_EQ(again.lease.epoch, 2);

  // Parked and due, but paused: stays put until resumed.
  Commit park = commit_for(again);
  park.execution = ExecutionUpdate{};
  park.execution->status = ExecStatus::Parked;
  park.execution->wake_at_ms = now + 10;
  park.execution->release_lease = true;
  ASSERT_OK(store_->commit(park));
  ASSERT_OK(store_->set_paused(q.id, true));
  EXPECT_EQ(get(q.id).status, ExecStatus::Paused);  // parked: nobody runs it, paused at once
  EXPECT_TRUE(nothing_to_claim(now + 100));
  ASSERT_OK(store_->set_paused(q.id, false));
  EXPECT_EQ(claim("w3", 60000, now + 100).id, q.id);

  // Finished executions cannot be paused; unknown ones do not exist.
  auto done = create();
  ASSERT_OK(store_->request_cancel(done.id));
  EXPECT_EQ(store_->set_paused(done.id, true).error().code, "conflict");
  EXPECT_EQ(store_->set_paused("nope", true).error().code, "not_found");
}

// ---- plugin states -----------------------------------------------------------------------------

TEST_P(StoreTest, PluginStatesPersist) {
  auto empty = store_->load_plugin_states();
  ASSERT_OK(empty);
  EXPECT_TRUE(empty->empty());
  ASSERT_OK(store_->save_plugin_state("core", true));
  ASSERT_OK(store_->save_plugin_state("slack", false));
  ASSERT_OK(store_->save_plugin_state("core", false));
  auto states = store_->load_plugin_states();
  ASSERT_OK(states);
  EXPECT_EQ(*states, (std::map<std::string, bool>{{"core", false}, {"slack", false}}));
  ASSERT_OK(store_->save_plugin_state("slack", true));
  // Another store on the same database sees them (they are persisted, not cached).
  auto other = db_->open();
  ASSERT_OK(other);
  auto seen = (*other)->load_plugin_states();
  ASSERT_OK(seen);
  EXPECT_EQ(seen->at("slack"), true);
}

TEST_P(StoreTest, UnknownOperationIsUnsupported) {
  auto* plugin_store = dynamic_cast<PluginStore*>(store_.get());
  ASSERT_NE(plugin_store, nullptr);
  auto r = plugin_store->call("drop_everything", Json::object());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "unsupported");
  auto bad = plugin_store->call("get_execution", Json::object({{"id", 5}}));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, "invalid_argument");
}

// ---- schema v5: the accounts migration -----------------------------------------------------------

WebhookRoute route(std::string path, std::string node_id, std::string method = "POST",
                   std::string auth = "secret_path") {
  WebhookRoute r;
  r.path = std::move(path);
  r.node_id = std::move(node_id);
  r.method = std::move(method);
  r.auth = std::move(auth);
  return r;
}

TEST_P(StoreTest, TheAccountsMigrationKeepsWhatVersion4Stored) {
  TestDb fresh(backend());
  // Migration 5 fails (and rolls back) after its statements: the database stays at version 4.
  auto failed = fresh.open(Json::object({{"test_fail_migration", 5}}));
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.error().message.find("migration 5"), std::string::npos) << failed.error().message;
  {
    auto s = fresh.inspect();
    ASSERT_EQ(schema_version(*s), 4);
    for (const char* t : {"users", "sessions", "api_keys", "webhook_routes", "workflow_deletions"}) {
      EXPECT_FALSE(table_exists(*s, sqlite(), t)) << "half of migration 5 survived: " << t;
    }
    // Rows as the version 4 code wrote them.
    *s << "INSERT INTO workflows (id, version, owner_id, name, definition, created_at) VALUES"
          " ('wf', 1, 'alice', 'first', '{\"n\":1}', 100), ('wf', 2, 'alice', 'second', '{\"n\":2}', 200)";
    *s << "INSERT INTO executions (id, workflow_id, workflow_version, owner_id, status, definition,"
          " input, output, error, created_at, updated_at)"
          " VALUES ('e1', 'wf', 2, 'alice', 'succeeded', '{}', 'null', '{\"ok\":true}', 'null', 1, 1)";
  }
  auto opened = fresh.open();
  ASSERT_OK(opened);
  auto store = std::move(opened).value();
  {
    auto s = fresh.inspect();
    EXPECT_EQ(schema_version(*s), kLatest);
    for (const char* t : {"users", "sessions", "api_keys", "webhook_routes", "workflow_deletions"}) {
      EXPECT_TRUE(table_exists(*s, sqlite(), t)) << t;
    }
  }
  auto wf = store->get_workflow("alice", "wf");
  ASSERT_OK(wf);
  EXPECT_EQ(wf->version, 2);
  EXPECT_EQ(wf->definition, Json::object({{"n", 2}}));
  auto listed = store->list_workflows(WorkflowFilter{"alice", 50, ""});
  ASSERT_OK(listed);
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].latest_version, 2);
  EXPECT_EQ((*listed)[0].name, "second");
  EXPECT_EQ((*listed)[0].created_at_ms, 100);
  EXPECT_EQ((*listed)[0].updated_at_ms, 200);
  auto versions = store->list_workflow_versions("alice", "wf");
  ASSERT_OK(versions);
  EXPECT_EQ(versions->size(), 2u);
  auto e = store->get_execution("e1");
  ASSERT_OK(e);
  EXPECT_EQ(e->output, Json::object({{"ok", true}}));
  auto counts = store->count_executions_by_status();
  ASSERT_OK(counts);
  EXPECT_EQ(*counts, (std::map<std::string, int64_t>{{"succeeded", 1}}));
  // The new tables work.
  UserRecord u;
  u.email = "a@example.com";
  ASSERT_OK(store->create_user(u));
  ASSERT_OK(store->set_webhook_routes("alice", "wf", {route("/hook", "trigger")}));
}

// ---- schema v5: workflow listing and deletion -------------------------------------------------

TEST_P(StoreTest, ListWorkflowsShowsTheLatestVersionsOfTheOwnerPagedById) {
  ASSERT_OK(store_->save_workflow("alice", "wf-b", "b1", Json::object({{"v", 1}})));
  ASSERT_OK(store_->save_workflow("alice", "wf-a", "a1", Json::object()));
  ASSERT_OK(store_->save_workflow("alice", "wf-c", "c1", Json::object()));
  auto b2 = store_->save_workflow("alice", "wf-b", "b2", Json::object({{"v", 2}}));
  ASSERT_OK(b2);
  ASSERT_OK(store_->save_workflow("bob", "wf-d", "d1", Json::object()));

  auto all = store_->list_workflows(WorkflowFilter{"alice", 0, ""});
  ASSERT_OK(all);
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].id, "wf-a");
  EXPECT_EQ((*all)[1].id, "wf-b");
  EXPECT_EQ((*all)[2].id, "wf-c");
  const WorkflowSummary& b = (*all)[1];
  EXPECT_EQ(b.owner_id, "alice");
  EXPECT_EQ(b.name, "b2");
  EXPECT_EQ(b.latest_version, 2);
  auto b1 = store_->get_workflow("alice", "wf-b", 1);
  ASSERT_OK(b1);
  EXPECT_EQ(b.created_at_ms, b1->created_at_ms);
  EXPECT_EQ(b.updated_at_ms, b2->created_at_ms);
  EXPECT_EQ((*all)[0].latest_version, 1);

  auto page1 = store_->list_workflows(WorkflowFilter{"alice", 2, ""});
  ASSERT_OK(page1);
  ASSERT_EQ(page1->size(), 2u);
  EXPECT_EQ(page1->back().id, "wf-b");
  auto page2 = store_->list_workflows(WorkflowFilter{"alice", 2, page1->back().id});
  ASSERT_OK(page2);
  ASSERT_EQ(page2->size(), 1u);
  EXPECT_EQ((*page2)[0].id, "wf-c");
  auto page3 = store_->list_workflows(WorkflowFilter{"alice", 2, "wf-c"});
  ASSERT_OK(page3);
  EXPECT_TRUE(page3->empty());

  auto bobs = store_->list_workflows(WorkflowFilter{"bob", 50, ""});
  ASSERT_OK(bobs);
  ASSERT_EQ(bobs->size(), 1u);
  EXPECT_EQ((*bobs)[0].id, "wf-d");
  auto nobody = store_->list_workflows(WorkflowFilter{"carol", 50, ""});
  ASSERT_OK(nobody);
  EXPECT_TRUE(nobody->empty());
}

TEST_P(StoreTest, ListWorkflowVersionsIsAscendingAndScopedByOwner) {
  auto v1 = store_->save_workflow("alice", "", "one", Json::object({{"n", 1}}));
  ASSERT_OK(v1);
  ASSERT_OK(store_->save_workflow("alice", v1->id, "two", Json::object({{"n", 2}})));
  ASSERT_OK(store_->save_workflow("alice", v1->id, "three", Json::object({{"n", 3}})));
  auto versions = store_->list_workflow_versions("alice", v1->id);
  ASSERT_OK(versions);
  ASSERT_EQ(versions->size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ((*versions)[i].id, v1->id);
    EXPECT_EQ((*versions)[i].owner_id, "alice");
    EXPECT_EQ((*versions)[i].version, static_cast<int64_t>(i + 1));
    EXPECT_EQ((*versions)[i].definition, Json::object({{"n", static_cast<int>(i + 1)}}));
  }
  EXPECT_EQ((*versions)[2].name, "three");
  auto other = store_->list_workflow_versions("bob", v1->id);
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.error().code, "not_found");
  auto missing = store_->list_workflow_versions("alice", "no-such-workflow");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, "not_found");
}

TEST_P(StoreTest, ADeletedWorkflowIsInvisibleAndLosesItsWebhookRoutes) {
  auto wf = store_->save_workflow("alice", "", "w", Json::object({{"n", 1}}));
  ASSERT_OK(wf);
  ASSERT_OK(store_->save_workflow("alice", wf->id, "w", Json::object({{"n", 2}})));
  auto keep = store_->save_workflow("alice", "", "keep", Json::object());
  ASSERT_OK(keep);
  ASSERT_OK(store_->set_webhook_routes("alice", wf->id,
                                       {route("/w/1", "t1"), route("/w/2", "t2")}));
  ASSERT_OK(store_->set_webhook_routes("alice", keep->id, {route("/keep", "t")}));
  NewExecution ne = new_exec("alice");
  ne.workflow_id = wf->id;
  auto exec = create(ne);

  // Someone else cannot delete it.
  auto hijack = store_->delete_workflow("bob", wf->id);
  ASSERT_FALSE(hijack.ok());
  EXPECT_EQ(hijack.error().code, "not_found");
  ASSERT_OK(store_->get_workflow("alice", wf->id));

  ASSERT_OK(store_->delete_workflow("alice", wf->id));
  for (int64_t version : {0, 1, 2}) {
    auto got = store_->get_workflow("alice", wf->id, version);
    ASSERT_FALSE(got.ok()) << "version " << version;
    EXPECT_EQ(got.error().code, "not_found");
  }
  auto listed = store_->list_workflows(WorkflowFilter{"alice", 50, ""});
  ASSERT_OK(listed);
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].id, keep->id);
  auto versions = store_->list_workflow_versions("alice", wf->id);
  ASSERT_FALSE(versions.ok());
  EXPECT_EQ(versions.error().code, "not_found");
  auto saved = store_->save_workflow("alice", wf->id, "again", Json::object());
  ASSERT_FALSE(saved.ok());
  EXPECT_EQ(saved.error().code, "not_found");
  auto twice = store_->delete_workflow("alice", wf->id);
  ASSERT_FALSE(twice.ok());
  EXPECT_EQ(twice.error().code, "not_found");

  // Its routes went with it (in the same transaction); the other workflow's stayed.
  auto gone = store_->find_webhook_route("/w/1");
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().code, "not_found");
  auto routes = store_->list_webhook_routes("alice", "");
  ASSERT_OK(routes);
  ASSERT_EQ(routes->size(), 1u);
  EXPECT_EQ((*routes)[0].path, "/keep");
  auto reroute = store_->set_webhook_routes("alice", wf->id, {route("/w/1", "t1")});
  ASSERT_FALSE(reroute.ok());
  EXPECT_EQ(reroute.error().code, "not_found");

  // The versions stay for the executions that ran them.
  auto e = store_->get_execution(exec.id);
  ASSERT_OK(e);
  EXPECT_EQ(e->workflow_id, wf->id);
  auto s = db_->inspect();
  long long rows = 0;
  *s << "SELECT COUNT(*) FROM workflows WHERE id = :id", soci::use(wf->id), soci::into(rows);
  EXPECT_EQ(rows, 2);
  auto unknown = store_->delete_workflow("alice", "no-such-workflow");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().code, "not_found");
}

// ---- schema v5: webhook routes ------------------------------------------------------------------

TEST_P(StoreTest, WebhookRoutesAreReplacedPerWorkflowAndPathsAreUniqueAcrossWorkflows) {
  auto wf1 = store_->save_workflow("alice", "", "one", Json::object());
  auto wf2 = store_->save_workflow("alice", "", "two", Json::object());
  auto wf3 = store_->save_workflow("bob", "", "three", Json::object());
  ASSERT_OK(wf1);
  ASSERT_OK(wf2);
  ASSERT_OK(wf3);
  WebhookRoute a = route("/hooks/a", "trigger_a", "", "secret_path");
  a.workflow_id = a.owner_id = "ignored";
  WebhookRoute b = route("/hooks/b", "trigger_b", "GET", "hmac");
  ASSERT_OK(store_->set_webhook_routes("alice", wf1->id, {a, b}));

  auto found = store_->find_webhook_route("/hooks/a");
  ASSERT_OK(found);
  EXPECT_EQ(found->path, "/hooks/a");
  EXPECT_EQ(found->workflow_id, wf1->id);  // from the arguments, not the route
  EXPECT_EQ(found->owner_id, "alice");
  EXPECT_EQ(found->node_id, "trigger_a");
  EXPECT_EQ(found->method, "POST");  // empty = the default
  EXPECT_EQ(found->auth, "secret_path");
  EXPECT_GT(found->created_at_ms, 0);
  auto b_before = store_->find_webhook_route("/hooks/b");
  ASSERT_OK(b_before);
  EXPECT_EQ(b_before->method, "GET");

  // Replacing: /a goes, /b stays (keeping its creation time), /c comes.
  WebhookRoute c = route("/hooks/c", "trigger_c", "ANY", "hmac");
  b.node_id = "trigger_b2";
  ASSERT_OK(store_->set_webhook_routes("alice", wf1->id, {b, c}));
  auto list1 = store_->list_webhook_routes("alice", wf1->id);
  ASSERT_OK(list1);
  ASSERT_EQ(list1->size(), 2u);
  EXPECT_EQ((*list1)[0].path, "/hooks/b");
  EXPECT_EQ((*list1)[0].node_id, "trigger_b2");
  EXPECT_EQ((*list1)[0].created_at_ms, b_before->created_at_ms);
  EXPECT_EQ((*list1)[1].path, "/hooks/c");
  EXPECT_EQ(store_->find_webhook_route("/hooks/a").error().code, "not_found");

  // A path of another workflow: conflict naming the path, and nothing of the call is written.
  WebhookRoute d = route("/hooks/d", "trigger_d");
  auto clash = store_->set_webhook_routes("alice", wf2->id, {d, c});
  ASSERT_FALSE(clash.ok());
  EXPECT_EQ(clash.error().code, "conflict");
  EXPECT_NE(clash.error().message.find("/hooks/c"), std::string::npos) << clash.error().message;
  EXPECT_EQ(store_->find_webhook_route("/hooks/d").error().code, "not_found");
  EXPECT_EQ(store_->find_webhook_route("/hooks/c")->workflow_id, wf1->id);
  // The same across owners.
  auto across = store_->set_webhook_routes("bob", wf3->id, {b});
  ASSERT_FALSE(across.ok());
  EXPECT_EQ(across.error().code, "conflict");
  // An existing route of wf2 survives its failed replacement.
  ASSERT_OK(store_->set_webhook_routes("alice", wf2->id, {d}));
  ASSERT_FALSE(store_->set_webhook_routes("alice", wf2->id, {route("/hooks/e", "x"), c}).ok());
  EXPECT_EQ(store_->find_webhook_route("/hooks/d")->workflow_id, wf2->id);
  EXPECT_EQ(store_->find_webhook_route("/hooks/e").error().code, "not_found");

  auto all = store_->list_webhook_routes("alice", "");
  ASSERT_OK(all);
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].path, "/hooks/b");
  EXPECT_EQ((*all)[2].path, "/hooks/d");
  auto bobs = store_->list_webhook_routes("bob", "");
  ASSERT_OK(bobs);
  EXPECT_TRUE(bobs->empty());
  // Another owner cannot set (or see) routes of alice's workflow.
  auto foreign = store_->set_webhook_routes("bob", wf1->id, {route("/hooks/x", "x")});
  ASSERT_FALSE(foreign.ok());
  EXPECT_EQ(foreign.error().code, "not_found");
  auto foreign_list = store_->list_webhook_routes("bob", wf1->id);
  ASSERT_OK(foreign_list);
  EXPECT_TRUE(foreign_list->empty());
  auto no_workflow = store_->set_webhook_routes("alice", "no-such-workflow", {});
  ASSERT_FALSE(no_workflow.ok());
  EXPECT_EQ(no_workflow.error().code, "not_found");

  // Malformed: the same path twice, an empty path.
  auto dup = store_->set_webhook_routes("alice", wf1->id, {c, c});
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().code, "invalid_argument");
  auto empty_path = store_->set_webhook_routes("alice", wf1->id, {WebhookRoute{}});
  ASSERT_FALSE(empty_path.ok());
  EXPECT_EQ(empty_path.error().code, "invalid_argument");

  // No routes: the workflow's routes are cleared, and a freed path can be taken by another.
  ASSERT_OK(store_->set_webhook_routes("alice", wf1->id, {}));
  auto cleared = store_->list_webhook_routes("alice", wf1->id);
  ASSERT_OK(cleared);
  EXPECT_TRUE(cleared->empty());
  ASSERT_OK(store_->set_webhook_routes("bob", wf3->id, {b}));
  EXPECT_EQ(store_->find_webhook_route("/hooks/b")->owner_id, "bob");
}

TEST_P(StoreTest, ConcurrentRouteClaimsOnOnePathHaveOneWinner) {
  constexpr int kWorkflows = 4;
  std::vector<std::string> ids;
  for (int i = 0; i < kWorkflows; ++i) {
    auto wf = store_->save_workflow("alice", "", "w", Json::object());
    ASSERT_OK(wf);
    ids.push_back(wf->id);
  }
  std::vector<Status> results(kWorkflows);
  std::vector<std::thread> threads;
  for (int i = 0; i < kWorkflows; ++i) {
    threads.emplace_back([&, i] {
      results[i] = store_->set_webhook_routes(
          "alice", ids[i], {route("/own/" + std::to_string(i), "t"), route("/shared", "t")});
    });
  }
  for (auto& t : threads) t.join();
  int winners = 0;
  for (int i = 0; i < kWorkflows; ++i) {
    if (results[i].ok()) {
      ++winners;
      EXPECT_EQ(store_->find_webhook_route("/shared")->workflow_id, ids[i]);
    } else {
      EXPECT_EQ(results[i].error().code, "conflict") << results[i].error().message;
      EXPECT_EQ(store_->find_webhook_route("/own/" + std::to_string(i)).error().code, "not_found");
    }
  }
  EXPECT_EQ(winners, 1);
}

TEST_P(StoreTest, RoutesSetWhileTheWorkflowIsDeletedDoNotSurviveIt) {
  // Either order is fine, but a deleted workflow must never be left with routes.
  for (int round = 0; round < 20; ++round) {
    auto wf = store_->save_workflow("alice", "", "w", Json::object());
    ASSERT_OK(wf);
    const std::string path = "/race/" + std::to_string(round);
    Status set_result, delete_result;
    std::thread setter([&] { set_result = store_->set_webhook_routes("alice", wf->id, {route(path, "t")}); });
    std::thread deleter([&] { delete_result = store_->delete_workflow("alice", wf->id); });
    setter.join();
    deleter.join();
    ASSERT_OK(delete_result);
    if (!set_result.ok()) {
      EXPECT_EQ(set_result.error().code, "not_found") << set_result.error().message;
    }
    auto left = store_->find_webhook_route(path);
    ASSERT_FALSE(left.ok()) << "round " << round << ": a deleted workflow kept its route";
    EXPECT_EQ(left.error().code, "not_found");
  }
}

// ---- schema v5: users ---------------------------------------------------------------------------

UserRecord user(const std::string& email, const std::string& id = "") {
  UserRecord u;
  u.id = id;
  u.email = email;
  u.password_hash = "$argon2id$v=19$m=65536,t=2,p=1$c2FsdA$aGFzaA";
  return u;
}

TEST_P(StoreTest, UserEmailsAreLowerCasedAndUnique) {
  auto count0 = store_->count_users();
  ASSERT_OK(count0);
  EXPECT_EQ(*count0, 0);
  auto alice = store_->create_user(user("Alice@Example.COM"));
  ASSERT_OK(alice);
  EXPECT_EQ(alice->id.size(), 26u);
  EXPECT_EQ(alice->email, "alice@example.com");
  EXPECT_EQ(alice->role, "user");
  EXPECT_EQ(alice->tier, "free");
  EXPECT_FALSE(alice->disabled);
  EXPECT_GT(alice->created_at_ms, 0);
  EXPECT_EQ(alice->updated_at_ms, alice->created_at_ms);

  auto found = store_->find_user_by_email("ALICE@example.com");
  ASSERT_OK(found);
  EXPECT_EQ(found->id, alice->id);
  EXPECT_EQ(found->password_hash, alice->password_hash);
  auto got = store_->get_user(alice->id);
  ASSERT_OK(got);
  EXPECT_EQ(to_json(*got), to_json(*alice));

  auto taken = store_->create_user(user("alice@EXAMPLE.com"));
  ASSERT_FALSE(taken.ok());
  EXPECT_EQ(taken.error().code, "conflict");
  auto same_id = store_->create_user(user("other@example.com", alice->id));
  ASSERT_FALSE(same_id.ok());
  EXPECT_EQ(same_id.error().code, "conflict");
  auto no_email = store_->create_user(user(""));
  ASSERT_FALSE(no_email.ok());
  EXPECT_EQ(no_email.error().code, "invalid_argument");

  UserRecord admin = user("root@example.com", "u-admin");
  admin.role = "admin";
  admin.tier = "enterprise";
  admin.disabled = true;
  auto created = store_->create_user(admin);
  ASSERT_OK(created);
  EXPECT_EQ(created->id, "u-admin");
  auto admin_back = store_->get_user("u-admin");
  ASSERT_OK(admin_back);
  EXPECT_EQ(admin_back->role, "admin");
  EXPECT_EQ(admin_back->tier, "enterprise");
  EXPECT_TRUE(admin_back->disabled);

  EXPECT_EQ(store_->get_user("nobody").error().code, "not_found");
  EXPECT_EQ(store_->find_user_by_email("nobody@example.com").error().code, "not_found");
  auto count = store_->count_users();
  ASSERT_OK(count);
  EXPECT_EQ(*count, 2);
}

TEST_P(StoreTest, ListUsersPagesById) {
  for (const char* id : {"u3", "u1", "u2", "u4"}) {
    ASSERT_OK(store_->create_user(user(std::string(id) + "@example.com", id)));
  }
  auto page1 = store_->list_users(3, "");
  ASSERT_OK(page1);
  ASSERT_EQ(page1->size(), 3u);
  EXPECT_EQ((*page1)[0].id, "u1");
  EXPECT_EQ((*page1)[2].id, "u3");
  EXPECT_EQ((*page1)[0].email, "u1@example.com");
  auto page2 = store_->list_users(3, page1->back().id);
  ASSERT_OK(page2);
  ASSERT_EQ(page2->size(), 1u);
  EXPECT_EQ((*page2)[0].id, "u4");
  auto all = store_->list_users(0, "");  // 0 = the default page size
  ASSERT_OK(all);
  EXPECT_EQ(all->size(), 4u);
}

SessionRecord session(const std::string& id, const std::string& user_id, const std::string& hash,
                      int64_t expires_at_ms) {
  SessionRecord s;
  s.id = id;
  s.user_id = user_id;
  s.refresh_hash = hash;
  s.created_at_ms = 1000;
  s.expires_at_ms = expires_at_ms;
  return s;
}

TEST_P(StoreTest, UpdateUserChangesTheGivenFieldsAndCanRevokeEverySession) {
  auto alice = store_->create_user(user("alice@example.com"));
  auto bob = store_->create_user(user("bob@example.com"));
  ASSERT_OK(alice);
  ASSERT_OK(bob);
  ASSERT_OK(store_->create_session(session("s1", alice->id, "h1", 1'000'000)));
  ASSERT_OK(store_->create_session(session("s2", alice->id, "h2", 1'000'000)));
  ASSERT_OK(store_->create_session(session("s3", bob->id, "h3", 1'000'000)));

  UserUpdate promote;
  promote.role = "admin";
  promote.tier = "pro";
  auto promoted = store_->update_user(alice->id, promote);
  ASSERT_OK(promoted);
  EXPECT_EQ(promoted->role, "admin");
  EXPECT_EQ(promoted->tier, "pro");
  EXPECT_EQ(promoted->password_hash, alice->password_hash);  // unset = unchanged
  EXPECT_FALSE(promoted->disabled);
  EXPECT_GE(promoted->updated_at_ms, alice->updated_at_ms);
  EXPECT_EQ(store_->get_session("s1")->revoked_at_ms, 0);

  UserUpdate password;
  password.password_hash = "$argon2id$new";
  password.revoke_sessions = true;
  auto changed = store_->update_user(alice->id, password);
  ASSERT_OK(changed);
  EXPECT_EQ(changed->password_hash, "$argon2id$new");
  EXPECT_EQ(changed->role, "admin");
  for (const char* id : {"s1", "s2"}) {
    auto s = store_->get_session(id);
    ASSERT_OK(s);
    EXPECT_GT(s->revoked_at_ms, 0) << id;
  }
  EXPECT_EQ(store_->get_session("s3")->revoked_at_ms, 0) << "another user's session was revoked";

  UserUpdate disable;
  disable.disabled = true;
  auto disabled = store_->update_user(bob->id, disable);
  ASSERT_OK(disabled);
  EXPECT_TRUE(disabled->disabled);
  EXPECT_EQ(store_->find_user_by_email("bob@example.com")->disabled, true);

  auto missing = store_->update_user("nobody", promote);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, "not_found");
}

// ---- schema v5: sessions ------------------------------------------------------------------------

TEST_P(StoreTest, SessionRotationIsACompareAndSwap) {
  auto alice = store_->create_user(user("alice@example.com"));
  ASSERT_OK(alice);
  ASSERT_OK(store_->create_session(session("s1", alice->id, "h1", 5000)));
  auto s = store_->get_session("s1");
  ASSERT_OK(s);
  EXPECT_EQ(s->user_id, alice->id);
  EXPECT_EQ(s->refresh_hash, "h1");
  EXPECT_EQ(s->previous_hash, "");
  EXPECT_EQ(s->created_at_ms, 1000);
  EXPECT_EQ(s->expires_at_ms, 5000);
  EXPECT_EQ(s->revoked_at_ms, 0);

  ASSERT_OK(store_->rotate_session("s1", "h1", "h2", 9000, 2000));
  s = store_->get_session("s1");
  ASSERT_OK(s);
  EXPECT_EQ(s->refresh_hash, "h2");
  EXPECT_EQ(s->previous_hash, "h1");
  EXPECT_EQ(s->expires_at_ms, 9000);
  EXPECT_EQ(s->refreshed_at_ms, 2000);

  // The old hash again (a replayed refresh token): refused, nothing changes.
  auto stale = store_->rotate_session("s1", "h1", "h3", 10000, 3000);
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.error().code, "conflict");
  EXPECT_EQ(stale.error().message.find("h1"), std::string::npos) << "hashes must not be quoted";
  s = store_->get_session("s1");
  EXPECT_EQ(s->refresh_hash, "h2");
  EXPECT_EQ(s->previous_hash, "h1");

  // Expired at now_ms (the expiry itself counts as expired).
  auto expired = store_->rotate_session("s1", "h2", "h3", 20000, 9000);
  ASSERT_FALSE(expired.ok());
  EXPECT_EQ(expired.error().code, "conflict");
  EXPECT_NE(expired.error().message.find("expired"), std::string::npos) << expired.error().message;
  EXPECT_EQ(store_->get_session("s1")->refresh_hash, "h2");

  // Revoked.
  ASSERT_OK(store_->revoke_session("s1", 4000));
  auto revoked = store_->rotate_session("s1", "h2", "h3", 20000, 4500);
  ASSERT_FALSE(revoked.ok());
  EXPECT_EQ(revoked.error().code, "conflict");
  EXPECT_NE(revoked.error().message.find("revoked"), std::string::npos) << revoked.error().message;
  EXPECT_EQ(store_->get_session("s1")->refresh_hash, "h2");

  auto unknown = store_->rotate_session("nope", "h1", "h2", 9000, 2000);
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().code, "not_found");
}

TEST_P(StoreTest, ConcurrentRotationsWithOneTokenHaveOneWinner) {
  auto alice = store_->create_user(user("alice@example.com"));
  ASSERT_OK(alice);
  ASSERT_OK(store_->create_session(session("s1", alice->id, "h0", 1'000'000)));
  constexpr int kThreads = 6;
  std::vector<Status> results(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      results[i] = store_->rotate_session("s1", "h0", "next" + std::to_string(i), 2'000'000, 5000);
    });
  }
  for (auto& t : threads) t.join();
  int winner = -1;
  for (int i = 0; i < kThreads; ++i) {
    if (results[i].ok()) {
      EXPECT_EQ(winner, -1) << "two rotations of one token succeeded";
      winner = i;
    } else {
      EXPECT_EQ(results[i].error().code, "conflict") << results[i].error().message;
    }
  }
  ASSERT_NE(winner, -1);
  auto s = store_->get_session("s1");
  ASSERT_OK(s);
  EXPECT_EQ(s->refresh_hash, "next" + std::to_string(winner));
  EXPECT_EQ(s->previous_hash, "h0");
}

TEST_P(StoreTest, SessionsNeedAUserAndAreRevokedOnceOrAllTogether) {
  auto alice = store_->create_user(user("alice@example.com"));
  auto bob = store_->create_user(user("bob@example.com"));
  ASSERT_OK(alice);
  ASSERT_OK(bob);
  auto orphan = store_->create_session(session("s0", "nobody", "h", 5000));
  ASSERT_FALSE(orphan.ok());
  EXPECT_EQ(orphan.error().code, "not_found");
  ASSERT_OK(store_->create_session(session("s1", alice->id, "h1", 5000)));
  auto dup = store_->create_session(session("s1", alice->id, "other", 5000));
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().code, "conflict");
  auto incomplete = store_->create_session(session("", alice->id, "h", 5000));
  ASSERT_FALSE(incomplete.ok());
  EXPECT_EQ(incomplete.error().code, "invalid_argument");
  ASSERT_OK(store_->create_session(session("s2", alice->id, "h2", 5000)));
  ASSERT_OK(store_->create_session(session("s3", bob->id, "h3", 5000)));
  EXPECT_EQ(store_->get_session("nope").error().code, "not_found");

  // Revoking twice keeps the first time.
  ASSERT_OK(store_->revoke_session("s1", 100));
  ASSERT_OK(store_->revoke_session("s1", 200));
  EXPECT_EQ(store_->get_session("s1")->revoked_at_ms, 100);
  EXPECT_EQ(store_->revoke_session("nope", 100).error().code, "not_found");

  ASSERT_OK(store_->revoke_user_sessions(alice->id, 300));
  EXPECT_EQ(store_->get_session("s1")->revoked_at_ms, 100);
  EXPECT_EQ(store_->get_session("s2")->revoked_at_ms, 300);
  EXPECT_EQ(store_->get_session("s3")->revoked_at_ms, 0);
  ASSERT_OK(store_->revoke_user_sessions("nobody", 300));  // nothing to revoke is fine
}

// ---- schema v5: API keys ------------------------------------------------------------------------

ApiKeyRecord api_key(const std::string& id, const std::string& user_id, const std::string& prefix,
                     int64_t created_at_ms) {
  ApiKeyRecord k;
  k.id = id;
  k.user_id = user_id;
  k.name = "key " + id;
  k.prefix = prefix;
  k.hash = "hash-" + id;
  k.scopes = {"workflows:read", "executions:write"};
  k.created_at_ms = created_at_ms;
  return k;
}

TEST_P(StoreTest, ApiKeysAreFoundByPrefixAndScopedByUser) {
  auto alice = store_->create_user(user("alice@example.com"));
  auto bob = store_->create_user(user("bob@example.com"));
  ASSERT_OK(alice);
  ASSERT_OK(bob);
  ApiKeyRecord k1 = api_key("k1", alice->id, "pfx1", 100);
  k1.expires_at_ms = 99999;
  ASSERT_OK(store_->create_api_key(k1));
  ApiKeyRecord k2 = api_key("k2", alice->id, "pfx2", 50);
  k2.scopes = {"*"};
  ASSERT_OK(store_->create_api_key(k2));
  ApiKeyRecord k3 = api_key("k3", bob->id, "pfx3", 10);
  k3.scopes = {};
  ASSERT_OK(store_->create_api_key(k3));

  auto found = store_->find_api_key("pfx1");
  ASSERT_OK(found);
  EXPECT_EQ(to_json(*found), to_json(k1));
  auto got = store_->get_api_key(alice->id, "k2");
  ASSERT_OK(got);
  EXPECT_EQ(got->scopes, std::vector<std::string>{"*"});
  EXPECT_TRUE(store_->find_api_key("pfx3")->scopes.empty());

  // Another user's key is not found, for reading and for writing.
  auto foreign = store_->get_api_key(bob->id, "k1");
  ASSERT_FALSE(foreign.ok());
  EXPECT_EQ(foreign.error().code, "not_found");
  ApiKeyUpdate revoke;
  revoke.revoked_at_ms = 777;
  auto foreign_update = store_->update_api_key(bob->id, "k1", revoke);
  ASSERT_FALSE(foreign_update.ok());
  EXPECT_EQ(foreign_update.error().code, "not_found");
  EXPECT_EQ(store_->get_api_key(alice->id, "k1")->revoked_at_ms, 0);
  EXPECT_EQ(store_->find_api_key("nope").error().code, "not_found");
  EXPECT_EQ(store_->update_api_key(alice->id, "nope", revoke).error().code, "not_found");
  EXPECT_EQ(store_->update_api_key(alice->id, "nope", ApiKeyUpdate{}).error().code, "not_found");
  ASSERT_OK(store_->update_api_key(alice->id, "k1", ApiKeyUpdate{}));

  auto listed = store_->list_api_keys(alice->id);
  ASSERT_OK(listed);
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ((*listed)[0].id, "k2");  // by creation time
  EXPECT_EQ((*listed)[1].id, "k1");
  auto bobs = store_->list_api_keys(bob->id);
  ASSERT_OK(bobs);
  ASSERT_EQ(bobs->size(), 1u);

  // Taken prefix, taken id, unknown user, missing members.
  auto taken = store_->create_api_key(api_key("k4", bob->id, "pfx1", 1));
  ASSERT_FALSE(taken.ok());
  EXPECT_EQ(taken.error().code, "conflict");
  EXPECT_NE(taken.error().message.find("pfx1"), std::string::npos) << taken.error().message;
  auto same_id = store_->create_api_key(api_key("k1", alice->id, "pfx9", 1));
  ASSERT_FALSE(same_id.ok());
  EXPECT_EQ(same_id.error().code, "conflict");
  auto orphan = store_->create_api_key(api_key("k5", "nobody", "pfx5", 1));
  ASSERT_FALSE(orphan.ok());
  EXPECT_EQ(orphan.error().code, "not_found");
  ApiKeyRecord no_hash = api_key("k6", alice->id, "pfx6", 1);
  no_hash.hash.clear();
  auto incomplete = store_->create_api_key(no_hash);
  ASSERT_FALSE(incomplete.ok());
  EXPECT_EQ(incomplete.error().code, "invalid_argument");

  // Rotation: the old key points at its successor and expires later; only the set members change.
  ASSERT_OK(store_->create_api_key(api_key("k1b", alice->id, "pfx1b", 200)));
  ApiKeyUpdate rotate;
  rotate.replaced_by = "k1b";
  rotate.expires_at_ms = 5000;
  ASSERT_OK(store_->update_api_key(alice->id, "k1", rotate));
  ApiKeyUpdate used;
  used.last_used_at_ms = 4000;
  ASSERT_OK(store_->update_api_key(alice->id, "k1", used));
  auto rotated = store_->get_api_key(alice->id, "k1");
  ASSERT_OK(rotated);
  EXPECT_EQ(rotated->replaced_by, "k1b");
  EXPECT_EQ(rotated->expires_at_ms, 5000);
  EXPECT_EQ(rotated->last_used_at_ms, 4000);
  EXPECT_EQ(rotated->revoked_at_ms, 0);
  EXPECT_EQ(rotated->name, "key k1");
  EXPECT_EQ(rotated->scopes, k1.scopes);
  ASSERT_OK(store_->update_api_key(alice->id, "k1", revoke));
  EXPECT_EQ(store_->find_api_key("pfx1")->revoked_at_ms, 777);
}

// ---- schema v5: metrics -------------------------------------------------------------------------

TEST_P(StoreTest, CountExecutionsByStatusCountsEveryStatusThatHasRows) {
  auto empty = store_->count_executions_by_status();
  ASSERT_OK(empty);
  EXPECT_TRUE(empty->empty());
  create(new_exec("alice"));
  create(new_exec("bob"));
  auto third = create(new_exec("alice"));
  claim("w", 30000, wall_ms());
  ASSERT_OK(store_->request_cancel(third.id));
  auto counts = store_->count_executions_by_status();
  ASSERT_OK(counts);
  EXPECT_EQ(*counts, (std::map<std::string, int64_t>{{"queued", 1}, {"running", 1}, {"cancelled", 1}}));
}

// ---- schema v6: credentials, vault key checks, audit trail --------------------------------------

// A sealed value as host/vault writes it (the store only checks its shape).
Json sealed(int64_t version, std::string c = "bm9uY2V8Y2lwaGVydGV4dA") {
  return Json::object({{"v", version}, {"c", std::move(c)}});
}

CredentialRecord credential(const std::string& owner, const std::string& name,
                            const std::string& type = "http_bearer", int64_t version = 1) {
  CredentialRecord c;
  c.owner_id = owner;
  c.name = name;
  c.type = type;
  c.data = Json::object({{"base_url", "https://api.example.com"}});
  c.secrets = Json::object({{"token", sealed(version)}});
  c.key_version = version;
  return c;
}

std::vector<std::string> names_of(const std::vector<CredentialRecord>& list) {
  std::vector<std::string> out;
  for (const auto& c : list) out.push_back(c.name);
  return out;
}

TEST_P(StoreTest, TheVaultMigrationKeepsWhatVersion5Stored) {
  TestDb fresh(backend());
  auto failed = fresh.open(Json::object({{"test_fail_migration", 6}}));
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.error().message.find("migration 6"), std::string::npos) << failed.error().message;
  {
    auto s = fresh.inspect();
    ASSERT_EQ(schema_version(*s), 5);
    for (const char* t : {"credentials", "vault_key_checks", "audit_log"}) {
      EXPECT_FALSE(table_exists(*s, sqlite(), t)) << "half of migration 6 survived: " << t;
    }
    *s << "INSERT INTO users (id, email, created_at, updated_at) VALUES ('u1', 'a@example.com', 1, 1)";
  }
  auto opened = fresh.open();
  ASSERT_OK(opened);
  auto store = std::move(opened).value();
  {
    auto s = fresh.inspect();
    EXPECT_EQ(schema_version(*s), kLatest);
    for (const char* t : {"credentials", "vault_key_checks", "audit_log"}) {
      EXPECT_TRUE(table_exists(*s, sqlite(), t)) << t;
    }
  }
  EXPECT_EQ(store->get_user("u1")->email, "a@example.com");
  ASSERT_OK(store->create_credential(credential("u1", "c")));
}

TEST_P(StoreTest, CredentialsAreScopedByOwnerWithNamesUniqueRegardlessOfCase) {
  auto created = store_->create_credential(credential("alice", "Slack", "slack_token"));
  ASSERT_OK(created);
  EXPECT_FALSE(created->id.empty());
  EXPECT_GT(created->created_at_ms, 0);
  EXPECT_EQ(created->updated_at_ms, created->created_at_ms);
  EXPECT_EQ(created->key_version, 1);
  auto got = store_->get_credential("alice", created->id);
  ASSERT_OK(got);
  EXPECT_EQ(to_json(*got), to_json(*created));
  EXPECT_EQ(got->secrets, Json::object({{"token", sealed(1)}}));
  EXPECT_EQ(got->data, Json::object({{"base_url", "https://api.example.com"}}));

  // The same name in another case is taken for alice, free for bob.
  auto dup = store_->create_credential(credential("alice", "sLACK"));
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().code, "conflict");
  EXPECT_NE(dup.error().message.find("sLACK"), std::string::npos) << dup.error().message;
  auto bobs = store_->create_credential(credential("bob", "SLACK"));
  ASSERT_OK(bobs);
  // Case folding is ASCII only, the same in both dialects.
  ASSERT_OK(store_->create_credential(credential("alice", "\xC3\x84pi")));  // "Äpi"
  ASSERT_OK(store_->create_credential(credential("alice", "\xC3\xA4pi")));  // "äpi"
  ASSERT_OK(store_->create_credential(credential("alice", "github", "github_token")));
  ASSERT_OK(store_->create_credential(credential("alice", "Airtable")));

  // Another owner's credential does not exist for bob: reading, updating, deleting.
  EXPECT_EQ(store_->get_credential("bob", created->id).error().code, "not_found");
  CredentialUpdate rename;
  rename.name = "mine now";
  rename.updated_at_ms = wall_ms();
  EXPECT_EQ(store_->update_credential("bob", created->id, rename).error().code, "not_found");
  EXPECT_EQ(store_->delete_credential("bob", created->id).error().code, "not_found");
  EXPECT_EQ(store_->get_credential("alice", created->id)->name, "Slack");

  // Listing: by name regardless of case (bytewise after ASCII folding), optionally one type.
  auto listed = store_->list_credentials("alice", "");
  ASSERT_OK(listed);
  EXPECT_EQ(names_of(*listed),
            (std::vector<std::string>{"Airtable", "github", "Slack", "\xC3\x84pi", "\xC3\xA4pi"}));
  auto typed = store_->list_credentials("alice", "slack_token");
  ASSERT_OK(typed);
  EXPECT_EQ(names_of(*typed), std::vector<std::string>{"Slack"});
  EXPECT_TRUE(store_->list_credentials("carol", "")->empty());

  // Renaming onto a taken name (any case) is a conflict and changes nothing; onto its own name in
  // another case is fine.
  CredentialUpdate clash;
  clash.name = "GITHUB";
  clash.updated_at_ms = wall_ms();
  auto clashed = store_->update_credential("alice", created->id, clash);
  ASSERT_FALSE(clashed.ok());
  EXPECT_EQ(clashed.error().code, "conflict");
  CredentialUpdate recase;
  recase.name = "SLACK";
  recase.updated_at_ms = wall_ms();
  auto recased = store_->update_credential("alice", created->id, recase);
  ASSERT_OK(recased);
  EXPECT_EQ(recased->name, "SLACK");
  EXPECT_EQ(recased->secrets, created->secrets) << "members not in the update stay";
  EXPECT_EQ(recased->data, created->data);
  EXPECT_EQ(recased->type, "slack_token");
  EXPECT_EQ(to_json(*store_->get_credential("alice", created->id)), to_json(*recased));

  // Deletion frees the name.
  ASSERT_OK(store_->delete_credential("alice", created->id));
  EXPECT_EQ(store_->get_credential("alice", created->id).error().code, "not_found");
  EXPECT_EQ(store_->delete_credential("alice", created->id).error().code, "not_found");
  ASSERT_OK(store_->create_credential(credential("alice", "slack")));

  // A given id is kept; a taken id is a conflict.
  CredentialRecord fixed = credential("alice", "fixed");
  fixed.id = "cred-fixed";
  ASSERT_OK(store_->create_credential(fixed));
  fixed.name = "other";
  EXPECT_EQ(store_->create_credential(fixed).error().code, "conflict");
}

TEST_P(StoreTest, CredentialSecretsMustBeSealedAndSetTheKeyVersion) {
  // A plaintext where a sealed value belongs is refused without being quoted.
  CredentialRecord plain = credential("alice", "plain");
  plain.secrets = Json::object({{"token", "xoxb-plaintext-canary"}});
  auto refused = store_->create_credential(plain);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, "invalid_argument");
  EXPECT_NE(refused.error().message.find("token"), std::string::npos) << refused.error().message;
  EXPECT_EQ(refused.error().message.find("canary"), std::string::npos) << refused.error().message;
  for (const Json& bad : {Json("x"), Json::object({{"t", Json::object({{"v", 0}, {"c", "x"}})}}),
                          Json::object({{"t", Json::object({{"v", 1}, {"c", ""}})}}),
                          Json::object({{"t", Json::object({{"v", 1}, {"c", "x"}, {"p", "x"}})}})}) {
    CredentialRecord c = credential("alice", "bad");
    c.secrets = bad;
    EXPECT_EQ(store_->create_credential(c).error().code, "invalid_argument") << bad.dump();
  }
  CredentialRecord no_name = credential("alice", "");
  EXPECT_EQ(store_->create_credential(no_name).error().code, "invalid_argument");
  CredentialRecord no_type = credential("alice", "t", "");
  EXPECT_EQ(store_->create_credential(no_type).error().code, "invalid_argument");

  // key_version is the lowest version among the sealed fields, whatever the caller says.
  CredentialRecord mixed = credential("alice", "mixed");
  mixed.secrets = Json::object({{"a", sealed(3)}, {"b", sealed(2)}});
  mixed.key_version = 7;
  auto m = store_->create_credential(mixed);
  ASSERT_OK(m);
  EXPECT_EQ(m->key_version, 2);
  CredentialUpdate bump;
  bump.key_version = 9;  // not what the secrets say: ignored while there are secrets
  bump.updated_at_ms = wall_ms();
  EXPECT_EQ(store_->update_credential("alice", m->id, bump)->key_version, 2);
  CredentialUpdate reseal;
  reseal.secrets = Json::object({{"a", sealed(4)}});
  reseal.data = Json::object({{"user", "u"}});
  reseal.updated_at_ms = wall_ms();
  auto resealed = store_->update_credential("alice", m->id, reseal);
  ASSERT_OK(resealed);
  EXPECT_EQ(resealed->key_version, 4);
  EXPECT_EQ(resealed->secrets, Json::object({{"a", sealed(4)}}));
  EXPECT_EQ(resealed->data, Json::object({{"user", "u"}}));
  CredentialUpdate plain_update;
  plain_update.secrets = Json::object({{"a", "plaintext"}});
  plain_update.updated_at_ms = wall_ms();
  EXPECT_EQ(store_->update_credential("alice", m->id, plain_update).error().code, "invalid_argument");
  EXPECT_EQ(store_->get_credential("alice", m->id)->secrets, Json::object({{"a", sealed(4)}}));

  // Without secrets the given version is kept.
  CredentialRecord none = credential("alice", "none");
  none.secrets = Json::object();
  none.key_version = 5;
  EXPECT_EQ(store_->create_credential(none)->key_version, 5);
}

TEST_P(StoreTest, RekeyIsACompareAndSwapOnUpdatedAt) {
  auto c = store_->create_credential(credential("alice", "c"));
  ASSERT_OK(c);
  const Json v2 = Json::object({{"token", sealed(2, "c2VhbGVkLXYy")}});

  // A stale token changes nothing.
  auto stale = store_->rekey_credential(c->id, c->updated_at_ms - 1, v2, 2, c->updated_at_ms + 10);
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.error().code, "conflict");
  EXPECT_EQ(store_->get_credential("alice", c->id)->key_version, 1);
  EXPECT_EQ(store_->rekey_credential("nope", 1, v2, 2, 2).error().code, "not_found");

  // The current token wins once; updated_at moves forward even when the given time does not.
  ASSERT_OK(store_->rekey_credential(c->id, c->updated_at_ms, v2, 2, c->updated_at_ms));
  auto rekeyed = store_->get_credential("alice", c->id);
  ASSERT_OK(rekeyed);
  EXPECT_EQ(rekeyed->key_version, 2);
  EXPECT_EQ(rekeyed->secrets, v2);
  EXPECT_GT(rekeyed->updated_at_ms, c->updated_at_ms);
  EXPECT_EQ(store_->rekey_credential(c->id, c->updated_at_ms, v2, 2, wall_ms()).error().code, "conflict");

  // An edit between a rotation's read and its write — even one in the same millisecond — makes
  // the rotation's write fail.
  CredentialUpdate edit;
  edit.data = Json::object({{"edited", true}});
  edit.updated_at_ms = rekeyed->updated_at_ms;  // a clock that did not move
  auto edited = store_->update_credential("alice", c->id, edit);
  ASSERT_OK(edited);
  EXPECT_GT(edited->updated_at_ms, rekeyed->updated_at_ms);
  const Json v3 = Json::object({{"token", sealed(3)}});
  EXPECT_EQ(store_->rekey_credential(c->id, rekeyed->updated_at_ms, v3, 3, wall_ms()).error().code,
            "conflict");
  auto after = store_->get_credential("alice", c->id);
  EXPECT_EQ(after->data, Json::object({{"edited", true}}));
  EXPECT_EQ(after->secrets, v2);

  // The secrets must be sealed here too.
  EXPECT_EQ(store_->rekey_credential(c->id, after->updated_at_ms, Json::object({{"token", "plain"}}), 3, 1)
                .error()
                .code,
            "invalid_argument");
}

TEST_P(StoreTest, CredentialsToRekeyArePagedByIdBelowAVersion) {
  auto empty = store_->credential_key_version_range();
  ASSERT_OK(empty);
  EXPECT_EQ(*empty, (std::pair<int64_t, int64_t>{0, 0}));
  std::set<std::string> old_ids;
  for (int i = 0; i < 5; ++i) {
    auto c = store_->create_credential(credential(i % 2 ? "alice" : "bob", "old" + std::to_string(i)));
    ASSERT_OK(c);
    old_ids.insert(c->id);
  }
  for (int i = 0; i < 2; ++i) {
    ASSERT_OK(store_->create_credential(credential("alice", "new" + std::to_string(i), "t", 2)));
  }
  auto range = store_->credential_key_version_range();
  ASSERT_OK(range);
  EXPECT_EQ(*range, (std::pair<int64_t, int64_t>{2, 1}));

  std::vector<std::string> seen;
  std::string after;
  for (;;) {
    auto page = store_->list_credentials_to_rekey(2, after, 2);
    ASSERT_OK(page);
    if (page->empty()) break;
    ASSERT_LE(page->size(), 2u);
    for (const auto& c : *page) {
      EXPECT_EQ(c.key_version, 1);
      EXPECT_EQ(c.secrets, Json::object({{"token", sealed(1)}}));
      seen.push_back(c.id);
    }
    after = page->back().id;
  }
  EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));
  EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()), old_ids);
  EXPECT_EQ(seen.size(), old_ids.size());
  EXPECT_TRUE(store_->list_credentials_to_rekey(1, "", 10)->empty());
  EXPECT_EQ(store_->list_credentials_to_rekey(3, "", 100)->size(), 7u);
}

TEST_P(StoreTest, VaultKeyChecksAreWrittenOncePerVersion) {
  EXPECT_TRUE(store_->vault_key_checks()->empty());
  ASSERT_OK(store_->put_vault_key_check(VaultKeyCheck{2, "check-two", 0}));
  ASSERT_OK(store_->put_vault_key_check(VaultKeyCheck{1, "check-one", 123}));
  auto again = store_->put_vault_key_check(VaultKeyCheck{1, "other", 0});
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, "conflict");
  EXPECT_EQ(store_->put_vault_key_check(VaultKeyCheck{0, "x", 0}).error().code, "invalid_argument");
  EXPECT_EQ(store_->put_vault_key_check(VaultKeyCheck{3, "", 0}).error().code, "invalid_argument");
  auto checks = store_->vault_key_checks();
  ASSERT_OK(checks);
  ASSERT_EQ(checks->size(), 2u);
  EXPECT_EQ((*checks)[0].version, 1);
  EXPECT_EQ((*checks)[0].check, "check-one");
  EXPECT_EQ((*checks)[0].created_at_ms, 123);
  EXPECT_EQ((*checks)[1].version, 2);
  EXPECT_EQ((*checks)[1].check, "check-two");
  EXPECT_GT((*checks)[1].created_at_ms, 0);
}

AuditRecord audit(const std::string& user, const std::string& action, const std::string& workflow = "",
                  int64_t ts = 0) {
  AuditRecord r;
  r.ts_ms = ts;
  r.user_id = user;
  r.action_type = action;
  r.workflow_id = workflow;
  r.execution_id = workflow.empty() ? "" : "ex-" + workflow;
  r.node_id = workflow.empty() ? "" : "n1";
  Json e = Json::object(
      {{"user_id", user}, {"action_type", action}, {"workflow_id", workflow}, {"nonce", random_hex(4)}});
  r.entry = e.dump();
  return r;
}

std::vector<int64_t> seqs_of(const std::vector<AuditRecord>& list) {
  std::vector<int64_t> out;
  for (const auto& r : list) out.push_back(r.seq);
  return out;
}

TEST_P(StoreTest, AuditEntriesAreChainedInOrderAndFiltered) {
  auto first = store_->append_audit({audit("alice", "credential.create", "", 1000),
                                     audit("alice", "credential.access", "wf1", 2000),
                                     audit("bob", "credential.access", "wf2", 3000)});
  ASSERT_OK(first);
  ASSERT_EQ(first->size(), 3u);
  EXPECT_EQ(seqs_of(*first), (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ((*first)[0].prev_hash, std::string(64, '0'));
  EXPECT_EQ((*first)[0].hash, audit_chain_hash(std::string(64, '0'), (*first)[0].entry));
  EXPECT_EQ((*first)[1].prev_hash, (*first)[0].hash);
  auto second = store_->append_audit({audit("alice", "admin.plugin_enable"), audit("", "vault.rotate")});
  ASSERT_OK(second);
  EXPECT_EQ(seqs_of(*second), (std::vector<int64_t>{4, 5}));
  EXPECT_EQ((*second)[0].prev_hash, (*first)[2].hash);
  EXPECT_GT((*second)[0].ts_ms, 0) << "ts 0 = now";
  EXPECT_TRUE(store_->append_audit({})->empty());
  AuditRecord no_action = audit("alice", "");
  EXPECT_EQ(store_->append_audit({no_action}).error().code, "invalid_argument");

  auto all = store_->list_audit(AuditFilter{});
  ASSERT_OK(all);
  ASSERT_EQ(all->size(), 5u);
  EXPECT_EQ(verify_audit_chain(*all, std::string(64, '0')), 0);
  EXPECT_EQ(to_json((*all)[1]), to_json((*first)[1]));
  for (const auto& r : *all) {
    EXPECT_EQ(r.hash.size(), 64u);
    EXPECT_EQ(r.hash.find_first_not_of("0123456789abcdef"), std::string::npos) << r.hash;
  }

  auto filtered = [&](AuditFilter f) {
    auto r = store_->list_audit(f);
    EXPECT_TRUE(r.ok()) << r.error().message;
    return r.ok() ? seqs_of(*r) : std::vector<int64_t>{};
  };
  AuditFilter f;
  f.user_id = "alice";
  EXPECT_EQ(filtered(f), (std::vector<int64_t>{1, 2, 4}));
  f = AuditFilter{};
  f.action_type = "credential.";
  EXPECT_EQ(filtered(f), (std::vector<int64_t>{1, 2, 3}));
  f.action_type = "credential.access";
  EXPECT_EQ(filtered(f), (std::vector<int64_t>{2, 3}));
  f.action_type = "CREDENTIAL.";  // exact bytes, not case-insensitive
  EXPECT_TRUE(filtered(f).empty());
  f.action_type = "credential";  // no trailing '.': the whole name
  EXPECT_TRUE(filtered(f).empty());
  f = AuditFilter{};
  f.workflow_id = "wf2";
  EXPECT_EQ(filtered(f), (std::vector<int64_t>{3}));
  f = AuditFilter{};
  f.from_ms = 2000;
  f.to_ms = 3000;
  EXPECT_EQ(filtered(f), (std::vector<int64_t>{2}));
  f = AuditFilter{};
  f.after_seq = 1;
  f.limit = 2;
  EXPECT_EQ(filtered(f), (std::vector<int64_t>{2, 3}));
  f.after_seq = 3;
  EXPECT_EQ(filtered(f), (std::vector<int64_t>{4, 5}));
  f.after_seq = 5;
  EXPECT_TRUE(filtered(f).empty());
}

TEST_P(StoreTest, AnEditedOrRemovedAuditEntryBreaksTheChain) {
  std::vector<AuditRecord> batch;
  for (int i = 0; i < 5; ++i) batch.push_back(audit("alice", "credential.access"));
  ASSERT_OK(store_->append_audit(batch));
  auto original = store_->list_audit(AuditFilter{});
  ASSERT_OK(original);
  ASSERT_EQ(original->size(), 5u);
  // A page in the middle verifies against the hash of the entry before it.
  AuditFilter from3;
  from3.after_seq = 2;
  auto page = store_->list_audit(from3);
  ASSERT_OK(page);
  EXPECT_EQ(verify_audit_chain(*page, (*original)[1].hash), 0);
  EXPECT_EQ(verify_audit_chain(*page, std::string(64, '0')), 3);

  auto s = db_->inspect();
  *s << "UPDATE audit_log SET entry = '{\"user_id\":\"mallory\"}' WHERE seq = 2";
  auto edited = store_->list_audit(AuditFilter{});
  ASSERT_OK(edited);
  EXPECT_EQ(verify_audit_chain(*edited, std::string(64, '0')), 2);

  // Recomputing the edited entry's hash moves the break to the next entry, whose prev_hash no
  // longer matches.
  std::string rehash = audit_chain_hash((*edited)[1].prev_hash, (*edited)[1].entry);
  *s << "UPDATE audit_log SET hash = :h WHERE seq = 2", soci::use(rehash);
  EXPECT_EQ(verify_audit_chain(*store_->list_audit(AuditFilter{}), std::string(64, '0')), 3);

  // Removing an entry breaks the chain at its successor.
  *s << "DELETE FROM audit_log WHERE seq = 4";
  auto pruned = store_->list_audit(from3);
  ASSERT_OK(pruned);
  EXPECT_EQ(seqs_of(*pruned), (std::vector<int64_t>{3, 5}));
  EXPECT_EQ(verify_audit_chain(*pruned, (*original)[1].hash), 5);
}

TEST_P(StoreTest, ConcurrentAppendersInSeveralStoresKeepOneChain) {
  // Several stores on one database, each with its own connections — what several processes see.
  constexpr int kStores = 4, kThreadsPerStore = 2, kAppends = 25;
  std::vector<std::shared_ptr<Store>> stores;
  for (int i = 0; i < kStores; ++i) {
    auto s = db_->open(Json::object({{"pool_size", 2}}));
    ASSERT_OK(s);
    stores.push_back(std::move(s).value());
  }
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  std::latch start(kStores * kThreadsPerStore);  // all appenders begin together
  for (int i = 0; i < kStores * kThreadsPerStore; ++i) {
    threads.emplace_back([&, i] {
      start.arrive_and_wait();
      for (int n = 0; n < kAppends; ++n) {
        // Batches of one and two entries.
        std::vector<AuditRecord> batch{audit("t" + std::to_string(i), "credential.access")};
        if (n % 3 == 0) batch.push_back(audit("t" + std::to_string(i), "credential.use"));
        auto r = stores[static_cast<size_t>(i % kStores)]->append_audit(batch);
        if (!r.ok()) {
          ADD_FAILURE() << r.error().code << ": " << r.error().message;
          ++failures;
          return;
        }
        if (r->size() == 2 && (*r)[1].seq != (*r)[0].seq + 1) ++failures;  // a batch stays together
      }
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_EQ(failures.load(), 0);
  const int64_t expected = kStores * kThreadsPerStore * (kAppends + (kAppends + 2) / 3);
  std::vector<AuditRecord> all;
  AuditFilter f;
  f.limit = 1000;
  for (;;) {
    auto page = store_->list_audit(f);
    ASSERT_OK(page);
    if (page->empty()) break;
    all.insert(all.end(), page->begin(), page->end());
    f.after_seq = page->back().seq;
  }
  ASSERT_EQ(static_cast<int64_t>(all.size()), expected);
  for (size_t i = 0; i < all.size(); ++i) EXPECT_EQ(all[i].seq, static_cast<int64_t>(i + 1));
  EXPECT_EQ(verify_audit_chain(all, std::string(64, '0')), 0);
}

// ---- schema v8: human requests ----------------------------------------------------------------

HumanRequestRecord ask(const std::string& id, const std::string& node, std::vector<std::string> assignees = {},
                       int64_t created_at_ms = 0) {
  HumanRequestRecord h;
  h.id = id;
  h.node_id = node;
  h.node_key = node;
  h.kind = "approval";
  h.request = Json::object({{"title", "Ship " + id + "?"}});
  h.assignees = std::move(assignees);
  h.created_at_ms = created_at_ms;
  return h;
}

// The node run of a node that parked asking `request_id` (as the executor writes it).
NodeRunRecord asking_run(const std::string& node, const std::string& request_id) {
  NodeRunRecord r;
  r.node_key = node;
  r.node_id = node;
  r.status = "parked";
  r.attempt = 1;
  r.park = Json::object({{"request_id", request_id}, {"wake_at_ms", 0}});
  return r;
}

ExecutionUpdate parked_update(int64_t wake_at_ms = 0) {
  ExecutionUpdate u;
  u.status = ExecStatus::Parked;
  u.wake_at_ms = wake_at_ms;
  u.release_lease = true;
  return u;
}

HumanResponse answer(const HumanRequestRecord& r, bool final, const std::string& by = "u-bob") {
  HumanResponse resp;
  resp.id = r.id;
  resp.expected_version = r.version;
  resp.votes = Json::array({Json::object({{"user_id", by}, {"decision", "approve"}})});
  resp.final = final;
  if (final) resp.response = Json::object({{"decision", "approve"}, {"approved", true}, {"by", by}});
  resp.answered_by = by;
  resp.now_ms = wall_ms();
  return resp;
}

std::vector<std::string> ids_of(const std::vector<HumanRequestRecord>& list) {
  std::vector<std::string> out;
  for (const auto& r : list) out.push_back(r.id);
  return out;
}

Json park_of(Store& store, const std::string& execution_id, const std::string& node_key) {
  auto runs = store.node_runs(execution_id);
  EXPECT_TRUE(runs.ok());
  if (!runs.ok()) return Json();
  for (const auto& r : *runs) {
    if (r.node_key == node_key) return r.park;
  }
  ADD_FAILURE() << "no node run " << node_key;
  return Json();
}

class HumanRequestTest : public StoreTest {
 protected:
  // A new execution of `owner`, claimed, that parks (or stays running) asking `requests`, each
  // from its own node. Returns the claimed record (its lease is the committer's).
  ExecutionRecord asking(const std::string& owner, std::vector<HumanRequestRecord> requests, bool park = true) {
    auto e = create(new_exec(owner));
    auto leased = claim("w", 60000, wall_ms());
    EXPECT_EQ(leased.id, e.id);
    Commit c = commit_for(leased);
    for (const auto& r : requests) c.runs.push_back(asking_run(r.node_key, r.id));
    c.requests = std::move(requests);
    if (park) c.execution = parked_update();
    EXPECT_TRUE(store_->commit(c).ok());
    return leased;
  }
  HumanRequestRecord request(const std::string& id) {
    auto r = store_->get_human_request(id);
    EXPECT_TRUE(r.ok()) << id << ": " << r.error().message;
    return r.ok() ? *r : HumanRequestRecord{};
  }
  std::vector<std::string> listed(HumanRequestFilter f) {
    auto r = store_->list_human_requests(f);
    EXPECT_TRUE(r.ok()) << r.error().message;
    return r.ok() ? ids_of(*r) : std::vector<std::string>{};
  }
};

TEST_P(HumanRequestTest, ACommitCreatesRequestsWithTheirAssignees) {
  const int64_t before = wall_ms();
  HumanRequestRecord given = ask("r-a", "approve", {"u-bob", "Carol@Example.COM", "u-bob", ""});
  given.owner_id = "mallory";  // the store takes owner and workflow from the execution
  given.workflow_id = "other";
  given.mode = "all";
  given.deadline_at_ms = before + 60000;
  given.status = "answered";  // a new request is open, whatever it says
  auto e = asking("alice", {given, ask("", "clarify")});
  auto r = request("r-a");
  EXPECT_EQ(r.execution_id, e.id);
  EXPECT_EQ(r.owner_id, "alice");
  EXPECT_EQ(r.workflow_id, "wf1");
  EXPECT_EQ(r.node_id, "approve");
  EXPECT_EQ(r.node_key, "approve");
  EXPECT_EQ(r.kind, "approval");
  EXPECT_EQ(r.request, Json::object({{"title", "Ship r-a?"}}));
  EXPECT_EQ(r.assignees, (std::vector<std::string>{"u-bob", "carol@example.com"}));
  EXPECT_EQ(r.mode, "all");
  EXPECT_EQ(r.status, "open");
  EXPECT_EQ(r.version, 1);
  EXPECT_EQ(r.votes, Json::array());
  EXPECT_TRUE(r.response.is_null());
  EXPECT_GE(r.created_at_ms, before);
  EXPECT_EQ(r.deadline_at_ms, before + 60000);
  EXPECT_EQ(r.answered_at_ms, 0);
  EXPECT_EQ(r.resumed_at_ms, 0);
  // An empty id is generated.
  HumanRequestFilter f;
  f.execution_id = e.id;
  auto both = store_->list_human_requests(f);
  ASSERT_OK(both);
  ASSERT_EQ(both->size(), 2u);
  for (const auto& h : *both) EXPECT_FALSE(h.id.empty());
  // Unknown ids, malformed requests.
  auto missing = store_->get_human_request("nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, "not_found");
  auto other = create(new_exec("alice"));
  auto leased = claim("w", 60000, wall_ms());
  ASSERT_EQ(leased.id, other.id);
  Commit bad = commit_for(leased);
  bad.requests = {ask("r-bad", "n")};
  bad.requests[0].mode = "most";
  bad.events = {event(1)};
  auto refused = store_->commit(bad);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, "invalid_argument");
  EXPECT_EQ(get(other.id).last_event_seq, 0) << "a refused commit wrote its events";
  // Another execution's request id is a conflict, and the whole commit is undone.
  Commit taken = commit_for(leased);
  taken.requests = {ask("r-a", "n")};
  taken.events = {event(1)};
  auto dup = store_->commit(taken);
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().code, "conflict");
  EXPECT_EQ(get(other.id).last_event_seq, 0);
  EXPECT_EQ(request("r-a").execution_id, e.id);
}

TEST_P(HumanRequestTest, ListingShowsOwnedAndAssignedRequests) {
  auto alices = asking("alice", {ask("r-a", "n1", {"u-bob", "Carol@Example.com"}), ask("r-b", "n2")});
  auto daves = asking("dave", {ask("r-c", "n1", {"u-alice"})});
  HumanRequestFilter f;
  f.owner_id = "u-alice";  // owner ids here are "alice"/"dave": only the assignment matches
  f.principals = {"u-alice", "alice@example.com"};
  EXPECT_EQ(listed(f), (std::vector<std::string>{"r-c"}));
  f.owner_id = "alice";
  f.principals = {};
  EXPECT_EQ(listed(f), (std::vector<std::string>{"r-a", "r-b"}));
  f.principals = {"u-alice"};
  EXPECT_EQ(listed(f), (std::vector<std::string>{"r-a", "r-b", "r-c"}));
  // An assignee by id, and by email in any case.
  HumanRequestFilter bob;
  bob.owner_id = "u-bob";
  bob.principals = {"u-bob", "bob@example.com"};
  EXPECT_EQ(listed(bob), (std::vector<std::string>{"r-a"}));
  HumanRequestFilter carol;
  carol.owner_id = "u-carol";
  carol.principals = {"u-carol", "carol@example.com"};
  EXPECT_EQ(listed(carol), (std::vector<std::string>{"r-a"}));
  carol.principals = {"CAROL@example.COM"};
  EXPECT_EQ(listed(carol), (std::vector<std::string>{"r-a"}));
  HumanRequestFilter stranger;
  stranger.owner_id = "u-eve";
  stranger.principals = {"u-eve", "eve@example.com"};
  EXPECT_TRUE(listed(stranger).empty());
  // Status and execution filters; no scope at all is every request.
  ASSERT_OK(store_->respond_human_request(answer(request("r-b"), true)));
  f.principals = {"u-alice"};
  f.status = "open";
  EXPECT_EQ(listed(f), (std::vector<std::string>{"r-a", "r-c"}));
  f.status = "answered";
  EXPECT_EQ(listed(f), (std::vector<std::string>{"r-b"}));
  HumanRequestFilter all;
  EXPECT_EQ(listed(all), (std::vector<std::string>{"r-a", "r-b", "r-c"}));
  all.execution_id = daves.id;
  EXPECT_EQ(listed(all), (std::vector<std::string>{"r-c"}));
  all.execution_id = alices.id;
  all.status = "open";
  EXPECT_EQ(listed(all), (std::vector<std::string>{"r-a"}));
}

TEST_P(HumanRequestTest, PagesFollowCreationTimeThenIdWithoutSkippingTies) {
  // Ids out of creation order, four of them in the same millisecond.
  asking("alice", {ask("r-5", "a", {}, 1000), ask("r-1", "b", {}, 1000), ask("r-9", "c", {}, 999),
                   ask("r-3", "d", {}, 1000), ask("r-0", "e", {}, 1001), ask("r-7", "f", {}, 1000)});
  const std::vector<std::string> order = {"r-9", "r-1", "r-3", "r-5", "r-7", "r-0"};
  HumanRequestFilter f;
  f.owner_id = "alice";
  EXPECT_EQ(listed(f), order);
  for (int64_t page = 1; page <= 4; ++page) {
    f.limit = page;
    f.after_id.clear();
    std::vector<std::string> seen;
    for (int guard = 0; guard < 10; ++guard) {
      auto got = listed(f);
      if (got.empty()) break;
      EXPECT_LE(static_cast<int64_t>(got.size()), page);
      seen.insert(seen.end(), got.begin(), got.end());
      f.after_id = got.back();
    }
    EXPECT_EQ(seen, order) << "page size " << page;
  }
  f.after_id = "unknown";
  auto bad = store_->list_human_requests(f);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, "not_found");
}

TEST_P(HumanRequestTest, RespondIsACompareAndSwapAndAFinalAnswerWakesTheExecution) {
  auto e = asking("alice", {ask("r-a", "approve", {"u-bob", "u-carol"})});
  auto open = request("r-a");
  // A stale version changes nothing.
  HumanResponse stale = answer(open, true);
  stale.expected_version = open.version + 5;
  auto refused = store_->respond_human_request(stale);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, "conflict");
  EXPECT_EQ(request("r-a").version, open.version);
  EXPECT_EQ(request("r-a").votes, Json::array());
  // A vote (all-of approval, not final yet): votes and version only.
  auto voted = store_->respond_human_request(answer(open, false, "u-bob"));
  ASSERT_OK(voted);
  EXPECT_EQ(voted->status, "open");
  EXPECT_EQ(voted->version, open.version + 1);
  EXPECT_EQ(voted->votes.size(), 1u);
  EXPECT_EQ(get(e.id).wake_at_ms, 0);
  EXPECT_FALSE(park_of(*store_, e.id, "approve").contains("answer"));
  EXPECT_TRUE(nothing_to_claim(wall_ms()));
  // The old version is now stale too.
  auto late = store_->respond_human_request(answer(open, true, "u-carol"));
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.error().code, "conflict");
  // The final answer.
  HumanResponse fin = answer(*voted, true, "u-carol");
  auto answered = store_->respond_human_request(fin);
  ASSERT_OK(answered);
  EXPECT_EQ(answered->status, "answered");
  EXPECT_EQ(answered->version, open.version + 2);
  EXPECT_EQ(answered->response, fin.response);
  EXPECT_EQ(answered->answered_by, "u-carol");
  EXPECT_EQ(answered->answered_at_ms, fin.now_ms);
  EXPECT_EQ(request("r-a").response, fin.response);
  // The node's park carries the answer, the parked execution is due at once.
  Json park = park_of(*store_, e.id, "approve");
  EXPECT_EQ(park["answer"], fin.response);
  EXPECT_EQ(park["request_id"].as_string(), "r-a");
  auto woken = get(e.id);
  EXPECT_EQ(woken.status, ExecStatus::Parked);
  EXPECT_EQ(woken.wake_at_ms, fin.now_ms);
  EXPECT_EQ(claim("w2", 60000, fin.now_ms).id, e.id);
  // A second answer after the final one: conflict, naming the state.
  auto again = store_->respond_human_request(answer(*answered, true, "u-bob"));
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, "conflict");
  EXPECT_NE(again.error().details.find("answered"), std::string::npos) << again.error().details;
  auto unknown = store_->respond_human_request(answer(ask("nope", "n"), true));
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().code, "not_found");
}

TEST_P(HumanRequestTest, AnAnswerLeavesANodeRunThatMovedOnAlone) {
  auto e = asking("alice", {ask("r-a", "n")}, /*park=*/false);
  // The node re-ran and now waits on another question.
  Commit moved = commit_for(e);
  moved.runs = {asking_run("n", "r-newer")};
  ASSERT_OK(store_->commit(moved));
  ASSERT_OK(store_->respond_human_request(answer(request("r-a"), true)));
  EXPECT_FALSE(park_of(*store_, e.id, "n").contains("answer"));
  EXPECT_EQ(request("r-a").status, "answered");
}

TEST_P(HumanRequestTest, ExpiryAndAnswerExcludeEachOther) {
  // Expired first: the answer is refused.
  asking("alice", {ask("r-x", "n")});
  auto expired = store_->expire_human_request("r-x", 5000);
  ASSERT_OK(expired);
  EXPECT_EQ(expired->status, "expired");
  EXPECT_EQ(expired->answered_at_ms, 5000);
  EXPECT_EQ(expired->version, 2);
  auto late = store_->respond_human_request(answer(request("r-x"), true));
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.error().code, "conflict");
  EXPECT_EQ(request("r-x").status, "expired");
  // Expiring again returns it unchanged.
  auto twice = store_->expire_human_request("r-x", 6000);
  ASSERT_OK(twice);
  EXPECT_EQ(twice->answered_at_ms, 5000);
  EXPECT_EQ(twice->version, 2);
  // Answered first: expiry returns the answer, unchanged.
  asking("alice", {ask("r-y", "n")});
  auto answered = store_->respond_human_request(answer(request("r-y"), true));
  ASSERT_OK(answered);
  auto after = store_->expire_human_request("r-y", wall_ms());
  ASSERT_OK(after);
  EXPECT_EQ(after->status, "answered");
  EXPECT_EQ(after->version, answered->version);
  EXPECT_EQ(after->response, answered->response);
  auto missing = store_->expire_human_request("nope", wall_ms());
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, "not_found");
}

TEST_P(HumanRequestTest, ConcurrentAnswerAndExpiryHaveExactlyOneWinner) {
  // Two stores (two processes' worth of connections) race on each request.
  auto other = db_->open(Json::object({{"pool_size", 2}}));
  ASSERT_OK(other);
  constexpr int kRounds = 12;
  std::vector<HumanRequestRecord> asked;
  for (int i = 0; i < kRounds; ++i) asked.push_back(ask("race-" + std::to_string(i), "n" + std::to_string(i)));
  asking("alice", asked);
  int answers = 0, expiries = 0;
  for (int i = 0; i < kRounds; ++i) {
    const HumanRequestRecord open = request(asked[static_cast<size_t>(i)].id);
    Result<HumanRequestRecord> responded = Error("pending", "");
    Result<HumanRequestRecord> expired = Error("pending", "");
    std::latch start(2);
    std::thread a([&] {
      start.arrive_and_wait();
      responded = store_->respond_human_request(answer(open, true));
    });
    std::thread b([&] {
      start.arrive_and_wait();
      expired = (*other)->expire_human_request(open.id, wall_ms());
    });
    a.join();
    b.join();
    ASSERT_OK(expired);
    const std::string final_status = request(open.id).status;
    if (responded.ok()) {
      ++answers;
      EXPECT_EQ(expired->status, "answered") << "the expiry did not see the answer that won";
      EXPECT_EQ(final_status, "answered");
    } else {
      ++expiries;
      EXPECT_EQ(responded.error().code, "conflict") << responded.error().message;
      EXPECT_EQ(expired->status, "expired");
      EXPECT_EQ(final_status, "expired");
    }
  }
  EXPECT_EQ(answers + expiries, kRounds);
}

TEST_P(HumanRequestTest, FinishingTheExecutionCancelsItsOpenRequests) {
  auto e = asking("alice", {ask("r-open", "a"), ask("r-done", "b")}, /*park=*/false);
  auto answered = store_->respond_human_request(answer(request("r-done"), true));
  ASSERT_OK(answered);
  // A step that does not finish it leaves them alone.
  Commit step = commit_for(e);
  step.runs = {node_run("c")};
  step.execution = ExecutionUpdate{};
  step.execution->status = ExecStatus::Running;
  ASSERT_OK(store_->commit(step));
  EXPECT_EQ(request("r-open").status, "open");
  Commit finish = commit_for(e);
  finish.execution = ExecutionUpdate{};
  finish.execution->status = ExecStatus::Succeeded;
  finish.execution->finished_at_ms = wall_ms();
  finish.execution->release_lease = true;
  const int64_t before = wall_ms();
  ASSERT_OK(store_->commit(finish));
  auto cancelled = request("r-open");
  EXPECT_EQ(cancelled.status, "cancelled");
  EXPECT_GE(cancelled.answered_at_ms, before);
  EXPECT_EQ(cancelled.version, 2);
  auto kept = request("r-done");
  EXPECT_EQ(kept.status, "answered");
  EXPECT_EQ(kept.version, answered->version);
  // A failed run too.
  auto f = asking("alice", {ask("r-f", "a")}, /*park=*/false);
  Commit fail = commit_for(f);
  fail.execution = ExecutionUpdate{};
  fail.execution->status = ExecStatus::Failed;
  fail.execution->error = Json::object({{"code", "boom"}});
  fail.execution->release_lease = true;
  ASSERT_OK(store_->commit(fail));
  EXPECT_EQ(request("r-f").status, "cancelled");
}

TEST_P(HumanRequestTest, AnAnswerThatArrivedWhileRunningWakesTheParkingCommit) {
  // The node asked in an earlier step; the execution is still running (other branches) when the
  // answer comes: nothing to wake then.
  auto e = asking("alice", {ask("r-a", "ask")}, /*park=*/false);
  auto answered = store_->respond_human_request(answer(request("r-a"), true));
  ASSERT_OK(answered);
  EXPECT_EQ(get(e.id).status, ExecStatus::Running);
  EXPECT_EQ(get(e.id).wake_at_ms, 0);
  // The worker parks the execution "until an answer comes" (and rewrites the asking node's run
  // from its own state, without the answer): the store wakes it at the commit instead.
  const int64_t before = wall_ms();
  Commit park = commit_for(e);
  park.runs = {asking_run("ask", "r-a")};
  park.execution = parked_update(0);
  ASSERT_OK(store_->commit(park));
  auto parked = get(e.id);
  EXPECT_EQ(parked.status, ExecStatus::Parked);
  EXPECT_GE(parked.wake_at_ms, before);
  EXPECT_LE(parked.wake_at_ms, wall_ms());
  EXPECT_EQ(park_of(*store_, e.id, "ask")["answer"], answered->response);
  // The resumed run consumes the answer; parking again keeps its own wake time now.
  auto resumed = claim("w2", 60000, wall_ms());
  ASSERT_EQ(resumed.id, e.id);
  const int64_t consume_at = wall_ms();
  Commit consume = commit_for(resumed);
  NodeRunRecord done = node_run("ask");
  consume.runs = {done};
  consume.consumed_requests = {"r-a", "not-a-request"};
  consume.execution = parked_update(0);
  ASSERT_OK(store_->commit(consume));
  auto consumed = request("r-a");
  EXPECT_GE(consumed.resumed_at_ms, consume_at);
  EXPECT_EQ(consumed.status, "answered");
  EXPECT_EQ(get(e.id).wake_at_ms, 0);
  EXPECT_TRUE(nothing_to_claim(wall_ms()));
}

TEST_P(HumanRequestTest, AnAnswerNoParkedNodeWaitsForDoesNotWakeAParkingCommit) {
  // Answered while running, but by the time the execution parks the asking node has finished
  // (say, an all-of approval it no longer needs): parking keeps its own wake time, so an answer
  // nobody consumes cannot make every later park due at once.
  auto e = asking("alice", {ask("r-a", "ask")}, /*park=*/false);
  ASSERT_OK(store_->respond_human_request(answer(request("r-a"), true)));
  Commit park = commit_for(e);
  park.runs = {node_run("ask")};
  park.execution = parked_update(0);
  ASSERT_OK(store_->commit(park));
  EXPECT_EQ(get(e.id).wake_at_ms, 0);
  EXPECT_TRUE(nothing_to_claim(wall_ms()));
  EXPECT_FALSE(park_of(*store_, e.id, "ask").contains("answer"));
}

TEST_P(HumanRequestTest, ConsumingKeepsTheFirstTimeAndIgnoresOpenOrForeignRequests) {
  auto mine = asking("alice", {ask("r-open", "a"), ask("r-closed", "b")}, /*park=*/false);
  asking("dave", {ask("r-foreign", "a")});
  ASSERT_OK(store_->expire_human_request("r-closed", 1234));
  ASSERT_OK(store_->expire_human_request("r-foreign", 1234));
  Commit c = commit_for(mine);
  c.consumed_requests = {"r-open", "r-closed", "r-foreign"};
  ASSERT_OK(store_->commit(c));
  EXPECT_EQ(request("r-open").resumed_at_ms, 0);
  const int64_t first = request("r-closed").resumed_at_ms;
  EXPECT_GT(first, 0);
  EXPECT_EQ(request("r-foreign").resumed_at_ms, 0) << "another execution's request was consumed";
  Commit again = commit_for(mine);
  again.consumed_requests = {"r-closed"};
  ASSERT_OK(store_->commit(again));
  EXPECT_EQ(request("r-closed").resumed_at_ms, first);
}

TEST_P(HumanRequestTest, ASpawnCreatesTheExecutionOnce) {
  auto failing = create(new_exec("alice"));
  auto leased = claim("w", 60000, wall_ms());
  ASSERT_EQ(leased.id, failing.id);
  NewExecution spawn = new_exec("alice", "error-workflow:" + failing.id);
  spawn.workflow_id = "errwf";
  spawn.input = Json::object({{"execution_id", failing.id}});
  // A stale committer's spawn is not created (the commit is refused as a whole).
  Commit stale = commit_for(leased);
  stale.lease.epoch += 7;
  stale.spawn = spawn;
  auto lost = store_->commit(stale);
  ASSERT_FALSE(lost.ok());
  EXPECT_EQ(lost.error().code, "lease_lost");
  ExecutionFilter f;
  f.owner_id = "alice";
  f.workflow_id = "errwf";
  EXPECT_TRUE(store_->list_executions(f)->empty());

  spawn.id = "spawned-1";
  Commit first = commit_for(leased);
  first.spawn = spawn;
  ASSERT_OK(store_->commit(first));
  auto made = get("spawned-1");
  EXPECT_EQ(made.status, ExecStatus::Queued);
  EXPECT_EQ(made.owner_id, "alice");
  EXPECT_EQ(made.workflow_id, "errwf");
  EXPECT_EQ(made.idempotency_key, "error-workflow:" + failing.id);
  EXPECT_EQ(made.input, spawn.input);
  EXPECT_EQ(made.definition, spawn.definition);
  // The same spawn again (a retried finish), with another id: nothing new, no error.
  spawn.id = "spawned-2";
  Commit second = commit_for(leased);
  second.spawn = spawn;
  second.execution = ExecutionUpdate{};
  second.execution->status = ExecStatus::Failed;
  second.execution->release_lease = true;
  ASSERT_OK(store_->commit(second));
  auto listed_spawns = store_->list_executions(f);
  ASSERT_OK(listed_spawns);
  ASSERT_EQ(listed_spawns->size(), 1u);
  EXPECT_EQ((*listed_spawns)[0].id, "spawned-1");
  EXPECT_FALSE(store_->get_execution("spawned-2").ok());
  EXPECT_EQ(get(failing.id).status, ExecStatus::Failed);
}

TEST_P(HumanRequestTest, CancellingAnIdleExecutionCancelsItsOpenRequests) {
  auto parked = asking("alice", {ask("r-open", "a"), ask("r-answered", "b")});
  auto answered = store_->respond_human_request(answer(request("r-answered"), true));
  ASSERT_OK(answered);
  // The answer made it due; cancel it before a worker claims it.
  const int64_t before = wall_ms();
  ASSERT_OK(store_->request_cancel(parked.id));
  EXPECT_EQ(get(parked.id).status, ExecStatus::Cancelled);
  auto cancelled = request("r-open");
  EXPECT_EQ(cancelled.status, "cancelled");
  EXPECT_GE(cancelled.answered_at_ms, before);
  EXPECT_EQ(request("r-answered").status, "answered");
  EXPECT_EQ(request("r-answered").version, answered->version);
  auto late = store_->respond_human_request(answer(cancelled, true));
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.error().code, "conflict");

  // A running one is only flagged: its worker's final commit closes the requests.
  auto running = asking("alice", {ask("r-run", "a")}, /*park=*/false);
  ASSERT_OK(store_->request_cancel(running.id));
  EXPECT_EQ(request("r-run").status, "open");
  Commit finish = commit_for(running);
  finish.execution = ExecutionUpdate{};
  finish.execution->status = ExecStatus::Cancelled;
  finish.execution->release_lease = true;
  ASSERT_OK(store_->commit(finish));
  EXPECT_EQ(request("r-run").status, "cancelled");
}

TEST_P(HumanRequestTest, TheV8MigrationKeepsWhatVersion7Stored) {
  TestDb fresh(backend());
  auto failed = fresh.open(Json::object({{"test_fail_migration", 8}}));
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.error().message.find("migration 8"), std::string::npos) << failed.error().message;
  {
    auto s = fresh.inspect();
    ASSERT_EQ(schema_version(*s), 7);
    for (const char* t : {"human_requests", "human_request_assignees", "schedules"}) {
      EXPECT_FALSE(table_exists(*s, sqlite(), t)) << "half of migration 8 survived: " << t;
    }
    // Rows as the version 7 code wrote them: a parked execution and its node run.
    *s << "INSERT INTO executions (id, workflow_id, workflow_version, owner_id, status, definition,"
          " input, output, error, created_at, updated_at)"
          " VALUES ('e7', 'wf', 1, 'alice', 'queued', '{}', '{\"x\":7}', 'null', 'null', 1, 1)";
    *s << "INSERT INTO custom_nodes (id, owner_id, name, version, language, source, declaration,"
          " created_at, updated_at) VALUES ('c1', 'alice', 'thing', 1, 'python', 'x', '{}', 1, 1)";
  }
  auto opened = fresh.open();
  ASSERT_OK(opened);
  auto store = std::move(opened).value();
  {
    auto s = fresh.inspect();
    EXPECT_EQ(schema_version(*s), kLatest);
    for (const char* t : {"human_requests", "human_request_assignees", "schedules"}) {
      EXPECT_TRUE(table_exists(*s, sqlite(), t)) << t;
    }
  }
  auto e = store->get_execution("e7");
  ASSERT_OK(e);
  EXPECT_EQ(e->input, Json::object({{"x", 7}}));
  ASSERT_OK(store->get_custom_node("alice", "thing", 0));
  // The new tables work with the old rows.
  auto leased = store->claim_execution("w", 60000, wall_ms());
  ASSERT_OK(leased);
  ASSERT_TRUE(leased->has_value());
  Commit c;
  c.execution_id = "e7";
  c.lease = (*leased)->lease;
  c.runs = {asking_run("n", "r7")};
  c.requests = {ask("r7", "n", {"u-bob"})};
  c.execution = parked_update();
  ASSERT_OK(store->commit(c));
  HumanRequestFilter f;
  f.owner_id = "u-bob";
  f.principals = {"u-bob"};
  auto list = store->list_human_requests(f);
  ASSERT_OK(list);
  EXPECT_EQ(ids_of(*list), (std::vector<std::string>{"r7"}));
  ScheduleRecord sc;
  sc.owner_id = "alice";
  sc.workflow_id = "wf";
  sc.cron = "* * * * *";
  ASSERT_OK(store->create_schedule(sc));
}

// ---- schema v8: schedules -----------------------------------------------------------------------

ScheduleRecord schedule(const std::string& owner, const std::string& workflow, int64_t next_run_at_ms,
                        const std::string& id = "") {
  ScheduleRecord s;
  s.id = id;
  s.owner_id = owner;
  s.workflow_id = workflow;
  s.name = "every minute";
  s.cron = "* * * * *";
  s.timezone = "Europe/Berlin";
  s.input = Json::object({{"from", "schedule"}});
  s.next_run_at_ms = next_run_at_ms;
  return s;
}

NewExecution scheduled_run(const std::string& owner, const std::string& key) {
  NewExecution e = new_exec(owner, key);
  e.workflow_id = "wf-sched";
  return e;
}

TEST_P(StoreTest, SchedulesAreScopedByOwnerAndEditedByCompareAndSwap) {
  const int64_t before = wall_ms();
  auto created = store_->create_schedule(schedule("alice", "wf-1", 5000));
  ASSERT_OK(created);
  EXPECT_FALSE(created->id.empty());
  EXPECT_EQ(created->version, 1);
  EXPECT_GE(created->created_at_ms, before);
  EXPECT_EQ(created->updated_at_ms, created->created_at_ms);
  EXPECT_EQ(created->last_run_at_ms, 0);
  EXPECT_EQ(created->last_execution_id, "");
  auto got = store_->get_schedule("alice", created->id);
  ASSERT_OK(got);
  EXPECT_EQ(to_json(*got), to_json(*created));
  EXPECT_EQ(got->timezone, "Europe/Berlin");
  EXPECT_EQ(got->input, Json::object({{"from", "schedule"}}));
  EXPECT_TRUE(got->enabled);
  EXPECT_EQ(got->missed_policy, "run_once");
  auto foreign = store_->get_schedule("mallory", created->id);
  ASSERT_FALSE(foreign.ok());
  EXPECT_EQ(foreign.error().code, "not_found");

  ASSERT_OK(store_->create_schedule(schedule("alice", "wf-2", 6000, "s-b")));
  ASSERT_OK(store_->create_schedule(schedule("alice", "wf-1", 7000, "s-a")));
  ASSERT_OK(store_->create_schedule(schedule("bob", "wf-1", 7000, "s-c")));
  auto dup = store_->create_schedule(schedule("bob", "wf-1", 7000, "s-c"));
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().code, "conflict");
  ScheduleRecord bad = schedule("alice", "wf-1", 1);
  bad.missed_policy = "sometimes";
  EXPECT_EQ(store_->create_schedule(bad).error().code, "invalid_argument");
  bad = schedule("alice", "", 1);
  EXPECT_EQ(store_->create_schedule(bad).error().code, "invalid_argument");

  auto all = store_->list_schedules("alice", "");
  ASSERT_OK(all);
  ASSERT_EQ(all->size(), 3u);
  EXPECT_TRUE(std::is_sorted(all->begin(), all->end(),
                             [](const ScheduleRecord& a, const ScheduleRecord& b) { return a.id < b.id; }));
  auto wf1 = store_->list_schedules("alice", "wf-1");
  ASSERT_OK(wf1);
  ASSERT_EQ(wf1->size(), 2u);
  for (const auto& s : *wf1) EXPECT_EQ(s.workflow_id, "wf-1");
  EXPECT_TRUE(store_->list_schedules("carol", "")->empty());

  // Edits: the editable fields, at the version read.
  ScheduleRecord edit = *got;
  edit.name = "nightly";
  edit.cron = "0 3 * * *";
  edit.timezone = "UTC";
  edit.enabled = false;
  edit.missed_policy = "skip";
  edit.input = Json();
  edit.next_run_at_ms = 0;
  edit.updated_at_ms = created->created_at_ms + 10;
  edit.workflow_id = "wf-other";  // not editable
  edit.last_run_at_ms = 42;       // not editable
  auto updated = store_->update_schedule(edit);
  ASSERT_OK(updated);
  EXPECT_EQ(updated->version, 2);
  EXPECT_EQ(updated->name, "nightly");
  EXPECT_EQ(updated->cron, "0 3 * * *");
  EXPECT_EQ(updated->timezone, "UTC");
  EXPECT_FALSE(updated->enabled);
  EXPECT_EQ(updated->missed_policy, "skip");
  EXPECT_TRUE(updated->input.is_null());
  EXPECT_EQ(updated->next_run_at_ms, 0);
  EXPECT_EQ(updated->updated_at_ms, created->created_at_ms + 10);
  EXPECT_EQ(updated->workflow_id, "wf-1");
  EXPECT_EQ(updated->last_run_at_ms, 0);
  EXPECT_EQ(updated->created_at_ms, created->created_at_ms);
  // The same edit again is stale now.
  auto stale = store_->update_schedule(edit);
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.error().code, "conflict");
  EXPECT_EQ(store_->get_schedule("alice", created->id)->name, "nightly");
  ScheduleRecord other_owner = *updated;
  other_owner.owner_id = "mallory";
  EXPECT_EQ(store_->update_schedule(other_owner).error().code, "not_found");

  auto deleted_foreign = store_->delete_schedule("mallory", created->id);
  ASSERT_FALSE(deleted_foreign.ok());
  EXPECT_EQ(deleted_foreign.error().code, "not_found");
  ASSERT_OK(store_->delete_schedule("alice", created->id));
  EXPECT_EQ(store_->get_schedule("alice", created->id).error().code, "not_found");
  EXPECT_EQ(store_->delete_schedule("alice", created->id).error().code, "not_found");
  EXPECT_EQ(store_->list_schedules("alice", "")->size(), 2u);
}

TEST_P(StoreTest, DueSchedulesAreTheEnabledOnesWhoseTimeHasComeOldestFirst) {
  ASSERT_OK(store_->create_schedule(schedule("alice", "wf", 3000, "s-late")));
  ASSERT_OK(store_->create_schedule(schedule("bob", "wf", 1000, "s-early")));
  ASSERT_OK(store_->create_schedule(schedule("alice", "wf", 2000, "s-mid")));
  ASSERT_OK(store_->create_schedule(schedule("alice", "wf", 9000, "s-future")));
  ASSERT_OK(store_->create_schedule(schedule("alice", "wf", 0, "s-unset")));
  ScheduleRecord off = schedule("alice", "wf", 500, "s-off");
  off.enabled = false;
  ASSERT_OK(store_->create_schedule(off));
  auto ids = [](const std::vector<ScheduleRecord>& list) {
    std::vector<std::string> out;
    for (const auto& s : list) out.push_back(s.id);
    return out;
  };
  auto due = store_->due_schedules(3000, 10);
  ASSERT_OK(due);
  EXPECT_EQ(ids(*due), (std::vector<std::string>{"s-early", "s-mid", "s-late"}));
  EXPECT_EQ(ids(*store_->due_schedules(3000, 2)), (std::vector<std::string>{"s-early", "s-mid"}));
  EXPECT_EQ(ids(*store_->due_schedules(2999, 10)), (std::vector<std::string>{"s-early", "s-mid"}));
  EXPECT_TRUE(store_->due_schedules(999, 10)->empty());
}

TEST_P(StoreTest, FiringIsACompareAndSwapThatCreatesTheRunInTheSameTransaction) {
  auto sc = store_->create_schedule(schedule("alice", "wf-sched", 1000, "s1"));
  ASSERT_OK(sc);
  ScheduleFire fire;
  fire.id = "s1";
  fire.expected_next_run_at_ms = 1000;
  fire.fired_at_ms = 1000;
  fire.next_run_at_ms = 61000;
  fire.execution = scheduled_run("alice", "schedule:s1:1000");
  auto fired = store_->fire_schedule(fire);
  ASSERT_OK(fired);
  EXPECT_EQ(fired->last_run_at_ms, 1000);
  EXPECT_EQ(fired->next_run_at_ms, 61000);
  EXPECT_EQ(fired->version, 2);
  ASSERT_FALSE(fired->last_execution_id.empty());
  auto run = get(fired->last_execution_id);
  EXPECT_EQ(run.status, ExecStatus::Queued);
  EXPECT_EQ(run.owner_id, "alice");
  EXPECT_EQ(run.idempotency_key, "schedule:s1:1000");
  EXPECT_EQ(to_json(*store_->get_schedule("alice", "s1")), to_json(*fired));
  // The same occurrence again: conflict, nothing created.
  auto again = store_->fire_schedule(fire);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, "conflict");
  ExecutionFilter f;
  f.owner_id = "alice";
  f.workflow_id = "wf-sched";
  EXPECT_EQ(store_->list_executions(f)->size(), 1u);
  // An edit moved the occurrence: the stale firing loses. And an edit at the pre-firing version
  // loses against the firing.
  ScheduleRecord stale_edit = *sc;
  stale_edit.name = "renamed";
  EXPECT_EQ(store_->update_schedule(stale_edit).error().code, "conflict");
  // The next occurrence's run already exists (a crash between create and fire, say): reused.
  auto existing = create(scheduled_run("alice", "schedule:s1:61000"));
  fire.expected_next_run_at_ms = 61000;
  fire.fired_at_ms = 61000;
  fire.next_run_at_ms = 121000;
  fire.execution = scheduled_run("alice", "schedule:s1:61000");
  auto reused = store_->fire_schedule(fire);
  ASSERT_OK(reused);
  EXPECT_EQ(reused->last_execution_id, existing.id);
  EXPECT_EQ(store_->list_executions(f)->size(), 2u);
  // A skipped run (missed, policy skip): the schedule moves on, no execution, the last one stays.
  fire.expected_next_run_at_ms = 121000;
  fire.fired_at_ms = 121000;
  fire.next_run_at_ms = 181000;
  fire.execution.reset();
  auto skipped = store_->fire_schedule(fire);
  ASSERT_OK(skipped);
  EXPECT_EQ(skipped->next_run_at_ms, 181000);
  EXPECT_EQ(skipped->last_run_at_ms, 121000);
  EXPECT_EQ(skipped->last_execution_id, existing.id);
  EXPECT_EQ(store_->list_executions(f)->size(), 2u);
  // Not for another owner, and never while disabled.
  fire.expected_next_run_at_ms = 181000;
  fire.execution = scheduled_run("mallory", "schedule:s1:181000");
  auto foreign = store_->fire_schedule(fire);
  ASSERT_FALSE(foreign.ok());
  EXPECT_EQ(foreign.error().code, "invalid_argument");
  EXPECT_EQ(store_->get_schedule("alice", "s1")->next_run_at_ms, 181000) << "a refused firing moved the schedule";
  ScheduleRecord disable = *skipped;
  disable.enabled = false;
  ASSERT_OK(store_->update_schedule(disable));
  fire.execution = scheduled_run("alice", "schedule:s1:181000");
  EXPECT_EQ(store_->fire_schedule(fire).error().code, "conflict");
  fire.id = "nope";
  EXPECT_EQ(store_->fire_schedule(fire).error().code, "not_found");
  EXPECT_EQ(store_->list_executions(f)->size(), 2u);
}

TEST_P(StoreTest, ConcurrentFiringsOfOneOccurrenceHaveExactlyOneWinner) {
  // Two servers (two stores with their own connections) fire every occurrence at once. Their
  // runs carry different idempotency keys, so only the compare-and-swap keeps them to one.
  auto other = db_->open(Json::object({{"pool_size", 2}}));
  ASSERT_OK(other);
  std::vector<Store*> stores = {store_.get(), other->get()};
  constexpr int kOccurrences = 15;
  ASSERT_OK(store_->create_schedule(schedule("alice", "wf-sched", 60000, "s1")));
  int conflicts = 0;
  std::set<std::string> winners;
  for (int i = 1; i <= kOccurrences; ++i) {
    std::vector<Result<ScheduleRecord>> results(2, Error("pending", ""));
    std::latch start(2);
    std::vector<std::thread> threads;
    for (int t = 0; t < 2; ++t) {
      threads.emplace_back([&, t] {
        ScheduleFire fire;
        fire.id = "s1";
        fire.expected_next_run_at_ms = 60000LL * i;
        fire.fired_at_ms = 60000LL * i;
        fire.next_run_at_ms = 60000LL * (i + 1);
        fire.execution = scheduled_run("alice", "server-" + std::to_string(t) + ":" + std::to_string(i));
        start.arrive_and_wait();
        results[static_cast<size_t>(t)] = stores[static_cast<size_t>(t)]->fire_schedule(fire);
      });
    }
    for (auto& t : threads) t.join();
    int won = 0;
    for (const auto& r : results) {
      if (r.ok()) {
        ++won;
        winners.insert(r->last_execution_id);
      } else {
        EXPECT_EQ(r.error().code, "conflict") << r.error().message;
        ++conflicts;
      }
    }
    EXPECT_EQ(won, 1) << "occurrence " << i;
  }
  EXPECT_EQ(conflicts, kOccurrences);
  EXPECT_EQ(winners.size(), static_cast<size_t>(kOccurrences));
  ExecutionFilter f;
  f.owner_id = "alice";
  f.workflow_id = "wf-sched";
  f.limit = 1000;
  auto runs = store_->list_executions(f);
  ASSERT_OK(runs);
  EXPECT_EQ(runs->size(), static_cast<size_t>(kOccurrences));
  auto sc = store_->get_schedule("alice", "s1");
  ASSERT_OK(sc);
  EXPECT_EQ(sc->next_run_at_ms, 60000LL * (kOccurrences + 1));
  EXPECT_EQ(sc->version, 1 + kOccurrences);
}

INSTANTIATE_TEST_SUITE_P(Backends, HumanRequestTest, ::testing::Values("sqlite", "postgresql"),
                         [](const auto& info) { return info.param; });

INSTANTIATE_TEST_SUITE_P(Backends, StoreTest, ::testing::Values("sqlite", "postgresql"),
                         [](const auto& info) { return info.param; });

// ---- backend-specific --------------------------------------------------------------------------

TEST(SqliteStore, InMemoryDatabase) {
  auto s = open_store(testing::test_registry(), "sqlite::memory:");
  ASSERT_OK(s);
  auto e = (*s)->create_execution(new_exec("alice"));
  ASSERT_OK(e);
  auto got = (*s)->get_execution(e->id);
  ASSERT_OK(got);
  EXPECT_EQ(got->input, new_exec().input);
  // Two in-memory stores are two databases.
  auto other = open_store(testing::test_registry(), "sqlite::memory:");
  ASSERT_OK(other);
  EXPECT_EQ((*other)->get_execution(e->id).error().code, "not_found");
}

TEST(SqliteStore, DataDirectoryAndDatabaseFilesAreOwnerOnly) {
  // Other local users, and sandboxed user code running under its own uid, must not read the
  // database: the directory Weft creates is 0700 and the files 0600; an existing 0644 file is
  // tightened when opened.
  char tmpl[] = "/tmp/weft-store-perms-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string root = tmpl;
  {
    auto s = open_store(testing::test_registry(), "sqlite:" + root + "/data/weft.db");
    ASSERT_OK(s);
    ASSERT_OK((*s)->create_execution(new_exec("alice")));
    struct stat st {};
    ASSERT_EQ(::stat((root + "/data").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0700u);
    for (const char* f : {"/data/weft.db", "/data/weft.db-wal"}) {
      ASSERT_EQ(::stat((root + f).c_str(), &st), 0) << f;
      EXPECT_EQ(st.st_mode & 077, 0u) << f;
    }
  }
  ASSERT_EQ(::chmod((root + "/data/weft.db").c_str(), 0644), 0);
  {
    auto s = open_store(testing::test_registry(), "sqlite:" + root + "/data/weft.db");
    ASSERT_OK(s);
    struct stat st {};
    ASSERT_EQ(::stat((root + "/data/weft.db").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
  }
  std::error_code ec;
  std::filesystem::remove_all(root, ec);
}

TEST(SqliteStore, BadUrlsAreRefused) {
  auto host = open_store(testing::test_registry(), "sqlite://somehost/x.db");
  ASSERT_FALSE(host.ok());
  EXPECT_EQ(host.error().code, "invalid_argument");
  auto empty = open_store(testing::test_registry(), "sqlite:");
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.error().code, "invalid_argument");
}

TEST(OpenStore, UnknownSchemeNamesTheLoadedBackends) {
  auto r = open_store(testing::test_registry(), "mysql://x/y");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "not_found");
  EXPECT_EQ(r.error().message, "no storage backend for scheme 'mysql' (loaded: postgresql, sqlite)");
  auto none = open_store(testing::test_registry(), "no-scheme-here");
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().code, "invalid_argument");
}

// A port nobody listens on: bind an ephemeral port, then close it.
int closed_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    close(fd);
    return 1;
  }
  close(fd);
  return ntohs(addr.sin_port);
}

TEST(PostgresStore, UnreachableServerIsUnavailable) {
  const std::string url = "postgresql://weft@127.0.0.1:" + std::to_string(closed_port()) + "/weft_test";
  // Accepted as "postgres://" too.
  for (const std::string& u : {url, "postgres" + url.substr(10)}) {
    auto r = open_store(testing::test_registry(), u, Json::object({{"connect_timeout_s", 2}}));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, "unavailable") << r.error().message;
    EXPECT_NE(r.error().message.find("cannot connect"), std::string::npos) << r.error().message;
  }
}

TEST(PostgresStore, ReconnectsAfterTheServerDropsTheConnections) {
  if (testing::pg_url().empty()) GTEST_SKIP() << "WEFT_TEST_PG_URL is not set";
  TestDb db("postgresql");
  const std::string app = "weft_t_" + random_hex(6);
  std::string url = db.url() + (db.url().find('?') == std::string::npos ? "?" : "&") + "application_name=" + app;
  auto opened = open_store(testing::test_registry(), url, db.options(Json::object({{"pool_size", 2}})));
  ASSERT_OK(opened);
  std::shared_ptr<Store> s = std::move(opened).value();
  auto e = s->create_execution(new_exec());
  ASSERT_OK(e);

  // Kill every connection of this store from the server side.
  auto admin = db.inspect();
  long long killed = 0;
  std::string name = app;
  *admin << "SELECT COUNT(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity WHERE application_name = :a",
      soci::into(killed), soci::use(name);
  ASSERT_EQ(killed, 2);

  // Claim and heartbeat reconnect and retry transparently; so do reads.
  const int64_t now = wall_ms();
  auto claimed = s->claim_execution("w", 60000, now);
  ASSERT_OK(claimed);
  ASSERT_TRUE(claimed->has_value());
  EXPECT_EQ((*claimed)->id, e->id);
  *admin << "SELECT COUNT(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity WHERE application_name = :a",
      soci::into(killed), soci::use(name);
  ASSERT_OK(s->heartbeat(e->id, (*claimed)->lease, 60000, now + 1));
  *admin << "SELECT COUNT(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity WHERE application_name = :a",
      soci::into(killed), soci::use(name);
  ASSERT_OK(s->get_execution(e->id));
}

}  // namespace
}  // namespace weft::store
