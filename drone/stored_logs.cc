#include "drone/stored_logs.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <iterator>
#include <map>

#include <fmt/format.h>

#include "core/names.h"
#include "drone/log_file.h"

namespace fs = std::filesystem;

namespace skyport::drone {
namespace {

// The last kMaxStoredLogReadBytes of `path`: a regular file, opened without
// following a link.
std::string ReadTail(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) return "";
  struct stat st {};
  std::string out;
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
    const off_t start = std::max<off_t>(0, st.st_size - static_cast<off_t>(kMaxStoredLogReadBytes));
    out.resize(static_cast<size_t>(st.st_size - start));
    ssize_t got = ::pread(fd, out.data(), out.size(), start);
    out.resize(got > 0 ? static_cast<size_t>(got) : 0);
    if (start > 0) {  // the first line is cut
      const size_t nl = out.find('\n');
      out.erase(0, nl == std::string::npos ? out.size() : nl + 1);
    }
  }
  ::close(fd);
  return out;
}

// Lines of `files` (oldest file first) as LogLines of `key`, the last `n`.
std::vector<LogLine> LastLines(const std::vector<std::string>& files, const InstanceKey& key, size_t n) {
  std::vector<LogLine> lines;
  for (const auto& f : files) {
    const std::string text = ReadTail(f);
    size_t at = 0;
    while (at < text.size()) {
      size_t nl = text.find('\n', at);
      if (nl == std::string::npos) nl = text.size();
      if (auto p = ParseLogLine(std::string_view(text).substr(at, nl - at)))
        lines.push_back(LogLine{key, std::move(p->stream), std::move(p->text), p->unix_ms});
      at = nl + 1;
    }
    if (lines.size() > 4 * n + 1024) lines.erase(lines.begin(), lines.end() - static_cast<std::ptrdiff_t>(n));
  }
  if (lines.size() > n) lines.erase(lines.begin(), lines.end() - static_cast<std::ptrdiff_t>(n));
  return lines;
}

// The commit directories under log_dir/app whose name starts with `prefix`.
Result<std::vector<std::string>> MatchCommits(const std::string& log_dir, const std::string& app,
                                              const std::string& prefix) {
  if (Status s = ValidateName("app", app); !s.ok()) return s;
  if (Status s = ValidateCommitPrefix("commit", prefix); !s.ok()) return s;
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(fs::path(log_dir) / app, ec)) {
    const std::string name = e.path().filename().string();
    if (!name.starts_with(prefix) || !ValidateCommit("commit", name).ok() || !e.is_directory(ec)) continue;
    out.push_back(name);
    if (out.size() > kMaxStoredCommitsMatched)
      return Status::InvalidArgument(fmt::format("commit {}: matches more than {} commits' logs; give more of it",
                                                 prefix, kMaxStoredCommitsMatched));
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

std::string ReleaseLogPath(const std::string& log_dir, const std::string& app, const std::string& commit) {
  return fmt::format("{}/{}/{}/release.log", log_dir, app, commit);
}

Result<std::vector<LogLine>> ReadStoredLogs(const std::string& log_dir, const std::string& app,
                                            const std::string& commit_prefix, const std::string& role, size_t n) {
  auto commits = MatchCommits(log_dir, app, commit_prefix);
  if (!commits.ok()) return commits.status();
  std::vector<LogLine> out;
  for (const auto& commit : *commits) {
    // ROLE.INSTANCE.log and its rotations ROLE.INSTANCE.log.K (K=1 is the newest of those).
    std::map<InstanceKey, std::map<int, std::string>> files;  // key -> rotation (0 = current) -> path
    std::error_code ec;
    const fs::path dir = fs::path(log_dir) / app / commit;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
      std::string name = e.path().filename().string();
      int rotation = 0;
      if (const size_t at = name.rfind(".log."); at != std::string::npos) {
        try {
          rotation = std::stoi(name.substr(at + 5));
        } catch (...) {
          continue;
        }
        if (rotation < 1 || rotation > 1000) continue;
        name = name.substr(0, at + 4);
      }
      if (!name.ends_with(".log") || name == "release.log") continue;
      const std::string stem = name.substr(0, name.size() - 4);
      const size_t dot = stem.rfind('.');
      if (dot == std::string::npos) continue;
      InstanceKey key{app, commit, stem.substr(0, dot), 0};
      try {
        key.instance = static_cast<uint32_t>(std::stoul(stem.substr(dot + 1)));
      } catch (...) {
        continue;
      }
      if (!ValidateName("role", key.role).ok() || (!role.empty() && key.role != role)) continue;
      files[key][rotation] = e.path().string();
    }
    for (const auto& [key, by_rotation] : files) {
      std::vector<std::string> ordered;  // oldest first: the highest rotation, ..., .1, then the current file
      for (auto it = by_rotation.rbegin(); it != by_rotation.rend(); ++it)
        if (it->first != 0) ordered.push_back(it->second);
      if (by_rotation.count(0)) ordered.push_back(by_rotation.at(0));
      auto lines = LastLines(ordered, key, n);
      out.insert(out.end(), std::make_move_iterator(lines.begin()), std::make_move_iterator(lines.end()));
    }
  }
  return out;
}

Result<std::vector<LogLine>> ReadReleaseLog(const std::string& log_dir, const std::string& app,
                                            const std::string& commit_prefix, size_t n) {
  auto commits = MatchCommits(log_dir, app, commit_prefix);
  if (!commits.ok()) return commits.status();
  std::vector<LogLine> out;
  for (const auto& commit : *commits) {
    auto lines = LastLines({ReleaseLogPath(log_dir, app, commit)}, InstanceKey{app, commit, "release", 0}, n);
    out.insert(out.end(), std::make_move_iterator(lines.begin()), std::make_move_iterator(lines.end()));
  }
  return out;
}

}  // namespace skyport::drone
