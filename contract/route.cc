#include "contract/route.h"

#include <algorithm>
#include <map>
#include <set>

#include <fmt/format.h>

#include "contract/unknown_fields.h"
#include "core/names.h"
#include "core/problems.h"
#include "core/uri_path.h"

namespace skyport::contract {
namespace {

using router::kSliceUnits;

constexpr uint32_t kMaxWeight = 1'000'000;
constexpr int kMaxPathPrefixes = 32;

// The structure ValidateLayout (contract/split.h) checks (there the first
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
    if (Status s = uri::ValidatePathPrefix(field, v); !s.ok()) {
      p.Add(s);
    } else if (!seen.insert(v).second) {
      p.Add(fmt::format("{}: \"{}\" is listed twice", field, v));
    }
  }
}

// ---- flights (RouteConfig.flight); the rules of flight_spec.h where they overlap

constexpr size_t kMaxFilterEntries = 32;
constexpr int kMaxFlightArms = 16;
constexpr size_t kMaxChannel = 64;
constexpr size_t kMaxHeaderValue = 1024;

bool Printable(char c) { return static_cast<unsigned char>(c) > 0x20 && c != 0x7f; }

// An RFC 9110 token in lowercase (the router compares names case-insensitively;
// one spelling keeps the map's keys unique).
bool LowerTokenOk(std::string_view s) {
  return IsHttpToken(s) && std::none_of(s.begin(), s.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
}

// `a` equals `b` or abbreviates it, either way round (weight keys may abbreviate).
bool SameCommit(std::string_view a, std::string_view b) {
  return a.size() <= b.size() ? b.starts_with(a) : a.starts_with(b);
}

void CheckFilter(const v1::FlightFilter& f, Problems& p) {
  const std::string path = "route.flight.filter";
  auto count = [&](const char* field, int n) {
    if (n > static_cast<int>(kMaxFilterEntries))
      p.Add(fmt::format("{}.{}: {} entries, at most {}", path, field, n, kMaxFilterEntries));
  };
  count("channels", f.channels_size());
  count("oses", f.oses_size());
  count("locales", f.locales_size());
  count("headers", f.headers_size());
  for (int i = 0; i < f.channels_size(); ++i) {
    std::string_view c = f.channels(i);
    if (c.empty() || c.size() > kMaxChannel || !std::all_of(c.begin(), c.end(), Printable))
      p.Add(fmt::format("{}.channels[{}]: \"{}\" must be 1 to {} characters without spaces or control characters",
                        path, i, c, kMaxChannel));
  }
  for (int i = 0; i < f.oses_size(); ++i)
    if (!IsOsName(f.oses(i)))
      p.Add(fmt::format("{}.oses[{}]: \"{}\" must be one of android, ios, chromeos, windows, mac, linux", path, i,
                        f.oses(i)));
  for (int i = 0; i < f.locales_size(); ++i)
    if (!IsLanguageTag(f.locales(i)))
      p.Add(fmt::format("{}.locales[{}]: \"{}\" must be a language tag like \"de\" or \"en-US\" "
                        "([A-Za-z]{{2,8}}(-[A-Za-z0-9]{{1,8}})*)",
                        path, i, f.locales(i)));
  const std::map<std::string, std::string> headers(f.headers().begin(), f.headers().end());  // sorted: stable messages
  for (const auto& [name, value] : headers) {
    if (!LowerTokenOk(name)) p.Add(fmt::format("{}.headers: name \"{}\" must be a lowercase HTTP token", path, name));
    const bool trimmed = value.empty() || (value.front() != ' ' && value.front() != '\t' && value.back() != ' ' &&
                                           value.back() != '\t');
    const bool clean = std::none_of(value.begin(), value.end(), [](char c) {
      return (static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f;
    });
    if (value.size() > kMaxHeaderValue || !trimmed || !clean)
      p.Add(fmt::format("{}.headers[{}]: the value must be at most {} bytes, without control characters or "
                        "surrounding blanks",
                        path, name, kMaxHeaderValue));
  }
}

void CheckFlight(const v1::RouteConfig& r, Problems& p) {
  if (!r.has_flight()) return;
  const v1::FlightRoute& f = r.flight();
  p.Add(ValidateName("route.flight.name", f.name()));
  if (!router::ValidSplitId(f.id()))
    p.Add(fmt::format("route.flight.id: \"{}\" must be 1 to 64 of [A-Za-z0-9._-]", f.id()));
  else if (f.id() != r.split_id())
    p.Add(fmt::format("route.flight.id: \"{}\" must equal route.split_id (\"{}\"): enrolled users are split by it",
                      f.id(), r.split_id()));
  p.Add(ValidateCommit("route.flight.control", f.control()));
  if (f.arms_size() < 2 || f.arms_size() > kMaxFlightArms)
    p.Add(fmt::format("route.flight.arms: {} arms; a flight has 2 to {}, its control's included", f.arms_size(),
                      kMaxFlightArms));
  const std::map<std::string, std::string> arms(f.arms().begin(), f.arms().end());
  std::set<std::string> commits;
  for (const auto& [name, commit] : arms) {
    if (!IsArmName(name))
      p.Add(fmt::format("route.flight.arms: name \"{}\" must match [a-z0-9][a-z0-9_-]{{0,31}}", name));
    p.Add(ValidateCommit(fmt::format("route.flight.arms[{}]", name), commit));
    commits.insert(commit);
  }
  if (ValidateCommit("", f.control()).ok() && !commits.count(f.control()))
    p.Add(fmt::format("route.flight.control: \"{}\" is not the commit of any of route.flight.arms", f.control()));
  // The weights split the enrolled users: over the flight's arms only.
  if (r.weights_size() == 0) p.Add("route.weights: a flight needs weights over its arms");
  const std::map<std::string, uint32_t> weights(r.weights().begin(), r.weights().end());
  for (const auto& [key, w] : weights)
    if (w > 0 && std::none_of(commits.begin(), commits.end(), [&key = key](const std::string& c) { return SameCommit(key, c); }))
      p.Add(fmt::format("route.weights[{}]: not the commit of any of route.flight.arms (a flight splits its users "
                        "over its arms)",
                        key));
  CheckFilter(f.filter(), p);
  if (!f.range_key().empty() && !IsRangeKey(f.range_key()))
    p.Add(fmt::format("route.flight.range_key: \"{}\" must be \"uid\" or 1 to 64 of [A-Za-z0-9_-] (a cookie or "
                      "header name)",
                      f.range_key()));
  if (f.range_ge() >= f.range_lt() || f.range_lt() > kSliceUnits)
    p.Add(fmt::format("route.flight.range_lt: [{}, {}) must satisfy 0 <= range_ge < range_lt <= {}", f.range_ge(),
                      f.range_lt(), kSliceUnits));
  if (f.end_by_unix_ms() < 0)
    p.Add(fmt::format("route.flight.end_by_unix_ms: {} is negative (0 = no end)", f.end_by_unix_ms()));
}

}  // namespace

std::vector<router::Slice> EffectiveLayout(const v1::RouteConfig& route) {
  const std::map<std::string, uint32_t> weights(route.weights().begin(), route.weights().end());
  std::vector<router::Slice> given;
  bool usable = route.slices_size() > 0;
  for (const auto& s : route.slices()) {
    auto w = weights.find(s.commit());
    if (w == weights.end() || w->second == 0) usable = false;
    given.push_back({s.commit(), s.ge(), s.lt()});
  }
  if (usable && router::ValidateLayout(given).ok()) return given;
  return router::LayoutFresh({weights.begin(), weights.end()});
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
  if (!r.split_id().empty() && !router::ValidSplitId(r.split_id()))  // "" = "default"
    p.Add(fmt::format("route.split_id: \"{}\" must be at most 64 of [A-Za-z0-9._-]", r.split_id()));
  for (int i = 0; i < r.hosts_size(); ++i) p.Add(ValidateHost(fmt::format("route.hosts[{}]", i), r.hosts(i)));
  CheckSlices(r, p);
  CheckPathPrefixes(r, p);
  CheckFlight(r, p);
  return p.ToStatus();
}

std::optional<std::string> DeployedOutsideSplitNote(const std::string& app, const std::string& commit,
                                                    const v1::RouteConfig& route) {
  if (route.weights().empty()) return std::nullopt;  // no split: the newest commit takes all
  uint64_t sum = 0;
  std::map<std::string, uint32_t> kept;  // sorted, so the command reads the same every time
  for (const auto& [c, w] : route.weights()) {
    if (commit.starts_with(c) && w > 0) return std::nullopt;  // keys may be prefixes, as routers read them
    if (w == 0) continue;
    kept[c] = w;
    sum += w;
  }
  if (sum == 0) return std::nullopt;
  std::string cmd = "skyport split " + app;
  for (const auto& [c, w] : kept) cmd += fmt::format(" {}={}", c.substr(0, 12), w);
  cmd += fmt::format(" {}={}", commit.substr(0, 12), std::max<uint64_t>(1, (sum + 4) / 9));
  return fmt::format("{} splits its traffic and {} is not in the split: it gets no traffic. To send it about 10% "
                     "of users: {}",
                     app, commit.substr(0, 12), cmd);
}

}  // namespace skyport::contract
