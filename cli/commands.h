// The `skyport registry ...` commands. Their table (RegistryCommands, end of
// commands.cc) fills these option structs from the command line; each Run*
// returns the process exit code (see errors.h) and prints its own output and
// errors.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/registry_client.h"

namespace skyport::cli {

struct GlobalOptions {
  std::string registry = "127.0.0.1:6000";
  std::string hub = "127.0.0.1:6001";
  std::string token_file;  // else $SKYPORT_TOKEN
  std::string token;       // when set, the token itself (the hub's console asks its own hub with it)
  std::string tls_ca, tls_cert, tls_key;
  double timeout_s = 10;  // per RPC
  bool json = false;
  bool quiet = false;  // print no warnings or usage messages (the hub's console, which answers them as JSON)
};

struct ShowOptions {
  std::string app;  // "" = every app
  bool wide = false;
  bool table = false;
};

struct QueryOptions {
  std::string target;  // APP[@COMMIT-PREFIX]
  std::string role;    // "" = any
  bool wide = false;
  bool table = false;
};

struct RegisterOptions {
  std::string target;  // APP@COMMIT
  std::string role;
  std::string host;
  std::optional<uint32_t> port;  // else allocated by the registry
  std::optional<uint32_t> ttl;   // default 0 (static) without CMD, 10 with CMD
  uint32_t instance = 0;
  std::string drone;
  std::vector<std::string> meta;     // KEY=VALUE
  std::vector<std::string> command;  // after "--": run and supervise it
  double ready_timeout_s = 30;
  bool no_wait = false;
};

struct WatchOptions {
  std::optional<int64_t> from;
  std::string app;
};

struct RouteSetOptions {
  std::string app;
  std::string file;  // "-" = stdin
  std::optional<int64_t> expect_revision;
};

int RunShow(const GlobalOptions& g, const ShowOptions& o);
int RunQuery(const GlobalOptions& g, const QueryOptions& o);
int RunFree(const GlobalOptions& g, uint64_t id);
int RunRouteGet(const GlobalOptions& g, const std::string& app);
int RunRouteSet(const GlobalOptions& g, const RouteSetOptions& o);
int RunWatch(const GlobalOptions& g, const WatchOptions& o);
int RunRegister(const GlobalOptions& g, const RegisterOptions& o);

// Shared by the commands: loads the token and dials, or prints why not and
// sets `exit_code` (2: a usage problem such as a missing token).
std::unique_ptr<RegistryClient> ConnectOrReport(const GlobalOptions& g, int& exit_code);
// The token, TLS files and timeout of `g` for dialling `target`, or prints
// why not and sets `exit_code`.
std::optional<ConnectOptions> ConnectOptionsOrReport(const GlobalOptions& g, const std::string& target,
                                                     int& exit_code);
// Prints FormatRpcError for `what` and returns kExitFailure.
int ReportRpcError(const GlobalOptions& g, const std::string& what, const Status& status);
// Prints "skyport: <message>" and returns kExitUsage.
int ReportUsage(const Status& status);
// Prints the --json document of a command that talked to the registry or
// hub (`indent` as nlohmann's dump). An object gets "answered_by": the
// address that answered (with address lists, which one it was); an array
// keeps its shape (its consumers index it), and the address goes to stderr
// as "skyport: answered by HOST:PORT" when `list` names several.
void PrintAnswered(nlohmann::json doc, const std::string& answered_by, const std::string& list, int indent);

}  // namespace skyport::cli
