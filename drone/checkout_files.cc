#include "drone/checkout_files.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "drone/metrics.h"

namespace skyport::drone {
namespace {

int OpenBeneath(int dirfd, const std::string& name) {
#ifdef SYS_openat2
  open_how how{};
  how.flags = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;
  int fd = static_cast<int>(syscall(SYS_openat2, dirfd, name.c_str(), &how, sizeof how));
  if (fd >= 0 || (errno != ENOSYS && errno != EPERM)) return fd;  // EPERM: a seccomp filter
#endif
  return openat(dirfd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
}

}  // namespace

Result<std::string> ReadCheckoutFile(const std::string& dir, const std::string& name, size_t max_bytes) {
  if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..")
    return Status::InvalidArgument(fmt::format("{}: not a file name", name));
  int dirfd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dirfd < 0) return Status::Internal(fmt::format("open checkout {}: {}", dir, std::strerror(errno)));
  int fd = OpenBeneath(dirfd, name);
  int err = errno;
  close(dirfd);
  if (fd < 0) {
    if (err == ENOENT) return Status::NotFound(fmt::format("{}: no such file in the commit", name));
    if (err == ELOOP || err == EXDEV) {
      metrics::CountCheckoutReject(metrics::Reject::kSymlink);
      return Status::FailedPrecondition(
          fmt::format("{}: is a symbolic link; it must be a regular file in the repository", name));
    }
    return Status::FailedPrecondition(fmt::format("{}: cannot open: {}", name, std::strerror(err)));
  }
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    metrics::CountCheckoutReject(metrics::Reject::kNotRegular);
    return Status::FailedPrecondition(fmt::format("{}: must be a regular file in the repository", name));
  }
  std::string out;
  char buf[8192];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      err = errno;
      close(fd);
      return Status::FailedPrecondition(fmt::format("{}: read: {}", name, std::strerror(err)));
    }
    if (n == 0) break;
    if (out.size() + static_cast<size_t>(n) > max_bytes) {
      close(fd);
      metrics::CountCheckoutReject(metrics::Reject::kTooBig);
      return Status::FailedPrecondition(fmt::format("{}: larger than the {} byte limit", name, max_bytes));
    }
    out.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return out;
}

}  // namespace skyport::drone
