// Streaming gzip decoder for "Content-Encoding: gzip" request bodies (zlib).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"

namespace skyport::hub {

class Gunzip {
 public:
  // Output beyond `max_out` bytes is an error (a gzip bomb must not get past the body limit).
  explicit Gunzip(uint64_t max_out);
  ~Gunzip();
  Gunzip(const Gunzip&) = delete;
  Gunzip& operator=(const Gunzip&) = delete;

  // Appends what `in` decodes to `out`. INVALID_ARGUMENT on corrupt data,
  // RESOURCE_EXHAUSTED past the limit; the decoder stays failed afterwards.
  Status Feed(std::string_view in, std::string* out);
  // OK only if the gzip stream was complete.
  Status Finish() const;

 private:
  struct State;
  std::unique_ptr<State> s_;
};

}  // namespace skyport::hub
