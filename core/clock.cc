#include "core/clock.h"

namespace skyport {

int64_t MonoNowMs() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

int64_t WallNowMs() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

int64_t SystemClock::MonoMs() const { return MonoNowMs(); }

int64_t SystemClock::WallMs() const { return WallNowMs(); }

SystemClock* SystemClock::Get() {
  static SystemClock clock;
  return &clock;
}

}  // namespace skyport
