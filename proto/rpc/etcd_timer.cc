#include "rpc/etcd_timer.h"

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <utility>

namespace skyport::etcd {

using Clock = std::chrono::steady_clock;

struct TimerThread::State {
  std::mutex mu;
  std::condition_variable cv;
  bool stop = false;
  uint64_t seq = 0;
  std::map<std::pair<Clock::time_point, uint64_t>, std::function<void()>> tasks;

  void Run() {
    std::unique_lock lock(mu);
    while (!stop) {
      if (tasks.empty()) {
        cv.wait(lock);
        continue;
      }
      auto first = tasks.begin();
      if (first->first.first > Clock::now()) {
        cv.wait_until(lock, first->first.first);
        continue;
      }
      std::function<void()> task = std::move(first->second);
      tasks.erase(first);
      lock.unlock();
      task();
      task = nullptr;  // its captures may own this thread's owner: release them unlocked
      lock.lock();
    }
  }
};

TimerThread::TimerThread() : state_(std::make_shared<State>()) {
  thread_ = std::thread([state = state_] { state->Run(); });
}

TimerThread::~TimerThread() {
  std::map<std::pair<Clock::time_point, uint64_t>, std::function<void()>> dropped;
  {
    std::lock_guard lock(state_->mu);
    state_->stop = true;
    dropped.swap(state_->tasks);
  }
  state_->cv.notify_all();
  if (thread_.get_id() == std::this_thread::get_id())
    thread_.detach();
  else
    thread_.join();
}

void TimerThread::After(int64_t delay_ms, std::function<void()> task) {
  {
    std::lock_guard lock(state_->mu);
    if (state_->stop) return;
    auto due = Clock::now() + std::chrono::milliseconds(delay_ms < 0 ? 0 : delay_ms);
    state_->tasks.emplace(std::make_pair(due, state_->seq++), std::move(task));
  }
  state_->cv.notify_all();
}

}  // namespace skyport::etcd
