// tests/fuzz/fuzz_http1_request.cpp — proxy/http1.h parse_request on any
// bytes: no out-of-bounds access or UB (ASan/UBSan), a Complete head points
// only inside its bytes, its prefixes parse Incomplete, and re-parsing just
// the head gives the same head. `option accept-invalid-http-request` only
// relaxes: what parses strictly parses the same relaxed.
#include <cstdint>
#include <string_view>

#include "proxy/http1.h"
#include "tests/fuzz/fuzz_support.h"
#include "tests/fuzz/http1_checks.h"

using herd::proxy::http1::Head;
using herd::proxy::http1::parse_request;
using herd::proxy::http1::Status;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const char* buf = reinterpret_cast<const char*>(data);
  static Head h, again, relaxed;  // Head is ~1.6 KiB; static keeps it off the hot stack
  Status st = parse_request(buf, size, h);
  Status rst = parse_request(buf, size, relaxed, true);
  if (rst == Status::Error) FUZZ_CHECK(relaxed.error != nullptr);
  if (rst == Status::Complete) herd::fuzz::check_complete_head(relaxed, buf, size, true);
  if (st == Status::Complete) {
    FUZZ_CHECK(rst == Status::Complete && relaxed.head_len == h.head_len);
    FUZZ_CHECK(relaxed.content_length == h.content_length && relaxed.chunked == h.chunked);
  }
  if (st == Status::Error) FUZZ_CHECK(h.error != nullptr);
  if (st != Status::Complete) return 0;
  herd::fuzz::check_complete_head(h, buf, size);
  FUZZ_CHECK(!h.method.empty() && herd::fuzz::inside(h.method, buf, h.head_len));
  FUZZ_CHECK(!h.target.empty() && herd::fuzz::inside(h.target, buf, h.head_len));
  for (char c : h.method) FUZZ_CHECK(herd::fuzz::is_tchar(c));
  if (h.host_index >= 0) FUZZ_CHECK(herd::proxy::http1::iequals(h.name(buf, h.host_index), "host"));

  FUZZ_CHECK(parse_request(buf, h.head_len, again) == Status::Complete);
  FUZZ_CHECK(again.head_len == h.head_len && again.nfields == h.nfields);
  FUZZ_CHECK(again.content_length == h.content_length && again.chunked == h.chunked);
  FUZZ_CHECK(again.method == h.method && again.target == h.target);
  herd::fuzz::check_prefixes_incomplete(
      [](const char* b, size_t n, Head& out) { return parse_request(b, n, out); }, buf, h.head_len,
      static_cast<uint8_t>(size));
  return 0;
}
