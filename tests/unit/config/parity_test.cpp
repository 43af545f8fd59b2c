// Runs the real `haproxy -c` (when installed) and herd's parser on the same
// small configs and compares exit codes and diagnostics (pid aside).
#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "config/parser.h"

namespace herd::config {
namespace {

constexpr const char* kHeader =
    "defaults\n"
    "    mode http\n"
    "    timeout client 5s\n"
    "    timeout server 5s\n"
    "    timeout connect 5s\n"
    "frontend f\n"
    "    bind 127.0.0.1:23480\n"
    "    default_backend b\n"
    "backend b\n"
    "    server s0 127.0.0.1:1\n";

struct HaproxyRun {
  int rc = -1;
  std::string diags;  // stderr without NOTICE lines, pid replaced by 1
};

std::string replace_pid(const std::string& line) {
  size_t open = line.find('(');
  size_t close = line.find(')');
  if (line.empty() || line[0] != '[' || open == std::string::npos || close == std::string::npos)
    return line;
  return line.substr(0, open + 1) + "1" + line.substr(close);
}

HaproxyRun run_haproxy(const std::filesystem::path& dir) {
  std::string cmd = "cd '" + dir.string() + "' && /usr/sbin/haproxy -c -f t.cfg 2>&1 >/dev/null";
  HaproxyRun r;
  FILE* f = popen(cmd.c_str(), "r");
  std::array<char, 4096> buf{};
  std::string all;
  while (fgets(buf.data(), buf.size(), f) != nullptr) all += buf.data();
  int st = pclose(f);
  r.rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  size_t pos = 0;
  while (pos < all.size()) {
    size_t nl = all.find('\n', pos);
    std::string line = all.substr(pos, nl - pos);
    pos = nl == std::string::npos ? all.size() : nl + 1;
    if (line.rfind("[NOTICE]", 0) == 0) continue;
    r.diags += replace_pid(line) + "\n";
  }
  return r;
}

class Parity : public ::testing::TestWithParam<std::string> {};

TEST_P(Parity, SameDiagnosticsAsHaproxy) {
  if (access("/usr/sbin/haproxy", X_OK) != 0) GTEST_SKIP() << "haproxy not installed";
  auto dir = std::filesystem::temp_directory_path() /
             ("herd-parity-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  std::string text = GetParam();
  {
    std::ofstream(dir / "t.cfg") << text;
  }
  HaproxyRun want = run_haproxy(dir);
  std::filesystem::path old = std::filesystem::current_path();
  std::filesystem::current_path(dir);
  ParseOptions opts;
  opts.env = [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
  ParseResult r = parse_text(text, "t.cfg", opts);
  std::filesystem::current_path(old);
  std::filesystem::remove_all(dir);
  std::string got;
  for (const auto& d : r.diags)
    if (d.level != Diagnostic::Level::Notice) got += format_diagnostic(d, 1) + "\n";
  EXPECT_EQ(check_exit_code(r), want.rc) << text;
  EXPECT_EQ(got, want.diags) << text;
}

std::vector<std::string> backend_lines() {
  const char* lines[] = {
      "    server bad/name 127.0.0.1:80",
      "    server b@d 127.0.0.1:80 weight 300",
      "    server ok-n.a_m:e 127.0.0.1:80",
      "    server-template w/eb 3 127.0.0.1:80",
      "    balance random(3)",
      "    balance random(x)",
      "    balance random(0)",
      "    balance first",
      "    balance bogus",
      "    balance url_param",
      "    balance url_param id",
      "    balance url_param id foo",
      "    balance hdr(",
      "    balance hdr()",
      "    balance hdr(X-Key)",
      "    balance hdr(host) use_domain_only",
      "    balance hdr(host) domain",
      "    hash-type",
      "    hash-type bogus",
      "    hash-type avalanche",
      "    hash-type consistent",
      "    hash-type map-based djb2",
      "    hash-type consistent wt6 avalanche",
      "    hash-type consistent md5",
      "    hash-type map-based crc32 extra",
      "    server s1 1.2.3.4:80 slowstart 10s",
      "    server s1 1.2.3.4:80 slowstart 1500",
      "    server s1 1.2.3.4:80 slowstart 5x",
      "    server s1 1.2.3.4:80 slowstart 25d",
      "    default-server slowstart 3s\n    server s1 1.2.3.4:80",
      "    mode bogus",
      "    mode health",
      "    timeout foo 5s",
      "    contimeout 5s",
      "    clitimeout 5s",
      "    srvtimeout 5s",
      "    timeout server 25d",
      "    timeout server 2147483648",
      "    timeout server 3000000s",
      "    timeout server",
      "    timeout server 5S",
      "    timeout server 1.5s",
      "    timeout server -1",
      "    timeout server 5 s",
      "    timeout server 24d",
      "    timeout server 100us",
      "    timeout server 5sx",
      "    timeout client 5s",
      "    maxconn 10",
      "    retries",
      "    retries 2",
      "    retry-on",
      "    retry-on conn-failure",
      "    retry-on bogus",
      "    retry-on none conn-failure",
      "    retry-on none",
      "    retry-on all-retryable-errors",
      "    retry-on 503 504 empty-response junk-response response-timeout 0rtt-rejected",
      "    retry-on 401 403 404 408 425 500 501 502",
      "    retry-on 200",
      "    option bogus",
      "    option fowardfor",
      "    no option bogus",
      "    option redispatch 2",
      "    option httpchk A B C D",
      "    option httpchk GET /x HTTP/1.1",
      "    option forwardfor except",
      "    option forwardfor header",
      "    option forwardfor foo",
      "    option forwardfor except 127.0.0.0/8 header X-Real-IP if-none",
      "    option allbackups x",
      "    option httpclose\n    no option httpclose",
      "    bind :80",
      "    default_backend x",
      "    server",
      "    server s1",
      "    server s1 127.0.0.1:99999",
      "    server s1 127.0.0.1:abc",
      "    server s1 nonexistent-host.invalid:80",
      "    server s1 1.2.3.4:80 weight 257",
      "    server s1 1.2.3.4:80 inter 0",
      "    server s1 1.2.3.4:80 inter x",
      "    server s1 1.2.3.4:80 rise 0",
      "    server s1 1.2.3.4:80 fall x",
      "    server s1 1.2.3.4:80 addr nonexistent-host.invalid",
      "    server s1 1.2.3.4:80 observe foo",
      "    server s1 1.2.3.4:80 on-error foo",
      "    server s1 1.2.3.4:80 error-limit x",
      "    server s1 1.2.3.4:80 cookie",
      "    server s1 1.2.3.4:80 bogus",
      "    server s1 1.2.3.4:80 wieght 3",
      "    server s1 [::1]:80",
      "    server s1 localhost:80 check inter 3s fastinter 1s downinter 5s rise 1 fall 2",
      "    server s1 :80 backup disabled maxconn 3 maxqueue 4 port 81 addr 127.0.0.2 cookie c",
      "    server s1 1.2.3.4:80 observe layer7 error-limit 3 on-error mark-down",
      "    server s1 1.2.3.4:80 check\n    server s2 1.2.3.4:80\n    server s1 1.2.3.4:80",
      "    cookie",
      "    cookie X bogus",
      "    cookie X insert rewrite",
      "    cookie X domain",
      "    cookie SERVERID insert indirect nocache httponly secure domain .a.com",
      "    http-check expect",
      "    http-check expect bogus x",
      "    http-check expect status",
      "    http-check expect ! string x",
      "    http-check bogus",
      "    http-check send meth",
      "    http-check send bogus",
      "    http-check send hdr X",
      "    option httpchk\n    http-check send meth GET uri /h ver HTTP/1.1 hdr Host a",
      "    option httpchk\n    http-check expect rstatus ^2",
      "    http-check disable-on-404",
      "    server-template",
      "    server-template w 3",
      "    server-template w x 1.2.3.4:80",
      "    server-template w 0 1.2.3.4:80",
      "    server-template w 3-1 1.2.3.4:80",
      "    server-template w 2-3 1.2.3.4:80 check",
      "    default-server bogus",
      "    default-server chek",
      "    default-server weight 300",
      "    default-server inter 3s rise 3 fall 2 weight 2",
      "backend b",
      "frontend f",
      "frontend",
      "backend x from nope",
      "defaults x from nope",
      "frontend a@b",
      "global x",
      "listen l\n    bind :23489\n    balance leastconn",
      "listen l\n    bind :23489\n    mode http\n    server s1 1.2.3.4:80",
      "    foosection x",
      "    optoin httplog",
      "    stats enable\n    stats uri /st\n    stats refresh 5s\n    stats auth a:b",
      "    stats bogus",
      "    stats uri",
      "    stats refresh x",
      "    stats admin",
      "    stats realm",
      "    errorfile 503 /nonexistent",
      "    errorfile 999 /etc/hostname",
      "    errorfile 503",
      "    errorfile 503 /etc/hostname",
      "    log global",
      "    log 127.0.0.1 local0 info",
      "    log 127.0.0.1",
      "    log 127.0.0.1 bogus",
      "    log 127.0.0.1 local0 bogus",
      "    log 127.0.0.1 local0 info bogus",
      "    log 127.0.0.1 local0 info err x",
      "    log 127.0.0.1 len x local0",
      "    log 127.0.0.1 format bogus local0",
      "    log stdout format raw local0 info",
      "    http-request set-header X %[src]",
  };
  std::vector<std::string> out;
  for (const char* l : lines) out.push_back(std::string(kHeader) + l + "\n");
  return out;
}

std::vector<std::string> frontend_lines() {
  const char* lines[] = {
      "    server s1 127.0.0.1:1",
      "    balance leastconn",
      "    option httpchk",
      "    cookie X insert",
      "    fullconn 10",
      "    retries 2",
      "    default-server inter 3s",
      "    option forwardfor",
      "    option redispatch",
      "    maxconn 10 20",
      "    maxconn",
      "    bind",
      "    bind 1.2.3.4",
      "    bind :99999",
      "    bind :abc",
      "    bind nonexistent-host.invalid:80",
      "    bind *:80 foo",
      "    bind *:80 name x",
      "    bind ipv4@:23490",
      "    bind :::23491",
      "    bind [::]:23492",
      "    bind 127.0.0.1:23493,127.0.0.1:23494",
      "    bind 127.0.0.1:23495-23497",
      "    acl a",
      "    acl a bogus x",
      "    acl a path_beg",
      "    acl a! path_beg /",
      "    acl a src 1.2.3.300",
      "    acl a path_beg /a /b\n    acl b hdr(host) -i x.com\n    use_backend b if a b or !a",
      "    use_backend",
      "    use_backend b unless",
      "    use_backend b foo",
      "    use_backend nope",
      "    use_backend b if { path_beg /x } or !{ src 1.2.3.4 }",
      "    use_backend b if { path_beg /x",
      "    use_backend b if { bogus /x }",
      "    use_backend b if x",
      "    http-request",
      "    http-request bogus",
      "    http-request set-hdr X y",
      "    http-request set-header",
      "    http-request set-header X",
      "    http-request set-header X %[bogus]",
      "    http-request set-header X %[src",
      "    http-request set-header X 100%",
      "    http-request set-header X \"\"",
      "    http-request del-header",
      "    http-request del-header X Y",
      "    http-request set-header X Y Z",
      "    http-request set-header X Y if nope",
      "    http-request add-header X %[src]:%[src_port] if { src 1.2.3.4 }",
      "    http-request deny if { bogus x }",
      "    http-request deny\n    http-request set-header X y",
      "    option httplog x",
      "    option httplog\n    option dontlognull\n    option http-server-close",
      "    option dontlognull x",
      "    option splice-auto\n    option splice-request\n    no option splice-response",
      "    option splice-response x",
      "    no option splice-auto x",
      "    option http-keep-alive x",
      "    stats admin foo",
      "    stats admin if nope",
      "    timeout client 0",
      "    timeout http-request 1s\n    timeout http-keep-alive 2s",
  };
  std::vector<std::string> out;
  for (const char* l : lines)
    out.push_back(std::string(kHeader) + "frontend f2\n    bind 127.0.0.1:23488\n" + l + "\n");
  return out;
}

std::vector<std::string> global_lines() {
  const char* lines[] = {
      "    bogus",
      "    maxconn",
      "    maxconn 100",
      "    nbthread 0",
      "    nbthread x",
      "    nbthread 4",
      "    hard-stop-after",
      "    hard-stop-after 8s",
      "    hard-stop-after 5x",
      "    hard-stop-after abc",
      "    hard-stop-after 99999999999",
      "    close-spread-time",
      "    close-spread-time 5s",
      "    close-spread-time 5x",
      "    close-spread-time 5sx",
      "    close-spread-time 30d",
      "    close-spread-time infinite",
      "    close-spread-time 0",
      "    maxpipes",
      "    maxpipes 10",
      "    maxpipes x",
      "    maxpipes 10 11",
      "    tune.pipesize",
      "    tune.pipesize 131072",
      "    tune.pipesize 1 2",
      "    tune.maxpipes 5",
      "    tune.maxaccept",
      "    tune.maxaccept 500",
      "    tune.maxaccept -1",
      "    tune.maxaccept x",
      "    tune.maxaccept 5 6",
      "    tune.maxaccept 5\n    tune.maxaccept 6",
      "    master-worker",
      "    master-worker no-exit-on-failure",
      "    master-worker foo",
      "    daemon x",
      "    daemon",
      "    pidfile",
      "    pidfile /tmp/x.pid",
      "    node",
      "    node a.b-c_d",
      "    stats socket",
      "    stats socket /tmp/x.sock level foo",
      "    stats socket /tmp/x.sock mode",
      "    stats socket /tmp/x.sock bogus",
      "    stats socket /tmp/x.sock mode 600 level admin",
      "    stats socket ipv4@127.0.0.1:9999 level user",
      "    stats socket /tmp/x.sock level admin expose-fd listeners",
      "    stats socket /tmp/x.sock expose-fd foo",
      "    stats timeout x",
      "    stats timeout 30s",
      "    stats bogus",
      "    log",
      "    log 127.0.0.1 local1 notice",
      "    log global",
      "    log nonexistent-host.invalid local0",
      "    timeout client 5s",
      "    nbproc 2",
  };
  std::vector<std::string> out;
  for (const char* l : lines) out.push_back(std::string("global\n") + l + "\n" + kHeader);
  return out;
}

std::vector<std::string> whole_configs() {
  return {
      "",
      "global\n    daemon\n",
      "backend b\n    server s1 1.2.3.4:80\n",
      "frontend b\n    bind :23480\n",
      "frontend f\n    mode http\n    timeout client 5s\n    bind :23480\n",
      "backend b\n    mode http\n    timeout connect 5s\n",
      "listen b\n    mode http\n    bind :23480\n  timeout connect 5s\n  timeout server 5s\n",
      "defaults a\ndefaults a\n",
      "defaults web\n    mode http\n    balance leastconn\n    option forwardfor\n"
      "defaults\n    timeout client 1s\n    timeout connect 1s\n    timeout server 1s\n"
      "backend b_named from web\n    server s 1.2.3.4:80\n"
      "defaults child from web\n    balance source\n"
      "frontend f\n    bind :23480\n    default_backend b_named\n",
      "bind :80\n",
      "defaults\n    bind :80\n",
      "defaults\n    server s1 1.2.3.4:80\n",
      "defaults\n    use_backend b\n",
      "defaults\n    acl x path /\n",
      "defaults\n    http-request set-header a b\n",
      "defaults\n    default_backend b\n    stats enable\n    cookie X insert\n"
      "    default-server inter 3s\n",
      // resolvers sections and the server options that use them.
      std::string("resolvers r\n    nameserver a 127.0.0.1:53\n    hold valid 5s\n"
                  "    timeout retry 2s\n    accepted_payload_size 8192\n") +
          kHeader +
          "    server s1 app.invalid:80 resolvers r resolve-prefer ipv4\n"
          "    server s2 app.invalid:80 resolvers r init-addr none\n"
          "    server s3 app.invalid:80 resolvers r init-addr libc,10.0.0.1\n"
          "    server s4 127.0.0.1:80 resolvers r init-addr last,libc,none\n",
      std::string("resolvers r\n") + kHeader + "    server s1 app.invalid:80 resolvers r\n",
      std::string("resolvers r\n    nameserver a 127.0.0.1\n    foo\n    hold bar 1s\n"
                  "    hold nx 5x\n    timeout x\n    timeout retry\n    resolve_retries\n"
                  "    accepted_payload_size 70000\n") +
          kHeader,
      std::string("resolvers r\n    nameserver a 127.0.0.1:53\n") + kHeader +
          "    server s1 127.0.0.1:80 resolvers nope\n",
      std::string(kHeader) + "    server s1 127.0.0.1:80 resolve-prefer ipv5\n",
      std::string(kHeader) + "    server s1 127.0.0.1:80 init-addr libc,foo\n",
      std::string(kHeader) + "    server s1 app.invalid:80 init-addr last,libc\n",
      std::string(kHeader) + "    option tcpka\n    option clitcpka\n    no option srvtcpka\n",
      std::string(kHeader) + "    no option tcpka\n",
      std::string(kHeader) +
          "    http-request deny if { env(HOME) -m str x } || { env(X) -m found }\n"
          "    http-request set-header x %[env(HOME)]\n",
  };
}

INSTANTIATE_TEST_SUITE_P(Backend, Parity, ::testing::ValuesIn(backend_lines()));
INSTANTIATE_TEST_SUITE_P(Frontend, Parity, ::testing::ValuesIn(frontend_lines()));
INSTANTIATE_TEST_SUITE_P(Global, Parity, ::testing::ValuesIn(global_lines()));
INSTANTIATE_TEST_SUITE_P(Whole, Parity, ::testing::ValuesIn(whole_configs()));

}  // namespace
}  // namespace herd::config
