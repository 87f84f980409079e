// The Hub's releases (hub.h, "releases"): the book lives in the desired state
// and is saved with it, under the hub's lock.
#include <algorithm>
#include <chrono>

#include <fmt/format.h>

#include "core/log.h"
#include "hub/deploys/hub.h"

namespace skyport::hub {

int64_t Hub::ConfigVersion(const std::string& app) const {
  std::lock_guard lock(mu_);
  return static_cast<int64_t>(desired_.Config(app).version);  // `skyport config`'s version of the app
}

Result<uint32_t> Hub::BeginRelease(const std::string& app, Release r) {
  std::lock_guard lock(mu_);
  r.created_unix_ms = clock_->WallMs();
  uint32_t number = 0;
  if (Status s = ChangeLocked([&](DesiredState& st) { number = st.releases().Begin(app, std::move(r)); }); !s.ok())
    return s;
  return number;
}

Status Hub::FinishRelease(const std::string& app, uint32_t number, ReleaseOutcome outcome, const std::string& error,
                          const std::vector<Retirement>& retire) {
  std::lock_guard lock(mu_);
  DesiredState before = desired_;
  if (!desired_.releases().Finish(app, number, outcome, error, clock_->WallMs()))
    return Status::FailedPrecondition(fmt::format("{} v{} is not pending", app, number));
  for (const auto& r : retire)
    if (Status s = desired_.releases().AddRetirement(app, r); !s.ok()) {
      desired_ = std::move(before);
      return s;
    }
  // Kept in memory even if the save fails (a pending release must not stay
  // pending here); the next save writes it.
  Status s = SaveLocked();
  if (!s.ok()) {
    log::Warn("release outcome not saved yet; a restart before the next save shows it interrupted",
              {{"app", app}, {"release", static_cast<int64_t>(number)}, {"error", s.message()}});
  }
  return s;
}

std::optional<AppReleases> Hub::ReleasesOf(const std::string& app) const {
  std::lock_guard lock(mu_);
  const AppReleases* a = desired_.releases().Find(app);
  if (a == nullptr) return std::nullopt;
  return *a;
}

std::vector<std::string> Hub::ReleaseApps() const {
  std::lock_guard lock(mu_);
  return desired_.releases().Apps();
}

std::vector<std::pair<std::string, Retirement>> Hub::DueRetirements(int64_t now_unix_ms) const {
  std::lock_guard lock(mu_);
  return desired_.releases().Due(now_unix_ms);
}

Status Hub::DropRetirement(const std::string& app, const std::string& commit, uint32_t release) {
  std::lock_guard lock(mu_);
  DesiredState before = desired_;
  if (!desired_.releases().DropRetirement(app, commit, release)) return Status::Ok();  // nothing to save
  Status s = SaveLocked();
  if (!s.ok()) desired_ = std::move(before);
  return s;
}

Result<uint32_t> Hub::EraseReleases(const std::string& app) {
  std::lock_guard lock(mu_);
  const AppReleases* a = desired_.releases().Find(app);
  if (a == nullptr) return 0u;
  const auto n = static_cast<uint32_t>(a->releases.size());
  if (Status s = ChangeLocked([&](DesiredState& st) { st.releases().Erase(app); }); !s.ok()) return s;
  return n;
}

void Hub::BeginRetiring(const std::string& app, const std::string& commit) {
  std::lock_guard lock(mu_);
  retiring_.emplace(app, commit);
}

void Hub::EndRetiring(const std::string& app, const std::string& commit) {
  {
    std::lock_guard lock(mu_);
    retiring_.erase({app, commit});
  }
  retired_.notify_all();
}

bool Hub::AwaitNotRetiring(const std::string& app, const std::string& commit, int64_t wait_ms) {
  std::unique_lock lock(mu_);
  const std::pair<std::string, std::string> key{app, commit};
  if (!retiring_.count(key)) return false;
  retired_.wait_for(lock, std::chrono::milliseconds(std::max<int64_t>(wait_ms, 0)),
                    [&] { return !retiring_.count(key); });
  return true;
}

}  // namespace skyport::hub
