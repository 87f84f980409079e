// Connection admission for a listener, like nginx limit_conn / HAProxy maxconn:
// at most `max_total` connections open, at most `max_per_client` from one
// client address. A refused connection is closed before a byte is read, so
// that neither a flood nor one address starves the others. Thread-safe; the
// listeners (hub/git/git_http.cc, hub/console/console_server.cc) count and log
// the refusals their own way.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>

namespace skyport {

class ConnectionAdmission {
 public:
  enum class Verdict { kAdmitted, kServerFull, kClientFull };
  // Bounds below 1 count as 1.
  ConnectionAdmission(int max_total, int max_per_client);
  Verdict Admit(const std::string& client);
  // Undoes an admitted connection of `client`.
  void Release(const std::string& client);
  uint64_t open() const;

 private:
  const uint64_t max_total_;
  const int max_per_client_;
  mutable std::mutex mu_;
  uint64_t open_ = 0;                    // guarded by mu_
  std::map<std::string, int> by_client_;  // guarded by mu_; only addresses with open connections
};

}  // namespace skyport
