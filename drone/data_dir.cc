#include "drone/data_dir.h"

#include <filesystem>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/files.h"

namespace fs = std::filesystem;

namespace skyport::drone {

std::string DeployDir(const std::string& data_dir, const std::string& app, const std::string& commit) {
  return fmt::format("{}/deploy/{}/{}", data_dir, app, commit);
}

std::string RepoDir(const std::string& data_dir, const std::string& app) {
  return fmt::format("{}/repos/{}.git", data_dir, app);
}

Status PrepareDataDir(const std::string& data_dir, const std::optional<AppUser>& user,
                      const std::shared_ptr<AppUids>& uids) {
  std::error_code ec;
  fs::create_directories(data_dir + "/deploy", ec);
  fs::create_directories(data_dir + "/repos", ec);
  if (ec) return Status::InvalidArgument(fmt::format("data: cannot create {}: {}", data_dir, ec.message()));
  if (user || uids) {
    // Apps reach their checkout, not the repositories, the logs or the state.
    fs::create_directories(data_dir + "/logs", ec);
    for (const char* d : {"/repos", "/logs"})
      fs::permissions(data_dir + d, fs::perms::owner_all, fs::perm_options::replace, ec);
    AppUser probe;  // with --app-uids: the range's first uid stands for every app's (no groups)
    if (uids) probe.uid = probe.gid = uids->range().lo;
    const AppUser& u = user ? *user : probe;
    if (!SearchableBy(data_dir + "/deploy", u))
      return Status::FailedPrecondition(fmt::format(
          "app-user: {} cannot enter {}/deploy; let it search the directories above (e.g. chmod 711 {})",
          user ? u.name : fmt::format("uid {}", u.uid), data_dir, data_dir));
  }
  for (const auto& app : fs::directory_iterator(data_dir + "/deploy", ec))
    for (const auto& entry : fs::directory_iterator(app.path(), ec))
      if (entry.path().filename().string().starts_with(".tmp-")) fs::remove_all(entry.path(), ec);
  return Status::Ok();
}

uint64_t ReadSavedLease(const std::string& data_dir) {
  auto text = ReadFile(data_dir + "/drone.json");
  if (!text.ok()) return 0;
  auto j = nlohmann::json::parse(*text, nullptr, false);
  // A foreign value ("lease": "x", -1) reads as none: json::value would throw and stop the drone.
  if (!j.is_object() || !j.contains("lease") || !j["lease"].is_number_unsigned()) return 0;
  return j["lease"].get<uint64_t>();
}

Status SaveLease(const std::string& data_dir, uint64_t lease) {
  return WriteFileAtomic(data_dir + "/drone.json", nlohmann::json{{"lease", lease}}.dump());
}

}  // namespace skyport::drone
