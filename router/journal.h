// The router's data dir (--data DIR): a journal that keeps what the router
// answered 202 across a kill -9, and the sealed batches waiting for the hub.
//
// DIR holds
//   lock                   flock()ed while a router uses DIR (a second one is refused)
//   router-id              "NAME/HEX", the router's id at the hub, made once and kept
//   epoch                  starts so far (fsynced): segment ids are epoch << 30 | sequence
//   journal/SEG-wK.log     worker K's events posts in segment SEG (router/journal_format.h)
//   journal/SEG.batch      segment SEG sealed: the ShipStatsRequest to send, with its row count
//   quarantine/ID.batch    a batch the hub refused as invalid (INVALID_ARGUMENT: it would be
//   quarantine/ID.txt      refused forever), kept for an operator: the ShipStatsRequest
//                          (protobuf) and the hub's reason; never sent again
// (SEG: 16 hex digits, so names sort by segment; ID: the batch id, 16 hex digits).
//
// Segments. The journal's segment moves on about once a second
// (MaybeAdvance). A worker appends each events post it accepts to its own
// log of its own segment before answering — one write(2), page cache: it
// survives the process, not the machine — and keeps exposures and request
// counters in memory. Once the journal has moved on (Behind), the worker
// seals: it hands in everything it aggregated in its segment. When every
// worker has sealed a segment, the last one writes SEG.batch (temp file and
// rename) and deletes the segment's logs. The shipper sends the batch with
// batch_id = SEG << 10 | part and Removes it once the hub acknowledged it;
// the hub ignores a (router id, batch id) it has seen.
//
// After a crash, Recover() turns the logs of every segment without a batch
// into one (their events aggregated again) and lists every batch not yet
// removed. Sent again with the same ids, they count once.
//
// Exposures: a worker appends a record for each exposure its aggregator
// reports new (a user first served on an arm in an hour, router/events.h)
// to the same log, right after the aggregator took it; the request itself
// is not held up (the write goes to the page cache), and a failed write
// (the journal full) only leaves that exposure to the seal.
//
// Guarantee: the events of a post answered 202 are in a log or a batch until
// the hub has them; a kill -9 at any point loses none of them and makes none
// count twice. So are the exposures journaled before it (a replayed exposure
// row merges with its twin as the maximum, here and at the hub: counted
// once). Request counters are written at the seal: a kill -9 loses those of
// the segment in progress (about the last second).
//
// Disk: logs and batches together stay under max_bytes. A batch can be
// larger than the logs it comes from (a row per user and event), so each
// post also reserves an estimate of the rows it may add (RowBytesEstimate,
// an upper bound) until its segment's batch is written. AppendPost refuses
// (RESOURCE_EXHAUSTED: the post gets 503 with Retry-After) when logs,
// reservations and unshipped batches together would exceed max_bytes: what
// was answered 202 is kept rather than new posts taken. Only beyond
// hard_max_bytes (twice max_bytes: exposures and request counters are not
// reserved) does the shipper drop the oldest batches, counted and logged.
//
// Thread-safety: Open, Recover and NewWriter before the workers start; a
// Writer belongs to one worker thread; the rest is thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "core/exclusive.h"
#include "core/status.h"
#include "router/journal_format.h"
#include "skyport/v1/router.pb.h"

namespace skyport::router {

// A sealed segment waiting for the hub.
struct SealedSegment {
  uint64_t segment = 0;
  std::string path;  // its batch file; "" when that could not be written (then `batch` and `logs`)
  std::shared_ptr<const v1::ShipStatsRequest> batch;
  std::vector<std::string> logs;  // kept until the batch is acknowledged, as its copy on disk
  uint64_t bytes = 0;             // on disk
  uint64_t rows = 0;              // user rows + traffic rows
};

class EventJournal {
 public:
  // Opens (creating) `dir`: takes its lock, reads or makes the router id
  // ("name/" + 12 random hex digits) and starts a new epoch.
  static Result<std::unique_ptr<EventJournal>> Open(const std::string& dir, const std::string& name,
                                                    uint64_t max_bytes);
  ~EventJournal();
  EventJournal(const EventJournal&) = delete;
  EventJournal& operator=(const EventJournal&) = delete;

  const std::string& router_id() const { return router_id_; }
  uint64_t max_bytes() const { return max_bytes_; }
  uint64_t hard_max_bytes() const { return 2 * max_bytes_; }
  // Bytes posts reserved for the rows of batches not yet written.
  uint64_t reserved_bytes() const { return reserved_bytes_.load(); }

  // An upper bound of the bytes one event adds to a sealed batch (a row of
  // its own; fewer when events share a key).
  static uint64_t RowBytesEstimate(size_t app, size_t flight, size_t arm, size_t event, size_t user) {
    return app + flight + arm + event + user + 48;  // field tags, lengths, numbers, the row's own head
  }
  uint64_t bytes() const { return log_bytes_.load() + batch_bytes_.load() + quarantine_bytes_.load(); }
  uint64_t quarantine_bytes() const { return quarantine_bytes_.load(); }
  uint64_t quarantine_max_bytes() const { return max_bytes_ / 4; }

  // Keeps `batch`, which the hub refused as invalid, in DIR/quarantine with
  // `reason` (see above); returns the file's path. RESOURCE_EXHAUSTED, and
  // nothing written, when the quarantine would pass quarantine_max_bytes (a
  // quarter of max_bytes: refused batches never crowd out the journal for
  // long; an operator inspects and deletes them). Its files count in
  // bytes(). Thread-safe.
  Result<std::string> Quarantine(const v1::ShipStatsRequest& batch, std::string_view reason);

  // Makes batches of the logs a previous run left (their events aggregated
  // again, each worker's log bounded by `live_limits.max_keys` as its live
  // aggregator was) and returns every batch on disk, oldest segment first.
  // Before any Writer exists.
  std::vector<SealedSegment> Recover(const AggregatorLimits& live_limits = {});

  // The batch to send (from its file, or in memory).
  Result<v1::ShipStatsRequest> Load(const SealedSegment& s) const;
  // Deletes the segment's files: acknowledged by the hub, or dropped.
  void Remove(const SealedSegment& s);

  // Starts the next segment if the current one began at least 1000 ms
  // before now_ms (a monotonic clock). Cheap when it does not.
  void MaybeAdvance(int64_t now_ms);
  uint64_t segment() const { return segment_.load(std::memory_order_relaxed); }

  class Writer;
  // One per worker, all before any of them seals.
  std::unique_ptr<Writer> NewWriter();

 private:
  struct Pending {
    int sealed = 0;
    v1::ShipStatsRequest batch;
    std::vector<std::string> logs;
    uint64_t log_bytes = 0;
    uint64_t reserved = 0;  // the writers' reservations for this segment's rows
  };

  EventJournal(std::string dir, std::string router_id, uint64_t epoch, uint64_t max_bytes,
               std::unique_ptr<DataDirLock> lock);
  std::string LogPath(uint64_t segment, int writer) const;
  std::string BatchPath(uint64_t segment) const;
  // Writes a completed segment's batch and deletes its logs; a segment with
  // nothing to send gives a SealedSegment with segment 0.
  SealedSegment Finish(uint64_t segment, Pending&& p);
  // A writer's part of `segment`, which then moves on (see Writer::Seal);
  // kKeep only parks rows in the segment (the writer is not behind).
  enum class SealMode { kKeep, kSeal, kClose };
  std::vector<SealedSegment> Contribute(uint64_t& segment, v1::ShipStatsRequest&& rows, std::string log,
                                        uint64_t log_bytes, uint64_t reserved, SealMode mode);

  const std::string dir_;         // DIR/journal
  const std::string quarantine_dir_;  // DIR/quarantine
  const std::string router_id_;
  const uint64_t max_bytes_;
  const std::unique_ptr<DataDirLock> lock_;  // DIR/LOCK: one router per data dir
  std::atomic<uint64_t> segment_;
  std::atomic<int64_t> last_advance_ms_{0};
  std::atomic<uint64_t> log_bytes_{0}, batch_bytes_{0}, reserved_bytes_{0}, quarantine_bytes_{0};

  std::mutex quarantine_mu_;  // one Quarantine at a time against its bound (not mu_: seals need not wait for it)
  std::mutex mu_;
  int writers_ = 0;                        // guarded by mu_
  bool frozen_ = false;                    // guarded by mu_: a writer closed; no more segments
  std::map<uint64_t, Pending> pending_;    // guarded by mu_: segments some writers sealed
};

class EventJournal::Writer {
 public:
  ~Writer();

  // Appends an accepted events post to this worker's log, creating the log
  // on the segment's first post. On error nothing is appended (a partial
  // write is cut off again) and the post must not be answered 202.
  // `batch_estimate`: the RowBytesEstimate of its events, reserved until
  // the segment's batch is written.
  Status AppendPost(const JournaledPost& post, uint64_t batch_estimate = 0);
  // After AppendPost: the post's events the aggregator did not take.
  Status AppendDrops(std::span<const uint32_t> indexes);
  // An exposure the worker's aggregator recorded as new; its row's
  // RowBytesEstimate is reserved like a post's. On error nothing is
  // appended (the exposure is then only in memory until the seal).
  Status AppendExposure(const JournaledExposure& exposure);

  // The journal has moved past this writer's segment: time to Seal.
  bool Behind() const { return segment_ < journal_->segment(); }
  void MaybeAdvance(int64_t now_ms) { journal_->MaybeAdvance(now_ms); }

  // Hands in what the worker aggregated since its last seal (rows and
  // traffic of `rows`, moved from) as its part of its segment, and moves on
  // to the journal's segment. Returns the segments this completed (written
  // to disk here), for the shipper. When not Behind the rows are only kept
  // for the segment.
  std::vector<SealedSegment> Seal(v1::ShipStatsRequest&& rows);
  // The last Seal, when the worker stops: also stops the journal from
  // starting segments, so that every worker's last seal completes them.
  std::vector<SealedSegment> Close(v1::ShipStatsRequest&& rows);

 private:
  friend class EventJournal;
  Writer(EventJournal* journal, int index, uint64_t segment) : journal_(journal), index_(index), segment_(segment) {}
  Status Write(std::string_view a, std::string_view b, uint64_t reserve = 0);
  void CloseLog(std::string& path, uint64_t& bytes);

  EventJournal* journal_;
  const int index_;
  uint64_t segment_;
  int fd_ = -1;
  std::string path_;  // the open log
  uint64_t size_ = 0;  // its length
  uint64_t reserved_ = 0;  // reserved by this segment's posts
  std::string head_;   // scratch for frame heads
};

}  // namespace skyport::router
