#include "hub/flights/flight_bounds.h"

#include <iterator>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/utf8.h"

namespace skyport::hub {
namespace {

// `e` cut to the entry bounds; true when something was cut.
bool CutEntry(v1::FlightLogEntry& e) {
  bool cut = false;
  if (e.data_json().size() > kMaxLogDataBytes) {
    e.set_message(fmt::format("{} [data of {} bytes dropped]", e.message(), e.data_json().size()));
    e.clear_data_json();
    cut = true;
  }
  if (e.message().size() > kMaxLogMessageBytes) {
    e.set_message(CutUtf8(e.message(), kMaxLogMessageBytes - 16) + " [cut]");
    cut = true;
  }
  if (e.step().size() > 64 || e.kind().size() > 64) {
    e.set_step(CutUtf8(e.step(), 64));
    e.set_kind(CutUtf8(e.kind(), 64));
    cut = true;
  }
  return cut;
}

// What one entry costs in a Flights.Log reply: its bytes and the field's framing.
size_t ReplyBytes(const v1::FlightLogEntry& e) { return e.ByteSizeLong() + 8; }

}  // namespace

std::string FlightLogEntryJson(const v1::FlightLogEntry& e) {
  return nlohmann::json{{"unix_ms", e.unix_ms()}, {"step", e.step()}, {"kind", e.kind()}, {"message", e.message()},
                        {"data", e.data_json()}}
      .dump();
}

BoundedStepLog BoundStepLog(const std::vector<v1::FlightLogEntry>& entries) {
  BoundedStepLog out;
  size_t bytes = 2;  // "[]"
  for (size_t i = 0; i < entries.size(); ++i) {
    v1::FlightLogEntry e = entries[i];
    const bool cut = CutEntry(e);
    const size_t size = FlightLogEntryJson(e).size() + 1;
    // Room is kept for the note that replaces what does not fit.
    if (bytes + size > kMaxLogBatchBytes - 512) {
      out.dropped = entries.size() - i;
      v1::FlightLogEntry note;
      note.set_unix_ms(e.unix_ms());
      note.set_kind("error");
      note.set_message(fmt::format("{} more log entries of this step left out (a step's entries are bounded to {} bytes)",
                                   out.dropped, kMaxLogBatchBytes));
      out.entries.push_back(std::move(note));
      break;
    }
    out.truncated += cut ? 1 : 0;
    bytes += size;
    out.entries.push_back(std::move(e));
  }
  return out;
}

uint64_t FirstStepKept(uint64_t first, uint64_t next, uint64_t max_steps) {
  if (next < first || next - first <= max_steps) return first;
  return next - max_steps;
}

std::vector<std::string> FinishedToForget(const FinishedFlights& finished, const std::string& id, bool newly_finished,
                                          size_t max_finished, size_t max_at_once) {
  std::vector<std::string> out;
  if (!newly_finished) return out;
  bool counted = false;  // `id` may already be in `finished`
  for (const auto& [key, _] : finished) counted = counted || key.second == id;
  const size_t held = finished.size() + (counted ? 0 : 1);
  if (held <= max_finished) return out;
  size_t excess = held - max_finished;
  for (auto it = finished.begin(); it != finished.end() && excess > 0 && out.size() < max_at_once; ++it) {
    if (it->first.second == id) continue;
    out.push_back(it->first.second);
    --excess;
  }
  return out;
}

void LogTail::Add(v1::FlightLogEntry e) {
  const size_t size = ReplyBytes(e);
  if (full_ || bytes_ + size > budget_) {
    full_ = true;
    ++left_out_;
    return;
  }
  bytes_ += size;
  newest_first_.push_back(std::move(e));
}

std::vector<v1::FlightLogEntry> LogTail::Take() {
  std::vector<v1::FlightLogEntry> out(std::make_move_iterator(newest_first_.rbegin()),
                                      std::make_move_iterator(newest_first_.rend()));
  newest_first_.clear();
  bytes_ = 0;
  return out;
}

}  // namespace skyport::hub
