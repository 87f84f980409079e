#include "registry/etcd_events.h"

#include <fmt/format.h>

namespace skyport::registry {

Result<std::optional<v1::Event>> ToEvent(const EtcdKeys& keys, const mvccpb::Event& e) {
  const ParsedKey k = keys.Parse(e.kv().key());
  if (k.kind != KeyKind::kEndpoint && k.kind != KeyKind::kRoute) return std::optional<v1::Event>();
  const bool put = e.type() == mvccpb::Event::PUT;
  const int64_t rev = e.kv().mod_revision();
  v1::Event out;
  out.set_revision(rev);
  if (put) {
    if (k.kind == KeyKind::kEndpoint) {
      auto ep = DecodeEndpoint(keys, e.kv());
      if (!ep.ok()) return ep.status();
      out.set_type(v1::Event::ENDPOINT_PUT);
      *out.mutable_endpoint() = std::move(*ep);
    } else {
      auto r = DecodeRoute(keys, e.kv());
      if (!r.ok()) return r.status();
      out.set_type(v1::Event::ROUTE_PUT);
      *out.mutable_route() = std::move(*r);
    }
    return std::optional<v1::Event>(std::move(out));
  }
  if (!e.has_prev_kv() || e.prev_kv().key() != e.kv().key())
    return Status::DataLoss(fmt::format("etcd: delete of \"{}\" at revision {} came without its previous value",
                                        e.kv().key(), rev));
  if (k.kind == KeyKind::kEndpoint) {
    auto ep = DecodeEndpoint(keys, e.prev_kv());
    if (!ep.ok()) return ep.status();
    ep->set_revision(rev);
    out.set_type(v1::Event::ENDPOINT_DELETE);
    *out.mutable_endpoint() = std::move(*ep);
  } else {
    auto r = DecodeRoute(keys, e.prev_kv());
    if (!r.ok()) return r.status();
    r->set_revision(rev);
    out.set_type(v1::Event::ROUTE_DELETE);
    *out.mutable_route() = std::move(*r);
  }
  return std::optional<v1::Event>(std::move(out));
}

const std::string& EventApp(const v1::Event& e) { return e.has_endpoint() ? e.endpoint().app() : e.route().app(); }

Delta ToDelta(const EtcdKeys& keys, const std::vector<mvccpb::Event>& events,
              int64_t revision, const std::string& app) {
  Delta d;
  v1::WatchResponse msg;
  msg.set_kind(v1::WatchResponse::DELTA);
  msg.set_revision(revision);
  for (const auto& e : events) {
    auto ev = ToEvent(keys, e);
    if (!ev.ok()) {
      if (d.undecodable++ == 0) d.first_error = ev.status().message();
      continue;
    }
    if (!*ev || (!app.empty() && EventApp(**ev) != app)) continue;
    *msg.add_events() = std::move(**ev);
  }
  if (msg.events_size() > 0) d.message = std::move(msg);
  return d;
}

}  // namespace skyport::registry
