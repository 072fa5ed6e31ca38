// One thread that runs callbacks at deadlines (monotonic clock). Used to answer a request that
// waits for a synchronous run once its wait budget is over, while the run goes on.
//
// Thread-safety: schedule/cancel from any thread. Callbacks run on the timer thread, one at a
// time, and must be quick.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

namespace weft::http {

class TimerThread {
 public:
  TimerThread();
  ~TimerThread();  // drops pending callbacks without running them
  TimerThread(const TimerThread&) = delete;
  TimerThread& operator=(const TimerThread&) = delete;

  // Runs fn after delay_ms; returns an id for cancel().
  uint64_t schedule(int64_t delay_ms, std::function<void()> fn);
  // true when the callback had not started yet (and now never will).
  bool cancel(uint64_t id);

 private:
  void loop();
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  uint64_t next_ = 1;
  std::multimap<int64_t, uint64_t> by_time_;
  std::map<uint64_t, std::pair<int64_t, std::function<void()>>> pending_;
  std::thread thread_;
};

}  // namespace weft::http
