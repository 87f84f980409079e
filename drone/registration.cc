#include "drone/registration.h"

#include <google/protobuf/util/message_differencer.h>

namespace skyport::drone {

bool SameEntry(const v1::Endpoint& a, const v1::Endpoint& b) {
  return a.host() == b.host() && a.port() == b.port();
}

RegisterAnswer UseRegisterAnswer(const v1::Endpoint& sent, uint64_t sent_gen, uint64_t sent_lease,
                                 const v1::Endpoint* current, uint64_t current_gen, uint64_t lease) {
  if (lease != sent_lease) return {};  // the lease and its entries are gone
  if (current == nullptr) return {.deregister = true};  // deregistered while in flight
  // A newer want on the same host:port (new pid or health) is registered next turn over this
  // entry; on another port (a move after a port clash) this entry must go.
  if (!SameEntry(sent, *current)) return {.deregister = true};
  return {.keep_id = true, .current = current_gen == sent_gen};
}

bool HoldsRegistered(const v1::Endpoint& held, const v1::Endpoint& sent) {
  auto content = [](v1::Endpoint ep) {
    ep.clear_id();
    ep.clear_lease_id();
    ep.clear_registered_unix_ms();
    ep.clear_revision();
    return ep;
  };
  return google::protobuf::util::MessageDifferencer::Equals(content(held), content(sent));
}

bool ReplacedEntryToRemove(const v1::Endpoint& registered, uint64_t registered_id, const v1::Endpoint& next) {
  return registered_id != 0 && !SameEntry(registered, next);
}

}  // namespace skyport::drone
