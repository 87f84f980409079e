#include "cli/experiment_table.h"

#include <algorithm>
#include <cmath>
#include <tuple>

#include <fmt/format.h>

#include "cli/columns.h"
#include "cli/experiment_query.h"

namespace skyport::cli {
namespace {

using nlohmann::json;

constexpr size_t kCommitWidth = 12;

// Commits are cut to 12 characters like everywhere else; a flight's arm names
// are shown whole.
std::string ArmLabel(const std::string& arm) {
  const bool hex = std::all_of(arm.begin(), arm.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
  });
  return hex && arm.size() > kCommitWidth ? arm.substr(0, kCommitWidth) : arm;
}

std::string Join(const std::vector<std::string>& parts, const char* sep) {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : sep) + p;
  return out;
}

const char* SourceName(ControlSource s) {
  switch (s) {
    case ControlSource::kFlag: return "flag";
    case ControlSource::kWeight: return "weight";
    case ControlSource::kUsers: return "users";
    case ControlSource::kNone: break;
  }
  return "";
}

const char* SourceReason(ControlSource s) {
  switch (s) {
    case ControlSource::kFlag: return "--control";
    case ControlSource::kWeight: return "highest weight";
    case ControlSource::kUsers: return "most users";
    case ControlSource::kNone: break;
  }
  return "";
}

// Decimals that show about four significant digits of `magnitude`.
int Decimals(double magnitude) {
  if (!(magnitude >= 1e-6) || !std::isfinite(magnitude)) return 2;
  return std::clamp(3 - static_cast<int>(std::floor(std::log10(magnitude))), 0, 6);
}

std::string Number(double x) { return fmt::format("{:.{}f}", x, Decimals(std::fabs(x))); }

std::string FormatP(double p) {
  if (p >= 0.001) return fmt::format("{:.3f}", p);
  return p > 0 ? fmt::format("{:.1e}", p) : "0";
}

// "+1.23pp (-0.01, +2.47)": a difference of rates, in percentage points.
std::string PointsCell(double difference, const hub::Interval& ci) {
  return fmt::format("{:+.2f}pp ({:+.2f}, {:+.2f})", 100 * difference, 100 * ci.low, 100 * ci.high);
}

// "+0.6000 (+0.1500, +1.050)": one precision for all three numbers.
std::string MeanCell(double difference, const hub::Interval& ci) {
  const int d = Decimals(std::max({std::fabs(difference), std::fabs(ci.low), std::fabs(ci.high)}));
  return fmt::format("{:+.{}f} ({:+.{}f}, {:+.{}f})", difference, d, ci.low, d, ci.high, d);
}

std::string BucketLabel(const std::string& by, int64_t bucket_unix_s) {
  const std::string t = FormatUtc(bucket_unix_s);  // 2024-05-01T13:00:00Z
  if (by == "hour") return "hour " + t.substr(0, 16) + "Z";
  if (by == "day") return "day " + t.substr(0, 10);
  if (by == "week") return "week of " + t.substr(0, 10);
  if (by == "month") return "month " + t.substr(0, 7);
  return "";
}

std::string SrmLine(const SrmCheck& srm) {
  std::vector<std::string> users, weights;
  for (uint64_t u : srm.users) users.push_back(std::to_string(u));
  for (double w : srm.weights) weights.push_back(fmt::format("{:g}", w));
  std::string line = fmt::format("sample ratio mismatch: p={} (users {} vs weights {})", FormatP(srm.result.p_value),
                                 Join(users, "/"), Join(weights, "/"));
  if (!srm.result.mismatch) return line;
  return fmt::format("WARNING: {} < {}: users did not reach the arms in the configured ratio; do not trust the deltas",
                     line, kSrmThreshold);
}

std::optional<SrmCheck> CheckSampleRatio(const std::vector<ArmResult>& arms,
                                         const std::map<std::string, uint32_t>& weights) {
  if (weights.empty()) return std::nullopt;
  SrmCheck srm;
  auto add = [&](const std::string& arm, uint64_t users) {
    auto w = weights.find(arm);
    const double weight = w == weights.end() ? 0 : w->second;
    if (weight == 0 && users == 0) return;  // neither configured nor seen: not part of the test
    srm.arms.push_back(arm);
    srm.users.push_back(users);
    srm.weights.push_back(weight);
  };
  for (const ArmResult& a : arms) add(a.row.arm(), a.row.users_exposed());
  for (const auto& [arm, _] : weights)
    if (std::none_of(arms.begin(), arms.end(), [&](const ArmResult& a) { return a.row.arm() == arm; })) add(arm, 0);
  if (srm.arms.size() < 2) return std::nullopt;
  auto result = hub::SampleRatioMismatch(srm.users, srm.weights, kSrmThreshold);
  if (!result.ok()) return std::nullopt;  // e.g. every arm seen has weight 0: nothing to compare with
  srm.result = *result;
  return srm;
}

json Finite(double x) { return std::isfinite(x) ? json(x) : json(nullptr); }

json IntervalJson(const hub::Interval& ci) { return json::array({Finite(ci.low), Finite(ci.high)}); }

json ArmJson(const ArmResult& a, bool with_event) {
  const v1::ArmBucket& r = a.row;
  json out = {{"arm", r.arm()},           {"control", a.control},         {"users", r.users_exposed()},
              {"exposures", r.exposures()}, {"requests", r.requests()}, {"errors_5xx", r.errors_5xx()},
              {"status", {{"1xx", r.status_1xx()}, {"2xx", r.status_2xx()}, {"3xx", r.status_3xx()},
                          {"4xx", r.status_4xx()}, {"5xx", r.errors_5xx()}}},
              {"latency_p50_us", r.latency_counts_size() ? json(r.latency_p50_us()) : json(nullptr)},
              {"latency_p99_us", r.latency_counts_size() ? json(r.latency_p99_us()) : json(nullptr)}};
  if (!with_event) return out;
  const hub::Moments m{r.event_count(), r.sum(), r.sum_squares()};
  out["converted"] = r.users_with_event();
  out["conversion_rate"] = hub::Proportion{r.users_exposed(), r.users_with_event()}.Rate();
  out["events"] = r.event_count();
  out["sum"] = Finite(r.sum());  // after the per-user cap: what mean, stddev and the tests use
  out["sum_squares"] = Finite(r.sum_squares());
  out["raw_sum"] = Finite(r.raw_sum());
  out["users_capped"] = r.users_capped();
  out["user_cap"] = r.user_cap() > 0 ? Finite(r.user_cap()) : json(nullptr);
  // Each arm's own 95% intervals (the console draws them as bands): none without users,
  // with more converted than users (a short bucket), or for the mean under 2 events.
  const auto conv_ci = hub::ProportionInterval({r.users_exposed(), r.users_with_event()}, kConfidence);
  out["conversion_ci"] = conv_ci.ok() ? IntervalJson(*conv_ci) : json(nullptr);
  out["mean"] = m.n == 0 ? json(nullptr) : Finite(m.Mean());
  const auto mean_ci = hub::MeanInterval(m, kConfidence);
  out["mean_ci"] = mean_ci.ok() ? IntervalJson(*mean_ci) : json(nullptr);
  out["stddev"] = m.n < 2 ? json(nullptr) : Finite(std::sqrt(m.Variance()));
  out["delta_conversion"] = nullptr;
  if (a.conversion) {
    const auto& c = *a.conversion;
    out["delta_conversion"] = {{"difference", Finite(c.difference)},
                               {"ci", IntervalJson(c.ci)},
                               {"p", Finite(c.p_value)},
                               {"z", Finite(c.z)},
                               {"relative_lift", c.relative_lift ? Finite(*c.relative_lift) : json(nullptr)}};
  }
  out["delta_mean"] = nullptr;
  if (a.mean) {
    const auto& w = *a.mean;
    out["delta_mean"] = {{"difference", Finite(w.difference)},
                         {"ci", IntervalJson(w.ci)},
                         {"p", Finite(w.p_value)},
                         {"t", Finite(w.t)},
                         {"df", Finite(w.df)}};
  }
  return out;
}

}  // namespace

Result<ControlChoice> ChooseControl(const v1::StatsReport& report, const std::map<std::string, uint32_t>& weights,
                                    const std::string& prefix) {
  std::map<std::string, uint64_t> users;  // every arm known, with its users over all buckets
  for (const auto& row : report.rows()) users[row.arm()] += row.users_exposed();
  for (const auto& [arm, _] : weights) users.try_emplace(arm, 0);

  if (!prefix.empty()) {
    if (users.count(prefix)) return ControlChoice{prefix, ControlSource::kFlag};
    std::vector<std::string> all, matches;
    for (const auto& [arm, _] : users) {
      all.push_back(ArmLabel(arm));
      if (arm.rfind(prefix, 0) == 0) matches.push_back(arm);
    }
    if (matches.size() == 1) return ControlChoice{matches[0], ControlSource::kFlag};
    if (matches.empty())
      return Status::InvalidArgument(fmt::format("control: no arm starts with {} (arms: {})", prefix,
                                                 all.empty() ? "none" : Join(all, ", ")));
    for (auto& m : matches) m = ArmLabel(m);
    return Status::InvalidArgument(fmt::format("control: {} is ambiguous: {}", prefix, Join(matches, ", ")));
  }

  // Highest weight, then most users; the map's order makes the smaller name win a tie.
  const std::string* best = nullptr;
  std::tuple<uint32_t, uint64_t> best_key{0, 0};
  for (const auto& [arm, n] : users) {
    auto w = weights.find(arm);
    std::tuple<uint32_t, uint64_t> key{w == weights.end() ? 0 : w->second, n};
    if (!best || key > best_key) {
      best = &arm;
      best_key = key;
    }
  }
  if (!best) return ControlChoice{};
  return ControlChoice{*best, std::get<0>(best_key) > 0 ? ControlSource::kWeight : ControlSource::kUsers};
}

ExperimentResult AnalyzeExperiment(const v1::StatsQuery& query, const v1::StatsReport& report,
                                   const std::map<std::string, uint32_t>& weights, const ControlChoice& control) {
  ExperimentResult out{query, control, weights, {}, report.unattributed_users(), report.unattributed_events(),
                       report.user_cap_percentile() > 0 ? report.user_cap_percentile() : 100};
  std::map<int64_t, std::vector<v1::ArmBucket>> buckets;
  for (const auto& row : report.rows()) buckets[row.bucket_unix_s()].push_back(row);
  const bool with_event = !query.event().empty();

  for (auto& [start, rows] : buckets) {
    std::sort(rows.begin(), rows.end(), [&](const v1::ArmBucket& a, const v1::ArmBucket& b) {
      return std::make_tuple(a.arm() != control.arm, a.arm()) < std::make_tuple(b.arm() != control.arm, b.arm());
    });
    BucketResult bucket;
    bucket.bucket_unix_s = start;
    const v1::ArmBucket* c = !rows.empty() && rows[0].arm() == control.arm && !control.arm.empty() ? &rows[0] : nullptr;
    for (const v1::ArmBucket& row : rows) {
      ArmResult a;
      a.row = row;
      a.control = c && &row == c;
      if (with_event && c && !a.control) {
        auto z = hub::TwoProportionZTest({c->users_exposed(), c->users_with_event()},
                                         {row.users_exposed(), row.users_with_event()}, kConfidence);
        if (z.ok()) a.conversion = *z;
        auto t = hub::WelchTTest({c->event_count(), c->sum(), c->sum_squares()},
                                 {row.event_count(), row.sum(), row.sum_squares()}, kConfidence);
        if (t.ok()) a.mean = *t;
      }
      bucket.arms.push_back(std::move(a));
    }
    bucket.srm = CheckSampleRatio(bucket.arms, weights);
    out.buckets.push_back(std::move(bucket));
  }
  return out;
}

std::string RenderExperimentTable(const ExperimentResult& r) {
  const v1::StatsQuery& q = r.query;
  const bool with_event = !q.event().empty();
  std::string out = fmt::format("{}: {}, {}, {}", q.app(), with_event ? "event " + q.event() : "exposures only",
                                q.flight().empty() ? "outside flights" : "flight " + q.flight(),
                                q.from_unix_s() > 0 ? "since " + FormatUtc(q.from_unix_s()) : "all time");
  if (!q.by().empty()) out += ", by " + q.by();
  if (r.control.source != ControlSource::kNone)
    out += fmt::format("; control {} ({})", ArmLabel(r.control.arm), SourceReason(r.control.source));
  out += "\n";
  const std::string unattributed =
      with_event && r.unattributed_events > 0
          ? fmt::format("unattributed: {} events of {} users with no exposure here (counted for no arm)\n",
                        r.unattributed_events, r.unattributed_users)
          : "";
  if (r.buckets.empty()) return out + "no experiment data on the hub\n" + unattributed;

  for (size_t i = 0; i < r.buckets.size(); ++i) {
    const BucketResult& b = r.buckets[i];
    out += "\n";
    if (!q.by().empty()) out += BucketLabel(q.by(), b.bucket_unix_s) + "\n";
    std::vector<std::vector<std::string>> rows;
    // Request counts come from routers that ship them; older data has none,
    // nor latencies (the hourly rows of older routers).
    bool with_requests = false, with_latency = false;
    for (const ArmResult& a : b.arms) {
      with_requests |= a.row.requests() > 0;
      with_latency |= a.row.latency_counts_size() > 0;
    }
    rows.push_back({"ARM", "USERS", "EXPOSURES"});
    if (with_requests) rows.back().insert(rows.back().end(), {"REQUESTS", "5XX%"});
    if (with_latency) rows.back().push_back("P99-MS");
    if (with_event)
      for (const char* h :
           {"CONVERTED", "CONV%", "EVENTS", "MEAN", "STDDEV", "ΔCONV (95% CI)", "P", "ΔMEAN (95% CI)", "P"})
        rows.back().push_back(h);
    for (const ArmResult& a : b.arms) {
      const v1::ArmBucket& row = a.row;
      std::vector<std::string> cells = {ArmLabel(row.arm()) + (a.control ? " (control)" : ""),
                                        std::to_string(row.users_exposed()), std::to_string(row.exposures())};
      if (with_requests) {
        cells.push_back(std::to_string(row.requests()));
        cells.push_back(row.requests() == 0 ? "-"
                                            : fmt::format("{:.2f}%", 100.0 * static_cast<double>(row.errors_5xx()) /
                                                                         static_cast<double>(row.requests())));
      }
      if (with_latency)
        cells.push_back(row.latency_counts_size() ? fmt::format("{:.1f}", row.latency_p99_us() / 1000) : "-");
      if (with_event) {
        const hub::Moments m{row.event_count(), row.sum(), row.sum_squares()};
        cells.push_back(std::to_string(row.users_with_event()));
        const hub::Proportion conv{row.users_exposed(), row.users_with_event()};
        cells.push_back(conv.users == 0 ? "-" : fmt::format("{:.2f}%", 100 * conv.Rate()));
        cells.push_back(std::to_string(row.event_count()));
        cells.push_back(m.n == 0 ? "-" : Number(m.Mean()));
        cells.push_back(m.n < 2 ? "-" : Number(std::sqrt(m.Variance())));
        if (a.conversion) {
          cells.push_back(PointsCell(a.conversion->difference, a.conversion->ci));
          cells.push_back(FormatP(a.conversion->p_value));
        } else {
          cells.insert(cells.end(), {"-", "-"});
        }
        if (a.mean) {
          cells.push_back(MeanCell(a.mean->difference, a.mean->ci));
          cells.push_back(FormatP(a.mean->p_value));
        } else {
          cells.insert(cells.end(), {"-", "-"});
        }
      }
      rows.push_back(std::move(cells));
    }
    out += AlignColumns(rows);
    if (with_event) {
      // MEAN and STDDEV are of the capped values (StatsReport: ArmBucket.sum).
      uint64_t capped = 0;
      double cap = 0;
      for (const ArmResult& a : b.arms) {
        capped += a.row.users_capped();
        cap = std::max(cap, a.row.user_cap());
      }
      if (capped > 0)
        out += fmt::format("capped: {} users' values scaled down to a total of {} (the p{:g} of users' totals)\n",
                           capped, Number(cap), r.user_cap_percentile);
    }
    if (b.srm) out += SrmLine(*b.srm) + "\n";
  }
  if (!unattributed.empty()) out += "\n" + unattributed;
  return out;
}

nlohmann::json ExperimentJson(const ExperimentResult& r) {
  const v1::StatsQuery& q = r.query;
  const bool with_event = !q.event().empty();
  json out = {{"app", q.app()},
              {"flight", q.flight()},
              {"event", q.event()},
              {"by", q.by()},
              {"from_unix_s", q.from_unix_s()},
              {"control", r.control.arm.empty() ? json(nullptr) : json(r.control.arm)},
              {"control_source", r.control.source == ControlSource::kNone ? json(nullptr)
                                                                          : json(SourceName(r.control.source))},
              {"weights", json::object()},
              {"buckets", json::array()}};
  for (const auto& [arm, w] : r.weights) out["weights"][arm] = w;
  for (const BucketResult& b : r.buckets) {
    json bucket = {{"bucket_unix_s", b.bucket_unix_s},
                   {"bucket", q.by().empty() ? json(nullptr) : json(FormatUtc(b.bucket_unix_s))},
                   {"arms", json::array()},
                   {"srm", nullptr}};
    for (const ArmResult& a : b.arms) bucket["arms"].push_back(ArmJson(a, with_event));
    if (b.srm) {
      bucket["srm"] = {{"p", Finite(b.srm->result.p_value)},
                       {"chi_square", Finite(b.srm->result.chi_square)},
                       {"df", b.srm->result.df},
                       {"mismatch", b.srm->result.mismatch},
                       {"arms", b.srm->arms},
                       {"users", b.srm->users},
                       {"weights", b.srm->weights}};
    }
    out["buckets"].push_back(std::move(bucket));
  }
  if (with_event) {
    out["unattributed"] = {{"users", r.unattributed_users}, {"events", r.unattributed_events}};
    if (!r.cumulative.is_null()) out["cumulative"] = r.cumulative;
    out["user_cap_percentile"] = r.user_cap_percentile;
  }
  return out;
}

}  // namespace skyport::cli
