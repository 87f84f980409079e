#include "hub/flights/flight_state.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include <fmt/format.h>

#include "core/problems.h"
#include "core/timefmt.h"

namespace skyport::hub {
namespace {

using nlohmann::json;
using Phase = StepRun::Phase;

constexpr uint32_t kMillion = 1'000'000;

const char* PhaseName(Phase p) {
  switch (p) {
    case Phase::kPending:
      return "pending";
    case Phase::kRunning:
      return "running";
    case Phase::kDone:
      return "done";
    case Phase::kFailed:
      break;
  }
  return "failed";
}

bool PlanActive(const FlightSpec& spec, const FlightState& s) {
  return (s.status == FlightStatus::kRunning || s.status == FlightStatus::kPromoted) && s.group < spec.plan.size() &&
         s.group < s.runs.size();
}

std::string CommitOf(const FlightState& s, const std::string& arm) {
  auto it = s.commits.find(arm);
  return it == s.commits.end() ? "" : it->second;
}

// Shares of one million in proportion to `exact` (which sums to about one
// million), summing to exactly one million: largest remainders get the rest.
std::vector<uint32_t> Apportion(const std::vector<double>& exact) {
  std::vector<uint32_t> out(exact.size());
  int64_t left = kMillion;
  for (size_t i = 0; i < exact.size(); ++i) {
    out[i] = static_cast<uint32_t>(std::clamp(std::floor(exact[i]), 0.0, double(kMillion)));
    left -= out[i];
  }
  std::vector<size_t> order(exact.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return exact[a] - std::floor(exact[a]) > exact[b] - std::floor(exact[b]);
  });
  for (size_t k = 0; left > 0 && !order.empty(); ++k, --left) ++out[order[k % order.size()]];
  for (size_t k = 0; left < 0; ++k) {  // only when the inputs overshoot
    auto big = std::max_element(out.begin(), out.end());
    --*big, ++left;
  }
  return out;
}

// ---- JSON reading: every problem is collected with its field ----

class Reader {
 public:
  explicit Reader(Problems& problems) : problems_(problems) {}

  const json* Get(const json& obj, const char* key, const std::string& path, bool (json::*is)() const noexcept,
                  const char* what) {
    if (!obj.contains(key)) return nullptr;
    const json& v = obj[key];
    if (!(v.*is)()) {
      problems_.Add(fmt::format("{}{}: must be {}", path, key, what));
      return nullptr;
    }
    return &v;
  }
  void Str(const json& o, const char* k, const std::string& p, std::string& out) {
    if (auto v = Get(o, k, p, &json::is_string, "a string")) out = v->get<std::string>();
  }
  void Int(const json& o, const char* k, const std::string& p, int64_t& out) {
    if (auto v = Get(o, k, p, &json::is_number_integer, "an integer")) out = v->get<int64_t>();
  }
  template <class U>
  void Unsigned(const json& o, const char* k, const std::string& p, U& out) {
    if (auto v = Get(o, k, p, &json::is_number_integer, "an integer")) {
      if (!v->is_number_unsigned() && v->get<int64_t>() < 0)
        problems_.Add(fmt::format("{}{}: must not be negative", p, k));
      else
        out = static_cast<U>(v->get<uint64_t>());
    }
  }
  void Double(const json& o, const char* k, const std::string& p, double& out) {
    if (auto v = Get(o, k, p, &json::is_number, "a number")) out = v->get<double>();
  }
  void Bool(const json& o, const char* k, const std::string& p, bool& out) {
    if (auto v = Get(o, k, p, &json::is_boolean, "true or false")) out = v->get<bool>();
  }
  void Set(const json& o, const char* k, std::set<std::string>& out) {
    if (auto v = Get(o, k, "", &json::is_array, "a list of strings"))
      for (const auto& e : *v) {
        if (e.is_string())
          out.insert(e.get<std::string>());
        else
          problems_.Add(fmt::format("{}: must hold strings", k));
      }
  }
  void Problem(std::string p) { problems_.Add(std::move(p)); }

 private:
  Problems& problems_;
};

json RunToJson(const StepRun& r) {
  return {{"phase", PhaseName(r.phase)},      {"started_unix_ms", r.started_unix_ms},
          {"ended_unix_ms", r.ended_unix_ms}, {"deadline_unix_ms", r.deadline_unix_ms},
          {"next_unix_ms", r.next_unix_ms},   {"attempts", r.attempts},
          {"previous_p", r.previous_p},       {"route_version", r.route_version},
          {"outstanding", r.outstanding},     {"note", r.note}};
}

StepRun RunFromJson(const json& j, const std::string& path, Reader& rd) {
  StepRun r;
  if (!j.is_object()) {
    rd.Problem(path + ": must be an object");
    return r;
  }
  std::string phase = "pending";
  rd.Str(j, "phase", path + ".", phase);
  if (phase == "running")
    r.phase = Phase::kRunning;
  else if (phase == "done")
    r.phase = Phase::kDone;
  else if (phase == "failed")
    r.phase = Phase::kFailed;
  else if (phase != "pending")
    rd.Problem(fmt::format("{}.phase: \"{}\" is not a phase", path, phase));
  rd.Int(j, "started_unix_ms", path + ".", r.started_unix_ms);
  rd.Int(j, "ended_unix_ms", path + ".", r.ended_unix_ms);
  rd.Int(j, "deadline_unix_ms", path + ".", r.deadline_unix_ms);
  rd.Int(j, "next_unix_ms", path + ".", r.next_unix_ms);
  rd.Unsigned(j, "attempts", path + ".", r.attempts);
  rd.Double(j, "previous_p", path + ".", r.previous_p);
  rd.Unsigned(j, "route_version", path + ".", r.route_version);
  rd.Bool(j, "outstanding", path + ".", r.outstanding);
  rd.Str(j, "note", path + ".", r.note);
  return r;
}

}  // namespace

std::string FlightStatusName(FlightStatus status) {
  switch (status) {
    case FlightStatus::kRunning: return "running";
    case FlightStatus::kCleanup: return "cleanup";
    case FlightStatus::kPromoted: return "promoted";
    case FlightStatus::kDone: return "done";
    case FlightStatus::kKilled: return "killed";
    case FlightStatus::kExpired: return "expired";
    case FlightStatus::kFailed: return "failed";
  }
  return "failed";
}

std::optional<FlightStatus> ParseFlightStatus(std::string_view name) {
  for (FlightStatus s : kFlightStatuses)
    if (FlightStatusName(s) == name) return s;
  return std::nullopt;
}

FlightState NewFlightState(const FlightSpec& spec, std::string id, std::map<std::string, std::string> commits,
                           int64_t now_unix_ms) {
  FlightState s;
  s.id = std::move(id);
  s.commits = std::move(commits);
  s.started_unix_ms = now_unix_ms;
  for (const auto& group : spec.plan) s.runs.emplace_back(group.size());
  return s;
}

FlightState ResumeAfterRestart(FlightState state) {
  state.route_outstanding = false;
  state.stopping.clear();
  for (auto& group : state.runs)
    for (StepRun& r : group) {
      if (!r.outstanding) continue;
      r.outstanding = false;
      if (r.attempts > 0) --r.attempts;  // a gate look or ping try that never came back is tried again
    }
  return state;
}

bool FlightFinished(const FlightState& s) {
  return s.status == FlightStatus::kDone || s.status == FlightStatus::kKilled || s.status == FlightStatus::kExpired ||
         s.status == FlightStatus::kFailed ||
         (s.status == FlightStatus::kPromoted && s.retired);
}

RouteIntent DesiredRoute(const FlightSpec& spec, const FlightState& state) {
  RouteIntent r;
  r.split_id = state.id;
  if (state.status == FlightStatus::kPromoted) {
    r.weights[CommitOf(state, state.promoted_arm)] = kMillion;
    return r;
  }
  if (state.status != FlightStatus::kRunning) {
    r.weights[CommitOf(state, spec.control)] = kMillion;
    return r;
  }
  std::vector<std::string> arms;
  std::vector<double> exact;
  double treated = 0;
  for (const auto& [arm, w] : state.weights) {
    arms.push_back(arm);
    exact.push_back(w * 10'000);
    treated += w * 10'000;
  }
  arms.push_back(spec.control);
  exact.push_back(std::max(0.0, kMillion - treated));
  const std::vector<uint32_t> shares = Apportion(exact);
  for (size_t i = 0; i < arms.size(); ++i)
    if (shares[i] > 0) r.weights[CommitOf(state, arms[i])] += shares[i];

  v1::FlightRoute& f = r.flight.emplace();
  f.set_name(spec.name);
  f.set_id(state.id);
  f.set_control(CommitOf(state, spec.control));
  for (const auto& [arm, _] : spec.arms) (*f.mutable_arms())[arm] = CommitOf(state, arm);
  for (const auto& c : spec.filter.channels) f.mutable_filter()->add_channels(c);
  for (const auto& o : spec.filter.oses) f.mutable_filter()->add_oses(o);
  for (const auto& l : spec.filter.locales) f.mutable_filter()->add_locales(l);
  for (const auto& [name, value] : spec.filter.headers) (*f.mutable_filter()->mutable_headers())[name] = value;
  f.set_range_key(spec.range_key);
  f.set_range_ge(static_cast<uint32_t>(std::llround(spec.range_ge * kMillion)));
  f.set_range_lt(static_cast<uint32_t>(std::llround(spec.range_lt * kMillion)));
  f.set_end_by_unix_ms(spec.end_by_unix_ms);
  return r;
}

std::string StepPosition(const FlightState& state) {
  if ((state.status != FlightStatus::kRunning && state.status != FlightStatus::kPromoted) ||
      state.group >= state.runs.size())
    return "";
  return std::to_string(state.group + 1);
}

std::string StepText(const FlightSpec& spec, const FlightState& state, int64_t now_unix_ms) {
  if (!PlanActive(spec, state)) return "";
  const auto& steps = spec.plan[state.group];
  const auto& runs = state.runs[state.group];
  const bool any_running =
      std::any_of(runs.begin(), runs.end(), [](const StepRun& r) { return r.phase == Phase::kRunning; });
  std::vector<std::string> texts;
  for (size_t i = 0; i < steps.size() && i < runs.size(); ++i) {
    if (any_running && runs[i].phase != Phase::kRunning) continue;
    const PlanStep& s = steps[i];
    if (s.action == PlanStep::Action::kWait && runs[i].phase == Phase::kRunning) {
      texts.push_back(fmt::format("{} ({} left)", s.Describe(),
                                  FormatDurationMs(std::max<int64_t>(0, runs[i].deadline_unix_ms - now_unix_ms))));
    } else if (s.action == PlanStep::Action::kGate) {
      texts.push_back(fmt::format("gate {} {}{} (look {})", s.gate.metric,
                                  s.gate.event.empty() ? "" : s.gate.event + " ", s.arm, runs[i].attempts));
    } else {
      texts.push_back(s.Describe());
    }
  }
  if (steps.size() == 1) return texts.empty() ? "" : texts[0];
  return fmt::format("{}: {}", state.group + 1, fmt::join(texts, " + "));
}

json FlightStateToJson(const FlightState& s) {
  json runs = json::array();
  for (const auto& group : s.runs) {
    json g = json::array();
    for (const StepRun& r : group) g.push_back(RunToJson(r));
    runs.push_back(std::move(g));
  }
  return {{"id", s.id},
          {"status", FlightStatusName(s.status)},
          {"end_status", s.end_status ? FlightStatusName(*s.end_status) : std::string()},
          {"reason", s.reason},
          {"commits", s.commits},
          {"weights", s.weights},
          {"group", s.group},
          {"runs", std::move(runs)},
          {"deployed", s.deployed},
          {"stopping", s.stopping},
          {"started_unix_ms", s.started_unix_ms},
          {"ended_unix_ms", s.ended_unix_ms},
          {"route_version", s.route_version},
          {"route_written", s.route_written},
          {"route_outstanding", s.route_outstanding},
          {"promoted_arm", s.promoted_arm},
          {"retire_at_unix_ms", s.retire_at_unix_ms},
          {"retired", s.retired}};
}

Result<FlightState> FlightStateFromJson(const json& doc) {
  if (!doc.is_object()) return Status::InvalidArgument("flight state: must be a JSON object");
  Problems problems;
  Reader rd(problems);
  FlightState s;
  if (!doc.contains("id") || !doc.contains("status")) problems.Add("id, status: required");
  rd.Str(doc, "id", "", s.id);
  std::string status, end_status;
  rd.Str(doc, "status", "", status);
  if (auto parsed = ParseFlightStatus(status))
    s.status = *parsed;
  else
    problems.Add(fmt::format("status: \"{}\" is not a flight status", status));
  rd.Str(doc, "end_status", "", end_status);
  if (!end_status.empty()) {
    s.end_status = ParseFlightStatus(end_status);
    if (!s.end_status) problems.Add(fmt::format("end_status: \"{}\" is not a flight status", end_status));
  }
  rd.Str(doc, "reason", "", s.reason);
  if (auto c = rd.Get(doc, "commits", "", &json::is_object, "an object"))
    for (const auto& [arm, commit] : c->items()) {
      if (commit.is_string())
        s.commits[arm] = commit.get<std::string>();
      else
        problems.Add(fmt::format("commits.{}: must be a string", arm));
    }
  if (auto w = rd.Get(doc, "weights", "", &json::is_object, "an object"))
    for (const auto& [arm, pct] : w->items()) {
      if (pct.is_number())
        s.weights[arm] = pct.get<double>();
      else
        problems.Add(fmt::format("weights.{}: must be a number", arm));
    }
  rd.Unsigned(doc, "group", "", s.group);
  if (auto runs = rd.Get(doc, "runs", "", &json::is_array, "a list of lists"))
    for (size_t g = 0; g < runs->size(); ++g) {
      const json& group = (*runs)[g];
      const std::string path = fmt::format("runs[{}]", g);
      s.runs.emplace_back();
      if (!group.is_array()) {
        problems.Add(path + ": must be a list");
        continue;
      }
      for (size_t i = 0; i < group.size(); ++i)
        s.runs.back().push_back(RunFromJson(group[i], fmt::format("{}[{}]", path, i), rd));
    }
  rd.Set(doc, "deployed", s.deployed);
  rd.Set(doc, "stopping", s.stopping);
  rd.Int(doc, "started_unix_ms", "", s.started_unix_ms);
  rd.Int(doc, "ended_unix_ms", "", s.ended_unix_ms);
  rd.Unsigned(doc, "route_version", "", s.route_version);
  rd.Unsigned(doc, "route_written", "", s.route_written);
  rd.Bool(doc, "route_outstanding", "", s.route_outstanding);
  rd.Str(doc, "promoted_arm", "", s.promoted_arm);
  rd.Int(doc, "retire_at_unix_ms", "", s.retire_at_unix_ms);
  rd.Bool(doc, "retired", "", s.retired);
  if (!problems.empty()) return problems.ToStatus("flight state: ");
  return s;
}

}  // namespace skyport::hub
