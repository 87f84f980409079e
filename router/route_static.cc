// LoadStaticRoutes: the routes file of static mode, checked field by field.
#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <google/protobuf/util/json_util.h>
#include <nlohmann/json.hpp>

#include "core/http_admin.h"
#include "core/json_fields.h"
#include "core/names.h"
#include "core/problems.h"
#include "core/uri_path.h"
#include "router/route_build.h"
#include "router/route_table.h"

namespace skyport::router {
namespace {

using internal::AppDraft;
using Json = nlohmann::json;

constexpr uint32_t kMaxWeight = 1'000'000;


bool ValidLabel(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
          c == '-'))
      return false;
  return true;
}

// The strings of an optional array field; problems for anything else.
std::vector<std::string> StringList(const Json& obj, const char* key, const std::string& path, Problems& p) {
  std::vector<std::string> out;
  auto it = obj.find(key);
  if (it == obj.end()) return out;
  const std::string field = path + "." + key;
  if (!it->is_array()) {
    p.Add(field + ": must be an array of strings");
    return out;
  }
  for (size_t i = 0; i < it->size(); ++i) {
    if ((*it)[i].is_string())
      out.push_back((*it)[i].get<std::string>());
    else
      p.Add(fmt::format("{}[{}]: must be a string", field, i));
  }
  return out;
}

// One upstream "HOST:PORT" -> an instance with a numeric host.
std::optional<Instance> ParseUpstream(const std::string& text, const std::string& field, Problems& p) {
  auto hp = SplitHostPort(text);
  if (!hp.ok() || text.starts_with(':') || text.starts_with("[]")) {
    p.Add(fmt::format("{}: \"{}\" must be HOST:PORT", field, text));
    return std::nullopt;
  }
  const auto& [host, port] = *hp;
  bool bad = false;
  if (Status s = ValidateHost(field, host); !s.ok()) {
    p.Add(s);
    bad = true;
  }
  if (port < 1 || port > 65535) {
    p.Add(fmt::format("{}: port {} is out of range 1..65535", field, port));
    bad = true;
  }
  if (bad) return std::nullopt;
  auto resolved = internal::ResolveHost(host);
  if (!resolved.ok()) {
    p.Add(fmt::format("{}: {}", field, resolved.status().message()));
    return std::nullopt;
  }
  return Instance{*resolved, static_cast<uint16_t>(port), internal::InstanceLabel(host, port)};
}

void ParseArms(const Json& app, const std::string& path, AppDraft& d, Problems& p) {
  auto it = app.find("arms");
  if (it == app.end() || !it->is_array() || it->empty()) {
    p.Add(path + ".arms: must be an array of at least one arm");
    return;
  }
  std::vector<std::pair<std::string, uint32_t>> order;  // file order, for the layout
  for (size_t j = 0; j < it->size(); ++j) {
    const Json& arm = (*it)[j];
    const std::string apath = fmt::format("{}.arms[{}]", path, j);
    if (!arm.is_object()) {
      p.Add(apath + ": must be an object");
      continue;
    }
    CheckKnownFields(arm, apath, {"commit", "weight", "upstreams"}, p);
    std::string commit;
    auto c = arm.find("commit");
    if (c == arm.end() || !c->is_string() || !ValidLabel(c->get<std::string>())) {
      p.Add(apath + ".commit: must be 1..64 of [A-Za-z0-9._-]");
    } else {
      commit = c->get<std::string>();
      if (d.arms.count(commit)) {
        p.Add(fmt::format("{}.commit: \"{}\" is listed twice", apath, commit));
        commit.clear();
      }
    }
    uint32_t weight = 0;
    if (auto w = arm.find("weight"); w != arm.end()) {
      const bool ok = w->is_number_integer() && w->get<int64_t>() >= 0 && w->get<uint64_t>() <= kMaxWeight;
      if (!ok)
        p.Add(apath + ".weight: must be an integer 0..1000000");
      else
        weight = static_cast<uint32_t>(w->get<uint64_t>());
    }
    std::vector<Instance> instances;
    const std::vector<std::string> ups = StringList(arm, "upstreams", apath, p);
    for (size_t k = 0; k < ups.size(); ++k)
      if (auto inst = ParseUpstream(ups[k], fmt::format("{}.upstreams[{}]", apath, k), p))
        instances.push_back(std::move(*inst));
    if (commit.empty()) continue;
    auto& draft = d.arms[commit];
    draft.weight = weight;
    draft.instances = std::move(instances);
    draft.rank = -static_cast<int64_t>(j);  // the first arm with upstreams is the default
    order.emplace_back(commit, weight);
  }
  d.layout = LayoutFresh(order);
}

// "flight": a v1::FlightRoute in protobuf JSON (proto or lowerCamel names).
// Its control is one of the app's arms (by commit as written); its id is the
// app's split id (which it becomes when "split_id" is not given).
void ParseFlight(const Json& j, const std::string& path, AppDraft& d, Problems& p) {
  if (!j.is_object()) {
    p.Add(path + ": must be an object");
    return;
  }
  v1::FlightRoute f;
  const std::string text = j.dump();
  if (auto st = google::protobuf::util::JsonStringToMessage(text, &f, {}); !st.ok()) {
    p.Add(fmt::format("{}: {}", path, std::string(st.message())));
    return;
  }
  p.Add(ValidateName(path + ".name", f.name()));
  if (!ValidSplitId(f.id()))
    p.Add(fmt::format("{}.id: \"{}\" must be 1..64 of [A-Za-z0-9._-]", path, f.id()));
  else if (d.split_id.empty())
    d.split_id = f.id();
  else if (d.split_id != f.id())
    p.Add(fmt::format("{}.id: \"{}\" must equal the app's split_id (\"{}\")", path, f.id(), d.split_id));
  if (!d.arms.count(f.control()))
    p.Add(fmt::format("{}.control: \"{}\" is not one of the app's arms", path, f.control()));
  for (int i = 0; i < f.filter().oses_size(); ++i)
    if (!IsOsName(f.filter().oses(i)))
      p.Add(fmt::format("{}.filter.oses[{}]: \"{}\" must be one of android, ios, chromeos, windows, mac, linux", path,
                        i, f.filter().oses(i)));
  if (f.range_ge() >= f.range_lt() || f.range_lt() > kSliceUnits)
    p.Add(fmt::format("{}.range_lt: [{}, {}) must satisfy 0 <= range_ge < range_lt <= {}", path, f.range_ge(),
                      f.range_lt(), kSliceUnits));
  if (f.end_by_unix_ms() < 0) p.Add(fmt::format("{}.end_by_unix_ms: {} is negative", path, f.end_by_unix_ms()));
  d.flight_control = f.control();
  d.flight = std::move(f);
}

// One app; `claimed` maps hosts and prefixes taken so far to their app.
std::optional<AppDraft> ParseApp(const Json& app, size_t i, std::map<std::string, std::string>& claimed,
                                 Problems& p) {
  const std::string path = fmt::format("apps[{}]", i);
  if (!app.is_object()) {
    p.Add(path + ": must be an object");
    return std::nullopt;
  }
  CheckKnownFields(app, path, {"name", "hosts", "path_prefixes", "split_id", "allow_override", "arms", "flight"}, p);
  AppDraft d;
  auto name = app.find("name");
  // Who claims this app's hosts and prefixes, even when the name is bad.
  const std::string owner = name != app.end() && name->is_string() ? name->get<std::string>() : path;
  if (name == app.end() || !name->is_string())
    p.Add(path + ".name: required, a string");
  else if (Status s = ValidateName(path + ".name", name->get<std::string>()); !s.ok())
    p.Add(s);
  else
    d.name = name->get<std::string>();

  const std::vector<std::string> hosts = StringList(app, "hosts", path, p);
  for (size_t k = 0; k < hosts.size(); ++k) {
    const std::string field = fmt::format("{}.hosts[{}]", path, k);
    if (Status s = ValidateHost(field, hosts[k]); !s.ok()) {
      p.Add(s);
      continue;
    }
    auto [at, fresh] = claimed.try_emplace("host " + internal::NormalizeHost(hosts[k]), owner);
    if (!fresh && at->second != owner)
      p.Add(fmt::format("{}: \"{}\" already selects app \"{}\"", field, hosts[k], at->second));
    d.hosts.push_back(hosts[k]);
  }
  const std::vector<std::string> prefixes = StringList(app, "path_prefixes", path, p);
  if (prefixes.size() > internal::kMaxPathPrefixes)
    p.Add(fmt::format("{}.path_prefixes: {} entries, at most {}", path, prefixes.size(), internal::kMaxPathPrefixes));
  for (size_t k = 0; k < prefixes.size(); ++k) {
    const std::string field = fmt::format("{}.path_prefixes[{}]", path, k);
    if (Status s = skyport::uri::ValidatePathPrefix(field, prefixes[k]); !s.ok()) {
      p.Add(s);
      continue;
    }
    auto [at, fresh] = claimed.try_emplace("prefix " + prefixes[k], owner);
    if (!fresh && at->second != owner)
      p.Add(fmt::format("{}: \"{}\" already selects app \"{}\"", field, prefixes[k], at->second));
    d.path_prefixes.push_back(prefixes[k]);
  }
  if (auto s = app.find("split_id"); s != app.end()) {
    if (!s->is_string() || (!s->get<std::string>().empty() && !ValidSplitId(s->get<std::string>())))
      p.Add(path + ".split_id: must be a string of 1..64 of [A-Za-z0-9._-] (or \"\")");
    else
      d.split_id = s->get<std::string>();
  }
  if (auto o = app.find("allow_override"); o != app.end()) {
    if (!o->is_boolean())
      p.Add(path + ".allow_override: must be true or false");
    else
      d.allow_override = o->get<bool>();
  }
  ParseArms(app, path, d, p);
  if (auto f = app.find("flight"); f != app.end()) ParseFlight(*f, path + ".flight", d, p);
  if (d.name.empty()) return std::nullopt;
  return d;
}

}  // namespace

Result<std::shared_ptr<const RouteTable>> LoadStaticRoutes(std::string_view json_text, int64_t revision,
                                                           const TableOptions& options, const StatsIdFn& stats_id) {
  Json doc;
  try {  // the library reports where the error is only by exception
    doc = Json::parse(json_text.begin(), json_text.end());
  } catch (const Json::exception& e) {
    std::string what = e.what();
    if (auto at = what.find("] "); at != std::string::npos) what = what.substr(at + 2);
    return Status::InvalidArgument("not valid JSON: " + what);
  }
  Problems p;
  if (!doc.is_object()) return Status::InvalidArgument("routes: must be a JSON object with \"apps\"");
  CheckKnownFields(doc, "", {"default_app", "apps"}, p);

  std::string default_app = options.default_app;
  if (auto d = doc.find("default_app"); d != doc.end()) {
    if (!d->is_string())
      p.Add("default_app: must be a string");
    else
      default_app = d->get<std::string>();
  }

  std::vector<AppDraft> drafts;
  auto apps = doc.find("apps");
  if (apps == doc.end() || !apps->is_array()) {
    p.Add("apps: required, an array");
  } else {
    const std::string domain = internal::NormalizeHost(options.domain);
    std::map<std::string, std::string> claimed;  // "host X" / "prefix Y" -> app
    std::set<std::string> names;
    for (const Json& app : *apps)
      if (app.is_object() && app.contains("name") && app["name"].is_string() && !domain.empty())
        claimed.try_emplace("host " + internal::NormalizeHost(app["name"].get<std::string>() + "." + domain),
                            app["name"].get<std::string>());
    for (size_t i = 0; i < apps->size(); ++i) {
      auto d = ParseApp((*apps)[i], i, claimed, p);
      if (!d) continue;
      if (!names.insert(d->name).second) {
        p.Add(fmt::format("apps[{}].name: \"{}\" is listed twice", i, d->name));
        continue;
      }
      drafts.push_back(std::move(*d));
    }
    if (!default_app.empty() && !names.count(default_app))
      p.Add(fmt::format("default_app: \"{}\" is not one of the apps", default_app));
  }
  if (!p.empty()) return p.ToStatus();

  auto table = std::make_shared<RouteTable>();
  table->revision = revision;
  for (AppDraft& d : drafts)
    table->apps.push_back(std::make_shared<const AppRoute>(internal::FinishApp(std::move(d), stats_id)));
  internal::IndexTable(*table, options.domain, default_app);
  return std::shared_ptr<const RouteTable>(std::move(table));
}

}  // namespace skyport::router
