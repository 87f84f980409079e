// Validation that reports every problem at once: each message names its field
// ("flightplan[3].metric: required"); the result is one INVALID_ARGUMENT with
// the messages joined by "; ", or OK when there were none.
#pragma once

#include <algorithm>
#include <string>
#include <string_view>
#include <utility>

#include "core/status.h"

namespace skyport {

// Messages echo what a client sent ("control: \"<value>\" is not an arm"),
// and a client may send megabytes or terminal escapes: every message that
// goes back or into a log passes through here. Control characters become
// \xNN; beyond `max` bytes (and 32 more, so that a cut always shortens) the
// middle is cut ("…[N bytes cut]…", between UTF-8 characters), so that the
// field path at the start and the rule at the end both stay.
inline constexpr size_t kMaxEchoBytes = 256;
// `escape_controls` false keeps newlines (multi-line command output).
inline std::string ClipEcho(std::string_view message, size_t max = kMaxEchoBytes, bool escape_controls = true) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(std::min(message.size(), max + 32));
  auto put = [&out, escape_controls](std::string_view part) {
    for (char c : part) {
      const auto u = static_cast<unsigned char>(c);
      if (escape_controls && (u < 0x20 || u == 0x7f)) {
        out += "\\x";
        out += kHex[u >> 4];
        out += kHex[u & 15];
      } else {
        out += c;
      }
    }
  };
  if (message.size() <= max + 32) {
    put(message);
    return out;
  }
  // Both cuts fall between UTF-8 characters: a split one makes a JSON dump
  // throw and shows as garbage.
  auto continuation = [&message](size_t i) { return (static_cast<unsigned char>(message[i]) & 0xc0) == 0x80; };
  size_t head = max - max / 3, from = message.size() - max / 3;
  while (head > 0 && continuation(head)) --head;
  while (from < message.size() && continuation(from)) ++from;
  put(message.substr(0, head));
  out += "…[" + std::to_string(from - head) + " bytes cut]…";
  put(message.substr(from));
  return out;
}

class Problems {
 public:
  // At most kMaxProblems messages are kept (then "… and N more problems"),
  // each clipped by ClipEcho: the answer to a hostile document stays small.
  static constexpr int kMaxProblems = 32;

  void Add(std::string message) {
    if (count_++ >= kMaxProblems) return;
    if (!text_.empty()) text_ += "; ";
    text_ += ClipEcho(message);
  }
  void Add(std::string_view path, std::string_view what) {
    Add(path.empty() ? std::string(what) : std::string(path) + ": " + std::string(what));
  }
  void Add(const Status& s) {
    if (!s.ok()) Add(s.message());
  }
  bool empty() const { return text_.empty(); }
  // OK when empty; else INVALID_ARGUMENT "<prefix><problems>".
  Status ToStatus(std::string_view prefix = "") const {
    if (text_.empty()) return Status::Ok();
    std::string more = count_ > kMaxProblems ? "; … and " + std::to_string(count_ - kMaxProblems) + " more problems" : "";
    return Status::InvalidArgument(std::string(prefix) + text_ + more);
  }

 private:
  std::string text_;
  int count_ = 0;
};

}  // namespace skyport
