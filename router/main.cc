// skyport-router: the HTTP data plane that splits each app's traffic between
// commits, sticky per user.
#include <CLI/CLI.hpp>

#include "core/flags.h"
#include "router/daemon.h"

int main(int argc, char** argv) {
  skyport::router::DaemonOptions o;
  CLI::App app{"skyport-router: HTTP reverse proxy with weighted, sticky splits between commits.\n"
               "Every setting is also read from SKYPORT_ROUTER_<FLAG> and from --config FILE."};
  app.add_option("--listen", o.listen, "HTTP traffic address (port 0 = any)")->capture_default_str();
  app.add_option("--admin", o.admin, "Admin HTTP address: /routes /stats /metrics /healthz ('' = off)")
      ->capture_default_str();
  app.add_option("--registry", o.registry,
                 "Registry gRPC address to watch, or several as HOST:PORT,HOST:PORT,... (tried in turn)")->capture_default_str();
  app.add_option("--hub", o.hub, "Hub gRPC address: ship exposures and posted events there ('' = off); several as "
                 "HOST:PORT,HOST:PORT,...: every hub gets every batch");
  app.add_option("--data", o.data_dir,
                 "Data dir (with --hub): journal accepted events and keep unshipped batches there, so that a "
                 "restart (even kill -9) loses none ('' = in memory only)");
  app.add_option("--data-max-mb", o.data_max_mb,
                 "Disk budget of --data: event posts get 503 + Retry-After while logs and unshipped batches fill it; "
                 "only beyond 125% of it do the oldest unshipped batches go")
      ->capture_default_str();
  app.add_option("--events-user-rate", o.events_user_rate, "Events a second one user (cookie) may post; more: 429")
      ->capture_default_str();
  app.add_option("--events-user-burst", o.events_user_burst, "Events one user may post at once")->capture_default_str();
  app.add_option("--events-address-rate", o.events_address_rate,
                 "Events a second one client address (IPv6: one /64) may post; more: 429")
      ->capture_default_str();
  app.add_option("--events-address-burst", o.events_address_burst, "Events one client address may post at once")
      ->capture_default_str();
  app.add_option("--events-trusted-rate", o.events_trusted_rate,
                 "Events a second a server-side caller (with the cluster token) may post from one address")
      ->capture_default_str();
  app.add_option("--events-trusted-burst", o.events_trusted_burst, "Events a server-side caller may post at once")
      ->capture_default_str();
  app.add_option("--new-users-address-rate", o.new_users_address_rate,
                 "New user ids (cookies) minted and exposures recorded a second per client address; beyond it pages "
                 "are served without a new id or exposure")
      ->capture_default_str();
  app.add_option("--new-users-address-burst", o.new_users_address_burst,
                 "New user ids one client address may get at once")
      ->capture_default_str();
  app.add_option("--events-max-value", o.events_max_value,
                 "An event value posted without the cluster token counts at most this much (|value| capped)")
      ->capture_default_str();
  app.add_option("--events-limiter-entries", o.events_limiter_entries,
                 "Rate-limit buckets kept per limit (users, addresses); the least recently used go")
      ->capture_default_str();
  app.add_option("--stats-buffer-rows", o.stats_buffer_rows,
                 "Without --data: experiment rows kept in memory while the hub is away; beyond it the oldest go")
      ->capture_default_str();
  app.add_flag("--trust-x-forwarded-for", o.trust_x_forwarded_for,
               "Rate-limit by the last X-Forwarded-For hop, not the TCP peer (only behind a proxy you trust)");
  app.add_option("--routes", o.routes_file, "Static mode: routes JSON file (no registry); re-read on SIGHUP");
  app.add_option("--domain", o.domain, "Host APP.<domain> selects APP")->capture_default_str();
  app.add_option("--role", o.role, "Registry role that carries HTTP traffic")->capture_default_str();
  app.add_option("--default-app", o.default_app, "App for requests no host or path prefix matches");
  app.add_option("--resolve-refresh-s", o.resolve_refresh_s,
                 "Registry endpoints whose host is a name: resolved off the update path, cached, and resolved again "
                 "this often so an address change is picked up (a failing name keeps its last address)")
      ->check(CLI::Range(1, 86'400))
      ->capture_default_str();
  app.add_option("--resolve-max-names", o.resolve_max_names,
                 "Host names the resolver cache holds; endpoints on further names are not routed until room frees")
      ->check(CLI::Range(1, 10'000'000))
      ->capture_default_str();
  app.add_option("--threads", o.threads, "Event-loop threads (0 = one per core)")->capture_default_str();
  app.add_option("--balance", o.balance, "Within an arm: round-robin | least-outstanding")
      ->check(CLI::IsMember({"round-robin", "least-outstanding"}))
      ->capture_default_str();
  app.add_option("--connect-timeout-ms", o.connect_timeout_ms, "Upstream connect timeout")->capture_default_str();
  app.add_option("--response-timeout-ms", o.response_timeout_ms, "Upstream silence before 504")->capture_default_str();
  app.add_option("--idle-timeout-ms", o.idle_timeout_ms, "Idle keep-alive client connections close after this")
      ->capture_default_str();
  app.add_option("--header-timeout-ms", o.header_timeout_ms,
                 "A request head (and a new connection's first request) must arrive within this, else 408/close")
      ->check(CLI::Range(1, 3'600'000))
      ->capture_default_str();
  app.add_option("--max-connections", o.max_connections,
                 "Client connections open at once over all threads; at the cap the oldest without a request head "
                 "(else the oldest idle) is closed (0 = half of RLIMIT_NOFILE)")
      ->check(CLI::Range(0, 10'000'000))
      ->capture_default_str();
  app.add_option("--body-timeout-ms", o.body_timeout_ms,
                 "A request body must arrive within this (or, with --min-body-rate, keep that average after it), "
                 "else 408/close")
      ->check(CLI::Range(1, 86'400'000))
      ->capture_default_str();
  app.add_option("--min-body-rate", o.min_body_rate,
                 "Bytes/s a request body must average once --body-timeout-ms has passed (0 = that is a deadline)")
      ->check(CLI::Range(0, 1'000'000'000))
      ->capture_default_str();
  app.add_option("--max-header-bytes", o.max_header_bytes, "Largest request/response head (431 above)")
      ->capture_default_str();
  app.add_flag("--allow-underscore-headers", o.allow_underscore_headers,
               "Forward request header names with '_' (dropped by default: CGI/WSGI read them as '-'); names that "
               "fold into a field the router owns are dropped anyway");
  app.add_option("--escaped-slashes", o.escaped_slashes,
                 "Request paths with %2F, %5C or a raw '\\': reject (400) | unescape (read all three as '/', then "
                 "normalise and route)")
      ->check(CLI::IsMember({"reject", "unescape"}))
      ->capture_default_str();
  app.add_flag("--reuse-upstream-after-body", o.reuse_after_body,
               "Pool upstream connections after POST/PUT/PATCH bodies sent whole before a non-error answer "
               "(only if every app reads every body it answers; default: close after any request body)");
  app.add_option("--cookie-name", o.cookie_name, "Sticky user cookie")->capture_default_str();
  app.add_option("--cookie-secret-file", o.cookie_secret_file,
                 "HMAC secret that signs user cookies, the same on every router (>= 32 bytes; '' = derived from "
                 "the cluster token)");
  app.add_option("--cookie-secret-previous-file", o.cookie_secret_previous_file,
                 "Rotation: the previous cookie secret; cookies it signed are accepted and re-signed");
  app.add_option("--legacy-cookies-until", o.legacy_cookies_until,
                 "Migration: until this RFC 3339 time, unsigned cookies of older routers keep their user id and "
                 "are re-issued signed ('' = refused: anyone could write one)");
  app.add_option("--name", o.name, "Router name in the registry and /stats (default: host name)");
  app.add_option("--advertise", o.advertise, "Admin host to register in the registry");
  app.add_option("--port-file", o.port_file, "Write \"LISTEN_PORT ADMIN_PORT\" here once listening");
  app.add_option("--drain-ms", o.drain_ms, "On SIGTERM, let requests in flight finish this long")->capture_default_str();
  app.add_option("--stats-window", o.stats_window_s, "Seconds of per-second stats kept")->capture_default_str();
  skyport::AddCommonDaemonFlags(app, o.common, /*serves=*/false, "router");
  skyport::AddAdminFlags(app, o.admin_flags, "router");
  skyport::EnableEnvAndConfig(app, "router", "", &o.common.env_not_read);
  int code = 0;
  if (!skyport::ParseOrExit(app, argc, argv, code)) return code;
  return skyport::router::RunDaemon(o);
}
