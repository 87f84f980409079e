#include "drone/output_pipe.h"

#include <unistd.h>

#include <cerrno>
#include <string_view>

namespace skyport::drone {

void OutputPipe::Read(size_t budget, std::vector<std::string>& lines) {
  if (fd < 0) return;
  char buf[16 * 1024];
  size_t total = 0;
  bool eof = false;
  while (total < budget) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (n <= 0) {
      eof = true;
      break;
    }
    total += static_cast<size_t>(n);
    split.Feed(std::string_view(buf, static_cast<size_t>(n)), lines);
  }
  if (eof) {
    split.Flush(lines);
    close(fd);
    fd = -1;
  }
}

void OutputPipe::Close(std::vector<std::string>& lines) {
  if (fd < 0) return;
  close(fd);
  fd = -1;
  split.Flush(lines);
}

}  // namespace skyport::drone
