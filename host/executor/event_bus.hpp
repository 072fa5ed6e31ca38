// In-process publish/subscribe for execution events, AFTER they are committed. The CLI prints
// from it; the REST layer's SSE streams subscribe to it (and, with PostgreSQL, to NOTIFY).
// Callbacks run on the publishing thread and must be quick and non-blocking.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <string>

#include "host/store/store.hpp"

namespace weft::executor {

class EventBus {
 public:
  using Callback = std::function<void(const store::EventRecord&)>;
  // execution_id "" = every execution. Returns a token for unsubscribe.
  uint64_t subscribe(const std::string& execution_id, Callback cb);
  void unsubscribe(uint64_t token);
  void publish(const store::EventRecord& e);

 private:
  struct Sub {
    std::string execution_id;
    Callback cb;
  };
  std::mutex mu_;
  std::map<uint64_t, Sub> subs_;
  uint64_t next_ = 1;
};

}  // namespace weft::executor
