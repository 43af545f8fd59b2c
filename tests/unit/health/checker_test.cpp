// HealthChecker end to end on 127.0.0.1: real sockets, short intervals,
// assertions on the published pool snapshots, HealthView, counters and the
// log lines (docs/health.md, messages observed on 2.6.12).
#include "health/checker.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <regex>

#include "config/parser.h"
#include "test_server.h"

namespace herd::health {
namespace {

using balancing::OpState;
using testing::closed_port;
using testing::TestServer;
using namespace std::chrono_literals;

const std::string k200 = "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
const std::string k503 = "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n";
const std::string k404 = "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n";

struct LogLine {
  std::string backend;
  int severity;
  std::string msg;
};

// "check duration: 3ms" -> "check duration: Nms" for exact comparisons.
std::string norm(const std::string& m) {
  return std::regex_replace(m, std::regex("check duration: [0-9]+ms"), "check duration: Nms");
}

class Harness {
 public:
  explicit Harness(const std::string& backend_body, const std::string& extra_defaults = "") {
    std::string text =
        "defaults\n  mode http\n  timeout connect 1s\n  timeout client 5s\n"
        "  timeout server 5s\n" +
        extra_defaults + "backend b\n" + backend_body;
    auto r = config::parse_text(text, "t.cfg");
    EXPECT_FALSE(r.fatal) << text;
    cfg = std::move(r.config);
    writer = std::make_unique<balancing::PoolWriter>(pool, cfg);
    for (const auto& be : pool.current()->backends)
      for (const auto& s : be->servers) statuses[s->name].push_back(status(*s));
    pool.on_publish([this](const balancing::PoolSnapshot& snap) {
      for (const auto& be : snap.backends)
        for (const auto& s : be->servers) {
          std::string st = status(*s);
          auto& seq = statuses[s->name];
          if (seq.empty() || seq.back() != st) seq.push_back(st);
        }
    });
    checker = std::make_unique<HealthChecker>(
        io, cfg, *writer, [this](const config::Proxy* px, int sev, const std::string& m) {
          logs.push_back({px ? px->name : "", sev, norm(m)});
        });
  }
  ~Harness() { checker->stop(); }

  static std::string status(const balancing::Server& s) {
    if (s.in_maint()) return "MAINT";
    if (!s.check_enabled) return "no check";
    return status_text({s.op, s.health}, s.rise, s.fall);
  }
  const balancing::Server& server(const std::string& name) {
    keep = pool.current();
    const balancing::Server* s = keep->find("b")->find(name);
    EXPECT_NE(s, nullptr);
    return *s;
  }
  std::string status_of(const std::string& name) { return status(server(name)); }
  balancing::HealthView view(const std::string& name) {
    const auto& s = server(name);
    std::lock_guard<std::mutex> l(s.live->health_mu);
    return s.live->health;
  }
  uint64_t counter(const std::string& name, balancing::Counter c) {
    return server(name).live->counters.sum(c);
  }
  // Runs the control loop until `pred` holds or `limit` passes.
  template <typename Pred>
  bool run_until(Pred pred, std::chrono::milliseconds limit = 2000ms) {
    auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
      if (pred()) return true;
      io.restart();
      io.run_for(5ms);
    }
    return pred();
  }
  void run_for(std::chrono::milliseconds d) {
    run_until([] { return false; }, d);
  }

  boost::asio::io_context io;
  config::Config cfg;
  balancing::Pool pool;
  std::unique_ptr<balancing::PoolWriter> writer;
  std::unique_ptr<HealthChecker> checker;
  std::shared_ptr<const balancing::PoolSnapshot> keep;
  std::vector<LogLine> logs;
  std::map<std::string, std::vector<std::string>> statuses;
};

std::string srv(const std::string& name, uint16_t port, const std::string& opts = "") {
  return "  server " + name + " 127.0.0.1:" + std::to_string(port) + " check inter 100ms" + opts +
         "\n";
}

TEST(HealthChecker, StartsUpOneOfThreeWithIni) {
  TestServer up(k200);
  Harness h("  option httpchk HEAD /\n  server s1 127.0.0.1:" + std::to_string(up.port()) +
            " check inter 5s\n");
  EXPECT_EQ(h.status_of("s1"), "UP 1/3");
  h.checker->start();
  EXPECT_EQ(h.view("s1").check_status, "INI");
  EXPECT_EQ(h.view("s1").health, 2);
}

TEST(HealthChecker, HealthyHttpServerReachesFullHealth) {
  TestServer up(k200);
  Harness h("  option httpchk HEAD /\n" + srv("s1", up.port()));
  h.checker->start();
  ASSERT_TRUE(h.run_until([&] { return h.view("s1").check_status == "L7OK"; }));
  EXPECT_EQ(h.status_of("s1"), "UP");
  EXPECT_EQ(h.server("s1").health, 4);
  auto v = h.view("s1");
  EXPECT_EQ(v.check_code, 200);
  EXPECT_EQ(v.check_desc, "Layer7 check passed");
  EXPECT_EQ(v.health, 4);
  EXPECT_GE(v.check_duration_ms, 0);
  ASSERT_FALSE(up.requests().empty());
  EXPECT_EQ(up.requests()[0], "HEAD / HTTP/1.0\r\n\r\n");
  EXPECT_TRUE(h.logs.empty());  // UP 1/3 -> UP is not a transition
  // Checks repeat every inter.
  ASSERT_TRUE(h.run_until([&] { return up.count() >= 3; }, 1000ms));
}

TEST(HealthChecker, Server503IsDownAfterOneFailureAtStart) {
  TestServer bad(k503);
  Harness h("  option httpchk HEAD /\n" + srv("s1", bad.port()));
  h.checker->start();
  ASSERT_TRUE(h.run_until([&] { return h.server("s1").op == OpState::Stopped; }));
  EXPECT_EQ(h.status_of("s1"), "DOWN");
  auto v = h.view("s1");
  EXPECT_EQ(v.check_status, "L7STS");
  EXPECT_EQ(v.check_code, 503);
  EXPECT_EQ(v.check_desc, "Layer7 wrong status");
  EXPECT_EQ(v.check_info, "Service Unavailable");
  EXPECT_EQ(h.counter("s1", balancing::Counter::FailedChecks), 1u);
  EXPECT_EQ(h.counter("s1", balancing::Counter::Downs), 1u);
  ASSERT_EQ(h.logs.size(), 2u);
  EXPECT_EQ(h.logs[0].severity, 1);
  EXPECT_EQ(h.logs[0].backend, "b");
  EXPECT_EQ(h.logs[0].msg,
            "Server b/s1 is DOWN, reason: Layer7 wrong status, code: 503, info: \"Service "
            "Unavailable\", check duration: Nms. 0 active and 0 backup servers left. 0 sessions "
            "active, 0 requeued, 0 remaining in queue.");
  EXPECT_EQ(h.logs[1].severity, 0);
  EXPECT_EQ(h.logs[1].msg, "backend b has no server available!");
  // More failures: nothing more logged, chkfail unchanged while DOWN.
  h.run_for(350ms);
  EXPECT_EQ(h.logs.size(), 2u);
  EXPECT_EQ(h.counter("s1", balancing::Counter::FailedChecks), 1u);
  EXPECT_EQ(h.statuses["s1"], (std::vector<std::string>{"UP 1/3", "DOWN"}));
}

TEST(HealthChecker, ClosedPortIsL4Con) {
  const uint16_t port = closed_port();
  TestServer other(k200);
  Harness h(srv("s1", port) + srv("s2", other.port()));
  h.checker->start();
  ASSERT_TRUE(h.run_until([&] { return h.server("s1").op == OpState::Stopped; }));
  auto v = h.view("s1");
  EXPECT_EQ(v.check_status, "L4CON");
  EXPECT_EQ(v.check_info, "Connection refused");
  ASSERT_GE(h.logs.size(), 1u);
  EXPECT_EQ(h.logs[0].msg,
            "Server b/s1 is DOWN, reason: Layer4 connection problem, info: \"Connection "
            "refused\", check duration: Nms. 1 active and 0 backup servers left. 0 sessions "
            "active, 0 requeued, 0 remaining in queue.");
  // The TCP check on s2 connects: L4OK, zero bytes sent.
  ASSERT_TRUE(h.run_until([&] { return h.view("s2").check_status == "L4OK"; }));
  EXPECT_EQ(h.view("s2").check_desc, "Layer4 check passed");
  EXPECT_EQ(h.status_of("s2"), "UP");
  ASSERT_TRUE(h.run_until([&] { return !other.requests().empty(); }));
  EXPECT_EQ(other.requests()[0], "");
}

TEST(HealthChecker, SilentServerTimesOutAtInter) {
  TestServer silent(k200);
  silent.set_silent(true);
  Harness h("  option httpchk\n" + srv("s1", silent.port()));
  h.checker->start();
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(h.run_until([&] { return h.server("s1").op == OpState::Stopped; }));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 90ms);
  auto v = h.view("s1");
  EXPECT_EQ(v.check_status, "L7TOUT");
  EXPECT_GE(v.check_duration_ms, 95);
  EXPECT_LT(v.check_duration_ms, 400);
  EXPECT_EQ(h.logs[0].msg,
            "Server b/s1 is DOWN, reason: Layer7 timeout, check duration: Nms. 0 active and 0 "
            "backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue.");
}

TEST(HealthChecker, TimeoutCheckExtendsTheConnectDeadline) {
  // timeout connect 50ms + timeout check 300ms + inter 2s: a silent server
  // fails after `timeout check` (observed bsil6: 702ms for 200ms/700ms).
  TestServer silent(k200);
  silent.set_silent(true);
  Harness h(
      "  option httpchk\n  timeout connect 50ms\n  timeout check 300ms\n"
      "  server s1 127.0.0.1:" +
      std::to_string(silent.port()) + " check inter 2s\n");
  h.checker->start();
  ASSERT_TRUE(h.run_until([&] { return h.server("s1").op == OpState::Stopped; }, 1500ms));
  EXPECT_GE(h.view("s1").check_duration_ms, 290);
  EXPECT_LT(h.view("s1").check_duration_ms, 1000);
}

TEST(HealthChecker, UpThenFallThenRise) {
  TestServer s(k200);
  Harness h("  option httpchk HEAD /\n" + srv("s1", s.port()));
  h.checker->start();
  ASSERT_TRUE(h.run_until([&] { return h.status_of("s1") == "UP"; }));
  s.set_response(k503);
  ASSERT_TRUE(h.run_until([&] { return h.status_of("s1") == "DOWN"; }));
  EXPECT_EQ(h.counter("s1", balancing::Counter::FailedChecks), 3u);
  EXPECT_EQ(h.counter("s1", balancing::Counter::Downs), 1u);
  s.set_response(k200);
  ASSERT_TRUE(h.run_until([&] { return h.status_of("s1") == "UP"; }));
  EXPECT_EQ(h.statuses["s1"], (std::vector<std::string>{"UP 1/3", "UP", "UP 2/3", "UP 1/3", "DOWN",
                                                        "DOWN 1/2", "UP"}));
  ASSERT_EQ(h.logs.size(), 3u);
  EXPECT_EQ(h.logs[0].severity, 1);
  EXPECT_EQ(h.logs[1].msg, "backend b has no server available!");
  EXPECT_EQ(h.logs[2].severity, 5);
  EXPECT_EQ(h.logs[2].msg,
            "Server b/s1 is UP, reason: Layer7 check passed, code: 200, check duration: Nms. 1 "
            "active and 0 backup servers online. 0 sessions requeued, 0 total in queue.");
}

TEST(HealthChecker, DisableOn404IsNolb) {
  TestServer s(k404);
  TestServer other(k200);
  Harness h("  option httpchk\n  http-check disable-on-404\n" + srv("s1", s.port()) +
            srv("s2", other.port()));
  h.checker->start();
  ASSERT_TRUE(h.run_until([&] { return h.server("s1").op == OpState::Stopping; }));
  EXPECT_EQ(h.status_of("s1"), "NOLB");
  EXPECT_FALSE(h.server("s1").usable());
  EXPECT_TRUE(h.server("s1").is_up());
  EXPECT_EQ(h.view("s1").check_status, "L7OKC");
  ASSERT_GE(h.logs.size(), 1u);
  EXPECT_EQ(h.logs[0].severity, 5);
  EXPECT_EQ(h.logs[0].msg,
            "Server b/s1 is stopping, reason: Layer7 check conditionally passed, code: 404, check "
            "duration: Nms. 1 active and 0 backup servers online. 0 sessions requeued, 0 total in "
            "queue.");
  // Failing from NOLB: DOWN is a notice.
  s.set_response(k503);
  ASSERT_TRUE(h.run_until([&] { return h.server("s1").op == OpState::Stopped; }));
  EXPECT_EQ(h.logs.back().severity, 5);
  EXPECT_NE(h.logs.back().msg.find("is DOWN"), std::string::npos);
}

TEST(HealthChecker, MaintIsNotCheckedAndLeavingItIsUpAtOnce) {
  TestServer bad(k503);
  Harness h("  option httpchk\n" + srv("s1", bad.port()));
  h.checker->start();
  ASSERT_TRUE(h.run_until([&] { return h.status_of("s1") == "DOWN"; }));
  ASSERT_FALSE(h.writer->begin().set_admin("b", "s1", balancing::kAdminForcedMaint, 0));
  EXPECT_FALSE(h.checker->in_flight("b", "s1"));  // the Admin event dropped it
  h.run_for(50ms);
  const size_t n = bad.count();
  h.run_for(300ms);
  EXPECT_EQ(bad.count(), n);  // no checks in MAINT
  EXPECT_EQ(h.status_of("s1"), "MAINT");
  // Leaving MAINT (what the runtime API does): UP with h = rise at once.
  ASSERT_FALSE(h.writer->begin().update("b", "s1", [](balancing::Server& s) {
    s.admin = 0;
    s.op = OpState::Running;
    s.health = s.rise;
  }));
  EXPECT_EQ(h.status_of("s1"), "UP 1/3");
  // ... until its next check fails.
  ASSERT_TRUE(h.run_until([&] { return h.status_of("s1") == "DOWN"; }));
  EXPECT_GT(bad.count(), n);
}

TEST(HealthChecker, DisableAndEnableHealth) {
  TestServer up(k200);
  Harness h("  option httpchk\n  server s1 127.0.0.1:" + std::to_string(up.port()) +
            " check inter 300ms\n");
  h.checker->start();
  ASSERT_TRUE(h.run_until([&] { return up.count() >= 1; }));
  // What `disable health` does: one CheckEnabled change through the writer.
  auto toggle = [&](bool on) {
    return h.writer->begin().update(
        "b", "s1", [on](balancing::Server& s) { s.check_enabled = on; },
        balancing::PoolChange::Kind::CheckEnabled);
  };
  ASSERT_FALSE(toggle(false));
  EXPECT_FALSE(h.checker->in_flight("b", "s1"));
  EXPECT_EQ(h.status_of("s1"), "no check");
  h.run_for(50ms);
  const size_t n = up.count();
  h.run_for(700ms);
  EXPECT_EQ(up.count(), n);
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_FALSE(h.writer->begin().set_check_enabled("b", "s1", true));
  ASSERT_TRUE(h.run_until([&] { return up.count() > n; }, 1000ms));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 200ms);  // at once, not after inter
}

TEST(HealthChecker, FollowsAddressChanges) {
  const uint16_t dead = closed_port();
  TestServer up(k200);
  Harness h("  option httpchk\n" + srv("s1", dead));
  h.checker->start();
  ASSERT_TRUE(h.run_until([&] { return h.status_of("s1") == "DOWN"; }));
  balancing::Endpoint ep;
  ASSERT_TRUE(balancing::Endpoint::parse("127.0.0.1", up.port(), ep));
  ASSERT_FALSE(h.writer->begin().set_addr("b", "s1", ep));
  ASSERT_TRUE(h.run_until([&] { return h.status_of("s1") == "UP"; }));
  EXPECT_GE(up.count(), 2u);
}

TEST(HealthChecker, PortAndAddrOverrides) {
  TestServer up(k200);
  const uint16_t dead = closed_port();
  Harness h("  option httpchk\n  server s1 127.0.0.1:" + std::to_string(dead) +
            " check inter 100ms port " + std::to_string(up.port()) + "\n" +
            "  server s2 127.0.0.2:" + std::to_string(up.port()) +
            " check inter 100ms addr 127.0.0.1\n");
  h.checker->start();
  ASSERT_TRUE(h.run_until(
      [&] { return h.view("s1").check_status == "L7OK" && h.view("s2").check_status == "L7OK"; }));
}

// Adds a checked server to backend b through the writer, as the runtime
// API or membership would (UP with h = rise).
bool add_checked_server(Harness& h, const std::string& name, uint16_t port,
                        balancing::Origin origin, int64_t inter_ms = 2000) {
  balancing::Server ns;
  ns.name = name;
  if (!balancing::Endpoint::parse("127.0.0.1", port, ns.addr)) return false;
  ns.origin = origin;
  ns.check_enabled = ns.check_configured = true;
  ns.check_inter_ms = inter_ms;
  ns.health = ns.rise;
  return !h.writer->begin().add_server("b", ns);
}

TEST(HealthChecker, ServerAddedIsCheckedAtOnceAndRemovedStops) {
  TestServer up(k200);
  TestServer bad(k503);
  Harness h("  option httpchk\n" + srv("s1", up.port()));
  h.checker->start();
  // The writer's Added event is all the checker is told: the first check
  // runs at once, not after the server's inter of 5 s.
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(add_checked_server(h, "dyn", bad.port(), balancing::Origin::Runtime, 5000));
  EXPECT_EQ(h.checker->tracked(), 2u);
  ASSERT_TRUE(h.run_until([&] { return h.status_of("dyn") == "DOWN"; }, 1000ms));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 300ms);
  // Removed: tracking stops with the commit, not at a later scan.
  ASSERT_FALSE(h.writer->begin().remove_server("b", "dyn"));
  EXPECT_EQ(h.checker->tracked(), 1u);
}

TEST(HealthChecker, ServerCarriedOverByAReloadWaitsItsInter) {
  // A reload's membership catch-up (app/wiring.cpp): the server comes back
  // with the old process's state (UP), so its first check waits one inter
  // (500 ms) instead of running at once, though its server now fails it.
  TestServer up(k200);
  TestServer bad(k503);
  Harness h("  option httpchk\n" + srv("s1", up.port()));
  h.checker->start();
  h.checker->carried_over({{"b", "dyn"}});
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(add_checked_server(h, "dyn", bad.port(), balancing::Origin::Member, 500));
  h.run_for(300ms);
  EXPECT_EQ(h.status_of("dyn"), "UP 1/3");  // h = rise: one failed check marks it down
  EXPECT_EQ(h.view("dyn").check_status, "INI");
  ASSERT_TRUE(h.run_until([&] { return h.status_of("dyn") == "DOWN"; }, 1000ms));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 500ms);
  // It counted for that addition only: added again, it is checked at once.
  ASSERT_FALSE(h.writer->begin().remove_server("b", "dyn"));
  t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(add_checked_server(h, "dyn", bad.port(), balancing::Origin::Member, 5000));
  ASSERT_TRUE(h.run_until([&] { return h.view("dyn").check_status == "L7STS"; }, 1000ms));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 300ms);
}

TEST(HealthChecker, ServerAddedWithoutCheckIsNotTracked) {
  TestServer up(k200);
  Harness h("  option httpchk\n" + srv("s1", up.port()));
  h.checker->start();
  balancing::Server ns;
  ns.name = "plain";
  ASSERT_TRUE(balancing::Endpoint::parse("127.0.0.1", up.port(), ns.addr));
  ASSERT_FALSE(h.writer->begin().add_server("b", ns));
  EXPECT_EQ(h.checker->tracked(), 1u);
  h.run_for(300ms);
  EXPECT_EQ(h.view("plain").check_status, "");
}

TEST(HealthChecker, CheckParametersComeFromTheServer) {
  // A server made at runtime with `port`: the check goes to that port.
  TestServer up(k200);
  const uint16_t dead = closed_port();
  Harness h("  option httpchk\n" + srv("s1", up.port()));
  h.checker->start();
  balancing::Server ns;
  ns.name = "dyn";
  ASSERT_TRUE(balancing::Endpoint::parse("127.0.0.1", dead, ns.addr));
  ns.check_enabled = ns.check_configured = true;
  ns.check_port = up.port();
  ns.check_inter_ms = 100;
  ASSERT_FALSE(h.writer->begin().add_server("b", ns));
  ASSERT_TRUE(h.run_until([&] { return h.view("dyn").check_status == "L7OK"; }, 2000ms));
  // Changed in place (as `set server ... check-port` would): followed at the next check.
  ASSERT_FALSE(
      h.writer->begin().update("b", "dyn", [&](balancing::Server& s) { s.check_port = dead; }));
  ASSERT_TRUE(h.run_until([&] { return h.view("dyn").check_status == "L4CON"; }, 2000ms));
}

TEST(HealthChecker, FirstChecksAreSpreadOverOneInterval) {
  TestServer up(k200);
  std::string body = "  option httpchk\n";
  for (int i = 1; i <= 4; ++i)
    body += "  server s" + std::to_string(i) + " 127.0.0.1:" + std::to_string(up.port()) +
            " check inter 400ms\n";
  Harness h(body);
  h.checker->start();
  ASSERT_TRUE(h.run_until([&] { return up.count() >= 4; }, 1000ms));
  auto t = up.accepts();
  for (int i = 1; i < 4; ++i) {
    auto gap = std::chrono::duration_cast<std::chrono::milliseconds>(t[i] - t[i - 1]).count();
    EXPECT_GE(gap, 70) << i;
    EXPECT_LE(gap, 160) << i;
  }
}

TEST(HealthChecker, BackupServerMessagesAndCounts) {
  TestServer up(k200);
  const uint16_t dead = closed_port();
  Harness h(srv("s1", up.port()) + srv("bk", dead, " backup"));
  h.checker->start();
  ASSERT_TRUE(h.run_until([&] { return h.status_of("bk") == "DOWN"; }));
  ASSERT_EQ(h.logs.size(), 1u);
  EXPECT_EQ(h.logs[0].msg,
            "Backup Server b/bk is DOWN, reason: Layer4 connection problem, info: \"Connection "
            "refused\", check duration: Nms. 1 active and 0 backup servers left. 0 sessions "
            "active, 0 requeued, 0 remaining in queue.");
}

TEST(HealthChecker, L4UpMessage) {
  const uint16_t port = closed_port();
  Harness h(srv("s1", port));
  h.checker->start();
  ASSERT_TRUE(h.run_until([&] { return h.status_of("s1") == "DOWN"; }));
  TestServer up("", port);
  ASSERT_TRUE(h.run_until([&] { return h.status_of("s1") == "UP"; }));
  EXPECT_EQ(h.logs.back().msg,
            "Server b/s1 is UP, reason: Layer4 check passed, check duration: Nms. 1 active and 0 "
            "backup servers online. 0 sessions requeued, 0 total in queue.");
}

TEST(HealthChecker, StopCancelsEverything) {
  TestServer silent(k200);
  silent.set_silent(true);
  Harness h("  option httpchk\n" + srv("s1", silent.port()));
  h.checker->start();
  ASSERT_TRUE(h.run_until([&] { return h.checker->in_flight("b", "s1"); }));
  h.checker->stop();
  h.run_for(300ms);
  EXPECT_EQ(h.status_of("s1"), "UP 1/3");
  EXPECT_TRUE(h.logs.empty());
}

TEST(HealthChecker, StderrForm) {
  auto [lvl, text] = HealthChecker::stderr_form(0, "backend nodes has no server available!");
  EXPECT_EQ(lvl, "ALERT");
  EXPECT_EQ(text, "backend 'nodes' has no server available!");
  EXPECT_EQ(HealthChecker::stderr_form(1, "Server b/s is DOWN").first, "WARNING");
}

}  // namespace
}  // namespace herd::health
