#include "hub/git/gunzip.h"

#include <zlib.h>

namespace skyport::hub {

struct Gunzip::State {
  z_stream z{};
  bool init = false;
  bool done = false;
  uint64_t produced = 0;
  uint64_t max_out = 0;
  Status failed;
};

Gunzip::Gunzip(uint64_t max_out) : s_(new State) {
  s_->max_out = max_out;
  // 16 + MAX_WBITS: expect a gzip header and trailer, not raw zlib.
  s_->init = inflateInit2(&s_->z, 16 + MAX_WBITS) == Z_OK;
  if (!s_->init) s_->failed = Status::Internal("zlib init failed");
}

Gunzip::~Gunzip() {
  if (s_->init) inflateEnd(&s_->z);
}

Status Gunzip::Feed(std::string_view in, const Sink& sink) {
  if (!s_->failed.ok()) return s_->failed;
  if (s_->done) {
    if (!in.empty()) s_->failed = Status::InvalidArgument("gzip: data after the end of the stream");
    return s_->failed;
  }
  z_stream& z = s_->z;
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  char buf[kMaxPiece];
  // Loop while input remains or the last round filled the buffer (zlib may hold more output).
  bool full = true;
  while ((z.avail_in > 0 || full) && !s_->done) {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof buf;
    int rc = inflate(&z, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
      s_->failed = Status::InvalidArgument(std::string("gzip: ") + (z.msg ? z.msg : "corrupt data"));
      return s_->failed;
    }
    size_t n = sizeof buf - z.avail_out;
    full = z.avail_out == 0;
    s_->produced += n;
    if (s_->produced > s_->max_out) {
      s_->failed = Status::ResourceExhausted("gzip: decoded body exceeds the limit");
      return s_->failed;
    }
    if (n > 0) {
      if (Status s = sink(std::string_view(buf, n)); !s.ok()) {
        s_->failed = s;
        return s;
      }
    }
    if (rc == Z_STREAM_END) s_->done = true;
    if (rc == Z_BUF_ERROR && n == 0) break;  // needs more input
  }
  if (s_->done && z.avail_in > 0) {
    s_->failed = Status::InvalidArgument("gzip: data after the end of the stream");
    return s_->failed;
  }
  return Status::Ok();
}

Status Gunzip::Finish() const {
  if (!s_->failed.ok()) return s_->failed;
  return s_->done ? Status::Ok() : Status::InvalidArgument("gzip: truncated stream");
}

}  // namespace skyport::hub
