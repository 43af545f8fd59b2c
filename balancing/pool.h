// balancing/pool.h — the server pool, published as immutable snapshots.
//
// THE RULE: one writer, many lock-free readers.
//   * The control thread (gossip, health checks, runtime API) is the only
//     writer. It changes the pool through a PoolWriter transaction, which
//     builds new BackendSnapshots (servers + a freshly built balancer index)
//     and publishes them as one PoolSnapshot. A burst of changes in one
//     transaction is one publication.
//   * Worker threads read through a PoolReader: one acquire load of the
//     publication counter per request; only when it changed does the reader
//     take the (uncontended, rare) publication lock to copy the new
//     shared_ptr. A request keeps the shared_ptr it started with, so
//     in-flight requests keep the old snapshot — and its servers — alive.
//   * Per-server and per-backend live state (inflight gauges, counters, the
//     round-robin cursor) lives beside the snapshot in ServerLive and
//     BackendLive, shared by every snapshot of the same server/backend.
//
// Balancing is lock-free: each BackendSnapshot carries an LbIndex built by
// the writer (e.g. the complete weighted round-robin cycle in HAProxy's
// order); workers pick with atomic operations on BackendLive only.
//
// Thread rules are stated on each class.
//
// Contract details (what other modules may rely on):
//   * BackendSnapshot::pick() returns a server of that snapshot that is
//     usable() (UP, not MAINT/DRAIN, weight > 0) and has a free maxconn slot
//     at the time of the check, or nullptr. It counts Counter::LbTotal on the
//     server AND on the backend (BackendLive::counters) and stores
//     last_session_ms on both. It does not touch the inflight gauges: the
//     caller increments ServerLive::inflight (and BackendLive::inflight) for
//     the request and decrements them when it ends. Two workers racing for
//     the last slot may both get it (the check is not a reservation).
//   * Backup servers are chosen only when no active server is usable; then
//     only the first usable backup in sid order, or all of them with
//     `option allbackups`. Saturated active servers do not fall back to
//     backups (the caller queues), as in HAProxy.
//   * find_by_cookie()/find()/find_id() return the server whatever its
//     state; callers check is_up() (cookie persistence follows is_up(), so a
//     DRAIN server keeps its sticky traffic).
//   * roundrobin: single-threaded sequential picks reproduce HAProxy 2.6's
//     order exactly, across publications too (the writer continues the
//     order from the cursor); concurrent picks share one global order.
//   * PoolWriter keeps a pointer to each config::Proxy (BackendSnapshot::
//     config): the Config must outlive the writer and every snapshot.
//   * PoolWriter maintains ServerLive::last_change/downtime (UP/DOWN/MAINT/
//     DRAIN transitions) and BackendLive::last_change (backend up/down) on
//     publication; it does not count chkdown (health/ does).
//   * remove_server() does not require MAINT: the runtime API enforces
//     "Only servers in maintenance mode can be deleted." itself.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "balancing/server.h"
#include "config/model.h"

namespace herd::balancing {

using config::BalanceAlgo;

// What a balancer may look at to choose a server.
struct PickContext {
  uint32_t client_ipv4 = 0;   // source: client IPv4 (IPv6: the XOR of its four words)
  std::string_view uri;       // uri, url_param: the request target as received
  std::string_view uri_path;  // uri when `uri` is empty: the path (before '?')
  // hdr(<name>): the value of the first such header, empty when absent.
  std::string_view hash_header;
  const Server* avoid = nullptr;  // redispatch: try another server than this one
};

// `balance source`'s key of a client address (network order, 4 or 16
// bytes): the XOR of its big-endian 32-bit words, as haproxy 2.6.
inline uint32_t source_key(const uint8_t* addr, size_t len) {
  uint32_t h = 0;
  for (size_t i = 0; i + 4 <= len; i += 4)
    h ^= uint32_t{addr[i]} << 24 | uint32_t{addr[i + 1]} << 16 | uint32_t{addr[i + 2]} << 8 |
         uint32_t{addr[i + 3]};
  return h;
}

// Per-backend live state shared by every snapshot of the backend.
struct BackendLive {
  std::atomic<uint64_t> cursor{0};    // round-robin / static-rr position, never reset
  std::atomic<uint32_t> tiebreak{0};  // leastconn/first rotation
  Gauge inflight;                     // scur of the BACKEND row
  Gauge queued;
  CounterSet counters;
  TimeMaxes times;  // qtime_max ... ttime_max (time_stats.h)
  std::atomic<int64_t> last_session_ms{-1};
  std::chrono::steady_clock::time_point last_change = std::chrono::steady_clock::now();
};

class BackendSnapshot;

// A balancer's lookup structure for one snapshot. Built by the writer from
// the snapshot's servers; pick() runs on workers, concurrently, lock-free.
class LbIndex {
 public:
  virtual ~LbIndex() = default;
  // Returns a usable server with a free slot, or nullptr when none is
  // (all down, or all at maxconn: the caller queues). Counts LbTotal.
  virtual const Server* pick(const BackendSnapshot& be, const PickContext& ctx) const = 0;
};

// One backend at one point in time. Immutable once published.
class BackendSnapshot {
 public:
  std::string name;
  int id = 0;  // iid
  BalanceAlgo algo = BalanceAlgo::RoundRobin;
  bool allbackups = false;
  std::vector<std::shared_ptr<const Server>> servers;  // sid order
  std::shared_ptr<BackendLive> live;
  std::unique_ptr<const LbIndex> lb;      // over active servers (or backups when none)
  uint64_t cursor_base = 0;               // LbIndex positions are relative to this cursor value
  const config::Proxy* config = nullptr;  // the backend's config section (timeouts, options)

  // Lock-free; may return nullptr (see LbIndex::pick).
  const Server* pick(const PickContext& ctx) const { return lb ? lb->pick(*this, ctx) : nullptr; }
  // Persistence: the server whose `cookie` value is `value`, if any.
  const Server* find_by_cookie(std::string_view value) const;
  const Server* find(std::string_view server_name) const;
  const Server* find_id(int sid) const;
  // Sum of effective weights of usable servers (the CSV `weight` of BACKEND).
  int usable_weight() const;
  int usable_active() const;
  int usable_backup() const;

  // Writer: builds the name/cookie lookup tables once the servers are set
  // (PoolWriter does it). Without it the lookups scan `servers`.
  void index_servers();

 private:
  std::unordered_map<std::string_view, const Server*> by_name_, by_cookie_;
  std::unordered_map<int, const Server*> by_id_;
  bool indexed_ = false;
};

// Static algorithms (static-rr, and the hashing ones under `hash-type
// map-based`) accept only the weights 0 and the initial weight at runtime,
// and take no slowstart weight ramp (haproxy's algorithms without
// BE_LB_PROP_DYN). `consistent`: the backend's hash-type is consistent.
bool is_static_algo(BalanceAlgo algo, bool consistent = false);
bool is_hash_algo(BalanceAlgo algo);

// Every backend at one point in time.
class PoolSnapshot {
 public:
  uint64_t version = 0;
  std::vector<std::shared_ptr<const BackendSnapshot>> backends;  // config order
  const BackendSnapshot* find(std::string_view name) const;
};

// Holds the current PoolSnapshot. publish() is the writer's; current() and
// version() are any thread's. Before the first publication current() is an
// empty snapshot with version 0.
class Pool {
 public:
  Pool();
  uint64_t version() const { return version_.load(std::memory_order_acquire); }
  std::shared_ptr<const PoolSnapshot> current() const;
  // Control thread only (via PoolWriter).
  void publish(std::shared_ptr<const PoolSnapshot> snap);
  // Called on the writer's thread after each publication (stats, reference engine).
  void on_publish(std::function<void(const PoolSnapshot&)> cb);

 private:
  mutable std::mutex mu_;  // guards snap_ only; taken once per publication per reader
  std::shared_ptr<const PoolSnapshot> snap_;
  std::atomic<uint64_t> version_{0};
  std::vector<std::function<void(const PoolSnapshot&)>> listeners_;
};

// A worker's view of the pool. One per worker thread; not shared.
class PoolReader {
 public:
  explicit PoolReader(const Pool& pool) : pool_(pool) {}
  // The newest snapshot. Lock-free unless a publication happened since the
  // previous call. The reference stays valid until the next call on this
  // reader; hold snapshot() to keep it longer.
  const PoolSnapshot& get() {
    if (pool_.version() != seen_) refresh();
    return *cached_;
  }
  const std::shared_ptr<const PoolSnapshot>& snapshot() {
    get();
    return cached_;
  }

 private:
  void refresh();
  const Pool& pool_;
  uint64_t seen_ = ~uint64_t{0};
  std::shared_ptr<const PoolSnapshot> cached_;
};

// One change a committed transaction made to a server, as subscribers of the
// writer learn it (PoolWriter::subscribe). Typed: no subscriber looks at
// runtime-API reply text or rescans the pool to find what changed.
struct PoolChange {
  enum class Kind : uint8_t {
    Added,         // add_server
    Removed,       // remove_server
    Admin,         // set_admin (MAINT/DRAIN entered or left)
    Operational,   // set_op (health checks, membership)
    Weight,        // set_weight / set_weight_text
    Address,       // set_addr
    CheckEnabled,  // set_check_enabled (`enable/disable health`)
    Updated,       // update(): any other in-place edit (membership)
  };
  Kind kind;
  std::string backend;
  std::string server;
  bool operator==(const PoolChange&) const = default;
};
const char* to_string(PoolChange::Kind k);

// The single writer. Owned by the control thread; every mutation of the pool
// goes through it. Methods return an error text (HAProxy's wording where the
// runtime API shows it) or std::nullopt on success. Changes are staged and
// published by commit(); a Transaction that is destroyed uncommitted commits.
class PoolWriter {
 public:
  // Builds the initial pool from the config's backends and publishes it.
  PoolWriter(Pool& pool, const config::Config& cfg);
  ~PoolWriter();

  class Transaction {
   public:
    explicit Transaction(PoolWriter& w);
    ~Transaction();
    Transaction(const Transaction&) = delete;

    using Result = std::optional<std::string>;
    // Admin state.
    Result set_admin(std::string_view backend, std::string_view server, uint32_t set_flags,
                     uint32_t clear_flags);
    // Operational state (health checks, membership).
    Result set_op(std::string_view backend, std::string_view server, OpState op, int health);
    // Absolute weight 0..256 (static algorithms: 0 or the initial weight).
    Result set_weight(std::string_view backend, std::string_view server, int weight);
    // The runtime API's argument: "N" (absolute) or "N%" (of the initial
    // weight, rounded down), with HAProxy's error texts.
    Result set_weight_text(std::string_view backend, std::string_view server,
                           std::string_view text);
    Result set_addr(std::string_view backend, std::string_view server, const Endpoint& addr);
    Result set_check_enabled(std::string_view backend, std::string_view server, bool on);
    // Adds a server (runtime API, membership). The new Server's id is the
    // next free sid. `s.live` may be null (a fresh one is made).
    Result add_server(std::string_view backend, Server s);
    Result remove_server(std::string_view backend, std::string_view server);
    // Applies an arbitrary edit to one server (membership updates in place),
    // reported to subscribers as `kind`.
    Result update(std::string_view backend, std::string_view server,
                  const std::function<void(Server&)>& edit,
                  PoolChange::Kind kind = PoolChange::Kind::Updated);

    // Publishes the staged edits as one PoolSnapshot (nothing when nothing
    // changed). The transaction may be used again afterwards; its
    // destructor commits what is left.
    void commit();

   private:
    Result edit_server(PoolChange::Kind kind, std::string_view backend, std::string_view server,
                       const std::function<void(Server&)>& edit);
    PoolWriter& w_;
    bool committed_ = false;
  };

  Transaction begin() { return Transaction(*this); }
  // Slowstart (haproxy's server_warmup task): advances the weight and
  // maxconn ramps of servers that came UP with `slowstart` and publishes
  // what changed (reported as PoolChange::Weight). Returns the milliseconds
  // until a ramp's next step (each whole second after its server came UP),
  // when the control thread calls it again, or -1 when no ramp runs.
  int64_t tick_slowstart();
  // The steady-clock milliseconds slowstart reads (tests step it).
  void set_clock(std::function<int64_t()> now_ms);
  const Pool& pool() const { return pool_; }
  // Called on the control thread after each publication with the changes of
  // that commit, in the order they were made (only successful edits; the
  // snapshot they describe is pool().current()). A subscriber may begin and
  // commit transactions of its own; their changes reach every subscriber
  // after the current round. Returns an id for unsubscribe().
  using ChangeFn = std::function<void(const std::vector<PoolChange>&)>;
  int subscribe(ChangeFn fn);
  void unsubscribe(int id);
  // The snapshot the next commit() starts from, i.e. the last one published
  // (staged, uncommitted edits are not visible in it). Control thread only.
  const PoolSnapshot& staged() const;

 private:
  friend class Transaction;
  struct Impl;
  Pool& pool_;
  std::unique_ptr<Impl> impl_;
};

// Builds the LbIndex for a backend from its servers (balancing/lb_*.cpp).
// `state` is the writer's persistent per-backend scheduler state (the FWRR
// model), advanced to the live cursor before rebuilding. Control thread only.
struct LbState;
std::unique_ptr<const LbIndex> build_lb_index(BalanceAlgo algo, const BackendSnapshot& be,
                                              LbState& state, uint64_t cursor_now);
std::unique_ptr<LbState> make_lb_state(BalanceAlgo algo);

}  // namespace herd::balancing
