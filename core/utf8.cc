#include "core/utf8.h"

namespace skyport {

std::string CutUtf8(const std::string& s, size_t max) {
  if (s.size() <= max) return s;
  size_t end = max;
  while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80) --end;  // s[end]: the first byte left out
  return s.substr(0, end);
}

}  // namespace skyport
