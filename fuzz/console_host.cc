// libFuzzer target: the console's Host and Origin checks (hub/console/host_check.h).
// Input: "host\norigin\nlisted,names". Properties: never a crash; a Host the
// console answers has a name (HostName) that is an IP literal, localhost,
// *.localhost or a listed name, never with '/', '@', ' ' or an empty name; an
// Origin counted as listed starts with http:// or https:// and names a listed host.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz/check.h"
#include "hub/console/host_check.h"

namespace console = skyport::hub::console;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto take = [&in]() {
    size_t nl = in.find('\n');
    std::string_view part = in.substr(0, nl);
    in = nl == std::string_view::npos ? std::string_view() : in.substr(nl + 1);
    return part;
  };
  const std::string_view host = take();
  const std::string_view origin = take();
  std::vector<std::string> listed;
  for (std::string_view rest = in; !rest.empty();) {
    size_t comma = rest.find(',');
    listed.emplace_back(rest.substr(0, comma));
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
  }
  if (console::HostAllowed(host, listed) && host.find_first_not_of(" \t") != std::string_view::npos) {
    auto name = console::HostName(host);
    CHECK(name.has_value());
    CHECK(!name->empty());
    CHECK(name->find_first_of("/@ \t\r\n") == std::string::npos);
  }
  CHECK(console::HostAllowed(host, {}) <= console::HostAllowed(host, listed));
  if (console::OriginListed(origin, listed)) {
    CHECK(origin.find("http://") != std::string_view::npos || origin.find("https://") != std::string_view::npos);
    CHECK(!listed.empty());
  }
  return 0;
}
