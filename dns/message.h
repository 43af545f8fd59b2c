// dns/message.h — DNS messages as herd's resolver needs them: a query for
// one name (A or AAAA, EDNS0 with the accepted payload size) and the parse
// of a response. No sockets, no clock: unit-tested and fuzzed alone
// (tests/unit/dns, tests/fuzz/fuzz_dns_response.cpp).
//
// The parser trusts nothing in the packet: every read is bounds-checked,
// names are at most 255 bytes with labels of at most 63, compression
// pointers must point strictly backwards (so a loop is impossible) and at
// most 64 are followed per name, counts are capped by what the packet can
// hold. A bad packet is an error value, never an exception or a crash.
//
// Thread rules: pure functions; any thread may call them.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace herd::dns {

enum class RType : uint16_t { A = 1, Cname = 5, Aaaa = 28, Opt = 41 };

// Lower-cased, without the final dot ("app.example").
std::string normalize_name(std::string_view name);

// The query message. Empty when `name` cannot be encoded (a label over 63
// bytes, a name over 255, an empty label). An EDNS0 OPT record announces
// `payload_size` (haproxy's `accepted_payload_size`; haproxy always sends it).
std::string build_query(uint16_t id, std::string_view name, RType type, int payload_size);

// What a response says.
struct Response {
  enum class Status {
    Valid,      // NOERROR with at least one record of the asked type
    NoRecord,   // NOERROR without one (haproxy then asks the other family)
    Nx,         // NXDOMAIN
    Refused,    // REFUSED
    Other,      // another RCODE (SERVFAIL, ...)
    Truncated,  // TC set
    Invalid,    // malformed, or not an answer to this query
  };
  Status status = Status::Invalid;
  uint16_t id = 0;
  std::string error;  // Invalid: what was wrong, for logs and tests
  struct Address {
    bool v6 = false;
    uint8_t bytes[16] = {};
    uint32_t ttl = 0;
    std::string text() const;  // "127.0.0.1", "::1"
  };
  std::vector<Address> addresses;  // the asked type only, answer order
};

// Parses `packet` as the answer to a query (id, name, type). A/AAAA
// records count when their owner is the name or the target of a CNAME
// chain from it (at most 8 links) found in the same answer section.
Response parse_response(std::string_view packet, uint16_t id, std::string_view name, RType type);

// The id of a message (0 when shorter than a header): to find the query a
// response belongs to before parsing it.
uint16_t message_id(std::string_view packet);

}  // namespace herd::dns
