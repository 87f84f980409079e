#include "core/log.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <ctime>
#include <mutex>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/clock.h"

namespace skyport::log {
namespace {

struct State {
  std::mutex mu;
  std::string component = "skyport";
  std::atomic<int> level{static_cast<int>(Level::kInfo)};
  Format format = Format::kText;
  std::shared_ptr<spdlog::logger> logger;
};

State& GetState() {
  static State* s = [] {
    auto* st = new State;
    st->logger = spdlog::stderr_logger_mt("skyport-structured");
    st->logger->set_pattern("%v");
    st->logger->set_level(spdlog::level::trace);
    st->logger->flush_on(spdlog::level::trace);
    return st;
  }();
  return *s;
}

const char* LevelName(Level l) {
  switch (l) {
    case Level::kDebug: return "debug";
    case Level::kInfo: return "info";
    case Level::kWarn: return "warn";
    case Level::kError: return "error";
  }
  return "info";
}

std::string Timestamp(int64_t wall_ms) {
  std::time_t secs = static_cast<std::time_t>(wall_ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return fmt::format("{}.{:03d}Z", buf, static_cast<int>(wall_ms % 1000));
}

bool NeedsQuotes(const std::string& s) {
  if (s.empty()) return true;
  for (char c : s)
    if (c == ' ' || c == '"' || c == '=' || static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return true;
  return false;
}

}  // namespace

void Init(std::string_view component, Level level, Format format) {
  State& s = GetState();
  std::lock_guard lock(s.mu);
  s.component = std::string(component);
  s.level = static_cast<int>(level);
  s.format = format;
}

Result<Level> ParseLevel(std::string_view t) {
  if (t == "debug") return Level::kDebug;
  if (t == "info") return Level::kInfo;
  if (t == "warn" || t == "warning") return Level::kWarn;
  if (t == "error") return Level::kError;
  return Status::InvalidArgument(fmt::format("log-level: \"{}\" is not one of debug|info|warn|error", t));
}

Result<Format> ParseFormat(std::string_view t) {
  if (t == "text") return Format::kText;
  if (t == "json") return Format::kJson;
  return Status::InvalidArgument(fmt::format("log-format: \"{}\" is not one of text|json", t));
}

std::string Render(Format format, int64_t wall_ms, std::string_view component, Level level,
                   std::string_view msg, std::initializer_list<Field> fields) {
  if (format == Format::kJson) {
    nlohmann::json j;
    j["ts"] = Timestamp(wall_ms);
    j["level"] = LevelName(level);
    j["component"] = component;
    j["msg"] = msg;
    for (const Field& f : fields) std::visit([&](const auto& v) { j[f.key] = v; }, f.value);
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  std::string out = fmt::format("{} {:<5} {}: {}", Timestamp(wall_ms), LevelName(level), component, msg);
  for (const Field& f : fields) {
    std::string v = std::visit(
        [](const auto& x) -> std::string {
          using T = std::decay_t<decltype(x)>;
          if constexpr (std::is_same_v<T, std::string>) return x;
          else if constexpr (std::is_same_v<T, bool>) return x ? "true" : "false";
          else return fmt::format("{}", x);
        },
        f.value);
    if (std::holds_alternative<std::string>(f.value) && NeedsQuotes(v))
      v = nlohmann::json(v).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    out += fmt::format(" {}={}", f.key, v);
  }
  return out;
}

void Write(Level level, std::string_view msg, std::initializer_list<Field> fields) {
  State& s = GetState();
  if (static_cast<int>(level) < s.level.load()) return;
  std::string component;
  Format format;
  {
    std::lock_guard lock(s.mu);
    component = s.component;
    format = s.format;
  }
  s.logger->info(Render(format, SystemClock::Get()->WallMs(), component, level, msg, fields));
}

}  // namespace skyport::log
