#include "registry/validate.h"

#include <algorithm>
#include <set>

#include <google/protobuf/unknown_field_set.h>

#include <fmt/format.h>

#include "core/names.h"

namespace skyport::registry {
namespace {

constexpr uint32_t kMaxWeight = 1'000'000;
constexpr size_t kMaxMeta = 64;
constexpr size_t kMaxMetaKey = 128;
constexpr size_t kMaxMetaValue = 4096;
constexpr uint32_t kSliceUnits = 1'000'000;  // router/split.h; not linked here (the registry stays pure)
constexpr int kMaxPathPrefixes = 32;
constexpr size_t kMaxPathPrefix = 256;

// Accumulates problems; Done() joins them.
class Problems {
 public:
  void Add(const Status& s) {
    if (!s.ok()) Add(s.message());
  }
  void Add(std::string m) {
    if (!text_.empty()) text_ += "; ";
    text_ += m;
  }
  Status Done() const { return text_.empty() ? Status::Ok() : Status::InvalidArgument(text_); }

 private:
  std::string text_;
};

bool SplitIdOk(std::string_view s) {
  if (s.size() > 64) return false;
  for (char c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') return false;
  return true;
}

// The structure router/split.h's ValidateLayout checks (there the first
// problem; here every one), plus: each slice's commit has weight > 0.
void CheckSlices(const v1::RouteConfig& r, Problems& p) {
  uint32_t at = 0;
  for (int i = 0; i < r.slices_size(); ++i) {
    const v1::RouteSlice& s = r.slices(i);
    auto w = r.weights().find(s.commit());
    if (w == r.weights().end() || w->second == 0)
      p.Add(fmt::format("route.slices[{}]: commit \"{}\" needs a weight > 0 in route.weights", i, s.commit()));
    if (s.ge() != at) p.Add(fmt::format("route.slices[{}]: starts at {}, expected {}", i, s.ge(), at));
    if (s.lt() <= s.ge() || s.lt() > kSliceUnits)
      p.Add(fmt::format("route.slices[{}]: [{}, {}) is empty or goes past {}", i, s.ge(), s.lt(), kSliceUnits));
    at = s.lt();
  }
  if (r.slices_size() > 0 && at != kSliceUnits)
    p.Add(fmt::format("route.slices: end at {}, expected {} (slices must cover [0, {}) in order)", at, kSliceUnits,
                      kSliceUnits));
}

void CheckPathPrefixes(const v1::RouteConfig& r, Problems& p) {
  if (r.path_prefixes_size() > kMaxPathPrefixes)
    p.Add(fmt::format("route.path_prefixes: {} entries, at most {}", r.path_prefixes_size(), kMaxPathPrefixes));
  std::set<std::string_view> seen;
  for (int i = 0; i < r.path_prefixes_size(); ++i) {
    std::string_view v = r.path_prefixes(i);
    const std::string field = fmt::format("route.path_prefixes[{}]", i);
    if (v.empty() || v.front() != '/') {
      p.Add(fmt::format("{}: \"{}\" must start with '/'", field, v));
    } else if (v.size() > kMaxPathPrefix) {
      p.Add(fmt::format("{}: longer than {} bytes", field, kMaxPathPrefix));
    } else if (std::any_of(v.begin(), v.end(), [](char c) { return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f; })) {
      p.Add(fmt::format("{}: \"{}\" holds a space or control character", field, v));
    } else if (!seen.insert(v).second) {
      p.Add(fmt::format("{}: \"{}\" is listed twice", field, v));
    }
  }
}

void CheckUnknown(const google::protobuf::Message& msg, const std::string& path, Problems& p) {
  const auto* refl = msg.GetReflection();
  const auto& unknown = refl->GetUnknownFields(msg);
  for (int i = 0; i < unknown.field_count(); ++i)
    p.Add(fmt::format("{}: unknown field #{}", path, unknown.field(i).number()));
  std::vector<const google::protobuf::FieldDescriptor*> fields;
  refl->ListFields(msg, &fields);
  for (const auto* f : fields) {
    if (f->cpp_type() != google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE || f->is_map()) continue;
    if (f->is_repeated()) {
      for (int i = 0; i < refl->FieldSize(msg, f); ++i)
        CheckUnknown(refl->GetRepeatedMessage(msg, f, i), fmt::format("{}.{}[{}]", path, f->name(), i), p);
    } else {
      CheckUnknown(refl->GetMessage(msg, f), path + "." + f->name(), p);
    }
  }
}

}  // namespace

Status RejectUnknownFields(const google::protobuf::Message& msg, std::string_view path) {
  Problems p;
  CheckUnknown(msg, std::string(path), p);
  return p.Done();
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
  return p.Done();
}

Status ValidateRoute(const v1::RouteConfig& r) {
  Problems p;
  p.Add(RejectUnknownFields(r, "route"));
  p.Add(ValidateName("route.app", r.app()));
  uint64_t total = 0;
  for (const auto& [commit, w] : r.weights()) {
    p.Add(ValidateCommit(fmt::format("route.weights[{}]", commit), commit));
    if (w > kMaxWeight) p.Add(fmt::format("route.weights[{}]: {} exceeds {}", commit, w, kMaxWeight));
    total += w;
  }
  if (r.weights_size() > 0 && total == 0) p.Add("route.weights: all weights are 0; at least one must be > 0");
  if (!SplitIdOk(r.split_id()))
    p.Add(fmt::format("route.split_id: \"{}\" must be at most 64 of [A-Za-z0-9._-]", r.split_id()));
  for (int i = 0; i < r.hosts_size(); ++i) p.Add(ValidateHost(fmt::format("route.hosts[{}]", i), r.hosts(i)));
  CheckSlices(r, p);
  CheckPathPrefixes(r, p);
  return p.Done();
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
  return p.Done();
}

}  // namespace skyport::registry
