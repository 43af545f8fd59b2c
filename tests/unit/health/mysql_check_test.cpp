// `option mysql-check` bytes and verdicts (health/mysql_check.h) and the
// `http-check send-state` header (health/check_request.h), as haproxy 2.6
// sends and decides them (bytes captured against a fake MySQL server).
#include "health/mysql_check.h"

#include <gtest/gtest.h>

#include "health/check_request.h"

namespace herd::health {
namespace {

std::string packet(int seq, const std::string& payload) {
  std::string out;
  out += static_cast<char>(payload.size() & 0xff);
  out += static_cast<char>((payload.size() >> 8) & 0xff);
  out += static_cast<char>((payload.size() >> 16) & 0xff);
  out += static_cast<char>(seq);
  return out + payload;
}

const std::string kGreeting = packet(0, std::string("\x0a"
                                                    "5.7.0\0",
                                                    7) +
                                            "salt");

TEST(MysqlCheck, LoginPackets) {
  config::MysqlCheck m;
  EXPECT_EQ(mysql_login_packet(m), "");  // no user: nothing sent
  m.user = "haproxy";
  m.post41 = true;
  EXPECT_EQ(mysql_login_packet(m), std::string(")\0\0\x01\0\x82\0\0\0\x80\0\x01!", 13) +
                                       std::string(23, '\0') +
                                       std::string("haproxy\0\0\x01\0\0\0\x01", 14));
  m.user = "ab";
  m.post41 = false;
  EXPECT_EQ(mysql_login_packet(m), std::string("\x09\0\0\x01\0\x80\0\0\x01"
                                               "ab\0\0\x01\0\0\0\x01",
                                               18));
}

TEST(MysqlCheck, GreetingOnly) {
  config::MysqlCheck m;
  EXPECT_EQ(mysql_step(m, kGreeting.substr(0, 6), false, false).kind, MysqlStep::Kind::Wait);
  auto cut = mysql_step(m, kGreeting.substr(0, 6), true, false);
  EXPECT_EQ(cut.kind, MysqlStep::Kind::Done);
  EXPECT_EQ(cut.result.status, CheckStatus::L7Rsp);
  auto ok = mysql_step(m, kGreeting, false, false);
  EXPECT_EQ(ok.kind, MysqlStep::Kind::Done);
  EXPECT_EQ(ok.result.status, CheckStatus::L7Ok);
}

TEST(MysqlCheck, LoginAnswer) {
  config::MysqlCheck m;
  m.user = "u";
  EXPECT_EQ(mysql_step(m, kGreeting, false, false).kind, MysqlStep::Kind::SendLogin);
  EXPECT_EQ(mysql_step(m, kGreeting, false, true).kind, MysqlStep::Kind::Wait);
  auto ok = mysql_step(m, kGreeting + packet(2, std::string("\0\0\0\x02\0\0\0", 7)), false, true);
  EXPECT_EQ(ok.result.status, CheckStatus::L7Ok);
  auto err = mysql_step(m, kGreeting + packet(2, "\xff\x15\x04#28000Access denied"), false, true);
  EXPECT_EQ(err.kind, MysqlStep::Kind::Done);
  EXPECT_EQ(err.result.status, CheckStatus::L7Sts);
  EXPECT_EQ(err.result.code, 1045);
  EXPECT_EQ(err.result.info, "#28000Access denied");
}

TEST(SendState, HeaderText) {
  ServerStateFields f{"UP 1/3", "127.0.0.1", 8080, "b", "s1", "lb1", 7, 8, 0, 0, 0};
  EXPECT_EQ(server_state_header(f),
            "UP 1/3; address=127.0.0.1; port=8080; name=b/s1; node=lb1; weight=7/8; scur=0/0; "
            "qcur=0");
  config::HttpCheck hc;
  hc.headers.emplace_back("X-Probe", "yes");
  EXPECT_EQ(build_check_request(hc, "UP"),
            "OPTIONS / HTTP/1.0\r\nx-probe: yes\r\nx-haproxy-server-state: UP\r\n\r\n");
}

}  // namespace
}  // namespace herd::health
