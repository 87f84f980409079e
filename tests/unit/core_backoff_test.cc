#include <catch2/catch.hpp>

#include "core/backoff.h"

namespace skyport {
namespace {

TEST_CASE("BackoffDelayMs: grows by the multiplier until the cap (no jitter)", "[core][backoff]") {
  BackoffPolicy p;  // 100ms, x2, cap 10s
  p.jitter = 0.0;
  struct Row {
    int attempt;
    int64_t want;
  };
  const Row rows[] = {
      {-1, 100},  {0, 100},    {1, 200},    {2, 400},    {3, 800},     {4, 1600},
      {5, 3200},  {6, 6400},   {7, 10000},  {8, 10000},  {30, 10000},  {1000, 10000},
  };
  for (const Row& r : rows) {
    INFO("attempt " << r.attempt);
    CHECK(BackoffDelayMs(p, r.attempt, 0.5) == r.want);
  }
}

TEST_CASE("BackoffDelayMs: jitter bounds are +-jitter of the delay", "[core][backoff]") {
  BackoffPolicy p;  // jitter 0.2
  struct Row {
    int attempt;
    double u;
    int64_t want;
  };
  const Row rows[] = {
      {0, 0.0, 80},      {0, 0.5, 100},      {0, 0.75, 110},   {0, 1.0, 120},
      {3, 0.0, 640},     {3, 0.25, 720},     {3, 1.0, 960},
      {20, 0.0, 8000},   {20, 0.5, 10000},   {20, 1.0, 12000},
      // Out-of-range uniform values are clamped into [0, 1].
      {0, -5.0, 80},     {0, 7.0, 120},      {20, 2.0, 12000},
  };
  for (const Row& r : rows) {
    INFO("attempt " << r.attempt << " u " << r.u);
    CHECK(BackoffDelayMs(p, r.attempt, r.u) == r.want);
  }
}

TEST_CASE("BackoffDelayMs: always within [0, max*(1+jitter)]", "[core][backoff]") {
  BackoffPolicy p;
  p.initial_ms = 50;
  p.max_ms = 3000;
  p.multiplier = 3.0;
  p.jitter = 0.5;
  for (int attempt = 0; attempt < 40; ++attempt) {
    for (int i = 0; i <= 20; ++i) {
      double u = i / 20.0;
      int64_t d = BackoffDelayMs(p, attempt, u);
      INFO("attempt " << attempt << " u " << u);
      CHECK(d >= 0);
      CHECK(d <= 4500);
    }
  }
  // 50, 150, 450, 1350, then 4050 is capped at 3000.
  CHECK(BackoffDelayMs(p, 3, 0.5) == 1350);
  CHECK(BackoffDelayMs(p, 4, 0.5) == 3000);
  CHECK(BackoffDelayMs(p, 4, 1.0) == 4500);
  CHECK(BackoffDelayMs(p, 4, 0.0) == 1500);
}

TEST_CASE("BackoffDelayMs: initial above the cap is capped; huge jitter never goes negative", "[core][backoff]") {
  BackoffPolicy p;
  p.initial_ms = 5000;
  p.max_ms = 1000;
  p.jitter = 0.0;
  CHECK(BackoffDelayMs(p, 0, 0.5) == 1000);

  BackoffPolicy wild;
  wild.jitter = 3.0;  // 1 + 3*(2u-1) < 0 for small u
  CHECK(BackoffDelayMs(wild, 0, 0.0) == 0);
  CHECK(BackoffDelayMs(wild, 0, 1.0) == 400);
}

}  // namespace
}  // namespace skyport
