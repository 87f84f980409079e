#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

#include "contract/stats_math.h"

namespace skyport::hub {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// Relative 1e-9 against SciPy; the margin only matters for expected values of exactly 0.
Approx Ref(double want) { return Approx(want).epsilon(1e-9).margin(1e-15); }

// Golden values: printed by tests/unit/stats_reference.py (scipy 1.10.1, Debian 12), e.g.
//   z, p: stats.chi2_contingency([[cc, nc-cc], [ct, nt-ct]], correction=False) (z² = chi²)
//   ci:   d ± stats.norm.ppf((1 + conf) / 2) * sqrt(pc(1-pc)/nc + pt(1-pt)/nt)
struct ZRow {
  uint64_t nc, cc, nt, ct;
  double conf, z, p, low, high;
};
const ZRow kTwoProportion[] = {
    {10, 2, 12, 5, 0.95, 1.0864241622485482, 0.2772913764276034, -0.15652318686868777, 0.5898565202020212},
    {1000, 100, 1000, 120, 0.95, 1.429300849823232, 0.15291778186394195, -0.0074114819980199455, 0.04741148199801992},
    {1000000, 50000, 1000000, 50300, 0.95, 0.9719485465963756, 0.3310761466625504, -0.00030495903672582815, 0.0009049590367258176},
    {5000, 500, 5000, 1500, 0.95, 25.0, 6.113393412765105e-138, 0.18481818425742005, 0.2151818157425799},
    {2000, 300, 2500, 310, 0.95, -2.531773727666001, 0.011348719945629204, -0.046292926082624995, -0.005707073917374995},
    {50, 25, 20000, 9000, 0.95, -0.7097645242359047, 0.4778501717509397, -0.1887617820452617, 0.08876178204526172},
    {400, 0, 400, 6, 0.95, 2.4587273233072904, 0.013943047333608537, 0.0030880780228634275, 0.02691192197713657},
    {300, 299, 310, 300, 0.95, -2.683897769851137, 0.007276935376018312, -0.04964625315925576, -0.008203209206335646},
    {100, 10, 200, 20, 0.95, 0.0, 1.0, -0.07201367514532965, 0.07201367514532965},
    {1000, 100, 1000, 120, 0.99, 1.429300849823232, 0.15291778186394195, -0.016024793894757403, 0.05602479389475738},
};

// t, p: stats.ttest_ind_from_stats(mt, st, nt, mc, sc, nc, equal_var=False), mean and
// variance taken from these very moments; df: Welch–Satterthwaite;
// ci: d ± q * se, q = stats.t.isf((1 - conf) / 2, df) polished by Newton steps on t.sf
// (scipy 1.10's own quantile is off by ~1e-9; Boost's is not).
struct TRow {
  Moments c, t;
  double conf, t_stat, df, p, low, high;
};
const TRow kWelch[] = {
    {{2, 2.0, 2.25}, {3, 6.0, 16.5}, 0.95,
     1.0690449676496976, 2.5789473684210527, 0.3747771172209172, -2.2716736447102415, 4.2716736447102415},
    {{5, 50.0, 516.0}, {7, 87.5, 1147.75}, 0.95,
     1.7310619117945358, 9.98875351452671, 0.11415353021456849, -0.718369795681534, 5.718369795681534},
    {{30, 3000.0, 306525.0}, {30, 3240.0, 356445.0}, 0.95,
     2.065591117977289, 58.0, 0.04334490054021092, 0.24738152009329273, 15.752618479906708},
    {{1000, 25000.0, 2223400.0}, {1200, 32400.0, 3302775.0}, 0.95,
     1.1030548662794675, 2188.853116114629, 0.2701245975475519, -1.55566786439358, 5.55566786439358},
    {{1000000, 3200000.0, 154239856.0}, {1000000, 3210000.0, 154303956.0}, 0.95,
     0.5892556509887771, 1999998.0, 0.5556898568400148, -0.023261711913813453, 0.04326171191381303},
    {{60, 3000.0, 150236.0}, {50, 3250.0, 211556.25}, 0.95,
     34.26241444320964, 93.18987264639571, 1.317057526299061e-54, 14.130644238334312, 15.869355761665688},
    {{10, 50.0, 250.09}, {1000, 5300.0, 109009.0}, 0.95,
     1.0476454436543665, 1006.7859712230215, 0.2950534285204766, -0.2619238068799725, 0.8619238068799722},
    {{400, 320.0, 291.90999999999997}, {380, 285.0, 260.1775}, 0.95,
     -2.137126035662778, 747.0160656815304, 0.03291188798683277, -0.09592954928235795, -0.004070450717642143},
    {{20, 140.0, 999.0}, {25, 175.0, 1321.0}, 0.95,
     0.0, 36.80380673499268, 1.0, -0.9286851395081088, 0.9286851395081088},
    {{30, 3000.0, 306525.0}, {30, 3240.0, 356445.0}, 0.9,
     2.065591117977289, 58.0, 0.04334490054021092, 1.5261039887053274, 14.473896011294674},
};

// chi_square, p: stats.chisquare(observed, total * w / sum(w)) over the arms with w > 0.
struct SrmRow {
  std::vector<uint64_t> exposures;
  std::vector<double> weights;
  double chi_square;
  int df;
  double p;
};
const SrmRow kSrm[] = {
    {{5050, 4950}, {0.5, 0.5}, 1.0, 1, 0.31731050786291115},
    {{10000, 10321}, {1.0, 1.0}, 5.070665813690272, 1, 0.024334035286806444},
    {{500000, 501500}, {50.0, 50.0}, 2.2466300549176235, 1, 0.13390573510120424},
    {{1000, 1400}, {1.0, 1.0}, 66.66666666666667, 1, 3.215262727387118e-16},
    {{1000, 3100, 5900}, {0.1, 0.3, 0.6}, 5.0, 2, 0.0820849986238988},
    {{821, 1000, 1179}, {1.0, 1.0, 1.0}, 64.082, 2, 1.2155435000501993e-14},
    {{2010, 2950, 5040}, {2.0, 3.0, 5.0}, 1.2033333333333334, 2, 0.5478977118489639},
    {{12, 30}, {1.0, 3.0}, 0.2857142857142857, 1, 0.5929800980174267},
    {{200, 190, 205, 215, 190}, {1.0, 1.0, 1.0, 1.0, 1.0}, 2.25, 4, 0.6898864931364932},
    {{100, 0, 120}, {1.0, 0.0, 1.0}, 1.8181818181818181, 1, 0.1775298524121496},
};

TEST_CASE("TwoProportionZTest matches SciPy", "[hub][stats]") {
  for (const auto& row : kTwoProportion) {
    CAPTURE(row.nc, row.cc, row.nt, row.ct, row.conf);
    auto r = TwoProportionZTest({row.nc, row.cc}, {row.nt, row.ct}, row.conf);
    REQUIRE(r.ok());
    CHECK(r->difference == Ref(double(row.ct) / row.nt - double(row.cc) / row.nc));
    CHECK(r->z == Ref(row.z));
    CHECK(r->p_value == Ref(row.p));
    CHECK(r->ci.low == Ref(row.low));
    CHECK(r->ci.high == Ref(row.high));
  }
}

TEST_CASE("WelchTTest matches SciPy", "[hub][stats]") {
  for (const auto& row : kWelch) {
    CAPTURE(row.c.n, row.t.n, row.conf);
    auto r = WelchTTest(row.c, row.t, row.conf);
    REQUIRE(r.ok());
    CHECK(r->difference == Ref(row.t.Mean() - row.c.Mean()));
    CHECK(r->t == Ref(row.t_stat));
    CHECK(r->df == Ref(row.df));
    CHECK(r->p_value == Ref(row.p));
    CHECK(r->ci.low == Ref(row.low));
    CHECK(r->ci.high == Ref(row.high));
  }
}

TEST_CASE("SampleRatioMismatch matches SciPy", "[hub][stats]") {
  for (const auto& row : kSrm) {
    CAPTURE(row.exposures, row.weights);
    auto r = SampleRatioMismatch(row.exposures, row.weights);
    REQUIRE(r.ok());
    CHECK(r->chi_square == Ref(row.chi_square));
    CHECK(r->df == row.df);
    CHECK(r->p_value == Ref(row.p));
    CHECK(r->mismatch == (row.p < 0.001));
  }
}

// Wilson: (r + z²/2n) / (1 + z²/n) ± z / (1 + z²/n) · sqrt(r(1−r)/n + z²/4n²), z = norm.ppf((1 + conf) / 2)
// (statsmodels' proportion_confint(method="wilson") gives the same); the mean's interval:
// m ± stats.t.ppf((1 + conf) / 2, n − 1) · s / sqrt(n).
TEST_CASE("ProportionInterval: the Wilson score interval", "[hub][stats]") {
  struct Row {
    uint64_t n, c;
    double conf, low, high;
  };
  const Row rows[] = {{44, 15, 0.95, 0.21875819519344444, 0.48860858782061745},
                      {10, 0, 0.95, 0.0, 0.27753279986288915},
                      {10, 10, 0.95, 0.7224672001371109, 1.0},
                      {1000, 123, 0.9, 0.10692639310384755, 0.14110808229893185},
                      {1, 1, 0.95, 0.20654931437723745, 1.0}};
  for (const auto& row : rows) {
    CAPTURE(row.n, row.c, row.conf);
    auto r = ProportionInterval({row.n, row.c}, row.conf);
    REQUIRE(r.ok());
    CHECK(r->low == Ref(row.low));
    CHECK(r->high == Ref(row.high));
  }
  CHECK(ProportionInterval({10, 0})->low == 0.0);  // exactly, not rounding dust
  CHECK_FALSE(ProportionInterval({0, 0}).ok());
  CHECK_FALSE(ProportionInterval({5, 6}).ok());
  CHECK_FALSE(ProportionInterval({5, 1}, 1.0).ok());
}

TEST_CASE("MeanInterval: Student's t interval of a mean", "[hub][stats]") {
  const Moments m{8, 40.0, 232.0};  // 2, 4, 4, 4, 5, 5, 7, 9
  auto r = MeanInterval(m);
  REQUIRE(r.ok());
  CHECK(r->low == Ref(3.2125120822041073));
  CHECK(r->high == Ref(6.787487917795893));
  auto same = MeanInterval({3, 6.0, 12.0});  // 2, 2, 2: no spread, the point
  REQUIRE(same.ok());
  CHECK(same->low == 2.0);
  CHECK(same->high == 2.0);
  CHECK_FALSE(MeanInterval({1, 5.0, 25.0}).ok());
  CHECK_FALSE(MeanInterval({4, kInf, 1.0}).ok());
}

TEST_CASE("Moments and Proportion helpers", "[hub][stats]") {
  const Moments m{4, 10.0, 30.0};  // 1, 2, 3, 4
  CHECK(m.Mean() == 2.5);
  CHECK(m.Variance() == Approx(5.0 / 3));
  CHECK(Moments{1, 3.0, 9.0}.Variance() == 0);
  CHECK(Moments{}.Mean() == 0);
  CHECK(Moments{3, 0.3, 0.03}.Variance() >= 0);  // rounding never goes below 0
  const Moments b = Moments::FromProportion({10, 3});
  CHECK(b.Mean() == Approx(0.3));
  CHECK(b.Variance() == Approx(0.3 * 0.7 * 10 / 9));
  CHECK(Proportion{0, 0}.Rate() == 0);
  CHECK(Proportion{8, 2}.Rate() == 0.25);
}

TEST_CASE("swapping the arms flips the signs and keeps p", "[hub][stats]") {
  for (const auto& row : kTwoProportion) {
    auto ab = TwoProportionZTest({row.nc, row.cc}, {row.nt, row.ct}, row.conf);
    auto ba = TwoProportionZTest({row.nt, row.ct}, {row.nc, row.cc}, row.conf);
    REQUIRE((ab.ok() && ba.ok()));
    CHECK(ba->z == Approx(-ab->z).margin(1e-12));
    CHECK(ba->p_value == Approx(ab->p_value));
    CHECK(ba->ci.low == Approx(-ab->ci.high).margin(1e-12));
    CHECK((ab->p_value >= 0 && ab->p_value <= 1));
  }
  for (const auto& row : kWelch) {
    auto ab = WelchTTest(row.c, row.t, row.conf);
    auto ba = WelchTTest(row.t, row.c, row.conf);
    REQUIRE((ab.ok() && ba.ok()));
    CHECK(ba->t == Approx(-ab->t).margin(1e-12));
    CHECK(ba->df == Approx(ab->df));
    CHECK(ba->p_value == Approx(ab->p_value));
    CHECK(ba->ci.high == Approx(-ab->ci.low).margin(1e-12));
    CHECK((ab->p_value >= 0 && ab->p_value <= 1));
  }
}

TEST_CASE("lift, and tests with no spread", "[hub][stats]") {
  auto lift = TwoProportionZTest({1000, 100}, {1000, 120});
  REQUIRE(lift.ok());
  CHECK(*lift->relative_lift == Approx(0.2));

  auto none = TwoProportionZTest({500, 0}, {700, 0});  // nobody converted yet
  REQUIRE(none.ok());
  CHECK((none->z == 0 && none->p_value == 1 && !none->relative_lift));
  CHECK((none->ci.low == 0 && none->ci.high == 0));

  auto same = WelchTTest({5, 10.0, 20.0}, {8, 16.0, 32.0});  // every value is 2
  REQUIRE(same.ok());
  CHECK((same->t == 0 && same->p_value == 1 && same->df == 11));
  auto apart = WelchTTest({5, 10.0, 20.0}, {8, 24.0, 72.0});  // 2s against 3s
  REQUIRE(apart.ok());
  CHECK((apart->t == kInf && apart->p_value == 0));
  CHECK((apart->ci.low == 1 && apart->ci.high == 1));
}

TEST_CASE("SampleRatioMismatch edge cases", "[hub][stats]") {
  auto exact = SampleRatioMismatch({100, 200, 300}, {1, 2, 3});
  REQUIRE(exact.ok());
  CHECK((exact->chi_square == 0 && exact->p_value == 1 && !exact->mismatch));

  auto empty = SampleRatioMismatch({0, 0}, {1, 1});
  REQUIRE(empty.ok());
  CHECK((empty->p_value == 1 && !empty->mismatch));

  auto stray = SampleRatioMismatch({100, 3, 100}, {1, 0, 1});  // users in an arm set to 0
  REQUIRE(stray.ok());
  CHECK((stray->chi_square == kInf && stray->p_value == 0 && stray->mismatch));

  auto one_arm = SampleRatioMismatch({0, 250}, {0, 1});
  REQUIRE(one_arm.ok());
  CHECK((one_arm->df == 0 && one_arm->p_value == 1));

  auto loose = SampleRatioMismatch({10000, 10321}, {1, 1}, 0.05);  // p ≈ 0.024
  REQUIRE(loose.ok());
  CHECK(loose->mismatch);
}

TEST_CASE("invalid input is an error value", "[hub][stats]") {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  CHECK(TwoProportionZTest({0, 0}, {10, 1}).status().code() == Code::kInvalidArgument);
  CHECK(TwoProportionZTest({10, 11}, {10, 1}).status().code() == Code::kInvalidArgument);
  for (double conf : {0.0, 1.0, -0.5, nan})
    CHECK(TwoProportionZTest({10, 1}, {10, 2}, conf).status().code() == Code::kInvalidArgument);

  const Moments ok{10, 5.0, 10.0};
  for (const Moments& bad : {Moments{1, 1.0, 1.0}, Moments{10, nan, 1.0}, Moments{10, 1.0, -1.0},
                             Moments{10, kInf, 1.0}}) {
    CHECK(WelchTTest(ok, bad).status().code() == Code::kInvalidArgument);
    CHECK(WelchTTest(bad, ok).status().code() == Code::kInvalidArgument);
  }
  CHECK(WelchTTest(ok, ok, 1.5).status().code() == Code::kInvalidArgument);

  CHECK(SampleRatioMismatch({1, 2}, {1}).status().code() == Code::kInvalidArgument);
  CHECK(SampleRatioMismatch({1}, {1}).status().code() == Code::kInvalidArgument);
  CHECK(SampleRatioMismatch({1, 2}, {1, -1}).status().code() == Code::kInvalidArgument);
  CHECK(SampleRatioMismatch({1, 2}, {0, 0}).status().code() == Code::kInvalidArgument);
  CHECK(SampleRatioMismatch({1, 2}, {1, nan}).status().code() == Code::kInvalidArgument);
  CHECK(SampleRatioMismatch({1, 2}, {1, 1}, 2).status().code() == Code::kInvalidArgument);
  CHECK(WelchTTest({1, 1.0, 1.0}, ok).status().message() == "control: needs n >= 2, has 1");
}

}  // namespace
}  // namespace skyport::hub
