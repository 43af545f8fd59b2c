// health/mysql_check.cpp — see mysql_check.h. Bytes and verdicts observed on
// haproxy 2.6.12 against a fake MySQL server (test_server_options_parity).
#include "health/mysql_check.h"

namespace herd::health {

namespace {

using Outcome = CheckResult::Outcome;

MysqlStep done(Outcome o, CheckStatus st, int code = 0, std::string info = {}) {
  MysqlStep s;
  s.kind = MysqlStep::Kind::Done;
  s.result.outcome = o;
  s.result.status = st;
  s.result.code = code;
  s.result.info = std::move(info);
  return s;
}

unsigned byte_at(std::string_view d, size_t i) { return static_cast<unsigned char>(d[i]); }

// The packet at `off`: Wait while incomplete, L7RSP when the server closed
// first, L7STS for an error packet; nullopt when it is a whole non-error one.
std::optional<MysqlStep> check_packet(std::string_view d, size_t off, bool eof) {
  if (d.size() < off + 4 ||
      d.size() <
          off + 4 + (byte_at(d, off) | byte_at(d, off + 1) << 8 | byte_at(d, off + 2) << 16)) {
    if (!eof) return MysqlStep{};
    return done(Outcome::Fail, CheckStatus::L7Rsp);
  }
  if (byte_at(d, off + 4) == 0xff) {
    const int code =
        static_cast<int>(d.size() > off + 6 ? byte_at(d, off + 5) | byte_at(d, off + 6) << 8 : 0);
    std::string info(d.size() > off + 7 ? d.substr(off + 7) : std::string_view());
    return done(Outcome::Fail, CheckStatus::L7Sts, code, std::move(info));
  }
  return std::nullopt;
}

}  // namespace

std::string mysql_login_packet(const config::MysqlCheck& m) {
  if (m.user.empty()) return {};
  std::string body;
  if (m.post41) {
    body.append("\x00\x82\x00\x00", 4);  // client capabilities
    body.append("\x00\x80\x00\x01", 4);  // max packet
    body += '\x21';                      // character set (UTF-8)
    body.append(23, '\0');
  } else {
    body.append("\x00\x80", 2);      // client capabilities
    body.append("\x00\x00\x01", 3);  // max packet
  }
  body += m.user;
  body += '\0';
  body += '\0';  // filler
  // haproxy's length: the user's plus 7 (plus 27 for 4.1), the filler counted.
  const size_t len = m.user.size() + 7 + (m.post41 ? 27 : 0);
  std::string out;
  out += static_cast<char>(len & 0xff);
  out += static_cast<char>((len >> 8) & 0xff);
  out += static_cast<char>((len >> 16) & 0xff);
  out += '\x01';  // sequence id
  out += body;
  out.append("\x01\x00\x00\x00\x01", 5);  // COM_QUIT
  return out;
}

MysqlStep mysql_step(const config::MysqlCheck& m, std::string_view data, bool eof,
                     bool login_sent) {
  if (auto s = check_packet(data, 0, eof)) return *s;  // the greeting
  if (m.user.empty()) return done(Outcome::Pass, CheckStatus::L7Ok);
  if (!login_sent) {
    MysqlStep s;
    s.kind = MysqlStep::Kind::SendLogin;
    return s;
  }
  const size_t greeting = 4 + (byte_at(data, 0) | byte_at(data, 1) << 8 | byte_at(data, 2) << 16);
  if (auto s = check_packet(data, greeting, eof)) return *s;
  return done(Outcome::Pass, CheckStatus::L7Ok);
}

}  // namespace herd::health
