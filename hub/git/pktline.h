// git pkt-lines (gitprotocol-common): a 4-hex-digit length that counts its own
// four bytes, then the payload; "0000" is a flush packet. Pure functions, no I/O.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "core/status.h"

namespace skyport::hub::pkt {

// Largest payload of one packet: 65520 - 4.
inline constexpr size_t kMaxPayload = 65516;

// One data packet. Payloads longer than kMaxPayload are the caller's bug and
// come back as INVALID_ARGUMENT rather than a corrupt stream.
Result<std::string> Encode(std::string_view payload);
// Encode for payloads the caller knows are short (protocol text).
std::string EncodeShort(std::string_view payload);
inline std::string Flush() { return "0000"; }

struct Packet {
  bool flush = false;    // "0000"
  std::string payload;   // empty for a flush
};

// Splits a stream into packets as bytes arrive. Feed() appends, Next() pops
// one complete packet, nullopt if more bytes are needed, an error (and stays
// failed) on a bad length. "0001"/"0002" (v2 delimiters) and "0003".."0004"
// are errors here: receive-pack v0 never sends them.
class Decoder {
 public:
  void Feed(std::string_view bytes) { buf_.append(bytes); }
  Result<std::optional<Packet>> Next();
  // Bytes after the last packet popped (the packfile, in a push); clears them.
  std::string TakeRest();
  size_t buffered() const { return buf_.size() - pos_; }

 private:
  std::string buf_;
  size_t pos_ = 0;
  std::optional<Status> failed_;
};

}  // namespace skyport::hub::pkt
