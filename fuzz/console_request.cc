// libFuzzer target: the console's request parsing (hub/console/console_request.h)
// and its session table. The first byte picks what the rest is:
//   0 a request target (ParseRoute)      1 a Cookie header (CookieValue)
//   2 an Authorization header (Bearer)   3 a login body (LoginToken; byte 2 picks the type)
//   4 "token\norigin\nhost" (CheckCsrf)   5 an action body (split, rollback, kill)
//   6 session table operations, one per 3 bytes (create / touch / remove / sweep, time from the bytes)
// Properties: never a crash; a route's APP/NAME is a valid name and an asset
// name has no "." or ".." segment; a CSRF verdict of ok means the tokens are
// equal and the origin (when sent) is this console's; the table never holds
// more than its bound and never answers for an expired session.
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "fuzz/check.h"
#include "core/names.h"
#include "hub/console/console_request.h"
#include "hub/console/session_table.h"

namespace console = skyport::hub::console;
using console::Route;

namespace {

void FuzzRoute(std::string_view in) {
  Route r = console::ParseRoute(in);
  switch (r.kind) {
    case Route::Kind::kApp:
    case Route::Kind::kAppStats:
    case Route::Kind::kSplit:
    case Route::Kind::kSplitPreview:
    case Route::Kind::kRollback:
      CHECK(skyport::ValidateName("app", r.app).ok());
      break;
    case Route::Kind::kFlight:
    case Route::Kind::kFlightKill:
      CHECK(skyport::ValidateName("flight", r.name).ok());
      break;
    case Route::Kind::kAsset: {
      CHECK(!r.name.empty());
      std::string_view rest = r.name;
      while (!rest.empty()) {
        size_t slash = rest.find('/');
        std::string_view seg = rest.substr(0, slash);
        CHECK(seg != "." && seg != "..");
        rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
      }
      CHECK(r.name.find('%') == std::string::npos);
      break;
    }
    default:
      break;
  }
  CHECK(r.is_api() == (r.kind != Route::Kind::kPage && r.kind != Route::Kind::kAsset));
  if (r.kind != Route::Kind::kNotFound && r.kind != Route::Kind::kBadName) CHECK(std::string_view(r.method).size() >= 3);
  if (r.kind == Route::Kind::kAppStats) (void)console::ParseStatsParams(r.query);
}

void FuzzCsrf(std::string_view in) {
  size_t a = in.find('\n');
  size_t b = a == std::string_view::npos ? a : in.find('\n', a + 1);
  std::string_view token = in.substr(0, a);
  std::string_view origin = a == std::string_view::npos ? std::string_view() : in.substr(a + 1, b - a - 1);
  std::string_view host = b == std::string_view::npos ? std::string_view() : in.substr(b + 1);
  const std::string session = "0123456789abcdef";
  for (bool with_origin : {false, true}) {
    auto v = console::CheckCsrf(token, session, with_origin ? std::optional<std::string_view>(origin) : std::nullopt,
                                host);
    if (v == console::CsrfVerdict::kOk) {
      CHECK(token == session);
      if (with_origin) CHECK(origin == "http://" + std::string(host) || origin == "https://" + std::string(host));
    }
    CHECK(console::CsrfVerdictText(v) != nullptr);
  }
}

void FuzzSessions(std::string_view in) {
  console::SessionTable t(console::SessionLimits{4, 100, 1000});
  std::map<std::string, int64_t> created;  // id -> creation time, for the absolute bound
  int64_t now = 0;
  for (size_t i = 0; i + 2 < in.size(); i += 3) {
    const uint8_t op = static_cast<uint8_t>(in[i]) % 4;
    const std::string id(1, static_cast<char>('a' + static_cast<uint8_t>(in[i + 1]) % 8));
    now += static_cast<uint8_t>(in[i + 2]);
    switch (op) {
      case 0:
        t.Create(id, "c" + id, now);
        created[id] = now;
        break;
      case 1:
        if (auto csrf = t.Touch(id, now)) {
          CHECK(*csrf == "c" + id);
          CHECK(now - created[id] < 1000);
        }
        break;
      case 2:
        t.Remove(id);
        break;
      default:
        t.Sweep(now);
        break;
    }
    CHECK(t.size() <= 4);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t mode = data[0] % 7;
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (mode) {
    case 0:
      FuzzRoute(in);
      break;
    case 1:
      if (auto v = console::CookieValue(in, console::kSessionCookie)) CHECK(v->find(';') == std::string::npos);
      break;
    case 2:
      if (auto v = console::BearerToken(in)) CHECK(!v->empty());
      break;
    case 3: {
      static const char* kTypes[] = {"application/json", "application/x-www-form-urlencoded", "", "text/plain"};
      const char* type = kTypes[in.empty() ? 0 : static_cast<uint8_t>(in[0]) % 4];
      if (!in.empty()) in.remove_prefix(1);
      if (auto t = console::LoginToken(type, in); t.ok()) CHECK(!t->empty());
      break;
    }
    case 4:
      FuzzCsrf(in);
      break;
    case 5:
      (void)console::SplitBodyArgs(in);
      (void)console::RollbackBodyRelease(in);
      if (auto r = console::KillBodyReason(in); r.ok()) CHECK(r->size() <= 1000);
      break;
    default:
      FuzzSessions(in);
      break;
  }
  return 0;
}
