// membership/rpc_msgs.cpp — see rpc_msgs.h.
#include "membership/rpc_msgs.h"

#include <algorithm>

namespace herd::membership::rpc {
namespace {

using msgpack::Reader;
using msgpack::StructWriter;
using msgpack::Writer;

void write_string_map(Writer& w, const StringMap& m) {
  w.map_header(static_cast<uint32_t>(m.size()));
  for (const auto& [k, v] : m) {
    w.str(k);
    w.str(v);
  }
}

bool read_string_map(Reader& r, StringMap& m) {
  uint32_t n = 0;
  if (!r.read_map_header(n)) return false;
  m.clear();
  for (uint32_t i = 0; i < n && r.ok(); ++i) {
    std::string k;
    std::string v;
    if (r.read_str(k) && r.read_str(v)) m[std::move(k)] = std::move(v);
  }
  return r.ok();
}

void write_strings(Writer& w, const std::vector<std::string>& v) {
  w.array_header(static_cast<uint32_t>(v.size()));
  for (const auto& s : v) w.str(s);
}

bool read_strings(Reader& r, std::vector<std::string>& v, bool* was_nil = nullptr) {
  uint32_t n = 0;
  if (!r.read_array_header(n, was_nil)) return false;
  v.clear();
  for (uint32_t i = 0; i < n && r.ok(); ++i) r.read_str(v.emplace_back());
  return r.ok();
}

void write_opt_strings(Writer& w, const std::optional<std::vector<std::string>>& v) {
  if (v) {
    write_strings(w, *v);
  } else {
    w.nil();
  }
}

bool read_opt_strings(Reader& r, std::optional<std::vector<std::string>>& v) {
  std::vector<std::string> tmp;
  bool was_nil = false;
  if (!read_strings(r, tmp, &was_nil)) return false;
  if (was_nil) {
    v.reset();
  } else {
    v = std::move(tmp);
  }
  return true;
}

template <class T, class F>
bool read_vector(Reader& r, std::vector<T>& out, F&& fn) {
  uint32_t n = 0;
  if (!r.read_array_header(n)) return false;
  if (!r.enter()) return false;
  out.clear();
  out.reserve(std::min<uint32_t>(n, 1024));
  for (uint32_t i = 0; i < n && r.ok(); ++i) fn(out.emplace_back());
  r.leave();
  return r.ok();
}

}  // namespace

// ---- headers ---------------------------------------------------------------------

void write(Writer& w, const RequestHeader& v) {
  StructWriter s(w);
  s.field("Command").str(v.command);
  s.field("Seq").uint(v.seq);
}
bool read(Reader& r, RequestHeader& v) {
  return r.read_struct([&](std::string_view k) {
    if (k == "Command") return r.read_str(v.command);
    if (k == "Seq") return r.read_uint(v.seq);
    return false;
  });
}

void write(Writer& w, const ResponseHeader& v) {
  StructWriter s(w);
  s.field("Error").str(v.error);
  s.field("Seq").uint(v.seq);
}
bool read(Reader& r, ResponseHeader& v) {
  return r.read_struct([&](std::string_view k) {
    if (k == "Error") return r.read_str(v.error);
    if (k == "Seq") return r.read_uint(v.seq);
    return false;
  });
}

// ---- requests and responses ------------------------------------------------------

void write(Writer& w, const HandshakeRequest& v) {
  StructWriter s(w);
  s.field("Version").sint(v.version);
}
bool read(Reader& r, HandshakeRequest& v) {
  return r.read_struct([&](std::string_view k) {
    if (k == "Version") return r.read_int32(v.version);
    return false;
  });
}

void write(Writer& w, const AuthRequest& v) {
  StructWriter s(w);
  s.field("AuthKey").str(v.auth_key);
}
bool read(Reader& r, AuthRequest& v) {
  return r.read_struct([&](std::string_view k) {
    if (k == "AuthKey") return r.read_str(v.auth_key);
    return false;
  });
}

void write(Writer& w, const MembersFilteredRequest& v) {
  StructWriter s(w);
  s.field("Name").str(v.name);
  s.field("Status").str(v.status);
  write_string_map(s.field("Tags"), v.tags);
}
bool read(Reader& r, MembersFilteredRequest& v) {
  return r.read_struct([&](std::string_view k) {
    if (k == "Name") return r.read_str(v.name);
    if (k == "Status") return r.read_str(v.status);
    if (k == "Tags") return read_string_map(r, v.tags);
    return false;
  });
}

void write(Writer& w, const Member& v) {
  StructWriter s(w);
  s.field("Addr").bin(v.addr);
  s.field("DelegateCur").uint(v.delegate_cur);
  s.field("DelegateMax").uint(v.delegate_max);
  s.field("DelegateMin").uint(v.delegate_min);
  s.field("Name").str(v.name);
  s.field("Port").uint(v.port);
  s.field("ProtocolCur").uint(v.protocol_cur);
  s.field("ProtocolMax").uint(v.protocol_max);
  s.field("ProtocolMin").uint(v.protocol_min);
  s.field("Status").str(v.status);
  write_string_map(s.field("Tags"), v.tags);
}
bool read(Reader& r, Member& v) {
  return r.read_struct([&](std::string_view k) {
    if (k == "Addr") return r.read_bytes(v.addr);
    if (k == "DelegateCur") return r.read_uint_as(v.delegate_cur);
    if (k == "DelegateMax") return r.read_uint_as(v.delegate_max);
    if (k == "DelegateMin") return r.read_uint_as(v.delegate_min);
    if (k == "Name") return r.read_str(v.name);
    if (k == "Port") return r.read_uint_as(v.port);
    if (k == "ProtocolCur") return r.read_uint_as(v.protocol_cur);
    if (k == "ProtocolMax") return r.read_uint_as(v.protocol_max);
    if (k == "ProtocolMin") return r.read_uint_as(v.protocol_min);
    if (k == "Status") return r.read_str(v.status);
    if (k == "Tags") return read_string_map(r, v.tags);
    return false;
  });
}

static void write_members(Writer& w, const std::vector<Member>& members) {
  w.array_header(static_cast<uint32_t>(members.size()));
  for (const auto& m : members) write(w, m);
}

void write(Writer& w, const MembersResponse& v) {
  StructWriter s(w);
  write_members(s.field("Members"), v.members);
}
bool read(Reader& r, MembersResponse& v) {
  return r.read_struct([&](std::string_view k) {
    if (k == "Members") return read_vector(r, v.members, [&](Member& m) { read(r, m); });
    return false;
  });
}

void write(Writer& w, const JoinRequest& v) {
  StructWriter s(w);
  write_strings(s.field("Existing"), v.existing);
  s.field("Replay").boolean(v.replay);
}
bool read(Reader& r, JoinRequest& v) {
  return r.read_struct([&](std::string_view k) {
    if (k == "Existing") return read_strings(r, v.existing);
    if (k == "Replay") return r.read_bool(v.replay);
    return false;
  });
}

void write(Writer& w, const JoinResponse& v) {
  StructWriter s(w);
  s.field("Num").sint(v.num);
}
bool read(Reader& r, JoinResponse& v) {
  return r.read_struct([&](std::string_view k) {
    if (k == "Num") return r.read_int32(v.num);
    return false;
  });
}

void write(Writer& w, const ForceLeaveRequest& v) {
  StructWriter s(w);
  s.field("Node").str(v.node);
  s.field("Prune").boolean(v.prune);
}
bool read(Reader& r, ForceLeaveRequest& v) {
  return r.read_struct([&](std::string_view k) {
    if (k == "Node") return r.read_str(v.node);
    if (k == "Prune") return r.read_bool(v.prune);
    return false;
  });
}

void write(Writer& w, const EventRequest& v) {
  StructWriter s(w);
  s.field("Coalesce").boolean(v.coalesce);
  s.field("Name").str(v.name);
  s.field("Payload").nilable_bin(v.payload);
}
bool read(Reader& r, EventRequest& v) {
  return r.read_struct([&](std::string_view k) {
    if (k == "Coalesce") return r.read_bool(v.coalesce);
    if (k == "Name") return r.read_str(v.name);
    if (k == "Payload") return r.read_nilable_bytes(v.payload);
    return false;
  });
}

void write(Writer& w, const TagsRequest& v) {
  StructWriter s(w);
  write_opt_strings(s.field("DeleteTags"), v.delete_tags);
  write_string_map(s.field("Tags"), v.tags);
}
bool read(Reader& r, TagsRequest& v) {
  return r.read_struct([&](std::string_view k) {
    if (k == "DeleteTags") return read_opt_strings(r, v.delete_tags);
    if (k == "Tags") return read_string_map(r, v.tags);
    return false;
  });
}

void write(Writer& w, const StreamRequest& v) {
  StructWriter s(w);
  s.field("Type").str(v.type);
}
bool read(Reader& r, StreamRequest& v) {
  return r.read_struct([&](std::string_view k) {
    if (k == "Type") return r.read_str(v.type);
    return false;
  });
}

void write(Writer& w, const MonitorRequest& v) {
  StructWriter s(w);
  s.field("LogLevel").str(v.log_level);
}
bool read(Reader& r, MonitorRequest& v) {
  return r.read_struct([&](std::string_view k) {
    if (k == "LogLevel") return r.read_str(v.log_level);
    return false;
  });
}

void write(Writer& w, const StopRequest& v) {
  StructWriter s(w);
  s.field("Stop").uint(v.stop);
}
bool read(Reader& r, StopRequest& v) {
  return r.read_struct([&](std::string_view k) {
    if (k == "Stop") return r.read_uint(v.stop);
    return false;
  });
}

void write(Writer& w, const QueryRequest& v) {
  StructWriter s(w);
  write_opt_strings(s.field("FilterNodes"), v.filter_nodes);
  write_string_map(s.field("FilterTags"), v.filter_tags);
  s.field("Name").str(v.name);
  s.field("Payload").nilable_bin(v.payload);
  s.field("RelayFactor").uint(v.relay_factor);
  s.field("RequestAck").boolean(v.request_ack);
  s.field("Timeout").sint(v.timeout_ns);
}
bool read(Reader& r, QueryRequest& v) {
  return r.read_struct([&](std::string_view k) {
    if (k == "FilterNodes") return read_opt_strings(r, v.filter_nodes);
    if (k == "FilterTags") return read_string_map(r, v.filter_tags);
    if (k == "Name") return r.read_str(v.name);
    if (k == "Payload") return r.read_nilable_bytes(v.payload);
    if (k == "RelayFactor") return r.read_uint_as(v.relay_factor);
    if (k == "RequestAck") return r.read_bool(v.request_ack);
    if (k == "Timeout") return r.read_int(v.timeout_ns);
    return false;
  });
}

void write(Writer& w, const QueryRecord& v) {
  StructWriter s(w);
  s.field("From").str(v.from);
  s.field("Payload").nilable_bin(v.payload);
  s.field("Type").str(v.type);
}
bool read(Reader& r, QueryRecord& v) {
  return r.read_struct([&](std::string_view k) {
    if (k == "From") return r.read_str(v.from);
    if (k == "Payload") return r.read_nilable_bytes(v.payload);
    if (k == "Type") return r.read_str(v.type);
    return false;
  });
}

void write(Writer& w, const RespondRequest& v) {
  StructWriter s(w);
  s.field("ID").uint(v.id);
  s.field("Payload").nilable_bin(v.payload);
}
bool read(Reader& r, RespondRequest& v) {
  return r.read_struct([&](std::string_view k) {
    if (k == "ID") return r.read_uint(v.id);
    if (k == "Payload") return r.read_nilable_bytes(v.payload);
    return false;
  });
}

void write(Writer& w, const KeyRequest& v) {
  StructWriter s(w);
  s.field("Key").str(v.key);
}
bool read(Reader& r, KeyRequest& v) {
  return r.read_struct([&](std::string_view k) {
    if (k == "Key") return r.read_str(v.key);
    return false;
  });
}

void write(Writer& w, const KeyResponse& v) {
  StructWriter s(w);
  Writer& keys = s.field("Keys");
  keys.map_header(static_cast<uint32_t>(v.keys.size()));
  for (const auto& [k, n] : v.keys) {
    keys.str(k);
    keys.sint(n);
  }
  write_string_map(s.field("Messages"), v.messages);
  s.field("NumErr").sint(v.num_err);
  s.field("NumNodes").sint(v.num_nodes);
  s.field("NumResp").sint(v.num_resp);
}
bool read(Reader& r, KeyResponse& v) {
  return r.read_struct([&](std::string_view k) {
    if (k == "Keys") {
      uint32_t n = 0;
      if (!r.read_map_header(n)) return false;
      for (uint32_t i = 0; i < n && r.ok(); ++i) {
        std::string key;
        int64_t count = 0;
        if (r.read_str(key) && r.read_int(count)) v.keys[std::move(key)] = count;
      }
      return r.ok();
    }
    if (k == "Messages") return read_string_map(r, v.messages);
    if (k == "NumErr") return r.read_int(v.num_err);
    if (k == "NumNodes") return r.read_int(v.num_nodes);
    if (k == "NumResp") return r.read_int(v.num_resp);
    return false;
  });
}

void write(Writer& w, const StatsResponse& v) {
  w.map_header(static_cast<uint32_t>(v.sections.size()));
  for (const auto& [name, entries] : v.sections) {
    w.str(name);
    w.map_header(static_cast<uint32_t>(entries.size()));
    for (const auto& [k, val] : entries) {
      w.str(k);
      w.str(val);
    }
  }
}
bool read(Reader& r, StatsResponse& v) {
  uint32_t n = 0;
  if (!r.read_map_header(n) || !r.enter()) return false;
  v.sections.clear();
  for (uint32_t i = 0; i < n && r.ok(); ++i) {
    auto& sec = v.sections.emplace_back();
    uint32_t m = 0;
    if (!r.read_str(sec.first) || !r.read_map_header(m)) break;
    for (uint32_t j = 0; j < m && r.ok(); ++j) {
      auto& e = sec.second.emplace_back();
      if (r.read_str(e.first)) r.read_str(e.second);
    }
  }
  r.leave();
  return r.ok();
}

void write(Writer& w, const CoordinateRequest& v) {
  StructWriter s(w);
  s.field("Node").str(v.node);
}
bool read(Reader& r, CoordinateRequest& v) {
  return r.read_struct([&](std::string_view k) {
    if (k == "Node") return r.read_str(v.node);
    return false;
  });
}

void write(Writer& w, const CoordinateResponse& v) {
  StructWriter s(w);
  {
    StructWriter c(s.field("Coord"));
    c.field("Adjustment").f64(v.coord.adjustment);
    c.field("Error").f64(v.coord.error);
    c.field("Height").f64(v.coord.height);
    Writer& vec = c.field("Vec");
    vec.array_header(static_cast<uint32_t>(v.coord.vec.size()));
    for (double x : v.coord.vec) vec.f64(x);
  }
  s.field("Ok").boolean(v.ok);
}
bool read(Reader& r, CoordinateResponse& v) {
  return r.read_struct([&](std::string_view k) {
    if (k == "Ok") return r.read_bool(v.ok);
    if (k == "Coord") {
      return r.read_struct([&](std::string_view ck) {
        if (ck == "Adjustment") return r.read_float(v.coord.adjustment);
        if (ck == "Error") return r.read_float(v.coord.error);
        if (ck == "Height") return r.read_float(v.coord.height);
        if (ck == "Vec") {
          return read_vector(r, v.coord.vec, [&](double& x) { r.read_float(x); });
        }
        return false;
      });
    }
    return false;
  });
}

// ---- stream records --------------------------------------------------------------

void write(Writer& w, const MemberEventRecord& v) {
  StructWriter s(w);
  s.field("Event").str(v.event);
  write_members(s.field("Members"), v.members);
}
bool read(Reader& r, MemberEventRecord& v) {
  return r.read_struct([&](std::string_view k) {
    if (k == "Event") return r.read_str(v.event);
    if (k == "Members") return read_vector(r, v.members, [&](Member& m) { read(r, m); });
    return false;
  });
}

void write(Writer& w, const UserEventRecord& v) {
  StructWriter s(w);
  s.field("Coalesce").boolean(v.coalesce);
  s.field("Event").str(v.event);
  s.field("LTime").uint(v.ltime);
  s.field("Name").str(v.name);
  s.field("Payload").nilable_bin(v.payload);
}
bool read(Reader& r, UserEventRecord& v) {
  return r.read_struct([&](std::string_view k) {
    if (k == "Coalesce") return r.read_bool(v.coalesce);
    if (k == "Event") return r.read_str(v.event);
    if (k == "LTime") return r.read_uint(v.ltime);
    if (k == "Name") return r.read_str(v.name);
    if (k == "Payload") return r.read_nilable_bytes(v.payload);
    return false;
  });
}

void write(Writer& w, const QueryEventRecord& v) {
  StructWriter s(w);
  s.field("Event").str(v.event);
  s.field("ID").uint(v.id);
  s.field("LTime").uint(v.ltime);
  s.field("Name").str(v.name);
  s.field("Payload").nilable_bin(v.payload);
}
bool read(Reader& r, QueryEventRecord& v) {
  return r.read_struct([&](std::string_view k) {
    if (k == "Event") return r.read_str(v.event);
    if (k == "ID") return r.read_uint(v.id);
    if (k == "LTime") return r.read_uint(v.ltime);
    if (k == "Name") return r.read_str(v.name);
    if (k == "Payload") return r.read_nilable_bytes(v.payload);
    return false;
  });
}

void write(Writer& w, const LogRecord& v) {
  StructWriter s(w);
  s.field("Log").str(v.log);
}
bool read(Reader& r, LogRecord& v) {
  return r.read_struct([&](std::string_view k) {
    if (k == "Log") return r.read_str(v.log);
    return false;
  });
}

// ---- command table -----------------------------------------------------------------

bool request_has_body(std::string_view c) {
  return c == kHandshake || c == kAuth || c == kMembersFiltered || c == kJoin || c == kForceLeave ||
         c == kEvent || c == kTags || c == kStream || c == kMonitor || c == kStop || c == kQuery ||
         c == kRespond || c == kInstallKey || c == kUseKey || c == kRemoveKey ||
         c == kGetCoordinate;
}

ResponseBody response_body(std::string_view c) {
  if (c == kMembers || c == kMembersFiltered) return ResponseBody::kMemberList;
  if (c == kJoin) return ResponseBody::kJoinCount;
  if (c == kInstallKey || c == kUseKey || c == kRemoveKey || c == kListKeys) {
    return ResponseBody::kKeys;
  }
  if (c == kStats) return ResponseBody::kStatsMap;
  if (c == kGetCoordinate) return ResponseBody::kCoordinate;
  if (c == kHandshake || c == kAuth || c == kLeave || c == kForceLeave || c == kEvent ||
      c == kTags || c == kStream || c == kMonitor || c == kStop || c == kQuery || c == kRespond) {
    return ResponseBody::kNone;
  }
  return ResponseBody::kUnknownCommand;
}

// ---- StreamDecoder -----------------------------------------------------------------

void StreamDecoder::feed(ByteView data) {
  if (pos_ > 0 && pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
  } else if (pos_ > 4096 && pos_ * 2 > buf_.size()) {
    buf_.erase(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(pos_));
    pos_ = 0;
  }
  buf_.insert(buf_.end(), data.begin(), data.end());
}

std::optional<Result<Bytes>> StreamDecoder::next() {
  if (pos_ >= buf_.size()) return std::nullopt;
  ByteView avail = ByteView(buf_).subspan(pos_);
  Reader r(avail);
  r.skip();
  if (!r.ok()) {
    if (r.error().code == msgpack::Errc::kTruncated) {
      if (avail.size() > max_object_) {
        return Result<Bytes>(WireError{WireErrc::kTooLarge, "rpc object over the size limit"});
      }
      return std::nullopt;
    }
    return Result<Bytes>(msgpack_error(r, "rpc stream"));
  }
  Bytes obj(avail.begin(), avail.begin() + static_cast<std::ptrdiff_t>(r.offset()));
  pos_ += r.offset();
  return Result<Bytes>(std::move(obj));
}

}  // namespace herd::membership::rpc
