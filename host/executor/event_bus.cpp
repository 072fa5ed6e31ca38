#include "host/executor/event_bus.hpp"

#include <vector>

namespace weft::executor {

uint64_t EventBus::subscribe(const std::string& execution_id, Callback cb) {
  std::lock_guard<std::mutex> lock(mu_);
  uint64_t t = next_++;
  subs_.emplace(t, Sub{execution_id, std::move(cb)});
  return t;
}

void EventBus::unsubscribe(uint64_t token) {
  std::lock_guard<std::mutex> lock(mu_);
  subs_.erase(token);
}

void EventBus::publish(const store::EventRecord& e) {
  std::vector<Callback> targets;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (subs_.empty()) return;
    for (const auto& [t, s] : subs_)
      if (s.execution_id.empty() || s.execution_id == e.execution_id) targets.push_back(s.cb);
  }
  for (const auto& cb : targets) cb(e);
}

}  // namespace weft::executor
