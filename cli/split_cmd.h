// `skyport split`: set an app's split test (weights per commit), or show it.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/split_args.h"
#include "cli/split_plan.h"

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

// What RunSplit does once its arguments are checked (shared with the hub's
// console, POST /api/apps/APP/split and /split/preview): resolve `args`
// against APP's live commits, plan, and unless `dry_run` write with
// compare-and-swap.
struct SplitOutcome {
  SplitPlan plan;                           // with the written revision set (dry run: as planned)
  int64_t revision = 0;                     // 0 for a dry run
  std::vector<std::string> running;         // APP's live commits
  std::map<std::string, uint32_t> weights;  // resolved: full commit -> weight
  Status status;                            // not ok: nothing written
  bool rpc_error = false;                   // `status` is the registry's answer to `what`
  std::string what;
};
SplitOutcome ApplySplit(RegistryClient& client, const SplitOptions& o, const std::vector<WeightArg>& args,
                        bool dry_run);

}  // namespace skyport::cli
