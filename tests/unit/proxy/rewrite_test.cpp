// Unit tests of the rewrite phases (proxy/rewrite.h) without sockets: the
// request head sent to a server and the response head sent to a client,
// from parsed heads and a parsed config.
#include "proxy/rewrite.h"

#include <gtest/gtest.h>

#include <string>

#include "config/parser.h"

namespace herd::proxy {
namespace {

config::ParseResult parse(const std::string& text) {
  config::ParseOptions o;
  o.resolve_hostnames = false;
  return config::parse_text(text, "t.cfg", o);
}

const config::Proxy& proxy(const config::ParseResult& r, const std::string& name) {
  for (const auto& p : r.config.proxies)
    if (p.name == name) return p;
  throw std::runtime_error("no proxy " + name);
}

struct Upstream {
  std::string out;
  bool server_close = false;
};

Upstream upstream(const std::string& request, const config::Proxy& fe, const config::Proxy& be) {
  http1::Head h;
  EXPECT_EQ(http1::parse_request(request.data(), request.size(), h), http1::Status::Complete);
  RequestView rv{request.data(), &h, "10.1.2.3", 40000, "127.0.0.1", 8080, nullptr};
  AddedFields added;
  Upstream u;
  u.server_close = build_upstream_head(
      u.out, added, {rv, fe, be, false, h.chunked ? -2 : h.content_length, h.method});
  return u;
}

const char* kCfg =
    "defaults\n mode http\n timeout client 1s\n timeout connect 1s\n timeout server 1s\n"
    "frontend fe\n bind 127.0.0.1:8080\n http-request set-header X-Port %[dst_port]\n"
    " default_backend be\n"
    "backend be\n option forwardfor\n http-request del-header X-Secret\n"
    " http-request add-header X-Who %[src]\n cookie SRV insert indirect nocache\n"
    " server s1 127.0.0.1:9000 cookie one\n"
    "backend closing\n option http-server-close\n server s1 127.0.0.1:9000\n";

// Connection loses close/keep-alive (haproxy 2.6 forwards Keep-Alive as it is).
TEST(RewriteUpstream, RulesForwardforHopByHopAndLowerCase) {
  auto r = parse(kCfg);
  ASSERT_FALSE(r.fatal);
  auto u = upstream(
      "GET /p?q HTTP/1.1\r\nHost: h\r\nX-Secret: s\r\nConnection: keep-alive, X-Opt\r\n"
      "Keep-Alive: 5\r\nCookie: SRV=one; a=b\r\nX-Port: 1\r\n\r\n",
      proxy(r, "fe"), proxy(r, "be"));
  EXPECT_FALSE(u.server_close);
  EXPECT_EQ(u.out,
            "GET /p?q HTTP/1.1\r\nhost: h\r\nconnection: X-Opt\r\nkeep-alive: 5\r\ncookie: a=b\r\n"
            "x-port: 8080\r\nx-who: 10.1.2.3\r\nx-forwarded-for: 10.1.2.3\r\n\r\n");
}

TEST(RewriteUpstream, ServerCloseAndHttp10KeepAlive) {
  auto r = parse(kCfg);
  auto c = upstream("GET / HTTP/1.1\r\nHost: h\r\n\r\n", proxy(r, "fe"), proxy(r, "closing"));
  EXPECT_TRUE(c.server_close);
  EXPECT_NE(c.out.find("connection: close\r\n\r\n"), std::string::npos);
  auto k = upstream("GET / HTTP/1.0\r\n\r\n", proxy(r, "fe"), proxy(r, "be"));
  EXPECT_EQ(k.out.substr(0, 16), "GET / HTTP/1.0\r\n");
  EXPECT_NE(k.out.find("connection: keep-alive\r\n\r\n"), std::string::npos);
}

TEST(RewriteUpstream, ContentLengthSentOnceNormalised) {
  auto r = parse(kCfg);
  auto u = upstream("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 3\r\n\r\nabc", proxy(r, "fe"),
                    proxy(r, "be"));
  EXPECT_NE(u.out.find("\r\ncontent-length: 3\r\n"), std::string::npos);
  EXPECT_EQ(u.out.find("3, 3"), std::string::npos);
}

std::string client_head(const std::string& response, const config::Proxy& be, bool keep,
                        bool cookie_valid, std::string_view method = "GET") {
  http1::Head h;
  EXPECT_EQ(http1::parse_response(response.data(), response.size(), h), http1::Status::Complete);
  std::string out;
  build_client_head(out,
                    {response.data(), h, be, h.chunked, keep, false, cookie_valid, "one", method});
  return out;
}

TEST(RewriteClient, CookieInsertNocacheAndConnection) {
  auto r = parse(kCfg);
  const auto& be = proxy(r, "be");
  std::string h = client_head(
      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\nETag: x\r\n\r\nok", be,
      false, false);
  EXPECT_EQ(h,
            "HTTP/1.1 200 OK\r\ncontent-length: 2\r\netag: x\r\n"
            "set-cookie: SRV=one; path=/\r\ncache-control: private\r\nconnection: close\r\n\r\n");
  // The request's cookie already named the server: nothing inserted.
  EXPECT_EQ(client_head("HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n", be, true, true),
            "HTTP/1.1 204 No Content\r\n\r\n");
}

TEST(RewriteClient, ResponseCacheable) {
  std::string resp = "HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\n\r\n";
  http1::Head h;
  ASSERT_EQ(http1::parse_response(resp.data(), resp.size(), h), http1::Status::Complete);
  EXPECT_TRUE(response_cacheable("GET", 200, resp.data(), h));
  EXPECT_FALSE(response_cacheable("POST", 200, resp.data(), h));
  EXPECT_FALSE(response_cacheable("GET", 302, resp.data(), h));
}

}  // namespace
}  // namespace herd::proxy
