#include "host/compiler/plan.hpp"

namespace weft::compiler {

const char* to_string(OnError e) {
  switch (e) {
    case OnError::Stop: return "stop";
    case OnError::Continue: return "continue";
    case OnError::Route: return "route";
    case OnError::Ask: return "ask";
  }
  return "stop";
}

int64_t Plan::index_of(std::string_view node_id) const {
  if (!id_index.empty()) {
    auto it = id_index.find(node_id);
    return it == id_index.end() ? -1 : static_cast<int64_t>(it->second);
  }
  for (size_t i = 0; i < nodes.size(); ++i)
    if (nodes[i].id == node_id) return static_cast<int64_t>(i);
  return -1;
}

}  // namespace weft::compiler
