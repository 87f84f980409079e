// Cuts a snapshot (routes, then endpoints) for one watcher into SNAPSHOT
// messages of at most `chunk` endpoints each: the routes ride in the first
// message, every message but the last has more == true, and each carries the
// snapshot's revision. Both stores use it: the SQLite one over its state,
// etcd's over the pages of a Range (sent only once every page was read).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "skyport/v1/registry.pb.h"

namespace skyport::registry {

class SnapshotChunker {
 public:
  // `app`: only that app's routes and endpoints ("" = all). `chunk` >= 1.
  SnapshotChunker(std::string app, size_t chunk, int64_t revision);

  // Routes first, then endpoints; those of other apps are skipped.
  void AddRoute(const v1::RouteConfig& r);
  void AddEndpoint(const v1::Endpoint& ep);
  // The messages; the last one has more == false. Call once.
  std::vector<v1::WatchResponse> Finish();

 private:
  void Fresh();

  std::string app_;
  size_t chunk_;
  int64_t revision_;
  std::vector<v1::WatchResponse> out_;  // back() is filling
};

}  // namespace skyport::registry
