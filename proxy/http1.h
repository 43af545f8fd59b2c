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
#include <string_view>

namespace herd::proxy::http1 {

inline constexpr size_t kMaxHeaders = 101;  // HAProxy's tune.http.maxhdr

struct Field {
  uint32_t name_off = 0, value_off = 0;
  uint16_t name_len = 0;
  uint32_t value_len = 0;
};

enum class Status { Incomplete, Complete, Error };

// Facts about a head that the relay needs.
struct Head {
  // request line or status line
  std::string_view method;  // requests
  std::string_view target;  // requests
  int status = 0;           // responses
  std::string_view reason;  // responses
  int version = 11;         // 10 or 11
  std::array<Field, kMaxHeaders> fields;
  size_t nfields = 0;
  size_t head_len = 0;  // bytes up to and including the empty line

  int64_t content_length = -1;  // -1: none
  bool chunked = false;
  bool conn_close = false;       // Connection: close seen
  bool conn_keep_alive = false;  // Connection: keep-alive seen
  bool expect_continue = false;
  bool upgrade = false;         // Connection: upgrade
  int host_index = -1;          // requests: the first Host field, -1 when none
  const char* error = nullptr;  // why Status::Error

  std::string_view name(const char* base, size_t i) const {
    return {base + fields[i].name_off, fields[i].name_len};
  }
  std::string_view value(const char* base, size_t i) const {
    return {base + fields[i].value_off, fields[i].value_len};
  }
};

// Parses a request head at the start of buf[0..len). Returns Incomplete when
// the empty line has not arrived yet (the caller enforces the size limit).
Status parse_request(const char* buf, size_t len, Head& out);
Status parse_response(const char* buf, size_t len, Head& out);

// Case-insensitive ASCII comparison.
bool iequals(std::string_view a, std::string_view b);

// Whether a response to `method` with `status` carries a body.
inline bool response_has_body(std::string_view method, int status) {
  if (method == "HEAD") return false;
  if (status < 200 || status == 204 || status == 304) return false;
  return true;
}

// Streams a chunked body: feed() consumes bytes up to the end of the message
// (last chunk + trailers) and reports how many bytes belonged to the body.
// The bytes themselves are forwarded unchanged by the caller.
class ChunkedScanner {
 public:
  enum class Result { NeedMore, Done, Error };
  // Scans data[0..len); sets `used` to the bytes that belong to this body.
  Result feed(const char* data, size_t len, size_t& used);
  bool done() const { return state_ == State::Done; }
  void reset() { *this = ChunkedScanner(); }

 private:
  enum class State {
    Size,
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
  State state_ = State::Size;
  uint64_t remaining_ = 0;
  int digits_ = 0;
};

}  // namespace herd::proxy::http1
