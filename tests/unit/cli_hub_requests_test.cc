#include <catch2/catch.hpp>

#include "cli/errors.h"
#include "cli/hub_requests.h"

using namespace skyport;
using namespace skyport::cli;

TEST_CASE("ParseDroneList splits commas, keeps order, drops repeats", "[cli]") {
  auto d = ParseDroneList({"web-1,web-2", "db.a", "web-1"});
  REQUIRE(d.ok());
  CHECK(*d == std::vector<std::string>{"web-1", "web-2", "db.a"});
  CHECK(ParseDroneList({}).value().empty());
}

TEST_CASE("ParseDroneList names every bad item", "[cli]") {
  auto d = ParseDroneList({"a,,b", "-x"});
  REQUIRE_FALSE(d.ok());
  CHECK(d.status().code() == Code::kInvalidArgument);
  CHECK(d.status().message().find("empty drone name") != std::string::npos);
  CHECK(d.status().message().find("drones") != std::string::npos);
  CHECK(d.status().message().find("; ") != std::string::npos);  // both problems
}

TEST_CASE("ParseKeyValues: labels and env", "[cli]") {
  auto l = ParseKeyValues("label", KeyKind::kLabel, {"zone=eu-1", "gpu=", "expr=a=b"});
  REQUIRE(l.ok());
  CHECK(l->at("zone") == "eu-1");
  CHECK(l->at("gpu").empty());
  CHECK(l->at("expr") == "a=b");

  CHECK(ParseKeyValues("env", KeyKind::kEnv, {"_X1=1", "PATH=/bin"}).ok());
  auto bad = ParseKeyValues("env", KeyKind::kEnv, {"1X=1", "A-B=2", "novalue", "=v"});
  REQUIRE_FALSE(bad.ok());
  const std::string& m = bad.status().message();
  CHECK(m.find("env: \"1X\" is not a valid variable name") != std::string::npos);
  CHECK(m.find("\"A-B\"") != std::string::npos);
  CHECK(m.find("env: \"novalue\": expected KEY=VALUE") != std::string::npos);
  CHECK(m.find("\"=v\"") != std::string::npos);
  // A label key may hold what an env name may not.
  CHECK(ParseKeyValues("label", KeyKind::kLabel, {"A-B=2"}).ok());
}

TEST_CASE("ParseKeyValues rejects a key given twice", "[cli]") {
  auto r = ParseKeyValues("label", KeyKind::kLabel, {"a=1", "a=2"});
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().message() == "label: \"a\" given twice");
}

TEST_CASE("MakeDeployRequest fills the target, instances and env", "[cli]") {
  DeployOptions o;
  o.app = "webapp";
  o.commitish = "master";
  o.drones = {"web-1,web-2"};
  o.labels = {"zone=eu"};
  o.count = 1;
  o.instances = 3;
  o.env = {"DEBUG=1"};
  auto r = MakeDeployRequest(o);
  REQUIRE(r.ok());
  CHECK(r->app() == "webapp");
  CHECK(r->commitish() == "master");
  REQUIRE(r->target().drones_size() == 2);
  CHECK(r->target().drones(1) == "web-2");
  CHECK(r->target().labels().at("zone") == "eu");
  CHECK(r->target().count() == 1);
  CHECK(r->instances() == 3);
  CHECK(r->env().at("DEBUG") == "1");
}

TEST_CASE("MakeDeployRequest reports every problem at once", "[cli]") {
  DeployOptions o;
  o.app = "Web_App";
  o.commitish = "";
  o.env = {"1=2"};
  auto r = MakeDeployRequest(o);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == Code::kInvalidArgument);
  const std::string& m = r.status().message();
  CHECK(m.rfind("app", 0) == 0);
  CHECK(m.find("commitish: required") != std::string::npos);
  CHECK(m.find("env: \"1\"") != std::string::npos);

  o.app = "web";
  o.env.clear();
  o.commitish = "--force";
  CHECK_FALSE(MakeDeployRequest(o).ok());
  o.commitish = "has space";
  CHECK_FALSE(MakeDeployRequest(o).ok());
  o.commitish = "feature/x";
  CHECK(MakeDeployRequest(o).ok());
}

TEST_CASE("MakeStopRequest", "[cli]") {
  auto r = MakeStopRequest({"web", "74336bc1", {"a", "b,c"}});
  REQUIRE(r.ok());
  CHECK(r->commitish() == "74336bc1");
  CHECK(r->drones_size() == 3);
  CHECK_FALSE(MakeStopRequest({"web", "", {}}).ok());
  CHECK_FALSE(MakeStopRequest({"", "master", {}}).ok());
}

TEST_CASE("MakeLogsRequest folds the commit prefix and checks the role", "[cli]") {
  LogsOptions o;
  o.app = "web";
  o.commit = "74336BC1";
  o.role = "worker";
  o.follow = true;
  o.tail = 50;
  auto r = MakeLogsRequest(o);
  REQUIRE(r.ok());
  CHECK(r->commit() == "74336bc1");
  CHECK(r->role() == "worker");
  CHECK(r->follow());
  CHECK(r->tail() == 50);

  o.commit = "xyz";
  o.role = "Bad Role";
  auto bad = MakeLogsRequest(o);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().message().find("commit") != std::string::npos);
  CHECK(bad.status().message().find("role") != std::string::npos);
}

TEST_CASE("MakeLogsRequest --release: needs the commit, not with --follow or --role", "[cli]") {
  LogsOptions o;
  o.app = "web";
  o.commit = "74336bc1";
  o.release = true;
  auto r = MakeLogsRequest(o);
  REQUIRE(r.ok());
  CHECK(r->release());
  o.commit = "";
  o.follow = true;
  o.role = "web";
  auto bad = MakeLogsRequest(o);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().message().find("--release: give the commit") != std::string::npos);
  CHECK(bad.status().message().find("--follow") != std::string::npos);
  CHECK(bad.status().message().find("--role") != std::string::npos);
}

TEST_CASE("FormatRpcError hints at the hub for hub commands", "[cli]") {
  auto u = FormatRpcError("ps", Status::Unavailable("failed to connect"), HubDaemon("10.0.0.1:6001"));
  CHECK(u ==
        "skyport: ps: UNAVAILABLE: failed to connect\n"
        "skyport: hint: is skyport-hub running at 10.0.0.1:6001? (--hub / SKYPORT_HUB)");
  CHECK(RpcHint(Status::NotFound("x"), HubDaemon("h:1")).empty());
  CHECK(RpcHint(Status::Unauthenticated("x"), HubDaemon("h:1")).find("--token-file") != std::string::npos);
}
