// The console's login sessions (hub/console/API.md): an id in an HttpOnly
// cookie, a CSRF token the page keeps in a JS variable. In memory only: a hub
// restart logs everyone out. Pure: the time and the random ids come in as
// arguments. Not thread-safe: its owner guards it.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace skyport::hub::console {

struct SessionLimits {
  size_t max_sessions = 1000;        // beyond: the least recently used session is dropped
  int64_t idle_ms = 3600'000;        // unused this long: expired
  int64_t absolute_ms = 12 * 3600'000;  // this long after login: expired, used or not
};

struct SessionCounters {
  uint64_t created = 0;
  uint64_t expired = 0;   // idle or absolute expiry, found on lookup or sweep
  uint64_t evicted = 0;   // dropped for max_sessions
  uint64_t logged_out = 0;
};

class SessionTable {
 public:
  explicit SessionTable(SessionLimits limits = {}) : limits_(limits) {}

  // Adds a session `id` (256 random bits, hex) with its `csrf` token, made at
  // `now_ms`. At the bound, the least recently used session goes first.
  void Create(const std::string& id, const std::string& csrf, int64_t now_ms);
  // The session's CSRF token if `id` names a live session at `now_ms` (and
  // marks it used then); nullopt for an unknown or expired one (removed).
  std::optional<std::string> Touch(const std::string& id, int64_t now_ms);
  // True when a session was removed.
  bool Remove(const std::string& id);
  // Drops every expired session; returns how many.
  size_t Sweep(int64_t now_ms);

  size_t size() const { return sessions_.size(); }
  const SessionCounters& counters() const { return counters_; }
  const SessionLimits& limits() const { return limits_; }

 private:
  struct Session {
    std::string csrf;
    int64_t created_ms = 0;
    int64_t used_ms = 0;
  };
  bool ExpiredLocked(const Session& s, int64_t now_ms) const;

  SessionLimits limits_;
  std::map<std::string, Session> sessions_;
  SessionCounters counters_;
};

}  // namespace skyport::hub::console
