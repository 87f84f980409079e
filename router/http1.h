// HTTP/1.1 message framing for the router: request and response heads, and a
// chunked-body scanner. Pure: no sockets, no allocation on the hot path; every
// string_view points into the caller's buffer and lives as long as it does.
//
// Strict by design (RFC 9112), because a proxy that is lenient where its
// upstream is strict is how request smuggling happens:
//   - lines end in CRLF; a bare LF, obs-fold (continuation lines), whitespace
//     between a field name and its colon, or control characters in a value -> 400
//   - Content-Length together with Transfer-Encoding, more than one
//     Content-Length field (even with equal values), or a non-decimal /
//     overflowing length -> 400
//   - a request Transfer-Encoding other than exactly "chunked" -> 501 when it is
//     a coding we do not know, 400 when chunked is not the final coding
//   - HTTP/1.1 without Host, or more than one Host -> 400
//   - a version other than HTTP/1.0 or HTTP/1.1 -> 505
//   - a head larger than `max_head_bytes`, or more than kMaxHeaders fields -> 431
//
// Details where the RFC leaves room (requests):
//   - the version must read "HTTP/" DIGIT "." DIGIT (else 400); any such
//     version other than 1.0 and 1.1 -> 505, so HTTP/1.2 too
//   - Content-Length: 1..19 decimal digits and nothing else ("+5", "5, 5",
//     "5 5" -> 400); "Content-Length: 0" gives kLength with 0, no field kNone
//   - Transfer-Encoding fields are one combined list; empty list elements are
//     ignored, an element that is not a bare token or "chunked" twice -> 400;
//     in HTTP/1.0 any Transfer-Encoding -> 400 (RFC 9112 6.1: faulty framing)
//   - the request-target must be origin-form ("/..."), "*", absolute-form
//     ("scheme://authority[/path][?query]", path "/" when empty) or, for
//     CONNECT, authority-form (path ""); else 400. Its bytes may be anything
//     but controls, SP and DEL (raw UTF-8 passes through)
//   - field values may hold obs-text (bytes >= 0x80)
//   - a Connection element that is not a token -> 400 (502 in responses);
//     a Connection header never makes Content-Length, Transfer-Encoding or
//     Host hop (stripping them while forwarding the body would desync)
//   - X-Forwarded-For, X-Request-Id, X-Skyport-Commit, Upgrade: when repeated,
//     the first field's value is reported; expect_continue only for HTTP/1.1
//   - leading empty lines must be CRLF; a bare LF or CR there -> 400
//   - Host must be a valid host[:port] (router/uri.h: "a:80@evil" -> 400); an
//     absolute-form target must name the same origin as Host (http/https,
//     same name ignoring case, same port with the scheme's default) -> else 400
//   - field names with '_' are flagged (HeaderField::underscore, counted in
//     underscore_fields) for the proxy to drop; those that fold ('_' -> '-')
//     into a name classified here (Transfer_Encoding, X_Skyport_User, Host...)
//     are hop as well, so they never travel even when underscores are allowed
// Responses: every error is 502; no leading empty lines; Content-Length
// repeated with byte-identical values is accepted; Transfer-Encoding must be
// exactly chunked (one "chunked" coding), in HTTP/1.1, without Content-Length
// (anything else is ambiguous or a coding the router cannot forward: 502);
// Content-Length and Transfer-Encoding are validated even when the status or
// a HEAD request means no body follows.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace skyport::router::http1 {

inline constexpr int kMaxHeaders = 100;

enum class Parse : uint8_t {
  kIncomplete,  // need more bytes (and the buffer is still below the limit)
  kDone,        // head parsed; head_len bytes belong to it
  kError,       // see ParseError
};

struct ParseError {
  int status = 400;             // 400, 431, 501, 505 for requests; responses: always 502
  const char* message = "";     // static text for the error body / log, e.g. "duplicate Content-Length"
};

enum class BodyKind : uint8_t {
  kNone,        // no body follows the head
  kLength,      // exactly content_length bytes
  kChunked,     // chunked transfer coding; feed the bytes to a ChunkedScanner
  kUntilClose,  // responses only: the body ends when the upstream closes
};

struct HeaderField {
  std::string_view name;   // as sent (case preserved)
  std::string_view value;  // leading/trailing spaces and tabs trimmed
  uint32_t line_begin = 0;  // offset of the line in the head buffer
  uint32_t line_end = 0;    // one past its CRLF
  bool hop = false;         // the proxy must not forward this field (see below)
  bool underscore = false;  // requests: the name holds '_' (dropped unless allowed)
};

// `hop` is set on: Connection, Keep-Alive, Proxy-Connection, TE, Upgrade, and
// every field named in a Connection header's tokens; on requests also on
// X-Forwarded-For, X-Forwarded-Proto, X-Forwarded-Host and X-Request-Id (the
// router writes its own, keeping the client's values where that is right:
// see x_forwarded_for / x_request_id), and X-Skyport-User / X-Skyport-Flight
// (only the router may tell the app who the user is and which flight they are in),
// and Forwarded, X-Real-IP, X-Original-URL, X-Rewrite-URL, X-Forwarded-Port,
// X-Forwarded-Prefix (frameworks route or identify by them). Transfer-Encoding and Content-Length
// are hop too, in requests and responses: the router never forwards framing
// as sent, it writes one "Content-Length: N" or "Transfer-Encoding: chunked"
// of its own from `body` / `content_length` (and has_content_length /
// chunked for bodiless responses).

struct RequestHead {
  std::string_view method;     // token, e.g. "GET"
  std::string_view target;     // request-target as sent, e.g. "/a?b" (origin or absolute form)
  std::string_view path;       // target's path without query ("/a"); for absolute-form, the path part
  int minor_version = 1;       // 0 or 1
  size_t head_len = 0;         // bytes from the start of the buffer through the blank line
  BodyKind body = BodyKind::kNone;
  uint64_t content_length = 0; // for kLength
  bool keep_alive = true;      // HTTP/1.1 unless "Connection: close"; 1.0 only with "Connection: keep-alive"
  bool expect_continue = false;  // "Expect: 100-continue" (case-insensitive)
  bool upgrade = false;        // Connection has token "upgrade" and an Upgrade field is present
  bool is_head = false;        // method == HEAD (its response has no body)
  std::string_view host;       // Host field value ("" when absent in HTTP/1.0)
  std::string_view upgrade_proto;     // Upgrade field value
  std::string_view x_skyport_commit;  // X-Skyport-Commit value, "" if absent
  std::string_view x_forwarded_for;   // last non-empty X-Forwarded-For line, "" if none (its last element is the last hop)
  int x_forwarded_for_lines = 0;      // X-Forwarded-For lines: forwarded joined in order, then the peer
  int forwarding_fields = 0;          // Forwarded, X-Real-IP, X-Original-URL, X-Rewrite-URL, X-Forwarded-Port/-Prefix (hop)
  std::string_view x_request_id;      // client's X-Request-Id, "" if absent
  int underscore_fields = 0;          // fields whose name holds '_'
  HeaderField headers[kMaxHeaders];
  int header_count = 0;
};

struct ResponseHead {
  int status = 0;              // 100..999
  int minor_version = 1;
  std::string_view reason;
  size_t head_len = 0;
  BodyKind body = BodyKind::kNone;  // 1xx/204/304 and responses to HEAD: kNone
  uint64_t content_length = 0;
  bool keep_alive = true;      // the upstream connection may be reused after this response
  bool has_content_length = false;  // the head had Content-Length (content_length), even if body is kNone
  bool chunked = false;             // the head had Transfer-Encoding: chunked, even if body is kNone
  HeaderField headers[kMaxHeaders];
  int header_count = 0;
};

// Parses the head at the start of `buf`. On kIncomplete nothing in `out` is
// meaningful; on kIncomplete with buf.size() >= max_head_bytes the result is
// kError 431 instead. Leading empty lines before a request line (allowed by
// RFC 9112 2.2) are skipped and counted in head_len.
Parse ParseRequest(std::string_view buf, size_t max_head_bytes, RequestHead& out, ParseError& err);

// `request_was_head`: the response to a HEAD request never has a body.
// Errors here are upstream errors: err.status is 502.
Parse ParseResponse(std::string_view buf, size_t max_head_bytes, bool request_was_head, ResponseHead& out,
                    ParseError& err);

// Finds a cookie's value across every Cookie field of the request ("" if
// absent). Cookie pairs are separated by ';' with optional spaces; names are
// case-sensitive and the first match wins.
std::string_view FindCookie(const RequestHead& req, std::string_view name);

// Case-insensitive ASCII comparison, for field names and tokens.
bool EqualsIgnoreCase(std::string_view a, std::string_view b);

// Walks a chunked body as it streams through, to find where it ends. Bytes are
// not changed: the proxy forwards exactly what it fed. Limits: a chunk-size
// line (with extensions) at most 4096 bytes, at most 16 hex digits (leading
// zeros count, so the size cannot overflow), trailers at most 32 KiB in total.
// Whitespace after the size is accepted only before a ";" extension (BWS);
// extensions and trailer values may not hold control characters other than
// HTAB; trailer lines must be "token:value". After an error every Feed
// reports the same error with consumed 0; after done, done with consumed 0.
class ChunkedScanner {
 public:
  struct Step {
    size_t consumed = 0;  // bytes of `data` that belong to the body (all, unless it ended inside `data`)
    bool done = false;    // the last chunk and the trailer section have ended
    bool error = false;   // malformed framing; `message` says what
    const char* message = "";
  };
  Step Feed(std::string_view data);
  // Feed that also removes the framing: the chunks' data of the `consumed`
  // bytes is moved, in place, to the front of `data`; `payload` is its length
  // (for clients that cannot read chunked: HTTP/1.0). Trailers are dropped.
  Step Decode(char* data, size_t n, size_t& payload);
  // Feed that removes the trailer field lines, in place: the `consumed` bytes
  // become the first `kept` bytes of `data`, framing kept, the last chunk
  // ending in an empty trailer section (requests: nginx forwards no trailers).
  Step StripTrailers(char* data, size_t n, size_t& kept);
  bool done() const { return state_ == State::kDone; }
  void Reset() { *this = ChunkedScanner(); }

 private:
  // Feed and Decode; with `out`, data bytes are copied to out[*payload...].
  // keep_framing (StripTrailers): all bytes but trailer fields are copied.
  Step Scan(const char* p, size_t n, char* out, size_t* payload, bool keep_framing = false);
  // Order matters: Feed counts bytes in states from kTrailerStart on against
  // the trailer limit.
  enum class State : uint8_t { kSize, kSizeWs, kExt, kSizeLf, kData, kDataCr, kDataLf, kTrailerStart,
                               kTrailerName, kTrailerValue, kTrailerLf, kFinalLf, kDone, kError };
  State state_ = State::kSize;
  const char* error_ = "";   // the message, repeated by Feed after an error
  uint64_t remaining_ = 0;   // data bytes left in the current chunk
  int size_digits_ = 0;
  size_t line_bytes_ = 0;    // bytes in the current size line / trailer line
  size_t trailer_bytes_ = 0;
};

}  // namespace skyport::router::http1
