// The fast decoder of commit arguments (plugins/storage-common/fast_args.hpp) against the general
// path it stands in for (Json::parse + store::from_json + to_commit_args): the same values for
// every text it accepts, and a decline for every text the general path refuses.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "host/store/records.hpp"
#include "plugins/storage-common/fast_args.hpp"

namespace weft::storage {
namespace {

using store::Commit;

// The general path; nullopt when it refuses the text.
std::optional<CommitArgs> general(const std::string& text) {
  auto parsed = Json::parse(text, store::storage_json_limits());
  if (!parsed.ok() || !parsed->is_object()) return std::nullopt;
  Commit c;
  if (!store::from_json(*parsed, c).ok()) return std::nullopt;
  return to_commit_args(c);
}

// Documents compare as JSON values: the fast path keeps the text it was given, which is the
// general path's text whenever the input was compact (what the host sends).
void expect_doc(const std::string& fast, const std::string& general, bool exact, const char* what) {
  if (exact) {
    EXPECT_EQ(fast, general) << what;
    return;
  }
  auto a = Json::parse(fast);
  auto b = Json::parse(general);
  ASSERT_TRUE(a.ok()) << what << ": " << fast;
  ASSERT_TRUE(b.ok()) << what;
  EXPECT_EQ(*a, *b) << what << ": " << fast << " vs " << general;
}

void expect_same(const CommitArgs& f, const CommitArgs& g, bool exact_docs) {
  EXPECT_EQ(f.execution_id, g.execution_id);
  EXPECT_EQ(f.lease.owner, g.lease.owner);
  EXPECT_EQ(f.lease.epoch, g.lease.epoch);
  ASSERT_EQ(f.runs.size(), g.runs.size());
  for (size_t i = 0; i < f.runs.size(); ++i) {
    const auto &a = f.runs[i], &b = g.runs[i];
    EXPECT_EQ(a.node_key, b.node_key);
    EXPECT_EQ(a.node_id, b.node_id);
    EXPECT_EQ(a.scope, b.scope);
    EXPECT_EQ(a.status, b.status);
    EXPECT_EQ(a.attempt, b.attempt);
    EXPECT_EQ(a.started_at_ms, b.started_at_ms);
    EXPECT_EQ(a.finished_at_ms, b.finished_at_ms);
    expect_doc(a.output, b.output, exact_docs, "run output");
    expect_doc(a.error, b.error, exact_docs, "run error");
    expect_doc(a.park, b.park, exact_docs, "run park");
  }
  ASSERT_EQ(f.logs.size(), g.logs.size());
  for (size_t i = 0; i < f.logs.size(); ++i) {
    const auto &a = f.logs[i], &b = g.logs[i];
    EXPECT_EQ(a.node_key, b.node_key);
    EXPECT_EQ(a.node_id, b.node_id);
    EXPECT_EQ(a.status, b.status);
    EXPECT_EQ(a.attempt, b.attempt);
    EXPECT_EQ(a.started_at_ms, b.started_at_ms);
    EXPECT_EQ(a.finished_at_ms, b.finished_at_ms);
    EXPECT_EQ(a.duration_us, b.duration_us);
    EXPECT_EQ(a.lines, b.lines);
    expect_doc(a.input, b.input, exact_docs, "log input");
    expect_doc(a.output, b.output, exact_docs, "log output");
    expect_doc(a.error, b.error, exact_docs, "log error");
  }
  ASSERT_EQ(f.events.size(), g.events.size());
  for (size_t i = 0; i < f.events.size(); ++i) {
    EXPECT_EQ(f.events[i].seq, g.events[i].seq);
    EXPECT_EQ(f.events[i].type, g.events[i].type);
    EXPECT_EQ(f.events[i].ts_ms, g.events[i].ts_ms);
    expect_doc(f.events[i].data, g.events[i].data, exact_docs, "event data");
  }
  ASSERT_EQ(f.execution.has_value(), g.execution.has_value());
  if (!f.execution) return;
  const auto &a = *f.execution, &b = *g.execution;
  EXPECT_EQ(a.status, b.status);
  EXPECT_EQ(a.wake_at_ms, b.wake_at_ms);
  EXPECT_EQ(a.started_at_ms, b.started_at_ms);
  EXPECT_EQ(a.finished_at_ms, b.finished_at_ms);
  EXPECT_EQ(a.release_lease, b.release_lease);
  ASSERT_EQ(a.output.has_value(), b.output.has_value());
  if (a.output) expect_doc(*a.output, *b.output, exact_docs, "update output");
  ASSERT_EQ(a.error.has_value(), b.error.has_value());
  if (a.error) expect_doc(*a.error, *b.error, exact_docs, "update error");
}

// Accepted by both paths, with the same result.
void expect_accepted(const std::string& text, bool exact_docs) {
  SCOPED_TRACE(text.substr(0, 300));
  auto g = general(text);
  ASSERT_TRUE(g.has_value()) << "the general path refuses it";
  CommitArgs f;
  ASSERT_TRUE(decode_commit_args(text, f)) << "the fast path declines it";
  expect_same(f, *g, exact_docs);
}

// Refused by the general path, declined by the fast path.
void expect_declined(const std::string& text) {
  SCOPED_TRACE(text.substr(0, 300));
  EXPECT_FALSE(general(text).has_value()) << "the general path accepts it";
  CommitArgs f;
  EXPECT_FALSE(decode_commit_args(text, f));
}

Json document() {
  return Json::object({
      {"text", "tab\t quote\" backslash\\ nl\n ctl\x01 caf\xc3\xa9 \xf0\x9f\x99\x82"},
      {"numbers", Json::array({0, -7, 9007199254740993LL, 1.5, -0.25, 1e-9, 6.02e23})},
      {"deep", Json::object({{"a", Json::array({Json::object({{"b", Json()}}), true, false})}})},
      {"empty", Json::object({})},
  });
}

Commit full_commit() {
  Commit c;
  c.execution_id = "01exec";
  c.lease = {"host:1:abc", 4};
  store::NodeRunRecord done;
  done.execution_id = "01exec";
  done.node_key = "n1@loop#2";
  done.node_id = "n1";
  done.scope = "loop#2";
  done.status = "succeeded";
  done.attempt = 2;
  done.output = Json::object({{"main", document()}});
  done.started_at_ms = 1700000000000;
  done.finished_at_ms = 1700000000123;
  store::NodeRunRecord next = done;
  next.node_key = "n2";
  next.status = "running";
  next.output = Json();
  next.park = Json::object({{"until_ms", 5}});
  c.runs = {done, next};
  store::NodeLogRecord log;
  log.node_key = "n1";
  log.node_id = "n1";
  log.attempt = 2;
  log.status = "succeeded";
  log.duration_us = 42;
  log.input = document();
  log.output = Json::array({1, "x"});
  log.error = Json::object({{"code", "E"}});
  log.lines = "first\nsecond \"quoted\"";
  c.logs = {log};
  for (int64_t seq : {7, 8}) {
    store::EventRecord e;
    e.execution_id = "01exec";
    e.seq = seq;
    e.type = seq == 7 ? "node_complete" : "node_start";
    e.data = seq == 7 ? document() : Json("plain");
    e.ts_ms = 1700000000200;
    c.events.push_back(e);
  }
  store::ExecutionUpdate u;
  u.status = store::ExecStatus::Failed;
  u.output = Json();
  u.error = document();
  u.finished_at_ms = 99;
  u.release_lease = true;
  c.execution = u;
  return c;
}

TEST(CommitArgs, TheHostsTextDecodesToExactlyWhatTheGeneralPathStores) {
  Commit c = full_commit();
  expect_accepted(store::to_json_text(c), /*exact_docs=*/true);
  // And compared with the record itself.
  CommitArgs f;
  ASSERT_TRUE(decode_commit_args(store::to_json_text(c), f));
  expect_same(f, to_commit_args(c), true);
  // Without an update, lists or ids: defaults.
  expect_accepted(store::to_json_text(Commit{}), true);
  Commit minimal;
  minimal.execution_id = "e";
  minimal.execution = store::ExecutionUpdate{};
  expect_accepted(store::to_json_text(minimal), true);
}

TEST(CommitArgs, OtherSpellingsOfTheSameValuesDecodeToTheSameValues) {
  Commit c = full_commit();
  // Pretty-printed, reordered members, escapes where none are needed, unknown members (ignored,
  // but checked), nulls where the decoders allow them.
  expect_accepted(to_json(c).dump_pretty(), false);
  expect_accepted(
      "  {\"extra\" : {\"x\": [1, {\"y\": null}]},\n"
      "   \"events\" : [ { \"data\" : [ 1 , 2.50 , \"\\u0041\" ] , \"seq\" : 3 , \"type\": \"\\u0074\"} ],\n"
      "   \"runs\": null, \"logs\": [],\n"
      "   \"execution\": {\"status\": null, \"output\": {\"k\" : \"v\"}, \"wake_at_ms\": 12},\n"
      "   \"execution_id\" : \"\\u00e9\", \"lease\": {\"epoch\": 2, \"owner\": \"w\", \"more\": true} }  ",
      false);
  expect_accepted(R"({"execution": null, "runs": [{"output": 5, "park": "p", "error": false}]})", false);
  expect_accepted(R"({"runs": [{"output": -0, "error": 1e2, "park": 18446744073709551615}]})", false);
  // A large object (the duplicate check switches method) without duplicates.
  std::string wide = R"({"events": [{"seq": 1, "data": {)";
  for (int i = 0; i < 40; ++i) wide += (i ? ",\"k" : "\"k") + std::to_string(i) + "\":" + std::to_string(i);
  expect_accepted(wide + "}}]}", true);
}

TEST(CommitArgs, WhatTheGeneralPathRefusesIsDeclined) {
  std::vector<std::string> refused = {
      // Not an object, not JSON, trailing text.
      "[]",
      "\"x\"",
      "null",
      "",
      "{",
      R"({"execution_id": })",
      "{} x",
      // Duplicate keys: at the top, in a record, deep inside a document, in a large object.
      R"({"execution_id": "a", "execution_id": "b"})",
      R"({"runs": [{"node_key": "a", "node_key": "a"}]})",
      R"({"runs": [{"output": {"x": {"y": 1, "y": 2}}}]})",
      R"({"lease": {"owner": "w", "owner": "v"}})",
      // Members of the wrong type.
      R"({"execution_id": 5})",
      R"({"lease": null})",
      R"({"lease": []})",
      R"({"lease": {"epoch": 1.5}})",
      R"({"lease": {"epoch": "1"}})",
      R"({"runs": {}})",
      R"({"runs": [1]})",
      R"({"runs": [null]})",
      R"({"runs": [{"attempt": "1"}]})",
      R"({"runs": [{"node_key": null}]})",
      R"({"logs": [{"lines": 3}]})",
      R"({"events": [{"seq": 18446744073709551615}]})",
      R"({"events": [{"seq": 1.0}]})",
      R"({"execution": 1})",
      R"({"execution": {"status": "bogus"}})",
      R"({"execution": {"status": 1}})",
      R"({"execution": {"release_lease": null}})",
      R"({"execution": {"wake_at_ms": null}})",
      // Invalid UTF-8 inside a string, a NUL byte in the text.
      "{\"execution_id\": \"\xff\"}",
      std::string("{\"execution_id\": \"a\0b\"}", 24),
  };
  std::string wide = R"({"runs": [{"output": {)";
  for (int i = 0; i < 40; ++i) wide += "\"k" + std::to_string(i) + "\":1,";
  refused.push_back(wide + "\"k7\":2}}]}");
  // Nested deeper than the storage limit.
  const size_t too_deep = store::storage_json_limits().max_depth + 1;
  refused.push_back(R"({"runs": [{"output": )" + std::string(too_deep, '[') + std::string(too_deep, ']') +
                    "}]}");
  for (const std::string& text : refused) expect_declined(text);

  // Exactly at the limit is fine for both.
  const size_t deepest = store::storage_json_limits().max_depth - 3;  // root, runs, run
  expect_accepted(R"({"runs": [{"output": )" + std::string(deepest, '[') + std::string(deepest, ']') + "}]}",
                  true);
}

TEST(CommitArgs, CommitsWithHumanRequestsOrASpawnTakeTheGeneralPath) {
  // The fast decoder would drop these members: it must decline, and the general path carries them.
  Commit with_request = full_commit();
  store::HumanRequestRecord h;
  h.id = "r1";
  h.kind = "approval";
  h.assignees = {"u2"};
  with_request.requests = {h};
  Commit consumed = full_commit();
  consumed.consumed_requests = {"r1"};
  Commit spawn = full_commit();
  spawn.spawn = store::NewExecution{};
  spawn.spawn->idempotency_key = "error:e";
  for (const Commit* c : {&with_request, &consumed, &spawn}) {
    const std::string text = store::to_json_text(*c);
    CommitArgs f;
    EXPECT_FALSE(decode_commit_args(text, f)) << text.substr(0, 200);
    auto g = general(text);
    ASSERT_TRUE(g.has_value());
    EXPECT_EQ(g->requests.size(), c->requests.size());
    EXPECT_EQ(g->consumed_requests, c->consumed_requests);
    EXPECT_EQ(g->spawn.has_value(), c->spawn.has_value());
  }
  ASSERT_EQ(general(store::to_json_text(with_request))->requests[0].assignees, h.assignees);
  // Empty lists are not sent, and a plain commit still takes the fast path.
  CommitArgs f;
  EXPECT_TRUE(decode_commit_args(store::to_json_text(full_commit()), f));
}

// ---- create_execution ---------------------------------------------------------------------------

std::optional<CreateArgs> general_create(const std::string& text) {
  auto parsed = Json::parse(text, store::storage_json_limits());
  if (!parsed.ok() || !parsed->is_object()) return std::nullopt;
  store::NewExecution ne;
  if (!store::from_json(*parsed, ne).ok()) return std::nullopt;
  const Json& omit = (*parsed)["omit_sent_documents"];
  if (!omit.is_null() && !omit.is_bool()) return std::nullopt;
  return to_create_args(std::move(ne), omit.as_bool());
}

void expect_create_accepted(const std::string& text, bool exact_docs) {
  SCOPED_TRACE(text.substr(0, 300));
  auto g = general_create(text);
  ASSERT_TRUE(g.has_value()) << "the general path refuses it";
  CreateArgs f;
  ASSERT_TRUE(decode_create_args(text, f)) << "the fast path declines it";
  EXPECT_EQ(f.ne.id, g->ne.id);
  EXPECT_EQ(f.ne.workflow_id, g->ne.workflow_id);
  EXPECT_EQ(f.ne.workflow_version, g->ne.workflow_version);
  EXPECT_EQ(f.ne.owner_id, g->ne.owner_id);
  EXPECT_EQ(f.ne.idempotency_key, g->ne.idempotency_key);
  EXPECT_EQ(f.ne.mode, g->ne.mode);
  EXPECT_EQ(f.ne.deadline_at_ms, g->ne.deadline_at_ms);
  EXPECT_EQ(f.ne.claim_owner, g->ne.claim_owner);
  EXPECT_EQ(f.ne.lease_ms, g->ne.lease_ms);
  EXPECT_TRUE(f.omit_sent_documents);
  EXPECT_EQ(g->omit_sent_documents, true);
  expect_doc(f.definition, g->definition, exact_docs, "definition");
  expect_doc(f.input, g->input, exact_docs, "input");
}

std::string with_omit(std::string text) {
  text.insert(text.size() - 1, R"(,"omit_sent_documents":true)");
  return text;
}

TEST(CreateArgs, TheHostsTextDecodesToWhatTheGeneralPathStores) {
  store::NewExecution ne;
  ne.id = "01x";
  ne.workflow_id = "wf";
  ne.workflow_version = 7;
  ne.owner_id = "alice";
  ne.definition = Json::object({{"nodes", Json::array({document(), document()})}});
  ne.input = document();
  ne.idempotency_key = "k";
  ne.mode = "sync";
  ne.deadline_at_ms = 99;
  ne.claim_owner = "host:1:abc";
  ne.lease_ms = 1234;
  expect_create_accepted(with_omit(store::to_json_text(ne)), true);
  expect_create_accepted(with_omit(store::to_json_text(store::NewExecution{})), true);
  // Missing members keep NewExecution's defaults (lease_ms included), documents are null.
  expect_create_accepted(R"({"omit_sent_documents": true, "definition": {"a": [1, 2.5e1]}})", false);
  CreateArgs bare;
  ASSERT_TRUE(decode_create_args(R"({"omit_sent_documents":true})", bare));
  EXPECT_EQ(bare.ne.lease_ms, store::NewExecution{}.lease_ms);
  EXPECT_EQ(bare.definition, "null");
  EXPECT_EQ(bare.input, "null");
}

TEST(CreateArgs, DeclinesWithoutTheFlagAndWhatTheGeneralPathRefuses) {
  CreateArgs out;
  // Accepted by the general path, but a result that echoes the documents needs them as values.
  EXPECT_FALSE(decode_create_args(store::to_json_text(store::NewExecution{}), out));
  EXPECT_FALSE(decode_create_args(R"({"omit_sent_documents": false})", out));
  for (const std::string text : {
           R"({"omit_sent_documents": true, "lease_ms": "5"})",
           R"({"omit_sent_documents": true, "workflow_version": 1.5})",
           R"({"omit_sent_documents": true, "id": 3})",
           R"({"omit_sent_documents": true, "id": "a", "id": "b"})",
           R"({"omit_sent_documents": true, "definition": {"x": 1, "x": 2}})",
           R"({"omit_sent_documents": true, "definition": {"x": )",
           R"({"omit_sent_documents": 1})",
       }) {
    SCOPED_TRACE(text);
    EXPECT_FALSE(decode_create_args(text, out));
    auto g = general_create(text);
    EXPECT_TRUE(!g.has_value() || !g->omit_sent_documents);
  }
}

}  // namespace
}  // namespace weft::storage
