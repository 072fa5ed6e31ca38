// The integrations node pack: generic HTTP requests, Slack and GitHub, built as weft-integrations.so.
// Every call goes through the host's guarded HTTP client; credentials are applied by the host.
#include <weft/sdk.hpp>

#include "nodes.hpp"

WEFT_PLUGIN(integrations) {
  using namespace weft::integrations;
  // Credential types first: on a host that validates node schemas against known credential types,
  // the nodes' credential_types then already resolve.
  for (std::string_view type : kCredentialTypes) WEFT_REGISTER_CREDENTIAL_TYPE(type);
  WEFT_REGISTER_NODE(HttpRequestNode);
  WEFT_REGISTER_NODE(SlackMessageNode);
  WEFT_REGISTER_NODE(GithubIssueNode);
}
