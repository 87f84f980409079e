#include "cli/watch_lines.h"

#include <nlohmann/json.hpp>

namespace skyport::cli {

std::string EndpointLine(int64_t revision, bool put, const v1::Endpoint& ep) {
  nlohmann::ordered_json j = {{"revision", revision},
                              {"type", put ? "put" : "delete"},
                              {"app", ep.app()},
                              {"commit", ep.commit()},
                              {"role", ep.role()},
                              {"host", ep.host()},
                              {"port", ep.port()},
                              {"id", ep.id()}};
  return j.dump();
}

std::string RouteLine(int64_t revision, bool put, const v1::RouteConfig& route) {
  nlohmann::ordered_json j = {
      {"revision", revision}, {"type", put ? "route-put" : "route-delete"}, {"app", route.app()}};
  if (put) {
    nlohmann::json weights = nlohmann::json::object();  // sorted: stable output
    for (const auto& [commit, w] : route.weights()) weights[commit] = w;
    j["weights"] = weights;
    j["split_id"] = route.split_id();
    j["hosts"] = std::vector<std::string>(route.hosts().begin(), route.hosts().end());
    j["allow_override"] = route.allow_override();
  }
  return j.dump();
}

void WatchPrinter::StartStream() {
  pending_endpoints_.clear();
  pending_routes_.clear();
}

std::vector<std::string> WatchPrinter::OnMessage(const v1::WatchResponse& msg) {
  std::vector<std::string> lines;
  if (msg.kind() == v1::WatchResponse::SNAPSHOT) {
    pending_endpoints_.insert(pending_endpoints_.end(), msg.endpoints().begin(),
                              msg.endpoints().end());
    pending_routes_.insert(pending_routes_.end(), msg.routes().begin(), msg.routes().end());
    if (msg.more()) return lines;
    // A snapshot replaces everything: if the reader already holds state (it
    // resumed, or saw earlier events), tell it to drop that state first.
    if (revision_ != 0) {
      nlohmann::ordered_json reset = {{"type", "reset"}, {"revision", msg.revision()}};
      lines.push_back(reset.dump());
    }
    for (const auto& ep : pending_endpoints_)
      lines.push_back(EndpointLine(ep.revision() ? ep.revision() : msg.revision(), true, ep));
    for (const auto& r : pending_routes_)
      lines.push_back(RouteLine(r.revision() ? r.revision() : msg.revision(), true, r));
    pending_endpoints_.clear();
    pending_routes_.clear();
    revision_ = msg.revision();
    return lines;
  }
  if (msg.kind() != v1::WatchResponse::DELTA) return lines;
  for (const auto& ev : msg.events()) {
    switch (ev.type()) {
      case v1::Event::ENDPOINT_PUT: lines.push_back(EndpointLine(ev.revision(), true, ev.endpoint())); break;
      case v1::Event::ENDPOINT_DELETE: lines.push_back(EndpointLine(ev.revision(), false, ev.endpoint())); break;
      case v1::Event::ROUTE_PUT: lines.push_back(RouteLine(ev.revision(), true, ev.route())); break;
      case v1::Event::ROUTE_DELETE: lines.push_back(RouteLine(ev.revision(), false, ev.route())); break;
      default: break;
    }
    if (ev.revision() > revision_) revision_ = ev.revision();
  }
  if (msg.revision() > revision_) revision_ = msg.revision();
  return lines;
}

}  // namespace skyport::cli
