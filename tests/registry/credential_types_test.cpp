// Credential types: the validation rules (registry/credential_type.hpp), in-process registration,
// and registration by a real plugin (tests/fixtures/plugins/fixture_credtypes.c) through the real
// loader and the registrar's register_credential_type slot.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "support.hpp"

namespace weft::registry {
namespace {

using namespace weft::registry::testing;

Json parse(std::string_view text) {
  auto r = Json::parse(text);
  if (!r) throw std::runtime_error("bad test JSON: " + r.error().message + "\n" + std::string(text));
  return *r;
}

// A valid definition to start from; cases below edit one thing.
Json token_type() {
  return parse(R"({"name": "slack_token", "display_name": "Slack token", "description": "Bot token",
    "fields": [{"name": "token", "display_name": "Token", "type": "string", "secret": true, "required": true}],
    "apply": {"kind": "bearer", "field": "token"}})");
}

// ---- validation -------------------------------------------------------------------------------

TEST(CredentialTypeValidation, FillsDefaultsAndKeepsAFixedShape) {
  auto r = validate_credential_type(parse(R"({
    "fields": [
      {"type": "select", "name": "region", "options": ["eu", {"value": "us", "label": "US"}], "default": "eu"},
      {"name": "token", "type": "string", "secret": true, "placeholder": "tok_...", "pattern": "^tok_"}
    ],
    "name": "svc",
    "test_request": {"method": "GET", "url": "https://example.com/me"}
  })"));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->dump(),
            R"({"name":"svc","display_name":"svc","description":"","fields":[)"
            R"({"name":"region","display_name":"region","type":"select","secret":false,"required":false,)"
            R"("description":"","options":["eu",{"value":"us","label":"US"}],"default":"eu"},)"
            R"({"name":"token","display_name":"token","type":"string","secret":true,"required":false,)"
            R"("description":"","placeholder":"tok_...","pattern":"^tok_"}],"apply":{"kind":"none"},)"
            R"("test_request":{"method":"GET","url":"https://example.com/me"}})");
}

TEST(CredentialTypeValidation, AcceptsEveryApplyKind) {
  const char* cases[] = {
      R"({"name": "a", "fields": [{"name": "t", "type": "string", "secret": true}], "apply": {"kind": "bearer", "field": "t"}})",
      R"({"name": "b", "fields": [{"name": "u", "type": "string", "required": true},
          {"name": "p", "type": "string", "secret": true}],
          "apply": {"kind": "basic", "username_field": "u", "password_field": "p"}})",
      R"({"name": "c", "fields": [{"name": "k", "type": "string", "secret": true}],
          "apply": {"kind": "header", "name": "X-API-Key", "field": "k", "prefix": "Token "}})",
      R"({"name": "d", "fields": [{"name": "k", "type": "string", "secret": true}],
          "apply": {"kind": "query", "name": "api_key", "field": "k"}})",
      R"({"name": "e", "fields": [{"name": "url", "type": "url", "secret": true}], "apply": {"kind": "url", "field": "url"}})",
      R"({"name": "f", "fields": [{"name": "n", "type": "number", "default": 3}, {"name": "on", "type": "boolean",
          "default": true}, {"name": "home", "type": "url", "default": "https://example.com"}], "apply": {"kind": "none"}})",
  };
  for (const char* c : cases) {
    auto r = validate_credential_type(parse(c));
    EXPECT_TRUE(r.ok()) << c << "\n" << (r.ok() ? "" : r.error().message);
  }
  auto header = validate_credential_type(parse(
      R"({"name": "g", "fields": [{"name": "k", "type": "string", "secret": true}],
          "apply": {"kind": "header", "name": "Authorization", "field": "k"}})"));
  ASSERT_TRUE(header.ok());
  EXPECT_EQ((*header)["apply"].dump(), R"({"kind":"header","name":"Authorization","field":"k","prefix":""})");
}

struct BadDefinition {
  std::string label;
  std::string json;
  std::string fragment;  // expected in the error message
};

class CredentialTypeRejects : public ::testing::TestWithParam<BadDefinition> {};

TEST_P(CredentialTypeRejects, WithAMessageNamingTheProblem) {
  const BadDefinition& c = GetParam();
  Json def = parse(c.json);
  auto r = validate_credential_type(def);
  ASSERT_FALSE(r.ok()) << c.json;
  EXPECT_EQ(r.error().code, "invalid_credential_type");
  EXPECT_NE(r.error().message.find(c.fragment), std::string::npos)
      << "message: " << r.error().message << "\nmissing: " << c.fragment;
  // The registry refuses it the same way and registers nothing.
  Registry reg(RegistryOptions{});
  Status st = reg.add_builtin_credential_type("builtin", def);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, "invalid_credential_type");
  EXPECT_EQ(reg.credential_types().size(), 0u);
}

// One field, secret, applied as bearer: the skeleton the cases vary.
std::string with_field(const std::string& field, const std::string& apply = R"({"kind": "none"})") {
  return R"({"name": "t", "fields": [)" + field + R"(], "apply": )" + apply + "}";
}
const std::string kSecretToken = R"({"name": "tok", "type": "string", "secret": true})";

INSTANTIATE_TEST_SUITE_P(
    Matrix, CredentialTypeRejects,
    ::testing::Values(
        BadDefinition{"not_object", R"(["slack"])", "must be a JSON object, not array"},
        BadDefinition{"unknown_member",
                      R"({"name": "t", "fields": [{"name": "a", "type": "string"}], "secrets": []})",
                      "unknown member \"secrets\""},
        BadDefinition{"missing_name", R"({"fields": [{"name": "a", "type": "string"}]})", "name must be"},
        BadDefinition{"bad_name", R"({"name": "Slack-Token", "fields": [{"name": "a", "type": "string"}]})",
                      "not \"Slack-Token\""},
        BadDefinition{
            "long_name",
            R"({"name": ")" + std::string(65, 'a') + R"(", "fields": [{"name": "a", "type": "string"}]})",
            "name must be 1-64 characters"},
        BadDefinition{"display_name_type",
                      R"({"name": "t", "display_name": 3, "fields": [{"name": "a", "type": "string"}]})",
                      "display_name must be a string"},
        BadDefinition{"no_fields", R"({"name": "t"})", "fields must be a non-empty array"},
        BadDefinition{"empty_fields", R"({"name": "t", "fields": []})", "fields must be a non-empty array"},
        BadDefinition{"field_not_object", with_field(R"("token")"), "fields[0] must be an object"},
        BadDefinition{"field_unknown_member",
                      with_field(R"({"name": "a", "type": "string", "secrte": true})"),
                      "unknown member \"secrte\" in fields[0]"},
        BadDefinition{"field_bad_name", with_field(R"({"name": "API Key", "type": "string"})"),
                      "fields[0].name must be 1-64 characters of [a-z0-9_]"},
        BadDefinition{"field_twice",
                      with_field(R"({"name": "a", "type": "string"}, {"name": "a", "type": "number"})"),
                      "fields[1].name \"a\" is declared twice"},
        BadDefinition{"field_no_type", with_field(R"({"name": "a"})"), "fields[0].type must be a string"},
        BadDefinition{"field_bad_type", with_field(R"({"name": "a", "type": "password"})"),
                      "type \"password\" is not a field type"},
        BadDefinition{"secret_not_bool", with_field(R"({"name": "a", "type": "string", "secret": "yes"})"),
                      "fields[0].secret must be true or false"},
        BadDefinition{"required_not_bool", with_field(R"({"name": "a", "type": "string", "required": 1})"),
                      "fields[0].required must be true or false"},
        BadDefinition{"secret_number", with_field(R"({"name": "pin", "type": "number", "secret": true})"),
                      "secret fields must be of type string or url, not number"},
        BadDefinition{"select_without_options", with_field(R"({"name": "a", "type": "select"})"),
                      "options must be a non-empty array"},
        BadDefinition{"select_empty_options", with_field(R"({"name": "a", "type": "select", "options": []})"),
                      "options must be a non-empty array"},
        BadDefinition{"options_on_string", with_field(R"({"name": "a", "type": "string", "options": ["x"]})"),
                      "options is only allowed on select fields"},
        BadDefinition{"option_bad_element", with_field(R"({"name": "a", "type": "select", "options": [1]})"),
                      "options[0] must be a string or an object"},
        BadDefinition{"option_repeated",
                      with_field(R"({"name": "a", "type": "select", "options": ["x", {"value": "x"}]})"),
                      "options[1] repeats the value \"x\""},
        BadDefinition{"default_on_secret",
                      with_field(R"({"name": "a", "type": "string", "secret": true, "default": "x"})"),
                      "default is not allowed on a secret field"},
        BadDefinition{"default_wrong_type", with_field(R"({"name": "n", "type": "number", "default": "1"})"),
                      "default does not fit a number field"},
        BadDefinition{"default_not_an_option",
                      with_field(R"({"name": "a", "type": "select", "options": ["x"], "default": "y"})"),
                      "it must be one of the options"},
        BadDefinition{"default_not_http_url",
                      with_field(R"({"name": "u", "type": "url", "default": "file:///etc/passwd"})"),
                      "default does not fit a url field"},
        BadDefinition{"description_type", with_field(R"({"name": "a", "type": "string", "description": []})"),
                      "fields[0].description must be a string"},
        BadDefinition{"apply_not_object", with_field(kSecretToken, R"("bearer")"), "apply must be an object"},
        BadDefinition{"apply_no_kind", with_field(kSecretToken, R"({"field": "tok"})"),
                      "apply.kind must be a string"},
        BadDefinition{"apply_unknown_kind", with_field(kSecretToken, R"({"kind": "oauth2"})"),
                      "apply.kind \"oauth2\" is not one of"},
        BadDefinition{"bearer_undeclared",
                      with_field(kSecretToken, R"({"kind": "bearer", "field": "token"})"),
                      "apply.field \"token\" is not a declared field"},
        BadDefinition{
            "bearer_not_secret",
            with_field(R"({"name": "tok", "type": "string"})", R"({"kind": "bearer", "field": "tok"})"),
            "apply.field \"tok\" must be a secret field"},
        BadDefinition{"bearer_no_field", with_field(kSecretToken, R"({"kind": "bearer"})"),
                      "apply.field must name"},
        BadDefinition{"bearer_extra_member",
                      with_field(kSecretToken, R"({"kind": "bearer", "field": "tok", "name": "X"})"),
                      "unknown member \"name\" in apply"},
        BadDefinition{"basic_no_username",
                      with_field(kSecretToken, R"({"kind": "basic", "password_field": "tok"})"),
                      "apply.username_field must name"},
        BadDefinition{"basic_undeclared_username",
                      with_field(kSecretToken,
                                 R"({"kind": "basic", "username_field": "user", "password_field": "tok"})"),
                      "apply.username_field \"user\" is not a declared field"},
        BadDefinition{"basic_password_not_secret",
                      with_field(R"({"name": "u", "type": "string"}, {"name": "p", "type": "string"})",
                                 R"({"kind": "basic", "username_field": "u", "password_field": "p"})"),
                      "apply.password_field \"p\" must be a secret field"},
        BadDefinition{"basic_same_field",
                      with_field(kSecretToken,
                                 R"({"kind": "basic", "username_field": "tok", "password_field": "tok"})"),
                      "name the same field"},
        BadDefinition{"header_bad_name",
                      with_field(kSecretToken, R"({"kind": "header", "name": "X Key", "field": "tok"})"),
                      "apply.name \"X Key\" is not a valid header name"},
        BadDefinition{"header_crlf_name",
                      with_field(kSecretToken, R"({"kind": "header", "name": "X\r\nHost", "field": "tok"})"),
                      "is not a valid header name"},
        BadDefinition{"header_host",
                      with_field(kSecretToken, R"({"kind": "header", "name": "Host", "field": "tok"})"),
                      "apply.name \"Host\" is a header the HTTP client controls"},
        BadDefinition{
            "header_content_length",
            with_field(kSecretToken, R"({"kind": "header", "name": "content-LENGTH", "field": "tok"})"),
            "is a header the HTTP client controls"},
        BadDefinition{
            "header_transfer_encoding",
            with_field(kSecretToken, R"({"kind": "header", "name": "Transfer-Encoding", "field": "tok"})"),
            "is a header the HTTP client controls"},
        BadDefinition{"header_empty_name",
                      with_field(kSecretToken, R"({"kind": "header", "name": "", "field": "tok"})"),
                      "apply.name must be a header name"},
        BadDefinition{
            "header_prefix_crlf",
            with_field(kSecretToken,
                       R"({"kind": "header", "name": "X-Key", "field": "tok", "prefix": "a\r\nEvil: 1"})"),
            "apply.prefix must be printable ASCII"},
        BadDefinition{
            "header_prefix_type",
            with_field(kSecretToken, R"({"kind": "header", "name": "X-Key", "field": "tok", "prefix": 1})"),
            "apply.prefix must be a string"},
        BadDefinition{"query_bad_name",
                      with_field(kSecretToken, R"({"kind": "query", "name": "api key", "field": "tok"})"),
                      "must be made of [A-Za-z0-9._~-]"},
        BadDefinition{"url_not_url_field", with_field(kSecretToken, R"({"kind": "url", "field": "tok"})"),
                      "must be a url field for kind url"},
        BadDefinition{"none_extra_member", with_field(kSecretToken, R"({"kind": "none", "field": "tok"})"),
                      "unknown member \"field\" in apply"},
        BadDefinition{
            "test_request_type",
            R"({"name": "t", "fields": [{"name": "a", "type": "string"}], "test_request": "GET /"})",
            "test_request must be an object"}),
    [](const auto& info) { return info.param.label; });

TEST(CredentialTypeValidation, RefusesTooManyFields) {
  Json def = parse(R"({"name": "t", "fields": []})");
  Json fields = Json::array();
  for (int i = 0; i < 65; ++i)
    fields.push_back(parse(R"({"name": "f)" + std::to_string(i) + R"(", "type": "string"})"));
  def.set("fields", fields);
  auto r = validate_credential_type(def);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("more than 64"), std::string::npos) << r.error().message;
}

// ---- in-process registration ------------------------------------------------------------------

TEST(CredentialTypes, BuiltinRegistrationIsFoundListedAndDescribed) {
  Registry reg(RegistryOptions{});
  ASSERT_TRUE(reg.add_builtin_credential_type("pack", token_type()).ok());
  Json basic = parse(R"({"name": "http_basic", "fields": [{"name": "username", "type": "string"},
      {"name": "password", "type": "string", "secret": true}, {"name": "otp_seed", "type": "string", "secret": true}],
      "apply": {"kind": "basic", "username_field": "username", "password_field": "password"}})");
  ASSERT_TRUE(reg.add_builtin_credential_type("pack", basic).ok());

  auto t = reg.find_credential_type("slack_token");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->name, "slack_token");
  EXPECT_EQ(t->plugin_name, "pack");
  EXPECT_EQ(t->apply().dump(), R"({"kind":"bearer","field":"token"})");
  EXPECT_EQ(t->secret_fields(), std::vector<std::string>{"token"});
  EXPECT_EQ(t->definition["fields"].at(0)["required"].as_bool(), true);
  auto b = reg.find_credential_type("http_basic");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->secret_fields(), (std::vector<std::string>{"password", "otp_seed"}));
  EXPECT_EQ(reg.find_credential_type("nope"), nullptr);

  Json list = reg.credential_types();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list.at(0)["name"].as_string(), "http_basic");  // by name
  EXPECT_EQ(list.at(0)["plugin"].as_string(), "pack");
  EXPECT_EQ(list.at(1)["name"].as_string(), "slack_token");
  EXPECT_EQ(list.at(1)["display_name"].as_string(), "Slack token");
  EXPECT_EQ(list.at(1)["fields"].at(0)["secret"].as_bool(), true);

  auto all = reg.plugins();
  auto pack = find_plugin(all, "pack");
  ASSERT_TRUE(pack.has_value());
  EXPECT_EQ(pack->credential_types, (std::vector<std::string>{"slack_token", "http_basic"}));
}

TEST(CredentialTypes, NamesAreUniqueAcrossPlugins) {
  Registry reg(RegistryOptions{});
  ASSERT_TRUE(reg.add_builtin_credential_type("one", token_type()).ok());
  Status again = reg.add_builtin_credential_type("two", token_type());
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, "duplicate_credential_type");
  EXPECT_NE(again.error().message.find("already registered by plugin one"), std::string::npos);
  Status same_plugin = reg.add_builtin_credential_type("one", token_type());
  EXPECT_EQ(same_plugin.error().code, "duplicate_credential_type");
  EXPECT_EQ(reg.find_credential_type("slack_token")->plugin_name, "one");
  EXPECT_FALSE(find_plugin(reg.plugins(), "two").has_value());  // nothing half-registered

  Status bad_plugin = reg.add_builtin_credential_type("Bad Plugin", parse(R"({"name": "x",
      "fields": [{"name": "a", "type": "string"}]})"));
  EXPECT_EQ(bad_plugin.error().code, "invalid_argument");
}

TEST(CredentialTypes, DisabledPluginsHideTheirTypes) {
  Registry reg(RegistryOptions{});
  ASSERT_TRUE(reg.add_builtin_credential_type("pack", token_type()).ok());
  ASSERT_TRUE(reg.set_enabled("pack", false).ok());
  EXPECT_EQ(reg.find_credential_type("slack_token"), nullptr);
  EXPECT_EQ(reg.credential_types().size(), 0u);
  // Still owned: another plugin cannot take the name while it is switched off.
  EXPECT_EQ(reg.add_builtin_credential_type("other", token_type()).error().code, "duplicate_credential_type");
  // Types added to a disabled plugin (as node types may be) stay hidden with it.
  Json other = token_type();
  other.set("name", "other_token");
  ASSERT_TRUE(reg.add_builtin_credential_type("pack", other).ok());
  EXPECT_EQ(reg.find_credential_type("other_token"), nullptr);
  ASSERT_TRUE(reg.set_enabled("pack", true).ok());
  EXPECT_NE(reg.find_credential_type("slack_token"), nullptr);
  EXPECT_NE(reg.find_credential_type("other_token"), nullptr);
  EXPECT_EQ(reg.credential_types().size(), 2u);
}

TEST(CredentialTypes, ConcurrentReadersSeeWholeRegistrations) {
  Registry reg(RegistryOptions{});
  constexpr int kTypes = 50;
  std::atomic<bool> done{false};
  std::atomic<int> torn{0};
  std::thread reader([&] {
    while (!done.load()) {
      Json list = reg.credential_types();
      for (const Json& t : list.as_array())
        if (t["fields"].size() != 1 || t["plugin"].as_string() != "pack") torn.fetch_add(1);
      if (auto t = reg.find_credential_type("type_0"); t && t->secret_fields().size() != 1) torn.fetch_add(1);
    }
  });
  for (int i = 0; i < kTypes; ++i) {
    Json def = token_type();
    def.set("name", "type_" + std::to_string(i));
    ASSERT_TRUE(reg.add_builtin_credential_type("pack", def).ok());
  }
  done.store(true);
  reader.join();
  EXPECT_EQ(torn.load(), 0);
  EXPECT_EQ(reg.credential_types().size(), static_cast<size_t>(kTypes));
}

// ---- registration by a plugin, through the loader -----------------------------------------------

void expect_plugin(const Registry& reg, const std::string& name, PluginState state,
                   const std::vector<std::string>& fragments = {}) {
  auto all = reg.plugins();
  auto p = find_plugin(all, name);
  ASSERT_TRUE(p.has_value()) << "plugin " << name << " not listed";
  EXPECT_EQ(std::string(to_string(p->state)), to_string(state)) << p->reason;
  for (const auto& f : fragments)
    EXPECT_NE(p->reason.find(f), std::string::npos) << "reason: " << p->reason << "\nmissing: " << f;
}

TEST(CredentialTypesFromPlugins, APluginRegistersTypesThroughTheRegistrar) {
  TempDir dir;
  install_fixture(dir.path(), "credtypes", "fixture_credtypes");
  Registry reg(options_for({dir.str()}));
  ASSERT_EQ(reg.load(), 1u);
  expect_plugin(reg, "fixture_credtypes", PluginState::Loaded);

  auto token = reg.find_credential_type("fixture_token");
  ASSERT_NE(token, nullptr);
  EXPECT_EQ(token->plugin_name, "fixture_credtypes");
  EXPECT_EQ(token->definition["display_name"].as_string(), "Fixture token");
  EXPECT_EQ(token->apply()["kind"].as_string(), "bearer");
  auto basic = reg.find_credential_type("fixture_basic");
  ASSERT_NE(basic, nullptr);
  EXPECT_EQ(basic->secret_fields(), std::vector<std::string>{"password"});
  EXPECT_EQ(basic->definition["fields"].at(0)["display_name"].as_string(), "user");  // normalised

  Json list = reg.credential_types();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list.at(0)["plugin"].as_string(), "fixture_credtypes");
  auto all = reg.plugins();
  EXPECT_EQ(find_plugin(all, "fixture_credtypes")->credential_types,
            (std::vector<std::string>{"fixture_token", "fixture_basic"}));

  // A node type naming a credential type no plugin offers is fine at registration.
  auto user = reg.find_node_type("fixture.cred_user");
  ASSERT_NE(user, nullptr);
  EXPECT_EQ(user->schema["credential_types"].dump(), R"(["fixture_token","offered_by_another_plugin"])");

  // Disabling the plugin hides its credential types with its node types.
  ASSERT_TRUE(reg.set_enabled("fixture_credtypes", false).ok());
  EXPECT_EQ(reg.find_credential_type("fixture_token"), nullptr);
  EXPECT_EQ(reg.credential_types().size(), 0u);
  ASSERT_TRUE(reg.set_enabled("fixture_credtypes", true).ok());
  EXPECT_NE(reg.find_credential_type("fixture_token"), nullptr);
}

TEST(CredentialTypesFromPlugins, RegisteringAfterInitIsRefused) {
  TempDir dir;
  install_fixture(dir.path(), "credtypes", "fixture_credtypes");
  Registry reg(options_for({dir.str()}));
  ASSERT_EQ(reg.load(), 1u);
  auto late = reg.find_node_type("fixture.late_cred");
  ASSERT_NE(late, nullptr);
  NodeRun run = run_node(*late, R"({"main": 1})");
  ASSERT_EQ(run.status, WEFT_OK) << run.error;
  EXPECT_EQ(run.output, R"({"main":{"status":)" + std::to_string(WEFT_ERR_UNSUPPORTED) + "}}");
  EXPECT_EQ(reg.find_credential_type("fixture_late"), nullptr);
  expect_plugin(reg, "fixture_credtypes", PluginState::Loaded);
}

struct BadRegistration {
  std::string mode;
  std::vector<std::string> fragments;
};

class CredentialTypesFromBadPlugins : public ::testing::TestWithParam<BadRegistration> {};

TEST_P(CredentialTypesFromBadPlugins, MarkThePluginBrokenAndRegisterNothing) {
  TempDir dir;
  install_fixture(dir.path(), "credtypes", "fixture_credtypes");
  RegistryOptions opts = options_for({dir.str()});
  Json cfg = Json::object();
  cfg.set("mode", GetParam().mode);
  opts.plugin_config["fixture_credtypes"] = cfg;
  Registry reg(std::move(opts));
  EXPECT_EQ(reg.load(), 0u);
  expect_plugin(reg, "fixture_credtypes", PluginState::Broken, GetParam().fragments);
  // In bad_apply and twice, fixture_token was registered validly first: it must be discarded
  // with the plugin, like everything else it registered.
  EXPECT_EQ(reg.find_credential_type("fixture_token"), nullptr);
  EXPECT_EQ(reg.credential_types().size(), 0u);
  EXPECT_TRUE(find_plugin(reg.plugins(), "fixture_credtypes")->credential_types.empty());
}

INSTANTIATE_TEST_SUITE_P(
    Modes, CredentialTypesFromBadPlugins,
    ::testing::Values(
        BadRegistration{"bad_apply",
                        {"credential type fixture_bad: apply.field \"missing\" is not a declared field"}},
        BadRegistration{"not_json", {"credential type registration: type_json is not valid JSON"}},
        BadRegistration{"null_json", {"credential type registration with a NULL type_json"}},
        BadRegistration{"twice",
                        {"credential type fixture_token is registered twice by plugin fixture_credtypes"}}),
    [](const auto& info) { return info.param.mode; });

TEST(CredentialTypesFromPlugins, ASecondPluginCannotTakeATypeName) {
  TempDir dir;
  install_fixture(dir.path(), "credtypes", "fixture_credtypes");
  // The same library under another plugin name (a distinct file, so a distinct instance). Its
  // manifest sorts after the first one's, so the first plugin wins the names.
  const fs::path copy = dir / "weft-fixture_credtypes_copy.so";
  fs::copy_file(fixture_library("credtypes", "fixture_credtypes"), copy);
  Json m = fixture_manifest("credtypes", "fixture_credtypes");
  m.set("name", "fixture_credtypes_copy");
  m.set("file", copy.filename().string());
  m.set("sha256", sha256_hex(copy));
  write_file(dir / "fixture_credtypes_copy.plugin.json", m.dump());

  Registry reg(options_for({dir.str()}));
  EXPECT_EQ(reg.load(), 1u);
  expect_plugin(reg, "fixture_credtypes", PluginState::Loaded);
  expect_plugin(reg, "fixture_credtypes_copy", PluginState::Broken,
                {"credential type fixture_token is already registered by plugin fixture_credtypes; plugin "
                 "fixture_credtypes_copy cannot register it again"});
  EXPECT_EQ(reg.find_credential_type("fixture_token")->plugin_name, "fixture_credtypes");
  // And an in-process registration cannot take it either.
  EXPECT_EQ(reg.add_builtin_credential_type("builtin", parse(R"({"name": "fixture_basic",
      "fields": [{"name": "a", "type": "string"}]})"))
                .error()
                .code,
            "duplicate_credential_type");
}

}  // namespace
}  // namespace weft::registry
