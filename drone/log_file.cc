#include "drone/log_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>

#include <fmt/format.h>

#include "core/timefmt.h"

namespace skyport::drone {
namespace {

Status Errno(std::string_view what, const std::string& path) {
  return Status::Internal(fmt::format("{} {}: {}", what, path, std::strerror(errno)));
}

}  // namespace

std::string FormatLogLine(int64_t unix_ms, std::string_view stream, std::string_view text) {
  time_t secs = static_cast<time_t>(unix_ms / 1000);
  struct tm tm {};
  gmtime_r(&secs, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z {} {}\n", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, unix_ms % 1000, stream, text);
}

std::optional<ParsedLogLine> ParseLogLine(std::string_view line) {
  const size_t ts_end = line.find(' ');
  if (ts_end == std::string_view::npos) return std::nullopt;
  auto ms = ParseRfc3339Ms(line.substr(0, ts_end));
  if (!ms.ok()) return std::nullopt;
  line.remove_prefix(ts_end + 1);
  const size_t stream_end = line.find(' ');
  if (stream_end == std::string_view::npos || stream_end == 0) return std::nullopt;
  return ParsedLogLine{*ms, std::string(line.substr(0, stream_end)), std::string(line.substr(stream_end + 1))};
}

void LineSplitter::Feed(std::string_view data, std::vector<std::string>& out) {
  while (!data.empty()) {
    size_t nl = data.find('\n');
    size_t take = nl == std::string_view::npos ? data.size() : nl;
    // Never hold more than max_line_ bytes of one line.
    take = std::min(take, max_line_ - partial_.size());
    partial_.append(data.substr(0, take));
    data.remove_prefix(take);
    bool end = !data.empty() && data.front() == '\n';
    if (end) data.remove_prefix(1);
    if (end || partial_.size() >= max_line_) {
      out.push_back(std::move(partial_));
      partial_.clear();
    }
  }
}

void LineSplitter::Flush(std::vector<std::string>& out) {
  if (!partial_.empty()) out.push_back(std::move(partial_));
  partial_.clear();
}

Result<std::unique_ptr<LogFile>> LogFile::Open(std::string path, uint64_t max_bytes, int keep) {
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  if (ec) return Status::Internal(fmt::format("mkdir for {}: {}", path, ec.message()));
  std::unique_ptr<LogFile> f(new LogFile(std::move(path), max_bytes, std::max(keep, 0)));
  Status s = f->Reopen();
  if (!s.ok()) return s;
  return f;
}

LogFile::~LogFile() {
  if (fd_ >= 0) close(fd_);
}

Status LogFile::Reopen() {
  if (fd_ >= 0) close(fd_);
  fd_ = open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd_ < 0) return Errno("open", path_);
  struct stat st {};
  size_ = fstat(fd_, &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
  return Status::Ok();
}

Status LogFile::Rotate() {
  if (keep_ == 0) {
    if (unlink(path_.c_str()) != 0 && errno != ENOENT) return Errno("unlink", path_);
  } else {
    // rename() replaces the target, so the oldest (.keep) is dropped by the
    // first shift.
    for (int i = keep_ - 1; i >= 1; --i) {
      std::string from = fmt::format("{}.{}", path_, i);
      if (rename(from.c_str(), fmt::format("{}.{}", path_, i + 1).c_str()) != 0 && errno != ENOENT)
        return Errno("rename", from);
    }
    if (rename(path_.c_str(), (path_ + ".1").c_str()) != 0) return Errno("rename", path_);
  }
  return Reopen();
}

Status LogFile::Append(std::string_view bytes) {
  if (fd_ < 0) {  // a failed rotation or open: try again rather than lose every later line
    Status s = Reopen();
    if (!s.ok()) return s;
  }
  if (size_ > 0 && size_ + bytes.size() > max_bytes_) {
    Status s = Rotate();
    if (!s.ok()) return s;
  }
  while (!bytes.empty()) {
    ssize_t n = write(fd_, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Errno("write", path_);
    size_ += static_cast<uint64_t>(n);
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return Status::Ok();
}

}  // namespace skyport::drone
