// The command table of `skyport` (Ninja's kTools[], Nomad's command/): each
// command group's file lists its commands as CommandSpecs, and main.cc is a
// loop over the groups that turns them into CLI11 subcommands, lists them in
// `skyport --help` and suggests the nearest one for a mistyped name.
//
// Only CLI::App is named here (forward-declared), so that the pure lookup and
// help listing (command_lookup.h) and their tests never include CLI11.
#pragma once

#include <functional>
#include <span>
#include <string_view>

namespace CLI {
class App;
}

namespace skyport::cli {

struct GlobalOptions;  // commands.h
struct SplitArgs;      // args.h

// What a command's definition may keep: the global options (filled by the
// parse before the command runs) and the words after `--`.
struct CommandContext {
  const GlobalOptions& global;
  const SplitArgs& args;
  const CLI::App& root;  // the whole command tree (`skyport completion` walks it)
};

// Runs a parsed command and returns the process exit code (errors.h).
using Runner = std::function<int()>;

struct CommandSpec {
  // Words from the top, one space apart: "deploy", "registry route get". A
  // command's parent group comes earlier in the same table.
  std::string_view path;
  std::string_view help;  // one line: `skyport --help` lists it
  // Declares the command's positionals, options and footer on `cmd` and
  // returns what runs it once parsed (owning the option values). nullptr for
  // a group, which only holds subcommands and requires one of them.
  Runner (*define)(CLI::App& cmd, const CommandContext& ctx) = nullptr;
  // `-- CMD ARGS` may follow (args.h SplitCommand); elsewhere it is a usage error.
  bool takes_command = false;
};

// The groups, in the order `skyport --help` lists them.
std::span<const CommandSpec> RegistryCommands();  // commands.cc (with watch_cmd.cc, register_cmd.cc)
std::span<const CommandSpec> HubCommands();       // hub_cmds.cc: deploy, stop, ps, drones
std::span<const CommandSpec> LogsCommands();      // logs_cmd.cc
std::span<const CommandSpec> StatsCommands();     // stats_cmd.cc
std::span<const CommandSpec> GateCommands();      // gate_cmd.cc
std::span<const CommandSpec> SplitCommands();     // split_cmd.cc
std::span<const CommandSpec> AppsCommands();      // apps_cmd.cc: apps set
std::span<const CommandSpec> FlightCommands();    // flight_cmd.cc
std::span<const CommandSpec> CompletionCommands();  // completion_cmd.cc
std::span<const CommandSpec> ReleaseCommands();     // release_cmd.cc: releases, rollback, apps (issue 16)
std::span<const CommandSpec> ConfigCommands();      // config_cmd.cc: config, config set, config unset
std::span<const CommandSpec> StatusCommands();      // status_cmd.cc (issue 16: overview)

}  // namespace skyport::cli
