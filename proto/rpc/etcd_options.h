// From the --etcd-* flags (core/etcd_flags.h) to the client's options: the
// password read from its file or the environment, durations parsed, the key
// prefix checked. Every problem is named by its flag.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.h"
#include "core/etcd_flags.h"
#include "core/status.h"
#include "rpc/etcd_client.h"

namespace skyport::etcd {

struct Settings {
  Options options;
  std::string prefix;  // --etcd-prefix, checked (ValidKeyPrefix)
};

inline constexpr size_t kMaxPasswordBytes = 4096;

// `env` gives flags.password_env (the daemon's SKYPORT_<DAEMON>_ETCD_PASSWORD)
// when there is no --etcd-password-file.
// The options are checked as Client::Create would (CheckOptions).
Result<Settings> SettingsFromFlags(const EtcdFlags& flags, const EnvLookup& env);

// "250ms", "2s", "1m" or a plain number of milliseconds; within 1 ms..1 h.
Result<int64_t> ParseDurationMs(std::string_view text, std::string_view flag);

// "a, b,,c" -> {"a", "b", "c"}: blanks trimmed, empty items dropped.
std::vector<std::string> SplitList(std::string_view list);

}  // namespace skyport::etcd
