// Loading real plugin libraries (tests/fixtures/plugins) through the registry: one test per way a
// plugin can be good or bad. Every test works in its own temp directory with its own copies.
#include <gtest/gtest.h>

#include "support.hpp"

namespace weft::registry {
namespace {

using namespace weft::registry::testing;

// The host's ABI range: 1.0 up to the version this build's header describes.
std::string host_range() {
  return "1.0–" + std::to_string(WEFT_ABI_VERSION_MAJOR) + "." + std::to_string(WEFT_ABI_VERSION_MINOR);
}

// Asserts one plugin's state and that its reason contains every fragment.
void expect_state(const Registry& reg, const std::string& name, PluginState state,
                  std::vector<std::string> fragments = {}) {
  auto all = reg.plugins();
  auto p = find_plugin(all, name);
  ASSERT_TRUE(p.has_value()) << "plugin " << name << " not listed";
  EXPECT_EQ(to_string(p->state), std::string(to_string(state))) << p->reason;
  if (state == PluginState::Loaded) {
    EXPECT_EQ(p->reason, "");
  }
  for (const auto& f : fragments)
    EXPECT_NE(p->reason.find(f), std::string::npos) << "reason: " << p->reason << "\nmissing: " << f;
}

TEST(Loading, GoodPluginLoadsAndItsNodeRuns) {
  TempDir dir;
  install_fixture(dir.path(), "good", "fixture_good");
  Registry reg(options_for({dir.str()}));
  EXPECT_EQ(reg.load(), 1u);

  auto all = reg.plugins();
  ASSERT_EQ(all.size(), 1u);
  const PluginInfo& p = all[0];
  EXPECT_EQ(p.name, "fixture_good");
  EXPECT_EQ(p.state, PluginState::Loaded);
  EXPECT_EQ(p.version, "1.0.0");
  EXPECT_EQ(p.abi_min, "1.0");
  // The manifest (weft_add_plugin) spans the SDK's range, but the plugin's handshake answers 1.0:
  // a 1.0 plugin keeps working on a 1.1 host.
  EXPECT_EQ(p.abi_max, "1.1");
  EXPECT_EQ(p.negotiated_abi, WEFT_ABI_MAKE_VERSION(1, 0));
  EXPECT_EQ(p.manifest_path, (dir / "fixture_good.plugin.json").string());
  EXPECT_EQ(p.file_path, (dir / "weft-fixture_good.so").string());
  EXPECT_EQ(p.node_types, (std::vector<std::string>{"fixture.echo@1", "fixture.echo@2", "fixture.info@1",
                                                    "fixture.trigger@1"}));
  EXPECT_EQ(p.storage_schemes, std::vector<std::string>{"fixturemem"});

  auto echo = reg.find_node_type("fixture.echo", 1);
  ASSERT_NE(echo, nullptr);
  EXPECT_EQ(echo->plugin_name, "fixture_good");
  EXPECT_NE(echo->library, nullptr);
  EXPECT_EQ(echo->schema["display_name"].as_string(), "Echo");
  auto run = run_node(*echo, R"({"main":{"x":[1,2,3]}})");
  EXPECT_EQ(run.status, WEFT_OK);
  auto out = Json::parse(run.output);
  ASSERT_TRUE(out.ok()) << run.output;
  EXPECT_EQ((*out)["main"]["x"].size(), 3u);

  auto trigger = reg.find_node_type("fixture.trigger");
  ASSERT_NE(trigger, nullptr);
  EXPECT_TRUE(trigger->is_trigger());
  EXPECT_FALSE(trigger->is_loop());

  auto storage = reg.find_storage("fixturemem");
  ASSERT_NE(storage, nullptr);
  EXPECT_EQ(storage->plugin_name, "fixture_good");
  EXPECT_EQ(from_weft_str(storage->vtable.scheme), "fixturemem");
  weft_storage_conn* conn = nullptr;
  StringSink err, result;
  ASSERT_EQ(storage->vtable.open(storage->vtable.backend_state, to_weft_str("fixturemem://x"),
                                 to_weft_str("{}"), &conn, &err.sink),
            WEFT_OK);
  EXPECT_EQ(storage->vtable.call(conn, to_weft_str("ping"), to_weft_str("[1]"), &result.sink, &err.sink),
            WEFT_OK);
  EXPECT_EQ(result.data, R"({"echo":[1]})");
  storage->vtable.close(conn);
  EXPECT_TRUE(reg.scan_errors().empty());
}

TEST(Loading, HandsTheNegotiatedVersionAndConfigurationToInit) {
  TempDir dir;
  install_fixture(dir.path(), "good", "fixture_good");
  RegistryOptions opts = options_for({dir.str()});
  Json cfg = Json::object();
  cfg.set("greeting", "hi");
  opts.plugin_config["fixture_good"] = cfg;
  Registry reg(opts);
  ASSERT_EQ(reg.load(), 1u);
  auto info = reg.find_node_type("fixture.info");
  ASSERT_NE(info, nullptr);
  auto run = run_node(*info, "{}");
  ASSERT_EQ(run.status, WEFT_OK);
  auto out = Json::parse(run.output);
  ASSERT_TRUE(out.ok()) << run.output;
  const Json& main = (*out)["main"];
  EXPECT_EQ(main["abi_version"].as_int(), WEFT_ABI_MAKE_VERSION(1, 0));
  EXPECT_EQ(main["host_abi_version"].as_int(), WEFT_ABI_MAKE_VERSION(1, 0));
  EXPECT_EQ(main["host_struct_size"].as_int(), static_cast<int64_t>(sizeof(weft_host_api)));
  EXPECT_EQ(main["config"], cfg);
}

TEST(Loading, NoConfigurationMeansAnEmptyObject) {
  TempDir dir;
  install_fixture(dir.path(), "good", "fixture_good");
  Registry reg(options_for({dir.str()}));
  ASSERT_EQ(reg.load(), 1u);
  auto run = run_node(*reg.find_node_type("fixture.info"), "{}");
  auto out = Json::parse(run.output);
  ASSERT_TRUE(out.ok()) << run.output;
  EXPECT_EQ((*out)["main"]["config"], Json::object());
}

TEST(Loading, FutureAbiIsRefusedFromTheManifestWithoutLoading) {
  TempDir dir;
  install_fixture(dir.path(), "good", "fixture_good");
  auto future = install_fixture(dir.path(), "future", "fixture_future");
  Registry reg(options_for({dir.str()}));
  EXPECT_EQ(reg.load(), 1u);
  expect_state(reg, "fixture_future", PluginState::Incompatible);
  auto all = reg.plugins();
  EXPECT_EQ(find_plugin(all, "fixture_future")->reason,
            "plugin fixture_future speaks ABI 2.0–2.1, host supports " + host_range());
  EXPECT_FALSE(is_mapped(future.library)) << "an incompatible plugin must not even be loaded";
  expect_state(reg, "fixture_good", PluginState::Loaded);
  EXPECT_EQ(reg.find_node_type("fixture.future"), nullptr);
  EXPECT_NE(reg.find_node_type("fixture.echo"), nullptr);
}

TEST(Loading, FutureAbiBehindALyingManifestIsCaughtByTheHandshake) {
  TempDir dir;
  install_fixture(dir.path(), "good", "fixture_good");
  install_fixture(dir.path(), "future", "fixture_future",
                  [](Json& m) { m.set("abi", abi_range("1.0", "1.0")); });
  Registry reg(options_for({dir.str()}));
  EXPECT_EQ(reg.load(), 1u);
  expect_state(reg, "fixture_future", PluginState::Incompatible, {"fixture_future", "2.0", host_range()});
  EXPECT_EQ(find_plugin(reg.plugins(), "fixture_future")->negotiated_abi, 0u);
  EXPECT_EQ(reg.find_node_type("fixture.future"), nullptr);
  expect_state(reg, "fixture_good", PluginState::Loaded);
}

TEST(Loading, OlderAbiIsRefusedFromTheManifest) {
  TempDir dir;
  install_fixture(dir.path(), "old", "fixture_old");
  Registry reg(options_for({dir.str()}));
  EXPECT_EQ(reg.load(), 0u);
  auto p = find_plugin(reg.plugins(), "fixture_old");
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->state, PluginState::Incompatible);
  EXPECT_EQ(p->reason, "plugin fixture_old speaks ABI 0.1–0.9, host supports " + host_range());
}

TEST(Loading, OlderAbiBehindALyingManifestIsCaughtByTheHandshake) {
  TempDir dir;
  install_fixture(dir.path(), "old", "fixture_old", [](Json& m) { m.set("abi", abi_range("1.0", "1.0")); });
  Registry reg(options_for({dir.str()}));
  EXPECT_EQ(reg.load(), 0u);
  expect_state(reg, "fixture_old", PluginState::Incompatible, {"answered ABI 0.9", host_range()});
  EXPECT_EQ(reg.find_node_type("fixture.old"), nullptr);
}

TEST(Loading, HandshakeAnsweringZeroIsIncompatibleAndInitIsNeverCalled) {
  TempDir dir;
  auto mute = install_fixture(dir.path(), "mute", "fixture_mute");
  {
    Registry reg(options_for({dir.str()}));
    EXPECT_EQ(reg.load(), 0u);
    expect_state(reg, "fixture_mute", PluginState::Incompatible, {"speaks none", host_range()});
    // It was unloaded again right away: nothing of it stays mapped.
    EXPECT_FALSE(is_mapped(mute.library));
  }
  // With the library held open by the test, the registry gets the same instance: its init
  // counter shows init was never called.
  void* own = ::dlopen(mute.library.c_str(), RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(own, nullptr) << ::dlerror();
  {
    Registry reg(options_for({dir.str()}));
    EXPECT_EQ(reg.load(), 0u);
  }
  auto* init_calls = static_cast<int*>(::dlsym(own, "fixture_mute_init_calls"));
  ASSERT_NE(init_calls, nullptr);
  EXPECT_EQ(*init_calls, 0);
  ::dlclose(own);
}

TEST(Loading, HostRangeIsConfigurable) {
  // A host that also speaks 2.x accepts the future plugin's manifest and its 2.0 answer.
  TempDir dir;
  install_fixture(dir.path(), "future", "fixture_future");
  RegistryOptions opts = options_for({dir.str()});
  opts.host_abi_max = WEFT_ABI_MAKE_VERSION(2, 5);
  Registry reg(opts);
  EXPECT_EQ(reg.load(), 1u);
  expect_state(reg, "fixture_future", PluginState::Loaded);
  EXPECT_EQ(find_plugin(reg.plugins(), "fixture_future")->negotiated_abi, WEFT_ABI_MAKE_VERSION(2, 0));
}

TEST(Loading, MissingEntryPointIsBroken) {
  TempDir dir;
  install_fixture(dir.path(), "good", "fixture_good");
  install_fixture(dir.path(), "noinit", "fixture_noinit");
  Registry reg(options_for({dir.str()}));
  EXPECT_EQ(reg.load(), 1u);
  auto p = find_plugin(reg.plugins(), "fixture_noinit");
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->state, PluginState::Broken);
  EXPECT_EQ(p->reason, "missing entry point weft_plugin_init");
  expect_state(reg, "fixture_good", PluginState::Loaded);
}

TEST(Loading, InitFailureIsBrokenWithThePluginsMessageAndDiscardsItsRegistrations) {
  TempDir dir;
  install_fixture(dir.path(), "good", "fixture_good");
  auto failing = install_fixture(dir.path(), "initfail", "fixture_initfail");
  Registry reg(options_for({dir.str()}));
  EXPECT_EQ(reg.load(), 1u);
  expect_state(
      reg, "fixture_initfail", PluginState::Broken,
      {"WEFT_ERR_FAILED", "fixture_initfail needs an api_key in its configuration", "config_missing"});
  EXPECT_EQ(reg.find_node_type("fixture.ghost"), nullptr);
  EXPECT_TRUE(find_plugin(reg.plugins(), "fixture_initfail")->node_types.empty());
  for (const auto& t : reg.node_types()) EXPECT_NE(t->type_name, "fixture.ghost");
  EXPECT_FALSE(is_mapped(failing.library));  // released right away
  expect_state(reg, "fixture_good", PluginState::Loaded);
}

TEST(Loading, TooSmallRegistrationStructIsBrokenEvenIfInitSaysOk) {
  TempDir dir;
  install_fixture(dir.path(), "good", "fixture_good");
  install_fixture(dir.path(), "small", "fixture_small");
  Registry reg(options_for({dir.str()}));
  EXPECT_EQ(reg.load(), 1u);
  auto p = find_plugin(reg.plugins(), "fixture_small");
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->state, PluginState::Broken);
  EXPECT_EQ(p->reason, "node type registration struct too small: 8 < " +
                           std::to_string(sizeof(weft_node_type)) + " bytes");
  // Its valid registration goes too: a plugin is in or out as a whole.
  EXPECT_EQ(reg.find_node_type("fixture.small_ok"), nullptr);
  EXPECT_EQ(reg.find_node_type("fixture.small"), nullptr);
  expect_state(reg, "fixture_good", PluginState::Loaded);
}

TEST(Loading, PluginRefusedAfterASuccessfulInitIsShutDownAndUnloaded) {
  TempDir dir;
  auto small = install_fixture(dir.path(), "small", "fixture_small");
  // Keep the library mapped past the registry's release so the shutdown counter stays readable:
  // load it once ourselves (same path, so the registry gets the same instance).
  void* own = ::dlopen(small.library.c_str(), RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(own, nullptr) << ::dlerror();
  {
    Registry reg(options_for({dir.str()}));
    EXPECT_EQ(reg.load(), 0u);
    expect_state(reg, "fixture_small", PluginState::Broken);
    auto* shutdowns = static_cast<int*>(::dlsym(own, "fixture_small_shutdown_calls"));
    ASSERT_NE(shutdowns, nullptr);
    EXPECT_EQ(*shutdowns, 1) << "init returned OK, so the plugin is owed its shutdown call";
  }
  ::dlclose(own);
}

TEST(Loading, FailedInitIsNotShutDown) {
  TempDir dir;
  auto failing = install_fixture(dir.path(), "initfail", "fixture_initfail");
  void* own = ::dlopen(failing.library.c_str(), RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(own, nullptr) << ::dlerror();
  {
    Registry reg(options_for({dir.str()}));
    EXPECT_EQ(reg.load(), 0u);
  }
  auto* shutdowns = static_cast<int*>(::dlsym(own, "fixture_initfail_shutdown_calls"));
  ASSERT_NE(shutdowns, nullptr);
  EXPECT_EQ(*shutdowns, 0);
  ::dlclose(own);
}

TEST(Loading, ThrowingExecuteIsContainedByTheSdkBarrierAndTheHostCarriesOn) {
  TempDir dir;
  install_fixture(dir.path(), "good", "fixture_good");
  install_fixture(dir.path(), "throw", "fixture_throw");
  Registry reg(options_for({dir.str()}));
  EXPECT_EQ(reg.load(), 2u);
  expect_state(reg, "fixture_throw", PluginState::Loaded);
  auto thrower = reg.find_node_type("fixture.throw");
  ASSERT_NE(thrower, nullptr);
  for (int i = 0; i < 3; ++i) {
    auto run = run_node(*thrower, R"({"main":1})");
    EXPECT_EQ(run.status, WEFT_ERR_INTERNAL);
    auto err = Json::parse(run.error);
    ASSERT_TRUE(err.ok()) << run.error;
    EXPECT_TRUE((*err)["code"].is_string());
    EXPECT_NE((*err)["message"].as_string().find("fixture_throw: boom"), std::string::npos) << run.error;
    EXPECT_TRUE(run.output.empty());
  }
  // The process and the other plugins are unaffected.
  auto echo = reg.find_node_type("fixture.echo", 1);
  ASSERT_NE(echo, nullptr);
  auto run = run_node(*echo, R"({"main":"still here"})");
  EXPECT_EQ(run.status, WEFT_OK);
  EXPECT_EQ(run.output, R"({"main":"still here"})");
}

TEST(Loading, DuplicateNodeTypeAcrossPluginsBreaksTheLaterPlugin) {
  TempDir first, second;
  install_fixture(first.path(), "good", "fixture_good");
  install_fixture(second.path(), "dup", "fixture_dup");
  Registry reg(options_for({first.str(), second.str()}));
  EXPECT_EQ(reg.load(), 1u);
  expect_state(reg, "fixture_good", PluginState::Loaded);
  expect_state(reg, "fixture_dup", PluginState::Broken, {"fixture.echo v1", "fixture_good", "fixture_dup"});
  // The first registration stands; none of the later plugin's types are visible.
  EXPECT_EQ(reg.find_node_type("fixture.echo", 1)->plugin_name, "fixture_good");
  EXPECT_EQ(reg.find_node_type("fixture.dup_only"), nullptr);
}

TEST(Loading, DuplicateNodeTypeInOneDirectoryFollowsFileNameOrder) {
  // fixture_dup.plugin.json sorts before fixture_good.plugin.json: the dup plugin wins the name.
  TempDir dir;
  install_fixture(dir.path(), "good", "fixture_good");
  install_fixture(dir.path(), "dup", "fixture_dup");
  Registry reg(options_for({dir.str()}));
  EXPECT_EQ(reg.load(), 1u);
  expect_state(reg, "fixture_dup", PluginState::Loaded);
  expect_state(reg, "fixture_good", PluginState::Broken, {"fixture.echo v1", "fixture_good", "fixture_dup"});
  EXPECT_EQ(reg.find_storage("fixturemem"), nullptr);  // fixture_good's backend went with it
}

TEST(Loading, Sha256MismatchIsRejectedBeforeLoading) {
  TempDir dir;
  install_fixture(dir.path(), "good", "fixture_good");
  auto bad = install_fixture(dir.path(), "dup", "fixture_dup",
                             [](Json& m) { m.set("sha256", std::string(64, 'a')); });
  Registry reg(options_for({dir.str()}));
  EXPECT_EQ(reg.load(), 1u);
  expect_state(reg, "fixture_dup", PluginState::Rejected,
               {"sha256 mismatch", bad.library.string(), std::string(64, 'a'), sha256_hex(bad.library)});
  EXPECT_FALSE(is_mapped(bad.library));
  expect_state(reg, "fixture_good", PluginState::Loaded);
}

TEST(Loading, FileModifiedAfterTheManifestWasWrittenIsRejected) {
  TempDir dir;
  auto good = install_fixture(dir.path(), "good", "fixture_good");
  {
    std::ofstream append(good.library, std::ios::binary | std::ios::app);
    append << "tampered";
  }
  Registry reg(options_for({dir.str()}));
  EXPECT_EQ(reg.load(), 0u);
  expect_state(reg, "fixture_good", PluginState::Rejected, {"sha256 mismatch"});
}

TEST(Loading, Sha256VerificationCanBeTurnedOff) {
  TempDir dir;
  install_fixture(dir.path(), "good", "fixture_good", [](Json& m) { m.erase("sha256"); });
  RegistryOptions opts = options_for({dir.str()});
  opts.verify_sha256 = false;
  Registry reg(opts);
  EXPECT_EQ(reg.load(), 1u);
}

TEST(Loading, ManifestPointingOutsideItsDirectoryIsRejected) {
  TempDir root;
  fs::create_directories(root / "plugins");
  fs::create_directories(root / "elsewhere");
  auto outside = install_fixture(root / "elsewhere", "good", "fixture_good");
  for (const std::string& file :
       {std::string("../elsewhere/weft-fixture_good.so"), outside.library.string()}) {
    install_fixture(root / "plugins", "good", "fixture_good", [&](Json& m) { m.set("file", file); });
    fs::remove(root / "plugins" / "weft-fixture_good.so");
    Registry reg(options_for({(root / "plugins").string()}));
    EXPECT_EQ(reg.load(), 0u);
    expect_state(reg, "fixture_good", PluginState::Rejected, {"not a path", file});
    EXPECT_FALSE(is_mapped(outside.library));
  }
}

TEST(Loading, SymlinkLeadingOutOfThePluginDirectoryIsRejected) {
  TempDir root;
  fs::create_directories(root / "plugins");
  fs::create_directories(root / "elsewhere");
  auto outside = install_fixture(root / "elsewhere", "good", "fixture_good");
  fs::copy_file(outside.manifest, root / "plugins" / "fixture_good.plugin.json");
  fs::create_symlink(outside.library, root / "plugins" / "weft-fixture_good.so");
  Registry reg(options_for({(root / "plugins").string()}));
  EXPECT_EQ(reg.load(), 0u);
  expect_state(reg, "fixture_good", PluginState::Rejected, {"outside the plugin directory"});
  EXPECT_FALSE(is_mapped(outside.library));
}

TEST(Loading, MissingLibraryFileIsRejected) {
  TempDir dir;
  auto good = install_fixture(dir.path(), "good", "fixture_good");
  fs::remove(good.library);
  Registry reg(options_for({dir.str()}));
  EXPECT_EQ(reg.load(), 0u);
  expect_state(reg, "fixture_good", PluginState::Rejected, {good.library.string(), "does not exist"});
}

TEST(Loading, NonElfFileIsBrokenWithTheLoadersMessage) {
  TempDir dir;
  install_fixture(dir.path(), "good", "fixture_good");
  fs::path garbage = dir / "weft-garbage.so";
  write_file(garbage, std::string(4096, 'x') + "this is not a shared object");
  Json m = fixture_manifest("none", "garbage");
  m.set("sha256", sha256_hex(garbage));
  write_file(dir / "garbage.plugin.json", m.dump());
  Registry reg(options_for({dir.str()}));
  EXPECT_EQ(reg.load(), 1u);
  // glibc says "invalid ELF header"; the path and the loader's own words must both be there.
  expect_state(reg, "garbage", PluginState::Broken, {"cannot load", garbage.string(), "ELF"});
  expect_state(reg, "fixture_good", PluginState::Loaded);
}

TEST(Loading, EmptyFileIsBroken) {
  TempDir dir;
  fs::path empty = dir / "weft-empty.so";
  write_file(empty, "");
  Json m = fixture_manifest("none", "empty");
  m.set("sha256", sha256_hex(empty));
  write_file(dir / "empty.plugin.json", m.dump());
  Registry reg(options_for({dir.str()}));
  EXPECT_EQ(reg.load(), 0u);
  expect_state(reg, "empty", PluginState::Broken, {"cannot load", empty.string()});
}

TEST(Loading, UndefinedSymbolIsBrokenWithTheLoadersMessage) {
  TempDir dir;
  auto undef = install_fixture(dir.path(), "undef", "fixture_undef");
  Registry reg(options_for({dir.str()}));
  EXPECT_EQ(reg.load(), 0u);
  expect_state(reg, "fixture_undef", PluginState::Broken,
               {"cannot load", "undefined symbol", "weft_fixture_symbol_that_does_not_exist"});
  EXPECT_FALSE(is_mapped(undef.library));
}

TEST(Loading, MalformedManifestsAreRejectedAndListedUnderTheirFileName) {
  TempDir dir;
  install_fixture(dir.path(), "good", "fixture_good");
  write_file(dir / "broken.plugin.json", "{\"name\": \"broken\", ");
  write_file(dir / "shouty.plugin.json",
             R"({"name":"SHOUTY","version":"1","abi":{"min":"1.0","max":"1.0"},"file":"x.so","sha256":")" +
                 std::string(64, '0') + "\"}");
  write_file(dir / "notes.txt", "not a manifest, ignored");
  fs::create_directories(dir / "nested.plugin.json");  // a directory, ignored
  Registry reg(options_for({dir.str()}));
  EXPECT_EQ(reg.load(), 1u);
  auto all = reg.plugins();
  EXPECT_EQ(all.size(), 3u);
  expect_state(reg, "broken", PluginState::Rejected, {"not valid JSON"});
  expect_state(reg, "shouty", PluginState::Rejected, {"plugin name \"SHOUTY\" is invalid"});
  expect_state(reg, "fixture_good", PluginState::Loaded);
}

TEST(Loading, DuplicatePluginNameRejectsTheSecondManifest) {
  TempDir first, second;
  install_fixture(first.path(), "good", "fixture_good");
  install_fixture(second.path(), "good", "fixture_good");
  Registry reg(options_for({first.str(), second.str()}));
  EXPECT_EQ(reg.load(), 1u);
  auto copies = plugins_named(reg.plugins(), "fixture_good");
  ASSERT_EQ(copies.size(), 2u);
  EXPECT_EQ(copies[0].state, PluginState::Loaded);
  EXPECT_EQ(copies[0].manifest_path, (first / "fixture_good.plugin.json").string());
  EXPECT_EQ(copies[1].state, PluginState::Rejected);
  EXPECT_NE(copies[1].reason.find("duplicate plugin name \"fixture_good\""), std::string::npos)
      << copies[1].reason;
  EXPECT_NE(copies[1].reason.find(copies[0].manifest_path), std::string::npos) << copies[1].reason;
}

TEST(Loading, TheSameLibraryUnderTwoNamesIsLoadedOnce) {
  TempDir dir;
  install_fixture(dir.path(), "good", "fixture_good");
  install_fixture(
      dir.path(), "good", "fixture_good", [](Json& m) { m.set("name", "fixture_good_again"); },
      "z.plugin.json");
  Registry reg(options_for({dir.str()}));
  EXPECT_EQ(reg.load(), 1u);
  expect_state(reg, "fixture_good_again", PluginState::Rejected, {"already loaded as plugin fixture_good"});
}

struct Misbehaviour {
  std::string mode;
  PluginState state;
  std::vector<std::string> fragments;
  friend void PrintTo(const Misbehaviour& m, std::ostream* os) { *os << m.mode; }
};
class Misbehaving : public ::testing::TestWithParam<Misbehaviour> {};

TEST_P(Misbehaving, RegistrationIsRefusedAndThePluginKeptOut) {
  TempDir dir;
  install_fixture(dir.path(), "good", "fixture_good");
  install_fixture(dir.path(), "misbehave", "fixture_misbehave");
  RegistryOptions opts = options_for({dir.str()});
  Json cfg = Json::object();
  cfg.set("mode", GetParam().mode);
  opts.plugin_config["fixture_misbehave"] = cfg;
  Registry reg(opts);
  reg.load();
  expect_state(reg, "fixture_misbehave", GetParam().state, GetParam().fragments);
  EXPECT_EQ(reg.find_node_type("fixture.fine"), nullptr)
      << "registrations of a refused plugin must be discarded";
  EXPECT_EQ(reg.find_storage("misbehave"), nullptr);
  expect_state(reg, "fixture_good", PluginState::Loaded);
}

INSTANTIATE_TEST_SUITE_P(
    Modes, Misbehaving,
    ::testing::Values(
        Misbehaviour{"bad_name", PluginState::Broken, {"node type name \"Fixture Bad!\" is invalid"}},
        Misbehaviour{"version_zero", PluginState::Broken, {"fixture.zero has version 0"}},
        Misbehaviour{"null_execute", PluginState::Broken, {"fixture.noexec v1 has no execute function"}},
        Misbehaviour{"null_descriptor", PluginState::Broken, {"NULL descriptor"}},
        Misbehaviour{"twice",
                     PluginState::Broken,
                     {"fixture.fine v1 is registered twice by plugin fixture_misbehave"}},
        Misbehaviour{
            "schema_not_json", PluginState::Broken, {"fixture.schema v1", "schema_json is not valid JSON"}},
        Misbehaviour{
            "schema_not_object", PluginState::Broken, {"fixture.schema v1", "must be a JSON object"}},
        Misbehaviour{
            "schema_bad_inputs", PluginState::Broken, {"fixture.schema v1", "inputs must be an array"}},
        Misbehaviour{
            "schema_bad_handle_type", PluginState::Broken, {"outputs[0].type \"blob\" is not a handle type"}},
        Misbehaviour{
            "schema_bad_field_type", PluginState::Broken, {"fields[0].type \"color\" is not a field type"}},
        Misbehaviour{"storage_small",
                     PluginState::Broken,
                     {"storage backend registration struct too small: 8 < " +
                      std::to_string(sizeof(weft_storage_backend)) + " bytes"}},
        Misbehaviour{"storage_null_fn", PluginState::Broken, {"storage backend misbehave lacks"}},
        Misbehaviour{"storage_bad_scheme", PluginState::Broken, {"scheme \"Bad Scheme\" is invalid"}},
        Misbehaviour{"ignore_refusal", PluginState::Broken, {"fixture.noexec v1 has no execute function"}}),
    [](const auto& info) { return info.param.mode; });

TEST(Loading, WellBehavedInitSeesTheDocumentedHostTables) {
  // Without a mode, fixture_misbehave checks the init arguments (per-plugin host table with the
  // negotiated version, register_credential_type offered, the reserved LLM slot NULL) and fails
  // init if anything is off.
  TempDir dir;
  install_fixture(dir.path(), "misbehave", "fixture_misbehave");
  Registry reg(options_for({dir.str()}));
  EXPECT_EQ(reg.load(), 1u);
  expect_state(reg, "fixture_misbehave", PluginState::Loaded);
  EXPECT_NE(reg.find_node_type("fixture.fine"), nullptr);
  EXPECT_NE(reg.find_storage("misbehave"), nullptr);
}

TEST(Loading, RegistrationAfterInitIsRefusedWithoutCrashing) {
  TempDir dir;
  install_fixture(dir.path(), "misbehave", "fixture_misbehave");
  RegistryOptions opts = options_for({dir.str()});
  Json cfg = Json::object();
  cfg.set("mode", "late_register");
  opts.plugin_config["fixture_misbehave"] = cfg;
  Registry reg(opts);
  ASSERT_EQ(reg.load(), 1u);
  auto late = reg.find_node_type("fixture.late");
  ASSERT_NE(late, nullptr);
  auto run = run_node(*late, "{}");
  ASSERT_EQ(run.status, WEFT_OK);
  auto out = Json::parse(run.output);
  ASSERT_TRUE(out.ok()) << run.output;
  EXPECT_EQ((*out)["main"]["node_type_status"].as_int(), WEFT_ERR_UNSUPPORTED);
  EXPECT_EQ((*out)["main"]["storage_status"].as_int(), WEFT_ERR_UNSUPPORTED);
  EXPECT_EQ(reg.find_node_type("fixture.too_late"), nullptr);
  EXPECT_EQ(reg.find_storage("toolate"), nullptr);
  expect_state(reg, "fixture_misbehave", PluginState::Loaded);
}

TEST(Loading, EveryScenarioTogetherInOneDirectory) {
  // All the bad plugins side by side with the good one: each gets its own verdict, the good one
  // loads, nothing crashes.
  TempDir dir;
  install_fixture(dir.path(), "good", "fixture_good");
  install_fixture(dir.path(), "future", "fixture_future");
  install_fixture(dir.path(), "old", "fixture_old", [](Json& m) { m.set("abi", abi_range("1.0", "1.0")); });
  install_fixture(dir.path(), "mute", "fixture_mute");
  install_fixture(dir.path(), "noinit", "fixture_noinit");
  install_fixture(dir.path(), "initfail", "fixture_initfail");
  install_fixture(dir.path(), "small", "fixture_small");
  install_fixture(dir.path(), "throw", "fixture_throw");
  install_fixture(dir.path(), "undef", "fixture_undef");
  install_fixture(dir.path(), "misbehave", "fixture_misbehave");
  write_file(dir / "junk.plugin.json", "]");
  Registry reg(options_for({dir.str()}));
  EXPECT_EQ(reg.load(), 3u);  // good, throw, misbehave
  std::map<std::string, PluginState> want = {
      {"fixture_good", PluginState::Loaded},
      {"fixture_throw", PluginState::Loaded},
      {"fixture_misbehave", PluginState::Loaded},
      {"fixture_future", PluginState::Incompatible},
      {"fixture_old", PluginState::Incompatible},
      {"fixture_mute", PluginState::Incompatible},
      {"fixture_noinit", PluginState::Broken},
      {"fixture_initfail", PluginState::Broken},
      {"fixture_small", PluginState::Broken},
      {"fixture_undef", PluginState::Broken},
      {"junk", PluginState::Rejected},
  };
  auto all = reg.plugins();
  EXPECT_EQ(all.size(), want.size());
  for (const auto& p : all) {
    ASSERT_TRUE(want.count(p.name)) << p.name;
    EXPECT_EQ(to_string(p.state), std::string(to_string(want[p.name]))) << p.name << ": " << p.reason;
    if (p.state != PluginState::Loaded) {
      EXPECT_FALSE(p.reason.empty()) << p.name;
    }
  }
  EXPECT_EQ(run_node(*reg.find_node_type("fixture.echo"), R"({"main":1})").status, WEFT_OK);
}

TEST(Loading, MissingDirectoryIsAScanErrorNotACrash) {
  TempDir dir;
  install_fixture(dir.path(), "good", "fixture_good");
  Registry reg(options_for({(dir / "does-not-exist").string(), dir.str()}));
  EXPECT_EQ(reg.load(), 1u);
  auto errors = reg.scan_errors();
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("does-not-exist"), std::string::npos) << errors[0];
}

TEST(Loading, DirectoriesAreNotScannedRecursively) {
  TempDir dir;
  fs::create_directories(dir / "sub");
  install_fixture(dir / "sub", "good", "fixture_good");
  Registry reg(options_for({dir.str()}));
  EXPECT_EQ(reg.load(), 0u);
  EXPECT_TRUE(reg.plugins().empty());
}

TEST(Loading, LoadRunsOnce) {
  TempDir dir;
  install_fixture(dir.path(), "good", "fixture_good");
  Registry reg(options_for({dir.str()}));
  EXPECT_EQ(reg.load(), 1u);
  EXPECT_EQ(reg.load(), 0u);
  EXPECT_EQ(reg.plugins().size(), 1u);
}

}  // namespace
}  // namespace weft::registry
