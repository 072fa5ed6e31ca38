// The node types of the core pack (plugins/core). Each class is registered in plugin.cpp; its
// schema and execute() live in <name>.cpp. docs/plugin-abi.md "The core node pack" describes them
// for workflow authors.
//
// Thread-safety: every node is stateless; execute() only touches its Context.
#pragma once

#include <weft/sdk.hpp>

namespace weft::core_pack {

using sdk::Context;

#define WEFT_CORE_NODE(Class, name, version, node_flags)        \
  class Class final : public sdk::Node {                        \
   public:                                                      \
    static constexpr std::string_view type_name = name;         \
    static constexpr uint32_t type_version = version;           \
    static constexpr uint32_t flags = node_flags;               \
    static const std::string_view schema;                       \
    void execute(Context& ctx) const override;                  \
  }

WEFT_CORE_NODE(ManualTriggerNode, "core.manual_trigger", 1, WEFT_NODE_FLAG_TRIGGER);
WEFT_CORE_NODE(WebhookTriggerNode, "core.webhook_trigger", 1, WEFT_NODE_FLAG_TRIGGER);
WEFT_CORE_NODE(SetNode, "core.set", 1, 0);
WEFT_CORE_NODE(IfNode, "core.if", 1, 0);
WEFT_CORE_NODE(SwitchNode, "core.switch", 1, 0);
WEFT_CORE_NODE(MergeNode, "core.merge", 1, 0);
WEFT_CORE_NODE(LoopNode, "core.loop", 1, WEFT_NODE_FLAG_LOOP);
WEFT_CORE_NODE(WaitNode, "core.wait", 1, WEFT_NODE_FLAG_LONG_RUNNING);
WEFT_CORE_NODE(NoopNode, "core.noop", 1, 0);
WEFT_CORE_NODE(StopAndErrorNode, "core.stop_and_error", 1, 0);
WEFT_CORE_NODE(FilterNode, "core.filter", 1, 0);
WEFT_CORE_NODE(ApprovalNode, "core.approval", 1, WEFT_NODE_FLAG_LONG_RUNNING);
WEFT_CORE_NODE(ClarificationNode, "core.clarification", 1, WEFT_NODE_FLAG_LONG_RUNNING);
WEFT_CORE_NODE(ErrorTriggerNode, "core.error_trigger", 1, WEFT_NODE_FLAG_TRIGGER);

#undef WEFT_CORE_NODE

}  // namespace weft::core_pack
