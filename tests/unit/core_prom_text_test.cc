#include <catch2/catch.hpp>

#include <array>
#include <cstdint>
#include <string>

#include "core/prom_text.h"

namespace skyport {
namespace {

TEST_CASE("PromText: a counter and a gauge of one sample each", "[core]") {
  PromText out;
  out.Counter("x_total", "Things done.", uint64_t{42});
  out.Gauge("x_open", "Open now.", int64_t{-3});
  CHECK(out.str() ==
        "# HELP x_total Things done.\n# TYPE x_total counter\nx_total 42\n"
        "# HELP x_open Open now.\n# TYPE x_open gauge\nx_open -3\n");
}

TEST_CASE("PromText: values print as fmt's {} prints them", "[core]") {
  struct Case {
    double value;
    const char* want;
  };
  const Case cases[] = {{0.0, "0"}, {1.5, "1.5"}, {1e6, "1000000"}, {0.00025, "0.00025"}, {99.0, "99"}};
  for (const auto& c : cases) {
    PromText out;
    out.Sample("v", c.value);
    CHECK(out.str() == std::string("v ") + c.want + "\n");
  }
}

TEST_CASE("PromText: a family with labelled samples, values escaped", "[core]") {
  PromText out;
  out.Family("req_total", PromType::kCounter, "Requests, by app.");
  out.Sample("req_total", {{"app", "shop"}, {"code", "2xx"}}, 7);
  out.Sample("req_total", {{"app", "a\"b\\c\nd"}}, 1);
  out.Sample("req_total", {}, 0);
  CHECK(out.str() ==
        "# HELP req_total Requests, by app.\n# TYPE req_total counter\n"
        "req_total{app=\"shop\",code=\"2xx\"} 7\n"
        "req_total{app=\"a\\\"b\\\\c\\nd\"} 1\n"
        "req_total 0\n");
}

TEST_CASE("PromText: help text escapes backslash and newline only", "[core]") {
  PromText out;
  out.Family("h", PromType::kGauge, "a \"quoted\" \\ and\nmore");
  CHECK(out.str() == "# HELP h a \"quoted\" \\\\ and\\nmore\n# TYPE h gauge\n");
}

TEST_CASE("PromText: histogram series are cumulative, end with +Inf, sum and count", "[core]") {
  const std::array<double, 2> bounds = {0.25, 1};
  const std::array<uint64_t, 3> counts = {2, 3, 1};
  PromText out;
  out.Family("d_seconds", PromType::kHistogram, "Durations.");
  out.HistogramSeries("d_seconds", {{"app", "x"}}, bounds, counts, 4.5);
  out.HistogramSeries("d_seconds", {}, bounds, std::span<const uint64_t>(counts.data(), 1), 0.1);  // missing = 0
  CHECK(out.str() ==
        "# HELP d_seconds Durations.\n# TYPE d_seconds histogram\n"
        "d_seconds_bucket{app=\"x\",le=\"0.25\"} 2\n"
        "d_seconds_bucket{app=\"x\",le=\"1\"} 5\n"
        "d_seconds_bucket{app=\"x\",le=\"+Inf\"} 6\n"
        "d_seconds_sum{app=\"x\"} 4.5\n"
        "d_seconds_count{app=\"x\"} 6\n"
        "d_seconds_bucket{le=\"0.25\"} 2\n"
        "d_seconds_bucket{le=\"1\"} 2\n"
        "d_seconds_bucket{le=\"+Inf\"} 2\n"
        "d_seconds_sum 0.1\n"
        "d_seconds_count 2\n");
}

TEST_CASE("PromEscapeLabel", "[core]") {
  CHECK(PromEscapeLabel("plain-1.2") == "plain-1.2");
  CHECK(PromEscapeLabel("a\\b\"c\nd\te") == "a\\\\b\\\"c\\nd\te");
}

}  // namespace
}  // namespace skyport
