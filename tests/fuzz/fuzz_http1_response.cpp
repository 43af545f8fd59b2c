// tests/fuzz/fuzz_http1_response.cpp — proxy/http1.h parse_response on any
// bytes: no out-of-bounds access or UB, a Complete head points only inside
// its bytes with a 3-digit status >= 100, its prefixes parse Incomplete, and
// re-parsing just the head gives the same head. `option
// accept-invalid-http-response` only relaxes: what parses strictly parses
// the same relaxed.
#include <cstdint>
#include <string_view>

#include "proxy/http1.h"
#include "tests/fuzz/fuzz_support.h"
#include "tests/fuzz/http1_checks.h"

using herd::proxy::http1::Head;
using herd::proxy::http1::parse_response;
using herd::proxy::http1::Status;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const char* buf = reinterpret_cast<const char*>(data);
  static Head h, again, relaxed;
  Status st = parse_response(buf, size, h);
  Status rst = parse_response(buf, size, relaxed, true);
  if (rst == Status::Error) FUZZ_CHECK(relaxed.error != nullptr);
  if (rst == Status::Complete) herd::fuzz::check_complete_head(relaxed, buf, size, true);
  if (st == Status::Complete) {
    FUZZ_CHECK(rst == Status::Complete && relaxed.head_len == h.head_len);
    FUZZ_CHECK(relaxed.content_length == h.content_length && relaxed.status == h.status);
  }
  if (st == Status::Error) FUZZ_CHECK(h.error != nullptr);
  if (st != Status::Complete) return 0;
  herd::fuzz::check_complete_head(h, buf, size);
  FUZZ_CHECK(h.status >= 100 && h.status <= 999);
  FUZZ_CHECK(herd::fuzz::inside(h.reason, buf, h.head_len));
  FUZZ_CHECK(h.host_index == -1);

  FUZZ_CHECK(parse_response(buf, h.head_len, again) == Status::Complete);
  FUZZ_CHECK(again.head_len == h.head_len && again.nfields == h.nfields);
  FUZZ_CHECK(again.content_length == h.content_length && again.chunked == h.chunked);
  FUZZ_CHECK(again.status == h.status && again.reason == h.reason);
  herd::fuzz::check_prefixes_incomplete(
      [](const char* b, size_t n, Head& out) { return parse_response(b, n, out); }, buf, h.head_len,
      static_cast<uint8_t>(size));
  return 0;
}
