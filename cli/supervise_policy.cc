#include "cli/supervise_policy.h"

#include <sys/wait.h>

namespace skyport::cli {

int ExitCodeFromWaitStatus(int st) {
  if (WIFEXITED(st)) return WEXITSTATUS(st);
  if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
  return 1;
}

std::vector<std::string> ChildEnv(const std::vector<std::string>& inherited,
                                  const std::map<std::string, std::string>& set) {
  std::vector<std::string> out;
  for (const auto& kv : inherited) {
    std::string key = kv.substr(0, kv.find('='));
    if (set.count(key) == 0 && !key.starts_with("SKYPORT_")) out.push_back(kv);
  }
  for (const auto& [k, v] : set) out.push_back(k + "=" + v);
  return out;
}

}  // namespace skyport::cli
