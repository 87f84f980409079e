#include "cli/hub_tables.h"

#include <algorithm>
#include <map>
#include <tuple>

#include <fmt/format.h>

#include "cli/columns.h"

namespace skyport::cli {
namespace {

constexpr size_t kLastErrorWidth = 60;

std::map<std::string, std::string> HostsByDrone(const std::vector<v1::DroneInfo>& drones) {
  std::map<std::string, std::string> hosts;
  for (const auto& d : drones) hosts[d.name()] = d.advertise();
  return hosts;
}

std::string HostPort(const std::string& host, uint32_t port) {
  if (port == 0) return "-";
  if (host.empty()) return std::to_string(port);
  // An IPv6 literal needs brackets before ":port".
  if (host.find(':') != std::string::npos) return fmt::format("[{}]:{}", host, port);
  return fmt::format("{}:{}", host, port);
}

std::string Labels(const v1::DroneInfo& d) {
  std::map<std::string, std::string> sorted(d.labels().begin(), d.labels().end());
  std::string out;
  for (const auto& [k, v] : sorted) out += fmt::format("{}{}={}", out.empty() ? "" : ",", k, v);
  return out.empty() ? "-" : out;
}

std::vector<v1::DroneInfo> SortedDrones(std::vector<v1::DroneInfo> drones) {
  std::sort(drones.begin(), drones.end(),
            [](const v1::DroneInfo& a, const v1::DroneInfo& b) { return a.name() < b.name(); });
  return drones;
}

}  // namespace

std::vector<v1::ProcessStatus> SortedProcesses(std::vector<v1::ProcessStatus> ps) {
  std::sort(ps.begin(), ps.end(), [](const v1::ProcessStatus& a, const v1::ProcessStatus& b) {
    return std::forward_as_tuple(a.app(), a.commit(), a.role(), a.instance(), a.drone()) <
           std::forward_as_tuple(b.app(), b.commit(), b.role(), b.instance(), b.drone());
  });
  return ps;
}

int64_t SecondsSince(int64_t since_unix_ms, int64_t now_ms) {
  if (since_unix_ms <= 0) return -1;
  if (now_ms <= since_unix_ms) return 0;
  return (now_ms - since_unix_ms) / 1000;
}

std::string FormatDuration(int64_t s) {
  if (s < 0) return "-";
  if (s < 60) return fmt::format("{}s", s);
  if (s < 3600) return fmt::format("{}m{:02}s", s / 60, s % 60);
  if (s < 86400) return fmt::format("{}h{:02}m", s / 3600, s % 3600 / 60);
  return fmt::format("{}d{:02}h", s / 86400, s % 86400 / 3600);
}

std::string Abbreviate(const std::string& text, size_t max) {
  std::string line = text.substr(0, text.find('\n'));
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
  if (line.empty()) return "-";
  if (line.size() > max) line = line.substr(0, max > 3 ? max - 3 : 0) + "...";
  return line;
}

std::string RenderPsTable(const std::vector<v1::ProcessStatus>& processes,
                          const std::vector<v1::DroneInfo>& drones, int64_t now_ms) {
  auto hosts = HostsByDrone(drones);
  std::vector<std::vector<std::string>> rows = {{"APP", "COMMIT", "ROLE", "INST", "DRONE", "HOST:PORT",
                                                 "PID", "STATE", "RESTARTS", "UPTIME", "LAST-ERROR"}};
  for (const auto& p : SortedProcesses(processes)) {
    auto host = hosts.find(p.drone());
    bool running = p.state() == "running" || p.state() == "starting";
    rows.push_back({p.app(), p.commit().substr(0, 12), p.role(), std::to_string(p.instance()),
                    p.drone().empty() ? "-" : p.drone(),
                    HostPort(host == hosts.end() ? "" : host->second, p.port()),
                    p.pid() > 0 ? std::to_string(p.pid()) : "-", p.state().empty() ? "-" : p.state(),
                    std::to_string(p.restarts()),
                    running ? FormatDuration(SecondsSince(p.started_unix_ms(), now_ms)) : "-",
                    Abbreviate(p.last_error(), kLastErrorWidth)});
  }
  return AlignColumns(rows);
}

nlohmann::json PsJson(const std::vector<v1::ProcessStatus>& processes,
                      const std::vector<v1::DroneInfo>& drones, int64_t now_ms) {
  auto hosts = HostsByDrone(drones);
  nlohmann::json list = nlohmann::json::array();
  for (const auto& p : SortedProcesses(processes)) {
    auto host = hosts.find(p.drone());
    list.push_back({{"app", p.app()},
                    {"commit", p.commit()},
                    {"role", p.role()},
                    {"instance", p.instance()},
                    {"drone", p.drone()},
                    {"host", host == hosts.end() ? "" : host->second},
                    {"port", p.port()},
                    {"pid", p.pid()},
                    {"state", p.state()},
                    {"restarts", p.restarts()},
                    {"last_error", p.last_error()},
                    {"started_unix_ms", p.started_unix_ms()},
                    {"uptime_s", SecondsSince(p.started_unix_ms(), now_ms)}});
  }
  return list;
}

std::string RenderDronesTable(const std::vector<v1::DroneInfo>& drones, int64_t now_ms) {
  std::vector<std::vector<std::string>> rows = {
      {"NAME", "ADVERTISE", "CONNECTED", "LABELS", "PROCESSES", "LAST-SEEN"}};
  for (const auto& d : SortedDrones(drones)) {
    int64_t seen = SecondsSince(d.last_seen_unix_ms(), now_ms);
    rows.push_back({d.name(), d.advertise().empty() ? "-" : d.advertise(), d.connected() ? "yes" : "no",
                    Labels(d), std::to_string(d.processes_size()),
                    seen < 0 ? "-" : FormatDuration(seen) + " ago"});
  }
  return AlignColumns(rows);
}

nlohmann::json DronesJson(const std::vector<v1::DroneInfo>& drones, int64_t now_ms) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& d : SortedDrones(drones)) {
    nlohmann::json labels = nlohmann::json::object();
    for (const auto& [k, v] : d.labels()) labels[k] = v;
    list.push_back({{"name", d.name()},
                    {"advertise", d.advertise()},
                    {"connected", d.connected()},
                    {"labels", labels},
                    {"processes", d.processes_size()},
                    {"last_seen_unix_ms", d.last_seen_unix_ms()},
                    {"last_seen_s", SecondsSince(d.last_seen_unix_ms(), now_ms)},
                    {"version", d.version()}});  // "" from a drone older than `skyport status`
  }
  return list;
}

}  // namespace skyport::cli
