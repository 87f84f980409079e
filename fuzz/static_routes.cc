// libFuzzer target: the router's static routes file (router/route_table.h
// LoadStaticRoutes), which builds a whole route table, and RoutesJson over the
// result. Name resolution is cut off (getaddrinfo is wrapped at link time):
// only numeric upstreams resolve here.
#include <netdb.h>

#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "fuzz/check.h"
#include "router/route_table.h"

extern "C" int __wrap_getaddrinfo(const char*, const char*, const addrinfo*, addrinfo**) { return EAI_NONAME; }

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  // Most mutations are not JSON, and nlohmann reports that by exception, which
  // is slow under ASan and not our code: one such input in 16 goes on.
  if (!nlohmann::json::accept(text) && size % 16 != 0) return 0;
  skyport::router::TableOptions options;
  options.default_app = "";
  uint32_t next_id = 1;
  auto table = skyport::router::LoadStaticRoutes(text, 7, options,
                                                 [&](const std::string&, const std::string&) { return next_id++; });
  if (!table.ok()) return 0;
  CHECK((*table)->revision == 7);
  CHECK(nlohmann::json::accept(skyport::router::RoutesJson(**table)));
  return 0;
}
