// Every vector in tests/data/serf-vectors: decode, check the decoded
// fields against index.json, re-encode with herd's encoders and compare
// byte for byte (LZW output, CRCs, encryption with the captured nonce and
// RPC streams included).
#include <gtest/gtest.h>

#include <set>

#include "membership/keyring.h"
#include "membership/lzw.h"
#include "membership/memberlist_msgs.h"
#include "membership/rpc_msgs.h"
#include "membership/serf_msgs.h"
#include "tests/unit/membership/vector_support.h"

namespace herd::membership {
namespace {

using testing::from_hex;
using testing::index_json;
using testing::Json;
using testing::matches;
using testing::read_vector;
using testing::to_hex;

constexpr std::string_view kVectorKey = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

Keyring vector_keyring() {
  auto k = Keyring::from_base64({std::string(kVectorKey)});
  EXPECT_TRUE(k.ok());
  return std::move(*k);
}

ByteView body_of(const Bytes& encoded) { return ByteView(encoded).subspan(1); }

std::string serf_name(serf::MessageType t) {
  switch (t) {
    case serf::MessageType::kLeave:
      return "leave";
    case serf::MessageType::kJoin:
      return "join";
    case serf::MessageType::kPushPull:
      return "pushPull";
    case serf::MessageType::kUserEvent:
      return "userEvent";
    case serf::MessageType::kQuery:
      return "query";
    case serf::MessageType::kQueryResponse:
      return "queryResponse";
    default:
      return "other";
  }
}

void expect_tags(const Json& want, ByteView meta, const std::string& what) {
  auto tags = serf::decode_tags(meta);
  ASSERT_TRUE(tags.ok()) << what;
  ASSERT_EQ(want.t, Json::T::kObj) << what;
  serf::Tags expected;
  for (const auto& [k, v] : want.o) expected[k] = v.s;
  EXPECT_EQ(*tags, expected) << what;
  // Tags are written sorted; the captures happen to be sorted too.
  EXPECT_EQ(serf::encode_tags(*tags), Bytes(meta.begin(), meta.end())) << what;
}

// index.json abbreviates the 512-slot event ring to its non-nil slots.
void check_event_ring(const serf::PushPull& pp, const Json& non_nil, const std::string& what) {
  ASSERT_TRUE(pp.events.has_value());
  EXPECT_EQ(pp.events->size(), serf::kEventRingSlots) << what;
  std::size_t count = 0;
  for (std::size_t i = 0; i < pp.events->size(); ++i) {
    const auto& slot = (*pp.events)[i];
    if (!slot) continue;
    ++count;
    const Json& w = non_nil[std::to_string(i)];
    ASSERT_EQ(w.t, Json::T::kObj) << what << " slot " << i;
    EXPECT_EQ(static_cast<int64_t>(slot->ltime), w["LTime"].i);
    ASSERT_EQ(slot->events.size(), w["Events"].a.size());
    for (std::size_t e = 0; e < slot->events.size(); ++e) {
      EXPECT_EQ(slot->events[e].name, w["Events"].a[e]["Name"].s);
      ASSERT_TRUE(slot->events[e].payload.has_value());
      EXPECT_EQ(testing::render_bytes(as_chars(*slot->events[e].payload)),
                w["Events"].a[e]["Payload"].s);
    }
  }
  EXPECT_EQ(count, non_nil.o.size()) << what;
}

// Checks a serf message against {"serf": name, "body": {...}} and returns the
// re-encoded bytes.
Bytes check_serf(const Json& want, ByteView bytes, const std::string& what) {
  auto m = serf::decode(bytes);
  EXPECT_TRUE(m.ok()) << what << ": " << (m.ok() ? "" : m.error().detail);
  if (!m.ok()) return {};
  EXPECT_EQ(serf_name(serf::message_type(*m)), want["serf"].s) << what;
  Bytes re = serf::encode(*m);
  const Json& body = want["body"];
  if (auto* pp = std::get_if<serf::PushPull>(&*m); pp && body["Events"].t == Json::T::kObj) {
    check_event_ring(*pp, body["Events"]["non_nil"], what);
    // Compare everything else through the generic path.
    Json rest = body;
    std::erase_if(rest.o, [](const auto& kv) { return kv.first == "Events"; });
    msgpack::Value v = testing::to_value(body_of(re));
    std::erase_if(v.m, [](const auto& kv) { return kv.first.s == "Events"; });
    std::vector<std::string> errs;
    testing::compare(rest, v, what, errs);
    EXPECT_TRUE(errs.empty()) << (errs.empty() ? "" : errs.front());
  } else {
    EXPECT_TRUE(matches(body, body_of(re), what));
  }
  return re;
}

struct WalkCtx {
  std::string name;
  std::vector<Bytes> decompressed;  // every compress layer's output, in order
};

Bytes walk(const Json& node, ByteView bytes, WalkCtx& ctx, const std::string& path);

Bytes walk_leaf(const Json& node, ByteView bytes, const std::string& what) {
  auto m = memberlist::decode(bytes);
  EXPECT_TRUE(m.ok()) << what << ": " << (m.ok() ? "" : m.error().detail);
  if (!m.ok()) return {};
  const std::string& type = node["type"].s;
  Bytes re = memberlist::encode(*m);
  if (type == "user") {
    const auto& u = std::get<memberlist::UserMsg>(*m);
    Bytes inner = check_serf(node["serf"], u.payload, what + ".serf");
    EXPECT_EQ(inner, u.payload) << what;
    return re;
  }
  static const std::map<std::string, memberlist::MessageType> kTypes = {
      {"ping", memberlist::MessageType::kPing},
      {"indirectPing", memberlist::MessageType::kIndirectPing},
      {"ackResp", memberlist::MessageType::kAckResp},
      {"suspect", memberlist::MessageType::kSuspect},
      {"alive", memberlist::MessageType::kAlive},
      {"dead", memberlist::MessageType::kDead},
      {"nackResp", memberlist::MessageType::kNackResp}};
  auto it = kTypes.find(type);
  EXPECT_NE(it, kTypes.end()) << what << ": unhandled type " << type;
  if (it != kTypes.end()) {
    EXPECT_EQ(memberlist::message_type(*m), it->second) << what;
  }
  EXPECT_TRUE(matches(node["body"], body_of(re), what));
  if (auto* alive = std::get_if<memberlist::Alive>(&*m)) {
    expect_tags(node["tags"], alive->meta, what + ".tags");
    EXPECT_EQ(alive->vsn,
              Bytes(std::begin(memberlist::kSerfAgentVsn), std::end(memberlist::kSerfAgentVsn)));
  }
  if (auto* ack = std::get_if<memberlist::AckResp>(&*m); ack && ack->payload) {
    auto coord = serf::decode_ping_payload(*ack->payload);
    EXPECT_TRUE(coord.ok()) << what;
    if (coord.ok()) {
      EXPECT_EQ(coord->vec.size(), 8u);
      EXPECT_EQ(serf::encode_ping_payload(*coord), *ack->payload) << what;
    }
  }
  return re;
}

Bytes walk_push_pull(const Json& node, ByteView bytes, const std::string& what) {
  std::size_t consumed = 0;
  auto pp = memberlist::decode_push_pull(bytes, {}, &consumed);
  EXPECT_TRUE(pp.ok()) << what << ": " << (pp.ok() ? "" : pp.error().detail);
  if (!pp.ok()) return {};
  EXPECT_EQ(static_cast<int64_t>(bytes.size() - consumed), node["trailing"].i) << what;
  const Json& h = node["header"];
  EXPECT_EQ(pp->join, h["Join"].b);
  EXPECT_EQ(static_cast<int64_t>(pp->nodes.size()), h["Nodes"].i);
  EXPECT_EQ(static_cast<int64_t>(pp->user_state.size()), h["UserStateLen"].i);
  const Json& nodes = node["nodes"];
  EXPECT_EQ(pp->nodes.size(), nodes.a.size());
  for (std::size_t i = 0; i < pp->nodes.size() && i < nodes.a.size(); ++i) {
    const auto& n = pp->nodes[i];
    const Json& w = nodes.a[i];
    const std::string nw = what + ".nodes[" + std::to_string(i) + "]";
    EXPECT_EQ(n.name, w["Name"].s) << nw;
    EXPECT_EQ(to_hex(n.addr), w["Addr"].s.substr(4)) << nw;
    EXPECT_EQ(static_cast<int64_t>(n.incarnation), w["Incarnation"].i) << nw;
    EXPECT_EQ(to_hex(n.meta), w["Meta"].s.substr(4)) << nw;
    EXPECT_EQ(static_cast<int64_t>(n.port), w["Port"].i) << nw;
    EXPECT_EQ(static_cast<int64_t>(n.state), w["State"].i) << nw;
    EXPECT_EQ(to_hex(n.vsn), w["Vsn"].s.substr(4)) << nw;
    expect_tags(w["_tags"], n.meta, nw + "._tags");
  }
  memberlist::PushPull copy = *pp;
  if (!pp->user_state.empty()) {
    copy.user_state = check_serf(node["user_state"], pp->user_state, what + ".user_state");
    EXPECT_EQ(copy.user_state, pp->user_state) << what;
  } else {
    EXPECT_EQ(node.get("user_state"), nullptr) << what;
  }
  return memberlist::encode_push_pull(copy);
}

Bytes walk(const Json& node, ByteView bytes, WalkCtx& ctx, const std::string& path) {
  const std::string& type = node["type"].s;
  if (type == "hasCrc") {
    auto inner = memberlist::unwrap_crc(bytes);
    EXPECT_TRUE(inner.ok()) << path;
    if (!inner.ok()) return {};
    EXPECT_EQ(to_hex(bytes.subspan(1, 4)), node["crc"].s) << path;
    EXPECT_TRUE(node["crc_ok"].b);
    return memberlist::wrap_crc(walk(node["inner"], *inner, ctx, path + ".crc"));
  }
  if (type == "compress") {
    auto inner = memberlist::unwrap_compress(bytes, 64u << 20);
    EXPECT_TRUE(inner.ok()) << path << ": " << (inner.ok() ? "" : inner.error().detail);
    if (!inner.ok()) return {};
    EXPECT_EQ(node["algo"].i, 0);
    if (const Json* dl = node.get("decompressed_len")) {
      EXPECT_EQ(static_cast<int64_t>(inner->size()), dl->i) << path;
    }
    ctx.decompressed.push_back(*inner);
    Bytes re_inner = walk(node["inner"], *inner, ctx, path + ".lzw");
    EXPECT_EQ(re_inner, *inner) << path;
    Bytes re = memberlist::wrap_compress(re_inner);
    // The Buf length is what index.json calls compressed_len.
    msgpack::Value v = testing::to_value(body_of(re));
    EXPECT_EQ(static_cast<int64_t>(v.find("Buf")->s.size()), node["compressed_len"].i) << path;
    return re;
  }
  if (type == "compound") {
    auto parts = memberlist::split_compound(bytes);
    EXPECT_TRUE(parts.ok()) << path;
    if (!parts.ok()) return {};
    EXPECT_EQ(parts->truncated, 0u);
    EXPECT_EQ(static_cast<int64_t>(parts->parts.size()), node["count"].i) << path;
    std::vector<Bytes> re;
    for (std::size_t i = 0; i < parts->parts.size(); ++i) {
      EXPECT_EQ(static_cast<int64_t>(parts->parts[i].size()), node["lengths"].a[i].i);
      re.push_back(
          walk(node["parts"].a[i], parts->parts[i], ctx, path + ".part" + std::to_string(i)));
    }
    return memberlist::make_compound(re);
  }
  if (type == "pushPull") return walk_push_pull(node, bytes, path);
  return walk_leaf(node, bytes, path);
}

// ---- RPC -----------------------------------------------------------------------

std::vector<Bytes> split_rpc(ByteView stream, bool byte_by_byte) {
  rpc::StreamDecoder dec;
  std::vector<Bytes> out;
  auto drain = [&] {
    while (auto obj = dec.next()) {
      EXPECT_TRUE(obj->ok());
      if (!obj->ok()) return;
      out.push_back(std::move(obj->value()));
    }
  };
  if (byte_by_byte) {
    for (uint8_t b : stream) {
      dec.feed(ByteView(&b, 1));
      drain();
    }
  } else {
    dec.feed(stream);
    drain();
  }
  EXPECT_EQ(dec.buffered(), 0u);
  return out;
}

// Decodes raw as T, re-encodes it and expects the same bytes.
template <class T>
T roundtrip(const Bytes& raw, const std::string& what) {
  auto v = rpc::decode<T>(raw);
  EXPECT_TRUE(v.ok()) << what << ": " << (v.ok() ? "" : v.error().detail);
  if (!v.ok()) return T{};
  EXPECT_EQ(to_hex(rpc::encode(*v)), to_hex(raw)) << what;
  return *v;
}

// Request stream: header, then a body when the command has one.
std::map<uint64_t, std::string> check_rpc_requests(const std::vector<Bytes>& objs,
                                                   const std::string& name) {
  std::map<uint64_t, std::string> seq_cmd;
  for (std::size_t i = 0; i < objs.size(); ++i) {
    const std::string what = name + "#" + std::to_string(i);
    auto h = roundtrip<rpc::RequestHeader>(objs[i], what);
    seq_cmd[h.seq] = h.command;
    if (!rpc::request_has_body(h.command)) continue;
    ++i;
    if (i >= objs.size()) {
      ADD_FAILURE() << what << ": missing body";
      break;
    }
    const std::string& c = h.command;
    const std::string bw = what + " body of " + c;
    if (c == rpc::kHandshake) {
      EXPECT_EQ(roundtrip<rpc::HandshakeRequest>(objs[i], bw).version, rpc::kIpcVersion);
    } else if (c == rpc::kMembersFiltered) {
      roundtrip<rpc::MembersFilteredRequest>(objs[i], bw);
    } else if (c == rpc::kJoin) {
      EXPECT_EQ(roundtrip<rpc::JoinRequest>(objs[i], bw).existing.size(), 1u);
    } else if (c == rpc::kForceLeave) {
      EXPECT_EQ(roundtrip<rpc::ForceLeaveRequest>(objs[i], bw).node, "backend1");
    } else if (c == rpc::kEvent) {
      roundtrip<rpc::EventRequest>(objs[i], bw);
    } else if (c == rpc::kTags) {
      EXPECT_EQ(roundtrip<rpc::TagsRequest>(objs[i], bw).tags.at("weight"), "10");
    } else if (c == rpc::kStream) {
      roundtrip<rpc::StreamRequest>(objs[i], bw);
    } else if (c == rpc::kMonitor) {
      EXPECT_EQ(roundtrip<rpc::MonitorRequest>(objs[i], bw).log_level, "INFO");
    } else if (c == rpc::kStop) {
      roundtrip<rpc::StopRequest>(objs[i], bw);
    } else if (c == rpc::kQuery) {
      auto q = roundtrip<rpc::QueryRequest>(objs[i], bw);
      EXPECT_EQ(q.timeout_ns, 2000000000);
      EXPECT_TRUE(q.request_ack);
    } else {
      ADD_FAILURE() << bw << ": no typed decoder in this test";
    }
  }
  return seq_cmd;
}

void check_rpc_responses(const std::vector<Bytes>& objs, std::map<uint64_t, std::string> seq_cmd,
                         const std::string& name) {
  std::set<uint64_t> acked;
  for (std::size_t i = 0; i < objs.size(); ++i) {
    const std::string what = name + "#" + std::to_string(i);
    auto h = roundtrip<rpc::ResponseHeader>(objs[i], what);
    ASSERT_TRUE(seq_cmd.count(h.seq)) << what;
    const std::string& c = seq_cmd[h.seq];
    const bool first = acked.insert(h.seq).second;
    auto next = [&]() -> const Bytes* {
      if (++i >= objs.size()) {
        ADD_FAILURE() << what << ": missing body for " << c;
        return nullptr;
      }
      return &objs[i];
    };
    if (first) {
      switch (rpc::response_body(c)) {
        case rpc::ResponseBody::kNone:
          break;
        case rpc::ResponseBody::kMemberList:
          if (const Bytes* b = next()) {
            auto m = roundtrip<rpc::MembersResponse>(*b, what);
            EXPECT_EQ(m.members.size(), 3u);
          }
          break;
        case rpc::ResponseBody::kJoinCount:
          if (const Bytes* b = next()) roundtrip<rpc::JoinResponse>(*b, what);
          break;
        case rpc::ResponseBody::kStatsMap:
          if (const Bytes* b = next()) {
            auto s = roundtrip<rpc::StatsResponse>(*b, what);
            EXPECT_EQ(s.sections.size(), 5u);
          }
          break;
        default:
          ADD_FAILURE() << what << ": unexpected command " << c;
      }
      continue;
    }
    // Later records of a streaming command.
    const Bytes* b = next();
    if (!b) break;
    if (c == rpc::kMonitor) {
      EXPECT_FALSE(roundtrip<rpc::LogRecord>(*b, what).log.empty());
    } else if (c == rpc::kQuery) {
      roundtrip<rpc::QueryRecord>(*b, what);
    } else if (c == rpc::kStream) {
      const msgpack::Value v = testing::to_value(*b);
      const std::string event = v.find("Event") ? v.find("Event")->s : "";
      if (event == "user") {
        auto u = roundtrip<rpc::UserEventRecord>(*b, what);
        EXPECT_EQ(u.name, "hello");
      } else if (event == "query") {
        roundtrip<rpc::QueryEventRecord>(*b, what);
      } else {
        auto m = roundtrip<rpc::MemberEventRecord>(*b, what);
        EXPECT_EQ(m.members.size(), 1u);
      }
    } else {
      ADD_FAILURE() << what << ": record for non-streaming command " << c;
    }
  }
}

const std::map<std::string, std::string> kResponseOf = {
    {"r02", "r01"}, {"r03", "r01"}, {"r05", "r04"}, {"r07", "r06"},
    {"r09", "r08"}, {"r11", "r10"}, {"r14", "r13"}, {"r17", "r16"}};

std::string file_with_prefix(const std::string& prefix) {
  for (const auto& v : index_json().a) {
    const std::string& f = v["files"].a[0].s;
    if (f.rfind(prefix, 0) == 0) return f;
  }
  return "";
}

void check_rpc_vector(const Json& entry) {
  const std::string file = entry["files"].a[0].s;
  const Bytes raw = read_vector(file);
  const auto objs = split_rpc(raw, false);
  EXPECT_EQ(split_rpc(raw, true), objs) << file;
  const Json& decoded = entry["decoded"];
  ASSERT_EQ(objs.size(), decoded.a.size()) << file;
  for (std::size_t i = 0; i < objs.size(); ++i) {
    EXPECT_TRUE(matches(decoded.a[i], objs[i], file + "#" + std::to_string(i)));
  }
  const std::string id = file.substr(0, 3);
  if (auto it = kResponseOf.find(id); it != kResponseOf.end()) {
    const std::string req = file_with_prefix(it->second);
    auto seq_cmd = check_rpc_requests(split_rpc(read_vector(req), false), req);
    check_rpc_responses(objs, seq_cmd, file);
  } else {
    check_rpc_requests(objs, file);
  }
}

// ---- per-vector driver -------------------------------------------------------------

void check_vector(const Json& entry) {
  const std::string file = entry["files"].a[0].s;
  SCOPED_TRACE(file);
  if (file[0] == 'r') return check_rpc_vector(entry);

  const Bytes wire = read_vector(file);
  EXPECT_EQ(static_cast<int64_t>(wire.size()), entry["length"].i);
  const std::string stem = file.substr(0, file.size() - 4);
  const bool tcp = entry["transport"].s == "tcp";
  Bytes plain = wire;
  if (entry["encrypted"].b) {
    const Keyring kr = vector_keyring();
    const Bytes want_plain = read_vector(stem + ".plain.hex");
    if (tcp) {
      auto len = Keyring::stream_length(wire);
      ASSERT_TRUE(len.ok());
      EXPECT_EQ(*len + kStreamHeaderSize, wire.size());
      auto p = kr.decrypt_stream(wire);
      ASSERT_TRUE(p.ok()) << p.error().detail;
      plain = *p;
      const ByteView nonce = ByteView(wire).subspan(kStreamHeaderSize + 1, kNonceSize);
      EXPECT_EQ(to_hex(kr.encrypt_stream(plain, nonce)), to_hex(wire));
    } else {
      auto p = kr.decrypt_packet(wire);
      ASSERT_TRUE(p.ok()) << p.error().detail;
      plain = *p;
      const ByteView nonce = ByteView(wire).subspan(1, kNonceSize);
      EXPECT_EQ(to_hex(kr.encrypt_packet(plain, nonce)), to_hex(wire));
    }
    EXPECT_EQ(to_hex(plain), to_hex(want_plain));
  }

  WalkCtx ctx{file, {}};
  const Bytes re = walk(entry["decoded"], plain, ctx, file);
  EXPECT_EQ(to_hex(re), to_hex(plain)) << "re-encoding is not byte-exact";

  if (testing::file_exists(stem + ".decompressed.hex")) {
    ASSERT_EQ(ctx.decompressed.size(), 1u);
    EXPECT_EQ(to_hex(ctx.decompressed[0]), to_hex(read_vector(stem + ".decompressed.hex")));
  }

  // The one-call paths the member will use agree with the layer walk.
  if (tcp) {
    auto inner = memberlist::unwrap_stream(plain);
    ASSERT_TRUE(inner.ok());
    if (!inner->empty() &&
        (*inner)[0] == static_cast<uint8_t>(memberlist::MessageType::kPushPull)) {
      EXPECT_TRUE(memberlist::decode_push_pull(*inner).ok());
    } else {
      auto m = memberlist::decode(*inner);
      EXPECT_TRUE(m.ok());
    }
  } else {
    auto pkt = memberlist::decode_packet(plain);
    ASSERT_TRUE(pkt.ok()) << pkt.error().detail;
    EXPECT_FALSE(pkt->messages.empty());
    EXPECT_TRUE(pkt->dropped.empty());
    EXPECT_EQ(pkt->truncated_parts, 0u);
  }
}

TEST(SerfVectors, IndexListsEveryHexFile) {
  std::set<std::string> listed;
  for (const auto& v : index_json().a) {
    for (const auto& f : v["files"].a) listed.insert(f.s);
  }
  std::size_t n = 0;
  for (const auto& e : std::filesystem::directory_iterator(testing::vectors_dir())) {
    const std::string name = e.path().filename().string();
    if (name.size() > 4 && name.substr(name.size() - 4) == ".hex") {
      ++n;
      EXPECT_TRUE(listed.count(name)) << name;
    }
  }
  EXPECT_GE(n, 57u);
  EXPECT_EQ(index_json().a.size(), 57u);
}

class EveryVector : public ::testing::TestWithParam<std::size_t> {};

TEST_P(EveryVector, DecodesMatchesIndexAndReencodesByteExact) {
  check_vector(index_json().a.at(GetParam()));
}

INSTANTIATE_TEST_SUITE_P(SerfVectors, EveryVector, ::testing::Range<std::size_t>(0, 57),
                         [](const auto& param_info) {
                           std::string n = index_json().a.at(param_info.param)["files"].a[0].s;
                           n = n.substr(0, n.size() - 4);
                           for (char& c : n) {
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return n;
                         });

// Spot checks of typed fields (beyond the generic comparison above).
TEST(SerfVectors, PingFieldsA01) {
  auto m = memberlist::decode(read_vector("a01-udp-ping.hex"));
  ASSERT_TRUE(m.ok());
  const auto& p = std::get<memberlist::Ping>(*m);
  EXPECT_EQ(p.node, "lb1");
  EXPECT_EQ(p.seq_no, 1u);
  EXPECT_EQ(p.source_addr, (Bytes{127, 0, 0, 12}));
  EXPECT_EQ(p.source_node, "backend1");
  EXPECT_EQ(p.source_port, 17946);
}

TEST(SerfVectors, GracefulLeaveA13VersusFailureA18) {
  auto left = memberlist::decode_packet(read_vector("a13-udp-dead-self-left.hex"));
  auto failed = memberlist::decode_packet(read_vector("a18-udp-dead-failed.hex"));
  ASSERT_TRUE(left.ok() && failed.ok());
  const auto& l = std::get<memberlist::Dead>(left->messages.at(0));
  const auto& f = std::get<memberlist::Dead>(failed->messages.at(0));
  EXPECT_EQ(l.from, l.node);
  EXPECT_NE(f.from, f.node);
  EXPECT_EQ(f.incarnation, 2u);
}

TEST(SerfVectors, CompoundCompressedA05Leaves) {
  auto pkt = memberlist::decode_packet(read_vector("a05-udp-compound-compressed-crc.hex"));
  ASSERT_TRUE(pkt.ok());
  ASSERT_EQ(pkt->messages.size(), 3u);
  EXPECT_EQ(std::get<memberlist::Alive>(pkt->messages[0]).node, "backend1");
  EXPECT_EQ(std::get<memberlist::Alive>(pkt->messages[1]).node, "lb1");
  auto serf_msg = serf::decode(std::get<memberlist::UserMsg>(pkt->messages[2]).payload);
  ASSERT_TRUE(serf_msg.ok());
  EXPECT_EQ(std::get<serf::JoinIntent>(*serf_msg), (serf::JoinIntent{1, "backend1"}));
}

TEST(SerfVectors, KeyQueryPayloadsE05E06) {
  const Keyring kr = vector_keyring();
  auto q = kr.decrypt_packet(read_vector("e05-udp-serf-query-list-keys-encrypted.hex"));
  ASSERT_TRUE(q.ok());
  auto pkt = memberlist::decode_packet(*q);
  ASSERT_TRUE(pkt.ok());
  auto query = serf::decode(std::get<memberlist::UserMsg>(pkt->messages.at(0)).payload);
  ASSERT_TRUE(query.ok());
  const auto& qq = std::get<serf::Query>(*query);
  EXPECT_EQ(qq.name, "_serf_list-keys");
  EXPECT_EQ(qq.timeout_ns, 3200000000);
  auto kreq = serf::decode(*qq.payload);
  ASSERT_TRUE(kreq.ok());
  EXPECT_TRUE(std::get<serf::KeyRequest>(*kreq).key.has_value());
  EXPECT_EQ(serf::encode(*kreq), *qq.payload);

  auto r = kr.decrypt_packet(read_vector("e06-udp-serf-query-response-list-keys-encrypted.hex"));
  ASSERT_TRUE(r.ok());
  auto resp_pkt = memberlist::decode_packet(*r);
  ASSERT_TRUE(resp_pkt.ok());
  auto resp = serf::decode(std::get<memberlist::UserMsg>(resp_pkt->messages.at(0)).payload);
  ASSERT_TRUE(resp.ok());
  const auto& qr = std::get<serf::QueryResponse>(*resp);
  auto kresp = serf::decode(*qr.payload);
  ASSERT_TRUE(kresp.ok());
  const auto& k = std::get<serf::KeyResponse>(*kresp);
  EXPECT_TRUE(k.result);
  ASSERT_TRUE(k.keys.has_value());
  EXPECT_EQ(k.keys->at(0), kVectorKey);
  EXPECT_EQ(k.primary_key, kVectorKey);
  EXPECT_EQ(serf::encode(*kresp), *qr.payload);
}

TEST(SerfVectors, PushPullLeftNodeT03) {
  auto inner = memberlist::unwrap_stream(read_vector("t03-tcp-pushpull-periodic-request.hex"));
  ASSERT_TRUE(inner.ok());
  auto pp = memberlist::decode_push_pull(*inner);
  ASSERT_TRUE(pp.ok());
  ASSERT_EQ(pp->nodes.size(), 3u);
  EXPECT_EQ(pp->nodes[2].name, "backend2");
  EXPECT_EQ(pp->nodes[2].state, memberlist::NodeState::kLeft);
  auto us = serf::decode(pp->user_state);
  ASSERT_TRUE(us.ok());
  const auto& s = std::get<serf::PushPull>(*us);
  EXPECT_EQ(s.ltime, 4u);
  ASSERT_TRUE(s.left_members.has_value());
  EXPECT_EQ(s.left_members->at(0), "backend2");
  EXPECT_EQ(s.status_ltimes.size(), 3u);
}

TEST(SerfVectors, RpcMembersR02Typed) {
  auto objs = split_rpc(read_vector("r02-rpc-members-response.hex"), false);
  ASSERT_EQ(objs.size(), 3u);
  auto m = rpc::decode<rpc::MembersResponse>(objs[2]);
  ASSERT_TRUE(m.ok());
  const auto& b1 = m->members.at(0);
  EXPECT_EQ(b1.name, "backend1");
  EXPECT_EQ(b1.addr, (Bytes{127, 0, 0, 12}));
  EXPECT_EQ(b1.port, 17946);
  EXPECT_EQ(b1.status, "alive");
  EXPECT_EQ(b1.protocol_min, 1);
  EXPECT_EQ(b1.protocol_max, 5);
  EXPECT_EQ(b1.protocol_cur, 2);
  EXPECT_EQ(b1.delegate_min, 2);
  EXPECT_EQ(b1.delegate_max, 5);
  EXPECT_EQ(b1.delegate_cur, 5);
  EXPECT_EQ(b1.tags, (rpc::StringMap{{"dc", "lab"}, {"role", "backend"}}));
}

TEST(SerfVectors, RpcJoinErrorR17HasBody) {
  auto objs = split_rpc(read_vector("r17-rpc-join-response-error.hex"), false);
  ASSERT_EQ(objs.size(), 3u);
  auto h = rpc::decode<rpc::ResponseHeader>(objs[1]);
  ASSERT_TRUE(h.ok());
  EXPECT_NE(h->error.find("connection refused"), std::string::npos);
  // A 90-byte error string is str8 on the RPC side.
  EXPECT_EQ(objs[1][7], 0xd9);
  EXPECT_EQ(rpc::decode<rpc::JoinResponse>(objs[2])->num, 0);
}

}  // namespace
}  // namespace herd::membership
