// One thread that runs tasks after a delay: the etcd client's retries and
// watch resumptions wait here, never on a gRPC callback thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <thread>

namespace skyport::etcd {

class TimerThread {
 public:
  TimerThread();
  // Drops the tasks not yet run. May run on the timer thread itself (a task
  // releasing the last owner): then the thread is detached and ends alone.
  ~TimerThread();
  TimerThread(const TimerThread&) = delete;
  TimerThread& operator=(const TimerThread&) = delete;

  // Runs `task` on the timer thread `delay_ms` from now (tasks due at the
  // same time run in the order given). Tasks must not block.
  void After(int64_t delay_ms, std::function<void()> task);

 private:
  struct State;
  std::shared_ptr<State> state_;
  std::thread thread_;
};

}  // namespace skyport::etcd
