#include "host/service/human.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <ctime>

#include "host/core/call.hpp"
#include "host/core/redact.hpp"

namespace weft::service {

namespace {

constexpr size_t kMaxComment = 4000;          // approval / error-recovery comments (code points)
constexpr size_t kMaxAnswer = 10000;          // clarification answers (code points)
constexpr int kMaxCasAttempts = 64;           // re-read + retry on a concurrent change
constexpr int64_t kHistoryPage = 500;
constexpr size_t kMaxHistory = 10000;         // requests of one execution returned at most

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char ch) { return std::tolower(ch); });
  return s;
}

// Unicode code points of UTF-8 text (the JSON parser has already validated it).
size_t code_points(const std::string& s) {
  size_t n = 0;
  for (unsigned char ch : s)
    if ((ch & 0xC0) != 0x80) ++n;
  return n;
}

Error invalid_answer(const std::string& field, const std::string& message) {
  Json d = Json::object();
  d.set("field", field);
  return Error("invalid_answer", message, d.dump());
}

Error not_found() { return Error("not_found", "human request not found"); }

bool is_assignee(const store::HumanRequestRecord& r, const HumanCaller& c) {
  for (const std::string& a : r.assignees) {
    if (!c.user_id.empty() && a == c.user_id) return true;
    if (!c.email.empty() && lower(a) == c.email) return true;
  }
  return false;
}

// Only these members; anything else names itself.
Status only_members(const Json& body, std::initializer_list<std::string_view> allowed) {
  for (const auto& [k, v] : body.as_object()) {
    if (std::find(allowed.begin(), allowed.end(), k) == allowed.end())
      return invalid_answer(k, "unknown member '" + k.substr(0, 64) + "' in the answer");
  }
  return {};
}

Result<std::string> optional_comment(const Json& body) {
  const Json* c = body.find("comment");
  if (!c || c->is_null()) return std::string();
  if (!c->is_string()) return invalid_answer("comment", "'comment' must be a string");
  if (code_points(c->as_string()) > kMaxComment)
    return invalid_answer("comment", "'comment' is longer than " + std::to_string(kMaxComment) + " characters");
  return c->as_string();
}

// The checked answer of one caller, before it is combined with earlier votes.
struct Answer {
  std::string decision;  // approval
  std::string action;    // error_recovery
  std::string comment;
  Json answer;           // clarification
};

Result<Answer> check_answer(const store::HumanRequestRecord& r, const Json& body) {
  Answer a;
  if (r.kind == "approval") {
    if (Status s = only_members(body, {"decision", "comment"}); !s.ok()) return s.error();
    const Json& d = body["decision"];
    if (!d.is_string() || (d.as_string() != "approve" && d.as_string() != "reject"))
      return invalid_answer("decision", "'decision' must be \"approve\" or \"reject\"");
    a.decision = d.as_string();
    auto c = optional_comment(body);
    if (!c.ok()) return c.error();
    a.comment = *c;
    return a;
  }
  if (r.kind == "clarification") {
    if (Status s = only_members(body, {"answer"}); !s.ok()) return s.error();
    const Json* v = body.find("answer");
    if (!v || v->is_null()) return invalid_answer("answer", "'answer' is required");
    if (!v->is_string()) return invalid_answer("answer", "'answer' must be a string");
    const Json& options = r.request["options"];
    bool is_option = false;
    for (const Json& o : options.as_array())
      if (o == *v) is_option = true;
    const bool has_options = options.is_array() && options.size() > 0;
    const Json* free = r.request.find("allow_free_text");
    const bool free_text = free && free->is_bool() ? free->as_bool() : !has_options;
    if (!is_option && has_options && !free_text)
      return invalid_answer("answer", "'answer' must be one of the request's options");
    if (v->as_string().empty()) return invalid_answer("answer", "'answer' must not be empty");
    if (code_points(v->as_string()) > kMaxAnswer)
      return invalid_answer("answer", "'answer' is longer than " + std::to_string(kMaxAnswer) + " characters");
    a.answer = *v;
    return a;
  }
  if (r.kind == "error_recovery") {
    if (Status s = only_members(body, {"action", "comment"}); !s.ok()) return s.error();
    const Json& act = body["action"];
    const std::string action = act.is_string() ? act.as_string() : std::string();
    if (action != "retry" && action != "skip" && action != "stop")
      return invalid_answer("action", "'action' must be \"retry\", \"skip\" or \"stop\"");
    const Json& offered = r.request["options"];
    if (offered.is_array() && offered.size() > 0) {
      bool ok = false;
      for (const Json& o : offered.as_array())
        if (o.is_string() && o.as_string() == action) ok = true;
      if (!ok) return invalid_answer("action", "this request does not offer the action '" + action + "'");
    }
    a.action = action;
    auto c = optional_comment(body);
    if (!c.ok()) return c.error();
    a.comment = *c;
    return a;
  }
  return Error("invalid_state", "human request of unknown kind '" + r.kind.substr(0, 40) + "'");
}

bool voted_by(const Json& vote, const HumanCaller& c) {
  const std::string& uid = vote["user_id"].as_string();
  if (!c.user_id.empty() && uid == c.user_id) return true;
  const std::string& email = vote["email"].as_string();
  return !c.email.empty() && !email.empty() && email == c.email;
}

// Whether every assignee of an all-of approval has an approving vote.
bool all_approved(const store::HumanRequestRecord& r, const Json& votes) {
  if (r.assignees.empty()) return votes.size() > 0;
  for (const std::string& a : r.assignees) {
    bool covered = false;
    for (const Json& v : votes.as_array()) {
      if (v["decision"].as_string() != "approve") continue;
      if (v["user_id"].as_string() == a || (!v["email"].as_string().empty() && v["email"].as_string() == lower(a)))
        covered = true;
    }
    if (!covered) return false;
  }
  return true;
}

std::string iso8601(int64_t ms) {
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
  return buf;
}

void set_time(Json& j, const std::string& name, int64_t ms) {
  j.set(name, ms > 0 ? Json(iso8601(ms)) : Json());
  j.set(name + "_ms", ms > 0 ? Json(ms) : Json());
}

}  // namespace

HumanService::HumanService(std::shared_ptr<store::Store> store, std::shared_ptr<AuditLog> audit,
                           std::function<void()> wake_workers)
    : store_(std::move(store)), audit_(std::move(audit)), wake_(std::move(wake_workers)) {}

Result<std::vector<store::HumanRequestRecord>> HumanService::pending(const HumanCaller& c, int64_t limit,
                                                                    const std::string& after_id) {
  store::HumanRequestFilter f;
  f.owner_id = c.user_id;
  if (!c.user_id.empty()) f.principals.push_back(c.user_id);
  if (!c.email.empty()) f.principals.push_back(lower(c.email));
  f.status = "open";
  f.limit = std::max<int64_t>(1, limit);
  f.after_id = after_id;
  auto list = store_->list_human_requests(f);
  if (!list.ok()) return list.error();
  if (c.user_id.empty() && c.email.empty()) {
    // The local owner: an empty filter means "every request" to the store; keep only theirs.
    list->erase(std::remove_if(list->begin(), list->end(),
                               [&](const store::HumanRequestRecord& r) { return !r.owner_id.empty(); }),
                list->end());
  }
  return list;
}

Result<std::vector<store::HumanRequestRecord>> HumanService::visible_requests(const HumanCaller& c,
                                                                             const std::string& execution_id) {
  auto exec = store_->get_execution(execution_id);
  if (!exec.ok()) {
    if (exec.error().code == "not_found") return Error("not_found", "execution not found");
    return exec.error();
  }
  std::vector<store::HumanRequestRecord> all;
  store::HumanRequestFilter f;
  f.execution_id = execution_id;
  f.limit = kHistoryPage;
  for (;;) {
    auto page = store_->list_human_requests(f);
    if (!page.ok()) return page.error();
    for (auto& r : *page) all.push_back(std::move(r));
    if (static_cast<int64_t>(page->size()) < kHistoryPage || all.size() >= kMaxHistory) break;
    f.after_id = all.back().id;
  }
  if (exec->owner_id == c.user_id) return all;
  for (const auto& r : all)
    if (is_assignee(r, c)) return all;
  return Error("not_found", "execution not found");
}

Result<std::vector<store::HumanRequestRecord>> HumanService::history(const HumanCaller& c,
                                                                    const std::string& execution_id) {
  return visible_requests(c, execution_id);
}

Status HumanService::may_watch(const HumanCaller& c, const std::string& execution_id) {
  auto v = visible_requests(c, execution_id);
  if (!v.ok()) return v.error();
  return {};
}

Result<store::HumanRequestRecord> HumanService::respond(const HumanCaller& c, const std::string& request_id,
                                                        const Json& body) {
  if (!body.is_object()) return invalid_answer("", "the answer must be a JSON object");
  for (int attempt = 0; attempt < kMaxCasAttempts; ++attempt) {
    auto r = store_->get_human_request(request_id);
    if (!r.ok()) return r.error().code == "not_found" ? not_found() : r.error();
    const bool owner = r->owner_id == c.user_id;
    const bool assignee = is_assignee(*r, c);
    if (!owner && !assignee) return not_found();
    if (!r->assignees.empty() && !assignee)
      return Error("not_an_approver", "this request names its approvers and you are not one of them");
    auto answer = check_answer(*r, body);
    if (!answer.ok()) return answer.error();
    if (r->status != "open") {
      Json d = Json::object();
      d.set("status", r->status);
      return Error("already_answered", "this request is no longer open (" + r->status + ")", d.dump());
    }

    const int64_t now = wall_ms();
    store::HumanResponse resp;
    resp.id = r->id;
    resp.expected_version = r->version;
    resp.answered_by = c.user_id;
    resp.now_ms = now;
    resp.votes = r->votes.is_array() ? r->votes : Json::array();
    Json vote;  // the caller's part, audited for non-final votes
    if (r->kind == "approval") {
      for (const Json& v : resp.votes.as_array()) {
        if (voted_by(v, c)) return Error("already_voted", "you already voted on this request");
      }
      vote = Json::object();
      vote.set("user_id", c.user_id);
      if (!c.email.empty()) vote.set("email", lower(c.email));
      vote.set("decision", answer->decision);
      vote.set("comment", answer->comment);
      vote.set("at_ms", now);
      resp.votes.push_back(vote);
      const bool all_of = r->mode == "all" && r->assignees.size() > 1;
      resp.final = !all_of || answer->decision == "reject" || all_approved(*r, resp.votes);
      if (resp.final) {
        Json out = Json::object();
        out.set("decision", answer->decision);
        out.set("approved", answer->decision == "approve");
        out.set("comment", answer->comment);
        out.set("by", c.user_id);
        out.set("votes", resp.votes);
        resp.response = out;
      }
    } else if (r->kind == "clarification") {
      resp.final = true;
      Json out = Json::object();
      out.set("answer", answer->answer);
      out.set("by", c.user_id);
      resp.response = out;
    } else {
      resp.final = true;
      Json out = Json::object();
      out.set("action", answer->action);
      out.set("comment", answer->comment);
      out.set("by", c.user_id);
      resp.response = out;
    }

    auto updated = store_->respond_human_request(resp);
    if (!updated.ok()) {
      if (updated.error().code == "conflict") continue;  // changed meanwhile: re-read and decide again
      return updated.error();
    }
    if (resp.final && wake_) wake_();

    if (audit_) {
      AuditEntry e;
      e.user_id = c.user_id;
      e.action_type = resp.final ? "human." + r->kind : "human.vote";
      e.workflow_id = r->workflow_id;
      e.execution_id = r->execution_id;
      e.node_id = r->node_id;
      Json d = Json::object();
      d.set("request_id", r->id);
      d.set("kind", r->kind);
      d.set("request_details", r->request);
      d.set("response", resp.final ? resp.response : vote);
      const int64_t answered = resp.final && updated->answered_at_ms > 0 ? updated->answered_at_ms : now;
      d.set("response_time_ms", std::max<int64_t>(0, answered - r->created_at_ms));
      if (r->kind == "approval") d.set("decision", answer->decision);
      if (r->kind == "error_recovery") d.set("action", answer->action);
      if (r->kind == "approval" && !resp.final) d.set("votes", static_cast<int64_t>(resp.votes.size()));
      e.details = std::move(d);
      if (Status st = audit_->record(e); !st.ok()) {
        // The answer is committed and cannot be taken back; the operator learns of the gap.
        std::fprintf(stderr, "weft: audit entry %s for human request %s not written: %s\n", e.action_type.c_str(),
                     r->id.c_str(), st.error().code.c_str());
      }
    }
    return updated;
  }
  return Error("conflict", "the request kept changing while answering it; retry");
}

Json human_request_json(const store::HumanRequestRecord& r, int64_t now_ms) {
  Json j = Json::object();
  j.set("id", r.id);
  j.set("execution_id", r.execution_id);
  j.set("workflow_id", r.workflow_id);
  j.set("node_id", r.node_id);
  j.set("kind", r.kind);
  j.set("request", r.request.is_null() ? Json::object() : r.request);
  Json assignees = Json::array();
  for (const auto& a : r.assignees) assignees.push_back(a);
  j.set("assignees", assignees);
  j.set("mode", r.mode);
  j.set("status", r.status);
  j.set("votes", r.votes.is_array() ? r.votes : Json::array());
  j.set("response", r.response);
  j.set("answered_by", r.answered_by.empty() ? Json() : Json(r.answered_by));
  set_time(j, "created_at", r.created_at_ms);
  set_time(j, "deadline_at", r.deadline_at_ms);
  set_time(j, "answered_at", r.answered_at_ms);
  set_time(j, "resumed_at", r.resumed_at_ms);
  if (r.status == "open") j.set("waiting_ms", std::max<int64_t>(0, now_ms - r.created_at_ms));
  return j;
}

}  // namespace weft::service
