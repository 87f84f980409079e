// In which order a client tries the addresses of a replicated service (the
// registries of an etcd cluster, the hubs of which one leads). Pure: the
// caller passes the time (a steady clock, ms) and owns the object (it is not
// thread-safe; rpc::AddressPool wraps it in a lock).
//
// The promise: every call of Order() names every known address exactly once.
// The one that answered last comes first (a client sticks to a working
// server, and to the leader it was sent to); then the addresses in good
// standing in the order the operator listed them; then those that failed
// recently, the soonest due first. A failed address is never dropped, only
// moved back: when every server failed, the client still tries them all.
// A failure puts an address back for min(initial_ms * 2^(failures-1),
// max_ms); an answer clears its failures.
//
// Addresses learnt at run time (a standby naming the leader, which may not be
// in the operator's list) are kept after the list, at most kMaxLearnt of them,
// the least recently useful dropped first; listed addresses are never dropped.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace skyport {

struct AddressBackoff {
  int64_t initial_ms = 250;
  int64_t max_ms = 5'000;
};

class AddressOrder {
 public:
  static constexpr size_t kMaxLearnt = 4;

  explicit AddressOrder(std::vector<std::string> listed, AddressBackoff backoff = {});

  // Every known address once, best first (see above).
  std::vector<std::string> Order(int64_t now_ms) const;
  // `address` answered: it goes first from now on and its failures are
  // forgotten. An unknown address is learnt (see above).
  void Answered(const std::string& address, int64_t now_ms);
  // `address` could not be reached or did not answer in time: it moves back.
  // An unknown address is learnt first, so that it is not retried at once.
  void Failed(const std::string& address, int64_t now_ms);

  // The one that answered last ("" before any answer).
  const std::string& last() const { return last_; }
  // Consecutive failures of `address` (0 when unknown).
  int failures(const std::string& address) const;
  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    std::string address;
    bool listed = false;
    int failures = 0;
    int64_t retry_at_ms = 0;   // in good standing from then on
    int64_t touched_ms = 0;    // learnt ones: the last answer or failure, for eviction
  };
  Entry& Find(const std::string& address, int64_t now_ms);

  std::vector<Entry> entries_;  // listed first, in the operator's order, then learnt ones
  AddressBackoff backoff_;
  std::string last_;
};

}  // namespace skyport
