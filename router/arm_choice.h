// The routing decision for one request, as a pure function: which app, which
// user, which arm (commit) and which flight, or why the router answers the
// request itself. The proxy (router/exchange.cc) calls DecideRequest once per
// request head and keeps only the I/O: counters, logs, the new-user budget,
// the Set-Cookie value, exposures and the forwarded head.
//
// The walk, in this order (each step only when the previous one let it pass):
//   1. CONNECT                        -> refused 501 (a reverse proxy)
//   2. no table / no app for the head -> refused 503 / 404 (RouteTable::Match)
//   3. the user (IdentifyUser): a cookie that verifies keeps its id; one of
//      another split id keeps it but is dealt again (new_user); anything else
//      (none, forged, tampered, unsigned) gets a fresh id minted from `rng`
//   4. the arm (PickArm): the X-Skyport-Commit override where the app allows
//      it; else, in a flight that runs, enrolled users are split and carry its
//      id while everyone else gets its control; outside flights the user's
//      slice. An arm with no instance gives way to AppRoute::FallbackArm,
//      outside any flight.
//   5. no arm with instances          -> kNoLiveInstance (503; the router's
//      own endpoints, event posts, are still answered)
//
// Views only: every string_view points into the table, the request head or
// the cookie value; nothing is allocated or copied (the table stays the
// caller's snapshot, kept alive by it).
#pragma once

#include <cstdint>
#include <string_view>

#include "core/ids.h"
#include "router/http1.h"
#include "router/route_table.h"
#include "router/user_cookie.h"

namespace skyport::router {

enum class Refusal : uint8_t {
  kNone,
  kConnect,         // 501: CONNECT is not supported
  kNoTable,         // 503: no route table yet (registry not reached)
  kNoApp,           // 404: no app is routed for the host
  kNoLiveInstance,  // 503: the app is deployed but no arm has an instance
};

// The HTTP status the router answers a refusal with (0 for kNone).
int RefusalStatus(Refusal refusal);

// The secrets user cookies are checked with (router/user_cookie.h). Not
// const: a CookieKey keeps HMAC scratch, so each worker has its own.
struct CookieKeys {
  CookieKey* current = nullptr;
  CookieKey* previous = nullptr;  // null: no rotation in progress
  bool legacy_ok = false;         // the unsigned-cookie migration window is open now
};

// Who sent a request, as far as the cookie tells.
struct RequestUser {
  bool had_cookie = false;        // a non-empty user cookie was sent
  CookieVerdict verdict = CookieVerdict::kMalformed;  // its verdict, when had_cookie
  std::string_view cookie_user;   // the id of a valid cookie (any split id), "" without one
  bool new_user = false;          // no valid cookie, or one of another split id: counted as new
  bool reissue = false;           // valid but re-signed: legacy, or the previous secret
  bool minted = false;            // the id is a fresh one (user_id() is `fresh`)
  char fresh[32] = {};

  // The id the request is served as: the cookie's, else the minted one.
  std::string_view user_id() const { return minted ? std::string_view(fresh, sizeof fresh) : cookie_user; }
  // A cookie must be (re)issued: a new user, or a valid cookie re-signed.
  bool set_cookie() const { return new_user || reissue; }
};

// Step 3. `cookie` is the user cookie's value ("" when none was sent);
// `split_id` the app's. Draws two numbers from `rng` only when minting.
RequestUser IdentifyUser(std::string_view cookie, std::string_view split_id, const CookieKeys& keys, Random& rng);

struct ArmPick {
  int arm = -1;              // index into app.arms; -1 when no arm has instances
  std::string_view flight;   // the flight's id (a view of app.flight->id), "" outside flights
};

// Step 4. `wall_ms`: this router's wall clock (a flight is over from end_by on).
ArmPick PickArm(const AppRoute& app, const http1::RequestHead& request, std::string_view user_id, int64_t wall_ms);

struct RequestDecision {
  Refusal refusal = Refusal::kNone;
  const AppRoute* app = nullptr;  // set unless refused before step 3
  const Arm* arm = nullptr;       // null when refused (kNoLiveInstance included)
  std::string_view flight;        // as ArmPick::flight
  std::string_view split_id;      // the app's ("default" when unset)
  RequestUser user;               // steps 3-5 only
};

// Steps 1-5 for a parsed head whose path is normalised (router/uri.h).
// `table` may be null (no table yet).
RequestDecision DecideRequest(const RouteTable* table, const http1::RequestHead& request,
                              std::string_view cookie_name, const CookieKeys& keys, int64_t wall_ms, Random& rng);

}  // namespace skyport::router
