// The desired state on etcd: the read-back rule (pure) and the store over a
// fake etcd that can lose answers, apply a held write late, fence a writer
// out, or hold another writer's value.
#include <catch2/catch.hpp>

#include <optional>
#include <string>

#include "hub/ha/desired_store.h"
#include "tests/unit/fake_etcd.h"

namespace skyport::hub::ha {
namespace {

const std::string kKey = "/sky/hub/desired";

struct Fixture {
  FakeEtcd etcd;
  std::string conflict;
  DesiredStore store{etcd.Bind(), kKey, [this](const std::string& why) { conflict = why; }};
  std::string Value() { return etcd.kvs.count(kKey) ? etcd.kvs[kKey].value : "<absent>"; }
};

TEST_CASE("ClassifyDesired: what a read of the key says about a write", "[hub]") {
  const std::optional<std::string> none;
  CHECK(ClassifyDesired(std::string("B"), 9, 5, "B", none) == DesiredSeen::kOurs);
  CHECK(ClassifyDesired(std::string("A"), 5, 5, "B", none) == DesiredSeen::kUnchanged);
  CHECK(ClassifyDesired(none, 0, 0, "B", none) == DesiredSeen::kUnchanged);  // still absent
  CHECK(ClassifyDesired(std::string("L"), 7, 5, "B", std::string("L")) == DesiredSeen::kLostLanded);
  CHECK(ClassifyDesired(std::string("X"), 7, 5, "B", std::string("L")) == DesiredSeen::kForeign);
  CHECK(ClassifyDesired(none, 8, 5, "B", none) == DesiredSeen::kForeign);  // deleted by someone
}

TEST_CASE("DesiredStore: writes compare the revision it loaded or wrote", "[hub]") {
  Fixture f;
  CHECK(f.store.Save("{}").code() == Code::kFailedPrecondition);  // not loaded: nothing written
  CHECK(f.etcd.txns == 0);
  auto loaded = f.store.Load();
  REQUIRE(loaded.ok());
  CHECK_FALSE(loaded->has_value());
  REQUIRE(f.store.Save("A").ok());  // created (MOD == 0 on an absent key)
  REQUIRE(f.store.Save("B").ok());
  CHECK(f.Value() == "B");
  f.etcd.leading = false;
  CHECK(f.store.Save("C").code() == Code::kFailedPrecondition);
  CHECK(f.Value() == "B");
  CHECK(f.conflict.empty());
}

TEST_CASE("DesiredStore: a lost answer is read back", "[hub]") {
  Fixture f;
  REQUIRE(f.store.Load().ok());
  REQUIRE(f.store.Save("A").ok());

  SECTION("applied: OK") {
    f.etcd.fault = FakeEtcd::Fault::kLoseAnswerApplied;
    REQUIRE(f.store.Save("B").ok());
    REQUIRE(f.store.Save("C").ok());  // and the next write knows the revision
    CHECK(f.Value() == "C");
  }
  SECTION("not applied: UNAVAILABLE, and applied late it cannot land over a newer write") {
    f.etcd.fault = FakeEtcd::Fault::kLoseAnswerNotApplied;
    CHECK(f.store.Save("B").code() == Code::kUnavailable);  // the hub keeps A in memory
    CHECK(f.Value() == "A");
    REQUIRE(f.store.Save("A+stop").ok());  // a later command
    CHECK_FALSE(f.etcd.Apply(f.etcd.held.at(0)).succeeded());  // etcd applies the old one late: refused
    CHECK(f.Value() == "A+stop");
    CHECK(f.conflict.empty());
  }
  SECTION("not applied, then applied before the next write: adopted, written on top") {
    f.etcd.fault = FakeEtcd::Fault::kLoseAnswerNotApplied;
    CHECK(f.store.Save("B").code() == Code::kUnavailable);
    REQUIRE(f.etcd.Apply(f.etcd.held.at(0)).succeeded());
    CHECK(f.Value() == "B");
    REQUIRE(f.store.Save("C").ok());  // memory's state replaces it
    CHECK(f.Value() == "C");
    CHECK(f.conflict.empty());
  }
  SECTION("not applied and the read fails too: UNAVAILABLE, resolved on the next write") {
    f.etcd.fault = FakeEtcd::Fault::kLoseAnswerNotApplied;
    f.etcd.range_fails = true;
    CHECK(f.store.Save("B").code() == Code::kUnavailable);
    f.etcd.range_fails = false;
    REQUIRE(f.etcd.Apply(f.etcd.held.at(0)).succeeded());  // it landed meanwhile
    REQUIRE(f.store.Save("C").ok());
    CHECK(f.Value() == "C");
  }
}

TEST_CASE("DesiredStore: another writer's value stops this leader, once", "[hub]") {
  Fixture f;
  REQUIRE(f.store.Load().ok());
  REQUIRE(f.store.Save("A").ok());
  f.etcd.kvs[kKey] = {"someone else's", ++f.etcd.revision};
  CHECK(f.store.Save("B").code() == Code::kAborted);
  CHECK(f.Value() == "someone else's");
  CHECK_FALSE(f.conflict.empty());
  f.conflict.clear();
  CHECK(f.store.Save("C").code() == Code::kAborted);  // every later write, without a second call
  CHECK(f.conflict.empty());
  CHECK(f.store.MetricsText().find("skyport_hub_desired_conflicts_total 1") != std::string::npos);
}

}  // namespace
}  // namespace skyport::hub::ha
