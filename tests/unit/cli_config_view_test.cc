#include <catch2/catch.hpp>

#include "cli/config_view.h"
#include "contract/config_vars.h"

using namespace skyport;
using namespace skyport::cli;

TEST_CASE("config set: every KEY=VALUE checked, no value in an error", "[cli][config]") {
  auto ok = MakeConfigSetRequest("webapp", {"A=1", "B=x=y", "EMPTY="});
  REQUIRE(ok.ok());
  CHECK(ok->app() == "webapp");
  CHECK(ok->set().size() == 3);
  CHECK(ok->set().at("B") == "x=y");
  CHECK(ok->set().at("EMPTY").empty());
  CHECK(MakeConfigSetRequest("webapp", {}).status().code() == Code::kInvalidArgument);
  CHECK(MakeConfigSetRequest("Bad_App", {"A=1"}).status().code() == Code::kInvalidArgument);
  auto twice = MakeConfigSetRequest("webapp", {"A=1", "A=2"});
  CHECK(twice.status().code() == Code::kInvalidArgument);
  auto bare = MakeConfigSetRequest("webapp", {"A=1", "sup3rsecret"});
  REQUIRE_FALSE(bare.ok());
  CHECK(bare.status().message().find("argument 2") != std::string::npos);
  CHECK(bare.status().message().find("sup3rsecret") == std::string::npos);
  auto reserved = MakeConfigSetRequest("webapp", {"SKYPORT_TOKEN=sup3rsecret"});
  REQUIRE_FALSE(reserved.ok());
  CHECK(reserved.status().message().find("sup3rsecret") == std::string::npos);
}

TEST_CASE("config unset: key names only", "[cli][config]") {
  auto ok = MakeConfigUnsetRequest("webapp", {"A", "B", "A"});
  REQUIRE(ok.ok());
  CHECK(ok->unset_size() == 2);  // each once
  auto kv = MakeConfigUnsetRequest("webapp", {"A=sup3rsecret"});
  REQUIRE_FALSE(kv.ok());
  CHECK(kv.status().message().find("sup3rsecret") == std::string::npos);
  CHECK(MakeConfigUnsetRequest("webapp", {"PATH"}).status().code() == Code::kInvalidArgument);
  CHECK(MakeConfigUnsetRequest("webapp", {}).status().code() == Code::kInvalidArgument);
}

TEST_CASE("config: text and JSON views", "[cli][config]") {
  v1::AppConfig c;
  c.set_app("webapp");
  c.set_version(3);
  c.set_masked(true);
  (*c.mutable_vars())["B"] = "********";
  (*c.mutable_vars())["A"] = "********";
  CHECK(RenderConfigText(c) ==
        "webapp: config v3, 2 vars (values masked; --reveal shows them)\nA=********\nB=********\n");
  c.set_masked(false);
  (*c.mutable_vars())["A"] = "line1\nline2";
  (*c.mutable_vars())["B"] = "plain value";
  CHECK(RenderConfigText(c) == "webapp: config v3, 2 vars\nA=\"line1\\nline2\"\nB=plain value\n");
  auto j = ConfigJson(c);
  CHECK(j["version"] == 3);
  CHECK(j["masked"] == false);
  CHECK(j["vars"]["A"] == "line1\nline2");
  v1::AppConfig none;
  none.set_app("webapp");
  CHECK(RenderConfigText(none) == "webapp: no config vars (config v0)\n");
}

TEST_CASE("config: the saved line names keys, never values", "[cli][config]") {
  v1::AppConfig saved;
  saved.set_app("webapp");
  saved.set_version(4);
  auto req = MakeConfigSetRequest("webapp", {"B=sup3rsecret", "A=1"});
  REQUIRE(req.ok());
  CHECK(ConfigSavedLine(saved, *req) == "webapp: config v4 saved (set A, B)");
  auto unset = MakeConfigUnsetRequest("webapp", {"C"});
  CHECK(ConfigSavedLine(saved, *unset) == "webapp: config v4 saved (unset C)");
}

TEST_CASE("config set --stdin: .env lines, bounded, no value in an error", "[cli][config]") {
  auto ok = ConfigAssignmentsFromText("# db\nDATABASE_URL=postgres://u:p@h/db?x=1\r\n\n  \nGREETING= hi there \nEMPTY=");
  REQUIRE(ok.ok());
  CHECK(*ok == std::vector<std::string>{"DATABASE_URL=postgres://u:p@h/db?x=1", "GREETING= hi there ", "EMPTY="});
  auto req = MakeConfigSetRequest("webapp", *ok);
  REQUIRE(req.ok());
  CHECK(req->set().at("GREETING") == " hi there ");

  auto bare = ConfigAssignmentsFromText("A=1\nsup3rsecret\n");
  REQUIRE_FALSE(bare.ok());
  CHECK(bare.status().message().find("line 2") != std::string::npos);
  CHECK(bare.status().message().find("sup3rsecret") == std::string::npos);
  CHECK(ConfigAssignmentsFromText("# nothing\n\n").status().code() == Code::kInvalidArgument);
  CHECK(ConfigAssignmentsFromText("").status().code() == Code::kInvalidArgument);
  CHECK(ConfigAssignmentsFromText(std::string(kMaxConfigStdinBytes + 1, 'A')).status().code() ==
        Code::kInvalidArgument);
  std::string many;
  for (size_t i = 0; i <= kMaxConfigChangeKeys; ++i) many += "K" + std::to_string(i) + "=v\n";
  CHECK(ConfigAssignmentsFromText(many).status().message().find("at most") != std::string::npos);
}
