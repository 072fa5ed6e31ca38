// The record codec (host/store/records.hpp) and the store URL parsing of the storage plugins.
#include <gtest/gtest.h>

#include <limits>

#include "host/store/records.hpp"
#include "plugins/storage-common/urls.hpp"

namespace weft::store {
namespace {

template <typename T>
T round_trip(const T& v) {
  // Through text, as across the ABI.
  auto parsed = Json::parse(to_json(v).dump());
  EXPECT_TRUE(parsed.ok());
  T out;
  Status s = from_json(*parsed, out);
  EXPECT_TRUE(s.ok()) << s.error().message;
  return out;
}

TEST(Records, ExecutionRecordRoundTrips) {
  ExecutionRecord e;
  e.id = "01hx";
  e.workflow_id = "wf";
  e.workflow_version = 3;
  e.owner_id = "alice";
  e.status = ExecStatus::Parked;
  e.definition = Json::object({{"nodes", Json::array({1, 2})}});
  e.input = Json::object({{"x", 1}});
  e.output = "out";
  e.error = Json::object({{"code", "x"}});
  e.idempotency_key = "k";
  e.mode = "sync";
  e.created_at_ms = 1;
  e.started_at_ms = 2;
  e.finished_at_ms = 3;
  e.updated_at_ms = 4;
  e.wake_at_ms = 5;
  e.deadline_at_ms = 6;
  e.lease = {"w1", 7};
  e.lease_expires_at_ms = 8;
  e.cancel_requested = true;
  e.pause_requested = true;
  e.last_event_seq = 9;
  ExecutionRecord r = round_trip(e);
  EXPECT_EQ(to_json(r), to_json(e));
  EXPECT_EQ(r.status, ExecStatus::Parked);
  EXPECT_EQ(r.lease.owner, "w1");
  EXPECT_EQ(r.lease.epoch, 7);
}

TEST(Records, CommitRoundTripsWithOptionalUpdateMembers) {
  Commit c;
  c.execution_id = "e1";
  c.lease = {"w", 2};
  NodeRunRecord run;
  run.node_key = "a@l#1";
  run.node_id = "a";
  run.scope = "l#1";
  run.status = "succeeded";
  run.attempt = 2;
  run.output = Json::object({{"main", 1}});
  c.runs.push_back(run);
  NodeLogRecord log;
  log.node_key = "a";
  log.lines = "x\ny";
  log.duration_us = 5;
  c.logs.push_back(log);
  EventRecord ev;
  ev.seq = 4;
  ev.type = "node_complete";
  ev.data = Json::object({{"n", 1}});
  c.events.push_back(ev);
  c.execution = ExecutionUpdate{};
  c.execution->status = ExecStatus::Succeeded;
  c.execution->output = Json();  // explicitly set to null: must survive as "set"
  c.execution->release_lease = true;

  Commit r = round_trip(c);
  EXPECT_EQ(to_json(r), to_json(c));
  ASSERT_TRUE(r.execution.has_value());
  EXPECT_TRUE(r.execution->output.has_value());
  EXPECT_TRUE(r.execution->output->is_null());
  EXPECT_FALSE(r.execution->error.has_value());
  EXPECT_FALSE(r.execution->wake_at_ms.has_value());
  EXPECT_TRUE(r.execution->release_lease);
  ASSERT_EQ(r.runs.size(), 1u);
  EXPECT_EQ(r.runs[0].scope, "l#1");
  EXPECT_EQ(r.logs[0].lines, "x\ny");

  Commit bare;
  bare.execution_id = "e";
  EXPECT_FALSE(round_trip(bare).execution.has_value());
}

TEST(Records, OtherShapesRoundTrip) {
  WorkflowRecord w{"id", 2, "o", "n", Json::object({{"a", 1}}), 9};
  EXPECT_EQ(to_json(round_trip(w)), to_json(w));
  NewExecution n;
  n.id = "x";
  n.claim_owner = "me";
  n.lease_ms = 5;
  n.input = Json::array({1});
  EXPECT_EQ(to_json(round_trip(n)), to_json(n));
  ExecutionFilter f;
  f.owner_id = "o";
  f.status = ExecStatus::Failed;
  f.before_id = "b";
  f.limit = 7;
  ExecutionFilter fr = round_trip(f);
  EXPECT_EQ(to_json(fr), to_json(f));
  ASSERT_TRUE(fr.status.has_value());
  EXPECT_EQ(*fr.status, ExecStatus::Failed);
}

TEST(Records, WrongTypesAreNamed) {
  ExecutionRecord e;
  Status s = from_json(Json::object({{"id", "x"}, {"workflow_version", "3"}}), e);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, "invalid_argument");
  EXPECT_NE(s.error().message.find("workflow_version"), std::string::npos) << s.error().message;

  s = from_json(Json::object({{"status", "sleeping"}}), e);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("status"), std::string::npos);

  Commit c;
  s = from_json(Json::object({{"events", Json::array({Json::object({{"seq", "one"}})})}}), c);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("seq"), std::string::npos) << s.error().message;

  s = from_json(Json::array(), e);
  ASSERT_FALSE(s.ok());
}

TEST(Records, AccountShapesRoundTrip) {
  UserRecord u;
  u.id = "u1";
  u.email = "a@example.com";
  u.password_hash = "$argon2id$v=19$x";
  u.role = "admin";
  u.tier = "pro";
  u.disabled = true;
  u.created_at_ms = 1;
  u.updated_at_ms = 2;
  EXPECT_EQ(to_json(round_trip(u)), to_json(u));

  SessionRecord se{"s1", "u1", "h2", "h1", 1, 2, 3, 4};
  EXPECT_EQ(to_json(round_trip(se)), to_json(se));

  ApiKeyRecord k;
  k.id = "k1";
  k.user_id = "u1";
  k.name = "ci";
  k.prefix = "abc";
  k.hash = "ff";
  k.scopes = {"workflows:read", "*"};
  k.created_at_ms = 1;
  k.expires_at_ms = 2;
  k.revoked_at_ms = 3;
  k.last_used_at_ms = 4;
  k.replaced_by = "k2";
  ApiKeyRecord kr = round_trip(k);
  EXPECT_EQ(to_json(kr), to_json(k));
  EXPECT_EQ(kr.scopes, k.scopes);

  WorkflowSummary w{"wf", "o", "n", 3, 10, 20};
  EXPECT_EQ(to_json(round_trip(w)), to_json(w));
  WorkflowFilter f{"o", 7, "after"};
  EXPECT_EQ(to_json(round_trip(f)), to_json(f));
  WebhookRoute r{"/p", "wf", "o", "trigger", "ANY", "hmac", 5};
  EXPECT_EQ(to_json(round_trip(r)), to_json(r));
}

TEST(Records, AccountUpdatesCarryOnlyTheSetMembers) {
  UserUpdate none;
  EXPECT_EQ(to_json(none), Json::object({{"revoke_sessions", false}}));
  UserUpdate u;
  u.password_hash = "h";
  u.disabled = false;  // set to false is still "set"
  u.revoke_sessions = true;
  UserUpdate ur = round_trip(u);
  EXPECT_EQ(to_json(ur), to_json(u));
  EXPECT_EQ(ur.password_hash, std::optional<std::string>("h"));
  EXPECT_FALSE(ur.role.has_value());
  EXPECT_FALSE(ur.tier.has_value());
  ASSERT_TRUE(ur.disabled.has_value());
  EXPECT_FALSE(*ur.disabled);
  EXPECT_TRUE(ur.revoke_sessions);

  ApiKeyUpdate empty;
  EXPECT_EQ(to_json(empty), Json::object());
  ApiKeyUpdate k;
  k.revoked_at_ms = 0;
  k.replaced_by = "k2";
  ApiKeyUpdate kr = round_trip(k);
  EXPECT_EQ(to_json(kr), to_json(k));
  EXPECT_EQ(kr.revoked_at_ms, std::optional<int64_t>(0));
  EXPECT_FALSE(kr.expires_at_ms.has_value());
  EXPECT_FALSE(kr.last_used_at_ms.has_value());
}

TEST(Records, AccountShapesNameWrongTypes) {
  ApiKeyRecord k;
  Status s = from_json(Json::object({{"scopes", "workflows:read"}}), k);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, "invalid_argument");
  EXPECT_NE(s.error().message.find("scopes"), std::string::npos) << s.error().message;
  s = from_json(Json::object({{"scopes", Json::array({"a", 1})}}), k);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("scopes"), std::string::npos) << s.error().message;

  UserRecord u;
  s = from_json(Json::object({{"disabled", 1}}), u);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("disabled"), std::string::npos) << s.error().message;
  UserUpdate uu;
  s = from_json(Json::object({{"role", Json()}}), uu);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("role"), std::string::npos) << s.error().message;
  ApiKeyUpdate ku;
  s = from_json(Json::object({{"expires_at_ms", "soon"}}), ku);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("expires_at_ms"), std::string::npos) << s.error().message;
  WebhookRoute r;
  s = from_json(Json::object({{"created_at_ms", 1.5}}), r);
  ASSERT_FALSE(s.ok());

  // Missing members keep their defaults.
  UserRecord d;
  ASSERT_TRUE(from_json(Json::object({{"email", "x@y"}}), d).ok());
  EXPECT_EQ(d.role, "user");
  EXPECT_EQ(d.tier, "free");
  WebhookRoute dr;
  ASSERT_TRUE(from_json(Json::object(), dr).ok());
  EXPECT_EQ(dr.method, "POST");
}

TEST(Records, StatusNames) {
  for (auto st : {ExecStatus::Queued, ExecStatus::Running, ExecStatus::Parked, ExecStatus::Paused,
                  ExecStatus::Succeeded, ExecStatus::Failed, ExecStatus::Cancelled}) {
    auto back = exec_status_from(to_string(st));
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(*back, st);
  }
  EXPECT_FALSE(exec_status_from("done").has_value());
  EXPECT_TRUE(is_final(ExecStatus::Cancelled));
  EXPECT_FALSE(is_final(ExecStatus::Paused));
}

TEST(Records, ErrorsRoundTripAndMalformedReportsAreContained) {
  Error e("lease_lost", "execution x: lease gone", R"({"epoch":3})");
  Error back = error_from_json_text(error_to_json(e).dump(), "backend");
  EXPECT_EQ(back.code, "lease_lost");
  EXPECT_EQ(back.message, e.message);
  EXPECT_EQ(back.details, R"({"epoch":3})");

  Error junk = error_from_json_text("segfault?!", "storage backend 'x' commit");
  EXPECT_EQ(junk.code, "storage_error");
  EXPECT_NE(junk.message.find("storage backend 'x' commit"), std::string::npos);
  EXPECT_NE(junk.message.find("segfault?!"), std::string::npos);
}

// Values that exercise every corner of the text encoding: escapes and control characters, UTF-8,
// integers at the int64 limits, doubles RapidJSON formats in its own way, nesting, empties.
Json tricky_document() {
  std::string controls;
  for (int c = 0; c < 0x20; ++c) controls.push_back(static_cast<char>(c));
  Json::Array doubles;
  for (double d : {0.0, -0.0, 1.0, -1.5, 0.1, 1e21, 1e-7, 123456789.125, 3.141592653589793, 1e308, 5e-324}) {
    doubles.push_back(d);
  }
  doubles.push_back(std::numeric_limits<double>::infinity());  // written as null
  return Json::object({
      {"controls", controls},
      {"quotes", "a \"quoted\" \\ back/slash"},
      {"utf8", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x99\x82 \x7f"},
      {"ints",
       Json::array({0, -1, std::numeric_limits<int64_t>::max(), std::numeric_limits<int64_t>::min()})},
      {"doubles", Json(std::move(doubles))},
      {"nested",
       Json::object({{"a", Json::array({Json::array({}), Json::object({}), Json(), true, false})}})},
      {"", "empty key"},
  });
}

TEST(Records, FastTextIsExactlyTheDump) {
  const Json doc = tricky_document();
  EXPECT_EQ(to_json_text(doc), doc.dump());
  for (const Json& v :
       {Json(), Json(true), Json(42), Json(2.5), Json("s"), Json::array({}), Json::object({})}) {
    EXPECT_EQ(to_json_text(v), v.dump());
  }

  Commit c;
  EXPECT_EQ(to_json_text(c), to_json(c).dump());  // all empty, no execution update
  c.execution_id = "e\"1";
  c.lease = {"w\n1", -3};
  NodeRunRecord run;
  run.node_key = "a@l#1";
  run.output = doc;
  run.park = Json::object({{"until", 5}});
  c.runs = {run, run};
  NodeLogRecord log;
  log.input = doc;
  log.lines = "line 1\nline 2\t\x01";
  c.logs = {log};
  EventRecord ev;
  ev.seq = 7;
  ev.type = "node_complete";
  ev.data = doc;
  c.events = {ev};
  ExecutionUpdate u;
  u.release_lease = true;
  c.execution = u;
  EXPECT_EQ(to_json_text(c), to_json(c).dump());
  u.status = ExecStatus::Succeeded;
  u.output = Json();  // present null: "set the output to null"
  u.error = doc;
  u.wake_at_ms = 0;
  u.started_at_ms = 1;
  u.finished_at_ms = -2;
  c.execution = u;
  EXPECT_EQ(to_json_text(c), to_json(c).dump());

  NewExecution ne;
  EXPECT_EQ(to_json_text(ne), to_json(ne).dump());
  ne.id = "x";
  ne.definition = doc;
  ne.input = Json::array({1, "two"});
  ne.claim_owner = "w";
  ne.deadline_at_ms = 99;
  EXPECT_EQ(to_json_text(ne), to_json(ne).dump());
}

TEST(Records, VaultAndAuditShapesRoundTrip) {
  CredentialRecord c;
  c.id = "c1";
  c.owner_id = "alice";
  c.name = "Slack";
  c.type = "slack_token";
  c.data = Json::object({{"team", "t"}});
  c.secrets = Json::object({{"token", Json::object({{"v", 2}, {"c", "abc"}})}});
  c.key_version = 2;
  c.created_at_ms = 10;
  c.updated_at_ms = 11;
  EXPECT_EQ(to_json(round_trip(c)), to_json(c));

  CredentialUpdate u;
  u.updated_at_ms = 5;
  EXPECT_EQ(to_json(u), Json::object({{"updated_at_ms", 5}})) << "unset members are absent";
  u.name = "n";
  u.data = Json::object();
  u.secrets = Json::object();
  u.key_version = 3;
  CredentialUpdate back = round_trip(u);
  EXPECT_EQ(to_json(back), to_json(u));
  ASSERT_TRUE(back.key_version.has_value());
  EXPECT_EQ(*back.key_version, 3);

  VaultKeyCheck k{4, "check", 12};
  EXPECT_EQ(to_json(round_trip(k)), to_json(k));

  AuditRecord a;
  a.seq = 7;
  a.ts_ms = 8;
  a.user_id = "u";
  a.action_type = "credential.access";
  a.workflow_id = "wf";
  a.execution_id = "ex";
  a.node_id = "n";
  a.entry = R"({"x":1})";
  a.prev_hash = std::string(64, '0');
  a.hash = std::string(64, 'f');
  EXPECT_EQ(to_json(round_trip(a)), to_json(a));

  AuditFilter f{"u", "credential.", "wf", 1, 2, 3, 4};
  EXPECT_EQ(to_json(round_trip(f)), to_json(f));

  CredentialRecord wrong;
  Status s = from_json(Json::object({{"key_version", "2"}}), wrong);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message, "credential record member 'key_version' must be an integer, got \"2\"");
}

TEST(Records, SealedSecretsAreCheckedWithoutQuotingThem) {
  auto sealed = [](int64_t v) { return Json::object({{"v", v}, {"c", "x"}}); };
  EXPECT_EQ(*sealed_secrets_min_version(Json::object()), 0);
  EXPECT_EQ(*sealed_secrets_min_version(Json::object({{"a", sealed(3)}, {"b", sealed(2)}})), 2);
  auto plain = sealed_secrets_min_version(Json::object({{"password", "hunter2-canary"}}));
  ASSERT_FALSE(plain.ok());
  EXPECT_EQ(plain.error().code, "invalid_argument");
  EXPECT_NE(plain.error().message.find("'password'"), std::string::npos) << plain.error().message;
  EXPECT_EQ(plain.error().message.find("canary"), std::string::npos) << plain.error().message;
  EXPECT_FALSE(sealed_secrets_min_version(Json::array()).ok());
  EXPECT_FALSE(sealed_secrets_min_version(Json::object({{"a", Json::object({{"v", 1}})}})).ok());
  EXPECT_FALSE(sealed_secrets_min_version(Json::object({{"a", Json::object({{"v", -1}, {"c", "x"}})}})).ok());
  EXPECT_FALSE(
      sealed_secrets_min_version(Json::object({{"a", Json::object({{"v", 1.5}, {"c", "x"}})}})).ok());
}

TEST(Records, TheAuditChainIsSha256OfThePreviousHashANewlineAndTheEntry) {
  const std::string zeros(64, '0');
  EXPECT_EQ(audit_genesis_hash(), zeros);
  // Computed independently: sha256(("0" * 64) + "\n" + '{"a":1}').
  EXPECT_EQ(audit_chain_hash(zeros, R"({"a":1})"),
            "f21735afd2cd6af4fc5804b0045cebfd545aef8396d29d030c39cb8880b45b7f");

  std::vector<AuditRecord> chain;
  std::string prev = zeros;
  for (int i = 1; i <= 4; ++i) {
    AuditRecord r;
    r.seq = i;
    r.entry = "{\"n\":" + std::to_string(i) + "}";
    r.prev_hash = prev;
    r.hash = audit_chain_hash(prev, r.entry);
    prev = r.hash;
    chain.push_back(r);
  }
  EXPECT_EQ(verify_audit_chain(chain, zeros), 0);
  EXPECT_EQ(verify_audit_chain({}, zeros), 0);
  EXPECT_EQ(verify_audit_chain(chain, chain[0].hash), 1) << "wrong starting point";
  auto edited = chain;
  edited[2].entry = "{\"n\":30}";
  EXPECT_EQ(verify_audit_chain(edited, zeros), 3);
  edited[2].hash = audit_chain_hash(edited[2].prev_hash, edited[2].entry);
  EXPECT_EQ(verify_audit_chain(edited, zeros), 4);
  auto swapped = chain;
  std::swap(swapped[1], swapped[2]);
  EXPECT_EQ(verify_audit_chain(swapped, zeros), 3);
}

// ---- schema v8 -----------------------------------------------------------------------------------

HumanRequestRecord sample_request() {
  HumanRequestRecord h;
  h.id = "r1";
  h.execution_id = "e1";
  h.owner_id = "alice";
  h.workflow_id = "wf";
  h.node_id = "ask";
  h.node_key = "ask@l#2";
  h.kind = "approval";
  h.request = Json::object({{"title", "Ship it?"}, {"options", Json::array({"yes", "no"})}});
  h.assignees = {"u2", "bob@example.com"};
  h.mode = "all";
  h.status = "answered";
  h.votes = Json::array({Json::object({{"user_id", "u2"}, {"decision", "approve"}})});
  h.response = Json::object({{"approved", true}});
  h.answered_by = "u2";
  h.version = 3;
  h.created_at_ms = 10;
  h.deadline_at_ms = 20;
  h.answered_at_ms = 15;
  h.resumed_at_ms = 16;
  return h;
}

TEST(Records, HumanRequestAndScheduleShapesRoundTrip) {
  const HumanRequestRecord h = sample_request();
  HumanRequestRecord hr = round_trip(h);
  EXPECT_EQ(to_json(hr), to_json(h));
  EXPECT_EQ(hr.assignees, h.assignees);
  EXPECT_EQ(hr.resumed_at_ms, 16);
  // Defaults survive a record written by an older writer (members missing).
  HumanRequestRecord bare;
  ASSERT_TRUE(from_json(Json::object({{"id", "x"}}), bare).ok());
  EXPECT_EQ(bare.mode, "any");
  EXPECT_EQ(bare.status, "open");
  EXPECT_TRUE(bare.votes.is_array());

  HumanRequestFilter f;
  f.owner_id = "alice";
  f.principals = {"u1", "a@example.com"};
  f.execution_id = "e";
  f.status = "open";
  f.limit = 7;
  f.after_id = "r0";
  HumanRequestFilter fr = round_trip(f);
  EXPECT_EQ(to_json(fr), to_json(f));
  EXPECT_EQ(fr.principals, f.principals);

  HumanResponse resp;
  resp.id = "r1";
  resp.expected_version = 4;
  resp.votes = Json::array({1});
  resp.final = true;
  resp.response = Json::object({{"answer", "42"}});
  resp.answered_by = "u";
  resp.now_ms = 99;
  HumanResponse rr = round_trip(resp);
  EXPECT_EQ(to_json(rr), to_json(resp));
  EXPECT_TRUE(rr.final);

  ScheduleRecord sc;
  sc.id = "s1";
  sc.owner_id = "o";
  sc.workflow_id = "wf";
  sc.name = "nightly";
  sc.cron = "0 3 * * *";
  sc.timezone = "Europe/Berlin";
  sc.enabled = false;
  sc.missed_policy = "skip";
  sc.input = Json::object({{"x", 1}});
  sc.next_run_at_ms = 5;
  sc.last_run_at_ms = 4;
  sc.last_execution_id = "e9";
  sc.version = 2;
  sc.created_at_ms = 1;
  sc.updated_at_ms = 3;
  ScheduleRecord sr = round_trip(sc);
  EXPECT_EQ(to_json(sr), to_json(sc));
  EXPECT_FALSE(sr.enabled);

  ScheduleFire fire;
  fire.id = "s1";
  fire.expected_next_run_at_ms = 5;
  fire.fired_at_ms = 5;
  fire.next_run_at_ms = 6;
  EXPECT_FALSE(round_trip(fire).execution.has_value());
  fire.execution = NewExecution{};
  fire.execution->idempotency_key = "schedule:s1:5";
  ScheduleFire fr2 = round_trip(fire);
  EXPECT_EQ(to_json(fr2), to_json(fire));
  ASSERT_TRUE(fr2.execution.has_value());
  EXPECT_EQ(fr2.execution->idempotency_key, "schedule:s1:5");

  ScheduleRecord wrong;
  Status st = from_json(Json::object({{"enabled", 1}}), wrong);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("enabled"), std::string::npos) << st.error().message;
  HumanRequestRecord wrong_h;
  st = from_json(Json::object({{"assignees", Json::array({"a", 2})}}), wrong_h);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("assignees"), std::string::npos) << st.error().message;
}

TEST(Records, CommitCarriesRequestsConsumedRequestsAndSpawn) {
  Commit c;
  c.execution_id = "e1";
  c.lease = {"w", 1};
  // Without the v8 members the text is what it always was: no new keys.
  EXPECT_EQ(to_json(c).find("requests"), nullptr);
  EXPECT_EQ(to_json(c).find("consumed_requests"), nullptr);
  EXPECT_EQ(to_json(c).find("spawn"), nullptr);

  c.requests = {sample_request(), sample_request()};
  c.requests[1].id = "r2";
  c.requests[1].assignees.clear();
  c.consumed_requests = {"r0", "r\"q"};
  c.spawn = NewExecution{};
  c.spawn->id = "x";
  c.spawn->owner_id = "alice";
  c.spawn->idempotency_key = "error:e1";
  c.spawn->input = Json::object({{"error", Json::object({{"code", "boom"}})}});
  EXPECT_EQ(to_json_text(c), to_json(c).dump());

  Commit r = round_trip(c);
  EXPECT_EQ(to_json(r), to_json(c));
  ASSERT_EQ(r.requests.size(), 2u);
  EXPECT_EQ(r.requests[0].assignees, c.requests[0].assignees);
  EXPECT_TRUE(r.requests[1].assignees.empty());
  EXPECT_EQ(r.consumed_requests, c.consumed_requests);
  ASSERT_TRUE(r.spawn.has_value());
  EXPECT_EQ(r.spawn->idempotency_key, "error:e1");

  // Only one of them set: still the same text both ways.
  Commit only;
  only.consumed_requests = {"r1"};
  EXPECT_EQ(to_json_text(only), to_json(only).dump());
  Commit bad;
  Status st = from_json(Json::object({{"spawn", Json::object({{"lease_ms", "5"}})}}), bad);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("spawn"), std::string::npos) << st.error().message;
  st = from_json(Json::object({{"consumed_requests", Json::array({1})}}), bad);
  ASSERT_FALSE(st.ok());
}

}  // namespace
}  // namespace weft::store

namespace weft::storage {
namespace {

TEST(StoreUrls, Sqlite) {
  auto rel = parse_sqlite_url("sqlite:var/weft.db");
  ASSERT_TRUE(rel.ok());
  EXPECT_FALSE(rel->memory);
  EXPECT_EQ(rel->path, "var/weft.db");
  auto abs = parse_sqlite_url("sqlite:///abs/path.db");
  ASSERT_TRUE(abs.ok());
  EXPECT_EQ(abs->path, "/abs/path.db");
  auto abs2 = parse_sqlite_url("sqlite:/abs/path.db");
  ASSERT_TRUE(abs2.ok());
  EXPECT_EQ(abs2->path, "/abs/path.db");
  auto mem = parse_sqlite_url("sqlite::memory:");
  ASSERT_TRUE(mem.ok());
  EXPECT_TRUE(mem->memory);
  EXPECT_FALSE(parse_sqlite_url("sqlite://host/x.db").ok());
  EXPECT_FALSE(parse_sqlite_url("sqlite:").ok());
  EXPECT_FALSE(parse_sqlite_url("sqlite:a\"b.db").ok());
  EXPECT_FALSE(parse_sqlite_url("postgresql://x").ok());
}

TEST(StoreUrls, PostgresToConninfo) {
  auto t = parse_postgres_url("postgresql://weft@127.0.0.1:5433/weft_test", 5);
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(t->conninfo, "user=weft host=127.0.0.1 port=5433 dbname=weft_test connect_timeout=5");
  EXPECT_EQ(t->display, "weft@127.0.0.1:5433/weft_test");

  auto full = parse_postgres_url(
      "postgres://me:p%40ss'w\\d@[::1]:6000,db2/my%20db?sslmode=require&application_name=w&connect_timeout=9",
      5);
  ASSERT_FALSE(full.ok());  // "my db" has a space: cannot go through SOCI 4.0
  EXPECT_NE(full.error().message.find("dbname"), std::string::npos) << full.error().message;

  auto escaped = parse_postgres_url(
      "postgres://me:p%40ss'w\\d@[::1]:6000,db2/mydb?sslmode=require&connect_timeout=9", 5);
  ASSERT_TRUE(escaped.ok()) << escaped.error().message;
  EXPECT_EQ(escaped->conninfo,
            "password=p@ss\\'w\\\\d user=me host=::1,db2 port=6000, dbname=mydb sslmode=require "
            "connect_timeout=9");
  EXPECT_EQ(escaped->display.find("p@ss"), std::string::npos) << "the password leaked into messages";

  auto local = parse_postgres_url("postgresql:///weft", 0);
  ASSERT_TRUE(local.ok());
  EXPECT_EQ(local->conninfo, "dbname=weft");

  auto spaced = parse_postgres_url("postgresql://u:a%20b@h/db", 5);
  ASSERT_FALSE(spaced.ok());
  EXPECT_NE(spaced.error().message.find("passfile"), std::string::npos);
  EXPECT_FALSE(parse_postgres_url("postgresql://h:port/db", 5).ok());
  EXPECT_FALSE(parse_postgres_url("postgresql://h/db?novalue", 5).ok());
  EXPECT_FALSE(parse_postgres_url("postgresql://h/db%zz", 5).ok());
  EXPECT_FALSE(parse_postgres_url("mysql://h/db", 5).ok());
}

}  // namespace
}  // namespace weft::storage
