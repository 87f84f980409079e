// skyport-router start-up: flags, the route source (registry or static file),
// the proxy, the admin listener, self-registration, signals.
#pragma once

#include <string>

#include "core/daemon.h"
#include "core/http_admin.h"

namespace skyport::router {

struct DaemonOptions {
  std::string listen = "127.0.0.1:8080";
  std::string admin = "127.0.0.1:6003";
  std::string registry = "127.0.0.1:6000";
  std::string hub;                // StatsSink for exposures and events ('' = not collected)
  std::string data_dir;           // event journal and unshipped batches (router/journal.h); '' = memory only
  int data_max_mb = 1024;         // the journal's disk budget
  std::string routes_file;        // static mode when set
  std::string domain = "localhost";
  std::string role = "web";
  std::string default_app;
  int resolve_refresh_s = 30;      // registry host names are resolved again this often
  int resolve_max_names = 10'000;  // host names the resolver cache holds at most
  int threads = 0;
  std::string balance = "round-robin";
  int connect_timeout_ms = 2000;
  int response_timeout_ms = 60000;
  int idle_timeout_ms = 60000;
  int header_timeout_ms = 10000;  // also the first-byte timeout of a new connection
  int max_connections = 0;        // ProxyOptions::max_connections (0 = from RLIMIT_NOFILE)
  int body_timeout_ms = 60000;    // ProxyOptions::body_timeout_ms
  int min_body_rate = 0;          // ProxyOptions::min_body_rate
  int max_header_bytes = 32 * 1024;
  std::string cookie_name = "skyport";
  std::string cookie_secret_file;           // the cookie HMAC secret; '' = derived from the cluster token
  std::string cookie_secret_previous_file;  // during a rotation: the secret before, still accepted
  std::string legacy_cookies_until;         // RFC 3339: unsigned cookies keep their id until then ('' = never)
  std::string name;               // default: hostname
  std::string advertise;          // admin host others reach; default: the admin listen host (127.0.0.1 if wildcard)
  std::string port_file;          // "LISTEN_PORT ADMIN_PORT"
  int drain_ms = 5000;
  int stats_window_s = 3600;
  bool reuse_after_body = false;           // ProxyOptions::reuse_after_body
  bool allow_underscore_headers = false;   // ProxyOptions::allow_underscore_headers
  std::string escaped_slashes = "reject";  // reject | unescape (ProxyOptions::unescape_slashes)
  AdminFlags admin_flags;  // the admin listener's metrics token and bounds
  // POST /_skyport/events rate limits (router/rate_limit.h): events a second and burst.
  double events_user_rate = 100, events_user_burst = 1000;
  double events_address_rate = 1000, events_address_burst = 10000;
  double events_trusted_rate = 20000, events_trusted_burst = 100000;
  double new_users_address_rate = 50, new_users_address_burst = 2000;  // new ids + exposures per address
  double events_max_value = 1e6;  // |value| of a browser-posted event counted at most this (capped)
  int events_limiter_entries = 65536;  // buckets kept per limit (least recently used go)
  int stats_buffer_rows = 1'000'000;   // without --data: rows waiting for the hub in memory (oldest dropped)
  bool trust_x_forwarded_for = false;  // limit by X-Forwarded-For's last hop (behind a trusted proxy only)
  CommonDaemonFlags common;
};

int RunDaemon(const DaemonOptions& options);

}  // namespace skyport::router
