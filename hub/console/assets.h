// The console's static files, compiled into the hub (embed_assets.py makes
// them from hub/console/assets/ and Debian's Chart.js at build time), so the
// console works with no internet and no files beside the binary.
#pragma once

#include <cstddef>
#include <span>
#include <string_view>

namespace skyport::hub::console {

struct Asset {
  const char* name;          // the URL name under /assets/ ("index.html", "chart.js", "app.js")
  const unsigned char* data;
  size_t size;
  const char* content_type;
  const char* etag;          // "\"<sha-256 prefix>\"": changes with the content
};

// Every asset, by name.
std::span<const Asset> Assets();
// The asset named `name`, or nullptr.
inline const Asset* FindAsset(std::string_view name) {
  for (const Asset& a : Assets())
    if (name == a.name) return &a;
  return nullptr;
}

}  // namespace skyport::hub::console
