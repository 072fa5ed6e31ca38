#include "host/compiler/graph.hpp"

#include <algorithm>
#include <functional>
#include <queue>
#include <unordered_map>

namespace weft::compiler::detail {

Adjacency::Adjacency(size_t n, const std::vector<std::pair<uint32_t, uint32_t>>& pairs)
    : offset_(n + 1, 0), data_(pairs.size()) {
  for (const auto& [from, to] : pairs) ++offset_[from + 1];
  for (size_t v = 0; v < n; ++v) offset_[v + 1] += offset_[v];
  std::vector<uint32_t> fill(offset_.begin(), offset_.end() - 1);
  for (const auto& [from, to] : pairs) data_[fill[from]++] = to;
}

Adjacency::Adjacency(std::initializer_list<std::vector<uint32_t>> rows) {
  offset_.push_back(0);
  for (const auto& row : rows) {
    data_.insert(data_.end(), row.begin(), row.end());
    offset_.push_back(static_cast<uint32_t>(data_.size()));
  }
}

std::vector<std::vector<uint32_t>> cyclic_components(const Adjacency& out) {
  const uint32_t n = static_cast<uint32_t>(out.size());
  constexpr uint32_t kUnvisited = UINT32_MAX;
  std::vector<uint32_t> index(n, kUnvisited), low(n, 0);
  std::vector<char> on_stack(n, 0);
  std::vector<uint32_t> stack;
  std::vector<std::pair<uint32_t, uint32_t>> call;  // (node, next edge position)
  std::vector<std::vector<uint32_t>> result;
  uint32_t counter = 0;

  for (uint32_t root = 0; root < n; ++root) {
    if (index[root] != kUnvisited) continue;
    call.emplace_back(root, 0);
    while (!call.empty()) {
      auto& [v, pos] = call.back();
      if (pos == 0 && index[v] == kUnvisited) {
        index[v] = low[v] = counter++;
        stack.push_back(v);
        on_stack[v] = 1;
      }
      if (pos < out[v].size()) {
        uint32_t w = out[v][pos++];
        if (index[w] == kUnvisited) {
          call.emplace_back(w, 0);  // `v`/`pos` may dangle after this; not used again here
        } else if (on_stack[w]) {
          low[v] = std::min(low[v], index[w]);
        }
        continue;
      }
      // All successors done: close the component if v is its root, then return to the caller.
      uint32_t done = v;
      if (low[done] == index[done]) {
        std::vector<uint32_t> comp;
        uint32_t w;
        do {
          w = stack.back();
          stack.pop_back();
          on_stack[w] = 0;
          comp.push_back(w);
        } while (w != done);
        bool cyclic = comp.size() > 1 ||
                      std::find(out[done].begin(), out[done].end(), done) != out[done].end();
        if (cyclic) {
          std::sort(comp.begin(), comp.end());
          result.push_back(std::move(comp));
        }
      }
      call.pop_back();
      if (!call.empty()) {
        uint32_t parent = call.back().first;
        low[parent] = std::min(low[parent], low[done]);
      }
    }
  }
  std::sort(result.begin(), result.end(),
            [](const auto& a, const auto& b) { return a.front() < b.front(); });
  return result;
}

std::vector<uint32_t> topological_order(const Adjacency& out) {
  const size_t n = out.size();
  std::vector<uint32_t> indegree(n, 0);
  for (size_t v = 0; v < n; ++v)
    for (uint32_t w : out[v]) ++indegree[w];
  std::priority_queue<uint32_t, std::vector<uint32_t>, std::greater<>> ready;
  for (uint32_t v = 0; v < n; ++v)
    if (indegree[v] == 0) ready.push(v);
  std::vector<uint32_t> order;
  order.reserve(n);
  while (!ready.empty()) {
    uint32_t v = ready.top();
    ready.pop();
    order.push_back(v);
    for (uint32_t w : out[v])
      if (--indegree[w] == 0) ready.push(w);
  }
  return order;
}

std::vector<char> reachable(const Adjacency& out, const std::vector<uint32_t>& starts,
                            uint32_t blocked) {
  std::vector<char> seen(out.size(), 0);
  std::vector<uint32_t> todo;
  for (uint32_t s : starts) {
    if (s == blocked || seen[s]) continue;
    seen[s] = 1;
    todo.push_back(s);
  }
  while (!todo.empty()) {
    uint32_t v = todo.back();
    todo.pop_back();
    for (uint32_t w : out[v]) {
      if (w == blocked || seen[w]) continue;
      seen[w] = 1;
      todo.push_back(w);
    }
  }
  return seen;
}

std::vector<bool> ancestor_queries(const Adjacency& in, const std::vector<uint32_t>& topo,
                                   const std::vector<std::pair<uint32_t, uint32_t>>& queries) {
  const size_t n = in.size();
  constexpr uint32_t kMissing = UINT32_MAX;
  std::vector<uint32_t> pos(n, kMissing);
  for (uint32_t i = 0; i < topo.size(); ++i) pos[topo[i]] = i;

  std::vector<bool> answer(queries.size(), false);
  std::vector<size_t> hard;  // queries needing the bitset pass
  std::unordered_map<uint32_t, uint32_t> bit_of;  // ancestor node -> bit
  for (size_t q = 0; q < queries.size(); ++q) {
    auto [a, b] = queries[q];
    if (a >= n || b >= n || a == b || pos[a] == kMissing || pos[b] == kMissing) continue;
    if (pos[a] > pos[b]) continue;  // an ancestor always comes first in a topological order
    if (std::find(in[b].begin(), in[b].end(), a) != in[b].end()) {
      answer[q] = true;
      continue;
    }
    hard.push_back(q);
    bit_of.emplace(a, static_cast<uint32_t>(bit_of.size()));
  }
  if (hard.empty()) return answer;

  // bits[v] = the asked-about ancestors that reach v. Only nodes up to the last one asked
  // about need to be filled.
  const size_t words = (bit_of.size() + 63) / 64;
  uint32_t last = 0;
  for (size_t q : hard) last = std::max(last, pos[queries[q].second]);
  std::vector<uint64_t> bits(static_cast<size_t>(last + 1) * words, 0);
  auto row = [&](uint32_t topo_pos) { return bits.data() + static_cast<size_t>(topo_pos) * words; };
  for (uint32_t i = 0; i <= last; ++i) {
    uint32_t v = topo[i];
    uint64_t* mine = row(i);
    for (uint32_t p : in[v]) {
      if (pos[p] == kMissing || pos[p] >= i) continue;  // not part of the DAG order
      const uint64_t* theirs = row(pos[p]);
      for (size_t w = 0; w < words; ++w) mine[w] |= theirs[w];
      if (auto it = bit_of.find(p); it != bit_of.end()) mine[it->second / 64] |= 1ull << (it->second % 64);
    }
  }
  for (size_t q : hard) {
    auto [a, b] = queries[q];
    uint32_t bit = bit_of[a];
    answer[q] = (row(pos[b])[bit / 64] >> (bit % 64)) & 1u;
  }
  return answer;
}

}  // namespace weft::compiler::detail
