#include <algorithm>

#include "router/http1.h"
#include "router/http1_lex.h"

namespace skyport::router::http1 {

using namespace detail;

// ---- chunked ------------------------------------------------------------------

namespace {
constexpr size_t kMaxSizeLine = 4096;
constexpr size_t kMaxTrailerBytes = 32 * 1024;
constexpr int kMaxSizeDigits = 16;

inline int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  return (c | 0x20) - 'a' + 10;
}
}  // namespace

ChunkedScanner::Step ChunkedScanner::Feed(std::string_view data) {
  return Scan(data.data(), data.size(), nullptr, nullptr);
}

ChunkedScanner::Step ChunkedScanner::Decode(char* data, size_t n, size_t& payload) {
  payload = 0;
  return Scan(data, n, data, &payload);
}

ChunkedScanner::Step ChunkedScanner::StripTrailers(char* data, size_t n, size_t& kept) {
  kept = 0;
  return Scan(data, n, data, &kept, /*keep_framing=*/true);
}

ChunkedScanner::Step ChunkedScanner::Scan(const char* p, const size_t n, char* out, size_t* payload,
                                          bool keep_framing) {
  Step step;
  if (state_ == State::kDone) {
    step.done = true;
    return step;
  }
  size_t i = 0;
  auto fail = [&](const char* message) {
    state_ = State::kError;
    error_ = message;
    step.consumed = i;
    step.error = true;
    step.message = message;
    return step;
  };
  if (state_ == State::kError) return fail(error_);

  while (i < n) {
    const char c = p[i];
    if (keep_framing && state_ != State::kData) {
      // StripTrailers: every byte but those of trailer field lines moves down
      // (*payload <= i); the last chunk then ends with an empty trailer section.
      const bool field = state_ == State::kTrailerName || state_ == State::kTrailerValue ||
                         state_ == State::kTrailerLf || (state_ == State::kTrailerStart && c != '\r');
      if (!field) out[(*payload)++] = c;
    }
    switch (state_) {
      case State::kSize:
        if (InClass(c, kHex)) {
          if (++size_digits_ > kMaxSizeDigits) return fail("chunk size overflows 16 hex digits");
          remaining_ = (remaining_ << 4) | static_cast<uint64_t>(HexValue(c));
        } else if (size_digits_ == 0) {
          return fail("invalid chunk size");
        } else if (c == '\r') {
          state_ = State::kSizeLf;
        } else if (c == ';') {
          state_ = State::kExt;
        } else if (IsWs(c)) {
          state_ = State::kSizeWs;
        } else {
          return fail("invalid chunk size");
        }
        break;
      case State::kSizeWs:  // BWS is only allowed before a chunk extension
        if (c == ';') {
          state_ = State::kExt;
        } else if (!IsWs(c)) {
          return fail("invalid chunk size line");
        }
        break;
      case State::kExt:
        if (c == '\r') {
          state_ = State::kSizeLf;
        } else if (!InClass(c, kVal)) {
          return fail("control character in chunk extension");
        }
        break;
      case State::kSizeLf:
        if (c != '\n') return fail("chunk size line not ended by CRLF");
        line_bytes_ = 0;
        state_ = remaining_ == 0 ? State::kTrailerStart : State::kData;
        ++i;
        continue;
      case State::kData: {
        const size_t take = static_cast<size_t>(std::min<uint64_t>(remaining_, n - i));
        if (out) {  // Decode: the data moves down over the framing before it (*payload <= i)
          if (out + *payload != p + i) std::memmove(out + *payload, p + i, take);
          *payload += take;
        }
        i += take;
        remaining_ -= take;
        if (remaining_ == 0) state_ = State::kDataCr;
        continue;
      }
      case State::kDataCr:
        if (c != '\r') return fail("missing CRLF after chunk data");
        state_ = State::kDataLf;
        break;
      case State::kDataLf:
        if (c != '\n') return fail("missing CRLF after chunk data");
        state_ = State::kSize;
        size_digits_ = 0;
        ++i;
        continue;
      case State::kTrailerStart:
        if (c == '\r') {
          state_ = State::kFinalLf;
        } else if (IsWs(c)) {
          return fail("obs-fold in trailer section");
        } else if (InClass(c, kTok)) {
          state_ = State::kTrailerName;
        } else {
          return fail("invalid trailer field name");
        }
        break;
      case State::kTrailerName:
        if (c == ':') {
          state_ = State::kTrailerValue;
        } else if (!InClass(c, kTok)) {
          return fail("invalid trailer field name");
        }
        break;
      case State::kTrailerValue:
        if (c == '\r') {
          state_ = State::kTrailerLf;
        } else if (!InClass(c, kVal)) {
          return fail("control character in trailer field");
        }
        break;
      case State::kTrailerLf:
        if (c != '\n') return fail("trailer line not ended by CRLF");
        state_ = State::kTrailerStart;
        break;
      case State::kFinalLf:
        if (c != '\n') return fail("chunked body not ended by CRLF");
        state_ = State::kDone;
        step.consumed = i + 1;
        step.done = true;
        return step;
      case State::kDone:
      case State::kError: break;  // handled before the loop
    }
    // Every byte outside data and the final LF counts against a line limit.
    if (state_ == State::kSize || state_ == State::kSizeWs || state_ == State::kExt) {
      if (++line_bytes_ > kMaxSizeLine) return fail("chunk size line too long");
    } else if (state_ >= State::kTrailerStart) {
      if (++trailer_bytes_ > kMaxTrailerBytes) return fail("trailer section too big");
    }
    ++i;
  }
  step.consumed = n;
  return step;
}

}  // namespace skyport::router::http1
