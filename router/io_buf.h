// A byte buffer for one direction of a connection: bytes live in
// [begin, end) of a fixed allocation, compacted before reads when needed.
#pragma once

#include <cstddef>
#include <cstring>
#include <memory>
#include <string_view>

namespace skyport::router {

class IoBuf {
 public:
  explicit IoBuf(size_t capacity) : mem_(new char[capacity]), cap_(capacity) {}

  const char* data() const { return mem_.get() + b_; }
  char* mutable_data() { return mem_.get() + b_; }
  size_t size() const { return e_ - b_; }
  bool empty() const { return e_ == b_; }
  std::string_view view() const { return {data(), size()}; }
  size_t capacity() const { return cap_; }

  // Room to read into, after moving the bytes to the front if that helps.
  char* write_ptr() { return mem_.get() + e_; }
  size_t space() {
    if (b_ > cap_ / 2 || (b_ > 0 && e_ == cap_)) Compact();  // no tiny reads into the tail
    return cap_ - e_;
  }
  void Commit(size_t n) { e_ += n; }
  void Consume(size_t n) {
    b_ += n;
    if (b_ == e_) b_ = e_ = 0;
  }
  // Removes `n` bytes at `offset` (from data()), keeping the bytes after them.
  void Erase(size_t offset, size_t n) {
    char* at = mem_.get() + b_ + offset;
    std::memmove(at, at + n, size() - offset - n);
    e_ -= n;
    if (b_ == e_) b_ = e_ = 0;
  }
  void Compact() {
    if (b_ == 0) return;
    std::memmove(mem_.get(), mem_.get() + b_, e_ - b_);
    e_ -= b_;
    b_ = 0;
  }
  // Grows the allocation (keeping the bytes) to at least `capacity`.
  void Grow(size_t capacity) {
    if (capacity <= cap_) return;
    std::unique_ptr<char[]> m(new char[capacity]);
    std::memcpy(m.get(), data(), size());
    e_ -= b_;
    b_ = 0;
    mem_ = std::move(m);
    cap_ = capacity;
  }

 private:
  std::unique_ptr<char[]> mem_;
  size_t cap_;
  size_t b_ = 0, e_ = 0;
};

}  // namespace skyport::router
