#include "contract/stats_math.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <boost/math/distributions/chi_squared.hpp>
#include <boost/math/distributions/normal.hpp>
#include <boost/math/distributions/students_t.hpp>
#include <fmt/format.h>

namespace skyport::hub {
namespace {

namespace bm = boost::math;
// Boost.Math reports errors by throwing unless told otherwise; inputs are validated before
// any call, so whatever is left (overflow in a far tail) may quietly return its limit.
using Quiet = bm::policies::policy<bm::policies::domain_error<bm::policies::ignore_error>,
                                   bm::policies::pole_error<bm::policies::ignore_error>,
                                   bm::policies::overflow_error<bm::policies::ignore_error>,
                                   bm::policies::evaluation_error<bm::policies::ignore_error>>;
using Normal = bm::normal_distribution<double, Quiet>;
using StudentT = bm::students_t_distribution<double, Quiet>;
using ChiSquared = bm::chi_squared_distribution<double, Quiet>;

constexpr double kInf = std::numeric_limits<double>::infinity();

Status CheckConfidence(double confidence) {
  if (!(confidence > 0 && confidence < 1))
    return Status::InvalidArgument(fmt::format("confidence: {} is not in (0, 1)", confidence));
  return Status::Ok();
}

Status CheckMoments(const char* arm, const Moments& m) {
  if (m.n < 2) return Status::InvalidArgument(fmt::format("{}: needs n >= 2, has {}", arm, m.n));
  if (!std::isfinite(m.sum) || !std::isfinite(m.sum_sq) || m.sum_sq < 0)
    return Status::InvalidArgument(
        fmt::format("{}: sum {} and sum_sq {} must be finite, sum_sq >= 0", arm, m.sum, m.sum_sq));
  return Status::Ok();
}

// Two-sided p-value of a statistic with the given null distribution; the upper tail is
// taken as a complement so that tiny p-values keep their digits.
template <class Dist>
double TwoSidedP(const Dist& dist, double stat) {
  if (std::isinf(stat)) return 0;
  return std::min(1.0, 2 * bm::cdf(bm::complement(dist, std::fabs(stat))));
}

// statistic and p when the standard error is 0: no spread means no doubt.
double DegenerateStat(double difference) {
  return difference == 0 ? 0 : std::copysign(kInf, difference);
}

}  // namespace

double Proportion::Rate() const { return users == 0 ? 0 : double(converted) / double(users); }

double Moments::Mean() const { return n == 0 ? 0 : sum / double(n); }

double Moments::Variance() const {
  if (n < 2) return 0;
  return std::max(0.0, (sum_sq - sum * sum / double(n)) / double(n - 1));
}

Moments Moments::FromProportion(Proportion p) {
  return {p.users, double(p.converted), double(p.converted)};
}

Result<Interval> ProportionInterval(Proportion p, double confidence) {
  if (auto s = CheckConfidence(confidence); !s.ok()) return s;
  if (p.users == 0) return Status::InvalidArgument("arm: has no users");
  if (p.converted > p.users)
    return Status::InvalidArgument(fmt::format("arm: {} converted out of {} users", p.converted, p.users));
  const double n = double(p.users), rate = p.Rate();
  const double z = bm::quantile(bm::complement(Normal(), (1 - confidence) / 2));
  const double center = (rate + z * z / (2 * n)) / (1 + z * z / n);
  const double half = z / (1 + z * z / n) * std::sqrt(rate * (1 - rate) / n + z * z / (4 * n * n));
  // At 0 or all converted the bound is exactly the rate (the formula leaves rounding dust).
  return Interval{p.converted == 0 ? 0.0 : std::max(0.0, center - half),
                  p.converted == p.users ? 1.0 : std::min(1.0, center + half)};
}

Result<Interval> MeanInterval(Moments m, double confidence) {
  if (auto s = CheckConfidence(confidence); !s.ok()) return s;
  if (auto s = CheckMoments("arm", m); !s.ok()) return s;
  const double se = std::sqrt(m.Variance() / double(m.n));
  const double half = bm::quantile(bm::complement(StudentT(double(m.n - 1)), (1 - confidence) / 2)) * se;
  return Interval{m.Mean() - half, m.Mean() + half};
}

Result<TwoProportionResult> TwoProportionZTest(Proportion control, Proportion treatment, double confidence) {
  if (auto s = CheckConfidence(confidence); !s.ok()) return s;
  for (auto [arm, p] : {std::pair{"control", control}, std::pair{"treatment", treatment}}) {
    if (p.users == 0) return Status::InvalidArgument(fmt::format("{}: has no users", arm));
    if (p.converted > p.users)
      return Status::InvalidArgument(
          fmt::format("{}: {} converted out of {} users", arm, p.converted, p.users));
  }
  TwoProportionResult r;
  const double nc = double(control.users), nt = double(treatment.users);
  r.control_rate = control.Rate();
  r.treatment_rate = treatment.Rate();
  r.difference = r.treatment_rate - r.control_rate;
  if (control.converted > 0) r.relative_lift = r.difference / r.control_rate;

  const double pooled = double(control.converted + treatment.converted) / (nc + nt);
  const double se_pooled = std::sqrt(pooled * (1 - pooled) * (1 / nc + 1 / nt));
  r.z = se_pooled > 0 ? r.difference / se_pooled : DegenerateStat(r.difference);
  r.p_value = TwoSidedP(Normal(), r.z);

  const double se = std::sqrt(r.control_rate * (1 - r.control_rate) / nc +
                              r.treatment_rate * (1 - r.treatment_rate) / nt);
  const double half = bm::quantile(bm::complement(Normal(), (1 - confidence) / 2)) * se;
  r.ci = {r.difference - half, r.difference + half};
  return r;
}

Result<WelchResult> WelchTTest(Moments control, Moments treatment, double confidence) {
  if (auto s = CheckConfidence(confidence); !s.ok()) return s;
  if (auto s = CheckMoments("control", control); !s.ok()) return s;
  if (auto s = CheckMoments("treatment", treatment); !s.ok()) return s;
  WelchResult r;
  r.control_mean = control.Mean();
  r.treatment_mean = treatment.Mean();
  r.difference = r.treatment_mean - r.control_mean;
  const double vc = control.Variance() / double(control.n);
  const double vt = treatment.Variance() / double(treatment.n);
  const double se = std::sqrt(vc + vt);
  if (se == 0) {
    r.df = double(control.n + treatment.n - 2);
    r.t = DegenerateStat(r.difference);
  } else {
    r.df = (vc + vt) * (vc + vt) /
           (vc * vc / double(control.n - 1) + vt * vt / double(treatment.n - 1));
    r.t = r.difference / se;
  }
  const StudentT dist(r.df);
  r.p_value = TwoSidedP(dist, r.t);
  const double half = bm::quantile(bm::complement(dist, (1 - confidence) / 2)) * se;
  r.ci = {r.difference - half, r.difference + half};
  return r;
}

Result<SrmResult> SampleRatioMismatch(const std::vector<uint64_t>& exposures,
                                      const std::vector<double>& weights, double threshold) {
  if (exposures.size() != weights.size())
    return Status::InvalidArgument(fmt::format("weights: {} given for {} arms", weights.size(), exposures.size()));
  if (exposures.size() < 2)
    return Status::InvalidArgument(fmt::format("exposures: needs at least 2 arms, has {}", exposures.size()));
  if (!(threshold >= 0 && threshold <= 1))
    return Status::InvalidArgument(fmt::format("threshold: {} is not in [0, 1]", threshold));
  double weight_sum = 0, total = 0;
  for (size_t i = 0; i < weights.size(); ++i) {
    if (!std::isfinite(weights[i]) || weights[i] < 0)
      return Status::InvalidArgument(fmt::format("weights[{}]: {} is not a finite number >= 0", i, weights[i]));
    weight_sum += weights[i];
    total += double(exposures[i]);
  }
  if (!(weight_sum > 0)) return Status::InvalidArgument("weights: must sum to more than 0");

  SrmResult r;
  int arms = 0;
  for (size_t i = 0; i < weights.size(); ++i) {
    if (weights[i] == 0) {
      if (exposures[i] > 0) r.chi_square = kInf;
      continue;
    }
    ++arms;
    const double expected = total * weights[i] / weight_sum;
    const double diff = double(exposures[i]) - expected;
    if (expected > 0) r.chi_square += diff * diff / expected;
  }
  r.df = arms - 1;
  if (std::isinf(r.chi_square))
    r.p_value = 0;
  else if (r.df > 0)
    r.p_value = bm::cdf(bm::complement(ChiSquared(r.df), r.chi_square));
  r.mismatch = r.p_value < threshold;
  return r;
}

Result<SequentialResult> MsprtNormal(Moments control, Moments treatment, double tau_squared, double alpha,
                                     double previous_p) {
  if (auto s = CheckMoments("control", control); !s.ok()) return s;
  if (auto s = CheckMoments("treatment", treatment); !s.ok()) return s;
  if (!(tau_squared > 0 && std::isfinite(tau_squared)))
    return Status::InvalidArgument(fmt::format("tau_squared: {} is not a finite number > 0", tau_squared));
  if (!(alpha > 0 && alpha < 1)) return Status::InvalidArgument(fmt::format("alpha: {} is not in (0, 1)", alpha));
  if (!(previous_p >= 0 && previous_p <= 1))
    return Status::InvalidArgument(fmt::format("previous_p: {} is not in [0, 1]", previous_p));

  SequentialResult r;
  r.difference = treatment.Mean() - control.Mean();
  r.variance = control.Variance() / double(control.n) + treatment.Variance() / double(treatment.n);
  const double v = r.variance, d = r.difference, t2 = tau_squared;
  double p;
  if (v == 0) {
    // The limit of Λ as V → 0: 0 for no difference, ∞ for any.
    r.log_lambda = d == 0 ? -kInf : kInf;
    p = d == 0 ? 1 : 0;
    r.ci = {d, d};
  } else {
    // log Λ, so that a large effect overflows to p = 0 rather than to inf·0.
    r.log_lambda = 0.5 * std::log(v / (v + t2)) + t2 * d * d / (2 * v * (v + t2));
    p = std::min(1.0, std::exp(-r.log_lambda));
    // Λ(θ) < 1/alpha for the test of H0: difference = θ, solved for |d − θ|.
    const double half = std::sqrt(2 * v * (v + t2) / t2 * (-std::log(alpha) + 0.5 * std::log((v + t2) / v)));
    r.ci = {d - half, d + half};
  }
  r.p_value = std::min(previous_p, p);
  r.reject = r.p_value <= alpha;
  return r;
}

}  // namespace skyport::hub
