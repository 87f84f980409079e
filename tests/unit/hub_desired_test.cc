#include <catch2/catch.hpp>

#include "hub/deploys/desired.h"

namespace skyport::hub {
namespace {

Deployment Dep(std::string app, std::string commit, std::set<std::string> drones, uint32_t instances = 1,
               std::map<std::string, std::string> env = {}, int64_t created = 0) {
  Deployment d;
  d.app = std::move(app);
  d.commit = std::move(commit);
  d.drones = std::move(drones);
  d.instances = instances;
  d.env = std::move(env);
  d.created_unix_ms = created;
  return d;
}

std::vector<std::string> Keys(const std::vector<Deployment>& ds) {
  std::vector<std::string> out;
  for (const auto& d : ds) out.push_back(d.app + "@" + d.commit);
  return out;
}

TEST_CASE("DesiredState::Put adds a new deployment as given", "[hub][desired]") {
  DesiredState s;
  CHECK(s.All().empty());
  CHECK(s.Find("web", "abc1") == nullptr);
  auto d = Dep("web", "abc1", {"d1", "d2"}, 3, {{"A", "1"}}, 42);
  s.Put(d);
  const Deployment* got = s.Find("web", "abc1");
  REQUIRE(got != nullptr);
  CHECK(*got == d);
  CHECK(s.Find("web", "abc2") == nullptr);
  CHECK(s.Find("api", "abc1") == nullptr);
}

TEST_CASE("DesiredState::Put merges drones and replaces instances and env", "[hub][desired]") {
  DesiredState s;
  s.Put(Dep("web", "abc1", {"d1", "d2"}, 1, {{"A", "1"}, {"B", "2"}}, 100));
  s.Put(Dep("web", "abc1", {"d2", "d3"}, 4, {{"C", "3"}}, 200));
  const Deployment* got = s.Find("web", "abc1");
  REQUIRE(got != nullptr);
  CHECK(got->drones == std::set<std::string>{"d1", "d2", "d3"});
  CHECK(got->instances == 4);
  CHECK(got->env == std::map<std::string, std::string>{{"C", "3"}});  // replaced, not merged
  CHECK(got->created_unix_ms == 100);                                   // the first request's time stays
  CHECK(s.All().size() == 1);

  // Another commit of the same app is a separate deployment.
  s.Put(Dep("web", "abc2", {"d1"}));
  CHECK(s.All().size() == 2);
  // An empty env replaces a non-empty one.
  s.Put(Dep("web", "abc1", {}, 2, {}));
  CHECK(s.Find("web", "abc1")->env.empty());
  CHECK(s.Find("web", "abc1")->drones.size() == 3);
  CHECK(s.Find("web", "abc1")->instances == 2);
}

TEST_CASE("DesiredState::RemoveDrone drops the deployment once no drone is left", "[hub][desired]") {
  DesiredState s;
  s.Put(Dep("web", "abc1", {"d1", "d2"}));
  s.Put(Dep("api", "abc1", {"d1"}));

  s.RemoveDrone("web", "abc1", "d1");
  REQUIRE(s.Find("web", "abc1") != nullptr);
  CHECK(s.Find("web", "abc1")->drones == std::set<std::string>{"d2"});

  s.RemoveDrone("web", "abc1", "nope");  // not on it: no change
  CHECK(s.Find("web", "abc1")->drones == std::set<std::string>{"d2"});
  s.RemoveDrone("missing", "abc1", "d2");  // no such deployment: no-op
  s.RemoveDrone("web", "ffff", "d2");
  CHECK(s.All().size() == 2);

  s.RemoveDrone("web", "abc1", "d2");
  CHECK(s.Find("web", "abc1") == nullptr);
  CHECK(s.Find("api", "abc1") != nullptr);  // others untouched
  CHECK(s.All().size() == 1);
}

TEST_CASE("DesiredState::Remove: with and without a drone set, and its count", "[hub][desired]") {
  struct Row {
    const char* name;
    std::string app, commit;
    std::set<std::string> drones;
    size_t want_removed;
    std::set<std::string> want_left;  // empty: the deployment is gone
  };
  const Row rows[] = {
      {"all drones (empty set)", "web", "abc1", {}, 3, {}},
      {"one drone", "web", "abc1", {"d2"}, 1, {"d1", "d3"}},
      {"two drones", "web", "abc1", {"d1", "d3"}, 2, {"d2"}},
      {"every drone by name", "web", "abc1", {"d1", "d2", "d3"}, 3, {}},
      {"some not on it", "web", "abc1", {"d1", "zz", "yy"}, 1, {"d2", "d3"}},
      {"none on it", "web", "abc1", {"zz"}, 0, {"d1", "d2", "d3"}},
      {"unknown app", "nope", "abc1", {}, 0, {"d1", "d2", "d3"}},
      {"unknown commit", "web", "ffff", {"d1"}, 0, {"d1", "d2", "d3"}},
  };
  for (const Row& r : rows) {
    INFO(r.name);
    DesiredState s;
    s.Put(Dep("web", "abc1", {"d1", "d2", "d3"}));
    s.Put(Dep("web", "abc2", {"d1"}));
    CHECK(s.Remove(r.app, r.commit, r.drones) == r.want_removed);
    const Deployment* left = s.Find("web", "abc1");
    if (r.want_left.empty()) {
      CHECK(left == nullptr);
    } else {
      REQUIRE(left != nullptr);
      CHECK(left->drones == r.want_left);
    }
    // The other commit is never touched.
    REQUIRE(s.Find("web", "abc2") != nullptr);
    CHECK(s.Find("web", "abc2")->drones == std::set<std::string>{"d1"});
  }
}

TEST_CASE("DesiredState::ForDrone returns the deployments on that drone, All returns every one", "[hub][desired]") {
  DesiredState s;
  s.Put(Dep("web", "abc1", {"d1", "d2"}));
  s.Put(Dep("web", "abc2", {"d2"}));
  s.Put(Dep("api", "ffff", {"d1"}));
  s.Put(Dep("zeta", "0000", {"d3"}));
  struct Row {
    const char* drone;
    std::vector<std::string> want;  // sorted by (app, commit)
  };
  const Row rows[] = {
      {"d1", {"api@ffff", "web@abc1"}},
      {"d2", {"web@abc1", "web@abc2"}},
      {"d3", {"zeta@0000"}},
      {"d4", {}},
      {"", {}},
  };
  for (const Row& r : rows) {
    INFO("drone " << r.drone);
    CHECK(Keys(s.ForDrone(r.drone)) == r.want);
  }
  CHECK(Keys(s.All()) == std::vector<std::string>{"api@ffff", "web@abc1", "web@abc2", "zeta@0000"});
  // ForDrone returns whole deployments (every drone, env, instances).
  auto d1 = s.ForDrone("d1");
  REQUIRE(d1.size() == 2);
  CHECK(d1[1].drones == std::set<std::string>{"d1", "d2"});
}

TEST_CASE("DesiredState JSON round trip keeps every field", "[hub][desired]") {
  DesiredState s;
  s.Put(Dep("web", "0123456789abcdef0123456789abcdef01234567", {"d1", "d2"}, 3,
            {{"A", "1"}, {"QUOTE", "a \"b\" \\c\n"}, {"UNICODE", "h\xc3\xa9llo"}, {"EMPTY", ""}}, 1700000000123));
  s.Put(Dep("api", "ffff", {"edge.1"}, 1, {}, 0));
  s.Put(Dep("big", "aaaa", {"x"}, 4000000000u, {}, -5));

  std::string text = s.ToJson();
  auto back = DesiredState::FromJson(text);
  REQUIRE(back.ok());
  auto want = s.All();
  auto got = back->All();
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    INFO(want[i].app);
    CHECK(got[i] == want[i]);
  }
  CHECK(back->ToJson() == text);  // stable

  // The empty state round-trips too.
  auto empty = DesiredState::FromJson(DesiredState().ToJson());
  REQUIRE(empty.ok());
  CHECK(empty->All().empty());
}

TEST_CASE("DesiredState::FromJson fills defaults for missing optional fields", "[hub][desired]") {
  auto s = DesiredState::FromJson(R"({"deployments": [{"app": "web", "commit": "abc1"}]})");
  REQUIRE(s.ok());
  const Deployment* d = s->Find("web", "abc1");
  REQUIRE(d != nullptr);
  CHECK(d->instances == 1);
  CHECK(d->env.empty());
  CHECK(d->drones.empty());
  CHECK(d->created_unix_ms == 0);
}

TEST_CASE("DesiredState::FromJson on garbage or the wrong shape is DATA_LOSS, never a throw", "[hub][desired]") {
  const char* rows[] = {
      "",
      "   ",
      "not json",
      "{",
      "{\"deployments\": [",
      "null",
      "42",
      "\"deployments\"",
      "[]",
      "[{\"app\": \"web\", \"commit\": \"abc1\"}]",
      "{}",
      "{\"version\": 1}",
      "{\"deployments\": null}",
      "{\"deployments\": {}}",
      "{\"deployments\": \"x\"}",
      "{\"deployments\": 7}",
      "{\"deployments\": [1]}",
      "{\"deployments\": [null]}",
      "{\"deployments\": [\"web\"]}",
      "{\"deployments\": [[]]}",
      "{\"deployments\": [{}]}",
      "{\"deployments\": [{\"app\": \"web\"}]}",
      "{\"deployments\": [{\"commit\": \"abc1\"}]}",
      "{\"deployments\": [{\"app\": 1, \"commit\": \"abc1\"}]}",
      "{\"deployments\": [{\"app\": \"web\", \"commit\": null}]}",
      "{\"deployments\": [{\"app\": \"web\", \"commit\": \"abc1\", \"instances\": \"three\"}]}",
      "{\"deployments\": [{\"app\": \"web\", \"commit\": \"abc1\", \"instances\": -1}]}",
      "{\"deployments\": [{\"app\": \"web\", \"commit\": \"abc1\", \"instances\": 1.5}]}",
      "{\"deployments\": [{\"app\": \"web\", \"commit\": \"abc1\", \"instances\": 99999999999}]}",
      "{\"deployments\": [{\"app\": \"web\", \"commit\": \"abc1\", \"env\": []}]}",
      "{\"deployments\": [{\"app\": \"web\", \"commit\": \"abc1\", \"env\": {\"A\": 1}}]}",
      "{\"deployments\": [{\"app\": \"web\", \"commit\": \"abc1\", \"drones\": \"d1\"}]}",
      "{\"deployments\": [{\"app\": \"web\", \"commit\": \"abc1\", \"drones\": [1]}]}",
      "{\"deployments\": [{\"app\": \"web\", \"commit\": \"abc1\", \"created_unix_ms\": \"now\"}]}",
      // One good entry does not rescue a bad one.
      "{\"deployments\": [{\"app\": \"web\", \"commit\": \"abc1\"}, {\"app\": 2}]}",
      // Invalid UTF-8 inside a string.
      "{\"deployments\": [{\"app\": \"w\xff\", \"commit\": \"abc1\"}]}",
  };
  for (const char* text : rows) {
    INFO("text: " << text);
    Result<DesiredState> r = Status::Internal("unset");
    REQUIRE_NOTHROW(r = DesiredState::FromJson(text));
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Code::kDataLoss);
    CHECK_FALSE(r.status().message().empty());
  }
}

}  // namespace
}  // namespace skyport::hub

namespace skyport::hub {
namespace {

TEST_CASE("DesiredState: config vars are versioned and ride the JSON", "[hub][desired][config]") {
  DesiredState s;
  CHECK(s.Config("web").version == 0);
  CHECK(s.Config("web").vars.empty());
  CHECK(s.PutConfig("web", {{"A", "1"}}, 1000) == 1);
  CHECK(s.PutConfig("web", {{"A", "2"}, {"B", "x=y\n"}}, 2000) == 2);
  CHECK(s.PutConfig("api", {}, 3000) == 1);  // an empty config still has a version
  CHECK(s.ConfigVersions() == std::map<std::string, uint64_t>{{"api", 1}, {"web", 2}});
  s.Put(Dep("web", "abc1", {"d1"}));
  auto back = DesiredState::FromJson(s.ToJson());
  REQUIRE(back.ok());
  CHECK(back->Config("web") == s.Config("web"));
  CHECK(back->Config("web").vars.at("B") == "x=y\n");
  CHECK(back->Config("web").updated_unix_ms == 2000);
  CHECK(back->Config("api").version == 1);
  CHECK(back->All().size() == 1);
  back->DropConfig("web");
  CHECK(back->Config("web").version == 0);
  CHECK(back->ConfigVersions() == std::map<std::string, uint64_t>{{"api", 1}});
}

TEST_CASE("DesiredState: a file without config loads; a bad config section is refused", "[hub][desired][config]") {
  auto old = DesiredState::FromJson(R"({"version":1,"deployments":[]})");
  REQUIRE(old.ok());
  CHECK(old->ConfigVersions().empty());
  for (const char* bad : {R"({"deployments":[],"config":[]})", R"({"deployments":[],"config":{"web":{}}})",
                          R"({"deployments":[],"config":{"web":{"version":-1}}})",
                          R"({"deployments":[],"config":{"web":{"version":1,"vars":{"A":1}}}})"}) {
    INFO(bad);
    CHECK(DesiredState::FromJson(bad).status().code() == Code::kDataLoss);
  }
}

}  // namespace
}  // namespace skyport::hub
