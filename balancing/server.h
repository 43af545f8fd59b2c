// balancing/server.h — one server of a backend, as a pool snapshot holds it.
//
// A Server is immutable once published: the control thread builds a new one
// for every change (state, weight, address) and publishes it in a new
// BackendSnapshot. What changes per request lives in ServerLive, which the
// control thread allocates once per server *identity* and carries over from
// snapshot to snapshot, so counters survive state changes and in-flight
// requests on an old snapshot still count against the same server.
//
// States follow HAProxy: the admin state (MAINT/DRAIN, set by operators) is
// kept apart from the operational state (UP/DOWN, set by health checks and
// membership). Flag values match `show servers state`.
//
// Thread rules: Server fields: read from any thread holding the snapshot.
// ServerLive: gauges and counters from any thread (see counters.h); the
// HealthView only under its mutex (control thread writes, stats reads).
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "balancing/counters.h"
#include "balancing/time_stats.h"
#include "config/model.h"

namespace herd::balancing {

// srv_admin_state bits, as HAProxy prints them in `show servers state`.
enum AdminFlags : uint32_t {
  kAdminForcedMaint = 0x01,   // `disable server`, `set server ... state maint`
  kAdminInheritMaint = 0x02,  // tracked server in maint (unused by herd)
  kAdminConfigMaint = 0x04,   // `disabled` in the config: a mark, not a maintenance by itself
                              // (it comes with kAdminForcedMaint, which `ready` clears)
  kAdminForcedDrain = 0x08,   // `set server ... state drain`, member leaving
  kAdminInheritDrain = 0x10,
  kAdminResolveMaint = 0x20,
  // haproxy's SRV_ADMF_MAINT (0x23): every maintenance flag but the config mark.
  kAdminMaintMask = kAdminForcedMaint | kAdminInheritMaint | kAdminResolveMaint,
  kAdminDrainMask = kAdminForcedDrain | kAdminInheritDrain,
};

// srv_op_state values.
enum class OpState : uint8_t { Stopped = 0, Starting = 1, Running = 2, Stopping = 3 };

// Where a server came from: the config file, the runtime API or a gossip member.
enum class Origin : uint8_t { Config, Runtime, Member };

// A socket address ready for connect(2).
struct Endpoint {
  sockaddr_storage storage{};
  socklen_t len = 0;
  std::string ip;  // numeric text, "127.0.0.1"
  uint16_t port = 0;
  // Parses a numeric IPv4/IPv6 address; returns false when `ip` is not one.
  static bool parse(const std::string& ip, uint16_t port, Endpoint& out);
  std::string to_string() const;  // "127.0.0.1:3000", "[::1]:3000"
};

// Health-check results for display (stats page, CSV, runtime API). Written
// by health/ on the control thread, read by stats under the mutex; never
// consulted on the request path.
struct HealthView {
  std::string check_status;  // "INI", "L4OK", "L7OK", "L7STS", ... ("" when no check)
  int check_code = 0;        // HTTP status of the last check, 0 if none
  int check_duration_ms = -1;
  std::string check_desc;  // "Layer7 check passed", ...
  std::string check_info;  // e.g. "Connection refused"
  int health = 0;          // HAProxy's health counter h, 0..rise+fall-1
  bool running = false;    // a check is in progress ("* " prefix)
  std::chrono::steady_clock::time_point last_check{};
};

// Per-server state shared by every snapshot that contains this server.
struct ServerLive {
  Gauge inflight;  // requests assigned and not finished (scur/smax, leastconn, maxconn)
  Gauge queued;    // requests waiting for a slot (qcur/qmax)
  CounterSet counters;
  TimeMaxes times;                           // qtime_max ... ttime_max (time_stats.h)
  std::atomic<int64_t> last_session_ms{-1};  // steady-clock ms of the last pick, -1 never
  // Passive health (`observe`): consecutive errors seen on traffic; reset by
  // a success. Workers update it; the control thread acts at `error_limit`.
  std::atomic<int32_t> consecutive_errors{0};

  // Display-only, see HealthView.
  mutable std::mutex health_mu;
  HealthView health;  // GUARDED_BY(health_mu)
  // State-change bookkeeping for lastchg/downtime/chkdown, control thread only.
  std::chrono::steady_clock::time_point last_change = std::chrono::steady_clock::now();
  std::chrono::steady_clock::duration downtime{};
};

struct Server {
  int id = 0;  // sid: 1.. within the backend, never reused while the server exists
  std::string name;
  Endpoint addr;
  std::string cookie;  // persistence cookie value, "" when none
  Origin origin = Origin::Config;

  int weight = 1;          // current user weight (uweight), 0..256
  int initial_weight = 1;  // iweight, the configured weight
  bool backup = false;
  int maxconn = 0;   // 0: unlimited
  int maxqueue = 0;  // 0: unlimited
  // `minconn` with the backend's `fullconn` (dynamic_maxconn()); the
  // backend's connection gauge is `be_conns` (set with the snapshot).
  int minconn = 0;
  int fullconn = 0;
  const Gauge* be_conns = nullptr;
  // `on-marked-down shutdown-sessions`, `on-marked-up shutdown-backup-sessions`.
  bool shutdown_on_down = false;
  bool shutdown_backup_on_up = false;
  // `send-proxy` (1) / `send-proxy-v2` (2): each connection to the server
  // starts with the PROXY protocol header naming the client; such a
  // connection serves that client only (never pooled).
  uint8_t send_proxy = 0;
  // `source` of the server line (unset: the backend's, config::Proxy::source).
  config::ConnSource source;
  // `socks4 <addr>:<port>` ("" when none) and `check-via-socks4`.
  std::string socks4_host;
  uint16_t socks4_port = 0;
  bool check_via_socks4 = false;

  uint32_t admin = 0;  // AdminFlags
  OpState op = OpState::Running;

  // `slowstart` (whole seconds, as haproxy 2.6 keeps it; 0: none) and the
  // ramp the writer computes once a second while it runs (PoolWriter,
  // haproxy's server_recalc_eweight()): `ramp_w` is haproxy's w, the
  // weight factor out of kWeightScale (kWeightScale: full weight), applied
  // by the dynamic algorithms; `ramp_pct` scales maxconn (any algorithm).
  // ramp_start_ms: steady-clock ms when the server came UP, -1 when no ramp
  // is running (haproxy's SRV_ST_RUNNING; a ramp is its SRV_ST_STARTING).
  static constexpr int kWeightScale = 16;  // haproxy's BE_WEIGHT_SCALE
  int slowstart_s = 0;
  int64_t ramp_start_ms = -1;
  int ramp_w = kWeightScale;
  int ramp_pct = 100;
  // `hash-key`: what the `hash-type consistent` ring positions derive from.
  config::Server::HashKey hash_key = config::Server::HashKey::Id;

  // Health-check configuration needed to print statuses ("UP 1/3").
  bool check_enabled = false;  // has `check` and health checks are not disabled
  int rise = 2, fall = 3;
  int health = 0;  // h at publication time; see health/ for the state machine
  // How health/ checks it: the server line's `check` (kept while `disable
  // health` clears check_enabled, and for dynamic servers added with `check`,
  // which start disabled as in HAProxy), `inter`/`fastinter`/`downinter`
  // (0: as inter), `port` (0: the server's port) and `addr` ("": the
  // server's address).
  bool check_configured = false;
  int64_t check_inter_ms = 2000;
  int64_t check_fastinter_ms = 0;
  int64_t check_downinter_ms = 0;
  uint16_t check_port = 0;
  std::string check_addr;

  // Passive health (`observe layer4|layer7`, `error-limit`, `on-error`).
  enum class Observe : uint8_t { None, Layer4, Layer7 };
  enum class OnError : uint8_t { FastInter, FailCheck, SuddenDeath, MarkDown };
  Observe observe = Observe::None;
  int error_limit = 10;
  OnError on_error = OnError::FastInter;

  // `ssl` (tls::ClientContext from tls/context.h, opaque here; null: plain
  // TCP) and what the SNI sent to it is (config::Server::Tls).
  std::shared_ptr<const void> tls_ctx;  // also set for `check-ssl` alone
  bool ssl = false;                     // traffic goes over TLS (`ssl`)
  config::Server::Tls::Sni tls_sni = config::Server::Tls::Sni::None;
  std::string tls_sni_arg;
  bool check_ssl = false;  // `check-ssl`

  std::shared_ptr<ServerLive> live;

  bool in_maint() const { return (admin & kAdminMaintMask) != 0; }
  bool draining() const { return (admin & kAdminDrainMask) != 0; }
  // May receive traffic that is pinned to it (cookie persistence).
  bool is_up() const { return !in_maint() && op != OpState::Stopped; }
  // May be chosen by the balancer for new traffic.
  bool usable() const { return is_up() && !draining() && op == OpState::Running && weight > 0; }
  // Effective weight in the user's unit, as the stats show it (0 when not
  // usable): the weight, or during a slowstart ramp haproxy's rounded-up
  // weight * ramp_w / kWeightScale.
  int effective_weight() const {
    return usable() ? (weight * ramp_w + kWeightScale - 1) / kWeightScale : 0;
  }
  // The stats' `weight` column: haproxy's eweight in the user's unit,
  // whatever the state (the weight, less during a slowstart ramp).
  int stats_weight() const { return (weight * ramp_w + kWeightScale - 1) / kWeightScale; }
  // The stats' `throttle` column during a ramp: haproxy's
  // server_throttle_rate(), the ramped share of the weight in %, rounded up.
  int throttle_pct() const {
    return weight == 0 ? 100 : (100 * weight * ramp_w + kWeightScale - 1) / (kWeightScale * weight);
  }
  // haproxy's eweight for the dynamic algorithms (kWeightScale x weight at
  // full throttle): what roundrobin, leastconn, random and the consistent
  // hash ring weigh a server with.
  int scaled_weight() const { return weight * ramp_w; }
  // Has a free connection slot (maxconn).
  bool has_free_slot() const { return maxconn == 0 || live->inflight.get() < dynamic_maxconn(); }
  // haproxy's srv_dynamic_maxconn(): maxconn, or with `minconn` below it and
  // a `fullconn`, max(minconn, maxconn * backend connections / fullconn)
  // while the backend has fewer than fullconn connections.
  // During a slowstart ramp: max(1, that * ramp_pct / 100).
  int dynamic_maxconn() const {
    int max = maxconn;
    if (minconn > 0 && minconn < maxconn && fullconn > 0 && be_conns) {
      const int be = be_conns->get();
      if (be < fullconn)
        max = std::max(minconn, static_cast<int>(int64_t{be} * maxconn / fullconn));
    }
    if (ramp_pct < 100) max = std::max(1, max * ramp_pct / 100);
    return max;
  }
  // Takes a connection slot if one is free (inflight < maxconn): true when
  // taken (inflight counts it; the taker decrements it when done).
  bool take_slot() const {
    const int32_t v = live->inflight.inc();
    if (maxconn == 0 || v <= dynamic_maxconn()) return true;
    live->inflight.dec();
    return false;
  }
  // The fields a `server` line sets (a config server, a membership pool
  // rule's options): all but id, origin, admin, op, health and live.
  static Server from_line(const config::Server& line);
  // Copies observe/error-limit/on-error from a `server` line.
  void set_observe(const std::string& observe_kw, int limit, const std::string& on_error_kw) {
    observe = observe_kw == "layer7"   ? Observe::Layer7
              : observe_kw == "layer4" ? Observe::Layer4
                                       : Observe::None;
    error_limit = limit > 0 ? limit : 10;
    on_error = on_error_kw == "fail-check"     ? OnError::FailCheck
               : on_error_kw == "sudden-death" ? OnError::SuddenDeath
               : on_error_kw == "mark-down"    ? OnError::MarkDown
                                               : OnError::FastInter;
  }
};

}  // namespace herd::balancing
