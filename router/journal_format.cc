#include "router/journal_format.h"

#include <algorithm>
#include <cstring>
#include <optional>

#include "core/hash.h"

namespace skyport::router {
namespace {

constexpr uint8_t kPost = 1;
constexpr uint8_t kDrops = 2;
constexpr uint8_t kExposure = 3;
constexpr size_t kFrameHead = 4 + 8;  // payload length, checksum
constexpr uint32_t kMaxPayload = 64 << 20;

inline uint64_t Rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

inline uint64_t Load64(const char* p) {
  uint64_t w;
  std::memcpy(&w, p, 8);
  return w;
}

// Two multiply lanes over 16-byte blocks: a few cycles per block, enough to
// notice a torn or garbled frame (not a cryptographic check).
uint64_t HashWords(std::string_view s, uint64_t seed) {
  constexpr uint64_t k1 = 0x9e3779b97f4a7c15ULL, k2 = 0xc2b2ae3d27d4eb4fULL;
  const char* p = s.data();
  size_t n = s.size();
  uint64_t a = seed, b = seed ^ k2;
  for (; n >= 16; p += 16, n -= 16) {
    a = Rotl((a ^ Load64(p)) * k1, 31);
    b = Rotl((b ^ Load64(p + 8)) * k2, 29);
  }
  if (n >= 8) {
    a = Rotl((a ^ Load64(p)) * k1, 31);
    p += 8;
    n -= 8;
  }
  uint64_t tail = 0;
  std::memcpy(&tail, p, n);
  b = Rotl((b ^ tail ^ (uint64_t{n} << 56)) * k2, 29);
  return Fmix64(a ^ Rotl(b, 17) ^ s.size());
}

void PutU32(std::string& out, uint32_t v) { out.append(reinterpret_cast<const char*>(&v), 4); }
void PutU64(std::string& out, uint64_t v) { out.append(reinterpret_cast<const char*>(&v), 8); }
void PutStr(std::string& out, std::string_view s) {
  PutU32(out, static_cast<uint32_t>(s.size()));
  out.append(s);
}

// Fills the frame head at out[0..12) for a payload of out[12..) + tail.
void FinishFrame(std::string& out, std::string_view tail) {
  const uint32_t len = static_cast<uint32_t>(out.size() - kFrameHead + tail.size());
  const uint64_t sum = JournalChecksum(std::string_view(out).substr(kFrameHead), tail);
  std::memcpy(out.data(), &len, 4);
  std::memcpy(out.data() + 4, &sum, 8);
}

// Reads little-endian fields from a payload; any overrun makes ok() false.
class Reader {
 public:
  explicit Reader(std::string_view s) : s_(s) {}
  bool ok() const { return ok_; }
  bool done() const { return pos_ == s_.size(); }
  uint8_t U8() { return static_cast<uint8_t>(Take(1)[0]); }
  uint32_t U32() {
    uint32_t v = 0;
    std::memcpy(&v, Take(4).data(), 4);
    return v;
  }
  uint64_t U64() {
    uint64_t v = 0;
    std::memcpy(&v, Take(8).data(), 8);
    return v;
  }
  std::string_view Str() { return Take(U32()); }

 private:
  std::string_view Take(size_t n) {
    static const char kZeros[8] = {};
    if (!ok_ || s_.size() - pos_ < n) {
      ok_ = false;
      return std::string_view(kZeros, std::min<size_t>(n, 8));
    }
    auto v = s_.substr(pos_, n);
    pos_ += n;
    return v;
  }
  std::string_view s_;
  size_t pos_ = 0;
  bool ok_ = true;
};

struct Post {
  JournaledPost meta;
  ParsedEvents parsed;
};

void Apply(const Post& post, const std::vector<uint32_t>& drops, EventAggregator& agg, ReplayStats& st) {
  const JournaledPost& m = post.meta;
  auto scope = agg.Scope(m.app, m.flight, m.arm);
  for (size_t i = 0; i < post.parsed.events.size(); ++i) {
    if (std::find(drops.begin(), drops.end(), static_cast<uint32_t>(i)) != drops.end()) {
      ++st.dropped;
      continue;
    }
    const ParsedEvent& ev = post.parsed.events[i];
    std::string_view user = ev.user.empty() ? m.user : ev.user;
    if (agg.Add(scope, ev.name, user, ev.value, ev.unix_s ? ev.unix_s : m.now_unix_s))
      ++st.events;
    else
      ++st.dropped;
  }
}

}  // namespace

uint64_t JournalChecksum(std::string_view a, std::string_view b) {
  return Fmix64(HashWords(a, 0x243f6a8885a308d3ULL) * 0xff51afd7ed558ccdULL + HashWords(b, 0x13198a2e03707344ULL));
}

void EncodePostHead(const JournaledPost& p, std::string& out) {
  out.assign(kFrameHead, '\0');
  out.push_back(static_cast<char>(kPost));
  PutU64(out, static_cast<uint64_t>(p.now_unix_s));
  out.push_back(p.trusted ? 1 : 0);
  PutStr(out, p.app);
  PutStr(out, p.flight);
  PutStr(out, p.arm);
  PutStr(out, p.user);
  PutU32(out, static_cast<uint32_t>(p.body.size()));
  FinishFrame(out, p.body);
}

void EncodeDrops(std::span<const uint32_t> indexes, std::string& out) {
  out.assign(kFrameHead, '\0');
  out.push_back(static_cast<char>(kDrops));
  PutU32(out, static_cast<uint32_t>(indexes.size()));
  for (uint32_t i : indexes) PutU32(out, i);
  FinishFrame(out, {});
}

void EncodeExposure(const JournaledExposure& e, std::string& out) {
  out.assign(kFrameHead, '\0');
  out.push_back(static_cast<char>(kExposure));
  PutU64(out, static_cast<uint64_t>(e.now_unix_s));
  PutStr(out, e.app);
  PutStr(out, e.flight);
  PutStr(out, e.arm);
  PutStr(out, e.user);
  FinishFrame(out, {});
}

ReplayStats ReplayJournal(std::string_view bytes, EventAggregator& agg) {
  ReplayStats st;
  std::optional<Post> pending;  // a post waits for a drops record that may follow it
  std::vector<uint32_t> drops;
  auto flush = [&] {
    if (pending) Apply(*pending, drops, agg, st);
    pending.reset();
    drops.clear();
  };
  size_t pos = 0;
  while (bytes.size() - pos >= kFrameHead) {
    uint32_t len;
    uint64_t sum;
    std::memcpy(&len, bytes.data() + pos, 4);
    std::memcpy(&sum, bytes.data() + pos + 4, 8);
    if (len == 0 || len > kMaxPayload || bytes.size() - pos - kFrameHead < len) break;
    std::string_view payload = bytes.substr(pos + kFrameHead, len);
    // A post is checksummed as its head and its body (written apart): split
    // at the body, whose length ends the head.
    std::string_view head = payload, body;
    if (payload[0] == static_cast<char>(kPost)) {
      Reader h(payload);
      h.U8();
      h.U64();
      h.U8();
      for (int i = 0; i < 4; ++i) h.Str();
      const uint32_t body_len = h.U32();
      if (!h.ok() || body_len > payload.size()) break;
      head = payload.substr(0, payload.size() - body_len);
      body = payload.substr(payload.size() - body_len);
    }
    if (JournalChecksum(head, body) != sum) break;
    Reader r(payload);
    const uint8_t kind = r.U8();
    if (kind == kPost) {
      flush();
      Post post;
      post.meta.now_unix_s = static_cast<int64_t>(r.U64());
      post.meta.trusted = r.U8() != 0;
      post.meta.app = r.Str();
      post.meta.flight = r.Str();
      post.meta.arm = r.Str();
      post.meta.user = r.Str();
      post.meta.body = r.Str();
      if (!r.ok() || !r.done()) break;
      ++st.posts;
      EventLimits limits;
      limits.max_body_bytes = std::max(limits.max_body_bytes, post.meta.body.size());
      if (!ParseEvents(post.meta.body, limits, post.meta.trusted, post.meta.now_unix_s, post.parsed).ok()) {
        ++st.bad_posts;
      } else {
        pending = std::move(post);
      }
    } else if (kind == kDrops) {
      const uint32_t n = r.U32();
      std::vector<uint32_t> got;
      for (uint32_t i = 0; i < n && r.ok(); ++i) got.push_back(r.U32());
      if (!r.ok() || !r.done()) break;
      drops.insert(drops.end(), got.begin(), got.end());
    } else if (kind == kExposure) {
      // Not part of a post: a drops record that follows still belongs to the post before.
      JournaledExposure e;
      e.now_unix_s = static_cast<int64_t>(r.U64());
      e.app = r.Str();
      e.flight = r.Str();
      e.arm = r.Str();
      e.user = r.Str();
      if (!r.ok() || !r.done()) break;
      if (agg.AddExposure(e.app, e.flight, e.arm, e.user, e.now_unix_s)) ++st.exposures;
    } else {
      break;
    }
    pos += kFrameHead + len;
    st.valid_bytes = pos;
  }
  flush();
  st.torn = st.valid_bytes < bytes.size();
  return st;
}

}  // namespace skyport::router
