// core.approval — asks people to approve or reject, by parking with a human request (kind
// "approval"): no thread is held while it waits. The host turns the park into a request that the
// orchestrator API lists and answers (host/service/human.hpp); the answer or the timeout resumes
// the node, which routes the data to "approved" or "rejected".
#include <optional>
#include <string>

#include "human_util.hpp"
#include "nodes.hpp"

namespace weft::core_pack {

const std::string_view ApprovalNode::schema = R"json({
  "display_name": "Approval",
  "description": "Asks for an approval and waits without holding a thread (also across restarts). The data arriving on 'main' goes out on 'approved' or 'rejected' as {approved, decision, comment, by, votes, timed_out, data}. Named 'approvers' (user ids or emails) may answer; without them the workflow's owner does. Mode 'all' needs every approver to approve (the first rejection decides). After 'timeout_seconds' the 'on_timeout' outcome applies: reject (default), approve, or fail with approval_timeout.",
  "category": "human",
  "fields": [
    {"name": "title", "type": "string", "required": false, "default": "Approval required", "max_length": 500,
     "description": "What is to be approved, shown to the approvers."},
    {"name": "message", "type": "string", "required": false, "max_length": 10000,
     "description": "Details for the approvers (expressions can show the data, e.g. {{ $json.amount }})."},
    {"name": "approvers", "type": "json", "required": false,
     "description": "Who may answer: an array of user ids or emails (at most 50), or one as a string. Empty: the workflow's owner."},
    {"name": "mode", "type": "select", "options": ["any", "all"], "default": "any",
     "description": "any: the first answer decides; all: every approver must approve (the first rejection decides)."},
    {"name": "timeout_seconds", "type": "number", "required": false, "min": 1, "max": 31536000,
     "description": "How long to wait for the decision (at most a year). Empty: no timeout."},
    {"name": "on_timeout", "type": "select", "options": ["reject", "approve", "fail"], "default": "reject",
     "description": "What a timeout means: reject, approve, or fail the node (error approval_timeout)."}
  ],
  "inputs": [{"name": "main", "type": "any"}],
  "outputs": [{"name": "approved", "type": "json"}, {"name": "rejected", "type": "json"}],
  "flags": ["long_running"]
})json";

namespace {

// {approved, decision, comment, by, votes, timed_out, data}
void decide(Context& ctx, bool approved, const Value* comment, const Value* by, const Value* votes, bool timed_out) {
  Allocator& a = ctx.allocator();
  Value out(rapidjson::kObjectType);
  out.AddMember("approved", Value(approved), a);
  out.AddMember("decision", make_string(approved ? "approve" : "reject", a), a);
  out.AddMember("comment", comment && comment->IsString() ? Value(*comment, a) : Value(), a);
  out.AddMember("by", by && by->IsString() ? Value(*by, a) : Value(), a);
  out.AddMember("votes", votes && votes->IsArray() ? Value(*votes, a) : Value(rapidjson::kArrayType), a);
  out.AddMember("timed_out", Value(timed_out), a);
  out.AddMember("data", Value(ctx.input_or_null("main"), a), a);
  ctx.output(approved ? "approved" : "rejected", std::move(out));
}

}  // namespace

void ApprovalNode::execute(Context& ctx) const {
  const std::string who = "node '" + std::string(ctx.node_id()) + "' (core.approval): ";
  if (ctx.resumed()) {
    if (ctx.resume_reason() == "answer") {
      // {"decision", "approved", "comment", "by", "votes"} (host/service/human.hpp)
      const Value* answer = find_member(ctx.resume(), "answer");
      const Value* decision = answer ? find_member(*answer, "decision") : nullptr;
      const Value* approved = answer ? find_member(*answer, "approved") : nullptr;
      bool yes;
      if (decision && decision->IsString() && (str_of(*decision) == "approve" || str_of(*decision) == "reject")) {
        yes = str_of(*decision) == "approve";
      } else if (approved && approved->IsBool()) {
        yes = approved->GetBool();
      } else {
        return ctx.invalid_input("invalid_answer", who + "the answer has no decision (\"approve\" or \"reject\")");
      }
      return decide(ctx, yes, find_member(*answer, "comment"), find_member(*answer, "by"),
                    find_member(*answer, "votes"), false);
    }
    if (ctx.resume_reason() == "timer") {
      auto on_timeout = ctx.select_param("on_timeout", {"reject", "approve", "fail"}, "reject");
      if (!on_timeout) return;
      if (*on_timeout == "fail") {
        // Not retried (a retry would only ask again): on_error decides, and with "ask" a human
        // may still choose to retry.
        return ctx.invalid_input("approval_timeout", who + "no decision arrived within the timeout");
      }
      return decide(ctx, *on_timeout == "approve", nullptr, nullptr, nullptr, true);
    }
    return ctx.invalid_input("unexpected_resume", who + "resumed with reason \"" + std::string(ctx.resume_reason()) +
                                                      "\"; an approval is woken by an answer or its timeout");
  }

  auto title = ctx.string_param("title", "Approval required", 500);
  if (!title) return;
  auto message = ctx.string_param("message", "", 10000);
  if (!message) return;
  auto mode = ctx.select_param("mode", {"any", "all"}, "any");
  if (!mode) return;
  auto on_timeout = ctx.select_param("on_timeout", {"reject", "approve", "fail"}, "reject");
  if (!on_timeout) return;
  std::optional<double> timeout;
  if (const Value* t = ctx.param("timeout_seconds"); t && !t->IsNull()) {
    timeout = ctx.number_param("timeout_seconds", std::nullopt, 1, kMaxHumanTimeoutSeconds);
    if (!timeout) return;
  }

  Allocator& a = ctx.allocator();
  Value approvers(rapidjson::kArrayType);
  if (!read_assignees(ctx, "approvers", approvers)) return;

  Value request(rapidjson::kObjectType);
  request.AddMember("kind", make_string("approval", a), a);
  request.AddMember("title", make_string(*title, a), a);
  request.AddMember("message", make_string(*message, a), a);
  request.AddMember("approvers", std::move(approvers), a);
  request.AddMember("mode", make_string(*mode, a), a);
  Value options(rapidjson::kArrayType);
  options.PushBack(make_string("approve", a), a);
  options.PushBack(make_string("reject", a), a);
  request.AddMember("options", std::move(options), a);
  if (timeout) {
    request.AddMember("timeout_seconds", Value(*timeout), a);
    request.AddMember("on_timeout", make_string(*on_timeout, a), a);
    ctx.park(deadline_after(*timeout), &request);
  } else {
    ctx.park(std::nullopt, &request);
  }
}

}  // namespace weft::core_pack
