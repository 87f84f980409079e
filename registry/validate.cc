#include "registry/validate.h"

#include <fmt/format.h>

#include "contract/unknown_fields.h"
#include "core/names.h"
#include "core/problems.h"

namespace skyport::registry {
namespace {

using contract::RejectUnknownFields;

constexpr size_t kMaxMeta = 64;
constexpr size_t kMaxMetaKey = 128;
constexpr size_t kMaxMetaValue = 4096;

}  // namespace

int64_t RegisteredAt(const v1::Endpoint& in, int64_t now_wall_ms) {
  const int64_t given = in.registered_unix_ms();
  return given > 0 && given <= now_wall_ms + kMaxRegisteredAheadMs ? given : now_wall_ms;
}

Status ValidateEndpoint(const v1::Endpoint& ep) {
  Problems p;
  p.Add(RejectUnknownFields(ep, "endpoint"));
  p.Add(ValidateName("endpoint.app", ep.app()));
  p.Add(ValidateCommit("endpoint.commit", ep.commit()));
  p.Add(ValidateName("endpoint.role", ep.role()));
  p.Add(ValidateHost("endpoint.host", ep.host()));
  p.Add(ValidatePort("endpoint.port", ep.port()));
  p.Add(ValidateDroneName("endpoint.drone", ep.drone()));
  if (ep.pid() < 0) p.Add(fmt::format("endpoint.pid: {} is negative", ep.pid()));
  if (ep.lease_id() == 0) p.Add("endpoint.lease_id: required (Grant a lease first)");
  if (!v1::Health_IsValid(ep.health())) p.Add("endpoint.health: unknown value");
  if (ep.meta_size() > static_cast<int>(kMaxMeta))
    p.Add(fmt::format("endpoint.meta: {} entries, at most {}", ep.meta_size(), kMaxMeta));
  for (const auto& [k, v] : ep.meta()) {
    if (k.empty() || k.size() > kMaxMetaKey)
      p.Add(fmt::format("endpoint.meta: key \"{}\" must be 1..{} bytes", k, kMaxMetaKey));
    if (v.size() > kMaxMetaValue)
      p.Add(fmt::format("endpoint.meta[{}]: value longer than {} bytes", k, kMaxMetaValue));
  }
  return p.ToStatus();
}

Status ValidateAllocate(const v1::AllocateRequest& req) {
  Problems p;
  p.Add(RejectUnknownFields(req, "allocate"));
  p.Add(ValidateHost("host", req.host()));
  p.Add(ValidateName("app", req.app()));
  p.Add(ValidateCommit("commit", req.commit()));
  p.Add(ValidateName("role", req.role()));
  if (req.lease_id() == 0) p.Add("lease_id: required (Grant a lease first)");
  if (req.port() != 0) p.Add(ValidatePort("port", req.port()));
  if (req.avoid_size() > kMaxAvoidPorts) p.Add(fmt::format("avoid: at most {} ports", kMaxAvoidPorts));
  return p.ToStatus();
}

Status ValidateQuery(const std::string& app, const std::string& commit_prefix, const std::string& role) {
  if (!app.empty())
    if (Status s = ValidateName("app", app); !s.ok()) return s;
  if (!commit_prefix.empty())
    if (Status s = ValidateCommitPrefix("commit_prefix", commit_prefix); !s.ok()) return s;
  if (!role.empty())
    if (Status s = ValidateName("role", role); !s.ok()) return s;
  return Status::Ok();
}

bool MatchesQuery(const v1::Endpoint& ep, const std::string& app, const std::string& commit_prefix,
                  const std::string& role) {
  return (app.empty() || ep.app() == app) && (role.empty() || ep.role() == role) &&
         ep.commit().compare(0, commit_prefix.size(), commit_prefix) == 0;
}

}  // namespace skyport::registry
