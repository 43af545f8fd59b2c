// tests/fuzz/fuzz_chunked.cpp — proxy/http1.h ChunkedScanner. The first byte
// seeds how the rest is cut into pieces; the body (the rest) is scanned
// whole, in those pieces and byte by byte, and all three must agree: the
// same result and, when Done, the same body length. NeedMore consumes the
// whole piece; Done consumes at most the piece.
//
// Re-framing (feed with `out`): data is re-framed as it arrives, so the cuts
// give different chunk boundaries; each output is canonical (upper-case hex
// sizes without leading zeros or extensions, CRLF everywhere, lower-case
// trailer names) and all three carry the same data and trailers. The whole
// body's output, scanned again, ends exactly at its own end and re-frames to
// itself (a server behind herd sees one framing only).
#include <cctype>
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

// Decodes a canonical chunked body (the re-framer's output) strictly:
// false on any byte that is not the canonical form.
bool decode_canonical(const std::string& r, std::string& data, std::string& trailers) {
  size_t i = 0;
  for (;;) {
    uint64_t n = 0;
    const size_t start = i;
    while (i < r.size() && std::isxdigit(static_cast<unsigned char>(r[i])) &&
           !std::islower(static_cast<unsigned char>(r[i]))) {
      n = n * 16 + static_cast<uint64_t>(std::isdigit(static_cast<unsigned char>(r[i]))
                                             ? r[i] - '0'
                                             : r[i] - 'A' + 10);
      ++i;
    }
    if (i == start || (r[start] == '0' && i - start > 1)) return false;
    if (r.compare(i, 2, "\r\n") != 0) return false;
    i += 2;
    if (n == 0) break;
    if (r.size() - i < n + 2 || r.compare(i + n, 2, "\r\n") != 0) return false;
    data.append(r, i, n);
    i += n + 2;
  }
  const size_t end = r.rfind("\r\n");
  if (end == std::string::npos || end + 2 != r.size() || end < i) return false;
  trailers.assign(r, i, end - i);
  // Trailer lines "name: value\r\n", names in lower case.
  for (size_t line = 0; line < trailers.size();) {
    const size_t eol = trailers.find("\r\n", line);
    const size_t colon = trailers.find(':', line);
    if (eol == std::string::npos || colon == std::string::npos || colon > eol) return false;
    for (size_t k = line; k < colon; ++k)
      if (trailers[k] >= 'A' && trailers[k] <= 'Z') return false;
    line = eol + 2;
  }
  return true;
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
    std::string payload[3], trailers[3];
    const Outcome* cuts[3] = {&whole, &split, &bytes};
    for (int k = 0; k < 3; ++k)
      FUZZ_CHECK(decode_canonical(cuts[k]->reframed, payload[k], trailers[k]));
    FUZZ_CHECK(payload[0] == payload[1] && payload[0] == payload[2]);
    FUZZ_CHECK(trailers[0] == trailers[1] && trailers[0] == trailers[2]);
    const std::string& r = whole.reframed;
    Outcome again = scan_pieces(r.data(), {r.size()});
    FUZZ_CHECK(again.result == Result::Done && again.body_len == r.size());
    FUZZ_CHECK(again.reframed == r);
  }
  return 0;
}
