// `skyport registry watch`: JSON lines from the Watch stream, reconnecting
// with backoff and resuming where it left off.
#include <chrono>
#include <cstdio>
#include <iostream>
#include <thread>

#include "cli/commands.h"
#include "cli/errors.h"
#include "cli/watch_lines.h"
#include "core/backoff.h"
#include "core/ids.h"
#include "core/names.h"

namespace skyport::cli {
namespace {

// Errors that reconnecting cannot fix.
bool Fatal(Code c) {
  return c == Code::kUnauthenticated || c == Code::kPermissionDenied ||
         c == Code::kInvalidArgument || c == Code::kUnimplemented || c == Code::kNotFound ||
         c == Code::kFailedPrecondition || c == Code::kOutOfRange;
}

}  // namespace

int RunWatch(const GlobalOptions& g, const WatchOptions& o) {
  if (!o.app.empty())
    if (Status s = ValidateName("app", o.app); !s.ok()) return ReportUsage(s);
  if (o.from && *o.from < 0) return ReportUsage(Status::InvalidArgument("from: must be >= 0"));
  int code = kExitOk;
  auto client = ConnectOrReport(g, code);
  if (!client) return code;

  WatchPrinter printer(o.from.value_or(0));
  const BackoffPolicy policy = kReconnectBackoff;  // the stream itself waits for the registry
  SystemRandom random;
  int attempt = 0;
  Code last_code = Code::kOk;
  for (;;) {
    v1::WatchRequest req;
    req.set_from_revision(printer.resume_revision());
    req.set_app(o.app);
    printer.StartStream();
    bool got_message = false;
    bool output_failed = false;
    Status s = client->Watch(req, [&](const v1::WatchResponse& msg) {
      got_message = true;
      for (const auto& line : printer.OnMessage(msg)) {
        // Flush per line: a pipe reader must see each change when it happens.
        if (std::fputs(line.c_str(), stdout) < 0 || std::fputc('\n', stdout) < 0 ||
            std::fflush(stdout) != 0)
          output_failed = true;
      }
      return !output_failed;
    });
    if (output_failed) return kExitFailure;  // the reader went away
    if (Fatal(s.code())) return ReportRpcError(g, "watch", s);
    if (got_message) attempt = 0;
    if (attempt == 0 || s.code() != last_code)
      std::cerr << FormatRpcError("watch stream ended",
                                  s.ok() ? Status::Unavailable("closed by the server") : s,
                                  g.registry)
                << "\nskyport: reconnecting, resuming after revision " << printer.resume_revision()
                << std::endl;
    last_code = s.code();
    std::this_thread::sleep_for(
        std::chrono::milliseconds(BackoffDelayMs(policy, attempt++, random.Uniform01())));
  }
}

}  // namespace skyport::cli
