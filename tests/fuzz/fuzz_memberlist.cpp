// tests/fuzz/fuzz_memberlist.cpp — membership/memberlist_msgs.h: the UDP
// packet layers (hasCrc, compress, compound) and leaf messages, and the TCP
// stream forms (push/pull, stream user message, compressed streams). The
// input's first byte is the memberlist message type, so one target covers
// every decoder; each runs on the whole input.
//
// Invariants: every decoded message re-encodes to bytes that decode to an
// equal message; push/pull and stream-user bodies likewise (and push/pull
// reports the bytes it consumed); the layer functions invert their wrappers.
#include <cstdint>
#include <vector>

#include "membership/memberlist_msgs.h"
#include "tests/fuzz/fuzz_support.h"

namespace ml = herd::membership::memberlist;
using herd::membership::Bytes;
using herd::membership::ByteView;

namespace {

void check_message(const ml::Message& m) {
  Bytes e = ml::encode(m);
  auto back = ml::decode(e);
  FUZZ_CHECK(back.ok());
  FUZZ_CHECK(*back == m);
  FUZZ_CHECK(ml::message_type(*back) == ml::message_type(m));
}

void check_push_pull(ByteView in) {
  std::size_t consumed = 0;
  auto pp = ml::decode_push_pull(in, {}, &consumed);
  if (!pp) return;
  FUZZ_CHECK(consumed <= in.size());
  Bytes e = ml::encode_push_pull(*pp);
  std::size_t consumed2 = 0;
  auto back = ml::decode_push_pull(e, {}, &consumed2);
  FUZZ_CHECK(back.ok() && *back == *pp);
  FUZZ_CHECK(consumed2 == e.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ByteView in(data, size);
  ml::DecodeLimits limits;
  limits.max_decompressed = 64u << 10;
  if (auto p = ml::decode_packet(in, limits)) {
    for (const auto& m : p->messages) check_message(m);
  }
  if (auto m = ml::decode(in)) check_message(*m);

  if (auto inner = ml::unwrap_crc(in)) {
    Bytes again = ml::wrap_crc(*inner);
    FUZZ_CHECK(again == Bytes(in.begin(), in.end()));
  }
  if (auto parts = ml::split_compound(in)) {
    std::vector<Bytes> owned;
    for (ByteView part : parts->parts) owned.emplace_back(part.begin(), part.end());
    const Bytes packed = ml::make_compound(owned);  // `again` points into it
    auto again = ml::split_compound(packed);
    FUZZ_CHECK(again.ok() && again->truncated == 0 && again->parts.size() == owned.size());
    for (size_t i = 0; i < owned.size(); ++i)
      FUZZ_CHECK(Bytes(again->parts[i].begin(), again->parts[i].end()) == owned[i]);
  }
  if (auto out = ml::unwrap_compress(in, 64u << 10)) {
    auto again = ml::unwrap_compress(ml::wrap_compress(*out), 64u << 10);
    FUZZ_CHECK(again.ok() && *again == *out);
  }

  check_push_pull(in);
  if (auto payload = ml::decode_stream_user(in)) {
    auto again = ml::decode_stream_user(ml::encode_stream_user(*payload));
    FUZZ_CHECK(again.ok() && *again == *payload);
  }
  if (auto s = ml::unwrap_stream(in, 64u << 10)) {
    check_push_pull(*s);
    if (auto m = ml::decode(*s)) check_message(*m);
  }
  return 0;
}
