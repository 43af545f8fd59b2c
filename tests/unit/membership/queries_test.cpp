// Serf queries (membership/queries.h) on an in-memory Serf-level network:
// each member is a Queries with a fake host; broadcasts reach every other
// member (re-broadcast when handle_query says so), direct messages reach
// the member at the address, all queued and delivered by run().
#include "membership/queries.h"

#include <gtest/gtest.h>

#include <deque>
#include <memory>

namespace herd::membership {
namespace {

using namespace std::chrono_literals;
using swim::TimePoint;

swim::Address addr_of(int i) {
  return swim::Address{Bytes{127, 0, 0, static_cast<uint8_t>(10 + i)}, 7946};
}

struct Net;

struct Host : QueryHost {
  Net* net = nullptr;
  std::string name;
  swim::Address addr;
  std::map<std::string, std::string> tag_map;
  std::optional<Keyring> kr;
  std::vector<MemberEvent> delivered;
  int keyring_writes = 0;
  std::unique_ptr<Queries> q;

  void send_direct(const swim::Address& to, Bytes serf_msg) override;
  void broadcast(Bytes serf_msg) override;
  std::vector<Peer> peers() const override;
  std::size_t num_members() const override;
  std::map<std::string, std::string> tags() const override { return tag_map; }
  swim::Address self_address() const override { return addr; }
  void deliver(MemberEvent ev) override { delivered.push_back(std::move(ev)); }
  std::optional<MemberInfo> member(const std::string& n) const override;
  Keyring* keyring() override { return kr ? &*kr : nullptr; }
  std::string keyring_changed() override {
    ++keyring_writes;
    return "";
  }
};

struct Net {
  struct Packet {
    bool broadcast = false;
    Host* from = nullptr;
    swim::Address to;
    Bytes msg;
  };
  std::vector<std::unique_ptr<Host>> hosts;
  std::deque<Packet> queue;
  std::size_t direct_sent = 0;
  std::set<std::string> down;                    // names whose packets are dropped (both ways)
  std::map<std::string, swim::Address> claimed;  // what peers() says of a name

  Host& add(const std::string& name, std::optional<Keyring> kr = std::nullopt) {
    auto h = std::make_unique<Host>();
    h->net = this;
    h->name = name;
    h->addr = addr_of(static_cast<int>(hosts.size()));
    h->kr = std::move(kr);
    h->q = std::make_unique<Queries>(name, *h, 7 + hosts.size());
    hosts.push_back(std::move(h));
    return *hosts.back();
  }
  Host* at(const swim::Address& a) {
    for (auto& h : hosts)
      if (h->addr == a) return h.get();
    return nullptr;
  }
  void dispatch(Host& h, const Bytes& msg, TimePoint now) {
    if (down.count(h.name)) return;
    auto m = serf::decode(msg);
    ASSERT_TRUE(m.ok());
    if (const auto* q = std::get_if<serf::Query>(&*m)) {
      if (h.q->handle_query(*q, now)) queue.push_back(Packet{true, &h, {}, msg});
    } else if (const auto* r = std::get_if<serf::QueryResponse>(&*m)) {
      h.q->handle_response(*r);
    } else if (const auto* rel = std::get_if<serf::Relay>(&*m)) {
      h.q->handle_relay(*rel);
    }
  }
  void run(TimePoint now) {
    while (!queue.empty()) {
      Packet p = std::move(queue.front());
      queue.pop_front();
      if (p.broadcast) {
        if (down.count(p.from->name)) continue;
        for (auto& h : hosts)
          if (h.get() != p.from) dispatch(*h, p.msg, now);
      } else if (Host* h = at(p.to)) {
        dispatch(*h, p.msg, now);
      }
    }
  }
};

void Host::send_direct(const swim::Address& to, Bytes serf_msg) {
  ++net->direct_sent;
  net->queue.push_back(Net::Packet{false, this, to, std::move(serf_msg)});
}
void Host::broadcast(Bytes serf_msg) {
  net->queue.push_back(Net::Packet{true, this, {}, std::move(serf_msg)});
}
std::vector<QueryHost::Peer> Host::peers() const {
  std::vector<Peer> out;
  for (const auto& h : net->hosts) {
    auto it = net->claimed.find(h->name);
    out.push_back(Peer{h->name, it == net->claimed.end() ? h->addr : it->second, true, 5});
  }
  return out;
}
std::size_t Host::num_members() const { return net->hosts.size(); }
std::optional<MemberInfo> Host::member(const std::string& n) const {
  for (const auto& h : net->hosts)
    if (h->name == n) {
      MemberInfo m;
      m.name = n;
      m.addr = "127.0.0.1";
      m.port = 7946;
      m.status = MemberInfo::Status::Alive;
      return m;
    }
  return std::nullopt;
}

struct Collected {
  std::vector<std::string> acks;
  std::vector<std::pair<std::string, std::string>> responses;
  int done = 0;
  Queries::Handlers handlers() {
    Queries::Handlers h;
    h.ack = [this](const std::string& f) { acks.push_back(f); };
    h.response = [this](const std::string& f, const Bytes& p) {
      responses.emplace_back(f, std::string(p.begin(), p.end()));
    };
    h.done = [this] { ++done; };
    return h;
  }
};

Keyring ring(std::initializer_list<uint8_t> fills) {
  std::vector<Bytes> keys;
  for (uint8_t f : fills) keys.push_back(Bytes(16, f));
  return *Keyring::create(std::move(keys));
}

TEST(Queries, PingIsAckedByEveryMemberOnceAndEndsAtTheDeadline) {
  Net net;
  for (int i = 0; i < 3; ++i) net.add("n" + std::to_string(i));
  TimePoint t0{};
  Collected c;
  Queries::Params p;
  p.request_ack = true;
  ASSERT_EQ(net.hosts[0]->q->start("_serf_ping", std::nullopt, p, c.handlers(), t0), "");
  net.run(t0);
  std::sort(c.acks.begin(), c.acks.end());
  EXPECT_EQ(c.acks, (std::vector<std::string>{"n0", "n1", "n2"}));
  EXPECT_TRUE(c.responses.empty());
  // Every member saw the query several times (re-broadcasts) but took it once.
  for (auto& h : net.hosts) EXPECT_EQ(h->q->counters().received, 1u) << h->name;
  uint64_t dups = 0;
  for (auto& h : net.hosts) dups += h->q->counters().duplicates;
  EXPECT_GT(dups, 0u);
  // Default timeout for 3 members: 200 ms x 16 x ceil(log10(4)) = 3.2 s.
  EXPECT_EQ(net.hosts[0]->q->default_timeout(), 3200ms);
  net.hosts[0]->q->tick(t0 + 3199ms);
  EXPECT_EQ(c.done, 0);
  net.hosts[0]->q->tick(t0 + 3200ms);
  EXPECT_EQ(c.done, 1);
  EXPECT_EQ(net.hosts[0]->q->pending(), 0u);
  // The query clock moved on everywhere.
  for (auto& h : net.hosts) EXPECT_GE(h->q->ltime(), 2u);
}

TEST(Queries, NoAckUnlessAskedAndNoRebroadcastWhenFlagged) {
  Net net;
  for (int i = 0; i < 3; ++i) net.add("n" + std::to_string(i));
  Collected c;
  ASSERT_EQ(net.hosts[0]->q->start("deploy", std::nullopt, {}, c.handlers(), TimePoint{}), "");
  net.run(TimePoint{});
  EXPECT_TRUE(c.acks.empty());
  // Delivered to every member's handlers, the originator included.
  for (auto& h : net.hosts) {
    ASSERT_EQ(h->delivered.size(), 1u) << h->name;
    EXPECT_EQ(h->delivered[0].type, MemberEvent::Type::Query);
    EXPECT_EQ(h->delivered[0].user_name, "deploy");
  }
  serf::Query q;
  q.ltime = 50;
  q.id = 9;
  q.flags = serf::kQueryFlagNoBroadcast;
  q.name = "x";
  EXPECT_FALSE(net.hosts[1]->q->handle_query(q, TimePoint{}));
  EXPECT_EQ(net.hosts[1]->delivered.size(), 2u);
}

TEST(Queries, NodeAndTagFilters) {
  Net net;
  for (int i = 0; i < 4; ++i) net.add("n" + std::to_string(i));
  net.hosts[1]->tag_map = {{"role", "web-1"}};
  net.hosts[2]->tag_map = {{"role", "db"}};
  net.hosts[3]->tag_map = {{"role", "web-2"}};
  Collected c;
  Queries::Params p;
  p.request_ack = true;
  p.filter_tags = {{"role", "^web"}};
  ASSERT_EQ(net.hosts[0]->q->start("q", std::nullopt, p, c.handlers(), TimePoint{}), "");
  net.run(TimePoint{});
  std::sort(c.acks.begin(), c.acks.end());
  EXPECT_EQ(c.acks, (std::vector<std::string>{"n1", "n3"}));
  EXPECT_EQ(net.hosts[2]->q->counters().filtered, 1u);

  Collected c2;
  Queries::Params p2;
  p2.request_ack = true;
  p2.filter_nodes = std::vector<std::string>{"n2", "n3"};
  ASSERT_EQ(net.hosts[0]->q->start("q", std::nullopt, p2, c2.handlers(), TimePoint{}), "");
  net.run(TimePoint{});
  std::sort(c2.acks.begin(), c2.acks.end());
  EXPECT_EQ(c2.acks, (std::vector<std::string>{"n2", "n3"}));
}

TEST(Queries, UserQueryResponseWithinDeadlineOnceAndSizeLimited) {
  Net net;
  for (int i = 0; i < 2; ++i) net.add("n" + std::to_string(i));
  Collected c;
  Queries::Params p;
  p.timeout = 1s;
  TimePoint t0{};
  ASSERT_EQ(net.hosts[0]->q->start("uptime", Bytes{'x'}, p, c.handlers(), t0), "");
  net.run(t0);
  Host& h1 = *net.hosts[1];
  ASSERT_EQ(h1.delivered.size(), 1u);
  EXPECT_EQ(h1.delivered[0].payload, "x");
  const uint64_t id = h1.delivered[0].query_id;
  EXPECT_EQ(h1.q->respond(id, Bytes(2000, 'a'), t0), "response exceeds limit of 1024 bytes");
  EXPECT_EQ(h1.q->respond(id, Bytes{'u', 'p'}, t0 + 10ms), "");
  EXPECT_EQ(h1.q->respond(id, Bytes{'u', 'p'}, t0 + 20ms), "response already sent");
  net.run(t0);
  ASSERT_EQ(c.responses.size(), 1u);
  EXPECT_EQ(c.responses[0], (std::pair<std::string, std::string>{"n1", "up"}));
  // The originator's own delivery, answered too late.
  const uint64_t own = net.hosts[0]->delivered.at(0).query_id;
  EXPECT_EQ(net.hosts[0]->q->respond(own, Bytes{'l'}, t0 + 2s), "response is past the deadline");
}

TEST(Queries, RefusesInternalNamesAndOversizedQueries) {
  Net net;
  net.add("n0");
  Collected c;
  EXPECT_EQ(net.hosts[0]->q->start("_serf_list-keys", std::nullopt, {}, c.handlers(), {}),
            "Queries cannot contain the '_serf_' prefix");
  EXPECT_EQ(net.hosts[0]->q->start("big", Bytes(1100, 'b'), {}, c.handlers(), {}),
            "query exceeds limit of 1024 bytes");
  EXPECT_EQ(net.hosts[0]->q->start("_serf_ping", std::nullopt, {}, c.handlers(), {}), "");
}

TEST(Queries, OldAndDuplicateQueriesAreDropped) {
  Net net;
  net.add("n0");
  Queries& q = *net.hosts[0]->q;
  serf::Query m;
  m.name = "a";
  m.ltime = 1000;
  m.id = 1;
  EXPECT_TRUE(q.handle_query(m, {}));
  EXPECT_FALSE(q.handle_query(m, {}));  // same LTime and ID
  m.id = 2;
  EXPECT_TRUE(q.handle_query(m, {}));  // same LTime, other ID
  m.ltime = 1001 - kQueryBuffer - 1;   // more than 512 behind the clock (1001)
  m.id = 3;
  EXPECT_FALSE(q.handle_query(m, {}));
  EXPECT_EQ(q.counters().received, 2u);
  EXPECT_EQ(q.counters().duplicates, 2u);
}

TEST(Queries, QueriesBeforeTheRestoredMinTimeAreIgnored) {
  // Serf's queryMinTime: a snapshot's query-clock + 1 (snapshot.h).
  Net net;
  net.add("n0");
  Queries& q = *net.hosts[0]->q;
  q.witness(7);
  q.set_min_time(8);
  serf::Query m;
  m.name = "a";
  m.id = 1;
  m.ltime = 7;
  EXPECT_FALSE(q.handle_query(m, {}));  // seen before the restart: not delivered, not relayed
  EXPECT_EQ(q.counters().received, 0u);
  m.ltime = 8;
  EXPECT_TRUE(q.handle_query(m, {}));
  EXPECT_EQ(q.counters().received, 1u);
}

TEST(Queries, RelayFactorSendsAcksThroughOtherMembers) {
  Net net;
  for (int i = 0; i < 4; ++i) net.add("n" + std::to_string(i));
  Collected c;
  Queries::Params p;
  p.request_ack = true;
  p.relay_factor = 2;
  ASSERT_EQ(net.hosts[0]->q->start("_serf_ping", std::nullopt, p, c.handlers(), {}), "");
  net.run({});
  uint64_t relayed = 0;
  for (auto& h : net.hosts) relayed += h->q->counters().relayed;
  // Each of the 4 acks went direct plus through 2 relays; duplicates dropped.
  EXPECT_EQ(relayed, 8u);
  EXPECT_EQ(c.acks.size(), 4u);
}

TEST(Queries, KeyRotationAcrossTheCluster) {
  Net net;
  for (int i = 0; i < 3; ++i) net.add("n" + std::to_string(i), ring({1}));
  TimePoint t{};
  const std::string k1 = base64_encode(Bytes(16, 1));
  const std::string k2 = base64_encode(Bytes(16, 2));
  auto run_op = [&](std::string_view op, const std::string& key) {
    std::optional<std::pair<std::string, rpc::KeyResponse>> out;
    net.hosts[1]->q->key_request(
        op, key, 0, [&](std::string e, rpc::KeyResponse r) { out.emplace(e, r); }, t);
    net.run(t);
    if (!out) {  // not every member answered: ends at the deadline
      t += 5s;
      net.hosts[1]->q->tick(t);
    }
    EXPECT_TRUE(out.has_value());
    return out.value_or(std::pair<std::string, rpc::KeyResponse>{});
  };
  auto r = run_op(rpc::kInstallKey, k2);
  EXPECT_EQ(r.first, "");
  EXPECT_EQ(r.second.num_nodes, 3);
  EXPECT_EQ(r.second.num_resp, 3);
  EXPECT_EQ(r.second.num_err, 0);
  for (auto& h : net.hosts) EXPECT_EQ(h->kr->keys().size(), 2u);
  r = run_op(rpc::kUseKey, k2);
  EXPECT_EQ(r.first, "");
  for (auto& h : net.hosts) EXPECT_EQ(h->kr->primary(), Bytes(16, 2));
  r = run_op(rpc::kRemoveKey, k2);  // the primary: refused everywhere
  EXPECT_EQ(r.first, "3/3 nodes reported failure");
  EXPECT_EQ(r.second.messages.at("n0"), "Removing the primary key is not allowed");
  r = run_op(rpc::kRemoveKey, k1);
  EXPECT_EQ(r.first, "");
  r = run_op(rpc::kListKeys, "");
  EXPECT_EQ(r.first, "");
  EXPECT_EQ(r.second.keys, (std::map<std::string, int64_t>{{k2, 3}}));
  for (auto& h : net.hosts) EXPECT_EQ(h->keyring_writes, 3) << h->name;
  // A member that does not answer: "2/3 nodes reported success" at the deadline.
  net.down.insert("n2");
  r = run_op(rpc::kListKeys, "");
  EXPECT_EQ(r.first, "2/3 nodes reported success");
  r = run_op(rpc::kUseKey, "not base64!");
  EXPECT_NE(r.first, "");
}

TEST(Queries, KeyQueriesWithoutEncryptionReportWhy) {
  Net net;
  net.add("n0");
  std::optional<rpc::KeyResponse> out;
  std::string err;
  net.hosts[0]->q->key_request(rpc::kListKeys, "", 0,
                               [&](std::string e, rpc::KeyResponse r) {
                                 err = e;
                                 out = r;
                               },
                               {});
  net.run({});
  ASSERT_TRUE(out);
  EXPECT_EQ(err, "1/1 nodes reported failure");
  EXPECT_EQ(out->messages.at("n0"), "Keyring is empty (encryption not enabled)");
}

TEST(Queries, ConflictQueryAnswersWithOurViewOfTheMember) {
  Net net;
  for (int i = 0; i < 3; ++i) net.add("n" + std::to_string(i));
  Collected c;
  ASSERT_EQ(net.hosts[0]->q->start("_serf_conflict", Bytes{'n', '0'}, {}, c.handlers(), {}, true),
            "");
  net.run({});
  // n0 is the subject: it does not answer about itself; n1 and n2 do.
  ASSERT_EQ(c.responses.size(), 2u);
  for (const auto& [from, body] : c.responses) {
    ASSERT_FALSE(body.empty());
    EXPECT_EQ(static_cast<uint8_t>(body[0]),
              static_cast<uint8_t>(serf::MessageType::kConflictResponse));
    EXPECT_NE(body.find("n0"), std::string::npos);
  }
}

TEST(Queries, ConflictResolutionMajorityAndMinority) {
  Net net;
  for (int i = 0; i < 4; ++i) net.add("n" + std::to_string(i));
  std::optional<std::tuple<bool, int, int>> out;
  auto done = [&](bool keep, int m, int r) { out.emplace(keep, m, r); };
  TimePoint t{};
  net.hosts[0]->q->resolve_conflict(done, t);
  net.run(t);
  net.hosts[0]->q->tick(t + 5s);
  ASSERT_TRUE(out);
  EXPECT_EQ(*out, std::make_tuple(true, 3, 3));
  // The cluster knows n0 at another address: n0 is in the minority.
  net.claimed["n0"] = swim::Address{Bytes{10, 9, 9, 9}, 7946};
  out.reset();
  net.hosts[0]->q->resolve_conflict(done, t + 10s);
  net.run(t + 10s);
  net.hosts[0]->q->tick(t + 20s);
  ASSERT_TRUE(out);
  EXPECT_EQ(*out, std::make_tuple(false, 0, 3));
}

}  // namespace
}  // namespace herd::membership
