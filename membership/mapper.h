// membership/mapper.h — turns Serf member events into servers of the live
// pool (issue 4's pool semantics), through the one PoolWriter.
//
// For each `pools:` rule (settings.h) a member that is alive and whose tags
// match becomes a server of the rule's backend, named after the member, at
// the member's address and the rule's port (or its port_tag tag), with the
// rule's server options. Then:
//   * join / alive again        -> added (takes traffic at once without
//                                  `check`; with `check` it starts DOWN with
//                                  h = rise-1, so the first passing check
//                                  brings it UP);
//   * update (tags/address)     -> edited in place (same ServerLive: counters
//                                  and in-flight gauges survive); a member
//                                  that stops matching is drained;
//   * graceful leave (leaving,
//     left)                     -> DRAIN (kAdminForcedDrain), removed once its
//                                  ServerLive::inflight is 0 (polled on a
//                                  steady_timer of the control io_context);
//   * failed, reap              -> removed at once, unless that would
//                                  leave the backend in panic (below);
//   * rejoin with the same name -> the existing server is updated in place
//                                  (and leaves DRAIN).
// Pool safety (Envoy's panic threshold): a failed member's server is kept
// ("held", logged with the reason) when, after removing it, fewer than
// panic_threshold % of the backend's servers would be alive — counting the
// alive members' servers and the backend's haproxy.cfg servers (not in
// maintenance), the held ones, and those removed for failure in the last
// panic_window. Losing contact with every member at once (a key mismatch, a
// partition of the balancer) thus never empties the pool: health checks
// decide about the held servers. A held server whose member comes back is
// an ordinary server again; the held servers of members still failed are
// removed once the alive share is back at the threshold (new or returning
// members). Graceful leaves are never held. See docs/membership.md.
// Servers from haproxy.cfg are never touched: a member whose name clashes
// with one is not mapped (logged once). apply() takes a batch of events and
// commits them as ONE transaction (one publication), so a burst of 20 joins
// is one snapshot.
//
// Thread rules: control thread only (the thread running `control`, which
// owns the PoolWriter): construct, call, destroy there. Others (health/)
// learn what it changed from the writer's change events (PoolWriter::
// subscribe), after the commit that published it.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "balancing/pool.h"
#include "membership/member_types.h"
#include "membership/settings.h"

namespace herd::membership {

class MemberMapper {
 public:
  struct Options {
    std::chrono::milliseconds drain_poll{100};   // how often draining servers are looked at
    std::chrono::milliseconds drain_timeout{0};  // 0: wait for inflight 0 forever
    int panic_threshold = 50;                    // percent of member servers alive
    std::chrono::milliseconds panic_window{60000};  // failure removals remembered this long
    // The clock for drains and the panic window (tests).
    std::function<std::chrono::steady_clock::time_point()> now = [] {
      return std::chrono::steady_clock::now();
    };
  };

  // `writer` and `control` must outlive the mapper. Rules whose backend is
  // missing from the pool are kept but never map anything (finalize()
  // reports them before this is built).
  MemberMapper(boost::asio::io_context& control, balancing::PoolWriter& writer,
               std::vector<PoolRule> rules);
  MemberMapper(boost::asio::io_context& control, balancing::PoolWriter& writer,
               std::vector<PoolRule> rules, Options opts);
  ~MemberMapper();
  MemberMapper(const MemberMapper&) = delete;
  MemberMapper& operator=(const MemberMapper&) = delete;

  // Applies events in order and publishes once (nothing when nothing
  // changed). User and query events are ignored.
  void apply(std::span<const MemberEvent> events);
  void apply(const MemberEvent& ev) { apply(std::span<const MemberEvent>(&ev, 1)); }

  // Removes drained servers whose inflight reached 0 now (the timer calls
  // it; tests may too). Returns how many were removed.
  int poll_drains();

  // Whether `member` would be mapped by `rule` (tags match and a port is known).
  static bool rule_matches(const PoolRule& rule, const MemberInfo& member);

  // For `show members` (runtime API) and tests.
  struct MemberRow {
    std::string name;
    std::string address;  // "ip:port" of the gossip member
    std::string status;   // alive, leaving, left, failed
    std::map<std::string, std::string> tags;
    uint32_t incarnation = 0;
    // One per mapped server: "backend/server" and its state (UP, DOWN,
    // DRAIN, MAINT, "DRAIN (n in flight)").
    std::vector<std::pair<std::string, std::string>> servers;
  };
  std::vector<MemberRow> describe() const;
  // A text table: "# name address status incarnation servers tags" then one
  // line per member, fields separated by one space, "-" when empty.
  std::string show_members() const;

  // Servers currently managed (tests): "backend/server".
  std::vector<std::string> managed() const;
  std::size_t draining() const { return drains_.size(); }
  // Servers kept although their member failed (pool safety), "backend/server".
  std::vector<std::string> held() const;

 private:
  struct Rule {
    PoolRule cfg;
    std::vector<std::pair<std::string, std::regex>> match;
  };
  struct Mapped {
    std::size_t rule = 0;
    std::shared_ptr<balancing::ServerLive> live;
    std::string ip;
    uint16_t port = 0;
    bool draining = false;
    std::chrono::steady_clock::time_point drain_since{};
    bool held = false;  // member failed, kept by the panic threshold
  };
  using Key = std::pair<std::string, std::string>;  // backend, server
  enum class Action { Up, Drain, Remove };

  void handle(balancing::PoolWriter::Transaction& t, const MemberInfo& m, Action a);
  bool matches(const Rule& r, const MemberInfo& m, uint16_t& port) const;
  void drain(balancing::PoolWriter::Transaction& t, const Key& k, Mapped& mp);
  void remove(balancing::PoolWriter::Transaction& t, const Key& k);
  // A failed member's server: removed, or held when the backend would panic.
  void fail(balancing::PoolWriter::Transaction& t, const Key& k, Mapped& mp);
  // Alive, held and recently failed member servers of a backend.
  struct Share {
    std::size_t alive = 0, held = 0, recent = 0;
  };
  Share share(const std::string& backend);
  bool panics(const Share& s) const;
  // Removes held servers of backends that no longer panic.
  void release_held(balancing::PoolWriter::Transaction& t);
  void arm_timer();

  boost::asio::io_context& control_;
  balancing::PoolWriter& writer_;
  std::vector<Rule> rules_;
  Options opts_;
  std::map<Key, Mapped> mapped_;
  std::set<Key> drains_;
  std::set<Key> conflicts_;  // logged once
  // Member names refused as server names, logged once each (at most
  // kMaxUnnamed are remembered: names come from the wire).
  static constexpr std::size_t kMaxUnnamed = 256;
  std::set<std::string> unnamed_;
  std::map<std::string, std::vector<std::chrono::steady_clock::time_point>> failed_at_;
  std::map<std::string, MemberInfo> members_;
  boost::asio::steady_timer timer_;
  bool timer_armed_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace herd::membership
