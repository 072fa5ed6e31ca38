// The job protocol between the host and a runner (runners/runner.js, runners/runner.py):
// newline-delimited JSON frames, described in docs/sandbox.md "Job protocol" and pool.hpp.
//
// This file only encodes and decodes frames; the pool (pool.cpp) runs the conversation.
// Every function is pure and thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "host/core/json.hpp"
#include "host/core/result.hpp"

namespace weft::sandbox {

struct Job;

namespace protocol {

// A frame the child sent on fd 1, checked for shape.
struct ChildFrame {
  enum class Type { Ready, Log, Call, Result, Error, Done };
  Type type = Type::Ready;
  // Log: level is one of debug|info|warn|error (anything else becomes info).
  std::string level;
  std::string msg;
  // Call.
  int64_t id = 0;
  std::string op;
  Json args;
  // Result: the value; Error: the child's error object {name, message, line, column, stack, code}.
  Json value;
};

// Parses one line (without its newline). Errors:
//   "protocol_error": not JSON, not an object, unknown "t", a field of the wrong type;
//   "output_limit":   JSON nested deeper or larger than the parser's limits (the code's own output).
Result<ChildFrame> parse_child_frame(std::string_view line, size_t max_frame_bytes);

// Host -> child frames, each ending with "\n".
std::string encode_job(const Job& job);
std::string encode_reply_ok(int64_t id, const Json& value);
std::string encode_reply_error(int64_t id, std::string_view code, std::string_view message);
// Sent once the answer (result or error) is in: the runner answers {"t":"done"} and exits.
inline constexpr std::string_view kAck = "{\"t\":\"ack\"}\n";

// The child's error object as a JobResult::error: {"code","message","details":{...}}. `code` is
// "code_error", or "memory_limit" when the code ran out of memory (Python MemoryError, a failed
// JavaScript array-buffer allocation).
Json job_error_from_child(const Json& child_error);

// A JobResult::error with no details.
Json job_error(std::string_view code, std::string_view message);

// True when text the interpreter wrote to stderr says it ran out of memory (Node's heap-limit
// abort, Python's fatal MemoryError, a failed allocation).
bool text_says_out_of_memory(std::string_view text);

}  // namespace protocol
}  // namespace weft::sandbox
