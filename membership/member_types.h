// membership/member_types.h — plain member and event values shared by the
// SWIM/Serf engine (which produces them), the pool mapper, the event
// handlers and the RPC server (which consume them).
//
// Dependency-free on purpose (standard library only), so that every part of
// membership/ and app/ can include it without pulling in Asio or the pool.
//
// Thread rules: plain values; any thread may use its own copies.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace herd::membership {

// One member as Serf reports it (`serf members`, RPC Member, event stdin).
struct MemberInfo {
  // Every member has an initializer so that partial aggregate initialization
  // stays clean under -Wmissing-field-initializers.
  std::string name{};
  std::string addr{};  // numeric IP text: "10.0.0.1" or "fd00::1"
  uint16_t port = 0;
  std::map<std::string, std::string> tags{};
  enum class Status : uint8_t { None, Alive, Leaving, Left, Failed };
  Status status = Status::None;
  uint32_t incarnation = 0;
  // The node's Vsn bytes, as the RPC `members` reply shows them.
  uint8_t protocol_min = 0, protocol_max = 0, protocol_cur = 0;
  uint8_t delegate_min = 0, delegate_max = 0, delegate_cur = 0;

  bool operator==(const MemberInfo&) const = default;
};

// A name, tag or address from the wire as herd prints it (`show members`,
// logs, the stats page's text): bytes outside printable ASCII, spaces, ','
// and '\\' as \\xHH, so one member is one line and one field whatever its
// name holds.
inline std::string printable(std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if (c > 0x20 && c < 0x7f && c != '\\' && c != ',') {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

// Serf's status words: "none", "alive", "leaving", "left", "failed".
inline const char* to_string(MemberInfo::Status s) {
  switch (s) {
    case MemberInfo::Status::Alive:
      return "alive";
    case MemberInfo::Status::Leaving:
      return "leaving";
    case MemberInfo::Status::Left:
      return "left";
    case MemberInfo::Status::Failed:
      return "failed";
    case MemberInfo::Status::None:
      break;
  }
  return "none";
}

// One Serf event. Member events (Join..Reap) carry `members` (Serf
// coalesces member events, so one event may name many members); User
// carries user_name/payload/ltime/coalesce; Query carries user_name (the
// query name), payload, ltime and query_id (opaque, for a response).
struct MemberEvent {
  enum class Type : uint8_t { Join, Leave, Failed, Update, Reap, User, Query };
  Type type = Type::Join;
  std::vector<MemberInfo> members{};
  std::string user_name{};
  std::string payload{};
  uint64_t ltime = 0;
  bool coalesce = false;
  uint64_t query_id = 0;

  bool is_member_event() const { return type <= Type::Reap; }
};

// Serf's event type words (SERF_EVENT, RPC stream records, handler filters):
// "member-join", "member-leave", "member-failed", "member-update",
// "member-reap", "user", "query".
inline const char* to_string(MemberEvent::Type t) {
  switch (t) {
    case MemberEvent::Type::Join:
      return "member-join";
    case MemberEvent::Type::Leave:
      return "member-leave";
    case MemberEvent::Type::Failed:
      return "member-failed";
    case MemberEvent::Type::Update:
      return "member-update";
    case MemberEvent::Type::Reap:
      return "member-reap";
    case MemberEvent::Type::User:
      return "user";
    case MemberEvent::Type::Query:
      return "query";
  }
  return "unknown";
}

}  // namespace herd::membership
