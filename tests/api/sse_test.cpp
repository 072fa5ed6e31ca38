// Execution events over Server-Sent Events: order and ids, Last-Event-ID resumption, live
// delivery to early subscribers, the end of the stream, heartbeats, isolation and the
// concurrent-stream cap.
#include <gtest/gtest.h>

#include "tests/api/fixture.hpp"

namespace weft::apitest {
namespace {

class SseTest : public ApiTest {
 protected:
  // Short request timeouts: a stream must outlive them (they are for requests being received).
  void configure(app::Config&, api::ServeConfig& serve) override {
    serve.http.header_timeout_ms = 400;
    serve.http.body_timeout_ms = 400;
  }
  std::string events_path(const std::string& eid) { return "/api/executions/" + eid + "/events"; }
  // Every persisted event, via the JSON page.
  std::vector<Json> stored_events(const std::string& token, const std::string& eid) {
    Response r = client().get(events_path(eid) + "?limit=200", token, {{"Accept", "application/json"}});
    EXPECT_EQ(r.status, 200) << r.describe();
    std::vector<Json> out;
    for (const Json& e : r.json()["events"].as_array()) out.push_back(e);
    return out;
  }
  // ids 1..n in order, each event's JSON agrees with its SSE fields.
  static void expect_well_formed(const std::vector<SseEvent>& events, const std::string& eid, int64_t first_seq) {
    int64_t want = first_seq;
    for (const auto& ev : events) {
      EXPECT_EQ(ev.id, std::to_string(want)) << "ids must be consecutive seqs";
      Json j = ev.json();
      EXPECT_EQ(j["seq"].as_int(), want);
      EXPECT_EQ(j["type"].as_string(), ev.event);
      EXPECT_EQ(j["execution_id"].as_string(), eid);
      ++want;
    }
  }
};

TEST_P(SseTest, EventsArriveInOrderWithIdsAndTheStreamEndsAfterWorkflowDone) {
  TestUser u = make_user();
  const std::string id = create_workflow(u.token, quick_workflow());
  Response r = execute(u.token, id);
  ASSERT_EQ(r.status, 200) << r.describe();
  const std::string eid = r.json()["execution"]["id"].as_string();

  auto s = SseStream::open(port(), events_path(eid), u.token);
  ASSERT_EQ(s->status(), 200) << s->head().describe();
  EXPECT_NE(s->head().header("content-type").value_or("").find("text/event-stream"), std::string::npos);
  std::vector<SseEvent> events;
  ASSERT_TRUE(s->wait_end(10000, &events)) << "the stream did not end after workflow_done";
  ASSERT_FALSE(events.empty());
  expect_well_formed(events, eid, 1);
  EXPECT_EQ(events.front().event, "execution_started");
  EXPECT_EQ(events.back().event, "workflow_done");
  EXPECT_EQ(events.back().json()["data"]["status"].as_string(), "succeeded") << events.back().data;
  int starts = 0, completes = 0;
  for (const auto& e : events) {
    starts += e.event == "node_start";
    completes += e.event == "node_complete";
  }
  EXPECT_EQ(starts, 2);
  EXPECT_EQ(completes, 2);
  // Same as what is stored.
  auto stored = stored_events(u.token, eid);
  ASSERT_EQ(stored.size(), events.size());
  for (size_t i = 0; i < stored.size(); ++i) EXPECT_EQ(stored[i]["type"].as_string(), events[i].event);
}

TEST_P(SseTest, LastEventIdResumesWithoutLossOrDuplicates) {
  TestUser u = make_user();
  const std::string id = create_workflow(u.token, quick_workflow());
  Response r = execute(u.token, id);
  ASSERT_EQ(r.status, 200);
  const std::string eid = r.json()["execution"]["id"].as_string();
  auto all = SseStream::open(port(), events_path(eid), u.token);
  std::vector<SseEvent> full;
  ASSERT_TRUE(all->wait_end(10000, &full));
  ASSERT_GE(full.size(), 4u);
  for (size_t k : {size_t{1}, size_t{2}, full.size() - 1}) {
    auto s = SseStream::open(port(), events_path(eid), u.token, std::to_string(k));
    ASSERT_EQ(s->status(), 200);
    std::vector<SseEvent> rest;
    ASSERT_TRUE(s->wait_end(10000, &rest));
    ASSERT_EQ(rest.size(), full.size() - k) << "after " << k;
    expect_well_formed(rest, eid, static_cast<int64_t>(k) + 1);
    for (size_t i = 0; i < rest.size(); ++i) EXPECT_EQ(rest[i].data, full[k + i].data);
  }
  // ?after= does the same for clients that cannot set headers; a bad cursor is a 400.
  auto q = SseStream::open(port(), events_path(eid) + "?after=2", u.token);
  std::vector<SseEvent> rest;
  ASSERT_TRUE(q->wait_end(10000, &rest));
  ASSERT_FALSE(rest.empty());
  EXPECT_EQ(rest.front().id, "3");
  auto bad = SseStream::open(port(), events_path(eid), u.token, "not-a-number");
  EXPECT_TRUE(IsError(bad->head(), 400));
}

TEST_P(SseTest, ResumingALiveExecutionLosesNothing) {
  TestUser u = make_user();
  const std::string id = create_workflow(u.token, wait_workflow(0.6));
  Response r = execute(u.token, id);
  ASSERT_EQ(r.status, 202) << r.describe();
  const std::string eid = r.json()["execution"]["id"].as_string();
  // First connection: read the first two events, then drop it mid-run.
  std::vector<SseEvent> got;
  {
    auto s = SseStream::open(port(), events_path(eid), u.token);
    ASSERT_EQ(s->status(), 200);
    for (int i = 0; i < 2; ++i) {
      auto ev = s->next(10000);
      ASSERT_TRUE(ev.has_value()) << "event " << i;
      got.push_back(*ev);
    }
  }
  // Reconnect from the last id seen; read to the end.
  auto s2 = SseStream::open(port(), events_path(eid), u.token, got.back().id);
  ASSERT_EQ(s2->status(), 200);
  ASSERT_TRUE(s2->wait_end(15000, &got));
  expect_well_formed(got, eid, 1);
  EXPECT_EQ(got.back().event, "workflow_done");
  EXPECT_EQ(got.size(), stored_events(u.token, eid).size());
}

class SseEarlyTest : public SseTest {
 protected:
  // No workers: async executions stay queued until the test starts them.
  void configure(app::Config& c, api::ServeConfig& serve) override {
    SseTest::configure(c, serve);
    serve.start_workers = false;
  }
};

TEST_P(SseEarlyTest, ASubscriberConnectedBeforeTheRunGetsLiveEvents) {
  TestUser u = make_user();
  const std::string id = create_workflow(u.token, five_node_workflow());
  Response r = execute(u.token, id, "?mode=async");
  ASSERT_EQ(r.status, 202) << r.describe();
  const std::string eid = r.json()["execution"]["id"].as_string();
  EXPECT_EQ(r.json()["execution"]["status"].as_string(), "queued");
  auto s = SseStream::open(port(), events_path(eid), u.token);
  ASSERT_EQ(s->status(), 200);
  ASSERT_TRUE(s->wait_comment("connected", 5000));
  // Nothing has run yet.
  const size_t stored_before = stored_events(u.token, eid).size();
  std::vector<SseEvent> early;
  while (early.size() < stored_before) {
    auto ev = s->next(5000);
    ASSERT_TRUE(ev.has_value());
    early.push_back(*ev);
  }
  for (const auto& e : early) EXPECT_NE(e.event, "node_start") << "ran before the workers started";
  server().host().workers().start();
  std::vector<SseEvent> events = early;
  ASSERT_TRUE(s->wait_end(15000, &events)) << "live events did not reach the early subscriber";
  expect_well_formed(events, eid, 1);
  EXPECT_EQ(events.back().event, "workflow_done");
  int starts = 0;
  for (const auto& e : events) starts += e.event == "node_start";
  EXPECT_EQ(starts, 5);
  EXPECT_EQ(events.size(), stored_events(u.token, eid).size());
}

WEFT_API_BACKENDS(SseEarlyTest);

TEST_P(SseTest, HeartbeatCommentsArriveOnAnIdleStream) {
  TestUser u = make_user();
  const std::string id = create_workflow(u.token, wait_workflow(60));
  Response r = execute(u.token, id);
  ASSERT_EQ(r.status, 202);
  const std::string eid = r.json()["execution"]["id"].as_string();
  wait_status(u.token, eid, {"parked"});
  auto s = SseStream::open(port(), events_path(eid), u.token);
  ASSERT_EQ(s->status(), 200);
  EXPECT_TRUE(s->wait_comment("heartbeat", 5000)) << "no heartbeat within 5 s (configured: 200 ms)";
  // The stream stays open well past the header/body timeouts (400 ms here): 8 heartbeats = 1.6 s.
  EXPECT_TRUE(s->wait_comments("heartbeat", 8, 10000)) << "the stream died after " << s->comments().size()
                                                       << " comments (ended: " << s->ended() << ")";
  EXPECT_FALSE(s->ended());
  // Cancelling ends the stream with workflow_done.
  ASSERT_EQ(client().post_empty("/api/executions/" + eid + "/cancel", u.token).status, 200);
  std::vector<SseEvent> events;
  ASSERT_TRUE(s->wait_end(10000, &events));
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().event, "workflow_done");
  EXPECT_EQ(events.back().json()["data"]["status"].as_string(), "cancelled") << events.back().data;
}

TEST_P(SseTest, AnotherUsersExecutionIs404) {
  TestUser a = make_user();
  TestUser b = make_user();
  const std::string id = create_workflow(a.token, quick_workflow());
  Response r = execute(a.token, id);
  ASSERT_EQ(r.status, 200);
  const std::string eid = r.json()["execution"]["id"].as_string();
  auto s = SseStream::open(port(), events_path(eid), b.token);
  EXPECT_TRUE(IsError(s->head(), 404, "not_found"));
  auto none = SseStream::open(port(), events_path(eid), "");
  EXPECT_TRUE(IsError(none->head(), 401, "unauthorized"));
  auto missing = SseStream::open(port(), events_path("01ZZZZZZZZZZZZZZZZZZZZZZZZ"), a.token);
  EXPECT_TRUE(IsError(missing->head(), 404, "not_found"));
}

class SseCapTest : public SseTest {};

TEST_P(SseCapTest, ConcurrentStreamsAreCappedPerTier) {
  TestUser u = make_user("free");  // free: 5 concurrent streams
  const std::string id = create_workflow(u.token, wait_workflow(60));
  Response r = execute(u.token, id);
  ASSERT_EQ(r.status, 202);
  const std::string eid = r.json()["execution"]["id"].as_string();
  wait_status(u.token, eid, {"parked"});
  std::vector<std::unique_ptr<SseStream>> open;
  for (int i = 0; i < 5; ++i) {
    open.push_back(SseStream::open(port(), events_path(eid), u.token));
    ASSERT_EQ(open.back()->status(), 200) << "stream " << i << ": " << open.back()->head().describe();
  }
  auto sixth = SseStream::open(port(), events_path(eid), u.token);
  EXPECT_TRUE(IsError(sixth->head(), 429, "rate_limited"));
  EXPECT_TRUE(sixth->head().header("retry-after").has_value());
  // Another user has their own budget.
  TestUser v = make_user("free");
  const std::string vid = create_workflow(v.token, wait_workflow(60));
  Response vr = execute(v.token, vid);
  ASSERT_EQ(vr.status, 202);
  auto theirs = SseStream::open(port(), events_path(vr.json()["execution"]["id"].as_string()), v.token);
  EXPECT_EQ(theirs->status(), 200);
  // Closing one frees a slot (once the hub notices the client is gone).
  open.front()->close();
  open.erase(open.begin());
  std::unique_ptr<SseStream> again;
  EXPECT_TRUE(eventually(
      [&] {
        again = SseStream::open(port(), events_path(eid), u.token);
        return again->status() == 200;
      },
      5000, 50))
      << "the slot of a closed stream was never released";
  // Streams that end (workflow_done) release their slots too.
  ASSERT_EQ(client().post_empty("/api/executions/" + eid + "/cancel", u.token).status, 200);
  for (auto& s : open) EXPECT_TRUE(s->wait_end(10000));
  if (again) {
    EXPECT_TRUE(again->wait_end(10000));
  }
  const std::string id2 = create_workflow(u.token, wait_workflow(60));
  Response r2 = execute(u.token, id2);
  ASSERT_EQ(r2.status, 202);
  std::vector<std::unique_ptr<SseStream>> next;
  EXPECT_TRUE(eventually(
      [&] {
        auto s = SseStream::open(port(), events_path(r2.json()["execution"]["id"].as_string()), u.token);
        if (s->status() != 200) return false;
        next.push_back(std::move(s));
        return next.size() == 5;
      },
      5000, 20));
}

WEFT_API_BACKENDS(SseCapTest);
WEFT_API_BACKENDS(SseTest);

}  // namespace
}  // namespace weft::apitest
