#include "router/journal.h"

#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <utility>

#include <fmt/format.h>

#include "core/files.h"
#include "core/ids.h"
#include "core/log.h"
#include "router/ship_batch.h"

namespace skyport::router {
namespace {

namespace fs = std::filesystem;

constexpr int kSequenceBits = 30;
constexpr uint64_t kMaxEpoch = (uint64_t{1} << (63 - kSequenceBits - kPartBits)) - 1;
constexpr char kBatchMagic[4] = {'S', 'K', 'B', '1'};
constexpr size_t kBatchHead = 16;  // magic, 4 reserved bytes, u64 row count

std::string Errno(std::string_view what, const std::string& path) {
  return fmt::format("{} {}: {}", what, path, std::strerror(errno));
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

// Writes a whole file without fsync (the page cache survives the process);
// no file (and no temp file) on failure.
Status WriteWhole(const std::string& path, std::string_view a, std::string_view b) {
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Status::Internal(Errno("create", tmp));
  iovec iov[2] = {{const_cast<char*>(a.data()), a.size()}, {const_cast<char*>(b.data()), b.size()}};
  size_t done = 0, total = a.size() + b.size();
  while (done < total) {
    iovec part[2];
    int n = 0;
    if (done < a.size()) part[n++] = {static_cast<char*>(iov[0].iov_base) + done, a.size() - done};
    size_t in_b = done > a.size() ? done - a.size() : 0;
    if (b.size() > in_b) part[n++] = {static_cast<char*>(iov[1].iov_base) + in_b, b.size() - in_b};
    ssize_t w = ::writev(fd, part, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      Status s = Status::Internal(Errno("write", tmp));
      ::close(fd);
      ::unlink(tmp.c_str());
      return s;
    }
    done += static_cast<size_t>(w);
  }
  if (::close(fd) != 0 || ::rename(tmp.c_str(), path.c_str()) != 0) {
    Status s = Status::Internal(Errno("write", path));
    ::unlink(tmp.c_str());
    return s;
  }
  return Status::Ok();
}

// "0000000040000001.batch" -> segment; "0000000040000001-w3.log" -> segment.
bool ParseName(const std::string& name, uint64_t& segment, bool& is_batch) {
  if (name.size() < 17) return false;
  segment = 0;
  for (size_t i = 0; i < 16; ++i) {
    char c = name[i];
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (d < 0) return false;
    segment = segment << 4 | static_cast<uint64_t>(d);
  }
  std::string_view rest = std::string_view(name).substr(16);
  if (rest == ".batch") {
    is_batch = true;
    return true;
  }
  if (rest.size() > 6 && rest.substr(0, 2) == "-w" && rest.substr(rest.size() - 4) == ".log") {
    is_batch = false;
    return true;
  }
  return false;
}

uint64_t FileSize(const std::string& path) {
  std::error_code ec;
  auto n = fs::file_size(path, ec);
  return ec ? 0 : static_cast<uint64_t>(n);
}

}  // namespace

// ---------------------------------------------------------------- the journal

EventJournal::EventJournal(std::string dir, std::string router_id, uint64_t epoch, uint64_t max_bytes,
                           std::unique_ptr<DataDirLock> lock)
    : dir_(dir + "/journal"),
      quarantine_dir_(dir + "/quarantine"),
      router_id_(std::move(router_id)),
      max_bytes_(max_bytes),
      lock_(std::move(lock)),
      segment_(epoch << kSequenceBits | 1) {}

EventJournal::~EventJournal() = default;  // releases DIR/LOCK

Result<std::unique_ptr<EventJournal>> EventJournal::Open(const std::string& dir, const std::string& name,
                                                         uint64_t max_bytes) {
  std::error_code ec;
  fs::create_directories(dir + "/journal", ec);
  if (ec) return Status::Internal(fmt::format("data dir {}: {}", dir, ec.message()));
  // One router per data dir: "data dir DIR is in use by pid N (another skyport-router?)".
  auto lock = DataDirLock::Acquire(dir);
  if (!lock.ok()) return lock.status();

  std::string router_id;
  if (auto text = ReadFile(dir + "/router-id"); text.ok()) router_id = Trim(*text);
  if (router_id.empty()) {
    SystemRandom rng;
    router_id = name + "/" + NewHexId(rng).substr(0, 12);
    if (Status s = WriteFileAtomic(dir + "/router-id", router_id + "\n"); !s.ok()) return s;
  }

  uint64_t epoch = 0;
  if (auto text = ReadFile(dir + "/epoch"); text.ok()) {
    for (char c : Trim(*text)) {
      if (c < '0' || c > '9' || epoch > kMaxEpoch) return Status::DataLoss(fmt::format("{}/epoch: not a number", dir));
      epoch = epoch * 10 + static_cast<uint64_t>(c - '0');
    }
  }
  if (++epoch > kMaxEpoch) return Status::ResourceExhausted(fmt::format("{}/epoch: too many starts", dir));
  // Durable before any segment of the new epoch exists: segment ids must never repeat.
  if (Status s = WriteFileAtomic(dir + "/epoch", fmt::format("{}\n", epoch)); !s.ok()) return s;
  auto journal =
      std::unique_ptr<EventJournal>(new EventJournal(dir, router_id, epoch, max_bytes, std::move(*lock)));
  // Batches quarantined by earlier runs still take their room.
  for (const auto& entry : fs::directory_iterator(journal->quarantine_dir_, ec))
    if (entry.is_regular_file(ec)) journal->quarantine_bytes_ += FileSize(entry.path().string());
  return journal;
}

Result<std::string> EventJournal::Quarantine(const v1::ShipStatsRequest& batch, std::string_view reason) {
  std::string data;
  if (!batch.SerializeToString(&data)) return Status::Internal("cannot serialize the refused batch");
  const std::string text = fmt::format("router {}\nbatch_id {}\nrows {}\ntraffic_rows {}\nrefused: {}\n",
                                       batch.router(), batch.batch_id(), batch.rows_size(), batch.traffic_size(),
                                       reason);
  const uint64_t n = data.size() + text.size();
  std::lock_guard lock(quarantine_mu_);
  if (quarantine_bytes_.load() + n > quarantine_max_bytes())
    return Status::ResourceExhausted(fmt::format("the quarantine is full ({} of {} bytes; see {})",
                                                 quarantine_bytes_.load(), quarantine_max_bytes(), quarantine_dir_));
  std::error_code ec;
  fs::create_directories(quarantine_dir_, ec);
  if (ec) return Status::Internal(fmt::format("{}: {}", quarantine_dir_, ec.message()));
  const std::string base = fmt::format("{}/{:016x}", quarantine_dir_, batch.batch_id());
  if (fs::exists(base + ".batch", ec)) return base + ".batch";  // sent again after a restart: kept already
  if (Status st = WriteWhole(base + ".batch", data, {}); !st.ok()) return st;
  if (Status st = WriteWhole(base + ".txt", text, {}); !st.ok()) {
    ::unlink((base + ".batch").c_str());
    return st;
  }
  quarantine_bytes_ += n;
  return base + ".batch";
}

std::string EventJournal::LogPath(uint64_t segment, int writer) const {
  return fmt::format("{}/{:016x}-w{}.log", dir_, segment, writer);
}

std::string EventJournal::BatchPath(uint64_t segment) const { return fmt::format("{}/{:016x}.batch", dir_, segment); }

std::unique_ptr<EventJournal::Writer> EventJournal::NewWriter() {
  std::lock_guard lock(mu_);
  return std::unique_ptr<Writer>(new Writer(this, writers_++, segment_.load()));
}

void EventJournal::MaybeAdvance(int64_t now_ms) {
  const int64_t last = last_advance_ms_.load(std::memory_order_relaxed);
  if (last != 0 && now_ms - last < 1000) return;
  std::lock_guard lock(mu_);  // segments start only under mu_, so that Close sees the last one
  if (frozen_) return;
  if (last_advance_ms_.load() == 0) {
    last_advance_ms_.store(now_ms);  // the first segment runs from the first look
    return;
  }
  if (now_ms - last_advance_ms_.load() < 1000) return;
  last_advance_ms_.store(now_ms);
  segment_.fetch_add(1);
}

std::vector<SealedSegment> EventJournal::Contribute(uint64_t& segment, v1::ShipStatsRequest&& rows, std::string log,
                                                    uint64_t log_bytes, uint64_t reserved, SealMode mode) {
  std::vector<std::pair<uint64_t, Pending>> done;
  {
    std::lock_guard lock(mu_);
    const bool closing = mode == SealMode::kClose;
    if (closing) frozen_ = true;
    const uint64_t target = segment_.load();
    // Sealing moves the writer to `target`: it takes part in every segment
    // before it (in those after its own with nothing). Closing takes part in
    // `target` too: no segment starts after it.
    const uint64_t end = closing ? target + 1 : target;
    auto add_rows = [&rows](Pending& p) {
      if (p.batch.rows_size() == 0) {
        p.batch.mutable_rows()->Swap(rows.mutable_rows());
      } else {
        for (auto& r : *rows.mutable_rows()) *p.batch.add_rows() = std::move(r);
      }
      if (p.batch.traffic_size() == 0) {
        p.batch.mutable_traffic()->Swap(rows.mutable_traffic());
      } else {
        for (auto& t : *rows.mutable_traffic()) *p.batch.add_traffic() = std::move(t);
      }
    };
    if (mode == SealMode::kKeep) {  // not behind: the rows wait in the segment, the writer goes on in it
      add_rows(pending_[segment]);
      return {};
    }
    for (uint64_t t = segment; t < end; ++t) {
      Pending& p = pending_[t];
      if (t == segment) {
        add_rows(p);
        if (!log.empty()) p.logs.push_back(std::move(log));
        p.log_bytes += log_bytes;
        p.reserved += reserved;
      }
      if (++p.sealed == writers_) {
        done.emplace_back(t, std::move(p));
        pending_.erase(t);
      }
    }
    segment = target;
  }
  std::vector<SealedSegment> out;
  for (auto& [t, p] : done) {
    SealedSegment s = Finish(t, std::move(p));
    if (s.segment != 0) out.push_back(std::move(s));
  }
  return out;
}

SealedSegment EventJournal::Finish(uint64_t segment, Pending&& p) {
  // The batch is on disk (or dropped) when this returns: its reservation ends.
  struct Release {
    std::atomic<uint64_t>& counter;
    uint64_t n;
    ~Release() { counter.fetch_sub(n); }
  } release{reserved_bytes_, p.reserved};
  const uint64_t rows = RowCount(p.batch);
  auto drop_logs = [&] {
    for (const auto& f : p.logs) ::unlink(f.c_str());
    log_bytes_.fetch_sub(p.log_bytes);
  };
  if (rows == 0) {  // every event of its posts was dropped, or nothing happened at all
    drop_logs();
    return {};
  }
  p.batch.set_router(router_id_);
  p.batch.set_batch_id(BatchId(segment, 0));
  std::string head(kBatchHead, '\0');
  std::memcpy(head.data(), kBatchMagic, 4);
  std::memcpy(head.data() + 8, &rows, 8);
  const std::string body = p.batch.SerializeAsString();
  const std::string path = BatchPath(segment);
  if (Status s = WriteWhole(path, head, body); !s.ok()) {
    // Ship it from memory; its logs stay as the copy on disk until the hub has it.
    log::Error("event journal: cannot write a sealed batch; shipping it from memory",
               {{"segment", fmt::format("{:016x}", segment)}, {"error", s.message()}});
    SealedSegment out{segment, "", std::make_shared<const v1::ShipStatsRequest>(std::move(p.batch)),
                      std::move(p.logs), p.log_bytes, rows};
    return out;
  }
  drop_logs();
  const uint64_t bytes = head.size() + body.size();
  batch_bytes_.fetch_add(bytes);
  return SealedSegment{segment, path, nullptr, {}, bytes, rows};
}

std::vector<SealedSegment> EventJournal::Recover(const AggregatorLimits& live_limits) {
  std::map<uint64_t, std::vector<std::string>> logs;
  std::map<uint64_t, std::string> batches;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir_, ec)) {
    const std::string name = entry.path().filename().string();
    const std::string path = entry.path().string();
    uint64_t segment = 0;
    bool is_batch = false;
    if (name.size() > 4 && name.ends_with(".tmp")) {
      ::unlink(path.c_str());  // a batch whose writing did not finish: its logs are still there
    } else if (ParseName(name, segment, is_batch)) {
      if (is_batch)
        batches[segment] = path;
      else
        logs[segment].push_back(path);
    }
  }
  std::vector<SealedSegment> out;
  for (auto& [segment, files] : logs) {
    if (batches.count(segment)) {  // sealed before the crash; the logs were about to go
      for (const auto& f : files) ::unlink(f.c_str());
      continue;
    }
    // Each worker's log in an aggregator of its own, bounded as that worker's
    // live one was (live_limits.max_keys): a replay holds no more than the
    // router did while running, whatever a flood left in the logs.
    AggregatorLimits limits;
    limits.max_keys = live_limits.max_keys;
    limits.reserve_for_exposed = false;  // the live aggregators already chose what to drop
    ReplayStats total;
    Pending p;
    p.sealed = 0;
    std::vector<UserEventRow> rows;
    for (const auto& f : files) {
      auto data = ReadFile(f);
      if (!data.ok()) continue;
      p.log_bytes += data->size();
      EventAggregator agg(limits);
      ReplayStats st = ReplayJournal(*data, agg);
      total.posts += st.posts;
      total.events += st.events;
      total.exposures += st.exposures;
      total.dropped += st.dropped + st.bad_posts;
      total.torn |= st.torn;
      agg.Drain(rows);  // appends
    }
    AppendRows(MergeRows(std::move(rows)), {}, p.batch);  // rows of equal key across the workers as one
    p.logs = files;
    log_bytes_.fetch_add(p.log_bytes);
    log::Info("event journal: recovered the events of an unsealed segment",
              {{"segment", fmt::format("{:016x}", segment)}, {"posts", total.posts}, {"events", total.events},
               {"exposures", total.exposures},
               {"dropped", total.dropped}, {"torn_tail", total.torn}});
    SealedSegment s = Finish(segment, std::move(p));  // counts its bytes
    if (s.segment != 0) out.push_back(std::move(s));
  }
  for (const auto& [segment, path] : batches) {
    char head[kBatchHead];
    uint64_t rows = 0;
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    bool ok = fd >= 0 && ::read(fd, head, kBatchHead) == static_cast<ssize_t>(kBatchHead) &&
              std::memcmp(head, kBatchMagic, 4) == 0;
    if (fd >= 0) ::close(fd);
    if (!ok) {
      log::Warn("event journal: dropping an unreadable batch", {{"file", path}});
      ::unlink(path.c_str());
      continue;
    }
    std::memcpy(&rows, head + 8, 8);
    const uint64_t bytes = FileSize(path);
    batch_bytes_.fetch_add(bytes);
    out.push_back(SealedSegment{segment, path, nullptr, {}, bytes, rows});
  }
  std::sort(out.begin(), out.end(), [](const SealedSegment& a, const SealedSegment& b) { return a.segment < b.segment; });
  return out;
}

Result<v1::ShipStatsRequest> EventJournal::Load(const SealedSegment& s) const {
  if (s.batch) return *s.batch;
  auto data = ReadFile(s.path);
  if (!data.ok()) return data.status();
  v1::ShipStatsRequest req;
  if (data->size() < kBatchHead || std::memcmp(data->data(), kBatchMagic, 4) != 0 ||
      !req.ParseFromArray(data->data() + kBatchHead, static_cast<int>(data->size() - kBatchHead)))
    return Status::DataLoss(fmt::format("{}: not a sealed batch", s.path));
  return req;
}

void EventJournal::Remove(const SealedSegment& s) {
  if (!s.path.empty()) {
    ::unlink(s.path.c_str());
    batch_bytes_.fetch_sub(s.bytes);
  } else {
    log_bytes_.fetch_sub(s.bytes);
  }
  for (const auto& f : s.logs) ::unlink(f.c_str());
}

// ---------------------------------------------------------------- a worker's writer

EventJournal::Writer::~Writer() {
  if (fd_ >= 0) ::close(fd_);
}

Status EventJournal::Writer::AppendPost(const JournaledPost& post, uint64_t batch_estimate) {
  EncodePostHead(post, head_);
  return Write(head_, post.body, batch_estimate);
}

Status EventJournal::Writer::AppendDrops(std::span<const uint32_t> indexes) {
  EncodeDrops(indexes, head_);
  return Write(head_, {});
}

Status EventJournal::Writer::AppendExposure(const JournaledExposure& e) {
  EncodeExposure(e, head_);
  return Write(head_, {},
               RowBytesEstimate(e.app.size(), e.flight.size(), e.arm.size(), kExposureEvent.size(), e.user.size()));
}

Status EventJournal::Writer::Write(std::string_view a, std::string_view b, uint64_t reserve) {
  const uint64_t n = a.size() + b.size();
  if (journal_->bytes() + journal_->reserved_bytes_.load(std::memory_order_relaxed) + n + reserve > journal_->max_bytes_)
    return Status::ResourceExhausted("the event journal is full (see --data-max-mb)");
  if (fd_ < 0) {
    path_ = journal_->LogPath(segment_, index_);
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd_ < 0) return Status::Internal(Errno("create", path_));
    size_ = 0;
  }
  uint64_t done = 0;
  while (done < n) {
    iovec iov[2];
    int cnt = 0;
    if (done < a.size()) iov[cnt++] = {const_cast<char*>(a.data()) + done, a.size() - done};
    const size_t in_b = done > a.size() ? done - a.size() : 0;
    if (b.size() > in_b) iov[cnt++] = {const_cast<char*>(b.data()) + in_b, b.size() - in_b};
    ssize_t w = ::pwritev(fd_, iov, cnt, static_cast<off_t>(size_ + done));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      Status s = Status::Internal(Errno("write", path_));
      if (done > 0) (void)!::ftruncate(fd_, static_cast<off_t>(size_));  // no half frame before the next one
      return s;
    }
    done += static_cast<uint64_t>(w);
  }
  size_ += n;
  journal_->log_bytes_.fetch_add(n, std::memory_order_relaxed);
  reserved_ += reserve;
  journal_->reserved_bytes_.fetch_add(reserve, std::memory_order_relaxed);
  return Status::Ok();
}

void EventJournal::Writer::CloseLog(std::string& path, uint64_t& bytes) {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
    path = std::move(path_);
    bytes = size_;
  }
  path_.clear();
  size_ = 0;
}

std::vector<SealedSegment> EventJournal::Writer::Seal(v1::ShipStatsRequest&& rows) {
  if (!Behind()) return journal_->Contribute(segment_, std::move(rows), {}, 0, 0, SealMode::kKeep);
  std::string log;
  uint64_t bytes = 0;
  CloseLog(log, bytes);
  return journal_->Contribute(segment_, std::move(rows), std::move(log), bytes, std::exchange(reserved_, 0),
                              SealMode::kSeal);
}

std::vector<SealedSegment> EventJournal::Writer::Close(v1::ShipStatsRequest&& rows) {
  std::string log;
  uint64_t bytes = 0;
  CloseLog(log, bytes);
  return journal_->Contribute(segment_, std::move(rows), std::move(log), bytes, std::exchange(reserved_, 0),
                              SealMode::kClose);
}

}  // namespace skyport::router
