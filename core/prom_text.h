// Prometheus text exposition (format 0.0.4), written one family at a time.
// Every /metrics body of every daemon goes through PromText, so that HELP and
// TYPE come once per family, before its samples, and label values and help
// texts are escaped the way scrapers read them back.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <iterator>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include <fmt/format.h>

namespace skyport {

enum class PromType { kCounter, kGauge, kHistogram };

class PromText {
 public:
  // A label: name (an identifier, written as is) and value (escaped).
  using Label = std::pair<std::string_view, std::string_view>;
  using Labels = std::initializer_list<Label>;

  // Starts a family: "# HELP <name> <help>\n# TYPE <name> <type>\n". The
  // samples of the family follow at once; a family is started only once.
  void Family(std::string_view name, PromType type, std::string_view help);

  // One sample: "<name> <value>\n" or "<name>{a="x",b="y"} <value>\n". The
  // value is printed by fmt's "{}" (integers exactly, doubles shortest).
  template <class V>
  void Sample(std::string_view name, V value) {
    fmt::format_to(std::back_inserter(out_), "{} {}\n", name, value);
  }
  template <class V>
  void Sample(std::string_view name, Labels labels, V value) {
    out_ += name;
    AppendLabels(labels, {});
    fmt::format_to(std::back_inserter(out_), " {}\n", value);
  }

  // A family of one unlabelled sample.
  template <class V>
  void Counter(std::string_view name, std::string_view help, V value) {
    Family(name, PromType::kCounter, help);
    Sample(name, value);
  }
  template <class V>
  void Gauge(std::string_view name, std::string_view help, V value) {
    Family(name, PromType::kGauge, help);
    Sample(name, value);
  }

  // The series of one label set of a histogram family (started with
  // Family(name, kHistogram, …)): "<name>_bucket{…,le="<bound>"}" with the
  // cumulative count for each upper bound and "+Inf", then "<name>_sum" and
  // "<name>_count". `counts` holds one count per bucket, not cumulative:
  // upper_bounds.size() + 1 of them (missing ones count as 0).
  void HistogramSeries(std::string_view name, Labels labels, std::span<const double> upper_bounds,
                       std::span<const uint64_t> counts, double sum);

  const std::string& str() const { return out_; }
  std::string Take() { return std::move(out_); }

 private:
  // "{a="x",b="y",<last>}" (nothing when both are empty); `last` is one more label.
  void AppendLabels(Labels labels, Label last);
  std::string out_;
};

// A label value as the exposition format quotes it: \ " and newline escaped.
std::string PromEscapeLabel(std::string_view value);

}  // namespace skyport
