#include <catch2/catch.hpp>

#include <memory>
#include <string>

#include "core/status.h"

namespace skyport {
namespace {

TEST_CASE("Status: default and Ok() are OK with an empty message", "[core][status]") {
  Status a;
  Status b = Status::Ok();
  CHECK(a.ok());
  CHECK(b.ok());
  CHECK(a.code() == Code::kOk);
  CHECK(a.message().empty());
  CHECK(a.ToString() == "OK");
}

TEST_CASE("Status: named constructors set code, message and ToString", "[core][status]") {
  struct Row {
    Status status;
    Code code;
    std::string text;
  };
  const Row rows[] = {
      {Status::InvalidArgument("app: bad"), Code::kInvalidArgument, "INVALID_ARGUMENT: app: bad"},
      {Status::NotFound("x"), Code::kNotFound, "NOT_FOUND: x"},
      {Status::AlreadyExists("x"), Code::kAlreadyExists, "ALREADY_EXISTS: x"},
      {Status::FailedPrecondition("x"), Code::kFailedPrecondition, "FAILED_PRECONDITION: x"},
      {Status::ResourceExhausted("x"), Code::kResourceExhausted, "RESOURCE_EXHAUSTED: x"},
      {Status::Unauthenticated("x"), Code::kUnauthenticated, "UNAUTHENTICATED: x"},
      {Status::Unavailable("x"), Code::kUnavailable, "UNAVAILABLE: x"},
      {Status::Internal("x"), Code::kInternal, "INTERNAL: x"},
      {Status::DataLoss("x"), Code::kDataLoss, "DATA_LOSS: x"},
      {Status(Code::kAborted, ""), Code::kAborted, "ABORTED: "},
  };
  for (const Row& r : rows) {
    INFO(r.text);
    CHECK_FALSE(r.status.ok());
    CHECK(r.status.code() == r.code);
    CHECK(r.status.ToString() == r.text);
  }
  CHECK(Status::InvalidArgument("app: bad").message() == "app: bad");
}

TEST_CASE("Status: codes use gRPC numbering and names", "[core][status]") {
  struct Row {
    Code code;
    int number;
    const char* name;
  };
  const Row rows[] = {
      {Code::kOk, 0, "OK"},
      {Code::kCancelled, 1, "CANCELLED"},
      {Code::kUnknown, 2, "UNKNOWN"},
      {Code::kInvalidArgument, 3, "INVALID_ARGUMENT"},
      {Code::kDeadlineExceeded, 4, "DEADLINE_EXCEEDED"},
      {Code::kNotFound, 5, "NOT_FOUND"},
      {Code::kAlreadyExists, 6, "ALREADY_EXISTS"},
      {Code::kPermissionDenied, 7, "PERMISSION_DENIED"},
      {Code::kResourceExhausted, 8, "RESOURCE_EXHAUSTED"},
      {Code::kFailedPrecondition, 9, "FAILED_PRECONDITION"},
      {Code::kAborted, 10, "ABORTED"},
      {Code::kOutOfRange, 11, "OUT_OF_RANGE"},
      {Code::kUnimplemented, 12, "UNIMPLEMENTED"},
      {Code::kInternal, 13, "INTERNAL"},
      {Code::kUnavailable, 14, "UNAVAILABLE"},
      {Code::kDataLoss, 15, "DATA_LOSS"},
      {Code::kUnauthenticated, 16, "UNAUTHENTICATED"},
  };
  for (const Row& r : rows) {
    INFO(r.name);
    CHECK(static_cast<int>(r.code) == r.number);
    CHECK(std::string(CodeName(r.code)) == r.name);
  }
  CHECK(std::string(CodeName(static_cast<Code>(99))) == "UNKNOWN");
}

TEST_CASE("Result: holds a value", "[core][status]") {
  Result<int> r = 42;
  REQUIRE(r.ok());
  CHECK(r.value() == 42);
  CHECK(*r == 42);
  CHECK(r.status().ok());
  CHECK(r.status().ToString() == "OK");
  r.value() = 7;
  CHECK(*r == 7);
}

TEST_CASE("Result: holds an error status", "[core][status]") {
  Result<std::string> r = Status::NotFound("lease 3");
  CHECK_FALSE(r.ok());
  CHECK(r.status().code() == Code::kNotFound);
  CHECK(r.status().message() == "lease 3");
}

TEST_CASE("Result: arrow access and move-out", "[core][status]") {
  Result<std::string> r = std::string("hello");
  CHECK(r->size() == 5);
  const Result<std::string>& cr = r;
  CHECK(cr->front() == 'h');
  std::string moved = std::move(r).value();
  CHECK(moved == "hello");

  Result<std::unique_ptr<int>> p = std::make_unique<int>(5);
  REQUIRE(p.ok());
  std::unique_ptr<int> owned = std::move(p).value();
  CHECK(*owned == 5);
}

}  // namespace
}  // namespace skyport
