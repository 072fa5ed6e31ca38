// The core node pack: triggers, flow control, data and human-in-the-loop nodes, built as the plugin weft-core.so
// (a plugin like any other: it only uses the SDK).
#include <weft/sdk.hpp>

#include "nodes.hpp"

WEFT_PLUGIN(core) {
  using namespace weft::core_pack;
  WEFT_REGISTER_NODE(ManualTriggerNode);
  WEFT_REGISTER_NODE(WebhookTriggerNode);
  WEFT_REGISTER_NODE(SetNode);
  WEFT_REGISTER_NODE(IfNode);
  WEFT_REGISTER_NODE(SwitchNode);
  WEFT_REGISTER_NODE(MergeNode);
  WEFT_REGISTER_NODE(LoopNode);
  WEFT_REGISTER_NODE(WaitNode);
  WEFT_REGISTER_NODE(NoopNode);
  WEFT_REGISTER_NODE(StopAndErrorNode);
  WEFT_REGISTER_NODE(FilterNode);
  WEFT_REGISTER_NODE(ApprovalNode);
  WEFT_REGISTER_NODE(ClarificationNode);
  WEFT_REGISTER_NODE(ErrorTriggerNode);
}
