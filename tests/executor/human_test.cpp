// Human in the loop in the executor (PRODUCT.md §5): parks that ask people become human requests
// in the store, answers and timeouts resume them, on_error "ask" offers retry / skip / stop, and a
// failed execution starts its error workflow. Real store (SQLite file, or PostgreSQL when
// WEFT_TEST_PG_URL is set), the real core plugin; answers go through the store's
// respond_human_request exactly as the human service applies them (the service itself is
// tested in tests/api).
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "fixture.hpp"
#include "host/core/call.hpp"
#include "tests/vault/forwarding_store.hpp"

using weft::Json;
using weft::executor::RunOutcome;
using weft::store::ExecStatus;
using weft::store::HumanRequestRecord;
using weft::testing::edge;
using weft::testing::node;
using weft::testing::wf;

namespace {

Json parse(const std::string& text) {
  auto j = Json::parse(text);
  EXPECT_TRUE(j.ok()) << text;
  return j.ok() ? *j : Json();
}

class HumanTest : public weft::testing::HostFixture {
 protected:
  std::vector<HumanRequestRecord> requests(const std::string& execution_id) {
    weft::store::HumanRequestFilter f;
    f.execution_id = execution_id;
    auto list = host_->store()->list_human_requests(f);
    EXPECT_TRUE(list.ok()) << (list.ok() ? "" : list.error().message);
    return list.ok() ? *list : std::vector<HumanRequestRecord>{};
  }
  HumanRequestRecord only_request(const std::string& execution_id, const std::string& status = "open") {
    HumanRequestRecord found;
    int n = 0;
    for (auto& r : requests(execution_id))
      if (r.status == status) {
        found = r;
        ++n;
      }
    EXPECT_EQ(n, 1) << "requests with status " << status;
    return found;
  }
  // A final answer, applied the way the human service applies it (CAS on the current version).
  weft::Result<HumanRequestRecord> answer(const std::string& request_id, const Json& response,
                                          const std::string& by = "user-1") {
    auto cur = host_->store()->get_human_request(request_id);
    if (!cur.ok()) return cur.error();
    weft::store::HumanResponse r;
    r.id = request_id;
    r.expected_version = cur->version;
    r.votes = cur->votes.is_array() ? cur->votes : Json::array();
    r.final = true;
    r.response = response;
    r.answered_by = by;
    r.now_ms = weft::wall_ms();
    return host_->store()->respond_human_request(r);
  }
  static Json approval(const std::string& decision, const std::string& by = "user-1") {
    Json a = Json::object();
    a.set("decision", decision);
    a.set("approved", decision == "approve");
    a.set("comment", "looked at it");
    a.set("by", by);
    a.set("votes", Json::array());
    return a;
  }
  static Json clarification(const Json& value, const std::string& by = "user-1") {
    Json a = Json::object();
    a.set("answer", value);
    a.set("by", by);
    return a;
  }
  static Json recovery(const std::string& action, const std::string& by = "user-1") {
    Json a = Json::object();
    a.set("action", action);
    a.set("comment", "");
    a.set("by", by);
    return a;
  }
  // Lets this process's workers run whatever is runnable now, then reads the execution back.
  Ran resume(const std::string& execution_id) {
    host_->workers().drain();
    return collect(execution_id);
  }
  // Runs at most `n` runnable executions (drain() would never end if failing runs kept
  // starting new ones).
  size_t drain_at_most(size_t n) {
    size_t done = 0;
    while (done < n) {
      auto c = host_->store()->claim_execution(host_->workers().worker_id(), 5000, weft::wall_ms());
      if (!c.ok() || !c->has_value()) break;
      host_->workers().run_claimed(**c);
      ++done;
    }
    return done;
  }
  static void wait_until(int64_t wall) {
    while (weft::wall_ms() <= wall) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::vector<weft::store::ExecutionRecord> executions(const std::string& owner = "") {
    weft::store::ExecutionFilter f;
    f.owner_id = owner;
    f.limit = 100;
    auto list = host_->store()->list_executions(f);
    EXPECT_TRUE(list.ok());
    return list.ok() ? *list : std::vector<weft::store::ExecutionRecord>{};
  }
};

std::string approval_wf(const std::string& params) {
  return wf({node("start", "core.manual_trigger"), node("gate", "core.approval", params),
             node("yes", "core.set", R"({"fields":{"path":"approved"}})"),
             node("no", "core.set", R"({"fields":{"path":"rejected"}})")},
            {edge("start", "gate"), edge("gate", "yes", "approved"), edge("gate", "no", "rejected")});
}

// ---- approvals -----------------------------------------------------------------------------------

TEST_P(HumanTest, ApprovalParksAsARequestAndAnApprovalRoutesToApproved) {
  auto r = run(approval_wf(R"({"title":"Refund {{ $json.amount }}","message":"for {{ $json.who }}",
                               "approvers":["Boss@Example.COM","user-7","boss@example.com"],"mode":"any"})"),
               parse(R"({"amount":120,"who":"ada"})"));
  ASSERT_EQ(r.result.outcome, RunOutcome::Parked) << r.result.error.dump();
  EXPECT_EQ(r.exec.status, ExecStatus::Parked);
  EXPECT_EQ(r.exec.wake_at_ms, 0);  // no timeout: only the answer wakes it

  HumanRequestRecord q = only_request(r.exec.id);
  EXPECT_EQ(q.kind, "approval");
  EXPECT_EQ(q.execution_id, r.exec.id);
  EXPECT_EQ(q.workflow_id, r.exec.workflow_id);
  EXPECT_EQ(q.owner_id, r.exec.owner_id);
  EXPECT_EQ(q.node_id, "gate");
  EXPECT_EQ(q.node_key, "gate");
  EXPECT_EQ(q.mode, "any");
  EXPECT_EQ(q.deadline_at_ms, 0);
  EXPECT_EQ(q.request["title"].as_string(), "Refund 120");
  EXPECT_EQ(q.request["message"].as_string(), "for ada");
  // Emails lower-cased, duplicates dropped.
  EXPECT_EQ(q.assignees, (std::vector<std::string>{"boss@example.com", "user-7"}));
  EXPECT_EQ(q.id.size(), 26u);
  EXPECT_EQ(run_of(r, "gate")->park["request_id"].as_string(), q.id);
  const auto* waiting = last(r, "waiting_for_human");
  ASSERT_NE(waiting, nullptr);
  EXPECT_EQ(waiting->data["request_id"].as_string(), q.id);
  EXPECT_EQ(waiting->data["kind"].as_string(), "approval");

  auto answered = answer(q.id, approval("approve", "user-7"));
  ASSERT_TRUE(answered.ok()) << answered.error().message;
  Ran done = resume(r.exec.id);
  ASSERT_EQ(done.exec.status, ExecStatus::Succeeded) << done.exec.error.dump();
  EXPECT_EQ(done.exec.output["path"].as_string(), "approved");
  const auto* gate = run_of(done, "gate");
  ASSERT_NE(gate, nullptr);
  const Json& v = gate->output["approved"];
  EXPECT_TRUE(v["approved"].as_bool());
  EXPECT_EQ(v["decision"].as_string(), "approve");
  EXPECT_EQ(v["comment"].as_string(), "looked at it");
  EXPECT_EQ(v["by"].as_string(), "user-7");
  EXPECT_FALSE(v["timed_out"].as_bool(true));
  EXPECT_EQ(v["data"]["amount"].as_int(), 120);
  EXPECT_FALSE(gate->output.contains("rejected"));
  EXPECT_EQ(run_of(done, "no")->status, "skipped");
  EXPECT_EQ(gate->attempt, 1);  // the resumed attempt is the same attempt

  const auto* heard = last(done, "human_answered");
  ASSERT_NE(heard, nullptr);
  EXPECT_EQ(heard->data["request_id"].as_string(), q.id);
  EXPECT_EQ(heard->data["kind"].as_string(), "approval");
  EXPECT_EQ(heard->data["decision"].as_string(), "approve");
  EXPECT_EQ(heard->data["answered_by"].as_string(), "user-7");
  EXPECT_FALSE(heard->data.contains("comment"));

  auto after = host_->store()->get_human_request(q.id);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->status, "answered");
  EXPECT_GT(after->resumed_at_ms, 0) << "the resumed step consumes the answer";
}

TEST_P(HumanTest, ARejectionRoutesToRejected) {
  auto r = run(approval_wf(R"({"title":"Deploy?"})"), parse(R"({"v":1})"));
  ASSERT_EQ(r.result.outcome, RunOutcome::Parked);
  HumanRequestRecord q = only_request(r.exec.id);
  EXPECT_TRUE(q.assignees.empty());
  ASSERT_TRUE(answer(q.id, approval("reject")).ok());
  Ran done = resume(r.exec.id);
  ASSERT_EQ(done.exec.status, ExecStatus::Succeeded) << done.exec.error.dump();
  EXPECT_EQ(done.exec.output["path"].as_string(), "rejected");
  const Json& v = run_of(done, "gate")->output["rejected"];
  EXPECT_FALSE(v["approved"].as_bool(true));
  EXPECT_EQ(v["decision"].as_string(), "reject");
  EXPECT_EQ(v["data"]["v"].as_int(), 1);
  EXPECT_EQ(run_of(done, "yes")->status, "skipped");
  EXPECT_EQ(last_data(done, "human_answered")["decision"].as_string(), "reject");
}

TEST_P(HumanTest, ApprovalTimeoutAppliesEachOnTimeoutOutcome) {
  for (std::string outcome : {"reject", "approve", "fail"}) {
    SCOPED_TRACE(outcome);
    auto r = run(approval_wf(R"({"title":"t","timeout_seconds":1,"on_timeout":")" + outcome + R"("})"));
    ASSERT_EQ(r.result.outcome, RunOutcome::Parked);
    HumanRequestRecord q = only_request(r.exec.id);
    EXPECT_GT(q.deadline_at_ms, 0);
    EXPECT_EQ(q.deadline_at_ms, r.exec.wake_at_ms) << "the request's deadline is the park's timer";
    EXPECT_EQ(q.request["on_timeout"].as_string(), outcome);
    wait_until(r.exec.wake_at_ms);
    Ran done = resume(r.exec.id);
    auto closed = host_->store()->get_human_request(q.id);
    ASSERT_TRUE(closed.ok());
    EXPECT_EQ(closed->status, "expired");
    EXPECT_EQ(count(done, "human_answered"), 0);
    if (outcome == "fail") {
      ASSERT_EQ(done.exec.status, ExecStatus::Failed);
      EXPECT_EQ(done.exec.error["details"]["error"]["code"].as_string(), "approval_timeout") << done.exec.error.dump();
      continue;
    }
    ASSERT_EQ(done.exec.status, ExecStatus::Succeeded) << done.exec.error.dump();
    std::string handle = outcome == "approve" ? "approved" : "rejected";
    EXPECT_EQ(done.exec.output["path"].as_string(), handle);
    const Json& v = run_of(done, "gate")->output[handle];
    EXPECT_TRUE(v["timed_out"].as_bool());
    EXPECT_EQ(v["approved"].as_bool(), outcome == "approve");
    // An answer after the timeout is refused: the request is closed.
    auto late = answer(q.id, approval("approve"));
    ASSERT_FALSE(late.ok());
    EXPECT_EQ(late.error().code, "conflict");
  }
}

// ---- timer against answer ------------------------------------------------------------------------

// A store whose node_runs() lets an answer land right after the executor read the runs: the
// worker sees a due timer and no answer in the park, yet the answer is stored.
class AnswerAfterReadStore : public weft::store::testing::ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;
  weft::Result<std::vector<weft::store::NodeRunRecord>> node_runs(const std::string& execution_id) override {
    auto runs = inner().node_runs(execution_id);
    if (!armed.exchange(false)) return runs;
    auto cur = inner().get_human_request(request_id);
    if (cur.ok()) {
      weft::store::HumanResponse r;
      r.id = request_id;
      r.expected_version = cur->version;
      r.votes = Json::array();
      r.final = true;
      r.response = response;
      r.answered_by = "late-user";
      r.now_ms = weft::wall_ms();
      applied = inner().respond_human_request(r).ok();
    }
    return runs;
  }
  std::atomic<bool> armed{false};
  std::atomic<bool> applied{false};
  std::string request_id;
  Json response;
};

TEST_P(HumanTest, AnAnswerStoredBeforeTheTimerClosesTheRequestWins) {
  auto r = run(wf({node("start", "core.manual_trigger"), node("ask", "test.ask", R"({"wake_in_ms":50})")},
                  {edge("start", "ask")}));
  ASSERT_EQ(r.result.outcome, RunOutcome::Parked);
  HumanRequestRecord q = only_request(r.exec.id);
  wait_until(r.exec.wake_at_ms);

  // The worker runs on a store where the answer lands between its read and its expire.
  auto racy = std::make_shared<AnswerAfterReadStore>(host_->store());
  racy->request_id = q.id;
  racy->response = clarification("from the race", "late-user");
  racy->armed = true;
  auto ex = std::make_shared<weft::executor::Executor>(racy, nullptr, nullptr);
  weft::executor::WorkerPool pool(ex, [this](const weft::store::ExecutionRecord& e) { return host_->plan_for(e); });
  EXPECT_EQ(pool.drain(), 1u);
  EXPECT_TRUE(racy->applied);

  Ran done = collect(r.exec.id);
  ASSERT_EQ(done.exec.status, ExecStatus::Succeeded) << done.exec.error.dump();
  EXPECT_EQ(done.exec.output["answer"].as_string(), "from the race") << done.exec.output.dump();
  EXPECT_FALSE(done.exec.output.contains("timed_out"));
  EXPECT_EQ(last_data(done, "human_answered")["answered_by"].as_string(), "late-user");
  auto closed = host_->store()->get_human_request(q.id);
  EXPECT_EQ(closed->status, "answered");
  EXPECT_GT(closed->resumed_at_ms, 0);
}

TEST_P(HumanTest, AnAnswerStoredEarlierIsTakenWhenTheTimerIsAlsoDue) {
  auto r = run(wf({node("start", "core.manual_trigger"), node("ask", "test.ask", R"({"wake_in_ms":50})")},
                  {edge("start", "ask")}));
  ASSERT_EQ(r.result.outcome, RunOutcome::Parked);
  HumanRequestRecord q = only_request(r.exec.id);
  ASSERT_TRUE(answer(q.id, clarification("in time")).ok());
  wait_until(r.exec.wake_at_ms);
  Ran done = resume(r.exec.id);
  ASSERT_EQ(done.exec.status, ExecStatus::Succeeded) << done.exec.error.dump();
  EXPECT_EQ(done.exec.output["answer"].as_string(), "in time");
}

TEST_P(HumanTest, WhenTheTimerWinsALaterAnswerConflicts) {
  auto r = run(wf({node("start", "core.manual_trigger"), node("ask", "test.ask", R"({"wake_in_ms":50})")},
                  {edge("start", "ask")}));
  ASSERT_EQ(r.result.outcome, RunOutcome::Parked);
  HumanRequestRecord q = only_request(r.exec.id);
  wait_until(r.exec.wake_at_ms);
  Ran done = resume(r.exec.id);
  ASSERT_EQ(done.exec.status, ExecStatus::Succeeded) << done.exec.error.dump();
  EXPECT_TRUE(done.exec.output["timed_out"].as_bool());
  auto late = answer(q.id, clarification("too late"));
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.error().code, "conflict");
  EXPECT_EQ(host_->store()->get_human_request(q.id)->status, "expired");
}

// ---- clarifications ------------------------------------------------------------------------------

std::string clarify_wf(const std::string& params) {
  return wf({node("start", "core.manual_trigger"), node("q", "core.clarification", params),
             node("use", "core.set", R"({"mode":"replace","fields":{"got":"{{ $json }}"}})")},
            {edge("start", "q"), edge("q", "use")});
}

TEST_P(HumanTest, ClarificationWithOptionsOutputsTheChosenOption) {
  auto r = run(clarify_wf(R"({"question":"Which colour for {{ $json.id }}?","options":["red","green"]})"),
               parse(R"({"id":"order-1"})"));
  ASSERT_EQ(r.result.outcome, RunOutcome::Parked);
  HumanRequestRecord q = only_request(r.exec.id);
  EXPECT_EQ(q.kind, "clarification");
  EXPECT_EQ(q.request["question"].as_string(), "Which colour for order-1?");
  EXPECT_EQ(q.request["options"].dump(), R"(["red","green"])");
  EXPECT_FALSE(q.request["allow_free_text"].as_bool(true));
  ASSERT_TRUE(answer(q.id, clarification("green")).ok());
  Ran done = resume(r.exec.id);
  ASSERT_EQ(done.exec.status, ExecStatus::Succeeded) << done.exec.error.dump();
  EXPECT_EQ(run_of(done, "q")->output["main"].as_string(), "green");
  EXPECT_EQ(done.exec.output["got"].as_string(), "green");
  // The event says who answered, not what.
  const auto* heard = last(done, "human_answered");
  ASSERT_NE(heard, nullptr);
  EXPECT_EQ(heard->data.dump().find("green"), std::string::npos) << heard->data.dump();
}

TEST_P(HumanTest, ClarificationWithFreeText) {
  auto r = run(clarify_wf(R"({"question":"Anything to add?"})"));
  ASSERT_EQ(r.result.outcome, RunOutcome::Parked);
  HumanRequestRecord q = only_request(r.exec.id);
  EXPECT_TRUE(q.request["allow_free_text"].as_bool());
  EXPECT_FALSE(q.request.contains("options"));
  ASSERT_TRUE(answer(q.id, clarification("ship it on monday")).ok());
  Ran done = resume(r.exec.id);
  ASSERT_EQ(done.exec.status, ExecStatus::Succeeded) << done.exec.error.dump();
  EXPECT_EQ(done.exec.output["got"].as_string(), "ship it on monday");
}

TEST_P(HumanTest, ClarificationTimeoutUsesTheDefaultAnswerOrFails) {
  auto r = run(clarify_wf(R"({"question":"Size?","options":["s","m"],"timeout_seconds":1,"default_answer":"m"})"));
  ASSERT_EQ(r.result.outcome, RunOutcome::Parked);
  auto r2 = run(clarify_wf(R"({"question":"Size?","timeout_seconds":1})"));
  ASSERT_EQ(r2.result.outcome, RunOutcome::Parked);
  wait_until(std::max(r.exec.wake_at_ms, r2.exec.wake_at_ms));
  Ran with_default = resume(r.exec.id);
  ASSERT_EQ(with_default.exec.status, ExecStatus::Succeeded) << with_default.exec.error.dump();
  EXPECT_EQ(with_default.exec.output["got"].as_string(), "m");
  Ran without = collect(r2.exec.id);
  ASSERT_EQ(without.exec.status, ExecStatus::Failed);
  EXPECT_EQ(without.exec.error["details"]["error"]["code"].as_string(), "clarification_timeout");
}

// ---- requests the executor refuses -----------------------------------------------------------------

TEST_P(HumanTest, MalformedRequestsFailTheNodeWithInvalidPark) {
  std::string too_many = "[";
  for (int i = 0; i < 51; ++i) too_many += (i ? ",\"u" : "\"u") + std::to_string(i) + "\"";
  too_many += "]";
  for (std::string req : {std::string(R"({"question":"no kind"})"), std::string(R"({"kind":"vote"})"),
                          R"({"kind":"approval","approvers":)" + too_many + "}",
                          std::string(R"({"kind":"approval","approvers":[""]})"),
                          std::string(R"({"kind":"approval","mode":"most"})")}) {
    SCOPED_TRACE(req);
    auto r = run(wf({node("start", "core.manual_trigger"), node("ask", "test.ask", R"({"request":)" + req + "}")},
                    {edge("start", "ask")}));
    ASSERT_EQ(r.result.outcome, RunOutcome::Failed);
    EXPECT_EQ(r.exec.error["details"]["error"]["code"].as_string(), "invalid_park") << r.exec.error.dump();
    EXPECT_TRUE(requests(r.exec.id).empty());
  }
}

// ---- on_error "ask" ------------------------------------------------------------------------------

std::string flaky_wf(int times) {
  return wf({node("start", "core.manual_trigger"),
             node("flaky", "test.fail", R"({"times":)" + std::to_string(times) + "}", R"({"on_error":"ask"})"),
             node("after", "core.set", R"({"fields":{"after":true}})")},
            {edge("start", "flaky"), edge("flaky", "after")});
}

TEST_P(HumanTest, AskRetryRunsANewAttemptThatSucceeds) {
  auto r = run(flaky_wf(1), parse(R"({"x":1})"));
  ASSERT_EQ(r.result.outcome, RunOutcome::Parked) << r.result.error.dump();
  EXPECT_EQ(r.exec.status, ExecStatus::Parked);
  HumanRequestRecord q = only_request(r.exec.id);
  EXPECT_EQ(q.kind, "error_recovery");
  EXPECT_EQ(q.request["node_id"].as_string(), "flaky");
  EXPECT_EQ(q.request["node_type"].as_string(), "test.fail");
  EXPECT_EQ(q.request["error"]["code"].as_string(), "planned_failure");
  EXPECT_EQ(q.request["attempt"].as_int(), 1);
  EXPECT_EQ(q.request["options"].dump(), R"(["retry","skip","stop"])");
  EXPECT_EQ(run_of(r, "flaky")->status, "parked");
  EXPECT_EQ(run_of(r, "after"), nullptr);
  const auto* err = last(r, "node_error");
  ASSERT_NE(err, nullptr);
  EXPECT_EQ(err->data["on_error"].as_string(), "ask");

  ASSERT_TRUE(answer(q.id, recovery("retry")).ok());
  Ran done = resume(r.exec.id);
  ASSERT_EQ(done.exec.status, ExecStatus::Succeeded) << done.exec.error.dump();
  EXPECT_EQ(run_of(done, "flaky")->attempt, 2);
  EXPECT_EQ(run_of(done, "flaky")->status, "succeeded");
  EXPECT_TRUE(done.exec.output["after"].as_bool());
  EXPECT_EQ(done.exec.output["x"].as_int(), 1);
  EXPECT_EQ(last_data(done, "human_answered")["action"].as_string(), "retry");
  EXPECT_GT(host_->store()->get_human_request(q.id)->resumed_at_ms, 0);
}

TEST_P(HumanTest, AskRetryThatFailsAgainAsksAgain) {
  auto r = run(flaky_wf(2));
  ASSERT_EQ(r.result.outcome, RunOutcome::Parked);
  HumanRequestRecord first = only_request(r.exec.id);
  ASSERT_TRUE(answer(first.id, recovery("retry")).ok());
  Ran again = resume(r.exec.id);
  ASSERT_EQ(again.exec.status, ExecStatus::Parked) << again.exec.error.dump();
  HumanRequestRecord second = only_request(r.exec.id);
  EXPECT_NE(second.id, first.id);
  EXPECT_EQ(second.request["attempt"].as_int(), 2);
  ASSERT_TRUE(answer(second.id, recovery("retry")).ok());
  Ran done = resume(r.exec.id);
  ASSERT_EQ(done.exec.status, ExecStatus::Succeeded) << done.exec.error.dump();
  EXPECT_EQ(run_of(done, "flaky")->attempt, 3);
  EXPECT_EQ(requests(r.exec.id).size(), 2u);
}

TEST_P(HumanTest, AskSkipCompletesTheNodeAndDownstreamContinues) {
  auto r = run(flaky_wf(5));
  ASSERT_EQ(r.result.outcome, RunOutcome::Parked);
  HumanRequestRecord q = only_request(r.exec.id);
  ASSERT_TRUE(answer(q.id, recovery("skip")).ok());
  Ran done = resume(r.exec.id);
  ASSERT_EQ(done.exec.status, ExecStatus::Succeeded) << done.exec.error.dump();
  const auto* flaky = run_of(done, "flaky");
  EXPECT_EQ(flaky->status, "succeeded");
  EXPECT_EQ(flaky->attempt, 1) << "skipping runs no new attempt";
  EXPECT_TRUE(flaky->output["main"]["skipped"].as_bool());
  EXPECT_EQ(flaky->output["main"]["error"]["code"].as_string(), "planned_failure");
  EXPECT_TRUE(done.exec.output["after"].as_bool());
  EXPECT_TRUE(done.exec.output["skipped"].as_bool());
  int flaky_logs = 0;
  for (const auto& l : done.logs)
    if (l.node_id == "flaky") ++flaky_logs;
  EXPECT_EQ(flaky_logs, 1);
}

TEST_P(HumanTest, AskStopFailsTheExecutionLikeOnErrorStop) {
  auto r = run(flaky_wf(5));
  ASSERT_EQ(r.result.outcome, RunOutcome::Parked);
  HumanRequestRecord q = only_request(r.exec.id);
  ASSERT_TRUE(answer(q.id, recovery("stop")).ok());
  Ran done = resume(r.exec.id);
  ASSERT_EQ(done.exec.status, ExecStatus::Failed);
  EXPECT_EQ(done.exec.error["code"].as_string(), "node_failed");
  EXPECT_EQ(done.exec.error["details"]["node_id"].as_string(), "flaky");
  EXPECT_EQ(done.exec.error["details"]["error"]["code"].as_string(), "planned_failure");
  EXPECT_EQ(run_of(done, "flaky")->status, "failed");
  EXPECT_EQ(run_of(done, "after"), nullptr);
  EXPECT_EQ(done.events.back().type, "workflow_done");
}

// ---- cancellation, restarts, parallel questions ---------------------------------------------------

TEST_P(HumanTest, CancellingAParkedExecutionCancelsItsRequests) {
  auto r = run(approval_wf(R"({"title":"t"})"));
  ASSERT_EQ(r.result.outcome, RunOutcome::Parked);
  HumanRequestRecord q = only_request(r.exec.id);
  ASSERT_TRUE(host_->store()->request_cancel(r.exec.id).ok());
  Ran done = resume(r.exec.id);
  EXPECT_EQ(done.exec.status, ExecStatus::Cancelled);
  EXPECT_EQ(host_->store()->get_human_request(q.id)->status, "cancelled");
  auto late = answer(q.id, approval("approve"));
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.error().code, "conflict");
}

TEST_P(HumanTest, AnAnsweredRunResumesInANewProcess) {
  auto r = run(approval_wf(R"({"title":"t"})"), parse(R"({"n":5})"));
  ASSERT_EQ(r.result.outcome, RunOutcome::Parked);
  std::string exec_id = r.exec.id;
  std::string request_id = only_request(exec_id).id;
  // The process goes away while the execution waits; nothing of the run is held in memory.
  host_.reset();
  open_host();
  ASSERT_TRUE(answer(request_id, approval("approve")).ok());
  Ran done = resume(exec_id);
  ASSERT_EQ(done.exec.status, ExecStatus::Succeeded) << done.exec.error.dump();
  EXPECT_EQ(done.exec.output["path"].as_string(), "approved");
  EXPECT_EQ(done.exec.output["data"]["n"].as_int(), 5);
  EXPECT_EQ(count(done, "node_complete", "start"), 1);  // finished nodes did not run again
}

// A store on which the commit that records a resumed node's outcome is lost (as if the worker
// died right before it): the node run stays "running" with its answered park.
class LoseOutcomeStore : public weft::store::testing::ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;
  weft::Status commit(const weft::store::Commit& c) override {
    if (!c.consumed_requests.empty() && armed.exchange(false))
      return weft::Error("lease_lost", "test: the worker is gone before its outcome commit");
    return inner().commit(c);
  }
  std::atomic<bool> armed{true};
};

TEST_P(HumanTest, AnAnswerIsNotLostWhenTheResumedAttemptNeverFinished) {
  auto r = run(approval_wf(R"({"title":"t"})"));
  ASSERT_EQ(r.result.outcome, RunOutcome::Parked);
  HumanRequestRecord q = only_request(r.exec.id);
  ASSERT_TRUE(answer(q.id, approval("approve")).ok());
  {
    auto lossy = std::make_shared<LoseOutcomeStore>(host_->store());
    auto ex = std::make_shared<weft::executor::Executor>(lossy, nullptr, nullptr);
    weft::executor::WorkerPool pool(ex, [this](const weft::store::ExecutionRecord& e) { return host_->plan_for(e); });
    EXPECT_EQ(pool.drain(), 1u);
    EXPECT_FALSE(lossy->armed) << "the outcome commit was attempted";
  }
  auto mid = host_->store()->get_execution(r.exec.id);
  ASSERT_TRUE(mid.ok());
  ASSERT_EQ(mid->status, ExecStatus::Running);
  ASSERT_TRUE(host_->store()->expire_lease(mid->id, mid->lease).ok());  // the dead worker's lease
  Ran done = resume(r.exec.id);
  ASSERT_EQ(done.exec.status, ExecStatus::Succeeded) << done.exec.error.dump();
  EXPECT_EQ(done.exec.output["path"].as_string(), "approved") << "resumed with the stored answer, not asked again";
  EXPECT_EQ(requests(r.exec.id).size(), 1u);
  EXPECT_EQ(run_of(done, "gate")->attempt, 1);
  EXPECT_GT(host_->store()->get_human_request(q.id)->resumed_at_ms, 0);
}

TEST_P(HumanTest, TwoQuestionsOnParallelBranchesAreAnsweredOneByOne) {
  auto r = run(wf({node("start", "core.manual_trigger"), node("a", "core.approval", R"({"title":"a"})"),
                   node("b", "core.clarification", R"({"question":"b?"})"),
                   node("join", "core.merge", R"({"mode":"all","combine":"object"})")},
                  {edge("start", "a"), edge("start", "b"), edge("a", "join", "approved"), edge("b", "join")}));
  ASSERT_EQ(r.result.outcome, RunOutcome::Parked);
  auto open = requests(r.exec.id);
  ASSERT_EQ(open.size(), 2u);
  const HumanRequestRecord& qa = open[0].node_id == "a" ? open[0] : open[1];
  const HumanRequestRecord& qb = open[0].node_id == "a" ? open[1] : open[0];
  ASSERT_TRUE(answer(qb.id, clarification("bee")).ok());
  Ran half = resume(r.exec.id);
  ASSERT_EQ(half.exec.status, ExecStatus::Parked);
  EXPECT_EQ(run_of(half, "b")->status, "succeeded");
  EXPECT_EQ(run_of(half, "a")->status, "parked");
  ASSERT_TRUE(answer(qa.id, approval("approve")).ok());
  Ran done = resume(r.exec.id);
  ASSERT_EQ(done.exec.status, ExecStatus::Succeeded) << done.exec.error.dump();
  EXPECT_EQ(done.exec.output["b"].as_string(), "bee") << done.exec.output.dump();
  EXPECT_TRUE(done.exec.output["a"]["approved"].as_bool());
}

// ---- error workflows -------------------------------------------------------------------------------

const char* kSecret = "ghp_Zq4RxT8vW2yB6nM0kJ3hG5fD7sA9pL1cE4uI";

std::string handler_wf(const std::string& settings = "{}") {
  return wf({node("on_error", "core.error_trigger"),
             node("note", "core.set", R"({"fields":{"handled":true}})")},
            {edge("on_error", "note")}, settings);
}
std::string failing_wf(const std::string& error_workflow) {
  return wf({node("start", "core.manual_trigger"),
             node("boom", "core.stop_and_error", std::string(R"({"message":"login refused for token )") + kSecret + R"("})")},
            {edge("start", "boom")}, R"({"error_workflow":")" + error_workflow + R"("})");
}

TEST_P(HumanTest, AFailedExecutionStartsItsErrorWorkflowOnceWithARedactedPayload) {
  auto handler = save(handler_wf());
  auto r = run(failing_wf(handler.id), parse(R"({"card":"4111"})"));
  ASSERT_EQ(r.result.outcome, RunOutcome::Failed);
  const auto* started = last(r, "error_workflow_started");
  ASSERT_NE(started, nullptr);
  EXPECT_EQ(r.events.back().type, "workflow_done");
  std::string spawned = started->data["execution_id"].as_string();
  EXPECT_EQ(r.result.spawned_execution_id, spawned);
  auto spawned_exec = host_->store()->get_execution(spawned);
  ASSERT_TRUE(spawned_exec.ok());
  EXPECT_EQ(spawned_exec->workflow_id, handler.id);
  EXPECT_EQ(spawned_exec->workflow_version, handler.version);
  EXPECT_EQ(spawned_exec->idempotency_key, "error-workflow:" + r.exec.id);
  EXPECT_EQ(spawned_exec->mode, "async");
  EXPECT_EQ(spawned_exec->status, ExecStatus::Queued);
  const Json& in = spawned_exec->input;
  EXPECT_EQ(in["execution_id"].as_string(), r.exec.id);
  EXPECT_EQ(in["workflow_id"].as_string(), r.exec.workflow_id);
  EXPECT_EQ(in["workflow_name"].as_string(), "t");
  EXPECT_EQ(in["workflow_version"].as_int(), r.exec.workflow_version);
  EXPECT_GT(in["failed_at_ms"].as_int(), 0);
  EXPECT_EQ(in["error"]["code"].as_string(), "node_failed");
  EXPECT_EQ(in["node"]["id"].as_string(), "boom");
  EXPECT_EQ(in["node"]["type"].as_string(), "core.stop_and_error");
  EXPECT_FALSE(in.contains("trigger_input"));
  std::string text = in.dump();
  EXPECT_EQ(text.find(kSecret + 4), std::string::npos) << text;  // the token's secret part
  EXPECT_EQ(text.find("4111"), std::string::npos) << "the trigger input never reaches the error workflow";
  EXPECT_NE(text.find("login refused"), std::string::npos) << text;

  // The error workflow runs (the core.error_trigger outputs the payload).
  host_->workers().drain();
  Ran handled = collect(spawned);
  ASSERT_EQ(handled.exec.status, ExecStatus::Succeeded) << handled.exec.error.dump();
  EXPECT_TRUE(handled.exec.output["handled"].as_bool());
  EXPECT_EQ(handled.exec.output["execution_id"].as_string(), r.exec.id);
  EXPECT_EQ(executions().size(), 2u) << "exactly one error-workflow run";
}

TEST_P(HumanTest, AnErrorWorkflowThatFailsStartsNoFurtherRun) {
  // The handler names itself as its own error workflow and fails.
  auto handler = save(handler_wf());
  std::string self_failing = wf({node("on_error", "core.error_trigger"),
                                 node("boom", "core.stop_and_error", R"({"message":"handler broke"})")},
                                {edge("on_error", "boom")}, R"({"error_workflow":")" + handler.id + R"("})");
  auto def = Json::parse(self_failing).value();
  auto v2 = host_->store()->save_workflow("", handler.id, "t", def);
  ASSERT_TRUE(v2.ok());
  auto r = run(failing_wf(handler.id));
  ASSERT_EQ(r.result.outcome, RunOutcome::Failed);
  std::string spawned = last_data(r, "error_workflow_started")["execution_id"].as_string();
  EXPECT_EQ(host_->store()->get_execution(spawned)->workflow_version, v2->version) << "the latest version runs";
  EXPECT_EQ(drain_at_most(5), 1u);
  Ran handled = collect(spawned);
  ASSERT_EQ(handled.exec.status, ExecStatus::Failed);
  EXPECT_EQ(count(handled, "error_workflow_started"), 0);
  EXPECT_EQ(count(handled, "error_workflow_missing"), 0);
  EXPECT_EQ(executions().size(), 2u) << "no loop";
}

TEST_P(HumanTest, AMissingErrorWorkflowIsAnEventNotARun) {
  auto others = save(handler_wf(), "someone-else");
  auto deleted = save(handler_wf());
  ASSERT_TRUE(host_->store()->delete_workflow("", deleted.id).ok());
  for (const std::string& target : {std::string("no-such-workflow"), others.id, deleted.id}) {
    SCOPED_TRACE(target);
    size_t before = executions().size();
    auto r = run(failing_wf(target));
    ASSERT_EQ(r.result.outcome, RunOutcome::Failed);
    const auto* missing = last(r, "error_workflow_missing");
    ASSERT_NE(missing, nullptr);
    EXPECT_EQ(missing->data["workflow_id"].as_string(), target);
    EXPECT_EQ(count(r, "error_workflow_started"), 0);
    EXPECT_TRUE(r.result.spawned_execution_id.empty());
    EXPECT_EQ(executions().size(), before + 1) << "only the failed run itself";
  }
  EXPECT_EQ(executions("someone-else").size(), 0u);
}

TEST_P(HumanTest, AVersionThatNoLongerCompilesStartsItsErrorWorkflowToo) {
  auto handler = save(handler_wf());
  // Saved without compiling (as if the node type's plugin was disabled since).
  auto def = Json::parse(wf({node("start", "core.manual_trigger"), node("gone", "no.such_type")},
                            {edge("start", "gone")}, R"({"error_workflow":")" + handler.id + R"("})"))
                 .value();
  auto saved = host_->store()->save_workflow("", "", "t", def);
  ASSERT_TRUE(saved.ok());
  weft::store::NewExecution ne;
  ne.workflow_id = saved->id;
  ne.workflow_version = saved->version;
  ne.definition = def;
  ne.claim_owner = host_->workers().worker_id();
  auto exec = host_->store()->create_execution(ne);
  ASSERT_TRUE(exec.ok());
  auto res = host_->workers().run_claimed(*exec);
  ASSERT_EQ(res.outcome, RunOutcome::Failed);
  Ran r = collect(exec->id);
  EXPECT_EQ(r.exec.status, ExecStatus::Failed);
  EXPECT_EQ(r.exec.error["code"].as_string(), "compile_failed");
  ASSERT_EQ(types(r), (std::vector<std::string>{"error_workflow_started", "workflow_done"}));
  EXPECT_EQ(r.events[0].seq, 1);
  EXPECT_EQ(r.events[1].seq, 2);
  std::string spawned = r.events[0].data["execution_id"].as_string();
  EXPECT_EQ(res.spawned_execution_id, spawned);
  auto handler_run = host_->store()->get_execution(spawned);
  ASSERT_TRUE(handler_run.ok());
  EXPECT_EQ(handler_run->input["error"]["code"].as_string(), "compile_failed");
  EXPECT_FALSE(handler_run->input.contains("node"));
  EXPECT_EQ(handler_run->idempotency_key, "error-workflow:" + exec->id);
}

TEST_P(HumanTest, CancelledOrSucceededExecutionsStartNoErrorWorkflow) {
  auto handler = save(handler_wf());
  std::string settings = R"({"error_workflow":")" + handler.id + R"("})";
  auto ok = run(wf({node("start", "core.manual_trigger")}, {}, settings));
  ASSERT_EQ(ok.result.outcome, RunOutcome::Succeeded);
  auto parked = run(wf({node("start", "core.manual_trigger"), node("gate", "core.approval", R"({"title":"t"})")},
                       {edge("start", "gate")}, settings));
  ASSERT_EQ(parked.result.outcome, RunOutcome::Parked);
  ASSERT_TRUE(host_->store()->request_cancel(parked.exec.id).ok());
  host_->workers().drain();
  EXPECT_EQ(collect(parked.exec.id).exec.status, ExecStatus::Cancelled);
  EXPECT_EQ(executions().size(), 2u);
}

TEST_P(HumanTest, TheErrorWorkflowSettingIsCheckedAtCompileTime) {
  for (const char* bad : {R"("error_workflow":"Not An Id")", R"("error_workflow":42)", R"("error_workflow":"a/b")"}) {
    SCOPED_TRACE(bad);
    auto def = Json::parse(R"({"settings":{)" + std::string(bad) +
                           R"(},"nodes":[{"id":"s","type":"core.manual_trigger","position":{"x":0,"y":0},"data":{}}],"edges":[]})")
                   .value();
    auto c = host_->compiler().compile(def, {});
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.errors.front().code, "invalid_setting");
    EXPECT_EQ(c.errors.front().field, "settings.error_workflow");
  }
  auto good = Json::parse(R"({"settings":{"error_workflow":"local-on_error"},"nodes":[{"id":"s","type":"core.manual_trigger","position":{"x":0,"y":0},"data":{}}],"edges":[]})")
                  .value();
  EXPECT_TRUE(host_->compiler().compile(good, {}).ok());
  auto none = Json::parse(R"({"settings":{"error_workflow":""},"nodes":[{"id":"s","type":"core.manual_trigger","position":{"x":0,"y":0},"data":{}}],"edges":[]})")
                  .value();
  EXPECT_TRUE(host_->compiler().compile(none, {}).ok()) << "\"\" means none";
}

INSTANTIATE_TEST_SUITE_P(Backends, HumanTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

}  // namespace
