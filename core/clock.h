// Time as an input. Logic takes a Clock (or plain time values); tests use
// FakeClock and never sleep.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace skyport {

// The process's two clocks, each defined once. Shells read them; pure logic
// takes their values (or a Clock) as inputs.
// Monotonic milliseconds (steady_clock, arbitrary epoch): deadlines, TTLs,
// durations. Never goes back; meaningless across processes.
int64_t MonoNowMs();
// Wall-clock milliseconds since the Unix epoch (system_clock): timestamps
// shown to people or stored in records. May jump.
int64_t WallNowMs();

class Clock {
 public:
  virtual ~Clock() = default;
  // Monotonic milliseconds: for deadlines, TTLs and durations.
  virtual int64_t MonoMs() const = 0;
  // Wall-clock milliseconds since the Unix epoch: for display and records.
  virtual int64_t WallMs() const = 0;
};

class SystemClock final : public Clock {
 public:
  int64_t MonoMs() const override;
  int64_t WallMs() const override;
  static SystemClock* Get();
};

class FakeClock final : public Clock {
 public:
  explicit FakeClock(int64_t mono_ms = 1'000'000, int64_t wall_ms = 1'780'000'000'000)
      : mono_(mono_ms), wall_(wall_ms) {}
  int64_t MonoMs() const override { return mono_.load(); }
  int64_t WallMs() const override { return wall_.load(); }
  void AdvanceMs(int64_t ms) {
    mono_ += ms;
    wall_ += ms;
  }

 private:
  std::atomic<int64_t> mono_;
  std::atomic<int64_t> wall_;
};

}  // namespace skyport
