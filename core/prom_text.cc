#include "core/prom_text.h"

namespace skyport {
namespace {

const char* TypeName(PromType t) {
  switch (t) {
    case PromType::kCounter:
      return "counter";
    case PromType::kGauge:
      return "gauge";
    case PromType::kHistogram:
      return "histogram";
  }
  return "untyped";
}

// HELP text escapes only backslash and newline (quotes stay).
void AppendHelp(std::string& out, std::string_view help) {
  for (char c : help) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
}

}  // namespace

std::string PromEscapeLabel(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

void PromText::Family(std::string_view name, PromType type, std::string_view help) {
  out_ += "# HELP ";
  out_ += name;
  out_ += ' ';
  AppendHelp(out_, help);
  out_ += "\n# TYPE ";
  out_ += name;
  out_ += ' ';
  out_ += TypeName(type);
  out_ += '\n';
}

void PromText::AppendLabels(Labels labels, Label last) {
  if (labels.size() == 0 && last.first.empty()) return;
  out_ += '{';
  bool first = true;
  auto put = [&](const Label& l) {
    if (!first) out_ += ',';
    first = false;
    out_ += l.first;
    out_ += "=\"";
    out_ += PromEscapeLabel(l.second);
    out_ += '"';
  };
  for (const Label& l : labels) put(l);
  if (!last.first.empty()) put(last);
  out_ += '}';
}

void PromText::HistogramSeries(std::string_view name, Labels labels, std::span<const double> upper_bounds,
                               std::span<const uint64_t> counts, double sum) {
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= upper_bounds.size(); ++i) {
    if (i < counts.size()) cumulative += counts[i];
    const std::string le = i < upper_bounds.size() ? fmt::format("{}", upper_bounds[i]) : std::string("+Inf");
    out_ += name;
    out_ += "_bucket";
    AppendLabels(labels, {"le", le});
    fmt::format_to(std::back_inserter(out_), " {}\n", cumulative);
  }
  out_ += name;
  out_ += "_sum";
  AppendLabels(labels, {});
  fmt::format_to(std::back_inserter(out_), " {}\n", sum);
  out_ += name;
  out_ += "_count";
  AppendLabels(labels, {});
  fmt::format_to(std::back_inserter(out_), " {}\n", cumulative);
}

}  // namespace skyport
