#include "hub/git/pack_scan.h"

#include <fmt/format.h>
#include <zlib.h>

#include <algorithm>
#include <climits>
#include <optional>
#include <vector>

namespace skyport::hub {
namespace {

enum ObjType { kCommit = 1, kTree = 2, kBlob = 3, kTag = 4, kOfsDelta = 6, kRefDelta = 7 };

// A parsed object header: "type+size" varint, then the delta base.
struct ObjHeader {
  int type = 0;
  uint64_t size = 0;
  uint64_t ofs = 0;        // OFS_DELTA: distance back to the base
  std::string ref;         // REF_DELTA: 20-byte base id
};

enum class Parse { kNeedMore, kBad, kDone };

// Parses an object header from the start of `b`.
Parse ParseObjHeader(std::string_view b, ObjHeader* h, std::string* why) {
  size_t i = 0;
  if (b.empty()) return Parse::kNeedMore;
  auto c = static_cast<uint8_t>(b[i++]);
  h->type = (c >> 4) & 7;
  h->size = c & 15;
  int shift = 4;
  while (c & 0x80) {
    if (i >= b.size()) return Parse::kNeedMore;
    if (shift > 57) {
      *why = "object size varint too long";
      return Parse::kBad;
    }
    c = static_cast<uint8_t>(b[i++]);
    h->size |= static_cast<uint64_t>(c & 0x7f) << shift;
    shift += 7;
  }
  switch (h->type) {
    case kCommit: case kTree: case kBlob: case kTag:
      return Parse::kDone;
    case kOfsDelta: {
      // Big-endian base-128 with an implicit +1 per continuation (gitformat-pack).
      if (i >= b.size()) return Parse::kNeedMore;
      c = static_cast<uint8_t>(b[i++]);
      uint64_t ofs = c & 0x7f;
      while (c & 0x80) {
        if (i >= b.size()) return Parse::kNeedMore;
        if (ofs >= (uint64_t{1} << 56)) {
          *why = "ofs-delta offset too large";
          return Parse::kBad;
        }
        c = static_cast<uint8_t>(b[i++]);
        ofs = ((ofs + 1) << 7) | (c & 0x7f);
      }
      h->ofs = ofs;
      return Parse::kDone;
    }
    case kRefDelta:
      if (b.size() < i + 20) return Parse::kNeedMore;
      h->ref = std::string(b.substr(i, 20));
      return Parse::kDone;
    default:
      *why = fmt::format("invalid object type {}", h->type);
      return Parse::kBad;
  }
}

// One little-endian base-128 varint (a delta's base or result size).
Parse ParseDeltaSize(std::string_view b, size_t* pos, uint64_t* out) {
  uint64_t v = 0;
  int shift = 0;
  while (true) {
    if (*pos >= b.size()) return Parse::kNeedMore;
    auto c = static_cast<uint8_t>(b[(*pos)++]);
    if (shift > 63) return Parse::kBad;
    v |= static_cast<uint64_t>(c & 0x7f) << shift;
    shift += 7;
    if (!(c & 0x80)) break;
  }
  *out = v;
  return Parse::kDone;
}

std::string Hex(std::string_view raw) {
  std::string s;
  for (unsigned char c : raw) s += fmt::format("{:02x}", c);
  return s;
}

constexpr size_t kScratch = 64 * 1024;

}  // namespace

std::string_view PackBoundName(PackBound b) {
  switch (b) {
    case PackBound::kPackSize: return "pack_size";
    case PackBound::kObjects: return "objects";
    case PackBound::kObjectSize: return "object_size";
    case PackBound::kDeltaDepth: return "delta_depth";
    case PackBound::kInflateBytes: return "inflate_bytes";
    case PackBound::kNone: break;
  }
  return "";
}

struct PackScanner::Impl {
  enum class State { kHeader, kObjHeader, kData, kTrailer, kDone };

  PackLimits limits;
  std::function<bool(std::string_view)> has_object;
  State state = State::kHeader;
  std::string hdr;            // bytes of the header being read
  uint64_t pos = 0;           // pack offset of the next byte
  uint64_t fed = 0;
  uint32_t total = 0;         // objects the pack header declares
  uint64_t done = 0;          // objects scanned
  uint32_t max_depth = 0;
  std::optional<Status> failed;
  PackBound bound = PackBound::kNone;

  // The object being inflated.
  uint64_t obj_offset = 0;
  ObjHeader obj;
  uint64_t inflated = 0;
  std::string delta_head;     // first bytes of a delta's data
  bool delta_sizes_known = false;

  // Offsets of every object so far (increasing), their delta depth, and the
  // bytes of their chain (their own inflated size plus their base's chain).
  std::vector<uint64_t> offsets;
  std::vector<uint16_t> depths;
  std::vector<uint64_t> chains;
  uint64_t base_chain = 0;    // the current delta's base's chain (REF_DELTA: filled from the delta header)
  uint64_t work = 0;

  z_stream z{};
  bool z_ready = false;
  std::vector<unsigned char> scratch = std::vector<unsigned char>(kScratch);

  ~Impl() {
    if (z_ready) inflateEnd(&z);
  }

  Status Fail(Status s, PackBound b = PackBound::kNone) {
    failed = s;
    bound = b;
    return s;
  }
  Status Bad(std::string why) {
    return Fail(Status::InvalidArgument(fmt::format("bad pack at offset {}: {}", obj_offset, why)));
  }
  Status Limit(PackBound b, std::string why) { return Fail(Status::ResourceExhausted(std::move(why)), b); }
  // The current object rebuilds `bytes` (its chain): add it to the work.
  Status AddWork(uint64_t bytes) {
    chains.back() = bytes;
    work += bytes;
    if (work > limits.max_inflate_bytes) {
      return Limit(PackBound::kInflateBytes, fmt::format("resolving this pack means inflating over {} bytes; the hub's limit is {}",
                                                 work, limits.max_inflate_bytes));
    }
    return Status::Ok();
  }

  Status Feed(std::string_view bytes);
  Status StartObject();
  Status CheckDeltaSizes(bool stream_ended);
  Status Inflate(std::string_view* in);
};

Status PackScanner::Impl::Feed(std::string_view in) {
  if (failed) return *failed;
  fed += in.size();
  if (fed > limits.max_pack_bytes) {
    return Limit(PackBound::kPackSize,
                 fmt::format("pack exceeds the hub's limit of {} bytes", limits.max_pack_bytes));
  }
  while (!in.empty()) {
    switch (state) {
      case State::kHeader: {
        size_t n = std::min(in.size(), 12 - hdr.size());
        hdr.append(in.substr(0, n));
        in.remove_prefix(n);
        pos += n;
        if (hdr.compare(0, 4, std::string_view("PACK").substr(0, std::min<size_t>(4, hdr.size()))) != 0) {
          return Bad("no PACK signature");
        }
        if (hdr.size() < 12) break;
        auto u32 = [&](size_t at) {
          return (uint32_t{static_cast<uint8_t>(hdr[at])} << 24) | (uint32_t{static_cast<uint8_t>(hdr[at + 1])} << 16) |
                 (uint32_t{static_cast<uint8_t>(hdr[at + 2])} << 8) | uint32_t{static_cast<uint8_t>(hdr[at + 3])};
        };
        uint32_t version = u32(4);
        if (version != 2 && version != 3) return Bad(fmt::format("unsupported pack version {}", version));
        total = u32(8);
        if (total > limits.max_objects) {
          return Limit(PackBound::kObjects,
                       fmt::format("pack has {} objects; the hub's limit is {}", total, limits.max_objects));
        }
        offsets.reserve(total);
        depths.reserve(total);
        chains.reserve(total);
        hdr.clear();
        state = total == 0 ? State::kTrailer : State::kObjHeader;
        break;
      }
      case State::kObjHeader: {
        if (hdr.empty()) obj_offset = pos;
        hdr.push_back(in.front());
        in.remove_prefix(1);
        ++pos;
        std::string why;
        obj = ObjHeader{};
        Parse p = ParseObjHeader(hdr, &obj, &why);
        if (p == Parse::kBad) return Bad(why);
        if (p == Parse::kNeedMore) break;
        hdr.clear();
        if (Status s = StartObject(); !s.ok()) return s;
        state = State::kData;
        break;
      }
      case State::kData:
        if (Status s = Inflate(&in); !s.ok()) return s;
        break;
      case State::kTrailer: {
        size_t n = std::min(in.size(), 20 - hdr.size());
        hdr.append(in.substr(0, n));
        in.remove_prefix(n);
        pos += n;
        if (hdr.size() == 20) state = State::kDone;
        break;
      }
      case State::kDone:
        obj_offset = pos;
        return Bad("data after the pack trailer");
    }
  }
  return Status::Ok();
}

Status PackScanner::Impl::StartObject() {
  const bool delta = obj.type == kOfsDelta || obj.type == kRefDelta;
  if (obj.size > limits.max_object_bytes) {
    return Limit(PackBound::kObjectSize,
                 fmt::format("{} of {} bytes at pack offset {} exceeds the hub's limit of {} bytes",
                             delta ? "delta" : "object", obj.size, obj_offset, limits.max_object_bytes));
  }
  uint32_t depth = 0;
  if (obj.type == kOfsDelta) {
    if (obj.ofs == 0 || obj.ofs > obj_offset) return Bad("ofs-delta base before the start of the pack");
    uint64_t base = obj_offset - obj.ofs;
    auto it = std::lower_bound(offsets.begin(), offsets.end(), base);
    if (it == offsets.end() || *it != base) return Bad("ofs-delta base is not an object");
    depth = uint32_t{depths[static_cast<size_t>(it - offsets.begin())]} + 1;
    base_chain = chains[static_cast<size_t>(it - offsets.begin())];
  } else if (obj.type == kRefDelta) {
    // git sends REF_DELTA only against objects the receiver has (thin packs)
    // once ofs-delta is offered; a chain through the pack would be unbounded here.
    if (!has_object || !has_object(obj.ref)) {
      return Bad(fmt::format("ref-delta base {} is not in the repository (the hub accepts ofs-delta packs, "
                             "as git sends them)", Hex(obj.ref)));
    }
    depth = 1;
    base_chain = 0;  // the base's size comes with the delta header
  }
  if (depth > limits.max_delta_depth) {
    return Limit(PackBound::kDeltaDepth,
                 fmt::format("delta chain of depth {} at pack offset {} exceeds the hub's limit of {}", depth,
                             obj_offset, limits.max_delta_depth));
  }
  max_depth = std::max(max_depth, depth);
  offsets.push_back(obj_offset);
  depths.push_back(static_cast<uint16_t>(std::min<uint32_t>(depth, UINT16_MAX)));
  chains.push_back(0);
  if (!delta) {
    if (Status s = AddWork(obj.size); !s.ok()) return s;
  }
  inflated = 0;
  delta_head.clear();
  delta_sizes_known = !delta;
  if (!z_ready) {
    if (inflateInit(&z) != Z_OK) return Fail(Status::Internal("zlib init failed"));
    z_ready = true;
  } else {
    inflateReset(&z);
  }
  return Status::Ok();
}

Status PackScanner::Impl::CheckDeltaSizes(bool stream_ended) {
  size_t at = 0;
  uint64_t base = 0, result = 0;
  Parse p = ParseDeltaSize(delta_head, &at, &base);
  if (p == Parse::kDone) p = ParseDeltaSize(delta_head, &at, &result);
  if (p == Parse::kBad || (p == Parse::kNeedMore && (stream_ended || delta_head.size() >= 20))) {
    return Bad("malformed delta header");
  }
  if (p == Parse::kNeedMore) return Status::Ok();
  delta_sizes_known = true;
  uint64_t biggest = std::max(base, result);
  if (biggest > limits.max_object_bytes) {
    return Limit(PackBound::kObjectSize,
                 fmt::format("delta at pack offset {} makes an object of {} bytes (base {}); the hub's limit is {} bytes",
                             obj_offset, result, base, limits.max_object_bytes));
  }
  // Sizes are capped above, so the sum cannot overflow before the work bound bites.
  return AddWork(result + (obj.type == kRefDelta ? base : base_chain));
}

Status PackScanner::Impl::Inflate(std::string_view* in) {
  while (true) {
    size_t avail = std::min<size_t>(in->size(), UINT_MAX);
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in->data()));
    z.avail_in = static_cast<uInt>(avail);
    z.next_out = scratch.data();
    z.avail_out = static_cast<uInt>(scratch.size());
    int rc = inflate(&z, Z_NO_FLUSH);
    size_t used = avail - z.avail_in;
    size_t produced = scratch.size() - z.avail_out;
    in->remove_prefix(used);
    pos += used;
    // A delta's sizes are read from its declared bytes only, and before the overflow check: how
    // much one inflate call produces depends on how the pack was cut into reads, the verdict must not.
    if (!delta_sizes_known && produced > 0 && inflated < obj.size) {
      const uint64_t declared = std::min<uint64_t>(produced, obj.size - inflated);
      size_t take = static_cast<size_t>(std::min<uint64_t>(declared, 20 - delta_head.size()));
      delta_head.append(reinterpret_cast<const char*>(scratch.data()), take);
      if (Status s = CheckDeltaSizes(false); !s.ok()) return s;
    }
    inflated += produced;
    if (inflated > obj.size) return Bad(fmt::format("object inflates beyond its declared {} bytes", obj.size));
    if (rc == Z_STREAM_END) {
      if (inflated != obj.size) return Bad(fmt::format("object inflates to {} bytes, not the declared {}", inflated, obj.size));
      if (!delta_sizes_known) {
        if (Status s = CheckDeltaSizes(true); !s.ok()) return s;
      }
      ++done;
      state = done == total ? State::kTrailer : State::kObjHeader;
      return Status::Ok();
    }
    if (rc == Z_BUF_ERROR || (rc == Z_OK && z.avail_in == 0 && z.avail_out > 0)) {
      if (!in->empty()) return Bad("zlib stream stalled");
      return Status::Ok();  // needs the next bytes
    }
    if (rc != Z_OK) return Bad(fmt::format("zlib: {}", z.msg ? z.msg : "corrupt stream"));
    if (used == 0 && produced == 0) return Bad("zlib stream stalled");
  }
}

PackScanner::PackScanner(PackLimits limits, std::function<bool(std::string_view)> has_object)
    : impl_(std::make_unique<Impl>()) {
  impl_->limits = limits;
  impl_->has_object = std::move(has_object);
}

PackScanner::~PackScanner() = default;

Status PackScanner::Feed(std::string_view bytes) {
  Status s = impl_->Feed(bytes);
  bound_ = impl_->bound;
  objects_done_ = impl_->done;
  max_depth_seen_ = impl_->max_depth;
  work_ = impl_->work;
  return s;
}

Status PackScanner::Finish() {
  Impl& m = *impl_;
  if (m.failed) return *m.failed;
  if (m.state == Impl::State::kDone) return Status::Ok();
  if (m.state == Impl::State::kHeader) return m.Fail(Status::InvalidArgument("pack ended inside its header"));
  return m.Fail(Status::InvalidArgument(
      fmt::format("pack ended early: {} of {} objects{}", m.done, m.total,
                  m.state == Impl::State::kTrailer ? ", no trailer" : "")));
}

Status ScanPack(std::string_view pack, const PackLimits& limits, PackBound* bound) {
  PackScanner s(limits);
  Status st = s.Feed(pack);
  if (st.ok()) st = s.Finish();
  if (bound) *bound = s.bound();
  return st;
}

}  // namespace skyport::hub
