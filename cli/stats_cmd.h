// `skyport stats APP`: per-arm traffic statistics, merged from the routers.
#pragma once

#include <string>
#include <vector>

#include "cli/commands.h"

namespace skyport::cli {

struct StatsOptions {
  std::string app;
  int window_s = 3600;
  std::vector<std::string> routers;  // HOST:PORT; empty = the registered ones
};

// Asks every router (those registered as skyport-router/admin unless
// o.routers names them) for /stats, warns on stderr about the ones that fail
// and prints the merged statistics (a table, or the document with --json).
// Exit 1 when no router is registered or none answered.
int RunStats(const GlobalOptions& g, const StatsOptions& o);

}  // namespace skyport::cli
