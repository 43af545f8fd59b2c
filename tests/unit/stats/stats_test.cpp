// tests/unit/stats/stats_test.cpp — stats/ against HAProxy 2.6 captures:
// CSV header and rows, status strings, typed/json shapes, show info,
// servers state, the runtime API framing and replies, the stats page.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "balancing/pool.h"
#include "config/parser.h"
#include "stats/cli.h"
#include "stats/csv.h"
#include "stats/page.h"
#include "test_data.h"

namespace herd::stats {
namespace {

std::string read_capture(const std::string& name) {
  return herd::testing::read_data("haproxy-captures/" + name);
}

int count_fields(const std::string& line) {
  return static_cast<int>(std::count(line.begin(), line.end(), ',')) + 1;
}

std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string l;
  while (std::getline(ss, l)) out.push_back(l);
  return out;
}

// The lab: a stats listen (iid 2), a frontend (3), the `nodes` backend (4).
const char* const kLabCfg = R"(global
  maxconn 9984
defaults
  mode http
  timeout connect 1s
  timeout client 5s
  timeout server 5s
listen stats
  bind 127.0.0.1:23481
  stats enable
  stats uri /
  stats refresh 10s
  stats realm My\ Stats
  stats auth admin:secret
  acl any_src src 0.0.0.0/0
  stats admin if any_src
frontend localnodes
  bind 127.0.0.1:23480
  default_backend nodes
backend nodes
  option httpchk HEAD /
  server s1 127.0.0.1:23401 check
  server s2 127.0.0.1:23402 check
  server s3 127.0.0.1:23403
  server bk 127.0.0.1:23404 backup check
  server off 127.0.0.1:23405 disabled check
)";

class StatsTest : public ::testing::Test {
 protected:
  StatsTest()
      : parsed_(config::parse_text(kLabCfg, "lab.cfg")),
        cfg_(parsed_.config),
        writer_(pool_, cfg_),
        env_{cfg_, writer_, proc_, info_, registry_} {
    info_.maxconn = 9984;
    info_.version = "2.6.12-herd-test";
    info_.release_date = "2026/10/17";
    for (const auto& px : cfg_.proxies) {
      if (!px.has_frontend()) continue;
      auto f = std::make_unique<balancing::FrontendLive>();
      f->name = px.name;
      f->id = px.id;
      proc_.frontends.push_back(std::move(f));
    }
    register_builtin_commands(registry_);
  }

  std::string cli(const std::string& bytes, Level level = Level::Admin, bool* closed = nullptr) {
    CliSession s(env_, level);
    auto out = s.feed(bytes);
    if (closed) *closed = out.close;
    return out.bytes;
  }
  std::vector<Row> rows(const Filter& f = {}) {
    auto snap = pool_.current();
    return collect_rows(Sources{cfg_, *snap, proc_, info_}, f);
  }
  const Row* row(const std::vector<Row>& rs, const std::string& px, const std::string& sv) {
    for (const auto& r : rs)
      if (r.pxname() == px && r.svname() == sv) return &r;
    return nullptr;
  }
  // Records a passed L7 check for `sv` (what health/ does), full health.
  void set_checked(const std::string& sv) {
    auto tx = writer_.begin();
    tx.set_op("nodes", sv, balancing::OpState::Running, 4);
    tx.commit();
    const balancing::Server* s = pool_.current()->find("nodes")->find(sv);
    std::lock_guard<std::mutex> lock(s->live->health_mu);
    s->live->health.check_status = "L7OK";
    s->live->health.check_code = 200;
    s->live->health.check_duration_ms = 1;
    s->live->health.check_desc = "Layer7 check passed";
  }
  std::string status_of(const std::string& sv) {
    auto rs = rows();
    const Row* r = row(rs, "nodes", sv);
    return r ? r->f[kStatus].str : "<none>";
  }

  config::ParseResult parsed_;
  const config::Config& cfg_;
  balancing::Pool pool_;
  balancing::PoolWriter writer_;
  balancing::ProcessLive proc_;
  ProcessInfo info_;
  CliRegistry registry_;
  CliEnv env_;
};

TEST_F(StatsTest, ConfigParsed) {
  ASSERT_FALSE(parsed_.fatal);
  ASSERT_EQ(cfg_.find_backend("nodes")->id, 4);
}

TEST(StatsCsv, HeaderIsByteExact) {
  EXPECT_EQ(csv_header(), read_capture("csv-header-cli.txt"));
  EXPECT_EQ(csv_header(), read_capture("csv-header-http.txt"));
  EXPECT_EQ(count_fields(csv_header()), 129);
}

TEST_F(StatsTest, RowOrderAndFieldCounts) {
  auto rs = rows();
  std::vector<std::string> names;
  for (const auto& r : rs) names.push_back(r.pxname() + "/" + r.svname());
  EXPECT_EQ(names, (std::vector<std::string>{
                       "stats/FRONTEND", "stats/BACKEND", "localnodes/FRONTEND", "nodes/s1",
                       "nodes/s2", "nodes/s3", "nodes/bk", "nodes/off", "nodes/BACKEND"}));
  for (const auto& l : lines_of(render_csv_rows(rs))) EXPECT_EQ(count_fields(l), 129) << l;
}

// Same layout as the capture's rows: which fields are empty, which not.
TEST_F(StatsTest, EmptyFieldPatternMatchesCapture) {
  auto cap = lines_of(read_capture("stats-all-up.csv"));
  auto shape = [](const std::string& l) {
    std::string s;
    std::stringstream ss(l);
    std::string f;
    while (std::getline(ss, f, ',')) s += f.empty() ? '0' : '1';
    return s;
  };
  std::map<std::string, std::string> cap_shape;  // "FRONTEND"/"BACKEND"/"server" -> shape
  for (const auto& l : cap) {
    if (l.empty() || l[0] == '#') continue;
    auto c1 = l.find(','), c2 = l.find(',', c1 + 1);
    std::string sv = l.substr(c1 + 1, c2 - c1 - 1);
    std::string kind = sv == "FRONTEND" || sv == "BACKEND" ? sv : "server";
    if (!cap_shape.count(kind)) cap_shape[kind] = shape(l);
  }
  // s1 after a passed check, as in the capture; the page hides addr/algo.
  set_checked("s1");
  Filter f;
  f.hide_legends = true;
  auto ours = lines_of(render_csv_rows(rows(f)));
  EXPECT_EQ(shape(ours[2]), cap_shape["FRONTEND"]) << ours[2];
  EXPECT_EQ(shape(ours[3]), cap_shape["server"]) << ours[3];
  EXPECT_EQ(shape(ours[1]), cap_shape["BACKEND"]) << ours[1];  // stats: no servers
}

TEST_F(StatsTest, RowValues) {
  auto rs = rows();
  const Row* fe = row(rs, "localnodes", "FRONTEND");
  ASSERT_TRUE(fe);
  EXPECT_EQ(fe->f[kStatus].str, "OPEN");
  EXPECT_EQ(fe->f[kSLim].num, 9984);
  EXPECT_EQ(fe->f[kIid].num, 3);
  EXPECT_EQ(fe->f[kType].num, 0);
  EXPECT_EQ(fe->f[kMode].str, "http");
  const Row* be = row(rs, "nodes", "BACKEND");
  ASSERT_TRUE(be);
  EXPECT_EQ(be->f[kSLim].num, 999);  // ceil(9984 / 10), as HAProxy
  EXPECT_EQ(be->f[kAlgo].str, "roundrobin");
  EXPECT_EQ(be->f[kStatus].str, "UP");
  EXPECT_EQ(be->f[kWeight].num, 3);  // s1 + s2 + s3, backups excluded
  EXPECT_EQ(be->f[kAct].num, 3);
  EXPECT_EQ(be->f[kBck].num, 1);
  const Row* s1 = row(rs, "nodes", "s1");
  EXPECT_EQ(s1->f[kAddr].str, "127.0.0.1:23401");
  EXPECT_EQ(s1->f[kSid].num, 1);
  EXPECT_EQ(s1->f[kType].num, 2);
  EXPECT_EQ(s1->f[kCheckRise].num, 2);
  EXPECT_EQ(s1->f[kCheckFall].num, 3);
  const Row* bk = row(rs, "nodes", "bk");
  EXPECT_EQ(bk->f[kAct].num, 0);
  EXPECT_EQ(bk->f[kBck].num, 1);
  const Row* st = row(rs, "stats", "BACKEND");
  EXPECT_EQ(st->f[kStatus].str, "UP");  // no servers: UP, as HAProxy's stats proxy
  EXPECT_FALSE(st->f[kDowntime].present());
}

TEST_F(StatsTest, StatusStrings) {
  EXPECT_EQ(status_of("s2"), "UP 1/3");  // health = rise at start: going down
  EXPECT_EQ(status_of("s3"), "no check");
  EXPECT_EQ(status_of("off"), "MAINT");
  auto tx = writer_.begin();
  tx.set_op("nodes", "s1", balancing::OpState::Running, 4);
  tx.set_op("nodes", "s2", balancing::OpState::Stopped, 0);
  tx.set_op("nodes", "bk", balancing::OpState::Stopped, 1);
  tx.commit();
  EXPECT_EQ(status_of("s1"), "UP");
  EXPECT_EQ(status_of("s2"), "DOWN");
  EXPECT_EQ(status_of("bk"), "DOWN 1/2");
  tx.set_admin("nodes", "s1", balancing::kAdminForcedDrain, 0);
  tx.set_op("nodes", "s3", balancing::OpState::Stopping, 0);
  tx.commit();
  EXPECT_EQ(status_of("s1"), "DRAIN");
  EXPECT_EQ(status_of("s3"), "NOLB");
  tx.set_op("nodes", "s1", balancing::OpState::Running, 3);
  tx.commit();
  EXPECT_EQ(status_of("s1"), "DRAIN 2/3");
}

TEST_F(StatsTest, UpFilterHidesDownServersAndCountsBackend) {
  auto tx = writer_.begin();
  tx.set_op("nodes", "s2", balancing::OpState::Stopped, 0);
  tx.commit();
  Filter f;
  f.up = true;
  auto rs = rows(f);
  EXPECT_FALSE(row(rs, "nodes", "s2"));
  EXPECT_FALSE(row(rs, "nodes", "off"));
  EXPECT_EQ(row(rs, "nodes", "BACKEND")->f[kStatus].str, "UP (3/5)");
  EXPECT_EQ(row(rs, "stats", "BACKEND")->f[kStatus].str, "UP (0/0)");
  Filter nm;
  nm.no_maint = true;
  rs = rows(nm);
  EXPECT_TRUE(row(rs, "nodes", "s2"));
  EXPECT_FALSE(row(rs, "nodes", "off"));
}

TEST_F(StatsTest, ShowStatFilters) {
  auto body = cli("show stat -1 4 -1\n");
  auto ls = lines_of(body);
  ASSERT_EQ(ls.size(), 7u);  // header, 5 servers, blank
  EXPECT_EQ(ls[1].substr(0, 9), "nodes,s1,");
  EXPECT_EQ(ls.back(), "");
  ls = lines_of(cli("show stat nodes -1 -1\n"));
  EXPECT_EQ(ls.size(), 8u);
  ls = lines_of(cli("show stat -1 1 -1\n"));
  ASSERT_EQ(ls.size(), 4u);
  EXPECT_EQ(ls[1].substr(0, 15), "stats,FRONTEND,");
  EXPECT_EQ(cli("show stat nosuch -1 -1\n"), "No such proxy.\n\n");
  EXPECT_EQ(cli("show stat 99 -1 -1\n"), csv_header() + "\n");
  ls = lines_of(cli("show stat 4 4 2\n"));
  ASSERT_EQ(ls.size(), 3u);
  EXPECT_EQ(ls[1].substr(0, 9), "nodes,s2,");
}

TEST_F(StatsTest, TypedShape) {
  auto typed = cli("show stat typed\n");
  auto ls = lines_of(typed);
  EXPECT_EQ(ls[0], "F.2.0.0.pxname.1:KNS:str:stats");
  EXPECT_EQ(ls[1], "F.2.0.1.svname.1:KNS:str:FRONTEND");
  EXPECT_EQ(ls[2], "F.2.0.4.scur.1:MGP:u32:0");
  EXPECT_NE(typed.find("F.2.0.6.slim.1:CLP:u32:9984\n"), std::string::npos);
  EXPECT_NE(typed.find("F.2.0.17.status.1:SGP:str:OPEN\n"), std::string::npos);
  EXPECT_NE(typed.find("B.4.0.76.algo.1:CGS:str:roundrobin\n"), std::string::npos);
  EXPECT_NE(typed.find("S.4.1.73.addr.1:CGS:str:127.0.0.1:23401\n"), std::string::npos);
  EXPECT_NE(typed.find("S.4.1.67.check_rise.1:CGS:u32:2\n"), std::string::npos);
  EXPECT_NE(typed.find("S.4.1.103.ssl_sess.1:MCP:u64:0\n"), std::string::npos);
  EXPECT_NE(typed.find("B.4.0.126.h1_spliced_bytes_out.1:MCP:u64:0\n"), std::string::npos);
  // The same set of (type, position, name, tags) as the capture, per object type.
  auto cap = read_capture("cli-session-admin.txt");
  auto begin = cap.find("F.2.0.0.pxname");
  auto end = cap.find("\n\n-----", begin);
  std::set<std::string> cap_keys, our_keys;
  auto key = [](const std::string& l) {
    // "F.2.0.4.scur.1:MGP:u32:0" -> "F.4.scur.1:MGP:u32"
    auto p1 = l.find('.'), p2 = l.find('.', p1 + 1), p3 = l.find('.', p2 + 1);
    auto v = l.rfind(':');
    return l.substr(0, 1) + l.substr(p3, v - p3);
  };
  for (const auto& l : lines_of(cap.substr(begin, end - begin)))
    if (l[0] != 'S') cap_keys.insert(key(l));
  for (const auto& l : ls)
    if (!l.empty() && l[0] != 'S' && l.find(".2.0.") == std::string::npos) our_keys.insert(key(l));
  for (const auto& k : cap_keys) EXPECT_TRUE(our_keys.count(k)) << k;
}

TEST_F(StatsTest, JsonShape) {
  auto json = cli("show stat json\n");
  EXPECT_EQ(json.substr(0, 3), "[[{");
  EXPECT_EQ(json.substr(0, 250),
            std::string("[[{\"objType\":\"Frontend\",\"proxyId\":2,\"id\":0,\"field\":{\"pos\":0,"
                        "\"name\":\"pxname\"},\"processNum\":1,\"tags\":{\"origin\":\"Key\","
                        "\"nature\":\"Name\",\"scope\":\"Service\"},\"value\":{\"type\":\"str\","
                        "\"value\":\"stats\"}},{\"objType\":\"Frontend\",\"proxyId\":2,\"id\":0,"
                        "\"field\":{\"pos\":1,\"name\":\"svname\"},\"processNum\":1,\"tags\":{")
                .substr(0, 250));
  EXPECT_EQ(json.substr(json.size() - 4), "]]\n\n");
  EXPECT_NE(json.find("}],[{\"objType\":\"Backend\""), std::string::npos);
}

TEST_F(StatsTest, ShowInfo) {
  auto info = cli("show info\n");
  auto ls = lines_of(info);
  auto cap = lines_of(read_capture("cli-session-admin.txt"));
  std::vector<std::string> cap_names, our_names;
  for (size_t i = 1; i < cap.size() && !cap[i].empty(); ++i)
    cap_names.push_back(cap[i].substr(0, cap[i].find(':')));
  for (const auto& l : ls)
    if (!l.empty()) our_names.push_back(l.substr(0, l.find(':')));
  // HAProxy 2.6's fields in its order, then herd's own I/O backend field.
  ASSERT_FALSE(our_names.empty());
  EXPECT_EQ(our_names.back(), "Poller");
  our_names.pop_back();
  EXPECT_EQ(our_names, cap_names);
  EXPECT_EQ(ls[0], "Name: HAProxy");
  EXPECT_EQ(ls[1], "Version: 2.6.12-herd-test");
  EXPECT_EQ(ls[2], "Release_date: 2026/10/17");
  EXPECT_NE(info.find("\nTainted: 0\nPoller: epoll\n\n"), std::string::npos);
  auto typed = cli("show info typed\n");
  EXPECT_EQ(lines_of(typed)[0], "0.Name.1:POS:str:HAProxy");
  EXPECT_NE(typed.find("\n71.Tainted.1:SGP:str:0\n72.Poller.1:CGS:str:epoll\n"), std::string::npos);
  auto json = cli("show info json\n");
  EXPECT_EQ(
      0u,
      json.rfind(
          "[{\"field\":{\"pos\":0,\"name\":\"Name\"},\"processNum\":1,\"tags\":{\"origin\":"
          "\"Product\",\"nature\":\"Output\",\"scope\":\"Service\"},\"value\":{\"type\":\"str\","
          "\"value\":\"HAProxy\"}},{\"fie",
          0));
}

TEST_F(StatsTest, ServersState) {
  auto out = cli("show servers state nodes\n");
  auto ls = lines_of(out);
  auto cap = lines_of(read_capture("cli-session-admin.txt"));
  ASSERT_GE(ls.size(), 3u);
  EXPECT_EQ(ls[0], "1");
  std::string cap_header;
  for (const auto& l : cap)
    if (l.rfind("# be_id", 0) == 0) cap_header = l;
  EXPECT_EQ(ls[1], cap_header);
  EXPECT_EQ(ls[2], "4 nodes 1 s1 127.0.0.1 2 0 1 1 0 1 0 2 6 0 0 0 - 23401 - 0 0 - - 0");
  EXPECT_EQ(ls[3], "4 nodes 2 s2 127.0.0.1 2 0 1 1 0 1 0 2 6 0 0 0 - 23402 - 0 0 - - 0");
  EXPECT_EQ(ls[5], "4 nodes 4 bk 127.0.0.1 2 0 1 1 0 1 0 2 6 0 0 0 - 23404 - 0 0 - - 0");
  // A `disabled` server starts at health 0, checks or not (haproxy 2.6).
  EXPECT_EQ(ls[6], "4 nodes 5 off 127.0.0.1 0 5 1 1 0 1 0 0 14 0 0 0 - 23405 - 0 0 - - 0");
  EXPECT_EQ(out.substr(out.size() - 2), "\n\n");
  EXPECT_EQ(cli("show servers state nosuch\n"), "Can't find backend.\n\n");
  EXPECT_EQ(cli("disable server nodes/s1\n"), "\n");
  ls = lines_of(cli("show servers state nodes\n"));
  EXPECT_EQ(ls[2], "4 nodes 1 s1 127.0.0.1 0 1 1 1 0 1 0 0 14 0 0 0 - 23401 - 0 0 - - 0");
}

TEST_F(StatsTest, CliRepliesFromCaptures) {
  EXPECT_EQ(cli("show backend\n"), "# name\nstats\nnodes\n\n");
  EXPECT_EQ(cli("get weight nodes/s1\n"), "1 (initial 1)\n\n");
  EXPECT_EQ(cli("set weight nodes/s1 3\n"), "\n");
  EXPECT_EQ(cli("get weight nodes/s1\n"), "3 (initial 1)\n\n");
  EXPECT_EQ(cli("set weight nodes/s1 50%\n"), "\n");
  EXPECT_EQ(cli("get weight nodes/s1\n"), "0 (initial 1)\n\n");
  EXPECT_EQ(cli("set server nodes/s1 weight 2\n"), "\n");
  EXPECT_EQ(cli("get weight nodes/s1\n"), "2 (initial 1)\n\n");
  EXPECT_EQ(cli("set weight nodes/s1 999\n"),
            "Absolute weight can only be between 0 and 256 inclusive.\n\n");
  EXPECT_EQ(cli("set weight nodes/s1\n"), "Require <weight> or <weight%>.\n\n");
  EXPECT_EQ(cli("set server nodes/nosuch state ready\n"), "No such server.\n\n");
  EXPECT_EQ(cli("disable server nosuch/s1\n"), "No such backend.\n\n");
  EXPECT_EQ(cli("disable server nodes\n"), "Require 'backend/server'.\n\n");
  EXPECT_EQ(cli("set server nodes/s1 state bogus\n"),
            "'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n\n");
  EXPECT_EQ(cli("set server nodes/s1 health bogus\n"),
            "'set server <srv> health' expects 'up', 'stopping', or 'down'.\n\n");
  EXPECT_EQ(cli("set server nodes/s1 bogus\n"),
            "usage: set server <backend>/<server> addr | agent | agent-addr | agent-port | "
            "agent-send | check-addr | check-port | fqdn | health | ssl | state | weight\n\n");
  EXPECT_EQ(cli("set server nodes/s1 agent up\n"),
            "agent checks are not enabled on this server.\n\n");
  EXPECT_EQ(cli("enable agent nodes/s1\n"),
            "Agent was not configured on this server, cannot enable.\n\n");
  EXPECT_EQ(cli("disable agent nodes/s1\n"), "\n");
  EXPECT_EQ(cli("enable health nodes/s3\n"),
            "Health check was not configured on this server, cannot enable.\n\n");
  EXPECT_EQ(cli("show version\n"), "2.6.12-herd-test\n\n");
  EXPECT_EQ(cli("show cli level\n"), "admin\n\n");
  EXPECT_EQ(cli("show env HERD_SURELY_UNSET_VAR\n"), "Variable not found\n\n");
  setenv("HERD_TEST_VAR", "127.0.0.1", 1);
  EXPECT_EQ(cli("show env HERD_TEST_VAR\n"), "HERD_TEST_VAR=127.0.0.1\n\n");
  auto errs = cli("show errors\n");
  EXPECT_EQ(errs.substr(0, 26), "Total events captured on [");
  EXPECT_EQ(errs.substr(errs.size() - 7), "] : 0\n\n");
  EXPECT_EQ(cli("clear counters\n"), "\n");
  EXPECT_EQ(cli("clear counters all\n"), "\n");
}

TEST_F(StatsTest, StateTransitions) {
  EXPECT_EQ(cli("set server nodes/s1 health up\n"), "\n");
  EXPECT_EQ(status_of("s1"), "UP");
  EXPECT_EQ(cli("set server nodes/s1 state maint\n"), "\n");
  EXPECT_EQ(status_of("s1"), "MAINT");
  EXPECT_EQ(cli("enable server nodes/s1\n"), "\n");
  EXPECT_EQ(status_of("s1"), "UP 1/3");  // UP at once, health = rise
  EXPECT_EQ(cli("set server nodes/s1 state drain\n"), "\n");
  EXPECT_EQ(status_of("s1"), "DRAIN 1/3");
  EXPECT_EQ(cli("set server nodes/s1 state ready\n"), "\n");
  EXPECT_EQ(status_of("s1"), "UP 1/3");
  EXPECT_EQ(cli("set server nodes/s2 health down\n"), "\n");
  EXPECT_EQ(status_of("s2"), "DOWN");
  EXPECT_EQ(cli("disable health nodes/s2\n"), "\n");
  EXPECT_EQ(status_of("s2"), "DOWN");
  EXPECT_EQ(cli("set server nodes/s2 health up\n"), "\n");
  EXPECT_EQ(status_of("s2"), "no check");
  EXPECT_EQ(cli("enable health nodes/s2\n"), "\n");
  EXPECT_EQ(status_of("s2"), "UP");
  EXPECT_EQ(cli("set server nodes/off state ready\n"), "\n");
  EXPECT_EQ(status_of("off"), "UP 1/3");
}

TEST_F(StatsTest, SetServerAddr) {
  EXPECT_EQ(cli("set server nodes/s1 addr 127.0.0.1 port 23403\n"),
            "no need to change the addr, port changed from '23401' to '23403' by 'stats socket "
            "command'\n\n");
  EXPECT_EQ(cli("set server nodes/s1 addr 127.0.0.2 port 23403\n"),
            "IP changed from '127.0.0.1' to '127.0.0.2', no need to change the port by 'stats "
            "socket command'\n\n");
  EXPECT_EQ(cli("set server nodes/s1 addr 127.0.0.1\n"),
            "IP changed from '127.0.0.2' to '127.0.0.1' by 'stats socket command'\n\n");
  EXPECT_EQ(cli("set server nodes/s1 addr 127.0.0.1 port 23403\n"),
            "no need to change the addr, no need to change the port by 'stats socket "
            "command'\n\n");
  EXPECT_EQ(cli("set server nodes/s1 addr bogus\n"),
            "Invalid addr 'bogus' by 'stats socket command'\n\n");
  EXPECT_EQ(cli("set server nodes/s1 addr\n"),
            "set server <b>/<s> addr requires an address and optionally a port.\n\n");
  auto rs = rows();
  EXPECT_EQ(row(rs, "nodes", "s1")->f[kAddr].str, "127.0.0.1:23403");
}

TEST_F(StatsTest, DynamicServerLifecycle) {
  EXPECT_EQ(cli("add server nodes/s9 127.0.0.1:23409\n"), "New server registered.\n\n");
  EXPECT_EQ(cli("add server nodes/s9 127.0.0.1:23409\n"),
            "Already exists a server with the same name in backend.\n\n");
  EXPECT_EQ(cli("add server nodes/s5 127.0.0.1:23404 weight 5 maxconn 10 cookie s5\n"),
            "'cookie' option is not accepted for dynamic server\n\n");
  EXPECT_EQ(cli("add server nodes/s9 127.0.0.1:1 bogus\n"), "unknown keyword 'bogus'.\n\n");
  EXPECT_EQ(cli("add server nodes/s8\n"),
            "'server' expects <name> and <addr>[:<port>] as arguments.\n\n");
  EXPECT_EQ(status_of("s9"), "MAINT");
  auto ls = lines_of(cli("show servers state nodes\n"));
  EXPECT_EQ(ls.back().empty() ? ls[ls.size() - 2] : ls.back(),
            "4 nodes 6 s9 127.0.0.1 0 1 1 1 0 1 0 0 0 0 0 0 - 23409 - 0 0 - - 0");
  EXPECT_EQ(cli("add server nodes/s7 127.0.0.1:23407 check weight 5\n"),
            "New server registered.\n\n");
  EXPECT_EQ(cli("enable health nodes/s7\n"), "\n");
  EXPECT_EQ(cli("set server nodes/s7 state ready\n"), "\n");
  EXPECT_EQ(status_of("s7"), "UP 1/3");
  EXPECT_EQ(cli("del server nodes/s7\n"), "Only servers in maintenance mode can be deleted.\n");
  EXPECT_EQ(cli("set server nodes/s7 state maint; del server nodes/s7\n"), "\nServer deleted.\n");
  EXPECT_EQ(cli("del server nodes/s7\n"), "No such server.\n");
  EXPECT_EQ(cli("set server nodes/s7 state maint; del server nodes/s7\n"),
            "No such server.\n\nNo such server.\n");
  EXPECT_EQ(status_of("s7"), "<none>");
}

TEST_F(StatsTest, FramingNonInteractive) {
  bool closed = false;
  EXPECT_EQ(cli("show version", Level::Admin, &closed), "");  // no "\n": not executed
  EXPECT_FALSE(closed);
  EXPECT_EQ(cli("show version\n", Level::Admin, &closed), "2.6.12-herd-test\n\n");
  EXPECT_TRUE(closed);
  EXPECT_EQ(cli("show version\r\n"), "2.6.12-herd-test\n\n");
  EXPECT_EQ(cli("show version;\n"), "2.6.12-herd-test\n\n");
  EXPECT_EQ(cli("show version\nshow cli level\n"), "2.6.12-herd-test\n\nadmin\n\n");
  EXPECT_EQ(cli("user;show cli level\n"), "\nuser\n\n");
  EXPECT_EQ(cli("quit\n", Level::Admin, &closed), "");
  EXPECT_TRUE(closed);
  auto empty = cli("\n");
  EXPECT_EQ(empty.substr(0, 66),
            "Unknown command. Please enter one of the following commands only:\n");
  auto unknown = cli("bogus command\n");
  EXPECT_EQ(unknown.substr(0, 72),
            "Unknown command, but maybe one of the following ones is a better match:\n");
  const std::string tail = "  quit                                    : disconnect\n\n";
  EXPECT_EQ(unknown.substr(unknown.size() - tail.size()), tail);
  // A session fed in pieces executes only complete lines.
  CliSession s(env_, Level::Admin);
  auto o1 = s.feed("show ver");
  EXPECT_EQ(o1.bytes, "");
  EXPECT_FALSE(o1.close);
  auto o2 = s.feed("sion\n");
  EXPECT_EQ(o2.bytes, "2.6.12-herd-test\n\n");
  EXPECT_TRUE(o2.close);
}

TEST_F(StatsTest, FramingPayload) {
  // "<cmd> <<": the lines up to an empty one are the command's payload,
  // fed in pieces or at once; the line runs when the payload ends.
  std::string seen;
  registry_.add(CliCommand{{"echo", "payload"},
                           "echo payload",
                           "test",
                           Level::Admin,
                           [&seen](CliSession& s, const std::vector<std::string>& a) {
                             seen = s.payload();
                             return CliReply{a.back() + ":" + std::to_string(s.payload().size()) +
                                             "\n"};
                           }});
  CliSession s(env_, Level::Admin);
  auto o = s.feed("echo payload x <<\nline one\n");
  EXPECT_EQ(o.bytes, "");
  EXPECT_FALSE(o.close);
  o = s.feed("line two\r\n\n");
  EXPECT_EQ(o.bytes, "x:18\n\n");
  EXPECT_EQ(seen, "line one\nline two\n");
  EXPECT_TRUE(o.close);
  // "<<" glued to a word is not a payload marker; without one the payload is empty.
  EXPECT_EQ(cli("echo payload y<<\n"), "y<<:0\n\n");
  // A payload that never ends cannot make the session buffer without bound.
  CliSession big(env_, Level::Admin);
  big.feed("echo payload z <<\n");
  std::string line(1000, 'a');
  line += '\n';
  bool closed = false;
  for (int i = 0; i < 400 && !closed; ++i) closed = big.feed(line).close;
  EXPECT_TRUE(closed);
}

TEST_F(StatsTest, FramingPromptMode) {
  CliSession s(env_, Level::Admin);
  auto o = s.feed("prompt\n");
  EXPECT_EQ(o.bytes, "\n> ");
  EXPECT_FALSE(o.close);
  o = s.feed("show version\n");
  EXPECT_EQ(o.bytes, "2.6.12-herd-test\n\n> ");
  EXPECT_EQ(s.feed("get weight nodes/s1\n").bytes, "1 (initial 1)\n\n> ");
  EXPECT_EQ(s.feed("show backend; get weight nodes/s2\n").bytes,
            "# name\nstats\nnodes\n\n> 1 (initial 1)\n\n> ");
  EXPECT_EQ(s.feed("set timeout cli 60\n").bytes, "\n> ");
  EXPECT_EQ(s.timeout_ms(), 60000);
  o = s.feed("\n");
  EXPECT_EQ(o.bytes.substr(0, 66),
            "Unknown command. Please enter one of the following commands only:\n");
  EXPECT_EQ(o.bytes.substr(o.bytes.size() - 4), "\n\n> ");
  o = s.feed("prompt\n");
  EXPECT_EQ(o.bytes, "\n");
  EXPECT_TRUE(o.close);
}

TEST_F(StatsTest, Levels) {
  EXPECT_EQ(cli("show cli level\n", Level::User), "user\n\n");
  EXPECT_EQ(cli("show cli level\n", Level::Operator), "operator\n\n");
  for (const char* c :
       {"set weight nodes/s1 2\n", "disable server nodes/s1\n", "set server nodes/s1 state drain\n",
        "enable health nodes/s1\n", "add server nodes/s9 127.0.0.1:1\n", "show errors\n",
        "clear counters\n", "clear counters all\n", "show env\n", "operator\n"})
    EXPECT_EQ(cli(c, Level::User), "Permission denied\n\n") << c;
  EXPECT_EQ(cli("get weight nodes/s1\n", Level::User), "1 (initial 1)\n\n");
  EXPECT_EQ(cli("show backend\n", Level::User), "# name\nstats\nnodes\n\n");
  EXPECT_EQ(cli("clear counters\n", Level::Operator), "\n");
  EXPECT_EQ(cli("clear counters all\n", Level::Operator), "Permission denied\n\n");
  EXPECT_EQ(cli("set weight nodes/s1 2\n", Level::Operator), "Permission denied\n\n");
  EXPECT_EQ(cli("operator;set weight nodes/s1 2\n", Level::Admin), "\nPermission denied\n\n");
  auto help_user = cli("help\n", Level::User);
  EXPECT_EQ(help_user, cli("help\n", Level::Admin));
  EXPECT_EQ(help_user.substr(0, 48), "The following commands are valid at this level:\n");
}

TEST_F(StatsTest, HelpLinesUseHaproxyWording) {
  auto help = cli("help\n");
  auto cap = read_capture("cli-help.txt");
  for (const auto& l : lines_of(help)) {
    if (l.rfind("  ", 0) != 0) continue;
    if (l.find("experimental-mode") != std::string::npos ||
        l.find("expert-mode") != std::string::npos)
      continue;  // herd-specific wording
    EXPECT_NE(cap.find(l + "\n"), std::string::npos) << l;
  }
}

TEST_F(StatsTest, RegistryAcceptsModuleCommands) {
  registry_.add(CliCommand{
      {"show", "members"},
      "show members",
      "list gossip members",
      Level::User,
      [](CliSession&, const std::vector<std::string>&) { return CliReply{"node1 alive\n"}; }});
  EXPECT_EQ(cli("show members\n"), "node1 alive\n\n");
  EXPECT_NE(cli("help\n").find("  show members"), std::string::npos);
}

// ---------------------------------------------------------------------------
// Stats page

class PageTest : public StatsTest {
 protected:
  PageTest() : page_(cfg_, stats_proxy(cfg_), pool_, proc_, info_) {}
  static const config::Proxy& stats_proxy(const config::Config& c) {
    for (const auto& p : c.proxies)
      if (p.name == "stats") return p;
    return c.proxies.front();
  }
  const config::Proxy& stats_px() { return stats_proxy(cfg_); }
  std::string get(const std::string& target, const std::string& auth = "Basic YWRtaW46c2VjcmV0",
                  const char* method = "GET") {
    return page_.handle_get(PageRequest{method, target, auth, ""}).serialize();
  }
  StatsPage page_;
};

TEST_F(PageTest, UsesTheStatsProxy) {
  ASSERT_EQ(stats_px().name, "stats");
  ASSERT_TRUE(stats_px().stats.enabled);
}

TEST_F(PageTest, Unauthorized401Bytes) {
  const std::string expect =
      "HTTP/1.1 401 Unauthorized\r\ncontent-length: 112\r\ncache-control: no-cache\r\n"
      "content-type: text/html\r\nwww-authenticate: Basic realm=\"My Stats\"\r\n\r\n"
      "<html><body><h1>401 Unauthorized</h1>\nYou need a valid user and password to access "
      "this content.\n</body></html>\n";
  EXPECT_EQ(get("/", ""), expect);
  EXPECT_EQ(get("/", "Basic YWRtaW46d3Jvbmc="), expect);  // admin:wrong
  EXPECT_EQ(get("/;csv", ""), expect);
  EXPECT_EQ(stats_unauthorized("HAProxy Statistics").serialize(),
            "HTTP/1.1 401 Unauthorized\r\ncontent-length: 112\r\ncache-control: no-cache\r\n"
            "content-type: text/html\r\nwww-authenticate: Basic realm=\"HAProxy Statistics\"\r\n"
            "\r\n<html><body><h1>401 Unauthorized</h1>\nYou need a valid user and password to "
            "access this content.\n</body></html>\n");
}

TEST_F(PageTest, HtmlHeadersAndHead) {
  auto r = get("/");
  const std::string head =
      "HTTP/1.1 200 OK\r\ncache-control: no-cache\r\ncontent-type: text/html\r\nrefresh: "
      "10\r\ntransfer-encoding: chunked\r\n\r\n";
  EXPECT_EQ(r.substr(0, head.size()), head);
  EXPECT_EQ(get("/", "Basic YWRtaW46c2VjcmV0", "HEAD"),
            "HTTP/1.1 200 OK\r\ncache-control: no-cache\r\ncontent-type: text/html\r\nrefresh: "
            "10\r\n\r\n");
  EXPECT_NE(r.find("<title>Statistics Report for HAProxy</title>"), std::string::npos);
  EXPECT_NE(r.find("<h2>Statistics Report for pid " + std::to_string(info_.pid) + "</h2>"),
            std::string::npos);
  EXPECT_NE(r.find("<th colspan=3>Queue</th><th colspan=3>Session rate</th><th colspan=6>"
                   "Sessions</th><th colspan=2>Bytes</th><th colspan=2>Denied</th><th "
                   "colspan=3>Errors</th><th colspan=2>Warnings</th><th colspan=9>Server</th>"),
            std::string::npos);
  EXPECT_NE(r.find("<tr class=\"frontend\">"), std::string::npos);
  EXPECT_NE(r.find("<tr class=\"backend\">"), std::string::npos);
  EXPECT_NE(r.find("<tr class=\"active_no_check\">"), std::string::npos);
  EXPECT_NE(r.find("<tr class=\"maintain\">"), std::string::npos);
  EXPECT_NE(r.find("<tr class=\"active_going_down\">"), std::string::npos);
  EXPECT_NE(r.find("<select name=action>"), std::string::npos);  // stats admin
  EXPECT_NE(r.find("name=\"b\" value=\"#4\""), std::string::npos);
  EXPECT_EQ(r.substr(r.size() - 5), "0\r\n\r\n");
}

TEST_F(PageTest, CsvJsonTypedAndOptions) {
  auto r = get("/;csv;norefresh");
  const std::string head =
      "HTTP/1.1 200 OK\r\ncache-control: no-cache\r\ncontent-type: text/plain\r\n"
      "transfer-encoding: chunked\r\n\r\n";
  ASSERT_EQ(r.substr(0, head.size()), head);
  auto chunk = r.substr(head.size());
  auto crlf = chunk.find("\r\n");
  size_t len = std::stoul(chunk.substr(0, crlf), nullptr, 16);
  std::string body = chunk.substr(crlf + 2, len);
  EXPECT_EQ(body.substr(0, csv_header().size()), csv_header());
  EXPECT_NE(body.back(), '\0');
  EXPECT_EQ(body.substr(body.size() - 2), ",\n");  // no trailing blank line
  EXPECT_EQ(chunk.substr(crlf + 2 + len), "\r\n0\r\n\r\n");
  EXPECT_NE(get("/;csv").find("refresh: 10\r\n"), std::string::npos);
  EXPECT_NE(get("/;json;norefresh").find("content-type: application/json\r\n"), std::string::npos);
  EXPECT_NE(get("/;typed").find("F.2.0.0.pxname.1:KNS:str:stats\n"), std::string::npos);
  auto scoped = get("/;scope=nodes;csv");
  EXPECT_EQ(scoped.find("stats,FRONTEND"), std::string::npos);
  EXPECT_NE(scoped.find("nodes,BACKEND"), std::string::npos);
  auto up = get("/;up;csv");
  EXPECT_NE(up.find("UP (4/5)"), std::string::npos);
  EXPECT_EQ(up.find("nodes,off,"), std::string::npos);
}

TEST_F(PageTest, AdminPost303) {
  auto post = [&](const std::string& body, bool allowed) {
    return page_
        .handle_post(PageRequest{"POST", "/", "Basic YWRtaW46c2VjcmV0", body}, writer_, allowed)
        .serialize();
  };
  EXPECT_EQ(post("s=s1&action=maint&b=nodes", false),
            "HTTP/1.1 303 See Other\r\ncache-control: no-cache\r\ncontent-type: text/plain\r\n"
            "content-length: 0\r\nlocation: /;st=DENY\r\n\r\n");
  EXPECT_EQ(status_of("s1"), "UP 1/3");
  EXPECT_EQ(post("s=s1&action=maint&b=%234", true),
            "HTTP/1.1 303 See Other\r\ncache-control: no-cache\r\ncontent-type: text/plain\r\n"
            "content-length: 0\r\nlocation: /;st=DONE\r\n\r\n");
  EXPECT_EQ(status_of("s1"), "MAINT");
  EXPECT_NE(post("s=s1&s=s2&action=ready&b=nodes", true).find("location: /;st=DONE\r\n"),
            std::string::npos);
  EXPECT_EQ(status_of("s1"), "UP 1/3");
  EXPECT_NE(post("s=s2&action=hdown&b=nodes", true).find(";st=DONE"), std::string::npos);
  EXPECT_EQ(status_of("s2"), "DOWN");
  auto unauth =
      page_.handle_post(PageRequest{"POST", "/", "", "s=s1&action=maint&b=nodes"}, writer_, true);
  EXPECT_EQ(unauth.status, 401);
}

TEST_F(PageTest, MetricsUseExporterNames) {
  set_checked("s1");
  auto r = get("/metrics");
  EXPECT_NE(r.find("haproxy_server_up{backend=\"nodes\",server=\"s1\"} 1\n"), std::string::npos);
  EXPECT_NE(r.find("haproxy_server_up{backend=\"nodes\",server=\"off\"} 0\n"), std::string::npos);
  EXPECT_NE(r.find("haproxy_backend_up{backend=\"nodes\"} 1\n"), std::string::npos);
  EXPECT_NE(r.find("haproxy_frontend_limit_sessions{frontend=\"localnodes\"} 9984\n"),
            std::string::npos);
  EXPECT_NE(r.find("haproxy_backend_http_responses_total{backend=\"nodes\",code=\"2xx\"} 0\n"),
            std::string::npos);
  EXPECT_NE(r.find("haproxy_up 1\n"), std::string::npos);
  // Every metric name the exporter printed for the lab exists here too.
  auto cap = read_capture("exporter-metrics-unix.txt");
  for (const auto& l : lines_of(cap)) {
    if (l.rfind("haproxy_", 0) != 0 || l.rfind("haproxy_exporter", 0) == 0) continue;
    std::string name = l.substr(0, l.find_first_of("{ "));
    EXPECT_TRUE(r.find("\n" + name + "{") != std::string::npos ||
                r.find("\n" + name + " ") != std::string::npos)
        << name;
  }
}

TEST_F(PageTest, ExtraHtmlHook) {
  page_.set_extra_html([](const Sources&) { return std::string("<table id=members></table>"); });
  EXPECT_NE(get("/").find("<table id=members></table>"), std::string::npos);
}

TEST_F(PageTest, ExtraMetricsHookAppendsFamiliesAndLeavesCsvAlone) {
  const std::string csv_before = get("/;csv");
  const std::string fam =
      "# HELP herd_membership_members Gossip members.\n# TYPE herd_membership_members gauge\n"
      "herd_membership_members{state=\"alive\"} 2\n";
  page_.set_extra_metrics([&] { return fam; });
  const std::string r = get("/metrics");
  const auto at = r.find(fam);
  ASSERT_NE(at, std::string::npos) << r;
  EXPECT_LT(r.find("haproxy_up 1\n"), at);     // after the exporter's families
  const std::string csv_after = get("/;csv");  // HAProxy's CSV is not touched
  EXPECT_EQ(lines_of(csv_after).size(), lines_of(csv_before).size());
  EXPECT_EQ(csv_after.find("herd_membership"), std::string::npos);
  EXPECT_EQ(get("/").find("herd_membership"), std::string::npos);
}

}  // namespace
}  // namespace herd::stats
