#include "json_util.hpp"

#include <charconv>

namespace weft::core_pack {

bool truthy(const Value& v) {
  switch (v.GetType()) {
    case rapidjson::kNullType:
    case rapidjson::kFalseType: return false;
    case rapidjson::kTrueType: return true;
    case rapidjson::kNumberType: return v.GetDouble() != 0.0;  // NaN cannot come from JSON text
    case rapidjson::kStringType: return v.GetStringLength() != 0;
    case rapidjson::kArrayType: return !v.Empty();
    case rapidjson::kObjectType: return v.MemberCount() != 0;
  }
  return false;
}

std::optional<std::vector<std::string_view>> split_path(std::string_view path) {
  std::vector<std::string_view> out;
  if (path.empty()) return out;
  size_t start = 0;
  while (true) {
    size_t dot = path.find('.', start);
    std::string_view seg = path.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (seg.empty()) return std::nullopt;
    out.push_back(seg);
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return out;
}

Value* find_member(Value& obj, std::string_view key) {
  return const_cast<Value*>(sdk::find_member(static_cast<const Value&>(obj), key));
}

const Value* follow_path(const Value& root, const std::vector<std::string_view>& segments) {
  const Value* cur = &root;
  for (std::string_view seg : segments) {
    if (cur->IsObject()) {
      cur = find_member(*cur, seg);
    } else if (cur->IsArray()) {
      size_t idx = 0;
      auto [p, ec] = std::from_chars(seg.data(), seg.data() + seg.size(), idx);
      if (ec != std::errc() || p != seg.data() + seg.size() || idx >= cur->Size()) return nullptr;
      cur = &(*cur)[static_cast<rapidjson::SizeType>(idx)];
    } else {
      return nullptr;
    }
    if (!cur) return nullptr;
  }
  return cur;
}

void set_member(Value& obj, std::string_view key, Value&& value, Allocator& alloc) {
  if (Value* existing = find_member(obj, key)) {
    *existing = std::move(value);
    return;
  }
  obj.AddMember(sdk::make_string(key, alloc), std::move(value), alloc);
}

bool valid_handle_name(std::string_view name) {
  if (name.empty() || name.size() > 64 || name == "error") return false;
  for (char c : name)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
          c == '.'))
      return false;
  return true;
}

}  // namespace weft::core_pack
