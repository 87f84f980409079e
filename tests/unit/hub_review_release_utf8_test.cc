// Review (issue 16): a failed release's error is cut at kMaxReleaseErrorBytes.
// Cut in the middle of a multi-byte UTF-8 character, it made the desired
// state's JSON (nlohmann's dump is strict about UTF-8) throw on every save
// from then on: deploys, stops and config changes failed until a restart,
// and a save on a thread of the hub's own (deploy on push, the retirer)
// terminated the hub.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "hub/deploys/desired.h"
#include "hub/deploys/releases.h"

namespace skyport::hub {
namespace {

bool ValidUtf8(const std::string& s) {
  try {
    (void)nlohmann::json(s).dump();
    return true;
  } catch (const nlohmann::json::exception&) {
    return false;
  }
}

TEST_CASE("A long failed release's error is cut on a character boundary", "[hub][releases][review]") {
  // "é" is two bytes: with one ASCII byte first, byte kMaxReleaseErrorBytes falls inside one of them.
  for (const std::string lead : {"", "x"}) {
    DesiredState s;
    Release r;
    r.commit = std::string(40, 'a');
    const uint32_t n = s.releases().Begin("web", r);
    std::string error = lead;
    while (error.size() < 2 * kMaxReleaseErrorBytes) error += "\xc3\xa9";  // é
    REQUIRE(s.releases().Finish("web", n, ReleaseOutcome::kFailed, error, 1000));
    const Release* kept = s.releases().Find("web")->Find(n);
    REQUIRE(kept != nullptr);
    CHECK(kept->error.size() <= kMaxReleaseErrorBytes);
    CHECK(ValidUtf8(kept->error));
    std::string json;
    REQUIRE_NOTHROW(json = s.ToJson());
    auto back = DesiredState::FromJson(json);
    REQUIRE(back.ok());
    CHECK(back->releases().Find("web")->Find(n)->error == kept->error);
  }
}

}  // namespace
}  // namespace skyport::hub
