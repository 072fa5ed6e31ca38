#include <cstdio>

#include "host/compiler/diags.hpp"

namespace weft::compiler {

Json Diagnostic::to_json() const {
  Json j = Json::object();
  j.set("code", code);
  j.set("message", message);
  j.set("node_id", node_id);
  j.set("field", field);
  j.set("edge_id", edge_id);
  if (!details.is_null()) j.set("details", details);
  return j;
}

Json CompileResult::errors_json() const {
  Json out = Json::array();
  for (const auto& d : errors) out.push_back(d.to_json());
  return out;
}

namespace detail {

void Diags::finish() {
  if (dropped_errors > 0) {
    Json details = Json::object();
    details.set("omitted", dropped_errors);
    errors.push_back(Diagnostic{"too_many_errors",
                                "more than " + std::to_string(kMaxDiagnostics) + " errors; " +
                                    std::to_string(dropped_errors) + " more are not listed",
                                "", "", "", details});
    dropped_errors = 0;
  }
}

std::string quoted(std::string_view s, size_t max) {
  std::string out = "\"";
  size_t n = 0;
  for (unsigned char c : s) {
    if (n >= max && (c & 0xC0) != 0x80) {  // cut on a code point boundary
      out += "...";
      break;
    }
    if (c < 0x20 || c == 0x7F) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02X", c);
      out += buf;
    } else if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else {
      out += static_cast<char>(c);
    }
    ++n;
  }
  out += "\"";
  return out;
}

}  // namespace detail
}  // namespace weft::compiler
