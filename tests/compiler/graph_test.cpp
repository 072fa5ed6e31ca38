// The graph algorithms behind the compiler, on small hand-made graphs.
#include "host/compiler/graph.hpp"

#include <gtest/gtest.h>

using namespace weft::compiler::detail;

TEST(Graph, CyclicComponents) {
  // 0 -> 1 -> 2 -> 0 (cycle), 3 -> 3 (self loop), 4 -> 5 (no cycle), 6 <-> 7 (cycle)
  Adjacency g = {{1}, {2}, {0}, {3}, {5}, {}, {7}, {6}};
  auto comps = cyclic_components(g);
  ASSERT_EQ(comps.size(), 3u);
  EXPECT_EQ(comps[0], (std::vector<uint32_t>{0, 1, 2}));
  EXPECT_EQ(comps[1], (std::vector<uint32_t>{3}));
  EXPECT_EQ(comps[2], (std::vector<uint32_t>{6, 7}));
  EXPECT_TRUE(cyclic_components({{}, {0}, {1}}).empty());
}

TEST(Graph, CyclicComponentsOnALongChainDoNotRecurse) {
  const uint32_t n = 200000;
  std::vector<std::pair<uint32_t, uint32_t>> chain;
  for (uint32_t i = 0; i + 1 < n; ++i) chain.emplace_back(i, i + 1);
  EXPECT_TRUE(cyclic_components(Adjacency(n, chain)).empty());
  chain.emplace_back(n - 1, 0);
  auto comps = cyclic_components(Adjacency(n, chain));
  ASSERT_EQ(comps.size(), 1u);
  EXPECT_EQ(comps[0].size(), n);
}

TEST(Graph, AdjacencyKeepsPairOrderPerRow) {
  Adjacency g(3, {{2, 0}, {0, 2}, {0, 1}, {2, 1}});
  ASSERT_EQ(g.size(), 3u);
  EXPECT_EQ(std::vector<uint32_t>(g[0].begin(), g[0].end()), (std::vector<uint32_t>{2, 1}));
  EXPECT_TRUE(g[1].empty());
  EXPECT_EQ(std::vector<uint32_t>(g[2].begin(), g[2].end()), (std::vector<uint32_t>{0, 1}));
}

TEST(Graph, TopologicalOrderIsDeterministic) {
  // 3 -> 1, 2 -> 1, 0 isolated: ready set {0, 2, 3} is taken smallest first.
  Adjacency g = {{}, {}, {1}, {1}};
  EXPECT_EQ(topological_order(g), (std::vector<uint32_t>{0, 2, 3, 1}));
  // Nodes on a cycle are left out.
  Adjacency c = {{1}, {0}, {}};
  EXPECT_EQ(topological_order(c), std::vector<uint32_t>{2});
}

TEST(Graph, Reachable) {
  Adjacency g = {{1, 2}, {3}, {3}, {}, {0}};
  auto r = reachable(g, {0}, 2);
  EXPECT_EQ(r, (std::vector<char>{1, 1, 0, 1, 0}));
}

// Forward and reverse adjacency from (from, to) pairs.
std::pair<Adjacency, Adjacency> both(size_t n, const std::vector<std::pair<uint32_t, uint32_t>>& e) {
  std::vector<std::pair<uint32_t, uint32_t>> rev;
  for (auto [a, b] : e) rev.emplace_back(b, a);
  return {Adjacency(n, e), Adjacency(n, rev)};
}

TEST(Graph, AncestorQueries) {
  // 0 -> 1 -> 2 -> 3, 0 -> 4, 4 -> 3, 5 isolated
  auto [out, in] = both(6, {{0, 1}, {0, 4}, {1, 2}, {2, 3}, {4, 3}});
  auto topo = topological_order(out);
  std::vector<std::pair<uint32_t, uint32_t>> q = {
      {0, 3}, {1, 3}, {2, 3}, {4, 3}, {3, 0}, {4, 2}, {5, 3}, {3, 3}, {0, 1}, {1, 4}};
  auto a = ancestor_queries(in, topo, q);
  EXPECT_EQ(a, (std::vector<bool>{true, true, true, true, false, false, false, false, true, false}));
}

TEST(Graph, AncestorQueriesWithManyDistinctAncestors) {
  // A chain where each node asks about the node two steps back (not a direct parent).
  const uint32_t n = 3000;
  std::vector<std::pair<uint32_t, uint32_t>> chain;
  for (uint32_t i = 0; i + 1 < n; ++i) chain.emplace_back(i, i + 1);
  auto [out, in] = both(n, chain);
  std::vector<std::pair<uint32_t, uint32_t>> q;
  for (uint32_t i = 2; i < n; ++i) q.emplace_back(i - 2, i);
  q.emplace_back(n - 1, 0);
  auto a = ancestor_queries(in, topological_order(out), q);
  for (size_t i = 0; i + 1 < a.size(); ++i) EXPECT_TRUE(a[i]) << i;
  EXPECT_FALSE(a.back());
}
