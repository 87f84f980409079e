#include "cli/hub_requests.h"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

#include "core/names.h"
#include "core/problems.h"

namespace skyport::cli {
namespace {


bool EnvName(std::string_view k) {
  if (k.empty() || std::isdigit(static_cast<unsigned char>(k[0]))) return false;
  return std::all_of(k.begin(), k.end(),
                     [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

void CheckCommitish(Problems& p, const std::string& commitish) {
  if (commitish.empty()) {
    p.Add("commitish: required (a hash, a prefix of one, or a branch)");
    return;
  }
  bool printable = std::all_of(commitish.begin(), commitish.end(), [](char c) {
    return std::isgraph(static_cast<unsigned char>(c)) != 0;
  });
  if (!printable || commitish.size() > 255 || commitish[0] == '-')
    p.Add(fmt::format("commitish: \"{}\" is not a commit or branch name", commitish));
}

template <class T>
T Take(Result<T> r, Problems& p) {
  if (!r.ok()) {
    p.Add(r.status());
    return T{};
  }
  return std::move(*r);
}

}  // namespace

Result<std::vector<std::string>> ParseDroneList(const std::vector<std::string>& values) {
  Problems p;
  std::vector<std::string> out;
  for (const auto& value : values) {
    size_t start = 0;
    for (;;) {
      size_t comma = value.find(',', start);
      std::string name = value.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      if (name.empty())
        p.Add(fmt::format("drones: \"{}\": empty drone name", value));
      else if (Status s = ValidateDroneName("drones", name); !s.ok())
        p.Add(s);
      else if (std::find(out.begin(), out.end(), name) == out.end())
        out.push_back(name);
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
  if (!p.empty()) return p.ToStatus();
  return out;
}

Result<std::map<std::string, std::string>> ParseKeyValues(std::string_view field, KeyKind kind,
                                                          const std::vector<std::string>& items) {
  Problems p;
  std::map<std::string, std::string> out;
  for (const auto& item : items) {
    auto eq = item.find('=');
    if (eq == std::string::npos || eq == 0) {
      p.Add(fmt::format("{}: \"{}\": expected KEY=VALUE", field, item));
      continue;
    }
    std::string key = item.substr(0, eq);
    if (kind == KeyKind::kEnv && !EnvName(key)) {
      p.Add(fmt::format("{}: \"{}\" is not a valid variable name", field, key));
      continue;
    }
    if (!out.emplace(key, item.substr(eq + 1)).second)
      p.Add(fmt::format("{}: \"{}\" given twice", field, key));
  }
  if (!p.empty()) return p.ToStatus();
  return out;
}

Result<v1::DeployRequest> MakeDeployRequest(const DeployOptions& o) {
  Problems p;
  p.Add(ValidateName("app", o.app));
  CheckCommitish(p, o.commitish);
  auto drones = Take(ParseDroneList(o.drones), p);
  auto labels = Take(ParseKeyValues("label", KeyKind::kLabel, o.labels), p);
  auto env = Take(ParseKeyValues("env", KeyKind::kEnv, o.env), p);
  if (!p.empty()) return p.ToStatus();

  v1::DeployRequest req;
  req.set_app(o.app);
  req.set_commitish(o.commitish);
  for (auto& d : drones) req.mutable_target()->add_drones(std::move(d));
  req.mutable_target()->mutable_labels()->insert(labels.begin(), labels.end());
  req.mutable_target()->set_count(o.count);
  req.set_instances(o.instances);
  req.mutable_env()->insert(env.begin(), env.end());
  req.set_timeout_s(o.timeout_s);
  return req;
}

Result<v1::StopRequest> MakeStopRequest(const StopOptions& o) {
  Problems p;
  p.Add(ValidateName("app", o.app));
  CheckCommitish(p, o.commitish);
  auto drones = Take(ParseDroneList(o.drones), p);
  if (!p.empty()) return p.ToStatus();
  v1::StopRequest req;
  req.set_app(o.app);
  req.set_commitish(o.commitish);
  for (auto& d : drones) req.add_drones(std::move(d));
  req.set_force(o.force);
  return req;
}

Result<v1::LogsRequest> MakeLogsRequest(const LogsOptions& o) {
  Problems p;
  p.Add(ValidateName("app", o.app));
  std::string commit = o.commit;
  std::transform(commit.begin(), commit.end(), commit.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (!commit.empty()) p.Add(ValidateCommitPrefix("commit", commit));
  if (!o.role.empty()) p.Add(ValidateName("role", o.role));
  if (o.release && commit.empty()) p.Add(Status::InvalidArgument("--release: give the commit (the output is per commit)"));
  if (o.release && o.follow) p.Add(Status::InvalidArgument("--release: cannot be combined with --follow (the step has ended)"));
  if (o.release && !o.role.empty()) p.Add(Status::InvalidArgument("--release: cannot be combined with --role"));
  if (!p.empty()) return p.ToStatus();
  v1::LogsRequest req;
  req.set_app(o.app);
  req.set_commit(commit);
  req.set_role(o.role);
  req.set_follow(o.follow);
  req.set_tail(o.tail);
  req.set_release(o.release);
  return req;
}

}  // namespace skyport::cli
