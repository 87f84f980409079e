// UTF-8 text cut to a byte bound without splitting a character (JSON dumps
// refuse a split one; terminals show it as garbage).
#pragma once

#include <cstddef>
#include <string>

namespace skyport {

// At most `max` bytes of `s`, never ending inside a UTF-8 sequence.
std::string CutUtf8(const std::string& s, size_t max);

}  // namespace skyport
