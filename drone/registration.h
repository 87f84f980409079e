// What the drone's registry link does with the registry's answer to a
// Register, and with a new endpoint for an instance that is already
// registered. Pure: the link (drone/registry_link.cc) holds the state and
// does the calls.
//
// The registry keys an entry by host:port: registering the same host:port
// again updates the entry in place, registering another port adds a second
// entry. So an instance that moves to another port (a port clash) must have
// its old entry removed, including one whose Register was still in flight
// when the move was asked for: otherwise routers keep sending to the old
// port for as long as the drone's lease lives.
#pragma once

#include <cstdint>

#include "skyport/v1/registry.pb.h"

namespace skyport::drone {

// True when both name the same registry entry (host:port).
bool SameEntry(const v1::Endpoint& a, const v1::Endpoint& b);

// What the registry's answer to a Register means for the instance's want.
struct RegisterAnswer {
  bool keep_id = false;     // the entry is the instance's (its current host:port): a later
                            // deregistration must remove it, even before newer content lands
  bool current = false;     // and it holds the current want's content
  bool deregister = false;  // the entry is nobody's want any more: remove it
  bool operator==(const RegisterAnswer&) const = default;
};

// The answer to the Register of `sent` (want generation `sent_gen`, under
// `sent_lease`) for an instance whose current want is `current` (nullptr: it
// is not wanted any more; `current_gen` its generation), `lease` the link's
// lease now (0: lost).
RegisterAnswer UseRegisterAnswer(const v1::Endpoint& sent, uint64_t sent_gen, uint64_t sent_lease,
                                 const v1::Endpoint* current, uint64_t current_gen, uint64_t lease);

// Whether `held`, the registry's entry for an instance, holds what the drone
// registered (`sent`). A store restored from a backup can bring an entry
// back with its id and host:port but older content (an old pid, a health
// changed since: critical for an instance that is serving now). What the
// registry assigns (id, lease, registration time, revision) does not count.
bool HoldsRegistered(const v1::Endpoint& held, const v1::Endpoint& sent);

// Whether a new want `next` for an instance registered as `registered` (entry
// id `registered_id`, 0 = not registered) must first remove that entry.
bool ReplacedEntryToRemove(const v1::Endpoint& registered, uint64_t registered_id, const v1::Endpoint& next);

}  // namespace skyport::drone
