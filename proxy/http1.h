// proxy/http1.h — HTTP/1.x message-head parsing and body framing.
//
// Zero-copy: a parsed head refers into the caller's buffer by offsets, and
// holds at most kMaxHeaders fields in a fixed array, so parsing never
// allocates. The parser is strict where smuggling lives (Content-Length vs
// Transfer-Encoding, bad tokens, control characters) and lenient where
// HAProxy is (bare LF line endings, absolute-form targets, missing Host).
//
// Thread rules: pure functions and value types; any thread.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace herd::proxy::http1 {

inline constexpr size_t kMaxHeaders = 100;  // HAProxy's tune.http.maxhdr (101) less the start line

struct Field {
  uint32_t name_off = 0, value_off = 0;
  uint16_t name_len = 0;
  uint32_t value_len = 0;
};

enum class Status { Incomplete, Complete, Error };

// Facts about a head that the relay needs.
struct Head {
  // request line or status line
  std::string_view method;       // requests
  std::string_view target;       // requests
  int status = 0;                // responses
  std::string_view reason;       // responses
  int version = 11;              // 11: HTTP/1.1 or above (sent on as HTTP/1.1); 10: below
  std::string_view version_str;  // requests: as received ("HTTP/1.0", "HTTP/0.9")
  std::array<Field, kMaxHeaders> fields;
  size_t nfields = 0;
  size_t head_len = 0;  // bytes up to and including the empty line

  int64_t content_length = -1;  // -1: none
  bool chunked = false;
  bool conn_close = false;       // Connection: close seen
  bool conn_keep_alive = false;  // Connection: keep-alive seen
  bool expect_continue = false;
  bool upgrade = false;            // Connection: upgrade
  bool upgrade_websocket = false;  // Upgrade: websocket (a token of it)
  bool websocket_key = false;      // requests: a Sec-WebSocket-Key of 24 characters
  bool websocket_accept = false;   // responses: a Sec-WebSocket-Accept field
  bool te_and_cl = false;          // Transfer-Encoding and Content-Length both present
  bool cl_normalise = false;       // several Content-Length fields, or a list: send one
  int error_status = 400;          // requests: the status that answers Status::Error
  int host_index = -1;             // requests: the first Host field, -1 when none
  const char* error = nullptr;     // why Status::Error

  std::string_view name(const char* base, size_t i) const {
    return {base + fields[i].name_off, fields[i].name_len};
  }
  std::string_view value(const char* base, size_t i) const {
    return {base + fields[i].value_off, fields[i].value_len};
  }
};

// Parses a request head at the start of buf[0..len). Returns Incomplete when
// the empty line has not arrived yet (the caller enforces the size limit).
// `accept_invalid` relaxes as haproxy's `option accept-invalid-http-request`
// (and `-response`) does: a '#' or bytes >= 0x80 in the target, visible
// non-token characters in header names.
Status parse_request(const char* buf, size_t len, Head& out, bool accept_invalid = false);
Status parse_response(const char* buf, size_t len, Head& out, bool accept_invalid = false);

// Case-insensitive ASCII comparison.
bool iequals(std::string_view a, std::string_view b);

// Calls f(raw, element, last) for each comma-separated element of a header
// value, empty ones included: `raw` as written, `element` without the blanks
// around it, `last` for the final one.
template <class F>
void for_each_element(std::string_view v, F&& f) {
  for (;;) {
    auto comma = v.find(',');
    std::string_view raw = v.substr(0, comma), e = raw;
    while (!e.empty() && (e.front() == ' ' || e.front() == '\t')) e.remove_prefix(1);
    while (!e.empty() && (e.back() == ' ' || e.back() == '\t')) e.remove_suffix(1);
    f(raw, e, comma == std::string_view::npos);
    if (comma == std::string_view::npos) return;
    v.remove_prefix(comma + 1);
  }
}

// Calls f with each comma-separated token of a header value, blanks around
// it trimmed; empty tokens are skipped.
template <class F>
void for_each_token(std::string_view v, F&& f) {
  for_each_element(v, [&](std::string_view, std::string_view t, bool) {
    if (!t.empty()) f(t);
  });
}

// Whether a response to `method` with `status` carries a body.
inline bool response_has_body(std::string_view method, int status) {
  if (method == "HEAD") return false;
  if (status < 200 || status == 204 || status == 304) return false;
  return true;
}

// Decodes a chunked body as haproxy 2.6 parses one (RFC 9112 §7.1): a hex
// size (leading zeros allowed, at most 2^55), optional blanks, an optional
// `;extension` up to the line end, CRLF or a bare LF after size lines and
// data, trailer fields validated as header fields. feed() consumes bytes up
// to the end of the message and reports how many belonged to the body.
//
// With `out`, the body is re-framed on the way through, so a server never
// has to agree with herd about a client's odd framing: each piece of data
// becomes "<HEX>\r\n<data>\r\n", extensions are dropped, the last chunk is
// "0\r\n", trailers follow with lower-case names, then "\r\n" (the bytes
// haproxy 2.6 sends).
class ChunkedScanner {
 public:
  enum class Result { NeedMore, Done, Error };
  static constexpr size_t kMaxTrailers = 8192;  // bytes of trailer fields
  // Scans data[0..len); sets `used` to the bytes that belong to this body and
  // appends their re-framed form to *out when out is not null.
  Result feed(const char* data, size_t len, size_t& used, std::string* out = nullptr);
  bool done() const { return state_ == State::Done; }
  void reset() { *this = ChunkedScanner(); }

 private:
  enum class State {
    Size,
    SizeWs,
    Ext,
    SizeLf,
    Data,
    DataCr,
    DataLf,
    TrailerStart,
    Trailer,
    TrailerLf,
    FinalLf,
    Done
  };
  void end_size_line();
  bool end_trailer_line(std::string* out);
  State state_ = State::Size;
  uint64_t remaining_ = 0;
  int digits_ = 0;
  std::string trailer_;  // the trailer line being read
  size_t trailer_bytes_ = 0;
};

}  // namespace herd::proxy::http1
