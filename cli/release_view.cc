#include "cli/release_view.h"

#include <fmt/format.h>

#include "cli/columns.h"
#include "cli/hub_tables.h"  // SecondsSince, FormatDuration, Abbreviate
#include "core/timefmt.h"

namespace skyport::cli {
namespace {

using json = nlohmann::json;

std::string Short(const std::string& commit) { return commit.substr(0, 12); }

std::string Join(const google::protobuf::RepeatedPtrField<std::string>& items) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : ",") + s;
  return out.empty() ? "-" : out;
}

}  // namespace

Result<uint32_t> ParseReleaseNumber(const std::string& text) {
  std::string digits = !text.empty() && (text[0] == 'v' || text[0] == 'V') ? text.substr(1) : text;
  auto bad = Status::InvalidArgument(fmt::format("release: \"{}\" is not a release (v1, v2, ...)", text));
  if (digits.empty() || digits.size() > 9) return bad;
  uint32_t n = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return bad;
    n = n * 10 + static_cast<uint32_t>(c - '0');
  }
  if (n == 0) return bad;
  return n;
}

json ReleaseJson(const v1::Release& r) {
  return {{"version", fmt::format("v{}", r.number())},
          {"number", r.number()},
          {"commit", r.commit()},
          {"config_version", r.config_version()},
          {"who", r.who()},
          {"created_unix_ms", r.created_unix_ms()},
          {"finished_unix_ms", r.finished_unix_ms()},
          {"drones", std::vector<std::string>(r.drones().begin(), r.drones().end())},
          {"instances", r.instances()},
          {"outcome", r.outcome()},
          {"error", r.error()},
          {"description", r.description()},
          {"rollback_to", r.rollback_to()},
          {"env_keys", std::vector<std::string>(r.env_keys().begin(), r.env_keys().end())},
          {"current", r.current()}};
}

std::string RenderReleases(const std::string& app, const v1::ReleasesResponse& r, int64_t now_ms) {
  if (r.releases_size() == 0) return fmt::format("{} has no releases yet (skyport deploy {} COMMIT)\n", app, app);
  std::vector<std::vector<std::string>> rows{
      {"VERSION", "COMMIT", "CONFIG", "WHO", "WHEN", "DRONES", "OUTCOME", "DESCRIPTION"}};
  std::string errors;
  for (const auto& rel : r.releases()) {
    rows.push_back({fmt::format("{}v{}", rel.current() ? "*" : " ", rel.number()), Short(rel.commit()),
                    fmt::format("{}", rel.config_version()), rel.who(),
                    FormatDuration(SecondsSince(rel.created_unix_ms(), now_ms)) + " ago", Join(rel.drones()),
                    rel.outcome(), rel.description()});
  }
  std::string out = AlignColumns(rows);
  for (const auto& rel : r.releases())
    if (!rel.error().empty()) out += fmt::format("v{}: {}\n", rel.number(), Abbreviate(rel.error(), 300));
  if (r.current() != 0) out += fmt::format("* current: v{}\n", r.current());
  else out += "no current release (no succeeded release gets traffic)\n";
  if (r.older_dropped() > 0) out += fmt::format("{} older releases are no longer kept\n", r.older_dropped());
  if (!r.route_error().empty()) out += "note: " + r.route_error() + "; the current release is a guess\n";
  return out;
}

json ReleasesJson(const std::string& app, const v1::ReleasesResponse& r) {
  json rels = json::array();
  for (const auto& rel : r.releases()) rels.push_back(ReleaseJson(rel));
  json doc{{"app", app},
           {"current", r.current() ? json(fmt::format("v{}", r.current())) : json(nullptr)},
           {"older_dropped", r.older_dropped()},
           {"releases", rels}};
  if (!r.route_error().empty()) doc["route_error"] = r.route_error();
  return doc;
}

std::string RenderRollback(const std::string& app, const v1::RollbackResponse& r) {
  std::string out = fmt::format("{}: v{} = {} (commit {}), {}; the route sends it all traffic\n", app,
                                r.release().number(), r.release().description(), Short(r.release().commit()),
                                r.deployed() ? "deployed first" : "no deploy needed (it still ran)");
  for (const auto& c : r.retiring())
    out += fmt::format("{} keeps running until {} (grace), then stops\n", Short(c),
                       FormatRfc3339(r.retire_at_unix_ms()));
  return out;
}

json RollbackJson(const std::string& app, const v1::RollbackResponse& r) {
  return {{"app", app},
          {"release", ReleaseJson(r.release())},
          {"target", fmt::format("v{}", r.target())},
          {"deployed", r.deployed()},
          {"retiring", std::vector<std::string>(r.retiring().begin(), r.retiring().end())},
          {"retire_at_unix_ms", r.retire_at_unix_ms()}};
}

std::string RenderApps(const v1::AppsResponse& r) {
  if (r.apps_size() == 0) return "no apps (push one: git push http://HUB:6002/APP.git master)\n";
  std::vector<std::vector<std::string>> rows{{"APP", "CURRENT", "COMMITS", "INSTANCES", "FLIGHT"}};
  for (const auto& a : r.apps()) {
    std::string current = a.has_current()
                              ? fmt::format("v{} {}", a.current().number(), Short(a.current().commit()))
                              : "-";
    std::string commits;
    for (const auto& c : a.commits()) {
      std::string w = a.has_route() ? fmt::format("{}", c.weight()) : "-";
      commits += fmt::format("{}{}={} {}/{}{}", commits.empty() ? "" : ", ", Short(c.commit()), w, c.instances_up(),
                             c.instances_total(), c.retire_at_unix_ms() ? " retiring" : "");
    }
    rows.push_back({a.name(), current, commits.empty() ? "-" : commits,
                    fmt::format("{}/{}", a.instances_up(), a.instances_total()),
                    a.active_flight().empty() ? "-" : a.active_flight()});
  }
  std::string out = AlignColumns(rows);
  out += "COMMITS: COMMIT=WEIGHT UP/TOTAL (weight \"-\": no route config, the newest deploy gets the traffic)\n";
  if (!r.route_error().empty()) out += "note: " + r.route_error() + "\n";
  return out;
}

json AppsJson(const v1::AppsResponse& r) {
  json apps = json::array();
  for (const auto& a : r.apps()) {
    json commits = json::array();
    for (const auto& c : a.commits())
      commits.push_back({{"commit", c.commit()},
                         {"weight", a.has_route() ? json(c.weight()) : json(nullptr)},
                         {"instances_up", c.instances_up()},
                         {"instances_total", c.instances_total()},
                         {"release", c.release() ? json(fmt::format("v{}", c.release())) : json(nullptr)},
                         {"retire_at_unix_ms", c.retire_at_unix_ms()}});
    apps.push_back({{"name", a.name()},
                    {"current", a.has_current() ? ReleaseJson(a.current()) : json(nullptr)},
                    {"commits", commits},
                    {"has_route", a.has_route()},
                    {"instances_up", a.instances_up()},
                    {"instances_total", a.instances_total()},
                    {"active_flight", a.active_flight().empty() ? json(nullptr) : json(a.active_flight())},
                    {"releases", a.releases()}});
  }
  json doc{{"apps", apps}};
  if (!r.route_error().empty()) doc["route_error"] = r.route_error();
  return doc;
}

std::string RenderDestroy(const std::string& app, const v1::DestroyResponse& r) {
  return fmt::format("destroyed {}: stopped {} commit{}, {}, {} release{} forgotten{}\n", app, r.stopped_size(),
                     r.stopped_size() == 1 ? "" : "s", r.route_removed() ? "route removed" : "no route",
                     r.releases_removed(), r.releases_removed() == 1 ? "" : "s",
                     r.repository_removed() ? ", repository removed" : "");
}

json DestroyJson(const std::string& app, const v1::DestroyResponse& r) {
  return {{"app", app},
          {"stopped", std::vector<std::string>(r.stopped().begin(), r.stopped().end())},
          {"route_removed", r.route_removed()},
          {"releases_removed", r.releases_removed()},
          {"repository_removed", r.repository_removed()}};
}

}  // namespace skyport::cli
