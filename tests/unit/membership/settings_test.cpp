// tests/unit/membership/settings_test.cpp — membership YAML and Serf-style
// flag parsing, validation and error texts (key and file named).
#include "membership/settings.h"

#include <gtest/gtest.h>

namespace herd::membership {
namespace {

bool has_error(const std::vector<std::string>& errors, const std::string& needle) {
  for (const auto& e : errors)
    if (e.find(needle) != std::string::npos) return true;
  return false;
}

std::string joined(const std::vector<std::string>& errors) {
  std::string s;
  for (const auto& e : errors) s += e + "\n";
  return s;
}

constexpr const char* kIssueYaml = R"(node: ha
bind: 0.0.0.0:7946
advertise: 192.168.42.42:7946
rpc: 127.0.0.1:7373
join: [ "s1:7946" ]
tags: { role: balancer }
encrypt: cg8StVXbQJ0gPvMd9o7yrg==
event_handlers: [ "member-join=/serf-handlers/member-join.sh" ]
pools:
  - backend: nodes
    match: { role: backend }
    port: 3000
    server: "check"
)";

TEST(MembershipSettings, DisableTcpPings) {
  MembershipSettings s;
  std::vector<std::string> errors;
  EXPECT_FALSE(s.disable_tcp_pings);  // memberlist's default: TCP fallback pings on
  ASSERT_TRUE(parse_yaml("disable_tcp_pings: true\n", "m.yaml", s, errors)) << joined(errors);
  EXPECT_TRUE(s.disable_tcp_pings);
  EXPECT_FALSE(parse_yaml("disable_tcp_pings: maybe\n", "m.yaml", s, errors));
  EXPECT_TRUE(has_error(errors, "m.yaml:1: disable_tcp_pings: expected true or false"))
      << joined(errors);
}

TEST(MembershipSettings, IssueExampleParses) {
  MembershipSettings s;
  std::vector<std::string> errors;
  ASSERT_TRUE(parse_yaml(kIssueYaml, "membership.yaml", s, errors)) << joined(errors);
  EXPECT_EQ(s.node, "ha");
  EXPECT_EQ(s.bind_ip, "0.0.0.0");
  EXPECT_EQ(s.bind_port, 7946);
  EXPECT_EQ(s.advertise_ip, "192.168.42.42");
  EXPECT_EQ(s.advertise_port, 7946);
  EXPECT_TRUE(s.rpc_enabled);
  EXPECT_EQ(s.rpc_ip, "127.0.0.1");
  EXPECT_EQ(s.rpc_port, 7373);
  ASSERT_EQ(s.join.size(), 1u);
  EXPECT_EQ(s.join[0], "s1:7946");
  EXPECT_EQ(s.tags.at("role"), "balancer");
  EXPECT_EQ(s.encrypt, "cg8StVXbQJ0gPvMd9o7yrg==");
  ASSERT_EQ(s.event_handlers.size(), 1u);
  ASSERT_EQ(s.pools.size(), 1u);
  EXPECT_EQ(s.pools[0].backend, "nodes");
  EXPECT_EQ(s.pools[0].match.at("role"), "backend");
  EXPECT_EQ(s.pools[0].port, 3000);
  EXPECT_TRUE(s.pools[0].options.check);
  EXPECT_EQ(s.pools[0].where.file, "membership.yaml");
  EXPECT_EQ(s.pools[0].where.line, 10);

  config::Config cfg;
  config::Proxy px;
  px.kind = config::Proxy::Kind::Backend;
  px.name = "nodes";
  cfg.proxies.push_back(px);
  EXPECT_TRUE(finalize(s, &cfg, errors)) << joined(errors);
}

TEST(MembershipSettings, DefaultsAreSerfAgents) {
  MembershipSettings s;
  std::vector<std::string> errors;
  ASSERT_TRUE(parse_yaml("", "m.yaml", s, errors));
  ASSERT_TRUE(finalize(s, nullptr, errors));
  EXPECT_EQ(s.bind_ip, "0.0.0.0");
  EXPECT_EQ(s.bind_port, 7946);
  EXPECT_EQ(s.rpc_ip, "127.0.0.1");
  EXPECT_EQ(s.rpc_port, 7373);
  EXPECT_EQ(s.node, default_node_name());
  EXPECT_FALSE(s.node.empty());
  EXPECT_EQ(s.retry_interval, std::chrono::seconds(30));
}

TEST(MembershipSettings, BindWithoutPortAndAdvertiseInheritsBindPort) {
  MembershipSettings s;
  std::vector<std::string> errors;
  ASSERT_TRUE(parse_yaml("bind: 10.1.2.3\nadvertise: 10.9.9.9\nrpc: off\n", "m.yaml", s, errors))
      << joined(errors);
  ASSERT_TRUE(finalize(s, nullptr, errors));
  EXPECT_EQ(s.bind_port, 7946);
  EXPECT_EQ(s.advertise_port, 7946);
  EXPECT_FALSE(s.rpc_enabled);
}

TEST(MembershipSettings, ErrorsNameKeyFileAndLine) {
  struct Case {
    const char* yaml;
    const char* needle;
  } cases[] = {
      {"nodee: x\n", "m.yaml:1: nodee: unknown key"},
      {"bind: host.example:7946\n", "m.yaml:1: bind: expected a numeric IP"},
      {"bind: 1.2.3.4:99999\n", "m.yaml:1: bind: expected ip:port"},
      {"encrypt: notbase64!\n", "m.yaml:1: encrypt: not valid base64"},
      {"encrypt: aGVsbG8=\n", "encrypt: key must be 16, 24 or 32 bytes"},
      {"event_handlers: [ \"member-joined=/x\" ]\n",
       "event_handlers[0]: invalid event filter 'member-joined'"},
      {"pools:\n  - backend: nodes\n    port: 0\n",
       "m.yaml:3: pools[0].port: expected a port 1..65535"},
      {"pools:\n  - backend: nodes\n", "pools[0].port: missing"},
      {"pools:\n  - port: 80\n", "pools[0].backend: missing"},
      {"pools:\n  - backend: b\n    port: 80\n    port_tag: p\n", "give either port or port_tag"},
      {"pools:\n  - backend: b\n    port: 80\n    match: { role: \"(\" }\n",
       "pools[0].match.role: invalid regular expression"},
      {"pools:\n  - backend: b\n    port: 80\n    server: \"check weight 300\"\n",
       "pools[0].server: 'weight' expects an integer 0..256"},
      {"pools:\n  - backend: b\n    port: 80\n    server: \"chek\"\n",
       "pools[0].server: unknown server option 'chek'"},
      {"pools:\n  - backend: b\n    port: 80\n    colour: red\n", "pools[0].colour: unknown key"},
      {"tags: [a, b]\n", "m.yaml:1: tags: expected a map"},
      {"retry_interval: soon\n", "retry_interval: expected a duration"},
      {"node: [\n", "m.yaml:"},
  };
  for (const auto& c : cases) {
    MembershipSettings s;
    std::vector<std::string> errors;
    EXPECT_FALSE(parse_yaml(c.yaml, "m.yaml", s, errors)) << c.yaml;
    EXPECT_TRUE(has_error(errors, c.needle)) << c.yaml << "\n got: " << joined(errors);
  }
}

TEST(MembershipSettings, FinalizeChecksBackendsAgainstHaproxyCfg) {
  MembershipSettings s;
  std::vector<std::string> errors;
  ASSERT_TRUE(parse_yaml("pools:\n  - backend: nodez\n    port: 80\n", "m.yaml", s, errors));
  config::Config cfg;
  cfg.files.push_back("haproxy.cfg");
  config::Proxy fe;
  fe.kind = config::Proxy::Kind::Frontend;
  fe.name = "nodez";  // a frontend is not a backend
  cfg.proxies.push_back(fe);
  EXPECT_FALSE(finalize(s, &cfg, errors));
  EXPECT_TRUE(has_error(errors, "m.yaml:2: pools[0].backend: no backend 'nodez' in haproxy.cfg"))
      << joined(errors);
}

TEST(MembershipSettings, LoadFileMissing) {
  MembershipSettings s;
  std::vector<std::string> errors;
  EXPECT_FALSE(load_yaml_file("/nonexistent/membership.yaml", s, errors));
  EXPECT_TRUE(has_error(errors, "/nonexistent/membership.yaml: cannot open"));
}

TEST(MembershipSettings, SerfStyleFlags) {
  MembershipSettings s;
  std::vector<std::string> errors, rest;
  std::vector<std::string> args = {"-f",
                                   "haproxy.cfg",
                                   "-node",
                                   "lb1",
                                   "-bind=127.0.0.1:8946",
                                   "--advertise",
                                   "10.0.0.1",
                                   "-rpc-addr",
                                   "127.0.0.1:9373",
                                   "-join",
                                   "s1",
                                   "-retry-join=s2:7946",
                                   "-tag",
                                   "role=balancer",
                                   "--tag=dc=lab",
                                   "-encrypt",
                                   "cg8StVXbQJ0gPvMd9o7yrg==",
                                   "-event-handler",
                                   "user:deploy=/bin/deploy",
                                   "-replay",
                                   "-retry-interval",
                                   "1m30s",
                                   "-retry-max",
                                   "5",
                                   "-db"};
  ASSERT_TRUE(parse_flags(args, s, errors, &rest)) << joined(errors);
  EXPECT_EQ(rest, (std::vector<std::string>{"-f", "haproxy.cfg", "-db"}));
  EXPECT_EQ(s.node, "lb1");
  EXPECT_EQ(s.bind_ip, "127.0.0.1");
  EXPECT_EQ(s.bind_port, 8946);
  EXPECT_EQ(s.advertise_ip, "10.0.0.1");
  EXPECT_EQ(s.rpc_port, 9373);
  EXPECT_EQ(s.join, (std::vector<std::string>{"s1", "s2:7946"}));
  EXPECT_EQ(s.tags.at("role"), "balancer");
  EXPECT_EQ(s.tags.at("dc"), "lab");
  EXPECT_EQ(s.event_handlers.size(), 1u);
  EXPECT_TRUE(s.replay);
  EXPECT_EQ(s.retry_interval, std::chrono::seconds(90));
  EXPECT_EQ(s.retry_max, 5);
  ASSERT_TRUE(finalize(s, nullptr, errors));
  EXPECT_EQ(s.advertise_port, 8946);
  EXPECT_TRUE(is_membership_flag("-tag"));
  EXPECT_TRUE(is_membership_flag("--node=x"));
  EXPECT_FALSE(is_membership_flag("-f"));
}

TEST(MembershipSettings, ReconnectAndReapDurations) {
  MembershipSettings s;
  EXPECT_EQ(s.reconnect_interval, std::chrono::seconds(30));  // serf's defaults
  EXPECT_EQ(s.reconnect_timeout, std::chrono::hours(24));
  EXPECT_EQ(s.tombstone_timeout, std::chrono::hours(24));
  std::vector<std::string> errors;
  ASSERT_TRUE(parse_yaml("reconnect_interval: 2s\nreconnect_timeout: 1h\ntombstone_timeout: 90m\n",
                         "m.yaml", s, errors))
      << joined(errors);
  EXPECT_EQ(s.reconnect_interval, std::chrono::seconds(2));
  EXPECT_EQ(s.reconnect_timeout, std::chrono::hours(1));
  EXPECT_EQ(s.tombstone_timeout, std::chrono::minutes(90));
  ASSERT_TRUE(parse_flags({"-reconnect-interval", "500ms", "-tombstone-timeout=3s"}, s, errors))
      << joined(errors);
  EXPECT_EQ(s.reconnect_interval, std::chrono::milliseconds(500));
  EXPECT_EQ(s.tombstone_timeout, std::chrono::seconds(3));
  MembershipSettings bad;
  EXPECT_FALSE(parse_yaml("reconnect_timeout: 0s\n", "m.yaml", bad, errors));
  EXPECT_TRUE(has_error(errors, "m.yaml:1: reconnect_timeout: expected a duration"))
      << joined(errors);
}

TEST(MembershipSettings, FlagsOverrideYaml) {
  MembershipSettings s;
  std::vector<std::string> errors;
  ASSERT_TRUE(parse_yaml("node: a\ntags: { role: x }\n", "m.yaml", s, errors));
  ASSERT_TRUE(parse_flags({"-node", "b", "-tag", "role=y"}, s, errors));
  EXPECT_EQ(s.node, "b");
  EXPECT_EQ(s.tags.at("role"), "y");
}

TEST(MembershipSettings, FlagErrorsNameTheFlag) {
  struct Case {
    std::vector<std::string> args;
    const char* needle;
  } cases[] = {
      {{"-tag", "novalue"}, "flag -tag: expected key=value"},
      {{"-bind", "nothost:1"}, "flag -bind: expected ip[:port]"},
      {{"-node"}, "flag -node: expects a value"},
      {{"-encrypt", "abc"}, "flag -encrypt:"},
      {{"-event-handler", "bogus=/x"}, "flag -event-handler: invalid event filter 'bogus'"},
      {{"-retry-interval", "x"}, "flag -retry-interval: expected a duration"},
  };
  for (const auto& c : cases) {
    MembershipSettings s;
    std::vector<std::string> errors;
    EXPECT_FALSE(parse_flags(c.args, s, errors, nullptr));
    EXPECT_TRUE(has_error(errors, c.needle)) << joined(errors);
  }
}

TEST(MembershipSettings, ServerOptions) {
  config::Server o;
  EXPECT_EQ(parse_server_options("check inter 5s fastinter 1s rise 3 fall 2 weight 10 maxconn 50 "
                                 "maxqueue 7 backup port 8081 addr 10.0.0.9 cookie c1 observe "
                                 "layer7 on-error mark-down error-limit 4",
                                 o),
            "");
  EXPECT_TRUE(o.check);
  EXPECT_EQ(o.inter_ms, 5000);
  EXPECT_EQ(o.fastinter_ms, 1000);
  EXPECT_EQ(o.rise, 3);
  EXPECT_EQ(o.fall, 2);
  EXPECT_EQ(o.weight, 10);
  EXPECT_EQ(o.maxconn, 50);
  EXPECT_EQ(o.maxqueue, 7);
  EXPECT_TRUE(o.backup);
  EXPECT_EQ(o.check_port, 8081);
  EXPECT_EQ(o.check_addr, "10.0.0.9");
  EXPECT_EQ(o.cookie, "c1");
  EXPECT_EQ(o.observe, "layer7");
  EXPECT_EQ(o.on_error, "mark-down");
  EXPECT_EQ(o.error_limit, 4);
  config::Server d;
  EXPECT_EQ(parse_server_options("", d), "");
  EXPECT_FALSE(d.check);
  EXPECT_EQ(d.weight, 1);
  EXPECT_NE(parse_server_options("inter", d), "");
  EXPECT_NE(parse_server_options("inter 0", d), "");
}

TEST(MembershipSettings, JoinBackoffDoublesUpToRetryInterval) {
  MembershipSettings s;
  s.retry_interval = std::chrono::seconds(10);
  EXPECT_EQ(join_backoff(s, 0), std::chrono::seconds(1));
  EXPECT_EQ(join_backoff(s, 1), std::chrono::seconds(2));
  EXPECT_EQ(join_backoff(s, 3), std::chrono::seconds(8));
  EXPECT_EQ(join_backoff(s, 4), std::chrono::seconds(10));
  EXPECT_EQ(join_backoff(s, 1000), std::chrono::seconds(10));
  s.retry_interval = std::chrono::milliseconds(300);
  EXPECT_EQ(join_backoff(s, 0), std::chrono::milliseconds(300));
}

TEST(MembershipSettings, SplitHostPort) {
  std::string h;
  uint16_t p = 0;
  ASSERT_TRUE(split_host_port("[::1]:7373", 1, h, p));
  EXPECT_EQ(h, "::1");
  EXPECT_EQ(p, 7373);
  ASSERT_TRUE(split_host_port("fd00::1", 7946, h, p));
  EXPECT_EQ(h, "fd00::1");
  EXPECT_EQ(p, 7946);
  ASSERT_TRUE(split_host_port("s1", 7946, h, p));
  EXPECT_EQ(p, 7946);
  EXPECT_FALSE(split_host_port("s1:", 7946, h, p));
  EXPECT_FALSE(split_host_port(":80", 7946, h, p));
  EXPECT_FALSE(split_host_port("s1:0", 7946, h, p));
}

}  // namespace
}  // namespace herd::membership
