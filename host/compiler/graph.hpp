// Graph algorithms the compiler needs, over nodes numbered 0..n-1 with adjacency lists
// (internal). All are iterative (no recursion on graph size) and linear or near-linear, so a
// 10,000-node workflow compiles in milliseconds and a hostile one cannot blow the stack.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <span>
#include <utility>
#include <vector>

namespace weft::compiler::detail {

// Adjacency lists in compressed form (one offsets array, one flat array): two allocations for
// the whole graph instead of one per node. Rows keep the order in which pairs were given.
class Adjacency {
 public:
  Adjacency() = default;
  // From (from, to) pairs over nodes 0..n-1.
  Adjacency(size_t n, const std::vector<std::pair<uint32_t, uint32_t>>& pairs);
  // From explicit lists (convenient in tests).
  Adjacency(std::initializer_list<std::vector<uint32_t>> rows);

  size_t size() const { return offset_.empty() ? 0 : offset_.size() - 1; }
  std::span<const uint32_t> operator[](size_t v) const {
    return {data_.data() + offset_[v], data_.data() + offset_[v + 1]};
  }

 private:
  std::vector<uint32_t> offset_;
  std::vector<uint32_t> data_;
};

// The strongly connected components that contain a cycle (more than one node, or one node with
// an edge to itself), each listed in ascending node order; components in order of their
// smallest node. Tarjan's algorithm with an explicit stack.
std::vector<std::vector<uint32_t>> cyclic_components(const Adjacency& out);

// Kahn's algorithm; among ready nodes the smallest index goes first, so the order is
// deterministic and follows the document where the graph leaves a choice. Nodes on cycles are
// missing from the result.
std::vector<uint32_t> topological_order(const Adjacency& out);

// Nodes reachable from `starts` (included) following `out`, never entering `blocked` (pass
// n or more for none). Returns a membership vector.
std::vector<char> reachable(const Adjacency& out, const std::vector<uint32_t>& starts,
                            uint32_t blocked);

// Answers "is a a strict ancestor of b?" for many (a, b) pairs at once over a DAG given by
// `in` (parents of each node) and a topological order. Cheap cases (a is a direct parent of b,
// or a comes after b in the order) are answered directly; the rest propagate bitsets over only
// the distinct ancestors asked about: O(E * Q / 64) for Q distinct ancestors, never O(N^2) in
// the common patterns. Pairs with a node missing from `topo` (on a cycle) answer false.
std::vector<bool> ancestor_queries(const Adjacency& in, const std::vector<uint32_t>& topo,
                                   const std::vector<std::pair<uint32_t, uint32_t>>& queries);

}  // namespace weft::compiler::detail
