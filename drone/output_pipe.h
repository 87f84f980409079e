// One of an instance's output pipes (stdout or stderr) on the Supervisor's
// owner thread: read without blocking into whole lines, closed at EOF or
// when the run ends.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "drone/log_file.h"

namespace skyport::drone {

struct OutputPipe {
  const char* name;  // "stdout" | "stderr"
  int fd = -1;       // -1: closed
  LineSplitter split;

  // Reads what is there, at most `budget` bytes (so one chatty app cannot
  // starve the rest), appending complete lines to `lines`; at EOF the
  // unterminated rest too, and the pipe is closed.
  void Read(size_t budget, std::vector<std::string>& lines);
  // Stops reading (a grandchild may hold the pipe open forever), keeping
  // the unterminated rest as a line.
  void Close(std::vector<std::string>& lines);
};

}  // namespace skyport::drone
