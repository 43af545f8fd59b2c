// tests/fuzz/fuzz_serf.cpp — membership/serf_msgs.h: serf messages (the
// first byte is the serf type), tags in Meta, the coordinate ping payload
// and query filters, each decoder run on the whole input. A Relay's inner
// message and a Query's filters are decoded too, as the agent does.
//
// Invariants: decoded values re-encode to bytes that decode to an equal
// value (messages, tags); for values holding doubles (coordinates) or no
// operator== (filters), re-encoding is stable after one round.
#include <cstdint>

#include "membership/serf_msgs.h"
#include "tests/fuzz/fuzz_support.h"

namespace serf = herd::membership::serf;
using herd::membership::Bytes;
using herd::membership::ByteView;

namespace {

void check_filter(ByteView in) {
  auto f = serf::decode_filter(in);
  if (!f) return;
  Bytes e = serf::encode_filter(*f);
  auto back = serf::decode_filter(e);
  FUZZ_CHECK(back.ok() && serf::encode_filter(*back) == e);
}

void check_message(ByteView in, int depth) {
  auto m = serf::decode(in);
  if (!m) return;
  Bytes e = serf::encode(*m);
  auto back = serf::decode(e);
  FUZZ_CHECK(back.ok() && *back == *m);
  FUZZ_CHECK(serf::message_type(*back) == static_cast<serf::MessageType>(in[0]));
  if (const auto* q = std::get_if<serf::Query>(&*m); q && q->filters)
    for (const auto& f : *q->filters) check_filter(f);
  if (const auto* r = std::get_if<serf::Relay>(&*m); r && depth < 4)
    check_message(r->inner, depth + 1);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ByteView in(data, size);
  check_message(in, 0);
  if (auto tags = serf::decode_tags(in)) {
    auto back = serf::decode_tags(serf::encode_tags(*tags));
    FUZZ_CHECK(back.ok() && *back == *tags);
  }
  if (auto c = serf::decode_ping_payload(in)) {
    Bytes e = serf::encode_ping_payload(*c);
    auto back = serf::decode_ping_payload(e);
    FUZZ_CHECK(back.ok() && serf::encode_ping_payload(*back) == e);
  }
  check_filter(in);
  return 0;
}
