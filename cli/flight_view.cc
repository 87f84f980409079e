#include "cli/flight_view.h"

#include <cmath>

#include <fmt/format.h>

#include "cli/columns.h"
#include "cli/hub_tables.h"
#include "core/timefmt.h"

namespace skyport::cli {
namespace {

std::string When(int64_t unix_ms, int64_t now_ms) {
  if (unix_ms <= 0) return "-";
  int64_t d = (now_ms - unix_ms) / 1000;
  if (d >= 0) return fmt::format("{} ({} ago)", FormatRfc3339(unix_ms), FormatDuration(d));
  return fmt::format("{} (in {})", FormatRfc3339(unix_ms), FormatDuration(-d));
}

std::string Percent(double w) { return fmt::format("{:g}%", std::round(w * 100) / 100); }

std::string ArmsSummary(const v1::FlightStatus& s) {
  std::string out;
  for (const auto& a : s.arms()) out += fmt::format("{}{}={}", out.empty() ? "" : " ", a.name(), Percent(a.weight()));
  return out.empty() ? "-" : out;
}

bool Active(const v1::FlightStatus& s) { return s.ended_unix_ms() == 0; }

nlohmann::json ParsedOrString(const std::string& text) {
  if (text.empty()) return nullptr;
  auto j = nlohmann::json::parse(text, nullptr, false);
  return j.is_discarded() ? nlohmann::json(text) : j;
}

}  // namespace

std::string RenderFlightList(const std::vector<v1::FlightStatus>& flights, int64_t /*now_ms*/) {
  if (flights.empty()) return "no flights\n";
  std::vector<std::vector<std::string>> rows{{"NAME", "APP", "STATE", "STEP", "ARMS", "STARTED", "ENDS/ENDED"}};
  for (const auto& f : flights) {
    std::string step = f.step().empty() ? "-" : fmt::format("{}/{}", f.step(), f.steps_total());
    std::string ends = !Active(f) ? FormatRfc3339(f.ended_unix_ms())
                                  : (f.end_by_unix_ms() ? "by " + FormatRfc3339(f.end_by_unix_ms()) : "-");
    rows.push_back({f.name(), f.app(), f.state(), step, ArmsSummary(f), FormatRfc3339(f.started_unix_ms()), ends});
  }
  return AlignColumns(rows);
}

std::string RenderFlightStatus(const v1::FlightStatus& s, int64_t now_ms) {
  std::string out = fmt::format("flight {} (app {}, id {})\n", s.name(), s.app(), s.id());
  std::string state = s.state();
  if (!s.step().empty())
    state += fmt::format(", step {}/{}: {}", s.step(), s.steps_total(), s.step_text());
  out += fmt::format("state:   {}\n", state);
  if (!s.reason().empty()) out += fmt::format("reason:  {}\n", s.reason());
  out += fmt::format("started: {}\n", When(s.started_unix_ms(), now_ms));
  if (s.ended_unix_ms()) out += fmt::format("ended:   {}\n", When(s.ended_unix_ms(), now_ms));
  else if (s.end_by_unix_ms()) out += fmt::format("ends by: {}\n", When(s.end_by_unix_ms(), now_ms));
  std::vector<std::vector<std::string>> rows{{"ARM", "COMMIT", "WEIGHT", "ENROLLED"}};
  for (const auto& a : s.arms())
    rows.push_back({a.name() + (a.control() ? " *" : ""), a.commit().substr(0, 12), Percent(a.weight()),
                    std::to_string(a.users_enrolled())});
  out += AlignColumns(rows);
  out += "(* control; weights are shares of enrolled users, as routers apply them now)\n";
  return out;
}

std::string FlightLogLeftOutNotice(uint64_t older_left_out) {
  if (older_left_out == 0) return "";
  return fmt::format("({} older entries left out: one reply holds the newest 3 MiB of a flight's timeline)\n",
                     older_left_out);
}

std::string RenderFlightLog(const std::vector<v1::FlightLogEntry>& entries, uint64_t older_left_out) {
  std::string out = FlightLogLeftOutNotice(older_left_out);
  if (entries.empty()) return out + "no entries\n";
  for (const auto& e : entries) {
    out += fmt::format("{}  {:<5} {:<8} {}\n", FormatRfc3339(e.unix_ms()), e.step().empty() ? "-" : e.step(), e.kind(),
                       e.message());
    if (!e.data_json().empty()) out += fmt::format("    {}\n", e.data_json());
  }
  return out;
}

nlohmann::json FlightStatusJson(const v1::FlightStatus& s) {
  nlohmann::json arms = nlohmann::json::array();
  for (const auto& a : s.arms())
    arms.push_back({{"name", a.name()}, {"commit", a.commit()}, {"weight", a.weight()}, {"control", a.control()},
                    {"users_enrolled", a.users_enrolled()}});
  return {{"name", s.name()},
          {"app", s.app()},
          {"id", s.id()},
          {"state", s.state()},
          {"reason", s.reason()},
          {"step", s.step()},
          {"step_text", s.step_text()},
          {"steps_total", s.steps_total()},
          {"arms", arms},
          {"started_unix_ms", s.started_unix_ms()},
          {"ended_unix_ms", s.ended_unix_ms()},
          {"end_by_unix_ms", s.end_by_unix_ms()},
          {"spec", ParsedOrString(s.spec_json())}};
}

nlohmann::json FlightLogJson(const std::vector<v1::FlightLogEntry>& entries) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& e : entries)
    out.push_back({{"unix_ms", e.unix_ms()},
                   {"time", FormatRfc3339(e.unix_ms())},
                   {"step", e.step()},
                   {"kind", e.kind()},
                   {"message", e.message()},
                   {"data", ParsedOrString(e.data_json())}});
  return out;
}

}  // namespace skyport::cli
