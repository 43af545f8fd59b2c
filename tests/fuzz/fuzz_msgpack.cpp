// tests/fuzz/fuzz_msgpack.cpp — membership/msgpack.h Reader and Value.
// Input: one selector byte (bit 0: gossip or RPC flavour for re-encoding;
// the rest picks the typed reads below), then msgpack bytes.
//
// Invariants: read_value and skip() accept the same values and consume the
// same bytes; a decoded value re-encodes to bytes that decode again and
// re-encode identically (stable after one round: the first encoding may
// normalise integer widths and string/bin families); typed reads never move
// past the input and every successful read consumes at least one byte.
#include <cstdint>
#include <optional>
#include <string>

#include "membership/msgpack.h"
#include "tests/fuzz/fuzz_support.h"

namespace mp = herd::membership::msgpack;
using herd::membership::Bytes;
using herd::membership::ByteView;

namespace {

Bytes encode(const mp::Value& v, mp::Flavor flavor) {
  mp::Writer w(flavor);
  mp::write_value(w, v);
  return w.take();
}

void round_trip(ByteView in, mp::Flavor flavor) {
  mp::Reader r(in);
  mp::Reader s(in);
  for (int n = 0; n < 64 && !r.at_end(); ++n) {
    mp::Value v;
    const bool read = mp::read_value(r, v);
    const bool skipped = s.skip();
    FUZZ_CHECK(read == skipped);
    if (!read) return;
    FUZZ_CHECK(r.offset() == s.offset());
    const Bytes first = encode(v, flavor);
    mp::Reader again(first);
    mp::Value v2;
    FUZZ_CHECK(mp::read_value(again, v2));
    FUZZ_CHECK(again.at_end());
    FUZZ_CHECK(encode(v2, flavor) == first);
  }
}

// Typed reads, as the message decoders do them.
template <class T, bool (mp::Reader::*Read)(T&)>
bool typed(mp::Reader& r) {
  T v{};
  return (r.*Read)(v);
}
bool array_header(mp::Reader& r) {
  uint32_t n = 0;
  return r.read_array_header(n);
}
bool map_header(mp::Reader& r) {
  uint32_t n = 0;
  return r.read_map_header(n);
}
bool struct_skipping_all(mp::Reader& r) {
  return r.read_struct([](std::string_view) { return false; });
}
using TypedRead = bool (*)(mp::Reader&);
const TypedRead kTypedReads[] = {typed<uint64_t, &mp::Reader::read_uint>,
                                 typed<int64_t, &mp::Reader::read_int>,
                                 typed<int32_t, &mp::Reader::read_int32>,
                                 typed<double, &mp::Reader::read_float>,
                                 typed<std::string, &mp::Reader::read_str>,
                                 typed<Bytes, &mp::Reader::read_bytes>,
                                 typed<std::optional<Bytes>, &mp::Reader::read_nilable_bytes>,
                                 typed<uint16_t, &mp::Reader::read_uint_as<uint16_t>>,
                                 typed<bool, &mp::Reader::read_bool>,
                                 array_header,
                                 map_header,
                                 struct_skipping_all};

// A sequence of typed reads chosen by `sel`.
void typed_reads(ByteView in, uint8_t sel) {
  mp::Reader r(in);
  constexpr unsigned kKinds = sizeof kTypedReads / sizeof kTypedReads[0];
  for (unsigned k = 0; k < 32 && r.ok() && !r.at_end(); ++k) {
    const std::size_t before = r.offset();
    const bool good = kTypedReads[(sel + k * 7u) % kKinds](r);
    FUZZ_CHECK(r.offset() <= in.size());
    FUZZ_CHECK(good == r.ok());
    if (good) FUZZ_CHECK(r.offset() > before);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  ByteView in(data + 1, size - 1);
  round_trip(in, (data[0] & 1) != 0 ? mp::Flavor::kRpc : mp::Flavor::kGossip);
  typed_reads(in, static_cast<uint8_t>(data[0] >> 1));
  return 0;
}
