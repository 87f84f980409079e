#include "hub/stats/stats_check.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string_view>

#include <fmt/format.h>

#include "core/latency_histogram.h"
#include "core/names.h"

namespace skyport::hub {
namespace {

constexpr size_t kEchoMax = 40;

// The offending value, quoted, at most kEchoMax characters, non-printables escaped.
std::string Echo(std::string_view v) {
  std::string out = "\"";
  for (size_t i = 0; i < v.size() && i < kEchoMax; ++i) {
    const auto c = static_cast<unsigned char>(v[i]);
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
      out += static_cast<char>(c);
    else
      out += fmt::format("\\x{:02x}", c);
  }
  out += v.size() > kEchoMax ? fmt::format("\"... ({} bytes)", v.size()) : "\"";
  return out;
}

bool Matches(std::string_view v, size_t min, size_t max, std::string_view extra) {
  if (v.size() < min || v.size() > max) return false;
  for (char c : v)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
          extra.find(c) != std::string_view::npos))
      return false;
  return true;
}

bool IsFlightId(std::string_view v) { return v.empty() || Matches(v, 1, 64, "._-"); }
bool IsArm(std::string_view v) { return Matches(v, 1, 64, "._-"); }
bool IsEvent(std::string_view v) { return v == "$exposure" || v == "$requests" || Matches(v, 1, 64, "_.:-"); }
bool IsUser(std::string_view v) { return Matches(v, 1, 128, "_.:@-"); }
// The arm routers ship posted events under, outside any flight, for the hub
// to count for the arm of the user's exposure (router/events.h kByExposureArm,
// hub/stats/stats_store.cc): the one arm name starting with '$'.
constexpr std::string_view kByExposureArm = "$by-exposure";

class Checker {
 public:
  // `window`: also check hours and minutes against now ± the limits.
  Checker(const ShipLimits& l, int64_t now, bool window) : l_(l), now_(now), window_(window) {}

  Status Row(const v1::UserEventRow& r, int i) {
    const std::string at = fmt::format("rows[{}]", i);
    // Posted events (not exposures, not the old "$requests") of no flight may be "$by-exposure".
    const bool by_exposure = r.arm() == kByExposureArm && r.flight().empty() && r.event() != "$exposure" &&
                             r.event() != "$requests";
    if (Status s = Common(at, r.app(), r.flight(), r.arm(), by_exposure); !s.ok()) return s;
    if (!IsEvent(r.event()))
      return Bad(at, "event", fmt::format("must match [A-Za-z0-9_.:-]{{1,64}} (got {})", Echo(r.event())));
    // Rows of routers from before TrafficRow: "$requests" of user "*".
    if (!IsUser(r.user()) && !(r.event() == "$requests" && r.user() == "*"))
      return Bad(at, "user", fmt::format("must match [A-Za-z0-9_.:@-]{{1,128}} (got {})", Echo(r.user())));
    if (Status s = Time(at, "hour_unix_s", r.hour_unix_s(), 3600); !s.ok()) return s;
    if (r.count() == 0 || r.count() > l_.max_count)
      return Bad(at, "count", fmt::format("must be within 1..{} (got {})", l_.max_count, r.count()));
    if (r.event() == "$exposure" && (r.count() != 1 || r.sum() != 0 || r.sum_squares() != 0))
      return Bad(at, "count", "an exposure has count 1 and no values");
    const double n = static_cast<double>(r.count());
    if (!std::isfinite(r.sum()) || std::fabs(r.sum()) > n * l_.max_abs_value)
      return Bad(at, "sum", fmt::format("must be finite, |sum| <= count * {:g}", l_.max_abs_value));
    if (!std::isfinite(r.sum_squares()) || r.sum_squares() < 0 ||
        r.sum_squares() > n * l_.max_abs_value * l_.max_abs_value)
      return Bad(at, "sum_squares", "must be finite, within 0..count * max value^2");
    return Status::Ok();
  }

  Status Traffic(const v1::TrafficRow& t, int i) {
    const std::string at = fmt::format("traffic[{}]", i);
    if (Status s = Common(at, t.app(), t.flight(), t.arm()); !s.ok()) return s;
    if (Status s = Time(at, "minute_unix_s", t.minute_unix_s(), 60); !s.ok()) return s;
    if (t.requests() > l_.max_count)
      return Bad(at, "requests", fmt::format("at most {} (got {})", l_.max_count, t.requests()));
    // Each class at most max_count too, so the sum cannot wrap around.
    if (t.status_1xx() > t.requests() || t.status_2xx() > t.requests() || t.status_3xx() > t.requests() ||
        t.status_4xx() > t.requests() || t.status_5xx() > t.requests() ||
        t.status_1xx() + t.status_2xx() + t.status_3xx() + t.status_4xx() + t.status_5xx() != t.requests())
      return Bad(at, "requests", "must equal the status classes summed");
    if (static_cast<size_t>(t.latency_counts_size()) > kLatencyBuckets)
      return Bad(at, "latency_counts", fmt::format("at most {} buckets", kLatencyBuckets));
    uint64_t in_buckets = 0;
    for (uint64_t c : t.latency_counts()) {
      if (c > t.requests()) return Bad(at, "latency_counts", "more than the requests");
      in_buckets += c;
    }
    if (in_buckets > t.requests()) return Bad(at, "latency_counts", "more than the requests");
    // An hour per request at most: nothing waits that long for a router.
    if (t.requests() > 0 ? t.latency_sum_us() / t.requests() > 3'600'000'000ULL : t.latency_sum_us() > 0)
      return Bad(at, "latency_sum_us", "implausible for the requests");
    return Status::Ok();
  }

 private:
  static Status Bad(const std::string& at, const char* field, const std::string& why) {
    return Status::InvalidArgument(fmt::format("{}.{}: {}", at, field, why));
  }

  Status Common(const std::string& at, const std::string& app, const std::string& flight, const std::string& arm,
                bool by_exposure = false) {
    if (Status s = ValidateName("app", app); !s.ok())
      return Bad(at, "app", fmt::format("must match [a-z0-9][a-z0-9-]{{0,62}} (got {})", Echo(app)));
    if (!IsFlightId(flight))
      return Bad(at, "flight", fmt::format("must be \"\" or match [A-Za-z0-9._-]{{1,64}} (got {})", Echo(flight)));
    if (!by_exposure && !IsArm(arm))
      return Bad(at, "arm", fmt::format("must match [A-Za-z0-9._-]{{1,64}}, or be \"$by-exposure\" for a posted "
                                        "event of no flight (got {})", Echo(arm)));
    return Status::Ok();
  }

  Status Time(const std::string& at, const char* field, int64_t t, int64_t unit) {
    if (t < 0 || t % unit != 0) return Bad(at, field, fmt::format("must start a UTC {}", unit == 60 ? "minute" : "hour"));
    if (window_ && (t < now_ - l_.max_past_s || t > now_ + l_.max_future_s))
      return Bad(at, field,
                 fmt::format("{} is outside [now - {} s, now + {} s]", t, l_.max_past_s, l_.max_future_s));
    return Status::Ok();
  }

  const ShipLimits& l_;
  const int64_t now_;
  const bool window_;
};

Status Check(const v1::ShipStatsRequest& req, const ShipLimits& limits, int64_t now_unix_s, bool window) {
  const std::string& router = req.router();
  if (router.empty() || router.size() > 128 ||
      !std::all_of(router.begin(), router.end(), [](char c) { return c > 0x20 && c < 0x7f; }))
    return Status::InvalidArgument(fmt::format("router: must be 1..128 printable characters (got {})", Echo(router)));
  const size_t n = static_cast<size_t>(req.rows_size()) + static_cast<size_t>(req.traffic_size());
  if (n > limits.max_rows)
    return Status::InvalidArgument(fmt::format("rows: {} rows in one batch, at most {}", n, limits.max_rows));
  Checker check(limits, now_unix_s, window);
  for (int i = 0; i < req.rows_size(); ++i)
    if (Status s = check.Row(req.rows(i), i); !s.ok()) return s;
  for (int i = 0; i < req.traffic_size(); ++i)
    if (Status s = check.Traffic(req.traffic(i), i); !s.ok()) return s;
  return Status::Ok();
}

}  // namespace

Status CheckShipBatch(const v1::ShipStatsRequest& req, const ShipLimits& limits, int64_t now_unix_s) {
  return Check(req, limits, now_unix_s, /*window=*/true);
}

Status CheckShipRows(const v1::ShipStatsRequest& req) {
  ShipLimits limits;
  limits.max_rows = SIZE_MAX;
  return Check(req, limits, 0, /*window=*/false);
}

}  // namespace skyport::hub
