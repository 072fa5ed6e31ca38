// weft::Json — the host's immutable-by-default JSON value.
//
// Values are cheap to copy: strings, arrays and objects are shared and copied on write, so node
// outputs can be handed to many downstream nodes without deep copies. Objects keep insertion order
// and unique keys. Parsing goes through RapidJSON's iterative SAX reader, so deeply nested input
// is an error, never a stack overflow.
//
// Thread-safety: a Json value may be read from many threads at once; a value being mutated must
// not be shared with another thread (copy-on-write makes the mutated copy private).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "host/core/result.hpp"

namespace weft {

class Json;

struct JsonParseLimits {
  size_t max_depth = 256;                 // nesting depth of arrays/objects
  size_t max_bytes = 64u * 1024u * 1024u;  // input size
  bool reject_duplicate_keys = true;
};

class Json {
 public:
  enum class Type : uint8_t { Null, Bool, Int, Double, String, Array, Object };
  using Array = std::vector<Json>;
  using Member = std::pair<std::string, Json>;
  using Object = std::vector<Member>;

  Json() = default;
  Json(std::nullptr_t) {}                                            // NOLINT
  Json(bool b) : v_(b) {}                                            // NOLINT
  Json(int i) : v_(static_cast<int64_t>(i)) {}                       // NOLINT
  Json(unsigned i) : v_(static_cast<int64_t>(i)) {}                  // NOLINT
  Json(long i) : v_(static_cast<int64_t>(i)) {}                      // NOLINT
  Json(long long i) : v_(static_cast<int64_t>(i)) {}                 // NOLINT
  Json(unsigned long i);                                             // NOLINT
  Json(unsigned long long i);                                        // NOLINT
  Json(double d) : v_(d) {}                                          // NOLINT
  Json(std::string s) : v_(std::make_shared<std::string>(std::move(s))) {}  // NOLINT
  Json(std::string_view s) : v_(std::make_shared<std::string>(s)) {}        // NOLINT
  Json(const char* s) : v_(std::make_shared<std::string>(s)) {}             // NOLINT
  Json(Array a) : v_(std::make_shared<Array>(std::move(a))) {}              // NOLINT
  Json(Object o) : v_(std::make_shared<Object>(std::move(o))) {}            // NOLINT

  static Json array(Array a = {}) { return Json(std::move(a)); }
  static Json object(Object o = {}) { return Json(std::move(o)); }

  Type type() const { return static_cast<Type>(v_.index()); }
  bool is_null() const { return type() == Type::Null; }
  bool is_bool() const { return type() == Type::Bool; }
  bool is_int() const { return type() == Type::Int; }
  bool is_double() const { return type() == Type::Double; }
  bool is_number() const { return is_int() || is_double(); }
  bool is_string() const { return type() == Type::String; }
  bool is_array() const { return type() == Type::Array; }
  bool is_object() const { return type() == Type::Object; }
  static const char* type_name(Type t);
  const char* type_name() const { return type_name(type()); }

  // Accessors. Calling one on the wrong type returns the fallback (never throws).
  bool as_bool(bool fallback = false) const;
  int64_t as_int(int64_t fallback = 0) const;     // doubles are truncated
  double as_double(double fallback = 0) const;    // ints are converted
  const std::string& as_string() const;           // "" when not a string
  const Array& as_array() const;                  // empty when not an array
  const Object& as_object() const;                // empty when not an object

  // Object access.
  const Json* find(std::string_view key) const;   // nullptr when absent or not an object
  const Json& operator[](std::string_view key) const;  // null when absent
  bool contains(std::string_view key) const { return find(key) != nullptr; }
  // Sets key (replacing an existing one). Turns a null value into an object first.
  Json& set(std::string key, Json value);
  bool erase(std::string_view key);

  // Array access.
  size_t size() const;  // array/object element count, 0 otherwise
  const Json& at(size_t i) const;  // null when out of range
  // Appends. Turns a null value into an array first.
  Json& push_back(Json value);

  // Mutable containers (copy-on-write: detaches shared storage first).
  Array& mutable_array();
  Object& mutable_object();

  bool operator==(const Json& other) const;
  bool operator!=(const Json& other) const { return !(*this == other); }

  // Serialization. Non-finite doubles are written as null.
  std::string dump() const;
  void dump_to(std::string& out) const;
  // Appends at most max_bytes in total to `out` (counting what it held before); returns false
  // when the value did not fit (out then ends with a cut-off prefix). Costs O(max_bytes).
  bool dump_to(std::string& out, size_t max_bytes) const;
  std::string dump_pretty() const;

  // Parses UTF-8 JSON text. Errors carry code "json_parse_error" (with offset) or
  // "json_too_deep" / "json_too_large" / "json_duplicate_key" / "json_invalid_utf8" /
  // "json_nul_byte".
  static Result<Json> parse(std::string_view text, const JsonParseLimits& limits = {});

 private:
  std::variant<std::monostate, bool, int64_t, double, std::shared_ptr<std::string>,
               std::shared_ptr<Array>, std::shared_ptr<Object>>
      v_;
};

// Helpers used across the host.
// Follows a dotted path ("a.b.0.c") into a value; nullptr when any step is missing.
const Json* json_path(const Json& root, std::string_view dotted);

}  // namespace weft
