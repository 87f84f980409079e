#include "cli/flight_cmd.h"

#include <iostream>
#include <memory>
#include <optional>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "cli/command_table.h"
#include "cli/errors.h"
#include "cli/flight_view.h"
#include "cli/hub_commands.h"
#include "cli/spec_file.h"
#include "core/clock.h"
#include "core/names.h"
#include "contract/flight_spec.h"

namespace skyport::cli {
namespace {

// The spec as JSON text, validated; prints the problems and sets `code` when not.
std::optional<std::string> LoadSpec(const std::string& file, int& code) {
  auto json = SpecFileToJson(file);
  if (!json.ok()) {
    code = ReportUsage(json.status());
    return std::nullopt;
  }
  auto spec = hub::ParseFlightSpecText(*json);
  if (!spec.ok()) {
    code = ReportUsage(Status::InvalidArgument(fmt::format("{}: {}", file, spec.status().message())));
    return std::nullopt;
  }
  return *json;
}

int PrintStatus(const GlobalOptions& g, const v1::FlightStatus& s, const std::string& answered_by) {
  if (g.json) PrintAnswered(FlightStatusJson(s), answered_by, g.hub, 2);
  else std::cout << RenderFlightStatus(s, SystemClock::Get()->WallMs()) << std::flush;
  return kExitOk;
}

}  // namespace

int RunFlightValidate(const GlobalOptions& g, const FlightOptions& o) {
  int code = kExitOk;
  auto json = LoadSpec(o.file, code);
  if (!json) return code;
  if (g.json) std::cout << nlohmann::json::parse(*json).dump(2) << std::endl;
  else std::cout << o.file << ": ok\n";
  return kExitOk;
}

int RunFlightStart(const GlobalOptions& g, const FlightOptions& o) {
  int code = kExitOk;
  auto json = LoadSpec(o.file, code);
  if (!json) return code;
  auto client = ConnectHubOrReport(g, code);
  if (!client) return code;
  auto st = client->FlightStart(*json);
  if (!st.ok()) return ReportHubError(g, "flight start", st.status());
  return PrintStatus(g, *st, client->answered_by());
}

int RunFlightKill(const GlobalOptions& g, const FlightOptions& o) {
  if (Status s = ValidateName("name", o.name); !s.ok()) return ReportUsage(s);
  int code = kExitOk;
  auto client = ConnectHubOrReport(g, code);
  if (!client) return code;
  auto st = client->FlightKill(o.name, o.reason);
  if (!st.ok()) return ReportHubError(g, "flight kill", st.status());
  return PrintStatus(g, *st, client->answered_by());
}

int RunFlightList(const GlobalOptions& g, const FlightOptions& o) {
  int code = kExitOk;
  auto client = ConnectHubOrReport(g, code);
  if (!client) return code;
  auto list = client->FlightList(o.all);
  if (!list.ok()) return ReportHubError(g, "flight list", list.status());
  std::vector<v1::FlightStatus> flights(list->flights().begin(), list->flights().end());
  if (g.json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& f : flights) out.push_back(FlightStatusJson(f));
    PrintAnswered(std::move(out), client->answered_by(), g.hub, 2);
  } else {
    std::cout << RenderFlightList(flights, SystemClock::Get()->WallMs()) << std::flush;
  }
  return kExitOk;
}

int RunFlightStatus(const GlobalOptions& g, const FlightOptions& o) {
  if (Status s = ValidateName("name", o.name); !s.ok()) return ReportUsage(s);
  int code = kExitOk;
  auto client = ConnectHubOrReport(g, code);
  if (!client) return code;
  auto st = client->FlightStatus(o.name);
  if (!st.ok()) return ReportHubError(g, "flight status", st.status());
  return PrintStatus(g, *st, client->answered_by());
}

int RunFlightLog(const GlobalOptions& g, const FlightOptions& o) {
  if (Status s = ValidateName("name", o.name); !s.ok()) return ReportUsage(s);
  int code = kExitOk;
  auto client = ConnectHubOrReport(g, code);
  if (!client) return code;
  auto log = client->FlightLog(o.name);
  if (!log.ok()) return ReportHubError(g, "flight log", log.status());
  std::vector<v1::FlightLogEntry> entries(log->entries().begin(), log->entries().end());
  if (g.json) {
    // The array stays what it was; a JSON reader sees the notice on stderr.
    std::cerr << FlightLogLeftOutNotice(log->older_left_out()) << std::flush;
    PrintAnswered(FlightLogJson(entries), client->answered_by(), g.hub, 2);
  } else {
    std::cout << RenderFlightLog(entries, log->older_left_out()) << std::flush;
  }
  return kExitOk;
}

// ---- the `skyport flight ...` command table (command_table.h)
namespace {

Runner DefineFlightStart(CLI::App& cmd, const CommandContext& ctx) {
  auto o = std::make_shared<FlightOptions>();
  cmd.add_option("file", o->file, "Flight spec")->required();
  cmd.footer("A spec with \"kill\": true kills the running flight of that name. Spec format: docs/flights.md.");
  return [&g = ctx.global, o] { return RunFlightStart(g, *o); };
}

Runner DefineFlightValidate(CLI::App& cmd, const CommandContext& ctx) {
  auto o = std::make_shared<FlightOptions>();
  cmd.add_option("file", o->file, "Flight spec")->required();
  return [&g = ctx.global, o] { return RunFlightValidate(g, *o); };
}

Runner DefineFlightKill(CLI::App& cmd, const CommandContext& ctx) {
  auto o = std::make_shared<FlightOptions>();
  cmd.add_option("name", o->name, "Flight")->required();
  cmd.add_option("--reason", o->reason, "Recorded in the flight's log");
  return [&g = ctx.global, o] { return RunFlightKill(g, *o); };
}

Runner DefineFlightList(CLI::App& cmd, const CommandContext& ctx) {
  auto o = std::make_shared<FlightOptions>();
  cmd.add_flag("--all", o->all, "Include finished flights");
  return [&g = ctx.global, o] { return RunFlightList(g, *o); };
}

// status and log: a flight's name and nothing else.
template <int (*Run)(const GlobalOptions&, const FlightOptions&)>
Runner DefineByName(CLI::App& cmd, const CommandContext& ctx) {
  auto o = std::make_shared<FlightOptions>();
  cmd.add_option("name", o->name, "Flight")->required();
  return [&g = ctx.global, o] { return Run(g, *o); };
}

constexpr CommandSpec kFlightCommands[] = {
    {"flight", "Experiments and progressive rollouts run by the hub"},
    {"flight start", "Validate FILE (JSON or YAML) and start the flight it describes", DefineFlightStart},
    {"flight validate", "Check FILE offline; every problem is named with its field", DefineFlightValidate},
    {"flight kill", "Send all of NAME's traffic back to control and stop what it started", DefineFlightKill},
    {"flight list", "Active flights (--all: finished ones too)", DefineFlightList},
    {"flight status", "NAME's step, weights, enrolled users and time left", DefineByName<RunFlightStatus>},
    {"flight log", "NAME's timeline: steps, weights, gate verdicts, pings, kill", DefineByName<RunFlightLog>},
};

}  // namespace

std::span<const CommandSpec> FlightCommands() { return kFlightCommands; }

}  // namespace skyport::cli
