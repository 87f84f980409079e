#include "hub/ops/repack_plan.h"

#include <algorithm>

#include <fmt/format.h>

namespace skyport::hub {

std::string RepackReason(const RepoActivity& r, int64_t now_ms, const RepackPolicy& policy) {
  if (policy.after_pushes > 0 && r.pushes_since_repack >= policy.after_pushes)
    return fmt::format("{} pushes since the last repack", r.pushes_since_repack);
  if (policy.after_pushes > 0 && r.packs >= policy.after_pushes && r.packs > 1) return fmt::format("{} packs", r.packs);
  const bool untidy = r.packs > 1 || r.loose;
  if (untidy && policy.interval_ms > 0 && now_ms - r.last_repack_ms >= policy.interval_ms)
    return fmt::format("{} s since the last repack, {} packs{}", (now_ms - r.last_repack_ms) / 1000, r.packs,
                       r.loose ? " and loose objects" : "");
  return "";
}

std::vector<std::string> DueRepacks(std::vector<RepoActivity> repos, int64_t now_ms, const RepackPolicy& policy) {
  std::erase_if(repos, [&](const RepoActivity& r) { return RepackReason(r, now_ms, policy).empty(); });
  std::sort(repos.begin(), repos.end(), [](const RepoActivity& a, const RepoActivity& b) {
    return a.packs != b.packs ? a.packs > b.packs : a.app < b.app;
  });
  std::vector<std::string> out;
  for (const auto& r : repos) {
    if (out.size() >= policy.max_per_pass) break;
    out.push_back(r.app);
  }
  return out;
}

}  // namespace skyport::hub
