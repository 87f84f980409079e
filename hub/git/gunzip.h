// Streaming gzip decoder for "Content-Encoding: gzip" request bodies (zlib).
#pragma once

#include <cstdint>
#include <functional>
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

  // Largest piece handed to the sink at once: one 64 KiB gzip chunk can
  // decode to ~64 MiB, which is never held in memory whole.
  static constexpr size_t kMaxPiece = 64 * 1024;
  using Sink = std::function<Status(std::string_view piece)>;
  // Decodes `in` and hands the output to `sink` in pieces of at most
  // kMaxPiece bytes, as it is produced. INVALID_ARGUMENT on corrupt data,
  // RESOURCE_EXHAUSTED past the limit, or the sink's error (decoding stops
  // there); the decoder stays failed afterwards.
  Status Feed(std::string_view in, const Sink& sink);
  // OK only if the gzip stream was complete.
  Status Finish() const;

 private:
  struct State;
  std::unique_ptr<State> s_;
};

}  // namespace skyport::hub
