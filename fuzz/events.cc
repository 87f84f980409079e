// libFuzzer target: the router's custom-events body parser (router/events.h
// ParseEvents). The first byte says whether the caller is trusted (may name
// users); the rest is the POST body. Checks: all or nothing, views inside the
// body, the documented bounds hold for every event accepted.
#include <cmath>
#include <cstdint>
#include <string_view>

#include "fuzz/check.h"
#include "router/events.h"

using namespace skyport::router;

namespace {

bool Inside(std::string_view v, std::string_view buf) {
  return v.empty() || (v.data() >= buf.data() && v.data() + v.size() <= buf.data() + buf.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const bool trusted = data[0] & 1;
  const std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  constexpr int64_t kNow = 1796601600;  // 2026-12-06T00:00:00Z
  EventLimits limits;
  limits.max_events = 50;
  static ParsedEvents out;  // reused like a worker's
  EventsStatus st = ParseEvents(body, limits, trusted, kNow, out);
  if (!st.ok()) {
    CHECK(out.events.empty() && !st.message.empty());
    CHECK(st.http_status == 400 || st.http_status == 413);
    return 0;
  }
  CHECK(!out.events.empty() && out.events.size() <= limits.max_events);
  for (const ParsedEvent& e : out.events) {
    CHECK(Inside(e.name, body) && Inside(e.user, body));
    CHECK(!e.name.empty() && e.name.size() <= 64 && e.name[0] != '$');
    CHECK(trusted || e.user.empty());
    CHECK(std::isfinite(e.value) && std::fabs(e.value) <= 1e12);
    CHECK(e.unix_s >= kNow - limits.max_past_s && e.unix_s <= kNow + limits.max_future_s);
  }
  return 0;
}
