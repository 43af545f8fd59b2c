// membership/coalescer.cpp — see coalescer.h.
#include "membership/coalescer.h"

namespace herd::membership {

EventCoalescer::EventCoalescer(boost::asio::io_context& io, std::chrono::milliseconds coalesce,
                               std::chrono::milliseconds quiescent, Sink sink)
    : io_(io),
      coalesce_(coalesce),
      quiescent_(quiescent),
      sink_(std::move(sink)),
      coalesce_timer_(io),
      quiescent_timer_(io) {}

EventCoalescer::~EventCoalescer() {
  *alive_ = false;
  coalesce_timer_.cancel();
  quiescent_timer_.cancel();
}

void EventCoalescer::add(const MemberEvent& ev) {
  if (!ev.is_member_event() || coalesce_.count() <= 0 || quiescent_.count() <= 0) {
    sink_(ev);
    return;
  }
  for (const auto& m : ev.members) latest_[m.name] = {ev.type, m};
  if (!coalescing_) {
    coalescing_ = true;
    coalesce_timer_.expires_after(coalesce_);
    coalesce_timer_.async_wait([this, alive = alive_](boost::system::error_code ec) {
      if (*alive && !ec) flush();
    });
  }
  quiescent_timer_.expires_after(quiescent_);  // cancels the previous wait
  quiescent_timer_.async_wait([this, alive = alive_](boost::system::error_code ec) {
    if (*alive && !ec) flush();
  });
}

void EventCoalescer::flush() {
  coalescing_ = false;
  coalesce_timer_.cancel();
  quiescent_timer_.cancel();
  std::map<MemberEvent::Type, MemberEvent> out;  // by type, members sorted by name
  for (auto& [name, tm] : latest_) {
    auto [type, info] = tm;
    auto prev = last_.find(name);
    if (prev != last_.end() && prev->second == type && type != MemberEvent::Type::Update) continue;
    if (type == MemberEvent::Type::Reap)
      last_.erase(name);  // forgotten: keeps last_ bounded
    else
      last_[name] = type;
    MemberEvent& ev = out[type];
    ev.type = type;
    ev.members.push_back(std::move(info));
  }
  latest_.clear();
  for (const auto& [type, ev] : out) sink_(ev);
}

}  // namespace herd::membership
