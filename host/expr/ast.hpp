// The expression AST (internal to host/expr). Built by parser.cpp, walked by eval.cpp.
//
// All nodes of one expression live in one NodeArena (a few chunk allocations instead of one
// allocation per node; workflows compile thousands of expressions). Nodes point at their
// children; the arena owns them all, so destruction never recurses.
//
// Trees are bounded: the parser rejects expressions whose tree is taller than kMaxTreeHeight, so
// the recursive evaluator can never exhaust the stack.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "host/core/json.hpp"

namespace weft::expr {

// Nesting of parentheses / brackets / unary operators the parser accepts (recursion depth).
inline constexpr size_t kMaxNesting = 64;
// Height of the tree (long operator chains like 1+1+1+... grow the tree without recursion).
inline constexpr size_t kMaxTreeHeight = 256;

enum class NodeKind : uint8_t {
  Literal,   // value
  Variable,  // $input $json $item $index $vars $execution (op = Variable)
  NodeRef,   // $node.<id> / $node["<id>"] (name = id)
  Member,    // kid(0).name
  Index,     // kid(0)[kid(1)]
  Unary,     // op = UnaryOp
  Binary,    // op = BinaryOp (arithmetic, comparison, equality)
  And,       // kid(0) && kid(1) (short-circuit)
  Or,        // kid(0) || kid(1) (short-circuit)
  Coalesce,  // kid(0) ?? kid(1) (short-circuit)
  Ternary,   // kid(0) ? kid(1) : kid(2)
  Call,      // fn(kids...)
  Array,     // [kids...]
  Object,    // {keys[i]: kid(i)...}
};

enum class Variable : uint8_t { Input, Json, Item, Index, Vars, Execution };
enum class UnaryOp : uint8_t { Neg, Not };
enum class BinaryOp : uint8_t { Mul, Div, Mod, Add, Sub, Lt, Le, Gt, Ge, Eq, Ne };

struct Builtin;  // functions.hpp

struct Node {
  NodeKind kind = NodeKind::Literal;
  uint8_t op = 0;           // Variable / UnaryOp / BinaryOp, by kind
  uint32_t column = 0;      // 1-based byte column of the token that produced the node
  uint32_t height = 1;      // 1 + the tallest child
  Json value;               // Literal
  std::string name;         // Member name, NodeRef id, Call function name
  const Builtin* fn = nullptr;
  std::vector<std::string> keys;  // Object: key of kid(i)

  size_t size() const { return count_ <= kInline ? count_ : more_.size(); }
  const Node& kid(size_t i) const { return count_ <= kInline ? *inline_[i] : *more_[i]; }
  void add(Node* child) {
    if (count_ < kInline) {
      inline_[count_++] = child;
      return;
    }
    if (count_ == kInline) more_.assign(inline_, inline_ + kInline);  // spill once
    more_.push_back(child);
    ++count_;
  }

 private:
  // Most nodes have at most three children (member, index, binary, ternary): kept inline.
  static constexpr uint32_t kInline = 3;
  Node* inline_[kInline] = {};
  uint32_t count_ = 0;
  std::vector<Node*> more_;
};

// Owns the nodes of one expression. The first few nodes live inside the arena itself (most
// expressions are small paths); bigger expressions add chunks that grow geometrically. Node
// addresses are stable.
class NodeArena {
 public:
  Node* make() {
    if (first_used_ < kFirst) return &first_[first_used_++];
    if (chunks_.empty() || used_ == chunk_size_) {
      chunk_size_ = chunks_.empty() ? 8 : chunk_size_ * 2;
      chunks_.push_back(std::make_unique<Node[]>(chunk_size_));
      used_ = 0;
    }
    return &chunks_.back()[used_++];
  }

 private:
  static constexpr size_t kFirst = 4;
  Node first_[kFirst];
  size_t first_used_ = 0;
  std::vector<std::unique_ptr<Node[]>> chunks_;
  size_t chunk_size_ = 0;
  size_t used_ = 0;
};

}  // namespace weft::expr
