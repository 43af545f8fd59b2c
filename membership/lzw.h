// membership/lzw.h — LZW exactly as Go's compress/lzw with LSB bit order and
// literal width 8 (GIF style), the only algorithm of memberlist's compress
// message (type 9, Algo 0).
//
// lzw_compress reproduces Go's writer byte for byte (a clear code first, a
// clear code each time the 12-bit table fills, greedy longest match), so
// compressed vectors re-encode exactly. lzw_decompress is strict: a code that
// is not yet defined or a stream without its end code is an error. It stops
// with an error once the output would exceed max_out (decompression bombs:
// one 12-bit code can expand to 4 KiB). See docs/serf-protocol.md §4.5.
//
// Thread rules: pure functions, any thread.
#pragma once

#include <cstddef>
#include <optional>

#include "membership/msgpack.h"

namespace herd::membership {

Bytes lzw_compress(ByteView in);

// nullopt on a corrupt or truncated stream or when the output exceeds max_out.
std::optional<Bytes> lzw_decompress(ByteView in, std::size_t max_out);

}  // namespace herd::membership
