#include "drone/procfile.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/names.h"

namespace skyport::drone {
namespace {

std::string Trim(const std::string& s) {
  auto b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return "";
  auto e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}

// An integer in [lo, hi], or the error naming the field and the range.
Result<uint64_t> Bounded(const nlohmann::json& v, const std::string& field, uint64_t lo, uint64_t hi) {
  if (!v.is_number_unsigned() || v.get<uint64_t>() < lo || v.get<uint64_t>() > hi)
    return Status::InvalidArgument(fmt::format("skyport.json: {}: must be an integer from {} to {}", field, lo, hi));
  return v.get<uint64_t>();
}

Status ApplyLimits(const nlohmann::json& value, AppResources& r) {
  if (!value.is_object()) return Status::InvalidArgument("skyport.json: limits: must be an object");
  for (const auto& [k, v] : value.items()) {
    std::optional<uint64_t>* slot = k == "nofile" ? &r.nofile : k == "nproc" ? &r.nproc : k == "as_mb" ? &r.as_mb : nullptr;
    if (slot == nullptr) return Status::InvalidArgument(fmt::format("skyport.json: limits.{}: unknown key", k));
    // nofile: the kernel's default nr_open; as_mb: 16 TiB.
    const uint64_t lo = k == "as_mb" ? 64 : k == "nofile" ? 16 : 1;
    const uint64_t hi = k == "nofile" ? 1'048'576 : k == "nproc" ? 4'194'304 : uint64_t{1} << 24;
    auto n = Bounded(v, "limits." + k, lo, hi);
    if (!n.ok()) return n.status();
    *slot = *n;
  }
  return Status::Ok();
}

}  // namespace

Result<AppSpec> ParseProcfile(const std::string& text) {
  AppSpec spec;
  size_t line_no = 0, pos = 0;
  while (pos <= text.size()) {
    size_t nl = text.find('\n', pos);
    std::string line = Trim(text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos));
    pos = nl == std::string::npos ? text.size() + 1 : nl + 1;
    ++line_no;
    if (line.empty() || line[0] == '#') continue;
    auto colon = line.find(':');
    if (colon == std::string::npos)
      return Status::InvalidArgument(fmt::format("Procfile:{}: expected `role: command`", line_no));
    std::string role = Trim(line.substr(0, colon));
    std::string cmd = Trim(line.substr(colon + 1));
    if (Status s = ValidateName(fmt::format("Procfile:{}: role", line_no), role); !s.ok()) return s;
    if (cmd.empty()) return Status::InvalidArgument(fmt::format("Procfile:{}: role {} has no command", line_no, role));
    if (role == "release") {
      if (!spec.release.empty()) return Status::InvalidArgument(fmt::format("Procfile:{}: a second release line", line_no));
      spec.release = cmd;
      continue;
    }
    if (spec.roles.count(role))
      return Status::InvalidArgument(fmt::format("Procfile:{}: role {} is defined twice", line_no, role));
    spec.roles[role].command = cmd;
  }
  if (spec.roles.empty()) return Status::InvalidArgument("Procfile: no roles (add a line like `web: python3 server.py`)");
  return spec;
}

Status ApplySkyportJson(const std::string& text, AppSpec& spec) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Status::InvalidArgument("skyport.json: not a JSON object");
  for (const auto& [key, value] : j.items()) {
    if (key == "release") {
      if (!value.is_string()) return Status::InvalidArgument("skyport.json: release: must be a string");
      spec.release = value.get<std::string>();
    } else if (key == "release_timeout_s") {
      // Bounded so that the milliseconds (and a deadline from now) cannot overflow.
      constexpr uint64_t kMaxTimeoutS = 365ULL * 24 * 3600;
      if (!value.is_number_unsigned() || value.get<uint64_t>() == 0 || value.get<uint64_t>() > kMaxTimeoutS)
        return Status::InvalidArgument(
            fmt::format("skyport.json: release_timeout_s: must be an integer from 1 to {}", kMaxTimeoutS));
      spec.release_timeout_ms = static_cast<int64_t>(value.get<uint64_t>()) * 1000;
    } else if (key == "limits") {
      if (Status s = ApplyLimits(value, spec.resources); !s.ok()) return s;
    } else if (key == "cpu") {
      if (!value.is_number() || !(value.get<double>() >= 0.01) || value.get<double>() > 1024)
        return Status::InvalidArgument("skyport.json: cpu: must be a number of CPUs from 0.01 to 1024");
      spec.resources.cpu = value.get<double>();
    } else if (key == "memory_mb") {
      auto n = Bounded(value, "memory_mb", 16, uint64_t{1} << 24);
      if (!n.ok()) return n.status();
      spec.resources.memory_mb = *n;
    } else if (key == "stop_timeout_s") {
      auto n = Bounded(value, "stop_timeout_s", 1, 3600);
      if (!n.ok()) return n.status();
      spec.resources.stop_timeout_ms = static_cast<int64_t>(*n) * 1000;
    } else if (key == "min_uptime_ms") {
      constexpr uint64_t kMaxMinUptimeMs = 600'000;
      if (!value.is_number_unsigned() || value.get<uint64_t>() > kMaxMinUptimeMs)
        return Status::InvalidArgument(
            fmt::format("skyport.json: min_uptime_ms: must be an integer from 0 to {}", kMaxMinUptimeMs));
      spec.min_uptime_ms = static_cast<int64_t>(value.get<uint64_t>());
    } else if (key == "roles") {
      if (!value.is_object()) return Status::InvalidArgument("skyport.json: roles: must be an object");
      for (const auto& [role, opts] : value.items()) {
        auto it = spec.roles.find(role);
        if (it == spec.roles.end())
          return Status::InvalidArgument(fmt::format("skyport.json: roles.{}: no such role in the Procfile", role));
        if (!opts.is_object()) return Status::InvalidArgument(fmt::format("skyport.json: roles.{}: must be an object", role));
        for (const auto& [k, v] : opts.items()) {
          if (k == "port" && v.is_boolean()) it->second.port = v.get<bool>();
          else if (k == "health" && v.is_string() && v.get<std::string>().starts_with("/")) it->second.health_path = v.get<std::string>();
          else return Status::InvalidArgument(fmt::format("skyport.json: roles.{}.{}: unknown option or bad value", role, k));
        }
      }
    } else {
      return Status::InvalidArgument(fmt::format("skyport.json: {}: unknown key", key));
    }
  }
  return Status::Ok();
}

}  // namespace skyport::drone
