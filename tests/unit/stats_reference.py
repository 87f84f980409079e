#!/usr/bin/python3
"""Prints the golden values of tests/unit/hub_stats_math_test.cc, computed with SciPy.

Run: /usr/bin/python3 tests/unit/stats_reference.py   (needs python3-scipy, Debian 12: 1.10.1)
and paste each block over the table of the same name in the test.

Each arm's moments are printed as the exact doubles the C++ test feeds to contract/stats_math,
and mean and variance are derived from them with the same formulas, so that the only
differences left are those of the distribution functions (SciPy's cephes versus Boost.Math).
"""
import math

import scipy
from scipy import stats


def num(x):
    return repr(float(x)).replace("inf", "kInf")


def moments(n, mean, sd):
    """(n, sum, sum_sq) of n values with this mean and sample standard deviation."""
    s = n * mean
    return n, s, (n - 1) * sd * sd + s * s / n


def mean_var(m):
    n, s, ss = m
    return s / n, max(0.0, (ss - s * s / n) / (n - 1))


def two_proportion(nc, cc, nt, ct, conf):
    # Pearson's chi-square on the 2x2 table without continuity correction is z squared.
    chi2, p, _, _ = stats.chi2_contingency([[cc, nc - cc], [ct, nt - ct]], correction=False)
    pc, pt = cc / nc, ct / nt
    d = pt - pc
    z = math.copysign(math.sqrt(chi2), d) if d != 0 else 0.0
    se = math.sqrt(pc * (1 - pc) / nc + pt * (1 - pt) / nt)
    h = stats.norm.ppf((1 + conf) / 2) * se
    print(f"    {{{nc}, {cc}, {nt}, {ct}, {conf}, {num(z)}, {num(p)}, {num(d - h)}, {num(d + h)}}},")


def t_quantile(upper_tail, df):
    """stats.t.isf, polished: in scipy 1.10 it (cephes stdtrit) is off by ~1e-9, e.g.
    t.sf(t.isf(0.025, 58), 58) = 0.025000000063; Newton steps on t.sf, which is accurate,
    fix that."""
    q = stats.t.isf(upper_tail, df)
    for _ in range(3):
        q += (stats.t.sf(q, df) - upper_tail) / stats.t.pdf(q, df)
    return q


def welch(c, t, conf):
    (mc, vc), (mt, vt) = mean_var(c), mean_var(t)
    # Treatment first, so that t is (treatment - control) / se.
    tstat, p = stats.ttest_ind_from_stats(mt, math.sqrt(vt), t[0], mc, math.sqrt(vc), c[0], equal_var=False)
    a, b = vc / c[0], vt / t[0]
    df = (a + b) ** 2 / (a * a / (c[0] - 1) + b * b / (t[0] - 1))
    h = t_quantile((1 - conf) / 2, df) * math.sqrt(a + b)
    d = mt - mc
    print(f"    {{{{{c[0]}, {num(c[1])}, {num(c[2])}}}, {{{t[0]}, {num(t[1])}, {num(t[2])}}}, {conf},\n"
          f"     {num(tstat)}, {num(df)}, {num(p)}, {num(d - h)}, {num(d + h)}}},")


def srm(exposures, weights):
    kept = [(e, w) for e, w in zip(exposures, weights) if w > 0]
    total, wsum = sum(exposures), sum(weights)
    chi2, p = stats.chisquare([e for e, _ in kept], [total * w / wsum for _, w in kept])
    print(f"    {{{{{', '.join(map(str, exposures))}}}, {{{', '.join(map(num, weights))}}}, "
          f"{num(chi2)}, {len(kept) - 1}, {num(p)}}},")


def msprt(c, t, tau2, alpha):
    (mc, vc), (mt, vt) = mean_var(c), mean_var(t)
    v, d = vc / c[0] + vt / t[0], mt - mc
    # Λ is the ratio of the N(0, V + τ²) and N(0, V) densities at d: the mixture over the
    # true difference θ ~ N(0, τ²) against θ = 0.
    log_lambda = stats.norm.logpdf(d, 0, math.sqrt(v + tau2)) - stats.norm.logpdf(d, 0, math.sqrt(v))
    p = min(1.0, math.exp(-log_lambda))
    h = math.sqrt(2 * v * (v + tau2) / tau2 * (math.log(1 / alpha) + 0.5 * math.log((v + tau2) / v)))
    print(f"    {{{{{c[0]}, {num(c[1])}, {num(c[2])}}}, {{{t[0]}, {num(t[1])}, {num(t[2])}}}, {num(tau2)}, "
          f"{alpha},\n     {num(log_lambda)}, {num(p)}, {num(d - h)}, {num(d + h)}}},")


print(f"// scipy {scipy.__version__}")
print("// kTwoProportion: {control users, converted, treatment users, converted, confidence, z, p, ci}")
for row in [
    (10, 2, 12, 5, 0.95),                 # tiny samples
    (1000, 100, 1000, 120, 0.95),         # a modest lift
    (1000000, 50000, 1000000, 50300, 0.95),  # huge n, tiny effect
    (5000, 500, 5000, 1500, 0.95),        # huge effect, p far in the tail
    (2000, 300, 2500, 310, 0.95),         # treatment worse
    (50, 25, 20000, 9000, 0.95),          # very unbalanced arms
    (400, 0, 400, 6, 0.95),               # control converted nobody
    (300, 299, 310, 300, 0.95),           # rates near 1
    (100, 10, 200, 20, 0.95),             # identical rates
    (1000, 100, 1000, 120, 0.99),         # another confidence
]:
    two_proportion(*row)

print("// kWelch: {control moments, treatment moments, confidence, t, df, p, ci}")
for c, t, conf in [
    (moments(2, 1.0, 0.5), moments(3, 2.0, 1.5), 0.95),           # smallest n
    (moments(5, 10.0, 2.0), moments(7, 12.5, 3.0), 0.95),
    (moments(30, 100.0, 15.0), moments(30, 108.0, 15.0), 0.95),
    (moments(1000, 25.0, 40.0), moments(1200, 27.0, 45.0), 0.95),  # revenue-like, skewed sd
    (moments(1000000, 3.2, 12.0), moments(1000000, 3.21, 12.0), 0.95),  # huge n, tiny effect
    (moments(60, 50.0, 2.0), moments(50, 65.0, 2.5), 0.95),        # huge effect
    (moments(10, 5.0, 0.1), moments(1000, 5.3, 9.0), 0.95),        # very unequal variances
    (moments(400, 0.8, 0.3), moments(380, 0.75, 0.35), 0.95),      # treatment worse
    (moments(20, 7.0, 1.0), moments(25, 7.0, 2.0), 0.95),          # no difference
    (moments(30, 100.0, 15.0), moments(30, 108.0, 15.0), 0.90),    # another confidence
]:
    welch(c, t, conf)

print("// kSrm: {exposures, weights, chi_square, df, p}")
for e, w in [
    ([5050, 4950], [0.5, 0.5]),
    ([10000, 10321], [1, 1]),
    ([500000, 501500], [50, 50]),                      # large n, 0.15% off
    ([1000, 1400], [1, 1]),                            # gross mismatch
    ([1000, 3100, 5900], [0.1, 0.3, 0.6]),
    ([821, 1000, 1179], [1, 1, 1]),
    ([2010, 2950, 5040], [2, 3, 5]),                   # unnormalised weights
    ([12, 30], [1, 3]),                                # small n
    ([200, 190, 205, 215, 190], [1, 1, 1, 1, 1]),      # five arms
    ([100, 0, 120], [1, 0, 1]),                        # a zero-weight arm with no users
]:
    srm(e, [float(x) for x in w])

print("// kMsprt: {control moments, treatment moments, tau_squared, alpha, log_lambda, p, ci}")
for c, t, tau2, alpha in [
    (moments(100, 10.0, 3.0), moments(100, 10.2, 3.0), 1.0, 0.05),     # nothing to see
    (moments(1000, 10.0, 3.0), moments(1000, 10.6, 3.0), 1.0, 0.05),   # clear effect
    (moments(5000, 0.1, 0.3), moments(5000, 0.11, 0.31), 1e-4, 0.05),  # conversion-sized effect
    (moments(50, 1.0, 1.0), moments(60, 0.2, 1.2), 0.25, 0.01),        # negative, other alpha
    (moments(20000, 5.0, 10.0), moments(20000, 5.0, 10.0), 0.01, 0.05),  # no difference
    (moments(3000, 2.0, 1.0), moments(3000, 2.5, 1.0), 0.1, 0.05),     # huge effect
]:
    msprt(c, t, tau2, alpha)
