// membership/settings.h — the gossip member's settings: the YAML file given
// with `--membership` and the Serf-style agent flags (-node, -bind,
// -advertise, -rpc-addr, -join, -retry-join, -tag k=v, -encrypt, -keyring-file,
// -snapshot, -rejoin, -tags-file, -profile, -event-handler, ...). Documented in
// docs/membership-config.md.
//
// Defaults are serf agent's: bind 0.0.0.0:7946, rpc 127.0.0.1:7373, node =
// the host name. Every error names the key (or flag) and the file, with the
// line when YAML knows it: "membership.yaml:12: pools[0].port: ...".
//
// Thread rules: pure functions on values; the main thread calls them at
// start-up, before any other thread exists.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "config/model.h"

namespace herd::membership {

// `pools:` entry: which members become servers of which backend.
struct PoolRule {
  std::string backend;                       // a backend (or listen) section of haproxy.cfg
  std::map<std::string, std::string> match;  // tag -> anchored regex (an exact value is one)
  uint16_t port = 0;                         // fixed server port, or
  std::string port_tag;                      // the tag holding the port
  std::string server;                        // options appended to each generated server line
  config::Server options;                    // `server` parsed (check, weight, maxconn, ...)
  config::Location where;                    // the entry in the YAML file
};

// memberlist's timing values, set as a whole by a profile (serf -profile):
// lan = DefaultLANConfig (the default), wan = DefaultWANConfig, local =
// DefaultLocalConfig.
struct GossipTiming {
  std::chrono::milliseconds probe_interval{1000};
  std::chrono::milliseconds probe_timeout{500};
  std::chrono::milliseconds gossip_interval{200};
  std::chrono::milliseconds gossip_to_the_dead_time{30000};
  std::chrono::milliseconds push_pull_interval{30000};
  std::chrono::milliseconds tcp_timeout{10000};
  int gossip_nodes = 3;
  int indirect_checks = 3;
  int retransmit_mult = 4;
  int suspicion_mult = 4;
  bool operator==(const GossipTiming&) const = default;
};
// The timing of a profile name; false for an unknown name.
bool profile_timing(std::string_view profile, GossipTiming& out);

struct MembershipSettings {
  std::string file;  // the YAML file, "" when only flags were given

  std::string node;  // "" until finalize(): the host name
  std::string bind_ip = "0.0.0.0";
  uint16_t bind_port = 7946;
  std::string advertise_ip;  // "" = derived from bind by the member
  uint16_t advertise_port = 0;

  bool rpc_enabled = true;  // `rpc: off` disables the RPC port
  std::string rpc_ip = "127.0.0.1";
  uint16_t rpc_port = 7373;
  std::string rpc_auth;  // optional RPC auth key (serf -rpc-auth)

  std::vector<std::string> join;  // "host[:port]" seeds, retried with backoff
  bool replay = false;            // replay user events on join (serf -replay)
  // memberlist's DisableTcpPings: no TCP fallback ping when a direct UDP
  // probe times out (indirect pings only).
  bool disable_tcp_pings = false;
  std::chrono::milliseconds retry_interval{30000};  // longest delay between join attempts
  int retry_max = 0;                                // 0: retry forever
  // Serf's reconnect and reap: every reconnect_interval a random failed
  // member is tried again (push/pull join to its last address); failed
  // members are forgotten (member-reap) after reconnect_timeout, left ones
  // after tombstone_timeout.
  std::chrono::milliseconds reconnect_interval{30000};
  std::chrono::milliseconds reconnect_timeout{24 * 3600 * 1000};
  std::chrono::milliseconds tombstone_timeout{24 * 3600 * 1000};
  // Member events for handler scripts are coalesced as serf agent does
  // (coalescer.h): delivered once none came for quiescent_period, at most
  // coalesce_period after the first.
  std::chrono::milliseconds coalesce_period{3000};
  std::chrono::milliseconds quiescent_period{1000};

  std::map<std::string, std::string> tags;
  std::string encrypt;                      // base64 key, 16/24/32 bytes once decoded
  // Serf's -keyring-file: JSON array of base64 keys, primary first; read at
  // start, rewritten after every key change (keyring.h). Not with `encrypt`.
  std::string keyring_file;
  // Serf's -snapshot: members, clocks and alive addresses (snapshot.h);
  // rejoined at start without -join. `rejoin` (serf -rejoin) rejoins even
  // after a graceful leave.
  std::string snapshot;
  bool rejoin = false;
  // Serf's -tags-file: JSON tags read at start (not with `tags`), rewritten
  // when the RPC `tags` command changes them.
  std::string tags_file;
  std::string profile = "lan";              // serf -profile: lan, wan or local
  GossipTiming timing;                      // from `profile`
  std::vector<std::string> event_handlers;  // Serf syntax, see handlers.h
  std::vector<PoolRule> pools;
};

// Parses the YAML text of `file` into `out` (starting from `out`'s current
// values). Returns false and appends messages to `errors` on any error.
bool parse_yaml(std::string_view text, const std::string& file, MembershipSettings& out,
                std::vector<std::string>& errors);
// Reads and parses a file.
bool load_yaml_file(const std::string& path, MembershipSettings& out,
                    std::vector<std::string>& errors);

// Serf-style flags, accepted as `-flag value`, `-flag=value`, `--flag value`.
// Returns how many arguments starting at args[i] were consumed: 0 when
// args[i] is not a membership flag (the caller handles it), else 1 or 2.
// A known flag with a bad value consumes its arguments and appends an error.
int consume_flag(const std::vector<std::string>& args, std::size_t i, MembershipSettings& out,
                 std::vector<std::string>& errors);
// Whether `arg` (e.g. "-node", "--tag=x") names a membership flag.
bool is_membership_flag(std::string_view arg);
// Parses a whole list; arguments that are not membership flags go to `rest`.
bool parse_flags(const std::vector<std::string>& args, MembershipSettings& out,
                 std::vector<std::string>& errors, std::vector<std::string>* rest = nullptr);

// Applies defaults (node = host name) and checks the settings against the
// haproxy.cfg (each pool's backend exists and has a backend side). Call
// after YAML and flags. Returns false with messages appended to `errors`.
bool finalize(MembershipSettings& s, const config::Config* cfg, std::vector<std::string>& errors);

// Parses server options ("check inter 2s weight 10 maxconn 50 backup") into
// `out` (starting from HAProxy's defaults in config::Server). Known: check,
// no-check, weight, maxconn, maxqueue, backup, non-backup, disabled,
// enabled, inter, fastinter, downinter, rise, fall, port (check port), addr
// (check address), cookie, observe, error-limit, on-error. Returns "" or
// the error text.
std::string parse_server_options(std::string_view text, config::Server& out);

// "host:port", "[v6]:port", "host" or bare IPv6 (port = default_port).
// Returns false when a given port is not 1..65535 or the host is empty.
bool split_host_port(std::string_view text, uint16_t default_port, std::string& host,
                     uint16_t& port);

// Delay before join attempt number `attempt` (0 = the first retry): 1 s,
// doubling, capped at retry_interval. The member calls it while a seed
// has not answered; stop after retry_max attempts when retry_max > 0.
std::chrono::milliseconds join_backoff(const MembershipSettings& s, int attempt);

// Go's time.ParseDuration: a sequence of decimal numbers with optional
// fraction and a unit (ns, us, µs, ms, s, m, h), e.g. "1.5s", "100ms",
// "1m30s"; a leading '+' is allowed, a '-' is not (no setting is negative).
// A bare number is seconds (herd's older settings files used them). The
// result is rounded down to milliseconds. False on any other text.
bool parse_go_duration(std::string_view text, std::chrono::milliseconds& out);

// The host name as serf uses it for the default node name.
std::string default_node_name();

}  // namespace herd::membership
