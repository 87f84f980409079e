// The hook a push takes before it is acknowledged (several hubs, hub/peer/):
// PushSession calls Replicate() under the app's write lock, after every
// command was checked and before the pack moves into the repository and the
// refs move. Not OK: nothing of the push lands here and every accepted ref is
// answered "ng <ref> <message>".
#pragma once

#include <string>
#include <vector>

#include "core/status.h"
#include "hub/git/receive_pack.h"

namespace skyport::hub {

struct ReplicaPush {
  std::string app;
  std::string pack_path;               // the indexed, self-contained .pack; "" when the push has no objects
  std::vector<PushCommand> commands;   // the accepted updates, old id as checked here
};

class PushReplicator {
 public:
  virtual ~PushReplicator() = default;
  // Blocks at most the implementation's bound. OK once enough copies exist.
  virtual Status Replicate(const ReplicaPush& push) = 0;
};

}  // namespace skyport::hub
