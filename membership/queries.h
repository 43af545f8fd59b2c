// membership/queries.h — Serf 0.8 queries without sockets or clocks: the
// query Lamport clock, receiving queries (dedupe by LTime and ID, node and
// tag filters, ack when asked, re-broadcast unless flagged not to, relay of
// acks and responses through RelayFactor other members), answering within
// the query's deadline, relaying other members' relayed messages, and
// originating queries (collect acks and responses until the timeout).
//
// Internal queries are answered here: `_serf_ping` (the ack is the answer),
// `_serf_conflict` (our view of the named member), and the key queries
// `_serf_install-key`, `_serf_use-key`, `_serf_remove-key`,
// `_serf_list-keys`, applied to the keyring the host lends (responses are
// Serf's nodeKeyResponse: 0x08 + {Keys, Message, PrimaryKey, Result}). The
// originator side of key queries (Serf's KeyManager) is key_request().
// User queries go to the host as MemberEvent{Query} with a local id that
// respond() answers (handlers' stdout, RPC `respond`).
//
// Everything leaves through the QueryHost (direct UDP user messages and
// gossip broadcasts); time enters only as the `now` arguments; randomness
// (query IDs, relay choice) from a seeded generator. See
// docs/serf-protocol.md §9.5.
//
// Thread rules: not thread-safe. The gossip/control thread calls every
// member function; host calls and callbacks run inside those calls.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "membership/keyring.h"
#include "membership/member_types.h"
#include "membership/rpc_msgs.h"
#include "membership/serf_msgs.h"
#include "membership/swim.h"

namespace herd::membership {

// PROTOCOL: Serf's limits and names, shared with every agent.
inline constexpr std::size_t kQuerySizeLimit = 1024;          // encoded query message
inline constexpr std::size_t kQueryResponseSizeLimit = 1024;  // encoded response message
inline constexpr std::size_t kQueryBuffer = 512;              // LTime slots remembered
inline constexpr std::string_view kInternalQueryPrefix = "_serf_";

// What the query layer needs from the member around it.
class QueryHost {
 public:
  struct Peer {
    std::string name;
    swim::Address addr;
    bool alive = false;
    uint8_t protocol_max = 0;
  };
  virtual ~QueryHost() = default;
  // A serf message (type byte first) as a memberlist user message, by UDP,
  // straight to `to` (never gossiped).
  virtual void send_direct(const swim::Address& to, Bytes serf_msg) = 0;
  // A serf message queued for gossip.
  virtual void broadcast(Bytes serf_msg) = 0;
  // Every member we know (ourselves included), for relays and conflicts.
  virtual std::vector<Peer> peers() const = 0;
  // memberlist NumMembers(): members not dead or left, ourselves included.
  virtual std::size_t num_members() const = 0;
  // Our own tags (filters) and address (where responses come back).
  virtual std::map<std::string, std::string> tags() const = 0;
  virtual swim::Address self_address() const = 0;
  // A user query for handlers and RPC streams (query_id answers it).
  virtual void deliver(MemberEvent query) = 0;
  // `_serf_conflict`: our record of `name` (nullopt: unknown).
  virtual std::optional<MemberInfo> member(const std::string& name) const = 0;
  // The keyring to rotate (nullptr: encryption not enabled) and a hook run
  // after each change (persistence); it returns "" or an error text.
  virtual Keyring* keyring() = 0;
  virtual std::string keyring_changed() { return ""; }
  virtual void log(const std::string& line) { (void)line; }
};

class Queries {
 public:
  struct Counters {
    uint64_t received = 0;    // queries accepted (first sight)
    uint64_t duplicates = 0;  // dropped: seen already or too old
    uint64_t filtered = 0;    // accepted but not for us
    uint64_t acks_sent = 0;
    uint64_t responses_sent = 0;
    uint64_t relayed = 0;  // relay messages forwarded for others
    uint64_t started = 0;  // queries we originated
  };
  // How a query we originate is sent (Serf's QueryParam).
  struct Params {
    std::optional<std::vector<std::string>> filter_nodes;
    std::map<std::string, std::string> filter_tags;
    bool request_ack = false;
    uint8_t relay_factor = 0;
    std::chrono::nanoseconds timeout{0};  // 0: default_timeout()
  };
  struct Handlers {
    std::function<void(const std::string& from)> ack;
    std::function<void(const std::string& from, const Bytes& payload)> response;
    std::function<void()> done;  // at the deadline
  };

  Queries(std::string node, QueryHost& host, uint64_t seed);

  // Query clock (push/pull state and merge).
  uint64_t ltime() const { return clock_; }
  void witness(uint64_t t) {
    if (t >= clock_) clock_ = t + 1;
  }

  // Queries older than `t` are ignored (Serf's queryMinTime: the query clock
  // restored from a snapshot, plus one).
  void set_min_time(uint64_t t) { min_time_ = t; }

  // A received query; returns whether to re-broadcast it.
  bool handle_query(const serf::Query& q, swim::TimePoint now);
  // A received ack or response (for a query we started).
  void handle_response(const serf::QueryResponse& r);
  // A relay message: forward its inner message to its destination.
  void handle_relay(const serf::Relay& r);

  // Starts a query (Serf.Query): error text or "" and `h` is called later.
  // Names with the internal prefix are refused unless `internal`.
  std::string start(const std::string& name, std::optional<Bytes> payload, const Params& p,
                    Handlers h, swim::TimePoint now, bool internal = false);
  // Answers a delivered user query; "" or Serf's error text.
  std::string respond(uint64_t query_id, const Bytes& payload, swim::TimePoint now);
  // Serf's KeyManager: `op` one of rpc::kInstallKey/kUseKey/kRemoveKey/
  // kListKeys; `done(error, response)` at the end (every member answered or
  // the query timed out).
  void key_request(std::string_view op, const std::string& key_b64, uint8_t relay_factor,
                   std::function<void(std::string, rpc::KeyResponse)> done, swim::TimePoint now);

  // Serf's name-conflict resolution: asks the cluster (`_serf_conflict`)
  // who holds our name; `done(keep, matching, responses)` at the deadline,
  // keep when at least responses / 2 + 1 answered with our address.
  void resolve_conflict(std::function<void(bool keep, int matching, int responses)> done,
                        swim::TimePoint now);

  // Closes expired queries (done), forgets expired deliveries.
  void tick(swim::TimePoint now);
  swim::TimePoint next_deadline() const;
  // GossipInterval × QueryTimeoutMult × ceil(log10(N + 1)).
  std::chrono::nanoseconds default_timeout() const;

  const Counters& counters() const { return counters_; }
  std::size_t pending() const { return outgoing_.size(); }

 private:
  struct Outgoing {
    uint32_t id = 0;
    swim::TimePoint deadline{};
    std::set<std::string> acks, responses;
    Handlers h;
  };
  struct Delivered {
    serf::Query q;
    swim::TimePoint deadline{};
  };
  bool should_process(const std::optional<std::vector<Bytes>>& filters) const;
  void send_response(const serf::Query& q, serf::QueryResponse r);
  void relay(uint8_t factor, const swim::Address& dest, const serf::QueryResponse& r);
  void internal(const serf::Query& q, swim::TimePoint now);
  Bytes key_reply(const serf::Query& q);

  std::string node_;
  QueryHost& host_;
  std::mt19937_64 rng_;
  uint64_t clock_ = 1;
  uint64_t min_time_ = 0;
  struct Seen {
    uint64_t ltime = 0;
    std::vector<uint32_t> ids;
  };
  std::vector<Seen> seen_ = std::vector<Seen>(kQueryBuffer);
  std::map<uint64_t, Outgoing> outgoing_;  // by LTime
  std::map<uint64_t, Delivered> delivered_;
  uint64_t next_local_id_ = 1;
  Counters counters_;
};

}  // namespace herd::membership
