// Server-Sent Events for executions: one hub thread serves every subscriber, so no reactor thread
// is ever blocked by a stream.
//
// A subscriber first gets the persisted events after its cursor (Last-Event-ID), then live ones.
// Live events come from the in-process EventBus; a gap (the bus is not the only source: with
// PostgreSQL, workers in other processes commit events too) is filled from the store, and every
// poll_ms the hub also reads the store for each watched execution, so events committed anywhere
// reach every API server. Each event is written at most once per subscriber, in seq order
// (the id: field is the seq). The stream ends after "workflow_done". Heartbeat comments keep
// proxies from closing idle streams and detect clients that went away.
//
// Thread-safety: add/stop/subscribers may be called from any thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "host/executor/event_bus.hpp"
#include "host/http/http.hpp"
#include "host/store/store.hpp"

namespace weft::http {

struct SseOptions {
  int64_t heartbeat_ms = 15000;
  int64_t poll_ms = 1000;
  int64_t batch = 500;  // events read from the store per query
};

class SseHub {
 public:
  SseHub(std::shared_ptr<store::Store> store, std::shared_ptr<executor::EventBus> bus,
         SseOptions options = {});
  ~SseHub();
  SseHub(const SseHub&) = delete;
  SseHub& operator=(const SseHub&) = delete;

  // Takes over `stream`. on_close runs exactly once when the subscriber is gone (stream ended,
  // client disconnected, hub stopped) — e.g. to release a stream slot.
  void add(const std::string& execution_id, int64_t after_seq, std::unique_ptr<EventStream> stream,
           std::function<void()> on_close);
  size_t subscribers() const;
  // Ends every stream and stops the thread.
  void stop();

  // One event in SSE framing.
  static std::string format(const store::EventRecord& e);

 private:
  struct Sub {
    uint64_t id = 0;
    std::string execution_id;
    int64_t last_seq = 0;
    std::unique_ptr<EventStream> stream;
    std::function<void()> on_close;
    bool done = false;
  };
  void loop();
  // Writes store events after sub.last_seq; false when the subscriber is finished or gone.
  bool catch_up(Sub& sub);
  bool deliver(Sub& sub, const store::EventRecord& e, const std::string* text = nullptr);
  void close(Sub& sub);

  std::shared_ptr<store::Store> store_;
  std::shared_ptr<executor::EventBus> bus_;
  SseOptions options_;
  uint64_t bus_token_ = 0;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::vector<std::unique_ptr<Sub>> incoming_;
  std::deque<store::EventRecord> live_;
  std::map<std::string, int> watched_;  // execution id → subscriber count (bus filter)
  size_t count_ = 0;
  uint64_t next_id_ = 1;

  // Owned by the hub thread only.
  std::map<std::string, std::vector<std::unique_ptr<Sub>>> subs_;
  std::thread thread_;
};

}  // namespace weft::http
