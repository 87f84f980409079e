// Latency summaries the load generators in bench/ share:
// one JSON shape ({"n", "p50_ms", "p99_ms", "max_ms"}) so the runner scripts
// read every tool's output the same way.
#pragma once

#include <algorithm>
#include <chrono>
#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

namespace skyport::bench {

inline double Ms(std::chrono::steady_clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// The sample at rank p% (nearest rank; reorders `v`); 0 for no samples.
inline double Percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  size_t i = static_cast<size_t>(p / 100.0 * static_cast<double>(v.size() - 1) + 0.5);
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(i), v.end());
  return v[i];
}

inline nlohmann::json LatencyJson(std::vector<double> v) {
  if (v.empty()) return {{"n", 0}};
  double mx = *std::max_element(v.begin(), v.end());
  return {{"n", v.size()}, {"p50_ms", Percentile(v, 50)}, {"p99_ms", Percentile(v, 99)}, {"max_ms", mx}};
}

// The fan-out run's result, one shape for every system (the runners read it).
struct FanoutFigures {
  std::vector<double> notify_ms;  // every (watcher, change): write issued -> event seen
  std::vector<double> all_ms;     // per change: until its last watcher
  std::vector<double> write_ms;   // the write's own round trip
  uint64_t missing = 0, stream_drops = 0;
};
inline nlohmann::json FanoutJson(const std::string& system, int watchers, int changes, FanoutFigures f,
                                 nlohmann::json errors) {
  return {{"mode", "fanout"},
          {"system", system},
          {"watchers", watchers},
          {"changes", changes},
          {"notify", LatencyJson(std::move(f.notify_ms))},
          {"all_notified", LatencyJson(std::move(f.all_ms))},
          {"write_rpc", LatencyJson(std::move(f.write_ms))},
          {"missing", f.missing},
          {"stream_drops", f.stream_drops},
          {"errors", std::move(errors)}};
}

// One client's operation (k counts that client's operations); false when it
// failed (the caller tallies why).
using ClientOp = std::function<bool(uint64_t k)>;

struct LoopTally {
  uint64_t ops = 0;                // operations that ended inside the measured window
  std::vector<double> latency_ms;  // theirs
};

// `clients` threads; thread t builds its client with make(t) (an empty op:
// it could not, and sits out), waits for the common start, then runs its op
// until the end. Operations ending within [start + warm-up, + seconds) count.
// give_up() is asked after each failure: true stops that client.
inline LoopTally TimedLoop(int clients, double warmup_s, double seconds, const std::function<ClientOp(int)>& make,
                           const std::function<bool()>& give_up) {
  using Clock = std::chrono::steady_clock;
  auto after = [](Clock::time_point t, double s) {
    return t + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
  };
  const auto start_at = Clock::now() + std::chrono::milliseconds(500);  // every client connected by then
  const auto count_from = after(start_at, warmup_s);
  const auto count_to = after(count_from, seconds);
  std::atomic<bool> stop{false};
  std::vector<LoopTally> per(static_cast<size_t>(clients));
  std::vector<std::thread> threads;
  for (int t = 0; t < clients; ++t) {
    threads.emplace_back([&, t] {
      ClientOp op = make(t);
      if (!op) return;
      std::this_thread::sleep_until(start_at);
      LoopTally& mine = per[static_cast<size_t>(t)];
      for (uint64_t k = 0; !stop.load(std::memory_order_relaxed); ++k) {
        const auto t0 = Clock::now();
        const bool ok = op(k);
        const auto t1 = Clock::now();
        if (!ok) {
          if (give_up()) return;
          continue;
        }
        if (t1 >= count_from && t1 < count_to) {
          ++mine.ops;
          mine.latency_ms.push_back(Ms(t1 - t0));
        }
      }
    });
  }
  std::this_thread::sleep_until(count_to);
  stop = true;
  for (auto& th : threads) th.join();
  LoopTally all;
  for (auto& p : per) {
    all.ops += p.ops;
    all.latency_ms.insert(all.latency_ms.end(), p.latency_ms.begin(), p.latency_ms.end());
  }
  return all;
}

}  // namespace skyport::bench
