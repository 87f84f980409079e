#include <catch2/catch.hpp>

#include "router/worker.h"

namespace skyport::router {
namespace {

// A client 10 bytes into a request body that began at t = 1000 ms.
Client Receiving() {
  Client c(-1);
  c.state = Client::State::kExchange;
  c.req_scanned = false;
  c.body_start_ms = 1000;
  c.body_start_bytes = 500;
  c.read_bytes = 510;
  return c;
}

TEST_CASE("a request body still arriving after the body timeout is slow", "[router]") {
  Client c = Receiving();
  CHECK_FALSE(SlowBody(c, 1000 + 59'999, 60'000, 0));
  CHECK(SlowBody(c, 1000 + 60'000, 60'000, 0));  // a byte now and then does not extend it
  c.req_scanned = true;                           // the whole body arrived
  CHECK_FALSE(SlowBody(c, 1000 + 600'000, 60'000, 0));
}

TEST_CASE("with a minimum rate only bodies below it after the grace are slow", "[router]") {
  Client c = Receiving();
  // 10 bytes in 2 s: 5 B/s.
  CHECK_FALSE(SlowBody(c, 1000 + 1999, 2000, 5));
  CHECK_FALSE(SlowBody(c, 1000 + 2000, 2000, 5));
  CHECK(SlowBody(c, 1000 + 2000, 2000, 6));
  c.read_bytes = 500 + 1'000'000;  // 1 MB in 20 s
  CHECK_FALSE(SlowBody(c, 1000 + 20'000, 2000, 50'000));
  CHECK(SlowBody(c, 1000 + 20'000, 2000, 50'001));
}

TEST_CASE("a body held back by a full buffer or outside an exchange is not slow", "[router]") {
  Client c = Receiving();
  c.in.Commit(c.in.capacity());  // the upstream is not reading: back-pressure
  CHECK_FALSE(SlowBody(c, 1000 + 600'000, 60'000, 0));
  Client h = Receiving();
  h.state = Client::State::kHead;
  CHECK_FALSE(SlowBody(h, 1000 + 600'000, 60'000, 0));
}

}  // namespace
}  // namespace skyport::router
