#include "cli/args.h"

#include <algorithm>

#include <fmt/format.h>

#include "core/names.h"

namespace skyport::cli {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

}  // namespace

Result<AppCommit> ParseAppCommit(std::string_view arg) {
  auto at = arg.find('@');
  if (at == std::string_view::npos)
    return Status::InvalidArgument(
        fmt::format("\"{}\": expected APP@COMMIT (e.g. myapp@74336bc1)", arg));
  AppCommit out{std::string(arg.substr(0, at)), Lower(arg.substr(at + 1))};
  if (Status s = ValidateName("app", out.app); !s.ok()) return s;
  if (Status s = ValidateCommit("commit", out.commit); !s.ok()) return s;
  return out;
}

Result<AppCommit> ParseAppQuery(std::string_view arg) {
  auto at = arg.find('@');
  AppCommit out{std::string(arg.substr(0, at)), ""};
  if (Status s = ValidateName("app", out.app); !s.ok()) return s;
  if (at != std::string_view::npos) {
    out.commit = Lower(arg.substr(at + 1));
    if (Status s = ValidateCommitPrefix("commit", out.commit); !s.ok()) return s;
  }
  return out;
}

Result<std::pair<std::string, std::string>> ParseMeta(std::string_view arg) {
  auto eq = arg.find('=');
  if (eq == std::string_view::npos || eq == 0)
    return Status::InvalidArgument(fmt::format("meta: \"{}\": expected KEY=VALUE", arg));
  return std::pair<std::string, std::string>(std::string(arg.substr(0, eq)),
                                             std::string(arg.substr(eq + 1)));
}

SplitArgs SplitCommand(const std::vector<std::string>& argv) {
  SplitArgs out;
  auto dash = std::find(argv.begin(), argv.end(), "--");
  bool is_register = std::find(argv.begin(), dash, "register") != dash;
  if (dash == argv.end() || !is_register) {
    out.head = argv;
    return out;
  }
  out.head.assign(argv.begin(), dash);
  out.command.assign(dash + 1, argv.end());
  out.has_command = true;
  return out;
}

}  // namespace skyport::cli
