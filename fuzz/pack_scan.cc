// libFuzzer target: the bounded pre-scan of pushed packs (hub/pack_scan.h
// PackScanner, ScanPack). The first byte picks a piece size, the second the
// limits (small ones, so that every bound can bite); the rest is the pack.
// Fed whole and in pieces the scanner must give the same verdict, bound and
// counts (a push arrives in network reads of any size), never report more
// than its limits allow, and stay failed after an error.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "fuzz/check.h"
#include "hub/pack_scan.h"

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
  const std::string_view pack(reinterpret_cast<const char*>(data) + 2, size - 2);

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
