#include "core/conn_admission.h"

#include <algorithm>

namespace skyport {

ConnectionAdmission::ConnectionAdmission(int max_total, int max_per_client)
    : max_total_(static_cast<uint64_t>(std::max(1, max_total))), max_per_client_(std::max(1, max_per_client)) {}

ConnectionAdmission::Verdict ConnectionAdmission::Admit(const std::string& client) {
  std::lock_guard lock(mu_);
  if (open_ >= max_total_) return Verdict::kServerFull;
  auto it = by_client_.find(client);
  if (it != by_client_.end() && it->second >= max_per_client_) return Verdict::kClientFull;
  if (it == by_client_.end()) it = by_client_.emplace(client, 0).first;
  ++it->second;
  ++open_;
  return Verdict::kAdmitted;
}

void ConnectionAdmission::Release(const std::string& client) {
  std::lock_guard lock(mu_);
  auto it = by_client_.find(client);
  if (it == by_client_.end()) return;  // never admitted: nothing to undo
  if (--it->second <= 0) by_client_.erase(it);
  if (open_ > 0) --open_;
}

uint64_t ConnectionAdmission::open() const {
  std::lock_guard lock(mu_);
  return open_;
}

}  // namespace skyport
