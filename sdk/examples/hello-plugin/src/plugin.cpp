// The plugin's entry points: WEFT_PLUGIN generates weft_plugin_negotiate/init/shutdown.
#include <weft/sdk.hpp>

#include "greet.hpp"

WEFT_PLUGIN(hello) {
  WEFT_REGISTER_NODE(hello::Greet);
}
