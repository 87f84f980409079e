// Who takes part in a flight (an experiment written into an app's route
// config, see v1::FlightRoute): the request filter (OS from User-Agent,
// preferred locale from Accept-Language, channel, exact headers) and the
// enrollment range. Pure: the router builds a Flight off the hot path with
// the route table and asks it once per request of the app.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/names.h"  // kOsNames
#include "router/http1.h"
#include "contract/split.h"
#include "skyport/v1/registry.pb.h"

namespace skyport::router {

// The OS family of a User-Agent: "android" | "ios" | "chromeos" | "windows" |
// "mac" | "linux", or "" when none is recognizable (curl, bots). Checked in
// that order, because Android UAs also say "Linux" and iOS ones "like Mac OS
// X". iPadOS 13+ in desktop mode sends a Macintosh UA: that is "mac" (the
// request cannot be told apart from a Mac).
std::string_view OsFromUserAgent(std::string_view user_agent);

// The names it returns are core/names.h's kOsNames (the allowed filter values).

// The language tag an Accept-Language value prefers: the one with the highest
// q (default 1; ties go to the first), '_' written as '-', case as sent.
// Skipped: q=0 (not acceptable), "*", and items that are not a tag
// ([A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*) or have a malformed q. "" if none is left.
std::string PreferredLocale(std::string_view accept_language);

// RFC 4647 basic filtering, ASCII case-insensitive, '_' read as '-': "de"
// matches de, de-DE, de-AT; "en-US" matches en-US (and en-US-x-...), not en
// or en-GB. An empty filter or tag matches nothing.
bool LocaleMatches(std::string_view filter_tag, std::string_view tag);

// True when UserPosition(key, flight_id + ".enroll") is in [ge, lt). The salt
// differs from the arm assignment's (the split id, which is the flight id),
// so that enrolled users still spread over every arm. An empty key is never
// in range.
bool InRange(std::string_view key, std::string_view flight_id, uint32_t ge, uint32_t lt);

// What the filter reads of a request: views into a parsed head, valid as long
// as the head's buffer is.
class RequestView {
 public:
  explicit RequestView(const http1::RequestHead& head) : head_(head) {}
  // The first field of that name (ASCII case-insensitive); nullopt if absent.
  std::optional<std::string_view> Header(std::string_view name) const;
  // A cookie's value ("" if absent).
  std::string_view Cookie(std::string_view name) const { return http1::FindCookie(head_, name); }
  std::string_view user_agent() const { return Header("user-agent").value_or(""); }
  std::string_view accept_language() const { return Header("accept-language").value_or(""); }
  // Cookie "skyport_channel", else header X-Skyport-Channel; "" if neither.
  std::string_view channel() const;

 private:
  const http1::RequestHead& head_;
};

// A compiled v1::FlightFilter: every non-empty list must match (empty = any).
// Channels compare case-insensitively; an OS the filter names that is not one
// of kOsNames matches no request; header names are case-insensitive, values exact.
class FlightMatcher {
 public:
  FlightMatcher() = default;
  explicit FlightMatcher(const v1::FlightFilter& filter);
  bool Matches(const RequestView& request) const;
  bool matches_everyone() const { return everyone_; }
  const v1::FlightFilter& filter() const { return filter_; }  // as given

 private:
  v1::FlightFilter filter_;
  bool everyone_ = true;
  std::vector<std::string> channels_;
  bool by_os_ = false;
  uint32_t os_mask_ = 0;  // bit i: kOsNames[i]
  std::vector<std::string> locales_;
  std::vector<std::pair<std::string, std::string>> headers_;  // lowercase name, exact value
};

// A flight as the router enforces it. While it runs (end_by unset or not yet
// reached), enrolled users — the filter matches and the range key is in
// range — are split by the app's slices (hashed with the split id == flight
// id) and carry the flight's id (their exposures, events and requests are
// kept under it; X-Skyport-Flight tells the app the name); everyone else goes to the control arm and
// carries no flight. From end_by on, everyone goes to control.
struct Flight {
  std::string name;
  std::string id;
  std::string enroll_salt;  // id + ".enroll"
  int control_arm = -1;     // index into AppRoute::arms
  FlightMatcher matcher;
  std::string range_key;    // "" = the Skyport user id ("uid" is stored as "")
  uint32_t range_ge = 0;
  uint32_t range_lt = kSliceUnits;
  int64_t end_by_unix_ms = 0;  // 0 = none

  bool Over(int64_t now_unix_ms) const { return end_by_unix_ms != 0 && now_unix_ms >= end_by_unix_ms; }
  // The range key's value: `user_id` for "", else the cookie of that name,
  // else the header of that name; "" when absent (then not enrolled).
  std::string_view RangeKeyOf(const RequestView& request, std::string_view user_id) const;
  // The filter matches and the range key is in [range_ge, range_lt).
  bool Enrolls(const RequestView& request, std::string_view user_id) const;
};

// `control_arm` is the index of flight.control's arm in the app.
Flight CompileFlight(const v1::FlightRoute& flight, int control_arm);

}  // namespace skyport::router
