// Pure help for the command line over the command table (command_table.h):
// which command argv names, the nearest name to a typo, and the list that
// `skyport --help` prints. No CLI11 here; main.cc is the shell.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cli/command_table.h"

namespace skyport::cli {

// Edits (insert, delete, substitute, swap two neighbours) from `a` to `b`:
// "deplyo" is 1 from "deploy". O(|a|·|b|) time and memory: for short words.
size_t EditDistance(std::string_view a, std::string_view b);

// The name `word` most likely meant: the nearest by EditDistance when at most
// max(1, |word|/3) edits away, else the only name starting with `word` (two
// letters or more); ties go to the earlier name. nullopt when none fits.
std::optional<std::string> ClosestName(std::string_view word, std::span<const std::string_view> names);

struct CommandLookup {
  enum Kind {
    kFound,    // a runnable command: CLI11 parses the rest
    kHelp,     // -h/--help before the command: CLI11 prints the help
    kMissing,  // the words end at the top or at a group: `path` ("" = top)
    kUnknown,  // `word` names no command under `path`
  };
  Kind kind = kFound;
  std::string path;  // the known words before the stop, one space apart
  std::string word;  // kUnknown: the word that matched nothing
  std::optional<std::string> suggestion;  // kUnknown: the nearest full path
};

// Walks `args` (argv without argv[0], cut at `--` already or not) through the
// table's paths. Options are skipped, with the next word when
// `takes_value("--name")` says so (global options may come before and between
// the command's words); `--name=value` is one word.
CommandLookup LookUpCommand(std::span<const std::string> args, std::span<const CommandSpec> table,
                            const std::function<bool(std::string_view)>& takes_value);

// `skyport: unknown command "deplyo"; did you mean "deploy"?` (no newline).
std::string FormatUnknownCommand(const CommandLookup& lookup);

// One line per runnable command, "  PATH  HELP" with the helps in one column,
// in table order; an empty line sets a group's nested commands ("registry
// show", ...) apart from their neighbours.
std::string FormatCommandList(std::span<const CommandSpec> table);

}  // namespace skyport::cli
