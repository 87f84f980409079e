#include "drone/app_uids.h"

#include <pwd.h>

#include <charconv>
#include <set>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/files.h"

namespace skyport::drone {

namespace {
constexpr uid_t kNobody = 65534;

bool HasPasswdEntry(uid_t uid) {
  std::vector<char> buf(16384);
  passwd pw{}, *found = nullptr;
  return getpwuid_r(uid, &pw, buf.data(), buf.size(), &found) == 0 && found != nullptr;
}
}  // namespace

Result<UidRange> ParseUidRange(const std::string& text) {
  auto bad = [&] {
    return Status::InvalidArgument(fmt::format("app-uids: \"{}\" must be LO-HI, 1 <= LO <= HI, at most 65536 uids, "
                                               "not containing 65534 (nobody), e.g. 61184-65519", text));
  };
  auto dash = text.find('-');
  if (dash == std::string::npos) return bad();
  uint64_t lo = 0, hi = 0;
  const char* b = text.data();
  if (std::from_chars(b, b + dash, lo).ptr != b + dash) return bad();
  if (std::from_chars(b + dash + 1, b + text.size(), hi).ptr != b + text.size()) return bad();
  if (lo < 1 || hi < lo || hi - lo >= 65536 || hi >= 0xffffffffu || (lo <= kNobody && kNobody <= hi)) return bad();
  return UidRange{static_cast<uid_t>(lo), static_cast<uid_t>(hi)};
}

Result<uid_t> PickUid(const std::map<std::string, uid_t>& assigned, const std::string& app, UidRange range,
                      const std::function<bool(uid_t)>& taken) {
  if (auto it = assigned.find(app); it != assigned.end()) return it->second;
  std::set<uid_t> used;
  for (const auto& [a, uid] : assigned) used.insert(uid);
  for (uint64_t u = range.lo; u <= range.hi; ++u)
    if (!used.count(static_cast<uid_t>(u)) && !taken(static_cast<uid_t>(u))) return static_cast<uid_t>(u);
  return Status::ResourceExhausted(
      fmt::format("app-uids: every uid of {}-{} is in use ({} apps); give a larger range", range.lo, range.hi,
                  assigned.size()));
}

Result<std::unique_ptr<AppUids>> AppUids::Open(std::string path, UidRange range) {
  std::unique_ptr<AppUids> u(new AppUids(std::move(path), range));
  if (auto text = ReadFile(u->path_); text.ok()) {
    auto j = nlohmann::json::parse(*text, nullptr, false);
    if (!j.is_object()) return Status::InvalidArgument(fmt::format("{}: not a JSON object", u->path_));
    for (const auto& [app, uid] : j.items()) {
      if (!uid.is_number_unsigned()) return Status::InvalidArgument(fmt::format("{}: {}: not a uid", u->path_, app));
      u->assigned_[app] = uid.get<uid_t>();
    }
  }
  return u;
}

Result<AppUser> AppUids::For(const std::string& app) {
  std::lock_guard lock(mu_);
  // A uid assigned under an older, different range stays the app's (its files are owned by it).
  auto uid = PickUid(assigned_, app, range_, HasPasswdEntry);
  if (!uid.ok()) return uid.status();
  if (!assigned_.count(app)) {
    assigned_[app] = *uid;
    nlohmann::json j = nlohmann::json::object();
    for (const auto& [a, v] : assigned_) j[a] = v;
    if (Status s = WriteFileAtomic(path_, j.dump()); !s.ok()) {
      assigned_.erase(app);
      return s;
    }
  }
  AppUser user;
  user.name = "app:" + app;
  user.uid = *uid;
  user.gid = static_cast<gid_t>(*uid);
  return user;
}

}  // namespace skyport::drone
