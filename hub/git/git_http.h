// git smart-HTTP push (receive-pack) for the hub, on Boost.Beast:
//   GET  /<app>.git/info/refs?service=git-receive-pack
//   POST /<app>.git/git-receive-pack
// HTTP Basic auth: any user name, the cluster token as the password
// (constant-time compare); 401 with WWW-Authenticate otherwise.
// upload-pack (fetch/clone) is refused with 403 and a clear message.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "hub/git/pack_scan.h"
#include "hub/git/receive_pack.h"
#include "hub/git/replicator.h"
#include "hub/git/repo_store.h"

namespace skyport::hub {

struct PushEvent {
  std::string app;
  std::vector<RefUpdate> updates;
};

// Deploy on push (`skyport apps set APP --deploy-on-push BRANCH`): what an
// accepted push deploys.
struct PushDeploy {
  std::string ref;     // the ref whose update triggers it ("refs/heads/master")
  std::string commit;  // its new id
  // Runs the deploy, blocking, on a push worker thread (the push keeps its
  // slot meanwhile). `say` sends one line to the pushing terminal ("remote:
  // ..."); `cancelled` turns true when the hub stops. An error turns the ref's
  // "ok" into "ng <ref> deploy failed: <error>" (the ref stays updated).
  std::function<Status(const std::function<void(const std::string&)>& say, const std::function<bool()>& cancelled)>
      run;
};

// Bounds on one push (receive-pack POST). Defaults follow git and GitHub;
// docs/operations.md lists the flags.
struct PushLimits {
  PackLimits pack;
  uint32_t max_refs = 1000;  // ref updates in one push
};

struct GitHttpOptions {
  std::string listen = "127.0.0.1:6002";   // HOST:PORT, port 0 = any free port
  std::string token;
  uint64_t max_body_bytes = 2ull << 30;      // larger pushes get 413
  int threads = 2;           // answer requests; they never run libgit2 work that can take long
  PushLimits limits;
  // Pushes processed at once (each gets its own worker thread for libgit2);
  // the next one is answered 503 with Retry-After.
  int max_concurrent_pushes = 4;
  // Of them, pushes from one client address (nginx limit_conn per
  // $binary_remote_addr): a token holder reconnecting in a loop cannot keep
  // every slot busy. The next one from that address is answered 429 with
  // Retry-After.
  int max_pushes_per_client = 2;
  // Slow and greedy clients (nginx client_header_timeout, client_body_timeout
  // and limit_conn; HAProxy timeout http-request and maxconn; Apache
  // mod_reqtimeout's minrate). docs/security.md has the reasoning.
  int idle_timeout_s = 60;          // keep-alive wait for the first byte of the next request
  int header_timeout_s = 10;        // a request header, from its first byte to its end
  int body_timeout_s = 600;         // a push's whole body
  uint64_t min_rate = 1024;         // body bytes/s, over each window of min_rate_window_s; 0 = off
  int min_rate_window_s = 20;
  int write_timeout_s = 60;         // writing one response
  int max_connections = 512;        // open connections to the git listener
  int max_connections_per_client = 32;  // of them from one client address
  // Whether a non-fast-forward update of `ref` in `app` is allowed.
  std::function<bool(const std::string& app, const std::string& ref)> allow_non_ff;
  // Called after a push, with what was accepted and refused.
  std::function<void(const PushEvent&)> on_push;
  // Called after a push whose pack was good: the deploy it triggers, or nullopt.
  // With side-band-64k the reply streams the deploy's progress (chunked) and ends
  // with the report; without it the report waits for the deploy.
  std::function<std::optional<PushDeploy>(const PushEvent&)> deploy_on_push;
  // Several hubs: nullopt while this hub leads (or when unset); else the
  // leader's git base URL ("http://h:p", "" when none is known), and every
  // push request is answered 307 to it (or 503), before the token check:
  // proto/rpc/leader.h.
  std::function<std::optional<std::string>()> standby_leader;
  // Several hubs: every push is replicated to the standbys before it is
  // acknowledged (hub/git/replicator.h). Not owned; outlives the server.
  PushReplicator* replicator = nullptr;
};

class GitHttpServer {
 public:
  static Result<std::unique_ptr<GitHttpServer>> Start(RepoStore* repos, GitHttpOptions opts);
  virtual ~GitHttpServer() = default;
  virtual int port() const = 0;
  // Prometheus text: pushes, refusals by cause, pushes in flight.
  virtual std::string Metrics() const = 0;
};

}  // namespace skyport::hub
