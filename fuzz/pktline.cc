// libFuzzer target: git pkt-line decoding (hub/git/pktline.h Decoder), the first
// thing the hub does with a push body. The first byte picks a piece size: the
// stream is decoded whole and fed in pieces, and both must give the same
// packets; every payload re-encodes to the bytes it came from.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz/check.h"
#include "hub/git/pktline.h"

namespace pkt = skyport::hub::pkt;

namespace {

struct Decoded {
  std::vector<pkt::Packet> packets;
  std::string rest;
  bool failed = false;
};

Decoded Decode(std::string_view stream, size_t piece) {
  pkt::Decoder d;
  Decoded out;
  for (size_t at = 0; at < stream.size(); at += piece) {
    d.Feed(stream.substr(at, piece));
    for (;;) {
      auto next = d.Next();
      if (!next.ok()) {
        out.failed = true;
        CHECK(!d.Next().ok());  // stays failed
        return out;
      }
      if (!next->has_value()) break;
      out.packets.push_back(std::move(**next));
    }
  }
  out.rest = d.TakeRest();
  CHECK(d.buffered() == 0);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const size_t piece = 1 + data[0] % 64;
  const std::string_view stream(reinterpret_cast<const char*>(data) + 1, size - 1);
  Decoded whole = Decode(stream, stream.size() + 1);
  Decoded split = Decode(stream, piece);
  CHECK(whole.failed == split.failed);
  if (whole.failed) return 0;
  CHECK(whole.packets.size() == split.packets.size() && whole.rest == split.rest);
  std::string again;
  for (size_t i = 0; i < whole.packets.size(); ++i) {
    const pkt::Packet& p = whole.packets[i];
    CHECK(p.flush == split.packets[i].flush && p.payload == split.packets[i].payload);
    CHECK(p.payload.size() <= pkt::kMaxPayload);
    if (p.flush) {
      CHECK(p.payload.empty());
      again += pkt::Flush();
    } else {
      auto enc = pkt::Encode(p.payload);
      CHECK(enc.ok());
      again += *enc;
    }
  }
  // Upper-case hex on the wire re-encodes in lower case: compare the lengths.
  CHECK(again.size() + whole.rest.size() == stream.size());
  return 0;
}
