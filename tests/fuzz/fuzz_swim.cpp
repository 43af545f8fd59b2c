// tests/fuzz/fuzz_swim.cpp — membership/swim.h fed decoded garbage: the
// SWIM/Lifeguard state machine of one member, with three peers it already
// knows, receives whatever the input holds as UDP packets, push/pull states
// and TCP-ping results, with time moving on between them.
//
// Input: records of [op][len hi][len lo][len bytes]; op % 4 is
//   0 a datagram from one of four senders (op / 4 picks it),
//   1 a push/pull body (merged when it decodes),
//   2 time passes (the first payload byte × 50 ms) and tick() runs,
//   3 a TCP-ping result (payload: seq, ok).
// Invariants after every record: every member in the table has a non-empty
// name, a 4- or 16-byte address that is not all zeros and a port > 0 (a
// message that would create or move a member otherwise is dropped and
// counted); our own entry stays alive (accusations are refuted) under our
// name and address; no member but us has our name.
#include <cstdint>
#include <vector>

#include "membership/memberlist_msgs.h"
#include "membership/swim.h"
#include "tests/fuzz/fuzz_support.h"

namespace ml = herd::membership::memberlist;
namespace swim = herd::membership::swim;
using herd::membership::Bytes;
using herd::membership::ByteView;

namespace {

struct NullTransport : swim::Transport {
  void send(const swim::Address&, Bytes) override {}
};

swim::Address addr(uint8_t last, uint16_t port) { return {Bytes{10, 0, 0, last}, port}; }

Bytes alive_packet(const std::string& name, const swim::Address& a) {
  ml::Alive m;
  m.incarnation = 1;
  m.node = name;
  m.addr = a.ip;
  m.port = a.port;
  m.vsn = Bytes(std::begin(ml::kSerfAgentVsn), std::end(ml::kSerfAgentVsn));
  return ml::encode(ml::Message{m});
}

void check(const swim::Swim& s, const swim::Address& self_addr) {
  for (const auto& [name, n] : s.nodes()) {
    FUZZ_CHECK(name == n.name);
    FUZZ_CHECK(swim::valid_member(n.name, n.addr.ip, n.addr.port));
  }
  FUZZ_CHECK(s.self().name == "fz");
  FUZZ_CHECK(s.self().addr == self_addr);
  FUZZ_CHECK(s.self().state == swim::State::kAlive);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  NullTransport net;
  swim::Config cfg;
  cfg.name = "fz";
  cfg.advertise = addr(1, 7946);
  swim::TimePoint now{};
  swim::Swim s(cfg, net, {}, now);
  const swim::Address peers[] = {addr(2, 7946), addr(3, 7946), addr(4, 7000), addr(9, 1)};
  const char* names[] = {"a", "b", "c"};
  for (int i = 0; i < 3; ++i) s.handle_packet(peers[i], alive_packet(names[i], peers[i]), now);
  check(s, cfg.advertise);

  size_t i = 0;
  while (i + 3 <= size) {
    const uint8_t op = data[i];
    const size_t len = std::min<size_t>((size_t{data[i + 1]} << 8) | data[i + 2], size - i - 3);
    ByteView payload(data + i + 3, len);
    i += 3 + len;
    switch (op % 4) {
      case 0:
        s.handle_packet(peers[(op / 4) % 4], payload, now);
        break;
      case 1:
        if (auto pp = ml::decode_push_pull(payload)) s.merge_remote_state(pp->nodes, now);
        break;
      case 2:
        now += std::chrono::milliseconds(50 * (len ? payload[0] : 1));
        s.tick(now);
        break;
      default:
        if (len >= 2) s.tcp_ping_result(payload[0], payload[1] & 1, now);
        break;
    }
    check(s, cfg.advertise);
  }
  return 0;
}
