// The node types and credential types of the integrations pack (plugins/integrations). Each node
// class is registered in plugin.cpp; its schema and execute() live in <name>.cpp.
// docs/nodes-integrations.md describes them for workflow authors.
//
// Thread-safety: every node is stateless; execute() only touches its Context.
#pragma once

#include <weft/sdk.hpp>

#include <string_view>

namespace weft::integrations {

#define WEFT_INTEGRATIONS_NODE(Class, name, version, node_flags) \
  class Class final : public sdk::Node {                         \
   public:                                                       \
    static constexpr std::string_view type_name = name;          \
    static constexpr uint32_t type_version = version;            \
    static constexpr uint32_t flags = node_flags;                \
    static const std::string_view schema;                        \
    void execute(sdk::Context& ctx) const override;              \
  }

WEFT_INTEGRATIONS_NODE(HttpRequestNode, "http.request", 1, WEFT_NODE_FLAG_SIDE_EFFECTS);
WEFT_INTEGRATIONS_NODE(SlackMessageNode, "slack.message", 1, WEFT_NODE_FLAG_SIDE_EFFECTS);
WEFT_INTEGRATIONS_NODE(GithubIssueNode, "github.issue", 1, WEFT_NODE_FLAG_SIDE_EFFECTS);

#undef WEFT_INTEGRATIONS_NODE

// The credential types the pack registers, as JSON objects (credential_types.cpp).
extern const std::string_view kCredentialTypes[7];

}  // namespace weft::integrations
