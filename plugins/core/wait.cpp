// core.wait — delays the branch for a number of seconds or until a point in time, by parking:
// no thread is held while it waits.
#include <chrono>
#include <cmath>
#include <string>

#include "nodes.hpp"
#include "time_util.hpp"

namespace weft::core_pack {

const std::string_view WaitNode::schema = R"json({
  "display_name": "Wait",
  "description": "Waits, then passes the data arriving on 'main' through unchanged. Set either 'seconds' (a delay) or 'until' (a point in time: Unix milliseconds, or an ISO-8601 UTC time such as \"2026-01-02T03:04:05Z\"; fractional seconds and +hh:mm offsets are accepted). A wait of 0 seconds or until a time in the past continues at once. Otherwise the execution is parked without holding a thread and resumed by a timer, also after a restart.",
  "category": "flow",
  "fields": [
    {"name": "seconds", "type": "number", "required": false, "min": 0, "max": 315360000,
     "description": "How long to wait, in seconds (at most 10 years)."},
    {"name": "until", "type": "expression", "required": false,
     "description": "When to continue: Unix milliseconds, or an ISO-8601 UTC time like 2026-01-02T03:04:05Z."}
  ],
  "inputs": [{"name": "main", "type": "any"}],
  "outputs": [{"name": "main", "type": "any"}],
  "flags": ["long_running"]
})json";

namespace {
constexpr double kMaxSeconds = 315360000.0;

int64_t wall_now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}
}  // namespace

void WaitNode::execute(Context& ctx) const {
  const std::string who = "node '" + std::string(ctx.node_id()) + "' (core.wait): ";
  if (ctx.resumed()) {
    // The timer fired: the wait is over whatever the parameters render to now.
    if (ctx.resume_reason() == "timer") return ctx.output("main", ctx.input_or_null("main"));
    return ctx.invalid_input("unexpected_resume", who + "resumed with reason \"" + std::string(ctx.resume_reason()) +
                                                      "\"; a wait node is only woken by its timer");
  }

  const sdk::Value* seconds = ctx.param("seconds");
  const sdk::Value* until = ctx.param("until");
  if (seconds && seconds->IsNull()) seconds = nullptr;
  if (until && until->IsNull()) until = nullptr;
  if (seconds && until) return ctx.invalid_parameter("until", "cannot be combined with 'seconds'; set only one");
  if (!seconds && !until) {
    ctx.invalid_input("missing_parameter", who + "set either 'seconds' or 'until'");
    return;
  }

  const int64_t now = wall_now_ms();
  int64_t target = 0;
  if (seconds) {
    auto s = ctx.number_param("seconds", std::nullopt, 0, kMaxSeconds);
    if (!s) return;
    if (*s == 0) return ctx.output("main", ctx.input_or_null("main"));
    target = now + static_cast<int64_t>(std::ceil(*s * 1000.0));
  } else if (until->IsNumber()) {
    double ms = until->GetDouble();
    if (!std::isfinite(ms) || std::fabs(ms) > 1e17)
      return ctx.invalid_parameter("until", "must be Unix milliseconds within a sane range");
    target = static_cast<int64_t>(std::ceil(ms));
  } else if (until->IsString()) {
    std::string error;
    auto parsed = parse_iso8601_ms(sdk::str_of(*until), error);
    if (!parsed) return ctx.invalid_parameter("until", "\"" + std::string(sdk::str_of(*until)) + "\" " + error);
    target = *parsed;
  } else {
    return ctx.invalid_parameter("until", std::string("must be Unix milliseconds or an ISO-8601 string, not ") +
                                              sdk::json_type_name(*until));
  }

  if (target <= now) return ctx.output("main", ctx.input_or_null("main"));
  ctx.park_until(target);
}

}  // namespace weft::core_pack
