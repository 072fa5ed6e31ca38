// Result<T>: errors as values for everything that can fail at run time (STYLE.md).
// An Error carries a machine-readable code, a human message naming the thing and the cause, and
// optional JSON details. Exceptions are reserved for programming errors.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace weft {

struct Error {
  std::string code;     // machine-readable, snake_case: "parse_error", "not_found", ...
  std::string message;  // for humans: names the thing and the cause
  std::string details;  // optional JSON object text; empty = none

  Error() = default;
  Error(std::string c, std::string m, std::string d = {})
      : code(std::move(c)), message(std::move(m)), details(std::move(d)) {}
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}            // NOLINT(google-explicit-constructor)
  Result(Error error) : v_(std::move(error)) {}        // NOLINT(google-explicit-constructor)

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &std::get<0>(v_); }
  const T* operator->() const { return &std::get<0>(v_); }
  T& operator*() & { return std::get<0>(v_); }
  const T& operator*() const& { return std::get<0>(v_); }

  const Error& error() const { return std::get<1>(v_); }
  Error&& take_error() { return std::get<1>(std::move(v_)); }

 private:
  std::variant<T, Error> v_;
};

// Result<void>
template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : e_(std::move(error)) {}  // NOLINT(google-explicit-constructor)
  bool ok() const { return !e_.has_value(); }
  explicit operator bool() const { return ok(); }
  const Error& error() const { return *e_; }
  Error&& take_error() { return std::move(*e_); }

 private:
  std::optional<Error> e_;
};

using Status = Result<void>;

}  // namespace weft
