#include "host/compiler/compiler.hpp"

namespace weft::compiler {

namespace {
// Workflow ids are generated ids (no control characters), so a unit separator cannot collide.
std::string cache_key(const std::string& workflow_id, int64_t version) {
  return workflow_id + '\x1f' + std::to_string(version);
}
}  // namespace

PlanPtr PlanCache::get(const std::string& workflow_id, int64_t version) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = map_.find(cache_key(workflow_id, version));
  if (it == map_.end()) return nullptr;
  it->second.second = ++tick_;  // recently used
  return it->second.first;
}

void PlanCache::put(const std::string& workflow_id, int64_t version, PlanPtr plan) {
  if (capacity_ == 0 || !plan) return;
  std::lock_guard<std::mutex> lock(mu_);
  std::string key = cache_key(workflow_id, version);
  auto it = map_.find(key);
  if (it != map_.end()) {
    it->second = {std::move(plan), ++tick_};
    return;
  }
  if (map_.size() >= capacity_) {
    // Evict the least recently used entry. A linear scan over a few hundred entries costs less
    // than maintaining a list on every get(), which is the hot path.
    auto oldest = map_.begin();
    for (auto i = map_.begin(); i != map_.end(); ++i)
      if (i->second.second < oldest->second.second) oldest = i;
    map_.erase(oldest);
  }
  map_.emplace(std::move(key), std::make_pair(std::move(plan), ++tick_));
}

void PlanCache::clear() {
  std::lock_guard<std::mutex> lock(mu_);
  map_.clear();
}

}  // namespace weft::compiler
