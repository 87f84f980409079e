#include "hub/console/console_request.h"

#include <cctype>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/http_admin.h"
#include "core/names.h"
#include "core/token.h"

namespace skyport::hub::console {
namespace {

using Kind = Route::Kind;

std::vector<std::string_view> Segments(std::string_view path) {
  std::vector<std::string_view> out;
  while (!path.empty()) {
    if (path.front() == '/') {
      path.remove_prefix(1);
      continue;
    }
    size_t slash = path.find('/');
    out.push_back(path.substr(0, slash));
    path = slash == std::string_view::npos ? std::string_view() : path.substr(slash);
  }
  return out;
}

Route Make(Kind kind, const char* method) {
  Route r;
  r.kind = kind;
  r.method = method;
  return r;
}

Route BadName(std::string error) {
  Route r;
  r.kind = Kind::kBadName;
  r.error = std::move(error);
  return r;
}

Route NotFound(std::string_view path) {
  Route r;
  r.kind = Kind::kNotFound;
  r.error = fmt::format("no such API route: {}", path.substr(0, 200));
  return r;
}

std::string Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return std::string(s);
}

bool StartsWithNoCase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(s[i])) != std::tolower(static_cast<unsigned char>(prefix[i])))
      return false;
  return true;
}

Result<nlohmann::json> ParseObject(std::string_view body, bool empty_is_object) {
  if (body.empty() && empty_is_object) return nlohmann::json::object();
  auto doc = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return Status::InvalidArgument("body: not valid JSON");
  if (!doc.is_object()) return Status::InvalidArgument("body: must be a JSON object");
  return doc;
}

Route ApiRoute(std::string_view path, const std::vector<std::string_view>& seg) {
  // seg[0] == "api"
  const size_t n = seg.size();
  if (n == 2) {
    if (seg[1] == "login") return Make(Kind::kLogin, "POST");
    if (seg[1] == "logout") return Make(Kind::kLogout, "POST");
    if (seg[1] == "session") return Make(Kind::kSession, "GET");
    if (seg[1] == "overview") return Make(Kind::kOverview, "GET");
    if (seg[1] == "flights") return Make(Kind::kFlights, "GET");  // POST: kFlightStart, by the caller
    if (seg[1] == "registry") return Make(Kind::kRegistry, "GET");
    if (seg[1] == "drones") return Make(Kind::kDrones, "GET");
    if (seg[1] == "events") return Make(Kind::kEvents, "GET");
    return NotFound(path);
  }
  if (n >= 3 && n <= 5 && seg[1] == "apps") {
    std::string app(seg[2]);
    if (Status s = ValidateName("app", app); !s.ok()) return BadName(s.message());
    Route r;
    if (n == 3) r = Make(Kind::kApp, "GET");
    else if (n == 4 && seg[3] == "stats") r = Make(Kind::kAppStats, "GET");
    else if (n == 4 && seg[3] == "split") r = Make(Kind::kSplit, "POST");
    else if (n == 5 && seg[3] == "split" && seg[4] == "preview") r = Make(Kind::kSplitPreview, "POST");
    else if (n == 4 && seg[3] == "rollback") r = Make(Kind::kRollback, "POST");
    else return NotFound(path);
    r.app = std::move(app);
    return r;
  }
  if ((n == 3 || n == 4) && seg[1] == "flights") {
    std::string name(seg[2]);
    if (Status s = ValidateName("flight", name); !s.ok()) return BadName(s.message());
    Route r;
    if (n == 3) r = Make(Kind::kFlight, "GET");
    else if (seg[3] == "kill") r = Make(Kind::kFlightKill, "POST");
    else return NotFound(path);
    r.name = std::move(name);
    return r;
  }
  return NotFound(path);
}

}  // namespace

Route ParseRoute(std::string_view target) {
  size_t q = target.find('?');
  std::string_view path = target.substr(0, q);
  std::string_view query = q == std::string_view::npos ? std::string_view() : target.substr(q + 1);
  if (size_t hash = query.find('#'); hash != std::string_view::npos) query = query.substr(0, hash);
  auto parsed_query = ParseQuery(query);
  if (!parsed_query.ok()) return BadName("query: " + parsed_query.status().message());
  auto seg = Segments(path);
  Route r;
  if (!seg.empty() && seg[0] == "api") {
    r = ApiRoute(path, seg);
  } else if (!seg.empty() && seg[0] == "assets") {
    // Only names of the embedded files: no "." or ".." segments, no escapes.
    std::string file;
    bool ok = seg.size() >= 2;
    for (size_t i = 1; i < seg.size() && ok; ++i) {
      if (seg[i] == "." || seg[i] == ".." || seg[i].find('%') != std::string_view::npos) ok = false;
      if (!file.empty()) file += '/';
      file += seg[i];
    }
    if (ok) {
      r = Make(Kind::kAsset, "GET");
      r.name = std::move(file);
    } else {
      r = NotFound(path);
    }
  } else {
    r = Make(Kind::kPage, "GET");
  }
  r.query = std::move(*parsed_query);
  return r;
}

std::optional<std::string> CookieValue(std::string_view header, std::string_view name) {
  while (!header.empty()) {
    size_t semi = header.find(';');
    std::string_view pair = header.substr(0, semi);
    header = semi == std::string_view::npos ? std::string_view() : header.substr(semi + 1);
    size_t eq = pair.find('=');
    if (eq == std::string_view::npos) continue;
    if (Trim(pair.substr(0, eq)) != name) continue;
    std::string value = Trim(pair.substr(eq + 1));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
    return value;
  }
  return std::nullopt;
}

std::vector<std::string> CookieValues(std::string_view header, std::string_view name) {
  std::vector<std::string> out;
  while (!header.empty()) {
    size_t semi = header.find(';');
    auto value = CookieValue(header.substr(0, semi), name);
    if (value) out.push_back(std::move(*value));
    header = semi == std::string_view::npos ? std::string_view() : header.substr(semi + 1);
  }
  return out;
}

std::optional<std::string> BearerToken(std::string_view authorization) {
  if (!StartsWithNoCase(authorization, "Bearer ")) return std::nullopt;
  std::string token = Trim(authorization.substr(7));
  if (token.empty()) return std::nullopt;
  return token;
}

Result<std::string> LoginToken(std::string_view content_type, std::string_view body) {
  const bool json = StartsWithNoCase(Trim(content_type), "application/json") ||
                    (!body.empty() && body.front() == '{');
  if (json) {
    auto doc = ParseObject(body, false);
    if (!doc.ok()) return doc.status();
    auto it = doc->find("token");
    if (it == doc->end() || !it->is_string() || it->get_ref<const std::string&>().empty())
      return Status::InvalidArgument("login: the body needs {\"token\": \"...\"}");
    return it->get<std::string>();
  }
  auto form = ParseQuery(body);
  if (!form.ok()) return Status::InvalidArgument("login: " + form.status().message());
  auto it = form->find("token");
  if (it == form->end() || it->second.empty()) return Status::InvalidArgument("login: the form needs token=...");
  return it->second;
}

CsrfVerdict CheckCsrf(std::optional<std::string_view> header_token, std::string_view session_csrf,
                      std::optional<std::string_view> origin, std::string_view host) {
  if (origin) {
    const std::string o = Trim(*origin);
    if (host.empty() || (o != fmt::format("http://{}", host) && o != fmt::format("https://{}", host)))
      return CsrfVerdict::kForeignOrigin;
  }
  if (!header_token || header_token->empty()) return CsrfVerdict::kMissingToken;
  if (session_csrf.empty() || !ConstantTimeEquals(*header_token, session_csrf)) return CsrfVerdict::kWrongToken;
  return CsrfVerdict::kOk;
}

const char* CsrfVerdictText(CsrfVerdict v) {
  switch (v) {
    case CsrfVerdict::kOk: return "ok";
    case CsrfVerdict::kMissingToken: return "missing X-CSRF-Token header (GET /api/session gives it)";
    case CsrfVerdict::kWrongToken: return "wrong X-CSRF-Token for this session";
    case CsrfVerdict::kForeignOrigin: return "cross-origin request refused (Origin is not this console)";
  }
  return "?";
}

Result<std::vector<std::string>> SplitBodyArgs(std::string_view body) {
  auto doc = ParseObject(body, false);
  if (!doc.ok()) return doc.status();
  auto it = doc->find("weights");
  if (it == doc->end() || !it->is_object() || it->empty())
    return Status::InvalidArgument("split: the body needs {\"weights\": {\"COMMIT\": WEIGHT, ...}}");
  if (it->size() > 64) return Status::InvalidArgument("split: at most 64 commits");
  std::vector<std::string> args;
  for (const auto& [commit, weight] : it->items()) {
    if (!weight.is_number_unsigned() && !(weight.is_number_integer() && weight.get<int64_t>() >= 0))
      return Status::InvalidArgument(fmt::format("split: weights.{}: must be a whole number 0..1000000",
                                                 commit.substr(0, 64)));
    args.push_back(fmt::format("{}={}", commit, weight.get<uint64_t>()));
  }
  return args;
}

Result<std::string> RollbackBodyRelease(std::string_view body) {
  auto doc = ParseObject(body, true);
  if (!doc.ok()) return doc.status();
  auto it = doc->find("release");
  if (it == doc->end() || it->is_null()) return std::string();
  if (!it->is_string()) return Status::InvalidArgument("rollback: release must be \"vN\" or null");
  return it->get<std::string>();
}

Result<std::string> KillBodyReason(std::string_view body) {
  auto doc = ParseObject(body, true);
  if (!doc.ok()) return doc.status();
  auto it = doc->find("reason");
  if (it == doc->end() || it->is_null()) return std::string();
  if (!it->is_string()) return Status::InvalidArgument("kill: reason must be a string");
  std::string reason = it->get<std::string>();
  if (reason.size() > 1000) return Status::InvalidArgument("kill: reason longer than 1000 bytes");
  return reason;
}

Result<StatsParams> ParseStatsParams(const std::map<std::string, std::string>& query) {
  StatsParams p;
  auto get = [&query](const char* key) {
    auto it = query.find(key);
    return it == query.end() ? std::string() : it->second;
  };
  p.by = get("bucket");
  if (!p.by.empty() && p.by != "hour" && p.by != "day" && p.by != "week" && p.by != "month")
    return Status::InvalidArgument("bucket: must be hour, day, week or month");
  p.event = get("event");
  p.flight = get("flight");
  p.since = get("since");
  p.control = get("control");
  for (const std::string* s : {&p.event, &p.flight, &p.since, &p.control})
    if (s->size() > 256) return Status::InvalidArgument("stats: a parameter longer than 256 bytes");
  return p;
}

}  // namespace skyport::hub::console
