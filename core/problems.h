// Validation that reports every problem at once: each message names its field
// ("flightplan[3].metric: required"); the result is one INVALID_ARGUMENT with
// the messages joined by "; ", or OK when there were none.
#pragma once

#include <string>
#include <string_view>
#include <utility>

#include "core/status.h"

namespace skyport {

class Problems {
 public:
  void Add(std::string message) {
    if (!text_.empty()) text_ += "; ";
    text_ += message;
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
    return text_.empty() ? Status::Ok() : Status::InvalidArgument(std::string(prefix) + text_);
  }

 private:
  std::string text_;
};

}  // namespace skyport
