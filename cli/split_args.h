// `skyport split APP COMMIT=WEIGHT ...`: the arguments, and the commits they
// name. Pure: the running commits come in as a list.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace skyport::cli {

struct WeightArg {
  std::string commit;  // a prefix of 4..64 lowercase hex characters
  uint32_t weight = 0;
};

inline constexpr uint32_t kMaxSplitWeight = 1'000'000;

// Each "COMMIT=WEIGHT": COMMIT 4..64 hex (upper case folded), WEIGHT an
// integer 0..1000000. At least one argument and one weight > 0; a commit
// may be named once. INVALID_ARGUMENT (a usage error) naming every problem.
Result<std::vector<WeightArg>> ParseWeightArgs(const std::vector<std::string>& args);

// The full commit of `running` (the app's live commits; repeats are fine)
// that starts with `prefix`. FAILED_PRECONDITION when none does ("commit X
// of APP is not running (deploy it first)") or several do (naming them).
Result<std::string> ResolveRunningCommit(std::string_view app, std::string_view prefix,
                                         const std::vector<std::string>& running);

// Every argument resolved: full commit -> weight. FAILED_PRECONDITION naming
// every commit that does not resolve, and two prefixes of one commit.
Result<std::map<std::string, uint32_t>> ResolveWeights(std::string_view app, const std::vector<WeightArg>& args,
                                                       const std::vector<std::string>& running);

// `--new-test [ID]` takes the next word as its ID when one follows; a word
// holding '=' is a COMMIT=WEIGHT argument instead (split ids never hold
// '='): it moves to the front of `weights` and the ID becomes "". An ID
// that remains must be a valid split id (INVALID_ARGUMENT).
Status ReclaimNewTestWord(std::string& new_test_id, std::vector<std::string>& weights);

// "s-" and 8 hex characters of `hex_id` (e.g. core/ids.h NewHexId).
std::string SplitIdFrom(std::string_view hex_id);

}  // namespace skyport::cli
