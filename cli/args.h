// Parsing of the CLI's positional arguments, independent of CLI11 so that it
// can be tested alone. Errors are INVALID_ARGUMENT (usage errors, exit 2).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace skyport::cli {

struct AppCommit {
  std::string app;
  std::string commit;  // full hash (ParseAppCommit) or prefix, maybe "" (ParseAppQuery)
};

// "APP@COMMIT": APP a valid name, COMMIT 4..64 hex (upper case is folded).
Result<AppCommit> ParseAppCommit(std::string_view arg);
// "APP" or "APP@PREFIX" with a 1..64 hex prefix.
Result<AppCommit> ParseAppQuery(std::string_view arg);
// "KEY=VALUE" with a non-empty key; the value may be empty or hold '='.
Result<std::pair<std::string, std::string>> ParseMeta(std::string_view arg);

// `skyport registry register ... -- CMD ARGS`: CLI11 must never see CMD's
// arguments (they may look like our options), so the command line is cut at
// the first "--" when the words before it name the `register` command.
struct SplitArgs {
  std::vector<std::string> head;     // argv[0] and our own arguments
  std::vector<std::string> command;  // CMD ARGS (empty when there was no "--")
  bool has_command = false;
};
SplitArgs SplitCommand(const std::vector<std::string>& argv);

}  // namespace skyport::cli
