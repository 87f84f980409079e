#include "cli/deploy_progress.h"

#include <algorithm>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace skyport::cli {
namespace {

constexpr size_t kStageWidth = 11;  // "checked-out"

}  // namespace

std::string StageName(v1::DeployProgress::Stage stage) {
  switch (stage) {
    case v1::DeployProgress::FETCHING: return "fetching";
    case v1::DeployProgress::CHECKED_OUT: return "checked-out";
    case v1::DeployProgress::BUILDING: return "building";
    case v1::DeployProgress::STARTING: return "starting";
    case v1::DeployProgress::HEALTHY: return "healthy";
    case v1::DeployProgress::REGISTERED: return "registered";
    case v1::DeployProgress::FAILED: return "failed";
    default: return "unknown";
  }
}

void DeployPrinter::Note(const v1::DeployProgress& p) {
  if (commit_.empty()) commit_ = p.commit();
  if (!p.drone().empty()) drones_.insert(p.drone());
  drone_width_ = std::max(drone_width_, p.drone().size());
}

std::string DeployPrinter::Text(const v1::DeployProgress& p) {
  Note(p);
  std::string line = fmt::format("{:<{}}  {:<12}  {:<{}}", p.drone(), drone_width_,
                                 p.commit().substr(0, 12), StageName(p.stage()), kStageWidth);
  // A multi-line message (a build log tail) stays on this line.
  std::string message = p.message();
  std::replace(message.begin(), message.end(), '\n', ' ');
  if (!message.empty()) line += "  " + message;
  while (!line.empty() && line.back() == ' ') line.pop_back();
  return line;
}

std::string DeployPrinter::Json(const v1::DeployProgress& p, const std::string& answered_by) {
  Note(p);
  return nlohmann::json{{"drone", p.drone()},
                        {"commit", p.commit()},
                        {"stage", StageName(p.stage())},
                        {"message", p.message()},
                        {"unix_ms", p.unix_ms()},
                        {"answered_by", answered_by}}
      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string DeployPrinter::Summary() const {
  std::string names;
  for (const auto& d : drones_) {
    if (!names.empty()) names += ", ";
    names += d;
  }
  const std::string commit = commit_.empty() ? "" : fmt::format(" {}", std::string_view(commit_).substr(0, 12));
  if (drones_.empty()) return fmt::format("deployed {}{}", app_, commit);
  return fmt::format("deployed {}{} on {} drone{}: {}", app_, commit, drones_.size(),
                     drones_.size() == 1 ? "" : "s", names);
}

}  // namespace skyport::cli
