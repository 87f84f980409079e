// PackScanner: the bounded pre-scan of pushed packs (hand-made packs, and one
// git pack-objects wrote).
#include <catch2/catch.hpp>
#include <zlib.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "hub/git/pack_scan.h"
#include "hub_test_util.h"

namespace skyport::hub {
namespace {

using namespace std::string_literals;

std::string Deflate(const std::string& data) {
  uLongf n = compressBound(static_cast<uLong>(data.size()));
  std::string out(n, '\0');
  compress(reinterpret_cast<Bytef*>(out.data()), &n, reinterpret_cast<const Bytef*>(data.data()),
           static_cast<uLong>(data.size()));
  out.resize(n);
  return out;
}

std::string ObjHeader(int type, uint64_t size) {
  std::string out;
  uint8_t first = static_cast<uint8_t>((type << 4) | (size & 15));
  size >>= 4;
  while (size) {
    out.push_back(static_cast<char>(first | 0x80));
    first = size & 0x7f;
    size >>= 7;
  }
  out.push_back(static_cast<char>(first));
  return out;
}

std::string OfsEncode(uint64_t d) {
  std::string out(1, static_cast<char>(d & 0x7f));
  d >>= 7;
  while (d) {
    --d;
    out.insert(out.begin(), static_cast<char>(0x80 | (d & 0x7f)));
    d >>= 7;
  }
  return out;
}

std::string Varint(uint64_t n) {
  std::string out;
  do {
    uint8_t b = n & 0x7f;
    n >>= 7;
    out.push_back(static_cast<char>(b | (n ? 0x80 : 0)));
  } while (n);
  return out;
}

// Delta data: sizes, then copies of 64 KiB (or `size` bytes) from base offset 0.
std::string CopyDelta(uint64_t base, uint64_t result) {
  std::string d = Varint(base) + Varint(result);
  uint64_t left = result;
  while (left >= 0x10000) {
    d.push_back(static_cast<char>(0x80));
    left -= 0x10000;
  }
  if (left) d += std::string{static_cast<char>(0xb0), static_cast<char>(left & 0xff), static_cast<char>(left >> 8)};
  return d;
}

struct PackBuilder {
  std::vector<std::string> objects;
  uint64_t size = 12;
  uint32_t declared = 0;  // 0: count of objects
  uint64_t Add(std::string raw) {
    uint64_t at = size;
    size += raw.size();
    objects.push_back(std::move(raw));
    return at;
  }
  uint64_t Blob(const std::string& data) { return Add(ObjHeader(3, data.size()) + Deflate(data)); }
  uint64_t OfsDelta(uint64_t base, const std::string& delta) {
    uint64_t at = size;
    return Add(ObjHeader(6, delta.size()) + OfsEncode(at - base) + Deflate(delta));
  }
  uint64_t RefDelta(const std::string& raw_id, const std::string& delta) {
    return Add(ObjHeader(7, delta.size()) + raw_id + Deflate(delta));
  }
  std::string Bytes() const {
    uint32_t n = declared ? declared : static_cast<uint32_t>(objects.size());
    std::string out = "PACK"s + std::string("\0\0\0\2", 4);
    for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<char>((n >> s) & 0xff));
    for (const auto& o : objects) out += o;
    return out + std::string(20, '\x42');  // the trailer checksum is the indexer's business
  }
};

PackLimits Small() {
  PackLimits l;
  l.max_pack_bytes = 1 << 20;
  l.max_objects = 10;
  l.max_object_bytes = 100000;
  l.max_delta_depth = 3;
  return l;
}

// Scans in one piece and byte by byte: a streaming scanner must not care.
struct Scan {
  Code code;
  PackBound bound;
};
Scan ScanBoth(const std::string& pack, const PackLimits& limits,
              std::function<bool(std::string_view)> has = {}) {
  PackScanner whole(limits, has);
  Status a = whole.Feed(pack);
  if (a.ok()) a = whole.Finish();
  PackScanner bytes(limits, has);
  Status b;
  for (char c : pack) {
    b = bytes.Feed(std::string_view(&c, 1));
    if (!b.ok()) break;
  }
  if (b.ok()) b = bytes.Finish();
  INFO(a.message() << " | " << b.message());
  CHECK(a.code() == b.code());
  CHECK(whole.bound() == bytes.bound());
  return {a.code(), whole.bound()};
}

TEST_CASE("PackScanner: well-formed packs pass", "[hub][pack-scan]") {
  PackBuilder empty;
  CHECK(ScanBoth(empty.Bytes(), Small()).code == Code::kOk);

  PackBuilder p;
  uint64_t base = p.Blob(std::string(70000, 'x'));
  uint64_t d1 = p.OfsDelta(base, CopyDelta(70000, 70000));
  uint64_t d2 = p.OfsDelta(d1, CopyDelta(70000, 1000));
  p.OfsDelta(d2, CopyDelta(1000, 10));  // depth 3 = the limit
  p.Blob("");
  Scan s = ScanBoth(p.Bytes(), Small());
  CHECK(s.code == Code::kOk);
  CHECK(s.bound == PackBound::kNone);

  // A thin pack: REF_DELTA against an object the repository has.
  PackBuilder thin;
  std::string id(20, '\x07');
  thin.RefDelta(id, CopyDelta(10, 10));
  CHECK(ScanBoth(thin.Bytes(), Small(), [&](std::string_view raw) { return raw == id; }).code == Code::kOk);
}

TEST_CASE("PackScanner: bounds bite before anything is inflated", "[hub][pack-scan]") {
  struct Case {
    const char* name;
    std::string pack;
    PackBound bound;
  };
  std::vector<Case> cases;
  {
    // A 178-byte-style bomb: a 64 KiB base and a delta claiming 1 GiB made of copies.
    PackBuilder p;
    uint64_t base = p.Blob(std::string(0x10000, '\0'));
    p.OfsDelta(base, Varint(0x10000) + Varint(1ull << 30) + std::string(16384, '\x80'));
    cases.push_back({"delta result over the object cap", p.Bytes(), PackBound::kObjectSize});
  }
  {
    PackBuilder p;
    p.Add(ObjHeader(3, 5ull << 30) + Deflate("tiny"));  // declares 5 GiB
    cases.push_back({"declared object size over the cap", p.Bytes(), PackBound::kObjectSize});
  }
  {
    PackBuilder p;
    p.Blob(std::string(100001, 'a'));
    cases.push_back({"real object one byte over", p.Bytes(), PackBound::kObjectSize});
  }
  {
    PackBuilder p;
    uint64_t base = p.Blob("0123456789");
    p.OfsDelta(base, Varint(1ull << 40) + Varint(10) + CopyDelta(10, 10).substr(2));
    cases.push_back({"delta base size over the cap", p.Bytes(), PackBound::kObjectSize});
  }
  {
    PackBuilder p;
    uint64_t at = p.Blob("0123456789");
    for (int i = 0; i < 4; ++i) at = p.OfsDelta(at, CopyDelta(10, 10));
    cases.push_back({"delta chain one deeper than allowed", p.Bytes(), PackBound::kDeltaDepth});
  }
  {
    // A chain's cost grows with the square of its length: 3 deltas of 30 KB rebuild 30+60+90+120 KB.
    PackBuilder p;
    uint64_t at = p.Blob(std::string(30000, 'z'));
    for (int i = 0; i < 3; ++i) at = p.OfsDelta(at, CopyDelta(30000, 30000));
    PackLimits l = Small();
    l.max_inflate_bytes = 299999;
    CHECK(ScanPack(p.Bytes(), l).ok() == false);
    l.max_inflate_bytes = 300000;
    PackScanner s(l);
    REQUIRE(s.Feed(p.Bytes()).ok());
    REQUIRE(s.Finish().ok());
    CHECK(s.inflate_bytes() == 300000);
    l.max_inflate_bytes = 299999;
    PackBound b;
    CHECK(ScanPack(p.Bytes(), l, &b).code() == Code::kResourceExhausted);
    CHECK(b == PackBound::kInflateBytes);
  }
  {
    PackBuilder p;
    p.declared = 11;
    p.Blob("x");
    cases.push_back({"too many objects (from the header alone)", p.Bytes(), PackBound::kObjects});
  }
  {
    PackBuilder p;
    std::string noise;
    uint32_t x = 1;
    for (int i = 0; i < 90000; ++i) noise.push_back(static_cast<char>((x = x * 1103515245 + 12345) >> 24));
    for (int i = 0; i < 9; ++i) p.Blob(noise + std::to_string(i));  // ~900 KB, incompressible
    p.Blob(noise);
    PackLimits l = Small();
    l.max_pack_bytes = 500000;
    Scan s = ScanBoth(p.Bytes(), l);
    CHECK(s.code == Code::kResourceExhausted);
    CHECK(s.bound == PackBound::kPackSize);
  }
  for (const Case& c : cases) {
    INFO(c.name);
    Scan s = ScanBoth(c.pack, Small());
    CHECK(s.code == Code::kResourceExhausted);
    CHECK(s.bound == c.bound);
  }
  CHECK(PackBoundName(PackBound::kDeltaDepth) == "delta_depth");
}

TEST_CASE("PackScanner: malformed packs are INVALID_ARGUMENT", "[hub][pack-scan]") {
  std::vector<std::pair<const char*, std::string>> cases;
  PackBuilder ok;
  ok.Blob("hello");
  std::string good = ok.Bytes();
  cases.push_back({"bad magic", "PACX" + good.substr(4)});
  cases.push_back({"version 4", good.substr(0, 7) + "\x04" + good.substr(8)});
  cases.push_back({"truncated trailer", good.substr(0, good.size() - 1)});
  cases.push_back({"truncated object", good.substr(0, 16)});
  cases.push_back({"truncated header", good.substr(0, 6)});
  cases.push_back({"data after the trailer", good + "x"});
  cases.push_back({"nothing at all", ""});
  {
    PackBuilder p;
    p.Add(ObjHeader(5, 3) + Deflate("abc"));
    cases.push_back({"object type 5", p.Bytes()});
  }
  {
    PackBuilder p;
    p.Add(ObjHeader(3, 3) + Deflate("abcd"));
    cases.push_back({"inflates longer than declared", p.Bytes()});
  }
  {
    PackBuilder p;
    p.Add(ObjHeader(3, 9) + Deflate("abcd"));
    cases.push_back({"inflates shorter than declared", p.Bytes()});
  }
  {
    PackBuilder p;
    p.Add(ObjHeader(3, 4) + "not zlib at all");
    cases.push_back({"not zlib", p.Bytes()});
  }
  {
    PackBuilder p;
    p.Blob("abc");
    p.Add(ObjHeader(6, 4) + OfsEncode(1000) + Deflate(CopyDelta(3, 3)));
    cases.push_back({"ofs-delta before the pack", p.Bytes()});
  }
  {
    PackBuilder p;
    p.Blob("abc");
    p.Add(ObjHeader(6, 4) + OfsEncode(3) + Deflate(CopyDelta(3, 3)));
    cases.push_back({"ofs-delta into the middle of an object", p.Bytes()});
  }
  {
    PackBuilder p;
    p.RefDelta(std::string(20, '\x09'), CopyDelta(3, 3));
    cases.push_back({"ref-delta against something the repository lacks", p.Bytes()});
  }
  {
    PackBuilder p;
    uint64_t base = p.Blob("abc");
    p.OfsDelta(base, "\x83");  // a varint cut short
    cases.push_back({"delta header cut short", p.Bytes()});
  }
  {
    PackBuilder p;
    p.Add(std::string(12, '\xff'));
    cases.push_back({"size varint that never ends", p.Bytes()});
  }
  for (const auto& [name, pack] : cases) {
    INFO(name);
    Scan s = ScanBoth(pack, Small());
    CHECK(s.code == Code::kInvalidArgument);
    CHECK(s.bound == PackBound::kNone);
  }
  // A failed scanner stays failed.
  PackScanner s(Small());
  CHECK(!s.Feed("PACX").ok());
  CHECK(!s.Feed(good).ok());
  CHECK(!s.Finish().ok());
}

TEST_CASE("PackScanner: a pack git wrote, with ofs-deltas", "[hub][pack-scan]") {
  skyport::testing::TempDir tmp;
  std::string work = tmp.path() + "/work";
  testing::MakeWorkRepo(tmp.path(), work);
  auto git = [&](const std::string& args) { return testing::Run(testing::Git(tmp.path(), work) + args); };
  std::string text;
  for (int i = 0; i < 3000; ++i) text += "line " + std::to_string(i) + "\n";
  for (int v = 0; v < 6; ++v) {
    testing::WriteFile(work + "/f.txt", text + std::to_string(v) + "\n");
    REQUIRE(git("add -A && " + testing::Git(tmp.path(), work) + "commit -q -m v" + std::to_string(v)).exit == 0);
  }
  REQUIRE(git("rev-parse HEAD > ../revs").exit == 0);
  REQUIRE(git("pack-objects -q --stdout --revs --delta-base-offset < ../revs > ../p.pack").exit == 0);
  std::ifstream in(tmp.path() + "/p.pack", std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string pack = ss.str();
  REQUIRE(pack.size() > 32);
  PackLimits defaults;
  PackScanner s(defaults);
  for (size_t at = 0; at < pack.size(); at += 1000) REQUIRE(s.Feed(std::string_view(pack).substr(at, 1000)).ok());
  REQUIRE(s.Finish().ok());
  CHECK(s.objects_seen() >= 10);
  CHECK(s.max_depth_seen() >= 1);  // six versions of one file delta against each other
  PackLimits shallow;
  shallow.max_delta_depth = 0;
  PackBound bound;
  CHECK(ScanPack(pack, shallow, &bound).code() == Code::kResourceExhausted);
  CHECK(bound == PackBound::kDeltaDepth);
}

TEST_CASE("PackScanner: a delta that inflates past its declared size gets one verdict however it is cut",
          "[hub][pack-scan]") {
  // Found by fuzz/pack_scan: a delta declaring 6 bytes whose zlib stream inflates to more, and whose
  // header (within the 6 bytes) claims a result over the object cap. Fed whole, one inflate call
  // produced all of it and the overflow was reported (INVALID_ARGUMENT); fed in pieces, the sizes
  // were checked first (RESOURCE_EXHAUSTED, object_size). Only the declared bytes count, sizes first.
  PackBuilder p;
  uint64_t base = p.Blob(std::string(48, 'b'));
  std::string delta = Varint(48) + Varint(12387) + "\x90\x30" + std::string(20, 'x');
  p.Add(ObjHeader(6, 6) + OfsEncode(p.size - base) + Deflate(delta));
  PackLimits l = Small();
  l.max_object_bytes = 8192;
  for (size_t piece : {size_t{1}, size_t{3}, size_t{4}, size_t{7}}) {
    const std::string pack = p.Bytes();
    PackScanner cut(l);
    Status s;
    for (size_t at = 0; at < pack.size() && s.ok(); at += piece) s = cut.Feed(std::string_view(pack).substr(at, piece));
    INFO("piece " << piece << ": " << s.message());
    CHECK(s.code() == Code::kResourceExhausted);
    CHECK(cut.bound() == PackBound::kObjectSize);
  }
  Scan both = ScanBoth(p.Bytes(), l);
  CHECK(both.code == Code::kResourceExhausted);
  CHECK(both.bound == PackBound::kObjectSize);

  // Within the cap, the overflow itself is the error, whole or cut.
  l.max_object_bytes = 100000;
  both = ScanBoth(p.Bytes(), l);
  CHECK(both.code == Code::kInvalidArgument);
}

}  // namespace
}  // namespace skyport::hub
