#include "host/core/ids.hpp"

#include <gtest/gtest.h>

#include <set>

TEST(Ids, AreUniqueSortedAndWellFormed) {
  std::set<std::string> seen;
  std::string prev;
  for (int i = 0; i < 10000; ++i) {
    std::string id = weft::new_id();
    ASSERT_EQ(id.size(), 26u);
    for (char c : id) ASSERT_TRUE((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z')) << id;
    ASSERT_TRUE(seen.insert(id).second);
    ASSERT_LT(prev, id);
    prev = id;
  }
  EXPECT_EQ(weft::random_hex(16).size(), 32u);
}
