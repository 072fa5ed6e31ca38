#include "host/http/timer.hpp"

#include "host/core/call.hpp"

namespace weft::http {

TimerThread::TimerThread() : thread_([this] { loop(); }) {}

TimerThread::~TimerThread() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

uint64_t TimerThread::schedule(int64_t delay_ms, std::function<void()> fn) {
  std::lock_guard<std::mutex> lk(mu_);
  const uint64_t id = next_++;
  const int64_t at = monotonic_ms() + (delay_ms < 0 ? 0 : delay_ms);
  by_time_.emplace(at, id);
  pending_.emplace(id, std::make_pair(at, std::move(fn)));
  cv_.notify_one();
  return id;
}

bool TimerThread::cancel(uint64_t id) {
  std::lock_guard<std::mutex> lk(mu_);
  auto it = pending_.find(id);
  if (it == pending_.end()) return false;
  auto range = by_time_.equal_range(it->second.first);
  for (auto t = range.first; t != range.second; ++t) {
    if (t->second == id) {
      by_time_.erase(t);
      break;
    }
  }
  pending_.erase(it);
  return true;
}

void TimerThread::loop() {
  std::unique_lock<std::mutex> lk(mu_);
  while (!stopping_) {
    if (by_time_.empty()) {
      cv_.wait(lk);
      continue;
    }
    const int64_t now = monotonic_ms();
    auto first = by_time_.begin();
    if (first->first > now) {
      cv_.wait_for(lk, std::chrono::milliseconds(first->first - now));
      continue;
    }
    const uint64_t id = first->second;
    by_time_.erase(first);
    auto it = pending_.find(id);
    if (it == pending_.end()) continue;
    auto fn = std::move(it->second.second);
    pending_.erase(it);
    lk.unlock();
    fn();
    lk.lock();
  }
}

}  // namespace weft::http
