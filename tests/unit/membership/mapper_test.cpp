// tests/unit/membership/mapper_test.cpp — member events -> pool servers,
// through a real PoolWriter on a Config built here.
#include "membership/mapper.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>

namespace herd::membership {
namespace {

using balancing::OpState;
using balancing::Server;

config::Config make_cfg() {
  config::Config cfg;
  config::Proxy px;
  px.kind = config::Proxy::Kind::Backend;
  px.name = "nodes";
  px.id = 2;
  px.mode = config::Mode::Http;
  config::Server s;
  s.name = "static1";
  s.id = 1;
  s.addr.ip = "127.0.0.1";
  s.addr.port = 8000;
  px.servers.push_back(s);
  cfg.proxies.push_back(px);
  config::Proxy other = px;
  other.name = "api";
  other.id = 3;
  other.servers.clear();
  cfg.proxies.push_back(other);
  return cfg;
}

PoolRule rule(const std::string& backend, const std::string& server_opts = "",
              uint16_t port = 3000) {
  PoolRule r;
  r.backend = backend;
  r.match = {{"role", "backend"}};
  r.port = port;
  r.server = server_opts;
  EXPECT_EQ(parse_server_options(server_opts, r.options), "");
  return r;
}

MemberInfo member(const std::string& name, const std::string& ip,
                  std::map<std::string, std::string> tags = {{"role", "backend"}}) {
  MemberInfo m;
  m.name = name;
  m.addr = ip;
  m.port = 7946;
  m.tags = std::move(tags);
  m.status = MemberInfo::Status::Alive;
  m.incarnation = 1;
  return m;
}

MemberEvent ev(MemberEvent::Type t, std::vector<MemberInfo> ms) {
  MemberEvent e;
  e.type = t;
  e.members = std::move(ms);
  return e;
}

struct Fixture : ::testing::Test {
  config::Config cfg = make_cfg();
  balancing::Pool pool;
  balancing::PoolWriter writer{pool, cfg};
  boost::asio::io_context io;
  std::vector<std::string> log;
  // What the mapper changed, as every subscriber of the writer (health/)
  // learns it: "<kind> backend/server", with " check" on added servers that
  // are health-checked.
  int subscription = writer.subscribe([this](const std::vector<balancing::PoolChange>& chs) {
    for (const auto& c : chs) {
      std::string line =
          std::string(balancing::to_string(c.kind)) + " " + c.backend + "/" + c.server;
      if (c.kind == balancing::PoolChange::Kind::Added) {
        const Server* s = find(c.backend, c.server);
        if (s && s->check_enabled) line += " check";
      }
      log.push_back(line);
    }
  });
  const Server* find(const std::string& be, const std::string& name) {
    auto snap = pool.current();
    keep_ = snap;
    const auto* b = snap->find(be);
    return b ? b->find(name) : nullptr;
  }
  std::shared_ptr<const balancing::PoolSnapshot> keep_;
};

TEST_F(Fixture, JoinAddsUsableServerAtOnceWithoutCheck) {
  MemberMapper m(io, writer, {rule("nodes", "weight 5 maxconn 10")});
  uint64_t v = pool.version();
  m.apply(ev(MemberEvent::Type::Join, {member("web1", "10.0.0.1")}));
  EXPECT_EQ(pool.version(), v + 1);
  const Server* s = find("nodes", "web1");
  ASSERT_NE(s, nullptr);
  EXPECT_TRUE(s->usable());
  EXPECT_EQ(s->origin, balancing::Origin::Member);
  EXPECT_EQ(s->addr.to_string(), "10.0.0.1:3000");
  EXPECT_EQ(s->weight, 5);
  EXPECT_EQ(s->maxconn, 10);
  EXPECT_EQ(s->id, 2);                           // after static1
  EXPECT_NE(find("nodes", "static1"), nullptr);  // config servers coexist
  // The balancer can pick it.
  auto snap = pool.current();
  int web1 = 0;
  for (int i = 0; i < 4; ++i) {
    const Server* p = snap->find("nodes")->pick({});
    ASSERT_NE(p, nullptr);
    web1 += p->name == "web1";
  }
  EXPECT_GT(web1, 0);
  EXPECT_EQ(log, (std::vector<std::string>{"added nodes/web1"}));
}

// Two balancers that saw members join in another order number them
// differently; with hash-key addr-port their consistent rings agree.
TEST(MapperHashing, MemberServersHashByAddressAndRampWithTheDefaultSlowstart) {
  auto run = [](const std::vector<std::string>& order, std::string* slowstart_info) {
    config::Config cfg = make_cfg();
    cfg.proxies[0].hash_type.consistent = true;
    cfg.proxies[0].hash_type.avalanche = true;
    cfg.proxies[0].balance.algo = config::BalanceAlgo::Hdr;
    cfg.proxies[0].balance.arg = "x-key";
    cfg.proxies[0].default_slowstart_ms = 5000;
    balancing::Pool pool;
    balancing::PoolWriter writer{pool, cfg};
    boost::asio::io_context io;
    MemberMapper m(io, writer, {rule("nodes", "")});
    for (const auto& ip : order) m.apply(ev(MemberEvent::Type::Join, {member("w" + ip, ip)}));
    auto snap = pool.current();
    const auto* be = snap->find("nodes");
    const Server* first = be->find("w" + order[0]);
    *slowstart_info = std::to_string(first->slowstart_s) + " " + std::to_string(first->ramp_w) +
                      " " + std::to_string(first->hash_key == config::Server::HashKey::AddrPort);
    std::string out;
    for (int i = 0; i < 200; ++i) {
      balancing::PickContext ctx;
      const std::string k = "key" + std::to_string(i);
      ctx.hash_header = k;
      const Server* s = be->pick(ctx);
      out += (s ? s->name : "-") + " ";
    }
    return out;
  };
  std::string info_a, info_b;
  const std::string a = run({"10.0.0.1", "10.0.0.2", "10.0.0.3"}, &info_a);
  const std::string b = run({"10.0.0.3", "10.0.0.1", "10.0.0.2"}, &info_b);
  EXPECT_EQ(a, b);
  EXPECT_NE(a.find("w10.0.0.2"), std::string::npos);
  // The default-server's 5 s, at 1/16 of the weight just after the join.
  EXPECT_EQ(info_a, "5 1 1");
}

TEST_F(Fixture, JoinWithCheckWaitsForFirstCheck) {
  MemberMapper m(io, writer, {rule("nodes", "check rise 3")});
  m.apply(ev(MemberEvent::Type::Join, {member("web1", "10.0.0.1")}));
  const Server* s = find("nodes", "web1");
  ASSERT_NE(s, nullptr);
  EXPECT_FALSE(s->usable());
  EXPECT_TRUE(s->check_enabled);
  EXPECT_EQ(s->op, OpState::Stopped);
  EXPECT_EQ(s->health, 2);  // rise-1: one passing check makes it UP
  EXPECT_EQ(log, (std::vector<std::string>{"added nodes/web1 check"}));
}

TEST_F(Fixture, MembersWhoseNamesCannotNameAServerAreNotMapped) {
  // Names come from the wire: one with a space, a comma or a byte outside
  // HAProxy's identifier characters would break the stats CSV and logs.
  MemberMapper m(io, writer, {rule("nodes")});
  m.apply(ev(MemberEvent::Type::Join,
             {member("a b", "10.0.0.1"), member("x,y", "10.0.0.2"), member("\xff\n", "10.0.0.3"),
              member("", "10.0.0.4"), member("web-1.dc:a_b", "10.0.0.5")}));
  EXPECT_EQ(m.managed(), (std::vector<std::string>{"nodes/web-1.dc:a_b"}));
  // They are still members, printed one per line with their bytes escaped.
  const std::string table = m.show_members();
  EXPECT_NE(table.find("\na\\x20b 10.0.0.1:"), std::string::npos) << table;
  EXPECT_NE(table.find("\nx\\x2cy 10.0.0.2:"), std::string::npos) << table;
  EXPECT_NE(table.find("\n\\xff\\x0a 10.0.0.3:"), std::string::npos) << table;
  EXPECT_EQ(std::count(table.begin(), table.end(), '\n'), 6);  // header + 5 members
}

TEST_F(Fixture, NonMatchingMembersAreIgnored) {
  MemberMapper m(io, writer, {rule("nodes")});
  uint64_t v = pool.version();
  m.apply(ev(MemberEvent::Type::Join,
             {member("lb", "10.0.0.9", {{"role", "balancer"}}), member("x", "10.0.0.8", {})}));
  EXPECT_EQ(pool.version(), v);  // nothing changed, nothing published
  EXPECT_TRUE(m.managed().empty());
  EXPECT_EQ(m.describe().size(), 2u);
}

TEST_F(Fixture, LeaveDrainsThenRemovesWhenInflightIsZero) {
  MemberMapper m(io, writer, {rule("nodes")}, {std::chrono::milliseconds(5), {}});
  m.apply(ev(MemberEvent::Type::Join, {member("web1", "10.0.0.1")}));
  const Server* s = find("nodes", "web1");
  ASSERT_NE(s, nullptr);
  auto live = s->live;
  live->inflight.inc();  // a request in flight
  auto left = member("web1", "10.0.0.1");
  left.status = MemberInfo::Status::Left;
  m.apply(ev(MemberEvent::Type::Leave, {left}));
  s = find("nodes", "web1");
  ASSERT_NE(s, nullptr);
  EXPECT_TRUE(s->draining());
  EXPECT_FALSE(s->usable());
  EXPECT_TRUE(s->is_up());  // sticky traffic still reaches it
  EXPECT_EQ(s->live, live);
  EXPECT_EQ(m.draining(), 1u);
  EXPECT_EQ(m.poll_drains(), 0);
  io.run_for(std::chrono::milliseconds(30));
  EXPECT_NE(find("nodes", "web1"), nullptr);  // still in flight
  auto rows = m.describe();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].status, "left");
  ASSERT_EQ(rows[0].servers.size(), 1u);
  EXPECT_EQ(rows[0].servers[0].second, "DRAIN (1 in flight)");
  live->inflight.dec();
  io.restart();
  io.run_for(std::chrono::milliseconds(50));
  EXPECT_EQ(find("nodes", "web1"), nullptr);
  EXPECT_EQ(m.draining(), 0u);
  EXPECT_EQ(log, (std::vector<std::string>{"added nodes/web1", "admin nodes/web1",
                                           "removed nodes/web1"}));
}

TEST_F(Fixture, FailedRemovesAtOnce) {
  MemberMapper::Options no_panic;
  no_panic.panic_threshold = 0;  // pool safety off: the last server goes too
  MemberMapper m(io, writer, {rule("nodes")}, no_panic);
  m.apply(ev(MemberEvent::Type::Join, {member("web1", "10.0.0.1")}));
  find("nodes", "web1")->live->inflight.inc();
  uint64_t v = pool.version();
  m.apply(ev(MemberEvent::Type::Failed, {member("web1", "10.0.0.1")}));
  EXPECT_EQ(pool.version(), v + 1);
  EXPECT_EQ(find("nodes", "web1"), nullptr);
  EXPECT_EQ(m.describe().at(0).status, "failed");
  m.apply(ev(MemberEvent::Type::Reap, {member("web1", "10.0.0.1")}));
  EXPECT_TRUE(m.describe().empty());
}

TEST_F(Fixture, UpdateInPlaceKeepsServerLive) {
  MemberMapper m(io, writer, {rule("nodes")});
  m.apply(ev(MemberEvent::Type::Join, {member("web1", "10.0.0.1")}));
  const Server* s = find("nodes", "web1");
  auto live = s->live;
  int id = s->id;
  live->counters.add(balancing::Counter::LbTotal, 7);
  uint64_t v = pool.version();
  auto moved = member("web1", "10.0.0.2", {{"role", "backend"}, {"zone", "b"}});
  moved.incarnation = 2;
  m.apply(ev(MemberEvent::Type::Update, {moved}));
  EXPECT_EQ(pool.version(), v + 1);
  s = find("nodes", "web1");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->live, live);
  EXPECT_EQ(s->id, id);
  EXPECT_EQ(s->addr.to_string(), "10.0.0.2:3000");
  EXPECT_EQ(m.describe().at(0).incarnation, 2u);
  // A tag-only change that keeps the address publishes nothing.
  v = pool.version();
  moved.tags["zone"] = "c";
  m.apply(ev(MemberEvent::Type::Update, {moved}));
  EXPECT_EQ(pool.version(), v);
  EXPECT_EQ(m.describe().at(0).tags.at("zone"), "c");
}

TEST_F(Fixture, PortTagAndTagChangeThatStopsMatchingDrains) {
  PoolRule r = rule("nodes", "", 0);
  r.port_tag = "port";
  MemberMapper m(io, writer, {r});
  m.apply(ev(MemberEvent::Type::Join,
             {member("web1", "10.0.0.1", {{"role", "backend"}, {"port", "8080"}}),
              member("noport", "10.0.0.3", {{"role", "backend"}}),
              member("badport", "10.0.0.4", {{"role", "backend"}, {"port", "http"}})}));
  ASSERT_NE(find("nodes", "web1"), nullptr);
  EXPECT_EQ(find("nodes", "web1")->addr.port, 8080);
  EXPECT_EQ(find("nodes", "noport"), nullptr);
  EXPECT_EQ(find("nodes", "badport"), nullptr);
  m.apply(ev(MemberEvent::Type::Update,
             {member("web1", "10.0.0.1", {{"role", "backend"}, {"port", "9090"}})}));
  EXPECT_EQ(find("nodes", "web1")->addr.port, 9090);
  m.apply(ev(MemberEvent::Type::Update,
             {member("web1", "10.0.0.1", {{"role", "retired"}, {"port", "9090"}})}));
  EXPECT_TRUE(find("nodes", "web1")->draining());
  EXPECT_EQ(m.poll_drains(), 1);
  EXPECT_EQ(find("nodes", "web1"), nullptr);
}

TEST_F(Fixture, RejoinWhileDrainingUpdatesInPlace) {
  MemberMapper m(io, writer, {rule("nodes")});
  m.apply(ev(MemberEvent::Type::Join, {member("web1", "10.0.0.1")}));
  auto live = find("nodes", "web1")->live;
  live->inflight.inc();
  m.apply(ev(MemberEvent::Type::Leave, {member("web1", "10.0.0.1")}));
  EXPECT_TRUE(find("nodes", "web1")->draining());
  m.apply(ev(MemberEvent::Type::Join, {member("web1", "10.0.0.5")}));
  const Server* s = find("nodes", "web1");
  ASSERT_NE(s, nullptr);
  EXPECT_FALSE(s->draining());
  EXPECT_TRUE(s->usable());
  EXPECT_EQ(s->live, live);
  EXPECT_EQ(s->addr.ip, "10.0.0.5");
  live->inflight.dec();
  EXPECT_EQ(m.poll_drains(), 0);
  EXPECT_NE(find("nodes", "web1"), nullptr);
}

TEST_F(Fixture, BurstOfTwentyJoinsIsOnePublication) {
  MemberMapper::Options no_panic;
  no_panic.panic_threshold = 0;  // pool safety off (PanicThreshold* below)
  MemberMapper m(io, writer, {rule("nodes"), rule("api", "", 4000)}, no_panic);
  std::vector<MemberEvent> batch;
  for (int i = 0; i < 20; ++i)
    batch.push_back(ev(MemberEvent::Type::Join,
                       {member("n" + std::to_string(i), "10.0.1." + std::to_string(i + 1))}));
  uint64_t v = pool.version();
  m.apply(batch);
  EXPECT_EQ(pool.version(), v + 1);
  auto snap = pool.current();
  EXPECT_EQ(snap->find("nodes")->servers.size(), 21u);
  EXPECT_EQ(snap->find("api")->servers.size(), 20u);
  EXPECT_EQ(snap->find("api")->find("n3")->addr.to_string(), "10.0.1.4:4000");
  EXPECT_EQ(m.managed().size(), 40u);
  // One Serf event naming 20 members is one publication too.
  std::vector<MemberInfo> ms;
  for (int i = 0; i < 20; ++i) ms.push_back(member("n" + std::to_string(i), "10.0.1.1"));
  v = pool.version();
  m.apply(ev(MemberEvent::Type::Failed, ms));
  EXPECT_EQ(pool.version(), v + 1);
  EXPECT_EQ(pool.current()->find("nodes")->servers.size(), 1u);
}

// Pool safety: losing contact with every member (one after the other, as
// probes find them) keeps the backend at the panic threshold.
TEST_F(Fixture, PanicThresholdHoldsServersWhenEveryMemberFails) {
  auto t = std::chrono::steady_clock::time_point{} + std::chrono::hours(1);
  MemberMapper::Options o;
  o.now = [&t] { return t; };
  MemberMapper m(io, writer, {rule("api", "", 4000)}, o);
  std::vector<MemberInfo> ms;
  for (int i = 0; i < 4; ++i) ms.push_back(member("n" + std::to_string(i), "10.0.2.1"));
  m.apply(ev(MemberEvent::Type::Join, ms));
  for (const auto& x : ms) {
    t += std::chrono::seconds(1);
    m.apply(ev(MemberEvent::Type::Failed, {x}));
  }
  // 3 of 4 alive, then 2 of 4 (= 50 %): removed; then under 50 %: held.
  EXPECT_EQ(find("api", "n0"), nullptr);
  EXPECT_EQ(find("api", "n1"), nullptr);
  ASSERT_NE(find("api", "n2"), nullptr);
  ASSERT_NE(find("api", "n3"), nullptr);
  EXPECT_EQ(m.held(), (std::vector<std::string>{"api/n2", "api/n3"}));
  EXPECT_NE(m.show_members().find("held"), std::string::npos);
  // Reaping a held member does not empty the pool either.
  m.apply(ev(MemberEvent::Type::Reap, {ms[3]}));
  EXPECT_NE(find("api", "n3"), nullptr);
  // n2 comes back: an ordinary server again; n3 stays held (1 of 4 alive).
  m.apply(ev(MemberEvent::Type::Join, {ms[2]}));
  EXPECT_EQ(m.held(), (std::vector<std::string>{"api/n3"}));
  // n0 and n1 come back: 3 alive of 6 counted -> out of panic, n3 removed.
  m.apply(ev(MemberEvent::Type::Join, {ms[0], ms[1]}));
  EXPECT_TRUE(m.held().empty());
  EXPECT_EQ(find("api", "n3"), nullptr);
  EXPECT_EQ(pool.current()->find("api")->servers.size(), 3u);
}

TEST_F(Fixture, PanicThresholdSingleServerWindowAndGracefulLeave) {
  auto t = std::chrono::steady_clock::time_point{} + std::chrono::hours(1);
  MemberMapper::Options o;
  o.now = [&t] { return t; };
  MemberMapper m(io, writer, {rule("api", "", 4000)}, o);
  // The only server of a backend is kept when its member fails.
  m.apply(ev(MemberEvent::Type::Join, {member("a", "10.0.3.1")}));
  m.apply(ev(MemberEvent::Type::Failed, {member("a", "10.0.3.1")}));
  EXPECT_EQ(m.held(), (std::vector<std::string>{"api/a"}));
  // A graceful leave is never held.
  m.apply(ev(MemberEvent::Type::Join, {member("a", "10.0.3.1"), member("b", "10.0.3.2")}));
  EXPECT_TRUE(m.held().empty());
  m.apply(ev(MemberEvent::Type::Leave, {member("b", "10.0.3.2")}));
  m.apply(ev(MemberEvent::Type::Leave, {member("a", "10.0.3.1")}));
  EXPECT_TRUE(m.held().empty());
  EXPECT_EQ(m.draining(), 2u);
  // Failures older than the window no longer count: 2 of 4 members fail
  // (removed), a minute later a third does: 1 of 2 alive counted -> removed.
  std::vector<MemberInfo> ms;
  for (int i = 0; i < 4; ++i) ms.push_back(member("w" + std::to_string(i), "10.0.4.1"));
  m.apply(ev(MemberEvent::Type::Join, ms));
  m.apply(ev(MemberEvent::Type::Failed, {ms[0]}));
  m.apply(ev(MemberEvent::Type::Failed, {ms[1]}));
  EXPECT_TRUE(m.held().empty());
  t += o.panic_window + std::chrono::seconds(1);
  m.apply(ev(MemberEvent::Type::Failed, {ms[2]}));
  EXPECT_TRUE(m.held().empty());
  EXPECT_EQ(find("api", "w2"), nullptr);
  // ...while within the window the last one is held.
  m.apply(ev(MemberEvent::Type::Failed, {ms[3]}));
  EXPECT_EQ(m.held(), (std::vector<std::string>{"api/w3"}));
}

TEST_F(Fixture, PanicThresholdCountsTheBackendsConfigServers) {
  // "nodes" has static1 from the configuration: its only member may go.
  MemberMapper m(io, writer, {rule("nodes")});
  m.apply(ev(MemberEvent::Type::Join, {member("web1", "10.0.0.1")}));
  m.apply(ev(MemberEvent::Type::Failed, {member("web1", "10.0.0.1")}));
  EXPECT_TRUE(m.held().empty());
  EXPECT_EQ(find("nodes", "web1"), nullptr);
  EXPECT_NE(find("nodes", "static1"), nullptr);
}

TEST_F(Fixture, NameClashWithConfigServerIsNotTouched) {
  MemberMapper m(io, writer, {rule("nodes")});
  m.apply(ev(MemberEvent::Type::Join, {member("static1", "10.0.0.1")}));
  EXPECT_EQ(find("nodes", "static1")->origin, balancing::Origin::Config);
  EXPECT_EQ(find("nodes", "static1")->addr.to_string(), "127.0.0.1:8000");
  m.apply(ev(MemberEvent::Type::Failed, {member("static1", "10.0.0.1")}));
  EXPECT_NE(find("nodes", "static1"), nullptr);
  EXPECT_TRUE(log.empty());
}

TEST_F(Fixture, RegexMatchAnchoredAsSerf) {
  PoolRule r = rule("nodes");
  r.match = {{"role", "web|api"}, {"dc", ""}};  // dc absent matches ""
  MemberMapper m(io, writer, {r});
  m.apply(ev(MemberEvent::Type::Join, {member("a", "10.0.0.1", {{"role", "web"}}),
                                       member("b", "10.0.0.2", {{"role", "api"}}),
                                       member("c", "10.0.0.3", {{"role", "webapi"}}),
                                       member("d", "10.0.0.4", {{"role", "web"}, {"dc", "x"}})}));
  EXPECT_NE(find("nodes", "a"), nullptr);
  EXPECT_NE(find("nodes", "b"), nullptr);
  // "^web|api$" as serf compiles it matches "webapi" (^web); keep serf's semantics.
  EXPECT_NE(find("nodes", "c"), nullptr);
  EXPECT_EQ(find("nodes", "d"), nullptr);
}

TEST_F(Fixture, ShowMembers) {
  MemberMapper m(io, writer, {rule("nodes")});
  m.apply(ev(MemberEvent::Type::Join, {member("web1", "10.0.0.1"), member("v6", "fd00::1", {})}));
  EXPECT_EQ(m.show_members(),
            "# name address status incarnation servers tags\n"
            "v6 [fd00::1]:7946 alive 1 - -\n"
            "web1 10.0.0.1:7946 alive 1 nodes/web1(UP) role=backend\n");
}

}  // namespace
}  // namespace herd::membership
