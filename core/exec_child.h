// For a forked child about to exec: async-signal-safe only.
#pragma once

namespace skyport {

// Restores default signal dispositions (an "ignore" such as gRPC's SIGPIPE
// would survive exec), empties the blocked-signal mask (or SIGTERM might
// never reach the program), and marks every fd >= 3 close-on-exec (sockets
// of the parent, Asio's included, must not leak into it).
void PrepareChildForExec();

}  // namespace skyport
