// tests/fuzz/fuzz_dns_response.cpp — dns/message.h parse_response on any
// bytes, as a hostile nameserver may send them: no out-of-bounds access,
// no UB, no endless compression-pointer loop; a Valid answer has addresses
// of the asked family only, an error status has none. The first input byte
// picks the asked type and the name is taken from the packet's question
// when it has one, so the fuzzer reaches the answer section.
#include <cstdint>
#include <string>
#include <string_view>

#include "dns/message.h"
#include "tests/fuzz/fuzz_support.h"

using herd::dns::parse_response;
using herd::dns::Response;
using herd::dns::RType;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const RType type = data[0] & 1 ? RType::Aaaa : RType::A;
  std::string_view pkt(reinterpret_cast<const char*>(data + 1), size - 1);
  // The question's name, read plainly (labels in place) when it is there.
  std::string name;
  for (size_t pos = 12; pos < pkt.size();) {
    uint8_t len = static_cast<uint8_t>(pkt[pos]);
    if (len == 0 || len > 63 || pos + 1 + len > pkt.size()) break;
    if (!name.empty()) name += '.';
    name.append(pkt.substr(pos + 1, len));
    pos += 1 + len;
  }
  const uint16_t id = herd::dns::message_id(pkt);
  Response r = parse_response(pkt, id, name, type);
  if (r.status == Response::Status::Valid) {
    FUZZ_CHECK(!r.addresses.empty());
    for (const auto& a : r.addresses) FUZZ_CHECK(a.v6 == (type == RType::Aaaa));
  } else {
    FUZZ_CHECK(r.addresses.empty());
  }
  if (r.status == Response::Status::Invalid) FUZZ_CHECK(!r.error.empty());
  // The query builder on the same name: encodable names give a query that
  // the parser recognises as its own question.
  std::string q = herd::dns::build_query(id, name, type, 4096);
  if (!q.empty()) FUZZ_CHECK(herd::dns::message_id(q) == id);
  return 0;
}
