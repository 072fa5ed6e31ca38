// core.clarification — asks a person a question (with options or free text) by parking with a
// human request (kind "clarification"); the answer becomes the node's output.
#include <string>

#include "human_util.hpp"
#include "nodes.hpp"

namespace weft::core_pack {

const std::string_view ClarificationNode::schema = R"json({
  "display_name": "Clarification",
  "description": "Asks a question and waits for the answer without holding a thread (also across restarts). The answer itself goes out on 'main'. With 'options' the answer is one of them (and also free text when 'allow_free_text' is true); without options it is free text. After 'timeout_seconds' the node outputs 'default_answer', or fails with clarification_timeout when there is none.",
  "category": "human",
  "fields": [
    {"name": "question", "type": "string", "required": true, "max_length": 10000,
     "description": "The question (expressions can show the data, e.g. {{ $json.customer }})."},
    {"name": "options", "type": "json", "required": false,
     "description": "Possible answers: an array of strings (at most 100, each at most 500 characters)."},
    {"name": "allow_free_text", "type": "boolean", "required": false,
     "description": "Whether an answer may be any text. Default: true without options, false with options."},
    {"name": "timeout_seconds", "type": "number", "required": false, "min": 1, "max": 31536000,
     "description": "How long to wait for the answer (at most a year). Empty: no timeout."},
    {"name": "default_answer", "type": "json", "required": false,
     "description": "The output when the question times out. Empty: a timeout fails the node (clarification_timeout)."}
  ],
  "inputs": [{"name": "main", "type": "any"}],
  "outputs": [{"name": "main", "type": "any"}],
  "flags": ["long_running"]
})json";

namespace {
constexpr size_t kMaxOptions = 100;
constexpr size_t kMaxOptionLength = 500;
}  // namespace

void ClarificationNode::execute(Context& ctx) const {
  const std::string who = "node '" + std::string(ctx.node_id()) + "' (core.clarification): ";
  const Value* options = ctx.param("options");
  if (options && options->IsNull()) options = nullptr;
  if (options && options->IsArray() && options->Empty()) options = nullptr;
  if (options) {
    if (!options->IsArray())
      return ctx.invalid_parameter("options", std::string("must be an array of strings, not ") +
                                                  sdk::json_type_name(*options));
    if (options->Size() > kMaxOptions)
      return ctx.invalid_parameter("options", "has " + std::to_string(options->Size()) + " entries; at most " +
                                                  std::to_string(kMaxOptions) + " are allowed");
    size_t i = 0;
    for (const auto& o : options->GetArray()) {
      if (!o.IsString() || o.GetStringLength() == 0 || o.GetStringLength() > kMaxOptionLength)
        return ctx.invalid_parameter("options[" + std::to_string(i) + "]",
                                     "must be a non-empty string of at most " + std::to_string(kMaxOptionLength) +
                                         " bytes");
      ++i;
    }
  }
  auto free_text = ctx.bool_param("allow_free_text", options == nullptr);
  if (!free_text) return;
  if (!*free_text && !options)
    return ctx.invalid_parameter("allow_free_text", "is false but there are no options: nothing could be answered");

  if (ctx.resumed()) {
    if (ctx.resume_reason() == "answer") {
      // {"answer": ..., "by": user_id} (host/service/human.hpp)
      const Value* answer = find_member(ctx.resume(), "answer");
      const Value* value = answer ? find_member(*answer, "answer") : nullptr;
      if (!value || value->IsNull())
        return ctx.invalid_input("invalid_answer", who + "the answer carries no \"answer\"");
      if (!*free_text) {
        // The service checks this too; a node never outputs what it did not offer.
        bool offered = false;
        if (value->IsString())
          for (const auto& o : options->GetArray()) offered = offered || str_of(o) == str_of(*value);
        if (!offered) return ctx.invalid_input("invalid_answer", who + "the answer is not one of the options");
      }
      return ctx.output("main", *value);
    }
    if (ctx.resume_reason() == "timer") {
      const Value* fallback = ctx.param("default_answer");
      if (fallback && !fallback->IsNull()) return ctx.output("main", *fallback);
      return ctx.invalid_input("clarification_timeout", who + "no answer arrived within the timeout");
    }
    return ctx.invalid_input("unexpected_resume", who + "resumed with reason \"" + std::string(ctx.resume_reason()) +
                                                      "\"; a clarification is woken by an answer or its timeout");
  }

  auto question = ctx.string_param("question", std::nullopt, 10000);
  if (!question) return;
  if (question->empty()) return ctx.invalid_parameter("question", "must not be empty");
  std::optional<double> timeout;
  if (const Value* t = ctx.param("timeout_seconds"); t && !t->IsNull()) {
    timeout = ctx.number_param("timeout_seconds", std::nullopt, 1, kMaxHumanTimeoutSeconds);
    if (!timeout) return;
  }

  Allocator& a = ctx.allocator();
  Value request(rapidjson::kObjectType);
  request.AddMember("kind", make_string("clarification", a), a);
  request.AddMember("question", make_string(*question, a), a);
  if (options) request.AddMember("options", Value(*options, a), a);
  request.AddMember("allow_free_text", Value(*free_text), a);
  if (timeout) {
    request.AddMember("timeout_seconds", Value(*timeout), a);
    const Value* fallback = ctx.param("default_answer");
    if (fallback && !fallback->IsNull()) request.AddMember("default_answer", Value(*fallback, a), a);
    ctx.park(deadline_after(*timeout), &request);
  } else {
    ctx.park(std::nullopt, &request);
  }
}

}  // namespace weft::core_pack
