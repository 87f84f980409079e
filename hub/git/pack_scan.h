// A streaming, bounded pre-scan of a git packfile (gitformat-pack), run on
// every byte of a push before libgit2's indexer sees it.
//
// The indexer trusts the sizes a pack declares and resolves deltas only when
// the pack is committed: a 178-byte delta that claims a 500 MB result, or a
// chain of hundreds of large deltas, costs memory and minutes there. The
// scanner reads each object's header (type and inflated size), the base of a
// delta (OFS_DELTA offset or REF_DELTA id) and the first bytes of a delta's
// data (base size and result size varints), inflating each object into a
// small scratch buffer, so it can refuse a pack before any of that work:
//
//   pack bytes      > max_pack_bytes     -> kPackSize
//   objects         > max_objects        -> kObjects    (checked on the pack header)
//   inflated size, delta base or result
//                   > max_object_bytes   -> kObjectSize (checked before inflating)
//   delta chain     > max_delta_depth    -> kDeltaDepth (OFS_DELTA chains are
//                                                        followed; a REF_DELTA
//                                                        must name an object
//                                                        the repository has)
//   inflated work   > max_inflate_bytes  -> kInflateBytes (inflated bytes of every
//                                                        object plus, for each
//                                                        delta, the bytes of its
//                                                        whole chain: what the
//                                                        indexer may rebuild when
//                                                        its base cache misses)
//
// A malformed pack (bad magic, version, type, varint, zlib stream, an object
// whose inflated data is longer or shorter than declared, a base offset that is
// not an object, bytes after the trailer) is INVALID_ARGUMENT; a bound is
// RESOURCE_EXHAUSTED with bound() saying which. After the first error the
// scanner stays failed. Memory: one zlib stream plus 18 bytes per object.
// The trailer checksum is left to the indexer.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"

namespace skyport::hub {

struct PackLimits {
  uint64_t max_pack_bytes = 2ull << 30;       // GitHub's push limit
  uint64_t max_objects = 1'000'000;
  uint64_t max_object_bytes = 100ull << 20;   // GitHub's file limit
  uint32_t max_delta_depth = 50;              // git's default pack.depth
  uint64_t max_inflate_bytes = 32ull << 30;
};

enum class PackBound { kNone, kPackSize, kObjects, kObjectSize, kDeltaDepth, kInflateBytes };
// "pack_size", "objects", "object_size", "delta_depth", "inflate_bytes" (metric labels); "" for kNone.
std::string_view PackBoundName(PackBound b);

class PackScanner {
 public:
  // `has_object(raw20)` says whether the repository already holds the object
  // with that binary id (the base of a REF_DELTA in a thin pack). May be empty
  // (= nothing is known: every REF_DELTA is refused).
  explicit PackScanner(PackLimits limits, std::function<bool(std::string_view raw_id)> has_object = {});
  ~PackScanner();
  PackScanner(const PackScanner&) = delete;
  PackScanner& operator=(const PackScanner&) = delete;

  // Consumes the next bytes of the pack. On error nothing of `bytes` should be
  // passed on.
  Status Feed(std::string_view bytes);
  // The stream ended: INVALID_ARGUMENT unless a whole pack (header, every
  // object, 20-byte trailer) was seen.
  Status Finish();

  PackBound bound() const { return bound_; }
  uint64_t objects_seen() const { return objects_done_; }
  uint32_t max_depth_seen() const { return max_depth_seen_; }
  uint64_t inflate_bytes() const { return work_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  PackBound bound_ = PackBound::kNone;
  uint64_t objects_done_ = 0;
  uint32_t max_depth_seen_ = 0;
  uint64_t work_ = 0;
};

// The whole pack at once (for tests and the fuzzer): Feed + Finish.
Status ScanPack(std::string_view pack, const PackLimits& limits, PackBound* bound = nullptr);

}  // namespace skyport::hub
