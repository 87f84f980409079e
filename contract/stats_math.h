// Statistics of an experiment, treatment versus control: the numbers behind
// experiment gates and `skyport stats`. Pure functions of counts and sums; no I/O.
//
// Conventions for every function here:
// - "difference" is always treatment − control, so a positive difference means the
//   treatment is higher.
// - p-values are two-sided and lie in [0, 1].
// - Invalid input (too few users, more conversions than users, a confidence outside
//   (0, 1), non-finite sums, ...) gives InvalidArgument naming the field; nothing throws.
// - A test whose standard error is zero (e.g. no arm converted anyone yet, or every value
//   is the same) is not an error: equal estimates give statistic 0 and p = 1; different
//   estimates give an infinite statistic and p = 0, with the interval shrunk to the point.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "core/status.h"

namespace skyport::hub {

// Users exposed to an arm and how many of them converted.
struct Proportion {
  uint64_t users = 0;
  uint64_t converted = 0;

  // converted / users; 0 when there are no users.
  double Rate() const;
};

// Count, sum and sum of squares of a per-user value (revenue, latency, ...): what the
// routers ship as EventAggregate {count, sum, sum_squares}.
struct Moments {
  uint64_t n = 0;
  double sum = 0;
  double sum_sq = 0;

  // sum / n; 0 when n is 0.
  double Mean() const;
  // Sample variance, (sum_sq − sum²/n) / (n − 1), clamped at 0 against rounding; 0 when
  // n < 2. Computed from raw sums, so it loses digits when |mean| ≫ standard deviation.
  double Variance() const;
  // The 0/1 values of a proportion: n = users, sum = sum_sq = converted.
  static Moments FromProportion(Proportion p);
};

struct Interval {
  double low = 0;
  double high = 0;
};

// One arm's conversion rate with its interval: the Wilson score interval
// (stays within [0, 1] and keeps its coverage near 0 and 1 and for few users,
// where the Wald interval does not). Needs users >= 1 and converted <= users.
Result<Interval> ProportionInterval(Proportion p, double confidence = 0.95);

// One arm's mean with its interval: mean ± t_{(1+confidence)/2, n−1} · s / √n
// (Student's t, the sample standard deviation s). Needs n >= 2 and finite sums.
Result<Interval> MeanInterval(Moments m, double confidence = 0.95);

struct TwoProportionResult {
  double control_rate = 0;
  double treatment_rate = 0;
  double difference = 0;                // treatment_rate − control_rate
  std::optional<double> relative_lift;  // difference / control_rate; none when control_rate is 0
  double z = 0;                         // difference / pooled standard error
  double p_value = 1;
  Interval ci;  // difference ± z_{(1+confidence)/2} · unpooled (Wald) standard error
};

// Two-proportion z-test. The test uses the pooled rate under H0 (same p as Pearson's
// chi-square on the 2×2 table without continuity correction); the interval uses each
// arm's own rate. Needs users ≥ 1 and converted ≤ users in each arm.
Result<TwoProportionResult> TwoProportionZTest(Proportion control, Proportion treatment,
                                               double confidence = 0.95);

struct WelchResult {
  double control_mean = 0;
  double treatment_mean = 0;
  double difference = 0;  // treatment_mean − control_mean
  double t = 0;           // difference / sqrt(var_c/n_c + var_t/n_t)
  double df = 0;          // Welch–Satterthwaite; n_c + n_t − 2 when both variances are 0
  double p_value = 1;     // two-sided, Student t with df degrees of freedom
  Interval ci;            // difference ± t_{(1+confidence)/2, df} · standard error
};

// Welch's unequal-variance t-test on the difference in means. Needs n ≥ 2 in each arm,
// finite sums and sum_sq ≥ 0.
Result<WelchResult> WelchTTest(Moments control, Moments treatment, double confidence = 0.95);

struct SrmResult {
  double chi_square = 0;  // Σ (observed − expected)² / expected over arms with weight > 0
  int df = 0;             // (arms with weight > 0) − 1
  double p_value = 1;     // upper tail of chi-square(df); 1 when df is 0
  bool mismatch = false;  // p_value < threshold
};

// Sample-ratio mismatch: were users dealt to the arms in the configured proportions?
// exposures[i] users saw arm i, configured with weights[i] (any scale; normalised here).
// An arm with weight 0 and no exposures is left out; one with weight 0 and exposures is
// a certain mismatch (chi_square = ∞, p = 0). No exposures at all gives p = 1.
// Needs ≥ 2 arms, equal lengths, finite weights ≥ 0 with a positive sum, threshold in [0, 1].
Result<SrmResult> SampleRatioMismatch(const std::vector<uint64_t>& exposures,
                                      const std::vector<double>& weights, double threshold = 0.001);

struct SequentialResult {
  double difference = 0;  // treatment_mean − control_mean
  double variance = 0;    // V = var_c/n_c + var_t/n_t, the variance of the difference
  double log_lambda = 0;  // log of the mixture likelihood ratio (may be +∞)
  double p_value = 1;     // always-valid: min(previous_p, 1/Λ, 1)
  Interval ci;            // {θ : Λ(θ) < 1/alpha}, the tests of H0: difference = θ that do not reject;
                          // intersected over all looks it covers the truth with chance ≥ 1 − alpha
  bool reject = false;    // p_value ≤ alpha
};

// Mixture sequential probability ratio test (mSPRT, Johari et al. 2017, "Peeking at A/B
// tests") for the difference in means, with a N(0, tau_squared) mixing distribution over
// the true difference:
//   Λ = sqrt(V / (V + τ²)) · exp(τ² δ² / (2 V (V + τ²))).
// Under H0 the chance that Λ ever reaches 1/alpha, over any number of looks, is at most
// alpha (with V treated as known; the plug-in variance makes it approximate for small n).
// So the caller may look after every batch: keep the returned p_value and pass it back as
// previous_p on the next look; the running minimum never increases. For proportions use
// Moments::FromProportion. tau_squared is the prior variance of the effect on the scale of
// the data (e.g. (0.01)² for a one-point change in a conversion rate).
// Needs n ≥ 2 per arm, tau_squared > 0, alpha in (0, 1), previous_p in [0, 1].
Result<SequentialResult> MsprtNormal(Moments control, Moments treatment, double tau_squared,
                                     double alpha = 0.05, double previous_p = 1.0);

}  // namespace skyport::hub
