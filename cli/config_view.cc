#include "cli/config_view.h"

#include <algorithm>
#include <map>
#include <set>

#include <fmt/format.h>

#include "contract/config_vars.h"
#include "core/names.h"

namespace skyport::cli {
namespace {

bool HasControl(const std::string& v) {
  for (char c : v)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return true;
  return false;
}

std::string JoinKeys(const std::vector<std::string>& keys) {
  std::string out;
  for (const auto& k : keys) out += (out.empty() ? "" : ", ") + k;
  return out;
}

}  // namespace

Result<v1::ConfigChangeRequest> MakeConfigSetRequest(const std::string& app, const std::vector<std::string>& args) {
  if (Status s = ValidateName("app", app); !s.ok()) return s;
  if (args.empty()) return Status::InvalidArgument("config set: give at least one KEY=VALUE");
  if (args.size() > kMaxConfigChangeKeys)
    return Status::InvalidArgument(fmt::format("config set: at most {} KEY=VALUE at once", kMaxConfigChangeKeys));
  v1::ConfigChangeRequest req;
  req.set_app(app);
  for (size_t i = 0; i < args.size(); ++i) {
    auto kv = ParseConfigAssignment(args[i], i + 1);
    if (!kv.ok()) return kv.status();
    if (req.set().count(kv->first))
      return Status::InvalidArgument(fmt::format("config: \"{}\" is given twice", kv->first));
    (*req.mutable_set())[kv->first] = kv->second;
  }
  return req;
}

Result<std::vector<std::string>> ConfigAssignmentsFromText(std::string_view text) {
  if (text.size() > kMaxConfigStdinBytes)
    return Status::InvalidArgument(
        fmt::format("config set --stdin: more than {} bytes of input", kMaxConfigStdinBytes));
  std::vector<std::string> out;
  size_t line_no = 0;
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const size_t start = line.find_first_not_of(" \t");
    if (start == std::string_view::npos || line[start] == '#') continue;
    if (line.find('=') == std::string_view::npos)
      return Status::InvalidArgument(fmt::format("config set --stdin: line {} is not KEY=VALUE", line_no));
    if (out.size() == kMaxConfigChangeKeys)
      return Status::InvalidArgument(fmt::format("config set --stdin: at most {} KEY=VALUE at once", kMaxConfigChangeKeys));
    out.emplace_back(line.substr(start));
  }
  if (out.empty()) return Status::InvalidArgument("config set --stdin: no KEY=VALUE line in the input");
  return out;
}

Result<v1::ConfigChangeRequest> MakeConfigUnsetRequest(const std::string& app, const std::vector<std::string>& keys) {
  if (Status s = ValidateName("app", app); !s.ok()) return s;
  if (keys.empty()) return Status::InvalidArgument("config unset: give at least one KEY");
  if (keys.size() > kMaxConfigChangeKeys)
    return Status::InvalidArgument(fmt::format("config unset: at most {} keys at once", kMaxConfigChangeKeys));
  v1::ConfigChangeRequest req;
  req.set_app(app);
  std::set<std::string> seen;
  for (const auto& k : keys) {
    // KEY=VALUE here is a slip for `set`: refuse it without echoing the value.
    if (k.find('=') != std::string::npos)
      return Status::InvalidArgument("config unset: takes KEY names, not KEY=VALUE (did you mean `config set`?)");
    if (Status s = ValidateConfigKey(k); !s.ok()) return s;
    if (seen.insert(k).second) req.add_unset(k);
  }
  return req;
}

std::string RenderConfigText(const v1::AppConfig& c) {
  std::map<std::string, std::string> vars(c.vars().begin(), c.vars().end());
  std::string out;
  if (vars.empty()) {
    out = fmt::format("{}: no config vars (config v{})\n", c.app(), c.version());
    return out;
  }
  out = fmt::format("{}: config v{}, {} var{}{}\n", c.app(), c.version(), vars.size(), vars.size() == 1 ? "" : "s",
                    c.masked() ? " (values masked; --reveal shows them)" : "");
  for (const auto& [k, v] : vars) out += k + "=" + (HasControl(v) ? nlohmann::json(v).dump() : v) + "\n";
  return out;
}

nlohmann::json ConfigJson(const v1::AppConfig& c) {
  std::map<std::string, std::string> vars(c.vars().begin(), c.vars().end());
  return {{"app", c.app()},
          {"version", c.version()},
          {"masked", c.masked()},
          {"updated_unix_ms", c.updated_unix_ms()},
          {"vars", vars}};
}

std::string ConfigSavedLine(const v1::AppConfig& saved, const v1::ConfigChangeRequest& req) {
  std::vector<std::string> set;
  for (const auto& [k, v] : req.set()) set.push_back(k);
  std::sort(set.begin(), set.end());
  std::vector<std::string> unset(req.unset().begin(), req.unset().end());
  std::string what;
  if (!set.empty()) what += "set " + JoinKeys(set);
  if (!unset.empty()) what += (what.empty() ? "" : "; ") + std::string("unset ") + JoinKeys(unset);
  return fmt::format("{}: config v{} saved ({})", saved.app(), saved.version(), what);
}

std::string ConfigRestartingLine(const std::string& app, const std::string& commit) {
  return fmt::format("{}: restarting {} rolling (a new instance ready before an old one stops)", app,
                     commit.substr(0, 12));
}

}  // namespace skyport::cli
