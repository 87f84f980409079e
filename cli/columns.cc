#include "cli/columns.h"

#include <algorithm>

namespace skyport::cli {
namespace {

// Characters, not bytes, so that a header like "ΔCONV" lines up: UTF-8
// continuation bytes (10xxxxxx) do not count.
size_t Width(const std::string& s) {
  return static_cast<size_t>(std::count_if(s.begin(), s.end(), [](char c) { return (c & 0xC0) != 0x80; }));
}

}  // namespace

std::string AlignColumns(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (const auto& row : rows) {
    if (width.size() < row.size()) width.resize(row.size(), 0);
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], Width(row[i]));
  }
  std::string out;
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) {
      out += row[i];
      if (i + 1 < row.size()) out += std::string(width[i] - Width(row[i]) + 2, ' ');
    }
    out += "\n";
  }
  return out;
}

}  // namespace skyport::cli
