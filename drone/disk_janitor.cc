#include "drone/disk_janitor.h"

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>

#include "core/clock.h"
#include "core/log.h"
#include "core/names.h"
#include "drone/data_dir.h"
#include "drone/metrics.h"

namespace fs = std::filesystem;

namespace skyport::drone {
namespace {

// Modification time in Unix ms, not following a link; 0 when unknown.
int64_t MtimeMs(const fs::path& p) {
  struct stat st {};
  if (::lstat(p.c_str(), &st) != 0) return 0;
  return int64_t{st.st_mtim.tv_sec} * 1000 + st.st_mtim.tv_nsec / 1'000'000;
}

// Newest mtime of a commit's checkout dir, its log dir and the log files.
int64_t LastWriteMs(const fs::path& checkout, const fs::path& logs) {
  int64_t t = std::max(MtimeMs(checkout), MtimeMs(logs));
  std::error_code ec;
  for (const auto& f : fs::directory_iterator(logs, ec)) t = std::max(t, MtimeMs(f.path()));
  return t;
}

// Bytes of the regular files under `p` (links are not followed).
uint64_t TreeBytes(const fs::path& p) {
  uint64_t total = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(p, fs::directory_options::none, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    std::error_code e2;
    if (it->is_regular_file(e2) && !it->is_symlink(e2)) total += it->file_size(e2);
  }
  return total;
}

// (app, commit) -> what is stored of it, walking DATA/deploy and DATA/logs;
// at most `max_scan` directories looked at.
std::vector<StoredCommit> ScanStored(const std::string& data_dir, size_t max_scan) {
  std::map<CommitKey, StoredCommit> found;
  size_t scanned = 0;
  for (const bool logs : {false, true}) {
    const fs::path root = fs::path(data_dir) / (logs ? "logs" : "deploy");
    std::error_code ec;
    for (const auto& a : fs::directory_iterator(root, ec)) {
      const std::string app = a.path().filename().string();
      if (!ValidateName("app", app).ok() || !a.is_directory(ec) || a.is_symlink(ec)) continue;
      std::error_code ec2;
      for (const auto& c : fs::directory_iterator(a.path(), ec2)) {
        if (++scanned > max_scan) break;  // the rest in later passes, once these are gone
        const std::string commit = c.path().filename().string();
        if (!ValidateCommit("commit", commit).ok() || c.is_symlink(ec2) || !c.is_directory(ec2)) continue;
        StoredCommit& s = found[{app, commit}];
        if (s.app.empty())
          s = {app, commit, false, false,
               LastWriteMs(DeployDir(data_dir, app, commit), fs::path(data_dir) / "logs" / app / commit)};
        (logs ? s.logs : s.checkout) = true;
      }
    }
  }
  std::vector<StoredCommit> out;
  for (auto& [k, v] : found) out.push_back(std::move(v));
  return out;
}

}  // namespace

DiskJanitor::DiskJanitor(DiskJanitorOptions o, InUse in_use, LockOf lock_of)
    : o_(std::move(o)), in_use_(std::move(in_use)), lock_of_(std::move(lock_of)) {}

DiskJanitor::~DiskJanitor() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void DiskJanitor::Start() { thread_ = std::thread([this] { Loop(); }); }

void DiskJanitor::Loop() {
  std::unique_lock lock(mu_);
  while (!cv_.wait_for(lock, std::chrono::milliseconds(o_.interval_ms), [this] { return stop_; })) {
    lock.unlock();
    RunPass(SystemClock::Get()->WallMs());
    lock.lock();
  }
}

JanitorPass DiskJanitor::RunPass(int64_t now_unix_ms) {
  JanitorPass pass;
  auto stored = ScanStored(o_.data_dir, o_.max_scan);
  if (stored.empty()) return pass;
  for (const StoredCommit& c : SelectExpired(std::move(stored), in_use_(), now_unix_ms, o_.policy)) {
    std::unique_lock deploy_lock(lock_of_(c.app, c.commit), std::try_to_lock);
    if (!deploy_lock.owns_lock()) continue;  // a deploy or stop of it is under way
    if (in_use_().count({c.app, c.commit})) continue;  // started since the scan
    const fs::path checkout = DeployDir(o_.data_dir, c.app, c.commit);
    const fs::path logs = fs::path(o_.data_dir) / "logs" / c.app / c.commit;
    if (now_unix_ms - LastWriteMs(checkout, logs) < o_.policy.retention_ms) continue;  // written since the scan
    uint64_t bytes = 0;
    bool removed = false;
    for (const auto& [dir, counter] : {std::pair{checkout, &pass.checkouts}, std::pair{logs, &pass.log_dirs}}) {
      std::error_code ec;
      if (!fs::is_directory(fs::symlink_status(dir, ec))) continue;
      const uint64_t n = TreeBytes(dir);
      fs::remove_all(dir, ec);
      if (ec) {
        log::Warn("gc: cannot remove", {{"path", dir.string()}, {"error", ec.message()}});
        continue;
      }
      bytes += n;
      ++*counter;
      removed = true;
    }
    if (!removed) continue;
    ++pass.commits;
    pass.bytes += bytes;
    log::Info("gc: removed a stopped commit's files",
              {{"app", c.app}, {"commit", c.commit.substr(0, 12)}, {"checkout", c.checkout}, {"logs", c.logs},
               {"bytes", bytes}, {"unused_s", (now_unix_ms - c.last_write_unix_ms) / 1000}});
  }
  if (pass.commits > 0) {
    metrics::CountGc(pass.checkouts, pass.log_dirs, pass.bytes);
    log::Info("gc pass", {{"commits", pass.commits}, {"bytes_freed", pass.bytes}});
  }
  return pass;
}

}  // namespace skyport::drone
