#include "cli/status_report.h"

#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "cli/columns.h"
#include "cli/hub_tables.h"

namespace skyport::cli {

namespace {

// "is down" when it could not be reached; else what it said (a refused token
// is not a dead daemon).
std::string Down(const std::string& what, const std::string& error) {
  const bool unreachable = error.rfind("UNAVAILABLE", 0) == 0 || error.rfind("DEADLINE_EXCEEDED", 0) == 0;
  return fmt::format("{} {}: {}", what, unreachable ? "is down" : "did not answer", error);
}

}  // namespace

std::string ShortVersion(const std::string& version_line) {
  const size_t sp = version_line.find(' ');
  if (version_line.rfind("skyport", 0) != 0 || sp == std::string::npos) return version_line;
  return version_line.substr(sp + 1);
}

StatusReport BuildStatus(const StatusInputs& in) {
  StatusReport r;
  auto problem = [&r](std::string p) { r.problems.push_back(std::move(p)); };

  size_t leaders = 0, answered = 0;
  bool several = false;
  for (const auto& h : in.hubs) {
    StatusRow row{"hub", h.address, h.address, "down", false, "", 0, h.error};
    if (h.info) {
      ++answered;
      row.state = h.info->role() == "single" ? "up" : h.info->role();
      row.ok = true;
      row.version = h.info->version();
      row.last_seen_unix_ms = in.now_ms;
      row.note = h.info->role() == "standby" && !h.info->leader_grpc().empty()
                     ? "leader: " + h.info->leader_grpc()
                     : "";
      several |= h.info->role() != "single";
      leaders += h.info->role() != "standby" ? 1 : 0;
    } else {
      problem(Down("hub " + h.address, h.error));
    }
    r.rows.push_back(std::move(row));
  }
  if (answered > 0 && leaders == 0) problem("no hub leads (every hub that answered stands by): commands wait");
  if (several && leaders > 1) problem(fmt::format("{} hubs say they lead", leaders));

  for (const auto& g : in.registries) {
    StatusRow row{"registry", g.address, g.address, "down", false, "", 0, g.error};
    if (g.info) {
      row.state = "up";
      row.ok = true;
      row.version = g.info->version();
      row.last_seen_unix_ms = in.now_ms;
      row.note = "store " + g.info->store();
    } else {
      problem(Down("registry " + g.address, g.error));
    }
    r.rows.push_back(std::move(row));
  }

  if (!in.drones) {
    problem("drones: unknown (" + in.drones_error + ")");
  } else {
    auto drones = *in.drones;
    std::sort(drones.begin(), drones.end(), [](const auto& a, const auto& b) { return a.name() < b.name(); });
    for (const auto& d : drones) {
      StatusRow row{"drone", d.name(), d.advertise(), d.connected() ? "up" : "down", d.connected(), d.version(),
                    d.connected() ? std::max(d.last_seen_unix_ms(), in.now_ms) : d.last_seen_unix_ms(),
                    fmt::format("{} processes", d.processes_size())};
      if (!d.connected()) {
        const int64_t ago = SecondsSince(d.last_seen_unix_ms(), in.now_ms);
        row.note = ago < 0 ? "not attached" : "not attached, last seen " + FormatDuration(ago) + " ago";
        problem(fmt::format("drone {} is down ({})", d.name(), row.note));
      }
      r.rows.push_back(std::move(row));
    }
  }

  if (!in.routers) {
    problem("routers: unknown (" + in.routers_error + ")");
  } else {
    auto routers = *in.routers;
    auto name_of = [](const RouterProbe& p) {
      auto it = p.entry.meta().find("name");
      return it == p.entry.meta().end() || it->second.empty() ? p.entry.commit() : it->second;
    };
    std::sort(routers.begin(), routers.end(),
              [&](const RouterProbe& a, const RouterProbe& b) { return name_of(a) < name_of(b); });
    for (const auto& p : routers) {
      auto meta = [&p](const char* k) {
        auto it = p.entry.meta().find(k);
        return it == p.entry.meta().end() ? std::string() : it->second;
      };
      const std::string admin = p.entry.host().find(':') != std::string::npos
                                    ? fmt::format("[{}]:{}", p.entry.host(), p.entry.port())
                                    : fmt::format("{}:{}", p.entry.host(), p.entry.port());
      StatusRow row{"router", name_of(p), admin, p.healthy ? "up" : "down", p.healthy, meta("version"),
                    p.healthy ? in.now_ms : 0,
                    p.healthy ? (meta("listen").empty() ? "" : "traffic " + meta("listen")) : p.error};
      if (!p.healthy) problem(fmt::format("router {} ({}) is down: {}", row.name, admin, p.error));
      r.rows.push_back(std::move(row));
    }
  }
  return r;
}

std::string RenderStatusTable(const StatusReport& r, int64_t now_ms) {
  std::vector<std::vector<std::string>> rows = {{"KIND", "NAME", "ADDRESS", "STATE", "VERSION", "LAST-SEEN", "NOTE"}};
  for (const auto& s : r.rows) {
    const int64_t seen = s.last_seen_unix_ms > 0 ? SecondsSince(s.last_seen_unix_ms, now_ms) : -1;
    rows.push_back({s.kind, s.name, s.address.empty() || s.address == s.name ? "-" : s.address, s.state,
                    s.version.empty() ? "-" : ShortVersion(s.version),
                    seen < 0 ? "-" : seen == 0 ? "now" : FormatDuration(seen) + " ago", s.note.empty() ? "-" : s.note});
  }
  std::string out = AlignColumns(rows);
  if (r.ok()) return out + "all up\n";
  for (const auto& p : r.problems) out += "DOWN: " + p + "\n";
  return out;
}

nlohmann::json StatusJson(const StatusReport& r, int64_t now_ms) {
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& s : r.rows)
    rows.push_back({{"kind", s.kind},
                    {"name", s.name},
                    {"address", s.address},
                    {"state", s.state},
                    {"ok", s.ok},
                    {"version", s.version},
                    {"last_seen_unix_ms", s.last_seen_unix_ms},
                    {"last_seen_s", s.last_seen_unix_ms > 0 ? SecondsSince(s.last_seen_unix_ms, now_ms) : -1},
                    {"note", s.note}});
  return {{"ok", r.ok()}, {"components", rows}, {"problems", r.problems}};
}

}  // namespace skyport::cli
