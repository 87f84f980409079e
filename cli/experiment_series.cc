#include "cli/experiment_series.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "contract/stats_math.h"
#include "cli/experiment_query.h"

namespace skyport::cli {
namespace {

using nlohmann::json;

json Finite(double x) { return std::isfinite(x) ? json(x) : json(nullptr); }

// Longer than any bucket: BucketStart(start + span) is the next bucket's start.
int64_t Span(router::Granularity g) {
  switch (g) {
    case router::Granularity::kHour: return 3600;
    case router::Granularity::kDay: return 86400;
    case router::Granularity::kWeek: return 7 * 86400;
    case router::Granularity::kMonth: return 32 * 86400;
  }
  return 86400;
}

// The gates' default mixing variance (contract/gates.cc, Sequential): 1% of the pooled variance.
double DefaultTauSquared(const hub::Moments& c, const hub::Moments& t) {
  const hub::Moments pooled{c.n + t.n, c.sum + t.sum, c.sum_sq + t.sum_sq};
  const double var = pooled.Variance();
  return var > 0 ? 0.01 * var : 1.0;
}

}  // namespace

std::vector<std::pair<int64_t, int64_t>> LookEnds(std::vector<int64_t> starts, router::Granularity g,
                                                  int64_t to_unix_s) {
  std::sort(starts.begin(), starts.end());
  starts.erase(std::unique(starts.begin(), starts.end()), starts.end());
  if (starts.size() > kMaxLooks) starts.erase(starts.begin(), starts.end() - kMaxLooks);
  std::vector<std::pair<int64_t, int64_t>> out;
  for (int64_t s : starts) {
    int64_t end = router::BucketStart(s + Span(g), g);
    if (to_unix_s > 0) end = std::min(end, to_unix_s);
    out.emplace_back(s, end);
  }
  return out;
}

json CumulativeJson(const std::vector<Look>& looks, const std::string& control) {
  json out = json::array();
  std::map<std::string, double> running_p;  // per arm: the smallest sequential p so far
  for (const Look& look : looks) {
    std::map<std::string, const v1::ArmBucket*> arms;
    for (const auto& row : look.report.rows()) arms[row.arm()] = &row;
    const v1::ArmBucket* ctl = arms.count(control) ? arms[control] : nullptr;
    json doc = {{"bucket_unix_s", look.bucket_unix_s},
                {"bucket", FormatUtc(look.bucket_unix_s)},
                {"until_unix_s", look.until_unix_s},
                {"arms", json::array()}};
    for (const auto& [name, row] : arms) {
      const hub::Proportion p{row->users_exposed(), row->users_with_event()};
      json arm = {{"arm", name},
                  {"control", name == control},
                  {"users", p.users},
                  {"converted", p.converted},
                  {"conversion_rate", p.Rate()},
                  {"delta_conversion", nullptr},
                  {"sequential_p", nullptr}};
      if (ctl && name != control) {
        const hub::Proportion c{ctl->users_exposed(), ctl->users_with_event()};
        if (auto z = hub::TwoProportionZTest(c, p); z.ok())
          arm["delta_conversion"] = {{"difference", Finite(z->difference)},
                                     {"ci", json::array({Finite(z->ci.low), Finite(z->ci.high)})},
                                     {"p", Finite(z->p_value)}};
        const auto mc = hub::Moments::FromProportion(c), mt = hub::Moments::FromProportion(p);
        const double previous = running_p.count(name) ? running_p[name] : 1.0;
        if (auto s = hub::MsprtNormal(mc, mt, DefaultTauSquared(mc, mt), 0.05, previous); s.ok()) {
          running_p[name] = s->p_value;
          arm["sequential_p"] = Finite(s->p_value);
        }
      }
      doc["arms"].push_back(std::move(arm));
    }
    out.push_back(std::move(doc));
  }
  return out;
}

}  // namespace skyport::cli
