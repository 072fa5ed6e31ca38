// A flat (open addressing, linear probing) map from ids to indices, for the compiler's hot
// lookups (internal). Keys are views into the workflow document, which outlives the compile job,
// so nothing is copied and nothing is allocated per entry.
#pragma once

#include <cstdint>
#include <functional>
#include <string_view>
#include <vector>

namespace weft::compiler::detail {

class IdIndex {
 public:
  explicit IdIndex(size_t expected = 0) {
    size_t cap = 16;
    while (cap < expected * 2) cap <<= 1;  // load factor <= 1/2
    slots_.resize(cap);
    mask_ = cap - 1;
  }

  // Inserts key -> value unless present. Returns the value stored under the key and whether
  // this call inserted it.
  std::pair<uint32_t, bool> insert(std::string_view key, uint32_t value) {
    if ((size_ + 1) * 2 > slots_.size()) grow();
    Slot& s = probe(key);
    if (s.used) return {s.value, false};
    s = Slot{key, value, true};
    ++size_;
    return {value, true};
  }

  // nullptr when absent.
  const uint32_t* find(std::string_view key) const {
    const Slot& s = const_cast<IdIndex*>(this)->probe(key);
    return s.used ? &s.value : nullptr;
  }

  size_t size() const { return size_; }

 private:
  struct Slot {
    std::string_view key;
    uint32_t value = 0;
    bool used = false;
  };

  Slot& probe(std::string_view key) {
    size_t i = std::hash<std::string_view>{}(key) & mask_;
    while (slots_[i].used && slots_[i].key != key) i = (i + 1) & mask_;
    return slots_[i];
  }

  void grow() {
    std::vector<Slot> old;
    old.swap(slots_);
    slots_.resize(old.size() * 2);
    mask_ = slots_.size() - 1;
    for (const Slot& s : old)
      if (s.used) probe(s.key) = s;
  }

  std::vector<Slot> slots_;
  size_t mask_ = 0;
  size_t size_ = 0;
};

}  // namespace weft::compiler::detail
