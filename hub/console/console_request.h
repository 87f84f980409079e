// The console's request logic (hub/console/API.md), pure and fuzzed
// (fuzz/console_request.cc): which route a request names, the cookie, bearer
// and login-body parsing, the CSRF/Origin check, and the JSON bodies of the
// actions. No sockets, no clocks.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace skyport::hub::console {

inline constexpr char kSessionCookie[] = "skyport_session";

// What a request target names. Pages and assets need no session; every
// /api route but login does.
struct Route {
  enum class Kind {
    kPage,          // "/" or any path outside /api and /assets: the single-page app (index.html)
    kAsset,         // /assets/<file>: `name` is the file
    kLogin,         // POST /api/login
    kLogout,        // POST /api/logout
    kSession,       // GET  /api/session
    kOverview,      // GET  /api/overview
    kApp,           // GET  /api/apps/APP
    kAppStats,      // GET  /api/apps/APP/stats
    kSplit,         // POST /api/apps/APP/split
    kSplitPreview,  // POST /api/apps/APP/split/preview
    kRollback,      // POST /api/apps/APP/rollback
    kFlights,       // GET  /api/flights
    kFlightStart,   // POST /api/flights
    kFlight,        // GET  /api/flights/NAME
    kFlightKill,    // POST /api/flights/NAME/kill
    kRegistry,      // GET  /api/registry
    kDrones,        // GET  /api/drones
    kEvents,        // GET  /api/events (server-sent events)
    kNotFound,      // an /api path that names nothing (404)
    kBadName,       // an APP or NAME that is not a valid name (400)
  };
  Kind kind = Kind::kNotFound;
  std::string app;   // kApp*, kSplit*, kRollback
  std::string name;  // kFlight*, kAsset
  std::map<std::string, std::string> query;
  std::string error;  // kBadName, kNotFound: what was wrong
  // The method the route takes ("GET" or "POST"); "" for kNotFound/kBadName.
  const char* method = "";
  bool is_api() const { return kind != Kind::kPage && kind != Kind::kAsset; }
};

// `target` is the request target ("/api/apps/web?x=1"). A malformed query
// (bad %-escape) is kBadName with its error.
Route ParseRoute(std::string_view target);

// The value of cookie `name` in a Cookie header ("a=1; skyport_session=..."), or nullopt.
std::optional<std::string> CookieValue(std::string_view header, std::string_view name);
// Every value of cookie `name` in a Cookie header, in order. A browser sends
// one cookie per (name, domain, path), and cookies ignore ports: a page on any
// other port of the same host can add `name=junk; Path=/api`, which comes
// before the console's own (longer paths first). Callers try each.
std::vector<std::string> CookieValues(std::string_view header, std::string_view name);
// "Bearer TOKEN" -> TOKEN (the scheme case-insensitive), else nullopt.
std::optional<std::string> BearerToken(std::string_view authorization);

// The token of a login body: JSON {"token": "..."} (Content-Type
// application/json) or a form "token=..." (application/x-www-form-urlencoded,
// or anything else that is not JSON). INVALID_ARGUMENT when there is none.
Result<std::string> LoginToken(std::string_view content_type, std::string_view body);

enum class CsrfVerdict { kOk, kMissingToken, kWrongToken, kForeignOrigin };
// A state-changing request from a session: `header_token` (X-CSRF-Token) must
// equal the session's `session_csrf` (constant time), and `origin` (when the
// request has one) must be this console's own: "http://HOST" or
// "https://HOST" with HOST the request's Host header.
CsrfVerdict CheckCsrf(std::optional<std::string_view> header_token, std::string_view session_csrf,
                      std::optional<std::string_view> origin, std::string_view host);
const char* CsrfVerdictText(CsrfVerdict v);

// POST /api/apps/APP/split and /split/preview: {"weights": {"COMMIT": N, ...}}
// -> "COMMIT=N" arguments as `skyport split` takes them (checked there).
Result<std::vector<std::string>> SplitBodyArgs(std::string_view body);
// POST /api/apps/APP/rollback: {"release": "vN"} or {"release": null} / {} ->
// "vN" or "" (the one before the current one).
Result<std::string> RollbackBodyRelease(std::string_view body);
// POST /api/flights/NAME/kill: {"reason": "..."} -> the reason ("" when absent).
Result<std::string> KillBodyReason(std::string_view body);

// GET /api/apps/APP/stats?bucket=hour|day|week|month -> `skyport stats --by`
// ("" when absent: one table). Also event/flight/since/control pass through
// as in the CLI; INVALID_ARGUMENT for another bucket.
struct StatsParams {
  std::string by, event, flight, since, control;
};
Result<StatsParams> ParseStatsParams(const std::map<std::string, std::string>& query);

}  // namespace skyport::hub::console
