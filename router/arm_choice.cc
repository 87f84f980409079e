#include "router/arm_choice.h"

#include "router/flight_match.h"
#include "contract/split.h"

namespace skyport::router {

int RefusalStatus(Refusal refusal) {
  switch (refusal) {
    case Refusal::kNone: return 0;
    case Refusal::kConnect: return 501;
    case Refusal::kNoTable: return 503;
    case Refusal::kNoApp: return 404;
    case Refusal::kNoLiveInstance: return 503;
  }
  return 0;
}

RequestUser IdentifyUser(std::string_view cookie, std::string_view split_id, const CookieKeys& keys, Random& rng) {
  RequestUser u;
  if (!cookie.empty()) {
    u.had_cookie = true;
    CookieCheck check = CheckUserCookie(cookie, *keys.current, keys.previous, keys.legacy_ok);
    u.verdict = check.verdict;
    if (CookieAccepted(check.verdict)) {
      u.cookie_user = check.user_id;
      u.reissue = check.verdict != CookieVerdict::kSigned;
      // A known user of another split is dealt again, and counted as new to this one.
      if (check.split_id != split_id) u.new_user = true;
    }
  }
  if (u.cookie_user.empty()) {
    // No client chooses its id: without a cookie that verifies, a fresh one.
    static const char* kHex = "0123456789abcdef";
    const uint64_t a = rng.Next(), b = rng.Next();
    for (int i = 0; i < 16; ++i) {
      u.fresh[i] = kHex[(a >> (i * 4)) & 15];
      u.fresh[16 + i] = kHex[(b >> (i * 4)) & 15];
    }
    u.minted = true;
    u.new_user = true;
  }
  return u;
}

ArmPick PickArm(const AppRoute& app, const http1::RequestHead& request, std::string_view user_id, int64_t wall_ms) {
  ArmPick pick;
  const Flight* flight = app.flight.get();
  if (app.allow_override && !request.x_skyport_commit.empty())
    pick.arm = app.ArmByCommitPrefix(request.x_skyport_commit);
  if (pick.arm < 0) {
    // In a flight only enrolled users are split (and carry its id);
    // everyone else, and everyone once it is past end_by by this router's
    // own clock, gets the control. A pinned commit (above) is outside it.
    if (flight && !flight->Over(wall_ms) && flight->Enrolls(RequestView(request), user_id))
      pick.flight = flight->id;  // unique per start: a rerun of a name starts afresh
    const std::string_view split_id =
        app.split_id.empty() ? std::string_view("default") : std::string_view(app.split_id);
    if (flight && pick.flight.empty())
      pick.arm = flight->control_arm;
    else if (app.slices.size() > 1)
      pick.arm = app.ArmFor(UserPosition(user_id, split_id));
    else
      pick.arm = app.ArmFor(0);
  }
  if (pick.arm >= 0 && app.arms[static_cast<size_t>(pick.arm)].instances.empty()) {
    // The user's commit has nothing running: serve them from the heaviest arm
    // that can (in a flight: its control if it can), outside any flight.
    pick.arm = app.FallbackArm();
    pick.flight = {};
  }
  return pick;
}

RequestDecision DecideRequest(const RouteTable* table, const http1::RequestHead& request,
                              std::string_view cookie_name, const CookieKeys& keys, int64_t wall_ms, Random& rng) {
  RequestDecision d;
  if (request.method == "CONNECT") {
    d.refusal = Refusal::kConnect;
    return d;
  }
  d.app = table ? table->Match(request.host, request.path) : nullptr;
  if (!d.app) {
    d.refusal = table ? Refusal::kNoApp : Refusal::kNoTable;
    return d;
  }
  const AppRoute& app = *d.app;
  d.split_id = app.split_id.empty() ? std::string_view("default") : std::string_view(app.split_id);
  d.user = IdentifyUser(http1::FindCookie(request, cookie_name), d.split_id, keys, rng);
  const ArmPick pick = PickArm(app, request, d.user.user_id(), wall_ms);
  if (pick.arm < 0) {
    d.refusal = Refusal::kNoLiveInstance;
    return d;
  }
  d.arm = &app.arms[static_cast<size_t>(pick.arm)];
  d.flight = pick.flight;
  return d;
}

}  // namespace skyport::router
