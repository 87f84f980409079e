#include <catch2/catch.hpp>

#include <cmath>
#include <random>

#include "contract/stats_math.h"

namespace skyport::hub {
namespace {

// Golden values printed by tests/unit/stats_reference.py (scipy 1.10.1): log Λ as
// stats.norm.logpdf(d, 0, sqrt(V + τ²)) − stats.norm.logpdf(d, 0, sqrt(V)) — the mixture
// density against the null's, an independent route to the closed form in stats_math.cc.
struct MsprtRow {
  Moments c, t;
  double tau2, alpha, log_lambda, p, low, high;
};
const MsprtRow kMsprt[] = {
    {{100, 1000.0, 10891.0}, {100, 1019.9999999999999, 11294.999999999998}, 1.0, 0.05,
     -0.8459944747160123, 1.0, -1.0930450582501365, 1.4930450582501351},
    {{1000, 10000.0, 108991.0}, {1000, 10600.0, 121351.0}, 1.0, 0.05,
     7.805570991591263, 0.00040745869532301496, 0.17136375484407546, 1.028636245155924},
    {{5000, 500.0, 499.91}, {5000, 550.0, 540.9039}, 0.0001, 0.05,
     0.3266157993881649, 0.7213608370683039, -0.009303913785248315, 0.029303913785248305},
    {{50, 50.0, 99.0}, {60, 12.0, 87.36}, 0.25, 0.01,
     5.234596831867403, 0.005328972522681511, -1.5581964753751114, -0.04180352462488879},
    {{20000, 100000.0, 2499900.0}, {20000, 100000.0, 2499900.0}, 0.01, 0.05,
     -0.3465735902799725, 1.0, -0.36563948713638483, 0.36563948713638483},
    {{3000, 6000.0, 14999.0}, {3000, 7500.0, 21749.0}, 0.1, 0.05,
     183.7496382272879, 1.579596148632496e-80, 0.4140459967457437, 0.5859540032542563},
};

TEST_CASE("MsprtNormal matches the mixture likelihood ratio", "[hub][stats]") {
  for (const auto& row : kMsprt) {
    CAPTURE(row.c.n, row.t.n, row.tau2, row.alpha);
    auto r = MsprtNormal(row.c, row.t, row.tau2, row.alpha);
    REQUIRE(r.ok());
    CHECK(r->log_lambda == Approx(row.log_lambda).epsilon(1e-9));
    CHECK(r->p_value == Approx(row.p).epsilon(1e-9));
    CHECK(r->ci.low == Approx(row.low).epsilon(1e-9));
    CHECK(r->ci.high == Approx(row.high).epsilon(1e-9));
    CHECK(r->reject == (row.p <= row.alpha));
    // The interval leaves out 0 exactly when the test of "no difference" rejects.
    CHECK((r->ci.low > 0 || r->ci.high < 0) == r->reject);
  }
}

TEST_CASE("MsprtNormal: running minimum, edge cases, errors", "[hub][stats]") {
  // Looks at a growing experiment whose gap opens and then closes again.
  double p = 1;
  const double gaps[] = {0.0, 0.2, 0.5, 0.3, 0.05, 0.0, 0.4, 0.1};
  for (size_t i = 0; i < std::size(gaps); ++i) {
    const uint64_t n = 100 * (i + 1);
    const Moments c{n, 0.0, double(n)};  // mean 0, variance about 1
    const Moments t{n, gaps[i] * n, double(n) + gaps[i] * gaps[i] * n};
    auto r = MsprtNormal(c, t, 0.1, 0.05, p);
    REQUIRE(r.ok());
    CHECK(r->p_value <= p);
    p = r->p_value;
  }
  CHECK(p < 1);

  auto flat = MsprtNormal({10, 20.0, 40.0}, {10, 20.0, 40.0}, 1.0);
  REQUIRE(flat.ok());
  CHECK((flat->p_value == 1 && !flat->reject));
  auto apart = MsprtNormal({10, 20.0, 40.0}, {10, 30.0, 90.0}, 1.0);
  REQUIRE(apart.ok());
  CHECK((apart->p_value == 0 && apart->reject && apart->ci.low == 1));

  const Moments ok{10, 5.0, 10.0};
  CHECK(MsprtNormal({1, 1.0, 1.0}, ok, 1.0).status().code() == Code::kInvalidArgument);
  CHECK(MsprtNormal(ok, ok, 0.0).status().code() == Code::kInvalidArgument);
  CHECK(MsprtNormal(ok, ok, 1.0, 1.0).status().code() == Code::kInvalidArgument);
  CHECK(MsprtNormal(ok, ok, 1.0, 0.05, 1.5).status().code() == Code::kInvalidArgument);
}

// Simulated experiments with no true difference, looked at kLooks times each: the
// always-valid p-value must reject in at most about alpha of them, where a fixed-horizon
// test checked at every look rejects far more often. Seeded, so the counts are fixed.
constexpr int kRuns = 1000;
constexpr int kLooks = 50;
constexpr double kAlpha = 0.05;
constexpr double kSlack = 0.01;  // ± 2 standard errors of a rate near 0.05 over 1000 runs is 0.014

TEST_CASE("mSPRT keeps its error rate under peeking; a naive test does not", "[hub][stats]") {
  std::mt19937_64 rng(20170601);
  std::normal_distribution<double> value(10.0, 3.0);
  int msprt_rejects = 0, naive_rejects = 0;
  for (int run = 0; run < kRuns; ++run) {
    Moments c, t;
    double p = 1;
    bool naive = false;
    for (int look = 0; look < kLooks; ++look) {
      for (int i = 0; i < 20; ++i) {
        const double x = value(rng), y = value(rng);
        c = {c.n + 1, c.sum + x, c.sum_sq + x * x};
        t = {t.n + 1, t.sum + y, t.sum_sq + y * y};
      }
      auto seq = MsprtNormal(c, t, 1.0, kAlpha, p);
      auto fixed = WelchTTest(c, t);
      REQUIRE((seq.ok() && fixed.ok()));
      p = seq->p_value;
      naive = naive || fixed->p_value <= kAlpha;
    }
    msprt_rejects += p <= kAlpha;
    naive_rejects += naive;
  }
  CAPTURE(msprt_rejects, naive_rejects);
  CHECK(msprt_rejects <= (kAlpha + kSlack) * kRuns);
  CHECK(naive_rejects > 3 * kAlpha * kRuns);
}

TEST_CASE("mSPRT on conversions: error rate under H0, power under H1", "[hub][stats]") {
  std::mt19937_64 rng(42);
  auto simulate = [&](double rate_c, double rate_t, int* naive_rejects) {
    std::binomial_distribution<uint64_t> batch_c(200, rate_c), batch_t(200, rate_t);
    int rejects = 0;
    for (int run = 0; run < kRuns; ++run) {
      Proportion c, t;
      double p = 1;
      bool naive = false;
      for (int look = 0; look < kLooks; ++look) {
        c = {c.users + 200, c.converted + batch_c(rng)};
        t = {t.users + 200, t.converted + batch_t(rng)};
        auto seq = MsprtNormal(Moments::FromProportion(c), Moments::FromProportion(t), 0.02 * 0.02, kAlpha, p);
        auto fixed = TwoProportionZTest(c, t);
        REQUIRE((seq.ok() && fixed.ok()));
        p = seq->p_value;
        naive = naive || fixed->p_value <= kAlpha;
      }
      rejects += p <= kAlpha;
      if (naive_rejects) *naive_rejects += naive;
    }
    return rejects;
  };
  int naive_rejects = 0;
  const int null_rejects = simulate(0.10, 0.10, &naive_rejects);
  CAPTURE(null_rejects, naive_rejects);
  CHECK(null_rejects <= (kAlpha + kSlack) * kRuns);
  CHECK(naive_rejects > 3 * kAlpha * kRuns);
  // 10% against 12%, 10 000 users per arm at the last look: a fixed test has power ≈ 1.
  const int power = simulate(0.10, 0.12, nullptr);
  CAPTURE(power);
  CHECK(power > 0.9 * kRuns);
}

}  // namespace
}  // namespace skyport::hub
