#include "drone/instance_board.h"

#include <algorithm>

namespace skyport::drone {
namespace {

bool Matches(const InstanceKey& k, const std::string& app, const std::string& commit, const std::string& role) {
  return (app.empty() || k.app == app) && (commit.empty() || k.commit.starts_with(commit)) &&
         (role.empty() || k.role == role);
}

}  // namespace

bool InstanceBoard::Add(const InstanceKey& key, uint32_t port) {
  std::lock_guard lock(mu_);
  if (statuses_.count(key) != 0) return false;
  ProcStatus st;
  st.key = key;
  st.port = port;
  statuses_[key] = st;
  tails_.emplace(key, TailRing<LogLine>(tail_lines_));
  return true;
}

bool InstanceBoard::Has(const InstanceKey& key) const {
  std::lock_guard lock(mu_);
  return statuses_.count(key) != 0;
}

void InstanceBoard::Set(const ProcStatus& status) {
  std::lock_guard lock(mu_);
  statuses_[status.key] = status;
}

std::vector<ProcStatus> InstanceBoard::List() const {
  std::lock_guard lock(mu_);
  std::vector<ProcStatus> out;
  for (const auto& [key, st] : statuses_) out.push_back(st);
  return out;
}

void InstanceBoard::Retire(const InstanceKey& key) {
  std::lock_guard lock(mu_);
  statuses_.erase(key);
  auto t = tails_.find(key);
  if (t == tails_.end()) return;
  std::erase_if(stopped_tails_, [&](const auto& kt) { return kt.first == key; });
  stopped_tails_.emplace_back(key, std::move(t->second));
  if (stopped_tails_.size() > kept_stopped_tails_) stopped_tails_.pop_front();
  tails_.erase(t);
}

void InstanceBoard::AddLines(const InstanceKey& key, const char* stream, std::vector<std::string>& lines,
                             int64_t unix_ms) {
  std::lock_guard lock(mu_);
  auto& ring = tails_.at(key);
  for (auto& text : lines) {
    LogLine l{key, stream, std::move(text), unix_ms};
    ring.Push(l);
    pending_logs_.push_back(std::move(l));
  }
}

std::vector<LogLine> InstanceBoard::Tail(const std::string& app, const std::string& commit, const std::string& role,
                                         size_t n) const {
  std::vector<LogLine> out;
  {
    std::lock_guard lock(mu_);
    for (const auto& [key, ring] : tails_) {
      if (!Matches(key, app, commit, role)) continue;
      auto lines = ring.Last(n);
      out.insert(out.end(), lines.begin(), lines.end());
    }
    if (!commit.empty())
      for (const auto& [key, ring] : stopped_tails_) {
        if (!Matches(key, app, commit, role) || tails_.count(key)) continue;
        auto lines = ring.Last(n);
        out.insert(out.end(), lines.begin(), lines.end());
      }
  }
  std::stable_sort(out.begin(), out.end(), [](const LogLine& a, const LogLine& b) { return a.unix_ms < b.unix_ms; });
  return out;
}

uint64_t InstanceBoard::Subscribe(std::function<void(const LogLine&)> on_log) {
  std::lock_guard lock(subs_mu_);
  subs_[++next_sub_] = std::move(on_log);
  return next_sub_;
}

void InstanceBoard::Unsubscribe(uint64_t id) {
  std::lock_guard lock(subs_mu_);
  subs_.erase(id);
}

void InstanceBoard::DeliverLines() {
  std::vector<LogLine> logs;
  {
    std::lock_guard lock(mu_);
    logs.swap(pending_logs_);
  }
  if (logs.empty()) return;
  std::lock_guard lock(subs_mu_);
  for (const auto& l : logs)
    for (const auto& [id, fn] : subs_) fn(l);
}

}  // namespace skyport::drone
