// Applies one receive-pack POST to a bare repository with libgit2.
//
// The body is fed as it arrives: first the pkt-line command list, then the
// packfile, which is indexed into a private quarantine directory (with the
// repository's objects as bases for thin packs). Finish() then takes the
// app's write lock, checks every command (stale old id, missing objects,
// non-fast-forward, ref name), and only if at least one is accepted renames
// the pack into the repository before moving the refs with compare-and-swap.
// A refused push leaves no objects behind; the quarantine is always removed.
// With several hubs (set_replicator), the accepted commands and the indexed
// pack go to the standbys after the checks and before anything lands here; a
// push they could not take is refused whole ("ng <ref> not replicated: ...").
//
// Every pack byte passes a PackScanner (pack_scan.h) before the indexer sees
// it, and every tree, commit and tag of an indexed pack passes git's fsck
// checks (object_check.h) before Finish() looks at the refs: a pack that
// breaks a bound or a check is an unpack error, nothing of it lands.
// Feed() and Finish() block (libgit2): call them off the threads that serve
// other requests.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"
#include "hub/git/git_http.h"
#include "hub/git/pack_scan.h"
#include "hub/git/replicator.h"
#include "hub/git/repo_store.h"

namespace skyport::hub {

struct PushOutcome {
  std::string body;   // the report-status reply (maybe side-band framed; maybe empty)
  PushEvent event;    // empty `updates` for the "0000" probe
  // Why the whole push was refused, for counters and logs: "" (it was not, or
  // the pack was corrupt), "fsck", "refs", or a PackBoundName().
  std::string refused_by;
  std::string unpack_error;  // the "unpack" reason when not ok
  // To build the report again after the push (deploy on push may turn an ok into an ng).
  PushCommands request;
  std::vector<std::string> messages;  // band-2 lines of the report
};

class PushSession {
 public:
  // `allow_non_ff(app, ref)` may be empty (= never).
  PushSession(RepoStore* store, std::string app,
              std::function<bool(const std::string&, const std::string&)> allow_non_ff,
              PushLimits limits = {});
  ~PushSession();
  PushSession(const PushSession&) = delete;
  PushSession& operator=(const PushSession&) = delete;

  // While *stop is true, indexing gives up at its next progress report (the
  // push ends as an unpack error): lets a server stop without waiting for a
  // long delta resolution. `stop` must outlive the session.
  void set_stop_flag(const std::atomic<bool>* stop);
  // Several hubs: accepted updates are replicated before they land here
  // (hub/git/replicator.h); nullptr (the default) = one hub. Must outlive
  // the session.
  void set_replicator(PushReplicator* replicator);

  // INVALID_ARGUMENT for a malformed command list (answer 400). Pack errors
  // are not returned here: they become "unpack <error>" in the report.
  Status Feed(std::string_view bytes);
  // The body has ended. INVALID_ARGUMENT if it ended inside the command list.
  Result<PushOutcome> Finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// (id, name) of every direct ref of the repository at `path`, sorted by name,
// for the advertisement. Empty if there is no repository yet.
Result<std::vector<std::pair<std::string, std::string>>> ListRefs(const std::string& path);

}  // namespace skyport::hub
