#include <catch2/catch.hpp>

#include "cli/completion.h"

namespace skyport::cli {
namespace {

TEST_CASE("CompletionScript: one case arm per command path, global options after every command", "[cli]") {
  CompletionNode root{"skyport", {"--hub", "--json"}, {{"registry", {"--help"}, {{"show", {"--wide"}, {}}}}, {"ps", {}, {}}}};
  auto bash = CompletionScript("bash", root);
  REQUIRE(bash.ok());
  CHECK_THAT(*bash, Catch::Contains("    \"\") echo \"registry ps\" ;;"));
  CHECK_THAT(*bash, Catch::Contains("    \"registry\") echo \"show\" ;;"));
  CHECK_THAT(*bash, Catch::Contains("    \"registry show\") echo \"--wide --hub --json\" ;;"));
  CHECK_THAT(*bash, Catch::Contains("    \"\") echo \"--hub --json\" ;;"));
  CHECK_THAT(*bash, Catch::Contains("complete -F _skyport skyport"));
  CHECK_THAT(*bash, !Catch::Contains("bashcompinit"));
  auto zsh = CompletionScript("zsh", root);
  REQUIRE(zsh.ok());
  CHECK_THAT(*zsh, Catch::StartsWith("#compdef skyport") && Catch::Contains("bashcompinit"));
  auto fish = CompletionScript("fish", root);
  CHECK(fish.status().code() == Code::kInvalidArgument);
}

}  // namespace
}  // namespace skyport::cli
