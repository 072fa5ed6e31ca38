#include "host/http/sse.hpp"

#include <algorithm>

#include "host/core/call.hpp"

namespace weft::http {

SseHub::SseHub(std::shared_ptr<store::Store> store, std::shared_ptr<executor::EventBus> bus,
               SseOptions options)
    : store_(std::move(store)), bus_(std::move(bus)), options_(options) {
  if (bus_) {
    bus_token_ = bus_->subscribe("", [this](const store::EventRecord& e) {
      std::lock_guard<std::mutex> lk(mu_);
      if (stopping_ || watched_.find(e.execution_id) == watched_.end()) return;
      live_.push_back(e);
      cv_.notify_one();
    });
  }
  thread_ = std::thread([this] { loop(); });
}

SseHub::~SseHub() { stop(); }

void SseHub::stop() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (bus_ && bus_token_) {
    bus_->unsubscribe(bus_token_);
    bus_token_ = 0;
  }
}

size_t SseHub::subscribers() const {
  std::lock_guard<std::mutex> lk(mu_);
  return count_;
}

std::string SseHub::format(const store::EventRecord& e) {
  Json payload = Json::object();
  payload.set("execution_id", e.execution_id);
  payload.set("seq", e.seq);
  payload.set("type", e.type);
  payload.set("ts", e.ts_ms);
  payload.set("data", e.data);
  std::string out = "id: " + std::to_string(e.seq) + "\nevent: " + e.type + "\ndata: ";
  payload.dump_to(out);  // one line: the serializer never emits raw newlines
  out += "\n\n";
  return out;
}

void SseHub::add(const std::string& execution_id, int64_t after_seq, std::unique_ptr<EventStream> stream,
                 std::function<void()> on_close) {
  auto sub = std::make_unique<Sub>();
  sub->execution_id = execution_id;
  sub->last_seq = std::max<int64_t>(0, after_seq);
  sub->stream = std::move(stream);
  sub->on_close = std::move(on_close);
  std::lock_guard<std::mutex> lk(mu_);
  if (stopping_) {
    sub->stream->end();
    if (sub->on_close) sub->on_close();
    return;
  }
  sub->id = next_id_++;
  ++watched_[execution_id];
  ++count_;
  incoming_.push_back(std::move(sub));
  cv_.notify_one();
}

void SseHub::close(Sub& sub) {
  if (sub.done) return;
  sub.done = true;
  if (sub.stream) sub.stream->end();
  sub.stream.reset();
  if (sub.on_close) sub.on_close();
  std::lock_guard<std::mutex> lk(mu_);
  auto it = watched_.find(sub.execution_id);
  if (it != watched_.end() && --it->second <= 0) watched_.erase(it);
  --count_;
}

bool SseHub::deliver(Sub& sub, const store::EventRecord& e, const std::string* text) {
  if (sub.done) return false;
  if (e.seq <= sub.last_seq) return true;  // already sent
  if (!sub.stream->write(text ? *text : format(e))) {
    close(sub);
    return false;
  }
  sub.last_seq = e.seq;
  if (e.type == "workflow_done") {
    close(sub);
    return false;
  }
  return true;
}

bool SseHub::catch_up(Sub& sub) {
  for (;;) {
    if (sub.done) return false;
    auto events = store_->events(sub.execution_id, sub.last_seq, options_.batch);
    if (!events.ok()) return true;  // transient: the next poll tries again
    for (const auto& e : *events)
      if (!deliver(sub, e)) return false;
    if (static_cast<int64_t>(events->size()) < options_.batch) return true;
  }
}

void SseHub::loop() {
  int64_t next_poll = monotonic_ms() + options_.poll_ms;
  int64_t next_beat = monotonic_ms() + options_.heartbeat_ms;
  for (;;) {
    std::vector<std::unique_ptr<Sub>> fresh;
    std::deque<store::EventRecord> live;
    bool stopping = false;
    {
      std::unique_lock<std::mutex> lk(mu_);
      const int64_t wake = std::min(next_poll, next_beat);
      const int64_t wait_ms = std::max<int64_t>(0, wake - monotonic_ms());
      cv_.wait_for(lk, std::chrono::milliseconds(wait_ms),
                   [&] { return stopping_ || !incoming_.empty() || !live_.empty(); });
      stopping = stopping_;
      fresh.swap(incoming_);
      live.swap(live_);
    }
    if (stopping) {
      for (auto& s : fresh) subs_[s->execution_id].push_back(std::move(s));
      for (auto& [id, list] : subs_)
        for (auto& s : list) close(*s);
      subs_.clear();
      return;
    }
    for (auto& s : fresh) {
      Sub& ref = *s;
      subs_[ref.execution_id].push_back(std::move(s));
      catch_up(ref);
    }
    for (const auto& e : live) {
      auto it = subs_.find(e.execution_id);
      if (it == subs_.end()) continue;
      const std::string text = format(e);  // once per event, not once per subscriber
      for (auto& s : it->second) {
        if (s->done) continue;
        if (e.seq == s->last_seq + 1) {
          deliver(*s, e, &text);
        } else if (e.seq > s->last_seq + 1) {
          catch_up(*s);  // a gap: events committed elsewhere or before we subscribed
        }
      }
    }
    const int64_t now = monotonic_ms();
    if (now >= next_poll) {
      next_poll = now + options_.poll_ms;
      for (auto& [id, list] : subs_) {
        // One store read per execution, shared by all its subscribers at the same cursor.
        int64_t min_seq = INT64_MAX;
        for (auto& s : list)
          if (!s->done) min_seq = std::min(min_seq, s->last_seq);
        if (min_seq == INT64_MAX) continue;
        auto events = store_->events(id, min_seq, options_.batch);
        if (!events.ok()) continue;
        for (auto& s : list) {
          if (s->done) continue;
          bool ok = true;
          for (const auto& e : *events) {
            if (e.seq != s->last_seq + 1) continue;
            if (!deliver(*s, e)) {
              ok = false;
              break;
            }
          }
          if (ok && static_cast<int64_t>(events->size()) >= options_.batch) catch_up(*s);
        }
      }
    }
    if (now >= next_beat) {
      next_beat = now + options_.heartbeat_ms;
      for (auto& [id, list] : subs_)
        for (auto& s : list)
          if (!s->done && !s->stream->write(": heartbeat\n\n")) close(*s);
    }
    // Drop finished subscribers.
    for (auto it = subs_.begin(); it != subs_.end();) {
      auto& list = it->second;
      list.erase(std::remove_if(list.begin(), list.end(), [](const auto& s) { return s->done; }), list.end());
      it = list.empty() ? subs_.erase(it) : std::next(it);
    }
  }
}

}  // namespace weft::http
