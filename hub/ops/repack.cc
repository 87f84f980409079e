#include "hub/ops/repack.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <set>

#include <fmt/format.h>

#include "core/log.h"
#include "core/names.h"
#include "core/prom_text.h"
#include "hub/git/git_util.h"

namespace fs = std::filesystem;

namespace skyport::hub {
namespace {

bool IsHexName(const std::string& s, size_t len) {
  return s.size() == len && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

uint64_t FileBytes(const fs::path& p) {
  std::error_code ec;
  auto st = fs::symlink_status(p, ec);
  if (ec || !fs::is_regular_file(st)) return 0;
  auto n = fs::file_size(p, ec);
  return ec ? 0 : n;
}

// What objects/ holds: pack names ("pack-<hex>") with an index, their files,
// and the loose object files.
struct ObjectFiles {
  std::set<std::string> packs;           // with .pack and .idx
  std::set<std::string> kept;            // of those, with a .keep
  std::vector<fs::path> pack_files;      // every file of every pack in `packs`
  std::vector<fs::path> loose;
  uint64_t bytes = 0;
};

ObjectFiles ListObjects(const std::string& repo_path) {
  ObjectFiles out;
  const fs::path objects = fs::path(repo_path) / "objects";
  std::error_code ec;
  std::set<std::string> with_pack, with_idx;
  for (const auto& e : fs::directory_iterator(objects / "pack", ec)) {
    const std::string n = e.path().filename().string();
    const auto dot = n.rfind('.');
    if (dot == std::string::npos || n.rfind("pack-", 0) != 0) continue;
    const std::string base = n.substr(0, dot), ext = n.substr(dot + 1);
    if (ext == "pack") with_pack.insert(base);
    if (ext == "idx") with_idx.insert(base);
    if (ext == "keep") out.kept.insert(base);
  }
  for (const auto& b : with_pack)
    if (with_idx.count(b)) out.packs.insert(b);
  for (const auto& e : fs::directory_iterator(objects / "pack", ec)) {
    const std::string n = e.path().filename().string();
    const auto dot = n.rfind('.');
    if (dot == std::string::npos || !out.packs.count(n.substr(0, dot)) || n.substr(dot + 1) == "keep") continue;
    out.pack_files.push_back(e.path());
    out.bytes += FileBytes(e.path());
  }
  for (const auto& d : fs::directory_iterator(objects, ec)) {
    const std::string dn = d.path().filename().string();
    if (!IsHexName(dn, 2) || !d.is_directory(ec)) continue;
    std::error_code ec2;
    for (const auto& f : fs::directory_iterator(d.path(), ec2)) {
      if (!IsHexName(f.path().filename().string(), 38)) continue;
      out.loose.push_back(f.path());
      out.bytes += FileBytes(f.path());
    }
  }
  return out;
}

int CollectOid(const git_oid* id, void* payload) {
  static_cast<std::vector<git_oid>*>(payload)->push_back(*id);
  return 0;
}

}  // namespace

RepoShape InspectRepository(const std::string& repo_path) {
  ObjectFiles f = ListObjects(repo_path);
  return {static_cast<uint32_t>(f.packs.size()), f.loose.size(), f.bytes};
}

Result<RepackResult> RepackRepository(RepoStore& store, const std::string& app) {
  if (Status s = ValidateName("app", app); !s.ok()) return s;
  std::lock_guard<std::mutex> lock(store.WriteLock(app));
  const std::string path = store.RepoPath(app);
  ObjectFiles before = ListObjects(path);
  RepackResult r;
  r.packs_before = static_cast<uint32_t>(before.packs.size());
  r.loose_before = before.loose.size();
  r.bytes_before = before.bytes;
  r.bytes_after = before.bytes;
  if (before.packs.size() - before.kept.size() <= 1 && before.loose.empty()) return r;  // nothing to merge

  auto repo = OpenBare(path);
  if (!repo.ok()) return repo.status();
  git_odb* odb_raw = nullptr;
  if (int rc = git_repository_odb(&odb_raw, repo->get()); rc != 0) return GitStatus(rc, "odb");
  GitPtr<git_odb> odb(odb_raw);
  std::vector<git_oid> ids;
  if (int rc = git_odb_foreach(odb.get(), CollectOid, &ids); rc != 0) return GitStatus(rc, "list objects of " + app);
  git_packbuilder* pb_raw = nullptr;
  if (int rc = git_packbuilder_new(&pb_raw, repo->get()); rc != 0) return GitStatus(rc, "packbuilder");
  GitPtr<git_packbuilder> pb(pb_raw);
  git_packbuilder_set_threads(pb.get(), 1);  // housekeeping never takes more than one core
  for (const git_oid& id : ids)  // the same object in two packs goes in once
    if (int rc = git_packbuilder_insert(pb.get(), &id, nullptr); rc != 0) return GitStatus(rc, "pack " + OidHex(id));
  r.objects = git_packbuilder_object_count(pb.get());
  if (int rc = git_packbuilder_write(pb.get(), nullptr, 0, nullptr, nullptr); rc != 0)
    return GitStatus(rc, "write the new pack of " + app);
  const std::string fresh = std::string("pack-") + git_packbuilder_name(pb.get());

  r.bytes_after = 0;
  for (const std::string ext : {".pack", ".idx"})
    r.bytes_after += FileBytes(fs::path(path) / "objects" / "pack" / (fresh + ext));
  for (const auto& p : before.pack_files) {
    const std::string n = p.filename().string();
    const std::string base = n.substr(0, n.rfind('.'));
    if (base == fresh || before.kept.count(base)) {
      if (base != fresh) r.bytes_after += FileBytes(p);
      continue;
    }
    r.replaced.push_back(p.string());
  }
  for (const auto& p : before.loose) r.replaced.push_back(p.string());
  return r;
}

uint64_t RetireFiles(RepoStore& store, const std::string& app, const std::vector<std::string>& files) {
  std::lock_guard<std::mutex> lock(store.WriteLock(app));
  std::vector<std::string> order = files;
  // Indexes first: a reader lists packs by their .idx.
  std::stable_partition(order.begin(), order.end(), [](const std::string& f) { return f.ends_with(".idx"); });
  uint64_t freed = 0;
  std::set<fs::path> dirs;
  for (const auto& f : order) {
    const uint64_t n = FileBytes(f);
    std::error_code ec;
    if (fs::remove(f, ec) && !ec) freed += n;
    if (fs::path(f).parent_path().filename() != "pack") dirs.insert(fs::path(f).parent_path());
  }
  for (const auto& d : dirs) {
    std::error_code ec;
    if (fs::is_empty(d, ec) && !ec) fs::remove(d, ec);  // an objects/XX dir of loose objects
  }
  return freed;
}

RepackJanitor::RepackJanitor(RepoStore* store, RepackJanitorOptions o, const Clock* clock)
    : store_(store), o_(std::move(o)), clock_(clock), started_ms_(clock->MonoMs()) {
  thread_ = std::thread([this] { Loop(); });
}

RepackJanitor::~RepackJanitor() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void RepackJanitor::NotePush(const std::string& app) {
  bool wake;
  {
    std::lock_guard lock(mu_);
    const uint32_t n = ++pushes_[app];
    wake = o_.policy.after_pushes > 0 && n >= o_.policy.after_pushes;
    if (wake) wake_ = true;
  }
  if (wake) cv_.notify_all();
}

void RepackJanitor::Loop() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    wake_ = false;
    lock.unlock();
    Pass();
    lock.lock();
    int64_t wait_ms = o_.check_interval_ms;
    const int64_t now = clock_->MonoMs();
    for (const auto& r : retired_) wait_ms = std::min(wait_ms, std::max<int64_t>(r.due_ms - now, 0) + 1);
    cv_.wait_for(lock, std::chrono::milliseconds(wait_ms), [this] { return stop_ || wake_; });
  }
}

void RepackJanitor::Pass() {
  const int64_t now = clock_->MonoMs();
  for (auto it = retired_.begin(); it != retired_.end();) {
    if (it->due_ms > now) {
      ++it;
      continue;
    }
    const uint64_t freed = RetireFiles(*store_, it->app, it->files);
    freed_bytes_ += freed;
    log::Info("repack: replaced objects deleted", {{"app", it->app}, {"files", it->files.size()}, {"bytes", freed}});
    it = retired_.erase(it);
  }
  std::vector<RepoActivity> repos;
  {
    const auto apps = store_->Apps();
    std::lock_guard lock(mu_);
    for (const auto& app : apps) {
      RepoActivity a;
      a.app = app;
      a.pushes_since_repack = pushes_.count(app) ? pushes_[app] : 0;
      a.last_repack_ms = last_repack_ms_.count(app) ? last_repack_ms_[app] : started_ms_;
      repos.push_back(std::move(a));
    }
  }
  for (auto& a : repos) {  // outside mu_: reading directories may take a while
    const RepoShape shape = InspectRepository(store_->RepoPath(a.app));
    a.packs = shape.packs;
    a.loose = shape.loose_objects > 0;
  }
  for (const std::string& app : DueRepacks(repos, now, o_.policy)) {
    {
      std::lock_guard lock(mu_);
      if (stop_) return;
    }
    const auto a = std::find_if(repos.begin(), repos.end(), [&](const RepoActivity& x) { return x.app == app; });
    const std::string why = RepackReason(*a, now, o_.policy);
    const int64_t t0 = clock_->MonoMs();
    auto r = RepackRepository(*store_, app);
    if (!r.ok()) {
      ++failures_;
      log::Warn("repack failed; the repository is as it was", {{"app", app}, {"error", r.status().message()}});
      last_repack_ms_[app] = clock_->MonoMs();  // not again at once
      continue;
    }
    ++repacks_;
    last_repack_ms_[app] = clock_->MonoMs();
    {
      std::lock_guard lock(mu_);
      pushes_.erase(app);
    }
    const int64_t saved = r->saved();
    last_saved_bytes_ = saved;
    if (saved > 0) saved_bytes_ += static_cast<uint64_t>(saved);
    log::Info("repacked", {{"app", app},
                           {"why", why},
                           {"packs_before", r->packs_before},
                           {"loose_before", r->loose_before},
                           {"objects", r->objects},
                           {"bytes_before", r->bytes_before},
                           {"bytes_after", r->bytes_after},
                           {"saved_bytes", saved},
                           {"ms", clock_->MonoMs() - t0}});
    if (!r->replaced.empty()) retired_.push_back({app, std::move(r->replaced), clock_->MonoMs() + o_.retire_after_ms});
  }
}

std::string RepackJanitor::MetricsText() const {
  PromText out;
  out.Counter("skyport_hub_repacks_total", "Repository repacks (--repack-interval, --repack-after-pushes).",
              repacks_.load());
  out.Counter("skyport_hub_repack_failures_total", "Repacks that failed (the repository was left as it was).",
              failures_.load());
  out.Counter("skyport_hub_repack_saved_bytes_total",
              "Bytes repacks saved: the replaced packs and loose objects minus the new pack.", saved_bytes_.load());
  out.Counter("skyport_hub_repack_freed_bytes_total", "Bytes of replaced packs and loose objects deleted.",
              freed_bytes_.load());
  out.Gauge("skyport_hub_repack_last_saved_bytes", "What the last repack saved (negative: it grew).",
            last_saved_bytes_.load());
  return out.Take();
}

}  // namespace skyport::hub
