#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "core/ids.h"
#include "router/arm_choice.h"
#include "contract/split.h"

namespace skyport::router {
namespace {

// web: split s1 over a/b, override allowed, "dddd4444" weighted elsewhere but
// never running. shop: deployed, nothing running. exp: a flight (headers
// x-team: red) over a and d (d never runs), control c, over at 5000 ms.
const char* const kRoutes = R"({"apps": [
  {"name": "web", "hosts": ["web.example"], "split_id": "s1", "allow_override": true, "arms": [
    {"commit": "aaaa1111", "weight": 50, "upstreams": ["127.0.0.1:9001"]},
    {"commit": "bbbb2222", "weight": 50, "upstreams": ["127.0.0.1:9002"]},
    {"commit": "cccc3333", "upstreams": ["127.0.0.1:9003"]},
    {"commit": "dddd4444"}]},
  {"name": "shop", "hosts": ["shop.example"], "arms": [{"commit": "x", "weight": 1}]},
  {"name": "exp", "hosts": ["exp.example"], "arms": [
    {"commit": "a", "weight": 50, "upstreams": ["127.0.0.1:9101"]},
    {"commit": "d", "weight": 50},
    {"commit": "c", "upstreams": ["127.0.0.1:9103"]}],
   "flight": {"name": "exp", "id": "exp.1", "control": "c", "filter": {"headers": {"x-team": "red"}},
              "rangeLt": 1000000, "endByUnixMs": "5000"}}]})";

std::string HexId(uint64_t i) { return fmt::format("{:016x}{:016x}", i * 0x9e3779b97f4a7c15ULL, i); }

// The first user id whose position under `split_id` is in [ge, lt).
std::string UserAt(std::string_view split_id, uint32_t ge, uint32_t lt) {
  for (uint64_t i = 1;; ++i) {
    std::string id = HexId(i);
    const uint32_t pos = UserPosition(id, split_id);
    if (pos >= ge && pos < lt) return id;
  }
}

// A parsed request head and the bytes it points into.
struct Req {
  std::string raw;
  http1::RequestHead head;
};

std::unique_ptr<Req> Request(std::string_view method, std::string_view host,
                             const std::vector<std::pair<std::string, std::string>>& headers) {
  auto r = std::make_unique<Req>();
  r->raw = fmt::format("{} {} HTTP/1.1\r\nHost: {}\r\n", method, method == "CONNECT" ? host : "/", host);
  for (const auto& [name, value] : headers) r->raw += name + ": " + value + "\r\n";
  r->raw += "\r\n";
  http1::ParseError err;
  REQUIRE(http1::ParseRequest(r->raw, 64 * 1024, r->head, err) == http1::Parse::kDone);
  return r;
}

struct Fixture {
  std::shared_ptr<const RouteTable> table;
  CookieKey key{"current-secret"};
  CookieKey previous{"previous-secret"};
  Fixture() {
    auto t = LoadStaticRoutes(kRoutes, 1, TableOptions{}, nullptr);
    INFO((t.ok() ? std::string() : t.status().message()));
    REQUIRE(t.ok());
    table = *t;
  }
  CookieKeys Keys(bool legacy_ok = false) { return {&key, &previous, legacy_ok}; }
};

TEST_CASE("DecideRequest: refusals, users and arms, by table", "[router]") {
  Fixture fx;
  const std::string in_a = UserAt("s1", 0, 500'000), in_b = UserAt("s1", 500'000, kSliceUnits);
  const std::string signed_b = SignedCookie(fx.key, in_b, "s1");
  CookieKey stranger("not-our-secret");

  struct Row {
    std::string what;
    std::string method, host;
    std::vector<std::pair<std::string, std::string>> headers;
    bool legacy_ok;
    Refusal refusal;
    const char* commit;  // nullptr: no arm
    bool minted, new_user, reissue;
    std::string cookie_user;
  };
  const std::vector<Row> rows = {
      {"CONNECT is refused before routing", "CONNECT", "web.example:443", {}, false, Refusal::kConnect, nullptr,
       false, false, false, ""},
      {"an unknown host", "GET", "nowhere.example", {}, false, Refusal::kNoApp, nullptr, false, false, false, ""},
      {"deployed, nothing running", "GET", "shop.example", {}, false, Refusal::kNoLiveInstance, nullptr, true, true,
       false, ""},
      {"a signed cookie keeps its user and arm", "GET", "web.example", {{"Cookie", "skyport=" + signed_b}}, false,
       Refusal::kNone, "bbbb2222", false, false, false, in_b},
      {"the previous secret: re-issued", "GET", "web.example",
       {{"Cookie", "skyport=" + SignedCookie(fx.previous, in_a, "s1")}}, false, Refusal::kNone, "aaaa1111", false,
       false, true, in_a},
      {"another split id: the same user, dealt again", "GET", "web.example",
       {{"Cookie", "skyport=" + SignedCookie(fx.key, in_a, "other")}}, false, Refusal::kNone, "aaaa1111", false,
       true, false, in_a},
      {"a forged cookie: a fresh id", "GET", "web.example",
       {{"Cookie", "skyport=" + SignedCookie(stranger, in_a, "s1")}}, false, Refusal::kNone, "", true, true, false,
       ""},
      {"legacy inside the window: kept, re-issued", "GET", "web.example", {{"Cookie", "skyport=" + in_b + ".s1"}},
       true, Refusal::kNone, "bbbb2222", false, false, true, in_b},
      {"legacy outside the window: a fresh id", "GET", "web.example", {{"Cookie", "skyport=" + in_b + ".s1"}},
       false, Refusal::kNone, "", true, true, false, ""},
      {"another cookie's name is not ours", "GET", "web.example", {{"Cookie", "other=" + signed_b}}, false,
       Refusal::kNone, "", true, true, false, ""},
      {"override pins a commit by prefix", "GET", "web.example",
       {{"Cookie", "skyport=" + signed_b}, {"X-Skyport-Commit", "cccc"}}, false, Refusal::kNone, "cccc3333", false,
       false, false, in_b},
      {"override of a commit with nothing running: the heaviest arm", "GET", "web.example",
       {{"Cookie", "skyport=" + signed_b}, {"X-Skyport-Commit", "dddd4444"}}, false, Refusal::kNone, "aaaa1111",
       false, false, false, in_b},
      {"override of an unknown commit: the user's arm", "GET", "web.example",
       {{"Cookie", "skyport=" + signed_b}, {"X-Skyport-Commit", "eeee"}}, false, Refusal::kNone, "bbbb2222", false,
       false, false, in_b},
  };
  for (const Row& row : rows) {
    INFO(row.what);
    auto req = Request(row.method, row.host, row.headers);
    FakeRandom rng;
    const RequestDecision d = DecideRequest(fx.table.get(), req->head, "skyport", fx.Keys(row.legacy_ok), 1000, rng);
    CHECK(d.refusal == row.refusal);
    if (!row.commit) {
      CHECK(d.arm == nullptr);
    } else {
      REQUIRE(d.arm != nullptr);
      REQUIRE(d.app != nullptr);
      // "": a fresh id, whose arm is its slice's.
      const std::string want = *row.commit
                                   ? std::string(row.commit)
                                   : d.app->arms[static_cast<size_t>(d.app->ArmFor(UserPosition(d.user.user_id(), "s1")))].commit;
      CHECK(d.arm->commit == want);
      CHECK(d.flight.empty());
    }
    if (row.refusal == Refusal::kConnect || row.refusal == Refusal::kNoApp) continue;
    CHECK(d.user.minted == row.minted);
    CHECK(d.user.new_user == row.new_user);
    CHECK(d.user.reissue == row.reissue);
    CHECK(d.user.set_cookie() == (row.new_user || row.reissue));
    CHECK(d.user.cookie_user == row.cookie_user);
    CHECK(d.user.user_id().size() == 32);
    if (!row.minted) CHECK(d.user.user_id() == row.cookie_user);
  }
}

TEST_CASE("DecideRequest: no table yet; refusal statuses", "[router]") {
  Fixture fx;
  auto req = Request("GET", "web.example", {});
  FakeRandom rng;
  const RequestDecision d = DecideRequest(nullptr, req->head, "skyport", fx.Keys(), 0, rng);
  CHECK(d.refusal == Refusal::kNoTable);
  CHECK(d.app == nullptr);
  CHECK(RefusalStatus(Refusal::kNone) == 0);
  CHECK(RefusalStatus(Refusal::kConnect) == 501);
  CHECK(RefusalStatus(Refusal::kNoTable) == 503);
  CHECK(RefusalStatus(Refusal::kNoApp) == 404);
  CHECK(RefusalStatus(Refusal::kNoLiveInstance) == 503);
}

TEST_CASE("IdentifyUser: fresh ids come from the random input, never from the client", "[router]") {
  Fixture fx;
  FakeRandom a(7), b(7), c(8);
  const RequestUser u1 = IdentifyUser("", "s1", fx.Keys(), a);
  const RequestUser u2 = IdentifyUser("", "s1", fx.Keys(), b);
  const RequestUser u3 = IdentifyUser("", "s1", fx.Keys(), c);
  CHECK(u1.user_id() == u2.user_id());  // same seed, same id: time and randomness are inputs
  CHECK(u1.user_id() != u3.user_id());
  CHECK(ValidUserId(u1.user_id()));
  CHECK_FALSE(u1.had_cookie);
  // A copy still views its own id.
  RequestUser copy = u1;
  CHECK(copy.user_id() == u1.user_id());
  CHECK(copy.user_id().data() == copy.fresh);
}

TEST_CASE("PickArm: a flight splits only enrolled users while it runs", "[router]") {
  Fixture fx;
  const AppRoute& app = *fx.table->apps[2];
  REQUIRE(app.name == "exp");
  REQUIRE(app.flight);
  REQUIRE(app.split_id == "exp.1");
  const std::string in_a = UserAt("exp.1", 0, 500'000), in_d = UserAt("exp.1", 500'000, kSliceUnits);

  struct Row {
    const char* what;
    std::string user;
    bool red_team;
    int64_t wall_ms;
    const char* commit;
    const char* flight;
  };
  const std::vector<Row> rows = {
      {"enrolled, in a's slice", in_a, true, 1000, "a", "exp.1"},
      {"not enrolled (filter): control", in_a, false, 1000, "c", ""},
      {"enrolled, but the flight is over: control", in_a, true, 5000, "c", ""},
      {"enrolled, d has nothing running: control, outside the flight", in_d, true, 1000, "c", ""},
  };
  for (const Row& row : rows) {
    INFO(row.what);
    auto req = Request("GET", "exp.example", row.red_team ? std::vector<std::pair<std::string, std::string>>{{"X-Team", "red"}}
                                                          : std::vector<std::pair<std::string, std::string>>{});
    const ArmPick pick = PickArm(app, req->head, row.user, row.wall_ms);
    REQUIRE(pick.arm >= 0);
    CHECK(app.arms[static_cast<size_t>(pick.arm)].commit == row.commit);
    CHECK(pick.flight == row.flight);
    if (!pick.flight.empty()) CHECK(pick.flight.data() == app.flight->id.data());  // a view, not a copy
  }
  // No override here: the app does not allow it.
  auto pinned = Request("GET", "exp.example", {{"X-Team", "red"}, {"X-Skyport-Commit", "c"}});
  CHECK(app.arms[static_cast<size_t>(PickArm(app, pinned->head, in_a, 1000).arm)].commit == "a");
}

}  // namespace
}  // namespace skyport::router
