// membership/rpc_server.h — Serf's RPC ("IPC") server on TCP (default
// 127.0.0.1:7373), so the stock `serf members|join|leave|force-leave|info|
// event|tags|monitor -rpc-addr=...` CLI works against herd.
//
// Commands: handshake, auth, members, members-filtered (server-side anchored
// regex filters, as serf), join, leave, force-leave, event, tags, stats,
// stream (member/user/query events pushed by publish()), monitor (log lines
// pushed by log(), with a replay of the recent ones), stop, get-coordinate
// (the member's cached Vivaldi coordinate, Ok=false when none), query (header, then ack/response
// records and a done record with the request's Seq), respond, and the key commands
// install-key/use-key/remove-key/list-keys (answered when the cluster-wide
// key query finished; a connection's later requests wait for it). Protocol rules
// (docs/serf-protocol.md §11.2): handshake first ("Handshake required" and
// close otherwise), "Authentication required" until `auth` when an auth key
// is set, "Unsupported command" then close, invalid filter regex: close
// without a reply. Requests on one connection are answered in order; a
// join/leave in progress holds back the connection's later requests.
//
// The member itself is behind RpcBackend, so tests use a fake and app/
// wires the real SWIM/Serf member.
//
// Thread rules: control thread only. The server, every RpcBackend call and
// every completion callback run on the thread running `control`; backends
// must call join/leave completions on that thread too (post them there).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "membership/member_types.h"
#include "membership/rpc_msgs.h"

namespace herd::membership {

// What the RPC server asks of the member. Errors are returned as text ("" =
// success); the text is sent to the CLI verbatim.
class RpcBackend {
 public:
  virtual ~RpcBackend() = default;
  // Every known member, ourselves included, with serf's statuses.
  virtual std::vector<MemberInfo> members() = 0;
  // Contacts each address ("host[:port]"); `done(num_joined, error)`.
  virtual void join(const std::vector<std::string>& addrs, bool replay,
                    std::function<void(int32_t, std::string)> done) = 0;
  // Graceful leave; `done(error)` once it finished (the reply is sent then).
  virtual void leave(std::function<void(std::string)> done) = 0;
  virtual std::string force_leave(const std::string& node, bool prune) = 0;
  virtual std::string user_event(const std::string& name, const std::string& payload,
                                 bool coalesce) = 0;
  virtual std::string update_tags(const std::map<std::string, std::string>& set,
                                  const std::vector<std::string>& remove) = 0;
  // `serf info`: sections agent, runtime, serf, tags (wire order kept).
  virtual rpc::StatsResponse stats() = 0;

  // A query's acks and responses, then done at its deadline (control thread).
  struct QueryStream {
    std::function<void(const std::string& from)> ack;
    std::function<void(const std::string& from, const Bytes& payload)> response;
    std::function<void()> done;
  };
  // `query`: "" and the stream is fed later, or an error text.
  virtual std::string query(const rpc::QueryRequest& req, QueryStream stream) {
    (void)req, (void)stream;
    return "herd: queries are not supported";
  }
  // `respond` to a query delivered on a `stream` subscription.
  virtual std::string respond(uint64_t id, const Bytes& payload) {
    (void)id, (void)payload;
    return "herd: queries are not supported";
  }
  // get-coordinate: the member's cached network coordinate, if any.
  virtual std::optional<rpc::RpcCoordinate> coordinate(const std::string& node) {
    (void)node;
    return std::nullopt;
  }
  // install-key / use-key / remove-key / list-keys: `done(error, body)`,
  // posted to the control thread, never from inside this call.
  virtual void keys(std::string_view command, const std::string& key,
                    std::function<void(std::string, rpc::KeyResponse)> done) {
    (void)command, (void)key;
    done("herd: key management over RPC is not supported", rpc::KeyResponse{});
  }
};

// Encodes a member as the RPC reply shows it (Addr as 4/16 bytes).
rpc::Member to_rpc_member(const MemberInfo& m);

class RpcServer {
 public:
  struct Options {
    std::string auth_key;                  // "" = no auth (serf -rpc-auth)
    std::size_t max_connections = 128;     // further connections are closed at once
    std::size_t max_out_bytes = 16 << 20;  // a subscriber this far behind is dropped
    std::size_t log_replay = 256;          // lines kept for `monitor` replay
  };

  RpcServer(boost::asio::io_context& control, RpcBackend& backend);
  RpcServer(boost::asio::io_context& control, RpcBackend& backend, Options opts);
  ~RpcServer();  // closes everything; no callback touches the server afterwards
  RpcServer(const RpcServer&) = delete;
  RpcServer& operator=(const RpcServer&) = delete;

  // Binds ip:port (port 0: an ephemeral port, see port()) and accepts.
  // Returns "" or an error text naming the address.
  std::string listen(const std::string& ip, uint16_t port);
  // Reloads: accepts on `fd`, a listening socket a previous process handed
  // over (app/handover.h), instead of binding. Returns "" or an error text.
  std::string adopt(int fd);
  // The listening socket (-1 when closed), for a successor.
  int native_fd() const;
  uint16_t port() const;
  // Stops accepting and closes every connection.
  void close();

  // Pushes an event to every `stream` subscription whose filter matches.
  void publish(const MemberEvent& ev);
  // Pushes a log line to `monitor` subscribers (and keeps it for replay).
  void log(std::string_view line);

  std::size_t connections() const;

 private:
  class Conn;
  struct State;
  void accept();
  std::shared_ptr<State> st_;
};

}  // namespace herd::membership
