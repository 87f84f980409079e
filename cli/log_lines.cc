#include "cli/log_lines.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace skyport::cli {
namespace {

std::string Chomp(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

}  // namespace

std::string LogText(const v1::LogLine& line) {
  return fmt::format("{} {}.{} {} {} {}", line.drone(), line.role(), line.instance(),
                     line.commit().substr(0, 12), line.stream() == "stderr" ? "!" : "|",
                     Chomp(line.text()));
}

std::string LogJson(const v1::LogLine& line) {
  // Program output need not be UTF-8; invalid bytes become U+FFFD, not a throw.
  return nlohmann::json{{"drone", line.drone()},       {"commit", line.commit()},
                        {"role", line.role()},         {"instance", line.instance()},
                        {"stream", line.stream()},     {"text", Chomp(line.text())},
                        {"unix_ms", line.unix_ms()}}
      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace skyport::cli
