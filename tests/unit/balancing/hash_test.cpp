// hash-type map-based|consistent, the hash functions, url_param and hdr
// keys, hash-key, and slowstart ramps (PoolWriter::tick_slowstart()).
// The function vectors are haproxy 2.6.12's own converters (sdbm, djb2,
// wt6, crc32, and with (1) the avalanche) over the same strings.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "balancing/lb.h"
#include "helpers.h"

namespace herd::balancing {
namespace {

using namespace testing;
using config::BalanceAlgo;
using config::HashFunction;

struct Fixture {
  explicit Fixture(BalanceAlgo algo, const std::vector<int>& w) : cfg(make_config(algo, w)) {
    for (size_t i = 0; i < cfg.proxies[0].servers.size(); ++i)
      cfg.proxies[0].servers[i].addr.port = static_cast<uint16_t>(8001 + i);
  }
  config::Proxy& px() { return cfg.proxies[0]; }
  void start() {
    writer = std::make_unique<PoolWriter>(pool, cfg);
    writer->set_clock([this] { return now; });
  }
  const BackendSnapshot& be() {
    snap = pool.current();
    return *snap->find("b");
  }
  std::string pick_uri(const std::string& uri) {
    PickContext ctx;
    ctx.uri = uri;
    const Server* s = be().pick(ctx);
    return s ? s->name : "-";
  }
  std::string pick_header(const std::string& v) {
    PickContext ctx;
    ctx.hash_header = v;
    const Server* s = be().pick(ctx);
    return s ? s->name : "-";
  }
  config::Config cfg;
  Pool pool;
  std::unique_ptr<PoolWriter> writer;
  std::shared_ptr<const PoolSnapshot> snap;
  int64_t now = 1'000'000;
};

TEST(HashFunctions, HaproxyVectors) {
  struct V {
    const char* in;
    uint32_t sdbm, djb2, wt6, crc32, sdbm_a, djb2_a, wt6_a, crc32_a;
  };
  const V vs[] = {
      {"/", 47, 177620, 1886637733, 2043925204, 2118074832, 3725504903, 2250254464, 2724628003},
      {"/abc", 3135654771, 2088271610, 4175322074, 326170788, 2611440265, 1563166642, 2702208831,
       2375596333},
      {"/hello/world", 3461884038, 3258338207, 3022396808, 2263584858, 3247079497, 1125971948,
       1385928714, 1699623523},
      {"/123456789", 4153285062, 927970609, 3345602750, 1881218467, 1204959296, 1462708290,
       2092697068, 2312292288},
      {"/a-much-longer-path-with-many-chars/x.html", 2717477571, 1749634256, 203391739, 814167590,
       482854640, 2813408363, 3274260225, 3212288157},
  };
  for (const V& v : vs) {
    SCOPED_TRACE(v.in);
    EXPECT_EQ(lb_sdbm(v.in), v.sdbm);
    EXPECT_EQ(lb_djb2(v.in), v.djb2);
    EXPECT_EQ(lb_wt6(v.in), v.wt6);
    EXPECT_EQ(lb_crc32(v.in), v.crc32);
    EXPECT_EQ(lb_full_hash(v.sdbm), v.sdbm_a);
    EXPECT_EQ(lb_full_hash(v.djb2), v.djb2_a);
    EXPECT_EQ(lb_full_hash(v.wt6), v.wt6_a);
    EXPECT_EQ(lb_full_hash(v.crc32), v.crc32_a);
    config::HashType ht{false, HashFunction::Wt6, true};
    EXPECT_EQ(lb_hash_text(ht, v.in), v.wt6_a);
  }
  EXPECT_EQ(lb_crc32("123456789"), 0xCBF43926u);
  // XXH32's published test value.
  EXPECT_EQ(lb_xxh32(reinterpret_cast<const uint8_t*>(""), 0, 0), 0x02CC5D05u);
}

TEST(UrlParam, FindsTheValueAsHaproxy) {
  EXPECT_EQ(lb_url_param("/p?id=42", "id").value_or("?"), "42");
  EXPECT_EQ(lb_url_param("/p?a=1&id=42&b=2", "id").value_or("?"), "42");
  EXPECT_EQ(lb_url_param("/p?xid=1&id=7", "id").value_or("?"), "7");
  EXPECT_EQ(lb_url_param("/p?id=", "id").value_or("?"), "");
  EXPECT_FALSE(lb_url_param("/p?id", "id"));  // no '='
  EXPECT_FALSE(lb_url_param("/p?other=1", "id"));
  EXPECT_FALSE(lb_url_param("/p/id=1", "id"));  // not in a query string
}

TEST(Hdr, FirstValueAndDomainOnly) {
  EXPECT_EQ(lb_header_first_value("  abc , def"), "abc");
  EXPECT_EQ(lb_header_first_value(""), "");
  EXPECT_EQ(lb_domain_only("www.example.com"), "example");
  EXPECT_EQ(lb_domain_only("a.b.example.co"), "example");
  EXPECT_EQ(lb_domain_only("example.com"), "example");
  EXPECT_EQ(lb_domain_only("localhost"), "localhost");
}

TEST(MapBased, HashFunctionModuloTable) {
  Fixture f(BalanceAlgo::UrlParam, {1, 2, 1});
  f.px().balance.arg = "k";
  f.px().hash_type = {false, HashFunction::Djb2, false};
  f.start();
  const std::vector<uint32_t> table =
      build_map_table({f.be().find("s1"), f.be().find("s2"), f.be().find("s3")});
  for (int i = 0; i < 50; ++i) {
    const std::string key = "user" + std::to_string(i);
    const uint32_t slot = lb_djb2(key) % table.size();
    EXPECT_EQ(f.pick_uri("/x?k=" + key), "s" + std::to_string(table[slot] + 1)) << key;
  }
}

TEST(MapBased, MissingParamFallsBackToRoundRobinOverTheMap) {
  Fixture f(BalanceAlgo::UrlParam, {1, 1, 1});
  f.px().balance.arg = "k";
  f.start();
  std::vector<std::string> got;
  for (int i = 0; i < 6; ++i) got.push_back(f.pick_uri("/nothing"));
  EXPECT_EQ(join(got), "s1 s2 s3 s1 s2 s3");
}

TEST(Consistent, RemovingAServerMovesOnlyItsKeys) {
  Fixture f(BalanceAlgo::Hdr, {1, 1, 1, 1});
  f.px().balance.arg = "x-key";
  f.px().hash_type = {true, HashFunction::Sdbm, true};
  f.start();
  std::map<std::string, std::string> before;
  for (int i = 0; i < 2000; ++i) {
    const std::string k = "key-" + std::to_string(i);
    before[k] = f.pick_header(k);
  }
  std::map<std::string, int> share;
  for (const auto& [k, s] : before) ++share[s];
  for (const auto& [s, n] : share) EXPECT_GT(n, 200) << s;  // 16 points each: rough balance
  ASSERT_FALSE(f.writer->begin().set_admin("b", "s2", kAdminForcedMaint, 0));
  int moved = 0;
  for (const auto& [k, s] : before) {
    const std::string now = f.pick_header(k);
    if (s == "s2") {
      EXPECT_NE(now, "s2");
      ++moved;
    } else {
      EXPECT_EQ(now, s) << k;  // the others' keys stay
    }
  }
  EXPECT_EQ(moved, share["s2"]);
  // Back: every key returns to its server.
  ASSERT_FALSE(f.writer->begin().set_admin("b", "s2", 0, kAdminForcedMaint));
  for (const auto& [k, s] : before) EXPECT_EQ(f.pick_header(k), s) << k;
}

TEST(Consistent, PointsAreHaproxy26Keys) {
  Fixture f(BalanceAlgo::Source, {1, 2});
  f.px().hash_type = {true, HashFunction::Sdbm, false};
  f.start();
  const Server& s2 = *f.be().find("s2");
  EXPECT_EQ(s2.scaled_weight(), 32);
  EXPECT_EQ(lb_chash_node_key(s2, lb_chash_server_key(s2), 5), lb_full_hash(2 * 4096 + 5));
  // A key exactly on a point goes to that point's server.
  for (int i = 0; i < 32; ++i) {
    PickContext ctx;
    ctx.client_ipv4 = lb_full_hash(2 * 4096 + i);
    EXPECT_EQ(f.be().pick(ctx)->name, "s2");
  }
}

TEST(Consistent, MissingHeaderWalksTheRing) {
  Fixture f(BalanceAlgo::Hdr, {1, 1});
  f.px().balance.arg = "x-key";
  f.px().hash_type = {true, HashFunction::Sdbm, true};
  f.start();
  std::vector<std::pair<uint32_t, std::string>> points;
  for (int sid = 1; sid <= 2; ++sid)
    for (int i = 0; i < 16; ++i)
      points.emplace_back(lb_full_hash(sid * 4096 + i), "s" + std::to_string(sid));
  std::sort(points.begin(), points.end());
  for (int i = 0; i < 40; ++i) EXPECT_EQ(f.pick_header(""), points[i % 32].second) << i;
}

TEST(HashKey, AddrPortRingIgnoresSidAndOrder) {
  // Two balancers that numbered the same three servers differently.
  auto ring = [](const std::vector<int>& ports) {
    Fixture f(BalanceAlgo::Hdr, {1, 1, 1});
    f.px().balance.arg = "x-key";
    f.px().hash_type = {true, HashFunction::Sdbm, true};
    for (size_t i = 0; i < ports.size(); ++i) {
      f.px().servers[i].addr.port = static_cast<uint16_t>(ports[i]);
      f.px().servers[i].hash_key = config::Server::HashKey::AddrPort;
    }
    f.start();
    std::string out;
    for (int i = 0; i < 300; ++i) {
      PickContext ctx;
      const std::string k = "k" + std::to_string(i);
      ctx.hash_header = k;
      out += std::to_string(f.be().pick(ctx)->addr.port) + " ";
    }
    return out;
  };
  EXPECT_EQ(ring({9001, 9002, 9003}), ring({9003, 9001, 9002}));
  // With ids the sids decide: the same ports in another order map elsewhere.
  Fixture a(BalanceAlgo::Source, {1, 1});
  a.px().servers[0].hash_key = config::Server::HashKey::Addr;
  a.start();
  const Server& s = *a.be().find("s1");
  EXPECT_EQ(lb_chash_server_key(s), lb_full_hash(0x0100007fu));  // 127.0.0.1 as loaded
  a.px().servers[0].hash_key = config::Server::HashKey::AddrPort;
  a.start();
  const Server& p = *a.be().find("s1");
  EXPECT_EQ(lb_chash_server_key(p), lb_full_hash(lb_full_hash(8001) + 0x0100007fu));
}

TEST(Slowstart, WeightRampsAfterLeavingMaintenance) {
  Fixture f(BalanceAlgo::RoundRobin, {10, 10});
  f.px().servers[1].slowstart_ms = 4000;
  f.px().servers[1].maxconn = 100;
  f.start();
  EXPECT_EQ(f.be().find("s2")->ramp_w, 16);  // UP at startup: full weight
  ASSERT_FALSE(f.writer->begin().set_admin("b", "s2", kAdminForcedMaint, 0));
  f.now = 5'000'300;
  ASSERT_FALSE(f.writer->begin().set_admin("b", "s2", 0, kAdminForcedMaint));
  // haproxy: w = (16 x elapsed + 4) / 4, eweight = 10 x w; maxconn x elapsed / 4.
  const int want_w[] = {1, 5, 9, 13};
  for (int sec = 0; sec < 4; ++sec) {
    f.now = 5'000'300 + sec * 1000;
    f.writer->tick_slowstart();
    const Server& s2 = *f.be().find("s2");
    EXPECT_EQ(s2.ramp_w, want_w[sec]) << sec;
    EXPECT_EQ(s2.scaled_weight(), 10 * want_w[sec]);
    EXPECT_EQ(s2.stats_weight(), (10 * want_w[sec] + 15) / 16);
    EXPECT_EQ(s2.dynamic_maxconn(), std::max(1, 100 * (25 * sec) / 100));
    // Round robin shares by eweight (over four rounds of the weights).
    const int round = 16 * 10 + 10 * want_w[sec];
    auto seq = picks(f.pool, 4 * round);
    EXPECT_NEAR(std::count(seq.begin(), seq.end(), "s2"), 4 * 10 * want_w[sec],
                4 * 10 * want_w[sec] / 10 + 4)
        << sec;
  }
  f.now = 5'000'300 + 4000;
  EXPECT_EQ(f.writer->tick_slowstart(), -1);  // ramp over
  EXPECT_EQ(f.be().find("s2")->ramp_w, 16);
  EXPECT_EQ(f.be().find("s2")->ramp_start_ms, -1);
  EXPECT_EQ(f.be().find("s2")->dynamic_maxconn(), 100);
  EXPECT_EQ(f.be().usable_weight(), 20);
}

TEST(Slowstart, StaticAlgorithmsRampMaxconnOnly) {
  Fixture f(BalanceAlgo::StaticRR, {4, 4});
  f.px().servers[0].slowstart_ms = 10000;
  f.px().servers[0].maxconn = 50;
  f.start();
  ASSERT_FALSE(f.writer->begin().set_op("b", "s1", OpState::Stopped, 0));
  f.now += 1;
  ASSERT_FALSE(f.writer->begin().set_op("b", "s1", OpState::Running, 2));
  f.now += 3000;
  EXPECT_EQ(f.writer->tick_slowstart(), 1000);  // the next step
  const Server& s1 = *f.be().find("s1");
  EXPECT_EQ(s1.ramp_w, 16);
  EXPECT_EQ(s1.dynamic_maxconn(), 15);  // 50 x 30 %
  // A server going down leaves its ramp.
  ASSERT_FALSE(f.writer->begin().set_op("b", "s1", OpState::Stopped, 0));
  EXPECT_EQ(f.be().find("s1")->ramp_start_ms, -1);
  EXPECT_EQ(f.writer->tick_slowstart(), -1);
}

TEST(Slowstart, MemberServersTakeTheDefaultServerSlowstart) {
  Fixture f(BalanceAlgo::LeastConn, {1});
  f.px().default_slowstart_ms = 3000;
  f.start();
  Server s;
  s.name = "m1";
  s.origin = Origin::Member;
  Endpoint::parse("127.0.0.1", 9000, s.addr);
  ASSERT_FALSE(f.writer->begin().add_server("b", std::move(s)));
  const Server& m1 = *f.be().find("m1");
  EXPECT_EQ(m1.slowstart_s, 3);
  EXPECT_EQ(m1.ramp_w, 1);
  f.now += 250;
  EXPECT_EQ(f.writer->tick_slowstart(), 750);
}

}  // namespace
}  // namespace herd::balancing
