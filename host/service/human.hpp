// Human in the loop (PRODUCT.md §5): the requests parked executions ask (approvals,
// clarifications, error recovery), who may answer them, and the answer itself. Knows nothing of
// HTTP. The executor creates the requests (store::Commit::requests) when a node parks with
// {"request": ...}; this service lists them and applies answers through the store's CAS
// (store::Store::respond_human_request), so an answer is applied exactly once, then wakes the
// workers so the execution resumes within milliseconds.
//
// Who may answer: a request without assignees is answered by the execution's owner; a request
// with assignees (named approvers, user ids or emails) only by them. Anyone else gets not_found
// (another owner's request does not exist for them) or, for the owner who is not a named
// approver, not_an_approver.
//
// Error codes: not_found (404), not_an_approver (403), already_answered (409: answered, expired
// or cancelled meanwhile; details.status says which), already_voted (409: an all-of approval
// this user already voted on), invalid_answer (400: malformed for the request's kind; message
// and details.field name the member), conflict (409: the request kept changing under a bounded
// number of compare-and-swap retries), storage errors as the store reports them.
//
// Limits: approval and error-recovery comments at most 4000 characters, clarification answers
// at most 10000 (Unicode code points). A clarification with options accepts only one of them
// unless its request says "allow_free_text": true (default: free text only when it has no
// options); an error recovery accepts only the actions its request offers ("options").
//
// Audit: the decision is committed first (the CAS), then its audit entry is appended; when that
// append fails the answer stands and the failure is logged (the answer cannot be taken back).
//
// Thread-safety: all methods may be called concurrently.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "host/core/json.hpp"
#include "host/core/result.hpp"
#include "host/service/audit.hpp"
#include "host/store/store.hpp"

namespace weft::service {

struct HumanCaller {
  std::string user_id;   // "" = the local/CLI owner
  std::string email;     // lower-cased ("" when unknown)
  // Admins are ordinary users here: a request is answered by its owner or its assignees.
};

// Answer shapes (POST /api/orchestrator/respond/:id body), by kind:
//   approval        {"decision": "approve" | "reject", "comment": "..."}
//   clarification   {"answer": "<text>"} (one of the request's options unless free text is allowed)
//   error_recovery  {"action": "retry" | "skip" | "stop", "comment": "..."}
// What the node receives (park "answer", resume {"reason":"answer","answer":...}):
//   approval        {"decision", "approved": bool, "comment", "by": user_id, "votes": [...]}
//                   (all-of: final when every assignee approved, or at the first reject)
//   clarification   {"answer": ..., "by": user_id}
//   error_recovery  {"action", "comment", "by"}
class HumanService {
 public:
  HumanService(std::shared_ptr<store::Store> store, std::shared_ptr<AuditLog> audit,
               std::function<void()> wake_workers);

  // Open requests the caller may answer (or owns), oldest first: each as request_json().
  Result<std::vector<store::HumanRequestRecord>> pending(const HumanCaller& c, int64_t limit,
                                                         const std::string& after_id);
  // Applies an answer (a vote for all-of approvals). Audits "human.<kind>" with request_details,
  // response and response_time_ms when the request is decided (a vote that does not decide is
  // audited as "human.vote"). Returns the request after the answer.
  Result<store::HumanRequestRecord> respond(const HumanCaller& c, const std::string& request_id,
                                            const Json& body);
  // Every request (and answer) of an execution the caller owns, or is an assignee of; oldest
  // first. not_found when neither.
  Result<std::vector<store::HumanRequestRecord>> history(const HumanCaller& c,
                                                         const std::string& execution_id);
  // Whether the caller may watch the execution's events (its owner, or an assignee of one of its
  // requests): ok, not_found, or a storage error. The WebSocket stream asks this before upgrading.
  Status may_watch(const HumanCaller& c, const std::string& execution_id);

 private:
  // Every request of an execution (oldest first), and whether the caller owns the execution or
  // is an assignee of one of them; not_found otherwise.
  Result<std::vector<store::HumanRequestRecord>> visible_requests(const HumanCaller& c,
                                                                  const std::string& execution_id);

  std::shared_ptr<store::Store> store_;
  std::shared_ptr<AuditLog> audit_;
  std::function<void()> wake_;
};

// The API view of a request: id, execution_id, workflow_id, node_id, kind, request, assignees,
// mode, status, votes, response, answered_by, created_at, deadline_at, answered_at, resumed_at
// (ISO-8601 + *_ms), waiting_ms (open: now - created).
Json human_request_json(const store::HumanRequestRecord& r, int64_t now_ms);

}  // namespace weft::service
