// libFuzzer target: the bounded pre-scan of pushed packs (hub/git/pack_scan.h
// PackScanner, ScanPack). The first byte picks a piece size (low 6 bits) and
// how the rest is read (bit 7); the second byte picks the limits (small ones,
// so that every bound can bite).
//   bit 7 = 0: the rest is the pack, as a client sends it;
//   bit 7 = 1: the rest describes the objects and the target deflates them, so
//              that mutations reach the object headers, delta offsets and
//              delta size varints instead of breaking zlib streams: records
//              of [n: 1 byte, its low 5 bits the header length] [header: n
//              bytes, written raw: type and declared size, OFS/REF base]
//              [m: 1 byte] [body: m bytes, deflated into the pack].
// Fed whole and in pieces the scanner must give the same verdict, bound and
// counts (a push arrives in network reads of any size), never report more
// than its limits allow, and stay failed after an error.
#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "fuzz/check.h"
#include "hub/git/pack_scan.h"

using skyport::Code;
using skyport::Status;
using skyport::hub::PackBound;
using skyport::hub::PackLimits;
using skyport::hub::PackScanner;

namespace {

// A repository that has every object whose id starts with an even byte.
bool HasObject(std::string_view raw_id) { return !raw_id.empty() && (static_cast<uint8_t>(raw_id[0]) & 1) == 0; }

struct Outcome {
  Code code = Code::kOk;
  std::string message;
  PackBound bound = PackBound::kNone;
  uint64_t objects = 0;
  uint32_t depth = 0;
  uint64_t inflate = 0;
};

Outcome Scan(std::string_view pack, size_t piece, const PackLimits& limits) {
  PackScanner s(limits, HasObject);
  Status st;
  for (size_t at = 0; at < pack.size() && st.ok(); at += piece) st = s.Feed(pack.substr(at, piece));
  if (st.ok()) st = s.Finish();
  if (!st.ok()) {
    CHECK(!st.message().empty());
    CHECK(st.code() == (s.bound() == PackBound::kNone ? Code::kInvalidArgument : Code::kResourceExhausted));
    CHECK(!s.Feed("PACK").ok() && !s.Finish().ok());  // stays failed
  }
  return {st.code(), st.message(), s.bound(), s.objects_seen(), s.max_depth_seen(), s.inflate_bytes()};
}

// A zlib stream of `body` with a 512-byte window and the smallest state: a
// default deflate allocates ~270 KB, which under ASan costs more than the scan.
// (make_corpus.py writes the same streams: zlib.compressobj(1, wbits=9, memLevel=1).)
std::string Deflate(std::string_view body) {
  z_stream z{};
  CHECK(deflateInit2(&z, 1, Z_DEFLATED, 9, 1, Z_DEFAULT_STRATEGY) == Z_OK);
  std::string out(deflateBound(&z, static_cast<uLong>(body.size())), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(body.data()));
  z.avail_in = static_cast<uInt>(body.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  CHECK(deflate(&z, Z_FINISH) == Z_STREAM_END);
  out.resize(out.size() - z.avail_out);
  deflateEnd(&z);
  return out;
}

// Bit 7 of the first byte: the pack made from object records (see the top).
std::string BuildPack(std::string_view in) {
  std::string objects;
  uint32_t count = 0;
  while (!in.empty()) {
    const size_t n = std::min<size_t>(static_cast<uint8_t>(in[0]) & 31, in.size() - 1);
    objects.append(in.substr(1, n));
    in.remove_prefix(1 + n);
    const size_t m = in.empty() ? 0 : std::min<size_t>(static_cast<uint8_t>(in[0]), in.size() - 1);
    const std::string_view body = in.empty() ? std::string_view() : in.substr(1, m);
    if (!in.empty()) in.remove_prefix(1 + m);
    objects += Deflate(body);
    ++count;
  }
  std::string pack = "PACK";
  for (uint32_t v : {uint32_t{2}, count})
    for (int shift = 24; shift >= 0; shift -= 8) pack.push_back(static_cast<char>((v >> shift) & 0xff));
  return pack + objects + std::string(20, '\0');  // the trailer's checksum is the indexer's business
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const size_t piece = 1 + data[0] % 64;
  PackLimits limits;
  const uint8_t l = data[1];
  limits.max_delta_depth = 1 + (l & 7);
  limits.max_object_bytes = uint64_t{64} << ((l >> 3) & 7);  // 64 B .. 8 KiB
  limits.max_objects = 1 + ((l >> 6) & 1) * 63;
  limits.max_inflate_bytes = (l & 0x80) ? 4096 : 1 << 20;
  // --git-max-pack-size is checked on the bytes fed so far, so a whole pack over it fails at once
  // while pieces may first meet a malformed object: keep it out of reach here (unit-tested).
  const std::string_view rest(reinterpret_cast<const char*>(data) + 2, size - 2);
  const std::string built = (data[0] & 0x80) ? BuildPack(rest) : std::string();
  const std::string_view pack = (data[0] & 0x80) ? std::string_view(built) : rest;

  Outcome whole = Scan(pack, std::max<size_t>(pack.size(), 1), limits);
  Outcome split = Scan(pack, piece, limits);
  if (whole.code != split.code || whole.bound != split.bound)
    std::fprintf(stderr, "whole: %s\nin pieces of %zu: %s\n", whole.message.c_str(), piece, split.message.c_str());
  CHECK(whole.code == split.code);
  CHECK(whole.bound == split.bound);
  if (whole.code == Code::kOk) {
    CHECK(whole.objects == split.objects && whole.depth == split.depth && whole.inflate == split.inflate);
    CHECK(whole.objects <= limits.max_objects);
    CHECK(whole.depth <= limits.max_delta_depth);
    CHECK(whole.inflate <= limits.max_inflate_bytes);
  }
  // ScanPack is the same scan (no repository: a REF_DELTA is refused, nothing else differs).
  PackBound bound;
  Status once = skyport::hub::ScanPack(pack, limits, &bound);
  if (once.ok()) CHECK(whole.code == Code::kOk);
  return 0;
}
