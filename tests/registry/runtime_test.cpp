// The registry after loading: version selection, enable/disable (persisted), the palette,
// in-process node types, thread-safety, the shutdown lifecycle, and the bundled plugins.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "support.hpp"

namespace weft::registry {
namespace {

using namespace weft::registry::testing;

weft_status noop_execute(void*, const weft_node_request*, const weft_node_result*) {
  return WEFT_OK;
}

NodeType builtin(const std::string& name, uint32_t version, const std::string& plugin = "host",
                 const std::string& schema = R"({"display_name": "Builtin"})") {
  NodeType t;
  t.type_name = name;
  t.type_version = version;
  auto parsed = Json::parse(schema);
  t.schema = parsed.ok() ? *parsed : Json();
  t.execute = &noop_execute;
  t.plugin_name = plugin;
  return t;
}

class LoadedGood : public ::testing::Test {
 protected:
  void SetUp() override {
    installed_ = install_fixture(dir_.path(), "good", "fixture_good");
    reg_ = std::make_unique<Registry>(options_for({dir_.str()}));
    ASSERT_EQ(reg_->load(), 1u);
  }
  TempDir dir_;
  Installed installed_;
  std::unique_ptr<Registry> reg_;
};

TEST_F(LoadedGood, VersionZeroSelectsTheHighestVersion) {
  auto latest = reg_->find_node_type("fixture.echo");
  ASSERT_NE(latest, nullptr);
  EXPECT_EQ(latest->type_version, 2u);
  EXPECT_EQ(reg_->find_node_type("fixture.echo", 0)->type_version, 2u);
  EXPECT_EQ(reg_->find_node_type("fixture.echo", 1)->type_version, 1u);
  EXPECT_EQ(reg_->find_node_type("fixture.echo", 2)->type_version, 2u);
  EXPECT_EQ(reg_->find_node_type("fixture.echo", 3), nullptr);
  EXPECT_EQ(reg_->find_node_type("fixture.nope"), nullptr);
  EXPECT_EQ(reg_->find_node_type(""), nullptr);
  // The versions really are different code.
  EXPECT_EQ(run_node(*reg_->find_node_type("fixture.echo", 1), R"({"main":7})").output, R"({"main":7})");
  EXPECT_EQ(run_node(*reg_->find_node_type("fixture.echo", 2), R"({"main":7})").output,
            R"({"main":{"v":2,"input":{"main":7}}})");
}

TEST_F(LoadedGood, HighestVersionSkipsDisabledPlugins) {
  // v3 comes from another (in-process) plugin; disabling it makes v2 the highest again.
  ASSERT_TRUE(reg_->add_builtin_node_type(builtin("fixture.echo", 3, "echo-next")).ok());
  EXPECT_EQ(reg_->find_node_type("fixture.echo")->type_version, 3u);
  ASSERT_TRUE(reg_->set_enabled("echo-next", false).ok());
  EXPECT_EQ(reg_->find_node_type("fixture.echo")->type_version, 2u);
  EXPECT_EQ(reg_->find_node_type("fixture.echo", 3), nullptr);
}

TEST_F(LoadedGood, DisablingHidesNodeTypesButNotStorageAndEnablingShowsThemAgain) {
  auto held = reg_->find_node_type("fixture.echo", 1);
  ASSERT_NE(held, nullptr);
  ASSERT_TRUE(reg_->set_enabled("fixture_good", false).ok());

  EXPECT_EQ(find_plugin(reg_->plugins(), "fixture_good")->state, PluginState::Disabled);
  EXPECT_EQ(reg_->find_node_type("fixture.echo"), nullptr);
  EXPECT_EQ(reg_->find_node_type("fixture.echo", 1), nullptr);
  EXPECT_TRUE(reg_->node_types().empty());
  EXPECT_EQ(reg_->palette(), Json::array());
  EXPECT_NE(reg_->find_storage("fixturemem"), nullptr) << "storage backends are never hidden";
  // An execution that already holds the type keeps running it.
  EXPECT_EQ(run_node(*held, R"({"main":1})").status, WEFT_OK);

  ASSERT_TRUE(reg_->set_enabled("fixture_good", true).ok());
  EXPECT_EQ(find_plugin(reg_->plugins(), "fixture_good")->state, PluginState::Loaded);
  EXPECT_EQ(reg_->find_node_type("fixture.echo"), reg_->find_node_type("fixture.echo", 2));
  EXPECT_EQ(reg_->node_types().size(), 4u);
  EXPECT_EQ(reg_->find_node_type("fixture.echo", 1), held) << "re-enabling gives back the same registration";
}

TEST_F(LoadedGood, SetEnabledIsIdempotent) {
  ASSERT_TRUE(reg_->set_enabled("fixture_good", true).ok());
  ASSERT_TRUE(reg_->set_enabled("fixture_good", false).ok());
  ASSERT_TRUE(reg_->set_enabled("fixture_good", false).ok());
  EXPECT_EQ(find_plugin(reg_->plugins(), "fixture_good")->state, PluginState::Disabled);
}

TEST_F(LoadedGood, SetEnabledOnAnUnknownPluginIsNotFound) {
  auto st = reg_->set_enabled("nobody", false);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, "not_found");
  EXPECT_NE(st.error().message.find("nobody"), std::string::npos);
}

TEST(Runtime, SetEnabledOnABrokenPluginIsInvalidState) {
  TempDir dir;
  install_fixture(dir.path(), "initfail", "fixture_initfail");
  Registry reg(options_for({dir.str()}));
  reg.load();
  for (bool enabled : {true, false}) {
    auto st = reg.set_enabled("fixture_initfail", enabled);
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().code, "invalid_state");
    EXPECT_NE(st.error().message.find("broken"), std::string::npos) << st.error().message;
  }
  EXPECT_EQ(find_plugin(reg.plugins(), "fixture_initfail")->state, PluginState::Broken);
}

TEST(Runtime, DisabledStatePersistsThroughTheStateStore) {
  TempDir dir;
  install_fixture(dir.path(), "good", "fixture_good");
  MemoryStateStore store;
  {
    Registry reg(options_for({dir.str()}));
    ASSERT_EQ(reg.load(), 1u);
    ASSERT_TRUE(reg.attach_state_store(&store).ok());
    ASSERT_TRUE(reg.set_enabled("fixture_good", false).ok());
    EXPECT_EQ(store.states(), (std::map<std::string, bool>{{"fixture_good", false}}));
  }
  {
    // A restart: the plugin loads, and the persisted switch hides it again.
    Registry reg(options_for({dir.str()}));
    ASSERT_EQ(reg.load(), 1u);
    EXPECT_NE(reg.find_node_type("fixture.echo"), nullptr);
    ASSERT_TRUE(reg.attach_state_store(&store).ok());
    EXPECT_EQ(find_plugin(reg.plugins(), "fixture_good")->state, PluginState::Disabled);
    EXPECT_EQ(reg.find_node_type("fixture.echo"), nullptr);
    ASSERT_TRUE(reg.set_enabled("fixture_good", true).ok());
    EXPECT_EQ(store.states().at("fixture_good"), true);
  }
  {
    Registry reg(options_for({dir.str()}));
    ASSERT_EQ(reg.load(), 1u);
    ASSERT_TRUE(reg.attach_state_store(&store).ok());
    EXPECT_EQ(find_plugin(reg.plugins(), "fixture_good")->state, PluginState::Loaded);
  }
}

TEST(Runtime, StateStoreAttachedBeforeLoadIsAppliedByLoad) {
  TempDir dir;
  install_fixture(dir.path(), "good", "fixture_good");
  MemoryStateStore store;
  store.set("fixture_good", false);
  store.set("not_installed", false);  // ignored, and left alone
  Registry reg(options_for({dir.str()}));
  ASSERT_TRUE(reg.attach_state_store(&store).ok());
  EXPECT_EQ(reg.load(), 1u);
  EXPECT_EQ(find_plugin(reg.plugins(), "fixture_good")->state, PluginState::Disabled);
  EXPECT_EQ(reg.find_node_type("fixture.echo"), nullptr);
  EXPECT_EQ(store.states().size(), 2u);
}

TEST(Runtime, StateStoreFailuresAreReportedAndChangeNothing) {
  TempDir dir;
  install_fixture(dir.path(), "good", "fixture_good");
  Registry reg(options_for({dir.str()}));
  ASSERT_EQ(reg.load(), 1u);

  MemoryStateStore broken;
  broken.fail_load = true;
  auto attach = reg.attach_state_store(&broken);
  ASSERT_FALSE(attach.ok());
  EXPECT_EQ(attach.error().code, "store_unavailable");
  EXPECT_NE(attach.error().message.find("the state store is down"), std::string::npos);

  MemoryStateStore store;
  ASSERT_TRUE(reg.attach_state_store(&store).ok());
  store.fail_save = true;
  auto st = reg.set_enabled("fixture_good", false);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, "store_unavailable");
  EXPECT_NE(st.error().message.find("fixture_good"), std::string::npos) << st.error().message;
  EXPECT_EQ(find_plugin(reg.plugins(), "fixture_good")->state, PluginState::Loaded);
  EXPECT_NE(reg.find_node_type("fixture.echo"), nullptr);

  // Detaching: switches work again, in memory only.
  ASSERT_TRUE(reg.attach_state_store(nullptr).ok());
  ASSERT_TRUE(reg.set_enabled("fixture_good", false).ok());
  EXPECT_EQ(store.saves(), 0);
}

TEST_F(LoadedGood, PaletteListsEnabledTypesSortedWithTheirSchemaMergedIn) {
  ASSERT_TRUE(reg_->add_builtin_node_type(builtin("aaa.first", 1)).ok());
  ASSERT_TRUE(
      reg_->add_builtin_node_type(
              builtin("zzz.last", 2, "host", R"({"display_name": "Last", "type": "ignored", "flags": 1})"))
          .ok());
  ASSERT_TRUE(reg_->add_builtin_node_type(builtin("zzz.last", 1)).ok());
  Json palette = reg_->palette();
  ASSERT_TRUE(palette.is_array());
  std::vector<std::string> order;
  for (const Json& item : palette.as_array())
    order.push_back(item["type"].as_string() + "@" + std::to_string(item["version"].as_int()));
  EXPECT_EQ(order,
            (std::vector<std::string>{"aaa.first@1", "fixture.echo@1", "fixture.echo@2", "fixture.info@1",
                                      "fixture.trigger@1", "zzz.last@1", "zzz.last@2"}));

  const Json& trigger = palette.at(4);
  EXPECT_EQ(trigger["plugin"].as_string(), "fixture_good");
  EXPECT_EQ(trigger["flags"], Json(Json::Array{"trigger", "side_effects"}));
  EXPECT_EQ(trigger["display_name"].as_string(), "Test trigger");
  EXPECT_EQ(trigger["description"].as_string(), "Starts a test workflow");
  EXPECT_EQ(trigger["category"].as_string(), "trigger");
  ASSERT_EQ(trigger["fields"].size(), 2u);
  EXPECT_EQ(trigger["fields"].at(1)["options"].size(), 2u);
  EXPECT_EQ(trigger["inputs"], Json::array());
  EXPECT_EQ(trigger["outputs"].at(0)["type"].as_string(), "json");

  const Json& info = palette.at(3);  // declared only a display_name: the shape is filled in
  EXPECT_EQ(info["fields"], Json::array());
  EXPECT_EQ(info["inputs"], Json::array());
  EXPECT_EQ(info["outputs"], Json::array());
  EXPECT_EQ(info["flags"], Json::array());

  // The registry's own members win over same-named schema members.
  const Json& last = palette.at(6);
  EXPECT_EQ(last["type"].as_string(), "zzz.last");
  EXPECT_EQ(last["flags"], Json::array());
  EXPECT_EQ(last["display_name"].as_string(), "Last");
  EXPECT_EQ(last["plugin"].as_string(), "host");

  auto types = reg_->node_types();
  ASSERT_EQ(types.size(), palette.size());
  for (size_t i = 0; i < types.size(); ++i) EXPECT_EQ(types[i]->type_name, palette.at(i)["type"].as_string());
}

TEST(Runtime, BuiltinNodeTypesAreCheckedLikePluginOnes) {
  Registry reg(options_for({}));
  EXPECT_EQ(reg.load(), 0u);
  ASSERT_TRUE(reg.add_builtin_node_type(builtin("host.ok", 1)).ok());
  auto info = find_plugin(reg.plugins(), "host");
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->state, PluginState::Loaded);
  EXPECT_EQ(info->node_types, std::vector<std::string>{"host.ok@1"});
  auto t = reg.find_node_type("host.ok");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->library, nullptr);
  EXPECT_TRUE(t->schema["fields"].is_array());

  auto dup = reg.add_builtin_node_type(builtin("host.ok", 1, "other"));
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().code, "duplicate_node_type");
  EXPECT_NE(dup.error().message.find("host"), std::string::npos);

  auto bad_name = reg.add_builtin_node_type(builtin("Host OK", 1));
  EXPECT_EQ(bad_name.ok() ? "" : bad_name.error().code, "invalid_argument");
  auto v0 = reg.add_builtin_node_type(builtin("host.v0", 0));
  EXPECT_EQ(v0.ok() ? "" : v0.error().code, "invalid_argument");
  NodeType no_exec = builtin("host.noexec", 1);
  no_exec.execute = nullptr;
  auto ne = reg.add_builtin_node_type(no_exec);
  EXPECT_EQ(ne.ok() ? "" : ne.error().code, "invalid_argument");
  auto schema =
      reg.add_builtin_node_type(builtin("host.schema", 1, "host", R"({"outputs": [{"name": "main"}]})"));
  ASSERT_FALSE(schema.ok());
  EXPECT_EQ(schema.error().code, "invalid_schema");
  EXPECT_NE(schema.error().message.find("host.schema@1"), std::string::npos) << schema.error().message;

  NodeType unnamed = builtin("host.anon", 1);
  unnamed.plugin_name.clear();
  ASSERT_TRUE(reg.add_builtin_node_type(unnamed).ok());
  EXPECT_EQ(reg.find_node_type("host.anon")->plugin_name, "builtin");
}

TEST(Runtime, BuiltinTypesCannotJoinABrokenPlugin) {
  TempDir dir;
  install_fixture(dir.path(), "initfail", "fixture_initfail");
  Registry reg(options_for({dir.str()}));
  reg.load();
  auto st = reg.add_builtin_node_type(builtin("host.x", 1, "fixture_initfail"));
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, "invalid_state");
}

TEST(Runtime, ConcurrentLookupsWhileTogglingSeeWholePluginsOnly) {
  TempDir dir;
  install_fixture(dir.path(), "good", "fixture_good");
  Registry reg(options_for({dir.str()}));
  ASSERT_EQ(reg.load(), 1u);
  ASSERT_TRUE(reg.add_builtin_node_type(builtin("host.always", 1)).ok());
  MemoryStateStore store;
  ASSERT_TRUE(reg.attach_state_store(&store).ok());

  std::atomic<bool> done{false};
  std::atomic<int> failures{0};
  std::atomic<long> seen_enabled{0}, seen_disabled{0};
  auto reader = [&](int id) {
    long iterations = 0;
    // Keep reading until the writer is done, and at least a few hundred times.
    while (!done.load(std::memory_order_acquire) || iterations < 200) {
      ++iterations;
      auto echo = reg.find_node_type("fixture.echo", id % 2 ? 0 : 1);
      if (echo) {
        ++seen_enabled;
        if (echo->plugin_name != "fixture_good") ++failures;
        if (iterations % 16 == 0 && run_node(*echo, R"({"main":1})").status != WEFT_OK) ++failures;
      } else {
        ++seen_disabled;
      }
      if (!reg.find_node_type("host.always")) ++failures;
      if (iterations % 8 == 0) {
        // A palette is a consistent snapshot: all four of the plugin's types or none.
        Json palette = reg.palette();
        size_t from_good = 0;
        for (const Json& item : palette.as_array())
          if (item["plugin"].as_string() == "fixture_good") ++from_good;
        if (from_good != 0 && from_good != 4) ++failures;
        if (!reg.find_storage("fixturemem")) ++failures;
      }
    }
  };
  std::vector<std::thread> readers;
  for (int i = 0; i < 4; ++i) readers.emplace_back(reader, i);
  for (int i = 0; i < 400; ++i) {
    if (!reg.set_enabled("fixture_good", i % 2 == 1).ok()) ++failures;
    (void)reg.plugins();
  }
  done.store(true, std::memory_order_release);
  for (auto& t : readers) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GT(seen_enabled.load() + seen_disabled.load(), 0);
  EXPECT_EQ(find_plugin(reg.plugins(), "fixture_good")->state,
            PluginState::Loaded);  // last toggle: i=399 → on
  EXPECT_EQ(store.saves(), 400);
}

TEST(Lifecycle, DestroyingTheRegistryShutsPluginsDownOnce) {
  TempDir dir;
  auto good = install_fixture(dir.path(), "good", "fixture_good");
  std::unique_ptr<LibraryPeek> peek;
  {
    Registry reg(options_for({dir.str()}));
    ASSERT_EQ(reg.load(), 1u);
    peek = std::make_unique<LibraryPeek>(good.library);
    ASSERT_TRUE(peek->ok());
    EXPECT_EQ(peek->counter("fixture_good_init_calls"), 1);
    EXPECT_EQ(peek->counter("fixture_good_shutdown_calls"), 0);
  }
  EXPECT_EQ(peek->counter("fixture_good_shutdown_calls"), 1);
  peek.reset();
  EXPECT_FALSE(is_mapped(good.library)) << "the registry's handle was released";
}

TEST(Lifecycle, ANodeTypeHeldPastTheRegistryKeepsItsPluginAliveUntilReleased) {
  TempDir dir;
  auto good = install_fixture(dir.path(), "good", "fixture_good");
  std::shared_ptr<const NodeType> held;
  std::shared_ptr<const StorageBackend> backend;
  std::unique_ptr<LibraryPeek> peek;
  {
    Registry reg(options_for({dir.str()}));
    ASSERT_EQ(reg.load(), 1u);
    held = reg.find_node_type("fixture.echo", 1);
    backend = reg.find_storage("fixturemem");
    peek = std::make_unique<LibraryPeek>(good.library);
  }
  ASSERT_NE(held, nullptr);
  EXPECT_EQ(peek->counter("fixture_good_shutdown_calls"), 0)
      << "no shutdown while a node type is still in use";
  EXPECT_EQ(run_node(*held, R"({"main":"late"})").output, R"({"main":"late"})");
  held.reset();
  EXPECT_EQ(peek->counter("fixture_good_shutdown_calls"), 0) << "the storage backend still holds it";
  backend.reset();
  EXPECT_EQ(peek->counter("fixture_good_shutdown_calls"), 1);
}

TEST(Lifecycle, IndependentRegistriesGetIndependentPluginInstances) {
  TempDir a, b;
  auto in_a = install_fixture(a.path(), "good", "fixture_good");
  auto in_b = install_fixture(b.path(), "good", "fixture_good");
  Registry ra(options_for({a.str()})), rb(options_for({b.str()}));
  ASSERT_EQ(ra.load(), 1u);
  ASSERT_EQ(rb.load(), 1u);
  LibraryPeek pa(in_a.library), pb(in_b.library);
  EXPECT_EQ(pa.counter("fixture_good_init_calls"), 1);
  EXPECT_EQ(pb.counter("fixture_good_init_calls"), 1);
}

// The plugins this build bundles (plugins/core and the storage backends, written alongside the
// registry): every one of them must load through the same checks as any third-party plugin.
TEST(Bundled, EveryBundledPluginLoads) {
  fs::path dir = WEFT_BUNDLED_PLUGIN_DIR;
  bool any = false;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string n = e.path().filename().string();
    if (n.size() > 12 && n.substr(n.size() - 12) == ".plugin.json") any = true;
  }
  if (!any) GTEST_SKIP() << "no bundled plugin built in " << dir;

  Registry reg(options_for({dir.string()}));
  size_t loaded = reg.load();
  for (const auto& p : reg.plugins())
    EXPECT_EQ(p.state, PluginState::Loaded)
        << p.name << " (" << p.manifest_path << "): " << to_string(p.state) << ": " << p.reason;
  EXPECT_EQ(loaded, reg.plugins().size());

  if (auto core = find_plugin(reg.plugins(), "core")) {
    EXPECT_FALSE(core->node_types.empty());
    for (const auto& key : core->node_types) EXPECT_EQ(key.rfind("core.", 0), 0u) << key;
    EXPECT_NE(reg.find_node_type("core.manual_trigger"), nullptr);
  }
  if (find_plugin(reg.plugins(), "sqlite")) {
    EXPECT_NE(reg.find_storage("sqlite"), nullptr);
  }
  if (find_plugin(reg.plugins(), "postgres")) {
    EXPECT_NE(reg.find_storage("postgresql"), nullptr);
  }
  Json palette = reg.palette();
  for (const Json& item : palette.as_array()) {
    EXPECT_TRUE(item["fields"].is_array()) << item["type"].as_string();
    EXPECT_TRUE(item["inputs"].is_array()) << item["type"].as_string();
    EXPECT_TRUE(item["outputs"].is_array()) << item["type"].as_string();
  }
}

}  // namespace
}  // namespace weft::registry
