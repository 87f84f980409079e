// `skyport completion bash|zsh`: a shell completion script made from the
// command tree itself, so that it always lists the commands and options this
// binary has (as `kubectl completion` and `gh completion` do). Pure.
#pragma once

#include <string>
#include <vector>

#include "core/status.h"

namespace skyport::cli {

// One command (the root: `skyport` itself) with its long options and subcommands.
struct CompletionNode {
  std::string name;
  std::vector<std::string> options;  // "--json", ...
  std::vector<CompletionNode> children;
};

// The script for `shell` ("bash" or "zsh"; zsh through its bashcompinit);
// INVALID_ARGUMENT for any other shell. `root.options` complete after every
// command (the CLI's global options may follow any of them).
Result<std::string> CompletionScript(const std::string& shell, const CompletionNode& root);

}  // namespace skyport::cli
