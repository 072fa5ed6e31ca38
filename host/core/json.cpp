#include "host/core/json.hpp"

#include <rapidjson/error/en.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/prettywriter.h>
#include <rapidjson/reader.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <charconv>
#include <cmath>
#include <limits>
#include <unordered_set>

namespace weft {

namespace {
const std::string kEmptyString;
const Json::Array kEmptyArray;
const Json::Object kEmptyObject;
const Json kNull;
}  // namespace

Json::Json(unsigned long i) {
  if (i > static_cast<unsigned long>(std::numeric_limits<int64_t>::max()))
    v_ = static_cast<double>(i);
  else
    v_ = static_cast<int64_t>(i);
}
Json::Json(unsigned long long i) {
  if (i > static_cast<unsigned long long>(std::numeric_limits<int64_t>::max()))
    v_ = static_cast<double>(i);
  else
    v_ = static_cast<int64_t>(i);
}

const char* Json::type_name(Type t) {
  switch (t) {
    case Type::Null: return "null";
    case Type::Bool: return "boolean";
    case Type::Int: return "number";
    case Type::Double: return "number";
    case Type::String: return "string";
    case Type::Array: return "array";
    case Type::Object: return "object";
  }
  return "unknown";
}

bool Json::as_bool(bool fallback) const {
  if (auto* b = std::get_if<bool>(&v_)) return *b;
  return fallback;
}
int64_t Json::as_int(int64_t fallback) const {
  if (auto* i = std::get_if<int64_t>(&v_)) return *i;
  if (auto* d = std::get_if<double>(&v_)) {
    if (std::isfinite(*d) && *d >= -9.2e18 && *d <= 9.2e18) return static_cast<int64_t>(*d);
  }
  return fallback;
}
double Json::as_double(double fallback) const {
  if (auto* d = std::get_if<double>(&v_)) return *d;
  if (auto* i = std::get_if<int64_t>(&v_)) return static_cast<double>(*i);
  return fallback;
}
const std::string& Json::as_string() const {
  if (auto* s = std::get_if<std::shared_ptr<std::string>>(&v_)) return **s;
  return kEmptyString;
}
const Json::Array& Json::as_array() const {
  if (auto* a = std::get_if<std::shared_ptr<Array>>(&v_)) return **a;
  return kEmptyArray;
}
const Json::Object& Json::as_object() const {
  if (auto* o = std::get_if<std::shared_ptr<Object>>(&v_)) return **o;
  return kEmptyObject;
}

const Json* Json::find(std::string_view key) const {
  auto* o = std::get_if<std::shared_ptr<Object>>(&v_);
  if (!o) return nullptr;
  for (const auto& m : **o)
    if (m.first == key) return &m.second;
  return nullptr;
}
const Json& Json::operator[](std::string_view key) const {
  const Json* j = find(key);
  return j ? *j : kNull;
}

Json::Array& Json::mutable_array() {
  if (is_null()) v_ = std::make_shared<Array>();
  auto& p = std::get<std::shared_ptr<Array>>(v_);
  if (p.use_count() > 1) p = std::make_shared<Array>(*p);
  return *p;
}
Json::Object& Json::mutable_object() {
  if (is_null()) v_ = std::make_shared<Object>();
  auto& p = std::get<std::shared_ptr<Object>>(v_);
  if (p.use_count() > 1) p = std::make_shared<Object>(*p);
  return *p;
}

Json& Json::set(std::string key, Json value) {
  if (!is_object() && !is_null()) v_ = std::make_shared<Object>();
  auto& o = mutable_object();
  for (auto& m : o) {
    if (m.first == key) {
      m.second = std::move(value);
      return m.second;
    }
  }
  o.emplace_back(std::move(key), std::move(value));
  return o.back().second;
}
bool Json::erase(std::string_view key) {
  if (!is_object() || !find(key)) return false;
  auto& o = mutable_object();
  for (auto it = o.begin(); it != o.end(); ++it) {
    if (it->first == key) {
      o.erase(it);
      return true;
    }
  }
  return false;
}

size_t Json::size() const {
  if (auto* a = std::get_if<std::shared_ptr<Array>>(&v_)) return (*a)->size();
  if (auto* o = std::get_if<std::shared_ptr<Object>>(&v_)) return (*o)->size();
  return 0;
}
const Json& Json::at(size_t i) const {
  if (auto* a = std::get_if<std::shared_ptr<Array>>(&v_)) {
    if (i < (*a)->size()) return (**a)[i];
  }
  return kNull;
}
Json& Json::push_back(Json value) {
  if (!is_array() && !is_null()) v_ = std::make_shared<Array>();
  auto& a = mutable_array();
  a.push_back(std::move(value));
  return a.back();
}

bool Json::operator==(const Json& other) const {
  if (is_number() && other.is_number()) {
    if (is_int() && other.is_int()) return as_int() == other.as_int();
    return as_double() == other.as_double();
  }
  if (type() != other.type()) return false;
  switch (type()) {
    case Type::Null: return true;
    case Type::Bool: return as_bool() == other.as_bool();
    case Type::String: return as_string() == other.as_string();
    case Type::Array: {
      const auto& a = as_array();
      const auto& b = other.as_array();
      if (&a == &b) return true;
      if (a.size() != b.size()) return false;
      for (size_t i = 0; i < a.size(); ++i)
        if (a[i] != b[i]) return false;
      return true;
    }
    case Type::Object: {
      const auto& a = as_object();
      const auto& b = other.as_object();
      if (&a == &b) return true;
      if (a.size() != b.size()) return false;
      for (const auto& m : a) {
        const Json* v = other.find(m.first);
        if (!v || *v != m.second) return false;
      }
      return true;
    }
    default: return false;
  }
}

// ---- serialization -----------------------------------------------------------------------------
namespace {

// Appends to a std::string up to a cap. Past the cap it sets `over` and drops the rest; the
// traversal checks `over` after every element, so a capped dump costs O(cap), not O(value).
struct CappedOut {
  using Ch = char;
  std::string* s;
  size_t cap;
  bool over = false;
  void Put(char c) {
    if (s->size() >= cap) {
      over = true;
      return;
    }
    s->push_back(c);
  }
  void Flush() {}
};

template <typename Writer>
bool write_value(Writer& w, const CappedOut& os, const Json& j) {
  // Recursion depth is bounded: parsed values by JsonParseLimits, built values stay shallow.
  switch (j.type()) {
    case Json::Type::Null: w.Null(); break;
    case Json::Type::Bool: w.Bool(j.as_bool()); break;
    case Json::Type::Int: w.Int64(j.as_int()); break;
    case Json::Type::Double: {
      double d = j.as_double();
      if (std::isfinite(d)) w.Double(d);
      else w.Null();
      break;
    }
    case Json::Type::String: {
      const auto& s = j.as_string();
      w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
      break;
    }
    case Json::Type::Array:
      w.StartArray();
      for (const auto& e : j.as_array())
        if (!write_value(w, os, e)) return false;
      w.EndArray();
      break;
    case Json::Type::Object:
      w.StartObject();
      for (const auto& m : j.as_object()) {
        w.Key(m.first.data(), static_cast<rapidjson::SizeType>(m.first.size()));
        if (os.over || !write_value(w, os, m.second)) return false;
      }
      w.EndObject();
      break;
  }
  return !os.over;
}

}  // namespace

bool Json::dump_to(std::string& out, size_t max_bytes) const {
  out.reserve(out.size() + 64);
  CappedOut os{&out, max_bytes};
  rapidjson::Writer<CappedOut, rapidjson::UTF8<>, rapidjson::UTF8<>, rapidjson::CrtAllocator,
                    rapidjson::kWriteNanAndInfFlag>
      w(os);
  return write_value(w, os, *this);
}
void Json::dump_to(std::string& out) const { dump_to(out, std::string::npos); }
std::string Json::dump() const {
  std::string out;
  dump_to(out);
  return out;
}
std::string Json::dump_pretty() const {
  std::string out;
  CappedOut os{&out, std::string::npos};
  rapidjson::PrettyWriter<CappedOut> w(os);
  w.SetIndent(' ', 2);
  write_value(w, os, *this);
  return out;
}

// ---- parsing -----------------------------------------------------------------------------------
namespace {

struct Builder : rapidjson::BaseReaderHandler<rapidjson::UTF8<>, Builder> {
  struct Frame {
    Json value;
    std::string pending_key;
    std::unique_ptr<std::unordered_set<std::string>> keys;  // only for large objects
  };
  const JsonParseLimits& limits;
  std::vector<Frame> stack;
  Json root;
  bool have_root = false;
  std::string fail_code;
  std::string fail_message;

  explicit Builder(const JsonParseLimits& l) : limits(l) {}

  bool put(Json v) {
    if (stack.empty()) {
      root = std::move(v);
      have_root = true;
      return true;
    }
    Frame& f = stack.back();
    if (f.value.is_array()) {
      f.value.mutable_array().push_back(std::move(v));
    } else {
      auto& obj = f.value.mutable_object();
      obj.emplace_back(std::move(f.pending_key), std::move(v));
    }
    return true;
  }
  bool Null() { return put(Json()); }
  bool Bool(bool b) { return put(Json(b)); }
  bool Int(int i) { return put(Json(i)); }
  bool Uint(unsigned u) { return put(Json(u)); }
  bool Int64(int64_t i) { return put(Json(static_cast<long long>(i))); }
  bool Uint64(uint64_t u) { return put(Json(static_cast<unsigned long long>(u))); }
  bool Double(double d) { return put(Json(d)); }
  bool String(const char* s, rapidjson::SizeType len, bool) {
    return put(Json(std::string(s, len)));
  }
  bool push(Json container) {
    if (stack.size() >= limits.max_depth) {
      fail_code = "json_too_deep";
      fail_message = "JSON nesting deeper than " + std::to_string(limits.max_depth) + " levels";
      return false;
    }
    stack.push_back(Frame{std::move(container), {}, nullptr});
    return true;
  }
  bool StartObject() { return push(Json::object()); }
  bool Key(const char* s, rapidjson::SizeType len, bool) {
    Frame& f = stack.back();
    std::string key(s, len);
    if (limits.reject_duplicate_keys) {
      const auto& obj = f.value.as_object();
      bool dup = false;
      if (f.keys) {
        dup = !f.keys->insert(key).second;
      } else {
        for (const auto& m : obj)
          if (m.first == key) {
            dup = true;
            break;
          }
        if (!dup && obj.size() >= 16) {
          f.keys = std::make_unique<std::unordered_set<std::string>>();
          for (const auto& m : obj) f.keys->insert(m.first);
          f.keys->insert(key);
        }
      }
      if (dup) {
        fail_code = "json_duplicate_key";
        fail_message = "duplicate object key \"" + key.substr(0, 64) + "\"";
        return false;
      }
    }
    f.pending_key = std::move(key);
    return true;
  }
  bool pop() {
    Json v = std::move(stack.back().value);
    stack.pop_back();
    return put(std::move(v));
  }
  bool EndObject(rapidjson::SizeType) { return pop(); }
  bool StartArray() { return push(Json::array()); }
  bool EndArray(rapidjson::SizeType) { return pop(); }
};

}  // namespace

Result<Json> Json::parse(std::string_view text, const JsonParseLimits& limits) {
  if (text.size() > limits.max_bytes) {
    return Error("json_too_large", "JSON text of " + std::to_string(text.size()) +
                                       " bytes exceeds the limit of " +
                                       std::to_string(limits.max_bytes) + " bytes");
  }
  if (auto pos = text.find('\0'); pos != std::string_view::npos) {
    return Error("json_nul_byte", "JSON text contains a NUL byte at offset " + std::to_string(pos));
  }
  Builder b(limits);
  rapidjson::Reader reader;
  rapidjson::MemoryStream ms(text.data(), text.size());
  constexpr unsigned kFlags = rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag |
                              rapidjson::kParseFullPrecisionFlag;
  rapidjson::ParseResult r = reader.Parse<kFlags>(ms, b);
  if (!r) {
    if (!b.fail_code.empty()) return Error(b.fail_code, b.fail_message);
    if (r.Code() == rapidjson::kParseErrorStringInvalidEncoding) {
      return Error("json_invalid_utf8",
                   "JSON text is not valid UTF-8 (offset " + std::to_string(r.Offset()) + ")");
    }
    return Error("json_parse_error", std::string("invalid JSON at offset ") +
                                         std::to_string(r.Offset()) + ": " +
                                         rapidjson::GetParseError_En(r.Code()));
  }
  return std::move(b.root);
}

const Json* json_path(const Json& root, std::string_view dotted) {
  const Json* cur = &root;
  while (!dotted.empty()) {
    size_t dot = dotted.find('.');
    std::string_view part = dotted.substr(0, dot);
    dotted = dot == std::string_view::npos ? std::string_view{} : dotted.substr(dot + 1);
    if (cur->is_object()) {
      cur = cur->find(part);
    } else if (cur->is_array()) {
      size_t idx = 0;
      auto [p, ec] = std::from_chars(part.data(), part.data() + part.size(), idx);
      if (ec != std::errc() || p != part.data() + part.size() || idx >= cur->size()) return nullptr;
      cur = &cur->at(idx);
    } else {
      return nullptr;
    }
    if (!cur) return nullptr;
  }
  return cur;
}

}  // namespace weft
