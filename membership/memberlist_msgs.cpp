// membership/memberlist_msgs.cpp — see memberlist_msgs.h.
#include "membership/memberlist_msgs.h"

#include <type_traits>

#include "membership/crc32.h"
#include "membership/lzw.h"

namespace herd::membership::memberlist {
namespace {

using msgpack::Reader;
using msgpack::StructWriter;
using msgpack::Writer;

void write_fields(StructWriter& s, const Ping& m) {
  s.field("Node").str(m.node);
  s.field("SeqNo").uint(m.seq_no);
  if (!m.source_addr.empty()) s.field("SourceAddr").bin(m.source_addr);
  if (!m.source_node.empty()) s.field("SourceNode").str(m.source_node);
  if (m.source_port != 0) s.field("SourcePort").uint(m.source_port);
}

void write_fields(StructWriter& s, const IndirectPing& m) {
  s.field("Nack").boolean(m.nack);
  s.field("Node").str(m.node);
  s.field("Port").uint(m.port);
  s.field("SeqNo").uint(m.seq_no);
  if (!m.source_addr.empty()) s.field("SourceAddr").bin(m.source_addr);
  if (!m.source_node.empty()) s.field("SourceNode").str(m.source_node);
  if (m.source_port != 0) s.field("SourcePort").uint(m.source_port);
  s.field("Target").bin(m.target);
}

void write_fields(StructWriter& s, const AckResp& m) {
  s.field("Payload").nilable_bin(m.payload);
  s.field("SeqNo").uint(m.seq_no);
}

void write_fields(StructWriter& s, const NackResp& m) { s.field("SeqNo").uint(m.seq_no); }

template <class T>
void write_accusation(StructWriter& s, const T& m) {
  s.field("From").str(m.from);
  s.field("Incarnation").uint(m.incarnation);
  s.field("Node").str(m.node);
}
void write_fields(StructWriter& s, const Suspect& m) { write_accusation(s, m); }
void write_fields(StructWriter& s, const Dead& m) { write_accusation(s, m); }

void write_fields(StructWriter& s, const Alive& m) {
  s.field("Addr").bin(m.addr);
  s.field("Incarnation").uint(m.incarnation);
  s.field("Meta").bin(m.meta);
  s.field("Node").str(m.node);
  s.field("Port").uint(m.port);
  s.field("Vsn").bin(m.vsn);
}

void write_fields(StructWriter& s, const ErrResp& m) { s.field("Error").str(m.error); }

bool read_fields(Reader& r, Ping& m) {
  return r.read_struct([&](std::string_view k) {
    if (k == "Node") return r.read_str(m.node);
    if (k == "SeqNo") return r.read_uint_as(m.seq_no);
    if (k == "SourceAddr") return r.read_bytes(m.source_addr);
    if (k == "SourceNode") return r.read_str(m.source_node);
    if (k == "SourcePort") return r.read_uint_as(m.source_port);
    return false;
  });
}

bool read_fields(Reader& r, IndirectPing& m) {
  return r.read_struct([&](std::string_view k) {
    if (k == "Nack") return r.read_bool(m.nack);
    if (k == "Node") return r.read_str(m.node);
    if (k == "Port") return r.read_uint_as(m.port);
    if (k == "SeqNo") return r.read_uint_as(m.seq_no);
    if (k == "SourceAddr") return r.read_bytes(m.source_addr);
    if (k == "SourceNode") return r.read_str(m.source_node);
    if (k == "SourcePort") return r.read_uint_as(m.source_port);
    if (k == "Target") return r.read_bytes(m.target);
    return false;
  });
}

bool read_fields(Reader& r, AckResp& m) {
  return r.read_struct([&](std::string_view k) {
    if (k == "Payload") return r.read_nilable_bytes(m.payload);
    if (k == "SeqNo") return r.read_uint_as(m.seq_no);
    return false;
  });
}

bool read_fields(Reader& r, NackResp& m) {
  return r.read_struct([&](std::string_view k) {
    if (k == "SeqNo") return r.read_uint_as(m.seq_no);
    return false;
  });
}

template <class T>
bool read_accusation(Reader& r, T& m) {
  return r.read_struct([&](std::string_view k) {
    if (k == "From") return r.read_str(m.from);
    if (k == "Incarnation") return r.read_uint_as(m.incarnation);
    if (k == "Node") return r.read_str(m.node);
    return false;
  });
}
bool read_fields(Reader& r, Suspect& m) { return read_accusation(r, m); }
bool read_fields(Reader& r, Dead& m) { return read_accusation(r, m); }

bool read_fields(Reader& r, Alive& m) {
  return r.read_struct([&](std::string_view k) {
    if (k == "Addr") return r.read_bytes(m.addr);
    if (k == "Incarnation") return r.read_uint_as(m.incarnation);
    if (k == "Meta") return r.read_bytes(m.meta);
    if (k == "Node") return r.read_str(m.node);
    if (k == "Port") return r.read_uint_as(m.port);
    if (k == "Vsn") return r.read_bytes(m.vsn);
    return false;
  });
}

bool read_fields(Reader& r, ErrResp& m) {
  return r.read_struct([&](std::string_view k) {
    if (k == "Error") return r.read_str(m.error);
    return false;
  });
}

bool read_fields(Reader& r, PushPullHeader& m) {
  return r.read_struct([&](std::string_view k) {
    if (k == "Join") return r.read_bool(m.join);
    if (k == "Nodes") return r.read_int(m.nodes);
    if (k == "UserStateLen") return r.read_int(m.user_state_len);
    return false;
  });
}

bool read_fields(Reader& r, PushNodeState& m) {
  return r.read_struct([&](std::string_view k) {
    if (k == "Addr") return r.read_bytes(m.addr);
    if (k == "Incarnation") return r.read_uint_as(m.incarnation);
    if (k == "Meta") return r.read_bytes(m.meta);
    if (k == "Name") return r.read_str(m.name);
    if (k == "Port") return r.read_uint_as(m.port);
    if (k == "State") {
      int64_t st = 0;
      if (!r.read_int(st)) return false;
      if (st < 0 || st > 3) return r.fail(msgpack::Errc::kInvalid);
      m.state = static_cast<NodeState>(st);
      return true;
    }
    if (k == "Vsn") return r.read_bytes(m.vsn);
    return false;
  });
}

void put_be32(Bytes& out, uint32_t v) {
  for (int i = 3; i >= 0; --i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

}  // namespace

MessageType message_type(const Message& m) {
  return std::visit(
      [](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, Ping>) return MessageType::kPing;
        if constexpr (std::is_same_v<T, IndirectPing>) return MessageType::kIndirectPing;
        if constexpr (std::is_same_v<T, AckResp>) return MessageType::kAckResp;
        if constexpr (std::is_same_v<T, Suspect>) return MessageType::kSuspect;
        if constexpr (std::is_same_v<T, Alive>) return MessageType::kAlive;
        if constexpr (std::is_same_v<T, Dead>) return MessageType::kDead;
        if constexpr (std::is_same_v<T, NackResp>) return MessageType::kNackResp;
        if constexpr (std::is_same_v<T, ErrResp>) return MessageType::kErr;
        if constexpr (std::is_same_v<T, UserMsg>) return MessageType::kUser;
      },
      m);
}

void write_body(Writer& w, const Message& m) {
  std::visit(
      [&](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, UserMsg>) {
          w.raw(v.payload);
        } else {
          StructWriter s(w);
          write_fields(s, v);
        }
      },
      m);
}

Bytes encode(const Message& m) {
  Writer w;
  Bytes type{static_cast<uint8_t>(message_type(m))};
  w.raw(type);
  write_body(w, m);
  return w.take();
}

Result<Message> decode(ByteView msg) {
  if (msg.empty()) return WireError{WireErrc::kTruncated, "empty message"};
  Reader r(msg.subspan(1));
  auto body = [&](auto value) -> Result<Message> {
    if (!read_fields(r, value)) return msgpack_error(r, "memberlist body");
    return Message(std::move(value));
  };
  switch (static_cast<MessageType>(msg[0])) {
    case MessageType::kPing:
      return body(Ping{});
    case MessageType::kIndirectPing:
      return body(IndirectPing{});
    case MessageType::kAckResp:
      return body(AckResp{});
    case MessageType::kSuspect:
      return body(Suspect{});
    case MessageType::kAlive:
      return body(Alive{});
    case MessageType::kDead:
      return body(Dead{});
    case MessageType::kNackResp:
      return body(NackResp{});
    case MessageType::kErr:
      return body(ErrResp{});
    case MessageType::kUser:
      return Message(UserMsg{Bytes(msg.begin() + 1, msg.end())});
    default:
      return WireError{WireErrc::kUnknownType,
                       "message type " + std::to_string(msg[0]) + " is not a leaf message"};
  }
}

// ---- layers ----------------------------------------------------------------

Bytes wrap_crc(ByteView inner) {
  Bytes out{static_cast<uint8_t>(MessageType::kHasCrc)};
  put_be32(out, crc32_ieee(inner));
  out.insert(out.end(), inner.begin(), inner.end());
  return out;
}

Result<ByteView> unwrap_crc(ByteView msg) {
  if (msg.empty() || msg[0] != static_cast<uint8_t>(MessageType::kHasCrc)) {
    return WireError{WireErrc::kUnknownType, "not a hasCrc message"};
  }
  if (msg.size() < 5) return WireError{WireErrc::kTruncated, "hasCrc header"};
  const uint32_t want = (uint32_t{msg[1]} << 24) | (uint32_t{msg[2]} << 16) |
                        (uint32_t{msg[3]} << 8) | uint32_t{msg[4]};
  ByteView inner = msg.subspan(5);
  if (crc32_ieee(inner) != want) return WireError{WireErrc::kBadCrc, "crc mismatch"};
  return inner;
}

Bytes make_compound(std::span<const Bytes> parts) {
  Bytes out{static_cast<uint8_t>(MessageType::kCompound), static_cast<uint8_t>(parts.size())};
  for (const auto& p : parts) {
    out.push_back(static_cast<uint8_t>(p.size() >> 8));
    out.push_back(static_cast<uint8_t>(p.size()));
  }
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

Result<CompoundParts> split_compound(ByteView msg) {
  if (msg.empty() || msg[0] != static_cast<uint8_t>(MessageType::kCompound)) {
    return WireError{WireErrc::kUnknownType, "not a compound message"};
  }
  if (msg.size() < 2) return WireError{WireErrc::kTruncated, "compound count"};
  const std::size_t n = msg[1];
  ByteView rest = msg.subspan(2);
  if (rest.size() < 2 * n) return WireError{WireErrc::kTruncated, "compound lengths"};
  CompoundParts out;
  std::size_t off = 2 * n;
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t len = (std::size_t{rest[2 * i]} << 8) | rest[2 * i + 1];
    if (rest.size() - off < len) {
      out.truncated = n - i;
      break;
    }
    out.parts.push_back(rest.subspan(off, len));
    off += len;
  }
  return out;
}

Bytes wrap_compress(ByteView inner) {
  Writer w;
  Bytes type{static_cast<uint8_t>(MessageType::kCompress)};
  w.raw(type);
  {
    StructWriter s(w);
    s.field("Algo").uint(kAlgoLzw);
    s.field("Buf").bin(lzw_compress(inner));
  }
  return w.take();
}

Result<Bytes> unwrap_compress(ByteView msg, std::size_t max_out) {
  if (msg.empty() || msg[0] != static_cast<uint8_t>(MessageType::kCompress)) {
    return WireError{WireErrc::kUnknownType, "not a compress message"};
  }
  Reader r(msg.subspan(1));
  uint64_t algo = 0;
  ByteView buf;
  bool have_buf = false;
  r.read_struct([&](std::string_view k) {
    if (k == "Algo") return r.read_uint(algo);
    if (k == "Buf") {
      have_buf = true;
      return r.read_bytes_view(buf);
    }
    return false;
  });
  if (!r.ok()) return msgpack_error(r, "compress");
  if (algo != kAlgoLzw) {
    return WireError{WireErrc::kBadCompression, "unknown algo " + std::to_string(algo)};
  }
  if (!have_buf) return WireError{WireErrc::kBadCompression, "missing Buf"};
  auto out = lzw_decompress(buf, max_out);
  if (!out) return WireError{WireErrc::kBadCompression, "corrupt or oversized lzw stream"};
  return std::move(*out);
}

namespace {

// Returns false when the whole packet must be dropped (err set).
bool peel(ByteView msg, const DecodeLimits& limits, unsigned depth, DecodedPacket& out,
          WireError& err) {
  if (depth > limits.max_layers) {
    err = {WireErrc::kTooDeep, "too many nested layers"};
    return false;
  }
  if (msg.empty()) {
    out.dropped.push_back({WireErrc::kTruncated, "empty message"});
    return true;
  }
  switch (static_cast<MessageType>(msg[0])) {
    case MessageType::kHasCrc: {
      auto inner = unwrap_crc(msg);
      if (!inner) {
        err = inner.error();
        return false;
      }
      return peel(*inner, limits, depth + 1, out, err);
    }
    case MessageType::kCompress: {
      auto inner = unwrap_compress(msg, limits.max_decompressed);
      if (!inner) {
        err = inner.error();
        return false;
      }
      return peel(*inner, limits, depth + 1, out, err);
    }
    case MessageType::kCompound: {
      auto parts = split_compound(msg);
      if (!parts) {
        err = parts.error();
        return false;
      }
      out.truncated_parts += parts->truncated;
      for (ByteView p : parts->parts) {
        if (!peel(p, limits, depth + 1, out, err)) return false;
      }
      return true;
    }
    default: {
      auto m = decode(msg);
      if (m) {
        out.messages.push_back(std::move(*m));
      } else {
        out.dropped.push_back(m.error());
      }
      return true;
    }
  }
}

}  // namespace

Result<DecodedPacket> decode_packet(ByteView packet, const DecodeLimits& limits) {
  DecodedPacket out;
  WireError err;
  if (!peel(packet, limits, 0, out, err)) return err;
  return out;
}

// ---- streams -----------------------------------------------------------------

Bytes encode_push_pull(const PushPull& pp) {
  Writer w;
  Bytes type{static_cast<uint8_t>(MessageType::kPushPull)};
  w.raw(type);
  {
    StructWriter s(w);
    s.field("Join").boolean(pp.join);
    s.field("Nodes").uint(pp.nodes.size());
    s.field("UserStateLen").uint(pp.user_state.size());
  }
  for (const auto& n : pp.nodes) {
    StructWriter s(w);
    s.field("Addr").bin(n.addr);
    s.field("Incarnation").uint(n.incarnation);
    s.field("Meta").bin(n.meta);
    s.field("Name").str(n.name);
    s.field("Port").uint(n.port);
    s.field("State").uint(static_cast<uint8_t>(n.state));
    s.field("Vsn").bin(n.vsn);
  }
  w.raw(pp.user_state);
  return w.take();
}

Result<PushPull> decode_push_pull(ByteView msg, const StreamLimits& limits, std::size_t* consumed) {
  if (msg.empty() || msg[0] != static_cast<uint8_t>(MessageType::kPushPull)) {
    return WireError{WireErrc::kUnknownType, "not a push/pull message"};
  }
  Reader r(msg.subspan(1));
  PushPullHeader h;
  if (!read_fields(r, h)) return msgpack_error(r, "push/pull header");
  if (h.nodes < 0 || static_cast<uint64_t>(h.nodes) > limits.max_nodes) {
    return WireError{WireErrc::kTooLarge, "push/pull node count " + std::to_string(h.nodes)};
  }
  if (h.user_state_len < 0 || static_cast<uint64_t>(h.user_state_len) > limits.max_user_state) {
    return WireError{WireErrc::kTooLarge, "push/pull user state length"};
  }
  if (static_cast<uint64_t>(h.nodes) > r.remaining()) {
    return WireError{WireErrc::kTruncated, "push/pull nodes"};
  }
  PushPull pp;
  pp.join = h.join;
  pp.nodes.resize(static_cast<std::size_t>(h.nodes));
  for (auto& n : pp.nodes) {
    if (!read_fields(r, n)) return msgpack_error(r, "push/pull node state");
  }
  ByteView us;
  if (!r.read_raw(static_cast<std::size_t>(h.user_state_len), us)) {
    return WireError{WireErrc::kTruncated, "push/pull user state"};
  }
  pp.user_state.assign(us.begin(), us.end());
  if (consumed) *consumed = 1 + r.offset();
  return pp;
}

Bytes encode_stream_user(ByteView payload) {
  Writer w;
  Bytes type{static_cast<uint8_t>(MessageType::kUser)};
  w.raw(type);
  {
    StructWriter s(w);
    s.field("UserMsgLen").uint(payload.size());
  }
  w.raw(payload);
  return w.take();
}

Result<Bytes> decode_stream_user(ByteView msg, std::size_t max_len) {
  if (msg.empty() || msg[0] != static_cast<uint8_t>(MessageType::kUser)) {
    return WireError{WireErrc::kUnknownType, "not a user message"};
  }
  Reader r(msg.subspan(1));
  int64_t len = 0;
  r.read_struct([&](std::string_view k) {
    if (k == "UserMsgLen") return r.read_int(len);
    return false;
  });
  if (!r.ok()) return msgpack_error(r, "stream user header");
  if (len < 0 || static_cast<uint64_t>(len) > max_len) {
    return WireError{WireErrc::kTooLarge, "stream user length"};
  }
  ByteView payload;
  if (!r.read_raw(static_cast<std::size_t>(len), payload)) {
    return WireError{WireErrc::kTruncated, "stream user payload"};
  }
  return Bytes(payload.begin(), payload.end());
}

Result<Bytes> unwrap_stream(ByteView msg, std::size_t max_decompressed) {
  Bytes cur(msg.begin(), msg.end());
  for (int layers = 0; layers < 4; ++layers) {
    if (cur.empty()) return WireError{WireErrc::kTruncated, "empty stream"};
    if (cur[0] != static_cast<uint8_t>(MessageType::kCompress)) return cur;
    auto inner = unwrap_compress(cur, max_decompressed);
    if (!inner) return inner.error();
    cur = std::move(*inner);
  }
  return WireError{WireErrc::kTooDeep, "nested compression"};
}

}  // namespace herd::membership::memberlist
