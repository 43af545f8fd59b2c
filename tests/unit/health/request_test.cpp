// Health-check request bytes for every form in
// tests/data/haproxy-captures/healthcheck-requests.txt (parsed from real config lines)
// and response evaluation (docs/health.md).
#include <gtest/gtest.h>

#include "config/parser.h"
#include "health/check_request.h"

namespace herd::health {
namespace {

config::HttpCheck parse_check(const std::string& lines) {
  std::string text =
      "defaults\n  mode http\n  timeout connect 1s\n  timeout client 1s\n  timeout server 1s\n"
      "backend b\n" +
      lines + "  server s1 127.0.0.1:8080 check\n";
  config::ParseOptions opts;
  opts.resolve_hostnames = false;
  auto r = config::parse_text(text, "t.cfg", opts);
  EXPECT_FALSE(r.fatal) << text;
  const config::Proxy* b = r.config.find_backend("b");
  EXPECT_NE(b, nullptr);
  return b ? b->httpchk : config::HttpCheck{};
}

std::string request_for(const std::string& lines) {
  return build_check_request(parse_check(lines));
}

TEST(CheckRequest, OptionHttpchkNoArgs) {
  EXPECT_EQ(request_for("  option httpchk\n"), "OPTIONS / HTTP/1.0\r\n\r\n");
}

TEST(CheckRequest, HeadSlash) {
  EXPECT_EQ(request_for("  option httpchk HEAD /\n"), "HEAD / HTTP/1.0\r\n\r\n");
}

TEST(CheckRequest, Http11AddsConnectionClose) {
  EXPECT_EQ(request_for("  option httpchk HEAD / HTTP/1.1\n"),
            "HEAD / HTTP/1.1\r\nconnection: close\r\n\r\n");
}

TEST(CheckRequest, LegacyVersionStringWithHeader) {
  EXPECT_EQ(request_for(R"(  option httpchk HEAD / "HTTP/1.1\r\nHost:\ www.example.com")"
                        "\n"),
            "HEAD / HTTP/1.1\r\nhost: www.example.com\r\nconnection: close\r\n\r\n");
}

TEST(CheckRequest, HttpCheckSend) {
  EXPECT_EQ(request_for("  option httpchk\n"
                        "  http-check send meth GET uri /health ver HTTP/1.1 hdr Host "
                        "example.com hdr X-Probe 1\n"
                        "  http-check expect status 200\n"),
            "GET /health HTTP/1.1\r\nhost: example.com\r\nx-probe: 1\r\nconnection: close\r\n\r\n");
}

TEST(CheckRequest, OptionUriWithQueryPlusSendHdr) {
  EXPECT_EQ(request_for("  option httpchk GET /health?x=1 HTTP/1.1\n"
                        "  http-check send hdr Host app.local\n"),
            "GET /health?x=1 HTTP/1.1\r\nhost: app.local\r\nconnection: close\r\n\r\n");
}

TEST(CheckRequest, BodyAddsContentLength) {
  EXPECT_EQ(request_for("  option httpchk POST /p HTTP/1.1\n"
                        "  http-check send hdr Host h body \"hello\"\n"),
            "POST /p HTTP/1.1\r\nhost: h\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello");
}

// ---------------------------------------------------------------------------

CheckResult eval(const config::HttpCheck& hc, const std::string& resp) {
  return evaluate_response(hc, resp);
}
std::string status_line(int code, const std::string& reason) {
  return "HTTP/1.1 " + std::to_string(code) + " " + reason + "\r\ncontent-length: 0\r\n\r\n";
}

TEST(CheckResponse, DefaultPassesOnly2xx3xx) {
  config::HttpCheck hc = parse_check("  option httpchk HEAD /\n");
  for (int code : {200, 204, 301, 302, 399}) {
    auto r = eval(hc, status_line(code, "X"));
    EXPECT_EQ(r.outcome, CheckResult::Outcome::Pass) << code;
    EXPECT_EQ(r.status, CheckStatus::L7Ok) << code;
    EXPECT_EQ(r.code, code);
  }
  for (int code : {101, 400, 404, 500, 503}) {
    auto r = eval(hc, status_line(code, "Bad"));
    EXPECT_EQ(r.outcome, CheckResult::Outcome::Fail) << code;
    EXPECT_EQ(r.status, CheckStatus::L7Sts) << code;
    EXPECT_EQ(r.code, code);
    EXPECT_EQ(r.info, "Bad");
  }
}

TEST(CheckResponse, ExpectStatus) {
  auto hc = parse_check("  option httpchk\n  http-check expect status 404\n");
  EXPECT_EQ(eval(hc, status_line(404, "Not Found")).status, CheckStatus::L7Ok);
  auto r = eval(hc, status_line(200, "OK"));
  EXPECT_EQ(r.status, CheckStatus::L7Sts);
  EXPECT_EQ(r.info, "OK");
  // Observed: explicit `expect status 200` and a 503 keep the reason as info.
  auto hc200 = parse_check("  option httpchk\n  http-check expect status 200\n");
  r = eval(hc200, status_line(503, "Service Unavailable"));
  EXPECT_EQ(r.status, CheckStatus::L7Sts);
  EXPECT_EQ(r.code, 503);
  EXPECT_EQ(r.info, "Service Unavailable");
}

TEST(CheckResponse, NegatedStatus) {
  auto hc = parse_check("  option httpchk\n  http-check expect ! status 200\n");
  auto r = eval(hc, status_line(200, "OK"));
  EXPECT_EQ(r.status, CheckStatus::L7Sts);
  EXPECT_EQ(r.info, "OK");
  EXPECT_EQ(eval(hc, status_line(500, "x")).status, CheckStatus::L7Ok);
}

TEST(CheckResponse, StatusLists) {
  EXPECT_TRUE(status_matches_list("200-399", 302));
  EXPECT_TRUE(status_matches_list("200,204", 204));
  EXPECT_FALSE(status_matches_list("200,204", 201));
  EXPECT_FALSE(status_matches_list("200-299", 300));
}

TEST(CheckResponse, RStatus) {
  auto hc = parse_check("  option httpchk\n  http-check expect rstatus ^2\n");
  EXPECT_EQ(eval(hc, status_line(204, "x")).status, CheckStatus::L7Ok);
  EXPECT_EQ(eval(hc, status_line(503, "Service Unavailable")).status, CheckStatus::L7Sts);
}

TEST(CheckResponse, StringAndRString) {
  auto hc = parse_check("  option httpchk\n  http-check expect string foo\n");
  const std::string bar = "HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nbar";
  const std::string foo = "HTTP/1.1 200 OK\r\ncontent-length: 7\r\n\r\nxxfooxx";
  auto r = eval(hc, bar);
  EXPECT_EQ(r.status, CheckStatus::L7Rsp);
  EXPECT_EQ(r.info, "HTTP content check did not match");
  EXPECT_EQ(eval(hc, foo).status, CheckStatus::L7Ok);
  auto rx = parse_check("  option httpchk\n  http-check expect rstring f.o\n");
  EXPECT_EQ(eval(rx, bar).status, CheckStatus::L7Rsp);
  EXPECT_EQ(eval(rx, foo).status, CheckStatus::L7Ok);
  auto neg = parse_check("  option httpchk\n  http-check expect ! string foo\n");
  EXPECT_EQ(eval(neg, bar).status, CheckStatus::L7Ok);
}

TEST(CheckResponse, DisableOn404) {
  auto hc = parse_check("  option httpchk\n  http-check disable-on-404\n");
  auto r = eval(hc, status_line(404, "Not Found"));
  EXPECT_EQ(r.outcome, CheckResult::Outcome::CondPass);
  EXPECT_EQ(r.status, CheckStatus::L7OkC);
  EXPECT_EQ(r.code, 404);
}

TEST(CheckResponse, GarbageAndEmptyAreInvalid) {
  config::HttpCheck hc = parse_check("  option httpchk\n");
  auto r = eval(hc, "garbage\r\n\r\n");
  EXPECT_EQ(r.status, CheckStatus::L7Rsp);
  EXPECT_EQ(r.info, "");
  EXPECT_EQ(eval(hc, "").status, CheckStatus::L7Rsp);
  EXPECT_EQ(eval(hc, "HTTP/1.1 200 OK\r\n").status, CheckStatus::L7Rsp);  // head cut short
}

TEST(CheckResponse, Completeness) {
  config::HttpCheck hc = parse_check("  option httpchk\n");
  EXPECT_FALSE(response_complete(hc, "HTTP/1.1 200 OK\r\n"));
  EXPECT_TRUE(response_complete(hc, "HTTP/1.1 200 OK\r\n\r\n"));
  EXPECT_TRUE(response_complete(hc, "garbage"));
  auto str = parse_check("  option httpchk\n  http-check expect string foo\n");
  EXPECT_FALSE(response_complete(str, "HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nfo"));
  EXPECT_TRUE(response_complete(str, "HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nfoo"));
  EXPECT_FALSE(response_complete(str, "HTTP/1.1 200 OK\r\n\r\nfoo"));  // until close
}

TEST(CheckStatusNames, MatchHaproxy) {
  EXPECT_EQ(status_name(CheckStatus::L7OkC), "L7OKC");
  EXPECT_EQ(status_desc(CheckStatus::L4Con), "Layer4 connection problem");
  EXPECT_EQ(status_desc(CheckStatus::L7Tout), "Layer7 timeout");
  EXPECT_EQ(status_desc(CheckStatus::L7OkC), "Layer7 check conditionally passed");
  EXPECT_EQ(static_cast<int>(CheckStatus::L7Sts), 17);
}

}  // namespace
}  // namespace herd::health
