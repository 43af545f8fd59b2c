// `resolvers` sections, the server options that use them (`resolvers`,
// `resolve-prefer`, `init-addr`), `option tcpka|clitcpka|srvtcpka`,
// `tune.maxaccept` and the env() fetch, as the parser records them (haproxy
// 2.6's defaults and messages).
#include <gtest/gtest.h>

#include "config/parser.h"

namespace herd::config {
namespace {

ParseResult parse(const std::string& text) { return parse_text(text, "t.cfg", ParseOptions{}); }

std::string all_diags(const ParseResult& r) {
  std::string s;
  for (const auto& d : r.diags) s += format_diagnostic(d, 1) + "\n";
  return s;
}

TEST(Resolvers, DefaultsAndKeywords) {
  auto r = parse(
      "resolvers dflt\n"
      "  nameserver ns1 127.0.0.1:5353\n"
      "resolvers r\n"
      "  nameserver a 127.0.0.1:53\n"
      "  nameserver b [::1]:5300\n"
      "  accepted_payload_size 8192\n"
      "  resolve_retries 5\n"
      "  timeout resolve 2s\n"
      "  timeout retry 300ms\n"
      "  hold valid 7s\n  hold nx 1s\n  hold other 2s\n  hold refused 3s\n"
      "  hold timeout 4s\n  hold obsolete 5s\n");
  ASSERT_FALSE(r.fatal) << all_diags(r);
  ASSERT_EQ(r.config.resolvers.size(), 2u);
  const Resolvers& d = r.config.resolvers[0];
  EXPECT_EQ(d.accepted_payload_size, 512);
  EXPECT_EQ(d.resolve_retries, 3);
  EXPECT_EQ(d.timeout_resolve, 1000);
  EXPECT_EQ(d.timeout_retry, 1000);
  EXPECT_EQ(d.hold_valid, 10000);
  EXPECT_EQ(d.hold_nx, 30000);
  EXPECT_EQ(d.hold_obsolete, 0);
  const Resolvers& c = *r.config.find_resolvers("r");
  ASSERT_EQ(c.nameservers.size(), 2u);
  EXPECT_EQ(c.nameservers[1].addr.ip, "::1");
  EXPECT_EQ(c.nameservers[1].addr.port, 5300);
  EXPECT_EQ(c.accepted_payload_size, 8192);
  EXPECT_EQ(c.resolve_retries, 5);
  EXPECT_EQ(c.timeout_resolve, 2000);
  EXPECT_EQ(c.timeout_retry, 300);
  EXPECT_EQ(c.hold_valid, 7000);
  EXPECT_EQ(c.hold_nx, 1000);
  EXPECT_EQ(c.hold_other, 2000);
  EXPECT_EQ(c.hold_refused, 3000);
  EXPECT_EQ(c.hold_timeout, 4000);
  EXPECT_EQ(c.hold_obsolete, 5000);
}

TEST(Resolvers, HaproxyMessages) {
  auto r = parse(
      "resolvers r\n"
      "  nameserver a 127.0.0.1\n"
      "  foo\n"
      "  hold bar 1s\n"
      "  timeout x\n"
      "  resolve_retries\n"
      "  accepted_payload_size 70000\n");
  EXPECT_TRUE(r.fatal);
  const std::string d = all_diags(r);
  EXPECT_NE(d.find("[t.cfg:2] : 'nameserver a' : missing port specification in '127.0.0.1'"),
            std::string::npos)
      << d;
  EXPECT_NE(d.find("[t.cfg:3] : unknown keyword 'foo' in 'resolvers' section"), std::string::npos);
  EXPECT_NE(d.find("[t.cfg:4] : 'hold' unknown <event>: 'bar', expects either 'nx', 'timeout', "
                   "'valid', 'obsolete' or 'other'."),
            std::string::npos);
  EXPECT_NE(d.find("[t.cfg:5] : 'timeout' expects 'retry' or 'resolve' and <time> as arguments "
                   "got 'x'."),
            std::string::npos);
  EXPECT_NE(d.find("[t.cfg:6] : 'resolve_retries' expects <nb> as argument."), std::string::npos);
  EXPECT_NE(d.find("'accepted_payload_size' must be between 12 and 65535 inclusive (was 70000)."),
            std::string::npos);
}

TEST(Resolvers, ServerOptions) {
  auto r = parse(
      "resolvers r\n  nameserver a 127.0.0.1:53\n"
      "backend b\n"
      "  default-server init-addr none\n"
      "  server s1 app.invalid:80 resolvers r resolve-prefer ipv4\n"
      "  server s2 127.0.0.1:80 resolvers r init-addr last,10.0.0.7\n"
      "  server s3 other.invalid:80 resolvers r init-addr 10.0.0.9\n"
      "  server s4 app.invalid:80 resolvers r init-addr libc,none\n"
      "  server s5 app.invalid:80 resolvers r init-addr libc,10.0.0.5\n");
  ASSERT_FALSE(r.fatal) << all_diags(r);
  const auto& s = r.config.proxies[0].servers;
  EXPECT_EQ(s[0].resolvers, "r");
  EXPECT_TRUE(s[0].resolve_prefer_ipv4);
  EXPECT_TRUE(s[0].no_initial_addr);
  EXPECT_EQ(s[0].addr.ip, "");
  EXPECT_EQ(s[0].addr.host, "app.invalid");
  EXPECT_FALSE(s[1].resolve_prefer_ipv4);
  EXPECT_EQ((std::vector<std::string>{"last", "10.0.0.7"}), s[1].init_addr);
  EXPECT_EQ(s[1].addr.ip, "127.0.0.1");
  EXPECT_EQ(s[2].addr.ip, "10.0.0.9");
  EXPECT_FALSE(s[2].no_initial_addr);
  EXPECT_TRUE(s[3].no_initial_addr);
  EXPECT_EQ(s[4].addr.ip, "10.0.0.5");
  // haproxy warns only when a fallback follows a failed libc.
  const std::string d = all_diags(r);
  EXPECT_EQ(d.find("'server b/s1'"), std::string::npos) << d;
  EXPECT_NE(d.find("[t.cfg:8] : 'server b/s4' : could not resolve address 'app.invalid', "
                   "disabling server."),
            std::string::npos)
      << d;
  EXPECT_NE(d.find("[t.cfg:9] : 'server b/s5' : could not resolve address 'app.invalid', "
                   "falling back to configured address."),
            std::string::npos)
      << d;
  // With `resolvers`, haproxy's default init-addr is last,libc,none.
  auto dflt = parse(
      "resolvers r\n  nameserver a 127.0.0.1:53\n"
      "backend b\n  server s1 app.invalid:80 resolvers r\n");
  EXPECT_FALSE(dflt.fatal) << all_diags(dflt);
  EXPECT_TRUE(dflt.config.proxies[0].servers[0].no_initial_addr);
  auto empty = parse("resolvers r\nbackend b\n");
  EXPECT_NE(all_diags(empty).find("resolvers 'r' [t.cfg:1] has no nameservers configured!"),
            std::string::npos);
}

TEST(Resolvers, ServerErrors) {
  auto r = parse("backend b\n  server s1 127.0.0.1:80 resolvers nope\n");
  EXPECT_TRUE(r.fatal);
  EXPECT_NE(all_diags(r).find("backend 'b', server 's1': unable to find required resolvers 'nope'"),
            std::string::npos)
      << all_diags(r);
  r = parse("backend b\n  server s1 127.0.0.1:80 resolve-prefer ipv5\n");
  EXPECT_NE(all_diags(r).find("[t.cfg:2] : 'server b/s1' : 'resolve-prefer' expects either ipv4 "
                              "or ipv6 as argument.."),
            std::string::npos);
  r = parse("backend b\n  server s1 127.0.0.1:80 init-addr libc,foo\n");
  EXPECT_NE(all_diags(r).find("'init-addr' : unknown init-addr method 'foo', supported methods "
                              "are 'libc', 'last', 'none'.."),
            std::string::npos);
  // Without `none`, an unresolvable name stays fatal.
  r = parse("backend b\n  server s1 app.invalid:80 init-addr last,libc\n");
  EXPECT_TRUE(r.fatal);
  EXPECT_NE(all_diags(r).find("could not resolve address 'app.invalid'"), std::string::npos);
}

TEST(TcpKeepAlive, Options) {
  auto r = parse(
      "defaults\n  option tcpka\n"
      "frontend f\n  bind :8080\n  no option clitcpka\n  default_backend b\n"
      "backend b\n  no option srvtcpka\n"
      "listen l\n  bind :8081\n");
  ASSERT_FALSE(r.fatal) << all_diags(r);
  EXPECT_FALSE(r.config.proxies[0].clitcpka);
  EXPECT_TRUE(r.config.proxies[0].srvtcpka);
  EXPECT_TRUE(r.config.proxies[1].clitcpka);
  EXPECT_FALSE(r.config.proxies[1].srvtcpka);
  EXPECT_TRUE(r.config.proxies[2].clitcpka && r.config.proxies[2].srvtcpka);
  // haproxy 2.6 has no `no option tcpka`.
  auto neg = parse("backend b\n  no option tcpka\n");
  EXPECT_NE(all_diags(neg).find("negation/default is not supported for option 'tcpka'."),
            std::string::npos)
      << all_diags(neg);
}

TEST(TuneMaxAccept, Values) {
  EXPECT_EQ(parse("global\n  tune.maxaccept 500\n").config.global.maxaccept, 500);
  EXPECT_EQ(parse("global\n  tune.maxaccept -1\n").config.global.maxaccept, -1);
  EXPECT_EQ(parse("global\n  tune.maxaccept -7\n").config.global.maxaccept, -1);
  auto r = parse("global\n  tune.maxaccept\n");
  EXPECT_NE(all_diags(r).find("'tune.maxaccept' expects an integer argument."), std::string::npos);
}

TEST(EnvFetch, ConditionsAndFormats) {
  auto r = parse(
      "frontend f\n  mode http\n  bind :8080\n"
      "  http-request deny if { env(FOO) -m str yes }\n"
      "  http-request deny if { env(BAR) -m found }\n"
      "  http-request set-header x-env %[env(FOO)]\n"
      "  default_backend b\n"
      "backend b\n  mode http\n");
  ASSERT_FALSE(r.fatal) << all_diags(r);
  const auto& rules = r.config.proxies[0].http_request;
  ASSERT_EQ(rules.size(), 3u);
  EXPECT_EQ(rules[0].cond->any_of[0][0].inline_acl->match, "str");
  EXPECT_EQ(rules[1].cond->any_of[0][0].inline_acl->match, "found");
  EXPECT_TRUE(rules[2].value.parts[0].is_fetch);
  auto bad =
      parse("frontend f\n  mode http\n  bind :8080\n  http-request deny if { env(F) -m dom x }\n");
  EXPECT_TRUE(bad.fatal);
}

}  // namespace
}  // namespace herd::config
