// Turns the Registry.Watch stream into the JSON lines `skyport registry
// watch` prints, across reconnects. Pure: feed it messages, print what it
// returns, ask it where to resume.
//
// Lines: {"revision":N,"type":"put"|"delete","app","commit","role","host",
// "port","id"} for endpoints; {"revision":N,"type":"route-put"|"route-delete",
// "app",...} for routes; {"type":"reset","revision":N} when a stream that was
// asked to resume answers with a fresh snapshot instead (forget what you
// knew; the snapshot's puts follow).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "skyport/v1/registry.pb.h"

namespace skyport::cli {

class WatchPrinter {
 public:
  // `from_revision` 0: start from a snapshot; N: resume after revision N.
  explicit WatchPrinter(int64_t from_revision) : revision_(from_revision) {}

  // Call before the first message of every (re)connected stream: a snapshot
  // cut short by a broken stream is dropped, never half-printed.
  void StartStream();

  // Lines to print for one message (none until the last snapshot chunk).
  std::vector<std::string> OnMessage(const v1::WatchResponse& msg);

  // The from_revision for the next Watch call.
  int64_t resume_revision() const { return revision_; }

 private:
  int64_t revision_;
  std::vector<v1::Endpoint> pending_endpoints_;  // snapshot chunks so far
  std::vector<v1::RouteConfig> pending_routes_;
};

std::string EndpointLine(int64_t revision, bool put, const v1::Endpoint& ep);
std::string RouteLine(int64_t revision, bool put, const v1::RouteConfig& route);

}  // namespace skyport::cli
