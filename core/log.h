// Structured logs: one line per event, text (key=value) or JSON, to stderr.
// Thread-safe. Never pass secrets as fields.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <variant>

#include "core/status.h"

namespace skyport::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };
enum class Format { kText, kJson };

struct Field {
  Field(std::string_view k, std::string_view v) : key(k), value(std::string(v)) {}
  Field(std::string_view k, const char* v) : key(k), value(std::string(v)) {}
  Field(std::string_view k, const std::string& v) : key(k), value(v) {}
  Field(std::string_view k, bool v) : key(k), value(v) {}
  Field(std::string_view k, double v) : key(k), value(v) {}
  // Unsigned values stay unsigned: a uint64_t above 2^63 must not print as negative.
  template <class I, class = std::enable_if_t<std::is_integral_v<I> && !std::is_same_v<I, bool>>>
  Field(std::string_view k, I v)
      : key(k), value(std::is_unsigned_v<I> ? Value(static_cast<uint64_t>(v)) : Value(static_cast<int64_t>(v))) {}

  using Value = std::variant<std::string, int64_t, uint64_t, double, bool>;
  std::string key;
  Value value;
};

// Sets the component name, the minimum level and the format for the process.
void Init(std::string_view component, Level level, Format format);
Result<Level> ParseLevel(std::string_view text);
Result<Format> ParseFormat(std::string_view text);

void Write(Level level, std::string_view msg, std::initializer_list<Field> fields);
// Renders one line without writing it (for tests).
std::string Render(Format format, int64_t wall_ms, std::string_view component, Level level,
                   std::string_view msg, std::initializer_list<Field> fields);

inline void Debug(std::string_view m, std::initializer_list<Field> f = {}) { Write(Level::kDebug, m, f); }
inline void Info(std::string_view m, std::initializer_list<Field> f = {}) { Write(Level::kInfo, m, f); }
inline void Warn(std::string_view m, std::initializer_list<Field> f = {}) { Write(Level::kWarn, m, f); }
inline void Error(std::string_view m, std::initializer_list<Field> f = {}) { Write(Level::kError, m, f); }

}  // namespace skyport::log
