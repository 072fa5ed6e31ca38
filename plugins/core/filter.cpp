// core.filter — keeps the items that match conditions, sends the others to "discarded".
// Deliberately no regular expressions: a user-supplied pattern can take exponential time (ReDoS).
#include <array>
#include <string>
#include <vector>

#include "json_util.hpp"
#include "nodes.hpp"

namespace weft::core_pack {

const std::string_view FilterNode::schema = R"json({
  "display_name": "Filter",
  "description": "Splits the items arriving on 'main' (an array; null means no items; any other value is one item) into those that match the conditions (output 'main') and the others (output 'discarded'). Both outputs are always taken, possibly with an empty array. Each condition is {\"field\": dotted path into the item (\"\" = the item itself; array elements by index, e.g. \"tags.0\"), \"op\": operator, \"value\": operand}. Operators: eq, ne (deep equality; a missing field counts as null), gt, gte, lt, lte (numbers with numbers, strings with strings; anything else does not match), contains, not_contains (substring of a string, element of an array, key of an object), starts_with, ends_with (strings), exists, not_exists (present and not null), is_empty, is_not_empty (missing, null, \"\", [] or {}). 'combine' joins the conditions with and/or; without conditions every item is kept.",
  "category": "data",
  "fields": [
    {"name": "conditions", "type": "json", "required": true, "default": [],
     "description": "Array of {\"field\": \"a.b\", \"op\": \"eq\", \"value\": ...}."},
    {"name": "combine", "type": "select", "options": ["and", "or"], "default": "and", "required": false,
     "description": "and: every condition must hold; or: at least one."}
  ],
  "inputs": [{"name": "main", "type": "any"}],
  "outputs": [{"name": "main", "type": "json"}, {"name": "discarded", "type": "json"}],
  "flags": []
})json";

namespace {

enum class Op {
  Eq, Ne, Gt, Gte, Lt, Lte, Contains, NotContains, StartsWith, EndsWith, Exists, NotExists, IsEmpty, IsNotEmpty
};

struct OpName {
  std::string_view name;
  Op op;
};
constexpr std::array<OpName, 14> kOps = {{{"eq", Op::Eq},
                                          {"ne", Op::Ne},
                                          {"gt", Op::Gt},
                                          {"gte", Op::Gte},
                                          {"lt", Op::Lt},
                                          {"lte", Op::Lte},
                                          {"contains", Op::Contains},
                                          {"not_contains", Op::NotContains},
                                          {"starts_with", Op::StartsWith},
                                          {"ends_with", Op::EndsWith},
                                          {"exists", Op::Exists},
                                          {"not_exists", Op::NotExists},
                                          {"is_empty", Op::IsEmpty},
                                          {"is_not_empty", Op::IsNotEmpty}}};

struct Condition {
  std::vector<std::string_view> path;
  Op op;
  const sdk::Value* value;  // borrowed from params; never null for operators that need one
};

bool is_empty(const sdk::Value* v) {
  if (!v || v->IsNull()) return true;
  if (v->IsString()) return v->GetStringLength() == 0;
  if (v->IsArray()) return v->Empty();
  if (v->IsObject()) return v->MemberCount() == 0;
  return false;
}

// -1/0/1, or nullopt when the two values are not comparable (different kinds, not number/string).
std::optional<int> compare(const sdk::Value& a, const sdk::Value& b) {
  if (a.IsNumber() && b.IsNumber()) {
    double x = a.GetDouble(), y = b.GetDouble();
    return x < y ? -1 : (x > y ? 1 : 0);
  }
  if (a.IsString() && b.IsString()) {
    int c = sdk::str_of(a).compare(sdk::str_of(b));
    return c < 0 ? -1 : (c > 0 ? 1 : 0);
  }
  return std::nullopt;
}

bool contains(const sdk::Value* field, const sdk::Value& value) {
  if (!field) return false;
  if (field->IsString()) return value.IsString() && sdk::str_of(*field).find(sdk::str_of(value)) != std::string_view::npos;
  if (field->IsArray()) {
    for (const auto& e : field->GetArray())
      if (e == value) return true;
    return false;
  }
  if (field->IsObject()) return value.IsString() && find_member(*field, sdk::str_of(value)) != nullptr;
  return false;
}

bool matches(const Condition& c, const sdk::Value& item) {
  static const sdk::Value kNull;
  const sdk::Value* field = follow_path(item, c.path);
  switch (c.op) {
    case Op::Eq: return (field ? *field : kNull) == *c.value;
    case Op::Ne: return !((field ? *field : kNull) == *c.value);
    case Op::Gt:
    case Op::Gte:
    case Op::Lt:
    case Op::Lte: {
      if (!field) return false;
      auto cmp = compare(*field, *c.value);
      if (!cmp) return false;
      if (c.op == Op::Gt) return *cmp > 0;
      if (c.op == Op::Gte) return *cmp >= 0;
      if (c.op == Op::Lt) return *cmp < 0;
      return *cmp <= 0;
    }
    case Op::Contains: return contains(field, *c.value);
    case Op::NotContains: return !contains(field, *c.value);
    case Op::StartsWith:
    case Op::EndsWith: {
      if (!field || !field->IsString()) return false;
      std::string_view f = sdk::str_of(*field), v = sdk::str_of(*c.value);
      if (v.size() > f.size()) return false;
      return c.op == Op::StartsWith ? f.substr(0, v.size()) == v : f.substr(f.size() - v.size()) == v;
    }
    case Op::Exists: return field && !field->IsNull();
    case Op::NotExists: return !(field && !field->IsNull());
    case Op::IsEmpty: return is_empty(field);
    case Op::IsNotEmpty: return !is_empty(field);
  }
  return false;
}

std::string op_list() {
  std::string out;
  for (const auto& o : kOps) {
    if (!out.empty()) out += ", ";
    out += o.name;
  }
  return out;
}

}  // namespace

void FilterNode::execute(Context& ctx) const {
  auto& alloc = ctx.allocator();
  const sdk::Value* conditions = ctx.param("conditions");
  if (conditions && conditions->IsNull()) conditions = nullptr;
  if (conditions && !conditions->IsArray())
    return ctx.invalid_parameter("conditions", std::string("must be an array of {\"field\", \"op\", \"value\"}, not ") +
                                                   sdk::json_type_name(*conditions));
  auto combine = ctx.select_param("combine", {"and", "or"}, "and");
  if (!combine) return;

  // Validate all conditions first, so a bad one is reported even when no item reaches it.
  std::vector<Condition> conds;
  if (conditions) {
    for (rapidjson::SizeType i = 0; i < conditions->Size(); ++i) {
      const sdk::Value& c = (*conditions)[i];
      const std::string where = "conditions[" + std::to_string(i) + "]";
      if (!c.IsObject())
        return ctx.invalid_parameter(where, std::string("must be an object, not ") + sdk::json_type_name(c));
      Condition cond{};
      const sdk::Value* field = find_member(c, "field");
      if (field && !field->IsNull() && !field->IsString())
        return ctx.invalid_parameter(where + ".field", "must be a dotted path string");
      auto path = split_path(field && field->IsString() ? sdk::str_of(*field) : std::string_view());
      if (!path) return ctx.invalid_parameter(where + ".field", "has an empty path segment");
      cond.path = std::move(*path);
      const sdk::Value* op = find_member(c, "op");
      if (!op || !op->IsString()) return ctx.invalid_parameter(where + ".op", "must be one of " + op_list());
      bool known = false;
      for (const auto& o : kOps) {
        if (o.name == sdk::str_of(*op)) {
          cond.op = o.op;
          known = true;
        }
      }
      if (!known)
        return ctx.invalid_parameter(where + ".op", "\"" + std::string(sdk::str_of(*op)) +
                                                        "\" is not an operator; expected one of " + op_list());
      cond.value = find_member(c, "value");
      switch (cond.op) {
        case Op::Eq:
        case Op::Ne:
        case Op::Contains:
        case Op::NotContains:
          if (!cond.value) return ctx.invalid_parameter(where + ".value", "is required for this operator");
          break;
        case Op::Gt:
        case Op::Gte:
        case Op::Lt:
        case Op::Lte:
          if (!cond.value || !(cond.value->IsNumber() || cond.value->IsString()))
            return ctx.invalid_parameter(where + ".value", "must be a number or a string for this operator");
          break;
        case Op::StartsWith:
        case Op::EndsWith:
          if (!cond.value || !cond.value->IsString())
            return ctx.invalid_parameter(where + ".value", "must be a string for this operator");
          break;
        default: break;  // exists/not_exists/is_empty/is_not_empty ignore the value
      }
      conds.push_back(std::move(cond));
    }
  }

  const sdk::Value& in = ctx.input_or_null("main");
  sdk::Value kept(rapidjson::kArrayType), discarded(rapidjson::kArrayType);
  auto route = [&](const sdk::Value& item) {
    bool keep = true;
    if (!conds.empty()) {
      const bool want_all = *combine == "and";
      keep = want_all;
      for (const Condition& c : conds) {
        if (matches(c, item) != want_all) {
          keep = !want_all;
          break;
        }
      }
    }
    (keep ? kept : discarded).PushBack(sdk::Value(item, alloc), alloc);
  };
  if (in.IsArray()) {
    for (const auto& item : in.GetArray()) route(item);
  } else if (!in.IsNull()) {
    route(in);
  }
  ctx.output("main", std::move(kept));
  ctx.output("discarded", std::move(discarded));
}

}  // namespace weft::core_pack
