#include <catch2/catch.hpp>

#include "cli/release_view.h"

namespace skyport::cli {
namespace {

TEST_CASE("ParseReleaseNumber takes vN or N", "[cli][releases]") {
  CHECK(*ParseReleaseNumber("v3") == 3);
  CHECK(*ParseReleaseNumber("V12") == 12);
  CHECK(*ParseReleaseNumber("7") == 7);
  for (const char* bad : {"", "v", "v0", "0", "vx", "-1", "v1.2", "v1234567890", "3a"})
    CHECK_FALSE(ParseReleaseNumber(bad).ok());
}

v1::ReleasesResponse Sample() {
  v1::ReleasesResponse r;
  auto* a = r.add_releases();
  a->set_number(1);
  a->set_commit(std::string(40, 'a'));
  a->set_who("cluster");
  a->set_outcome("succeeded");
  a->set_description("deploy");
  a->add_drones("d1");
  a->set_created_unix_ms(1'000'000);
  auto* b = r.add_releases();
  b->set_number(2);
  b->set_commit(std::string(40, 'b'));
  b->set_who("cluster");
  b->set_outcome("failed");
  b->set_error("d1: release step exited with 3");
  b->set_description("deploy");
  b->add_env_keys("API_KEY");
  b->set_created_unix_ms(2'000'000);
  a->set_current(true);
  r.set_current(1);
  r.set_older_dropped(4);
  return r;
}

TEST_CASE("releases: a table with the current one marked, errors and what was dropped", "[cli][releases]") {
  std::string t = RenderReleases("web", Sample(), 3'000'000);
  CHECK_THAT(t, Catch::StartsWith("VERSION"));
  CHECK_THAT(t, Catch::Contains("*v1 "));
  CHECK_THAT(t, Catch::Contains(" aaaaaaaaaaaa "));
  CHECK_THAT(t, Catch::Contains("v2: d1: release step exited with 3"));
  CHECK_THAT(t, Catch::Contains("* current: v1"));
  CHECK_THAT(t, Catch::Contains("4 older releases are no longer kept"));
  CHECK_THAT(RenderReleases("web", {}, 0), Catch::Contains("no releases yet"));
}

TEST_CASE("releases --json: versions, outcome, env names only", "[cli][releases]") {
  auto j = ReleasesJson("web", Sample());
  CHECK(j["current"] == "v1");
  CHECK(j["older_dropped"] == 4);
  CHECK(j["releases"][1]["version"] == "v2");
  CHECK(j["releases"][1]["outcome"] == "failed");
  CHECK(j["releases"][1]["env_keys"] == nlohmann::json::array({"API_KEY"}));
  CHECK(j["releases"][0]["current"] == true);
  v1::ReleasesResponse none;
  CHECK(ReleasesJson("web", none)["current"].is_null());
}

TEST_CASE("apps: weights only with a route, instances, flight", "[cli][releases]") {
  v1::AppsResponse r;
  auto* a = r.add_apps();
  a->set_name("web");
  a->set_has_route(true);
  a->mutable_current()->set_number(3);
  a->mutable_current()->set_commit(std::string(40, 'a'));
  auto* c = a->add_commits();
  c->set_commit(std::string(40, 'a'));
  c->set_weight(100);
  c->set_instances_up(1);
  c->set_instances_total(2);
  a->set_instances_up(1);
  a->set_instances_total(2);
  a->set_active_flight("canary");
  auto* b = r.add_apps();
  b->set_name("api");
  std::string t = RenderApps(r);
  CHECK_THAT(t, Catch::Contains("v3 aaaaaaaaaaaa"));
  CHECK_THAT(t, Catch::Contains("aaaaaaaaaaaa=100 1/2"));
  CHECK_THAT(t, Catch::Contains("canary"));
  auto j = AppsJson(r);
  CHECK(j["apps"][0]["commits"][0]["weight"] == 100);
  CHECK(j["apps"][0]["active_flight"] == "canary");
  CHECK(j["apps"][1]["current"].is_null());
  CHECK(j["apps"][1]["active_flight"].is_null());
}

TEST_CASE("apps destroy: what was removed", "[cli][releases]") {
  v1::DestroyResponse r;
  r.add_stopped(std::string(40, 'a'));
  r.set_route_removed(true);
  r.set_releases_removed(1);
  CHECK(RenderDestroy("web", r) == "destroyed web: stopped 1 commit, route removed, 1 release forgotten\n");
  r.set_repository_removed(true);
  CHECK_THAT(RenderDestroy("web", r), Catch::EndsWith(", repository removed\n"));
  CHECK(DestroyJson("web", r)["stopped"].size() == 1);
}

}  // namespace
}  // namespace skyport::cli
