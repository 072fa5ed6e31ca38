// Templates: JSON values whose strings may contain {{ ... }} blocks.
//
// Compilation walks the value once. Strings without "{{" are kept as they are (and containers
// without any expression are kept as the very same shared value), so rendering a mostly static
// parameter object copies almost nothing: a dynamic container is rendered by copying its static
// skeleton (shallow, copy-on-write) and filling in only the dynamic positions.
//
// Escape: "\{{" writes a literal "{{" (only that sequence; other backslashes are plain text).
#include <algorithm>
#include <type_traits>

#include "host/expr/expr.hpp"
#include "host/expr/value.hpp"

namespace weft::expr {

struct Template::Part {
  enum class Kind : uint8_t { Single, Text, Array, Object };
  Kind kind = Kind::Single;
  std::string path;  // dotted path of this value inside the template ("" = the root)
  // Single: the one expression. Text: texts[i] exprs[i] texts[i+1] ... (texts = exprs + 1).
  std::vector<Expression> exprs;
  std::vector<std::string> texts;
  // Array / Object: the value with every static child in place (dynamic ones null), and the
  // dynamic children by position.
  Json base;
  std::vector<std::pair<size_t, std::shared_ptr<const Part>>> children;
};

namespace {

using Part = Template::Part;
using PartPtr = std::shared_ptr<const Part>;

// Values are bounded by the JSON parser (256 levels); this only guards values built in code.
constexpr size_t kMaxTemplateDepth = 1000;
constexpr size_t kMaxErrors = 100;

bool all_space(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; });
}

// Finds the "}}" closing the block whose content starts at `from`. Quotes and object-literal
// braces inside the expression are skipped, so `{{ "}}" }}` and `{{ {a: {b: 1}} }}` work.
size_t find_block_end(std::string_view s, size_t from) {
  size_t braces = 0;
  char quote = 0;
  for (size_t k = from; k < s.size(); ++k) {
    char c = s[k];
    if (quote) {
      if (c == '\\') ++k;
      else if (c == quote) quote = 0;
      continue;
    }
    if (c == '\'' || c == '"') {
      quote = c;
    } else if (c == '{') {
      ++braces;
    } else if (c == '}') {
      if (braces > 0) --braces;
      else if (k + 1 < s.size() && s[k + 1] == '}') return k;
    }
  }
  return std::string_view::npos;
}

class Compiler {
 public:
  explicit Compiler(std::vector<Error>* errors) : errors_(errors) {}

  // Compiles `v`. Returns the dynamic part, or null with `stat` set to the static value
  // (`changed` tells whether that differs from `v`, which only escapes can cause). Static
  // subtrees cost no allocation: the original value is shared and paths are only spelled out
  // for dynamic parts and errors.
  PartPtr compile(const Json& v, size_t depth, Json& stat, bool& changed) {
    changed = false;
    if (depth > kMaxTemplateDepth) {
      add_error("value nested more than " + std::to_string(kMaxTemplateDepth) + " levels deep",
                Json());
      stat = v;
      return nullptr;
    }
    switch (v.type()) {
      case Json::Type::String: return compile_string(v, stat, changed);
      case Json::Type::Array: return compile_array(v, depth, stat, changed);
      case Json::Type::Object: return compile_object(v, depth, stat, changed);
      default: stat = v; return nullptr;
    }
  }

  bool failed() const { return !first_.code.empty(); }
  const Error& first_error() const { return first_; }

 private:
  // One step of the path: an object key (viewed, not copied) or an array index.
  struct Segment {
    std::string_view key;
    size_t index = 0;
    bool is_index = false;
  };

  // The current path lives in a small inline stack (parameters are shallow); deeper values spill
  // into a vector. Compiling a static value therefore allocates nothing.
  static constexpr size_t kInlineSegments = 16;
  void push_segment(Segment seg) {
    if (depth_ < kInlineSegments) inline_segments_[depth_] = seg;
    else more_segments_.push_back(seg);
    ++depth_;
  }
  void pop_segment() {
    --depth_;
    if (depth_ >= kInlineSegments) more_segments_.pop_back();
  }
  const Segment& segment(size_t i) const {
    return i < kInlineSegments ? inline_segments_[i] : more_segments_[i - kInlineSegments];
  }

  std::string path() const {
    std::string p;
    for (size_t i = 0; i < depth_; ++i) {
      const Segment& seg = segment(i);
      if (i > 0) p += '.';
      if (seg.is_index) p += std::to_string(seg.index);
      else p.append(seg.key.data(), seg.key.size());
    }
    return p;
  }

  void add_error(const std::string& message, const Json& column) {
    if (errors_ && errors_->size() >= kMaxErrors) return;
    std::string where = path();
    Json details = Json::object();
    details.set("path", Json(where));
    if (!column.is_null()) details.set("column", column);
    Error e("expression_syntax", (where.empty() ? std::string() : "at " + where + ": ") + message,
            details.dump());
    if (first_.code.empty()) first_ = e;
    if (errors_) errors_->push_back(std::move(e));
  }

  PartPtr compile_string(const Json& v, Json& stat, bool& changed) {
    const std::string& s = v.as_string();
    if (s.find("{{") == std::string::npos) {
      stat = v;
      return nullptr;
    }
    // First pass: find the blocks, so the part is built with exact sizes.
    struct Block {
      size_t open;   // offset of "{{"
      size_t close;  // offset of "}}"
    };
    std::vector<Block> blocks;
    bool escapes = false;
    for (size_t i = 0; i < s.size();) {
      if (s[i] == '\\' && s.compare(i + 1, 2, "{{") == 0) {
        escapes = true;
        i += 3;
      } else if (s.compare(i, 2, "{{") == 0) {
        size_t end = find_block_end(s, i + 2);
        if (end == std::string::npos) {
          add_error("unterminated {{ (no matching }}) at offset " + std::to_string(i), Json());
          stat = v;
          return nullptr;
        }
        blocks.push_back(Block{i, end});
        i = end + 2;
      } else {
        ++i;
      }
    }
    // The literal text of [from, to), with "\{{" unescaped.
    auto text = [&](size_t from, size_t to) {
      if (!escapes) return std::string(s, from, to - from);
      std::string out;
      for (size_t i = from; i < to;) {
        if (s[i] == '\\' && i + 3 <= to && s.compare(i + 1, 2, "{{") == 0) {
          out += "{{";
          i += 3;
        } else {
          out.push_back(s[i++]);
        }
      }
      return out;
    };
    if (blocks.empty()) {  // only escapes: a plain string after all
      stat = Json(text(0, s.size()));
      changed = true;
      return nullptr;
    }
    auto part = std::make_shared<Part>();
    part->exprs.reserve(blocks.size());
    bool ok = true;
    for (const Block& b : blocks) {
      std::string_view src = std::string_view(s).substr(b.open + 2, b.close - (b.open + 2));
      auto parsed = Expression::parse(src);
      if (!parsed.ok()) {
        Json column;
        if (auto d = Json::parse(parsed.error().details); d.ok()) column = (*d)["column"];
        add_error(parsed.error().message + " in {{" + std::string(src.substr(0, 120)) + "}}",
                  column);
        ok = false;
        continue;  // report every broken block of the string
      }
      part->exprs.push_back(std::move(parsed.value()));
    }
    if (!ok) {
      stat = v;
      return nullptr;
    }
    part->path = path();
    bool single = blocks.size() == 1 &&
                  all_space(std::string_view(s).substr(0, blocks[0].open)) &&
                  all_space(std::string_view(s).substr(blocks[0].close + 2));
    if (single) {
      part->kind = Part::Kind::Single;  // keeps the JSON type of the value
      return part;
    }
    part->kind = Part::Kind::Text;
    part->texts.reserve(blocks.size() + 1);
    size_t at = 0;
    for (const Block& b : blocks) {
      part->texts.push_back(text(at, b.open));
      at = b.close + 2;
    }
    part->texts.push_back(text(at, s.size()));
    return part;
  }

  // Compiles a container's children. Nothing is allocated while every child is static and
  // unchanged (the common case for parameters); from the first child that is not, `base` becomes
  // a copy of the container with that child's static value (or null when dynamic) in place.
  // Returns whether anything was dynamic or changed.
  template <typename Container, typename Get>
  bool compile_children(const Json& v, size_t depth, bool& changed, Json& base,
                        std::vector<std::pair<size_t, PartPtr>>& children, Get&& get) {
    bool copied = false;
    size_t n = v.size();
    for (size_t i = 0; i < n; ++i) {
      auto [seg, value] = get(i);
      push_segment(seg);
      Json stat;
      bool child_changed = false;
      PartPtr part = compile(*value, depth + 1, stat, child_changed);
      pop_segment();
      if (!part && !child_changed) continue;
      if (!copied) {
        base = v;
        copied = true;
      }
      Json& slot = slot_of(mutable_items<Container>(base)[i]);
      if (part) {
        slot = Json();
        children.emplace_back(i, std::move(part));
      } else {
        slot = std::move(stat);
        changed = true;
      }
    }
    return copied;
  }

  template <typename Container>
  static Container& mutable_items(Json& j) {
    if constexpr (std::is_same_v<Container, Json::Array>) return j.mutable_array();
    else return j.mutable_object();
  }
  static Json& slot_of(Json& j) { return j; }
  static Json& slot_of(Json::Member& m) { return m.second; }

  PartPtr compile_array(const Json& v, size_t depth, Json& stat, bool& changed) {
    const auto& a = v.as_array();
    Json base;
    std::vector<std::pair<size_t, PartPtr>> children;
    bool any = compile_children<Json::Array>(v, depth, changed, base, children, [&](size_t i) {
      return std::make_pair(Segment{{}, i, true}, &a[i]);
    });
    if (!any) {
      stat = v;  // nothing dynamic, nothing changed: share the original
      return nullptr;
    }
    return container(Part::Kind::Array, std::move(base), std::move(children), stat);
  }

  PartPtr compile_object(const Json& v, size_t depth, Json& stat, bool& changed) {
    const auto& o = v.as_object();
    Json base;
    std::vector<std::pair<size_t, PartPtr>> children;
    bool any = compile_children<Json::Object>(v, depth, changed, base, children, [&](size_t i) {
      return std::make_pair(Segment{o[i].first, 0, false}, &o[i].second);
    });
    if (!any) {
      stat = v;
      return nullptr;
    }
    return container(Part::Kind::Object, std::move(base), std::move(children), stat);
  }

  PartPtr container(Part::Kind kind, Json base, std::vector<std::pair<size_t, PartPtr>> children,
                    Json& stat) {
    if (children.empty()) {  // static, but an escape changed a string inside
      stat = std::move(base);
      return nullptr;
    }
    auto part = std::make_shared<Part>();
    part->kind = kind;
    part->path = path();
    part->base = std::move(base);
    part->children = std::move(children);
    return part;
  }

  std::vector<Error>* errors_;
  Error first_;
  Segment inline_segments_[kInlineSegments];  // the path of the value being compiled
  std::vector<Segment> more_segments_;
  size_t depth_ = 0;
};

Error render_error(const Part& p, const Expression& e, const Error& cause) {
  Json details = Json::object();
  details.set("path", Json(p.path));
  if (auto d = Json::parse(cause.details); d.ok() && d->contains("column")) {
    details.set("column", (*d)["column"]);
  }
  details.set("expression", Json(e.source().substr(0, 200)));
  return Error(cause.code, (p.path.empty() ? std::string() : "at " + p.path + ": ") + cause.message,
               details.dump());
}

Result<Json> render_part(const Part& p, const EvalContext& ctx) {
  switch (p.kind) {
    case Part::Kind::Single: {
      auto r = evaluate(p.exprs[0], ctx);
      if (!r.ok()) return render_error(p, p.exprs[0], r.error());
      return r;
    }
    case Part::Kind::Text: {
      std::string out = p.texts[0];
      for (size_t i = 0; i < p.exprs.size(); ++i) {
        auto r = evaluate(p.exprs[i], ctx);
        if (!r.ok()) return render_error(p, p.exprs[i], r.error());
        if (!append_text(*r, out, ctx.max_string_bytes) ||
            out.size() + p.texts[i + 1].size() > ctx.max_string_bytes) {
          return render_error(p, p.exprs[i],
                              Error("expression_error",
                                    "the rendered text is longer than the limit of " +
                                        std::to_string(ctx.max_string_bytes) + " bytes"));
        }
        out += p.texts[i + 1];
      }
      return Json(std::move(out));
    }
    case Part::Kind::Array: {
      Json v = p.base;
      auto& a = v.mutable_array();
      for (const auto& [i, child] : p.children) {
        auto r = render_part(*child, ctx);
        if (!r.ok()) return r;
        a[i] = std::move(r.value());
      }
      return v;
    }
    case Part::Kind::Object: {
      Json v = p.base;
      auto& o = v.mutable_object();
      for (const auto& [i, child] : p.children) {
        auto r = render_part(*child, ctx);
        if (!r.ok()) return r;
        o[i].second = std::move(r.value());
      }
      return v;
    }
  }
  return Error("expression_error", "internal error: unknown template part");
}

void collect(const Part& p, std::vector<std::pair<std::string, const Expression*>>& out) {
  for (const auto& e : p.exprs) out.emplace_back(p.path, &e);
  for (const auto& [i, child] : p.children) collect(*child, out);
}

}  // namespace

Result<Template> Template::compile(const Json& value) { return compile_all(value, nullptr); }

Result<Template> Template::compile_all(const Json& value, std::vector<Error>* errors) {
  Compiler c(errors);
  Json stat;
  bool changed = false;
  PartPtr root = c.compile(value, 0, stat, changed);
  if (c.failed()) return c.first_error();
  Template t;
  if (root) t.root_ = std::move(root);
  else t.literal_ = std::move(stat);
  return t;
}

Result<Json> Template::render(const EvalContext& ctx) const {
  if (!root_) return literal_;
  return render_part(*root_, ctx);
}

bool Template::has_expressions() const { return root_ != nullptr; }

std::set<std::string> Template::referenced_nodes() const {
  std::set<std::string> out;
  for (const auto& [path, e] : expressions()) out.insert(e->referenced_nodes().begin(),
                                                         e->referenced_nodes().end());
  return out;
}

std::vector<std::pair<std::string, const Expression*>> Template::expressions() const {
  std::vector<std::pair<std::string, const Expression*>> out;
  if (root_) collect(*root_, out);
  return out;
}

}  // namespace weft::expr
