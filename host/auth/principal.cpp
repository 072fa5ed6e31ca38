// Scopes and the Principal's scope check.
#include <algorithm>

#include "host/auth/auth.hpp"

namespace weft::auth {

const std::vector<std::string>& known_scopes() {
  static const std::vector<std::string> scopes = {
      std::string(scope::kAll),
      std::string(scope::kWorkflowsRead),
      std::string(scope::kWorkflowsWrite),
      std::string(scope::kExecutionsRead),
      std::string(scope::kExecutionsWrite),
      std::string(scope::kKeysManage),
      std::string(scope::kCredentialsRead),
      std::string(scope::kCredentialsWrite),
      std::string(scope::kAuditRead),
      std::string(scope::kAdmin),
  };
  return scopes;
}

bool Principal::has_scope(std::string_view s) const {
  // The role bounds every grant: an admin-scoped key of a demoted user grants nothing admin.
  if (s == scope::kAdmin && !is_admin()) return false;
  return std::any_of(scopes.begin(), scopes.end(),
                     [&](const std::string& mine) { return mine == scope::kAll || mine == s; });
}

}  // namespace weft::auth
