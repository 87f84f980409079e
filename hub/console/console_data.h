// The console's data (hub/console/API.md): every GET answers exactly the
// JSON document the equivalent `skyport ... --json` prints, because it is
// made by the same code (the CLI's clients and shaping functions, over this
// hub's own gRPC listener with the cluster token); every action does what the
// CLI command does. Blocking (each RPC within DataOptions::timeout_s): the
// server calls it from its worker pool, never from an I/O thread.
// Thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "hub/console/console_request.h"

namespace skyport::hub::console {

struct DataOptions {
  std::string hub;       // this hub's gRPC address as the CLI names it ("127.0.0.1:6001")
  std::string registry;  // the hub's --registry ("" = none: route, split, registry answer 503)
  std::string token;     // the cluster token
  std::string tls_ca, tls_cert, tls_key;  // the hub's gRPC TLS files ("" = plaintext)
  double timeout_s = 5;  // per RPC
  int64_t cache_ms = 500;  // GET answers are reused this long (0 = never)
  size_t cache_entries = 256;
};

// An HTTP status and its JSON body ({"error": "..."} for errors).
struct Reply {
  int status = 200;
  nlohmann::json body;
};

// The HTTP status for a Status from the hub, registry or a check.
int HttpStatusFor(const Status& s);
Reply ErrorReply(int status, const std::string& message);
Reply ErrorReply(const Status& s);

class ConsoleData {
 public:
  explicit ConsoleData(DataOptions o);

  // GETs (cached for cache_ms; an action clears the cache).
  Reply Overview();                 // {"apps": `apps --json`, "status": `status --json`}
  Reply App(const std::string& app);  // {"ps","releases","route","config"}
  Reply AppStats(const std::string& app, const StatsParams& p);  // `stats APP --json [--by B]`
  Reply Flights(bool all);          // `flight list --json [--all]`
  Reply Flight(const std::string& name);  // {"status","log"}
  Reply Registry();                 // `registry show --json`
  Reply Drones();                   // `drones --json`

  // Actions (never cached).
  Reply Split(const std::string& app, std::string_view body, bool preview);
  Reply Rollback(const std::string& app, std::string_view body);
  Reply FlightStart(std::string_view body);
  Reply FlightKill(const std::string& name, std::string_view body);

  // Bumped by every action; with the hub's own cheap state digest this is
  // what GET /api/events reports.
  uint64_t actions() const;

  uint64_t cache_hits() const;
  uint64_t calls() const;

 private:
  template <class F>
  Reply Cached(const std::string& key, F compute);
  void ActionDone();

  const DataOptions o_;
  mutable std::mutex mu_;
  struct Entry {
    int64_t at_ms = 0;
    Reply reply;
  };
  std::map<std::string, Entry> cache_;  // GUARDED_BY(mu_)
  uint64_t actions_ = 0;                // GUARDED_BY(mu_)
  uint64_t cache_hits_ = 0;             // GUARDED_BY(mu_)
  uint64_t calls_ = 0;                  // GUARDED_BY(mu_)
};

}  // namespace skyport::hub::console
