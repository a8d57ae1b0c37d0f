// Test helper: enumerate loss patterns for erasure-code tests.
#pragma once

#include <functional>
#include <vector>

namespace tesseras::crypto::testing {

// Calls `f` with every subset of {0, …, n-1} that has at most `max_size`
// elements, the empty set included, each in increasing order (depth first:
// {}, {0}, {0,1}, …). For n = 6, max_size = 3 that is 1 + 6 + 15 + 20 = 42
// subsets.
inline void ForEachSubset(int n, int max_size,
                          const std::function<void(const std::vector<int>&)>& f) {
  std::vector<int> cur;
  std::function<void(int)> extend = [&](int start) {
    f(cur);
    if (static_cast<int>(cur.size()) == max_size) return;
    for (int i = start; i < n; ++i) {
      cur.push_back(i);
      extend(i + 1);
      cur.pop_back();
    }
  };
  extend(0);
}

}  // namespace tesseras::crypto::testing
