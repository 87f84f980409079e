// `skyport split`: set an app's split test (weights per commit), or show it.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "cli/commands.h"

namespace skyport::cli {

struct SplitOptions {
  std::string app;
  std::vector<std::string> weights;  // COMMIT=WEIGHT; COMMIT a prefix of a running commit
  bool new_test = false;             // --new-test [ID]: a new split id, every user dealt again
  std::string new_test_id;           // "" = a random s-XXXXXXXX
  std::optional<bool> allow_override;
  std::optional<std::vector<std::string>> hosts;          // unset: keep the current ones
  std::optional<std::vector<std::string>> path_prefixes;  // unset: keep the current ones
  bool show = false;
};

// Resolves the commits against the app's live endpoints, rebalances the
// current layout (contract/split.h) so that only the users whose slices change
// move, and writes the route with compare-and-swap (re-read and retried up to
// 3 times when someone else wrote it meanwhile). Prints a summary, or the
// written config with --json. Exit 2 for bad arguments, 1 when a commit is
// not running or ambiguous, or an RPC fails.
int RunSplit(const GlobalOptions& g, SplitOptions o);

}  // namespace skyport::cli
