// membership/serf_msgs.h — Serf's messages, carried as memberlist user
// messages (type 8) on UDP and as push/pull user state on TCP; Serf tags in
// memberlist Meta; the network coordinate in ack payloads.
//
// A serf message on the wire = 1 serf type byte + one msgpack map (gossip
// flavour, keys sorted). Go maps (tags, StatusLTimes) have no order on the
// wire: tags are written sorted, StatusLTimes in the order of the vector.
// See docs/serf-protocol.md §9 (Lamport clocks: §10).
//
// Thread rules: pure functions on values; any thread.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "membership/msgpack.h"
#include "membership/wire_result.h"

namespace herd::membership::serf {

// PROTOCOL: serf message type bytes, shared with every serf agent. Append
// only; never renumber or reuse a value.
enum class MessageType : uint8_t {
  kLeave = 0,
  kJoin = 1,
  kPushPull = 2,
  kUserEvent = 3,
  kQuery = 4,
  kQueryResponse = 5,
  kConflictResponse = 6,
  kKeyRequest = 7,
  kKeyResponse = 8,
  kRelay = 9,
};

// PROTOCOL: query flags (bit values on the wire). Append only.
inline constexpr uint32_t kQueryFlagAck = 1;          // ack requested / this is an ack
inline constexpr uint32_t kQueryFlagNoBroadcast = 2;  // don't re-broadcast
// PROTOCOL: query filter type byte prefixes. Append only.
inline constexpr uint8_t kFilterNode = 0;
inline constexpr uint8_t kFilterTag = 1;
// PROTOCOL: Meta magic byte introducing msgpack-encoded tags (serf >= 3).
inline constexpr uint8_t kTagMagicByte = 0xff;
// PROTOCOL: ping (coordinate) payload version byte in acks.
inline constexpr uint8_t kPingVersion = 1;
// Serf's event ring in push/pull state (agent default EventBuffer).
inline constexpr std::size_t kEventRingSlots = 512;

struct LeaveIntent {
  uint64_t ltime = 0;
  std::string node;
  bool prune = false;
  bool operator==(const LeaveIntent&) const = default;
};

struct JoinIntent {
  uint64_t ltime = 0;
  std::string node;
  bool operator==(const JoinIntent&) const = default;
};

struct UserEvent {
  bool cc = false;  // coalescable
  uint64_t ltime = 0;
  std::string name;
  std::optional<Bytes> payload;
  bool operator==(const UserEvent&) const = default;
};

struct Query {
  Bytes addr;                                 // where to send responses
  std::optional<std::vector<Bytes>> filters;  // each: kFilterNode/kFilterTag + msgpack
  uint32_t flags = 0;
  uint32_t id = 0;
  uint64_t ltime = 0;
  std::string name;
  std::optional<Bytes> payload;
  uint16_t port = 0;
  uint8_t relay_factor = 0;
  std::string source_node;
  int64_t timeout_ns = 0;  // Go time.Duration
  bool operator==(const Query&) const = default;
};

struct QueryResponse {
  uint32_t flags = 0;  // kQueryFlagAck: this is an ack, not a response
  std::string from;
  uint32_t id = 0;
  uint64_t ltime = 0;
  std::optional<Bytes> payload;
  bool operator==(const QueryResponse&) const = default;
};

// Serf push/pull user state (type 2).
struct EventEntry {
  std::string name;
  std::optional<Bytes> payload;
  bool operator==(const EventEntry&) const = default;
};
struct EventSlot {
  uint64_t ltime = 0;
  std::vector<EventEntry> events;
  bool operator==(const EventSlot&) const = default;
};
struct PushPull {
  uint64_t event_ltime = 0;
  std::optional<std::vector<std::optional<EventSlot>>> events;  // ring; nil slots
  uint64_t ltime = 0;
  std::optional<std::vector<std::string>> left_members;
  uint64_t query_ltime = 0;
  std::vector<std::pair<std::string, uint64_t>> status_ltimes;  // Go map, wire order kept
  bool status_ltimes_nil = false;
  bool operator==(const PushPull&) const = default;
};

// Payload of internal key queries: 0x07 + {Key}.
struct KeyRequest {
  std::optional<Bytes> key;
  bool operator==(const KeyRequest&) const = default;
};
// Payload of key query responses: 0x08 + {Keys, Message, PrimaryKey, Result}.
struct KeyResponse {
  std::optional<std::vector<std::string>> keys;  // base64
  std::string message;
  std::string primary_key;
  bool result = false;
  bool operator==(const KeyResponse&) const = default;
};

// Relay header (type 9): forward `inner` (a whole serf message) to dest.
struct Relay {
  Bytes dest_ip;
  int64_t dest_port = 0;
  std::string dest_zone;
  std::string dest_name;
  Bytes inner;
  bool operator==(const Relay&) const = default;
};

// Any serf message except conflict responses (opaque Member payloads).
using Message = std::variant<LeaveIntent, JoinIntent, PushPull, UserEvent, Query, QueryResponse,
                             KeyRequest, KeyResponse, Relay>;
MessageType message_type(const Message& m);

// Serf type byte + body (the payload of a memberlist UserMsg).
Bytes encode(const Message& m);
Result<Message> decode(ByteView msg);

// ---- tags in Meta ----------------------------------------------------------

using Tags = std::map<std::string, std::string>;
// 0xff + msgpack map, keys sorted. No tags = ff 80.
Bytes encode_tags(const Tags& tags);
// Meta not starting with 0xff (including empty) is a legacy role: {"role": meta}.
Result<Tags> decode_tags(ByteView meta);

// ---- network coordinate (ack payload = 0x01 + Coordinate) -----------------

struct Coordinate {
  double adjustment = 0;
  double error = 0;
  double height = 0;
  std::vector<double> vec;
  bool operator==(const Coordinate&) const = default;
};
Bytes encode_ping_payload(const Coordinate& c);
Result<Coordinate> decode_ping_payload(ByteView payload);

// ---- query filters -----------------------------------------------------------

struct NodeFilter {
  std::vector<std::string> nodes;
};
struct TagFilter {
  std::string tag;
  std::string expr;  // RE2 expression
};
using Filter = std::variant<NodeFilter, TagFilter>;
Bytes encode_filter(const Filter& f);
Result<Filter> decode_filter(ByteView f);

}  // namespace herd::membership::serf
