#include "human_util.hpp"

#include <chrono>
#include <cmath>
#include <string>

namespace weft::core_pack {

bool read_assignees(Context& ctx, std::string_view field, Value& out) {
  Allocator& a = ctx.allocator();
  out.SetArray();
  const Value* v = ctx.param(field);
  if (!v || v->IsNull()) return true;
  auto add = [&](const Value& who, size_t index) {
    if (!who.IsString() || who.GetStringLength() == 0 || who.GetStringLength() > kMaxAssigneeLength) {
      ctx.invalid_parameter(std::string(field) + "[" + std::to_string(index) + "]",
                            "must be a user id or email: a non-empty string of at most " +
                                std::to_string(kMaxAssigneeLength) + " bytes");
      return false;
    }
    out.PushBack(Value(who, a), a);
    return true;
  };
  if (v->IsString()) {
    if (v->GetStringLength() == 0) return true;
    return add(*v, 0);
  }
  if (!v->IsArray()) {
    ctx.invalid_parameter(field, std::string("must be an array of user ids or emails, not ") + sdk::json_type_name(*v));
    return false;
  }
  if (v->Size() > kMaxAssignees) {
    ctx.invalid_parameter(field, "names " + std::to_string(v->Size()) + " people; at most " +
                                     std::to_string(kMaxAssignees) + " are allowed");
    return false;
  }
  size_t i = 0;
  for (const auto& who : v->GetArray())
    if (!add(who, i++)) return false;
  return true;
}

int64_t deadline_after(double seconds) {
  using namespace std::chrono;
  int64_t now = duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
  return now + static_cast<int64_t>(std::ceil(seconds * 1000.0));
}

}  // namespace weft::core_pack
