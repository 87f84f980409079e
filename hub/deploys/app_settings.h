// Per-app settings the hub keeps with its desired state (`skyport apps set`):
// today, deploy on push. Pure data and rules; the hub persists them.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace skyport::hub {

struct AppSettings {
  // A push that moves refs/heads/<deploy_on_push> deploys its new commit; "" = off.
  std::string deploy_on_push;
  bool operator==(const AppSettings&) const = default;
  bool Empty() const { return deploy_on_push.empty(); }
};

inline constexpr size_t kMaxBranchBytes = 200;

// A branch name as `skyport apps set --deploy-on-push` takes it: git's own
// rules for refs/heads/<name> (git check-ref-format), restricted to printable
// ASCII without shell or glob specials, at most kMaxBranchBytes. "" is valid
// (turns deploy on push off).
Status ValidateBranch(std::string_view branch);

// One ref of an accepted push, as the trigger rule sees it.
struct PushedRef {
  std::string ref;     // refs/heads/master
  std::string new_id;  // 40 hex; all zeros = deleted
  bool ok = false;     // the update landed
};

// The update of a push that deploys: the landed, non-deleting update of
// refs/heads/<settings.deploy_on_push>; nullopt when there is none (or the
// setting is off).
std::optional<PushedRef> DeployTrigger(const AppSettings& settings, const std::vector<PushedRef>& pushed);

}  // namespace skyport::hub
