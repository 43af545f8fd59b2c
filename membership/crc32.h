// membership/crc32.h — CRC-32/IEEE (the polynomial of Go's crc32.ChecksumIEEE),
// used by memberlist's hasCrc (type 12) packet wrapper (docs/serf-protocol.md
// §4.3).
//
// Thread rules: pure function, any thread.
#pragma once

#include <cstdint>

#include "membership/msgpack.h"

namespace herd::membership {

uint32_t crc32_ieee(ByteView data);

}  // namespace herd::membership
