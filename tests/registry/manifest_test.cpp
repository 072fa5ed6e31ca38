// The rules on manifests and node schemas, checked directly (the loading tests check that the
// registry applies them to real plugins).
#include <gtest/gtest.h>

#include "registry/manifest.hpp"
#include "registry/node_schema.hpp"
#include "registry/registry.hpp"

namespace weft::registry {
namespace {

constexpr const char* kSha = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

std::string manifest_text(const std::string& name = "demo", const std::string& file = "weft-demo.so",
                          const std::string& abi = R"({"min": "1.0", "max": "1.2"})",
                          const std::string& sha = std::string("\"") + kSha + "\"") {
  return R"({"name": ")" + name + R"(", "version": "1.2.3", "description": "d", "abi": )" + abi +
         R"(, "file": ")" + file + R"(", "sha256": )" + sha + "}";
}

TEST(AbiVersion, ParsesMajorMinorStrictly) {
  EXPECT_EQ(parse_abi_version("1.0"), WEFT_ABI_MAKE_VERSION(1, 0));
  EXPECT_EQ(parse_abi_version("2.13"), WEFT_ABI_MAKE_VERSION(2, 13));
  EXPECT_EQ(parse_abi_version("0.9"), WEFT_ABI_MAKE_VERSION(0, 9));
  EXPECT_EQ(parse_abi_version("65535.65535"), WEFT_ABI_MAKE_VERSION(65535, 65535));
  for (const char* bad :
       {"", "1", "1.", ".1", "1.0.0", "a.b", "-1.0", "1.-0", " 1.0", "1.0 ", "65536.0", "+1.0"})
    EXPECT_FALSE(parse_abi_version(bad).has_value()) << bad;
  EXPECT_EQ(format_abi_version(WEFT_ABI_MAKE_VERSION(2, 1)), "2.1");
  EXPECT_EQ(format_abi_version(WEFT_ABI_VERSION), "1.1");
}

TEST(Manifest, ParsesAWellFormedManifest) {
  auto m = parse_manifest(manifest_text(), true);
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(m->name, "demo");
  EXPECT_EQ(m->version, "1.2.3");
  EXPECT_EQ(m->description, "d");
  EXPECT_EQ(m->abi_min, WEFT_ABI_MAKE_VERSION(1, 0));
  EXPECT_EQ(m->abi_max, WEFT_ABI_MAKE_VERSION(1, 2));
  EXPECT_EQ(m->abi_min_text, "1.0");
  EXPECT_EQ(m->file, "weft-demo.so");
  EXPECT_EQ(m->sha256, kSha);
}

TEST(Manifest, LowercasesTheHash) {
  std::string upper = kSha;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  auto m = parse_manifest(
      manifest_text("demo", "weft-demo.so", R"({"min":"1.0","max":"1.0"})", "\"" + upper + "\""), true);
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(m->sha256, kSha);
}

struct BadManifest {
  std::string text;
  std::string expected_fragment;
  friend void PrintTo(const BadManifest& b, std::ostream* os) { *os << b.text; }
};

class ManifestRejects : public ::testing::TestWithParam<BadManifest> {};

TEST_P(ManifestRejects, WithASpecificMessage) {
  auto m = parse_manifest(GetParam().text, true);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().code, "manifest_invalid");
  EXPECT_NE(m.error().message.find(GetParam().expected_fragment), std::string::npos) << m.error().message;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ManifestRejects,
    ::testing::Values(
        BadManifest{"{not json", "not valid JSON"}, BadManifest{"[1]", "must be a JSON object"},
        BadManifest{R"({"name":"a","name":"b"})", "not valid JSON"},
        BadManifest{R"({"version":"1","abi":{"min":"1.0","max":"1.0"},"file":"x.so"})",
                    "\"name\" is missing"},
        BadManifest{manifest_text("Demo"), "plugin name \"Demo\" is invalid"},
        BadManifest{manifest_text("de mo"), "is invalid"}, BadManifest{manifest_text("de/mo"), "is invalid"},
        BadManifest{manifest_text(""), "\"name\" is empty"},
        BadManifest{manifest_text("demo", "../x.so"), "not a path"},
        BadManifest{manifest_text("demo", "sub/x.so"), "not a path"},
        BadManifest{manifest_text("demo", "/usr/lib/x.so"), "not a path"},
        BadManifest{manifest_text("demo", ".."), "not a path"},
        BadManifest{manifest_text("demo", ""), "\"file\" is empty"},
        BadManifest{manifest_text("demo", "x.so", R"("1.0")"), "\"abi\" must be an object"},
        BadManifest{manifest_text("demo", "x.so", R"({"min":"1"})"), "abi.min"},
        BadManifest{manifest_text("demo", "x.so", R"({"min":"1.0"})"), "abi.max"},
        BadManifest{manifest_text("demo", "x.so", R"({"min":1.0,"max":"1.0"})"), "abi.min"},
        BadManifest{manifest_text("demo", "x.so", R"({"min":"2.0","max":"1.0"})"), "ABI range is empty"},
        BadManifest{manifest_text("demo", "x.so", R"({"min":"1.0","max":"1.0"})", "\"abc\""),
                    "64 hex digits"},
        BadManifest{manifest_text("demo", "x.so", R"({"min":"1.0","max":"1.0"})", "42"), "64 hex digits"},
        BadManifest{R"({"name":"demo","version":"1","abi":{"min":"1.0","max":"1.0"},"file":"x.so"})",
                    "\"sha256\" is missing"},
        BadManifest{R"({"name":"demo","version":7,"abi":{"min":"1.0","max":"1.0"},"file":"x.so"})",
                    "\"version\" must be a string"}));

TEST(Manifest, Sha256IsOptionalOnlyWithoutVerification) {
  std::string text = R"({"name":"demo","version":"1","abi":{"min":"1.0","max":"1.0"},"file":"x.so"})";
  EXPECT_FALSE(parse_manifest(text, true).ok());
  auto m = parse_manifest(text, false);
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_TRUE(m->sha256.empty());
}

TEST(Names, FollowTheCharset) {
  EXPECT_TRUE(is_valid_name("core.set"));
  EXPECT_TRUE(is_valid_name("storage-sqlite_2"));
  EXPECT_FALSE(is_valid_name(""));
  EXPECT_FALSE(is_valid_name("Core.set"));
  EXPECT_FALSE(is_valid_name("core set"));
  EXPECT_FALSE(is_valid_name(std::string(129, 'a')));
  EXPECT_TRUE(is_valid_name(std::string(128, 'a')));
}

Json parse(std::string_view text) {
  auto r = Json::parse(text);
  EXPECT_TRUE(r.ok()) << text;
  return r.ok() ? *r : Json();
}

TEST(NodeSchema, AcceptsTheDocumentedShapeAndNormalises) {
  Json full = parse(R"({
    "display_name": "Set fields", "description": "...", "category": "data",
    "fields": [
      {"name": "fields", "type": "json", "required": true, "default": {}, "description": "..."},
      {"name": "mode", "type": "select", "options": ["merge", "replace"], "default": "merge"},
      {"name": "seconds", "type": "number", "min": 0, "max": 86400},
      {"name": "message", "type": "string", "max_length": 10000},
      {"name": "auth", "type": "credential", "credential_types": ["slack"]}
    ],
    "inputs":  [{"name": "main", "type": "any", "multiple": false}],
    "outputs": [{"name": "main", "type": "json"}],
    "dynamic_outputs": {"param": "rules", "key": "output"},
    "activation": {"any_input_when": {"mode": "first"}},
    "credential_types": [],
    "future_member": 1
  })");
  auto ok = validate_node_schema(full);
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ(*ok, full);  // nothing to add, unknown members kept

  auto minimal = validate_node_schema(parse(R"({"display_name": "X"})"));
  ASSERT_TRUE(minimal.ok()) << minimal.error().message;
  EXPECT_TRUE((*minimal)["fields"].is_array());
  EXPECT_TRUE((*minimal)["inputs"].is_array());
  EXPECT_TRUE((*minimal)["outputs"].is_array());
}

struct BadSchema {
  std::string text;
  std::string expected_fragment;
  friend void PrintTo(const BadSchema& b, std::ostream* os) { *os << b.text; }
};
class NodeSchemaRejects : public ::testing::TestWithParam<BadSchema> {};

TEST_P(NodeSchemaRejects, NamingTheMember) {
  auto r = validate_node_schema(parse(GetParam().text));
  ASSERT_FALSE(r.ok()) << GetParam().text;
  EXPECT_EQ(r.error().code, "invalid_schema");
  EXPECT_NE(r.error().message.find(GetParam().expected_fragment), std::string::npos) << r.error().message;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, NodeSchemaRejects,
    ::testing::Values(
        BadSchema{"[]", "must be a JSON object"}, BadSchema{R"({"display_name": 3})", "display_name"},
        BadSchema{R"({"fields": {}})", "fields must be an array"},
        BadSchema{R"({"fields": [1]})", "fields[0] must be an object"},
        BadSchema{R"({"fields": [{"type": "string"}]})", "fields[0].name"},
        BadSchema{R"({"fields": [{"name": "a"}]})", "fields[0].type must be a string"},
        BadSchema{R"({"fields": [{"name": "a", "type": "color"}]})", "\"color\" is not a field type"},
        BadSchema{R"({"fields": [{"name": "a", "type": "select"}]})", "options"},
        BadSchema{R"({"fields": [{"name": "a", "type": "string"}, {"name": "a", "type": "json"}]})",
                  "declared twice"},
        BadSchema{R"({"fields": [{"name": "a", "type": "string", "required": "yes"}]})", "required"},
        BadSchema{R"({"inputs": {"main": "any"}})", "inputs must be an array"},
        BadSchema{R"({"inputs": [{"name": "main"}]})", "inputs[0].type"},
        BadSchema{R"({"outputs": [{"name": "main", "type": "blob"}]})", "\"blob\" is not a handle type"},
        BadSchema{R"({"outputs": [{"name": "", "type": "json"}]})", "outputs[0].name"},
        BadSchema{R"({"inputs": [{"name": "main", "type": "any", "multiple": 1}]})", "multiple"},
        BadSchema{R"({"dynamic_outputs": {"param": "rules"}})", "dynamic_outputs"},
        BadSchema{R"({"activation": []})", "activation"},
        BadSchema{R"({"credential_types": [1]})", "credential_types"}));

}  // namespace
}  // namespace weft::registry
