#include <catch2/catch.hpp>

#include "core/conn_admission.h"

namespace skyport {
namespace {

using V = ConnectionAdmission::Verdict;

TEST_CASE("ConnectionAdmission: a total bound and a per-client bound, undone by Release", "[core]") {
  ConnectionAdmission a(3, 2);
  CHECK(a.Admit("10.0.0.1") == V::kAdmitted);
  CHECK(a.Admit("10.0.0.1") == V::kAdmitted);
  CHECK(a.Admit("10.0.0.1") == V::kClientFull);  // one address cannot take it all
  CHECK(a.Admit("10.0.0.2") == V::kAdmitted);
  CHECK(a.open() == 3);
  CHECK(a.Admit("10.0.0.3") == V::kServerFull);
  a.Release("10.0.0.1");
  CHECK(a.open() == 2);
  CHECK(a.Admit("10.0.0.3") == V::kAdmitted);
  CHECK(a.Admit("10.0.0.1") == V::kServerFull);
  // A release of an address with nothing open changes nothing.
  a.Release("10.9.9.9");
  CHECK(a.open() == 3);
  for (const char* c : {"10.0.0.1", "10.0.0.2", "10.0.0.3"}) a.Release(c);
  CHECK(a.open() == 0);
  a.Release("10.0.0.1");
  CHECK(a.open() == 0);
  // Bounds below 1 count as 1.
  ConnectionAdmission one(0, -5);
  CHECK(one.Admit("x") == V::kAdmitted);
  CHECK(one.Admit("y") == V::kServerFull);
}

}  // namespace
}  // namespace skyport
