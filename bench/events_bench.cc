// Custom events on one core, no I/O: parsing a 100-event batch (nlohmann::json
// as a baseline, then ParseEvents), EventAggregator::Add, and the whole pure
// path (parse + add + a drain about every 200k events). The goal for the full
// request path is 200k events/s per router core, so the pure part should run
// well above 1M events/s. Last, the per-request traffic counters of a proxied
// request (TrafficAggregator::Record, against the "$requests" row it replaced).
//
//   events_bench [SECONDS_PER_CASE]   (default 1)
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "router/events.h"
#include "router/traffic.h"

using skyport::router::EventAggregator;
using skyport::router::EventLimits;
using skyport::router::ParsedEvents;
using skyport::router::TrafficAggregator;
using skyport::router::TrafficRow;
using skyport::router::UserEventRow;

namespace {

constexpr int64_t kNow = 1'700'000'000;
constexpr size_t kBatch = 100;

std::string Batch(size_t n) {
  static const char* kNames[] = {"purchase", "add_to_cart", "checkout.step_1", "checkout.step_2", "signup",
                                 "search",   "page:view",   "video-play",      "share",           "logout"};
  std::string body = "{\"events\": [";
  for (size_t i = 0; i < n; ++i) {
    body += fmt::format("{}{{\"event\": \"{}\", \"value\": {}.{}, \"time\": {}}}", i ? ", " : "", kNames[i % 10],
                        i * 7 % 500, i % 100, kNow - static_cast<int64_t>(i));
  }
  return body + "]}";
}

std::string UserId(size_t i) { return fmt::format("{:016x}{:016x}", i * 0x9e3779b97f4a7c15ULL, i + 1); }

// Runs `batch()` (which handles kBatch events) for about `seconds`; prints events/s.
template <class F>
void Measure(const char* name, double seconds, F batch) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  uint64_t events = 0;
  double elapsed = 0;
  do {
    for (int i = 0; i < 64; ++i) events += batch();
    elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  } while (elapsed < seconds);
  std::printf("%-50s %12.0f events/s  (%.0f ns/event)\n", name, events / elapsed, 1e9 * elapsed / events);
}

}  // namespace

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 1.0;
  const std::string body = Batch(kBatch);
  const std::string single = R"({"event": "purchase", "value": 12.5})";
  std::vector<std::string> users;
  for (size_t i = 0; i < 10'000; ++i) users.push_back(UserId(i));
  std::printf("batch: %zu events, %zu bytes; 10k users, one per batch\n", kBatch, body.size());

  const EventLimits limits;
  ParsedEvents parsed;
  size_t sink = 0;

  Measure("nlohmann::json::parse (DOM only)", seconds, [&] {
    auto doc = nlohmann::json::parse(body);
    sink += doc["events"].size();
    return kBatch;
  });
  Measure("ParseEvents", seconds, [&] {
    if (!ParseEvents(body, limits, false, kNow, parsed).ok()) std::abort();
    sink += parsed.events.size();
    return kBatch;
  });
  Measure("ParseEvents, single-event bodies", seconds, [&] {
    for (size_t i = 0; i < kBatch; ++i) {
      if (!ParseEvents(single, limits, false, kNow, parsed).ok()) std::abort();
    }
    return kBatch;
  });

  if (!ParseEvents(body, limits, false, kNow, parsed).ok()) std::abort();
  EventAggregator add_only;
  size_t next_user = 0;
  std::vector<UserEventRow> rows;
  Measure("EventAggregator::Add (drain every 2000 batches)", seconds, [&] {
    auto scope = add_only.Scope("shop", "f1", "0123456789abcdef0123456789abcdef01234567");
    const std::string& user = users[next_user++ % users.size()];
    for (const auto& ev : parsed.events) add_only.Add(scope, ev.name, user, ev.value, ev.unix_s);
    if (next_user % 2000 == 0) {
      rows.clear();
      add_only.Drain(rows);
    }
    return kBatch;
  });

  EventAggregator agg;
  size_t batches = 0, drained = 0;
  Measure("parse + exposure + Add + Drain (whole pure path)", seconds, [&] {
    if (!ParseEvents(body, limits, false, kNow, parsed).ok()) std::abort();
    auto scope = agg.Scope("shop", "f1", "0123456789abcdef0123456789abcdef01234567");
    const std::string& user = users[batches % users.size()];
    agg.AddExposure(scope, user, kNow);
    for (const auto& ev : parsed.events) agg.Add(scope, ev.name, user, ev.value, ev.unix_s);
    if (++batches % 2000 == 0) {  // 200k events: about a second of a busy core
      rows.clear();
      agg.Drain(rows);
      drained += rows.size();
    }
    return kBatch;
  });

  // The per-request cost of the hub's traffic counters (RecordOutcome): the
  // TrafficAggregator, and what it replaced, a "$requests" event row per request.
  const std::string commit = "0123456789abcdef0123456789abcdef01234567";
  TrafficAggregator traffic;
  std::vector<TrafficRow> traffic_rows;
  size_t requests = 0;
  Measure("TrafficAggregator::Record (per proxied request)", seconds, [&] {
    for (size_t i = 0; i < kBatch; ++i, ++requests)
      traffic.Record("shop", "", commit, kNow + static_cast<int64_t>(requests / 100'000), 200, 1234);
    if (requests % 200'000 == 0) {
      traffic_rows.clear();
      traffic.Drain(traffic_rows);
    }
    return kBatch;
  });
  EventAggregator old_path;
  requests = 0;
  Measure("EventAggregator::Add \"$requests\" (the path before)", seconds, [&] {
    for (size_t i = 0; i < kBatch; ++i, ++requests)
      old_path.Add("shop", "", commit, "$requests", "*", 0.0, kNow + static_cast<int64_t>(requests / 100'000));
    if (requests % 200'000 == 0) {
      rows.clear();
      old_path.Drain(rows);
    }
    return kBatch;
  });
  std::printf("(rows drained in the last case: %zu; sink %zu)\n", drained, sink);
}
