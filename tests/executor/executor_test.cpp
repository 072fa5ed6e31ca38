// The executor on a real host: scheduling, loops, retries, timeouts, parking, cancellation,
// fencing. Human requests, on_error "ask" and error workflows: human_test.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <thread>

#include "fixture.hpp"
#include "host/core/call.hpp"

using weft::Json;
using weft::executor::RunOutcome;
using weft::store::ExecStatus;

namespace {

class ExecutorTest : public weft::testing::HostFixture {};

using weft::testing::edge;
using weft::testing::node;
using weft::testing::wf;

const std::string kInc = R"({"fields":{"x":"{{ $json.x + 1 }}"}})";

TEST_P(ExecutorTest, ChainCommitsEveryNodeAndEventsAreOrdered) {
  auto r = run(wf({node("start", "core.manual_trigger"), node("a", "core.set", kInc), node("b", "core.set", kInc),
                   node("c", "core.set", kInc)},
                  {edge("start", "a"), edge("a", "b"), edge("b", "c")}),
               Json::parse(R"({"x":1})").value());
  ASSERT_EQ(r.result.outcome, RunOutcome::Succeeded) << r.result.error.dump();
  EXPECT_EQ(r.exec.status, ExecStatus::Succeeded);
  EXPECT_EQ(r.exec.output["x"].as_int(), 4);
  EXPECT_EQ(r.result.output["x"].as_int(), 4);
  std::vector<std::string> want = {"execution_started", "node_start", "node_complete", "node_start", "node_complete",
                                   "node_start", "node_complete", "node_start", "node_complete", "workflow_done"};
  EXPECT_EQ(types(r), want);
  for (size_t i = 0; i < r.events.size(); ++i) EXPECT_EQ(r.events[i].seq, static_cast<int64_t>(i + 1));
  for (const char* k : {"start", "a", "b", "c"}) {
    auto* x = run_of(r, k);
    ASSERT_NE(x, nullptr) << k;
    EXPECT_EQ(x->status, "succeeded");
    EXPECT_EQ(x->attempt, 1);
  }
  EXPECT_EQ(run_of(r, "b")->output["main"]["x"].as_int(), 3);
  ASSERT_EQ(r.logs.size(), 4u);
  EXPECT_EQ(r.logs[1].input["input"]["main"]["x"].as_int(), 1);
  EXPECT_EQ(r.logs[1].output["main"]["x"].as_int(), 2);
  EXPECT_EQ(r.exec.lease.owner, "");
}

TEST_P(ExecutorTest, IfRoutesAndSkipsTheUntakenBranchAndItsDownstream) {
  auto r = run(wf({node("start", "core.manual_trigger"), node("check", "core.if", R"({"condition":"{{ $json.x > 0 }}"})"),
                   node("yes", "core.set", R"({"fields":{"branch":"yes"}})"),
                   node("no", "core.set", R"({"fields":{"branch":"no"}})"),
                   node("after_no", "core.noop")},
                  {edge("start", "check"), edge("check", "yes", "true"), edge("check", "no", "false"), edge("no", "after_no")}),
               Json::parse(R"({"x":5})").value());
  ASSERT_EQ(r.result.outcome, RunOutcome::Succeeded) << r.result.error.dump();
  EXPECT_EQ(run_of(r, "yes")->status, "succeeded");
  EXPECT_EQ(run_of(r, "no")->status, "skipped");
  EXPECT_EQ(run_of(r, "after_no")->status, "skipped");
  EXPECT_EQ(count(r, "node_skipped"), 2);
  EXPECT_EQ(r.exec.output["branch"].as_string(), "yes");
}

TEST_P(ExecutorTest, IndependentBranchesRunConcurrentlyAndMergeWaitsForAll) {
  // Each barrier node only passes when the other is inside at the same time.
  std::string group = "g" + weft::random_hex(4);
  std::string bp = R"({"group":")" + group + R"(","count":2})";
  auto r = run(wf({node("start", "core.manual_trigger"), node("left", "test.barrier", bp), node("right", "test.barrier", bp),
                   node("l2", "core.set", R"({"fields":{"side":"left"}})"), node("r2", "core.set", R"({"fields":{"side":"right"}})"),
                   node("join", "core.merge", R"({"mode":"all","combine":"array"})")},
                  {edge("start", "left"), edge("start", "right"), edge("left", "l2"), edge("right", "r2"),
                   edge("l2", "join"), edge("r2", "join")}),
               Json::parse(R"({"x":1})").value());
  ASSERT_EQ(r.result.outcome, RunOutcome::Succeeded) << r.result.error.dump();
  ASSERT_TRUE(r.exec.output.is_array()) << r.exec.output.dump();
  EXPECT_EQ(r.exec.output.size(), 2u);
  EXPECT_EQ(count(r, "node_complete", "join"), 1);
}

TEST_P(ExecutorTest, LoopRunsTheBodyPerItemAndCollectsResults) {
  auto r = run(wf({node("start", "core.manual_trigger"), node("each", "core.loop"),
                   node("double", "core.set", R"({"mode":"replace","fields":{"v":"{{ $item * 2 }}","i":"{{ $index }}"}})"),
                   node("out", "core.noop")},
                  {edge("start", "each"), edge("each", "double", "item"), edge("double", "each", "main", "back"),
                   edge("each", "out", "done")}),
               Json::parse("[1,2,3]").value());
  ASSERT_EQ(r.result.outcome, RunOutcome::Succeeded) << r.result.error.dump();
  ASSERT_EQ(r.exec.output.size(), 3u) << r.exec.output.dump();
  EXPECT_EQ(r.exec.output.at(0)["v"].as_int(), 2);
  EXPECT_EQ(r.exec.output.at(2)["v"].as_int(), 6);
  EXPECT_EQ(r.exec.output.at(2)["i"].as_int(), 2);
  EXPECT_NE(run_of(r, "double@each#0"), nullptr);
  EXPECT_NE(run_of(r, "double@each#2"), nullptr);
  EXPECT_EQ(run_of(r, "each")->status, "succeeded");
}

TEST_P(ExecutorTest, NestedLoopsWithSkippedIterations) {
  auto r = run(wf({node("start", "core.manual_trigger"), node("rows", "core.loop"), node("cells", "core.loop"),
                   node("even", "core.if", R"({"condition":"{{ $item % 2 == 0 }}"})"),
                   node("keep", "core.set", R"({"mode":"replace","fields":{"v":"{{ $item }}"}})"),
                   node("row", "core.set", R"({"mode":"replace","fields":{"cells":"{{ $json }}"}})"),
                   node("out", "core.noop")},
                  {edge("start", "rows"), edge("rows", "cells", "item"), edge("cells", "even", "item"),
                   edge("even", "keep", "true"), edge("keep", "cells", "main", "back"), edge("cells", "row", "done"),
                   edge("row", "rows", "main", "back"), edge("rows", "out", "done")}),
               Json::parse("[[1,2,3],[4,5,6,8]]").value());
  ASSERT_EQ(r.result.outcome, RunOutcome::Succeeded) << r.result.error.dump();
  EXPECT_EQ(r.exec.output.dump(), R"([{"cells":[{"v":2}]},{"cells":[{"v":4},{"v":6},{"v":8}]}])");
  EXPECT_EQ(run_of(r, "keep@rows#0/cells#0")->status, "skipped");
  EXPECT_EQ(run_of(r, "keep@rows#1/cells#3")->status, "succeeded");
}

TEST_P(ExecutorTest, EmptyLoopEmitsEmptyDone) {
  auto r = run(wf({node("start", "core.manual_trigger"), node("each", "core.loop"), node("body", "core.noop"),
                   node("out", "core.noop")},
                  {edge("start", "each"), edge("each", "body", "item"), edge("body", "each", "main", "back"),
                   edge("each", "out", "done")}),
               Json::array());
  ASSERT_EQ(r.result.outcome, RunOutcome::Succeeded) << r.result.error.dump();
  EXPECT_TRUE(r.exec.output.is_array());
  EXPECT_EQ(r.exec.output.size(), 0u);
}

TEST_P(ExecutorTest, RetriesWithBackoffThenSucceeds) {
  auto r = run(wf({node("start", "core.manual_trigger"),
                   node("flaky", "test.fail", R"({"times":2})", R"({"retry_count":2,"retry_delay_seconds":0})")},
                  {edge("start", "flaky")}));
  ASSERT_EQ(r.result.outcome, RunOutcome::Succeeded) << r.result.error.dump();
  EXPECT_EQ(count(r, "node_retry"), 2);
  EXPECT_EQ(run_of(r, "flaky")->attempt, 3);
  int flaky_logs = 0;
  for (const auto& l : r.logs)
    if (l.node_id == "flaky") ++flaky_logs;
  EXPECT_EQ(flaky_logs, 3);
}

TEST_P(ExecutorTest, InvalidInputIsNeverRetriedAndStopsTheRun) {
  auto r = run(wf({node("start", "core.manual_trigger"),
                   node("bad", "test.fail", R"({"times":5,"kind":"invalid"})", R"({"retry_count":3,"retry_delay_seconds":0})"),
                   node("after", "core.noop")},
                  {edge("start", "bad"), edge("bad", "after")}));
  ASSERT_EQ(r.result.outcome, RunOutcome::Failed);
  EXPECT_EQ(r.exec.status, ExecStatus::Failed);
  EXPECT_EQ(r.exec.error["code"].as_string(), "node_failed");
  EXPECT_EQ(r.exec.error["details"]["node_id"].as_string(), "bad");
  EXPECT_EQ(count(r, "node_retry"), 0);
  EXPECT_EQ(types(r).back(), "workflow_done");
  EXPECT_EQ(run_of(r, "after"), nullptr);
}

TEST_P(ExecutorTest, OnErrorContinueAndRoute) {
  auto r = run(wf({node("start", "core.manual_trigger"),
                   node("c", "test.fail", R"({"times":1})", R"({"on_error":"continue"})"),
                   node("after_c", "core.noop"),
                   node("rt", "test.fail", R"({"times":1})", R"({"on_error":"route"})"),
                   node("ok_path", "core.noop"), node("err_path", "core.noop"),
                   node("join", "core.merge", R"({"mode":"all","combine":"array"})")},
                  {edge("start", "c"), edge("c", "after_c"), edge("start", "rt"), edge("rt", "ok_path"),
                   edge("rt", "err_path", "error"), edge("after_c", "join"), edge("err_path", "join"), edge("ok_path", "join")}));
  ASSERT_EQ(r.result.outcome, RunOutcome::Succeeded) << r.result.error.dump();
  EXPECT_EQ(run_of(r, "c")->status, "failed");
  EXPECT_EQ(run_of(r, "after_c")->status, "succeeded");
  EXPECT_EQ(run_of(r, "ok_path")->status, "skipped");
  EXPECT_EQ(run_of(r, "err_path")->status, "succeeded");
  EXPECT_EQ(run_of(r, "err_path")->output["main"]["error"]["code"].as_string(), "planned_failure");
  EXPECT_EQ(count(r, "node_error"), 2);
}

TEST_P(ExecutorTest, NodeTimeoutIsEnforcedThroughCancellation) {
  auto r = run(wf({node("start", "core.manual_trigger"), node("slow", "test.sleep", R"({"ms":20000})", R"({"timeout_seconds":1})")},
                  {edge("start", "slow")}));
  ASSERT_EQ(r.result.outcome, RunOutcome::Failed);
  EXPECT_EQ(r.exec.error["details"]["error"]["code"].as_string(), "node_timeout") << r.exec.error.dump();
}

TEST_P(ExecutorTest, WorkflowTimeoutStopsTheRun) {
  auto r = run(wf({node("start", "core.manual_trigger"), node("slow", "test.sleep", R"({"ms":20000})")},
                  {edge("start", "slow")}, R"({"timeout_seconds":1})"));
  ASSERT_EQ(r.result.outcome, RunOutcome::Failed);
  EXPECT_EQ(r.exec.error["code"].as_string(), "workflow_timeout");
}

TEST_P(ExecutorTest, CancelStopsARunningExecution) {
  auto def = Json::parse(wf({node("start", "core.manual_trigger"), node("slow", "test.sleep", R"({"ms":20000})"),
                             node("after", "core.noop")},
                            {edge("start", "slow"), edge("slow", "after")}))
                 .value();
  auto wfr = host_->store()->save_workflow("", "", "t", def);
  weft::store::NewExecution ne;
  ne.workflow_id = wfr->id;
  ne.workflow_version = wfr->version;
  ne.definition = def;
  ne.claim_owner = host_->workers().worker_id();
  auto exec = host_->store()->create_execution(ne);
  ASSERT_TRUE(exec.ok());
  std::atomic<bool> started{false};
  auto sub = host_->bus().subscribe(exec->id, [&](const weft::store::EventRecord& e) {
    if (e.type == "node_start" && e.data["node_id"].as_string() == "slow") started = true;
  });
  std::thread t([&] {
    while (!started) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    ASSERT_TRUE(host_->store()->request_cancel(exec->id).ok());  // seen through the heartbeat
  });
  auto res = host_->workers().run_claimed(*exec);
  t.join();
  host_->bus().unsubscribe(sub);
  EXPECT_EQ(res.outcome, RunOutcome::Cancelled);
  Ran r;
  collect(exec->id, r);
  EXPECT_EQ(r.exec.status, ExecStatus::Cancelled);
  EXPECT_EQ(run_of(r, "after"), nullptr);
  EXPECT_EQ(r.events.back().type, "workflow_done");
  EXPECT_EQ(r.events.back().data["status"].as_string(), "cancelled");
}

TEST_P(ExecutorTest, WaitParksWithoutAThreadAndResumesWhenDue) {
  auto r = run(wf({node("start", "core.manual_trigger"), node("pause", "core.wait", R"({"seconds":1})"),
                   node("after", "core.set", R"({"fields":{"woke":true}})")},
                  {edge("start", "pause"), edge("pause", "after")}),
               Json::parse(R"({"x":1})").value());
  ASSERT_EQ(r.result.outcome, RunOutcome::Parked) << r.result.error.dump();
  EXPECT_EQ(r.exec.status, ExecStatus::Parked);
  EXPECT_GT(r.exec.wake_at_ms, 0);
  EXPECT_EQ(r.exec.lease.owner, "");
  EXPECT_EQ(run_of(r, "pause")->status, "parked");
  // Not claimable before it is due.
  auto early = host_->store()->claim_execution("other", 5000, weft::wall_ms());
  ASSERT_TRUE(early.ok());
  EXPECT_FALSE(early->has_value());
  // Due: a worker claims it and finishes it.
  auto due = host_->store()->claim_execution("w2", 5000, r.exec.wake_at_ms + 1);
  ASSERT_TRUE(due.ok());
  ASSERT_TRUE(due->has_value());
  // The executor checks wake times against the real clock: wait until really due.
  while (weft::wall_ms() <= r.exec.wake_at_ms) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  auto res = host_->workers().run_claimed(**due);
  ASSERT_EQ(res.outcome, RunOutcome::Succeeded) << res.error.dump();
  Ran after;
  collect(r.exec.id, after);
  EXPECT_EQ(after.exec.output["woke"].as_bool(), true);
  EXPECT_EQ(after.exec.output["x"].as_int(), 1);
  EXPECT_EQ(count(after, "execution_parked"), 1);
  EXPECT_EQ(count(after, "execution_resumed"), 1);
  EXPECT_EQ(count(after, "node_complete", "start"), 1);  // finished nodes did not run again
}

TEST_P(ExecutorTest, ALongRetryDelayParksAndTheRetryIsANewAttempt) {
  // Retry delays longer than max_inline_retry_wait_ms park the execution; when due, the retry
  // is the next attempt (not a resumption of the failed one).
  weft::executor::ExecutorOptions eo;
  eo.max_inline_retry_wait_ms = 0;
  auto ex = std::make_shared<weft::executor::Executor>(host_->store(), nullptr, nullptr, eo);
  weft::executor::WorkerPool pool(ex, [this](const weft::store::ExecutionRecord& e) { return host_->plan_for(e); });
  auto def = Json::parse(wf({node("start", "core.manual_trigger"),
                             node("flaky", "test.fail", R"({"times":1})", R"({"retry_count":1,"retry_delay_seconds":0.05})")},
                            {edge("start", "flaky")}))
                 .value();
  auto wfr = host_->store()->save_workflow("", "", "t", def);
  weft::store::NewExecution ne;
  ne.workflow_id = wfr->id;
  ne.workflow_version = wfr->version;
  ne.definition = def;
  ne.claim_owner = pool.worker_id();
  auto exec = host_->store()->create_execution(ne);
  ASSERT_TRUE(exec.ok());
  auto first = pool.run_claimed(*exec);
  ASSERT_EQ(first.outcome, RunOutcome::Parked) << first.error.dump();
  ASSERT_GT(first.wake_at_ms, 0);
  while (weft::wall_ms() <= first.wake_at_ms) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(pool.drain(), 1u);
  Ran r;
  collect(exec->id, r);
  ASSERT_EQ(r.exec.status, ExecStatus::Succeeded) << r.exec.error.dump();
  EXPECT_EQ(run_of(r, "flaky")->attempt, 2);
  EXPECT_EQ(count(r, "node_retry"), 1);
}

TEST_P(ExecutorTest, HumanRequestParksUntilAnswered) {
  auto r = run(wf({node("start", "core.manual_trigger"), node("ask", "test.ask"), node("after", "core.noop")},
                  {edge("start", "ask"), edge("ask", "after")}));
  ASSERT_EQ(r.result.outcome, RunOutcome::Parked);
  EXPECT_EQ(r.exec.status, ExecStatus::Parked);
  EXPECT_EQ(r.exec.wake_at_ms, 0);
  EXPECT_EQ(count(r, "waiting_for_human"), 1);
  EXPECT_EQ(run_of(r, "ask")->park["request"]["question"].as_string(), "continue?");
  // Without an answer nothing can claim it, however late it is.
  auto claimed = host_->store()->claim_execution("w", 5000, weft::wall_ms() + 86400000);
  ASSERT_TRUE(claimed.ok());
  EXPECT_FALSE(claimed->has_value()) << "an unanswered request is not claimable";
}

TEST_P(ExecutorTest, ExpressionErrorsFailTheNodeWithoutRetry) {
  auto r = run(wf({node("start", "core.manual_trigger"),
                   node("div", "core.set", R"({"fields":{"y":"{{ 1 / $json.zero }}"}})", R"({"retry_count":3,"retry_delay_seconds":0})")},
                  {edge("start", "div")}),
               Json::parse(R"({"zero":0})").value());
  ASSERT_EQ(r.result.outcome, RunOutcome::Failed);
  EXPECT_EQ(r.exec.error["details"]["error"]["code"].as_string(), "expression_error");
  EXPECT_EQ(count(r, "node_retry"), 0);
}

TEST_P(ExecutorTest, ReferencesUpstreamOutputsAndPluginEvents) {
  auto r = run(wf({node("start", "core.manual_trigger"), node("e", "test.emit"),
                   node("s", "core.set", R"({"mode":"replace","fields":{"from_start":"{{ $node.start.output.name }}","key":"{{ $node.e.outputs.key }}","greeting":"hi {{ $input.name }}!"}})")},
                  {edge("start", "e"), edge("e", "s")}),
               Json::parse(R"({"name":"ada"})").value());
  ASSERT_EQ(r.result.outcome, RunOutcome::Succeeded) << r.result.error.dump();
  EXPECT_EQ(r.exec.output["from_start"].as_string(), "ada");
  EXPECT_EQ(r.exec.output["greeting"].as_string(), "hi ada!");
  EXPECT_EQ(r.exec.output["key"].as_string(), r.exec.id + ":e:1");
  EXPECT_EQ(count(r, "node_event"), 1);
}

TEST_P(ExecutorTest, GarbageOutputFromAPluginIsAClearError) {
  auto r = run(wf({node("start", "core.manual_trigger"), node("g", "test.garbage")}, {edge("start", "g")}));
  ASSERT_EQ(r.result.outcome, RunOutcome::Failed);
  EXPECT_EQ(r.exec.error["details"]["error"]["code"].as_string(), "invalid_node_output");
}

TEST_P(ExecutorTest, StaleWorkerIsFencedOffAfterTakeover) {
  auto def = Json::parse(wf({node("start", "core.manual_trigger")}, {})).value();
  auto wfr = host_->store()->save_workflow("", "", "t", def);
  weft::store::NewExecution ne;
  ne.workflow_id = wfr->id;
  ne.workflow_version = wfr->version;
  ne.definition = def;
  auto created = host_->store()->create_execution(ne);
  ASSERT_TRUE(created.ok());
  auto a = host_->store()->claim_execution("worker-a", 50, weft::wall_ms());
  ASSERT_TRUE(a.ok() && a->has_value());
  // worker-a stalls past its lease; worker-b takes over.
  auto b = host_->store()->claim_execution("worker-b", 5000, weft::wall_ms() + 1000);
  ASSERT_TRUE(b.ok() && b->has_value());
  EXPECT_GT((*b)->lease.epoch, (*a)->lease.epoch);
  // worker-a wakes up and runs: its first commit is rejected and it stops without writing.
  auto res = host_->executor().run(**a, *host_->plan_for(**a));
  EXPECT_EQ(res.outcome, RunOutcome::LeaseLost);
  auto events = *host_->store()->events(created->id, 0, 100);
  EXPECT_TRUE(events.empty());
  auto res_b = host_->workers().run_claimed(**b);
  EXPECT_EQ(res_b.outcome, RunOutcome::Succeeded);
}

TEST_P(ExecutorTest, IdempotencyKeyReturnsTheSameExecution) {
  auto def = Json::parse(wf({node("start", "core.manual_trigger")}, {})).value();
  auto wfr = host_->store()->save_workflow("", "", "t", def);
  weft::store::NewExecution ne;
  ne.workflow_id = wfr->id;
  ne.workflow_version = wfr->version;
  ne.definition = def;
  ne.idempotency_key = "order-42";
  bool existed = true;
  auto first = host_->store()->create_execution(ne, &existed);
  ASSERT_TRUE(first.ok());
  EXPECT_FALSE(existed);
  auto second = host_->store()->create_execution(ne, &existed);
  ASSERT_TRUE(second.ok());
  EXPECT_TRUE(existed);
  EXPECT_EQ(first->id, second->id);
  EXPECT_EQ(host_->workers().drain(), 1u);
  EXPECT_EQ(host_->store()->get_execution(first->id)->status, ExecStatus::Succeeded);
}

TEST_P(ExecutorTest, QueuedExecutionsAreRunByBackgroundWorkers) {
  auto def = Json::parse(wf({node("start", "core.manual_trigger"), node("a", "core.set", kInc)}, {edge("start", "a")})).value();
  auto wfr = host_->store()->save_workflow("", "", "t", def);
  std::vector<std::string> ids;
  for (int i = 0; i < 20; ++i) {
    weft::store::NewExecution ne;
    ne.workflow_id = wfr->id;
    ne.workflow_version = wfr->version;
    ne.definition = def;
    ne.input = Json::parse("{\"x\":" + std::to_string(i) + "}").value();
    ids.push_back(host_->store()->create_execution(ne)->id);
  }
  std::atomic<int> done{0};
  auto sub = host_->bus().subscribe("", [&](const weft::store::EventRecord& e) {
    if (e.type == "workflow_done") ++done;
  });
  host_->workers().start();
  host_->workers().wake();
  for (int i = 0; i < 2000 && done < 20; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  host_->workers().stop();
  host_->bus().unsubscribe(sub);
  for (int i = 0; i < 20; ++i) {
    auto e = host_->store()->get_execution(ids[i]);
    EXPECT_EQ(e->status, ExecStatus::Succeeded);
    EXPECT_EQ(e->output["x"].as_int(), i + 1);
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, ExecutorTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

}  // namespace
