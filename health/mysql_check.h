// health/mysql_check.h — `option mysql-check [user <name> [post-41|pre-41]]`
// as haproxy 2.6 runs it (its "*mysql41-check" / "*mysql40-check" tcp-check
// rule sets): read the server's greeting; without a user, a greeting that is
// not an error packet passes. With a user, a client authentication packet
// for that user (no password) and a COM_QUIT go out, and the server's
// answer decides: an error packet (0xff) is L7STS with the MySQL error code
// and message, anything else L7OK. A connection closed before a whole
// packet came is L7RSP.
//
// Thread rules: pure functions; any thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "config/model.h"
#include "health/status.h"

namespace herd::health {

// The bytes sent once the greeting passed (empty: no user, nothing sent):
// the 4.1 authentication packet (the default, and `post-41`) or the 4.0 one
// (`pre-41`), each followed by COM_QUIT, byte for byte as haproxy 2.6.
std::string mysql_login_packet(const config::MysqlCheck& m);

// What the check does with `data` (everything read so far; `eof`: the
// server closed), `login_sent`: the login packet went out.
struct MysqlStep {
  enum class Kind { Wait, SendLogin, Done };
  Kind kind = Kind::Wait;
  CheckResult result;  // Done
};
MysqlStep mysql_step(const config::MysqlCheck& m, std::string_view data, bool eof, bool login_sent);

}  // namespace herd::health
