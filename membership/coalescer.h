// membership/coalescer.h — Serf's member event coalescing for handler
// scripts (serf/coalesce_member.go with the agent's CoalescePeriod 3 s and
// QuiescentPeriod 1 s): member events are held until no new one came for
// `quiescent`, or `coalesce` after the first one, whichever is first; then
// each member's latest event is delivered, grouped by type (Join, Leave,
// Failed, Update, Reap; members sorted by name), so 20 members joining at
// once run member-join once with 20 stdin lines. A member whose latest event
// has the same type as the one delivered for it last time is left out
// (except updates), as serf does. Other events (user, query) pass through
// at once. Zero periods disable coalescing.
//
// Only the handlers (and what else the owner routes here) are delayed: the
// pool mapper gets member events at once.
//
// Thread rules: control thread only (the io_context's); the sink runs there.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "membership/member_types.h"

namespace herd::membership {

class EventCoalescer {
 public:
  using Sink = std::function<void(const MemberEvent&)>;
  EventCoalescer(boost::asio::io_context& io, std::chrono::milliseconds coalesce,
                 std::chrono::milliseconds quiescent, Sink sink);
  ~EventCoalescer();
  EventCoalescer(const EventCoalescer&) = delete;
  EventCoalescer& operator=(const EventCoalescer&) = delete;

  void add(const MemberEvent& ev);
  // Delivers what is held now (shutdown).
  void flush();
  std::size_t held() const { return latest_.size(); }

 private:
  void arm();
  boost::asio::io_context& io_;
  std::chrono::milliseconds coalesce_, quiescent_;
  Sink sink_;
  boost::asio::steady_timer coalesce_timer_, quiescent_timer_;
  bool coalescing_ = false;
  std::map<std::string, std::pair<MemberEvent::Type, MemberInfo>> latest_;
  std::map<std::string, MemberEvent::Type> last_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace herd::membership
