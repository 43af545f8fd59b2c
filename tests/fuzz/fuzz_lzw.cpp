// tests/fuzz/fuzz_lzw.cpp — membership/lzw.h. The input is decompressed as a
// stream (with a small output limit, so that bombs are cut short), and
// compressed then decompressed as data: that round trip must give the input
// back, and a decompressed stream must re-compress to something that
// decompresses to the same bytes.
#include <cstdint>

#include "membership/lzw.h"
#include "tests/fuzz/fuzz_support.h"

using herd::membership::Bytes;
using herd::membership::ByteView;
using herd::membership::lzw_compress;
using herd::membership::lzw_decompress;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ByteView in(data, size);
  constexpr size_t kMaxOut = 256u << 10;
  if (auto out = lzw_decompress(in, kMaxOut)) {
    FUZZ_CHECK(out->size() <= kMaxOut);
    auto again = lzw_decompress(lzw_compress(*out), kMaxOut);
    FUZZ_CHECK(again && *again == *out);
  }
  Bytes packed = lzw_compress(in);
  auto back = lzw_decompress(packed, size);
  FUZZ_CHECK(back && back->size() == size && Bytes(data, data + size) == *back);
  // One byte less room than needed must fail, not truncate silently.
  if (size > 0) FUZZ_CHECK(!lzw_decompress(packed, size - 1));
  return 0;
}
