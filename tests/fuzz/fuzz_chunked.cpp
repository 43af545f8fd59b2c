// tests/fuzz/fuzz_chunked.cpp — proxy/http1.h ChunkedScanner. The first byte
// seeds how the rest is cut into pieces; the body (the rest) is scanned
// whole, in those pieces and byte by byte, and all three must agree: the
// same result and, when Done, the same body length. NeedMore consumes the
// whole piece; Done consumes at most the piece.
//
// Re-framing (feed with `out`): the three cuts give the same bytes, and the
// re-framed body is canonical: scanned again it ends exactly at its own end
// and re-frames to itself (a server behind herd sees one framing only).
#include <cstdint>
#include <string>

#include "proxy/http1.h"
#include "tests/fuzz/fuzz_support.h"

using herd::proxy::http1::ChunkedScanner;
using Result = ChunkedScanner::Result;

namespace {

struct Outcome {
  Result result = Result::NeedMore;
  size_t body_len = 0;  // bytes used up to Done (or all bytes on NeedMore)
  std::string reframed;
};

Outcome scan_pieces(const char* data, const std::vector<size_t>& pieces) {
  ChunkedScanner s;
  Outcome o;
  size_t off = 0;
  for (size_t n : pieces) {
    size_t used = 0;
    Result r = s.feed(data + off, n, used, &o.reframed);
    if (r == Result::Error) return {Result::Error, 0, {}};
    FUZZ_CHECK(used <= n);
    o.body_len = off + used;
    if (r == Result::Done) {
      FUZZ_CHECK(s.done());
      // A finished scanner takes nothing more.
      size_t more = 7;
      FUZZ_CHECK(s.feed(data + off, n, more) == Result::Done && more == 0);
      o.result = Result::Done;
      return o;
    }
    FUZZ_CHECK(used == n);
    FUZZ_CHECK(!s.done());
    off += n;
  }
  return o;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const char* body = reinterpret_cast<const char*>(data + 1);
  const size_t len = size - 1;
  Outcome whole = scan_pieces(body, len ? std::vector<size_t>{len} : std::vector<size_t>{});
  Outcome split = scan_pieces(body, herd::fuzz::split_points(data[0], len));
  Outcome bytes = scan_pieces(body, std::vector<size_t>(len, 1));
  FUZZ_CHECK(whole.result == split.result && whole.result == bytes.result);
  FUZZ_CHECK(whole.body_len == split.body_len && whole.body_len == bytes.body_len);
  if (whole.result == Result::Done) {
    // Re-scanning exactly the body finds the same end.
    Outcome exact = scan_pieces(body, {whole.body_len});
    FUZZ_CHECK(exact.result == Result::Done && exact.body_len == whole.body_len);
    FUZZ_CHECK(whole.reframed == split.reframed && whole.reframed == bytes.reframed);
    const std::string& r = whole.reframed;
    Outcome again = scan_pieces(r.data(), {r.size()});
    FUZZ_CHECK(again.result == Result::Done && again.body_len == r.size());
    FUZZ_CHECK(again.reframed == r);
  }
  return 0;
}
