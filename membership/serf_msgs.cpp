// membership/serf_msgs.cpp — see serf_msgs.h.
#include "membership/serf_msgs.h"

#include <algorithm>
#include <type_traits>

namespace herd::membership::serf {
namespace {

using msgpack::Reader;
using msgpack::StructWriter;
using msgpack::Writer;

void write_fields(StructWriter& s, const LeaveIntent& m) {
  s.field("LTime").uint(m.ltime);
  s.field("Node").str(m.node);
  s.field("Prune").boolean(m.prune);
}

void write_fields(StructWriter& s, const JoinIntent& m) {
  s.field("LTime").uint(m.ltime);
  s.field("Node").str(m.node);
}

void write_fields(StructWriter& s, const UserEvent& m) {
  s.field("CC").boolean(m.cc);
  s.field("LTime").uint(m.ltime);
  s.field("Name").str(m.name);
  s.field("Payload").nilable_bin(m.payload);
}

void write_fields(StructWriter& s, const Query& m) {
  s.field("Addr").bin(m.addr);
  Writer& f = s.field("Filters");
  if (m.filters) {
    f.array_header(static_cast<uint32_t>(m.filters->size()));
    for (const auto& x : *m.filters) f.bin(x);
  } else {
    f.nil();
  }
  s.field("Flags").uint(m.flags);
  s.field("ID").uint(m.id);
  s.field("LTime").uint(m.ltime);
  s.field("Name").str(m.name);
  s.field("Payload").nilable_bin(m.payload);
  s.field("Port").uint(m.port);
  s.field("RelayFactor").uint(m.relay_factor);
  s.field("SourceNode").str(m.source_node);
  s.field("Timeout").sint(m.timeout_ns);
}

void write_fields(StructWriter& s, const QueryResponse& m) {
  s.field("Flags").uint(m.flags);
  s.field("From").str(m.from);
  s.field("ID").uint(m.id);
  s.field("LTime").uint(m.ltime);
  s.field("Payload").nilable_bin(m.payload);
}

void write_fields(StructWriter& s, const PushPull& m) {
  s.field("EventLTime").uint(m.event_ltime);
  Writer& ev = s.field("Events");
  if (m.events) {
    ev.array_header(static_cast<uint32_t>(m.events->size()));
    for (const auto& slot : *m.events) {
      if (!slot) {
        ev.nil();
        continue;
      }
      StructWriter ss(ev);
      Writer& list = ss.field("Events");
      list.array_header(static_cast<uint32_t>(slot->events.size()));
      for (const auto& e : slot->events) {
        StructWriter es(list);
        es.field("Name").str(e.name);
        es.field("Payload").nilable_bin(e.payload);
      }
      ss.field("LTime").uint(slot->ltime);
    }
  } else {
    ev.nil();
  }
  s.field("LTime").uint(m.ltime);
  Writer& left = s.field("LeftMembers");
  if (m.left_members) {
    left.array_header(static_cast<uint32_t>(m.left_members->size()));
    for (const auto& n : *m.left_members) left.str(n);
  } else {
    left.nil();
  }
  s.field("QueryLTime").uint(m.query_ltime);
  Writer& st = s.field("StatusLTimes");
  if (m.status_ltimes_nil && m.status_ltimes.empty()) {
    st.nil();
  } else {
    st.map_header(static_cast<uint32_t>(m.status_ltimes.size()));
    for (const auto& [name, lt] : m.status_ltimes) {
      st.str(name);
      st.uint(lt);
    }
  }
}

void write_fields(StructWriter& s, const KeyRequest& m) { s.field("Key").nilable_bin(m.key); }

void write_fields(StructWriter& s, const KeyResponse& m) {
  Writer& k = s.field("Keys");
  if (m.keys) {
    k.array_header(static_cast<uint32_t>(m.keys->size()));
    for (const auto& key : *m.keys) k.str(key);
  } else {
    k.nil();
  }
  s.field("Message").str(m.message);
  s.field("PrimaryKey").str(m.primary_key);
  s.field("Result").boolean(m.result);
}

bool read_fields(Reader& r, LeaveIntent& m) {
  return r.read_struct([&](std::string_view k) {
    if (k == "LTime") return r.read_uint(m.ltime);
    if (k == "Node") return r.read_str(m.node);
    if (k == "Prune") return r.read_bool(m.prune);
    return false;
  });
}

bool read_fields(Reader& r, JoinIntent& m) {
  return r.read_struct([&](std::string_view k) {
    if (k == "LTime") return r.read_uint(m.ltime);
    if (k == "Node") return r.read_str(m.node);
    return false;
  });
}

bool read_fields(Reader& r, UserEvent& m) {
  return r.read_struct([&](std::string_view k) {
    if (k == "CC") return r.read_bool(m.cc);
    if (k == "LTime") return r.read_uint(m.ltime);
    if (k == "Name") return r.read_str(m.name);
    if (k == "Payload") return r.read_nilable_bytes(m.payload);
    return false;
  });
}

// Reads an array (nil -> nullopt) whose elements are read by fn.
template <class T, class F>
bool read_list(Reader& r, std::optional<std::vector<T>>& out, F&& fn) {
  uint32_t n = 0;
  bool was_nil = false;
  if (!r.read_array_header(n, &was_nil)) return false;
  if (was_nil) {
    out.reset();
    return true;
  }
  if (!r.enter()) return false;
  out.emplace();
  out->reserve(std::min<uint32_t>(n, 1024));  // grow with real input, not the header
  for (uint32_t i = 0; i < n; ++i) {
    if (!fn(out->emplace_back())) break;
  }
  r.leave();
  return r.ok();
}

bool read_fields(Reader& r, Query& m) {
  return r.read_struct([&](std::string_view k) {
    if (k == "Addr") return r.read_bytes(m.addr);
    if (k == "Filters") return read_list(r, m.filters, [&](Bytes& b) { return r.read_bytes(b); });
    if (k == "Flags") return r.read_uint_as(m.flags);
    if (k == "ID") return r.read_uint_as(m.id);
    if (k == "LTime") return r.read_uint(m.ltime);
    if (k == "Name") return r.read_str(m.name);
    if (k == "Payload") return r.read_nilable_bytes(m.payload);
    if (k == "Port") return r.read_uint_as(m.port);
    if (k == "RelayFactor") return r.read_uint_as(m.relay_factor);
    if (k == "SourceNode") return r.read_str(m.source_node);
    if (k == "Timeout") return r.read_int(m.timeout_ns);
    return false;
  });
}

bool read_fields(Reader& r, QueryResponse& m) {
  return r.read_struct([&](std::string_view k) {
    if (k == "Flags") return r.read_uint_as(m.flags);
    if (k == "From") return r.read_str(m.from);
    if (k == "ID") return r.read_uint_as(m.id);
    if (k == "LTime") return r.read_uint(m.ltime);
    if (k == "Payload") return r.read_nilable_bytes(m.payload);
    return false;
  });
}

bool read_slot(Reader& r, std::optional<EventSlot>& slot) {
  if (r.try_nil()) {
    slot.reset();
    return true;
  }
  slot.emplace();
  return r.read_struct([&](std::string_view k) {
    if (k == "LTime") return r.read_uint(slot->ltime);
    if (k == "Events") {
      std::optional<std::vector<EventEntry>> list;
      if (!read_list(r, list, [&](EventEntry& e) {
            return r.read_struct([&](std::string_view ek) {
              if (ek == "Name") return r.read_str(e.name);
              if (ek == "Payload") return r.read_nilable_bytes(e.payload);
              return false;
            });
          })) {
        return false;
      }
      slot->events = list ? std::move(*list) : std::vector<EventEntry>{};
      return true;
    }
    return false;
  });
}

bool read_fields(Reader& r, PushPull& m) {
  return r.read_struct([&](std::string_view k) {
    if (k == "EventLTime") return r.read_uint(m.event_ltime);
    if (k == "Events")
      return read_list(r, m.events, [&](auto& slot) { return read_slot(r, slot); });
    if (k == "LTime") return r.read_uint(m.ltime);
    if (k == "LeftMembers") {
      return read_list(r, m.left_members, [&](std::string& s) { return r.read_str(s); });
    }
    if (k == "QueryLTime") return r.read_uint(m.query_ltime);
    if (k == "StatusLTimes") {
      uint32_t n = 0;
      if (!r.read_map_header(n, &m.status_ltimes_nil)) return false;
      m.status_ltimes.clear();
      for (uint32_t i = 0; i < n && r.ok(); ++i) {
        std::pair<std::string, uint64_t> e;
        if (r.read_str(e.first) && r.read_uint(e.second)) m.status_ltimes.push_back(std::move(e));
      }
      return r.ok();
    }
    return false;
  });
}

bool read_fields(Reader& r, KeyRequest& m) {
  return r.read_struct([&](std::string_view k) {
    if (k == "Key") return r.read_nilable_bytes(m.key);
    return false;
  });
}

bool read_fields(Reader& r, KeyResponse& m) {
  return r.read_struct([&](std::string_view k) {
    if (k == "Keys") return read_list(r, m.keys, [&](std::string& s) { return r.read_str(s); });
    if (k == "Message") return r.read_str(m.message);
    if (k == "PrimaryKey") return r.read_str(m.primary_key);
    if (k == "Result") return r.read_bool(m.result);
    return false;
  });
}

bool read_fields(Reader& r, Relay& m) {
  const bool ok = r.read_struct([&](std::string_view k) {
    if (k == "DestName") return r.read_str(m.dest_name);
    if (k == "DestAddr") {
      return r.read_struct([&](std::string_view ak) {
        if (ak == "IP") return r.read_bytes(m.dest_ip);
        if (ak == "Port") return r.read_int(m.dest_port);
        if (ak == "Zone") return r.read_str(m.dest_zone);
        return false;
      });
    }
    return false;
  });
  if (!ok) return false;
  const auto rest = r.rest();
  m.inner.assign(rest.begin(), rest.end());
  ByteView all;
  return r.read_raw(rest.size(), all);
}

void write_relay(Writer& w, const Relay& m) {
  {
    StructWriter s(w);
    StructWriter addr(s.field("DestAddr"));
    addr.field("IP").bin(m.dest_ip);
    addr.field("Port").sint(m.dest_port);
    addr.field("Zone").str(m.dest_zone);
    addr.finish();
    s.field("DestName").str(m.dest_name);
  }
  w.raw(m.inner);
}

}  // namespace

MessageType message_type(const Message& m) {
  return std::visit(
      [](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, LeaveIntent>) return MessageType::kLeave;
        if constexpr (std::is_same_v<T, JoinIntent>) return MessageType::kJoin;
        if constexpr (std::is_same_v<T, PushPull>) return MessageType::kPushPull;
        if constexpr (std::is_same_v<T, UserEvent>) return MessageType::kUserEvent;
        if constexpr (std::is_same_v<T, Query>) return MessageType::kQuery;
        if constexpr (std::is_same_v<T, QueryResponse>) return MessageType::kQueryResponse;
        if constexpr (std::is_same_v<T, KeyRequest>) return MessageType::kKeyRequest;
        if constexpr (std::is_same_v<T, KeyResponse>) return MessageType::kKeyResponse;
        if constexpr (std::is_same_v<T, Relay>) return MessageType::kRelay;
      },
      m);
}

Bytes encode(const Message& m) {
  Writer w;
  Bytes type{static_cast<uint8_t>(message_type(m))};
  w.raw(type);
  std::visit(
      [&](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, Relay>) {
          write_relay(w, v);
        } else {
          StructWriter s(w);
          write_fields(s, v);
        }
      },
      m);
  return w.take();
}

Result<Message> decode(ByteView msg) {
  if (msg.empty()) return WireError{WireErrc::kTruncated, "empty serf message"};
  Reader r(msg.subspan(1));
  auto body = [&](auto value) -> Result<Message> {
    if (!read_fields(r, value)) return msgpack_error(r, "serf body");
    return Message(std::move(value));
  };
  switch (static_cast<MessageType>(msg[0])) {
    case MessageType::kLeave:
      return body(LeaveIntent{});
    case MessageType::kJoin:
      return body(JoinIntent{});
    case MessageType::kPushPull:
      return body(PushPull{});
    case MessageType::kUserEvent:
      return body(UserEvent{});
    case MessageType::kQuery:
      return body(Query{});
    case MessageType::kQueryResponse:
      return body(QueryResponse{});
    case MessageType::kKeyRequest:
      return body(KeyRequest{});
    case MessageType::kKeyResponse:
      return body(KeyResponse{});
    case MessageType::kRelay:
      return body(Relay{});
    default:
      return WireError{WireErrc::kUnknownType, "serf message type " + std::to_string(msg[0])};
  }
}

// ---- tags ------------------------------------------------------------------------

Bytes encode_tags(const Tags& tags) {
  Writer w;
  Bytes magic{kTagMagicByte};
  w.raw(magic);
  w.map_header(static_cast<uint32_t>(tags.size()));
  for (const auto& [k, v] : tags) {  // std::map: sorted byte order
    w.str(k);
    w.str(v);
  }
  return w.take();
}

Result<Tags> decode_tags(ByteView meta) {
  Tags tags;
  if (meta.empty() || meta[0] != kTagMagicByte) {
    tags.emplace("role", std::string(as_chars(meta)));
    return tags;
  }
  Reader r(meta.subspan(1));
  uint32_t n = 0;
  if (r.read_map_header(n)) {
    for (uint32_t i = 0; i < n && r.ok(); ++i) {
      std::string k;
      std::string v;
      if (r.read_str(k) && r.read_str(v)) tags[std::move(k)] = std::move(v);
    }
  }
  if (!r.ok()) return msgpack_error(r, "tags");
  return tags;
}

// ---- coordinate --------------------------------------------------------------------

Bytes encode_ping_payload(const Coordinate& c) {
  Writer w;
  Bytes version{kPingVersion};
  w.raw(version);
  StructWriter s(w);
  s.field("Adjustment").f64(c.adjustment);
  s.field("Error").f64(c.error);
  s.field("Height").f64(c.height);
  Writer& v = s.field("Vec");
  v.array_header(static_cast<uint32_t>(c.vec.size()));
  for (double x : c.vec) v.f64(x);
  s.finish();
  return w.take();
}

Result<Coordinate> decode_ping_payload(ByteView payload) {
  if (payload.empty()) return WireError{WireErrc::kTruncated, "empty ping payload"};
  if (payload[0] != kPingVersion) {
    return WireError{WireErrc::kInvalid, "ping payload version " + std::to_string(payload[0])};
  }
  Reader r(payload.subspan(1));
  Coordinate c;
  r.read_struct([&](std::string_view k) {
    if (k == "Adjustment") return r.read_float(c.adjustment);
    if (k == "Error") return r.read_float(c.error);
    if (k == "Height") return r.read_float(c.height);
    if (k == "Vec") {
      uint32_t n = 0;
      if (!r.read_array_header(n)) return false;
      c.vec.assign(n, 0.0);
      for (auto& x : c.vec) {
        if (!r.read_float(x)) return false;
      }
      return true;
    }
    return false;
  });
  if (!r.ok()) return msgpack_error(r, "coordinate");
  return c;
}

// ---- filters -------------------------------------------------------------------------

Bytes encode_filter(const Filter& f) {
  Writer w;
  if (const auto* nf = std::get_if<NodeFilter>(&f)) {
    Bytes type{kFilterNode};
    w.raw(type);
    w.array_header(static_cast<uint32_t>(nf->nodes.size()));
    for (const auto& n : nf->nodes) w.str(n);
  } else {
    const auto& tf = std::get<TagFilter>(f);
    Bytes type{kFilterTag};
    w.raw(type);
    StructWriter s(w);
    s.field("Expr").str(tf.expr);
    s.field("Tag").str(tf.tag);
  }
  return w.take();
}

Result<Filter> decode_filter(ByteView f) {
  if (f.empty()) return WireError{WireErrc::kTruncated, "empty filter"};
  Reader r(f.subspan(1));
  if (f[0] == kFilterNode) {
    NodeFilter nf;
    uint32_t n = 0;
    if (r.read_array_header(n)) {
      nf.nodes.resize(n);
      for (auto& s : nf.nodes) {
        if (!r.read_str(s)) break;
      }
    }
    if (!r.ok()) return msgpack_error(r, "node filter");
    return Filter(std::move(nf));
  }
  if (f[0] == kFilterTag) {
    TagFilter tf;
    r.read_struct([&](std::string_view k) {
      if (k == "Tag") return r.read_str(tf.tag);
      if (k == "Expr") return r.read_str(tf.expr);
      return false;
    });
    if (!r.ok()) return msgpack_error(r, "tag filter");
    return Filter(std::move(tf));
  }
  return WireError{WireErrc::kUnknownType, "filter type " + std::to_string(f[0])};
}

}  // namespace herd::membership::serf
