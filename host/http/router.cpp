#include "host/http/router.hpp"

#include <algorithm>
#include <cctype>
#include <stdexcept>

namespace weft::http {

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

}  // namespace

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '/') {
      ++i;
      continue;
    }
    size_t j = path.find('/', i);
    if (j == std::string::npos) j = path.size();
    out.push_back(path.substr(i, j - i));
    i = j;
  }
  return out;
}

void Router::add(Route r) {
  Compiled c;
  for (std::string& seg : split_path(r.pattern)) {
    if (seg[0] == ':' || seg[0] == '*') {
      c.segments.push_back(seg);
    } else {
      c.segments.push_back(lower(seg));
    }
  }
  for (size_t i = 0; i < routes_.size(); ++i) {
    if (routes_[i].method == r.method && compiled_[i].segments == c.segments) {
      throw std::logic_error("route registered twice: " + r.method + " " + r.pattern);
    }
  }
  routes_.push_back(std::move(r));
  compiled_.push_back(std::move(c));
}

Router::Match Router::match(const std::string& method, const std::string& normalized_path) const {
  Match m;
  const std::vector<std::string> parts = split_path(normalized_path);
  // Literal matches win over parameters: check routes in two passes (a route with fewer
  // parameters first), so "/api/nodes/custom" beats "/api/nodes/:type".
  const Route* best = nullptr;
  size_t best_params = SIZE_MAX;
  std::map<std::string, std::string> best_bindings;
  for (size_t i = 0; i < routes_.size(); ++i) {
    const auto& segs = compiled_[i].segments;
    std::map<std::string, std::string> bindings;
    size_t nparams = 0;
    bool ok = true;
    size_t k = 0;
    for (; k < segs.size(); ++k) {
      const std::string& s = segs[k];
      if (s[0] == '*') {
        if (k >= parts.size()) {
          ok = false;
          break;
        }
        std::string rest;
        for (size_t r = k; r < parts.size(); ++r) {
          if (!rest.empty()) rest.push_back('/');
          rest += parts[r];
        }
        bindings[s.substr(1)] = rest;
        ++nparams;
        k = segs.size();
        break;
      }
      if (k >= parts.size()) {
        ok = false;
        break;
      }
      if (s[0] == ':') {
        bindings[s.substr(1)] = parts[k];
        ++nparams;
      } else if (lower(parts[k]) != s) {
        ok = false;
        break;
      }
    }
    if (!ok) continue;
    const bool star = !segs.empty() && segs.back()[0] == '*';
    if (!star && parts.size() != segs.size()) continue;
    if (routes_[i].method != method) {
      if (std::find(m.allowed_methods.begin(), m.allowed_methods.end(), routes_[i].method) ==
          m.allowed_methods.end())
        m.allowed_methods.push_back(routes_[i].method);
      continue;
    }
    if (nparams < best_params) {
      best = &routes_[i];
      best_params = nparams;
      best_bindings = std::move(bindings);
    }
  }
  if (best) {
    m.route = best;
    m.params = std::move(best_bindings);
    m.allowed_methods.clear();
  }
  return m;
}

}  // namespace weft::http
