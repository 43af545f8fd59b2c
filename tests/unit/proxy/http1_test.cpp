// Unit tests for proxy/http1.h: request/response heads and chunked framing.
#include "proxy/http1.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "proxy/responses.h"
#include "proxy/rules.h"

using namespace herd::proxy;
using http1::Status;

namespace {

Status req(const std::string& s, http1::Head& h) {
  return http1::parse_request(s.data(), s.size(), h);
}
Status resp(const std::string& s, http1::Head& h) {
  return http1::parse_response(s.data(), s.size(), h);
}

}  // namespace

TEST(Http1Request, ParsesLineHeadersAndFraming) {
  http1::Head h;
  std::string s =
      "POST /a?b=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: Keep-Alive\r\n\r\nhello";
  ASSERT_EQ(req(s, h), Status::Complete);
  EXPECT_EQ(h.method, "POST");
  EXPECT_EQ(h.target, "/a?b=1");
  EXPECT_EQ(h.version, 11);
  EXPECT_EQ(h.nfields, 3u);
  EXPECT_EQ(h.name(s.data(), 0), "Host");
  EXPECT_EQ(h.value(s.data(), 0), "x");
  EXPECT_EQ(h.content_length, 5);
  EXPECT_TRUE(h.conn_keep_alive);
  EXPECT_EQ(h.head_len, s.size() - 5);
}

TEST(Http1Request, IncompleteUntilEmptyLine) {
  http1::Head h;
  EXPECT_EQ(req("GET / HTTP/1.1\r\nHost: x\r\n", h), Status::Incomplete);
  EXPECT_EQ(req("GET / HTT", h), Status::Incomplete);
  EXPECT_EQ(req("GET / HTTP/1.0\n\n", h), Status::Complete);  // bare LF tolerated
  EXPECT_EQ(h.version, 10);
}

TEST(Http1Request, RejectsMalformedAndSmuggling) {
  http1::Head h;
  for (const char* bad : {
           "GARBAGE\r\n\r\n",
           "GET / HTTP/1.1 \r\n\r\n",
           "GET / HTTP/1\r\n\r\n",
           "GET / http/1.1\r\n\r\n",
           "GET /\r\n\r\n",
           "GET /a#b HTTP/1.1\r\n\r\n",
           "GET /\xff HTTP/1.1\r\n\r\n",
           "GET /\x7f HTTP/1.1\r\n\r\n",
           "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
           "GET a/b HTTP/1.1\r\n\r\n",
           "GET / HTTP/1.1\rHost: a\r",
           "POST / HTTP/1.1\r\nTransfer-Encoding: , chunked\r\n\r\n",
           "POST / HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
           "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
           "POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
           "G@T / HTTP/1.1\r\n\r\n",
           "GET / HTTP/1.1\r\nBad Name: x\r\n\r\n",
           "GET / HTTP/1.1\r\nName : x\r\n\r\n",
           "GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n",
           "GET / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
           "GET / HTTP/1.1\r\nContent-Length: 1,2\r\n\r\n",
           "GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
           "GET / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n",
           "GET / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
           "GET / HTTP/1.1\r\nX: a\x01b\r\n\r\n",
           "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
           "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
           "GET http://x/ HTTP/1.1\r\nHost: y\r\n\r\n",
       }) {
    EXPECT_EQ(req(bad, h), Status::Error) << bad;
  }
}

TEST(Http1Request, RequestLineAsHAProxyTakesIt) {
  http1::Head h;
  // Several blanks (spaces, tabs) between the parts.
  const std::string two_blanks = "GET  /a\t HTTP/1.1\r\n\r\n";  // the head points into it
  ASSERT_EQ(req(two_blanks, h), Status::Complete);
  EXPECT_EQ(h.method, "GET");
  EXPECT_EQ(h.target, "/a");
  // 1.1 and above are HTTP/1.1; below, HTTP/1.0-like, sent on as received.
  ASSERT_EQ(req("GET / HTTP/1.2\r\n\r\n", h), Status::Complete);
  EXPECT_EQ(h.version, 11);
  ASSERT_EQ(req("GET / HTTP/2.0\r\n\r\n", h), Status::Complete);
  EXPECT_EQ(h.version, 11);
  const std::string old_version = "GET / HTTP/0.9\r\n\r\n";
  ASSERT_EQ(req(old_version, h), Status::Complete);
  EXPECT_EQ(h.version, 10);
  EXPECT_EQ(h.version_str, "HTTP/0.9");
  // `option accept-invalid-http-request` lets a fragment and raw bytes through.
  auto relaxed = [&](const char* s, bool accept) {
    return http1::parse_request(s, std::strlen(s), h, accept);
  };
  EXPECT_EQ(relaxed("GET /a#b\xff HTTP/1.1\r\n\r\n", true), Status::Complete);
  EXPECT_EQ(relaxed("GET / HTTP/1.1\r\nX[y]: 1\r\n\r\n", true), Status::Complete);
  EXPECT_EQ(relaxed("GET / HTTP/1.1\r\nX[y]: 1\r\n\r\n", false), Status::Error);
}

TEST(Http1Request, TransferCodingsOtherThanChunkedAre422) {
  http1::Head h;
  ASSERT_EQ(req("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", h), Status::Error);
  EXPECT_EQ(h.error_status, 422);
  ASSERT_EQ(req("POST / HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", h),
            Status::Error);
  EXPECT_EQ(h.error_status, 400);
  ASSERT_EQ(req("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", h), Status::Complete);
  EXPECT_FALSE(h.te_and_cl);
  ASSERT_EQ(req("POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", h),
            Status::Complete);
  EXPECT_TRUE(h.te_and_cl);
}

TEST(Http1Request, WebSocketHandshakeNeedsItsKey) {
  // haproxy 2.6: Connection: upgrade + Upgrade: websocket without a body
  // needs a Sec-WebSocket-Key of 24 characters (400 otherwise).
  const std::string ws =
      "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n";
  http1::Head h;
  EXPECT_EQ(req(ws + "\r\n", h), Status::Error);
  EXPECT_EQ(h.error_status, 400);
  EXPECT_EQ(req(ws + "Sec-WebSocket-Key: abcd\r\n\r\n", h), Status::Error);
  ASSERT_EQ(req(ws + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", h), Status::Complete);
  EXPECT_TRUE(h.upgrade && h.upgrade_websocket && h.websocket_key);
  // Not a handshake: a body, no Connection: upgrade, or another protocol.
  EXPECT_EQ(req(ws + "Content-Length: 3\r\n\r\nabc", h), Status::Complete);
  EXPECT_EQ(req("GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n", h), Status::Complete);
  EXPECT_EQ(req("GET / HTTP/1.1\r\nConnection: upgrade\r\nUpgrade: foo\r\n\r\n", h),
            Status::Complete);
}

TEST(Http1Response, UnknownTransferCodingsAreErrors) {
  http1::Head h;
  EXPECT_EQ(resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", h), Status::Error);
  EXPECT_EQ(resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", h), Status::Error);
  ASSERT_EQ(resp("HTTP/1.1 101 Switching\r\nConnection: upgrade\r\nUpgrade: websocket\r\n"
                 "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
                 h),
            Status::Complete);
  EXPECT_TRUE(h.upgrade && h.upgrade_websocket && h.websocket_accept);
}

TEST(Http1Request, AgreeingHostsAreAccepted) {
  http1::Head h;
  EXPECT_EQ(req("GET / HTTP/1.1\r\nHost: a\r\nhost: A\r\n\r\n", h), Status::Complete);
  EXPECT_EQ(req("GET http://a:80/x HTTP/1.1\r\nHost: a:80\r\n\r\n", h), Status::Complete);
  EXPECT_EQ(req("GET http://a/x HTTP/1.1\r\n\r\n", h), Status::Complete);
}

TEST(Http1Request, TransferEncodingWinsOverContentLength) {
  http1::Head h;
  ASSERT_EQ(req("POST / HTTP/1.1\r\nContent-Length: 10\r\nTransfer-Encoding: chunked\r\n\r\n", h),
            Status::Complete);
  EXPECT_TRUE(h.chunked);
  EXPECT_EQ(h.content_length, -1);
  ASSERT_EQ(req("POST / HTTP/1.1\r\nContent-Length: 4, 4\r\n\r\n", h), Status::Complete);
  EXPECT_EQ(h.content_length, 4);
}

TEST(Http1Request, TooManyHeadersIsAnError) {
  std::string s = "GET / HTTP/1.1\r\n";
  for (int i = 0; i < 101; ++i) s += "X-" + std::to_string(i) + ": v\r\n";
  s += "\r\n";
  http1::Head h;
  EXPECT_EQ(req(s, h), Status::Error);
}

TEST(Http1Response, StatusLineAndBodyRules) {
  http1::Head h;
  ASSERT_EQ(resp("HTTP/1.1 204 No Content\r\n\r\n", h), Status::Complete);
  EXPECT_EQ(h.status, 204);
  EXPECT_FALSE(http1::response_has_body("GET", 204));
  EXPECT_FALSE(http1::response_has_body("HEAD", 200));
  EXPECT_FALSE(http1::response_has_body("GET", 304));
  EXPECT_TRUE(http1::response_has_body("GET", 200));
  ASSERT_EQ(resp("HTTP/1.0 200\r\n\r\n", h), Status::Complete);  // empty reason
  EXPECT_EQ(h.reason, "");
  EXPECT_EQ(resp("this is not http\r\n\r\n", h), Status::Error);
  EXPECT_EQ(resp("HTTP/1.1 2x0 OK\r\n\r\n", h), Status::Error);
}

TEST(Http1Response, AcceptInvalidLetsOddHeaderNamesThrough) {
  const std::string odd = "HTTP/1.1 200 OK\r\nX[y]: 1\r\nContent-Length: 0\r\n\r\n";
  http1::Head h;
  EXPECT_EQ(http1::parse_response(odd.data(), odd.size(), h), Status::Error);
  EXPECT_EQ(http1::parse_response(odd.data(), odd.size(), h, true), Status::Complete);
  EXPECT_EQ(h.content_length, 0);
}

TEST(ChunkedScanner, FindsTheEndAcrossSplits) {
  std::string body = "5\r\nhello\r\n1;ext=1\r\n!\r\n0\r\nTrailer: x\r\n\r\nNEXT";
  for (size_t split = 0; split <= body.size(); ++split) {
    http1::ChunkedScanner sc;
    size_t used = 0;
    auto r = sc.feed(body.data(), split, used);
    size_t total = used;
    if (r != http1::ChunkedScanner::Result::Done) {
      ASSERT_EQ(r, http1::ChunkedScanner::Result::NeedMore) << split;
      r = sc.feed(body.data() + split, body.size() - split, used);
      total += used;
    }
    ASSERT_EQ(r, http1::ChunkedScanner::Result::Done) << split;
    EXPECT_EQ(total, body.size() - 4) << split;
  }
}

// What a server behind herd receives: canonical size lines (upper-case hex,
// as haproxy), no extensions, CRLF everywhere, trailers with lower-case
// names; the same whatever the split points of the input.
TEST(ChunkedScanner, ReframesCanonically) {
  struct Case {
    std::string in, want;
  };
  for (const auto& c : std::vector<Case>{
           {"3;ext=1\r\nabc\r\n0\r\nX-T: 1\r\n\r\n", "3\r\nabc\r\n0\r\nx-t: 1\r\n\r\n"},
           {"00000000000000000003  \r\nabc\n0\n\n", "3\r\nabc\r\n0\r\n\r\n"},
           {"1f\r\n" + std::string(31, 'a') + "\r\n0\r\n\r\n",
            "1F\r\n" + std::string(31, 'a') + "\r\n0\r\n\r\n"},
           {"0\r\n\r\n", "0\r\n\r\n"},
           {"2 ; a=\"x\"\nhi\r\n0;z\r\nA: 1\nB:2\r\n\r\n", "2\r\nhi\r\n0\r\na: 1\r\nb: 2\r\n\r\n"},
       }) {
    for (size_t split = 0; split <= c.in.size(); ++split) {
      http1::ChunkedScanner sc;
      std::string out;
      size_t used = 0;
      auto r = sc.feed(c.in.data(), split, used, &out);
      size_t total = used;
      if (r != http1::ChunkedScanner::Result::Done) {
        ASSERT_EQ(r, http1::ChunkedScanner::Result::NeedMore) << c.in << " @" << split;
        r = sc.feed(c.in.data() + split, c.in.size() - split, used, &out);
        total += used;
      }
      ASSERT_EQ(r, http1::ChunkedScanner::Result::Done) << c.in << " @" << split;
      EXPECT_EQ(total, c.in.size());
      // Data pieces split by the input's split points are re-chunked; the
      // decoded body and the framing rules are what must hold.
      if (split == 0 || split == c.in.size()) {
        EXPECT_EQ(out, c.want) << c.in;
      }
    }
  }
}

TEST(ChunkedScanner, RejectsBadFraming) {
  for (const char* bad :
       {"x\r\n", "5\r\nhelloX\r\n", "3 x\r\n", "100000000000000\r\n",
        "3\r\nabc\r\n0\r\nBad Trailer\r\n", "3\r\nabc\r\n0\r\n: empty\r\n", "3\rabc"}) {
    http1::ChunkedScanner sc;
    size_t used = 0;
    EXPECT_EQ(sc.feed(bad, std::strlen(bad), used), http1::ChunkedScanner::Result::Error) << bad;
  }
}

TEST(Responses, BuiltinPagesMatchHAProxyBytes) {
  std::string r503 = builtin_response(503, false, false);
  EXPECT_EQ(r503.substr(0, r503.find("\r\n\r\n")),
            "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 107\r\ncache-control: "
            "no-cache\r\ncontent-type: text/html");
  EXPECT_NE(builtin_response(503, true, false).find("connection: close\r\n\r\n"),
            std::string::npos);
  EXPECT_EQ(builtin_response(503, false, true).find("<html>"), std::string::npos);
  EXPECT_EQ(builtin_response(400, false, false).substr(0, 40),
            "HTTP/1.1 400 Bad request\r\nContent-length");
}

TEST(Rules, PathsCookiesNetworks) {
  EXPECT_EQ(request_path("/a/b?c=d"), "/a/b");
  EXPECT_EQ(request_path("http://h:80/x?y"), "/x");
  EXPECT_EQ(request_path("http://h"), "/");
  EXPECT_EQ(strip_cookie("a=1; SERVERID=s2; b=2", "SERVERID"), "a=1; b=2");
  EXPECT_EQ(strip_cookie("SERVERID=s2", "SERVERID"), "");
  EXPECT_TRUE(ip_in_network("127.0.0.1", "127.0.0.0/8"));
  EXPECT_FALSE(ip_in_network("10.0.0.1", "127.0.0.0/8"));
  EXPECT_TRUE(ip_in_network("::1", "::1"));
  EXPECT_FALSE(ip_in_network("::1", "127.0.0.1"));
}
