#include "drone/metrics.h"

#include <atomic>

#include <fmt/format.h>

namespace skyport::drone::metrics {
namespace {

std::atomic<uint64_t> symlink{0}, not_regular{0}, too_big{0}, escaped{0}, orphans{0}, leftovers{0};

}  // namespace

void CountCheckoutReject(Reject why) {
  (why == Reject::kSymlink ? symlink : why == Reject::kNotRegular ? not_regular : too_big).fetch_add(1);
}
void CountEscaped(uint64_t n) { escaped.fetch_add(n); }
void CountOrphanKilled() { orphans.fetch_add(1); }
void CountLeftoverCgroups(uint64_t n) { leftovers.fetch_add(n); }

std::string Render() {
  std::string out;
  out += "# HELP skyport_drone_checkout_files_rejected_total Procfile/skyport.json refused: a symlink, not a "
         "regular file, or over the size cap.\n# TYPE skyport_drone_checkout_files_rejected_total counter\n";
  out += fmt::format("skyport_drone_checkout_files_rejected_total{{reason=\"symlink\"}} {}\n", symlink.load());
  out += fmt::format("skyport_drone_checkout_files_rejected_total{{reason=\"not_regular\"}} {}\n", not_regular.load());
  out += fmt::format("skyport_drone_checkout_files_rejected_total{{reason=\"too_big\"}} {}\n", too_big.load());
  out += "# HELP skyport_drone_escaped_processes_total Processes found outside their instance's process group.\n"
         "# TYPE skyport_drone_escaped_processes_total counter\n";
  out += fmt::format("skyport_drone_escaped_processes_total {}\n", escaped.load());
  out += "# HELP skyport_drone_orphans_killed_total Adopted orphans that belonged to no instance, killed.\n"
         "# TYPE skyport_drone_orphans_killed_total counter\n";
  out += fmt::format("skyport_drone_orphans_killed_total {}\n", orphans.load());
  out += "# HELP skyport_drone_leftover_cgroups_killed_total Instance cgroups of a previous run found populated.\n"
         "# TYPE skyport_drone_leftover_cgroups_killed_total counter\n";
  out += fmt::format("skyport_drone_leftover_cgroups_killed_total {}\n", leftovers.load());
  return out;
}

}  // namespace skyport::drone::metrics
