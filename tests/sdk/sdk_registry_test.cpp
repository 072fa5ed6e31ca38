// The out-of-tree example plugin (built from the installed SDK by the sdk_example_build test)
// loaded through the real registry and executed through the host's services table.
#include <gtest/gtest.h>

#include <filesystem>

#include "registry/registry.hpp"
#include "tests/plugins/real_host.hpp"

namespace {

using weft::registry::PluginState;
using weft::registry::Registry;
using weft::registry::RegistryOptions;

TEST(HelloPluginThroughRegistry, LoadsNegotiatesAndRuns) {
  ASSERT_TRUE(std::filesystem::exists(std::string(WEFT_HELLO_PLUGIN_DIR) + "/hello.plugin.json"))
      << "run the sdk_example_build test first (CTest fixture weft_hello_plugin)";
  RegistryOptions o;
  o.plugin_dirs = {WEFT_HELLO_PLUGIN_DIR};
  Registry reg(o);
  EXPECT_EQ(reg.load(), 1u);
  auto plugins = reg.plugins();
  ASSERT_EQ(plugins.size(), 1u);
  EXPECT_EQ(plugins[0].name, "hello");
  EXPECT_EQ(plugins[0].state, PluginState::Loaded) << plugins[0].reason;
  EXPECT_EQ(plugins[0].negotiated_abi, WEFT_ABI_VERSION);
  EXPECT_EQ(plugins[0].abi_min, "1.0");

  auto type = reg.find_node_type("example.greet");
  ASSERT_NE(type, nullptr);
  EXPECT_EQ(type->schema["display_name"].as_string(), "Greet");
  auto r = weft::plugin_tests::run_real(*type, R"({"greeting": "Hi"})", R"({"main": {"name": "Ada"}})");
  ASSERT_EQ(r.status, WEFT_OK) << r.error;
  EXPECT_EQ(r.outputs()["main"]["message"].as_string(), "Hi, Ada!");
  ASSERT_EQ(r.logs.size(), 1u);
  EXPECT_EQ(r.logs[0], "1:greeted Ada");

  r = weft::plugin_tests::run_real(*type, R"({"greeting": false})", "{}");
  EXPECT_EQ(r.status, WEFT_ERR_INVALID_INPUT);
  EXPECT_EQ(r.error_code(), "invalid_parameter");
}

}  // namespace
