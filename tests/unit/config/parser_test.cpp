// What the parser puts into the Config model: inheritance (§1.5), keyword
// values, ids, addresses and environment variables.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>

#include "config/parser.h"
#include "config/parser_internal.h"  // detail::suggest, tested directly
#include "config/units.h"

namespace herd::config {
namespace {

ParseResult parse(const std::string& text, std::map<std::string, std::string> env = {}) {
  ParseOptions o;
  o.env = [env](const std::string& n) -> std::optional<std::string> {
    auto it = env.find(n);
    if (it == env.end()) return std::nullopt;
    return it->second;
  };
  return parse_text(text, "t.cfg", o);
}

const Proxy& proxy(const ParseResult& r, const std::string& name) {
  for (const auto& p : r.config.proxies)
    if (p.name == name) return p;
  throw std::runtime_error("no proxy " + name);
}

std::string all_diags(const ParseResult& r) {
  std::string s;
  for (const auto& d : r.diags) s += format_diagnostic(d, 1) + "\n";
  return s;
}

TEST(Units, TimeAcceptAndReject) {
  EXPECT_EQ(parse_time("50000").ms, 50000);
  EXPECT_EQ(parse_time("5s").ms, 5000);
  EXPECT_EQ(parse_time("1m").ms, 60000);
  EXPECT_EQ(parse_time("1h").ms, 3600000);
  EXPECT_EQ(parse_time("1d").ms, 86400000);
  EXPECT_EQ(parse_time("100us").ms, 1);
  EXPECT_EQ(parse_time("500ms").ms, 500);
  EXPECT_EQ(parse_time("24d").ms, 2073600000);
  EXPECT_EQ(parse_time("5S").status, TimeValue::Status::BadChar);
  EXPECT_EQ(parse_time("1.5s").bad_char, '.');
  EXPECT_EQ(parse_time("-1").bad_char, '-');
  EXPECT_EQ(parse_time("25d").status, TimeValue::Status::Overflow);
  EXPECT_EQ(parse_time("2147483648").status, TimeValue::Status::Overflow);
  EXPECT_EQ(parse_time("3000000s").status, TimeValue::Status::Overflow);
  EXPECT_EQ(parse_time("99999999999999999999").status, TimeValue::Status::Overflow);
  EXPECT_EQ(parse_time("").status, TimeValue::Status::Empty);
  EXPECT_EQ(parse_time("5sx").trailing_junk, "x");
  EXPECT_EQ(time_error(parse_time("25d"), "25d", "timeout client"),
            "timer overflow in argument '25d' to 'timeout client' (maximum value is 2147483647 "
            "ms or ~24.8 days)");
  uint64_t n = 0;
  EXPECT_TRUE(parse_size("16k", &n));
  EXPECT_EQ(n, 16384u);
  EXPECT_TRUE(parse_size("2m", &n));
  EXPECT_EQ(n, 2u << 20);
  EXPECT_FALSE(parse_size("16kb", &n));
}

TEST(Inheritance, EachDefaultsRestartsFromBuiltins) {
  auto r = parse(
      "defaults web\n mode http\n balance leastconn\n option forwardfor\n"
      " timeout client 1s\n timeout connect 1s\n timeout server 1s\n"
      "defaults\n timeout client 2s\n timeout connect 2s\n timeout server 2s\n"
      "frontend f\n bind :80\n default_backend b_named\n"
      "backend b_plain\n server s 1.2.3.4:80\n"
      "backend b_named from web\n server s 1.2.3.4:80\n"
      "defaults child from web\n balance source\n"
      "backend b_child\n server s 1.2.3.4:80\n");
  ASSERT_FALSE(r.fatal) << all_diags(r);
  const Proxy& plain = proxy(r, "b_plain");
  EXPECT_EQ(plain.mode, Mode::Tcp);
  EXPECT_EQ(plain.balance.algo, BalanceAlgo::RoundRobin);
  EXPECT_FALSE(plain.forwardfor.enabled);
  EXPECT_EQ(plain.timeouts.client, 2000);
  const Proxy& named = proxy(r, "b_named");
  EXPECT_EQ(named.mode, Mode::Http);
  EXPECT_EQ(named.balance.algo, BalanceAlgo::LeastConn);
  EXPECT_TRUE(named.forwardfor.enabled);
  EXPECT_EQ(named.timeouts.client, 1000);
  const Proxy& child = proxy(r, "b_child");
  EXPECT_EQ(child.mode, Mode::Http);
  EXPECT_EQ(child.balance.algo, BalanceAlgo::Source);
}

TEST(Inheritance, DefaultServerFromDefaultsAndOverride) {
  auto r = parse(
      "defaults\n timeout client 1s\n timeout connect 1s\n timeout server 1s\n"
      " default-server inter 3s rise 3 fall 2 weight 2\n"
      "listen l\n bind :80\n server a 1.2.3.4:80 check\n server x 1.2.3.4:81 weight 5\n");
  ASSERT_FALSE(r.fatal) << all_diags(r);
  const Proxy& l = proxy(r, "l");
  ASSERT_EQ(l.servers.size(), 2u);
  EXPECT_EQ(l.servers[0].inter_ms, 3000);
  EXPECT_EQ(l.servers[0].rise, 3);
  EXPECT_EQ(l.servers[0].fall, 2);
  EXPECT_EQ(l.servers[0].weight, 2);
  EXPECT_EQ(l.servers[1].weight, 5);
}

TEST(Parser, LabConfigValues) {
  auto r = parse(
      "global\n stats socket $SCRATCH/chk.sock mode 600 level admin\n"
      " stats socket ipv4@0.0.0.0:9999 level admin\n stats timeout 30s\n"
      " log 127.0.0.1 local1 notice\n"
      "defaults\n log global\n mode http\n option httplog\n option dontlognull\n"
      " timeout connect 5000\n timeout client 50000\n timeout server 50000\n"
      "listen stats\n bind *:1936\n stats enable\n stats uri /\n stats hide-version\n"
      "frontend localnodes\n bind *:80\n mode http\n default_backend nodes\n"
      "backend nodes\n mode http\n option httpchk HEAD /\n balance roundrobin\n"
      " option forwardfor\n http-request set-header X-Forwarded-Port %[dst_port]\n"
      " server s1 ${WEBAPP_1_IP}:3000 check\n server s2 ${WEBAPP_2_IP}:3000 check\n",
      {{"SCRATCH", "/tmp/x"}, {"WEBAPP_1_IP", "10.0.0.1"}});
  ASSERT_FALSE(r.fatal) << all_diags(r);
  EXPECT_TRUE(r.has_listener);
  const Global& g = r.config.global;
  ASSERT_EQ(g.stats_sockets.size(), 2u);
  EXPECT_TRUE(g.stats_sockets[0].is_unix);
  EXPECT_EQ(g.stats_sockets[0].path, "/tmp/x/chk.sock");
  EXPECT_EQ(g.stats_sockets[0].mode, 0600u);
  EXPECT_EQ(g.stats_sockets[0].level, StatsSocket::Level::Admin);
  EXPECT_FALSE(g.stats_sockets[1].is_unix);
  EXPECT_EQ(g.stats_sockets[1].addr.ip, "0.0.0.0");
  EXPECT_EQ(g.stats_sockets[1].addr.port, 9999);
  EXPECT_EQ(g.stats_timeout_ms, 30000);
  ASSERT_EQ(g.logs.size(), 1u);
  EXPECT_EQ(g.logs[0].addr.ip, "127.0.0.1");
  EXPECT_EQ(g.logs[0].addr.port, 514);
  EXPECT_EQ(g.logs[0].facility, 17);
  EXPECT_EQ(g.logs[0].max_level, 5);

  ASSERT_EQ(r.config.proxies.size(), 3u);
  EXPECT_EQ(proxy(r, "stats").id, 2);
  EXPECT_EQ(proxy(r, "localnodes").id, 3);
  const Proxy& nodes = proxy(r, "nodes");
  EXPECT_EQ(nodes.id, 4);
  EXPECT_TRUE(proxy(r, "stats").stats.enabled);
  EXPECT_EQ(proxy(r, "stats").stats.uri, "/");
  EXPECT_TRUE(proxy(r, "stats").stats.hide_version);
  EXPECT_EQ(proxy(r, "stats").binds[0].addr.ip, "0.0.0.0");
  EXPECT_EQ(proxy(r, "stats").binds[0].addr.port, 1936);
  EXPECT_TRUE(nodes.log_global);
  EXPECT_TRUE(nodes.httplog);
  EXPECT_TRUE(nodes.dontlognull);
  EXPECT_EQ(nodes.timeouts.connect, 5000);
  EXPECT_TRUE(nodes.httpchk.enabled);
  EXPECT_EQ(nodes.httpchk.method, "HEAD");
  EXPECT_EQ(nodes.httpchk.uri, "/");
  EXPECT_EQ(nodes.httpchk.version, "HTTP/1.0");
  EXPECT_TRUE(nodes.forwardfor.enabled);
  ASSERT_EQ(nodes.http_request.size(), 1u);
  const auto& rule = nodes.http_request[0];
  EXPECT_EQ(rule.action, HttpRequestRule::Action::SetHeader);
  EXPECT_EQ(rule.name, "X-Forwarded-Port");
  ASSERT_EQ(rule.value.parts.size(), 1u);
  EXPECT_TRUE(rule.value.parts[0].is_fetch);
  EXPECT_EQ(rule.value.parts[0].text, "dst_port");
  ASSERT_EQ(nodes.servers.size(), 2u);
  EXPECT_EQ(nodes.servers[0].addr.ip, "10.0.0.1");
  EXPECT_EQ(nodes.servers[0].id, 1);
  EXPECT_TRUE(nodes.servers[0].check);
  EXPECT_EQ(nodes.servers[1].addr.ip, "0.0.0.0");  // unset variable
  EXPECT_EQ(nodes.servers[1].addr.port, 3000);
  EXPECT_EQ(nodes.servers[1].id, 2);
}

TEST(Parser, ServerOptionsAndTemplate) {
  auto r = parse(
      "defaults\n mode http\n timeout client 1s\n timeout connect 1s\n timeout server 1s\n"
      "backend b\n"
      " server a 1.2.3.4:80 weight 7 backup disabled maxconn 3 maxqueue 4 check inter 3s"
      " fastinter 1s downinter 5s rise 4 fall 5 port 81 addr 127.0.0.2 cookie ca"
      " observe layer7 error-limit 6 on-error mark-down\n"
      " server-template web 3 10.0.0.9:8080 check\n"
      " server-template app 2-3 [::1]:81\n");
  ASSERT_FALSE(r.fatal) << all_diags(r);
  const Proxy& b = proxy(r, "b");
  ASSERT_EQ(b.servers.size(), 6u);
  const Server& a = b.servers[0];
  EXPECT_EQ(a.weight, 7);
  EXPECT_TRUE(a.backup);
  EXPECT_TRUE(a.disabled);
  EXPECT_EQ(a.maxconn, 3);
  EXPECT_EQ(a.maxqueue, 4);
  EXPECT_EQ(a.inter_ms, 3000);
  EXPECT_EQ(a.fastinter_ms, 1000);
  EXPECT_EQ(a.downinter_ms, 5000);
  EXPECT_EQ(a.rise, 4);
  EXPECT_EQ(a.fall, 5);
  EXPECT_EQ(a.check_port, 81);
  EXPECT_EQ(a.check_addr, "127.0.0.2");
  EXPECT_EQ(a.cookie, "ca");
  EXPECT_EQ(a.observe, "layer7");
  EXPECT_EQ(a.error_limit, 6);
  EXPECT_EQ(a.on_error, "mark-down");
  EXPECT_EQ(b.servers[1].name, "web1");
  EXPECT_EQ(b.servers[3].name, "web3");
  EXPECT_EQ(b.servers[3].id, 4);
  EXPECT_EQ(b.servers[4].name, "app2");
  EXPECT_EQ(b.servers[4].addr.ip, "::1");
  EXPECT_EQ(b.servers[5].name, "app3");
  EXPECT_EQ(b.servers[5].id, 6);
}

TEST(Parser, BalanceForwardforCookieChecks) {
  auto r = parse(
      "defaults\n mode http\n timeout client 1s\n timeout connect 1s\n timeout server 1s\n"
      "backend b1\n balance random(3)\n option forwardfor except 127.0.0.0/8 header X-Real-IP "
      "if-none\n cookie SERVERID insert indirect nocache httponly secure domain .a.com\n"
      " option httpchk\n http-check send meth GET uri /health ver HTTP/1.1 hdr Host a.com\n"
      " http-check expect ! rstatus ^5\n http-check disable-on-404\n retries 1\n"
      " option redispatch 2\n option allbackups\n fullconn 50\n option http-server-close\n"
      "backend b2\n balance static-rr\n option httpchk HEAD / \"HTTP/1.1\\r\\nHost:\\ www.x.com\"\n"
      " option httpclose\n no option httpclose\n"
      "backend b3\n balance uri\n"
      "backend b4\n balance first\n");
  ASSERT_FALSE(r.fatal) << all_diags(r);
  const Proxy& b1 = proxy(r, "b1");
  EXPECT_EQ(b1.balance.algo, BalanceAlgo::Random);
  EXPECT_EQ(b1.balance.random_draws, 3);
  EXPECT_EQ(b1.forwardfor.except_net, "127.0.0.0/8");
  EXPECT_EQ(b1.forwardfor.header, "x-real-ip");
  EXPECT_TRUE(b1.forwardfor.if_none);
  EXPECT_TRUE(b1.cookie.enabled);
  EXPECT_EQ(b1.cookie.name, "SERVERID");
  EXPECT_TRUE(b1.cookie.insert && b1.cookie.indirect && b1.cookie.nocache);
  EXPECT_TRUE(b1.cookie.httponly && b1.cookie.secure);
  EXPECT_EQ(b1.cookie.domains, std::vector<std::string>{".a.com"});
  EXPECT_EQ(b1.httpchk.method, "GET");
  EXPECT_EQ(b1.httpchk.uri, "/health");
  EXPECT_EQ(b1.httpchk.version, "HTTP/1.1");
  ASSERT_EQ(b1.httpchk.headers.size(), 1u);
  EXPECT_EQ(b1.httpchk.headers[0].second, "a.com");
  EXPECT_EQ(b1.httpchk.expect, HttpCheck::Expect::RStatus);
  EXPECT_TRUE(b1.httpchk.expect_negate);
  EXPECT_EQ(b1.httpchk.expect_value, "^5");
  EXPECT_TRUE(b1.httpchk.disable_on_404);
  EXPECT_EQ(b1.retries, 1);
  EXPECT_TRUE(b1.redispatch);
  EXPECT_EQ(b1.redispatch_interval, 2);
  EXPECT_TRUE(b1.allbackups);
  EXPECT_EQ(b1.fullconn, 50);
  EXPECT_EQ(b1.conn_mode, HttpConnMode::ServerClose);
  const Proxy& b2 = proxy(r, "b2");
  EXPECT_EQ(b2.balance.algo, BalanceAlgo::StaticRR);
  EXPECT_EQ(b2.httpchk.version, "HTTP/1.1");
  ASSERT_EQ(b2.httpchk.headers.size(), 1u);
  EXPECT_EQ(b2.httpchk.headers[0].first, "Host");
  EXPECT_EQ(b2.httpchk.headers[0].second, "www.x.com");
  EXPECT_EQ(b2.conn_mode, HttpConnMode::KeepAlive);
  EXPECT_EQ(proxy(r, "b3").balance.algo, BalanceAlgo::Uri);
  EXPECT_EQ(proxy(r, "b4").balance.algo, BalanceAlgo::First);
}

TEST(Parser, ServerTemplateRangeFromZero) {
  const std::string base =
      "defaults\n timeout client 1s\n timeout connect 1s\n timeout server 1s\nbackend b\n";
  auto r = parse(base + " server-template s 0-2 127.0.0.1:80\n");
  ASSERT_FALSE(r.fatal) << all_diags(r);
  const auto& sv = proxy(r, "b").servers;
  ASSERT_EQ(sv.size(), 3u);
  EXPECT_EQ(sv[0].name, "s0");  // as haproxy 2.6: a range may start at 0
  EXPECT_EQ(sv[2].name, "s2");
  auto bad = parse(base + " server-template t 0 127.0.0.1:80\n");  // a count may not be 0
  EXPECT_TRUE(bad.fatal);
  EXPECT_NE(all_diags(bad).find("Wrong server-template number or range arg '0'."),
            std::string::npos);
}

TEST(Parser, TcpCheckRules) {
  const std::string base =
      "defaults\n mode tcp\n timeout client 1s\n timeout connect 1s\n timeout server 1s\n";
  auto r = parse(base +
                 "backend b1\n option httpchk\n option tcp-check\n tcp-check connect port 6379\n"
                 " tcp-check send PING\\r\\n\n tcp-check comment \"want pong\"\n"
                 " tcp-check expect string +PONG\n tcp-check send-binary 50494e470d0a comment x\n"
                 " tcp-check expect ! rstring ^-ERR\n tcp-check expect binary 2b4f4b\n"
                 "backend b2\n option tcp-check\n option httpchk\n"
                 "backend b3\n tcp-check send x\n");
  ASSERT_FALSE(r.fatal) << all_diags(r);
  const Proxy& b1 = proxy(r, "b1");
  EXPECT_TRUE(b1.tcpchk.enabled);
  EXPECT_FALSE(b1.httpchk.enabled);  // the last of the two options wins
  using K = TcpCheckRule::Kind;
  using M = TcpCheckRule::Match;
  const auto& rs = b1.tcpchk.rules;
  ASSERT_EQ(rs.size(), 7u);
  EXPECT_EQ(rs[0].kind, K::Connect);
  EXPECT_EQ(rs[0].port, 6379);
  EXPECT_EQ(rs[1].kind, K::Send);
  EXPECT_EQ(rs[1].data, "PING\r\n");
  EXPECT_EQ(rs[2].kind, K::Comment);
  EXPECT_EQ(rs[3].kind, K::Expect);
  EXPECT_EQ(rs[3].comment, "want pong");  // a comment line names the next rule
  EXPECT_EQ(rs[3].data, "+PONG");
  EXPECT_EQ(rs[4].data, "PING\r\n");  // send-binary, decoded
  EXPECT_EQ(rs[4].comment, "x");
  EXPECT_EQ(rs[5].match, M::RString);
  EXPECT_TRUE(rs[5].negate);
  EXPECT_EQ(rs[6].match, M::Binary);
  EXPECT_EQ(rs[6].data, "+OK");
  const Proxy& b2 = proxy(r, "b2");
  EXPECT_TRUE(b2.httpchk.enabled);
  EXPECT_FALSE(b2.tcpchk.enabled);
  EXPECT_NE(all_diags(r).find("backend 'b3' uses tcp-check rules without 'option tcp-check', so "
                              "the rules are ignored."),
            std::string::npos)
      << all_diags(r);

  // Errors, in HAProxy's words where it has some.
  auto bad = [&](const std::string& line, const std::string& want) {
    auto e = parse(base + "backend b\n option tcp-check\n" + line + "\n");
    EXPECT_TRUE(e.fatal) << line;
    EXPECT_NE(all_diags(e).find(want), std::string::npos) << line << "\n" << all_diags(e);
  };
  bad(" tcp-check send x\n tcp-check connect",
      "'tcp-check connect' : first step MUST also be a 'connect'");
  bad(" tcp-check send-binary 4x",
      "'4x' invalid binary string (an hex digit is expected "
      "(found 'x'))");
  bad(" tcp-check expect string", "'tcp-check expect' : 'string' expects a <pattern> as argument.");
  bad(" tcp-check expect foo x", "but got 'foo' as argument");
  bad(" tcp-check expect min-recv 4 string x", "'min-recv' is not supported by herd.");
  bad(" tcp-check connect ssl", "'tcp-check connect' : 'ssl' is not supported by herd.");
  bad(" tcp-check foo", "'tcp-check' only supports 'comment', 'connect', 'send'");
}

TEST(Parser, AclsConditionsAndRules) {
  auto r = parse(
      "defaults\n mode http\n timeout client 1s\n timeout connect 1s\n timeout server 1s\n"
      "frontend f\n bind :80\n acl api path_beg /api /v2\n acl host hdr(host) -i a.com\n"
      " acl local src 127.0.0.0/8 ::1\n"
      " use_backend b if api host or !local\n"
      " use_backend b unless { method POST }\n"
      " http-request del-header X-A if { hdr_beg(host) -i www. }\n"
      " http-request add-header X-B a-%[src]:%[src_port]-%%\n"
      " http-request deny deny_status 429 if local\n"
      " stats admin if local\n"
      " default_backend b\n"
      "backend b\n server s 1.2.3.4:80\n");
  ASSERT_FALSE(r.fatal) << all_diags(r);
  const Proxy& f = proxy(r, "f");
  ASSERT_EQ(f.acls.at("api").size(), 1u);
  EXPECT_EQ(f.acls.at("api")[0].values, (std::vector<std::string>{"/api", "/v2"}));
  EXPECT_TRUE(f.acls.at("host")[0].ignore_case);
  EXPECT_EQ(f.acls.at("host")[0].fetch, "hdr(host)");
  ASSERT_EQ(f.use_backends.size(), 2u);
  const Condition& c = f.use_backends[0].cond;
  ASSERT_EQ(c.any_of.size(), 2u);
  EXPECT_EQ(c.any_of[0].size(), 2u);
  EXPECT_TRUE(c.any_of[1][0].negate);
  EXPECT_EQ(c.any_of[1][0].acl, "local");
  EXPECT_TRUE(f.use_backends[1].cond.unless);
  ASSERT_TRUE(f.use_backends[1].cond.any_of[0][0].inline_acl.has_value());
  EXPECT_EQ(f.use_backends[1].cond.any_of[0][0].inline_acl->fetch, "method");
  ASSERT_EQ(f.http_request.size(), 3u);
  EXPECT_EQ(f.http_request[0].action, HttpRequestRule::Action::DelHeader);
  ASSERT_TRUE(f.http_request[0].cond.has_value());
  const auto& parts = f.http_request[1].value.parts;
  ASSERT_EQ(parts.size(), 5u);
  EXPECT_EQ(parts[0].text, "a-");
  EXPECT_EQ(parts[1].text, "src");
  EXPECT_EQ(parts[3].text, "src_port");
  EXPECT_EQ(parts[4].text, "-%");
  EXPECT_EQ(f.http_request[2].status, 429);
  EXPECT_TRUE(f.stats.admin.has_value());
}

TEST(Parser, StatsScopeAndRules) {
  auto r = parse(
      "defaults\n mode http\n timeout client 1s\n timeout connect 1s\n timeout server 1s\n"
      "userlist u\n user a insecure-password b\n"
      "listen l\n bind :80\n server s 1.2.3.4:80\n"
      " acl ok http_auth(u)\n"
      " stats scope l\n stats scope .\n"
      " stats http-request deny deny_status 429 if { src 10.0.0.1 }\n"
      " stats http-request allow if ok\n"
      " stats http-request auth\n");
  ASSERT_FALSE(r.fatal) << all_diags(r);
  const Proxy& l = proxy(r, "l");
  EXPECT_TRUE(l.stats.enabled);
  EXPECT_EQ(l.stats.scope, (std::vector<std::string>{"l", "."}));
  ASSERT_EQ(l.stats.http_request.size(), 3u);
  EXPECT_TRUE(l.http_request.empty());  // the stats rules are the page's only
  EXPECT_EQ(l.stats.http_request[0].action, HttpRequestRule::Action::Deny);
  EXPECT_EQ(l.stats.http_request[0].status, 429);
  EXPECT_EQ(l.stats.http_request[1].action, HttpRequestRule::Action::Allow);
  EXPECT_EQ(l.stats.http_request[2].action, HttpRequestRule::Action::Auth);
  EXPECT_EQ(l.stats.http_request[2].realm, "HAProxy Statistics");
  auto bad = parse("listen l\n mode http\n bind :80\n stats http-request set-header a b\n");
  EXPECT_TRUE(bad.fatal);
}

TEST(Parser, SourceAndSocks4) {
  auto r = parse(
      "defaults\n timeout client 1s\n timeout connect 1s\n timeout server 1s\n"
      "backend b\n source 10.0.0.1:2000 usesrc client\n"
      " server s1 1.2.3.4:80\n"
      " server s2 1.2.3.4:80 source 10.0.0.2 usesrc 10.0.0.3:99 socks4 127.0.0.1:1080"
      " check-via-socks4\n"
      "backend c\n source 10.0.0.4 usesrc clientip\n server s 1.2.3.4:80\n");
  ASSERT_FALSE(r.fatal) << all_diags(r);
  const Proxy& b = proxy(r, "b");
  EXPECT_TRUE(b.source.set);
  EXPECT_EQ(b.source.host, "10.0.0.1");
  EXPECT_EQ(b.source.port, 2000);
  EXPECT_EQ(b.source.usesrc, ConnSource::Usesrc::Client);
  EXPECT_FALSE(b.servers[0].source.set);
  const Server& s2 = b.servers[1];
  EXPECT_EQ(s2.source.host, "10.0.0.2");
  EXPECT_EQ(s2.source.usesrc, ConnSource::Usesrc::Addr);
  EXPECT_EQ(s2.source.usesrc_host, "10.0.0.3");
  EXPECT_EQ(s2.source.usesrc_port, 99);
  EXPECT_EQ(s2.socks4_host, "127.0.0.1");
  EXPECT_EQ(s2.socks4_port, 1080);
  EXPECT_TRUE(s2.check_via_socks4);
  EXPECT_EQ(proxy(r, "c").source.usesrc, ConnSource::Usesrc::ClientIp);
  // herd's own refusals (haproxy accepts these).
  for (const char* line : {" source 1.2.3.4 usesrc hdr_ip(x)\n", " source 1.2.3.4 interface lo\n",
                           " server s 1.2.3.4:80 source 1.2.3.4:1000-2000\n"}) {
    auto bad = parse(std::string("backend b\n") + line);
    EXPECT_TRUE(bad.fatal) << line;
  }
}

TEST(Parser, BindForms) {
  auto r = parse(
      "defaults\n timeout client 1s\n"
      "frontend f\n bind *:80\n bind :81\n bind ipv4@127.0.0.1:82 name x\n bind [::]:83\n"
      " bind :::84\n bind 127.0.0.1:90-92,127.0.0.2:95\n bind ${LOOP}:96\n",
      {{"LOOP", "127.0.0.9"}});
  ASSERT_FALSE(r.fatal) << all_diags(r);
  const auto& b = proxy(r, "f").binds;
  ASSERT_EQ(b.size(), 10u);
  EXPECT_EQ(b[0].addr.ip, "0.0.0.0");
  EXPECT_EQ(b[1].addr.ip, "0.0.0.0");
  EXPECT_EQ(b[1].addr.port, 81);
  EXPECT_EQ(b[2].options, std::vector<std::string>{"name x"});
  EXPECT_EQ(b[3].addr.ip, "::");
  EXPECT_EQ(b[4].addr.ip, "::");
  EXPECT_EQ(b[4].addr.port, 84);
  EXPECT_EQ(b[5].addr.port, 90);
  EXPECT_EQ(b[7].addr.port, 92);
  EXPECT_EQ(b[8].addr.ip, "127.0.0.2");
  EXPECT_EQ(b[9].addr.ip, "127.0.0.9");
}

TEST(Parser, GlobalKeywords) {
  auto r = parse(
      "global\n maxconn 100\n nbthread 4\n daemon\n pidfile /tmp/h.pid\n node n1\n"
      " log stdout format raw local0 info\n log 127.0.0.1:5514 len 2048 local2 info err\n"
      " uid 65534\n gid 65533\n chroot /var/lib/haproxy\n ca-base /etc/ssl/certs\n"
      " crt-base /etc/ssl/private\n hard-stop-after 1m\n close-spread-time 5s\n");
  EXPECT_FALSE(r.fatal) << all_diags(r);
  const Global& g = r.config.global;
  EXPECT_EQ(g.hard_stop_after_ms, 60000);
  EXPECT_EQ(g.close_spread_time_ms, 5000);
  EXPECT_FALSE(g.close_spread_infinite);
  EXPECT_EQ(g.maxconn, 100);
  EXPECT_EQ(g.nbthread, 4);
  EXPECT_TRUE(g.daemon);
  EXPECT_EQ(g.pidfile, "/tmp/h.pid");
  EXPECT_EQ(g.node, "n1");
  ASSERT_EQ(g.logs.size(), 2u);
  EXPECT_EQ(g.logs[0].kind, LogTarget::Kind::Stdout);
  EXPECT_EQ(g.logs[0].format, "raw");
  EXPECT_EQ(g.logs[0].max_level, 6);
  EXPECT_EQ(g.logs[1].addr.port, 5514);
  EXPECT_EQ(g.logs[1].max_len, 2048);
  EXPECT_EQ(g.logs[1].facility, 18);
  EXPECT_EQ(g.logs[1].min_level, 3);
  EXPECT_EQ(g.uid, 65534u);
  EXPECT_EQ(g.gid, 65533u);
  EXPECT_EQ(g.chroot, "/var/lib/haproxy");
  EXPECT_EQ(g.ca_base, "/etc/ssl/certs");  // TLS path prefixes (tls/context.h)
  EXPECT_EQ(g.crt_base, "/etc/ssl/private");
  // Ignored keywords are reported as notices, never silently.
  auto ignored = parse("global\n tune.ssl.default-dh-param 2048\n");
  int notices = 0;
  for (const auto& d : ignored.diags) notices += d.level == Diagnostic::Level::Notice;
  EXPECT_EQ(notices, 1);
  EXPECT_EQ(check_exit_code(r), 2);  // no listener
}

TEST(Parser, CloseSpreadTimeAndExposeFd) {
  auto r = parse(
      "global\n close-spread-time 5s\n close-spread-time infinite\n"
      " stats socket /tmp/h.sock level admin expose-fd listeners\n");
  EXPECT_FALSE(r.fatal) << all_diags(r);
  EXPECT_TRUE(r.config.global.close_spread_infinite);  // the last line wins, as in HAProxy
  EXPECT_EQ(r.config.global.close_spread_time_ms, 0);
  ASSERT_EQ(r.config.global.stats_sockets.size(), 1u);
  EXPECT_TRUE(r.config.global.stats_sockets[0].expose_fd_listeners);
  auto bad = parse("global\n close-spread-time 5x\n");
  EXPECT_TRUE(bad.fatal);
  EXPECT_NE(
      all_diags(bad).find(":2] : unexpected character 'x' in argument to <close-spread-time>."),
      std::string::npos)
      << all_diags(bad);
}

TEST(Parser, UserlistMergesGroupsAndResolvesLateReferences) {
  auto r = parse(
      "frontend f\n bind :80\n mode http\n acl a http_auth_group(L) g1\n"
      "userlist L\n group g1 users a,,b\n group g2\n"
      " user a password $6$x$y groups g2,g1\n user b insecure-password p password q\n"
      " user c\n");
  ASSERT_FALSE(r.fatal) << all_diags(r);
  ASSERT_EQ(r.config.userlists.size(), 1u);
  const Userlist& ul = *r.config.userlists[0];
  ASSERT_EQ(ul.users.size(), 3u);
  EXPECT_EQ(ul.users[0].groups, (std::vector<std::string>{"g2", "g1"}));
  EXPECT_FALSE(ul.users[0].insecure);
  EXPECT_EQ(ul.users[1].groups, (std::vector<std::string>{"g1"}));
  EXPECT_TRUE(ul.users[1].insecure);  // kept once given, as haproxy
  EXPECT_EQ(ul.users[1].password, "q");
  EXPECT_FALSE(ul.users[2].has_password);
  const Acl& acl = r.config.proxies[0].acls.at("a")[0];
  EXPECT_EQ(acl.userlist.get(), &ul);

  r = parse("frontend f\n bind :80\n mode http\n acl a http_auth(X)\n");
  EXPECT_TRUE(r.fatal);
  EXPECT_NE(all_diags(r).find("unable to find userlist 'X' referenced in arg 1 of ACL keyword "
                              "'http_auth' in proxy 'f'."),
            std::string::npos)
      << all_diags(r);
}

TEST(Parser, TarpitTimeoutDefaultsToConnectWhereHaproxyHasOne) {
  auto r = parse(
      "defaults\n mode http\n timeout connect 700\n"
      "frontend f\n bind :80\n default_backend b\n"
      "frontend g\n bind :81\n timeout connect 300\n default_backend b\n"
      "frontend h\n bind :82\n timeout tarpit 5s\n default_backend b\n"
      "backend b\n server s 127.0.0.1:1\n");
  ASSERT_FALSE(r.fatal) << all_diags(r);
  EXPECT_EQ(r.config.proxies[0].timeouts.tarpit, 0);  // no connect timeout in a frontend
  EXPECT_EQ(r.config.proxies[1].timeouts.tarpit, 300);
  EXPECT_EQ(r.config.proxies[2].timeouts.tarpit, 5000);
  EXPECT_EQ(r.config.proxies[3].timeouts.tarpit, 700);
}

TEST(Parser, HerdSpecificRejections) {
  for (const char* text :
       {"peers p\n", "cache c\n", "program p\n", "http-errors e\n", "ring r\n"}) {
    auto r = parse(text);
    EXPECT_TRUE(r.fatal) << text;
    EXPECT_NE(all_diags(r).find("sections are not supported by herd"), std::string::npos);
  }
  auto r = parse(".if defined(X)\n.endif\n");
  EXPECT_TRUE(r.fatal);
  r = parse("frontend f\n bind :80\n capture request header Host len 20\n");
  EXPECT_NE(all_diags(r).find("unknown keyword 'capture' in 'frontend' section"),
            std::string::npos);
}

TEST(Parser, UnresolvableAndResolvableNames) {
  auto r = parse("backend b\n server s1 localhost:80\n");
  ASSERT_EQ(proxy(r, "b").servers.size(), 1u);
  EXPECT_EQ(proxy(r, "b").servers[0].addr.ip, "127.0.0.1");
  EXPECT_EQ(proxy(r, "b").servers[0].addr.host, "localhost");
  r = parse("backend b\n timeout connect 1s\n timeout server 1s\n"
            " server s1 nonexistent-host.invalid:80\n");
  EXPECT_EQ(all_diags(r),
            "[ALERT]    (1) : config : [t.cfg:4] : 'server b/s1' : could not resolve address "
            "'nonexistent-host.invalid'.\n"
            "[ALERT]    (1) : config : Failed to initialize server(s) addr.\n");
}

TEST(Parser, DirectoryOfFilesInLexicalOrder) {
  auto dir = std::filesystem::temp_directory_path() / ("herd-cfgdir-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "20-b.cfg") << "backend b\n server s 1.2.3.4:80\n";
  std::ofstream(dir / "10-a.cfg") << "defaults\n timeout client 1s\n timeout connect 1s\n"
                                     " timeout server 1s\nfrontend f\n bind :80\n"
                                     " default_backend b\n";
  std::ofstream(dir / "ignored.txt") << "garbage\n";
  auto r = parse_paths({dir.string()});
  std::filesystem::remove_all(dir);
  ASSERT_FALSE(r.fatal) << all_diags(r);
  ASSERT_EQ(r.config.files.size(), 2u);
  EXPECT_EQ(r.config.files[0], dir.string() + "/10-a.cfg");
  EXPECT_EQ(r.config.proxies[0].name, "f");
  EXPECT_EQ(r.config.proxies[1].name, "b");
}

TEST(Parser, QuickstartConfigIsValid) {
  std::string text = quickstart_config(8080, {"127.0.0.1:3000", "127.0.0.1:3001"});
  auto r = parse(text);
  EXPECT_EQ(check_exit_code(r), 0) << all_diags(r) << text;
  EXPECT_TRUE(r.diags.empty()) << all_diags(r);
  const Proxy& b = proxy(r, "servers");
  ASSERT_EQ(b.servers.size(), 2u);
  EXPECT_EQ(b.servers[1].addr.port, 3001);
  EXPECT_EQ(proxy(r, "quickstart").binds[0].addr.port, 8080);
}

TEST(Parser, FormatDiagnosticPadding) {
  EXPECT_EQ(format_diagnostic({Diagnostic::Level::Alert, "x"}, 7), "[ALERT]    (7) : config : x");
  EXPECT_EQ(format_diagnostic({Diagnostic::Level::Warning, "x"}, 7),
            "[WARNING]  (7) : config : x");
  EXPECT_EQ(format_diagnostic({Diagnostic::Level::Notice, "x"}, 7),
            "[NOTICE]   (7) : config : x");
}

// `listen stats *:1936` (HAProxy 2.2's form): bound, with a warning naming
// the line; never a word accepted and ignored.
TEST(Parser, AddressOnTheSectionLine) {
  auto r = parse(
      "defaults\n    mode http\n"
      "listen stats *:1936\n    stats uri /\n"
      "frontend f 127.0.0.1:8080\n    default_backend b\n"
      "backend b\n    server s 127.0.0.1:1\n");
  EXPECT_FALSE(r.fatal) << all_diags(r);
  ASSERT_EQ(proxy(r, "stats").binds.size(), 1u);
  EXPECT_EQ(proxy(r, "stats").binds[0].addr.port, 1936);
  ASSERT_EQ(proxy(r, "f").binds.size(), 1u);
  EXPECT_EQ(proxy(r, "f").binds[0].addr.port, 8080);
  EXPECT_NE(all_diags(r).find("[t.cfg:3] : 'listen stats *:1936' : the address on the 'listen' "
                              "line is deprecated"),
            std::string::npos)
      << all_diags(r);
  auto bad = parse("backend b *:80\n    server s 127.0.0.1:1\nlisten l :81 from x\n");
  EXPECT_TRUE(bad.fatal);
  EXPECT_NE(
      all_diags(bad).find("[t.cfg:1] : please use the 'bind' keyword for listening addresses."),
      std::string::npos)
      << all_diags(bad);
  EXPECT_NE(all_diags(bad).find("[t.cfg:3] : 'listen l' : unexpected argument 'from'."),
            std::string::npos)
      << all_diags(bad);
}

// "unknown keyword 'maxconn'; did you mean 'maxconn' maybe ?" (issue 17): a
// suggestion never repeats the word, and a bind keyword HAProxy has but herd
// lacks is "not supported", not "unknown".
TEST(Parser, SuggestionNeverRepeatsTheWord) {
  const std::regex repeated("'([^']+)'[;.]? did you mean '\\1' maybe");
  const char* bind_words[] = {"maxconn",         "nice",       "mss",      "npn",  "level",
                              "severity-output", "expose-fd",  "gid",      "uid",  "namespace",
                              "proto",           "allow-0rtt", "crl-file", "ecdhe"};
  for (const char* kw : bind_words) {
    auto r = parse(std::string("frontend f\n    bind :80 ") + kw + " 1\n");
    std::string d = all_diags(r);
    EXPECT_FALSE(std::regex_search(d, repeated)) << d;
    EXPECT_NE(d.find("'bind :80' : '" + std::string(kw) + "' is not supported by herd."),
              std::string::npos)
        << d;
  }
  // The helper itself: the word is never its own suggestion, even when it is
  // one of the candidates (a keyword herd knows by name but did not handle).
  EXPECT_EQ(detail::suggest("maxconn", {"maxconn", "maxconnrate"}), "maxconnrate");
  EXPECT_EQ(detail::suggest("user", {"user"}), "");
  // A typo still gets its suggestion.
  auto r = parse("frontend f\n    bind :80 mxconn 10\n");
  EXPECT_NE(all_diags(r).find("unknown keyword 'mxconn'; did you mean 'maxconn' maybe ?"),
            std::string::npos)
      << all_diags(r);
  // Other suggestion sites: keywords, options and server options that
  // HAProxy has and herd lacks.
  for (const char* text :
       {"global\n    maxconnrate 10\n", "global\n    strict-limits\n",
        "frontend f\n    monitor-uri /m\n", "backend b\n    option tcp-check\n",
        "backend b\n    option tcpka\n", "backend b\n    server s 127.0.0.1:1 on-marked-down x\n",
        "backend b\n    ignore-persist if TRUE\n"}) {
    std::string d = all_diags(parse(text));
    EXPECT_FALSE(std::regex_search(d, repeated)) << d;
  }
}

}  // namespace
}  // namespace herd::config

namespace herd::config {
namespace {

// `mode tcp` (haproxy's default mode): the mixes haproxy refuses, and what
// it says of HTTP-only settings in a TCP proxy (messages checked against
// `haproxy -c` 2.6).
TEST(TcpMode, AnHttpFrontendCannotUseATcpBackend) {
  auto r = parse(
      "defaults\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n"
      "frontend fe\n    mode http\n    bind 127.0.0.1:19001\n"
      "    use_backend be2 if { src 127.0.0.1 }\n    default_backend be\n"
      "backend be\n    mode http\n    server s1 127.0.0.1:19002\n"
      "backend be2\n    server s1 127.0.0.1:19002\n");
  EXPECT_TRUE(r.fatal);
  EXPECT_NE(all_diags(r).find("config : http frontend 'fe' (t.cfg:5) tries to use incompatible "
                              "tcp backend 'be2' (t.cfg:13) in a 'use_backend' rule (see "
                              "'mode')."),
            std::string::npos)
      << all_diags(r);
  auto d = parse(
      "defaults\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n"
      "frontend fe\n    mode http\n    bind 127.0.0.1:19001\n    default_backend be\n"
      "backend be\n    server s1 127.0.0.1:19002\n");
  EXPECT_TRUE(d.fatal);
  EXPECT_NE(all_diags(d).find("http frontend 'fe' (t.cfg:5) tries to use incompatible tcp "
                              "backend 'be' (t.cfg:9) as its default backend (see 'mode')."),
            std::string::npos)
      << all_diags(d);
}

TEST(TcpMode, ATcpFrontendMayUseAnHttpBackendAndTcpIsTheDefault) {
  auto r = parse(
      "defaults\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n"
      "frontend fe\n    bind 127.0.0.1:19001\n    default_backend be\n"
      "backend be\n    mode http\n    server s1 127.0.0.1:19002\n");
  ASSERT_FALSE(r.fatal) << all_diags(r);
  EXPECT_EQ(proxy(r, "fe").mode, Mode::Tcp);
}

TEST(TcpMode, HttpOnlySettingsAreIgnoredWithHaproxysWarnings) {
  auto r = parse(
      "global\n    log 127.0.0.1:514 local0\n"
      "defaults\n    log global\n    timeout connect 1s\n    timeout client 5s\n"
      "    timeout server 5s\n"
      "listen l1\n    bind 127.0.0.1:19001\n    option httplog\n    option forwardfor\n"
      "    cookie SRV insert\n    balance uri\n    stats enable\n"
      "    server s1 127.0.0.1:19002 cookie a\n");
  ASSERT_FALSE(r.fatal) << all_diags(r);
  std::string d = all_diags(r);
  for (const char* w :
       {"cookie will be ignored for proxy 'l1' (needs 'mode http').",
        "Layer 7 hash not possible for proxy 'l1' (needs 'mode http'). Falling back to round "
        "robin.",
        "parsing [t.cfg:10] : 'option httplog' not usable with proxy 'l1' (needs 'mode http'). "
        "Falling back to 'option tcplog'.",
        "'stats' statement ignored for proxy 'l1' as it requires HTTP mode.",
        "'option forwardfor' ignored for proxy 'l1' as it requires HTTP mode.",
        "proxy 'l1' : ignoring cookie for server 's1' as HTTP mode is disabled."})
    EXPECT_NE(d.find(w), std::string::npos) << w << "\n" << d;
  const Proxy& l1 = proxy(r, "l1");
  EXPECT_TRUE(l1.tcplog);
  EXPECT_FALSE(l1.httplog);
  EXPECT_EQ(l1.balance.algo, BalanceAlgo::RoundRobin);
  EXPECT_FALSE(l1.stats.enabled);
}

TEST(TcpMode, TheLastOfHttplogAndTcplogWins) {
  auto r = parse(
      "defaults\n    mode http\n    timeout client 5s\n"
      "frontend a\n    bind 127.0.0.1:19001\n    option httplog\n    option tcplog\n"
      "frontend b\n    bind 127.0.0.1:19002\n    option tcplog\n    option httplog\n");
  ASSERT_FALSE(r.fatal) << all_diags(r);
  EXPECT_TRUE(proxy(r, "a").tcplog);
  EXPECT_FALSE(proxy(r, "a").httplog);
  EXPECT_TRUE(proxy(r, "b").httplog);
  EXPECT_FALSE(proxy(r, "b").tcplog);
}

}  // namespace
}  // namespace herd::config
