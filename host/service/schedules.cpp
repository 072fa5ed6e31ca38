#include "host/service/schedules.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "host/core/call.hpp"

namespace weft::service {

namespace {

// The store may carry a persisted last_error on schedules (a later schema); when it does, it is
// written and read through these, otherwise the service keeps it in memory.
template <typename R>
void put_last_error(R& rec, const std::string& e) {
  if constexpr (requires { rec.last_error; }) rec.last_error = e;
}
template <typename R>
constexpr bool has_stored_last_error() {
  return requires(R r) {
    r.last_error;
  };
}
template <typename R>
std::string stored_last_error(const R& rec) {
  if constexpr (requires { rec.last_error; }) return rec.last_error;
  return {};
}

Error field_error(const std::string& field, const std::string& message) {
  Json d = Json::object();
  d.set("field", field);
  return Error("invalid_argument", message, d.dump());
}

size_t utf8_length(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s)
    if ((c & 0xC0) != 0x80) ++n;
  return n;
}

Status only_members(const Json& body, std::initializer_list<std::string_view> allowed) {
  for (const auto& [k, v] : body.as_object()) {
    if (std::find(allowed.begin(), allowed.end(), k) == allowed.end()) {
      Json d = Json::object();
      d.set("field", k);
      return Error("unknown_field", "unknown field '" + k + "'", d.dump());
    }
  }
  return {};
}

Json run_json(const CronSchedule& s, int64_t at_ms) {
  Json j = Json::object();
  j.set("at", utc_iso(at_ms));
  j.set("at_ms", at_ms);
  j.set("local", s.local_iso(at_ms));
  return j;
}

Json optional_ms(int64_t ms) {
  return ms > 0 ? Json(ms) : Json();
}
Json optional_iso(int64_t ms) {
  return ms > 0 ? Json(utc_iso(ms)) : Json();
}

}  // namespace

// ---- options -------------------------------------------------------------------------------------

Result<ScheduleOptions> ScheduleOptions::from(const Json& section) {
  ScheduleOptions o;
  if (!section.is_null() && !section.is_object())
    return Error("invalid_config", "\"schedules\" must be an object");
  auto get_int = [&](const Json& obj, const std::string& where, const char* key, int64_t min, int64_t max,
                     int64_t& out) -> Status {
    const Json* v = obj.find(key);
    if (!v) return {};
    if (!v->is_int() || v->as_int() < min || v->as_int() > max)
      return Error("invalid_config", where + key + " must be an integer in " + std::to_string(min) + ".." +
                                         std::to_string(max));
    out = v->as_int();
    return {};
  };
  for (const auto& [k, v] : section.as_object()) {
    if (k.rfind("$", 0) == 0) continue;
    if (k != "enabled" && k != "poll_ms" && k != "missed_grace_seconds" && k != "min_interval_seconds" &&
        k != "max_per_user")
      return Error("invalid_config", "schedules." + k + " is not a known setting");
  }
  if (const Json* v = section.find("enabled")) {
    if (!v->is_bool()) return Error("invalid_config", "schedules.enabled must be true or false");
    o.enabled = v->as_bool();
  }
  int64_t grace_s = o.missed_grace_ms / 1000;
  for (Status st : {get_int(section, "schedules.", "poll_ms", 10, 60000, o.poll_ms),
                    get_int(section, "schedules.", "missed_grace_seconds", 0, 86400, grace_s),
                    get_int(section, "schedules.", "max_per_user", 0, 1000000, o.max_per_user)}) {
    if (!st.ok()) return st.error();
  }
  o.missed_grace_ms = grace_s * 1000;
  if (const Json* m = section.find("min_interval_seconds")) {
    if (!m->is_object())
      return Error("invalid_config",
                   "schedules.min_interval_seconds must be an object {free, pro, enterprise}");
    for (const auto& [k, v] : m->as_object()) {
      if (k.rfind("$", 0) == 0) continue;
      if (k != "free" && k != "pro" && k != "enterprise")
        return Error("invalid_config",
                     "schedules.min_interval_seconds." + k + " is not a tier (free, pro, enterprise)");
    }
    const int64_t kYear = 366LL * 86400;
    for (Status st : {get_int(*m, "schedules.min_interval_seconds.", "free", 0, kYear, o.min_interval_free_s),
                      get_int(*m, "schedules.min_interval_seconds.", "pro", 0, kYear, o.min_interval_pro_s),
                      get_int(*m, "schedules.min_interval_seconds.", "enterprise", 0, kYear,
                              o.min_interval_enterprise_s)}) {
      if (!st.ok()) return st.error();
    }
  }
  if (const char* e = std::getenv("WEFT_SCHEDULER"); e && *e) o.enabled = std::string(e) != "0";
  return o;
}

int64_t ScheduleOptions::min_interval_s(const std::string& tier) const {
  if (tier == "enterprise") return min_interval_enterprise_s;
  if (tier == "pro") return min_interval_pro_s;
  return min_interval_free_s;  // free, and anything unknown: the strictest
}

// ---- service -------------------------------------------------------------------------------------

ScheduleService::ScheduleService(app::Host& host, ScheduleOptions options) : host_(host), options_(options) {}

ScheduleService::~ScheduleService() {
  stop();
}

Result<CronSchedule> ScheduleService::validate(const Json& body, const std::string& tier, Validated& v,
                                               bool creating, int64_t now_ms) {
  if (Status st = only_members(
          body, {"workflow_id", "name", "cron", "timezone", "enabled", "missed_policy", "input"});
      !st.ok())
    return st.error();
  auto str = [&](const char* key, std::string& out) -> Status {
    const Json* m = body.find(key);
    if (!m) return {};
    if (!m->is_string()) return field_error(key, std::string("'") + key + "' must be a string");
    out = m->as_string();
    return {};
  };
  if (creating && !body.find("cron"))
    return field_error("cron", "'cron' is required (e.g. \"0 9 * * MON-FRI\")");
  for (Status st : {str("name", v.name), str("cron", v.cron), str("timezone", v.timezone),
                    str("missed_policy", v.missed_policy)}) {
    if (!st.ok()) return st.error();
  }
  if (utf8_length(v.name) > 200) return field_error("name", "'name' is longer than 200 characters");
  if (v.missed_policy != "run_once" && v.missed_policy != "skip")
    return field_error("missed_policy",
                       "'missed_policy' must be \"run_once\" or \"skip\", not '" + v.missed_policy + "'");
  if (const Json* m = body.find("enabled")) {
    if (!m->is_bool()) return field_error("enabled", "'enabled' must be true or false");
    v.enabled = m->as_bool();
  }
  if (const Json* m = body.find("input")) {
    if (!m->is_object() && !m->is_null())
      return field_error("input", "'input' must be a JSON object or null");
    v.input = *m;
  }
  auto sched = CronSchedule::parse_valid(v.cron, v.timezone, now_ms);
  if (!sched.ok()) return sched.error();
  // The tier limit: the closest two of the next firings.
  const int64_t limit_s = options_.min_interval_s(tier);
  if (limit_s > 0) {
    auto gap = sched->min_interval_ms(now_ms, kIntervalSample);
    if (gap && *gap < limit_s * 1000) {
      Json d = Json::object();
      d.set("min_interval_seconds", *gap / 1000);
      d.set("limit_seconds", limit_s);
      d.set("tier", tier);
      return Error("schedule_too_frequent",
                   "cron '" + v.cron + "' fires " + std::to_string(*gap / 1000) +
                       " s apart at its closest; the " + (tier.empty() ? std::string("free") : tier) +
                       " tier allows at most one run every " + std::to_string(limit_s) + " s",
                   d.dump());
    }
  }
  return sched;
}

Result<Json> ScheduleService::create(const std::string& owner, const std::string& tier, const Json& body) {
  if (!body.is_object()) return Error("invalid_argument", "the body must be a JSON object");
  const Json* wf_id = body.find("workflow_id");
  if (!wf_id) return field_error("workflow_id", "'workflow_id' is required");
  if (!wf_id->is_string() || wf_id->as_string().empty())
    return field_error("workflow_id", "'workflow_id' must be a workflow id");
  const int64_t now = wall_ms();
  Validated v;
  auto sched = validate(body, tier, v, true, now);
  if (!sched.ok()) return sched.error();
  auto wf = host_.store()->get_workflow(owner, wf_id->as_string(), 0);
  if (!wf.ok()) {
    if (wf.error().code == "not_found")
      return Error("not_found", "workflow '" + wf_id->as_string() + "' not found");
    return wf.error();
  }

  store::ScheduleRecord rec;
  rec.owner_id = owner;
  rec.workflow_id = wf->id;
  rec.name = v.name;
  rec.cron = v.cron;
  rec.timezone = v.timezone;
  rec.enabled = v.enabled;
  rec.missed_policy = v.missed_policy;
  rec.input = v.input;
  rec.next_run_at_ms = v.enabled ? sched->next_after(now).value_or(0) : 0;
  rec.created_at_ms = now;
  rec.updated_at_ms = now;
  Result<store::ScheduleRecord> created = Error("", "");
  {
    // Counted and written under one lock, so concurrent creates of this process cannot pass the
    // cap together.
    std::lock_guard<std::mutex> lock(create_mu_);
    if (options_.max_per_user > 0) {
      auto mine = host_.store()->list_schedules(owner, "");
      if (!mine.ok()) return mine.error();
      if (static_cast<int64_t>(mine->size()) >= options_.max_per_user) {
        Json d = Json::object();
        d.set("limit", options_.max_per_user);
        return Error("too_many_schedules",
                     "this account already has " + std::to_string(mine->size()) +
                         " schedules (the limit is " + std::to_string(options_.max_per_user) + ")",
                     d.dump());
      }
    }
    created = host_.store()->create_schedule(rec);
  }
  if (!created.ok()) return created.error();
  wake();
  return view(*created);
}

Result<Json> ScheduleService::get(const std::string& owner, const std::string& id) {
  auto r = host_.store()->get_schedule(owner, id);
  if (!r.ok()) return r.error();
  return view(*r);
}

Result<Json> ScheduleService::list(const std::string& owner, const std::string& workflow_id) {
  auto rows = host_.store()->list_schedules(owner, workflow_id);
  if (!rows.ok()) return rows.error();
  Json items = Json::array();
  for (const auto& r : *rows) items.push_back(view(r));
  return items;
}

Result<Json> ScheduleService::update(const std::string& owner, const std::string& tier, const std::string& id,
                                     const Json& body) {
  if (!body.is_object()) return Error("invalid_argument", "the body must be a JSON object");
  // The scheduler may fire the schedule between our read and our write (its version moves): read
  // again and re-apply.
  for (int attempt = 0; attempt < 5; ++attempt) {
    auto cur = host_.store()->get_schedule(owner, id);
    if (!cur.ok()) return cur.error();
    if (const Json* w = body.find("workflow_id");
        w && !(w->is_string() && w->as_string() == cur->workflow_id))
      return field_error("workflow_id", "a schedule's workflow cannot be changed (create another schedule)");
    const int64_t now = wall_ms();
    Validated v;
    v.name = cur->name;
    v.cron = cur->cron;
    v.timezone = cur->timezone;
    v.enabled = cur->enabled;
    v.missed_policy = cur->missed_policy;
    v.input = cur->input;
    auto sched = validate(body, tier, v, false, now);
    if (!sched.ok()) return sched.error();
    store::ScheduleRecord rec = *cur;
    const bool timing_changed =
        v.cron != cur->cron || v.timezone != cur->timezone || v.enabled != cur->enabled;
    rec.name = v.name;
    rec.cron = v.cron;
    rec.timezone = v.timezone;
    rec.enabled = v.enabled;
    rec.missed_policy = v.missed_policy;
    rec.input = v.input;
    // A new timing starts from now (a re-enabled schedule does not catch up on the time it was
    // off); otherwise the pending occurrence stays, missed or not.
    if (!v.enabled)
      rec.next_run_at_ms = 0;
    else if (timing_changed || rec.next_run_at_ms == 0)
      rec.next_run_at_ms = sched->next_after(now).value_or(0);
    rec.updated_at_ms = now;
    auto updated = host_.store()->update_schedule(rec);
    if (!updated.ok()) {
      if (updated.error().code == "conflict") continue;
      return updated.error();
    }
    {
      std::lock_guard<std::mutex> lock(errors_mu_);
      last_errors_.erase(id);
    }
    wake();
    return view(*updated);
  }
  return Error("conflict", "schedule '" + id + "' kept changing while it was being updated; try again");
}

Status ScheduleService::remove(const std::string& owner, const std::string& id) {
  Status st = host_.store()->delete_schedule(owner, id);
  if (!st.ok()) return st;
  {
    std::lock_guard<std::mutex> lock(errors_mu_);
    last_errors_.erase(id);
  }
  wake();
  return {};
}

Result<Json> ScheduleService::preview(const std::string& tier, const Json& body) {
  if (!body.is_object()) return Error("invalid_argument", "the body must be a JSON object");
  if (Status st = only_members(body, {"cron", "timezone", "count"}); !st.ok()) return st.error();
  const Json* cron = body.find("cron");
  if (!cron || !cron->is_string()) return field_error("cron", "'cron' is required and must be a string");
  std::string tz = "UTC";
  if (const Json* t = body.find("timezone")) {
    if (!t->is_string()) return field_error("timezone", "'timezone' must be a string");
    tz = t->as_string();
  }
  int64_t count = static_cast<int64_t>(kViewRuns);
  if (const Json* c = body.find("count")) {
    if (!c->is_int() || c->as_int() < 1 || c->as_int() > 50)
      return field_error("count", "'count' must be an integer from 1 to 50");
    count = c->as_int();
  }
  const int64_t now = wall_ms();
  auto s = CronSchedule::parse_valid(cron->as_string(), tz, now);
  if (!s.ok()) return s.error();
  Json runs = Json::array();
  for (int64_t t : s->next_n(now, static_cast<size_t>(count))) runs.push_back(run_json(*s, t));
  Json j = Json::object();
  j.set("cron", cron->as_string());
  j.set("timezone", tz);
  j.set("next_runs", runs);
  auto gap = s->min_interval_ms(now, kIntervalSample);
  j.set("min_interval_seconds", gap ? Json(*gap / 1000) : Json());
  const int64_t limit = options_.min_interval_s(tier);
  j.set("tier", tier);
  j.set("tier_min_interval_seconds", limit);
  j.set("allowed", !gap || *gap >= limit * 1000);
  return j;
}

Json ScheduleService::view(const store::ScheduleRecord& r) {
  Json j = Json::object();
  j.set("id", r.id);
  j.set("workflow_id", r.workflow_id);
  j.set("name", r.name);
  j.set("cron", r.cron);
  j.set("timezone", r.timezone);
  j.set("enabled", r.enabled);
  j.set("missed_policy", r.missed_policy);
  j.set("input", r.input);
  j.set("next_run_at", optional_iso(r.next_run_at_ms));
  j.set("next_run_at_ms", optional_ms(r.next_run_at_ms));
  Json runs = Json::array();
  std::string error = last_error_of(r);
  auto s = CronSchedule::parse(r.cron, r.timezone);
  if (s.ok() && r.next_run_at_ms > 0) {
    runs.push_back(run_json(*s, r.next_run_at_ms));
    for (int64_t t : s->next_n(r.next_run_at_ms, kViewRuns - 1)) runs.push_back(run_json(*s, t));
  } else if (!s.ok() && error.empty()) {
    error = s.error().message;
  }
  j.set("next_runs", runs);
  j.set("last_run_at", optional_iso(r.last_run_at_ms));
  j.set("last_run_at_ms", optional_ms(r.last_run_at_ms));
  j.set("last_execution_id", r.last_execution_id.empty() ? Json() : Json(r.last_execution_id));
  j.set("last_error", error.empty() ? Json() : Json(error));
  j.set("version", r.version);
  j.set("created_at", r.created_at_ms);
  j.set("updated_at", r.updated_at_ms);
  return j;
}

void ScheduleService::remember_error(const std::string& id, const std::string& message) {
  std::lock_guard<std::mutex> lock(errors_mu_);
  if (message.empty())
    last_errors_.erase(id);
  else
    last_errors_[id] = message;
}

std::string ScheduleService::last_error_of(const store::ScheduleRecord& r) {
  if constexpr (has_stored_last_error<store::ScheduleRecord>()) {
    return stored_last_error(r);
  } else {
    std::lock_guard<std::mutex> lock(errors_mu_);
    auto it = last_errors_.find(r.id);
    return it == last_errors_.end() ? std::string() : it->second;
  }
}

// ---- firing --------------------------------------------------------------------------------------

Result<store::NewExecution> ScheduleService::build_execution(const store::ScheduleRecord& r,
                                                             int64_t occurrence_ms, int64_t missed) {
  const std::string when = utc_iso(occurrence_ms);
  auto wf = host_.store()->get_workflow(r.owner_id, r.workflow_id, 0);
  if (!wf.ok()) {
    if (wf.error().code == "not_found")
      return Error("workflow_missing",
                   "the run of " + when + " was skipped: workflow '" + r.workflow_id + "' no longer exists");
    return Error(wf.error().code, "the run of " + when + " was skipped: reading workflow '" + r.workflow_id +
                                      "' failed: " + wf.error().message);
  }
  // A disabled (or removed) account's schedules stop running, like its logins.
  if (!r.owner_id.empty()) {
    auto owner = host_.store()->get_user(r.owner_id);
    if (!owner.ok() && owner.error().code != "not_found") return owner.error();
    if (!owner.ok() || owner->disabled)
      return Error("owner_unavailable", "the run of " + when +
                                            " was skipped: the account that owns the schedule is " +
                                            (owner.ok() ? "disabled" : "gone"));
  }
  store::ExecutionRecord probe;
  probe.workflow_id = wf->id;
  probe.workflow_version = wf->version;
  probe.owner_id = r.owner_id;
  probe.definition = wf->definition;
  auto plan = host_.plan_for(probe);
  if (!plan.ok())
    return Error("compile_failed", "the run of " + when + " was skipped: workflow '" + r.workflow_id +
                                       "' version " + std::to_string(wf->version) + " does not compile (" +
                                       plan.error().message + ")");
  store::NewExecution ne;
  ne.workflow_id = wf->id;
  ne.workflow_version = wf->version;
  ne.owner_id = r.owner_id;
  ne.definition = wf->definition;
  Json input = r.input.is_object() ? r.input : Json::object();
  input.set("scheduled_at", when);
  input.set("schedule_id", r.id);
  if (missed > 0) input.set("missed", missed);
  ne.input = input;
  ne.idempotency_key = "schedule:" + r.id + ":" + std::to_string(occurrence_ms);
  ne.mode = "async";
  const int64_t timeout_s = wf->definition["settings"]["timeout_seconds"].as_int(300);
  if (timeout_s > 0) ne.deadline_at_ms = wall_ms() + timeout_s * 1000;
  return ne;
}

bool ScheduleService::fire(const store::ScheduleRecord& r, int64_t now_ms) {
  store::ScheduleFire f;
  f.id = r.id;
  f.expected_next_run_at_ms = r.next_run_at_ms;
  f.fired_at_ms = r.last_run_at_ms;  // unchanged unless a run starts
  std::string error;
  auto s = CronSchedule::parse(r.cron, r.timezone);
  if (!s.ok()) {
    // Stored before a rule change (or the zone left the tz database): stop it, say why.
    error = "the schedule stopped: " + s.error().message;
    f.next_run_at_ms = 0;
  } else {
    const int64_t due = r.next_run_at_ms;
    int64_t occurrence = due;
    int64_t missed = 0;
    bool run = true;
    if (now_ms - due > options_.missed_grace_ms) {
      // Missed while no scheduler ran (or the clock jumped forward): the due one and every later
      // occurrence up to now.
      auto span = s->occurrences_between(due + 1, now_ms, kMissedCountCap);
      missed = 1 + span.count;
      if (span.latest) occurrence = *span.latest;
      run = r.missed_policy != "skip";
      f.next_run_at_ms = s->next_after(now_ms).value_or(0);
    } else {
      f.next_run_at_ms = s->next_after(due).value_or(0);
    }
    if (run) {
      auto ne = build_execution(r, occurrence, missed);
      if (ne.ok()) {
        f.execution = std::move(*ne);
        f.fired_at_ms = occurrence;
      } else if (ne.error().code == "workflow_missing" || ne.error().code == "compile_failed" ||
                 ne.error().code == "owner_unavailable") {
        error = ne.error().message;  // the occurrence is skipped, the schedule goes on
      } else {
        return false;  // store trouble: leave it due, the next tick tries again
      }
    }
  }
  if (error.empty() && f.next_run_at_ms == 0)
    error = "the schedule stopped: its cron expression has no further occurrence within " +
            std::to_string(CronSchedule::kSearchHorizonYears) + " years";
  put_last_error(f, error);
  auto fired = host_.store()->fire_schedule(f);
  if (!fired.ok()) return false;  // conflict: another scheduler (or an edit) got there first
  remember_error(r.id, error);
  if (!error.empty()) std::fprintf(stderr, "weft: schedule %s: %s\n", r.id.c_str(), error.c_str());
  return f.execution.has_value();
}

size_t ScheduleService::tick(int64_t now_ms) {
  size_t created = 0;
  // Bounded: a schedule that cannot be fired (store trouble) stays due and is retried next tick.
  for (int round = 0; round < 20; ++round) {
    auto due = host_.store()->due_schedules(now_ms, options_.batch);
    if (!due.ok() || due->empty()) break;
    size_t now_created = 0;
    bool stopping = false;
    for (const auto& r : *due) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        stopping = stopping_;
      }
      if (stopping) break;
      if (fire(r, now_ms)) ++now_created;
    }
    if (now_created) host_.workers().wake();
    created += now_created;
    if (stopping || static_cast<int64_t>(due->size()) < options_.batch) break;
  }
  return created;
}

void ScheduleService::start() {
  if (!options_.enabled) return;
  std::lock_guard<std::mutex> lock(mu_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { loop(); });
}

void ScheduleService::stop() {
  std::thread t;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    t.swap(thread_);
  }
  cv_.notify_all();
  if (t.joinable()) t.join();
}

void ScheduleService::wake() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++wakeups_;
  }
  cv_.notify_all();
}

void ScheduleService::loop() {
  for (;;) {
    uint64_t seen;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return;
      seen = wakeups_;
    }
    tick(wall_ms());
    std::unique_lock<std::mutex> lock(mu_);
    // Steady-clock wait: a wall-clock jump neither stalls nor spins this loop.
    cv_.wait_for(lock, std::chrono::milliseconds(options_.poll_ms),
                 [&] { return stopping_ || wakeups_ != seen; });
  }
}

}  // namespace weft::service
