// Where an instance's output goes: split into lines, appended to a log file
// that rotates by size, and kept in a bounded in-memory tail.
#pragma once

#include <algorithm>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace skyport::drone {

// "2026-05-01T12:00:00.123Z stdout hello\n".
std::string FormatLogLine(int64_t unix_ms, std::string_view stream, std::string_view text);

// A line FormatLogLine wrote (without its '\n'), read back; nullopt when it
// does not have that shape (a line cut by rotation, a foreign file).
struct ParsedLogLine {
  int64_t unix_ms = 0;
  std::string stream;
  std::string text;
};
std::optional<ParsedLogLine> ParseLogLine(std::string_view line);

// Splits a byte stream into lines. A line longer than `max_line` is cut into
// pieces of that size so one endless line cannot grow memory without bound.
class LineSplitter {
 public:
  explicit LineSplitter(size_t max_line = 16 * 1024) : max_line_(std::max<size_t>(max_line, 1)) {}
  // Appends the complete lines in `data` (without '\n') to `out`.
  void Feed(std::string_view data, std::vector<std::string>& out);
  // At EOF: the unterminated rest, if any.
  void Flush(std::vector<std::string>& out);

 private:
  size_t max_line_;
  std::string partial_;
};

// Appends to `path`; when a write would take the file past `max_bytes`, the
// file is first renamed to path.1 (path.1 to path.2, ... up to path.<keep>;
// the oldest is dropped). A single line larger than max_bytes still gets
// written, alone in its file. Not thread-safe: one writer per file.
class LogFile {
 public:
  // Creates the parent directories. The fd is close-on-exec.
  static Result<std::unique_ptr<LogFile>> Open(std::string path, uint64_t max_bytes, int keep);
  ~LogFile();
  LogFile(const LogFile&) = delete;
  LogFile& operator=(const LogFile&) = delete;

  Status Append(std::string_view bytes);
  const std::string& path() const { return path_; }
  uint64_t size() const { return size_; }

 private:
  LogFile(std::string path, uint64_t max_bytes, int keep) : path_(std::move(path)), max_bytes_(max_bytes), keep_(keep) {}
  Status Reopen();
  Status Rotate();

  std::string path_;
  uint64_t max_bytes_;
  int keep_;
  int fd_ = -1;
  uint64_t size_ = 0;
};

// The newest `capacity` items; older ones fall off.
template <class T>
class TailRing {
 public:
  explicit TailRing(size_t capacity) : capacity_(capacity) {}
  void Push(T item) {
    if (capacity_ == 0) return;
    if (items_.size() == capacity_) items_.pop_front();
    items_.push_back(std::move(item));
  }
  // The last min(n, size) items, oldest first.
  std::vector<T> Last(size_t n) const {
    n = std::min(n, items_.size());
    return std::vector<T>(items_.end() - static_cast<std::ptrdiff_t>(n), items_.end());
  }
  size_t size() const { return items_.size(); }

 private:
  size_t capacity_;
  std::deque<T> items_;
};

}  // namespace skyport::drone
