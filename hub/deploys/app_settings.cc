#include "hub/deploys/app_settings.h"

#include <fmt/format.h>

namespace skyport::hub {
namespace {

bool AllZero(std::string_view id) { return id.find_first_not_of('0') == std::string_view::npos; }

}  // namespace

Status ValidateBranch(std::string_view b) {
  auto bad = [&](std::string_view why) {
    return Status::InvalidArgument(fmt::format("branch \"{}\": {}", b.substr(0, 64), why));
  };
  if (b.empty()) return Status::Ok();
  if (b.size() > kMaxBranchBytes) return bad(fmt::format("longer than {} bytes", kMaxBranchBytes));
  for (char c : b) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) return bad("only printable ASCII without spaces");
    if (std::string_view("~^:?*[\\").find(c) != std::string_view::npos) return bad("has one of ~ ^ : ? * [ \\");
  }
  if (b.front() == '-') return bad("starts with '-'");
  if (b.front() == '/' || b.back() == '/') return bad("starts or ends with '/'");
  if (b.back() == '.') return bad("ends with '.'");
  if (b.find("..") != std::string_view::npos) return bad("has '..'");
  if (b.find("//") != std::string_view::npos) return bad("has '//'");
  if (b.find("@{") != std::string_view::npos) return bad("has '@{'");
  if (b == "@") return bad("is '@'");
  // Each /-separated component: not starting with '.', not ending with ".lock".
  size_t start = 0;
  while (start <= b.size()) {
    size_t end = b.find('/', start);
    std::string_view part = b.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    if (!part.empty() && part.front() == '.') return bad("a component starts with '.'");
    if (part.size() >= 5 && part.substr(part.size() - 5) == ".lock") return bad("a component ends with '.lock'");
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return Status::Ok();
}

std::optional<PushedRef> DeployTrigger(const AppSettings& settings, const std::vector<PushedRef>& pushed) {
  if (settings.deploy_on_push.empty()) return std::nullopt;
  const std::string want = "refs/heads/" + settings.deploy_on_push;
  for (const PushedRef& p : pushed)
    if (p.ok && p.ref == want && !p.new_id.empty() && !AllZero(p.new_id)) return p;
  return std::nullopt;
}

}  // namespace skyport::hub
