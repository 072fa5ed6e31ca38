// The frame codec of the job protocol (sandbox/protocol.hpp), without a sandbox.
#include <gtest/gtest.h>

#include <string>

#include "host/core/json.hpp"
#include "sandbox/pool.hpp"
#include "sandbox/protocol.hpp"

namespace weft::sandbox::protocol {
namespace {

Json parse(std::string_view text) {
  auto r = Json::parse(text);
  EXPECT_TRUE(r.ok()) << text;
  return r.ok() ? *r : Json();
}

std::string code_of(std::string_view line) {
  auto f = parse_child_frame(line, 1u << 20);
  return f.ok() ? std::string("ok") : f.error().code;
}

TEST(PoolProtocol, ParsesEveryChildFrame) {
  auto ready = parse_child_frame(R"({"t":"ready"})", 1024);
  ASSERT_TRUE(ready.ok());
  EXPECT_EQ(ready->type, ChildFrame::Type::Ready);

  auto log = parse_child_frame(R"({"t":"log","level":"warn","msg":"careful"})", 1024);
  ASSERT_TRUE(log.ok());
  EXPECT_EQ(log->type, ChildFrame::Type::Log);
  EXPECT_EQ(log->level, "warn");
  EXPECT_EQ(log->msg, "careful");
  auto odd = parse_child_frame(R"({"t":"log","level":"shout","msg":"x"})", 1024);
  ASSERT_TRUE(odd.ok());
  EXPECT_EQ(odd->level, "info");  // unknown levels become info

  auto call = parse_child_frame(R"({"t":"call","id":7,"op":"http_request","args":{"url":"https://x"}})", 1024);
  ASSERT_TRUE(call.ok());
  EXPECT_EQ(call->type, ChildFrame::Type::Call);
  EXPECT_EQ(call->id, 7);
  EXPECT_EQ(call->op, "http_request");
  EXPECT_EQ(call->args["url"].as_string(), "https://x");
  auto no_args = parse_child_frame(R"({"t":"call","id":8,"op":"x"})", 1024);
  ASSERT_TRUE(no_args.ok());
  EXPECT_TRUE(no_args->args.is_object());

  auto result = parse_child_frame(R"({"t":"result","value":[1,{"a":null}]})", 1024);
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->type, ChildFrame::Type::Result);
  EXPECT_EQ(result->value, parse(R"([1,{"a":null}])"));

  auto err = parse_child_frame(R"({"t":"error","error":{"name":"TypeError","message":"m","line":3}})", 1024);
  ASSERT_TRUE(err.ok());
  EXPECT_EQ(err->type, ChildFrame::Type::Error);
  EXPECT_EQ(err->value["line"].as_int(), 3);

  auto done = parse_child_frame(R"({"t":"done"})", 1024);
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(done->type, ChildFrame::Type::Done);
}

TEST(PoolProtocol, RejectsMalformedFrames) {
  EXPECT_EQ(code_of("not json"), "protocol_error");
  EXPECT_EQ(code_of(""), "protocol_error");
  EXPECT_EQ(code_of("[1,2]"), "protocol_error");
  EXPECT_EQ(code_of(R"({"t":"bogus"})"), "protocol_error");
  EXPECT_EQ(code_of(R"({"t":1})"), "protocol_error");
  EXPECT_EQ(code_of(R"({"x":"ready"})"), "protocol_error");
  EXPECT_EQ(code_of(R"({"t":"log"})"), "protocol_error");
  EXPECT_EQ(code_of(R"({"t":"log","msg":5})"), "protocol_error");
  EXPECT_EQ(code_of(R"({"t":"call","id":"1","op":"x"})"), "protocol_error");
  EXPECT_EQ(code_of(R"({"t":"call","id":1.5,"op":"x"})"), "protocol_error");
  EXPECT_EQ(code_of(R"({"t":"call","id":1,"op":""})"), "protocol_error");
  EXPECT_EQ(code_of(R"({"t":"call","id":1})"), "protocol_error");
  EXPECT_EQ(code_of(R"({"t":"error","error":"x"})"), "protocol_error");
  EXPECT_EQ(code_of(R"({"t":"ready","t":"log"})"), "protocol_error");  // duplicate keys
  EXPECT_EQ(code_of("{\"t\":\"log\",\"msg\":\"\xff\"}"), "protocol_error");  // invalid UTF-8
  // The code's own output nested too deeply is a limit, not a protocol breach.
  std::string deep = R"({"t":"result","value":)" + std::string(300, '[') + std::string(300, ']') + "}";
  EXPECT_EQ(code_of(deep), "output_limit");
}

TEST(PoolProtocol, EncodesHostFrames) {
  Job j;
  j.language = Language::Python;
  j.mode = "run";
  j.code = "return 1\n";
  j.input = parse(R"([{"x":1}])");
  j.params = parse(R"({"k":"v"})");
  j.context = parse(R"({"node_id":"n"})");
  j.timeout_ms = 1234;
  std::string line = encode_job(j);
  ASSERT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1);  // one line, whatever the code holds
  Json f = parse(std::string_view(line).substr(0, line.size() - 1));
  EXPECT_EQ(f["t"].as_string(), "job");
  EXPECT_EQ(f["mode"].as_string(), "run");
  EXPECT_EQ(f["custom_node"], Json(false));
  EXPECT_EQ(f["code"].as_string(), "return 1\n");
  EXPECT_EQ(f["input"], j.input);
  EXPECT_EQ(f["params"], j.params);
  EXPECT_EQ(f["context"], j.context);
  EXPECT_EQ(f["limits"]["timeout_ms"].as_int(), 1234);
  j.mode = "describe";
  j.params = Json();
  Json d = parse(encode_job(j));
  EXPECT_EQ(d["custom_node"], Json(true));
  EXPECT_TRUE(d["params"].is_object());

  EXPECT_EQ(parse(encode_reply_ok(3, parse(R"({"a":1})"))), parse(R"({"t":"reply","id":3,"ok":true,"value":{"a":1}})"));
  EXPECT_EQ(parse(encode_reply_error(4, "not_found", "no \"such\" thing")),
            parse(R"({"t":"reply","id":4,"ok":false,"error":{"code":"not_found","message":"no \"such\" thing"}})"));
  EXPECT_EQ(parse(kAck), parse(R"({"t":"ack"})"));
}

TEST(PoolProtocol, MapsChildErrors) {
  Json e = job_error_from_child(parse(R"({"name":"TypeError","message":"x is undefined","line":3,"column":7,
                                          "stack":"TypeError: x\n    at code.js:3:7"})"));
  EXPECT_EQ(e["code"].as_string(), "code_error");
  EXPECT_EQ(e["message"].as_string(), "TypeError: x is undefined (line 3, column 7)");
  EXPECT_EQ(e["details"]["line"].as_int(), 3);
  EXPECT_EQ(e["details"]["column"].as_int(), 7);
  EXPECT_EQ(e["details"]["name"].as_string(), "TypeError");
  EXPECT_NE(e["details"]["stack"].as_string().find("code.js:3:7"), std::string::npos);

  Json no_line = job_error_from_child(parse(R"({"name":"Error","message":"m","line":-1,"column":"x"})"));
  EXPECT_EQ(no_line["message"].as_string(), "Error: m");
  EXPECT_FALSE(no_line["details"].contains("line"));

  EXPECT_EQ(job_error_from_child(parse(R"({"name":"MemoryError","message":"out of memory"})"))["code"].as_string(),
            "memory_limit");
  EXPECT_EQ(job_error_from_child(parse(R"({"name":"RangeError","message":"Array buffer allocation failed"})"))["code"]
                .as_string(),
            "memory_limit");
  EXPECT_EQ(job_error_from_child(parse(R"({"name":"RangeError","message":"Invalid array length"})"))["code"].as_string(),
            "code_error");
}

TEST(PoolProtocol, RecognisesOutOfMemoryText) {
  EXPECT_TRUE(text_says_out_of_memory(
      "<--- Last few GCs --->\nFATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory\n"));
  EXPECT_TRUE(text_says_out_of_memory("Fatal Python error: ...\nMemoryError\n"));
  EXPECT_FALSE(text_says_out_of_memory("Segmentation fault\n"));
  EXPECT_FALSE(text_says_out_of_memory(""));
}

}  // namespace
}  // namespace weft::sandbox::protocol
