#include <catch2/catch.hpp>

#include <string>
#include <string_view>
#include <vector>

#include "cli/command_lookup.h"

namespace skyport::cli {
namespace {

// A runnable command in a fake table; the lookup never calls it.
Runner FakeDefine(CLI::App&, const CommandContext&) { return {}; }

const CommandSpec kFakeRegistry[] = {
    {"registry", "Ports, endpoints and routes"},
    {"registry show", "Print the port table", FakeDefine},
    {"registry register", "Register an entry", FakeDefine, /*takes_command=*/true},
    {"registry route", "Read or write a route"},
    {"registry route get", "Print a route", FakeDefine},
    {"registry route set", "Replace a route", FakeDefine},
};
const CommandSpec kFakeHub[] = {
    {"deploy", "Deploy APP at COMMITISH", FakeDefine},
    {"stop", "Stop APP at COMMITISH", FakeDefine},
    {"stats", "Per-commit traffic", FakeDefine},
    {"ps", "List the processes", FakeDefine},
};

std::vector<CommandSpec> FakeTable() {
  std::vector<CommandSpec> table(std::begin(kFakeRegistry), std::end(kFakeRegistry));
  table.insert(table.end(), std::begin(kFakeHub), std::end(kFakeHub));
  return table;
}

bool FakeTakesValue(std::string_view name) { return name == "--hub" || name == "--timeout"; }

TEST_CASE("EditDistance: inserts, deletes, substitutions and neighbour swaps", "[cli]") {
  struct Case {
    std::string_view a, b;
    size_t distance;
  };
  const Case cases[] = {
      {"", "", 0},          {"deploy", "deploy", 0}, {"", "ps", 2},           {"ps", "", 2},
      {"deplyo", "deploy", 1}, {"delpoy", "deploy", 1}, {"dploy", "deploy", 1}, {"deployy", "deploy", 1},
      {"deplay", "deploy", 1}, {"stpo", "stop", 1},    {"xyz", "ps", 3},        {"flihgt", "flight", 1},
      {"ab", "ba", 1},      {"abc", "ca", 3},
  };
  for (const Case& c : cases) {
    INFO(c.a << " -> " << c.b);
    CHECK(EditDistance(c.a, c.b) == c.distance);
    CHECK(EditDistance(c.b, c.a) == c.distance);
  }
}

TEST_CASE("ClosestName: the nearest typo, else a unique prefix, else nothing", "[cli]") {
  const std::vector<std::string_view> names = {"registry", "deploy", "stop", "ps", "drones", "logs",
                                               "stats", "gate", "split", "flight"};
  struct Case {
    std::string_view word;
    std::optional<std::string> want;
  };
  const Case cases[] = {
      {"deplyo", "deploy"}, {"Deploy", "deploy"}, {"lgos", "logs"},    {"stat", "stats"},
      {"gat", "gate"},      {"flihgt", "flight"}, {"regsitry", "registry"}, {"drone", "drones"},
      {"p", "ps"},          {"dep", "deploy"},   {"reg", "registry"},  {"st", std::nullopt},  // stop or stats
      {"xyz", std::nullopt}, {"", std::nullopt},  {"kubectl", std::nullopt},
      {std::string_view("deploydeploydeploydeploydeploydeploydeploydeploydeploydeploydeploy"), std::nullopt},
  };
  for (const Case& c : cases) {
    INFO(c.word);
    CHECK(ClosestName(c.word, names) == c.want);
  }
}

TEST_CASE("ClosestName: a tie goes to the earlier name", "[cli]") {
  const std::vector<std::string_view> names = {"stop", "step"};
  CHECK(ClosestName("stap", names) == "stop");
  const std::vector<std::string_view> swapped = {"step", "stop"};
  CHECK(ClosestName("stap", swapped) == "step");
}

TEST_CASE("LookUpCommand: found, missing, unknown and help, through global options", "[cli]") {
  const std::vector<CommandSpec> table = FakeTable();
  struct Case {
    std::vector<std::string> args;
    CommandLookup::Kind kind;
    std::string path, word;
    std::optional<std::string> suggestion;
  };
  const Case cases[] = {
      {{"deploy", "app", "main"}, CommandLookup::kFound, "deploy", "", std::nullopt},
      {{"--hub", "h:1", "deploy", "app"}, CommandLookup::kFound, "deploy", "", std::nullopt},
      {{"--hub=deplyo", "ps"}, CommandLookup::kFound, "ps", "", std::nullopt},
      {{"--json", "stop"}, CommandLookup::kFound, "stop", "", std::nullopt},
      {{"registry", "--timeout", "3", "route", "get", "app"}, CommandLookup::kFound, "registry route get", "",
       std::nullopt},
      {{"deploy", "--help"}, CommandLookup::kFound, "deploy", "", std::nullopt},
      {{}, CommandLookup::kMissing, "", "", std::nullopt},
      {{"--hub", "h:1"}, CommandLookup::kMissing, "", "", std::nullopt},
      {{"registry"}, CommandLookup::kMissing, "registry", "", std::nullopt},
      {{"registry", "route"}, CommandLookup::kMissing, "registry route", "", std::nullopt},
      {{"--", "deploy"}, CommandLookup::kMissing, "", "", std::nullopt},
      {{"--help"}, CommandLookup::kHelp, "", "", std::nullopt},
      {{"registry", "-h"}, CommandLookup::kHelp, "registry", "", std::nullopt},
      {{"deplyo", "app", "main"}, CommandLookup::kUnknown, "", "deplyo", "deploy"},
      {{"--timeout", "5", "deplyo"}, CommandLookup::kUnknown, "", "deplyo", "deploy"},
      {{"registry", "shwo"}, CommandLookup::kUnknown, "registry", "shwo", "registry show"},
      {{"registry", "route", "gte"}, CommandLookup::kUnknown, "registry route", "gte", "registry route get"},
      {{"registry", "deploy"}, CommandLookup::kUnknown, "registry", "deploy", std::nullopt},
      {{"show"}, CommandLookup::kUnknown, "", "show", std::nullopt},
      {{"kubectl"}, CommandLookup::kUnknown, "", "kubectl", std::nullopt},
      {{"-"}, CommandLookup::kUnknown, "", "-", std::nullopt},
  };
  for (const Case& c : cases) {
    std::string args;
    for (const auto& a : c.args) args += a + " ";
    INFO(args);
    CommandLookup got = LookUpCommand(c.args, table, FakeTakesValue);
    CHECK(got.kind == c.kind);
    CHECK(got.path == c.path);
    CHECK(got.word == c.word);
    CHECK(got.suggestion == c.suggestion);
  }
}

TEST_CASE("FormatUnknownCommand: the suggestion, or where the list is", "[cli]") {
  CommandLookup typo{CommandLookup::kUnknown, "", "deplyo", "deploy"};
  CHECK(FormatUnknownCommand(typo) == "skyport: unknown command \"deplyo\"; did you mean \"deploy\"?");
  CommandLookup nested{CommandLookup::kUnknown, "registry", "shwo", "registry show"};
  CHECK(FormatUnknownCommand(nested) ==
        "skyport: unknown command \"registry shwo\"; did you mean \"registry show\"?");
  CommandLookup none{CommandLookup::kUnknown, "", "kubectl", std::nullopt};
  CHECK(FormatUnknownCommand(none) == "skyport: unknown command \"kubectl\" (skyport --help lists the commands)");
}

TEST_CASE("FormatCommandList: runnable commands with their line, nested groups apart", "[cli]") {
  const CommandSpec flight[] = {
      {"flight", "Flights"},
      {"flight list", "Active flights", FakeDefine},
  };
  std::vector<CommandSpec> table = FakeTable();
  table.insert(table.end(), std::begin(flight), std::end(flight));
  CHECK(FormatCommandList(table) ==
        "  registry show       Print the port table\n"
        "  registry register   Register an entry\n"
        "  registry route get  Print a route\n"
        "  registry route set  Replace a route\n"
        "\n"
        "  deploy              Deploy APP at COMMITISH\n"
        "  stop                Stop APP at COMMITISH\n"
        "  stats               Per-commit traffic\n"
        "  ps                  List the processes\n"
        "\n"
        "  flight list         Active flights\n");
  CHECK(FormatCommandList({}) == "");
}

}  // namespace
}  // namespace skyport::cli
