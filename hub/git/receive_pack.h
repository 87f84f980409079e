// The receive-pack (push) protocol as pure functions: the ref advertisement,
// parsing the command list a client sends, and the report-status reply with
// optional side-band-64k framing. No git objects, no I/O; push_apply.h does
// the libgit2 side.
#pragma once

#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace skyport::hub {

inline constexpr std::string_view kZeroId = "0000000000000000000000000000000000000000";
// What the hub offers. No push-options, no atomic, no push-cert: a client that
// needs them gets a clear refusal from git itself.
inline constexpr std::string_view kReceivePackCaps =
    "report-status delete-refs side-band-64k quiet ofs-delta object-format=sha1 agent=skyport/1";

struct PushCommand {
  std::string old_id;  // 40 lowercase hex; kZeroId = create
  std::string new_id;  // 40 lowercase hex; kZeroId = delete
  std::string ref;     // "refs/heads/master"
};

// The outcome of one ref update of a push, as the report tells it.
struct RefUpdate {
  std::string ref;        // refs/heads/master
  std::string old_id;     // 40 hex; all zeros = create
  std::string new_id;     // 40 hex; all zeros = delete
  bool ok = false;
  std::string error;      // the `ng` reason when !ok
};

struct PushCommands {
  std::vector<PushCommand> commands;
  std::set<std::string> caps;  // from the first command line ("agent=git/2.39.5" kept whole)
  bool Has(std::string_view cap) const { return caps.count(std::string(cap)) > 0; }
};

// GET info/refs body: "# service=git-receive-pack", flush, one line per ref
// (first carrying the capabilities; "capabilities^{}" when there are no refs),
// flush. `refs` are (40-hex id, full ref name) pairs.
std::string BuildAdvertisement(const std::vector<std::pair<std::string, std::string>>& refs);

// Parses the payloads of the command list (everything before the flush).
// "shallow <id>" lines are skipped. INVALID_ARGUMENT names the bad line's
// index: a malformed id, a ref not under refs/, old == new == zero, or a ref
// named twice.
Result<PushCommands> ParseCommands(const std::vector<std::string>& payloads);

// The reply body. `unpack` is "ok" or the unpack error. Empty if the client did
// not ask for report-status. With side-band-64k the report rides band 1 and
// each of `messages` is a band-2 line the client prints as "remote: ..."
// (without side-band they are dropped: the raw report has no place for them).
std::string BuildReport(const PushCommands& request, const std::string& unpack,
                        const std::vector<RefUpdate>& updates, const std::vector<std::string>& messages);

// One band-2 (progress) line as side-band-64k pkt-lines: the client prints it
// as "remote: <line>". For a reply streamed before BuildReport's.
std::string ProgressBand(std::string_view line);

}  // namespace skyport::hub
