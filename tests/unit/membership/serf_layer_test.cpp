// The Serf layer (membership/serf_layer.h) on swim::InMemoryNetwork with an
// explicit clock: join and leave intents and their Lamport order, a leave
// not undone by an older join intent, user event dedupe, the event minimum
// time of a join without replay, reconnect choice and reaping, name
// conflicts. Push/pull exchanges are done by the test, as the agent's
// transport does them: request from one layer, served by the other, reply
// merged.
#include "membership/serf_layer.h"

#include <gtest/gtest.h>

#include <memory>
#include <tuple>

#include "membership/memberlist_msgs.h"

namespace herd::membership {
namespace {

using namespace std::chrono_literals;
using swim::Duration;
using swim::TimePoint;

swim::Address addr_of(int i) {
  return swim::Address{Bytes{127, 0, 0, static_cast<uint8_t>(10 + i)}, 7946};
}

struct Member {
  swim::Address addr;
  std::unique_ptr<SerfLayer> serf;
  std::vector<MemberEvent> events;
  std::vector<MemberInfo> statuses;
  std::vector<std::string> logs;
  int shutdowns = 0;

  int count(MemberEvent::Type t, const std::string& name) const {
    int n = 0;
    for (const auto& e : events)
      if (e.type == t)
        for (const auto& m : e.members) n += m.name == name;
    return n;
  }
  std::vector<std::string> user_events() const {
    std::vector<std::string> out;
    for (const auto& e : events)
      if (e.type == MemberEvent::Type::User)
        out.push_back(e.user_name + "=" + std::string(e.payload.begin(), e.payload.end()));
    return out;
  }
  std::string status_of(const std::string& name) const {
    auto m = serf->member(name);
    return m ? to_string(m->status) : "absent";
  }
  bool logged(const std::string& part) const {
    for (const auto& l : logs)
      if (l.find(part) != std::string::npos) return true;
    return false;
  }
};

// Serf layers on one InMemoryNetwork, driven in 10 ms steps (each layer
// ticks, then the network delivers at the same time).
class SerfCluster {
 public:
  Member& add(const std::string& name, int slot, Duration reconnect_timeout = 24h) {
    auto m = std::make_unique<Member>();
    m->addr = addr_of(slot);
    SerfLayer::Config cfg;
    cfg.swim.name = name;
    cfg.swim.advertise = m->addr;
    cfg.swim.seed = 100 + members.size();
    cfg.tags = {{"role", "backend"}};
    cfg.reconnect_timeout = reconnect_timeout;
    cfg.tombstone_timeout = reconnect_timeout;
    cfg.seed = 7 + members.size();
    Member* p = m.get();
    SerfLayer::Callbacks cb;
    cb.event = [p](MemberEvent ev) { p->events.push_back(std::move(ev)); };
    cb.status = [p](const MemberInfo& i) { p->statuses.push_back(i); };
    cb.log = [p](const std::string& l) { p->logs.push_back(l); };
    cb.shutdown = [p] { ++p->shutdowns; };
    m->serf = std::make_unique<SerfLayer>(std::move(cfg), net.endpoint(m->addr), cb, now);
    net.attach(m->addr, &m->serf->swim());
    m->serf->start();
    members.push_back(std::move(m));
    return *members.back();
  }

  // a, b and d (slots 0-2), b and d joined through a, run until every one
  // sees three alive, then 2 s more.
  std::tuple<Member&, Member&, Member&> form_three(Duration reconnect_timeout = 24h) {
    Member& a = add("a", 0, reconnect_timeout);
    Member& b = add("b", 1, reconnect_timeout);
    Member& d = add("d", 2, reconnect_timeout);
    join(b, a);
    join(d, a);
    EXPECT_TRUE(run_until(
        [&] {
          for (auto* m : {&a, &b, &d})
            if (m->serf->member_counts()["alive"] != 3) return false;
          return true;
        },
        10s));
    run(2s);
    return {a, b, d};
  }

  // `a` joins `b` with a push/pull (Join set) and then its join intent.
  void join(Member& a, Member& b, bool ignore_old = false) {
    const Bytes reply = b.serf->serve_stream(a.serf->push_pull_request(true), now);
    ASSERT_TRUE(a.serf->merge_push_pull(reply, true, ignore_old, now));
    a.serf->joined(now);
  }

  void run(Duration d) {
    const TimePoint end = now + d;
    while (now < end) {
      now += 10ms;
      for (auto& m : members)
        if (m->serf->state() != SerfLayer::State::Shutdown) m->serf->tick(now);
      net.deliver(now);
    }
  }

  // Runs until `done` or `limit`; whether `done` held.
  bool run_until(const std::function<bool()>& done, Duration limit) {
    const TimePoint end = now + limit;
    while (now < end && !done()) run(10ms);
    return done();
  }

  // A serf message as a UDP user message from `from` to `to`.
  void inject(const Member& from, Member& to, const serf::Message& m) {
    to.serf->handle_packet(from.addr, memberlist::encode(memberlist::UserMsg{serf::encode(m)}),
                           now);
  }

  // Buffered intents compare their arrival with the epoch: start later.
  TimePoint now = TimePoint{} + 1h;
  swim::InMemoryNetwork net;
  std::vector<std::unique_ptr<Member>> members;
};

TEST(SerfLayerTest, JoinAndLeaveIntentsPropagateInLamportOrder) {
  SerfCluster c;
  auto [a, b, d] = c.form_three();
  // Every member witnessed the join intents: its clock is past b's.
  const uint64_t b_join = b.serf->clock() - 1;
  for (auto* m : {&a, &d}) EXPECT_GT(m->serf->clock(), b_join);

  // b leaves: its intent carries its clock, everyone moves past it, sees b
  // leaving (a status, not an event) and then, on dead{b}, left.
  const uint64_t leave_ltime = b.serf->clock();
  b.serf->leave(c.now);
  EXPECT_EQ(b.serf->state(), SerfLayer::State::Leaving);
  EXPECT_EQ(b.status_of("b"), "leaving");
  ASSERT_TRUE(c.run_until(
      [&] { return a.status_of("b") == "leaving" && d.status_of("b") == "leaving"; }, 5s));
  for (auto* m : {&a, &d}) {
    EXPECT_GT(m->serf->clock(), leave_ltime);
    ASSERT_FALSE(m->statuses.empty());
    EXPECT_EQ(m->statuses.back().name, "b");
    EXPECT_EQ(m->statuses.back().status, MemberInfo::Status::Leaving);
  }
  ASSERT_TRUE(c.run_until([&] { return b.serf->broadcasts_settled(); }, 5s));
  b.serf->leave_gossip(c.now);
  ASSERT_TRUE(
      c.run_until([&] { return a.status_of("b") == "left" && d.status_of("b") == "left"; }, 5s));
  b.serf->finish_leave();
  EXPECT_EQ(b.serf->state(), SerfLayer::State::Left);
  for (auto* m : {&a, &d}) {
    EXPECT_EQ(m->count(MemberEvent::Type::Leave, "b"), 1);
    EXPECT_EQ(m->count(MemberEvent::Type::Failed, "b"), 0);
  }
}

TEST(SerfLayerTest, LeaveIsNotUndoneByAnOlderJoinIntent) {
  SerfCluster c;
  auto [a, b, d] = c.form_three();

  // b cannot hear (it would refute a leave about itself); a leave intent
  // about it at LTime 100 reaches a.
  c.net.isolate(b.addr, true);
  c.inject(d, a, serf::LeaveIntent{100, "b", false});
  EXPECT_EQ(a.status_of("b"), "leaving");
  EXPECT_GT(a.serf->clock(), 100u);
  // Older join intents, by message or in a push/pull's status LTimes (d's
  // record of b is older), do not undo it.
  c.inject(d, a, serf::JoinIntent{99, "b"});
  EXPECT_EQ(a.status_of("b"), "leaving");
  const Bytes reply = d.serf->serve_stream(a.serf->push_pull_request(false), c.now);
  ASSERT_TRUE(a.serf->merge_push_pull(reply, false, false, c.now));
  EXPECT_EQ(a.status_of("b"), "leaving");
  // A duplicate of the leave is not news either; a newer join is.
  c.inject(d, a, serf::LeaveIntent{100, "b", false});
  EXPECT_EQ(a.statuses.size(), 1u);
  c.inject(d, a, serf::JoinIntent{101, "b"});
  EXPECT_EQ(a.status_of("b"), "alive");
  ASSERT_EQ(a.statuses.size(), 2u);
  EXPECT_EQ(a.statuses.back().status, MemberInfo::Status::Alive);

  // A leave intent about b that b hears while alive is refuted with a
  // newer join intent: everyone ends with b alive.
  c.inject(d, a, serf::LeaveIntent{200, "b", false});
  EXPECT_EQ(a.status_of("b"), "leaving");
  c.net.isolate(b.addr, false);
  ASSERT_TRUE(
      c.run_until([&] { return a.status_of("b") == "alive" && d.status_of("b") == "alive"; }, 5s));
  EXPECT_GT(b.serf->clock(), 200u);
  EXPECT_EQ(b.status_of("b"), "alive");
}

TEST(SerfLayerTest, UserEventsAreDeliveredOnceEach) {
  SerfCluster c;
  auto [a, b, d] = c.form_three();
  const uint64_t lt = a.serf->event_clock();
  EXPECT_EQ(a.serf->user_event("deploy", "v1", false), "");
  EXPECT_EQ(a.serf->event_clock(), lt + 1);
  // Gossip retransmits it several times; each member delivers it once.
  c.run(3s);
  for (auto* m : {&a, &b, &d}) {
    EXPECT_EQ(m->user_events(), std::vector<std::string>{"deploy=v1"});
    EXPECT_EQ(m->serf->event_clock(), lt + 1);
  }
  // The same event again (LTime, name and payload) is dropped; the same
  // LTime with another payload is another event.
  c.inject(a, b, serf::UserEvent{false, lt, "deploy", Bytes{'v', '1'}});
  EXPECT_EQ(b.user_events().size(), 1u);
  c.inject(a, b, serf::UserEvent{false, lt, "deploy", Bytes{'v', '2'}});
  EXPECT_EQ(b.user_events(), (std::vector<std::string>{"deploy=v1", "deploy=v2"}));
  // Too large for Serf.
  EXPECT_NE(a.serf->user_event("big", std::string(600, 'x'), false), "");
}

// Serf's eventJoinIgnore: a join without replay (agent -join, RPC join
// without replay) ignores the events a member knew before; with replay
// they are delivered. An event made after the join (LTime = the remote's
// clock at the join) is new either way.
TEST(SerfLayerTest, JoinWithoutReplayIgnoresOlderEvents) {
  for (bool replay : {false, true}) {
    SCOPED_TRACE(replay ? "replay" : "no replay");
    SerfCluster c;
    Member& a = c.add("a", 0);
    EXPECT_EQ(a.serf->user_event("old", "1", false), "");  // queued, nobody to tell yet
    Member& b = c.add("b", 1);
    c.join(b, a, !replay);
    EXPECT_EQ(b.serf->event_min_time(), replay ? 0u : a.serf->event_clock());
    c.run(2s);
    EXPECT_EQ(a.serf->user_event("new", "2", false), "");
    c.run(2s);
    if (replay)
      EXPECT_EQ(b.user_events(), (std::vector<std::string>{"old=1", "new=2"}));
    else
      EXPECT_EQ(b.user_events(), std::vector<std::string>{"new=2"});

    // A serf agent hands its recent events in its push/pull user state.
    Member& d = c.add("d", 2);
    serf::PushPull sp;
    sp.ltime = 5;
    sp.event_ltime = 40;
    sp.query_ltime = 1;
    sp.status_ltimes = {{"a", 1}};
    std::vector<std::optional<serf::EventSlot>> ring(3);
    ring[0] = serf::EventSlot{38, {{"ring-old", Bytes{'x'}}}};
    ring[1] = serf::EventSlot{39, {{"ring-last", Bytes{'y'}}}};
    sp.events = ring;
    memberlist::PushPull pp{true, a.serf->swim().local_state(), serf::encode(sp)};
    ASSERT_TRUE(d.serf->merge_push_pull(memberlist::encode_push_pull(pp), true, !replay, c.now));
    if (replay)
      EXPECT_EQ(d.user_events(), (std::vector<std::string>{"ring-old=x", "ring-last=y"}));
    else
      EXPECT_TRUE(d.user_events().empty());
    // Its next event has LTime 40: new.
    c.inject(a, d, serf::UserEvent{false, 40, "after", Bytes{'z'}});
    EXPECT_EQ(d.user_events().back(), "after=z");
  }
}

TEST(SerfLayerTest, FailedMemberIsReconnectTargetThenReapedAfterReconnectTimeout) {
  SerfCluster c;
  [[maybe_unused]] auto [a, b, d] = c.form_three(20s);
  EXPECT_FALSE(a.serf->reconnect_target());  // nobody failed

  c.net.isolate(d.addr, true);  // d crashes
  ASSERT_TRUE(c.run_until([&] { return a.status_of("d") == "failed"; }, 20s));
  const TimePoint failed_at = c.now;
  EXPECT_EQ(a.count(MemberEvent::Type::Failed, "d"), 1);
  // Reconnect: d (the only failed member) at its last address, chosen with
  // probability failed / alive = 1/2 per round.
  std::optional<std::pair<std::string, swim::Address>> target;
  for (int i = 0; i < 64 && !target; ++i) target = a.serf->reconnect_target();
  ASSERT_TRUE(target);
  EXPECT_EQ(target->first, "d");
  EXPECT_EQ(target->second, d.addr);

  // Not before reconnect_timeout; then member-reap and forgotten.
  c.run_until([&] { return c.now - failed_at >= 19s; }, 30s);
  EXPECT_EQ(a.count(MemberEvent::Type::Reap, "d"), 0);
  EXPECT_EQ(a.status_of("d"), "failed");
  ASSERT_TRUE(c.run_until([&] { return a.count(MemberEvent::Type::Reap, "d") == 1; }, 3s));
  EXPECT_LE(c.now - failed_at, 21s + 10ms);
  EXPECT_EQ(a.status_of("d"), "absent");
  EXPECT_EQ(a.serf->swim().find("d"), nullptr);
  EXPECT_EQ(a.serf->counters().reaped, 1u);
  EXPECT_FALSE(a.serf->reconnect_target());
}

// serf.go handleNodeConflict/resolveNodeConflict: a member that finds its
// name held by another address asks the cluster; in the minority it shuts
// down (no leave), in the majority it keeps the name.
TEST(SerfLayerTest, NameConflictLoserShutsDownWinnerKeepsName) {
  SerfCluster c;
  auto [a, b, d] = c.form_three();

  Member& impostor = c.add("b", 3);
  c.join(impostor, a);
  EXPECT_TRUE(a.logged("name conflict for 'b'")) << "a keeps b at its address";
  EXPECT_TRUE(impostor.logged("conflicts with another node"));
  ASSERT_TRUE(c.run_until([&] { return impostor.shutdowns > 0; }, 10s));
  EXPECT_EQ(impostor.shutdowns, 1);
  EXPECT_EQ(impostor.serf->state(), SerfLayer::State::Shutdown);
  EXPECT_TRUE(impostor.logged("minority in name conflict resolution [0 / "));
  c.run(5s);
  EXPECT_EQ(b.shutdowns, 0);
  EXPECT_EQ(b.serf->state(), SerfLayer::State::Alive);
  for (auto* m : {&a, &d}) {
    auto info = m->serf->member("b");
    ASSERT_TRUE(info);
    EXPECT_EQ(info->status, MemberInfo::Status::Alive);
    EXPECT_EQ(info->addr, "127.0.0.11");
  }
  // A shut-down layer answers nothing.
  EXPECT_TRUE(impostor.serf->serve_stream(a.serf->push_pull_request(false), c.now).empty());
}

}  // namespace
}  // namespace herd::membership
