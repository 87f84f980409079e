#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "hub/git/pktline.h"

namespace skyport::hub {
namespace {

// Feeds `wire` in pieces of `step` bytes and collects every packet ("" = flush marker "<flush>").
std::vector<std::string> DecodeAll(const std::string& wire, size_t step, Status* error) {
  pkt::Decoder d;
  std::vector<std::string> out;
  for (size_t i = 0; i < wire.size(); i += step) {
    d.Feed(std::string_view(wire).substr(i, step));
    for (;;) {
      auto next = d.Next();
      if (!next.ok()) {
        *error = next.status();
        return out;
      }
      if (!next->has_value()) break;
      out.push_back((*next)->flush ? "<flush>" : (*next)->payload);
    }
  }
  return out;
}

TEST_CASE("pkt Encode: length counts its own four bytes", "[hub][pktline]") {
  CHECK(pkt::EncodeShort("") == "0004");
  CHECK(pkt::EncodeShort("a\n") == "0006a\n");
  CHECK(pkt::EncodeShort("# service=git-receive-pack\n") == "001f# service=git-receive-pack\n");
  CHECK(pkt::Flush() == "0000");
  auto big = pkt::Encode(std::string(pkt::kMaxPayload, 'x'));
  REQUIRE(big.ok());
  CHECK(big->substr(0, 4) == "fff0");
  auto too_big = pkt::Encode(std::string(pkt::kMaxPayload + 1, 'x'));
  CHECK(too_big.status().code() == Code::kInvalidArgument);
}

TEST_CASE("pkt Decoder: same packets whatever the split", "[hub][pktline]") {
  std::string wire = pkt::EncodeShort("first\n") + pkt::EncodeShort(std::string("nul\0inside", 10)) + pkt::Flush() +
                     pkt::EncodeShort("") + pkt::EncodeShort(std::string(70000 - 70000 + 3000, 'z'));
  std::vector<std::string> want = {"first\n", std::string("nul\0inside", 10), "<flush>", "", std::string(3000, 'z')};
  for (size_t step : {1u, 2u, 3u, 5u, 7u, 4096u, 1u << 20}) {
    INFO("step " << step);
    Status err;
    CHECK(DecodeAll(wire, step, &err) == want);
    CHECK(err.ok());
  }
}

TEST_CASE("pkt Decoder: upper-case hex lengths are accepted", "[hub][pktline]") {
  Status err;
  CHECK(DecodeAll("000Aabcdef", 1, &err) == std::vector<std::string>{"abcdef"});
  CHECK(err.ok());
}

TEST_CASE("pkt Decoder: bad lengths are errors that stick", "[hub][pktline]") {
  struct Row {
    std::string wire;
    size_t good_before;
  };
  for (const Row& r : std::vector<Row>{{"zzzz", 0},
                                       {"0001", 0},        // v2 delimiter: not in v0 receive-pack
                                       {"0003", 0},
                                       {"0006ok0002", 1},
                                       {"fff1", 0},        // longer than 65520
                                       {"00-5abc", 0},
                                       {"PACK\x00\x00\x00\x02", 0}}) {
    INFO(r.wire);
    Status err;
    auto got = DecodeAll(r.wire, 1, &err);
    CHECK(got.size() == r.good_before);
    CHECK(err.code() == Code::kInvalidArgument);
  }
  pkt::Decoder d;
  d.Feed("zzzz0000");
  CHECK(!d.Next().ok());
  CHECK(!d.Next().ok());  // stays failed
}

TEST_CASE("pkt Decoder: TakeRest returns the bytes after the flush", "[hub][pktline]") {
  pkt::Decoder d;
  d.Feed(pkt::EncodeShort("cmd\n") + pkt::Flush() + "PACK");
  auto a = d.Next();
  REQUIRE(a.ok());
  REQUIRE(a->has_value());
  auto b = d.Next();
  REQUIRE(b.ok());
  REQUIRE(b->has_value());
  CHECK((*b)->flush);
  CHECK(d.buffered() == 4);
  CHECK(d.TakeRest() == "PACK");
  CHECK(d.buffered() == 0);
}

TEST_CASE("pkt Decoder: incomplete packet waits for more bytes", "[hub][pktline]") {
  pkt::Decoder d;
  d.Feed("000");
  auto a = d.Next();
  REQUIRE(a.ok());
  CHECK(!a->has_value());
  d.Feed("9ab");
  auto b = d.Next();
  REQUIRE(b.ok());
  CHECK(!b->has_value());
  d.Feed("cde");
  auto c = d.Next();
  REQUIRE(c.ok());
  REQUIRE(c->has_value());
  CHECK((*c)->payload == "abcde");
}

}  // namespace
}  // namespace skyport::hub
