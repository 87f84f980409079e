#include "core/version.h"

namespace skyport {

std::string VersionLine(std::string_view program) {
  std::string name = program.empty() ? "skyport" : "skyport-" + std::string(program);
  return name + " " + SKYPORT_VERSION + " (commit " + BuildCommit() + ", built " + BuildDate() + ")";
}

}  // namespace skyport
