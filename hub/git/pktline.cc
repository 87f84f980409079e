#include "hub/git/pktline.h"

#include <fmt/format.h>

namespace skyport::hub::pkt {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;  // git itself accepts both cases
  return -1;
}

}  // namespace

Result<std::string> Encode(std::string_view payload) {
  if (payload.size() > kMaxPayload) {
    return Status::InvalidArgument(fmt::format("pkt-line payload of {} bytes exceeds {}", payload.size(), kMaxPayload));
  }
  return EncodeShort(payload);
}

std::string EncodeShort(std::string_view payload) {
  std::string out = fmt::format("{:04x}", payload.size() + 4);
  out.append(payload);
  return out;
}

Result<std::optional<Packet>> Decoder::Next() {
  if (failed_) return *failed_;
  if (buf_.size() - pos_ < 4) return std::optional<Packet>();
  size_t len = 0;
  for (int i = 0; i < 4; ++i) {
    int v = HexValue(buf_[pos_ + i]);
    if (v < 0) {
      failed_ = Status::InvalidArgument("pkt-line: length is not 4 hex digits");
      return *failed_;
    }
    len = len * 16 + static_cast<size_t>(v);
  }
  if (len == 0) {
    pos_ += 4;
    return std::optional<Packet>(Packet{true, {}});
  }
  if (len < 4 || len > kMaxPayload + 4) {
    failed_ = Status::InvalidArgument(fmt::format("pkt-line: bad length {}", len));
    return *failed_;
  }
  if (buf_.size() - pos_ < len) return std::optional<Packet>();
  Packet p;
  p.payload.assign(buf_, pos_ + 4, len - 4);
  pos_ += len;
  // Compact now and then so a long command list does not keep its prefix.
  if (pos_ > 64 * 1024 && pos_ * 2 > buf_.size()) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  return std::optional<Packet>(std::move(p));
}

std::string Decoder::TakeRest() {
  std::string rest = buf_.substr(pos_);
  buf_.clear();
  pos_ = 0;
  return rest;
}

}  // namespace skyport::hub::pkt
