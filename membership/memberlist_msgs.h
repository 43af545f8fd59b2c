// membership/memberlist_msgs.h — memberlist's wire messages (HashiCorp
// memberlist 0.2.x, as spoken by serf 0.8.x/0.9.x agents).
//
// What is here: the message type byte, the body of every message as a plain
// struct, encode/decode of one message (type byte + msgpack body, gossip
// flavour, keys in sorted order as Go writes them), the packet layers
// (hasCrc, compound, compress) and the TCP stream forms (push/pull, stream
// user message). See docs/membership.md and docs/serf-protocol.md §4, §5
// (UDP packets and messages) and §7 (TCP streams).
//
// Layering of a UDP packet (outermost first): [encrypt, keyring.h] → hasCrc →
// compress → compound → message; compound and compress recurse.
// decode_packet() peels all of them and returns the leaf messages.
//
// Thread rules: pure functions on values; any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "membership/msgpack.h"
#include "membership/wire_result.h"

namespace herd::membership::memberlist {

// PROTOCOL: these values are on the wire and shared with every memberlist
// implementation. Append only; never renumber or reuse a value.
enum class MessageType : uint8_t {
  kPing = 0,
  kIndirectPing = 1,
  kAckResp = 2,
  kSuspect = 3,
  kAlive = 4,
  kDead = 5,
  kPushPull = 6,
  kCompound = 7,
  kUser = 8,
  kCompress = 9,
  kEncrypt = 10,  // TCP streams only; encrypted UDP has no type byte
  kNackResp = 11,
  kHasCrc = 12,
  kErr = 13,
};
// memberlist >= 0.3.0 label prefix; not understood by serf 0.9.4 — never send.
inline constexpr uint8_t kHasLabel = 244;

// PROTOCOL: push/pull node state values. Append only.
enum class NodeState : uint8_t { kAlive = 0, kSuspect = 1, kDead = 2, kLeft = 3 };

// PROTOCOL: compression algorithms (compress.Algo). Append only.
inline constexpr uint8_t kAlgoLzw = 0;

// Limits and defaults from memberlist (protocol facts, not tuning knobs).
inline constexpr std::size_t kUdpBufferSize = 1400;           // assembled gossip packet
inline constexpr std::size_t kMetaMaxSize = 512;              // node Meta
inline constexpr std::size_t kMaxPushStateBytes = 20u << 20;  // encrypted stream limit
inline constexpr std::size_t kCompoundHeaderOverhead = 2;     // type + count
inline constexpr std::size_t kCompoundPartOverhead = 2;       // uint16 length per part
inline constexpr std::size_t kMaxCompoundParts = 255;
// Vsn a serf 0.8/0.9 agent sends: pmin 1, pmax 5, pcur 2, dmin 2, dmax 5, dcur 5.
inline constexpr uint8_t kSerfAgentVsn[6] = {1, 5, 2, 2, 5, 5};

struct Ping {
  std::string node;  // intended target's name ("" = anyone)
  uint32_t seq_no = 0;
  Bytes source_addr;         // omitted from the wire when empty
  std::string source_node;   // omitted when empty
  uint16_t source_port = 0;  // omitted when 0
  bool operator==(const Ping&) const = default;
};

struct IndirectPing {
  bool nack = false;
  std::string node;
  uint16_t port = 0;
  uint32_t seq_no = 0;
  Bytes source_addr;         // omitempty
  std::string source_node;   // omitempty
  uint16_t source_port = 0;  // omitempty
  Bytes target;              // IP
  bool operator==(const IndirectPing&) const = default;
};

struct AckResp {
  std::optional<Bytes> payload;  // nil on the wire when nullopt
  uint32_t seq_no = 0;
  bool operator==(const AckResp&) const = default;
};

struct NackResp {
  uint32_t seq_no = 0;
  bool operator==(const NackResp&) const = default;
};

struct Suspect {
  std::string from;
  uint32_t incarnation = 0;
  std::string node;
  bool operator==(const Suspect&) const = default;
};

// From == Node means a graceful leave (state left), otherwise a failure.
struct Dead {
  std::string from;
  uint32_t incarnation = 0;
  std::string node;
  bool operator==(const Dead&) const = default;
};

struct Alive {
  Bytes addr;  // 4- or 16-byte IP
  uint32_t incarnation = 0;
  Bytes meta;  // serf: 0xff + msgpack tags (serf_msgs.h)
  std::string node;
  uint16_t port = 0;
  Bytes vsn;  // 6 bytes: pmin pmax pcur dmin dmax dcur
  bool operator==(const Alive&) const = default;
};

struct ErrResp {
  std::string error;
  bool operator==(const ErrResp&) const = default;
};

// Type 8: opaque delegate payload (for Serf: serf type byte + msgpack).
struct UserMsg {
  Bytes payload;
  bool operator==(const UserMsg&) const = default;
};

// A leaf message (what remains after peeling crc/compress/compound).
using Message =
    std::variant<Ping, IndirectPing, AckResp, Suspect, Alive, Dead, NackResp, ErrResp, UserMsg>;
MessageType message_type(const Message& m);

// Type byte + body. Never fails.
Bytes encode(const Message& m);
// Decodes one leaf message (type byte + body; trailing bytes after the body
// are ignored as in Go). Containers (crc, compound, compress) are rejected
// with kUnknownType: use decode_packet() or the layer functions.
Result<Message> decode(ByteView msg);

// Body-only codecs, for embedding (push/pull, tests).
void write_body(msgpack::Writer& w, const Message& m);

// ---- packet layers -------------------------------------------------------

// 0x0c | crc32(inner) BE | inner.
Bytes wrap_crc(ByteView inner);
// Verifies and strips the hasCrc layer (msg must start with type 12).
Result<ByteView> unwrap_crc(ByteView msg);

// 0x07 | n | n × uint16 BE length | parts. Requires 1..255 parts of < 64 KiB.
Bytes make_compound(std::span<const Bytes> parts);
struct CompoundParts {
  std::vector<ByteView> parts;  // complete parts, in order
  std::size_t truncated = 0;    // declared parts missing from the buffer
};
// msg starts with type 7. Like memberlist, a buffer shorter than the
// declared lengths yields the complete leading parts plus a truncated count.
Result<CompoundParts> split_compound(ByteView msg);

// 0x09 | {Algo: 0, Buf: lzw(inner)}.
Bytes wrap_compress(ByteView inner);
// msg starts with type 9; returns the decompressed inner message.
Result<Bytes> unwrap_compress(ByteView msg, std::size_t max_out);

struct DecodeLimits {
  std::size_t max_decompressed = 1u << 20;  // per compress layer (UDP)
  unsigned max_layers = 8;                  // nesting of crc/compress/compound
};

struct DecodedPacket {
  std::vector<Message> messages;  // leaves in wire order
  std::size_t truncated_parts = 0;
  // Leaves that failed to decode or had an unsupported type; memberlist logs
  // and drops these individually.
  std::vector<WireError> dropped;
};
// Peels hasCrc, compress and compound layers of a (decrypted) UDP packet.
// Fails as a whole on a bad CRC, bad compression or excessive nesting.
Result<DecodedPacket> decode_packet(ByteView packet, const DecodeLimits& limits = {});

// ---- TCP streams -----------------------------------------------------------

struct PushPullHeader {
  bool join = false;
  int64_t nodes = 0;
  int64_t user_state_len = 0;
  bool operator==(const PushPullHeader&) const = default;
};

struct PushNodeState {
  Bytes addr;
  uint32_t incarnation = 0;
  Bytes meta;
  std::string name;
  uint16_t port = 0;
  NodeState state = NodeState::kAlive;
  Bytes vsn;
  bool operator==(const PushNodeState&) const = default;
};

struct PushPull {
  bool join = false;
  std::vector<PushNodeState> nodes;
  Bytes user_state;  // delegate state (serf: serf push/pull message)
  bool operator==(const PushPull&) const = default;
};

// 0x06 | header | nodes | user state (header counts derived from the vectors).
Bytes encode_push_pull(const PushPull& pp);
struct StreamLimits {
  std::size_t max_nodes = 1u << 16;
  std::size_t max_user_state = kMaxPushStateBytes;
};
// msg starts with type 6. *consumed (if given) receives the bytes used, so
// trailing data can be detected.
Result<PushPull> decode_push_pull(ByteView msg, const StreamLimits& limits = {},
                                  std::size_t* consumed = nullptr);

// Type 8 on a stream: 0x08 | {UserMsgLen} | payload.
Bytes encode_stream_user(ByteView payload);
Result<Bytes> decode_stream_user(ByteView msg, std::size_t max_len = kMaxPushStateBytes);

// One inbound stream after decryption: peels compress layers and returns the
// inner message (starting with its type byte: 6, 0 or 8 in practice).
Result<Bytes> unwrap_stream(ByteView msg, std::size_t max_decompressed = kMaxPushStateBytes);

}  // namespace herd::membership::memberlist
