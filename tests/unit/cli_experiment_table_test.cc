// `skyport stats`, the hub's part: flags to StatsQuery, control choice, the
// experiment table and its JSON. Expected statistics come from SciPy 1.10
// (stats.norm / stats.t / stats.chisquare on the same counts).
#include <catch2/catch.hpp>

#include "cli/columns.h"
#include "cli/experiment_query.h"
#include "cli/experiment_table.h"

using namespace skyport;
using namespace skyport::cli;
using nlohmann::json;

namespace {

constexpr int64_t kMay1 = 1'714'521'600;  // 2024-05-01T00:00:00Z, a Wednesday
constexpr int64_t kDay = 86'400;
const std::string kA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const std::string kB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const std::string kC = "cccccccccccccccccccccccccccccccccccccccc";

v1::ArmBucket Row(const std::string& arm, uint64_t users, uint64_t exposures, int64_t bucket = 0) {
  v1::ArmBucket r;
  r.set_arm(arm);
  r.set_bucket_unix_s(bucket);
  r.set_users_exposed(users);
  r.set_exposures(exposures);
  return r;
}

// `events` values with sum `sum` and sum of squares `sum_sq`, from `converted` users.
v1::ArmBucket EventRow(const std::string& arm, uint64_t users, uint64_t exposures, uint64_t converted,
                       uint64_t events, double sum, double sum_sq, int64_t bucket = 0) {
  v1::ArmBucket r = Row(arm, users, exposures, bucket);
  r.set_users_with_event(converted);
  r.set_event_count(events);
  r.set_sum(sum);
  r.set_sum_squares(sum_sq);
  return r;
}

v1::StatsReport Report(std::vector<v1::ArmBucket> rows) {
  v1::StatsReport r;
  for (auto& row : rows) *r.add_rows() = std::move(row);
  return r;
}

v1::StatsQuery Query(const std::string& event, const std::string& by = "", int64_t from = 0) {
  ExperimentOptions o;
  o.event = event;
  o.by = by;
  auto q = MakeStatsQuery("shop", o, kMay1 + 10 * kDay);
  REQUIRE(q.ok());
  q->set_from_unix_s(from);
  return *q;
}

// Control kA: 1000 users, 100 converted, 150 events of mean 10 and sd 4.
// kB: 1000 users, 130 converted, 180 events of mean 11 and sd 5.
// kC: 1000 users, 90 converted, one event of value 7.
v1::StatsReport ThreeArms(int64_t bucket = 0) {
  return Report({EventRow(kA, 1000, 4000, 100, 150, 1500, 17384, bucket),
                 EventRow(kB, 1000, 4100, 130, 180, 1980, 26255, bucket),
                 EventRow(kC, 1000, 3900, 90, 1, 7, 49, bucket)});
}

ExperimentResult Analyze(const v1::StatsQuery& q, const v1::StatsReport& report,
                         const std::map<std::string, uint32_t>& weights, const std::string& control = "") {
  auto choice = ChooseControl(report, weights, control);
  REQUIRE(choice.ok());
  return AnalyzeExperiment(q, report, weights, *choice);
}

}  // namespace

TEST_CASE("ParseSince: durations, RFC 3339 times and dates, rounded down to the hour", "[cli][experiment]") {
  const int64_t now = kMay1 + 13 * 3600 + 25 * 60;  // 13:25
  struct Row {
    std::string since;
    int64_t want;
  };
  const Row rows[] = {
      {"", 0},
      {"24h", kMay1 - kDay + 13 * 3600},
      {"30m", kMay1 + 12 * 3600},  // 12:55 -> the 12:00 hour
      {"1h30m", kMay1 + 11 * 3600},
      {"7d", kMay1 - 7 * kDay + 13 * 3600},
      {"1w", kMay1 - 7 * kDay + 13 * 3600},
      {"90s", kMay1 + 13 * 3600},
      {"2024-05-01", kMay1},
      {"2024-05-01T10:59:59Z", kMay1 + 10 * 3600},
      {"2024-05-01t10:00:00z", kMay1 + 10 * 3600},
      {"2024-05-01 10:00:00Z", kMay1 + 10 * 3600},
      {"2024-05-01T10:59:60Z", kMay1 + 11 * 3600},  // a leap second: the next hour's first second
      {"2024-05-01T12:30:00.123+02:00", kMay1 + 10 * 3600},
      {"2024-04-30T23:00:00-01:00", kMay1},
      {"1970-01-01T00:00:00Z", 0},
  };
  for (const Row& r : rows) {
    INFO(r.since);
    auto got = ParseSince(r.since, now);
    REQUIRE(got.ok());
    CHECK(*got == r.want);
  }
  for (const char* bad : {"0h", "24", "h", "24x", "-1h", "1h-", "2024-5-01", "2024-02-30", "2024-05-01T25:00:00Z",
                          "2024-05-01T10:00:00", "2024-05-01T10:00Z", "2024-05-01T10:00:00+0200",
                          "2024-05-01T10:00:00.Z", "2024-05-02", "99999999h", "yesterday"}) {
    INFO(bad);
    auto got = ParseSince(bad, now);
    REQUIRE_FALSE(got.ok());
    CHECK(got.status().code() == Code::kInvalidArgument);
    CHECK_THAT(got.status().message(), Catch::StartsWith(std::string("since: ") + bad + ": "));
  }
}

TEST_CASE("MakeStatsQuery: the flags as a StatsQuery", "[cli][experiment]") {
  ExperimentOptions o;
  o.event = "purchase";
  o.flight = "checkout-v2";
  o.by = "week";
  o.since = "2024-05-01";
  auto q = MakeStatsQuery("shop", o, kMay1 + kDay);
  REQUIRE(q.ok());
  CHECK(q->app() == "shop");
  CHECK(q->flight() == "checkout-v2");
  CHECK(q->event() == "purchase");
  CHECK(q->by() == "week");
  CHECK(q->from_unix_s() == kMay1);
  CHECK(q->to_unix_s() == 0);  // the hub's now

  auto plain = MakeStatsQuery("shop", ExperimentOptions{}, kMay1);
  REQUIRE(plain.ok());
  CHECK(plain->event().empty());
  CHECK(plain->by().empty());
  CHECK(plain->from_unix_s() == 0);

  ExperimentOptions bad_by;
  bad_by.by = "year";
  CHECK(MakeStatsQuery("shop", bad_by, kMay1).status().message() == "by: year: must be hour, day, week or month");
  for (const char* event : {"$exposure", "has space", "é"}) {
    ExperimentOptions bad_event;
    bad_event.event = event;
    CHECK_THAT(MakeStatsQuery("shop", bad_event, kMay1).status().message(),
               Catch::StartsWith(std::string("event: ") + event + ": must be 1 to 64"));
  }
  ExperimentOptions bad_since;
  bad_since.since = "soon";
  CHECK_THAT(MakeStatsQuery("shop", bad_since, kMay1).status().message(), Catch::StartsWith("since: soon: "));
}

TEST_CASE("FormatUtc", "[cli][experiment]") {
  CHECK(FormatUtc(0) == "1970-01-01T00:00:00Z");
  CHECK(FormatUtc(kMay1 + 13 * 3600 + 5 * 60 + 9) == "2024-05-01T13:05:09Z");
}

TEST_CASE("AlignColumns counts characters, not bytes", "[cli][experiment]") {
  CHECK(AlignColumns({{"ΔCONV", "P"}, {"+1.00", "0.5"}}) == "ΔCONV  P\n+1.00  0.5\n");
}

TEST_CASE("ChooseControl: --control, else highest weight, else most users", "[cli][experiment]") {
  // Two days; kB has the most users in total, kC is only in the weights.
  const v1::StatsReport report = Report({Row(kA, 50, 60, kMay1), Row(kB, 40, 50, kMay1),
                                         Row(kA, 10, 10, kMay1 + kDay), Row(kB, 30, 40, kMay1 + kDay)});
  const std::string flight_a = "fast-path", flight_b = "fast-path-2";

  SECTION("most users over all buckets without weights") {
    auto got = ChooseControl(report, {}, "");
    REQUIRE(got.ok());
    CHECK(got->arm == kB);
    CHECK(got->source == ControlSource::kUsers);
    // A tie goes to the smaller name.
    auto tie = ChooseControl(Report({Row(kB, 5, 5), Row(kA, 5, 5)}), {}, "");
    CHECK(tie->arm == kA);
  }
  SECTION("the highest weight, even without users") {
    auto got = ChooseControl(report, {{kA, 10}, {kB, 10}, {kC, 80}}, "");
    REQUIRE(got.ok());
    CHECK(got->arm == kC);
    CHECK(got->source == ControlSource::kWeight);
    // Equal weights: the one with more users.
    CHECK(ChooseControl(report, {{kA, 50}, {kB, 50}}, "")->arm == kB);
  }
  SECTION("--control: exact, or the only arm with that prefix") {
    auto got = ChooseControl(report, {{kA, 90}, {kB, 10}}, "bbb");
    REQUIRE(got.ok());
    CHECK(got->arm == kB);
    CHECK(got->source == ControlSource::kFlag);
    CHECK(ChooseControl(report, {{kC, 1}}, "c")->arm == kC);  // an arm of the weights only
    // A flight's arm names: one is a prefix of the other, and the exact one wins.
    const v1::StatsReport flights = Report({Row(flight_a, 1, 1), Row(flight_b, 2, 2)});
    CHECK(ChooseControl(flights, {}, flight_a)->arm == flight_a);

    auto ambiguous = ChooseControl(flights, {}, "fast");
    REQUIRE_FALSE(ambiguous.ok());
    CHECK(ambiguous.status().message() == "control: fast is ambiguous: fast-path, fast-path-2");
    auto none = ChooseControl(report, {}, "d");
    REQUIRE_FALSE(none.ok());
    CHECK(none.status().message() == "control: no arm starts with d (arms: aaaaaaaaaaaa, bbbbbbbbbbbb)");
    CHECK(ChooseControl({}, {}, "d").status().message() == "control: no arm starts with d (arms: none)");
  }
  SECTION("no arm at all") {
    auto got = ChooseControl({}, {}, "");
    REQUIRE(got.ok());
    CHECK(got->arm.empty());
    CHECK(got->source == ControlSource::kNone);
  }
}

TEST_CASE("RenderExperimentTable: deltas against control with 95% CI and p", "[cli][experiment]") {
  // Equal weights and users: control by users, then name (kA); SRM p = 1.
  // ΔCONV kB: +3.00pp, CI (+0.21, +5.79), p 0.0355; kC: -1.00pp (-3.57, +1.57), p 0.446.
  // ΔMEAN kB: +1.000, CI (+0.025, +1.975), p 0.0444 (Welch, df 327.5); kC has one event: "-".
  auto r = Analyze(Query("purchase"), ThreeArms(), {{kA, 1}, {kB, 1}, {kC, 1}});
  CHECK(RenderExperimentTable(r) ==
        "shop: event purchase, outside flights, all time; control aaaaaaaaaaaa (highest weight)\n"
        "\n"
        "ARM                     USERS  EXPOSURES  CONVERTED  CONV%   EVENTS  MEAN   STDDEV  "
        "ΔCONV (95% CI)          P      ΔMEAN (95% CI)           P\n"
        "aaaaaaaaaaaa (control)  1000   4000       100        10.00%  150     10.00  4.000   "
        "-                       -      -                        -\n"
        "bbbbbbbbbbbb            1000   4100       130        13.00%  180     11.00  5.000   "
        "+3.00pp (+0.21, +5.79)  0.035  +1.000 (+0.025, +1.975)  0.044\n"
        "cccccccccccc            1000   3900       90         9.00%   1       7.000  -       "
        "-1.00pp (-3.57, +1.57)  0.446  -                        -\n"
        "sample ratio mismatch: p=1.000 (users 1000/1000/1000 vs weights 1/1/1)\n");

  const ArmResult& b = r.buckets.at(0).arms.at(1);
  REQUIRE(b.conversion);
  CHECK(b.conversion->p_value == Approx(0.03548845046647471).epsilon(1e-9));
  CHECK(b.conversion->ci.low == Approx(0.0020679344393763656).epsilon(1e-9));
  REQUIRE(b.mean);
  CHECK(b.mean->p_value == Approx(0.04440443886611227).epsilon(1e-6));
  CHECK(b.mean->ci.low == Approx(0.025165252537511784).epsilon(1e-6));
  CHECK(b.mean->df == Approx(327.4779811096064).epsilon(1e-9));
}

TEST_CASE("RenderExperimentTable: fewer than 2 events, no events, no users", "[cli][experiment]") {
  // The control has a single event: no STDDEV and no ΔMEAN for anyone; an arm
  // without events has no MEAN; one without users no CONV% and no ΔCONV.
  auto r = Analyze(Query("signup"),
                   Report({EventRow(kA, 10, 10, 1, 1, 5, 25), EventRow(kB, 10, 12, 0, 0, 0, 0),
                           EventRow(kC, 0, 0, 2, 3, 3, 5)}),
                   {}, "a");
  CHECK(RenderExperimentTable(r) ==
        "shop: event signup, outside flights, all time; control aaaaaaaaaaaa (--control)\n"
        "\n"
        "ARM                     USERS  EXPOSURES  CONVERTED  CONV%   EVENTS  MEAN   STDDEV  "
        "ΔCONV (95% CI)            P      ΔMEAN (95% CI)  P\n"
        "aaaaaaaaaaaa (control)  10     10         1          10.00%  1       5.000  -       "
        "-                         -      -               -\n"
        "bbbbbbbbbbbb            10     12         0          0.00%   0       -      -       "
        "-10.00pp (-28.59, +8.59)  0.305  -               -\n"
        "cccccccccccc            0      0          2          -       3       1.000  1.000   "
        "-                         -      -               -\n");
  for (const ArmResult& a : r.buckets.at(0).arms) CHECK_FALSE(a.mean);
}

TEST_CASE("RenderExperimentTable and ExperimentJson: the per-user cap, when it bit", "[cli][experiment]") {
  v1::ArmBucket a = EventRow(kA, 10, 10, 2, 2, 10, 50);
  v1::ArmBucket b = EventRow(kB, 10, 10, 2, 2, 10, 50);  // one user's 1e12 capped at 5
  b.set_raw_sum(1e12 + 5);
  b.set_users_capped(1);
  b.set_user_cap(5);
  a.set_raw_sum(10);
  a.set_user_cap(5);
  v1::StatsReport report = Report({a, b});
  report.set_user_cap_percentile(99.9);
  auto r = Analyze(Query("buy"), report, {}, "a");
  const std::string table = RenderExperimentTable(r);
  CHECK(table.find("capped: 1 users' values scaled down to a total of 5.000 (the p99.9 of users' totals)\n") !=
        std::string::npos);
  json doc = ExperimentJson(r);
  CHECK(doc["user_cap_percentile"] == 99.9);
  const json& arm_b = doc["buckets"][0]["arms"][1];
  CHECK(arm_b["sum"] == 10.0);
  CHECK(arm_b["raw_sum"] == 1e12 + 5);
  CHECK(arm_b["users_capped"] == 1);
  CHECK(arm_b["user_cap"] == 5.0);
  CHECK(arm_b["mean"] == 5.0);
  // Nothing capped: no line.
  report.mutable_rows(1)->set_users_capped(0);
  CHECK(RenderExperimentTable(Analyze(Query("buy"), report, {}, "a")).find("capped:") == std::string::npos);
}

TEST_CASE("RenderExperimentTable: without an event, users and exposures only", "[cli][experiment]") {
  auto r = Analyze(Query(""), Report({Row(kB, 4900, 20000), Row(kA, 5100, 21000)}), {{kA, 50}, {kB, 50}});
  CHECK(RenderExperimentTable(r) ==
        "shop: exposures only, outside flights, all time; control aaaaaaaaaaaa (highest weight)\n"
        "\n"
        "ARM                     USERS  EXPOSURES\n"
        "aaaaaaaaaaaa (control)  5100   21000\n"
        "bbbbbbbbbbbb            4900   20000\n"
        "sample ratio mismatch: p=0.046 (users 5100/4900 vs weights 50/50)\n");
  CHECK_FALSE(r.buckets[0].arms[1].conversion);
  CHECK_FALSE(r.buckets[0].arms[1].mean);
}

TEST_CASE("RenderExperimentTable: request and 5xx counts when routers shipped them", "[cli][experiment]") {
  v1::StatsReport rep = Report({Row(kB, 4900, 20000), Row(kA, 5100, 21000)});
  rep.mutable_rows(0)->set_requests(20000);
  rep.mutable_rows(0)->set_errors_5xx(200);
  rep.mutable_rows(1)->set_requests(21000);
  auto r = Analyze(Query(""), rep, {});
  CHECK(RenderExperimentTable(r) ==
        "shop: exposures only, outside flights, all time; control aaaaaaaaaaaa (most users)\n"
        "\n"
        "ARM                     USERS  EXPOSURES  REQUESTS  5XX%\n"
        "aaaaaaaaaaaa (control)  5100   21000      21000     0.00%\n"
        "bbbbbbbbbbbb            4900   20000      20000     1.00%\n");
  auto doc = ExperimentJson(r);
  CHECK(doc["buckets"][0]["arms"][1]["errors_5xx"] == 200);
}

TEST_CASE("RenderExperimentTable: p99 from the hub's latency histograms", "[cli][experiment]") {
  v1::StatsReport rep = Report({Row(kA, 10, 10), Row(kB, 10, 10)});
  rep.mutable_rows(0)->set_requests(100);
  rep.mutable_rows(0)->set_status_2xx(100);
  rep.mutable_rows(0)->add_latency_counts(100);
  rep.mutable_rows(0)->set_latency_p50_us(125);
  rep.mutable_rows(0)->set_latency_p99_us(247.5);
  rep.mutable_rows(1)->set_requests(10);  // hourly rows of an older router: no latencies
  auto r = Analyze(Query(""), rep, {}, kA);
  CHECK(RenderExperimentTable(r) ==
        "shop: exposures only, outside flights, all time; control aaaaaaaaaaaa (--control)\n"
        "\n"
        "ARM                     USERS  EXPOSURES  REQUESTS  5XX%   P99-MS\n"
        "aaaaaaaaaaaa (control)  10     10         100       0.00%  0.2\n"
        "bbbbbbbbbbbb            10     10         10        0.00%  -\n");
  auto doc = ExperimentJson(r);
  CHECK(doc["buckets"][0]["arms"][0]["latency_p99_us"] == 247.5);
  CHECK(doc["buckets"][0]["arms"][0]["status"]["2xx"] == 100);
  CHECK(doc["buckets"][0]["arms"][1]["latency_p99_us"].is_null());
}

TEST_CASE("RenderExperimentTable: the sample-ratio warning", "[cli][experiment]") {
  SECTION("flagged below p 0.001") {
    auto r = Analyze(Query(""), Report({Row(kA, 6000, 6000), Row(kB, 4000, 4000)}), {{kA, 50}, {kB, 50}});
    REQUIRE(r.buckets[0].srm);
    CHECK(r.buckets[0].srm->result.mismatch);
    CHECK(r.buckets[0].srm->result.p_value == Approx(5.507248237212379e-89).epsilon(1e-6));
    CHECK_THAT(RenderExperimentTable(r),
               Catch::EndsWith("\nWARNING: sample ratio mismatch: p=5.5e-89 (users 6000/4000 vs weights 50/50) "
                               "< 0.001: users did not reach the arms in the configured ratio; do not trust the "
                               "deltas\n"));
  }
  SECTION("an arm with users but no weight is a certain mismatch; a weighted arm without users counts as 0") {
    auto r = Analyze(Query(""), Report({Row(kA, 500, 500), Row(kB, 500, 500)}), {{kA, 90}, {kC, 10}});
    REQUIRE(r.buckets[0].srm);
    CHECK(r.buckets[0].srm->arms == std::vector<std::string>{kA, kB, kC});
    CHECK(r.buckets[0].srm->users == std::vector<uint64_t>{500, 500, 0});
    CHECK(r.buckets[0].srm->weights == std::vector<double>{90, 0, 10});
    CHECK(r.buckets[0].srm->result.p_value == 0);
    CHECK_THAT(RenderExperimentTable(r),
               Catch::Contains("\nWARNING: sample ratio mismatch: p=0 (users 500/500/0 vs weights 90/0/10) < 0.001"));
  }
  SECTION("no line without weights, with a single arm, or with unused zero weights only") {
    auto unknown = Analyze(Query(""), Report({Row(kA, 6000, 6000), Row(kB, 4000, 4000)}), {});
    CHECK_FALSE(unknown.buckets[0].srm);
    CHECK_THAT(RenderExperimentTable(unknown), !Catch::Contains("sample ratio"));
    auto single = Analyze(Query(""), Report({Row(kA, 6000, 6000)}), {{kA, 100}, {kB, 0}});
    CHECK_FALSE(single.buckets[0].srm);
  }
}

TEST_CASE("RenderExperimentTable: one table per bucket, in time order", "[cli][experiment]") {
  // The hub sorts by bucket, but the order is not relied on. Day 2 has no
  // control: its arms are listed without deltas.
  v1::StatsReport report = ThreeArms(kMay1);
  *report.add_rows() = EventRow(kB, 10, 10, 5, 5, 5, 5, kMay1 + kDay);
  *report.add_rows() = EventRow(kC, 10, 10, 1, 1, 5, 5, kMay1 + kDay);
  std::swap(*report.mutable_rows(0), *report.mutable_rows(4));
  auto r = Analyze(Query("purchase", "day", kMay1), report, {}, kA);
  REQUIRE(r.buckets.size() == 2);
  CHECK(r.buckets[0].bucket_unix_s == kMay1);
  CHECK(r.buckets[0].arms.size() == 3);
  CHECK(r.buckets[0].arms[0].control);
  CHECK(r.buckets[0].arms[1].conversion);
  CHECK(r.buckets[1].bucket_unix_s == kMay1 + kDay);
  REQUIRE(r.buckets[1].arms.size() == 2);
  for (const ArmResult& a : r.buckets[1].arms) {
    CHECK_FALSE(a.control);
    CHECK_FALSE(a.conversion);
    CHECK_FALSE(a.mean);
  }
  std::string got = RenderExperimentTable(r);
  CHECK_THAT(got, Catch::StartsWith("shop: event purchase, outside flights, since 2024-05-01T00:00:00Z, by day; "
                                    "control aaaaaaaaaaaa (--control)\n\nday 2024-05-01\nARM "));
  CHECK_THAT(got, Catch::Contains("\n\nday 2024-05-02\nARM "));
  CHECK_THAT(got, Catch::EndsWith("\ncccccccccccc  10     10         1          10.00%  1       5.000  -       "
                                  "-               -  -               -\n"));

  // The other bucket labels.
  for (auto [by, start, label] : {std::tuple{"hour", kMay1 + 13 * 3600, "hour 2024-05-01T13:00Z"},
                                  std::tuple{"week", kMay1 - 2 * kDay, "week of 2024-04-29"},
                                  std::tuple{"month", kMay1, "month 2024-05"}}) {
    auto one = Analyze(Query("", by), Report({Row(kA, 1, 1, start)}), {});
    CHECK_THAT(RenderExperimentTable(one), Catch::Contains(std::string("\n\n") + label + "\nARM "));
  }
}

TEST_CASE("RenderExperimentTable: a flight, and no data", "[cli][experiment]") {
  v1::StatsQuery q = Query("", "", kMay1);
  q.set_flight("checkout");
  auto r = Analyze(q, Report({Row("fast-path", 3, 4), Row("baseline", 5, 6)}), {});
  CHECK(RenderExperimentTable(r) ==
        "shop: exposures only, flight checkout, since 2024-05-01T00:00:00Z; control baseline (most users)\n"
        "\n"
        "ARM                 USERS  EXPOSURES\n"
        "baseline (control)  5      6\n"
        "fast-path           3      4\n");
  auto empty = Analyze(Query("purchase"), {}, {{kA, 100}});
  CHECK(RenderExperimentTable(empty) ==
        "shop: event purchase, outside flights, all time; control aaaaaaaaaaaa (highest weight)\n"
        "no experiment data on the hub\n");
}

TEST_CASE("ExperimentJson: the documented shape", "[cli][experiment]") {
  auto r = Analyze(Query("purchase", "day", kMay1), ThreeArms(kMay1), {{kA, 1}, {kB, 1}, {kC, 1}});
  json doc = ExperimentJson(r);
  CHECK(doc["app"] == "shop");
  CHECK(doc["flight"] == "");
  CHECK(doc["event"] == "purchase");
  CHECK(doc["by"] == "day");
  CHECK(doc["from_unix_s"] == kMay1);
  CHECK(doc["control"] == kA);
  CHECK(doc["control_source"] == "weight");
  CHECK(doc["weights"] == json{{kA, 1}, {kB, 1}, {kC, 1}});
  REQUIRE(doc["buckets"].size() == 1);
  const json& bucket = doc["buckets"][0];
  CHECK(bucket["bucket_unix_s"] == kMay1);
  CHECK(bucket["bucket"] == "2024-05-01T00:00:00Z");
  REQUIRE(bucket["arms"].size() == 3);

  const json& a = bucket["arms"][0];
  CHECK(a["arm"] == kA);
  CHECK(a["control"] == true);
  CHECK(a["users"] == 1000);
  CHECK(a["exposures"] == 4000);
  CHECK(a["converted"] == 100);
  CHECK(a["conversion_rate"].get<double>() == Approx(0.1));
  CHECK(a["events"] == 150);
  CHECK(a["sum"] == 1500.0);
  CHECK(a["sum_squares"] == 17384.0);
  CHECK(a["mean"].get<double>() == Approx(10));
  CHECK(a["stddev"].get<double>() == Approx(4));
  CHECK(a["delta_conversion"].is_null());
  CHECK(a["delta_mean"].is_null());
  // Each arm's own intervals (contract/stats_math: Wilson, Student's t).
  const hub::Interval conv_ci = *hub::ProportionInterval({1000, 100});
  CHECK(a["conversion_ci"] == json::array({conv_ci.low, conv_ci.high}));
  CHECK(a["conversion_ci"][0].get<double>() == Approx(0.08290944359309571).epsilon(1e-9));
  const hub::Interval mean_ci = *hub::MeanInterval({150, 1500.0, 17384.0});
  CHECK(a["mean_ci"] == json::array({mean_ci.low, mean_ci.high}));
  CHECK(a["mean_ci"][0].get<double>() < 10.0);
  CHECK(a["mean_ci"][1].get<double>() > 10.0);

  const json& b = bucket["arms"][1];
  CHECK(b["control"] == false);
  const json& dc = b["delta_conversion"];
  CHECK(dc["difference"].get<double>() == Approx(0.03));
  CHECK(dc["ci"][0].get<double>() == Approx(0.0020679344393763656));
  CHECK(dc["ci"][1].get<double>() == Approx(0.057932065560623636));
  CHECK(dc["p"].get<double>() == Approx(0.03548845046647471));
  CHECK(dc["z"].get<double>() == Approx(2.102740605622114));
  CHECK(dc["relative_lift"].get<double>() == Approx(0.3));
  const json& dm = b["delta_mean"];
  CHECK(dm["difference"].get<double>() == Approx(1.0));
  CHECK(dm["ci"][1].get<double>() == Approx(1.9748347474624883).epsilon(1e-6));
  CHECK(dm["p"].get<double>() == Approx(0.04440443886611227).epsilon(1e-6));
  CHECK(dm["t"].get<double>() == Approx(2.0180183819889375));
  CHECK(dm["df"].get<double>() == Approx(327.4779811096064));

  const json& c = bucket["arms"][2];
  CHECK(c["stddev"].is_null());
  CHECK(c["delta_conversion"].is_object());
  CHECK(c["delta_mean"].is_null());

  const json& srm = bucket["srm"];
  CHECK(srm["p"].get<double>() == Approx(1));
  CHECK(srm["chi_square"].get<double>() == Approx(0));
  CHECK(srm["df"] == 2);
  CHECK(srm["mismatch"] == false);
  CHECK(srm["arms"] == json{kA, kB, kC});
  CHECK(srm["users"] == json{1000, 1000, 1000});
  CHECK(srm["weights"] == json{1.0, 1.0, 1.0});

  SECTION("without an event, --by or weights") {
    json plain = ExperimentJson(Analyze(Query(""), Report({Row(kA, 2, 3)}), {}));
    CHECK(plain["event"] == "");
    CHECK(plain["by"] == "");
    CHECK(plain["control_source"] == "users");
    CHECK(plain["weights"] == json::object());
    CHECK(plain["buckets"][0]["bucket"].is_null());
    CHECK(plain["buckets"][0]["srm"].is_null());
    CHECK(plain["buckets"][0]["arms"][0] ==
          json{{"arm", kA},
               {"control", true},
               {"users", 2},
               {"exposures", 3},
               {"requests", 0},
               {"errors_5xx", 0},
               {"status", {{"1xx", 0}, {"2xx", 0}, {"3xx", 0}, {"4xx", 0}, {"5xx", 0}}},
               {"latency_p50_us", nullptr},
               {"latency_p99_us", nullptr}});
  }
  SECTION("no data: no control, no buckets") {
    json empty = ExperimentJson(Analyze(Query(""), {}, {}));
    CHECK(empty["control"].is_null());
    CHECK(empty["control_source"].is_null());
    CHECK(empty["buckets"] == json::array());
  }
  SECTION("an infinite statistic is null; no lift on a control rate of 0") {
    // Every value is 1 in the control and 3 in the treatment: no spread, so
    // t = ∞ and p = 0. Nobody in the control converted.
    json inf = ExperimentJson(Analyze(Query("x"), Report({EventRow(kA, 5, 5, 0, 2, 2, 2),
                                                           EventRow(kB, 5, 5, 2, 2, 6, 18)}), {}, kA));
    const json& arm = inf["buckets"][0]["arms"][1];
    CHECK(arm["delta_mean"]["t"].is_null());
    CHECK(arm["delta_mean"]["p"] == 0.0);
    CHECK(arm["delta_mean"]["ci"] == json{2.0, 2.0});
    CHECK(arm["delta_conversion"]["relative_lift"].is_null());
  }
}
