// `skyport-registry migrate --from sqlite:DIR --to etcd:URLS` (and back):
// copies leases (ids and TTLs kept), allocations, endpoints and routes, then
// reads the destination back and compares (migrate_data.h). Run it with the
// registries stopped: the SQLite side takes its data dir's lock, so a running
// registry on it makes the migration refuse.
#pragma once

#include <string>

#include "core/etcd_flags.h"

namespace skyport::registry {

struct MigrateOptions {
  std::string from, to;  // "sqlite:DIR" or "etcd:URL[,URL...]"
  bool force = false;    // write into a destination that holds registry data (it is replaced)
  EtcdFlags etcd;        // TLS, auth and key prefix of the etcd side (endpoints from its URL list)
};

// Returns the exit code: 0 copied and equal; 1 failed or the read-back
// differs (the first difference is printed); 2 bad arguments.
int RunMigrate(const MigrateOptions& o);

}  // namespace skyport::registry
