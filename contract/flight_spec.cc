#include "contract/flight_spec.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <functional>

#include <fmt/format.h>

#include "core/json_fields.h"
#include "core/names.h"
#include "core/problems.h"
#include "core/timefmt.h"

namespace skyport::hub {
namespace {

using nlohmann::json;

constexpr const char* kTemplateVars[] = {"name", "app",    "id",      "step",    "status",
                                         "arm",  "commit", "control", "weights", "time"};

std::string Field(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : fmt::format("{}.{}", path, key);
}
std::string Index(const std::string& path, size_t i) { return fmt::format("{}[{}]", path, i); }

bool Alnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

bool ValidCommitish(const std::string& s) {
  if (s.empty() || s.size() > 255 || s.find("..") != std::string::npos) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return Alnum(c) || c == '.' || c == '_' || c == '/' || c == '-'; });
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Shortest form of a number for messages: 5, 33.3333, 0.01.
std::string Num(double x) { return fmt::format("{}", x); }

// Reads the template's {{var}} names; reports unknown ones and unclosed braces.
void CheckTemplate(const std::string& tpl, const std::string& path, Problems& p) {
  size_t pos = 0;
  while ((pos = tpl.find("{{", pos)) != std::string::npos) {
    const size_t end = tpl.find("}}", pos + 2);
    if (end == std::string::npos) {
      p.Add(path, "unclosed {{");
      return;
    }
    const std::string var = tpl.substr(pos + 2, end - pos - 2);
    if (std::find(std::begin(kTemplateVars), std::end(kTemplateVars), var) == std::end(kTemplateVars))
      p.Add(path, fmt::format("unknown template variable {{{{{}}}}} (known: {})", var,
                              fmt::join(std::begin(kTemplateVars), std::end(kTemplateVars), ", ")));
    pos = end + 2;
  }
}

// Field readers: each reports its own type problem and returns whether `out` was set.
bool GetString(const json& obj, const char* key, const std::string& path, std::string& out, Problems& p) {
  if (!obj.contains(key)) return false;
  if (!obj[key].is_string()) {
    p.Add(Field(path, key), "must be a string");
    return false;
  }
  out = obj[key].get<std::string>();
  return true;
}

bool GetNumber(const json& obj, const char* key, const std::string& path, double& out, Problems& p) {
  if (!obj.contains(key)) return false;
  if (!obj[key].is_number() || !std::isfinite(obj[key].get<double>())) {
    p.Add(Field(path, key), "must be a finite number");
    return false;
  }
  out = obj[key].get<double>();
  return true;
}

bool GetDuration(const json& obj, const char* key, const std::string& path, int64_t& out, Problems& p) {
  std::string text;
  if (!GetString(obj, key, path, text, p)) return false;
  auto d = ParseDurationMs(text);
  if (!d.ok()) {
    p.Add(Field(path, key), d.status().message());
    return false;
  }
  out = *d;
  return true;
}

class SpecParser {
 public:
  SpecParser(const json& doc, FlightSpec& spec, Problems& p) : doc_(doc), spec_(spec), p_(p) {}

  void Run() {
    CheckKnownFields(doc_, "",
               {"name", "app", "description", "author", "infourl", "version", "arms", "control", "filter",
                "randomDeploy", "endBy", "kill", "flightplan"},
               p_);
    Names();
    Arms();
    Filter();
    RandomDeploy();
    if (std::string end; GetString(doc_, "endBy", "", end, p_)) {
      auto t = ParseRfc3339Ms(end);
      if (t.ok())
        spec_.end_by_unix_ms = *t;
      else
        p_.Add("endBy", t.status().message());
    }
    if (doc_.contains("kill")) {
      if (doc_["kill"].is_boolean())
        spec_.kill = doc_["kill"].get<bool>();
      else
        p_.Add("kill", "must be true or false");
    }
    Plan();
    WeightSums();
  }

 private:
  void Names() {
    for (auto [key, out] : {std::pair{"name", &spec_.name}, std::pair{"app", &spec_.app}}) {
      if (!doc_.contains(key))
        p_.Add(key, "required");
      else if (GetString(doc_, key, "", *out, p_))
        p_.Add(ValidateName(key, *out));
    }
    GetString(doc_, "description", "", spec_.description, p_);
    GetString(doc_, "author", "", spec_.author, p_);
    if (GetString(doc_, "infourl", "", spec_.infourl, p_) && !spec_.infourl.empty() &&
        spec_.infourl.rfind("http://", 0) != 0 && spec_.infourl.rfind("https://", 0) != 0)
      p_.Add("infourl", fmt::format("\"{}\" is not an http(s) URL", spec_.infourl));
    if (doc_.contains("version")) {
      const json& v = doc_["version"];
      const bool in_range = v.is_number_unsigned() ? v.get<uint64_t>() >= 1 && v.get<uint64_t>() <= uint64_t(INT64_MAX)
                                                   : v.is_number_integer() && v.get<int64_t>() >= 1;
      if (!in_range)
        p_.Add("version", "must be an integer >= 1");
      else
        spec_.version = v.get<int64_t>();
    }
  }

  void Arms() {
    if (!doc_.contains("arms")) {
      p_.Add("arms", "required: at least a control and a treatment");
    } else if (!doc_["arms"].is_object()) {
      p_.Add("arms", "must be an object of arm name -> commit or branch");
    } else {
      arms_ok_ = true;
      for (const auto& [name, commitish] : doc_["arms"].items()) {
        const std::string path = "arms." + name;
        if (!IsArmName(name)) {
          p_.Add(path, "arm name must match [a-z0-9][a-z0-9_-]{0,31}");
          arms_ok_ = false;
        } else if (!commitish.is_string() || !ValidCommitish(commitish.get<std::string>())) {
          p_.Add(path, "must be a commit or branch name ([A-Za-z0-9._/-]{1,255}, no \"..\")");
        }
        spec_.arms[name] = commitish.is_string() ? commitish.get<std::string>() : "";
      }
      if (doc_["arms"].size() < 2) p_.Add("arms", "needs at least 2 arms (a control and a treatment)");
    }
    if (!doc_.contains("control")) {
      p_.Add("control", "required: the name of the control arm");
      arms_ok_ = false;
    } else if (GetString(doc_, "control", "", spec_.control, p_)) {
      if (arms_ok_ && !spec_.arms.count(spec_.control)) {
        p_.Add("control", fmt::format("\"{}\" is not an arm", spec_.control));
        arms_ok_ = false;
      }
    } else {
      arms_ok_ = false;
    }
  }

  void StringList(const json& obj, const char* key, std::vector<std::string>& out,
                  const std::function<std::string(const std::string&)>& check) {
    if (!obj.contains(key)) return;
    const std::string path = Field("filter", key);
    if (!obj[key].is_array()) return p_.Add(path, "must be a list of strings");
    for (size_t i = 0; i < obj[key].size(); ++i) {
      const json& v = obj[key][i];
      if (!v.is_string()) {
        p_.Add(Index(path, i), "must be a string");
        continue;
      }
      const std::string problem = check(v.get<std::string>());
      if (problem.empty())
        out.push_back(v.get<std::string>());
      else
        p_.Add(Index(path, i), problem);
    }
  }

  void Filter() {
    if (!doc_.contains("filter")) return;
    const json& f = doc_["filter"];
    if (!f.is_object()) return p_.Add("filter", "must be an object");
    CheckKnownFields(f, "filter", {"channels", "oses", "locales", "headers"}, p_);
    FlightFilterSpec& out = spec_.filter;
    StringList(f, "channels", out.channels,
               [](const std::string& s) { return s.empty() || s.size() > 64 ? "must be 1 to 64 characters" : ""; });
    StringList(f, "oses", out.oses, [](const std::string& s) -> std::string {
      return IsOsName(s) ? "" : fmt::format("\"{}\" is not android, ios, chromeos, windows, mac or linux", s);
    });
    StringList(f, "locales", out.locales, [](const std::string& s) -> std::string {
      return IsLanguageTag(s) ? "" : fmt::format("\"{}\" is not a language tag like en or en-US", s);
    });
    if (!f.contains("headers")) return;
    if (!f["headers"].is_object()) return p_.Add("filter.headers", "must be an object of header name -> value");
    for (const auto& [name, value] : f["headers"].items()) {
      const std::string path = "filter.headers." + name;
      if (!IsHttpToken(name))
        p_.Add(path, "not an HTTP header name");
      else if (!value.is_string())
        p_.Add(path, "must be a string");
      else if (!out.headers.emplace(Lower(name), value.get<std::string>()).second)
        p_.Add(path, "named twice (header names are case-insensitive)");
    }
  }

  void RandomDeploy() {
    if (!doc_.contains("randomDeploy")) return;
    const json& r = doc_["randomDeploy"];
    if (!r.is_object()) return p_.Add("randomDeploy", "must be an object");
    CheckKnownFields(r, "randomDeploy", {"keyname", "ge", "lt"}, p_);
    if (GetString(r, "keyname", "randomDeploy", spec_.range_key, p_) && !IsRangeKey(spec_.range_key))
      p_.Add("randomDeploy.keyname", fmt::format("\"{}\" must match [A-Za-z0-9_-]{{1,64}}", spec_.range_key));
    const bool ge = GetNumber(r, "ge", "randomDeploy", spec_.range_ge, p_);
    const bool lt = GetNumber(r, "lt", "randomDeploy", spec_.range_lt, p_);
    const bool ge_ok = !ge || (spec_.range_ge >= 0 && spec_.range_ge < 1);
    const bool lt_ok = !lt || (spec_.range_lt > 0 && spec_.range_lt <= 1);
    if (!ge_ok) p_.Add("randomDeploy.ge", fmt::format("{} is not in [0, 1)", Num(spec_.range_ge)));
    if (!lt_ok) p_.Add("randomDeploy.lt", fmt::format("{} is not in (0, 1]", Num(spec_.range_lt)));
    if (ge_ok && lt_ok && spec_.range_ge >= spec_.range_lt)
      p_.Add("randomDeploy.lt", fmt::format("{} must be above ge ({})", Num(spec_.range_lt), Num(spec_.range_ge)));
  }

  void Plan() {
    if (!doc_.contains("flightplan")) return;
    const json& plan = doc_["flightplan"];
    if (!plan.is_array()) return p_.Add("flightplan", "must be a list of steps and [parallel groups]");
    for (size_t g = 0; g < plan.size(); ++g) {
      const std::string path = Index("flightplan", g);
      std::vector<PlanStep> group;
      if (!plan[g].is_array()) {
        group.push_back(Step(plan[g], path));
      } else if (plan[g].empty()) {
        p_.Add(path, "an empty parallel group");
      } else {
        for (size_t i = 0; i < plan[g].size(); ++i) {
          if (plan[g][i].is_array())
            p_.Add(Index(path, i), "parallel groups do not nest");
          else
            group.push_back(Step(plan[g][i], Index(path, i)));
        }
      }
      spec_.plan.push_back(std::move(group));
      paths_.emplace_back();
      for (size_t i = 0; i < spec_.plan.back().size(); ++i)
        paths_.back().push_back(plan[g].is_array() ? Index(path, i) : path);
    }
  }

  PlanStep Step(const json& j, const std::string& path);
  void StepArm(const json& j, const std::string& path, PlanStep& s, bool defaulted);
  void Weight(const json& j, const std::string& path, PlanStep& s);
  void Ping(const json& j, const std::string& path, PlanStep& s);
  void Gate(const json& j, const std::string& path, PlanStep& s);

  // Runs the weight steps in plan order: treatments never above 100% together.
  void WeightSums() {
    std::map<std::string, double> current;
    for (size_t g = 0; g < spec_.plan.size(); ++g) {
      std::map<std::string, std::string> set_by;  // arm -> path of the group's step setting it
      for (size_t i = 0; i < spec_.plan[g].size(); ++i) {
        const PlanStep& s = spec_.plan[g][i];
        if (s.action != PlanStep::Action::kWeight) continue;
        const std::string& path = paths_[g][i];
        for (const auto& [arm, w] : s.weights) {
          if (auto [it, fresh] = set_by.emplace(arm, path); !fresh)
            p_.Add(fmt::format("{}.arms.{}", path, arm), fmt::format("also set by {} in the same group", it->second));
          current[arm] = w;
        }
        double sum = 0;
        for (const auto& [_, w] : current) sum += w;
        if (sum > 100 + 1e-9) p_.Add(path + ".arms", fmt::format("treatments sum to {}% > 100%", Num(sum)));
      }
    }
  }

  const json& doc_;
  FlightSpec& spec_;
  Problems& p_;
  bool arms_ok_ = false;                         // arm names can be checked against spec_.arms
  std::vector<std::vector<std::string>> paths_;  // the shape of spec_.plan
};

PlanStep SpecParser::Step(const json& j, const std::string& path) {
  PlanStep s;
  s.raw = j;
  if (!j.is_object()) {
    p_.Add(path, "must be a step object or a [parallel group]");
    return s;
  }
  std::string action;
  if (!j.contains("action")) {
    p_.Add(path + ".action", "required (deploy, weight, wait, ping, gate, promote or log)");
    return s;
  }
  if (!GetString(j, "action", path, action, p_)) return s;
  using A = PlanStep::Action;
  if (action == "deploy") {
    s.action = A::kDeploy;
    CheckKnownFields(j, path, {"action", "arm", "instances"}, p_);
    StepArm(j, path, s, false);
    if (j.contains("instances")) {
      const json& n = j["instances"];
      if (n.is_number_integer() && n.get<int64_t>() >= 1 && n.get<int64_t>() <= kMaxDeployInstances)
        s.instances = n.get<uint32_t>();
      else
        p_.Add(path + ".instances", fmt::format("must be an integer from 1 to {}", kMaxDeployInstances));
    }
  } else if (action == "weight") {
    s.action = A::kWeight;
    CheckKnownFields(j, path, {"action", "arms"}, p_);
    Weight(j, path, s);
  } else if (action == "wait") {
    s.action = A::kWait;
    CheckKnownFields(j, path, {"action", "for", "until"}, p_);
    if (j.contains("for") == j.contains("until")) p_.Add(path, "wait needs exactly one of \"for\" and \"until\"");
    if (GetDuration(j, "for", path, s.wait_ms, p_) && s.wait_ms <= 0) p_.Add(path + ".for", "must be > 0");
    if (std::string until; GetString(j, "until", path, until, p_)) {
      auto t = ParseRfc3339Ms(until);
      if (t.ok())
        s.until_unix_ms = *t;
      else
        p_.Add(path + ".until", t.status().message());
    }
  } else if (action == "ping") {
    s.action = A::kPing;
    CheckKnownFields(j, path, {"action", "url", "method", "body"}, p_);
    Ping(j, path, s);
  } else if (action == "gate") {
    s.action = A::kGate;
    Gate(j, path, s);
  } else if (action == "promote") {
    s.action = A::kPromote;
    CheckKnownFields(j, path, {"action", "arm", "grace"}, p_);
    StepArm(j, path, s, true);
    GetDuration(j, "grace", path, s.grace_ms, p_);
  } else if (action == "log") {
    s.action = A::kLog;
    CheckKnownFields(j, path, {"action", "message"}, p_);
    if (!j.contains("message"))
      p_.Add(path + ".message", "required");
    else if (GetString(j, "message", path, s.message, p_) && s.message.empty())
      p_.Add(path + ".message", "is empty");
  } else {
    p_.Add(path + ".action", fmt::format("\"{}\" is not deploy, weight, wait, ping, gate, promote or log", action));
  }
  return s;
}

// The step's "arm": an arm of the flight; `defaulted` steps may leave it out
// when the flight has a single treatment.
void SpecParser::StepArm(const json& j, const std::string& path, PlanStep& s, bool defaulted) {
  if (!j.contains("arm")) {
    if (!defaulted) return p_.Add(path + ".arm", "required");
    if (!arms_ok_) return;
    const auto treatments = spec_.Treatments();
    if (treatments.size() == 1)
      s.arm = treatments[0];
    else
      p_.Add(path + ".arm", "required: the flight has several treatments");
    return;
  }
  if (GetString(j, "arm", path, s.arm, p_) && arms_ok_ && !spec_.arms.count(s.arm))
    p_.Add(path + ".arm", fmt::format("\"{}\" is not an arm of the flight", s.arm));
}

void SpecParser::Weight(const json& j, const std::string& path, PlanStep& s) {
  if (!j.contains("arms")) return p_.Add(path + ".arms", "required: treatment arm -> percent");
  if (!j["arms"].is_object() || j["arms"].empty())
    return p_.Add(path + ".arms", "must be a non-empty object of treatment arm -> percent");
  for (const auto& [arm, w] : j["arms"].items()) {
    const std::string apath = path + ".arms." + arm;
    bool ok = true;
    if (arms_ok_ && !spec_.arms.count(arm)) {
      p_.Add(apath, "not an arm of the flight");
      ok = false;
    } else if (arms_ok_ && arm == spec_.control) {
      p_.Add(apath, "the control cannot be weighted: it gets what the treatments leave");
      ok = false;
    }
    if (!w.is_number() || !std::isfinite(w.get<double>()) || w.get<double>() < 0 || w.get<double>() > 100) {
      p_.Add(apath, "must be a percentage from 0 to 100");
      ok = false;
    }
    if (ok) s.weights[arm] = w.get<double>();
  }
}

void SpecParser::Ping(const json& j, const std::string& path, PlanStep& s) {
  if (!j.contains("url")) {
    p_.Add(path + ".url", "required");
  } else if (GetString(j, "url", path, s.url, p_)) {
    if (s.url.rfind("https://", 0) == 0)
      p_.Add(path + ".url", "https is not supported (use http://)");
    else if (s.url.rfind("http://", 0) != 0 || s.url.size() <= 7)
      p_.Add(path + ".url", fmt::format("\"{}\" is not an http:// URL", s.url));
    else if (std::any_of(s.url.begin(), s.url.end(),
                         [](char c) { return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f; }))
      p_.Add(path + ".url", "must not contain spaces or control characters (percent-encode them)");
    else
      CheckTemplate(s.url, path + ".url", p_);
  }
  if (GetString(j, "method", path, s.method, p_) && s.method != "GET" && s.method != "POST")
    p_.Add(path + ".method", fmt::format("\"{}\" is not GET or POST", s.method));
  if (GetString(j, "body", path, s.body, p_)) {
    if (s.method != "POST")
      p_.Add(path + ".body", "only for POST");
    else
      CheckTemplate(s.body, path + ".body", p_);
  }
}

void SpecParser::Gate(const json& j, const std::string& path, PlanStep& s) {
  json fields = j;
  fields.erase("timeout");
  if (auto g = ParseGateSpec(fields, path); g.ok())
    s.gate = *g;
  else
    p_.Add(g.status());
  if (j.contains("timeout") && GetDuration(j, "timeout", path, s.timeout_ms, p_) && s.timeout_ms <= 0)
    p_.Add(path + ".timeout", "must be > 0");
  // In a flight "arm" and "control" are arm names (ParseGateSpec reported their types).
  if (!j.contains("arm") || j["arm"].is_string()) StepArm(j, path, s, true);
  s.gate.arm = s.arm;
  s.gate.control = spec_.control;
  if (j.contains("control") && j["control"].is_string()) {
    s.gate.control = j["control"].get<std::string>();
    if (arms_ok_ && !spec_.arms.count(s.gate.control))
      p_.Add(path + ".control", fmt::format("\"{}\" is not an arm of the flight", s.gate.control));
  }
  if (arms_ok_ && !s.arm.empty() && s.arm == s.gate.control)
    p_.Add(path + ".arm", fmt::format("\"{}\" is the gate's control: nothing to compare", s.arm));
}

}  // namespace

const char* ActionName(PlanStep::Action a) {
  switch (a) {
    case PlanStep::Action::kDeploy:
      return "deploy";
    case PlanStep::Action::kWeight:
      return "weight";
    case PlanStep::Action::kWait:
      return "wait";
    case PlanStep::Action::kPing:
      return "ping";
    case PlanStep::Action::kGate:
      return "gate";
    case PlanStep::Action::kPromote:
      return "promote";
    case PlanStep::Action::kLog:
      break;
  }
  return "log";
}

std::string PlanStep::Describe() const {
  switch (action) {
    case Action::kDeploy:
      return instances > 1 ? fmt::format("deploy {} x{}", arm, instances) : "deploy " + arm;
    case Action::kWeight: {
      std::vector<std::string> parts;
      for (const auto& [a, w] : weights) parts.push_back(fmt::format("{}={}%", a, Num(w)));
      return fmt::format("weight {}", fmt::join(parts, ", "));
    }
    case Action::kWait:
      return wait_ms > 0 ? "wait " + FormatDurationMs(wait_ms) : "wait until " + FormatRfc3339(until_unix_ms);
    case Action::kPing:
      return fmt::format("ping {} {}", method, url);
    case Action::kGate: {
      std::string out;
      if (gate.metric == "error_rate" || gate.metric == "latency_p99")
        out = fmt::format("gate {} {} (max_increase {}", gate.metric, arm, Num(gate.max_increase));
      else
        out = fmt::format("gate {} {} {} ({}, alpha {}", gate.metric, gate.event, arm, gate.test, Num(gate.alpha));
      if (timeout_ms > 0) out += ", timeout " + FormatDurationMs(timeout_ms);
      return out + ")";
    }
    case Action::kPromote:
      return "promote " + arm;
    case Action::kLog:
      break;
  }
  return "log " + message;
}

std::vector<std::string> FlightSpec::Treatments() const {
  std::vector<std::string> out;
  for (const auto& [name, _] : arms)
    if (name != control) out.push_back(name);
  return out;
}

Result<FlightSpec> ParseFlightSpec(const json& doc) {
  if (!doc.is_object()) return Status::InvalidArgument("spec: must be a JSON object");
  FlightSpec spec;
  spec.raw = doc;
  Problems problems;
  SpecParser(doc, spec, problems).Run();
  if (Status s = problems.ToStatus(); !s.ok()) return s;
  return spec;
}

bool JsonDepthWithin(std::string_view text, int max_depth) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    else if ((c == '[' || c == '{') && ++depth > max_depth) return false;
    else if (c == ']' || c == '}') --depth;
  }
  return true;
}

Result<FlightSpec> ParseFlightSpecText(std::string_view json_text) {
  // Copying and printing JSON recurse: refuse absurd nesting before either.
  if (!JsonDepthWithin(json_text, kMaxSpecDepth))
    return Status::InvalidArgument(fmt::format("spec: nested deeper than {} levels", kMaxSpecDepth));
  json doc;
  try {
    doc = json::parse(json_text);
  } catch (const json::exception& e) {
    return Status::InvalidArgument(ClipEcho(fmt::format("spec: not valid JSON: {}", e.what())));  // quotes input
  }
  return ParseFlightSpec(doc);
}

std::string RenderTemplate(std::string_view tpl, const std::map<std::string, std::string>& vars, bool url_encode) {
  auto encode = [&](const std::string& v) {
    if (!url_encode) return v;
    std::string out;
    for (unsigned char c : v) {
      if (Alnum(static_cast<char>(c)) || c == '-' || c == '.' || c == '_' || c == '~')
        out += static_cast<char>(c);
      else
        out += fmt::format("%{:02X}", c);
    }
    return out;
  };
  std::string out;
  size_t pos = 0;
  while (pos < tpl.size()) {
    const size_t open = tpl.find("{{", pos);
    const size_t close = open == std::string_view::npos ? open : tpl.find("}}", open + 2);
    if (close == std::string_view::npos) break;
    out.append(tpl.substr(pos, open - pos));
    auto it = vars.find(std::string(tpl.substr(open + 2, close - open - 2)));
    if (it != vars.end()) out += encode(it->second);
    pos = close + 2;
  }
  out.append(tpl.substr(std::min(pos, tpl.size())));
  return out;
}

}  // namespace skyport::hub
