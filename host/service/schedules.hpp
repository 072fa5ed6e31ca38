// Schedules (docs/schedules.md): cron triggers of a user's workflows. CRUD scoped by owner, tier
// limits, the API view (next run times), and the scheduler thread that fires due schedules.
//
// Guarantees. A firing is one store transaction (Store::fire_schedule): the schedule's
// next_run_at moves on by compare-and-swap and the execution is created with it, keyed
// "schedule:<id>:<occurrence ms>". So however many servers share the database, an occurrence
// starts at most one execution, and a restart never fires an occurrence again (its next_run_at
// already moved). Nothing is lost either: an occurrence that was due while no scheduler ran is
// "missed" and handled by the schedule's missed_policy when a scheduler next sees it.
//
// Missed runs. An occurrence is missed when it is seen more than missed_grace_ms after its time
// (downtime, a forward clock jump). run_once: one execution for the most recent missed occurrence,
// input.missed = how many occurrences were overdue; skip: no execution. Either way next_run_at
// becomes the first occurrence after now. A backwards clock jump fires nothing twice: the store
// already holds the later next_run_at.
//
// Clocks. The scheduler waits on a steady clock (condition variable, woken by edits and at most
// poll_ms apart); what is persisted (next_run_at) is wall-clock, so it survives restarts.
//
// Error codes on top of the store's: invalid_cron, invalid_timezone, cron_never_fires,
// schedule_too_frequent (details: min_interval_seconds, limit_seconds, tier), too_many_schedules,
// invalid_argument, unknown_field.
//
// Thread-safety: all methods may be called concurrently; start()/stop() from one thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "host/app/host.hpp"
#include "host/core/json.hpp"
#include "host/service/cron.hpp"
#include "host/store/store.hpp"

namespace weft::service {

// The "schedules" configuration section.
struct ScheduleOptions {
  bool enabled = true;                // run the scheduler thread (the API works either way)
  int64_t poll_ms = 1000;             // longest wait between two looks at due schedules
  int64_t missed_grace_ms = 60000;    // later than this = a missed occurrence
  int64_t min_interval_free_s = 300;  // tier limits: shortest interval between runs
  int64_t min_interval_pro_s = 60;
  int64_t min_interval_enterprise_s = 60;
  int64_t max_per_user = 100;  // schedules per account (0 = no cap)
  int64_t batch = 100;         // due schedules read per store query
  // config.raw["schedules"]; defaults for what is absent. WEFT_SCHEDULER=0 turns the thread off.
  static Result<ScheduleOptions> from(const Json& section);
  int64_t min_interval_s(const std::string& tier) const;
};

class ScheduleService {
 public:
  // How many occurrences the tier check and the view look at.
  static constexpr size_t kIntervalSample = 500;
  static constexpr size_t kViewRuns = 5;
  static constexpr int64_t kMissedCountCap = 10000;

  ScheduleService(app::Host& host, ScheduleOptions options);
  ~ScheduleService();  // stop()
  ScheduleService(const ScheduleService&) = delete;
  ScheduleService& operator=(const ScheduleService&) = delete;

  // body: {workflow_id, name?, cron, timezone? ("UTC"), enabled? (true), missed_policy?
  // ("run_once"), input? (object or null)}. `tier` is the caller's (limits). Returns the view.
  Result<Json> create(const std::string& owner, const std::string& tier, const Json& body);
  Result<Json> get(const std::string& owner, const std::string& id);
  // The owner's schedules (workflow_id "" = all), ordered by id.
  Result<Json> list(const std::string& owner, const std::string& workflow_id);
  // Partial update: the members given replace the stored ones (workflow_id cannot change).
  // next_run_at is recomputed from now when cron, timezone or enabled change.
  Result<Json> update(const std::string& owner, const std::string& tier, const std::string& id,
                      const Json& body);
  Status remove(const std::string& owner, const std::string& id);
  // body: {cron, timezone?, count? (1..50, default 5)}: the next runs without saving anything,
  // and how the expression compares with the caller's tier limit.
  Result<Json> preview(const std::string& tier, const Json& body);

  // The scheduler thread.
  void start();
  void stop();
  // Something changed (create/update/delete): look again now.
  void wake();
  // One pass over the due schedules at now_ms (the thread calls this; tests may too). Returns the
  // number of executions created.
  size_t tick(int64_t now_ms);

  const ScheduleOptions& options() const { return options_; }

 private:
  struct Validated {
    std::string name, cron, timezone = "UTC", missed_policy = "run_once";
    bool enabled = true;
    Json input;
  };
  // Checks body members over `base` (create: defaults) and the tier limit.
  Result<CronSchedule> validate(const Json& body, const std::string& tier, Validated& v, bool creating,
                                int64_t now_ms);
  Json view(const store::ScheduleRecord& r);
  // Fires one due schedule (one CAS attempt); true when an execution was created.
  bool fire(const store::ScheduleRecord& r, int64_t now_ms);
  // The execution of one occurrence, or the reason there is none (last_error).
  Result<store::NewExecution> build_execution(const store::ScheduleRecord& r, int64_t occurrence_ms,
                                              int64_t missed);
  void remember_error(const std::string& id, const std::string& message);
  std::string last_error_of(const store::ScheduleRecord& r);
  void loop();

  app::Host& host_;
  ScheduleOptions options_;
  std::mutex create_mu_;  // serializes creates: the per-user cap is counted, then written

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  uint64_t wakeups_ = 0;
  std::thread thread_;

  // Why the last occurrence of a schedule did not run, as seen by this process (kept until the
  // schedule next fires an execution here). Persisted in the record when the store has the field.
  std::mutex errors_mu_;
  std::map<std::string, std::string> last_errors_;
};

}  // namespace weft::service
