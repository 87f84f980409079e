#include "core/files.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

namespace skyport {

Status WriteFileAtomic(const std::string& path, std::string_view data) {
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::Internal(fmt::format("write {}: {}", tmp, std::strerror(errno)));
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      Status s = Status::Internal(fmt::format("write {}: {}", tmp, std::strerror(errno)));
      ::close(fd);
      ::unlink(tmp.c_str());
      return s;
    }
    off += static_cast<size_t>(n);
  }
  // A failed write leaves no temp file behind (and no open descriptor).
  int synced = ::fsync(fd), sync_errno = errno;
  int closed = ::close(fd), close_errno = errno;
  if (synced != 0 || closed != 0) {
    ::unlink(tmp.c_str());
    return Status::Internal(fmt::format("fsync {}: {}", tmp, std::strerror(synced != 0 ? sync_errno : close_errno)));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    Status s = Status::Internal(fmt::format("rename {}: {}", path, std::strerror(errno)));
    ::unlink(tmp.c_str());
    return s;
  }
  auto slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : path.substr(0, slash == 0 ? 1 : slash);
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return Status::Ok();
}

Result<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound(fmt::format("{}: cannot read", path));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace skyport
