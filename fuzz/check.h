// CHECK for the fuzz targets: a broken property aborts, which libFuzzer
// reports as a crash with the input; the message says which property.
#pragma once

#include <cstdio>
#include <cstdlib>

#define CHECK(cond)                                                                      \
  do {                                                                                   \
    if (!(cond)) {                                                                       \
      std::fprintf(stderr, "CHECK failed: %s at %s:%d\n", #cond, __FILE__, __LINE__);    \
      std::abort();                                                                      \
    }                                                                                    \
  } while (0)
