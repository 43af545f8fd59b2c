// membership/rpc_msgs.h — Serf's RPC ("IPC") protocol on TCP 7373, as used by
// the stock `serf` CLI (members, join, leave, force-leave, stats/info, event,
// tags, query, stream, monitor, stop, keys).
//
// Framing: a plaintext stream of msgpack objects in the RPC flavour (str8 for
// strings, bin for byte slices; decoding accepts both flavours). Client →
// agent: RequestHeader then a body only for commands that have one; agent →
// client: ResponseHeader then a body only for commands that have one. Which
// body follows is decided purely by the command (request_has_body /
// response_body below); streaming commands (stream, monitor, query) later
// send more header+record pairs with their request's Seq.
// See docs/serf-protocol.md §11.
//
// Thread rules: pure functions on values; any thread. StreamDecoder is a
// plain value owned by one connection.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "membership/msgpack.h"
#include "membership/wire_result.h"

namespace herd::membership::rpc {

// PROTOCOL: command names and the IPC version are shared with every serf
// client. Append only.
inline constexpr int32_t kIpcVersion = 1;
inline constexpr std::string_view kHandshake = "handshake";
inline constexpr std::string_view kAuth = "auth";
inline constexpr std::string_view kMembers = "members";
inline constexpr std::string_view kMembersFiltered = "members-filtered";
inline constexpr std::string_view kJoin = "join";
inline constexpr std::string_view kLeave = "leave";
inline constexpr std::string_view kForceLeave = "force-leave";
inline constexpr std::string_view kEvent = "event";
inline constexpr std::string_view kTags = "tags";
inline constexpr std::string_view kStream = "stream";
inline constexpr std::string_view kMonitor = "monitor";
inline constexpr std::string_view kStop = "stop";
inline constexpr std::string_view kQuery = "query";
inline constexpr std::string_view kRespond = "respond";
inline constexpr std::string_view kInstallKey = "install-key";
inline constexpr std::string_view kUseKey = "use-key";
inline constexpr std::string_view kRemoveKey = "remove-key";
inline constexpr std::string_view kListKeys = "list-keys";
inline constexpr std::string_view kStats = "stats";
inline constexpr std::string_view kGetCoordinate = "get-coordinate";

// PROTOCOL: error strings the CLI shows / compares. Append only.
inline constexpr std::string_view kErrHandshakeRequired = "Handshake required";
inline constexpr std::string_view kErrUnsupportedVersion = "Unsupported IPC version";
inline constexpr std::string_view kErrDuplicateHandshake = "Handshake already performed";
inline constexpr std::string_view kErrAuthRequired = "Authentication required";
inline constexpr std::string_view kErrUnsupportedCommand = "Unsupported command";
inline constexpr std::string_view kErrInvalidFilter = "Invalid event filter";

// Query record types and member status strings.
inline constexpr std::string_view kQueryRecordAck = "ack";
inline constexpr std::string_view kQueryRecordResponse = "response";
inline constexpr std::string_view kQueryRecordDone = "done";

struct RequestHeader {
  std::string command;
  uint64_t seq = 0;
  bool operator==(const RequestHeader&) const = default;
};

struct ResponseHeader {
  std::string error;
  uint64_t seq = 0;
  bool operator==(const ResponseHeader&) const = default;
};

using StringMap = std::map<std::string, std::string>;

struct HandshakeRequest {
  int32_t version = 0;
  bool operator==(const HandshakeRequest&) const = default;
};
struct AuthRequest {
  std::string auth_key;
  bool operator==(const AuthRequest&) const = default;
};
struct MembersFilteredRequest {
  std::string name;    // anchored RE2, "" = any
  std::string status;  // anchored RE2, "" = any
  StringMap tags;      // tag -> anchored RE2
  bool operator==(const MembersFilteredRequest&) const = default;
};
struct Member {
  Bytes addr;  // 4/16-byte IP (bin)
  uint8_t delegate_cur = 0;
  uint8_t delegate_max = 0;
  uint8_t delegate_min = 0;
  std::string name;
  uint16_t port = 0;
  uint8_t protocol_cur = 0;
  uint8_t protocol_max = 0;
  uint8_t protocol_min = 0;
  std::string status;  // alive | leaving | left | failed
  StringMap tags;
  bool operator==(const Member&) const = default;
};
struct MembersResponse {
  std::vector<Member> members;
  bool operator==(const MembersResponse&) const = default;
};
struct JoinRequest {
  std::vector<std::string> existing;
  bool replay = false;
  bool operator==(const JoinRequest&) const = default;
};
struct JoinResponse {
  int32_t num = 0;
  bool operator==(const JoinResponse&) const = default;
};
struct ForceLeaveRequest {
  std::string node;
  bool prune = false;
  bool operator==(const ForceLeaveRequest&) const = default;
};
struct EventRequest {
  bool coalesce = false;
  std::string name;
  std::optional<Bytes> payload;
  bool operator==(const EventRequest&) const = default;
};
struct TagsRequest {
  std::optional<std::vector<std::string>> delete_tags;
  StringMap tags;
  bool operator==(const TagsRequest&) const = default;
};
struct StreamRequest {
  std::string type;  // event filter
  bool operator==(const StreamRequest&) const = default;
};
struct MonitorRequest {
  std::string log_level;
  bool operator==(const MonitorRequest&) const = default;
};
struct StopRequest {
  uint64_t stop = 0;
  bool operator==(const StopRequest&) const = default;
};
struct QueryRequest {
  std::optional<std::vector<std::string>> filter_nodes;
  StringMap filter_tags;
  std::string name;
  std::optional<Bytes> payload;
  uint8_t relay_factor = 0;
  bool request_ack = false;
  int64_t timeout_ns = 0;
  bool operator==(const QueryRequest&) const = default;
};
struct QueryRecord {
  std::string from;
  std::optional<Bytes> payload;
  std::string type;  // ack | response | done
  bool operator==(const QueryRecord&) const = default;
};
struct RespondRequest {
  uint64_t id = 0;
  std::optional<Bytes> payload;
  bool operator==(const RespondRequest&) const = default;
};
struct KeyRequest {
  std::string key;  // base64
  bool operator==(const KeyRequest&) const = default;
};
struct KeyResponse {
  std::map<std::string, int64_t> keys;
  StringMap messages;
  int64_t num_err = 0;
  int64_t num_nodes = 0;
  int64_t num_resp = 0;
  bool operator==(const KeyResponse&) const = default;
};
// stats: section -> (key -> value); both levels keep wire order (Go maps).
struct StatsResponse {
  std::vector<std::pair<std::string, std::vector<std::pair<std::string, std::string>>>> sections;
  bool operator==(const StatsResponse&) const = default;
};
struct CoordinateRequest {
  std::string node;
  bool operator==(const CoordinateRequest&) const = default;
};
struct RpcCoordinate {
  double adjustment = 0;
  double error = 0;
  double height = 0;
  std::vector<double> vec;
  bool operator==(const RpcCoordinate&) const = default;
};
struct CoordinateResponse {
  RpcCoordinate coord;
  bool ok = false;
  bool operator==(const CoordinateResponse&) const = default;
};

// Records sent on a `stream` subscription.
struct MemberEventRecord {
  std::string event;  // member-join | member-leave | member-failed | member-update | member-reap
  std::vector<Member> members;
  bool operator==(const MemberEventRecord&) const = default;
};
struct UserEventRecord {
  bool coalesce = false;
  std::string event = "user";
  uint64_t ltime = 0;
  std::string name;
  std::optional<Bytes> payload;
  bool operator==(const UserEventRecord&) const = default;
};
struct QueryEventRecord {
  std::string event = "query";
  uint64_t id = 0;
  uint64_t ltime = 0;
  std::string name;
  std::optional<Bytes> payload;
  bool operator==(const QueryEventRecord&) const = default;
};
// Records sent on a `monitor` subscription.
struct LogRecord {
  std::string log;
  bool operator==(const LogRecord&) const = default;
};

// Writers (RPC flavour, sorted keys) and readers for every type above.
#define HERD_RPC_CODEC(T)                     \
  void write(msgpack::Writer& w, const T& v); \
  bool read(msgpack::Reader& r, T& v);
HERD_RPC_CODEC(RequestHeader)
HERD_RPC_CODEC(ResponseHeader)
HERD_RPC_CODEC(HandshakeRequest)
HERD_RPC_CODEC(AuthRequest)
HERD_RPC_CODEC(MembersFilteredRequest)
HERD_RPC_CODEC(Member)
HERD_RPC_CODEC(MembersResponse)
HERD_RPC_CODEC(JoinRequest)
HERD_RPC_CODEC(JoinResponse)
HERD_RPC_CODEC(ForceLeaveRequest)
HERD_RPC_CODEC(EventRequest)
HERD_RPC_CODEC(TagsRequest)
HERD_RPC_CODEC(StreamRequest)
HERD_RPC_CODEC(MonitorRequest)
HERD_RPC_CODEC(StopRequest)
HERD_RPC_CODEC(QueryRequest)
HERD_RPC_CODEC(QueryRecord)
HERD_RPC_CODEC(RespondRequest)
HERD_RPC_CODEC(KeyRequest)
HERD_RPC_CODEC(KeyResponse)
HERD_RPC_CODEC(StatsResponse)
HERD_RPC_CODEC(CoordinateRequest)
HERD_RPC_CODEC(CoordinateResponse)
HERD_RPC_CODEC(MemberEventRecord)
HERD_RPC_CODEC(UserEventRecord)
HERD_RPC_CODEC(QueryEventRecord)
HERD_RPC_CODEC(LogRecord)
#undef HERD_RPC_CODEC

// Encodes any of the types above as one RPC-flavour object.
template <class T>
Bytes encode(const T& v) {
  msgpack::Writer w(msgpack::Flavor::kRpc);
  write(w, v);
  return w.take();
}

// Whether a request of this command carries a body after its header.
bool request_has_body(std::string_view command);
// What follows a successful (or, for join, any) response header.
enum class ResponseBody : uint8_t {
  kNone,
  kMemberList,  // members, members-filtered
  kJoinCount,   // sent even when Error is set
  kKeys,        // install/use/remove/list-keys
  kStatsMap,
  kCoordinate,
  kUnknownCommand,
};
ResponseBody response_body(std::string_view command);

// Incremental decoder for one direction of an RPC connection: feed() bytes
// as they arrive, then call next() until it returns nullopt ("need more").
// Each object is returned as its raw bytes so the caller can decode it with
// the type it expects. A malformed object (not merely incomplete) is a
// protocol error: the connection should be closed.
class StreamDecoder {
 public:
  explicit StreamDecoder(std::size_t max_object = 1u << 20) : max_object_(max_object) {}
  void feed(ByteView data);
  // nullopt: incomplete, wait for more; error: malformed or over the limit.
  std::optional<Result<Bytes>> next();
  std::size_t buffered() const { return buf_.size() - pos_; }

 private:
  Bytes buf_;
  std::size_t pos_ = 0;
  std::size_t max_object_;
};

// Decodes exactly one object of type T from raw (no trailing bytes).
template <class T>
Result<T> decode(ByteView raw) {
  msgpack::Reader r(raw);
  T v{};
  if (!read(r, v)) return msgpack_error(r, "rpc object");
  if (!r.at_end()) return WireError{WireErrc::kMsgpack, "rpc object: trailing bytes"};
  return v;
}

}  // namespace herd::membership::rpc
